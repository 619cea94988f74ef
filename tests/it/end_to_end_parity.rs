//! The whole network with recycling against AlphaFold2, from AlphaFold2's processed features: final atom
//! positions within 1e-3 Å, pLDDT within 0.01, PAE within 0.01 Å, pTM within 1e-4, distogram logits within
//! 1e-4 relative — with our own recycled state, at two sizes on two MSAs.

use crate::common::data;
use ferrofold::io::npz::Npz;
use ferrofold::model::input::trunk_inputs::TrunkInputs;
use ferrofold::model::net::alphafold::AlphaFold;
use ferrofold::model::params::config::ModelConfig;
use ndarray::ArrayViewD;

fn max_abs(a: ArrayViewD<f32>, b: ArrayViewD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn check(dir: &str) {
    check_with(dir, &|net, inputs| {
        net.predict(inputs, &Default::default(), None, |_, _| {})
    });
}

/// The fixture `dir`'s model run by `run` (the CPU engine above; the GPU engine in `gpu_parity`), checked
/// against AlphaFold2's outputs.
pub(crate) fn check_with(
    dir: &str,
    run: &dyn Fn(&AlphaFold, &[TrunkInputs]) -> ferrofold::model::net::alphafold::Prediction,
) {
    let base = data(&format!("model/{dir}"));
    let w =
        ferrofold::pipeline::params::read_npz_weights(base.join("params_model_1_ptm.npz")).unwrap();
    let mut cfg = ModelConfig::infer(&w).unwrap();
    let conf: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(base.join("config.json")).unwrap()).unwrap();
    cfg.structure_module.layers = conf["model"]["heads"]["structure_module"]["num_layer"]
        .as_u64()
        .unwrap() as usize;
    let feats = Npz::read_path(base.join("processed_features.npz")).unwrap();
    let iterations = feats.get("aatype").unwrap().shape[0];
    let inputs: Vec<TrunkInputs> = (0..iterations)
        .map(|r| {
            ferrofold::testing::reference::trunk_inputs_from_processed(&feats, r)
                .unwrap()
                .without_padding_rows()
        })
        .collect();
    let p = run(&AlphaFold::load(&cfg, &w).unwrap(), &inputs);
    let out = Npz::read_path(base.join("outputs.npz")).unwrap();
    let f = |k: &str| out.get(k).unwrap().to_f32().unwrap();

    let mask = f("final_atom_mask");
    let want = f("final_atom_positions");
    let mut pos = 0f32;
    for (idx, &m) in mask.indexed_iter() {
        if m > 0.5 {
            for k in 0..3 {
                pos = pos.max(
                    (p.structure.atom37_positions[[idx[0], idx[1], k]] - want[[idx[0], idx[1], k]])
                        .abs(),
                );
            }
        }
    }
    let plddt = max_abs(p.heads.plddt.view().into_dyn(), f("plddt").view());
    let pae = p.heads.pae.as_ref().unwrap();
    let pae_d = max_abs(
        pae.predicted_aligned_error.view().into_dyn(),
        f("predicted_aligned_error").view(),
    );
    let ptm = (pae.ptm - f("ptm").iter().next().copied().unwrap()).abs();
    let maxpae = (pae.max_predicted_aligned_error
        - f("max_predicted_aligned_error")
            .iter()
            .next()
            .copied()
            .unwrap())
    .abs();
    let dg = f("distogram_logits");
    let num: f32 = p
        .heads
        .distogram_logits
        .iter()
        .zip(dg.iter())
        .map(|(a, b)| (a - b).powi(2))
        .sum();
    let den: f32 = dg.iter().map(|b| b * b).sum();
    let dist_rel = (num / den).sqrt();
    assert_eq!(
        p.heads.distogram_bin_edges.view().into_dyn(),
        f("distogram_bin_edges").view()
    );
    eprintln!("{dir}: atoms {pos:.1e} Å, pLDDT {plddt:.1e}, PAE {pae_d:.1e} Å, pTM {ptm:.1e}, distogram {dist_rel:.1e} rel");
    assert!(pos < 1e-3, "{dir}: positions differ by {pos} Å");
    assert!(plddt < 0.01, "{dir}: pLDDT differs by {plddt}");
    assert!(pae_d < 0.01, "{dir}: PAE differs by {pae_d}");
    assert!(ptm < 1e-4, "{dir}: pTM differs by {ptm}");
    assert!(maxpae < 1e-6, "{dir}: max PAE");
    assert!(
        dist_rel < 1e-4,
        "{dir}: distogram logits relative error {dist_rel}"
    );
    for (name, ours, theirs) in [
        (
            "predicted_lddt/logits",
            p.heads.plddt_logits.view().into_dyn(),
            f("predicted_lddt/logits"),
        ),
        (
            "experimentally_resolved/logits",
            p.heads.experimentally_resolved_logits.view().into_dyn(),
            f("experimentally_resolved/logits"),
        ),
    ] {
        let d = max_abs(ours, theirs.view());
        assert!(d < 1e-3, "{dir}: {name} differs by {d}");
    }
}

#[test]
fn tiny_model_end_to_end_matches_alphafold2() {
    check("tiny");
}

#[test]
fn small_model_end_to_end_matches_alphafold2() {
    check("small");
}

#[test]
fn template_model_end_to_end_matches_alphafold2() {
    // Real templates (4 of the OpenFold query's 7 DeepMind-featurised hits), 2 iterations.
    check("templates");
}

#[test]
fn small_template_model_end_to_end_matches_alphafold2() {
    // Other widths, 3 templates, 3 iterations.
    check("templates_small");
}
