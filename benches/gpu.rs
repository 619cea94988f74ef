//! GPU engine benchmark (issue 21's device script): the adapter and its limits; GEMM GFLOP/s of the GPU
//! engine's kernel at AlphaFold2's shapes (its roofline here); the full model_1_ptm network (seeded random
//! weights as `params demo` makes them, full widths, 48 Evoformer + 4 extra-MSA blocks) for one iteration
//! per length with 512 cluster + 1,024 extra MSA rows, with the peak bytes of GPU tensors; and the first
//! length run twice, compared bit for bit. Appends a section to `benches/results/gpu.md` (`--out`).
//!
//! ```text
//! cargo bench --bench gpu -- --lens 256,512,1000        # on a GPU machine (WGPU_ADAPTER_NAME picks one)
//! cargo bench --bench gpu -- --smoke                    # tiny shapes on any adapter (lavapipe): the script works
//! ```

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use ferrofold::gpu::ops::{gemm, Epilogue, Operand};
use ferrofold::gpu::Gpu;
use ferrofold::model::engine::{Engine, GpuEngine};
use ferrofold::model::net::alphafold::AlphaFold;
use ferrofold::model::params::config::ModelConfig;
use ferrofold::testing::bench::{random_trunk_inputs, random_weights};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Seconds per call of `f` (best of `reps` after one warm-up), waiting for the GPU each time.
fn time(gpu: &Gpu, reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    gpu.wait().expect("GPU");
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            gpu.wait().expect("GPU");
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let out = arg("--out").unwrap_or_else(|| "benches/results/gpu.md".into());
    let lens: Vec<usize> = arg("--lens")
        .unwrap_or_else(|| {
            if smoke {
                "24".into()
            } else {
                "256,512,1000".into()
            }
        })
        .split(',')
        .map(|v| v.parse().expect("--lens L,L,…"))
        .collect();
    let (clusters, extra) = if smoke { (8, 16) } else { (512, 1024) };
    let gpu = Arc::new(Gpu::new().expect("a GPU adapter"));
    let mut md = String::new();
    let date = std::process::Command::new("date")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    writeln!(
        md,
        "\n## {date}{}\n",
        if smoke { " (smoke run)" } else { "" }
    )
    .unwrap();
    writeln!(md, "Adapter: {}\n", gpu.describe()).unwrap();
    writeln!(
        md,
        "Command: `cargo bench --bench gpu -- {}`\n",
        std::env::args()
            .skip(1)
            .filter(|a| a != "--bench")
            .collect::<Vec<_>>()
            .join(" ")
    )
    .unwrap();

    // GEMM at AlphaFold2's shapes (M, N, K, batch).
    let shapes: Vec<(&str, usize, usize, usize, usize)> = if smoke {
        vec![("pair projection, L = 32", 1024, 128, 128, 1)]
    } else {
        vec![
            (
                "pair projection, L = 256 (65,536 × 128 × 128)",
                65_536,
                128,
                128,
                1,
            ),
            ("pair projection, L = 512", 262_144, 128, 128, 1),
            (
                "pair transition, L = 512 (× 512 hidden)",
                262_144,
                512,
                128,
                1,
            ),
            (
                "MSA q/k/v/gate, 512 rows × L = 512 (256 × 256)",
                262_144,
                256,
                256,
                1,
            ),
            (
                "triangle edge sums, L = 512, 128 channels",
                512,
                512,
                512,
                128,
            ),
        ]
    };
    writeln!(md, "| GEMM | GFLOP/s |\n|---|---|").unwrap();
    let mut best = 0.0f64;
    for (name, m, n, k, batch) in shapes {
        let a = gpu.zeros("a", batch * m * k).expect("GPU memory");
        let b = gpu.zeros("b", batch * k * n).expect("GPU memory");
        let c = gpu.zeros("c", batch * m * n).expect("GPU memory");
        let secs = time(&gpu, if smoke { 1 } else { 5 }, || {
            gemm(
                &gpu,
                (m, n, k, batch),
                Operand::strided(&a, 0, m * k, k, 1),
                Operand::strided(&b, 0, k * n, n, 1),
                Operand::strided(&c, 0, m * n, n, 1),
                Epilogue::default(),
            )
            .expect("GEMM");
        });
        let gflops = 2.0 * (m * n * k * batch) as f64 / secs / 1e9;
        best = best.max(gflops);
        eprintln!("{name}: {gflops:.1} GFLOP/s");
        writeln!(md, "| {name} | {gflops:.1} |").unwrap();
    }

    // The whole network, one iteration per length.
    let mut cfg = ModelConfig::model_1_ptm();
    if smoke {
        cfg.evoformer.num_block = 1;
        cfg.evoformer.extra_msa_num_block = 1;
    }
    let w = random_weights(&cfg, 1);
    let net = AlphaFold::load(&cfg, &w).expect("parameters");
    let engine = GpuEngine {
        gpu: gpu.clone(),
        fallback: false,
    };
    writeln!(
        md,
        "\nmodel_1_ptm, {} Evoformer + {} extra-MSA blocks, {clusters} + {extra} MSA rows, one iteration (trunk on the GPU; embeddings, structure module and heads on the CPU):\n",
        cfg.evoformer.num_block, cfg.evoformer.extra_msa_num_block
    )
    .unwrap();
    writeln!(
        md,
        "| L | iteration s | trunk GFLOP | trunk GFLOP/s | share of the best GEMM | peak GPU tensors GiB | estimated GiB |\n|---|---|---|---|---|---|---|"
    )
    .unwrap();
    let run = |x: &ferrofold::model::input::trunk_inputs::TrunkInputs| {
        engine
            .predict(
                &net,
                std::slice::from_ref(x),
                &Default::default(),
                None,
                &mut |_, _| {},
            )
            .expect("GPU prediction")
    };
    let mut first = None;
    for &len in &lens {
        let x = random_trunk_inputs(len, clusters, extra, 0);
        gpu.reset_peak_bytes();
        let t = Instant::now();
        let pred = run(&x);
        let secs = t.elapsed().as_secs_f64();
        let f = ferrofold::model::plan::flops::per_iteration(&cfg, len, clusters, extra, 0);
        let trunk = (f.extra_msa_stack + f.evoformer) / 1e9;
        let peak = gpu.peak_bytes() as f64 / (1u64 << 30) as f64;
        // What `predict` checks before any work, for the same sizes.
        let estimated = ferrofold::gpu::memory::estimate(
            &cfg,
            ferrofold::model::engine::gpu_sizes(&net, &x),
            ferrofold::gpu::memory::stack_weight_bytes(&w, false),
            gpu.max_binding_bytes(),
        )
        .total as f64
            / (1u64 << 30) as f64;
        eprintln!(
            "L = {len}: {secs:.2} s, peak GPU tensors {peak:.2} GiB (estimated {estimated:.2})"
        );
        writeln!(
            md,
            "| {len} | {secs:.2} | {trunk:.1} | {:.1} | {:.0} % | {peak:.2} | {estimated:.2} |",
            trunk / secs,
            100.0 * trunk / secs / best
        )
        .unwrap();
        if first.is_none() {
            first = Some((x, pred));
        }
    }
    if let Some((x, pred)) = first {
        let again = run(&x);
        let same = again.trunk.pair == pred.trunk.pair
            && again.structure.atom37_positions == pred.structure.atom37_positions;
        writeln!(
            md,
            "\nL = {} twice: {}",
            lens[0],
            if same {
                "the same bits (pair representation and atom positions)"
            } else {
                "DIFFERENT BITS"
            }
        )
        .unwrap();
        assert!(same, "the same GPU gave different bits");
    }
    print!("{md}");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&out)
        .expect("results file");
    std::io::Write::write_all(&mut file, md.as_bytes()).expect("write results");
}
