//! Floating-point operations of one prediction, counted from the configuration and the sizes: every
//! matrix product (2·m·n·k) of the extra-MSA stack (Alg. 18-19), the Evoformer (Alg. 6-15) and the
//! structure module (Alg. 20-22), per iteration. Element-wise work (layer norms, softmax, gates) is left
//! out: it is memory-bound and small next to the products. Used to report achieved GFLOP/s (and, with a
//! measured GEMM ceiling, the fraction of the machine's peak) in the benchmarks.

use crate::model::params::config::ModelConfig;

/// FLOPs of the parts of one iteration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flops {
    /// The template module (model_1/2 with templates): pair stacks, pointwise attention, torsion rows.
    pub templates: f64,
    pub extra_msa_stack: f64,
    pub evoformer: f64,
    pub structure_module: f64,
}

impl Flops {
    pub fn total(&self) -> f64 {
        self.templates + self.extra_msa_stack + self.evoformer + self.structure_module
    }
}

/// Gated self-attention over `len` positions of `rows` rows: q, k, v, gate and output projections from
/// `c` channels with `heads`×`d` per head, logits and the weighted sum.
fn attention(rows: f64, len: f64, c: f64, heads: f64, d: f64) -> f64 {
    let proj = 2.0 * rows * len * c * heads * d * 4.0 + 2.0 * rows * len * heads * d * c;
    let attend = 2.0 * 2.0 * rows * heads * len * len * d;
    proj + attend
}

/// The pair part of a block (outer product mean output, triangle updates, pair transition) plus the
/// outer product mean over `rows` MSA rows of `c_msa` channels.
fn pair_part(cfg: &ModelConfig, n: f64, rows: f64, c_msa: f64) -> f64 {
    let cz = cfg.evoformer.pair_channel as f64;
    let co = cfg.evoformer.outer_product_channels as f64;
    let ct = cfg.evoformer.triangle_multiplication_channels as f64;
    let hz = cfg.evoformer.pair_heads as f64;
    let dz = cz / hz;
    let opm = 2.0 * 2.0 * rows * n * c_msa * co
        + 2.0 * n * n * rows * co * co
        + 2.0 * n * n * co * co * cz;
    let tri_mult = 2.0
        * (4.0 * 2.0 * n * n * cz * ct
            + 2.0 * n * n * n * ct
            + 2.0 * n * n * ct * cz
            + 2.0 * n * n * cz * cz);
    let tri_att = 2.0 * (attention(n, n, cz, hz, dz) + 2.0 * n * n * cz * hz);
    let transition = 2.0 * 2.0 * n * n * cz * cfg.evoformer.transition_factor as f64 * cz;
    opm + tri_mult + tri_att + transition
}

