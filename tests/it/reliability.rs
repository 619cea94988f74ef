//! Issue 14 (7-8): inputs that used to panic, abort or hang now give one error line and a non-zero exit
//! before any work: absurd numbers, datasets that claim terabytes in a tiny file, databases that never
//! end, devices and FIFOs where a file belongs; a reader that closes stderr stops the messages, not the
//! run; a path that is not UTF-8 is a path like any other.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{ferrofold, single_sequence_features};

fn code_and_stderr(args: &[&str]) -> (i32, String) {
    let o = ferrofold(args);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn assert_refused(case: &str, (code, err): (i32, String), exit: i32, expect: &[&str]) {
    assert_eq!(code, exit, "{case}: {err}");
    assert!(!err.contains("panicked"), "{case}: {err}");
    for e in expect {
        assert!(err.contains(e), "{case}: {e:?} not in {err}");
    }
}

#[test]
fn absurd_numbers_are_refused_naming_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let features = single_sequence_features(tmp.path());
    let f = features.to_str().unwrap();
    for n in ["18446744073709551615", "1000000", "201"] {
        assert_refused(
            n,
            code_and_stderr(&["predict", f, "--demo-model", "--num-recycle", n]),
            2,
            &["--num-recycle"],
        );
    }
    let (code, err) = code_and_stderr(&["predict", f, "--demo-model", "--num-recycle", "201"]);
    assert!(code == 2 && err.contains("limit of 200"), "{err}");
    for size in ["99999999999999T", "2P", "inf", "NaN"] {
        assert_refused(
            size,
            code_and_stderr(&["predict", f, "--demo-model", "--memory-budget", size]),
            2,
            &["--memory-budget"],
        );
    }
}

/// A dataset whose shape claims gigabytes (a fill value, nothing stored) in a file of kilobytes.
fn claiming_file(src: &Path, dest: &Path) {
    use ferrofold::io::h5::{edit, Kind};
    let mut c = edit::Contents::read(src, &["ferrofold_format_version"]).unwrap();
    let n = match &c.datasets["aatype"] {
        edit::Data::I32(a) => a.shape()[0],
        _ => unreachable!(),
    };
    let rows = 10_000_000usize;
    for name in ["msa", "deletion_matrix_int", "msa_species_identifiers"] {
        c.datasets.remove(name);
    }
    c.datasets.insert(
        "num_alignments".into(),
        edit::Data::I32(ndarray::ArrayD::from_elem(
            ndarray::IxDyn(&[n]),
            rows as i32,
        )),
    );
    let mut w = c.writer();
    // Distinct stored row counts, so that each dataset's shape can be found and changed.
    w.chunked("msa", &[1, n], &[1, n], Kind::I32)
        .chunked("deletion_matrix_int", &[2, n], &[1, n], Kind::I32)
        .chunked("msa_species_identifiers", &[3], &[1], Kind::Str);
    w.write(dest).unwrap();
    edit::claim_shape(dest, &[1, n], &[rows, n]).unwrap();
    edit::claim_shape(dest, &[2, n], &[rows, n]).unwrap();
    edit::claim_shape(dest, &[3], &[rows]).unwrap();
}

#[test]
fn datasets_claiming_terabytes_are_refused_before_allocating() {
    let tmp = tempfile::tempdir().unwrap();
    let features = single_sequence_features(tmp.path());
    let bad = tmp.path().join("claims.h5");
    claiming_file(&features, &bad);
    assert!(fs::metadata(&bad).unwrap().len() < 1 << 20);
    let b = bad.to_str().unwrap();
    for args in [
        vec!["inspect", b],
        vec![
            "predict",
            b,
            "--demo-model",
            "-o",
            tmp.path().join("p").to_str().unwrap(),
        ],
    ] {
        let t = Instant::now();
        assert_refused(
            args[0],
            code_and_stderr(&args),
            1,
            &["claims.h5", "'msa'", "claims", "bytes"],
        );
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{}: read the claimed data",
            args[0]
        );
    }
}

