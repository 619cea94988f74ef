//! Trunk benchmark: one iteration (embeddings, recycling, extra-MSA stack, Evoformer) at model_1_ptm widths
//! with seeded random weights (`model::params::random` over the configuration's full parameter schema) and random
//! inputs of a given length and MSA depth. Prints one JSON line: wall seconds and peak RSS of the process.
//!
//! ```text
//! cargo bench --bench trunk -- --len 128 --depth 32 --blocks 2 --extra-blocks 1
//! cargo bench --bench trunk -- --len 256 --depth 64 --templates 4   # with the template module
//! ```
//! With `--templates T`, T synthetic templates (an ideal α-helix, every backbone and Cβ atom present)
//! run through the template module; its seconds (`template_s`) are also timed alone in the same process.
//! Run one configuration per process so that peak RSS belongs to it.
//!
//! With `--compare-kernels N`, the loaded trunk then runs N more times on each GEMM kernel of
//! `--kernels` (default `own,matrixmultiply`: ferrofold's kernel at this CPU's width and matrixmultiply,
//! which give the same bits; also `avx512`, `avx2`, `gemm`), alternately, and prints a second JSON line
//! with each one's times: a side-by-side comparison this noisy machine cannot spoil by drifting between
//! two processes. The pair's bits are checked to agree between the kernels that give the same bits.
//!
//! ```text
//! cargo bench --bench trunk -- --len 146 --depth 320 --max-clusters 64 --compare-kernels 3 --kernels own,gemm
//! ```

use std::time::Instant;

use ferrofold::model::input::trunk_inputs::Recycled;
use ferrofold::model::net::trunk::Trunk;
use ferrofold::model::params::config::{ModelConfig, RuntimeOptions};
use ferrofold::model::params::schema;
use ndarray::{Array2, Array3};

