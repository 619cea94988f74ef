//! Each Evoformer sub-module on its own against AlphaFold2's (JAX, fp32), so that a failure names the
//! module rather than "the block" (OpenFold's `test_compare` pattern). Small widths (c_m 32, c_z 16, c_e
//! 16, 4 MSA / 2 pair heads); parameters and inputs come from the seeded generator both sides share
//! (`ferrofold::model::params::random`, mirrored by `tests/reference/make_module_fixtures.py`), so the
//! fixture holds only AlphaFold2's outputs. Every output is a module's update before the residual add;
//! every module reads the same generated inputs and masks (zeros placed so that a transposed mask shows).

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::common::{data, rel_err};
use ferrofold::io::npz::Npz;
use ferrofold::model::net::evoformer::msa_attention::{
    MsaColumnAttention, MsaColumnGlobalAttention, MsaRowAttentionWithPairBias,
};
use ferrofold::model::net::evoformer::outer_product_mean::OuterProductMean;
use ferrofold::model::net::evoformer::transition::Transition;
use ferrofold::model::net::evoformer::triangle_attention::{Node, TriangleAttention};
use ferrofold::model::net::evoformer::triangle_multiplication::{
    Direction, TriangleMultiplication,
};
use ferrofold::model::net::evoformer::{Activations, EvoformerBlock, StackKind};
use ferrofold::model::params::config::ModelConfig;
use ferrofold::model::params::random::{input_values, param_values};
use ferrofold::model::params::weights::{Scope, Weights};
use ndarray::{Array2, Array3, ArrayD, Ix2, Ix3};

pub(crate) struct Fixture {
    pub(crate) spec: serde_json::Value,
    pub(crate) weights: Weights,
    pub(crate) outputs: Npz,
    pub(crate) msa: Array3<f32>,
    pub(crate) extra_msa: Array3<f32>,
    pub(crate) pair: Array3<f32>,
    pub(crate) msa_mask: Array2<f32>,
    pub(crate) pair_mask: Array2<f32>,
    pub(crate) cfg: ModelConfig,
}

impl Fixture {
    pub(crate) fn load() -> Self {
        let dir = data("model/modules");
        let spec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("params.json")).unwrap())
                .unwrap();
        let seed = spec["seed"].as_u64().unwrap();
        let shape = |v: &serde_json::Value| -> Vec<usize> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect()
        };
        let mut weights = Weights::default();
        for (key, s) in spec["tensors"].as_object().unwrap() {
            weights
                .tensors
                .insert(key.clone(), param_values(key, &shape(s), seed));
        }
        let input = |name: &str| {
            input_values(name, &shape(&spec["inputs"][name]), seed)
                .into_dimensionality::<Ix3>()
                .unwrap()
        };
        let outputs = Npz::read_path(dir.join("outputs.npz")).unwrap();
        let get = |k: &str| outputs.get(k).unwrap().to_f32().unwrap();
        let (msa, extra_msa, pair) = (
            input("input/msa"),
            input("input/extra_msa"),
            input("input/pair"),
        );
        // The generators agree bit for bit.
        assert_eq!(msa.clone().into_dyn(), get("probe_msa"));
        assert_eq!(extra_msa.clone().into_dyn(), get("probe_extra_msa"));
        assert_eq!(pair.clone().into_dyn(), get("probe_pair"));
        assert_eq!(
            weights.tensors
                ["evoformer_iteration/msa_row_attention_with_pair_bias//feat_2d_weights"],
            get("probe_param")
        );
        let msa_mask = get("msa_mask").into_dimensionality::<Ix2>().unwrap();
        let pair_mask = get("pair_mask").into_dimensionality::<Ix2>().unwrap();
        let s = &spec["sizes"];
        let n = |k: &str| s[k].as_u64().unwrap() as usize;
        let mut cfg = ModelConfig::model_1_ptm();
        cfg.evoformer.msa_channel = n("c_m");
        cfg.evoformer.pair_channel = n("c_z");
        cfg.evoformer.extra_msa_channel = n("c_e");
        cfg.evoformer.msa_heads = n("msa_heads");
        cfg.evoformer.pair_heads = n("pair_heads");
        cfg.evoformer.outer_product_channels = n("num_outer_channel");
        cfg.evoformer.triangle_multiplication_channels = n("tri_mult_channel");
        cfg.evoformer.transition_factor = n("transition_factor");
        Self {
            outputs,
            weights,
            msa,
            extra_msa,
            pair,
            msa_mask,
            pair_mask,
            cfg,
            spec,
        }
    }

    pub(crate) fn scope(&self, module: &str) -> Scope<'_> {
        self.weights
            .scope(self.spec["modules"][module]["scope"].as_str().unwrap())
    }

    pub(crate) fn want(&self, key: &str) -> ArrayD<f32> {
        self.outputs.get(key).unwrap().to_f32().unwrap()
    }

    /// Relative RMS error of `ours` against AlphaFold2's `key`; asserted below 1e-5.
    pub(crate) fn check(&self, key: &str, ours: ArrayD<f32>) {
        let rel = rel_err(&ours, &self.want(key));
        eprintln!("{key}: relative error {rel:.2e}");
        assert!(
            rel < 1e-5,
            "{key}: relative error {rel:.3e} against AlphaFold2"
        );
    }
}

