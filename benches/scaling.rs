//! Thread scaling per module (issue: "write down what limits scaling"): every Evoformer module, the
//! structure module and the heads of model_1_ptm (full widths, seeded random weights, one block) timed with
//! 1 thread and with 2 threads (rayon pools in this process, one after the other, best of `--repeats`), at
//! one length and MSA depth. From the speed-up S on p = 2 threads Amdahl's law gives the serial fraction
//! f = 2/S - 1 (f = 0: perfectly parallel; the speed-up on P cores is then at most 1 / (f + (1 - f)/P)).
//! Writes `benches/results/scaling.md`.
//!
//! ```text
//! cargo bench --bench scaling -- --len 256 --depth 128
//! ```
//!
//! `--only TEXT` times only the modules whose name contains TEXT (for profiling one module under `perf`);
//! nothing is written then.

use std::io::Write;
use std::time::Instant;

use ferrofold::model::net::alphafold::AlphaFold;
use ferrofold::model::net::evoformer::ColumnAttention;
use ferrofold::model::params::config::{ModelConfig, RuntimeOptions};
use ferrofold::model::params::random::{input_values, param_values};
use ferrofold::model::params::schema;
use ferrofold::model::params::weights::Weights;
use ndarray::{Array1, Array2, Array3, Ix2, Ix3};

// The `ferrofold` program's allocator and malloc settings, so the modules' temporaries are backed the
// same way (without them, page faults on fresh temporaries were 10-15 % of a triangle multiplication).
#[global_allocator]
static ALLOCATOR: ferrofold::model::plan::memory::LargePageHint =
    ferrofold::model::plan::memory::LargePageHint;

#[path = "common/util.rs"]
mod util;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Best wall seconds of `repeats` runs of `f` on a pool of `threads`.
fn best(threads: usize, repeats: usize, f: &(dyn Fn() + Sync)) -> f64 {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        (0..repeats)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    })
}

/// A module's work, run on the current thread pool.
type Module<'a> = Box<dyn Fn() + Sync + 'a>;