#[test]
fn endless_databases_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let q = d.join("q.fasta");
    fs::write(&q, ">q\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n").unwrap();
    let out = d.join("out");
    let o = out.to_str().unwrap();
    // A character device, named directly or through a link that looks like a FASTA file.
    let link = d.join("zero.fasta");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    for db in [Path::new("/dev/zero"), link.as_path()] {
        assert_refused(
            &db.display().to_string(),
            code_and_stderr(&[
                "features",
                q.to_str().unwrap(),
                "--db",
                db.to_str().unwrap(),
                "-o",
                o,
            ]),
            1,
            &["character device"],
        );
    }
    // A small .gz that inflates to one 2,000,000-residue sequence.
    let bomb = d.join("bomb.fasta.gz");
    {
        let mut gz = flate2::write::GzEncoder::new(
            fs::File::create(&bomb).unwrap(),
            flate2::Compression::best(),
        );
        gz.write_all(b">huge\n").unwrap();
        for _ in 0..2_000 {
            gz.write_all(&[b'A'; 1000]).unwrap();
            gz.write_all(b"\n").unwrap();
        }
        gz.finish().unwrap();
    }
    assert!(fs::metadata(&bomb).unwrap().len() < 100_000);
    assert_refused(
        "bomb",
        code_and_stderr(&[
            "features",
            q.to_str().unwrap(),
            "--db",
            bomb.to_str().unwrap(),
            "-o",
            o,
        ]),
        1,
        &["bomb.fasta.gz", "'huge'", "longer than 1000000 residues"],
    );
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a fresh path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[test]
fn fifos_and_devices_where_a_file_belongs_are_refused_not_read_forever() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let fifo = d.join("features.h5");
    mkfifo(&fifo);
    let linked = d.join("linked.h5");
    std::os::unix::fs::symlink(&fifo, &linked).unwrap();
    let zero_model = d.join("model.onnx");
    std::os::unix::fs::symlink("/dev/zero", &zero_model).unwrap();
    let msa = d.join("uniref90_hits.a3m");
    mkfifo(&msa);
    let q = d.join("q.fasta");
    fs::write(&q, ">q\nMKTAYIAKQRQISFVKSHFSRQ\n").unwrap();
    let good = single_sequence_features(d);
    let o_dir = d.join("o");
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "predict on a FIFO",
            vec!["predict", fifo.to_str().unwrap(), "--demo-model"],
            "FIFO",
        ),
        (
            "predict on a link to a FIFO",
            vec!["predict", linked.to_str().unwrap(), "--demo-model"],
            "FIFO",
        ),
        (
            "a model that is /dev/zero",
            vec![
                "predict",
                good.to_str().unwrap(),
                "--relax",
                "none",
                "--model",
                zero_model.to_str().unwrap(),
            ],
            "character device",
        ),
        (
            "an alignment that is a FIFO",
            vec![
                "features",
                q.to_str().unwrap(),
                "--msa",
                msa.to_str().unwrap(),
                "-o",
                o_dir.to_str().unwrap(),
            ],
            "FIFO",
        ),
        (
            "params info on /dev/zero",
            vec!["params", "info", "/dev/zero"],
            "character device",
        ),
    ];
    for (case, args, expect) in cases {
        let t = Instant::now();
        assert_refused(case, code_and_stderr(&args), 1, &[expect]);
        assert!(t.elapsed() < Duration::from_secs(30), "{case}: hung");
    }
}

#[test]
fn a_closed_stderr_stops_the_messages_not_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let q = d.join("q.fasta");
    fs::write(
        &q,
        ">a\nMKTAYIAKQRQISFVKSHFSRQ\n>b\nMKTAYIAKQRQISFVKSHFSRA\n",
    )
    .unwrap();
    let out = d.join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrofold"))
        .args([
            "features",
            q.to_str().unwrap(),
            "--single-sequence",
            "-o",
            out.to_str().unwrap(),
        ])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then close stderr, as `2>&1 >/dev/null | head -1` does.
    let mut first = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?} after {first}");
    for t in ["a", "b"] {
        assert!(out.join(t).join("features.h5").is_file(), "{t} not made");
    }
}

