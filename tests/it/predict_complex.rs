//! `ferrofold predict` on complexes: a heterodimer and a homodimer (chains of 2Q2K, single sequence) through
//! `features` and `predict` with a multimer model (the tiny parity fixture's weights, and the demo multimer
//! model): multi-chain PDB (chains A, B, a TER after each) and mmCIF (one entity per distinct sequence),
//! PAE over the whole complex, pTM and ipTM, ranking by 0.8·ipTM + 0.2·pTM under `iptm+ptm`; a rerun
//! reuses the results; a monomer model on a complex and a multimer model on a single chain are refused
//! with nothing written.

use std::path::{Path, PathBuf};

use crate::common::{check_modelcif, data, ferrofold, single_sequence_features};

const A: &str = "MKVLLIGAGSAGRALAELLREAGHEVTVVDRDPEALARAA";
const B: &str = "SMTEQLKQAIDELLKRGVSPEEAARIVLEHL";

fn tiny_multimer(dir: &Path) -> PathBuf {
    let out = dir.join("tiny_multimer.onnx");
    ferrofold::pipeline::params::convert(
        &data("multimer/model_tiny/params_model_1_multimer_v3.npz"),
        &out,
        Some("tiny_multimer"),
        |c| {
            c.structure_module.layers = 2;
            c.num_recycle = 2;
            c.input.max_msa_clusters = 16;
            c.input.max_extra_msa = 32;
        },
    )
    .unwrap();
    out
}

