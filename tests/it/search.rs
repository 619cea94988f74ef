//! Homologue search: the built-in search on the shipped demo database, and the real jackhmmer and mmseqs
//! binaries (installed by .ci/run) on a database made from the demo FASTA at test time; errors for missing,
//! wrong or corrupt databases and missing or failing tools.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::common::{ferrofold, files_below};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The first `n` sequences of the demo database, as plain FASTA.
fn small_db(dir: &Path, n: usize) -> PathBuf {
    small_db_of(dir, n, usize::MAX)
}

/// The first `n` demo sequences no longer than `max_len` residues: HH-suite's `cstranslate` takes time in
/// proportion to the residues (the first 40 demo sequences hold 25,000, a third of them in three proteins).
fn small_db_of(dir: &Path, n: usize, max_len: usize) -> PathBuf {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(
        std::fs::File::open(repo("databases/demo/uniprot20k.fasta.gz")).unwrap(),
    )
    .read_to_string(&mut text)
    .unwrap();
    let mut out = String::new();
    let mut count = 0;
    for entry in text.split_inclusive('>').map(|e| e.trim_end_matches('>')) {
        let residues: usize = entry.lines().skip(1).map(str::len).sum();
        if entry.is_empty() || residues > max_len {
            continue;
        }
        count += 1;
        if count > n {
            break;
        }
        out.push('>');
        out.push_str(entry);
    }
    let p = dir.join("demo_small.fasta");
    std::fs::write(&p, out).unwrap();
    p
}

fn features(args: &[&str]) -> (i32, String, String) {
    let r = ferrofold(args);
    (
        r.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&r.stdout).into_owned(),
        String::from_utf8_lossy(&r.stderr).into_owned(),
    )
}

fn ids_a3m(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut v: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix('>'))
        .skip(1)
        .map(|l| l.split(['/', ' ', '\t']).next().unwrap().to_string())
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn builtin_search_of_the_demo_database_by_default() {
    let out = tempfile::tempdir().unwrap();
    let (code, stdout, err) = features(&[
        "features",
        repo("examples/data/opuBA_150.fasta").to_str().unwrap(),
        "-o",
        out.path().to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("written"));
    let target = out.path().join("opuBA_fragment");
    let a3m = ferrofold::io::a3m::A3m::read_path(target.join("msas/uniprot20k_hits.a3m")).unwrap();
    let msa = a3m.to_msa(Path::new("x")).unwrap();
    assert!(msa.depth() > 100, "{} rows", msa.depth());
    assert_eq!(
        msa.sequences[0],
        std::fs::read_to_string(repo("examples/data/opuBA_150.fasta"))
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
    );
    let (f, prov) = ferrofold::io::features_h5::read(target.join("features.h5")).unwrap();
    assert!(f.num_alignments() > 100);
    assert!(
        f.msa
            .msa_species_identifiers
            .iter()
            .filter(|s| s == &"BACIU")
            .count()
            >= 1
    );
    assert!(prov.databases.contains("uniprot20k_hits.a3m"));
    // Rerun: up to date without searching again.
    let (code, stdout, _) = features(&[
        "features",
        repo("examples/data/opuBA_150.fasta").to_str().unwrap(),
        "-o",
        out.path().to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code, 0);
    assert!(stdout.contains("up to date"), "{stdout}");
}

#[test]
fn jackhmmer_and_mmseqs_run_for_real_and_agree_with_the_builtin_search() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path(), 2000);
    let query = repo("examples/data/opuBA_150.fasta");
    let mut ids = std::collections::BTreeMap::new();
    for tool in ["builtin", "jackhmmer", "mmseqs"] {
        let out = dir.path().join(tool);
        let (code, _, err) = features(&[
            "features",
            query.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "--tool",
            tool,
            "-o",
            out.to_str().unwrap(),
            "-q",
        ]);
        assert_eq!(code, 0, "{tool}: {err}");
        let msas = out.join("opuBA_fragment/msas");
        let got = if tool == "jackhmmer" {
            let sto =
                ferrofold::io::stockholm::Stockholm::read_path(msas.join("demo_small_hits.sto"))
                    .unwrap();
            let mut v: Vec<String> = sto
                .names
                .iter()
                .skip(1)
                .map(|n| n.split('/').next().unwrap().to_string())
                .collect();
            v.sort();
            v.dedup();
            v
        } else {
            ids_a3m(&msas.join("demo_small_hits.a3m"))
        };
        let (f, _) =
            ferrofold::io::features_h5::read(out.join("opuBA_fragment/features.h5")).unwrap();
        assert!(
            f.num_alignments() > 20,
            "{tool}: {} rows",
            f.num_alignments()
        );
        ids.insert(tool, got);
    }
    // The source protein is found by all three (mmseqs names rows by accession).
    assert!(ids["builtin"].iter().any(|i| i.contains("M4KW32")));
    assert!(ids["jackhmmer"].iter().any(|i| i.contains("M4KW32")));
    assert!(ids["mmseqs"].iter().any(|i| i == "M4KW32"));
    // Most of jackhmmer's hits are found by the built-in search too.
    let jack: std::collections::BTreeSet<&String> = ids["jackhmmer"].iter().collect();
    let found = ids["builtin"].iter().filter(|i| jack.contains(i)).count();
    let recall = found as f64 / jack.len() as f64;
    eprintln!(
        "built-in finds {found} of jackhmmer's {} hits ({:.0} %)",
        jack.len(),
        100.0 * recall
    );
    assert!(recall >= 0.85, "recall {recall}");
}