#[test]
fn msa_row_attention_with_pair_bias_matches_alphafold2() {
    let f = Fixture::load();
    let (c, m) = (&f.cfg, "msa_row_attention_with_pair_bias");
    let module = MsaRowAttentionWithPairBias::load(
        &f.scope(m),
        c.evoformer.msa_channel,
        c.evoformer.pair_channel,
        c.evoformer.msa_heads,
    )
    .unwrap();
    f.check(
        m,
        module
            .forward(&f.msa, f.msa_mask.view(), &f.pair)
            .into_dyn(),
    );
}

#[test]
fn msa_column_attention_matches_alphafold2() {
    let f = Fixture::load();
    let m = "msa_column_attention";
    let module = MsaColumnAttention::load(
        &f.scope(m),
        f.cfg.evoformer.msa_channel,
        f.cfg.evoformer.msa_heads,
    )
    .unwrap();
    f.check(m, module.forward(&f.msa, f.msa_mask.view()).into_dyn());
}

#[test]
fn msa_column_global_attention_matches_alphafold2() {
    let f = Fixture::load();
    let m = "msa_column_global_attention";
    let module = MsaColumnGlobalAttention::load(
        &f.scope(m),
        f.cfg.evoformer.extra_msa_channel,
        f.cfg.evoformer.msa_heads,
    )
    .unwrap();
    f.check(
        m,
        module.forward(&f.extra_msa, f.msa_mask.view()).into_dyn(),
    );
}

#[test]
fn transitions_match_alphafold2() {
    let f = Fixture::load();
    let rt = Default::default();
    let msa = Transition::load(
        &f.scope("msa_transition"),
        f.cfg.evoformer.msa_channel,
        f.cfg.evoformer.transition_factor,
    )
    .unwrap();
    f.check("msa_transition", msa.forward(&f.msa, &rt).into_dyn());
    let pair = Transition::load(
        &f.scope("pair_transition"),
        f.cfg.evoformer.pair_channel,
        f.cfg.evoformer.transition_factor,
    )
    .unwrap();
    f.check("pair_transition", pair.forward(&f.pair, &rt).into_dyn());
}

#[test]
fn outer_product_mean_matches_alphafold2() {
    let f = Fixture::load();
    let m = "outer_product_mean";
    let module = OuterProductMean::load(
        &f.scope(m),
        f.cfg.evoformer.msa_channel,
        f.cfg.evoformer.outer_product_channels,
        f.cfg.evoformer.pair_channel,
    )
    .unwrap();
    f.check(m, module.forward(&f.msa, f.msa_mask.view()).into_dyn());
}

#[test]
fn triangle_multiplications_match_alphafold2() {
    let f = Fixture::load();
    for (m, dir) in [
        ("triangle_multiplication_outgoing", Direction::Outgoing),
        ("triangle_multiplication_incoming", Direction::Incoming),
    ] {
        let module = TriangleMultiplication::load(
            &f.scope(m),
            dir,
            f.cfg.evoformer.pair_channel,
            f.cfg.evoformer.triangle_multiplication_channels,
        )
        .unwrap();
        // A small chunk budget too: the channel blocks must not change the result.
        for budget in [1 << 30, 2048] {
            let rt = ferrofold::model::params::config::RuntimeOptions {
                chunk_budget: budget,
                ..Default::default()
            };
            f.check(
                m,
                module.forward(&f.pair, f.pair_mask.view(), &rt).into_dyn(),
            );
        }
    }
}

#[test]
fn triangle_attentions_match_alphafold2() {
    let f = Fixture::load();
    for (m, node) in [
        ("triangle_attention_starting_node", Node::Starting),
        ("triangle_attention_ending_node", Node::Ending),
    ] {
        let module = TriangleAttention::load(
            &f.scope(m),
            node,
            f.cfg.evoformer.pair_channel,
            f.cfg.evoformer.pair_heads,
        )
        .unwrap();
        f.check(m, module.forward(&f.pair, f.pair_mask.view()).into_dyn());
    }
}

#[test]
fn whole_blocks_match_alphafold2() {
    let f = Fixture::load();
    for (key, kind, msa) in [
        ("block", StackKind::Evoformer, &f.msa),
        ("extra_block", StackKind::ExtraMsa, &f.extra_msa),
    ] {
        let scope = f
            .weights
            .scope(f.spec["blocks"][key]["scope"].as_str().unwrap());
        let block = EvoformerBlock::load(&scope, kind, &f.cfg).unwrap();
        let mut act = Activations {
            msa: msa.clone(),
            pair: f.pair.clone(),
        };
        block.forward(&mut act, &f.msa_mask, &f.pair_mask, &Default::default());
        f.check(&format!("{key}/msa"), act.msa.into_dyn());
        f.check(&format!("{key}/pair"), act.pair.into_dyn());
    }
}

