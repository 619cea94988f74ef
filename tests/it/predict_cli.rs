//! `ferrofold predict` end to end: FASTA → `features` (precomputed MSA) → `predict` on a tiny model, every
//! output file checked (parses, B-factors equal pLDDT, JSON schemas); AlphaFold2's unrelaxed PDB
//! reproduced atom for atom from its processed features; clear errors with nothing written for a broken
//! model, a model without PAE head when PAE is required, and a broken features file.

use std::path::{Path, PathBuf};

use crate::common::{data, ferrofold, files_below, single_sequence_features};
use ferrofold::io::npz::Npz;

pub(crate) fn tiny_model(dir: &Path, name: &str, drop_pae: bool) -> PathBuf {
    let npz = data("model/tiny/params_model_1_ptm.npz");
    let src = if drop_pae {
        let mut w = ferrofold::pipeline::params::read_npz_weights(&npz).unwrap();
        w.tensors
            .retain(|k, _| !k.contains("predicted_aligned_error_head"));
        let p = dir.join(format!("{name}.npz"));
        ferrofold::io::npz::write_f32(&p, &w.tensors).unwrap();
        p
    } else {
        npz
    };
    let out = dir.join(format!("{name}.onnx"));
    ferrofold::pipeline::params::convert(&src, &out, Some(name), |c| {
        c.structure_module.layers = 2;
        c.num_recycle = 1;
    })
    .unwrap();
    out
}

