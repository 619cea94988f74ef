//! AlphaFold-Multimer's template module (Evans et al. 2021, Suppl. 1.4; DeepMind's
//! `modules_multimer.TemplateEmbedding` / `template_embedding_1d`), which replaces the monomer models'
//! (Jumper et al. 2021, Suppl. Alg. 2 lines 7-13):
//! * pair: each template's features — pseudo-β distogram, pseudo-β pair mask, residue types of i and of
//!   j, the unit vector from i's backbone frame to j, backbone pair mask (all but the residue types kept
//!   within a chain: templates are per chain) — and the layer-normed query pair representation go through
//!   one linear map each and are summed; the template pair stack (Alg. 16, triangle multiplications
//!   first) and a layer norm follow; the templates are averaged (no attention, and no template mask: the
//!   padding templates count in the average, as in AlphaFold-Multimer), then ReLU and a linear map to the
//!   pair width;
//! * single: one-hot residue type and sin/cos of χ1-χ4 with their masks (34 features) through two linear
//!   maps become rows below the MSA, masked by χ1's mask.

use ndarray::{s, Array2, Array3, Axis};
use rayon::prelude::*;

use crate::model::input::trunk_inputs::{ChainIds, TemplateInputs};
use crate::model::net::embedders::pseudo_beta;
use crate::model::net::template_embedding::{dgram_bin, dgram_edges, TemplatePairBlock};
use crate::model::ops::primitives::{flat2, unflat3, LayerNorm, Linear};
use crate::model::params::config::{ModelConfig, RuntimeOptions};
use crate::model::params::weights::{Scope, WeightError};
use crate::residue_constants as rc;

/// Template single features: 22 residue classes, sin and cos of χ1-χ4, their masks.
pub const TEMPLATE_SINGLE_FEAT_CHANNELS: usize = 34;
/// Pseudo-β distogram of the templates: lower edges from 3.25 to 50.75 Å, 39 bins.
const DGRAM: (f32, f32, usize) = (3.25, 50.75, 39);

/// Everything below `evoformer/template_embedding` and the two single-template maps.
#[derive(Debug, Clone)]
pub struct MultimerTemplateEmbedding<'w> {
    /// `template_pair_embedding_0..8`: distogram, pseudo-β mask, residue type of j, of i, unit vector
    /// x, y, z, backbone mask, query embedding.
    pair_embedding: Vec<Linear<'w>>,
    query_embedding_norm: LayerNorm<'w>,
    pair_stack: Vec<TemplatePairBlock<'w>>,
    output_layer_norm: LayerNorm<'w>,
    output_linear: Linear<'w>,
    template_single_embedding: Linear<'w>,
    template_projection: Linear<'w>,
}