/// The block adds each module's update in place, a line or a block of rows at a time as it is computed
/// (`add_to`); that must give exactly `x + update` with the whole update computed first (`forward`), bit
/// for bit — every line read before any is written — with the default and a tiny chunk budget.
#[test]
fn in_place_updates_equal_adding_the_whole_update() {
    let f = Fixture::load();
    let c = &f.cfg.evoformer;
    let (msa_mask, pair_mask) = (f.msa_mask.view(), f.pair_mask.view());
    let same = |name: &str, x: &Array3<f32>, update: Array3<f32>, in_place: Array3<f32>| {
        let want = x + &update;
        let bits = |a: &Array3<f32>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&in_place),
            bits(&want),
            "{name}: add_to differs from x + forward(x)"
        );
    };
    for budget in [1 << 30, 2048] {
        let rt = ferrofold::model::params::config::RuntimeOptions {
            chunk_budget: budget,
            ..Default::default()
        };
        let row = MsaRowAttentionWithPairBias::load(
            &f.scope("msa_row_attention_with_pair_bias"),
            c.msa_channel,
            c.pair_channel,
            c.msa_heads,
        )
        .unwrap();
        let mut y = f.msa.clone();
        row.add_to(&mut y, msa_mask, &f.pair);
        same(
            "row attention",
            &f.msa,
            row.forward(&f.msa, msa_mask, &f.pair),
            y,
        );
        let col =
            MsaColumnAttention::load(&f.scope("msa_column_attention"), c.msa_channel, c.msa_heads)
                .unwrap();
        let mut y = f.msa.clone();
        col.add_to(&mut y, msa_mask);
        same("column attention", &f.msa, col.forward(&f.msa, msa_mask), y);
        let global = MsaColumnGlobalAttention::load(
            &f.scope("msa_column_global_attention"),
            c.extra_msa_channel,
            c.msa_heads,
        )
        .unwrap();
        // (The fixture's extra MSA has the main MSA's rows and mask.)
        let mut y = f.extra_msa.clone();
        global.add_to(&mut y, msa_mask);
        same(
            "global column attention",
            &f.extra_msa,
            global.forward(&f.extra_msa, msa_mask),
            y,
        );
        let transition = Transition::load(
            &f.scope("msa_transition"),
            c.msa_channel,
            c.transition_factor,
        )
        .unwrap();
        let mut y = f.msa.clone();
        transition.add_to(&mut y, &rt);
        same("MSA transition", &f.msa, transition.forward(&f.msa, &rt), y);
        let opm = OuterProductMean::load(
            &f.scope("outer_product_mean"),
            c.msa_channel,
            c.outer_product_channels,
            c.pair_channel,
        )
        .unwrap();
        let mut y = f.pair.clone();
        opm.add_to(&f.msa, msa_mask, &mut y);
        same(
            "outer product mean",
            &f.pair,
            opm.forward(&f.msa, msa_mask),
            y,
        );
        for (m, dir) in [
            ("triangle_multiplication_outgoing", Direction::Outgoing),
            ("triangle_multiplication_incoming", Direction::Incoming),
        ] {
            let module = TriangleMultiplication::load(
                &f.scope(m),
                dir,
                c.pair_channel,
                c.triangle_multiplication_channels,
            )
            .unwrap();
            let mut y = f.pair.clone();
            module.add_to(&mut y, pair_mask, &rt);
            same(m, &f.pair, module.forward(&f.pair, pair_mask, &rt), y);
        }
        for (m, node) in [
            ("triangle_attention_starting_node", Node::Starting),
            ("triangle_attention_ending_node", Node::Ending),
        ] {
            let module =
                TriangleAttention::load(&f.scope(m), node, c.pair_channel, c.pair_heads).unwrap();
            let mut y = f.pair.clone();
            module.add_to(&mut y, pair_mask);
            same(m, &f.pair, module.forward(&f.pair, pair_mask), y);
        }
        let transition = Transition::load(
            &f.scope("pair_transition"),
            c.pair_channel,
            c.transition_factor,
        )
        .unwrap();
        let mut y = f.pair.clone();
        transition.add_to(&mut y, &rt);
        same(
            "pair transition",
            &f.pair,
            transition.forward(&f.pair, &rt),
            y,
        );
    }
}

/// The loaders are the schema: recording what an Evoformer and an extra-MSA block ask for gives exactly
/// AlphaFold2's parameter names and shapes for those modules (as Haiku created them in the fixture).
#[test]
fn block_loaders_ask_for_exactly_alphafold2s_parameters() {
    let f = Fixture::load();
    let record = RefCell::new(BTreeMap::new());
    for (scope, kind) in [
        ("evoformer_iteration", StackKind::Evoformer),
        ("extra_msa_stack", StackKind::ExtraMsa),
    ] {
        EvoformerBlock::load(&Scope::recorder(&record, scope), kind, &f.cfg).unwrap();
    }
    let want: BTreeMap<String, Vec<usize>> = f.spec["tensors"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap() as usize)
                    .collect(),
            )
        })
        .collect();
    assert_eq!(record.into_inner(), want);
}
