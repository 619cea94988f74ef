//! GPU engine benchmark (issue 21's device script): the adapter and its limits; GEMM GFLOP/s of the GPU
//! engine's kernel at AlphaFold2's shapes (its roofline here; the narrow pair-bias and outer-product-mean
//! products in their own tiles and in 64 × 64 ones); the full model_1_ptm network (seeded random
//! weights as `params demo` makes them, full widths, 48 Evoformer + 4 extra-MSA blocks) for one iteration
//! per length with 512 cluster + 1,024 extra MSA rows, with the peak bytes of GPU tensors; and the first
//! length run twice, compared bit for bit. For every length it also times the work the GPU engine
//! leaves to the host (the CPU): embeddings and recycling, the structure module around its pair terms,
//! the heads, by running the same iteration with the stacks skipped. Appends a section to
//! `benches/results/gpu.md` (`--out`).
//!
//! ```text
//! cargo bench --bench gpu -- --lens 256,512,1000        # on a GPU machine (WGPU_ADAPTER_NAME picks one)
//! cargo bench --bench gpu -- --smoke                    # tiny shapes on any adapter (lavapipe): the script works
//! cargo bench --bench gpu -- --host-only                # the host's share alone, on any machine (no adapter)
//! ```

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use ferrofold::gpu::evoformer::GpuStacks;
use ferrofold::gpu::ops::{gemm, gemm_in_tiles, Epilogue, Operand};
use ferrofold::gpu::Gpu;
use ferrofold::model::engine::{Engine, GpuEngine};
use ferrofold::model::input::trunk_inputs::{Recycled, TrunkInputs};
use ferrofold::model::net::alphafold::AlphaFold;
use ferrofold::model::net::evoformer::{Activations, EvoformerStack};
use ferrofold::model::net::template_embedding::TemplatePairBlock;
use ferrofold::model::params::config::{
    ModelConfig, PairTerms, RuntimeOptions, StackBackend, StackRunner,
};
use ferrofold::testing::bench::{random_trunk_inputs, random_weights};

// The `ferrofold` binary's allocator (large-page hint), so that the host's share is timed as it runs there.
#[global_allocator]
static ALLOCATOR: ferrofold::model::plan::memory::LargePageHint =
    ferrofold::model::plan::memory::LargePageHint;

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

/// A stack backend that skips the trunk's stacks (their activations stay as embedded), so that what an
/// iteration then takes is the host's share of a GPU run; the structure module's pair terms go to the
/// GPU when one is given (as in the GPU engine), else they run on the CPU too.
struct HostShare(Option<GpuStacks>);

impl StackBackend for HostShare {
    fn evoformer_stack(
        &self,
        _: &EvoformerStack,
        _: &mut Activations,
        _: &ndarray::Array2<f32>,
        _: &ndarray::Array2<f32>,
        _: &RuntimeOptions,
    ) -> bool {
        true
    }

    fn template_pair_stack(
        &self,
        _: &[TemplatePairBlock],
        _: &mut ndarray::Array3<f32>,
        _: &ndarray::Array2<f32>,
        _: &RuntimeOptions,
    ) -> bool {
        true
    }

    fn structure_pair(&self, pair_ln: &ndarray::Array3<f32>) -> Option<Box<dyn PairTerms + '_>> {
        self.0.as_ref().and_then(|g| g.structure_pair(pair_ln))
    }
}