fn complex_features(dir: &Path, name: &str, chains: &[&str]) -> PathBuf {
    let fasta = dir.join(format!("{name}.fasta"));
    std::fs::write(&fasta, format!(">{name}\n{}\n", chains.join(":"))).unwrap();
    let o = dir.join("feat");
    let r = ferrofold(&[
        "features",
        fasta.to_str().unwrap(),
        "--single-sequence",
        "-o",
        o.to_str().unwrap(),
        "-q",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    o.join(name).join("features.h5")
}

fn run(args: &[&str]) -> (bool, String, String) {
    let r = ferrofold(args);
    (
        r.status.success(),
        String::from_utf8_lossy(&r.stdout).into_owned(),
        String::from_utf8_lossy(&r.stderr).into_owned(),
    )
}

#[test]
fn a_heterodimer_is_predicted_ranked_and_written_with_its_chains() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let model = tiny_multimer(d);
    let feats = complex_features(d, "hetero", &[A, B]);
    let out = d.join("out");
    let args = [
        "predict",
        feats.to_str().unwrap(),
        "--relax",
        "none",
        "--model",
        model.to_str().unwrap(),
        "--num-seeds",
        "2",
        "-o",
        out.to_str().unwrap(),
    ];
    let (ok, stdout, stderr) = run(&args);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("iptm"), "{stdout}");
    let n = A.len() + B.len();

    // Structures: chain A then B, residues from 1 in each, TER after each chain.
    let pdb = std::fs::read_to_string(out.join("unrelaxed_tiny_multimer_pred_0.pdb")).unwrap();
    let atoms: Vec<&str> = pdb.lines().filter(|l| l.starts_with("ATOM")).collect();
    let chain_of = |l: &str| l.as_bytes()[21] as char;
    let residues = |c: char| {
        let mut r: Vec<i32> = atoms
            .iter()
            .filter(|l| chain_of(l) == c)
            .map(|l| l[22..26].trim().parse().unwrap())
            .collect();
        r.dedup();
        r
    };
    assert_eq!(residues('A'), (1..=A.len() as i32).collect::<Vec<_>>());
    assert_eq!(residues('B'), (1..=B.len() as i32).collect::<Vec<_>>());
    assert_eq!(pdb.lines().filter(|l| l.starts_with("TER")).count(), 2);
    let cif = std::fs::read_to_string(out.join("unrelaxed_tiny_multimer_pred_0.cif")).unwrap();
    assert!(
        cif.contains(&format!("1 polypeptide(L) no no A {A} {A}")),
        "{cif}"
    );
    assert!(cif.contains(&format!("2 polypeptide(L) no no B {B} {B}")));
    for f in ["unrelaxed_tiny_multimer_pred_0.cif", "ranked_0.cif"] {
        let p = ferrofold::io::mmcif::read_path(out.join(f), None).unwrap();
        assert_eq!(p.num_res(), n, "{f}");
    }
    check_modelcif(
        &out.join("unrelaxed_tiny_multimer_pred_0.cif"),
        &out.join("result_tiny_multimer_pred_0.h5"),
        &[A.len(), B.len()],
        2,
    );

    // pLDDT per chain as in its PDB records, beside the whole complex's.
    let conf = |f: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(out.join(f)).unwrap()).unwrap()
    };
    let whole = conf("confidence_tiny_multimer_pred_0.json");
    let (ca, cb) = (
        conf("confidence_tiny_multimer_pred_0_A.json"),
        conf("confidence_tiny_multimer_pred_0_B.json"),
    );
    assert_eq!(ca["residueNumber"].as_array().unwrap().len(), A.len());
    assert_eq!(cb["residueNumber"][0], 1);
    let scores = |v: &serde_json::Value| v["confidenceScore"].as_array().unwrap().clone();
    assert_eq!([scores(&ca), scores(&cb)].concat(), scores(&whole));

    // PAE over the whole complex; ranking by 0.8 ipTM + 0.2 pTM.
    let pae: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("pae_tiny_multimer_pred_0.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        pae[0]["predicted_aligned_error"].as_array().unwrap().len(),
        n
    );
    let ranking: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("ranking_debug.json")).unwrap())
            .unwrap();
    assert!(ranking.get("plddts").is_none());
    let scores = ranking["iptm+ptm"].as_object().unwrap();
    assert_eq!(scores.len(), 2);
    let order: Vec<&str> = ranking["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(scores[order[0]].as_f64().unwrap() >= scores[order[1]].as_f64().unwrap());
    for name in &order {
        let r = out.join(format!("result_{name}.h5"));
        let get = |k: &str| {
            ferrofold::io::results_h5::read_f32(&r, k)
                .unwrap()
                .iter()
                .next()
                .copied()
                .unwrap() as f64
        };
        let (ptm, iptm, rc) = (get("ptm"), get("iptm"), get("ranking_confidence"));
        assert!((rc - (0.8 * iptm + 0.2 * ptm)).abs() < 1e-6, "{name}");
        assert!(
            (scores[*name].as_f64().unwrap() - rc).abs() < 1e-6,
            "{name}"
        );
        assert!(iptm > 0.0 && iptm < 1.0 && ptm > 0.0 && ptm < 1.0);
    }
    let top = std::fs::read_to_string(out.join("ranked_0.pdb")).unwrap();
    assert_eq!(
        top,
        std::fs::read_to_string(out.join(format!("unrelaxed_{}.pdb", order[0]))).unwrap()
    );
    assert!(out.join("pae.png").is_file());

    // A rerun finds both predictions up to date.
    let (ok, stdout, stderr) = run(&args);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.matches("up to date").count(), 2, "{stdout}");
}

