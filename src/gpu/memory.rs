//! Peak GPU memory of one prediction on the GPU engine, estimated from the sizes before any work, by
//! following what [`super::evoformer`] allocates step by step (f32 tensors; `Gpu::zeros` is the only
//! allocator, and [`super::Gpu::peak_bytes`] measures the same quantity):
//!
//! * the weights the stacks upload, once per prediction and kept to its end: every parameter of the
//!   Evoformer, the extra-MSA stack and the template pair stack, and the structure module's pair-bias
//!   projection;
//! * the largest of the phases, which never overlap — each template's pair stack, the extra-MSA stack,
//!   the Evoformer (each: its activations and masks, plus its largest module's temporaries, the
//!   attentions, the transitions and the outer product mean chunked as the engine chunks them against
//!   the binding limit), and the structure module's pair terms.
//!
//! Tested against the measured peak on a real adapter (`tests/it/gpu_parity.rs`).

use crate::model::params::config::ModelConfig;
use crate::model::params::weights::Weights;

const F32: u64 = 4;

/// The sizes the GPU engine runs at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuSizes {
    pub res: usize,
    /// Evoformer MSA rows (clusters, plus one row per template in template models).
    pub msa_rows: usize,
    pub extra_rows: usize,
    /// Templates whose pair stack runs.
    pub templates: usize,
}

impl GpuSizes {
    /// The sizes a prediction planned with `sizes` runs at (clusters, plus one row per template seen,
    /// and extra rows after AlphaFold2's sampling): upper bounds of what its inputs will hold.
    pub fn planned(cfg: &ModelConfig, sizes: &crate::model::plan::memory::Sizes) -> Self {
        let (clusters, extra_rows) = sizes.msa_rows(cfg);
        let templates = sizes.templates_seen(cfg);
        Self {
            res: sizes.num_res,
            msa_rows: clusters + templates,
            extra_rows,
            templates,
        }
    }
}

/// What the GPU engine is expected to hold at its peak, bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuEstimate {
    pub weights: u64,
    /// The largest phase: its activations and its largest step's temporaries.
    pub activations: u64,
    /// That phase's largest step.
    pub step: &'static str,
    pub total: u64,
}

impl GpuEstimate {
    /// One line: the total and its parts.
    pub fn describe(&self) -> String {
        use crate::model::plan::memory::human;
        format!(
            "{} (weights {}, activations {}, largest step: {})",
            human(self.total),
            human(self.weights),
            human(self.activations),
            self.step
        )
    }
}

/// Bytes of the parameters the GPU engine uploads (see the module documentation); the template pair
/// stack's only when templates run.
pub fn stack_weight_bytes(weights: &Weights, templates: bool) -> u64 {
    const STACKS: [&str; 3] = [
        "/evoformer_iteration/",
        "/extra_msa_stack/",
        "/attention_2d/",
    ];
    // The monomers' and AlphaFold-Multimer's names of the template pair stack.
    const TEMPLATE_STACK: [&str; 2] = ["/template_pair_stack/", "/template_embedding_iteration/"];
    let on_gpu = |name: &str| {
        STACKS.iter().any(|p| name.contains(p))
            || (templates && TEMPLATE_STACK.iter().any(|p| name.contains(p)))
    };
    weights
        .tensors
        .iter()
        .filter(|(name, _)| on_gpu(name))
        .map(|(_, t)| t.len() as u64 * F32)
        .sum()
}

/// Rows per chunk as the engine cuts them: `bytes_per_row` of temporaries each, a quarter of the
/// binding limit (at most 1 GiB) per chunk.
pub(super) fn rows_per_chunk(binding_bytes: u64, rows: usize, bytes_per_row: usize) -> usize {
    let budget = (binding_bytes / 4).min(1 << 30) as usize;
    (budget / bytes_per_row.max(1)).clamp(1, rows.max(1))
}

/// Elements of a gated self-attention at its peak over the layer-normed rows `x` (`batch` entries of
/// `n` positions, width `c`; kept): per chunk of entries, q, k, v and the weighted values (`H·d = c`
/// each) alive together, then the weighted values and the gate.
pub fn attention_elements(batch: u64, n: u64, c: u64, binding_bytes: u64) -> u64 {
    let per_entry = super::evoformer::attention_bytes_per_entry(n as usize, c as usize, c as usize);
    let chunk = rows_per_chunk(binding_bytes, batch as usize, per_entry) as u64;
    batch * n * c + 4 * chunk * n * c
}