/// Seconds of the host's share of one iteration of `net` on `x` (best of two): the trunk outside its
/// stacks (embeddings, recycling, single projection), the structure module, the heads.
fn host_share(net: &AlphaFold, x: &TrunkInputs, gpu: Option<&Arc<Gpu>>) -> [f64; 3] {
    let backend = Arc::new(HostShare(gpu.map(|g| GpuStacks::new(g.clone(), false))));
    let rt = RuntimeOptions {
        stack_runner: Some(StackRunner(backend.clone())),
        ..Default::default()
    };
    let cfg = &net.config;
    let n = x.num_res();
    let prev = Recycled::zeros(n, cfg.evoformer.msa_channel, cfg.evoformer.pair_channel);
    let aatype: Vec<usize> = x.aatype.iter().map(|&a| a.clamp(0, 20) as usize).collect();
    let mut best = [f64::INFINITY; 3];
    for _ in 0..2 {
        let t = Instant::now();
        let trunk = net.trunk.forward(x, &prev, &rt);
        let trunk_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let sm = net.structure_module.forward(
            &trunk.single,
            &trunk.pair,
            &aatype,
            &x.seq_mask,
            Some(&*backend as &dyn StackBackend),
        );
        let sm_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        net.heads
            .forward(&trunk.single, &trunk.pair, &trunk.msa, &sm.act, None);
        let heads_s = t.elapsed().as_secs_f64();
        for (b, s) in best.iter_mut().zip([trunk_s, sm_s, heads_s]) {
            *b = b.min(s);
        }
    }
    if let Some(failure) = backend.0.as_ref().and_then(|g| g.failure()) {
        panic!("GPU: {failure}");
    }
    best
}

