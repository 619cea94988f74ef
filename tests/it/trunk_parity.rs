//! The trunk (embeddings, recycling, extra-MSA stack, Evoformer, single projection) against AlphaFold2's
//! own JAX code (`alphafold-colabfold==2.3.1`, fp32) on random AlphaFold2-shaped parameters: for each
//! recycling iteration, fed AlphaFold2's processed features and AlphaFold2's recycled state, our first
//! MSA row and pair representation must match within 1e-4 relative error (‖ours − ref‖ / ‖ref‖), and the
//! single representation after the last iteration too. Fixtures: tests/data/model/*/ (README there).

use crate::common::{data, rel_err};
use ferrofold::io::npz::Npz;
use ferrofold::model::input::trunk_inputs::{Recycled, TrunkInputs};
use ferrofold::model::net::trunk::Trunk;
use ferrofold::model::params::config::ModelConfig;
use ferrofold::model::params::weights::Weights;
use ndarray::{Ix2, Ix3};

fn check_fixture(dir: &str) {
    let base = data(&format!("model/{dir}"));
    // Through the model file: DeepMind-layout npz → ONNX → load (every tensor checked against the config).
    let tmp = tempfile::tempdir().unwrap();
    let onnx = tmp.path().join(format!("{dir}.onnx"));
    ferrofold::pipeline::params::convert(
        &base.join("params_model_1_ptm.npz"),
        &onnx,
        Some(dir),
        |_| {},
    )
    .unwrap();
    let model = ferrofold::pipeline::params::load(&onnx).unwrap();
    let (w, cfg) = (model.weights, model.config);
    assert_eq!(
        cfg,
        ModelConfig::infer(
            &ferrofold::pipeline::params::read_npz_weights(base.join("params_model_1_ptm.npz"))
                .unwrap()
        )
        .unwrap()
    );
    let feats = Npz::read_path(base.join("processed_features.npz")).unwrap();
    let recycles = Npz::read_path(base.join("recycles.npz")).unwrap();
    let outputs = Npz::read_path(base.join("outputs.npz")).unwrap();
    let iterations = feats.get("aatype").unwrap().shape[0];
    let n = feats.get("aatype").unwrap().shape[1];
    let f32_of = |npz: &Npz, k: &str| npz.get(k).unwrap().to_f32().unwrap();
    let mut prev = Recycled::zeros(n, cfg.evoformer.msa_channel, cfg.evoformer.pair_channel);
    let mut last = None;
    for r in 0..iterations {
        let x = ferrofold::testing::reference::trunk_inputs_from_processed(&feats, r)
            .unwrap()
            .without_padding_rows();
        let out = Trunk::load(&w.root(), &cfg)
            .unwrap()
            .forward(&x, &prev, &Default::default());
        let e_row = rel_err(
            &out.msa_first_row(),
            &f32_of(&recycles, &format!("{r}/prev_msa_first_row")),
        );
        let e_pair = rel_err(&out.pair, &f32_of(&recycles, &format!("{r}/prev_pair")));
        eprintln!("{dir} iteration {r}: msa_first_row {e_row:.2e}, pair {e_pair:.2e}");
        assert!(
            e_row < 1e-4,
            "{dir} iteration {r}: msa_first_row relative error {e_row:.3e}"
        );
        assert!(
            e_pair < 1e-4,
            "{dir} iteration {r}: pair relative error {e_pair:.3e}"
        );
        // AlphaFold2's own recycled state for the next iteration (its positions come from the structure module).
        prev = Recycled {
            msa_first_row: f32_of(&recycles, &format!("{r}/prev_msa_first_row"))
                .into_dimensionality::<Ix2>()
                .unwrap(),
            pair: f32_of(&recycles, &format!("{r}/prev_pair"))
                .into_dimensionality::<Ix3>()
                .unwrap(),
            pos: f32_of(&recycles, &format!("{r}/prev_pos"))
                .into_dimensionality::<Ix3>()
                .unwrap(),
        };
        last = Some(out);
    }
    let out = last.unwrap();
    let e_single = rel_err(&out.single, &f32_of(&outputs, "repr_single"));
    eprintln!("{dir}: single {e_single:.2e}");
    assert!(
        e_single < 1e-4,
        "{dir}: single relative error {e_single:.3e}"
    );
}

