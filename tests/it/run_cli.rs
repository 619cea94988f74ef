//! `ferrofold run`: features + predict over a multi-record FASTA in single-sequence mode on a tiny model,
//! split across a two-task job array (flags and Slurm's variables), record ids sanitised, reruns skipped.

use std::process::Command;

use crate::common::{data, files_below};

fn tiny_model(dir: &std::path::Path) -> std::path::PathBuf {
    let out = dir.join("tiny.onnx");
    ferrofold::pipeline::params::convert(
        &data("model/tiny/params_model_1_ptm.npz"),
        &out,
        Some("tiny"),
        |c| {
            c.structure_module.layers = 2;
            c.num_recycle = 0;
        },
    )
    .unwrap();
    out
}

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ferrofold"));
    c.args(args).env_remove("RUST_LOG");
    for k in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_MIN",
        "SLURM_ARRAY_TASK_MAX",
        "SLURM_ARRAY_TASK_STEP",
        "SLURM_ARRAY_TASK_COUNT",
    ] {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn batch_run_splits_across_array_tasks_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let model = tiny_model(d);
    let fasta = d.join("targets.fasta");
    std::fs::write(&fasta, ">t1 first\nMKTAYIAKQRQISFVKSHFSRQ\n>../evil second\nGSSHHHHHHSSGLVPRGSHM\n>t3\nMAAHKGAEHHHKAAEHHEQA\n").unwrap();
    let out = d.join("out");
    let base = |extra: &[&str]| {
        let mut v = vec![
            "run",
            fasta.to_str().unwrap(),
            "--single-sequence",
            "--relax",
            "none",
            "--model",
            model.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "-q",
        ];
        v.extend_from_slice(extra);
        v.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let call = |extra: &[&str], env: &[(&str, &str)]| {
        let a = base(extra);
        run(&a.iter().map(String::as_str).collect::<Vec<_>>(), env)
    };
    // Task 0 of 2 by flags: targets 0 and 2.
    let (code, stdout, err) = call(&["--array-index", "0", "--array-size", "2"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("t1\ttiny") && stdout.contains("t3\ttiny") && !stdout.contains("evil"),
        "{stdout}"
    );
    // Task 1 of 2 from Slurm's variables (ids counted from SLURM_ARRAY_TASK_MIN): target 1.
    let (code, stdout, err) = call(
        &[],
        &[
            ("SLURM_ARRAY_TASK_ID", "8"),
            ("SLURM_ARRAY_TASK_MIN", "7"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("_._evil\ttiny") && !stdout.contains("t1\t"),
        "{stdout}"
    );
    // Everything landed inside the output folder, one folder per target, each complete.
    let dirs: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut dirs = dirs;
    dirs.sort();
    assert_eq!(dirs, ["_._evil", "t1", "t3"]);
    assert!(!d.join("evil").exists());
    for t in &dirs {
        let files = files_below(&out.join(t));
        for f in [
            "features.h5",
            "ranked_0.pdb",
            "result_tiny_pred_0.h5",
            "confidence_tiny_pred_0.json",
            "pae_tiny_pred_0.json",
            "ranking_debug.json",
            "log.txt",
        ] {
            assert!(
                files.contains(&f.to_string()),
                "{t}: {f} missing in {files:?}"
            );
        }
    }
    let log = std::fs::read_to_string(out.join("_._evil/log.txt")).unwrap();
    assert!(
        log.contains("record '../evil'")
            && log.contains("predict tiny_pred_0: mean pLDDT")
            && log.contains("command:"),
        "{log}"
    );
    // Rerun of the whole batch: nothing to do.
    let (code, stdout, _) = call(&[], &[]);
    assert_eq!(code, 0);
    assert_eq!(stdout.matches("up to date").count(), 3, "{stdout}");
    // An index outside the array is a usage problem caught before any work.
    let (code, _, err) = call(&["--array-index", "2", "--array-size", "2"], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("--array-index 2") && err.contains("--array-size 2"),
        "{err}"
    );
}

#[test]
fn demo_model_is_deterministic_and_runs_the_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let a = d.join("a/demo.onnx");
    let b = d.join("b/demo.onnx");
    for p in [&a, &b] {
        let (code, stdout, err) = run(&["params", "demo", "-o", p.to_str().unwrap()], &[]);
        assert_eq!(code, 0, "{err}");
        assert!(stdout.contains("written"));
        assert!(err.contains("RANDOM weights"), "the user is told: {err}");
    }
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "same seed, same bytes"
    );
    let m = ferrofold::pipeline::params::load(&a).unwrap();
    assert_eq!(m.name, "ferrofold_demo");
    // `run --demo-model` makes the model where FERROFOLD_MODELS points, once, and predicts with it.
    let fasta = d.join("q.fasta");
    std::fs::write(&fasta, ">q\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n").unwrap();
    let models = d.join("models");
    let out = d.join("out");
    let (code, stdout, err) = run(
        &[
            "run",
            fasta.to_str().unwrap(),
            "--single-sequence",
            "--demo-model",
            "-o",
            out.to_str().unwrap(),
            "-q",
        ],
        &[("FERROFOLD_MODELS", models.to_str().unwrap())],
    );
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("q\tferrofold_demo"), "{stdout}");
    assert!(models.join("ferrofold_demo.onnx").is_file());
    let plddt = ferrofold::io::results_h5::read_f32(
        &out.join("q/result_ferrofold_demo_pred_0.h5"),
        "plddt",
    )
    .unwrap();
    assert!(plddt
        .iter()
        .all(|v| v.is_finite() && (0.0..=100.0).contains(v)));
}

/// kill -9 at several moments of a batch, then a rerun: the final outputs equal an uninterrupted run's and
/// no temporary file survives.
#[test]
fn killed_runs_resume_to_the_same_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let model = d.join("models/ferrofold_demo.onnx");
    ferrofold::pipeline::params::ensure_demo_model(&model).unwrap();
    let fasta = d.join("t.fasta");
    std::fs::write(&fasta, ">a\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRV\n>b\nMLTLENVSKTYKGGKKAVNNVNLKIAKGEFICFIGPSG\n>c\nGSSHHHHHHSSGLVPRGSHMDKKETKHLLKIKKEDYPQIF\n").unwrap();
    let args = |out: &std::path::Path| -> Vec<String> {
        [
            "run",
            fasta.to_str().unwrap(),
            "--single-sequence",
            "--relax",
            "none",
            "--model",
            model.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "-q",
            "--threads",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let reference = d.join("reference");
    let (code, _, err) = run(
        &args(&reference)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let killed = d.join("killed");
    for delay_ms in [30u64, 120, 250, 400, 600] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferrofold"))
            .args(args(&killed))
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    let (code, _, err) = run(
        &args(&killed).iter().map(String::as_str).collect::<Vec<_>>(),
        &[],
    );
    assert_eq!(code, 0, "{err}");
    for t in ["a", "b", "c"] {
        for f in [
            "ranked_0.pdb",
            "unrelaxed_ferrofold_demo_pred_0.cif",
            "confidence_ferrofold_demo_pred_0.json",
            "pae_ferrofold_demo_pred_0.json",
            "ranking_debug.json",
            "plddt.png",
            "pae.png",
            "coverage.png",
        ] {
            assert_eq!(
                std::fs::read(killed.join(t).join(f)).unwrap(),
                std::fs::read(reference.join(t).join(f)).unwrap(),
                "{t}/{f}"
            );
        }
        let (a, _) = ferrofold::io::features_h5::read(killed.join(t).join("features.h5")).unwrap();
        let (b, _) =
            ferrofold::io::features_h5::read(reference.join(t).join("features.h5")).unwrap();
        assert_eq!(a, b, "{t}: features");
        let files = files_below(&killed.join(t));
        assert!(!files.iter().any(|f| f.ends_with(".tmp")), "{t}: {files:?}");
        for f in ["features.h5", "result_ferrofold_demo_pred_0.h5"] {
            let c = ferrofold::fsutil::checksum::check(&killed.join(t).join(f));
            assert!(c.is_match(), "{t}/{f}: {c:?}");
        }
    }
}

/// Intermediates truncated or corrupted after a finished run are detected by the checksums beside them
/// and regenerated (never trusted); `predict` refuses a features file that no longer matches.
#[test]
fn corrupted_intermediates_are_detected_and_regenerated() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let model = tiny_model(d);
    let fasta = d.join("t.fasta");
    std::fs::write(&fasta, ">a\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n").unwrap();
    let out = d.join("out");
    let args = [
        "run",
        fasta.to_str().unwrap(),
        "--single-sequence",
        "--relax",
        "none",
        "--model",
        model.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    let (code, _, err) = run(&args, &[]);
    assert_eq!(code, 0, "{err}");
    let t = out.join("a");
    let pdb = std::fs::read(t.join("ranked_0.pdb")).unwrap();
    let result = t.join("result_tiny_pred_0.h5");
    let features = t.join("features.h5");

    // Flip one byte in the middle of the result file: predicted again, same structure.
    let mut bytes = std::fs::read(&result).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&result, &bytes).unwrap();
    let (code, _, err) = run(&args, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("result_tiny_pred_0.h5")
            && err.contains("corrupted")
            && err.contains("predicting again"),
        "{err}"
    );
    assert!(ferrofold::fsutil::checksum::check(&result).is_match());
    assert_eq!(std::fs::read(t.join("ranked_0.pdb")).unwrap(), pdb);

    // Truncate the features file: predict alone refuses it, naming it; run regenerates it.
    let bytes = std::fs::read(&features).unwrap();
    std::fs::write(&features, &bytes[..bytes.len() - 100]).unwrap();
    let (code, _, err) = run(
        &[
            "predict",
            features.to_str().unwrap(),
            "--relax",
            "none",
            "--model",
            model.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("features.h5") && err.contains("recorded checksum"),
        "{err}"
    );
    let (code, _, err) = run(&args, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("features.h5") && err.contains("regenerating"),
        "{err}"
    );
    assert!(ferrofold::fsutil::checksum::check(&features).is_match());
    assert_eq!(std::fs::read(t.join("ranked_0.pdb")).unwrap(), pdb);
    // A file whose sidecar is gone (a kill between the two writes) is not trusted either.
    std::fs::remove_file(ferrofold::fsutil::checksum::sidecar_path(&result)).unwrap();
    let (code, _, err) = run(&args, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("no recorded checksum"), "{err}");
}

/// `params info --len --depth` estimates peak memory and work for a query, from the model's configuration.
#[test]
fn params_info_estimates_memory_and_work() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let info = |len: &str, depth: &str| {
        let (code, out, err) = run(
            &[
                "params",
                "info",
                model.to_str().unwrap(),
                "--len",
                len,
                "--depth",
                depth,
            ],
            &[],
        );
        assert_eq!(code, 0, "{err}");
        let field = |k: &str| -> f64 {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}\t")))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or_else(|| panic!("{k} missing in {out}"))
        };
        (field("peak_memory_bytes"), field("gflop_per_iteration"))
    };
    let (m1, f1) = info("100", "10");
    let (m2, f2) = info("200", "10");
    let (m3, _) = info("100", "3000");
    assert!(m1 > 0.0 && f1 > 0.0);
    assert!(m2 > m1 && f2 > 2.0 * f1, "{m1} {m2} {f1} {f2}");
    assert!(m3 > m1);
}

/// Issue 14 (1): `run --stage predict` must not predict a features.h5 made from an earlier version of the
/// record (it did, with exit 0, crediting the new FASTA). Each kind of change is refused with what differs;
/// the unchanged input predicts.
#[test]
fn stage_predict_refuses_features_of_another_input() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let model = tiny_model(d);
    let fasta = d.join("t.fasta");
    let out = d.join("out");
    let args = |stage: &str, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "run",
            fasta.to_str().unwrap(),
            "--relax",
            "none",
            "--model",
            model.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--stage",
            stage,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run_args = |stage: &str, extra: &[&str]| {
        let a = args(stage, extra);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        run(&refs, &[])
    };
    std::fs::write(&fasta, ">t1 first\nMKTAYIAKQRQISFVKSHFSRQ\n").unwrap();
    let (code, _, err) = run_args("features", &["--single-sequence"]);
    assert_eq!(code, 0, "{err}");
    let target = out.join("t1");
    let before = files_below(&target);

    // The sequence changed since the features were made.
    std::fs::write(&fasta, ">t1 first\nMKTAYIAKQRQISFVKSHFSRA\n").unwrap();
    let (code, _, err) = run_args("predict", &["--single-sequence"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("features.h5")
            && err.contains("does not belong to the current input")
            && err.contains("another sequence")
            && err.contains("--stage features"),
        "{err}"
    );
    // The header changed.
    std::fs::write(&fasta, ">t1 renamed\nMKTAYIAKQRQISFVKSHFSRQ\n").unwrap();
    let (code, _, err) = run_args("predict", &["--single-sequence"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("another header"), "{err}");
    // Other alignment options than the features were made with.
    std::fs::write(&fasta, ">t1 first\nMKTAYIAKQRQISFVKSHFSRQ\n").unwrap();
    let (code, _, err) = run_args("predict", &["--single-sequence", "--uniref-max-hits", "7"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("other alignment inputs or options"), "{err}");
    // Nothing was predicted or written by the refused runs (the log is appended only by finished ones).
    assert_eq!(files_below(&target), before);

    // The input the features were made from predicts.
    let (code, stdout, err) = run_args("predict", &["--single-sequence"]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("t1\ttiny"), "{stdout}");
    assert!(target.join("ranked_0.pdb").is_file());
}

/// Issue 14 (5): stepped and offset arrays map each task to its rank among the array's ids, so together
/// the tasks cover every target exactly once; broken variables stop the task before any work.
#[test]
fn stepped_slurm_arrays_cover_every_target_once() {
    let tmp = tempfile::tempdir().unwrap();
    let fasta = tmp.path().join("t.fasta");
    let mut text = String::new();
    for i in 0..7 {
        text.push_str(&format!(">t{i}\nMKTAYIAKQRQISFVKSHFSRQ\n"));
    }
    std::fs::write(&fasta, text).unwrap();
    let out = tmp.path().join("out");
    let list = |env: &[(&str, &str)]| {
        run(
            &[
                "run",
                fasta.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
                "--list",
            ],
            env,
        )
    };
    // --array=3-11:4 (ids 3, 7, 11): 3 tasks.
    let mut seen = Vec::new();
    for id in ["3", "7", "11"] {
        let (code, stdout, err) = list(&[
            ("SLURM_ARRAY_TASK_ID", id),
            ("SLURM_ARRAY_TASK_MIN", "3"),
            ("SLURM_ARRAY_TASK_MAX", "11"),
            ("SLURM_ARRAY_TASK_STEP", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ]);
        assert_eq!(code, 0, "{err}");
        seen.extend(
            stdout
                .lines()
                .map(|l| l.split('\t').nth(2).unwrap().to_string()),
        );
    }
    seen.sort();
    let all: Vec<String> = (0..7).map(|i| format!("t{i}")).collect();
    assert_eq!(seen, all, "each target once");
    // Garbage or inconsistent variables: exit 1, nothing listed or made.
    for env in [
        vec![
            ("SLURM_ARRAY_TASK_ID", "seven"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ],
        vec![
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "3"),
            ("SLURM_ARRAY_TASK_STEP", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ],
        vec![("SLURM_ARRAY_TASK_ID", "2")],
    ] {
        let (code, stdout, err) = list(&env);
        assert_eq!(code, 1, "{env:?}: {err}");
        assert!(
            stdout.is_empty() && err.contains("SLURM_ARRAY_TASK"),
            "{env:?}: {err}"
        );
        let args = [
            "run",
            fasta.to_str().unwrap(),
            "--single-sequence",
            "--stage",
            "features",
            "-o",
            out.to_str().unwrap(),
        ];
        let (code, _, err) = run(&args, &env);
        assert_eq!(code, 1, "{env:?}: {err}");
        assert!(!out.exists(), "{env:?}: work was done");
    }
}

/// Issue 18 (2): each target's line is printed as it finishes, so what finished before a failure is on
/// stdout (and a long batch can be followed).
#[test]
fn each_target_is_reported_as_it_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let model = tiny_model(d);
    let out = d.join("out");
    let one = d.join("one.fasta");
    std::fs::write(&one, ">t1\nMKTAYIAKQRQISFVKSHFSRQ\n").unwrap();
    let (code, _, err) = run(
        &[
            "run",
            one.to_str().unwrap(),
            "--single-sequence",
            "--stage",
            "features",
            "-o",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    // Two targets, features only for the first: the second fails, the first's line is already out.
    let two = d.join("two.fasta");
    std::fs::write(
        &two,
        ">t1\nMKTAYIAKQRQISFVKSHFSRQ\n>t2\nMKTAYIAKQRQISFVKSHFSRA\n",
    )
    .unwrap();
    let (code, stdout, err) = run(
        &[
            "run",
            two.to_str().unwrap(),
            "--single-sequence",
            "--stage",
            "predict",
            "--relax",
            "none",
            "--model",
            model.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(stdout.starts_with("t1\ttiny"), "{stdout}");
    assert!(
        err.contains("t2") && err.contains("run the features stage first"),
        "{err}"
    );
}

/// Issue 18 (9, 15): contradicting or unsupported flags are usage errors; more threads than the machine
/// offers are capped, with a warning.
#[test]
fn contradicting_flags_and_too_many_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let q = d.join("q.fasta");
    std::fs::write(&q, ">q\nMKTAYIAKQRQISFVKSHFSRQ\n").unwrap();
    let o = d.join("o");
    for extra in [
        vec!["--db-preset", "demo", "--tool", "jackhmmer"],
        vec!["--db-preset", "colabfold"],
    ] {
        let mut args = vec!["features", q.to_str().unwrap(), "-o", o.to_str().unwrap()];
        args.extend(extra.iter().copied());
        let (code, _, err) = run(&args, &[]);
        assert_eq!(code, 2, "{extra:?}: {err}");
    }
    let model = tiny_model(d);
    let (code, _, err) = run(
        &[
            "run",
            q.to_str().unwrap(),
            "--single-sequence",
            "--relax",
            "none",
            "--model",
            model.to_str().unwrap(),
            "-o",
            o.to_str().unwrap(),
            "--threads",
            "10000",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("--threads 10000") && err.contains("cores; using"),
        "{err}"
    );
}

/// Issue 18 (1): one bad target never sinks a batch. An invalid record and a target over --max-length are
/// recorded (their log.txt, the batch's failed.tsv with stage and reason), every other target finishes,
/// and the command exits 1 at the end saying how many failed; usage errors still stop at once.
#[test]
fn a_bad_target_is_recorded_and_the_batch_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let model = tiny_model(d);
    let fasta = d.join("batch.fasta");
    std::fs::write(
        &fasta,
        ">good1\nMKTAYIAKQRQISFVKSHFSRQ\n>bad_letters\nMKTAYIAKqrqisf\n>too_long\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n>good2\nMKTAYIAKQRQISFVKSHFSRA\n",
    )
    .unwrap();
    let out = d.join("out");
    let (code, stdout, err) = run(
        &[
            "run",
            fasta.to_str().unwrap(),
            "--single-sequence",
            "--relax",
            "none",
            "--model",
            model.to_str().unwrap(),
            "--max-length",
            "25",
            "-o",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("2 of 4 target(s) failed") && err.contains("failed.tsv"),
        "{err}"
    );
    for good in ["good1", "good2"] {
        assert!(stdout.contains(&format!("{good}\ttiny")), "{stdout}");
        assert!(out.join(good).join("ranked_0.pdb").is_file(), "{good}");
    }
    let failed = std::fs::read_to_string(out.join("failed.tsv")).unwrap();
    let rows: Vec<Vec<&str>> = failed
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), 2, "{failed}");
    assert_eq!(
        (rows[0][2], rows[0][4]),
        ("bad_letters", "input"),
        "{failed}"
    );
    assert!(rows[0][5].contains("'q'"), "{failed}");
    assert_eq!(
        (rows[1][2], rows[1][4]),
        ("too_long", "features"),
        "{failed}"
    );
    assert!(rows[1][5].contains("--max-length"), "{failed}");
    let log = std::fs::read_to_string(out.join("too_long/log.txt")).unwrap();
    assert!(log.contains("features failed"), "{log}");

    // A usage error (--msa files for a multi-record batch) still stops at once.
    let msa = d.join("uniref90_hits.a3m");
    std::fs::write(&msa, ">q\nMKTAYIAKQRQISFVKSHFSRQ\n").unwrap();
    let (code, _, err) = run(
        &[
            "run",
            fasta.to_str().unwrap(),
            "--msa",
            msa.to_str().unwrap(),
            "--stage",
            "features",
            "-o",
            d.join("o2").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(!d.join("o2/failed.tsv").exists());
}

/// Issue 18 (14): `--demo-model` keeps the demo model in the user's cache, not in whatever folder the
/// user is in, and says where.
#[test]
fn the_demo_model_goes_to_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let cwd = d.join("work");
    std::fs::create_dir_all(&cwd).unwrap();
    std::fs::write(cwd.join("q.fasta"), ">q\nMKTAYIAKQRQISFVKSHFSRQ\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ferrofold"))
        .args([
            "run",
            "q.fasta",
            "--single-sequence",
            "--demo-model",
            "--num-recycle",
            "0",
            "-o",
            "out",
        ])
        .current_dir(&cwd)
        .env("XDG_CACHE_HOME", d.join("cache"))
        .env_remove("FERROFOLD_MODELS")
        .env_remove("RUST_LOG")
        .env_remove("SLURM_ARRAY_TASK_ID")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let model = d.join("cache/ferrofold/models/ferrofold_demo.onnx");
    assert!(model.is_file());
    assert!(err.contains(&model.display().to_string()), "{err}");
    assert!(!cwd.join("models").exists());
}

/// Issue 18 (8): `--msa-dir` over an earlier output folder (`<out>/<id>/msas/`, AlphaFold2's and
/// ferrofold's layout) reuses its alignments, the batch form of AlphaFold2's `--use_precomputed_msas`.
#[test]
fn msa_dir_reads_an_earlier_output_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let fasta = d.join("t.fasta");
    std::fs::write(
        &fasta,
        ">t1\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n>t2\nMSKGEELFTGVVPILVELDGDVNGHKFSVSGEG\n",
    )
    .unwrap();
    let first = d.join("first");
    let (code, _, err) = run(
        &[
            "run",
            fasta.to_str().unwrap(),
            "--stage",
            "features",
            "-o",
            first.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let second = d.join("second");
    let (code, _, err) = run(
        &[
            "run",
            fasta.to_str().unwrap(),
            "--msa-dir",
            first.to_str().unwrap(),
            "--stage",
            "features",
            "-o",
            second.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    for t in ["t1", "t2"] {
        let a = std::fs::read(first.join(t).join("msas/uniprot20k_hits.a3m")).unwrap();
        let b = std::fs::read(second.join(t).join("msas/uniprot20k_hits.a3m")).unwrap();
        assert_eq!(a, b, "{t}");
    }
}

/// A broken model file stops `run` before any target is searched or written (issue 18, item 17).
#[test]
fn a_broken_model_stops_run_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let good = tiny_model(d);
    let broken = d.join("broken.onnx");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&broken, &bytes[..bytes.len() / 3]).unwrap();
    let fasta = d.join("t.fasta");
    std::fs::write(&fasta, ">t1\nMKTAYIAKQRQISFVKSHFSRQ\n").unwrap();
    let out = d.join("out");
    let (code, _, err) = run(
        &[
            "run",
            fasta.to_str().unwrap(),
            "--single-sequence",
            "--relax",
            "none",
            "--model",
            good.to_str().unwrap(),
            "--model",
            broken.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("broken.onnx"), "{err}");
    assert!(err.contains("nothing was searched or written"), "{err}");
    assert!(
        !out.join("t1").exists(),
        "a target folder was made: {:?}",
        files_below(&out)
    );
}
