//! The GPU engine against the CPU engine and AlphaFold2. Every Evoformer module's GPU update (its
//! kernels: GEMM, layer norm, attention, global attention, elementwise) is compared with the CPU module's
//! on the small-width module fixture (relative RMS ≤ 1e-5) and with AlphaFold2's; whole blocks likewise;
//! a block twice gives the same bits; and the tiny and small end-to-end fixtures run on the GPU engine
//! within the CPU engine's limits. CI runs these on lavapipe (Mesa's software Vulkan driver,
//! `mesa-vulkan-drivers`): a missing adapter is a failure, not a skip.

use std::sync::Arc;

use crate::common::rel_err;
use crate::evoformer_modules_parity::Fixture;
use ferrofold::gpu::evoformer::{Session, State};
use ferrofold::gpu::ops::WeightCache;
use ferrofold::gpu::Gpu;
use ferrofold::model::engine::{Engine, GpuEngine};
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
use ndarray::{Array3, ArrayD, Dimension};

fn gpu() -> Arc<Gpu> {
    let gpu = ferrofold::gpu::shared().unwrap_or_else(|e| {
        panic!("{e}: the GPU tests need an adapter (CI installs lavapipe: mesa-vulkan-drivers)")
    });
    eprintln!("adapter: {}", gpu.describe());
    gpu
}

/// Runs `f` on a session over the fixture's activations (`extra`: the extra MSA) and returns the update
/// it adds to a zeroed `[S, R, c]` (`msa_shaped`) or `[R, R, c_z]` tensor.
fn update(
    f: &Fixture,
    extra: bool,
    msa_shaped: bool,
    run: impl FnOnce(&mut Session, &State, &ferrofold::gpu::Tensor),
) -> ArrayD<f32> {
    let gpu = gpu();
    let msa = if extra { &f.extra_msa } else { &f.msa };
    let act = Activations {
        msa: msa.clone(),
        pair: f.pair.clone(),
    };
    let state = State::upload(&gpu, &act, &f.msa_mask, &f.pair_mask).unwrap();
    let shape = if msa_shaped {
        msa.raw_dim()
    } else {
        f.pair.raw_dim()
    };
    let out = gpu.zeros("update", shape.size()).unwrap();
    let mut session = Session {
        gpu: &gpu,
        weights: WeightCache::default(),
    };
    run(&mut session, &state, &out);
    let values = gpu.download(&out).unwrap();
    gpu.check().unwrap();
    Array3::from_shape_vec(shape, values).unwrap().into_dyn()
}

/// The GPU update against the CPU engine's (≤ 1e-5 relative) and AlphaFold2's (the fixture's limit).
fn compare(f: &Fixture, key: &str, gpu: ArrayD<f32>, cpu: ArrayD<f32>) {
    let rel = rel_err(&gpu, &cpu);
    eprintln!("{key}: GPU vs CPU relative error {rel:.2e}");
    assert!(rel <= 1e-5, "{key}: GPU vs CPU relative error {rel:.3e}");
    f.check(key, gpu);
}

#[test]
fn gpu_msa_attentions_match_the_cpu_engine() {
    let f = Fixture::load();
    let c = &f.cfg.evoformer;
    let m = "msa_row_attention_with_pair_bias";
    let row =
        MsaRowAttentionWithPairBias::load(&f.scope(m), c.msa_channel, c.pair_channel, c.msa_heads)
            .unwrap();
    let ours = update(&f, false, true, |s, st, out| {
        s.msa_row_attention(&row, st, out).unwrap()
    });
    let cpu = row.forward(&f.msa, f.msa_mask.view(), &f.pair).into_dyn();
    compare(&f, m, ours, cpu);

    let m = "msa_column_attention";
    let col = MsaColumnAttention::load(&f.scope(m), c.msa_channel, c.msa_heads).unwrap();
    let ours = update(&f, false, true, |s, st, out| {
        s.msa_column_attention(&col, st, out).unwrap()
    });
    compare(
        &f,
        m,
        ours,
        col.forward(&f.msa, f.msa_mask.view()).into_dyn(),
    );

    let m = "msa_column_global_attention";
    let glob =
        MsaColumnGlobalAttention::load(&f.scope(m), c.extra_msa_channel, c.msa_heads).unwrap();
    let ours = update(&f, true, true, |s, st, out| {
        s.msa_column_global_attention(&glob, st, out).unwrap()
    });
    let cpu = glob.forward(&f.extra_msa, f.msa_mask.view()).into_dyn();
    compare(&f, m, ours, cpu);
}