#[global_allocator]
static ALLOCATOR: ferrofold::model::plan::memory::LargePageHint =
    ferrofold::model::plan::memory::LargePageHint;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn main() {
    // As the ferrofold binary does (unless --glibc-default-malloc, to compare).
    if !std::env::args().any(|a| a == "--glibc-default-malloc") {
        ferrofold::model::plan::memory::return_large_allocations_to_the_system();
    }
    let (n, depth) = (arg("--len", 64), arg("--depth", 32));
    let mut cfg = ModelConfig::model_1_ptm();
    cfg.evoformer.num_block = arg("--blocks", 2);
    cfg.evoformer.extra_msa_num_block = arg("--extra-blocks", 1);
    let clusters = depth.min(arg("--max-clusters", 508));
    let extra = depth - clusters;
    let num_templates = arg("--templates", 0);
    if std::env::args().any(|a| a == "--estimate-only") {
        // The estimate alone, for sizes too large to run here (weights from the schema's shapes).
        let weights_bytes: u64 = schema::expected(&cfg)
            .values()
            .map(|shape| shape.iter().product::<usize>() as u64 * 4)
            .sum();
        let mut est_cfg = cfg.clone();
        est_cfg.input.max_msa_clusters = clusters.max(1);
        let sizes = ferrofold::model::plan::memory::Sizes {
            num_res: n,
            num_alignments: depth,
            iterations: arg("--iterations", 1),
            threads: 0,
            templates: 0,
        };
        let est = ferrofold::model::plan::memory::estimate(&est_cfg, sizes, weights_bytes, 1 << 30);
        let f = ferrofold::model::plan::flops::per_iteration(&cfg, n, clusters, extra, 0);
        println!(
            "len {n} depth {depth}: {}; {:.0} GFLOP per iteration (extra-MSA stack {:.0}, Evoformer {:.0})",
            est.describe(),
            f.total() / 1e9,
            f.extra_msa_stack / 1e9,
            f.evoformer / 1e9
        );
        return;
    }
    let w = ferrofold::testing::bench::random_weights(&cfg, 1);
    let rss_weights = peak_rss_mib();
    let x = ferrofold::testing::bench::random_trunk_inputs(n, clusters, extra, num_templates);
    let prev = Recycled::zeros(n, cfg.evoformer.msa_channel, cfg.evoformer.pair_channel);
    let rt = RuntimeOptions::default();
    let weights_bytes: u64 = w.tensors.values().map(|t| t.len() as u64 * 4).sum();
    let mut est_cfg = cfg.clone();
    est_cfg.input.max_msa_clusters = clusters.max(1);
    let est = ferrofold::model::plan::memory::estimate(
        &est_cfg,
        ferrofold::model::plan::memory::Sizes {
            num_res: n,
            num_alignments: depth,
            iterations: 1,
            threads: 0,
            templates: num_templates,
        },
        weights_bytes,
        rt.chunk_budget as u64,
    );
    let t = Instant::now();
    let trunk = Trunk::load(&w.root(), &cfg).expect("trunk parameters");
    let out = trunk.forward(&x, &prev, &rt);
    let secs = t.elapsed().as_secs_f64();
    let compare = arg("--compare-kernels", 0);
    if compare > 0 {
        use ferrofold::model::ops::gemm::{kernel, set_kernel_for_benchmarks, Kernel};
        let own = match kernel() {
            k @ (Kernel::Avx512 | Kernel::Avx2) => k,
            _ => Kernel::MatrixMultiply,
        };
        let args: Vec<String> = std::env::args().collect();
        let list = args
            .iter()
            .position(|a| a == "--kernels")
            .and_then(|i| args.get(i + 1))
            .map_or("own,matrixmultiply", |s| s.as_str());
        let kernels: Vec<(String, Kernel)> = list
            .split(',')
            .map(|name| {
                let k = match name {
                    "own" => own,
                    "avx512" => Kernel::Avx512,
                    "avx2" => Kernel::Avx2,
                    "gemm" => Kernel::Gemm,
                    "matrixmultiply" => Kernel::MatrixMultiply,
                    other => panic!("--kernels: unknown kernel {other:?}"),
                };
                (format!("{k:?}").to_lowercase(), k)
            })
            .collect();
        let mut times = vec![vec![]; kernels.len()];
        let mut first = None;
        for _ in 0..compare {
            for ((_, k), times) in kernels.iter().zip(&mut times) {
                assert!(
                    set_kernel_for_benchmarks(Some(*k)),
                    "this CPU cannot run {k:?}"
                );
                let t = Instant::now();
                let o = trunk.forward(&x, &prev, &rt);
                times.push(t.elapsed().as_secs_f64());
                // All but the `gemm` crate give the same bits (their unit tests): so do the trunk's.
                if *k != Kernel::Gemm {
                    let first = first.get_or_insert_with(|| o.pair.clone());
                    assert_eq!(&o.pair, first, "{k:?} changed the bits");
                }
            }
        }
        set_kernel_for_benchmarks(None);
        let fmt = |t: &[f64]| {
            let mut s = t.to_vec();
            s.sort_by(f64::total_cmp);
            format!(
                "{{\"best_s\": {:.3}, \"median_s\": {:.3}, \"all_s\": {:?}}}",
                s[0],
                s[s.len() / 2],
                t.iter()
                    .map(|v| (v * 1000.0).round() / 1000.0)
                    .collect::<Vec<_>>()
            )
        };
        let each: Vec<String> = kernels
            .iter()
            .zip(&times)
            .map(|((name, _), t)| format!("\"{name}\": {}", fmt(t)))
            .collect();
        println!(
            "{{\"len\": {n}, \"depth\": {depth}, \"compare_kernels\": {{{}}}}}",
            each.join(", ")
        );
    }
    let monomer_templates = trunk
        .template_embedding
        .as_ref()
        .and_then(|t| t.as_monomer());
    let template_s = match (monomer_templates, num_templates) {
        (Some(te), 1..) => {
            let pair = Array3::<f32>::zeros((n, n, cfg.evoformer.pair_channel));
            let mask = Array2::<f32>::ones((n, n));
            let t = Instant::now();
            let u = te.pair_update(&pair, &x.templates, &mask, &rt);
            let rows = te.msa_rows(&x.templates);
            assert!(u.iter().all(|v| v.is_finite()) && rows.0.iter().all(|v| v.is_finite()));
            t.elapsed().as_secs_f64()
        }
        _ => 0.0,
    };
    let flops =
        ferrofold::model::plan::flops::per_iteration(&cfg, n, clusters, extra, num_templates);
    let trunk_flops = flops.templates + flops.extra_msa_stack + flops.evoformer;
    assert!(out.pair.iter().all(|v| v.is_finite()));
    println!(
        "{{\"len\": {n}, \"depth\": {depth}, \"templates\": {num_templates}, \"template_s\": {template_s:.3}, \"template_gflop\": {:.1}, \"clusters\": {clusters}, \"extra\": {extra}, \"evoformer_blocks\": {}, \"extra_blocks\": {}, \"threads\": {}, \"wall_s\": {secs:.3}, \"trunk_gflop\": {:.1}, \"gflops\": {:.2}, \"peak_rss_mib\": {:.1}, \"estimate_mib\": {:.1}, \"estimate_largest_step\": \"{}\", \"weights_rss_mib\": {rss_weights:.1}}}",
        flops.templates / 1e9,
        cfg.evoformer.num_block,
        cfg.evoformer.extra_msa_num_block,
        rayon::current_num_threads(),
        trunk_flops / 1e9,
        trunk_flops / secs / 1e9,
        peak_rss_mib(),
        est.total as f64 / (1u64 << 20) as f64,
        est.largest_step_name
    );
}
