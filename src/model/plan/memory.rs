//! Peak-memory estimate of one prediction, from the configuration, the query length N, the MSA depth
//! (clusters S and extra rows E after AlphaFold2's sampling) and the chunk budget, by accounting for what
//! the engine holds at each step (f32 everywhere):
//!
//! * always: the weights (twice with ferrofold's GEMM kernel, on x86-64 with FMA, which keeps a packed
//!   copy of the weight matrices: see `gemm::Weight`), the processed inputs of every iteration, the pair representation
//!   and the recycled one of the previous iteration (`P = N²·c_z·4` bytes each), the main MSA
//!   representation (`M = S·N·c_m·4`) and the extra MSA (`X = E·N·c_e·4`);
//! * on top, the largest step's temporaries (every module adds its update in place, a block of rows
//!   or one line at a time, so none holds an update array): triangle multiplication (layer-normed
//!   pair, edge sums, projected chunks: 2P plus the chunks), transitions (the hidden-layer blocks in
//!   flight, one per worker thread), triangle attention (the layer-normed pair and the pair bias), column
//!   attention (per-task temporaries), row attention (the layer-normed pair, then the bias), the outer
//!   product mean (the layer-normed and projected MSA and each worker's block temporaries);
//! * structure module and heads: the pair, its layer-normed copy and the heads' pair-sized logits (3P).
//!
//! Tested against the measured peak RSS of `cargo bench --bench trunk` (which prints both).

use crate::model::params::config::ModelConfig;

const F32: u64 = 4;

/// What one prediction is expected to hold at its peak, bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryEstimate {
    pub weights: u64,
    /// The raw alignment as read from `features.h5` (rows, deletions, species ids) and its coded copy
    /// in the input pipeline: everything that grows with the rows *before* sampling.
    pub raw_msa: u64,
    /// Processed features of every iteration.
    pub inputs: u64,
    /// Representations alive throughout (recycled pair, main MSA; extra MSA during its stack).
    pub representations: u64,
    /// The largest single step's temporaries, including the chunks.
    pub largest_step: u64,
    /// Which step that is.
    pub largest_step_name: &'static str,
    /// Chunk budget the estimate assumes.
    pub chunk_budget: u64,
    pub total: u64,
}

/// The sizes a prediction runs at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    pub num_res: usize,
    /// MSA rows in the features file (before sampling).
    pub num_alignments: usize,
    /// Recycling iterations (recycles + 1); inputs are made for each.
    pub iterations: usize,
    /// Worker threads the prediction will run on (0: rayon's default, one per core); each holds a
    /// transition chunk.
    pub threads: usize,
    /// Templates in the features file (a template model sees at most 4).
    pub templates: usize,
}

impl Sizes {
    /// Clusters and extra rows after AlphaFold2's sampling (`max_msa_clusters`, `max_extra_msa`).
    pub fn msa_rows(&self, cfg: &ModelConfig) -> (usize, usize) {
        let s = self
            .num_alignments
            .clamp(1, cfg.input.max_msa_clusters.max(1));
        let e = self
            .num_alignments
            .saturating_sub(s)
            .min(cfg.input.max_extra_msa);
        (s, e)
    }

    /// Templates the model runs (AlphaFold2's `max_templates` = 4 for template models, else none).
    pub fn templates_seen(&self, cfg: &ModelConfig) -> usize {
        if cfg.evoformer.templates {
            self.templates.min(4)
        } else {
            0
        }
    }
}