#[test]
fn gpu_transitions_and_outer_product_mean_match_the_cpu_engine() {
    let f = Fixture::load();
    let c = &f.cfg.evoformer;
    let rt = Default::default();
    let (s, r, _) = f.msa.dim();
    let msa_t = Transition::load(
        &f.scope("msa_transition"),
        c.msa_channel,
        c.transition_factor,
    )
    .unwrap();
    let ours = update(&f, false, true, |sess, st, out| {
        sess.transition(&msa_t, &st.msa, s * r, out).unwrap()
    });
    compare(
        &f,
        "msa_transition",
        ours,
        msa_t.forward(&f.msa, &rt).into_dyn(),
    );
    let pair_t = Transition::load(
        &f.scope("pair_transition"),
        c.pair_channel,
        c.transition_factor,
    )
    .unwrap();
    let ours = update(&f, false, false, |sess, st, out| {
        sess.transition(&pair_t, &st.pair, r * r, out).unwrap()
    });
    compare(
        &f,
        "pair_transition",
        ours,
        pair_t.forward(&f.pair, &rt).into_dyn(),
    );

    let m = "outer_product_mean";
    let opm = OuterProductMean::load(
        &f.scope(m),
        c.msa_channel,
        c.outer_product_channels,
        c.pair_channel,
    )
    .unwrap();
    let ours = update(&f, false, false, |sess, st, out| {
        sess.outer_product_mean(&opm, st, out).unwrap()
    });
    compare(
        &f,
        m,
        ours,
        opm.forward(&f.msa, f.msa_mask.view()).into_dyn(),
    );
}

#[test]
fn gpu_triangle_updates_match_the_cpu_engine() {
    let f = Fixture::load();
    let c = &f.cfg.evoformer;
    let rt = Default::default();
    for (m, dir) in [
        ("triangle_multiplication_outgoing", Direction::Outgoing),
        ("triangle_multiplication_incoming", Direction::Incoming),
    ] {
        let tm = TriangleMultiplication::load(
            &f.scope(m),
            dir,
            c.pair_channel,
            c.triangle_multiplication_channels,
        )
        .unwrap();
        let ours = update(&f, false, false, |s, st, out| {
            s.triangle_multiplication(&tm, st, out).unwrap()
        });
        let cpu = tm.forward(&f.pair, f.pair_mask.view(), &rt).into_dyn();
        compare(&f, m, ours, cpu);
    }
    for (m, node) in [
        ("triangle_attention_starting_node", Node::Starting),
        ("triangle_attention_ending_node", Node::Ending),
    ] {
        let ta = TriangleAttention::load(&f.scope(m), node, c.pair_channel, c.pair_heads).unwrap();
        let ours = update(&f, false, false, |s, st, out| {
            s.triangle_attention(&ta, st, out).unwrap()
        });
        compare(
            &f,
            m,
            ours,
            ta.forward(&f.pair, f.pair_mask.view()).into_dyn(),
        );
    }
}