impl<'w> MultimerTemplateEmbedding<'w> {
    /// Below the `evoformer` scope.
    pub fn load(evo: &Scope<'w>, cfg: &ModelConfig) -> Result<Self, WeightError> {
        let (c_m, c_z, tc) = (
            cfg.evoformer.msa_channel,
            cfg.evoformer.pair_channel,
            cfg.evoformer.template.pair_channel,
        );
        let t = evo.sub("template_embedding");
        let single = t.sub("single_template_embedding");
        // Inputs of each pair-feature map: `None` for a scalar feature (`num_input_dims=0`).
        let inputs = [
            Some(DGRAM.2),
            None,
            Some(22),
            Some(22),
            None,
            None,
            None,
            None,
            Some(c_z),
        ];
        let pair_embedding = inputs
            .iter()
            .enumerate()
            .map(|(k, c_in)| {
                let scope = single.sub(&format!("template_pair_embedding_{k}"));
                match c_in {
                    Some(c) => Linear::load(&scope, *c, tc),
                    None => Linear::load_nd(&scope, &[], &[tc]),
                }
            })
            .collect::<Result<_, _>>()?;
        let stack = single
            .sub("template_embedding_iteration")
            .stacked(cfg.evoformer.template.pair_blocks);
        let pair_stack = (0..cfg.evoformer.template.pair_blocks)
            .map(|i| TemplatePairBlock::load(&stack.layer(i), cfg))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            pair_embedding,
            query_embedding_norm: LayerNorm::load(&single.sub("query_embedding_norm"), c_z)?,
            pair_stack,
            output_layer_norm: LayerNorm::load(&single.sub("output_layer_norm"), tc)?,
            output_linear: Linear::load(&t.sub("output_linear"), tc, c_z)?,
            template_single_embedding: Linear::load(
                &evo.sub("template_single_embedding"),
                TEMPLATE_SINGLE_FEAT_CHANNELS,
                c_m,
            )?,
            template_projection: Linear::load(&evo.sub("template_projection"), c_m, c_m)?,
        })
    }

    /// The update of the pair representation `pair [N, N, c_z]` from all templates.
    pub fn pair_update(
        &self,
        pair: &Array3<f32>,
        x: &TemplateInputs,
        chains: &ChainIds,
        pair_mask: &Array2<f32>,
        rt: &RuntimeOptions,
    ) -> Array3<f32> {
        let n = pair.dim().0;
        let tc = self.output_layer_norm.scale.len();
        // The query embedding's share is the same for every template.
        let query = unflat3(
            self.pair_embedding[8].forward(self.query_embedding_norm.forward(flat2(pair)).view()),
            n,
            n,
        );
        let mut sum = Array3::<f32>::zeros((n, n, tc));
        for t in 0..x.count() {
            let mut act = self.pair_features(x, t, chains);
            act += &query;
            crate::model::net::template_embedding::run_pair_stack(
                &self.pair_stack,
                &mut act,
                pair_mask,
                rt,
            );
            sum += &unflat3(self.output_layer_norm.forward(flat2(&act)), n, n);
        }
        let count = x.count().max(1) as f32;
        sum.mapv_inplace(|v| (v / count).max(0.0));
        unflat3(self.output_linear.forward(flat2(&sum)), n, n)
    }

    /// `[N, N, c_t]`: template `t`'s pair features through their linear maps (all but the query's).
    fn pair_features(&self, x: &TemplateInputs, t: usize, chains: &ChainIds) -> Array3<f32> {
        let n = x.aatype.ncols();
        let aatype: Vec<i32> = x.aatype.row(t).to_vec();
        let pos = x.all_atom_positions.index_axis(Axis(0), t);
        let mask = x.all_atom_masks.index_axis(Axis(0), t);
        let gly = rc::RESTYPES.iter().position(|&r| r == 'G').expect("G") as i32;
        let atom = |name: &str| rc::atom37_index(name).expect("backbone atom");
        let (a_n, a_ca, a_c, a_cb) = (atom("N"), atom("CA"), atom("C"), atom("CB"));
        let pb = pseudo_beta(&aatype, pos);
        let pb_mask: Vec<f32> = (0..n)
            .map(|i| mask[[i, if aatype[i] == gly { a_ca } else { a_cb }]])
            .collect();
        let p = |i: usize, a: usize| [pos[[i, a, 0]], pos[[i, a, 1]], pos[[i, a, 2]]];
        // Backbone frames (`make_transform_from_reference`: x axis C - CA, xy plane through N, origin CA).
        let frames: Vec<([[f32; 3]; 3], [f32; 3])> = (0..n)
            .map(|i| frame_from_three_points(p(i, a_n), p(i, a_ca), p(i, a_c)))
            .collect();
        let bb_mask: Vec<f32> = (0..n)
            .map(|i| mask[[i, a_n]] * mask[[i, a_ca]] * mask[[i, a_c]])
            .collect();
        let (lower, upper) = dgram_edges(DGRAM.0, DGRAM.1, DGRAM.2);
        let tc = self.output_layer_norm.scale.len();
        let lin = &self.pair_embedding;
        let mut act = Array3::<f32>::zeros((n, n, tc));
        let asym = &chains.asym_id;
        // The eight feature maps' biases, summed once (in the order they are added: the same bits).
        let mut bias = ndarray::Array1::<f32>::zeros(tc);
        for l in lin.iter().take(8) {
            bias += &l.bias;
        }
        act.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(i, mut row)| {
                for j in 0..n {
                    let same_chain = if asym[i] == asym[j] { 1.0 } else { 0.0 };
                    let mut z = row.slice_mut(s![j, ..]);
                    z.assign(&bias);
                    let pb2 = pb_mask[i] * pb_mask[j] * same_chain;
                    if pb2 != 0.0 {
                        let d2: f32 = (0..3).map(|k| (pb[[i, k]] - pb[[j, k]]).powi(2)).sum();
                        if let Some(bin) = dgram_bin(d2, &lower, &upper) {
                            z.scaled_add(pb2, &lin[0].weights.row(bin));
                        }
                    }
                    z.scaled_add(pb2, &lin[1].weights.row(0));
                    let (ti, tj) = (aatype[i].clamp(0, 21), aatype[j].clamp(0, 21));
                    z += &lin[2].weights.row(tj as usize);
                    z += &lin[3].weights.row(ti as usize);
                    let bb2 = bb_mask[i] * bb_mask[j] * same_chain;
                    let (rot, origin) = &frames[i];
                    let d = [
                        frames[j].1[0] - origin[0],
                        frames[j].1[1] - origin[1],
                        frames[j].1[2] - origin[2],
                    ];
                    let local = [
                        rot[0][0] * d[0] + rot[1][0] * d[1] + rot[2][0] * d[2],
                        rot[0][1] * d[0] + rot[1][1] * d[1] + rot[2][1] * d[2],
                        rot[0][2] * d[0] + rot[1][2] * d[1] + rot[2][2] * d[2],
                    ];
                    let unit = normalized(local);
                    for k in 0..3 {
                        z.scaled_add(unit[k] * bb2, &lin[4 + k].weights.row(0));
                    }
                    z.scaled_add(bb2, &lin[7].weights.row(0));
                }
            });
        act
    }

    /// Template rows for the MSA `[T, N, c_m]` and their mask `[T, N]` (χ1 defined).
    pub fn msa_rows(&self, x: &TemplateInputs) -> (Array3<f32>, Array2<f32>) {
        let (t, n) = x.aatype.dim();
        let mut feat = Array2::<f32>::zeros((t * n, TEMPLATE_SINGLE_FEAT_CHANNELS));
        let mut rows_mask = Array2::<f32>::zeros((t, n));
        for k in 0..t {
            let pos = x.all_atom_positions.index_axis(Axis(0), k);
            let mask = x.all_atom_masks.index_axis(Axis(0), k);
            for i in 0..n {
                let a = x.aatype[[k, i]];
                let mut f = feat.row_mut(k * n + i);
                if (0..22).contains(&a) {
                    f[a as usize] = 1.0;
                }
                let (angles, chi_mask) = chi_angles(a.clamp(0, 20) as usize, pos, mask, i);
                for c in 0..4 {
                    f[22 + c] = angles[c].sin() * chi_mask[c];
                    f[26 + c] = angles[c].cos() * chi_mask[c];
                    f[30 + c] = chi_mask[c];
                }
                rows_mask[[k, i]] = chi_mask[0];
            }
        }
        let mut h = self.template_single_embedding.forward(feat.view());
        h.mapv_inplace(|v| v.max(0.0));
        let rows = self.template_projection.forward(h.view());
        (unflat3(rows, t, n), rows_mask)
    }
}

