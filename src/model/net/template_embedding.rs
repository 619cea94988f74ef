//! The template module of model_1 and model_2: Jumper et al. (2021) Suppl. Alg. 2 lines 7-13 — the
//! template pair features (Suppl. Table 1), the template pair stack (Alg. 16 "TemplatePairStack"), the
//! pointwise attention from the pair representation to the templates (Alg. 17
//! "TemplatePointwiseAttention"), and the template torsion-angle features embedded as extra MSA rows
//! (Alg. 2 lines 7-8, `embed_torsion_angles`).
//!
//! AlphaFold2 pads the templates to `max_templates` with masked ones; ferrofold runs only the real
//! templates (see [`TemplateInputs`]); with none the module adds nothing, as in AlphaFold2 (the embedding
//! is multiplied by `sum(template_mask) > 0` and every template row is masked).

use ndarray::{s, Array2, Array3, Axis};
use rayon::prelude::*;

use crate::model::input::trunk_inputs::TemplateInputs;
use crate::model::net::embedders::pseudo_beta;
use crate::model::ops::gemm::matmul_w;
use crate::model::ops::primitives::{Attention, AttentionDims, LayerNorm, Linear};
use crate::model::ops::torsions::atom37_to_torsion_angles;
use crate::model::params::config::{ModelConfig, RuntimeOptions};
use crate::model::params::weights::{Scope, WeightError};

/// Template angle features (Suppl. Table 1: 22 residue classes, 14 torsion sin/cos, 14 alternative
/// sin/cos, 7 torsion masks).
pub const TEMPLATE_ANGLE_FEAT_CHANNELS: usize = 57;
/// Template pair features (Suppl. Table 1: distogram 39, mask 1, residue classes 22 + 22, unit vector 3,
/// backbone mask 1; AlphaFold2's `dgram_features` layout).
pub const TEMPLATE_PAIR_FEAT_CHANNELS: usize = 88;

/// One block of the template pair stack (Alg. 16): triangle updates and a transition at the template
/// pair width.
#[derive(Debug, Clone)]
pub struct TemplatePairBlock<'w> {
    pub triangle_multiplication_outgoing:
        crate::model::net::evoformer::triangle_multiplication::TriangleMultiplication<'w>,
    pub triangle_multiplication_incoming:
        crate::model::net::evoformer::triangle_multiplication::TriangleMultiplication<'w>,
    pub triangle_attention_starting_node:
        crate::model::net::evoformer::triangle_attention::TriangleAttention<'w>,
    pub triangle_attention_ending_node:
        crate::model::net::evoformer::triangle_attention::TriangleAttention<'w>,
    pub pair_transition: crate::model::net::evoformer::transition::Transition<'w>,
    /// AlphaFold-Multimer's order (triangle multiplications first) and fused parameters.
    pub multimer: bool,
}

impl<'w> TemplatePairBlock<'w> {
    /// One block of the template pair stack of `cfg`'s kind at the template pair width.
    pub(crate) fn load(b: &Scope<'w>, cfg: &ModelConfig) -> Result<Self, WeightError> {
        use crate::model::net::evoformer::{
            transition::Transition,
            triangle_attention::{Node, TriangleAttention},
            triangle_multiplication::{Direction, TriangleMultiplication},
        };
        let t = &cfg.evoformer.template;
        let (tc, th, tri) = (t.pair_channel, t.heads, t.triangle_channels());
        let multimer = cfg.kind == crate::model::params::config::ModelKind::Multimer;
        let tri_mult = |name: &str, d: Direction| {
            TriangleMultiplication::load_for(cfg.kind, &b.sub(name), d, tc, tri)
        };
        Ok(Self {
            triangle_multiplication_outgoing: tri_mult(
                "triangle_multiplication_outgoing",
                Direction::Outgoing,
            )?,
            triangle_multiplication_incoming: tri_mult(
                "triangle_multiplication_incoming",
                Direction::Incoming,
            )?,
            triangle_attention_starting_node: TriangleAttention::load(
                &b.sub("triangle_attention_starting_node"),
                Node::Starting,
                tc,
                th,
            )?,
            triangle_attention_ending_node: TriangleAttention::load(
                &b.sub("triangle_attention_ending_node"),
                Node::Ending,
                tc,
                th,
            )?,
            pair_transition: Transition::load(&b.sub("pair_transition"), tc, 2)?,
            multimer,
        })
    }
}