#[test]
fn gpu_blocks_match_the_cpu_engine_and_repeat_bit_for_bit() {
    let f = Fixture::load();
    let gpu = gpu();
    for (key, kind, msa) in [
        ("block", StackKind::Evoformer, &f.msa),
        ("extra_block", StackKind::ExtraMsa, &f.extra_msa),
    ] {
        let scope = f
            .weights
            .scope(f.spec["blocks"][key]["scope"].as_str().unwrap());
        let block = EvoformerBlock::load(&scope, kind, &f.cfg).unwrap();
        let start = Activations {
            msa: msa.clone(),
            pair: f.pair.clone(),
        };
        let run_gpu = |gpu: &Gpu| {
            let state = State::upload(gpu, &start, &f.msa_mask, &f.pair_mask).unwrap();
            let mut session = Session {
                gpu,
                weights: WeightCache::default(),
            };
            session.block(&block, &state).unwrap();
            let mut act = Activations {
                msa: Array3::zeros((0, 0, 0)),
                pair: Array3::zeros((0, 0, 0)),
            };
            state.download(gpu, &mut act).unwrap();
            act
        };
        let ours = run_gpu(&gpu);
        let again = run_gpu(&gpu);
        assert_eq!(ours.msa, again.msa, "{key}: the same GPU gave other bits");
        assert_eq!(ours.pair, again.pair, "{key}: the same GPU gave other bits");
        // A binding limit of 4x the largest activation (the weights must fit): each chunk may hold the
        // largest activation's bytes, so the attentions run in chunks of about a quarter of their rows
        // (q, k, v and the weighted values per row), the transitions and the outer product mean in
        // chunks too; the bits may not change.
        let largest = 4 * msa.len().max(f.pair.len()) as u64;
        let mut capped = Gpu::new().unwrap();
        capped.cap_binding_bytes(4 * largest);
        eprintln!("{key}: msa {:?}, pair {:?}", msa.dim(), f.pair.dim());
        let chunked = run_gpu(&capped);
        assert_eq!(ours.msa, chunked.msa, "{key}: chunking changed the bits");
        assert_eq!(ours.pair, chunked.pair, "{key}: chunking changed the bits");
        let mut cpu = Activations {
            msa: msa.clone(),
            pair: f.pair.clone(),
        };
        block.forward(&mut cpu, &f.msa_mask, &f.pair_mask, &Default::default());
        compare(
            &f,
            &format!("{key}/msa"),
            ours.msa.into_dyn(),
            cpu.msa.into_dyn(),
        );
        compare(
            &f,
            &format!("{key}/pair"),
            ours.pair.into_dyn(),
            cpu.pair.into_dyn(),
        );
    }
}

/// The attentions' share of the GPU memory estimate (`memory::attention_elements`, the layer-normed
/// rows plus one chunk's queries, keys, values and weighted values) against what the engine allocates:
/// the peak of one MSA row, MSA column and triangle attention on the block fixture, with the adapter's
/// binding limit and with one that cuts them into chunks, to the byte (the fixtures' models are too
/// small for an attention to be a whole prediction's largest step).
#[test]
fn gpu_attention_peaks_match_the_memory_estimate() {
    use ferrofold::gpu::memory::attention_elements;
    let f = Fixture::load();
    let c = &f.cfg.evoformer;
    let (seqs, res, c_m) = f.msa.dim();
    let c_z = f.pair.dim().2;
    let (s, r, rr) = (seqs as u64, res as u64, (res * res) as u64);
    let row = MsaRowAttentionWithPairBias::load(
        &f.scope("msa_row_attention_with_pair_bias"),
        c.msa_channel,
        c.pair_channel,
        c.msa_heads,
    )
    .unwrap();
    let col =
        MsaColumnAttention::load(&f.scope("msa_column_attention"), c.msa_channel, c.msa_heads)
            .unwrap();
    let tri = TriangleAttention::load(
        &f.scope("triangle_attention_ending_node"),
        Node::Ending,
        c.pair_channel,
        c.pair_heads,
    )
    .unwrap();
    let act = Activations {
        msa: f.msa.clone(),
        pair: f.pair.clone(),
    };
    let largest = 4 * f.msa.len().max(f.pair.len()) as u64;
    for cap in [None, Some(4 * largest)] {
        let mut gpu = Gpu::new().unwrap();
        if let Some(cap) = cap {
            gpu.cap_binding_bytes(cap);
        }
        let binding = gpu.max_binding_bytes();
        let state = State::upload(&gpu, &act, &f.msa_mask, &f.pair_mask).unwrap();
        let out = gpu.zeros("update", f.msa.len().max(f.pair.len())).unwrap();
        let mut session = Session {
            gpu: &gpu,
            weights: WeightCache::default(),
        };
        // Bytes allocated beyond what is alive before, on a second run (the weights cached by the
        // first).
        let mut peak = |run: &dyn Fn(&mut Session)| {
            run(&mut session);
            gpu.wait().unwrap();
            gpu.reset_peak_bytes();
            let before = gpu.peak_bytes();
            run(&mut session);
            gpu.wait().unwrap();
            gpu.peak_bytes() - before
        };
        let (h_msa, h_pair) = (c.msa_heads as u64, c.pair_heads as u64);
        // Row attention: the normed pair and its bias, then the bias with the attention.
        let expected_row = (rr * (c_z as u64 + h_msa))
            .max(rr * h_msa + attention_elements(s, r, c_m as u64, binding));
        let got_row = peak(&|se| se.msa_row_attention(&row, &state, &out).unwrap());
        let expected_col = attention_elements(r, s, c_m as u64, binding);
        let got_col = peak(&|se| se.msa_column_attention(&col, &state, &out).unwrap());
        let expected_tri = rr * h_pair + attention_elements(r, r, c_z as u64, binding);
        let got_tri = peak(&|se| se.triangle_attention(&tri, &state, &out).unwrap());
        eprintln!(
            "binding limit {binding}: row {got_row} / column {got_col} / triangle {got_tri} bytes"
        );
        assert_eq!(
            got_row,
            4 * expected_row,
            "MSA row attention, limit {binding}"
        );
        assert_eq!(
            got_col,
            4 * expected_col,
            "MSA column attention, limit {binding}"
        );
        assert_eq!(
            got_tri,
            4 * expected_tri,
            "triangle attention, limit {binding}"
        );
    }
}