/// One stack's activations (`seqs` MSA rows of `c_m`, or none for the template pair stack, and the pair
/// of `c_z`) and the widths of its modules.
struct Stack {
    seqs: u64,
    c_m: u64,
    c_z: u64,
    msa_heads: u64,
    /// `None`: no MSA modules (template pair stack); `Some(true)`: global column attention.
    msa: Option<bool>,
    outer_channels: u64,
    pair_heads: u64,
    tri_channels: u64,
    transition_factor: u64,
}

/// Elements alive at a stack's peak, and that step's name.
fn stack_peak(s: &Stack, res: u64, binding_bytes: u64) -> (u64, &'static str) {
    let rr = res * res;
    let sr = s.seqs * res;
    // The activations and their masks (a template pair stack allocates one-value stand-ins for the MSA
    // and its mask).
    let state = match s.msa {
        Some(_) => sr * s.c_m + rr * s.c_z + sr + rr,
        None => rr * s.c_z + rr + 2,
    };
    let transition = |rows: u64, c: u64| {
        let per_row = c * (1 + s.transition_factor);
        let chunk = rows_per_chunk(binding_bytes, rows as usize, (per_row * F32) as usize) as u64;
        chunk * per_row
    };
    let attention = |batch: u64, n: u64, c: u64| attention_elements(batch, n, c, binding_bytes);
    let mut steps: Vec<(&'static str, u64)> = vec![
        (
            "triangle multiplication",
            // Layer-normed pair, both gated projections (one gate in flight) and the product; later
            // the normed product, the output and its gate.
            rr * (s.c_z + 3 * s.tri_channels)
                .max(2 * s.c_z + s.tri_channels)
                .max(3 * s.c_z),
        ),
        (
            // The layer-normed pair, its per-head bias and the attention's tensors.
            "triangle attention",
            rr * s.pair_heads + attention(res, res, s.c_z),
        ),
        ("pair transition", transition(rr, s.c_z)),
    ];
    if let Some(global) = s.msa {
        let (c, h) = (s.c_m, s.msa_heads);
        // Row attention: first the layer-normed pair and its bias, then the bias with the attention.
        let row = (rr * (s.c_z + h)).max(rr * h + attention(s.seqs, res, c));
        let column = if global {
            // Alg. 19: normed MSA, per-column mean and query, shared keys and values (`d = c/H` wide),
            // later the gate (`H·d`).
            let d = c / h.max(1);
            sr * (c + 2 * d).max(c + h * d) + res * (c + h * d)
        } else {
            attention(res, s.seqs, c)
        };
        let co = s.outer_channels;
        // Normed MSA and both projections; then the projections, the mask norm and one residue
        // chunk's outer products with their permuted copy.
        let ib = rows_per_chunk(
            binding_bytes,
            res as usize,
            (2 * co * res * co * F32) as usize,
        ) as u64;
        let opm = (sr * (c + 2 * co)).max(2 * sr * co + rr + 2 * ib * co * co * res);
        steps.extend([
            ("MSA row attention", row),
            (
                if global {
                    "MSA global column attention"
                } else {
                    "MSA column attention"
                },
                column,
            ),
            ("MSA transition", transition(sr, c)),
            ("outer product mean", opm),
        ]);
    }
    let (name, temporaries) = steps
        .into_iter()
        .max_by_key(|&(_, e)| e)
        .expect("pair steps");
    (state + temporaries, name)
}