fn main() {
    ferrofold::model::plan::memory::return_large_allocations_to_the_system();
    let smoke = std::env::args().any(|a| a == "--smoke");
    let host_only = std::env::args().any(|a| a == "--host-only");
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
    let command = format!(
        "Command: `cargo bench --bench gpu -- {}`\n",
        std::env::args()
            .skip(1)
            .filter(|a| a != "--bench")
            .collect::<Vec<_>>()
            .join(" ")
    );
    if host_only {
        host_only_section(&mut md, &command, &lens, (clusters, extra), smoke);
        return write_results(&md, &out);
    }
    let gpu = Arc::new(Gpu::new().expect("a GPU adapter"));
    writeln!(md, "Adapter: {}\n", gpu.describe()).unwrap();
    writeln!(md, "{command}").unwrap();

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
    // Narrow products (the kernel picks tall tiles 8, 16 or 32 columns wide for them), each also in the
    // 64 × 64 tiles they ran on before: whether the narrow tiles pay on this GPU.
    let narrow: Vec<(&str, usize, usize, usize)> = if smoke {
        vec![("pair bias, L = 32 (4 heads)", 1024, 4, 128)]
    } else {
        vec![
            (
                "triangle attention pair bias, L = 512 (4 heads)",
                262_144,
                4,
                128,
            ),
            (
                "MSA row attention pair bias, L = 512 (8 heads)",
                262_144,
                8,
                128,
            ),
            (
                "outer product mean projection, 512 rows × L = 512 (32 channels)",
                262_144,
                32,
                256,
            ),
        ]
    };
    for (name, m, n, k) in narrow {
        let a = gpu.zeros("a", m * k).expect("GPU memory");
        let b = gpu.zeros("b", k * n).expect("GPU memory");
        let c = gpu.zeros("c", m * n).expect("GPU memory");
        for (tiles, wx) in [("picked tiles", None), ("64 × 64 tiles", Some(8))] {
            let secs = time(&gpu, if smoke { 1 } else { 5 }, || {
                let (a, b, c) = (
                    Operand::rows(&a, 0, k),
                    Operand::rows(&b, 0, n),
                    Operand::rows(&c, 0, n),
                );
                match wx {
                    None => gemm(&gpu, (m, n, k, 1), a, b, c, Epilogue::default()),
                    Some(wx) => gemm_in_tiles(&gpu, (m, n, k, 1), a, b, c, Epilogue::default(), wx),
                }
                .expect("GEMM");
            });
            let gflops = 2.0 * (m * n * k) as f64 / secs / 1e9;
            eprintln!("{name}, {tiles}: {gflops:.1} GFLOP/s");
            writeln!(md, "| {name}, {tiles} | {gflops:.1} |").unwrap();
        }
    }

    // The whole network, one iteration per length.
    let cfg = bench_config(smoke);
    let w = random_weights(&cfg, 1);
    let net = AlphaFold::load(&cfg, &w).expect("parameters");
    let engine = GpuEngine {
        gpu: gpu.clone(),
        fallback: false,
    };
    writeln!(
        md,
        "\nmodel_1_ptm, {} Evoformer + {} extra-MSA blocks, {clusters} + {extra} MSA rows, one iteration (trunk's stacks and the structure module's pair terms on the GPU; embeddings, the rest of the structure module and heads on the host: its share timed with the stacks skipped):\n",
        cfg.evoformer.num_block, cfg.evoformer.extra_msa_num_block
    )
    .unwrap();
    writeln!(
        md,
        "| L | iteration s | host share s (trunk + structure module + heads) | trunk GFLOP | trunk GFLOP/s | share of the best GEMM | peak GPU tensors GiB | estimated GiB |\n|---|---|---|---|---|---|---|---|"
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
        let [host_trunk, host_sm, host_heads] = host_share(&net, &x, Some(&gpu));
        eprintln!(
            "L = {len}: {secs:.2} s (host share {:.2} s), peak GPU tensors {peak:.2} GiB (estimated {estimated:.2})",
            host_trunk + host_sm + host_heads
        );
        writeln!(
            md,
            "| {len} | {secs:.2} | {:.2} ({host_trunk:.2} + {host_sm:.2} + {host_heads:.2}) | {trunk:.1} | {:.1} | {:.0} % | {peak:.2} | {estimated:.2} |",
            host_trunk + host_sm + host_heads,
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
    write_results(&md, &out);
}

/// Prints `md` and appends it to the results file `out`.
fn write_results(md: &str, out: &str) {
    print!("{md}");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out)
        .expect("results file");
    std::io::Write::write_all(&mut file, md.as_bytes()).expect("write results");
}

/// The model configuration the network runs (full model_1_ptm; one block per stack for `--smoke`).
fn bench_config(smoke: bool) -> ModelConfig {
    let mut cfg = ModelConfig::model_1_ptm();
    if smoke {
        cfg.evoformer.num_block = 1;
        cfg.evoformer.extra_msa_num_block = 1;
    }
    cfg
}

/// `--host-only`: the host's share of an iteration per length, with every part on the CPU (the
/// structure module's pair terms included), on this machine's cores.
fn host_only_section(
    md: &mut String,
    command: &str,
    lens: &[usize],
    (clusters, extra): (usize, usize),
    smoke: bool,
) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    let threads = rayon::current_num_threads();
    writeln!(
        md,
        "Host only: {threads} thread{} ({cpu}), no adapter\n\n{command}",
        if threads == 1 { "" } else { "s" }
    )
    .unwrap();
    let cfg = bench_config(smoke);
    let w = random_weights(&cfg, 1);
    let net = AlphaFold::load(&cfg, &w).expect("parameters");
    writeln!(
        md,
        "The work the GPU engine leaves to the host in one iteration of model_1_ptm ({clusters} + {extra} MSA rows, stacks skipped; the heads run once per prediction; here the structure module's pair terms on the CPU too, which a GPU run does on the GPU), best of two:\n"
    )
    .unwrap();
    writeln!(
        md,
        "| L | trunk outside the stacks s | structure module s | heads s | host total s |\n|---|---|---|---|---|"
    )
    .unwrap();
    for &len in lens {
        let x = random_trunk_inputs(len, clusters, extra, 0);
        let [t, sm, h] = host_share(&net, &x, None);
        eprintln!("L = {len}: trunk outside the stacks {t:.2} s, structure module {sm:.2} s, heads {h:.2} s");
        writeln!(
            md,
            "| {len} | {t:.2} | {sm:.2} | {h:.2} | {:.2} |",
            t + sm + h
        )
        .unwrap();
    }
}