/// Paths are OS strings: a FASTA whose name is not UTF-8 is read like any other, and an output folder
/// whose name is not UTF-8 holds the features (HDF5 files are written by Rust code, on OS paths).
#[test]
fn non_utf8_paths_are_paths() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let q = tmp.path().join(std::ffi::OsStr::from_bytes(b"q\xff.fasta"));
    fs::write(&q, ">q\nMKTAYIAKQRQISFVKSHFSRQ\n").unwrap();
    let run = |out: &Path| {
        Command::new(env!("CARGO_BIN_EXE_ferrofold"))
            .arg("features")
            .arg(&q)
            .arg("--single-sequence")
            .arg("-o")
            .arg(out)
            .output()
            .unwrap()
    };
    let out = tmp.path().join("out");
    let o = run(&out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("q/features.h5").is_file());
    let odd = tmp.path().join(std::ffi::OsStr::from_bytes(b"out\xfe"));
    let o = run(&odd);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (f, _) = ferrofold::io::features_h5::read(odd.join("q/features.h5")).unwrap();
    assert_eq!(f.num_res(), 22);
}

/// Issue 14 (9): two `--msa` files with one name would overwrite each other in msas/.
#[test]
fn two_alignments_with_one_name_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let q = d.join("q.fasta");
    fs::write(&q, ">q\nMKTAYIAKQRQ\n").unwrap();
    for sub in ["a", "b"] {
        fs::create_dir_all(d.join(sub)).unwrap();
        fs::write(d.join(sub).join("uniref90_hits.a3m"), ">q\nMKTAYIAKQRQ\n").unwrap();
    }
    let out = d.join("out");
    assert_refused(
        "same name",
        code_and_stderr(&[
            "features",
            q.to_str().unwrap(),
            "--msa",
            d.join("a/uniref90_hits.a3m").to_str().unwrap(),
            "--msa",
            d.join("b/uniref90_hits.a3m").to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]),
        2,
        &["two alignments are named 'uniref90_hits.a3m'"],
    );
    assert!(crate::common::files_below(&out).is_empty());
}

/// Issue 14 (6): the raw alignment counts against `--memory-budget`, and the budget is checked before the
/// alignment is read (a 20 M-row file peaked at 11.3 GB under a 2 GB budget).
#[test]
fn deep_alignments_count_against_the_budget_before_they_are_read() {
    use ferrofold::features::builder::FeatureBuilder;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let q = ferrofold::Query {
        id: "deep".into(),
        description: "deep".into(),
        sequence: "MKTAYIAKQRQISFVKSHFS".into(),
    };
    let write = |rows: usize, path: &Path| {
        let mut built = FeatureBuilder::single_sequence().build(&q, "t").unwrap();
        let msa = &mut built.features.msa;
        let row0 = msa.msa.row(0).to_owned();
        msa.msa = ndarray::Array2::from_shape_fn((rows, 20), |(r, c)| {
            if r == 0 {
                row0[c]
            } else {
                ((r * 7 + c) % 21) as i32
            }
        });
        msa.deletion_matrix_int = ndarray::Array2::zeros((rows, 20));
        msa.num_alignments = ndarray::Array1::from_elem(20, rows as i32);
        msa.msa_species_identifiers = vec![String::new(); rows];
        ferrofold::io::features_h5::write(path, &built.features, &Default::default()).unwrap();
    };
    let shallow = d.join("shallow.h5");
    let deep = d.join("deep.h5");
    write(1, &shallow);
    write(300_000, &deep);
    let out = d.join("out");
    let o = out.to_str().unwrap();
    let (code, err) = code_and_stderr(&[
        "predict",
        shallow.to_str().unwrap(),
        "--demo-model",
        "--memory-budget",
        "80M",
        "--num-recycle",
        "0",
        "--no-plots",
        "-o",
        o,
    ]);
    assert_eq!(code, 0, "{err}");
    let out2 = d.join("out2");
    let (code, err) = code_and_stderr(&[
        "predict",
        deep.to_str().unwrap(),
        "--demo-model",
        "--memory-budget",
        "80M",
        "--num-recycle",
        "0",
        "--no-plots",
        "-o",
        out2.to_str().unwrap(),
    ]);
    assert_refused(
        "deep",
        (code, err.clone()),
        1,
        &["raw MSA", "80 MiB", "--memory-budget"],
    );
    assert!(crate::common::files_below(&out2).is_empty(), "{err}");
}