/// The GPU engine on a GPU of its own (so that the peak it records is this run's alone), with the
/// binding limit lowered to the largest tensor the engine makes when `capped` (the transitions and the
/// outer product mean then run in chunks). After the run, the memory estimate `predict` checks before any
/// work is held against the measured peak: it may not be below it, nor more than 2 % above (it is exact
/// when every weight is uploaded before the peak). `weights`: the model's npz (the estimate counts the
/// stacks' weights).
fn engine_with_memory_check(
    weights: std::path::PathBuf,
    capped: bool,
) -> impl Fn(
    &ferrofold::model::net::alphafold::AlphaFold,
    &[ferrofold::model::input::trunk_inputs::TrunkInputs],
) -> ferrofold::model::net::alphafold::Prediction {
    use ferrofold::gpu::memory;
    move |net, inputs| {
        let w = ferrofold::pipeline::params::read_npz_weights(&weights).unwrap();
        let cfg = &net.config;
        let sizes = ferrofold::model::engine::gpu_sizes(net, &inputs[0]);
        let mut gpu = Gpu::new().unwrap();
        if capped {
            let (_, largest) = ferrofold::gpu::evoformer::largest_tensor(
                cfg,
                sizes.res,
                sizes.msa_rows,
                sizes.extra_rows,
            );
            gpu.cap_binding_bytes(largest);
        }
        let gpu = Arc::new(gpu);
        let est = memory::estimate(
            cfg,
            sizes,
            memory::stack_weight_bytes(&w, sizes.templates > 0),
            gpu.max_binding_bytes(),
        );
        let p = GpuEngine {
            gpu: gpu.clone(),
            fallback: false,
        }
        .predict(net, inputs, &Default::default(), None, &mut |_, _| {})
        .unwrap();
        let measured = gpu.peak_bytes();
        eprintln!(
            "{sizes:?} binding limit {}: estimated {} ({}), measured {measured}",
            gpu.max_binding_bytes(),
            est.total,
            est.describe()
        );
        assert!(
            est.total >= measured,
            "estimate {} below the measured {measured}",
            est.total
        );
        assert!(
            est.total as f64 <= 1.02 * measured as f64,
            "estimate {} over 1.02x the measured {measured}",
            est.total
        );
        p
    }
}

/// The tiny monomer end to end on the GPU at the adapter's own binding limit, within the CPU engine's
/// limits of AlphaFold2, and the GPU memory estimate against the measured peak.
#[test]
fn gpu_engine_tiny_model_end_to_end_matches_alphafold2() {
    let weights = crate::common::data("model/tiny/params_model_1_ptm.npz");
    crate::end_to_end_parity::check_with("tiny", &engine_with_memory_check(weights, false));
}