/// Estimates the peak for `cfg` at `sizes` with `chunk_budget` bytes of chunked temporaries.
pub fn estimate(
    cfg: &ModelConfig,
    sizes: Sizes,
    weights_bytes: u64,
    chunk_budget: u64,
) -> MemoryEstimate {
    let n = sizes.num_res as u64;
    let (s, e) = sizes.msa_rows(cfg);
    let (s, e) = (s as u64, e as u64);
    let p = n * n * cfg.evoformer.pair_channel as u64 * F32;
    // Template models carry one MSA row per template (the torsion rows) below the clusters.
    let templates = sizes.templates_seen(cfg) as u64;
    let m = (s + templates) * n * cfg.evoformer.msa_channel as u64 * F32;
    let x = e * n * cfg.evoformer.extra_msa_channel as u64 * F32;
    // Per iteration: msa_feat (49 channels) and masks of the clusters, the extra rows' ints and floats.
    let inputs =
        sizes.iterations.max(1) as u64 * (s * n * (49 + 1) * F32 + e * n * 4 * F32 + n * 64);
    // The raw MSA: int32 rows and deletions as read, a species id per row (a String and its heap block,
    // read through HDF5's variable-length strings: ~96 bytes), and the
    // input pipeline's coded copy (int32 codes, f32 deletions) with its per-row index vectors; the
    // sampling's per-cluster temporaries (corrupted rows, BERT mask, profile and deletion sums).
    let rows = sizes.num_alignments.max(1) as u64;
    let raw_msa = rows * n * 8 + rows * 96 + rows * n * 8 + rows * 16 + s * n * (2 + 23 + 2) * F32;
    let c_tri = cfg.evoformer.triangle_multiplication_channels as u64;
    let tri_chunks = chunk_budget.min(2 * n * n * c_tri * F32);
    // A transition's output plus its chunks in flight: each row needs (factor + 2)·c floats; the rows
    // are cut into 4 chunks per worker, each at most cache-sized (8 MiB, or 256 rows if larger; see
    // `RuntimeOptions::rows_per_chunk`), one chunk per worker at a time.
    let workers = match sizes.threads {
        0 => rayon::current_num_threads(),
        t => t,
    } as u64;
    let transition = |rep: u64, c: u64| {
        let per_row = (cfg.evoformer.transition_factor as u64 + 2) * c * F32;
        let cache_chunk = (8u64 << 20).max(256 * per_row);
        chunk_budget
            .min(rep * (cfg.evoformer.transition_factor as u64 + 2) / 4)
            .min(workers * cache_chunk)
    };
    // The outer product mean: the layer-normed MSA, the two projections, and each busy worker's block
    // temporaries (the block's outer products and their rearranged copy, [b*c, N*c] each, and the
    // block's projected rows before they are added to the pair).
    let opm = |rows: u64, c: u64| {
        let co = cfg.evoformer.outer_product_channels as u64;
        let projected = 2 * rows * n * co * F32;
        let block = crate::model::net::evoformer::outer_product_mean::residue_block(
            rows as usize,
            n as usize,
            co as usize,
        ) as u64;
        let busy = workers.min(n.div_ceil(block).max(1));
        let per_task =
            2 * block * co * co * n * F32 + block * n * cfg.evoformer.pair_channel as u64 * F32;
        rows * n * c * F32 + projected + busy * per_task
    };
    // Per-head pair bias [H, N, N] of the attentions.
    let bias = n * n * cfg.evoformer.pair_heads.max(cfg.evoformer.msa_heads) as u64 * F32;
    // One attention's per-task temporaries over `rows` keys of `c` channels (projections, gate,
    // weighted values and result: 6 [rows, c]; the logits [rows, rows]), one per worker.
    let attention = |rows: u64, c: u64| workers * (6 * rows * c + rows * rows) * F32;
    let pair_steps = [
        ("triangle multiplication", 2 * p + tri_chunks),
        (
            "pair transition",
            transition(p, cfg.evoformer.pair_channel as u64),
        ),
        (
            "triangle attention",
            p + bias + attention(n, cfg.evoformer.pair_channel as u64),
        ),
    ];
    let mut steps: Vec<(&'static str, u64)> = pair_steps.to_vec();
    if e > 0 && cfg.evoformer.extra_msa_num_block > 0 {
        steps.push((
            "extra-MSA global column attention",
            attention(e, cfg.evoformer.extra_msa_channel as u64),
        ));
        steps.push((
            "extra-MSA transition",
            transition(x, cfg.evoformer.extra_msa_channel as u64),
        ));
        steps.push((
            "extra-MSA outer product mean",
            opm(e, cfg.evoformer.extra_msa_channel as u64) + x,
        ));
    }
    let c_m = cfg.evoformer.msa_channel as u64;
    steps.push(("MSA column attention", attention(s + templates, c_m)));
    steps.push(("MSA row attention", p + bias + attention(n, c_m)));
    steps.push((
        "MSA transition",
        transition(m, cfg.evoformer.msa_channel as u64),
    ));
    steps.push((
        "outer product mean",
        opm(s, cfg.evoformer.msa_channel as u64),
    ));
    steps.push(("structure module", 2 * p));
    // Templates (model_1/2): each template's pair stack runs at the template width with the finished
    // templates kept for the pointwise attention, which then adds its output beside them.
    if templates > 0 {
        let pt = n * n * cfg.evoformer.template.pair_channel as u64 * F32;
        let tri = chunk_budget
            .min(2 * n * n * c_tri.min(cfg.evoformer.template.pair_channel as u64) * F32);
        steps.push((
            "template pair stack",
            (templates - 1) * pt + (2 * pt + tri).max(3 * pt),
        ));
        steps.push(("template pointwise attention", templates * pt + p));
    }
    // The heads: the distogram's half logits and their symmetric sum, then beside them the PAE logits,
    // their softmax and the copy the outputs keep, and the outputs while the result file is written (all
    // [N, N, bins] f32). Measured by `cargo bench --bench memory`.
    let bins_d = cfg.heads.distogram_bins as u64;
    let bins_p = cfg.heads.pae_bins.unwrap_or(0) as u64;
    steps.push(("heads", n * n * (3 * bins_d + 4 * bins_p) * F32));
    let (name, largest) = steps
        .iter()
        .copied()
        .max_by_key(|&(_, b)| b)
        .expect("steps");
    // The pair and the recycled pair (zeros in the first iteration), the main MSA, and the extra MSA
    // (counted throughout: its stack runs with all of them alive).
    let representations = 2 * p + m + if e > 0 { x } else { 0 };
    // The program itself: code, HDF5, thread stacks, masks and other small arrays (measured: 30-40 MiB).
    const RUNTIME: u64 = 40 << 20;
    // Allocator slack: freed blocks below the mmap threshold stay in the heap (measured up to ~10 %).
    let weights = weights_bytes + crate::model::ops::gemm::packed_copy_bytes(weights_bytes);
    let total = RUNTIME + weights + raw_msa + inputs + (representations + largest) * 23 / 20;
    MemoryEstimate {
        weights,
        raw_msa,
        inputs,
        representations,
        largest_step: largest,
        largest_step_name: name,
        chunk_budget,
        total,
    }
}

/// The largest chunk budget, at most `max_chunk`, at which the estimate fits `budget`; the estimate at
/// the smallest chunk (`min_chunk`) when nothing fits.
pub fn fit(
    cfg: &ModelConfig,
    sizes: Sizes,
    weights_bytes: u64,
    budget: u64,
    max_chunk: u64,
) -> Result<MemoryEstimate, MemoryEstimate> {
    const MIN_CHUNK: u64 = 8 << 20;
    let mut chunk = max_chunk.max(MIN_CHUNK);
    loop {
        let est = estimate(cfg, sizes, weights_bytes, chunk);
        if est.total <= budget {
            return Ok(est);
        }
        if chunk <= MIN_CHUNK {
            return Err(est);
        }
        chunk = (chunk / 2).max(MIN_CHUNK);
    }
}

/// Makes glibc's allocator hand every allocation of 16 MiB or more straight back to the system when it is
/// freed. By default glibc raises its mmap threshold (up to 32 MiB) after large frees and then keeps
/// freed blocks resident, which inflated the trunk's peak RSS by up to a third. Measured on the trunk at
/// L = 128, 600 MSA rows, 2 + 1 blocks (`cargo bench --bench trunk`, `MALLOC_MMAP_THRESHOLD_` set to
/// compare): glibc's default 3.77 s / 457 MiB; 1 MiB 4.87 s / 311 MiB (page faults); 16 MiB 4.06 s /
/// 326 MiB; 16 MiB with a 32 MiB trim threshold (so the heap is not shrunk and regrown after every large
/// free) 3.70 s / 382 MiB — and at L = 64, 48 + 4 blocks as fast as glibc's default (3.75 s vs 3.74 s,
/// where the 16 MiB threshold alone took 5.14 s). Representations at real sizes are far larger than this.
/// The trim threshold is now 256 MiB: with 32 MiB the heap was still shrunk and refaulted between the
/// Evoformer's modules whenever their pair-sized temporaries were just under 16 MiB (L ≈ 150: 257 k page
/// faults and 0.6-0.7 s of system time in a 4.0 s trunk; with 256 MiB 48 k faults, 0.15 s, 3.6-3.8 s, the
/// same peak RSS; at L = 128, 600 rows, peak RSS 235 → 243 MiB; `perf stat -e page-faults` on
/// `cargo bench --bench trunk`, the thresholds set through glibc's variables).
/// A threshold the user set through glibc's own variable (`MALLOC_MMAP_THRESHOLD_`) is left alone.
pub fn return_large_allocations_to_the_system() {
    if std::env::var_os("FERROFOLD_NO_HUGEPAGES").is_some_and(|v| v != "0") {
        HUGE_PAGE_HINT.store(false, std::sync::atomic::Ordering::Relaxed);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: mallopt only changes allocator parameters; called before the heavy allocations.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 16 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
        }
    }
}