/// Everything below `evoformer/template_*`.
#[derive(Debug, Clone)]
pub struct TemplateEmbedding<'w> {
    /// Distogram of the template pseudo-β distances: (min, max, bins) of the lower bin edges
    /// (AlphaFold2's `dgram_features`: 3.25 Å, 50.75 Å, 39).
    pub dgram: (f32, f32, usize),
    pub template_single_embedding: Linear<'w>,
    pub template_projection: Linear<'w>,
    pub pointwise_attention: Attention<'w>,
    pub embedding2d: Linear<'w>,
    pub pair_stack: Vec<TemplatePairBlock<'w>>,
    pub output_layer_norm: LayerNorm<'w>,
}

impl<'w> TemplateEmbedding<'w> {
    /// Below the `evoformer` scope.
    pub fn load(evo: &Scope<'w>, cfg: &ModelConfig) -> Result<Self, WeightError> {
        let (c_m, c_z, tc, th) = (
            cfg.evoformer.msa_channel,
            cfg.evoformer.pair_channel,
            cfg.evoformer.template.pair_channel,
            cfg.evoformer.template.heads,
        );
        let t = evo.sub("template_embedding");
        let single = t.sub("single_template_embedding");
        let stack = single
            .sub("template_pair_stack/__layer_stack_no_state")
            .stacked(cfg.evoformer.template.pair_blocks);
        let pair_stack = (0..cfg.evoformer.template.pair_blocks)
            .map(|i| TemplatePairBlock::load(&stack.layer(i), cfg))
            .collect::<Result<_, WeightError>>()?;
        Ok(Self {
            dgram: (3.25, 50.75, 39),
            template_single_embedding: Linear::load(
                &evo.sub("template_single_embedding"),
                TEMPLATE_ANGLE_FEAT_CHANNELS,
                c_m,
            )?,
            template_projection: Linear::load(&evo.sub("template_projection"), c_m, c_m)?,
            pointwise_attention: Attention::load(
                &t.sub("attention"),
                AttentionDims {
                    c_q: c_z,
                    c_kv: tc,
                    heads: th,
                    key_dim: tc / th,
                    value_dim: tc / th,
                    c_out: c_z,
                    gating: false,
                },
            )?,
            embedding2d: Linear::load(&single.sub("embedding2d"), TEMPLATE_PAIR_FEAT_CHANNELS, tc)?,
            pair_stack,
            output_layer_norm: LayerNorm::load(&single.sub("output_layer_norm"), tc)?,
        })
    }
}

/// Squared lower and upper bin edges of a distogram with `bins` lower edges evenly spaced from `min` to
/// `max` Å; the last bin is open (upper edge 1e8), as AlphaFold2's `dgram_from_positions`.
pub(crate) fn dgram_edges(min: f32, max: f32, bins: usize) -> (Vec<f32>, Vec<f32>) {
    let lower: Vec<f32> = (0..bins)
        .map(|k| {
            let e = min + (max - min) * k as f32 / (bins - 1) as f32;
            e * e
        })
        .collect();
    let upper = lower[1..]
        .iter()
        .copied()
        .chain(std::iter::once(1e8))
        .collect();
    (lower, upper)
}

/// The bin of squared distance `d2` (strictly inside one bin), if any.
pub(crate) fn dgram_bin(d2: f32, lower: &[f32], upper: &[f32]) -> Option<usize> {
    (0..lower.len()).find(|&k| d2 > lower[k] && d2 < upper[k])
}

/// The template pair stack (Alg. 16) on one template's `act`, in place: on the runtime's stack backend
/// when it takes it, else block by block here.
pub(crate) fn run_pair_stack(
    blocks: &[TemplatePairBlock],
    act: &mut Array3<f32>,
    pair_mask: &Array2<f32>,
    rt: &RuntimeOptions,
) {
    if let Some(runner) = &rt.stack_runner {
        if runner.0.template_pair_stack(blocks, act, pair_mask, rt) {
            return;
        }
    }
    for block in blocks {
        block.forward(act, pair_mask, rt);
    }
}

impl TemplatePairBlock<'_> {
    /// One block of Alg. 16, in AlphaFold2's monomer order: triangle attention (starting, ending node),
    /// then triangle multiplication (outgoing, incoming), then the transition. AlphaFold-Multimer's
    /// `TemplateEmbeddingIteration` runs the two multiplications first.
    pub fn forward(&self, act: &mut Array3<f32>, pair_mask: &Array2<f32>, rt: &RuntimeOptions) {
        let mask = pair_mask.view();
        let multiplications = |act: &mut Array3<f32>| {
            self.triangle_multiplication_outgoing.add_to(act, mask, rt);
            self.triangle_multiplication_incoming.add_to(act, mask, rt);
        };
        if self.multimer {
            multiplications(act);
        }
        self.triangle_attention_starting_node.add_to(act, mask);
        self.triangle_attention_ending_node.add_to(act, mask);
        if !self.multimer {
            multiplications(act);
        }
        self.pair_transition.add_to(act, rt);
    }
}