#[test]
fn database_and_tool_errors_are_clear_and_leave_no_features() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let query = repo("examples/data/opuBA_150.fasta");
    let not_gzip = d.join("corrupt.fasta.gz");
    std::fs::File::create(&not_gzip)
        .unwrap()
        .write_all(b"this is not gzip data at all")
        .unwrap();
    let garbage = d.join("garbage.fasta");
    std::fs::write(&garbage, b"garbage\x00\x01\n").unwrap();
    let db = small_db(d, 50);
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (
            vec!["--db".into(), d.join("missing.fasta").display().to_string()],
            vec!["missing.fasta", "no such database file"],
        ),
        (
            vec!["--db".into(), d.display().to_string()],
            vec!["is a directory"],
        ),
        (
            vec!["--db".into(), not_gzip.display().to_string()],
            vec!["corrupt.fasta.gz"],
        ),
        (
            vec!["--db".into(), garbage.display().to_string()],
            vec!["garbage.fasta:1", "before the first"],
        ),
        (
            vec![
                "--db".into(),
                db.display().to_string(),
                "--tool".into(),
                "jackhmmer".into(),
                "--tool-binary".into(),
                "/nonexistent/jackhmmer".into(),
            ],
            vec!["jackhmmer", "/nonexistent/jackhmmer", "no such program"],
        ),
        (
            vec![
                "--db".into(),
                garbage.display().to_string(),
                "--tool".into(),
                "jackhmmer".into(),
            ],
            vec![
                "jackhmmer failed",
                "--noali",
                "garbage.fasta",
                "Parse failed",
            ],
        ),
        (
            vec![
                "--db".into(),
                garbage.display().to_string(),
                "--tool".into(),
                "mmseqs".into(),
            ],
            vec!["mmseqs", "createdb"],
        ),
    ];
    for (i, (extra, expect)) in cases.into_iter().enumerate() {
        let out = d.join(format!("out{i}"));
        let mut args = vec![
            "features".to_string(),
            query.display().to_string(),
            "-o".into(),
            out.display().to_string(),
            "-q".into(),
        ];
        args.extend(extra);
        let (code, _, err) = features(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(code, 1, "case {i}: {err}");
        assert_eq!(err.lines().count(), 1, "case {i}: {err}");
        for e in expect {
            assert!(err.contains(e), "case {i}: {e:?} not in {err}");
        }
        let left = files_below(&out);
        assert!(
            !left
                .iter()
                .any(|f| f.ends_with("features.h5") || f.ends_with(".tmp")),
            "case {i}: {left:?}"
        );
    }
}