#[test]
fn tiny_model_2q2k_a_matches_alphafold2() {
    check_fixture("tiny");
}

#[test]
fn small_model_openfold_query_matches_alphafold2() {
    check_fixture("small");
}

#[test]
fn template_models_match_alphafold2() {
    check_fixture("templates");
    check_fixture("templates_small");
}

/// The small fixture model's weights, configuration and first-iteration trunk inputs (unpadded).
fn small_model_inputs() -> (Weights, ModelConfig, TrunkInputs) {
    fixture_inputs("small")
}

/// A fixture model's weights, configuration and first-iteration trunk inputs (unpadded).
fn fixture_inputs(dir: &str) -> (Weights, ModelConfig, TrunkInputs) {
    let base = data(&format!("model/{dir}"));
    let w =
        ferrofold::pipeline::params::read_npz_weights(base.join("params_model_1_ptm.npz")).unwrap();
    let cfg = ModelConfig::infer(&w).unwrap();
    let feats = Npz::read_path(base.join("processed_features.npz")).unwrap();
    let x = ferrofold::testing::reference::trunk_inputs_from_processed(&feats, 0)
        .unwrap()
        .without_padding_rows();
    (w, cfg, x)
}

/// Chunk sizes and thread counts change how the work is cut, never the numbers: the trunk's outputs are
/// bitwise identical with a tiny chunk budget (many chunks, one channel per block) and with 1 or 2 threads.
#[test]
fn outputs_do_not_depend_on_chunking_or_threads() {
    same_outputs_for_any_chunking_or_threads("small");
    // With templates: the template pair stack, pointwise attention and torsion rows too.
    same_outputs_for_any_chunking_or_threads("templates");
}

fn same_outputs_for_any_chunking_or_threads(dir: &str) {
    use ferrofold::model::params::config::RuntimeOptions;
    let (w, cfg, x) = fixture_inputs(dir);
    let prev = Recycled::zeros(
        x.num_res(),
        cfg.evoformer.msa_channel,
        cfg.evoformer.pair_channel,
    );
    let run = |threads: usize, budget: usize| {
        let rt = RuntimeOptions {
            threads,
            chunk_budget: budget,
            on_block: None,
            stack_runner: None,
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            Trunk::load(&w.root(), &cfg)
                .unwrap()
                .forward(&x, &prev, &rt)
        })
    };
    let reference = run(2, 1 << 30);
    for (threads, budget) in [(1, 1 << 30), (2, 4096), (1, 4096)] {
        let out = run(threads, budget);
        assert_eq!(
            out.pair, reference.pair,
            "pair with {threads} thread(s), budget {budget}"
        );
        assert_eq!(
            out.msa, reference.msa,
            "msa with {threads} thread(s), budget {budget}"
        );
        assert_eq!(out.single, reference.single);
    }
}

/// A single-sequence query leaves the extra MSA empty: its stack must run (softmax over zero keys).
#[test]
fn an_empty_extra_msa_runs() {
    use ferrofold::model::params::config::RuntimeOptions;
    use ndarray::s;
    let (w, cfg, mut x) = small_model_inputs();
    x.extra_msa = x.extra_msa.slice(s![..0, ..]).to_owned();
    x.extra_msa_mask = x.extra_msa_mask.slice(s![..0, ..]).to_owned();
    x.extra_has_deletion = x.extra_has_deletion.slice(s![..0, ..]).to_owned();
    x.extra_deletion_value = x.extra_deletion_value.slice(s![..0, ..]).to_owned();
    let prev = Recycled::zeros(
        x.num_res(),
        cfg.evoformer.msa_channel,
        cfg.evoformer.pair_channel,
    );
    let out = Trunk::load(&w.root(), &cfg)
        .unwrap()
        .forward(&x, &prev, &RuntimeOptions::default());
    assert!(out.pair.iter().all(|v| v.is_finite()));
    assert!(out.msa.iter().all(|v| v.is_finite()));
}