impl TemplateEmbedding<'_> {
    /// Template pair features of template `t` (Suppl. Table 1, AlphaFold2's `SingleTemplateEmbedding`
    /// channel order: pseudo-β distogram 39, pseudo-β pair mask 1, residue type of j 22, of i 22, unit
    /// vector 3, backbone pair mask 1; everything times the backbone pair mask) through `embedding2d`:
    /// `[N, N, c_t]`, one row of i at a time.
    ///
    /// The unit vector is zero: AlphaFold2's monomer models have `use_template_unit_vector = False`.
    pub fn embed_pair_features(&self, x: &TemplateInputs, t: usize) -> Array3<f32> {
        let n = x.aatype.ncols();
        let aatype: Vec<i32> = x.aatype.row(t).to_vec();
        let pos = x.all_atom_positions.index_axis(Axis(0), t);
        let mask = x.all_atom_masks.index_axis(Axis(0), t);
        let pb = pseudo_beta(&aatype, pos);
        let gly = crate::residue_constants::RESTYPES
            .iter()
            .position(|&r| r == 'G')
            .expect("G") as i32;
        let pb_mask: Vec<f32> = (0..n)
            .map(|i| {
                if aatype[i] == gly {
                    mask[[i, 1]]
                } else {
                    mask[[i, 3]]
                }
            })
            .collect();
        let bb_mask: Vec<f32> = (0..n)
            .map(|i| mask[[i, 0]] * mask[[i, 1]] * mask[[i, 2]])
            .collect();
        let (lower, upper) = dgram_edges(self.dgram.0, self.dgram.1, self.dgram.2);
        let nb = self.dgram.2;
        let c_t = self.embedding2d.c_out();
        let mut out = Array3::<f32>::zeros((n, n, c_t));
        out.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(i, mut o)| {
                let mut feat = Array2::<f32>::zeros((n, TEMPLATE_PAIR_FEAT_CHANNELS));
                for j in 0..n {
                    let bb = bb_mask[i] * bb_mask[j];
                    let mut f = feat.row_mut(j);
                    let d2: f32 = (0..3).map(|k| (pb[[i, k]] - pb[[j, k]]).powi(2)).sum();
                    if let Some(bin) = dgram_bin(d2, &lower, &upper) {
                        f[bin] = bb;
                    }
                    f[nb] = pb_mask[i] * pb_mask[j] * bb;
                    f[nb + 1 + aatype[j].clamp(0, 21) as usize] = bb;
                    f[nb + 23 + aatype[i].clamp(0, 21) as usize] = bb;
                    // nb + 45 .. nb + 48: the unit vector, zero.
                    f[TEMPLATE_PAIR_FEAT_CHANNELS - 1] = bb * bb;
                }
                let e = self.embedding2d.forward(feat.view());
                o.assign(&e);
            });
        out
    }

    /// Alg. 2 lines 9-13: each template's pair features through the template pair stack and the output
    /// layer norm, then Alg. 17: the pair representation `pair [N, N, c_z]` attends to the templates at
    /// each (i, j). Returns the update to add to the pair representation (zero without templates).
    pub fn pair_update(
        &self,
        pair: &Array3<f32>,
        x: &TemplateInputs,
        pair_mask: &Array2<f32>,
        rt: &RuntimeOptions,
    ) -> Array3<f32> {
        let (n, _, c_z) = pair.dim();
        if x.count() == 0 {
            return Array3::zeros((n, n, c_z));
        }
        let templates: Vec<Array3<f32>> = (0..x.count())
            .map(|t| {
                let mut act = self.embed_pair_features(x, t);
                run_pair_stack(&self.pair_stack, &mut act, pair_mask, rt);
                let c_t = act.dim().2;
                let normed = self
                    .output_layer_norm
                    .forward(crate::model::ops::primitives::flat2(&act));
                normed.into_shape_with_order((n, n, c_t)).expect("N*N rows")
            })
            .collect();
        self.pointwise_attention(pair, &templates)
    }

    /// Alg. 17 at every (i, j): query `pair[i, j]`, keys and values the templates' `[i, j]` entries (no
    /// gating; every template carried is unmasked, so the mask bias is zero). Rows i in parallel.
    pub fn pointwise_attention(
        &self,
        pair: &Array3<f32>,
        templates: &[Array3<f32>],
    ) -> Array3<f32> {
        let (n, _, c_z) = pair.dim();
        let att = &self.pointwise_attention;
        let (h, d, dv) = (att.heads, att.key_dim, att.value_dim);
        let nt = templates.len();
        let scale = (d as f32).powf(-0.5);
        let mut out = Array3::<f32>::zeros((n, n, c_z));
        out.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(i, mut o)| {
                let mut q = matmul_w(pair.index_axis(Axis(0), i), &att.query);
                q.mapv_inplace(|v| v * scale);
                let keys: Vec<Array2<f32>> = templates
                    .iter()
                    .map(|t| matmul_w(t.index_axis(Axis(0), i), &att.key))
                    .collect();
                let values: Vec<Array2<f32>> = templates
                    .iter()
                    .map(|t| matmul_w(t.index_axis(Axis(0), i), &att.value))
                    .collect();
                let mut logits = vec![0f32; n * h * nt];
                for j in 0..n {
                    for head in 0..h {
                        let qh = q.slice(s![j, head * d..(head + 1) * d]);
                        for (t, k) in keys.iter().enumerate() {
                            let kh = k.slice(s![j, head * d..(head + 1) * d]);
                            logits[(j * h + head) * nt + t] = qh.dot(&kh);
                        }
                    }
                }
                crate::model::ops::vmath::softmax_rows(&mut logits, nt, None, None);
                let mut avg = Array2::<f32>::zeros((n, h * dv));
                for j in 0..n {
                    for head in 0..h {
                        let mut a = avg.slice_mut(s![j, head * dv..(head + 1) * dv]);
                        for (t, v) in values.iter().enumerate() {
                            let w = logits[(j * h + head) * nt + t];
                            a.scaled_add(w, &v.slice(s![j, head * dv..(head + 1) * dv]));
                        }
                    }
                }
                let mut res = matmul_w(avg.view(), &att.output);
                res += &att.output_b;
                o.assign(&res);
            });
        out
    }

    /// Alg. 2 lines 7-8: the templates' residue types and torsion angles (`[T, N, 57]`: one-hot 22,
    /// sin/cos 14, alternative sin/cos 14, torsion mask 7) through `template_single_embedding`, ReLU and
    /// `template_projection`: MSA rows `[T, N, c_m]`, with their mask `[T, N]` (the ψ mask, which depends
    /// on one residue's backbone only, as AlphaFold2).
    pub fn msa_rows(&self, x: &TemplateInputs) -> (Array3<f32>, Array2<f32>) {
        let (nt, n) = x.aatype.dim();
        let (feat, mask) = torsion_features(x);
        let mut h = self.template_single_embedding.forward(feat.view());
        h.mapv_inplace(|v| v.max(0.0));
        let rows = self.template_projection.forward(h.view());
        let c_m = rows.ncols();
        (
            rows.into_shape_with_order((nt, n, c_m)).expect("T*N rows"),
            mask,
        )
    }
}

