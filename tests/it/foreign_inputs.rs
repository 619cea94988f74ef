//! What AlphaFold2 and ColabFold users already have: `features.pkl` (read as data only), AlphaFold2's
//! processed features run input for input (at parity with AlphaFold2's outputs), ColabFold's `.a3m` and
//! `.csv` query inputs, and result files in numpy's `.npz`.

use std::path::Path;

use crate::common::{data, ferrofold, files_below};
use ferrofold::io::npz::Npz;

fn ok(args: &[&str]) -> String {
    let r = ferrofold(args);
    assert!(
        r.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    String::from_utf8_lossy(&r.stdout).into_owned()
}

/// Exit 1 with one error line containing every `want`.
fn refused(args: &[&str], want: &[&str]) {
    let r = ferrofold(args);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{args:?}: {err}");
    let last = err.lines().last().unwrap_or("");
    for w in want {
        assert!(last.contains(w), "{args:?}: '{w}' not in {last:?}");
    }
}

fn pickle(name: &str) -> String {
    data(&format!("pickle/{name}"))
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn alphafold2_features_pkl_converts_and_predicts() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let pkl = pickle("af2_real_p4.pkl");
    let out = d.join("conv");
    let o = out.to_str().unwrap();
    assert!(ok(&["features", "--from-pkl", &pkl, "-o", o, "-q"]).contains("written"));
    let (h5, prov) = ferrofold::io::features_h5::read(out.join("features.h5")).unwrap();
    assert_eq!(h5, ferrofold::io::features_pkl::read(&pkl).unwrap());
    assert!(prov.databases.contains("features.pkl"));
    // Same pickle: up to date; `predict` takes the pickle directly.
    assert!(ok(&["features", "--from-pkl", &pkl, "-o", o, "-q"]).contains("up to date"));
    let p = d.join("pred");
    ok(&[
        "predict",
        &pkl,
        "--demo-model",
        "-o",
        p.to_str().unwrap(),
        "-q",
    ]);
    assert!(p.join("ranked_0.pdb").is_file() && p.join("features.h5").is_file());
}

#[test]
fn a_pickle_naming_a_foreign_global_runs_nothing_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = out.to_str().unwrap();
    for (file, global) in [
        ("evil_os_system_p4.pkl", "posix.system"),
        ("evil_eval_p4.pkl", "builtins.eval"),
    ] {
        let pkl = pickle(file);
        refused(
            &["features", "--from-pkl", &pkl, "-o", o],
            &[file, global, "refusing"],
        );
        refused(&["predict", &pkl, "--demo-model", "-o", o], &[file, global]);
    }
    assert!(files_below(&out).is_empty(), "{:?}", files_below(&out));
}