/// Estimates the GPU engine's peak for `cfg` at `sizes`, with `weights_bytes` from
/// [`stack_weight_bytes`] and the adapter's binding limit (it sets the chunk sizes).
pub fn estimate(
    cfg: &ModelConfig,
    sizes: GpuSizes,
    weights_bytes: u64,
    binding_bytes: u64,
) -> GpuEstimate {
    let e = &cfg.evoformer;
    let res = sizes.res as u64;
    let trunk = |seqs: usize, c_m: usize, global: bool| Stack {
        seqs: seqs as u64,
        c_m: c_m as u64,
        c_z: e.pair_channel as u64,
        msa_heads: e.msa_heads as u64,
        msa: Some(global),
        outer_channels: e.outer_product_channels as u64,
        pair_heads: e.pair_heads as u64,
        tri_channels: e.triangle_multiplication_channels as u64,
        transition_factor: e.transition_factor as u64,
    };
    // The extra-MSA stack runs its pair part even without extra rows.
    let mut phases = vec![
        stack_peak(
            &trunk(sizes.msa_rows, e.msa_channel, false),
            res,
            binding_bytes,
        ),
        stack_peak(
            &trunk(sizes.extra_rows, e.extra_msa_channel, true),
            res,
            binding_bytes,
        ),
    ];
    if e.templates && sizes.templates > 0 {
        let t = &e.template;
        let stack = Stack {
            seqs: 0,
            c_m: 0,
            c_z: t.pair_channel as u64,
            msa_heads: 0,
            msa: None,
            outer_channels: 0,
            pair_heads: t.heads as u64,
            tri_channels: t.triangle_channels() as u64,
            // AlphaFold2's template pair transition is 2× wide (both model families).
            transition_factor: 2,
        };
        phases.push(stack_peak(&stack, res, binding_bytes));
    }
    // The structure module: the layer-normed pair, and either IPA's pair bias (downloaded) or the
    // attention weights uploaded with their product over the pair.
    let (c_z, h) = (e.pair_channel as u64, cfg.structure_module.ipa_heads as u64);
    phases.push((
        res * res * c_z + (res * res * h).max(h * res * res + res * h * c_z),
        "structure module pair terms",
    ));
    let (elements, step) = phases.into_iter().max_by_key(|&(e, _)| e).expect("phases");
    let activations = elements * F32;
    GpuEstimate {
        weights: weights_bytes,
        activations,
        step,
        total: weights_bytes + activations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(res: usize, msa_rows: usize, extra_rows: usize) -> GpuSizes {
        GpuSizes {
            res,
            msa_rows,
            extra_rows,
            templates: 4,
        }
    }

    /// AlphaFold2's model_1_ptm at the GPU benchmark's sizes: the MSA row attention (the normed MSA and
    /// the pair bias, plus one chunk's q, k, v and weighted values) is the largest step of a deep MSA
    /// up to L = 512, the triangle multiplication (its unchunked `[R², 3·128]` projections) beyond;
    /// more residues or rows never need less; a small binding limit chunks.
    #[test]
    fn full_model_estimates_grow_with_the_query() {
        let cfg = ModelConfig::model_1_ptm();
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        let mut last = 0;
        for res in [256, 512, 1000] {
            let est = estimate(&cfg, sizes(res, 512 + 4, 1024), 0, 4 << 30);
            eprintln!("L = {res}: {:.2} GiB, {}", gib(est.total), est.step);
            assert!(est.total > last);
            last = est.total;
            if res == 1000 {
                // The pair, its normed copy and the three channel-major projections ([R², 128] each,
                // 2.4 GiB), with the MSA.
                assert_eq!(est.step, "triangle multiplication");
                assert!(
                    gib(est.total) > 2.7 && gib(est.total) < 3.0,
                    "{}",
                    gib(est.total)
                );
            } else {
                assert_eq!(est.step, "MSA row attention");
            }
        }
        // Before the attentions ran in chunks the MSA row attention held 5x the MSA at once: 3.8 GiB
        // in all at L = 1,000, and 7.9 GiB with 5,120 extra rows (the extra-MSA stack's row attention).
        // Now the chunks hold at most a quarter of the binding limit, and the largest step with 5,120
        // extra rows is the global column attention (the normed extra MSA and its gate, unchunked).
        let deep_extra = estimate(&cfg, sizes(1000, 512 + 4, 5120), 0, 4 << 30);
        eprintln!(
            "L = 1000, 5,120 extra rows: {:.2} GiB, {}",
            gib(deep_extra.total),
            deep_extra.step
        );
        assert_eq!(deep_extra.step, "MSA global column attention");
        assert!(gib(deep_extra.total) < 4.5, "{}", gib(deep_extra.total));
        let shallow_long = estimate(&cfg, sizes(1000, 36, 0), 0, 4 << 30);
        assert_eq!(shallow_long.step, "triangle multiplication");
        let shallow = estimate(&cfg, sizes(512, 32, 0), 0, 4 << 30);
        let deep = estimate(&cfg, sizes(512, 512, 5120), 0, 4 << 30);
        assert!(deep.total > shallow.total);
        // A small binding limit makes the chunks, not the sizes, bound the transitions.
        let small = estimate(&cfg, sizes(512, 512, 1024), 0, 64 << 20);
        let large = estimate(&cfg, sizes(512, 512, 1024), 0, 4 << 30);
        assert!(small.total <= large.total);
    }
}