#[test]
fn reduced_dbs_preset_runs_jackhmmer_on_three_databases_with_alphafold2s_names() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = small_db(d, 1500);
    let data = d.join("data");
    for (name, file) in [
        ("uniref90", "uniref90.fasta"),
        ("mgnify", "mgy_clusters_2022_05.fa"),
        ("small_bfd", "bfd-first_non_consensus_sequences.fasta"),
    ] {
        std::fs::create_dir_all(data.join(name)).unwrap();
        std::fs::copy(&db, data.join(name).join(file)).unwrap();
    }
    let out = d.join("out");
    let (code, _, err) = features(&[
        "features",
        repo("examples/data/opuBA_150.fasta").to_str().unwrap(),
        "--db-preset",
        "reduced_dbs",
        "--data-dir",
        data.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code, 0, "{err}");
    let msas = out.join("opuBA_fragment/msas");
    for f in ["uniref90_hits.sto", "mgnify_hits.sto", "small_bfd_hits.sto"] {
        assert!(msas.join(f).is_file(), "{f}");
    }
    // Three copies of the same database: de-duplication keeps one copy of each row, so the merged MSA has
    // as many rows as one search found.
    let one = ferrofold::io::stockholm::Stockholm::read_path(msas.join("uniref90_hits.sto"))
        .unwrap()
        .to_msa(Path::new("x"))
        .unwrap();
    let (f, _) = ferrofold::io::features_h5::read(out.join("opuBA_fragment/features.h5")).unwrap();
    let distinct: std::collections::BTreeSet<&String> = one.sequences.iter().collect();
    assert_eq!(f.num_alignments(), distinct.len());
    // A missing database names the file and the command that fetches it.
    std::fs::remove_file(data.join("mgnify/mgy_clusters_2022_05.fa")).unwrap();
    let (code, _, err) = features(&[
        "features",
        repo("examples/data/opuBA_150.fasta").to_str().unwrap(),
        "--db-preset",
        "reduced_dbs",
        "--data-dir",
        data.to_str().unwrap(),
        "-o",
        d.join("out2").to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("mgy_clusters_2022_05.fa") && err.contains("ferrofold db download mgnify"),
        "{err}"
    );
}

/// An HH-suite database made from the first `n` demo sequences of ≤ 400 residues (one sequence per
/// entry), with HH-suite's own tools (see [`hhsuite_db_at`]).
fn hhsuite_db(dir: &Path, n: usize) -> PathBuf {
    let prefix = dir.join("hhdb");
    hhsuite_db_at(&prefix, &small_db_of(dir, n, 400));
    prefix
}

#[test]
fn hhblits_runs_for_real_on_a_database_built_here() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = hhsuite_db(dir.path(), 40);
    let out = dir.path().join("out");
    let (code, _, err) = features(&[
        "features",
        repo("examples/data/opuBA_150.fasta").to_str().unwrap(),
        "--db",
        prefix.to_str().unwrap(),
        "--tool",
        "hhblits",
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code, 0, "{err}");
    let a3m = out.join("opuBA_fragment/msas/hhdb_hits.a3m");
    let msa = ferrofold::io::a3m::A3m::read_path(&a3m)
        .unwrap()
        .to_msa(Path::new("x"))
        .unwrap();
    assert!(msa.depth() >= 2, "query plus hits, got {}", msa.depth());
    let (f, _) = ferrofold::io::features_h5::read(out.join("opuBA_fragment/features.h5")).unwrap();
    assert_eq!(
        f.num_alignments(),
        msa.sequences
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    );
    // A prefix with no database behind it names the missing file.
    let (code, _, err) = features(&[
        "features",
        repo("examples/data/opuBA_150.fasta").to_str().unwrap(),
        "--db",
        dir.path().join("nodb").to_str().unwrap(),
        "--tool",
        "hhblits",
        "-o",
        dir.path().join("o2").to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("nodb_a3m.ffdata") && err.contains("no such HH-suite database file"),
        "{err}"
    );
}

/// Issue 18 (6): `--db` takes FASTA.gz for every tool; jackhmmer (which rewinds its database) gets it
/// decompressed into a temporary that is gone afterwards.
#[test]
fn jackhmmer_searches_a_gzipped_database() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let q = d.join("q.fasta");
    std::fs::write(
        &q,
        ">q\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMKALRPDEDRLSPLHSVYVDQWDWERVMGDGERQFSTLKSTVEAIWAGIKATEAAVSEEFGLAPFLPDQIHFVHSQELLSRYPDLDAKGRERAIAKDLGAVFLVGIGGKLSDGHRHDVRAPDYDDWSTPSELGHAGLNGDILVWNPVLEDAFELSSMGIRVDADTLKHQLALTGDEDRLELEWHQALLRGEMPQTIGGGIGQSRLTMLLLQLPHIGQVQCGVWPAACRESVPALL\n",
    )
    .unwrap();
    let out = d.join("out");
    let r = ferrofold(&[
        "features",
        q.to_str().unwrap(),
        "--db",
        repo("databases/demo/uniprot20k.fasta.gz").to_str().unwrap(),
        "--tool",
        "jackhmmer",
        "-o",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(out.join("q/msas/uniprot20k_hits.sto").is_file());
    assert!(
        !files_below(&out).iter().any(|f| f.contains(".ferrofold-")),
        "temporary left"
    );
}

/// Issue 18 (11): the provenance in features.h5 pairs each alignment's name and row counts with its own
/// file and checksum, whatever order the searches ran in (it followed the search order for files and the
/// merge order for names: `{"name":"uniref90","file":"mgnify_hits.a3m"}`).
#[test]
fn provenance_pairs_each_alignment_with_its_own_file() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let small = small_db(d, 300);
    let big = small_db(
        &{
            let b = d.join("b");
            std::fs::create_dir_all(&b).unwrap();
            b
        },
        3000,
    );
    // Searched MGnify first, uniref90 second; merged uniref90 first.
    std::fs::rename(&small, d.join("mgnify.fasta")).unwrap();
    std::fs::rename(&big, d.join("uniref90.fasta")).unwrap();
    let q = d.join("q.fasta");
    let first = {
        let text = std::fs::read_to_string(d.join("uniref90.fasta")).unwrap();
        let mut lines = text.lines();
        let _ = lines.next();
        lines.next().unwrap().to_string()
    };
    std::fs::write(&q, format!(">q\n{first}\n")).unwrap();
    let out = d.join("out");
    let r = ferrofold(&[
        "features",
        q.to_str().unwrap(),
        "--db",
        d.join("mgnify.fasta").to_str().unwrap(),
        "--db",
        d.join("uniref90.fasta").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let (_, prov) = ferrofold::io::features_h5::read(out.join("q/features.h5")).unwrap();
    let dbs: serde_json::Value = serde_json::from_str(&prov.databases).unwrap();
    let dbs = dbs.as_array().unwrap();
    assert_eq!(dbs.len(), 2, "{dbs:?}");
    for e in dbs {
        let (name, file) = (e["name"].as_str().unwrap(), e["file"].as_str().unwrap());
        assert_eq!(format!("{name}_hits.a3m"), file, "{e}");
        let path = out.join("q/msas").join(file);
        assert_eq!(
            e["sha256"].as_str().unwrap(),
            ferrofold::fsutil::checksum::sha256_file(&path).unwrap(),
            "{e}"
        );
        let rows = ferrofold::io::a3m::A3m::read_path(&path)
            .unwrap()
            .records
            .len();
        assert_eq!(e["rows"].as_u64().unwrap() as usize, rows, "{e}");
    }
    assert_eq!(dbs[0]["name"], "uniref90", "merge order");
}

/// An HH-suite database at `prefix` (`<prefix>_a3m.ff*`, `<prefix>_cs219.ff*`) of the sequences of `fasta`.
fn hhsuite_db_at(prefix: &Path, fasta: &Path) {
    std::fs::create_dir_all(prefix.parent().unwrap()).unwrap();
    let with = |s: &str| PathBuf::from(format!("{}{s}", prefix.display()));
    crate::common::run_tool(
        std::process::Command::new("ffindex_from_fasta")
            .arg("-s")
            .arg(with("_a3m.ffdata"))
            .arg(with("_a3m.ffindex"))
            .arg(fasta),
    );
    crate::common::cstranslate(prefix);
}

/// `--db-preset full_dbs` over AlphaFold2's own download layout (HH-suite files directly in `bfd/` and
/// `uniref30/`) and over `ferrofold db download`'s (one folder deeper); a missing database names both
/// paths looked for (issue 18, item 4).
#[test]
fn full_dbs_preset_reads_alphafold2s_layout_and_ours() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // What is checked is where the databases are looked for, not what the search finds: short sequences
    // keep cstranslate (most of this test's time with the first 150) quick.
    let db = small_db_of(d, 40, 400);
    let data = d.join("data");
    for (name, file) in [
        ("uniref90", "uniref90.fasta"),
        ("mgnify", "mgy_clusters_2022_05.fa"),
    ] {
        std::fs::create_dir_all(data.join(name)).unwrap();
        std::fs::copy(&db, data.join(name).join(file)).unwrap();
    }
    let bfd = "bfd_metaclust_clu_complete_id30_c90_final_seq.sorted_opt";
    hhsuite_db_at(&data.join("bfd").join(bfd), &db);
    // The same database under UniRef30's name: copied, not built twice.
    std::fs::create_dir_all(data.join("uniref30")).unwrap();
    for suffix in [
        "_a3m.ffdata",
        "_a3m.ffindex",
        "_cs219.ffdata",
        "_cs219.ffindex",
    ] {
        std::fs::copy(
            data.join(format!("bfd/{bfd}{suffix}")),
            data.join(format!("uniref30/UniRef30_2021_03{suffix}")),
        )
        .unwrap();
    }
    let run = |out: &str| {
        features(&[
            "features",
            repo("examples/data/opuBA_150.fasta").to_str().unwrap(),
            "--db-preset",
            "full_dbs",
            "--data-dir",
            data.to_str().unwrap(),
            "-o",
            d.join(out).to_str().unwrap(),
            "-q",
        ])
    };
    let (code, _, err) = run("out");
    assert_eq!(code, 0, "{err}");
    assert!(d
        .join("out/opuBA_fragment/msas/bfd_uniref_hits.a3m")
        .is_file());

    // ferrofold's layout: the BFD files one folder deeper.
    let nested = data.join("bfd").join(bfd);
    std::fs::create_dir_all(&nested).unwrap();
    for e in std::fs::read_dir(data.join("bfd")).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::rename(&p, nested.join(p.file_name().unwrap())).unwrap();
        }
    }
    let (code, _, err) = run("out2");
    assert_eq!(code, 0, "{err}");

    // Missing: both places named.
    std::fs::remove_dir_all(data.join("uniref30")).unwrap();
    let (code, _, err) = run("out3");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("uniref30/UniRef30_2021_03_a3m.ffdata")
            && err.contains("uniref30/UniRef30_2021_03/UniRef30_2021_03_a3m.ffdata"),
        "{err}"
    );
}

