//! `--db-preset colabfold`: ColabFold's MMseqs2 protocol with real `mmseqs` (Debian's MMseqs2 14) on
//! databases built from the demo database in ColabFold's layout (odd records as "uniref30_2302_db",
//! even ones as "colabfold_envdb_202108_db": clustered, representatives searched, members expanded;
//! `ferrofold::testing::colabfold`).
//! The alignments are compared with the same MMseqs2 steps run by hand below and with ColabFold's own
//! `colabfold_search` (colabfold 1.6.3 from PyPI) run by the Python in `FERROFOLD_COLABFOLD_PYTHON`
//! (`.ci/run` makes it).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::common::{data, ferrofold, run_tool};

fn mmseqs(dir: &Path, args: &[&str]) {
    run_tool(
        Command::new("mmseqs")
            .current_dir(dir)
            .args(args)
            .args(["-v", "1"])
            .env("MMSEQS_FORCE_MERGE", "1")
            .env("MMSEQS_CALL_DEPTH", "1"),
    );
}

/// The two databases, built once per test run.
fn databases() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        ferrofold::testing::colabfold::build_demo_pair(dir.path());
        dir
    })
    .path()
}

fn queries() -> PathBuf {
    data("colabfold/queries.fasta")
}

/// (id, sequence) of the test queries.
fn records() -> Vec<(String, String)> {
    crate::common::fasta_records(&queries())
}