fn run_ok(args: &[&str]) -> String {
    let r = ferrofold(args);
    assert!(
        r.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    String::from_utf8(r.stdout).unwrap()
}

#[test]
fn fasta_to_features_to_predict_writes_every_output() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let m1 = tiny_model(d, "tiny_ptm", false);
    let m2 = tiny_model(d, "tiny_nopae", true);
    let out = d.join("out");
    run_ok(&[
        "features",
        data("msas/2q2k_A/query.fasta").to_str().unwrap(),
        "--msa",
        data("model/tiny/2q2k_A_uniref90.a3m").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    let target = out.join("query");
    let stdout = run_ok(&[
        "predict",
        target.join("features.h5").to_str().unwrap(),
        "--relax",
        "none",
        "--model",
        m1.to_str().unwrap(),
        "--model",
        m2.to_str().unwrap(),
        "--seed",
        "3",
        "-q",
    ]);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");

    let files = files_below(&target);
    for f in [
        "result_tiny_ptm_pred_0.h5",
        "unrelaxed_tiny_ptm_pred_0.pdb",
        "unrelaxed_tiny_ptm_pred_0.cif",
        "confidence_tiny_ptm_pred_0.json",
        "pae_tiny_ptm_pred_0.json",
        "result_tiny_nopae_pred_0.h5",
        "unrelaxed_tiny_nopae_pred_0.pdb",
        "unrelaxed_tiny_nopae_pred_0.cif",
        "confidence_tiny_nopae_pred_0.json",
        "ranked_0.pdb",
        "ranked_1.pdb",
        "ranked_0.cif",
        "ranked_1.cif",
        "ranking_debug.json",
        "timings.json",
    ] {
        assert!(files.contains(&f.to_string()), "{f} missing from {files:?}");
    }
    assert!(
        !files.contains(&"pae_tiny_nopae_pred_0.json".to_string()),
        "no PAE file without a PAE head"
    );
    assert!(
        !files.iter().any(|f| f.ends_with(".tmp")),
        "temporary files left: {files:?}"
    );

    for model in ["tiny_ptm_pred_0", "tiny_nopae_pred_0"] {
        let plddt = ferrofold::io::results_h5::read_f32(
            &target.join(format!("result_{model}.h5")),
            "plddt",
        )
        .unwrap();
        assert_eq!(plddt.len(), 70);
        // Confidence JSON (AlphaFold DB schema).
        let conf: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(target.join(format!("confidence_{model}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(conf["residueNumber"].as_array().unwrap().len(), 70);
        assert_eq!(conf["confidenceCategory"].as_array().unwrap().len(), 70);
        for (k, v) in conf["confidenceScore"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            assert!((v.as_f64().unwrap() - plddt[k] as f64).abs() <= 0.005 + 1e-9);
        }
        // PDB and mmCIF parse with pdbtbx; every atom's B-factor is its residue's pLDDT.
        for ext in ["pdb", "cif"] {
            let path = target.join(format!("unrelaxed_{model}.{ext}"));
            let (s, _) = pdbtbx::ReadOptions::default()
                .set_level(pdbtbx::StrictnessLevel::Strict)
                .read(path.to_str().unwrap())
                .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
            assert_eq!(s.residue_count(), 70);
            for (i, res) in s.residues().enumerate() {
                for atom in res.atoms() {
                    assert!(
                        (atom.b_factor() - plddt[i] as f64).abs() < 0.006,
                        "{ext} residue {i}"
                    );
                }
            }
        }
    }
    let pae: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(target.join("pae_tiny_ptm_pred_0.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        pae[0]["predicted_aligned_error"].as_array().unwrap().len(),
        70
    );
    assert_eq!(
        pae[0]["max_predicted_aligned_error"].as_f64().unwrap(),
        31.75
    );
    let ranking: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(target.join("ranking_debug.json")).unwrap())
            .unwrap();
    let order: Vec<&str> = ranking["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let p = |m: &str| ranking["plddts"][m].as_f64().unwrap();
    assert!(p(order[0]) >= p(order[1]));
    assert_eq!(
        std::fs::read(target.join("ranked_0.pdb")).unwrap(),
        std::fs::read(target.join(format!("unrelaxed_{}.pdb", order[0]))).unwrap()
    );
    let timings: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(target.join("timings.json")).unwrap())
            .unwrap();
    assert!(
        timings["predict_and_compile_tiny_ptm_pred_0"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    // AlphaFold2's keys: the features stage's time too (issue 18, item 11).
    assert!(timings["features"].as_f64().unwrap() > 0.0, "{timings}");
    assert!(
        timings["process_features_tiny_nopae_pred_0"]
            .as_f64()
            .is_some(),
        "{timings}"
    );

    // Rerun: up to date, same bytes.
    let before = std::fs::read(target.join("unrelaxed_tiny_ptm_pred_0.pdb")).unwrap();
    let stdout = run_ok(&[
        "predict",
        target.join("features.h5").to_str().unwrap(),
        "--relax",
        "none",
        "--model",
        m1.to_str().unwrap(),
        "--model",
        m2.to_str().unwrap(),
        "--seed",
        "3",
        "-q",
    ]);
    assert!(stdout.contains("up to date"), "{stdout}");
    assert_eq!(
        std::fs::read(target.join("unrelaxed_tiny_ptm_pred_0.pdb")).unwrap(),
        before
    );
}

#[test]
fn unrelaxed_pdb_matches_alphafold2s_atom_for_atom() {
    use ferrofold::model::input::trunk_inputs::TrunkInputs;
    use ferrofold::model::net::alphafold::AlphaFold;
    let tmp = tempfile::tempdir().unwrap();
    let model = ferrofold::pipeline::params::load(&tiny_model(tmp.path(), "tiny", false)).unwrap();
    let feats = Npz::read_path(data("model/tiny/processed_features.npz")).unwrap();
    let inputs: Vec<TrunkInputs> = (0..2)
        .map(|r| {
            ferrofold::testing::reference::trunk_inputs_from_processed(&feats, r)
                .unwrap()
                .without_padding_rows()
        })
        .collect();
    let pred = AlphaFold::load(&model.config, &model.weights)
        .unwrap()
        .predict(&inputs, &Default::default(), None, |_, _| {});
    let x = &inputs[0];
    let n = x.num_res();
    let protein = ferrofold::protein::Protein {
        aatype: x.aatype.iter().map(|&a| a as usize).collect(),
        atom_positions: pred.structure.atom37_positions.clone(),
        atom_mask: pred.structure.atom37_mask.clone(),
        residue_index: x.residue_index.iter().map(|&r| r + 1).collect(),
        chain_index: vec![0; n],
        b_factors: ndarray::Array2::zeros((n, 37)),
    }
    .with_residue_b_factors(pred.heads.plddt.as_slice().unwrap())
    .unwrap();
    let mut ours = Vec::new();
    ferrofold::io::pdb::write(&protein, &mut ours).unwrap();
    let ours = String::from_utf8(ours).unwrap();
    let af2 = std::fs::read_to_string(data("model/tiny/unrelaxed.pdb")).unwrap();
    assert_eq!(ours.lines().count(), af2.lines().count());
    for (a, b) in ours.lines().zip(af2.lines()) {
        if !a.starts_with("ATOM") {
            assert_eq!(a, b);
            continue;
        }
        // Same atom, order, names and every fixed column but the numbers.
        assert_eq!(&a[..30], &b[..30]);
        assert_eq!(&a[54..60], &b[54..60]);
        assert_eq!(&a[66..], &b[66..]);
        for (lo, hi, tol) in [
            (30, 38, 0.0015),
            (38, 46, 0.0015),
            (46, 54, 0.0015),
            (60, 66, 0.011),
        ] {
            let (x, y): (f64, f64) = (
                a[lo..hi].trim().parse().unwrap(),
                b[lo..hi].trim().parse().unwrap(),
            );
            assert!(
                (x - y).abs() <= tol,
                "columns {}-{}: {a} vs {b}",
                lo + 1,
                hi
            );
        }
    }
}

#[test]
fn predict_errors_leave_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let features = single_sequence_features(d);
    let target_dir = features.parent().unwrap().to_path_buf();
    let before = files_below(&target_dir);
    let check = |args: &[&str], expect: &[&str]| {
        let r = ferrofold(args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        for e in expect {
            assert!(err.contains(e), "{e:?} not in {err}");
        }
        assert_eq!(files_below(&target_dir), before, "nothing written");
    };
    // A model without a PAE head while PAE is required.
    let nopae = tiny_model(d, "nopae", true);
    check(
        &[
            "predict",
            features.to_str().unwrap(),
            "--relax",
            "none",
            "--model",
            nopae.to_str().unwrap(),
            "--require-pae",
        ],
        &["nopae", "no predicted-aligned-error head"],
    );
    // A model file that does not match its configuration.
    let good = tiny_model(d, "good", false);
    let mut m = ferrofold::model::params::model_file::read(&good).unwrap();
    m.config.evoformer.msa_channel = 48;
    let bad = d.join("bad.onnx");
    ferrofold::model::params::model_file::write(&bad, &m).unwrap();
    check(
        &[
            "predict",
            features.to_str().unwrap(),
            "--relax",
            "none",
            "--model",
            bad.to_str().unwrap(),
        ],
        &["bad.onnx", "has shape", "configuration needs"],
    );
    // A sequence longer than the predict limit names the limit and the flag.
    check(
        &[
            "predict",
            features.to_str().unwrap(),
            "--relax",
            "none",
            "--model",
            good.to_str().unwrap(),
            "--max-length",
            "50",
        ],
        &["features.h5", "70 residues", "limit of 50", "--max-length"],
    );
    // A features file whose arrays disagree in length.
    let broken = d.join("broken.h5");
    {
        use ferrofold::io::h5::edit::{Contents, Data};
        let mut c = Contents::read(&features, &["ferrofold_format_version"]).unwrap();
        c.datasets.insert(
            "residue_index".into(),
            Data::I32(ndarray::ArrayD::zeros(ndarray::IxDyn(&[39]))),
        );
        c.write(&broken).unwrap();
    }
    check(
        &[
            "predict",
            broken.to_str().unwrap(),
            "--relax",
            "none",
            "--model",
            good.to_str().unwrap(),
            "-o",
            target_dir.to_str().unwrap(),
        ],
        &["broken.h5", "residue_index", "[39]"],
    );
}

/// Issue 18 (5): DeepMind's `.npz` parameters work as they are, named one by one or as AlphaFold2's
/// `params/` folder (multimer parameters there are left out).
#[test]
fn alphafold2_npz_parameters_predict_directly() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let features = single_sequence_features(d);
    let params = d.join("params");
    std::fs::create_dir_all(&params).unwrap();
    let npz = params.join("params_model_tiny_ptm.npz");
    std::fs::copy(data("model/tiny/params_model_1_ptm.npz"), &npz).unwrap();
    std::fs::write(params.join("params_model_1_multimer_v3.npz"), b"not read").unwrap();
    for (i, args) in [
        vec!["--model", npz.to_str().unwrap()],
        vec!["--models-dir", params.to_str().unwrap()],
    ]
    .iter()
    .enumerate()
    {
        let out = d.join(format!("out{i}"));
        let mut all = vec![
            "predict",
            features.to_str().unwrap(),
            "--num-recycle",
            "0",
            "--no-plots",
            "--relax",
            "none",
            "-o",
            out.to_str().unwrap(),
        ];
        all.extend(args.iter().copied());
        let r = ferrofold(&all);
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(r.status.success(), "{args:?}: {err}");
        assert!(
            out.join("result_model_tiny_ptm_pred_0.h5").is_file(),
            "{args:?}"
        );
        assert!(out.join("ranked_0.pdb").is_file());
    }
}

/// A model file whose weights changed but whose name, configuration and source stayed (a regenerated
/// demo model, a re-export) is predicted again, never answered from the earlier result.
#[test]
fn changed_weights_are_never_answered_from_an_earlier_result() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let features = single_sequence_features(d);
    let model = tiny_model(d, "tiny_ptm", false);
    let out = d.join("out");
    let args = [
        "predict",
        features.to_str().unwrap(),
        "--relax",
        "none",
        "--model",
        model.to_str().unwrap(),
        "--num-recycle",
        "0",
        "--no-plots",
        "-o",
        out.to_str().unwrap(),
    ];
    let first = run_ok(&args);
    assert!(first.contains("written"), "{first}");
    assert!(run_ok(&args).contains("up to date"));
    let mut m = ferrofold::model::params::model_file::read(&model).unwrap();
    let key = m.weights.tensors.keys().next().unwrap().clone();
    m.weights
        .tensors
        .get_mut(&key)
        .unwrap()
        .mapv_inplace(|v| v * 0.5);
    ferrofold::model::params::model_file::write(&model, &m).unwrap();
    let again = run_ok(&args);
    assert!(
        again.contains("written") && !again.contains("up to date"),
        "{again}"
    );
}

/// `--num-seeds N`: N predictions per model named `<model>_pred_<k>` (seeds seed..seed+N), ranked together;
/// a later run with fewer predictions leaves no stale `ranked_*` behind (issue 18, item 10).
#[test]
fn seeds_name_predictions_and_stale_ranked_files_go() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let features = single_sequence_features(d);
    let model = tiny_model(d, "tiny", false);
    let out = d.join("pred");
    let predict = |seeds: &str| {
        run_ok(&[
            "predict",
            features.to_str().unwrap(),
            "--relax",
            "none",
            "--model",
            model.to_str().unwrap(),
            "--num-seeds",
            seeds,
            "--seed",
            "5",
            "-o",
            out.to_str().unwrap(),
            "-q",
        ])
    };
    predict("2");
    let files = files_below(&out);
    for f in [
        "result_tiny_pred_0.h5",
        "result_tiny_pred_1.h5",
        "unrelaxed_tiny_pred_1.pdb",
        "ranked_0.pdb",
        "ranked_1.pdb",
        "ranked_1.cif",
    ] {
        assert!(files.contains(&f.to_string()), "{f} missing from {files:?}");
    }
    let seed = |k: usize| {
        let p = out.join(format!("result_tiny_pred_{k}.h5"));
        ferrofold::io::results_h5::read_attr(&p, "seed").unwrap()
    };
    assert_eq!((seed(0), seed(1)), ("5".to_string(), "6".to_string()));
    let plddt = |k: usize| {
        ferrofold::io::results_h5::read_f32(&out.join(format!("result_tiny_pred_{k}.h5")), "plddt")
            .unwrap()
    };
    assert_ne!(plddt(0), plddt(1), "two seeds, two different samplings");
    let ranking: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("ranking_debug.json")).unwrap())
            .unwrap();
    assert_eq!(ranking["order"].as_array().unwrap().len(), 2);

    // One seed now: prediction 0 is reused, ranked_1.* are gone.
    let stdout = predict("1");
    assert!(stdout.contains("up to date"), "{stdout}");
    let files = files_below(&out);
    assert!(
        !files.iter().any(|f| f.starts_with("ranked_1")),
        "stale ranked files: {files:?}"
    );
    assert!(files.contains(&"ranked_0.pdb".to_string()));
}

/// The mmCIF predictions are complete ModelCIF: gemmi reads the structure and the PDBx categories
/// AlphaFold DB files carry (entity_poly, pdbx_poly_seq_scheme, chem_comp, ...), and python-modelcif reads
/// the model with its global (mean) and per-residue pLDDT (issue 18, item 12). The readers run from
/// `FERROFOLD_CIF_PYTHON` (a Python with gemmi and modelcif; `.ci/run` makes one).
#[test]
fn mmcif_predictions_are_complete_modelcif() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let features = single_sequence_features(d);
    let model = tiny_model(d, "tiny", false);
    let out = d.join("pred");
    run_ok(&[
        "predict",
        features.to_str().unwrap(),
        "--relax",
        "none",
        "--model",
        model.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    let n = ferrofold::io::results_h5::read_f32(&out.join("result_tiny_pred_0.h5"), "plddt")
        .unwrap()
        .len();
    let text = crate::common::check_modelcif(
        &out.join("unrelaxed_tiny_pred_0.cif"),
        &out.join("result_tiny_pred_0.h5"),
        &[n],
        1,
    );
    eprintln!("{}", text.trim());
}

/// ColabFold's model options: `--model-type` and `--num-models` pick among the models given (by
/// AlphaFold2's file names), `--max-seq`/`--max-extra-seq` set the sampled row counts, which are part
/// of what a kept result must match.
#[test]
fn colabfold_model_options_pick_models_and_set_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let features = single_sequence_features(d);
    let models = d.join("models");
    std::fs::create_dir_all(&models).unwrap();
    for (file, name) in [
        ("model_1_ptm", "tiny_a"),
        ("model_2_ptm", "tiny_b"),
        ("model_1", "tiny_c"),
    ] {
        ferrofold::pipeline::params::convert(
            &data("model/tiny/params_model_1_ptm.npz"),
            &models.join(format!("{file}.onnx")),
            Some(name),
            |c| {
                c.structure_module.layers = 2;
                c.num_recycle = 0;
            },
        )
        .unwrap();
    }
    let out = d.join("out");
    let predict = |extra: &[&str]| {
        let mut args = vec![
            "predict",
            features.to_str().unwrap(),
            "--models-dir",
            models.to_str().unwrap(),
            "--no-plots",
            "--relax",
            "none",
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        ferrofold(&args)
    };
    let stdout = |o: &std::process::Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let first = stdout(&predict(&[
        "--model-type",
        "alphafold2_ptm",
        "--num-models",
        "1",
    ]));
    assert!(
        first.contains("tiny_a") && !first.contains("tiny_b") && !first.contains("tiny_c"),
        "{first}"
    );
    let ptm = stdout(&predict(&["--model-type", "alphafold2_ptm"]));
    assert!(
        ptm.contains("tiny_a") && ptm.contains("tiny_b") && !ptm.contains("tiny_c"),
        "{ptm}"
    );
    let plain = stdout(&predict(&["--model-type", "alphafold2"]));
    assert!(
        plain.contains("tiny_c") && !plain.contains("tiny_a"),
        "{plain}"
    );
    // Other row counts: the kept result does not answer for them.
    let rows = stdout(&predict(&[
        "--model-type",
        "alphafold2",
        "--max-seq",
        "1",
        "--max-extra-seq",
        "1",
    ]));
    assert!(
        rows.contains("written") && !rows.contains("up to date"),
        "{rows}"
    );
    let again = stdout(&predict(&[
        "--model-type",
        "alphafold2",
        "--max-seq",
        "1",
        "--max-extra-seq",
        "1",
    ]));
    assert!(again.contains("up to date"), "{again}");
    let o = predict(&["--model-type", "alphafold2_multimer_v3"]);
    assert_eq!(o.status.code(), Some(2));
    // Supported, but none of the models given is an AlphaFold-Multimer one.
    assert!(String::from_utf8_lossy(&o.stderr).contains("none of the models given is one"));
    let o = predict(&["--max-seq", "0"]);
    assert_eq!(o.status.code(), Some(2));
}
