//! AlphaFold-Multimer's network against DeepMind's (fixtures by
//! `tests/reference/make_multimer_model_fixtures.py`: colabfold 2.3.1's `modules_multimer`, fp32, random
//! parameters in the official model_x_multimer_v3 layout) on DeepMind's multimer features of a homodimer
//! (2Q2K A+B) and a heteromer (2Q2K A + 1A3A A) at two sizes, with DeepMind's in-model random choices
//! (row order and BERT corruption of every iteration) injected: final atoms within 1e-3 Å, pLDDT within
//! 0.01, PAE within 0.01 Å, pTM and ipTM within 1e-4, with our own recycling.

use crate::common::data;
use ferrofold::io::npz::Npz;
use ferrofold::model::input::multimer::{assemble, MultimerChoices, MultimerInputConfig};
use ferrofold::model::input::trunk_inputs::TrunkInputs;
use ferrofold::model::net::alphafold::AlphaFold;
use ferrofold::model::params::config::{ModelConfig, ModelKind};
use ndarray::{ArrayViewD, Ix1, Ix2};

fn max_abs(a: ArrayViewD<f32>, b: ArrayViewD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The fixture's network, features and per-iteration inputs built from DeepMind's recorded choices.
pub(crate) fn inputs(name: &str, drop_padding: bool) -> (ModelConfig, Vec<TrunkInputs>) {
    let base = data(&format!("multimer/model_{name}"));
    let w =
        ferrofold::pipeline::params::read_npz_weights(base.join("params_model_1_multimer_v3.npz"))
            .unwrap();
    let mut cfg = ModelConfig::infer(&w).unwrap();
    assert_eq!(cfg.kind, ModelKind::Multimer);
    let conf: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(base.join("config.json")).unwrap()).unwrap();
    let m = &conf["model"];
    let num = |v: &serde_json::Value| v.as_u64().unwrap() as usize;
    cfg.structure_module.layers = num(&m["heads"]["structure_module"]["num_layer"]);
    cfg.input.max_msa_clusters = num(&m["embeddings_and_evoformer"]["num_msa"]);
    cfg.input.max_extra_msa = num(&m["embeddings_and_evoformer"]["num_extra_msa"]);
    cfg.num_recycle = num(&m["num_recycle"]);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(base.join("summary.json")).unwrap()).unwrap();
    let feats = Npz::read_path(data(&format!(
        "multimer/{}_features.npz",
        summary["features"].as_str().unwrap()
    )))
    .unwrap();
    let f = ferrofold::testing::reference::multimer_features_from_npz(&feats).unwrap();
    let sampling = Npz::read_path(base.join("sampling.npz")).unwrap();
    let icfg = MultimerInputConfig::for_model(&cfg);
    let inputs = (0..=cfg.num_recycle)
        .map(|r| {
            let get = |k: &str| sampling.get(&format!("{r}/{k}")).unwrap();
            let choices = MultimerChoices {
                order: get("order")
                    .to_i32()
                    .unwrap()
                    .into_dimensionality::<Ix1>()
                    .unwrap()
                    .iter()
                    .map(|&i| i as usize)
                    .collect(),
                masked: get("masked_msa")
                    .to_i32()
                    .unwrap()
                    .into_dimensionality::<Ix2>()
                    .unwrap(),
                bert_mask: get("bert_mask")
                    .to_f32()
                    .unwrap()
                    .into_dimensionality::<Ix2>()
                    .unwrap(),
            };
            let x = assemble(&f, &choices, &icfg);
            if drop_padding {
                x.without_padding_rows()
            } else {
                x
            }
        })
        .collect();
    (cfg, inputs)
}

fn check(name: &str, drop_padding: bool) {
    check_with(name, drop_padding, &|net, inputs| {
        net.predict(inputs, &Default::default(), None, |_, _| {})
    });
}