/// `--tool mmseqs` takes a prebuilt MMseqs2 database as it is, and makes a FASTA's database once (kept in
/// the cache, keyed on the file's path, size and time) instead of at every query (issue 18, item 7).
#[test]
fn mmseqs_uses_prebuilt_databases_and_builds_a_fasta_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = small_db(d, 300);
    let cache = d.join("cache");
    let run = |database: &Path, out: &str| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_ferrofold"))
            .args(["features"])
            .arg(repo("examples/data/opuBA_150.fasta"))
            .args(["--tool", "mmseqs", "--db"])
            .arg(database)
            .arg("-o")
            .arg(d.join(out))
            .env("XDG_CACHE_HOME", &cache)
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{err}");
        let a3m = std::fs::read_dir(d.join(out).join("opuBA_fragment/msas"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "a3m"))
            .unwrap();
        (err, ids_a3m(&a3m))
    };
    let (err, first) = run(&db, "a");
    assert!(err.contains("made its MMseqs2 database once"), "{err}");
    assert!(!first.is_empty());
    let made_from_fasta = format!("createdb {}", db.display());
    let (err, again) = run(&db, "b");
    assert!(err.contains("reusing its MMseqs2 database"), "{err}");
    assert!(!err.contains(&made_from_fasta), "{err}");
    assert_eq!(first, again);

    // A database MMseqs2 made (as ColabFold ships them) is searched as it is.
    let prebuilt = d.join("prebuilt/targetdb");
    std::fs::create_dir_all(prebuilt.parent().unwrap()).unwrap();
    crate::common::run_tool(
        std::process::Command::new("mmseqs")
            .arg("createdb")
            .arg(&db)
            .arg(&prebuilt)
            .args(["-v", "1"]),
    );
    let (err, theirs) = run(&prebuilt, "c");
    assert!(!err.contains(&made_from_fasta), "{err}");
    assert!(
        err.contains("search ") && err.contains(prebuilt.to_str().unwrap()),
        "{err}"
    );
    assert_eq!(first, theirs);
}