/// The small monomer likewise, with the binding limit so low that the transitions and the outer product
/// mean run in chunks.
#[test]
fn gpu_engine_small_model_end_to_end_matches_alphafold2() {
    let weights = crate::common::data("model/small/params_model_1_ptm.npz");
    crate::end_to_end_parity::check_with("small", &engine_with_memory_check(weights, true));
}

/// The tiny fixture's model and inputs, and the CPU engine's prediction.
fn tiny() -> (
    ferrofold::model::params::weights::Weights,
    ferrofold::model::params::config::ModelConfig,
    Vec<ferrofold::model::input::trunk_inputs::TrunkInputs>,
) {
    let base = crate::common::data("model/tiny");
    let w =
        ferrofold::pipeline::params::read_npz_weights(base.join("params_model_1_ptm.npz")).unwrap();
    let mut cfg = ferrofold::model::params::config::ModelConfig::infer(&w).unwrap();
    cfg.structure_module.layers = 2;
    let feats = ferrofold::io::npz::Npz::read_path(base.join("processed_features.npz")).unwrap();
    let inputs = (0..2)
        .map(|r| {
            ferrofold::testing::reference::trunk_inputs_from_processed(&feats, r)
                .unwrap()
                .without_padding_rows()
        })
        .collect();
    (w, cfg, inputs)
}

