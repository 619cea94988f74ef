//! Malformed inputs: each gives one line on stderr naming the file and the problem, exit code 1 (2 for
//! usage errors), and leaves no file behind in the output directory.

use std::fs;
use std::path::Path;

use crate::common::{data, ferrofold, files_below, single_sequence_features};

struct Case {
    name: &'static str,
    /// Files to create in the scratch directory: (name, contents).
    files: Vec<(&'static str, Vec<u8>)>,
    /// Arguments; `{d}` is replaced by the scratch directory, `{o}` by the output directory.
    args: Vec<&'static str>,
    exit: i32,
    /// Every one of these must appear in the error line.
    expect: Vec<&'static str>,
}

fn read(rel: &str) -> Vec<u8> {
    fs::read(data(rel)).unwrap()
}

fn truncated_a3m() -> Vec<u8> {
    // The real BFD alignment, cut in the middle of its third row.
    let text = String::from_utf8(read("msas/openfold_query/bfd_uniclust_hits.a3m")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut cut = lines[..5].join("\n");
    cut.push('\n');
    cut.push_str(&lines[5][..30]);
    cut.push('\n');
    cut.into_bytes()
}

fn cases() -> Vec<Case> {
    let query = read("msas/openfold_query/short.fasta");
    vec![
        Case {
            name: "empty FASTA",
            files: vec![("empty.fasta", vec![])],
            args: vec![
                "features",
                "{d}/empty.fasta",
                "--single-sequence",
                "-o",
                "{o}",
            ],
            exit: 1,
            expect: vec!["empty.fasta", "no FASTA records"],
        },
        Case {
            name: "bad letters",
            files: vec![("bad.fasta", b">t1 test\nMKVLA\nMK1VL\n".to_vec())],
            args: vec![
                "features",
                "{d}/bad.fasta",
                "--single-sequence",
                "-o",
                "{o}",
            ],
            exit: 1,
            expect: vec!["bad.fasta:3", "'t1'", "residue 8", "'1'"],
        },
        Case {
            name: "lower-case residues (AlphaFold2 rejects them)",
            files: vec![("lower.fasta", b">t1\nmkvla\n".to_vec())],
            args: vec![
                "features",
                "{d}/lower.fasta",
                "--single-sequence",
                "-o",
                "{o}",
            ],
            exit: 1,
            expect: vec!["lower.fasta:2", "residue 1", "'m'"],
        },
        Case {
            name: "binary garbage as FASTA",
            files: vec![(
                "garbage.fasta",
                vec![0x89, b'P', b'N', b'G', 0xff, 0xfe, 0, 1, 2],
            )],
            args: vec![
                "features",
                "{d}/garbage.fasta",
                "--single-sequence",
                "-o",
                "{o}",
            ],
            exit: 1,
            expect: vec!["garbage.fasta", "not a text file"],
        },
        Case {
            name: "missing FASTA",
            files: vec![],
            args: vec![
                "features",
                "{d}/nope.fasta",
                "--single-sequence",
                "-o",
                "{o}",
            ],
            exit: 1,
            expect: vec!["nope.fasta", "No such file"],
        },
        Case {
            name: "FASTA id with path separators",
            files: vec![("evil.fasta", b">../../etc/x\nMKV\n".to_vec())],
            args: vec![
                "features",
                "{d}/evil.fasta",
                "--single-sequence",
                "-o",
                "{o}",
            ],
            exit: 1,
            expect: vec!["evil.fasta:1", "../../etc/x", "path separator"],
        },
        Case {
            name: "a 100,000-residue sequence",
            files: vec![(
                "long.fasta",
                format!(">huge\n{}\n", "ACDEFGHIKLMNPQRSTVWY".repeat(5000)).into_bytes(),
            )],
            args: vec![
                "features",
                "{d}/long.fasta",
                "--single-sequence",
                "-o",
                "{o}",
            ],
            exit: 1,
            expect: vec!["long.fasta", "'huge'", "100000 residues", "--max-length"],
        },
        Case {
            name: "duplicate ids",
            files: vec![("dup.fasta", b">a\nMKV\n>b\nMK\n>a\nMK\n".to_vec())],
            args: vec![
                "features",
                "{d}/dup.fasta",
                "--single-sequence",
                "-o",
                "{o}",
            ],
            exit: 1,
            expect: vec!["dup.fasta:5", "duplicate record id 'a'", "line 1"],
        },
        Case {
            name: "truncated A3M",
            files: vec![
                ("q.fasta", query.clone()),
                ("bfd_uniclust_hits.a3m", truncated_a3m()),
            ],
            args: vec![
                "features",
                "{d}/q.fasta",
                "--msa",
                "{d}/bfd_uniclust_hits.a3m",
                "-o",
                "{o}",
            ],
            exit: 1,
            expect: vec![
                "bfd_uniclust_hits.a3m:5",
                "unequal row lengths",
                "query has 73",
            ],
        },
        Case {
            name: "Stockholm with unequal rows",
            files: vec![
                ("q.fasta", b">q\nMKVLA\n".to_vec()),
                (
                    "uniref90_hits.sto",
                    b"# STOCKHOLM 1.0\nq  MKV-LA\nh1 MKVQL\n//\n".to_vec(),
                ),
            ],
            args: vec![
                "features",
                "{d}/q.fasta",
                "--msa",
                "{d}/uniref90_hits.sto",
                "-o",
                "{o}",
            ],
            exit: 1,
            expect: vec!["uniref90_hits.sto:3", "'h1'", "unequal row lengths"],
        },
        Case {
            name: "alignment of another query",
            files: vec![
                ("q.fasta", b">q\nMKVLA\n".to_vec()),
                ("other.a3m", b">q\nMKILA\n>h\nMK-LA\n".to_vec()),
            ],
            args: vec![
                "features",
                "{d}/q.fasta",
                "--msa",
                "{d}/other.a3m",
                "-o",
                "{o}",
            ],
            exit: 1,
            expect: vec!["other.a3m", "does not match", "residue 3"],
        },
        Case {
            name: "alignment file missing",
            files: vec![("q.fasta", b">q\nMKVLA\n".to_vec())],
            args: vec![
                "features",
                "{d}/q.fasta",
                "--msa",
                "{d}/absent.a3m",
                "-o",
                "{o}",
            ],
            exit: 1,
            expect: vec!["absent.a3m", "no such alignment file"],
        },
        Case {
            name: "output directory under a regular file (not writable)",
            files: vec![
                ("q.fasta", b">q\nMKVLA\n".to_vec()),
                ("afile", b"x".to_vec()),
            ],
            args: vec![
                "features",
                "{d}/q.fasta",
                "--single-sequence",
                "-o",
                "{d}/afile/out",
            ],
            exit: 1,
            expect: vec!["afile/out", "Not a directory"],
        },
        Case {
            name: "run without a model (usage)",
            files: vec![("t.fasta", b">t1\nMKV\n".to_vec())],
            args: vec!["run", "{d}/t.fasta", "--single-sequence", "-o", "{o}"],
            exit: 2,
            expect: vec!["--model", "--models-dir"],
        },
        Case {
            name: "features file that does not exist",
            files: vec![],
            args: vec![
                "predict",
                "{d}/features.h5",
                "--relax",
                "none",
                "--model",
                "{d}/m.onnx",
                "-o",
                "{o}",
            ],
            exit: 1,
            expect: vec!["features.h5", "no such file"],
        },
        Case {
            name: "Stockholm file cut off before its closing '//'",
            files: vec![
                ("q.fasta", query.clone()),
                ("uniref90_hits.sto", {
                    let text =
                        String::from_utf8(read("msas/openfold_query/uniref90_hits.sto")).unwrap();
                    text.lines()
                        .take(100)
                        .collect::<Vec<_>>()
                        .join("\n")
                        .into_bytes()
                }),
            ],
            args: vec![
                "features",
                "{d}/q.fasta",
                "--msa",
                "{d}/uniref90_hits.sto",
                "-o",
                "{o}",
            ],
            exit: 1,
            expect: vec!["uniref90_hits.sto:100:", "'//'", "cut off"],
        },
        Case {
            name: "two databases whose alignments would share a name (usage)",
            files: vec![
                ("q.fasta", b">t1\nMKV\n".to_vec()),
                ("db.fasta", b">a\nMKV\n".to_vec()),
                ("db.fa", b">b\nMKV\n".to_vec()),
            ],
            args: vec![
                "features",
                "{d}/q.fasta",
                "--db",
                "{d}/db.fasta",
                "--db",
                "{d}/db.fa",
                "-o",
                "{o}",
            ],
            exit: 2,
            expect: vec!["db.fasta", "db.fa", "msas/db_hits"],
        },
        Case {
            name: "bad residue in a CSV row",
            files: vec![("l3.csv", b"id,sequence\nA1,MKVLAG\nA2,MKV*\n".to_vec())],
            args: vec!["features", "{d}/l3.csv", "--single-sequence", "-o", "{o}"],
            exit: 1,
            expect: vec!["l3.csv:3:", "'A2'", "residue 4"],
        },
        Case {
            name: "features arrays where parameters belong",
            files: vec![("f.npz", read("msas/2q2k_A/af2_features.npz"))],
            args: vec!["params", "convert", "{d}/f.npz", "-o", "{o}/x.onnx"],
            exit: 1,
            expect: vec!["f.npz", "not float32", "not AlphaFold2 parameters"],
        },
        Case {
            name: "-o names a file",
            files: vec![
                ("t.fasta", b">t1\nMKV\n".to_vec()),
                ("afile", b"x".to_vec()),
            ],
            args: vec![
                "features",
                "{d}/t.fasta",
                "--single-sequence",
                "-o",
                "{d}/afile",
            ],
            exit: 1,
            expect: vec!["afile", "not a folder"],
        },
        Case {
            name: "early-stop tolerance that is not a distance",
            files: vec![],
            args: vec![
                "predict",
                "{d}/features.h5",
                "--model",
                "{d}/m.onnx",
                "--early-stop-tolerance",
                "nan",
                "-o",
                "{o}",
            ],
            exit: 1,
            expect: vec!["early-stop tolerance NaN", "finite"],
        },
        Case {
            name: "seeds past the largest",
            files: vec![],
            args: vec![
                "predict",
                "{d}/features.h5",
                "--model",
                "{d}/m.onnx",
                "--seed",
                "18446744073709551615",
                "--num-seeds",
                "2",
                "-o",
                "{o}",
            ],
            exit: 1,
            expect: vec!["largest seed"],
        },
        Case {
            name: "a job array of no tasks",
            files: vec![("t.fasta", b">t1\nMKV\n".to_vec())],
            args: vec![
                "run",
                "{d}/t.fasta",
                "--single-sequence",
                "--model",
                "{d}/m.onnx",
                "--array-index",
                "0",
                "--array-size",
                "0",
                "-o",
                "{o}",
            ],
            exit: 1,
            expect: vec!["--array-size 0", "at least one task"],
        },
        Case {
            name: "predict without a model (usage)",
            files: vec![],
            args: vec!["predict", "{d}/features.h5", "-o", "{o}"],
            exit: 2,
            expect: vec!["--model", "--models-dir"],
        },
    ]
}

fn run_case(c: &Case) {
    let scratch = tempfile::tempdir().unwrap();
    let d = scratch.path().join("in");
    let o = scratch.path().join("out");
    fs::create_dir_all(&d).unwrap();
    for (name, bytes) in &c.files {
        fs::write(d.join(name), bytes).unwrap();
    }
    let args: Vec<String> = c
        .args
        .iter()
        .map(|a| {
            a.replace("{d}", d.to_str().unwrap())
                .replace("{o}", o.to_str().unwrap())
        })
        .collect();
    let r = ferrofold(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(
        r.status.code(),
        Some(c.exit),
        "{}: exit code; stderr: {stderr}",
        c.name
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{}: one line on stderr, got: {stderr}",
        c.name
    );
    assert!(lines[0].starts_with("error: "), "{}: {stderr}", c.name);
    for e in &c.expect {
        assert!(
            lines[0].contains(e),
            "{}: {e:?} not in: {}",
            c.name,
            lines[0]
        );
    }
    assert!(!stderr.contains("panicked"), "{}: {stderr}", c.name);
    assert_eq!(
        files_below(&o),
        Vec::<String>::new(),
        "{}: files left in the output directory",
        c.name
    );
    assert!(r.stdout.is_empty(), "{}: nothing on stdout", c.name);
}

#[test]
fn malformed_inputs_fail_cleanly() {
    for c in cases() {
        run_case(&c);
    }
}

#[test]
fn features_file_missing_a_dataset_is_named() {
    let scratch = tempfile::tempdir().unwrap();
    let h5 = single_sequence_features(scratch.path());
    let r = ferrofold(&["inspect", h5.to_str().unwrap()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(String::from_utf8_lossy(&r.stdout).contains("residues\t70"));
    {
        use ferrofold::io::h5::edit::Contents;
        let mut c = Contents::read(&h5, &["ferrofold_format_version"]).unwrap();
        c.datasets.remove("msa");
        c.write(&h5).unwrap();
    }
    let r = ferrofold(&["inspect", h5.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("features.h5") && stderr.contains("dataset 'msa' is missing"),
        "{stderr}"
    );
    // A file that is not HDF5 at all.
    let bogus = scratch.path().join("bogus.h5");
    fs::write(&bogus, b"not hdf5").unwrap();
    let r = ferrofold(&["inspect", bogus.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("bogus.h5") && stderr.contains("cannot read as HDF5"),
        "{stderr}"
    );
}

#[test]
fn read_only_output_directory_when_not_root() {
    // Root ignores permission bits, so this case only means something for other users; the
    // "directory under a regular file" case above covers unwritable output for everyone.
    let scratch = tempfile::tempdir().unwrap();
    let o = scratch.path().join("ro");
    fs::create_dir(&o).unwrap();
    let mut perm = fs::metadata(&o).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o555);
    fs::set_permissions(&o, perm).unwrap();
    if fs::write(o.join("probe"), b"").is_ok() {
        eprintln!("running as a user that can write to read-only directories (root): case skipped");
        return;
    }
    let r = ferrofold(&[
        "features",
        data("msas/2q2k_A/query.fasta").to_str().unwrap(),
        "--single-sequence",
        "-o",
        o.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("Permission denied"));
    assert!(files_below(Path::new(&o)).is_empty());
}
