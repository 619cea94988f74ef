//! GEMM ceiling of this machine with the GEMM the engine uses (`ferrofold::model::ops::gemm`: ferrofold's
//! kernel at 512 or 256 bits, chosen per CPU; `FERROFOLD_GEMM` overrides) with B as a plain matrix and as
//! a weight packed once (`gemm::Weight`), beside the `gemm` crate and ndarray's `general_mat_mul`
//! (matrixmultiply): square and engine-shaped products, on 1 thread and on all threads (independent
//! products in parallel under rayon, as the engine runs them), the four modes' rounds interleaved. Prints
//! one JSON line per shape and thread count; the trunk benchmark's GFLOP/s divided by the best of these is
//! the trunk's fraction of the ceiling.
//!
//! ```text
//! cargo bench --bench gemm
//! ```

use std::time::Instant;

use ferrofold::model::ops::gemm::{
    matmul_into, matmul_w_into, set_kernel_for_benchmarks, Kernel, Weight,
};
use ndarray::linalg::general_mat_mul;
use ndarray::Array2;
use rayon::prelude::*;

fn filled(r: usize, c: usize, seed: u32) -> Array2<f32> {
    Array2::from_shape_fn((r, c), |(i, j)| {
        let x = (i as u32).wrapping_mul(2654435761) ^ (j as u32).wrapping_mul(40503) ^ seed;
        (x % 1000) as f32 / 1000.0 - 0.5
    })
}

/// Which product [`measure`] times.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// The engine's `matmul_into`.
    Engine,
    /// The engine's product with B as a weight matrix (`matmul_w_into`: packed once, on ferrofold's
    /// kernel).
    EngineWeight,
    /// The `gemm` crate (through the engine's `matmul_into`).
    GemmCrate,
    /// ndarray's `general_mat_mul` (matrixmultiply).
    MatrixMultiply,
}

/// GFLOP/s of `copies` independent m×k·k×n products run in parallel, for each mode: best of `reps`
/// rounds, the modes' rounds interleaved (this machine's speed drifts; each mode sees the same drift).
fn measure(m: usize, k: usize, n: usize, copies: usize, reps: usize, modes: &[Mode]) -> Vec<f64> {
    let a: Vec<Array2<f32>> = (0..copies).map(|s| filled(m, k, s as u32)).collect();
    let b: Vec<Array2<f32>> = (0..copies).map(|s| filled(k, n, 7 + s as u32)).collect();
    let w: Vec<Weight> = b.iter().map(|b| Weight::new(b.view())).collect();
    let mut c: Vec<Array2<f32>> = (0..copies).map(|_| Array2::zeros((m, n))).collect();
    // Each timed round repeats the products until it lasts ~50 ms (small shapes are otherwise noise).
    let once = 2.0 * (m * k * n * copies) as f64;
    let iters = (once.recip() * 5e9).ceil().max(1.0) as usize;
    let mut best = vec![f64::INFINITY; modes.len()];
    for _ in 0..reps {
        for (mode, best) in modes.iter().zip(&mut best) {
            set_kernel_for_benchmarks((*mode == Mode::GemmCrate).then_some(Kernel::Gemm));
            let t = Instant::now();
            for _ in 0..iters {
                c.par_iter_mut().enumerate().for_each(|(i, ci)| match mode {
                    Mode::Engine | Mode::GemmCrate => {
                        matmul_into(a[i].view(), b[i].view(), ci.view_mut(), false)
                    }
                    Mode::EngineWeight => matmul_w_into(a[i].view(), &w[i], ci.view_mut(), false),
                    Mode::MatrixMultiply => general_mat_mul(1.0, &a[i], &b[i], 0.0, ci),
                });
            }
            *best = best.min(t.elapsed().as_secs_f64() / iters as f64);
            set_kernel_for_benchmarks(None);
        }
    }
    best.iter().map(|t| once / t / 1e9).collect()
}

fn main() {
    let all = rayon::current_num_threads();
    println!(
        "{{\"engine_kernel\": \"{:?}\"}}",
        ferrofold::model::ops::gemm::kernel()
    );
    let shapes = [
        ("square 1024", 1024, 1024, 1024),
        ("pair projection N=256 (N^2 x c_z x c_z)", 65536, 128, 128),
        (
            "MSA transition 508x256 rows (x c_m x 4c_m)",
            130048,
            256,
            1024,
        ),
        ("triangle product N=256 (one channel)", 256, 256, 256),
        ("attention logits N=146, 32 per head", 146, 32, 146),
        ("attention values N=146, 32 per head", 146, 146, 32),
        ("attention projection N=146 rows, c=128", 146, 128, 128),
        ("MSA transition, 256-row task", 256, 256, 1024),
        ("MSA transition N=146, 64 rows: one task", 1168, 256, 1024),
    ];
    for (name, m, k, n) in shapes {
        for threads in [1, all] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            let copies = threads;
            let modes = [
                Mode::Engine,
                Mode::EngineWeight,
                Mode::GemmCrate,
                Mode::MatrixMultiply,
            ];
            let g = pool.install(|| measure(m, k, n, copies, 9, &modes));
            let (engine, weight, gemm, mm) = (g[0], g[1], g[2], g[3]);
            println!(
                "{{\"shape\": \"{name}\", \"m\": {m}, \"k\": {k}, \"n\": {n}, \"threads\": {threads}, \"gflops\": {engine:.1}, \"weight_gflops\": {weight:.1}, \"gemm_crate_gflops\": {gemm:.1}, \"matrixmultiply_gflops\": {mm:.1}}}"
            );
        }
    }
}