/// A query over the adapter's binding limit is refused before any work with `--device gpu` and run on
/// the CPU with `--device auto`; a lost device mid-prediction is an error (gpu) or the CPU's result
/// (auto), never a hang or a wrong answer.
#[test]
fn gpu_faults_are_errors_or_a_cpu_fallback_never_wrong_answers() {
    let (w, cfg, inputs) = tiny();
    let net = ferrofold::model::net::alphafold::AlphaFold::load(&cfg, &w).unwrap();
    let cpu = net.predict(&inputs, &Default::default(), None, |_, _| {});
    let mut small = Gpu::new().unwrap();
    small.cap_binding_bytes(4096);
    let small = Arc::new(small);
    let mut steps = 0;
    let err = GpuEngine {
        gpu: small.clone(),
        fallback: false,
    }
    .predict(&net, &inputs, &Default::default(), None, &mut |_, _| {
        steps += 1
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("binding limit"), "{err}");
    assert!(err.contains("MiB"), "{err}");
    assert_eq!(steps, 0, "refused before work");
    let fell_back = GpuEngine {
        gpu: small,
        fallback: true,
    }
    .predict(&net, &inputs, &Default::default(), None, &mut |_, _| {})
    .unwrap();
    assert_eq!(
        fell_back.structure.atom37_positions,
        cpu.structure.atom37_positions
    );

    for fallback in [false, true] {
        let lost = Arc::new(Gpu::new().unwrap());
        lost.lose_device();
        let r = GpuEngine {
            gpu: lost,
            fallback,
        }
        .predict(&net, &inputs, &Default::default(), None, &mut |_, _| {});
        match (fallback, r) {
            (false, Err(e)) => eprintln!("lost device: {e}"),
            (true, Ok(p)) => assert_eq!(
                p.structure.atom37_positions, cpu.structure.atom37_positions,
                "the fall-back is the CPU engine's answer"
            ),
            (f, r) => panic!("fallback {f}: {:?}", r.map(|_| "a prediction")),
        }
    }
}

/// `ferrofold predict --device gpu` writes the same outputs as `--device cpu` (coordinates within
/// 1e-3 Å); without an adapter it exits 1 naming the cause and writes nothing, while `--device auto`
/// runs on the CPU.
#[test]
fn predict_device_gpu_matches_cpu_and_fails_cleanly_without_an_adapter() {
    use crate::common::{files_below, single_sequence_features};
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let model = crate::predict_cli::tiny_model(d, "tiny_ptm", false);
    let features = single_sequence_features(d);
    let run_with = |device: &str, out: &std::path::Path, no_adapter: bool, extra: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_ferrofold"));
        c.args([
            "predict",
            features.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
            "--relax",
            "none",
            "--device",
            device,
            "-o",
            out.to_str().unwrap(),
        ])
        .args(extra)
        .env_remove("RUST_LOG");
        if no_adapter {
            c.env("VK_ICD_FILENAMES", d.join("no_such_icd.json"));
        }
        c.output().unwrap()
    };
    let run = |device: &str, out: &std::path::Path, no_adapter: bool| {
        run_with(device, out, no_adapter, &[])
    };
    let pdb_coords = |dir: &std::path::Path| -> Vec<f64> {
        std::fs::read_to_string(dir.join("unrelaxed_tiny_ptm_pred_0.pdb"))
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("ATOM"))
            .flat_map(|l| [30..38, 38..46, 46..54].map(|r| l[r].trim().parse::<f64>().unwrap()))
            .collect()
    };
    let (gpu_out, cpu_out) = (d.join("gpu"), d.join("cpu"));
    let r = run("gpu", &gpu_out, false);
    let log = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{log}");
    assert!(log.contains("GPU engine on"), "{log}");
    // The GPU memory estimate is reported (lavapipe reports a heap: it is the budget) …
    assert!(
        log.contains("; GPU memory ") && log.contains("budget"),
        "{log}"
    );
    // … and a model over the GPU budget is refused before any work.
    let over = d.join("over");
    let r = run_with("gpu", &over, false, &["--gpu-memory-budget", "1M"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "of GPU memory at its peak, over the GPU memory budget of 1 MiB (--gpu-memory-budget)"
        ),
        "{err}"
    );
    assert!(files_below(&over).is_empty(), "{:?}", files_below(&over));
    // The library's entry point checks the same budget when the engine is chosen.
    let fasta = crate::common::data("msas/2q2k_A/query.fasta");
    let query = ferrofold::Query::from_fasta_path(&fasta).unwrap();
    let built = ferrofold::FeatureBuilder::single_sequence()
        .build(&query, fasta.to_str().unwrap())
        .unwrap();
    let loaded = ferrofold::pipeline::params::load(&model).unwrap();
    let opts = ferrofold::PredictOptions {
        num_recycle: Some(0),
        device: ferrofold::pipeline::predict::Device::Gpu,
        gpu_memory_budget: Some(1 << 20),
        ..Default::default()
    };
    let err = ferrofold::pipeline::predict::predict_features(&loaded, &built.features, &opts)
        .map(|_| "a prediction")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("GPU memory") && err.contains("over budget"),
        "{err}"
    );
    let r = run("cpu", &cpu_out, false);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(files_below(&gpu_out), files_below(&cpu_out));
    let (g, c) = (pdb_coords(&gpu_out), pdb_coords(&cpu_out));
    assert_eq!(g.len(), c.len());
    let worst = g
        .iter()
        .zip(&c)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst <= 1e-3, "GPU and CPU coordinates differ by {worst} Å");
    // `auto` with only lavapipe: the adapter is probed, not used — the CPU engine's very bits.
    let auto_sw = d.join("auto_software");
    let r = run("auto", &auto_sw, false);
    let log = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{log}");
    assert!(
        log.contains("only a software GPU adapter found") && !log.contains("GPU engine on"),
        "{log}"
    );
    assert_eq!(pdb_coords(&auto_sw), c);

    let none = d.join("none");
    let r = run("gpu", &none, true);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--device gpu") && err.contains("adapter"),
        "{err}"
    );
    assert!(
        files_below(&none).is_empty(),
        "nothing written: {:?}",
        files_below(&none)
    );
    let r = run("auto", &d.join("auto"), true);
    let log = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{log}");
    assert!(log.contains("running on the CPU"), "{log}");
}

/// AlphaFold-Multimer's block order (outer product mean first), fused triangle multiplications and
/// multimer template stack (four templates) on the GPU, with the binding limit low enough for chunked
/// transitions, and the GPU memory estimate against the measured peak.
#[test]
fn gpu_engine_tiny_homodimer_matches_alphafold_multimer() {
    let weights = crate::common::data("multimer/model_tiny/params_model_1_multimer_v3.npz");
    crate::multimer_model_parity::check_with(
        "tiny",
        false,
        &engine_with_memory_check(weights, true),
    );
}