/// `v / max(|v|, 1e-6)` (AlphaFold-Multimer's `Vec3Array.normalized`).
fn normalized(v: [f32; 3]) -> [f32; 3] {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).max(1e-12).sqrt();
    [v[0] / n, v[1] / n, v[2] / n]
}

fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// The frame of `make_transform_from_reference(a, b, c)`: rotation (row-major, columns e0, e1, e2) with
/// e0 along `c - b`, e1 the part of `a - b` orthogonal to it, e2 = e0 × e1; origin `b`.
pub(crate) fn frame_from_three_points(
    a: [f32; 3],
    b: [f32; 3],
    c: [f32; 3],
) -> ([[f32; 3]; 3], [f32; 3]) {
    let e0 = normalized(sub(c, b));
    let v = sub(a, b);
    let k = dot(v, e0);
    let e1 = normalized([v[0] - k * e0[0], v[1] - k * e0[1], v[2] - k * e0[2]]);
    let e2 = cross(e0, e1);
    (
        [
            [e0[0], e1[0], e2[0]],
            [e0[1], e1[1], e2[1]],
            [e0[2], e1[2], e2[2]],
        ],
        b,
    )
}

/// χ1-χ4 of residue `i` (type `restype`, 0..=20) and whether each is defined (the residue has it and all
/// four atoms are present): AlphaFold-Multimer's `compute_chi_angles` (`dihedral_angle` with atan2).
fn chi_angles(
    restype: usize,
    pos: ndarray::ArrayView3<f32>,
    mask: ndarray::ArrayView2<f32>,
    i: usize,
) -> ([f32; 4], [f32; 4]) {
    let mut angles = [0f32; 4];
    let mut defined = [0f32; 4];
    let p = |a: usize| [pos[[i, a, 0]], pos[[i, a, 1]], pos[[i, a, 2]]];
    for (k, atoms) in rc::CHI_ANGLES_ATOMS[restype].iter().enumerate().take(4) {
        let idx: Vec<usize> = atoms
            .iter()
            .map(|name| rc::atom37_index(name).expect("χ atoms are atom37 names"))
            .collect();
        let (a, b, c, d) = (p(idx[0]), p(idx[1]), p(idx[2]), p(idx[3]));
        let v1 = sub(a, b);
        let v2 = sub(b, c);
        let v3 = sub(d, c);
        let c1 = cross(v1, v2);
        let c2 = cross(v3, v2);
        let c3 = cross(c2, c1);
        let v2_mag = dot(v2, v2).max(1e-12).sqrt();
        angles[k] = dot(c3, v2).atan2(v2_mag * dot(c1, c2));
        defined[k] = idx.iter().map(|&a| mask[[i, a]]).product();
    }
    // Absent χ angles use atom 0 (N) four times in AlphaFold2: a zero angle, masked out.
    (angles, defined)
}