/// FLOPs of one iteration at `n` residues with `clusters` MSA rows, `extra` extra rows and `templates`
/// templates run (0 for models without the template module).
pub fn per_iteration(
    cfg: &ModelConfig,
    n: usize,
    clusters: usize,
    extra: usize,
    templates: usize,
) -> Flops {
    let (n, s, e) = (n as f64, clusters as f64, extra as f64);
    let t = if cfg.evoformer.templates {
        templates as f64
    } else {
        0.0
    };
    // Template pair stack (Alg. 16) at width c_t: triangle multiplications (c_t channels), triangle
    // attentions, a 2× transition; then the pointwise attention (Alg. 17: query from c_z, keys and values
    // from c_t, output back to c_z) and the torsion rows (57 → c_m → c_m).
    let c_t = cfg.evoformer.template.pair_channel as f64;
    let h_t = cfg.evoformer.template.heads as f64;
    let template_block = 2.0
        * (4.0 * 2.0 * n * n * c_t * c_t
            + 2.0 * n * n * n * c_t
            + 2.0 * n * n * c_t * c_t
            + 2.0 * n * n * c_t * c_t)
        + 2.0 * (attention(n, n, c_t, h_t, c_t / h_t) + 2.0 * n * n * c_t * h_t)
        + 2.0 * 2.0 * n * n * c_t * 2.0 * c_t;
    let cm_ = cfg.evoformer.msa_channel as f64;
    let cz_ = cfg.evoformer.pair_channel as f64;
    let templates_flops = t
        * (2.0 * n * n * 88.0 * c_t
            + template_block * cfg.evoformer.template.pair_blocks as f64
            + 2.0 * 2.0 * n * n * c_t * c_t
            + 2.0 * 2.0 * n * n * c_t
            + 2.0 * n * (57.0 * cm_ + cm_ * cm_))
        + if t > 0.0 {
            2.0 * 2.0 * n * n * cz_ * c_t
        } else {
            0.0
        };
    let cm = cfg.evoformer.msa_channel as f64;
    let ce = cfg.evoformer.extra_msa_channel as f64;
    let cz = cfg.evoformer.pair_channel as f64;
    let h = cfg.evoformer.msa_heads as f64;
    let tf = cfg.evoformer.transition_factor as f64;
    let evo_block = attention(s, n, cm, h, cm / h)
        + 2.0 * n * n * cz * h
        + attention(n, s, cm, h, cm / h)
        + 2.0 * 2.0 * s * n * cm * tf * cm
        + pair_part(cfg, n, s, cm);
    // Global column attention: one query per column, keys and values shared by the heads.
    let de = ce / h;
    let global = 2.0 * e * n * (ce * de * 2.0 + ce * ce * 2.0) + 2.0 * 2.0 * n * h * e * de;
    // Without extra rows the stack still runs its pair part (the trunk always runs it; the MSA terms
    // are then zero).
    let extra_block = attention(e, n, ce, h, de)
        + 2.0 * n * n * cz * h
        + global
        + 2.0 * 2.0 * e * n * ce * tf * ce
        + pair_part(cfg, n, e, ce);
    let cs = cfg.structure_module.channel as f64;
    let hi = cfg.structure_module.ipa_heads as f64;
    let qk =
        cfg.structure_module.ipa_scalar_qk as f64 + 3.0 * cfg.structure_module.ipa_point_qk as f64;
    let v =
        cfg.structure_module.ipa_scalar_v as f64 + 3.0 * cfg.structure_module.ipa_point_v as f64;
    let ipa = 2.0 * n * cs * hi * (2.0 * qk + v)
        + 2.0 * n * n * hi * (qk + cz + v)
        + 2.0 * n * n * cz * hi
        + 2.0 * n * hi * (v + cz) * cs;
    let sm_transition = cfg.structure_module.transition_layers as f64 * 2.0 * n * cs * cs;
    Flops {
        templates: templates_flops,
        extra_msa_stack: extra_block * cfg.evoformer.extra_msa_num_block as f64,
        evoformer: evo_block * cfg.evoformer.num_block as f64,
        structure_module: cfg.structure_module.layers as f64 * (ipa + sm_transition),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_as_the_algorithms_do() {
        let cfg = ModelConfig::model_1_ptm();
        let a = per_iteration(&cfg, 128, 32, 0, 0);
        let b = per_iteration(&cfg, 256, 32, 0, 0);
        // Triangle updates are cubic in N, pair work quadratic, MSA work linear: between 2x and 8x.
        let r = b.evoformer / a.evoformer;
        assert!(r > 3.0 && r < 8.0, "{r}");
        // No extra rows: only the extra stack's pair part, which an Evoformer block also has.
        assert!(a.extra_msa_stack > 0.0 && a.extra_msa_stack < a.evoformer / 4.0);
        let deep = per_iteration(&cfg, 128, 508, 5120, 0);
        assert!(deep.extra_msa_stack > deep.evoformer * 0.1);
        // model_1_ptm at N = 256, 512 rows: about 600 GFLOP per Evoformer block, 29 TFLOP an iteration.
        let t = per_iteration(&cfg, 256, 508, 4, 0).total();
        assert!(t > 2e13 && t < 4e13, "{t:e}");
    }
}