/// The full-width template pair stack (64 channels, 4 heads, 2 blocks) through the GPU engine's stack
/// backend, from AlphaFold2's own input: against AlphaFold2's output and the CPU engine's.
#[test]
fn gpu_template_pair_stack_matches_alphafold2_and_the_cpu_engine() {
    use crate::template_parity::{fixture, get, single};
    use ferrofold::gpu::evoformer::GpuStacks;
    use ferrofold::model::params::config::StackBackend;
    let f = fixture();
    let model = ferrofold::model::net::alphafold::AlphaFold::load(&f.cfg, &f.weights).unwrap();
    let te = model
        .trunk
        .template_embedding
        .as_ref()
        .and_then(|t| t.as_monomer())
        .unwrap();
    let input = get(&f.inter, &single("template_pair_stack/in0#0"))
        .into_dimensionality::<ndarray::Ix3>()
        .unwrap();
    let n = input.dim().0;
    let mask = ndarray::Array2::<f32>::ones((n, n));
    let rt = Default::default();
    let mut cpu = input.clone();
    for block in &te.pair_stack {
        block.forward(&mut cpu, &mask, &rt);
    }
    let stacks = GpuStacks::new(gpu(), false);
    let mut ours = input.clone();
    assert!(stacks.template_pair_stack(&te.pair_stack, &mut ours, &mask, &rt));
    assert_eq!(stacks.failure(), None);
    compare_to(
        "template pair stack",
        ours.into_dyn(),
        cpu.into_dyn(),
        &get(&f.inter, &single("template_pair_stack/out#0")),
    );
}

/// [`compare`] against an AlphaFold2 output not in the module fixture.
fn compare_to(key: &str, gpu: ArrayD<f32>, cpu: ArrayD<f32>, af2: &ArrayD<f32>) {
    let rel = rel_err(&gpu, &cpu);
    let rel_af2 = rel_err(&gpu, af2);
    eprintln!("{key}: GPU vs CPU {rel:.2e}, vs AlphaFold2 {rel_af2:.2e}");
    assert!(rel <= 1e-5, "{key}: GPU vs CPU relative error {rel:.3e}");
    assert!(
        rel_af2 <= 1e-5,
        "{key}: GPU vs AlphaFold2 relative error {rel_af2:.3e}"
    );
}

