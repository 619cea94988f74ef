//! The structure module (Alg. 20-25) against AlphaFold2: fed AlphaFold2's own single and pair
//! representations of the last iteration, our atom positions match within 1e-3 Å (max over present atoms)
//! and the module's single activations within 1e-4 relative.

use crate::common::data;
use ferrofold::io::npz::Npz;
use ferrofold::model::net::structure_module::StructureModule;
use ferrofold::model::params::config::ModelConfig;
use ndarray::{Array1, Axis, Ix2, Ix3};

fn layers(dir: &str) -> usize {
    let cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data(&format!("model/{dir}/config.json"))).unwrap(),
    )
    .unwrap();
    cfg["model"]["heads"]["structure_module"]["num_layer"]
        .as_u64()
        .unwrap() as usize
}

fn check(dir: &str) {
    let base = data(&format!("model/{dir}"));
    let w =
        ferrofold::pipeline::params::read_npz_weights(base.join("params_model_1_ptm.npz")).unwrap();
    let mut cfg = ModelConfig::infer(&w).unwrap();
    cfg.structure_module.layers = layers(dir);
    let out = Npz::read_path(base.join("outputs.npz")).unwrap();
    let feats = Npz::read_path(base.join("processed_features.npz")).unwrap();
    let f = |k: &str| out.get(k).unwrap().to_f32().unwrap();
    let single = f("repr_single").into_dimensionality::<Ix2>().unwrap();
    let pair = f("repr_pair").into_dimensionality::<Ix3>().unwrap();
    let aatype: Vec<usize> = feats
        .get("aatype")
        .unwrap()
        .to_i32()
        .unwrap()
        .index_axis(Axis(0), 0)
        .iter()
        .map(|&a| a as usize)
        .collect();
    let mask = Array1::ones(aatype.len());
    let sm = StructureModule::load(&w.root(), &cfg)
        .unwrap()
        .forward(&single, &pair, &aatype, &mask);

    let want = f("final_atom_positions");
    let present = f("final_atom_mask");
    assert_eq!(
        sm.atom37_mask.clone().into_dyn(),
        present,
        "{dir}: atom37 mask"
    );
    let mut max = 0f32;
    for ((_, &m), (a, b)) in present.indexed_iter().zip(
        sm.atom37_positions
            .lanes(Axis(2))
            .into_iter()
            .zip(want.lanes(Axis(2))),
    ) {
        if m > 0.5 {
            for k in 0..3 {
                max = max.max((a[k] - b[k]).abs());
            }
        }
    }
    let act = f("repr_structure_module");
    let num: f32 = sm
        .act
        .iter()
        .zip(act.iter())
        .map(|(a, b)| (a - b).powi(2))
        .sum();
    let den: f32 = act.iter().map(|b| b * b).sum();
    let rel = (num / den).sqrt();
    eprintln!(
        "{dir}: max |Δ atom position| {max:.2e} Å, structure-module activations {rel:.2e} relative"
    );
    assert!(max < 1e-3, "{dir}: atoms differ by {max} Å");
    assert!(rel < 1e-4, "{dir}: activations relative error {rel}");
}

#[test]
fn tiny_structure_module_matches_alphafold2() {
    check("tiny");
}

#[test]
fn small_structure_module_matches_alphafold2() {
    check("small");
}