/// The template angle features `[T*N, 57]` (one-hot residue type 22, torsion sin/cos 14, alternative
/// sin/cos 14, torsion mask 7; AlphaFold2's concatenation order) and the ψ mask `[T, N]`.
pub fn torsion_features(x: &TemplateInputs) -> (Array2<f32>, Array2<f32>) {
    {
        let (nt, n) = x.aatype.dim();
        let mut feat = Array2::<f32>::zeros((nt * n, TEMPLATE_ANGLE_FEAT_CHANNELS));
        let mut mask = Array2::<f32>::zeros((nt, n));
        for t in 0..nt {
            let aatype: Vec<i32> = x.aatype.row(t).to_vec();
            let tors = atom37_to_torsion_angles(
                &aatype,
                x.all_atom_positions.index_axis(Axis(0), t),
                x.all_atom_masks.index_axis(Axis(0), t),
            );
            for (i, r) in tors.iter().enumerate() {
                let mut f = feat.row_mut(t * n + i);
                if (0..22).contains(&aatype[i]) {
                    f[aatype[i] as usize] = 1.0;
                }
                for k in 0..7 {
                    f[22 + 2 * k] = r.sin_cos[k][0];
                    f[22 + 2 * k + 1] = r.sin_cos[k][1];
                    f[36 + 2 * k] = r.alt_sin_cos[k][0];
                    f[36 + 2 * k + 1] = r.alt_sin_cos[k][1];
                    f[50 + k] = r.mask[k];
                }
                mask[[t, i]] = r.mask[2];
            }
        }
        (feat, mask)
    }
}