#[test]
fn a_homodimer_is_one_entity_and_the_demo_multimer_model_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let feats = complex_features(d, "homo", &[B, B]);
    let out = d.join("out");
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_ferrofold"))
        .args([
            "predict",
            feats.to_str().unwrap(),
            "--demo-model",
            "--num-recycle",
            "1",
            "-o",
            out.to_str().unwrap(),
        ])
        .env("FERROFOLD_MODELS", d.join("models"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{stderr}");
    assert!(stderr.contains("RANDOM weights"), "{stderr}");
    assert!(d.join("models/ferrofold_demo_multimer.onnx").is_file());
    let cif =
        std::fs::read_to_string(out.join("unrelaxed_ferrofold_demo_multimer_pred_0.cif")).unwrap();
    assert!(
        cif.contains(&format!("1 polypeptide(L) no no A,B {B} {B}")),
        "{cif}"
    );
    assert!(!cif.contains("2 polypeptide(L)"));
    assert!(
        cif.contains("\nA 1\nB 1\n"),
        "struct_asym: both chains of entity 1"
    );
}

#[test]
fn models_of_the_other_kind_are_refused_with_nothing_written() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let multimer = tiny_multimer(d);
    let complex = complex_features(d, "hetero", &[A, B]);
    let monomer_features = single_sequence_features(d);
    let monomer = d.join("tiny_ptm.onnx");
    ferrofold::pipeline::params::convert(
        &data("model/tiny/params_model_1_ptm.npz"),
        &monomer,
        Some("tiny_ptm"),
        |c| c.structure_module.layers = 2,
    )
    .unwrap();
    for (feats, model, says) in [
        (&complex, &monomer, "a monomer model"),
        (&monomer_features, &multimer, "an AlphaFold-Multimer model"),
    ] {
        let out = d.join("refused");
        let (ok, _, stderr) = run(&[
            "predict",
            feats.to_str().unwrap(),
            "--relax",
            "none",
            "--model",
            model.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(!ok);
        assert!(stderr.contains(says), "{stderr}");
        assert!(!out.exists(), "nothing written");
    }
}

#[test]
fn run_takes_single_chains_and_complexes_in_one_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let fasta = d.join("batch.fasta");
    std::fs::write(&fasta, format!(">mono\n{A}\n>dimer\n{A}:{B}\n")).unwrap();
    let out = d.join("out");
    let run_batch = |extra: &[&str]| {
        let mut args = vec![
            "run",
            fasta.to_str().unwrap(),
            "--demo-model",
            "--single-sequence",
            "--num-recycle",
            "0",
            "--no-plots",
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        std::process::Command::new(env!("CARGO_BIN_EXE_ferrofold"))
            .args(&args)
            .env("FERROFOLD_MODELS", d.join("models"))
            .output()
            .unwrap()
    };
    let r = run_batch(&[]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let pdb = std::fs::read_to_string(out.join("dimer/ranked_0.pdb")).unwrap();
    let chains: std::collections::BTreeSet<char> = pdb
        .lines()
        .filter(|l| l.starts_with("ATOM"))
        .map(|l| l.as_bytes()[21] as char)
        .collect();
    assert_eq!(chains.into_iter().collect::<String>(), "AB");
    assert!(out
        .join("dimer/result_ferrofold_demo_multimer_pred_0.h5")
        .is_file());
    assert!(out.join("mono/result_ferrofold_demo_pred_0.h5").is_file());
    assert!(!out
        .join("mono/result_ferrofold_demo_multimer_pred_0.h5")
        .exists());
    let log = std::fs::read_to_string(out.join("dimer/log.txt")).unwrap();
    assert!(log.contains("ipTM"), "{log}");

    // The predict stage alone proves the complex's features belong to the record: a changed chain is
    // refused, nothing predicted from the old features.
    std::fs::write(&fasta, format!(">mono\n{A}\n>dimer\n{A}:{B}K\n")).unwrap();
    let r = run_batch(&["--stage", "predict"]);
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("dimer"), "{err}");
}

/// The README's complex example, as written there (a fresh machine: demo multimer model made on first use).
#[test]
fn the_readme_complex_example_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tmp.path().join("out");
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_ferrofold"))
        .current_dir(root)
        .args([
            "run",
            "examples/data/2q2k_dimer.fasta",
            "--msa-dir",
            "tests/data/msas",
            "--demo-model",
            "-o",
            out.to_str().unwrap(),
        ])
        .env("FERROFOLD_MODELS", tmp.path().join("models"))
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(stdout.contains("iptm"), "{stdout}");
    let (f, _) = ferrofold::io::features_h5::multimer::read(out.join("2q2k/features.h5")).unwrap();
    assert_eq!(f.assembly_num_chains, 2);
    assert!(f.num_alignments > 1, "the chains' alignments were read");
    for file in ["ranked_0.pdb", "ranking_debug.json", "pae.png"] {
        assert!(out.join("2q2k").join(file).is_file(), "{file}");
    }
}