/// The built-in search streaming its database in chunks (a bounded amount in memory at a time) finds the
/// same hits, with the same scores, E-values and alignments, as with the whole database in memory
/// (issue 18, item 18).
#[test]
fn streaming_search_equals_the_in_memory_search() {
    use ferrofold::search::{db::SequenceDb, search, search_file, SearchOptions};
    let db_path = repo("databases/demo/uniprot20k.fasta.gz");
    let query = ferrofold::Query::from_fasta_path(repo("examples/data/opuBA_150.fasta"))
        .unwrap()
        .sequence;
    let opts = SearchOptions {
        max_hits: 50,
        ..Default::default()
    };
    let db = SequenceDb::load(&db_path).unwrap();
    let (whole, stats) = search(&query, &db, &opts);
    assert!(whole.len() > 5, "the demo database has hits for the query");
    // Chunks of 200,000 residues: the 20,000-sequence demo database in about 40 pieces.
    let mut chunks = 0;
    SequenceDb::load_chunks(&db_path, 200_000, |_| {
        chunks += 1;
        Ok(())
    })
    .unwrap();
    assert!(chunks > 10, "{chunks} chunks");
    let (streamed, sstats, hit_db) = search_file(&query, &db_path, &opts, 200_000).unwrap();
    assert_eq!(sstats.sequences, stats.sequences);
    assert_eq!(sstats.candidates, stats.candidates);
    assert_eq!(streamed.len(), whole.len());
    for (a, b) in whole.iter().zip(&streamed) {
        assert_eq!(db.headers[a.index], hit_db.headers[b.index]);
        assert_eq!((a.score, a.evalue), (b.score, b.evalue));
        assert_eq!(a.alignment, b.alignment);
    }
}