fn main() {
    ferrofold::model::plan::memory::return_large_allocations_to_the_system();
    let (n, depth, repeats) = (arg("--len", 256), arg("--depth", 128), arg("--repeats", 2));
    let mut cfg = ModelConfig::model_1_ptm();
    cfg.evoformer.num_block = 1;
    cfg.evoformer.extra_msa_num_block = 1;
    cfg.evoformer.templates = false;
    let mut w = Weights::default();
    for (key, shape) in schema::expected(&cfg) {
        let mut t = param_values(&key, &shape, 3);
        if key.ends_with("transition2//weights") || key.ends_with("//output_w") {
            t.mapv_inplace(|v| v * 0.1);
        }
        w.tensors.insert(key, t);
    }
    let net = AlphaFold::load(&cfg, &w).unwrap();
    let block = &net.trunk.evoformer.blocks[0];
    // AlphaFold-Multimer's structure module (its own IPA), same sizes.
    let mut mcfg = ModelConfig::multimer_preset("model_1").unwrap();
    mcfg.evoformer.num_block = 1;
    mcfg.evoformer.extra_msa_num_block = 1;
    let mut mw = Weights::default();
    for (key, shape) in schema::expected(&mcfg) {
        mw.tensors
            .insert(key.clone(), param_values(&key, &shape, 3));
    }
    let mnet = AlphaFold::load(&mcfg, &mw).unwrap();
    let (c_m, c_z, c_s) = (
        cfg.evoformer.msa_channel,
        cfg.evoformer.pair_channel,
        cfg.evoformer.seq_channel,
    );
    let msa: Array3<f32> = input_values("msa", &[depth, n, c_m], 1)
        .into_dimensionality::<Ix3>()
        .unwrap();
    let pair: Array3<f32> = input_values("pair", &[n, n, c_z], 2)
        .into_dimensionality::<Ix3>()
        .unwrap();
    let single: Array2<f32> = input_values("single", &[n, c_s], 3)
        .into_dimensionality::<Ix2>()
        .unwrap();
    let msa_mask = Array2::<f32>::ones((depth, n));
    let pair_mask = Array2::<f32>::ones((n, n));
    let rt = RuntimeOptions::default();
    let aatype: Vec<usize> = (0..n).map(|i| i % 20).collect();
    let seq_mask = Array1::<f32>::ones(n);
    let structure = net
        .structure_module
        .forward(&single, &pair, &aatype, &seq_mask, None);
    let modules: Vec<(&str, Module)> = vec![
        (
            "MSA row attention with pair bias",
            Box::new(|| {
                block
                    .msa_row_attention_with_pair_bias
                    .forward(&msa, msa_mask.view(), &pair);
            }),
        ),
        (
            "MSA column attention",
            Box::new(|| {
                if let ColumnAttention::PerHead(m) = &block.msa_column_attention {
                    m.forward(&msa, msa_mask.view());
                }
            }),
        ),
        (
            "MSA transition",
            Box::new(|| {
                block.msa_transition.forward(&msa, &rt);
            }),
        ),
        (
            "outer product mean",
            Box::new(|| {
                block.outer_product_mean.forward(&msa, msa_mask.view());
            }),
        ),
        (
            "triangle multiplication (outgoing)",
            Box::new(|| {
                block
                    .triangle_multiplication_outgoing
                    .forward(&pair, pair_mask.view(), &rt);
            }),
        ),
        (
            "triangle multiplication (incoming)",
            Box::new(|| {
                block
                    .triangle_multiplication_incoming
                    .forward(&pair, pair_mask.view(), &rt);
            }),
        ),
        (
            "triangle attention (starting node)",
            Box::new(|| {
                block
                    .triangle_attention_starting_node
                    .forward(&pair, pair_mask.view());
            }),
        ),
        (
            "triangle attention (ending node)",
            Box::new(|| {
                block
                    .triangle_attention_ending_node
                    .forward(&pair, pair_mask.view());
            }),
        ),
        (
            "pair transition",
            Box::new(|| {
                block.pair_transition.forward(&pair, &rt);
            }),
        ),
        (
            "structure module (8 layers)",
            Box::new(|| {
                net.structure_module
                    .forward(&single, &pair, &aatype, &seq_mask, None);
            }),
        ),
        (
            "structure module, AlphaFold-Multimer (8 layers)",
            Box::new(|| {
                mnet.structure_module
                    .forward(&single, &pair, &aatype, &seq_mask, None);
            }),
        ),
        (
            "heads",
            Box::new(|| {
                net.heads
                    .forward(&single, &pair, &msa, &structure.act, None);
            }),
        ),
    ];
    let args: Vec<String> = std::env::args().collect();
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1));
    let mut rows = Vec::new();
    let (mut total1, mut total2) = (0.0, 0.0);
    for (name, f) in &modules {
        if only.is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        let t1 = best(1, repeats, f.as_ref());
        let t2 = best(2, repeats, f.as_ref());
        let s = t1 / t2;
        let serial = (2.0 / s - 1.0).max(0.0);
        total1 += t1;
        total2 += t2;
        let line = format!(
            "| {name} | {t1:.3} | {t2:.3} | {s:.2} | {serial:.2} | {:.1} |",
            1.0 / (serial + (1.0 - serial) / 64.0)
        );
        println!("{line}");
        rows.push(line);
    }
    if only.is_some() {
        return;
    }
    let s = total1 / total2;
    let serial = (2.0 / s - 1.0).max(0.0);
    rows.push(format!(
        "| **one block + structure module + heads** | {total1:.3} | {total2:.3} | {s:.2} | {serial:.2} | {:.1} |",
        1.0 / (serial + (1.0 - serial) / 64.0)
    ));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let results = root.join("benches/results/scaling.md");
    let mut text = std::fs::read_to_string(&results).unwrap_or_else(|_| {
        "# Thread scaling per module\n\n`cargo bench --bench scaling` (see its header): each module of model_1_ptm \
         (full widths, random weights) timed on a 1-thread and a 2-thread rayon pool in one process, best of \
         the repeats; S = t1/t2, Amdahl's serial fraction f = 2/S - 1, and the speed-up it allows on 64 \
         cores, 1/(f + (1-f)/64). On a machine with 2 cores these fractions include what the second core \
         cannot give (shared caches and memory bandwidth), so they are upper bounds of the code's serial part.\n"
            .to_string()
    });
    text.push_str(&format!(
        "\n## {}\n\n{}, {} cores; L = {n}, {depth} MSA rows, best of {repeats}\n\n| module | 1 thread s | 2 threads s | S | serial f | bound on 64 cores |\n|---|---|---|---|---|---|\n{}\n",
        util::now_utc(),
        util::machine(),
        std::thread::available_parallelism().map_or(0, |v| v.get()),
        rows.join("\n")
    ));
    std::fs::File::create(&results)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .unwrap();
}