/// The GEMM kernel in each of its tile shapes (64 × 64, 128 × 32, 256 × 16, 512 × 8) against a float64
/// product: shapes that leave partial tiles along m, n and k, batched, each operand stored both ways
/// (the kernel's two load patterns), every epilogue step. All tile shapes must give the same bits (each
/// output sums its terms in the same order), so which one `gemm` picks for a product changes nothing.
#[test]
fn gpu_gemm_tile_shapes_give_the_same_bits_and_match_a_float64_product() {
    use ferrofold::gpu::ops::{gemm_in_tiles, Epilogue, Operand, RowOp};
    let gpu = gpu();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    };
    for (m, n, k, batch) in [
        (70, 4, 37, 2),
        (300, 13, 9, 1),
        (129, 32, 50, 3),
        (65, 70, 17, 2),
    ] {
        let av: Vec<f32> = (0..batch * m * k).map(|_| rnd()).collect();
        let bv: Vec<f32> = (0..batch * k * n).map(|_| rnd()).collect();
        let bias: Vec<f32> = (0..n).map(|_| rnd()).collect();
        let rows: Vec<f32> = (0..batch * m).map(|_| 1.0 + 0.5 * rnd()).collect();
        let c0: Vec<f32> = (0..batch * m * n).map(|_| rnd()).collect();
        let (bias_t, rows_t) = (
            gpu.upload("bias", &bias).unwrap(),
            gpu.upload("rows", &rows).unwrap(),
        );
        for (a_t, b_t) in [(false, false), (true, false), (false, true), (true, true)] {
            // A[b, i, p] and B[b, p, j], stored row-major or transposed.
            let a_at = |bb: usize, i: usize, p: usize| {
                av[bb * m * k + if a_t { p * m + i } else { i * k + p }]
            };
            let b_at = |bb: usize, p: usize, j: usize| {
                bv[bb * k * n + if b_t { j * k + p } else { p * n + j }]
            };
            let (a_buf, b_buf) = (gpu.upload("a", &av).unwrap(), gpu.upload("b", &bv).unwrap());
            let a = if a_t {
                Operand::strided(&a_buf, 0, m * k, 1, m)
            } else {
                Operand::strided(&a_buf, 0, m * k, k, 1)
            };
            let b = if b_t {
                Operand::strided(&b_buf, 0, k * n, 1, k)
            } else {
                Operand::strided(&b_buf, 0, k * n, n, 1)
            };
            let epilogues = [
                ("store", Epilogue::default()),
                (
                    "alpha, bias, relu, row scale, accumulate",
                    Epilogue {
                        alpha: 0.5,
                        bias: Some(&bias_t),
                        relu: true,
                        row: Some((&rows_t, 0, m, 1, RowOp::Mul)),
                        accumulate: true,
                    },
                ),
                (
                    "row division",
                    Epilogue {
                        row: Some((&rows_t, 0, m, 1, RowOp::Div(1e-3))),
                        ..Default::default()
                    },
                ),
            ];
            for (what, ep) in epilogues {
                let mut want = vec![0f32; batch * m * n];
                for bb in 0..batch {
                    for i in 0..m {
                        for (j, &bias_j) in bias.iter().enumerate() {
                            let mut acc = 0f64;
                            for p in 0..k {
                                acc += a_at(bb, i, p) as f64 * b_at(bb, p, j) as f64;
                            }
                            let mut v = acc * ep.alpha as f64;
                            if ep.bias.is_some() {
                                v += bias_j as f64;
                            }
                            if ep.relu {
                                v = v.max(0.0);
                            }
                            let r = rows[bb * m + i] as f64;
                            match ep.row.map(|row| row.4) {
                                Some(RowOp::Mul) => v *= r,
                                Some(RowOp::Div(eps)) => v /= eps as f64 + r,
                                None => {}
                            }
                            let o = (bb * m + i) * n + j;
                            want[o] = (v + if ep.accumulate { c0[o] as f64 } else { 0.0 }) as f32;
                        }
                    }
                }
                let want = ndarray::Array1::from(want).into_dyn();
                let mut first: Option<Vec<f32>> = None;
                for wx in [8, 4, 2, 1] {
                    let c_buf = gpu.upload("c", &c0).unwrap();
                    let c = Operand::strided(&c_buf, 0, m * n, n, 1);
                    gemm_in_tiles(&gpu, (m, n, k, batch), a, b, c, ep, wx).unwrap();
                    let got = gpu.download(&c_buf).unwrap();
                    gpu.check().unwrap();
                    let case = format!(
                        "{m}x{k} @ {k}x{n} (batch {batch}, A{} B{}), {what}, {wx} threads wide",
                        if a_t { "ᵀ" } else { "" },
                        if b_t { "ᵀ" } else { "" }
                    );
                    let rel = rel_err(&ndarray::Array1::from(got.clone()), &want);
                    assert!(rel <= 1e-6, "{case}: relative error {rel:.3e}");
                    match &first {
                        None => first = Some(got),
                        Some(f) => assert!(
                            f.iter().zip(&got).all(|(x, y)| x.to_bits() == y.to_bits()),
                            "{case}: other bits than 64-wide tiles"
                        ),
                    }
                }
            }
        }
    }
    assert!(gemm_in_tiles(
        &gpu,
        (1, 1, 1, 1),
        Operand::rows(&gpu.zeros("x", 1).unwrap(), 0, 1),
        Operand::rows(&gpu.zeros("y", 1).unwrap(), 0, 1),
        Operand::rows(&gpu.zeros("z", 1).unwrap(), 0, 1),
        Epilogue::default(),
        3
    )
    .is_err());
}