fn max_abs(a: &ndarray::ArrayD<f32>, b: &ndarray::ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn processed_features_reproduce_alphafold2_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let base = data("model/small");
    let model = d.join("small.onnx");
    let conf: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(base.join("config.json")).unwrap()).unwrap();
    let layers = conf["model"]["heads"]["structure_module"]["num_layer"].to_string();
    ok(&[
        "params",
        "convert",
        base.join("params_model_1_ptm.npz").to_str().unwrap(),
        "-o",
        model.to_str().unwrap(),
        "--name",
        "small",
        "--structure-layers",
        &layers,
    ]);
    let processed = base.join("processed_features.npz");
    let out = d.join("out");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "predict",
            "--processed-features",
            processed.to_str().unwrap(),
            "--relax",
            "none",
            "--model",
            model.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "-q",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        ok(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    run(&["--result-format", "npz"]);
    let ours = Npz::read_path(out.join("result_small_pred_0.npz")).unwrap();
    let want = Npz::read_path(base.join("outputs.npz")).unwrap();
    let f = |n: &Npz, k: &str| n.get(k).unwrap().to_f32().unwrap();
    let mask = f(&want, "final_atom_mask");
    let (pos_ours, pos_want) = (
        f(&ours, "final_atom_positions"),
        f(&want, "final_atom_positions"),
    );
    let mut pos = 0f32;
    for (idx, &m) in mask.indexed_iter() {
        if m > 0.5 {
            for k in 0..3 {
                let (i, j) = (idx[0], idx[1]);
                pos = pos.max((pos_ours[[i, j, k]] - pos_want[[i, j, k]]).abs());
            }
        }
    }
    let plddt = max_abs(&f(&ours, "plddt"), &f(&want, "plddt"));
    let pae = max_abs(
        &f(&ours, "predicted_aligned_error"),
        &f(&want, "predicted_aligned_error"),
    );
    let ptm = max_abs(&f(&ours, "ptm"), &f(&want, "ptm"));
    assert!(
        pos <= 1e-3 && plddt <= 0.01 && pae <= 0.01 && ptm <= 1e-4,
        "atoms {pos} Å, pLDDT {plddt}, PAE {pae}, pTM {ptm}"
    );
    // Provenance strings are 0-d unicode arrays in the .npz.
    assert_eq!(
        ours.get("model_name").unwrap().to_strings().unwrap(),
        vec!["small".to_string()]
    );
    // Switching the format replaces the result instead of leaving the old one beside it.
    run(&["--result-format", "h5"]);
    assert!(out.join("result_small_pred_0.h5").is_file());
    assert!(!out.join("result_small_pred_0.npz").exists());
    // The iterations fix the recycles.
    let bad = args(&["--num-recycle", "5"]);
    refused(
        &bad.iter().map(String::as_str).collect::<Vec<_>>(),
        &["processed_features.npz", "3 iterations", "--num-recycle 5"],
    );
}

#[test]
fn colabfold_a3m_and_csv_inputs_are_targets() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let inputs = d.join("in");
    std::fs::create_dir_all(&inputs).unwrap();
    let a3m = std::fs::read_to_string(data("msas/2q2k_A/bfd_uniclust_hits.a3m")).unwrap();
    std::fs::write(inputs.join("q2k.a3m"), format!("#70\t1\n{a3m}")).unwrap();
    std::fs::write(
        inputs.join("batch.csv"),
        "id,sequence\nalpha,MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n",
    )
    .unwrap();
    let out = d.join("out");
    ok(&[
        "run",
        inputs.to_str().unwrap(),
        "--demo-model",
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    // The .a3m is the target's MSA (its rows, no search); the CSV row is searched like a FASTA record.
    let (f, _) = ferrofold::io::features_h5::read(out.join("q2k/features.h5")).unwrap();
    let rows = a3m.lines().filter(|l| l.starts_with('>')).count();
    assert_eq!(f.num_alignments(), rows);
    // Named after the file, as colabfold_batch names it (its first row is `>query`).
    assert!(out.join("q2k/ranked_0.pdb").is_file());
    assert!(!out.join("query").exists());
    assert!(out.join("alpha/ranked_0.pdb").is_file());

    // `run` takes complexes from FASTA records only: a CSV complex row and a ColabFold complex .a3m are
    // refused, naming the line and what to do instead; nothing is written.
    let bad = d.join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("c.csv"), "id,sequence\ndimer,MKVLA:MKVLA\n").unwrap();
    std::fs::write(bad.join("c.a3m"), "#5,5\t1,1\n>101\tdimer\nMKVLAMKVLA\n").unwrap();
    let bo = d.join("bad_out");
    for (file, want) in [("c.csv", "c.csv:2"), ("c.a3m", "c.a3m:1")] {
        let p = bad.join(file);
        refused(
            &[
                "run",
                p.to_str().unwrap(),
                "--demo-model",
                "-o",
                bo.to_str().unwrap(),
            ],
            &[want, "FASTA"],
        );
    }
    assert!(!Path::new(&bo).exists() || files_below(&bo).is_empty());
}