fn features(out: &Path, extra: &[&str]) -> std::process::Output {
    let q = queries();
    let mut args = vec![
        "features",
        q.to_str().unwrap(),
        "--db-preset",
        "colabfold",
        "--data-dir",
        databases().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ferrofold(&args)
}

/// colabfold_search's steps for `fasta` (monomer queries named 101), written out here independently
/// of ferrofold's code: the per-query A3M entries of the final database, in query order.
fn steps_by_hand(work: &Path, sequences: &[String], sens: &str) -> Vec<String> {
    std::fs::create_dir_all(work).unwrap();
    let fasta: String = sequences.iter().map(|s| format!(">101\n{s}\n")).collect();
    std::fs::write(work.join("q.fas"), fasta).unwrap();
    let db = |n: &str| databases().join(n).display().to_string();
    let (u, e) = (db("uniref30_2302_db"), db("colabfold_envdb_202108_db"));
    let run = |args: &[&str]| mmseqs(work, args);
    let search = [
        "--num-iterations",
        "3",
        "--db-load-mode",
        "0",
        "-a",
        "-e",
        "0.1",
        "--max-seqs",
        "10000",
        "-s",
        sens,
        "--threads",
        "2",
    ];
    let realign = [
        "-e",
        "10",
        "--max-accept",
        "100000",
        "--alt-ali",
        "10",
        "-a",
        "--threads",
        "2",
    ];
    let filter = [
        "--qid",
        "0",
        "--qsc",
        "0.8",
        "--diff",
        "0",
        "--max-seq-id",
        "1.0",
        "--filter-min-enable",
        "100",
        "--threads",
        "2",
    ];
    let to_msa = [
        "--msa-format-mode",
        "6",
        "--filter-msa",
        "1",
        "--filter-min-enable",
        "1000",
        "--diff",
        "3000",
        "--qid",
        "0.0,0.2,0.4,0.6,0.8,1.0",
        "--qsc",
        "0",
        "--max-seq-id",
        "0.95",
        "--threads",
        "2",
    ];
    // One database pass: search with `query`, expand the clusters, realign with `profile`, filter, A3M.
    let pass = |query: &str, d: &str, x: &str, profile: &str, expand: &[&str], a3m: &str| {
        let (seq, aln) = (format!("{d}_seq"), format!("{d}_aln"));
        let (res, exp, re, fi) = (
            format!("res{x}"),
            format!("res{x}_exp"),
            format!("res{x}_exp_realign"),
            format!("res{x}_exp_realign_filter"),
        );
        let tmp = if x.is_empty() { "tmp" } else { "tmp3" };
        run(&[&["search", query, d, &res, tmp][..], &search].concat());
        if x.is_empty() {
            run(&["mvdb", "tmp/latest/profile_1", "prof_res"]);
            run(&["lndb", "qdb_h", "prof_res_h"]);
        }
        run(&[&["expandaln", query, &seq, &res, &aln, &exp][..], expand].concat());
        run(&[&["align", profile, &seq, &exp, &re][..], &realign].concat());
        run(&[&["filterresult", "qdb", &seq, &re, &fi][..], &filter].concat());
        run(&[&["result2msa", "qdb", &seq, &fi, a3m][..], &to_msa].concat());
    };
    run(&[
        "createdb",
        "q.fas",
        "qdb",
        "--shuffle",
        "0",
        "--dbtype",
        "1",
    ]);
    let expand_uniref = [
        "--expansion-mode",
        "0",
        "-e",
        "inf",
        "--expand-filter-clusters",
        "1",
        "--max-seq-id",
        "0.95",
        "--threads",
        "2",
    ];
    pass("qdb", &u, "", "prof_res", &expand_uniref, "uniref.a3m");
    let expand_env = ["-e", "inf", "--expansion-mode", "0", "--threads", "2"];
    pass(
        "prof_res",
        &e,
        "_env",
        "tmp3/latest/profile_1",
        &expand_env,
        "env.a3m",
    );
    run(&["mergedbs", "qdb", "final.a3m", "uniref.a3m", "env.a3m"]);
    run(&[
        "unpackdb",
        "final.a3m",
        "unpacked",
        "--unpack-name-mode",
        "0",
        "--unpack-suffix",
        ".a3m",
    ]);
    (0..sequences.len())
        .map(|k| {
            let b = std::fs::read(work.join(format!("unpacked/{k}.a3m"))).unwrap();
            String::from_utf8(b.into_iter().filter(|&c| c != 0).collect()).unwrap()
        })
        .collect()
}

fn colabfold_python() -> String {
    std::env::var("FERROFOLD_COLABFOLD_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// `python -m colabfold.mmseqs.search` (ColabFold's colabfold_search) on the test queries; its A3M per
/// record id. MMseqs2 14 lacks `--prefilter-mode` (its one prefilter is mode 0, what colabfold_search
/// asks for), so a wrapper drops that flag and runs the real `mmseqs`.
fn colabfold_search(work: &Path, sens: &str) -> Vec<(String, String)> {
    std::fs::create_dir_all(work).unwrap();
    let wrapper = work.join("mmseqs");
    let mut f = std::fs::File::create(&wrapper).unwrap();
    writeln!(
        f,
        "#!/bin/sh\nfor a do shift; if [ \"$skip\" = 1 ]; then skip=0; continue; fi; if [ \"$a\" = --prefilter-mode ]; then skip=1; continue; fi; set -- \"$@\" \"$a\"; done\nexec mmseqs \"$@\""
    )
    .unwrap();
    drop(f);
    run_tool(Command::new("chmod").arg("+x").arg(&wrapper));
    let out = work.join("out");
    let o = Command::new(colabfold_python())
        .args(["-m", "colabfold.mmseqs.search"])
        .arg(queries())
        .arg(databases())
        .arg(&out)
        .arg("--mmseqs")
        .arg(&wrapper)
        .args(["--threads", "2", "-s", sens])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} (set FERROFOLD_COLABFOLD_PYTHON to a Python with colabfold 1.6.3): {e}", colabfold_python()));
    assert!(
        o.status.success(),
        "colabfold_search: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    records()
        .into_iter()
        .map(|(id, _)| {
            let text = std::fs::read_to_string(out.join(format!("{id}.a3m"))).unwrap();
            (id, text)
        })
        .collect()
}

#[test]
fn colabfold_preset_gives_colabfold_searchs_alignments_in_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = features(&out, &["--mmseqs-sensitivity", "8"]);
    let log = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{log}");
    // One MMseqs2 invocation per step for the whole batch: two searches (UniRef30, environmental) for
    // three queries.
    assert_eq!(log.matches("mmseqs search ").count(), 2, "{log}");
    assert_eq!(log.matches("mmseqs createdb ").count(), 1, "{log}");
    let recs = records();
    let ours: Vec<String> = recs
        .iter()
        .map(|(id, _)| std::fs::read_to_string(out.join(id).join("msas/colabfold.a3m")).unwrap())
        .collect();
    // The work folder is gone; the kept alignments stay (one per sequence).
    let kept: Vec<_> = std::fs::read_dir(out.join(".colabfold"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(kept.len(), 3, "{kept:?}");

    let by_hand = steps_by_hand(
        &dir.path().join("hand"),
        &recs.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
        "8.0",
    );
    for ((id, _), (a, b)) in recs.iter().zip(ours.iter().zip(&by_hand)) {
        assert_eq!(
            a, b,
            "{id}: ferrofold's alignment differs from the MMseqs2 steps run by hand"
        );
        assert!(a.starts_with(">101\n"), "{id}");
    }
    for ((id, theirs), a) in colabfold_search(&dir.path().join("cf"), "8")
        .iter()
        .zip(&ours)
    {
        assert_eq!(
            a, theirs,
            "{id}: ferrofold's alignment differs from colabfold_search's"
        );
    }
    // Both databases contribute rows: the query row starts each part.
    assert_eq!(ours[2].matches(">101\n").count(), 2);
    let rows = |a: &str| a.matches('>').count();
    assert!(rows(&ours[2]) > 50, "{}", rows(&ours[2]));

    // The features are those of the alignment read as a ColabFold .a3m input (ColabFold's monomer path).
    let via_input = dir.path().join("via_input");
    std::fs::create_dir_all(&via_input).unwrap();
    // Named after the file, as colabfold_batch names an .a3m input's job.
    let a3m = via_input.join("A0A091AWX1.a3m");
    std::fs::write(&a3m, ours[2].replacen(">101", ">A0A091AWX1", 1)).unwrap();
    let o2 = ferrofold(&[
        "features",
        a3m.to_str().unwrap(),
        "-o",
        via_input.join("o").to_str().unwrap(),
        "-q",
    ]);
    assert!(
        o2.status.success(),
        "{}",
        String::from_utf8_lossy(&o2.stderr)
    );
    let a = ferrofold::io::features_h5::read(out.join("A0A091AWX1/features.h5"))
        .unwrap()
        .0;
    let b = ferrofold::io::features_h5::read(via_input.join("o/A0A091AWX1/features.h5"))
        .unwrap()
        .0;
    assert_eq!(a.msa, b.msa);
    assert_eq!(a.msa.msa.nrows(), a.msa.num_alignments[0] as usize);

    // A rerun finds everything current and runs no tool.
    let o = features(&out, &["--mmseqs-sensitivity", "8"]);
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && !log.contains("running:"), "{log}");
}

/// A `mmseqs` that records its subcommands in `log` and fails at the first `result2msa` while the
/// file `fail` exists.
fn flaky_mmseqs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (bin, log, fail) = (dir.join("mmseqs"), dir.join("calls.log"), dir.join("fail"));
    std::fs::write(
        &bin,
        format!(
            "#!/bin/sh\necho \"$1\" >> {log}\nif [ \"$1\" = result2msa ] && [ -e {fail} ]; then echo 'simulated crash' >&2; exit 3; fi\nexec mmseqs \"$@\"\n",
            log = log.display(),
            fail = fail.display()
        ),
    )
    .unwrap();
    run_tool(Command::new("chmod").arg("+x").arg(&bin));
    std::fs::write(&fail, "").unwrap();
    (bin, log, fail)
}

/// The MMseqs2 sensitivity of the tests about batching and resuming, which compare ferrofold's runs with
/// each other (not with colabfold_search): MMseqs2's prefilter at ColabFold's default of 8 was most of
/// their time, and these databases' homologs are found at 2 too (the tests check rows were found).
const QUICK: &str = "2";

#[test]
fn an_interrupted_colabfold_batch_resumes_without_redoing_finished_steps() {
    let dir = tempfile::tempdir().unwrap();
    let (bin, log, fail) = flaky_mmseqs(dir.path());
    let out = dir.path().join("out");
    let flaky = || {
        features(
            &out,
            &[
                "--tool-binary",
                bin.to_str().unwrap(),
                "--mmseqs-sensitivity",
                QUICK,
            ],
        )
    };
    let o = flaky();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("result2msa") && err.contains("simulated crash") && err.contains("resume"),
        "{err}"
    );
    for r in records() {
        assert!(!out.join(&r.0).join("features.h5").exists());
    }
    let first: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        first,
        [
            "createdb",
            "search",
            "mvdb",
            "lndb",
            "expandaln",
            "align",
            "filterresult",
            "result2msa"
        ]
    );

    std::fs::remove_file(&fail).unwrap();
    std::fs::remove_file(&log).unwrap();
    let o = flaky();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let second: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    // Only what had not finished: UniRef30's result2msa, the environmental pass, the merge.
    assert_eq!(
        second,
        [
            "result2msa",
            "search",
            "expandaln",
            "align",
            "filterresult",
            "result2msa",
            "mergedbs"
        ]
    );

    // The same alignments as an uninterrupted run.
    let clean = dir.path().join("clean");
    let o = features(&clean, &["--mmseqs-sensitivity", QUICK]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (id, _) in records() {
        let a = std::fs::read(out.join(&id).join("msas/colabfold.a3m")).unwrap();
        let b = std::fs::read(clean.join(&id).join("msas/colabfold.a3m")).unwrap();
        assert_eq!(a, b, "{id}");
        assert!(count_rows(&a) > 1, "{id}: no hits");
    }
}

#[test]
fn colabfold_databases_missing_or_of_the_wrong_type_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // Only UniRef30: the environmental database is missing (UniRef30-only mode needs none).
    let only_uniref = dir.path().join("only_uniref");
    std::fs::create_dir_all(&only_uniref).unwrap();
    for e in std::fs::read_dir(databases()).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("uniref30") {
            std::os::unix::fs::symlink(e.path(), only_uniref.join(e.file_name())).unwrap();
        }
    }
    let q = queries();
    let run = |data_dir: &Path, extra: &[&str]| {
        let mut args = vec![
            "features",
            q.to_str().unwrap(),
            "--db-preset",
            "colabfold",
            "--data-dir",
            data_dir.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        ferrofold(&args)
    };
    let o = run(&only_uniref, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no colabfold_envdb_202108_db")
            && err.contains("setup_databases.sh")
            && err.contains("_seq_h"),
        "{err}"
    );
    assert!(
        !out.exists() || ferrofold_files(&out).is_empty(),
        "{:?}",
        ferrofold_files(&out)
    );
    let o = run(&only_uniref, &["--msa-mode", "mmseqs2_uniref"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a3m = std::fs::read_to_string(out.join("P53508/msas/colabfold.a3m")).unwrap();
    assert_eq!(a3m.matches(">101\n").count(), 1, "UniRef30 rows only");

    // One file missing is named.
    let broken = dir.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    for e in std::fs::read_dir(databases()).unwrap().flatten() {
        if e.file_name() != "colabfold_envdb_202108_db_aln.index" {
            std::os::unix::fs::symlink(e.path(), broken.join(e.file_name())).unwrap();
        }
    }
    let out2 = dir.path().join("out2");
    let o = ferrofold(&[
        "features",
        queries().to_str().unwrap(),
        "--db-preset",
        "colabfold",
        "--data-dir",
        broken.to_str().unwrap(),
        "-o",
        out2.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("colabfold_envdb_202108_db_aln.index"), "{err}");

    // A nucleotide database where UniRef30 should be.
    let nucl = dir.path().join("nucl");
    std::fs::create_dir_all(&nucl).unwrap();
    std::fs::write(
        nucl.join("n.fasta"),
        ">n1\nACGTACGTACGTAAACCCGGGTTT\n>n2\nACGTTTTGGGCCCAAATTT\n",
    )
    .unwrap();
    mmseqs(
        &nucl,
        &["createdb", "n.fasta", "uniref30_2302_db", "--dbtype", "2"],
    );
    for s in ["_seq", "_aln", "_seq_h"] {
        for ext in ["", ".dbtype", ".index"] {
            std::fs::copy(
                databases().join(format!("uniref30_2302_db{s}{ext}")),
                nucl.join(format!("uniref30_2302_db{s}{ext}")),
            )
            .unwrap();
        }
    }
    let out3 = dir.path().join("out3");
    let o = ferrofold(&[
        "features",
        queries().to_str().unwrap(),
        "--db-preset",
        "colabfold",
        "--data-dir",
        nucl.to_str().unwrap(),
        "--msa-mode",
        "mmseqs2_uniref",
        "-o",
        out3.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("nucleotide sequences") && err.contains("uniref30_2302_db"),
        "{err}"
    );

    // Usage: no --data-dir; --msa-mode without a ColabFold source.
    let o = ferrofold(&[
        "features",
        queries().to_str().unwrap(),
        "--db-preset",
        "colabfold",
        "-o",
        out3.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = ferrofold(&[
        "features",
        queries().to_str().unwrap(),
        "--msa-mode",
        "mmseqs2_uniref",
        "-o",
        out3.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--msa-server"));
}

/// Files below `dir` other than folders (what a failed run left).
fn ferrofold_files(dir: &Path) -> Vec<String> {
    crate::common::files_below(dir)
}

#[test]
fn run_searches_each_array_tasks_targets_in_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let q = queries();
    let task = |i: &str| {
        let o = ferrofold(&[
            "run",
            q.to_str().unwrap(),
            "--db-preset",
            "colabfold",
            "--data-dir",
            databases().to_str().unwrap(),
            "--stage",
            "features",
            "--array-index",
            i,
            "--array-size",
            "2",
            "--mmseqs-sensitivity",
            QUICK,
            "-o",
            out.to_str().unwrap(),
        ]);
        let log = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{log}");
        log
    };
    // Task 0 has targets 0 and 2, task 1 target 1: each task one batch (two searches).
    let log0 = task("0");
    assert_eq!(log0.matches("mmseqs search ").count(), 2, "{log0}");
    assert!(log0.contains("2 sequence(s)"), "{log0}");
    let log1 = task("1");
    assert_eq!(log1.matches("mmseqs search ").count(), 2, "{log1}");
    assert!(log1.contains("1 sequence(s)"), "{log1}");
    // The same alignments as one `features` batch of all three.
    let whole = dir.path().join("whole");
    let o = features(&whole, &["--mmseqs-sensitivity", QUICK]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (id, _) in records() {
        let a = std::fs::read(out.join(&id).join("msas/colabfold.a3m")).unwrap();
        assert_eq!(
            a,
            std::fs::read(whole.join(&id).join("msas/colabfold.a3m")).unwrap(),
            "{id}"
        );
        assert!(count_rows(&a) > 1, "{id}: no hits");
    }
    // Rerunning a task finds its features current: no tool runs.
    let again = task("0");
    assert!(!again.contains("running:"), "{again}");
}

/// The rows of an A3M file's bytes.
fn count_rows(a3m: &[u8]) -> usize {
    a3m.iter().filter(|&&c| c == b'>').count()
}