/// The fixture `name` run by `run` (the CPU engine above, the GPU engine in `gpu_parity`) against
/// AlphaFold-Multimer's outputs.
pub(crate) fn check_with(
    name: &str,
    drop_padding: bool,
    run: &dyn Fn(&AlphaFold, &[TrunkInputs]) -> ferrofold::model::net::alphafold::Prediction,
) {
    let base = data(&format!("multimer/model_{name}"));
    let w =
        ferrofold::pipeline::params::read_npz_weights(base.join("params_model_1_multimer_v3.npz"))
            .unwrap();
    let (cfg, inputs) = inputs(name, drop_padding);
    let p = run(&AlphaFold::load(&cfg, &w).unwrap(), &inputs);
    let out = Npz::read_path(base.join("outputs.npz")).unwrap();
    let f = |k: &str| out.get(k).unwrap().to_f32().unwrap();
    let scalar = |k: &str| f(k).iter().next().copied().unwrap();
    let single = max_abs(p.trunk.single.view().into_dyn(), f("single").view());
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
    assert_eq!(
        p.structure.atom37_mask.view().into_dyn(),
        mask.view(),
        "{name}: atom mask"
    );
    let plddt = max_abs(p.heads.plddt.view().into_dyn(), f("plddt").view());
    let pae = p.heads.pae.as_ref().unwrap();
    let pae_d = max_abs(
        pae.predicted_aligned_error.view().into_dyn(),
        f("predicted_aligned_error").view(),
    );
    let ptm = (pae.ptm - scalar("ptm")).abs();
    let iptm = (pae.iptm.unwrap() - scalar("iptm")).abs();
    eprintln!(
        "{name} (padding rows {}): single {single:.1e}, atoms {pos:.1e} Å, pLDDT {plddt:.1e}, PAE {pae_d:.1e} Å, pTM {ptm:.1e}, ipTM {iptm:.1e}",
        if drop_padding { "dropped" } else { "kept" }
    );
    assert!(pos < 1e-3, "{name}: positions differ by {pos} Å");
    assert!(plddt < 0.01, "{name}: pLDDT differs by {plddt}");
    assert!(pae_d < 0.01, "{name}: PAE differs by {pae_d}");
    assert!(ptm < 1e-4, "{name}: pTM differs by {ptm}");
    assert!(iptm < 1e-4, "{name}: ipTM differs by {iptm}");
}

#[test]
fn tiny_homodimer_matches_alphafold_multimer() {
    check("tiny", false);
}

#[test]
fn small_heteromer_matches_alphafold_multimer() {
    check("small", false);
}

#[test]
fn dropping_empty_rows_changes_nothing_beyond_rounding() {
    check("tiny", true);
}

/// ferrofold's presets describe DeepMind's parameter files exactly: every key and shape of
/// model_1_multimer_v3 and model_5_multimer_v3 as `modules_multimer` creates them (official
/// configuration; `tests/reference/make_multimer_param_shapes.py`), so `params convert` takes the real
/// files.
#[test]
fn multimer_presets_match_deepminds_parameter_layout() {
    let text = std::fs::read_to_string(data("multimer/params_shapes_multimer_v3.json")).unwrap();
    let all: std::collections::BTreeMap<String, std::collections::BTreeMap<String, Vec<usize>>> =
        serde_json::from_str(&text).unwrap();
    for (model, theirs) in all {
        let cfg = ModelConfig::preset(&model).unwrap();
        assert_eq!(cfg.kind, ModelKind::Multimer);
        let ours: std::collections::BTreeMap<String, Vec<usize>> =
            ferrofold::model::params::schema::expected(&cfg)
                .into_iter()
                .collect();
        let missing: Vec<_> = theirs.keys().filter(|k| !ours.contains_key(*k)).collect();
        let extra: Vec<_> = ours.keys().filter(|k| !theirs.contains_key(*k)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{model}: not loaded {missing:?}; not in DeepMind's {extra:?}"
        );
        for (k, shape) in &theirs {
            assert_eq!(&ours[k], shape, "{model}: {k}");
        }
        let params: usize = theirs.values().map(|s| s.iter().product::<usize>()).sum();
        assert_eq!(params, 93_223_705, "{model}");
    }
}
