//! One full-size model_1_ptm Evoformer block (c_m 256, c_z 128, 8 MSA heads, 4 pair heads) against
//! AlphaFold2's own `EvoformerIteration` (JAX, fp32). Parameters and inputs are generated at test time from
//! a seed by `ferrofold::model::params::random`, which `tests/reference/make_block_fixture.py` mirrors in numpy;
//! the fixture holds only names, shapes and AlphaFold2's outputs.

use crate::common::{data, rel_err};
use ferrofold::io::npz::Npz;
use ferrofold::model::net::evoformer::{Activations, EvoformerBlock, StackKind};
use ferrofold::model::params::config::ModelConfig;
use ferrofold::model::params::random::{input_values, param_values};
use ferrofold::model::params::weights::Weights;
use ndarray::{Ix2, Ix3};

#[test]
fn full_size_evoformer_block_matches_alphafold2() {
    let dir = data("model/block_full");
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("params.json")).unwrap()).unwrap();
    let seed = spec["seed"].as_u64().unwrap();
    let (s, n) = (
        spec["n_seq"].as_u64().unwrap() as usize,
        spec["n_res"].as_u64().unwrap() as usize,
    );
    let mut w = Weights::default();
    for (key, shape) in spec["tensors"].as_object().unwrap() {
        let shape: Vec<usize> = shape
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        w.tensors
            .insert(key.clone(), param_values(key, &shape, seed));
    }
    let reference = Npz::read_path(dir.join("outputs.npz")).unwrap();
    let get = |k: &str| reference.get(k).unwrap().to_f32().unwrap();
    // The generators agree bit for bit.
    let probe = &w.tensors["evoformer_iteration/msa_row_attention_with_pair_bias//feat_2d_weights"];
    assert_eq!(probe, &get("probe_param"));
    let msa = input_values("input/msa", &[s, n, 256], seed)
        .into_dimensionality::<Ix3>()
        .unwrap();
    assert_eq!(msa.clone().into_dyn(), get("probe_msa"));
    let pair = input_values("input/pair", &[n, n, 128], seed)
        .into_dimensionality::<Ix3>()
        .unwrap();

    let msa_mask = get("msa_mask").into_dimensionality::<Ix2>().unwrap();
    let pair_mask = get("pair_mask").into_dimensionality::<Ix2>().unwrap();
    let mut act = Activations { msa, pair };
    EvoformerBlock::load(
        &w.scope("evoformer_iteration"),
        StackKind::Evoformer,
        &ModelConfig::model_1_ptm(),
    )
    .unwrap()
    .forward(&mut act, &msa_mask, &pair_mask, &Default::default());

    for (name, ours, want) in [
        ("msa", act.msa.into_dyn(), get("msa")),
        ("pair", act.pair.into_dyn(), get("pair")),
    ] {
        let rel = rel_err(&ours, &want);
        eprintln!("full-size block: {name} relative error {rel:.2e}");
        assert!(rel < 1e-4, "{name}: relative error {rel:.3e}");
    }
}