/// The global allocator of the `ferrofold` binary and the benchmarks: the system allocator, plus a
/// transparent-huge-page hint (`madvise(MADV_HUGEPAGE)`) on the whole 2 MiB pages inside every allocation
/// of 16 MiB or more (the representations and their temporaries, which glibc maps fresh from the kernel
/// for each allocation, see [`return_large_allocations_to_the_system`]). First touching a fresh 512 MiB
/// MSA temporary page by page cost ~8 % of the trunk's time in page faults (perf, L = 256, 512 rows);
/// with 2 MiB pages that is 512 times fewer faults, and fewer TLB misses in the GEMMs. Kernels whose THP
/// mode is `never` ignore the hint; `FERROFOLD_NO_HUGEPAGES=1` turns it off.
pub struct LargePageHint;

static HUGE_PAGE_HINT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Allocations from this size up get the hint.
const HINT_MIN_BYTES: usize = 16 << 20;

fn hint_large_pages(ptr: *mut u8, size: usize) {
    #[cfg(target_os = "linux")]
    if !ptr.is_null()
        && size >= HINT_MIN_BYTES
        && HUGE_PAGE_HINT.load(std::sync::atomic::Ordering::Relaxed)
    {
        const HUGE: usize = 2 << 20;
        let start = (ptr as usize).next_multiple_of(HUGE);
        let end = (ptr as usize + size) / HUGE * HUGE;
        if end > start {
            // SAFETY: the range lies inside the allocation just made; MADV_HUGEPAGE only changes how the
            // kernel backs it, never its contents. A failure (EINVAL on kernels without THP) is harmless.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (ptr, size);
}

// SAFETY: every call is forwarded to the system allocator unchanged; the hint does not touch memory.
unsafe impl std::alloc::GlobalAlloc for LargePageHint {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let p = std::alloc::System.alloc(layout);
        hint_large_pages(p, layout.size());
        p
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        let p = std::alloc::System.alloc_zeroed(layout);
        hint_large_pages(p, layout.size());
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        std::alloc::System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        let p = std::alloc::System.realloc(ptr, layout, new_size);
        hint_large_pages(p, new_size);
        p
    }
}

/// Memory this process may use: the smaller of `MemAvailable` (/proc/meminfo) and a cgroup v2 limit
/// (`memory.max` minus `memory.current`), where they can be read.
pub(crate) fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        t.lines()
            .find(|l| l.starts_with("MemAvailable:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map(|kib| kib * 1024)
    });
    let read = |f: &str| {
        std::fs::read_to_string(format!("/sys/fs/cgroup/{f}"))
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
    };
    let cgroup = match (read("memory.max"), read("memory.current")) {
        (Some(max), Some(cur)) => Some(max.saturating_sub(cur)),
        _ => None,
    };
    match (meminfo, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Bytes as GiB with one decimal (MiB below 1 GiB), for messages.
pub(crate) fn human(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
    } else {
        format!("{:.0} MiB", bytes as f64 / (1u64 << 20) as f64)
    }
}

impl MemoryEstimate {
    /// One line: the total and its parts.
    pub fn describe(&self) -> String {
        format!(
            "{} (weights {}, raw MSA {}, inputs {}, representations {}, largest step: {} {}, chunks of {})",
            human(self.total),
            human(self.weights),
            human(self.raw_msa),
            human(self.inputs),
            human(self.representations),
            self.largest_step_name,
            human(self.largest_step),
            human(self.chunk_budget)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(n: usize, depth: usize) -> Sizes {
        Sizes {
            num_res: n,
            num_alignments: depth,
            iterations: 4,
            threads: 2,
            templates: 0,
        }
    }

    #[test]
    fn counts_a_transition_chunk_per_worker_thread_of_the_run() {
        let cfg = ModelConfig::model_1_ptm();
        let at = |threads| {
            let sizes = Sizes {
                threads,
                ..sizes(128, 1024)
            };
            estimate(&cfg, sizes, 0, 1 << 30)
        };
        let (few, many) = (at(1), at(64));
        assert!(
            many.total > few.total,
            "{} vs {}",
            many.describe(),
            few.describe()
        );
        // Each busy worker holds a transition chunk, an outer product mean block or one column's attention
        // temporaries: with 64 of them one of those steps is the largest.
        assert!(
            [
                "MSA transition",
                "outer product mean",
                "MSA column attention"
            ]
            .contains(&many.largest_step_name),
            "{}",
            many.largest_step_name
        );
    }

    #[test]
    fn grows_with_length_squared_and_depth() {
        let cfg = ModelConfig::model_1_ptm();
        let a = estimate(&cfg, sizes(256, 32), 0, 1 << 30);
        let b = estimate(&cfg, sizes(512, 32), 0, 1 << 30);
        assert!(b.total > 3 * a.total, "{a:?} {b:?}");
        let deep = estimate(&cfg, sizes(256, 5000), 0, 1 << 30);
        assert!(deep.total > a.total);
        assert_eq!(sizes(256, 5000).msa_rows(&cfg), (508, 4492));
        assert_eq!(sizes(256, 20_000).msa_rows(&cfg), (508, 5120));
    }

    #[test]
    fn fitting_shrinks_chunks_before_refusing() {
        let mut cfg = ModelConfig::model_1_ptm();
        // Without the PAE head, at 300 residues the triangle multiplication's chunks are the largest step.
        cfg.heads.pae_bins = None;
        let s = sizes(300, 100);
        let roomy = fit(&cfg, s, 0, 64 << 30, 1 << 30).unwrap();
        assert_eq!(roomy.chunk_budget, 1 << 30);
        // Just above the smallest-chunk estimate: fits with smaller chunks.
        let least = estimate(&cfg, s, 0, 8 << 20).total;
        let tight = fit(&cfg, s, 0, least + (1 << 20), 1 << 30).unwrap();
        assert!(tight.chunk_budget < 1 << 30 && tight.total <= least + (1 << 20));
        // Below it: refused, with the numbers.
        let refused = fit(&cfg, s, 0, least - 1, 1 << 30).unwrap_err();
        assert_eq!(refused.total, least);
        assert!(refused.describe().contains("largest step"));
    }

    #[test]
    fn available_memory_is_read_here() {
        assert!(available_memory().is_some_and(|b| b > 0));
    }
}
