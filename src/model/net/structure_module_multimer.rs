//! AlphaFold-Multimer's structure module (DeepMind's `folding_multimer`): Jumper et al. (2021) Suppl.
//! Alg. 20 with the same shared fold iteration as the monomer models — Alg. 22 invariant point attention,
//! the transition, Alg. 23's backbone update, the side-chain torsions and Alg. 24's all-atom coordinates —
//! in AlphaFold-Multimer's arithmetic and parameter layout:
//! * frames are rotation matrices composed with the update (`rigid @ QuatRigid(act)`, the update's
//!   quaternion `(1, b, c, d)` normalised), not quaternions;
//! * IPA's points come from per-head projections with a bias (`[c, H, 3P]`: x, y, z of a head's points
//!   side by side), its scalar projections have no bias and are separate for q, k and v; the three logit
//!   terms are summed and scaled by √(1/3) together; point norms are `sqrt(max(|x|², 1e-16))`;
//! * translations are in units of 20 Å (`position_scale`), not 10.

use ndarray::{s, Array1, Array2, Array3, ArrayView2, ArrayView3, Axis};
use rayon::prelude::*;

use crate::model::net::structure_module::{
    all_atoms, attend_over_pair, FoldCommon, KeyPoints, LogitRows, PairBias, StructureOutput,
};
use crate::model::ops::gemm::matmul;
use crate::model::ops::geometry::Rigid;
use crate::model::ops::primitives::Linear;
use crate::model::params::config::{ModelConfig, ModelKind};
use crate::model::params::weights::{Scope, WeightError};

/// Alg. 22 in AlphaFold-Multimer's form.
#[derive(Debug, Clone)]
pub struct MultimerIpa<'w> {
    heads: usize,
    scalar_qk: usize,
    scalar_v: usize,
    point_qk: usize,
    point_v: usize,
    q_scalar: ArrayView2<'w, f32>,
    k_scalar: ArrayView2<'w, f32>,
    v_scalar: ArrayView2<'w, f32>,
    q_point: Linear<'w>,
    k_point: Linear<'w>,
    v_point: Linear<'w>,
    trainable_point_weights: ndarray::ArrayView1<'w, f32>,
    attention_2d: Linear<'w>,
    output_projection: Linear<'w>,
}

impl<'w> MultimerIpa<'w> {
    pub fn load(sc: &Scope<'w>, cfg: &ModelConfig) -> Result<Self, WeightError> {
        let m = &cfg.structure_module;
        let (h, sqk, sv, pq, pv) = (
            m.ipa_heads,
            m.ipa_scalar_qk,
            m.ipa_scalar_v,
            m.ipa_point_qk,
            m.ipa_point_v,
        );
        let (c, c_z) = (m.channel, cfg.evoformer.pair_channel);
        let points = |name: &str, p: usize| {
            Linear::load_nd(&sc.sub(name).sub("point_projection"), &[c], &[h, 3 * p])
        };
        Ok(Self {
            heads: h,
            scalar_qk: sqk,
            scalar_v: sv,
            point_qk: pq,
            point_v: pv,
            q_scalar: sc
                .sub("q_scalar_projection")
                .matrix("weights", &[c], &[h, sqk])?,
            k_scalar: sc
                .sub("k_scalar_projection")
                .matrix("weights", &[c], &[h, sqk])?,
            v_scalar: sc
                .sub("v_scalar_projection")
                .matrix("weights", &[c], &[h, sv])?,
            q_point: points("q_point_projection", pq)?,
            k_point: points("k_point_projection", pq)?,
            v_point: points("v_point_projection", pv)?,
            trainable_point_weights: sc.vector("trainable_point_weights", h)?,
            attention_2d: Linear::load(&sc.sub("attention_2d"), c_z, h)?,
            output_projection: Linear::load(
                &sc.sub("output_projection"),
                h * (c_z + sv + pv * 4),
                c,
            )?,
        })
    }

    /// `[N, H, P]` points of a projection moved to the global frame by each residue's frame.
    fn global_points(
        &self,
        proj: &Linear,
        act: ArrayView2<f32>,
        p: usize,
        frames: &[Rigid],
    ) -> Vec<[f32; 3]> {
        let local = proj.forward(act);
        let (n, h) = (act.nrows(), self.heads);
        let mut out = vec![[0f32; 3]; n * h * p];
        for i in 0..n {
            for head in 0..h {
                for k in 0..p {
                    let base = head * 3 * p;
                    let v = [
                        local[[i, base + k]],
                        local[[i, base + p + k]],
                        local[[i, base + 2 * p + k]],
                    ];
                    out[(i * h + head) * p + k] = frames[i].apply(v);
                }
            }
        }
        out
    }

    /// Update of `act [N, c]` with backbone frames `frames` (structure-module units), biased by the
    /// layer-normed pair representation `pair [N, N, c_z]`.
    pub fn forward(
        &self,
        act: ArrayView2<f32>,
        pair: ArrayView3<f32>,
        frames: &[Rigid],
        mask: &Array1<f32>,
    ) -> Array2<f32> {
        self.forward_with(act, pair, frames, mask, &self.pair_bias(pair, None), None)
    }

    /// The pair bias of every layer, for [`Self::forward_with`].
    pub(crate) fn pair_bias(
        &self,
        pair: ArrayView3<f32>,
        terms: Option<&dyn crate::model::params::config::PairTerms>,
    ) -> PairBias {
        PairBias::new(&self.attention_2d, pair, terms, 1.0)
    }

    /// [`Self::forward`] with the pair bias computed beforehand ([`Self::pair_bias`]) and the attention
    /// over the pair from `terms` when it computes it.
    pub(crate) fn forward_with(
        &self,
        act: ArrayView2<f32>,
        pair: ArrayView3<f32>,
        frames: &[Rigid],
        mask: &Array1<f32>,
        bias: &PairBias,
        terms: Option<&dyn crate::model::params::config::PairTerms>,
    ) -> Array2<f32> {
        let n = act.nrows();
        let c_z = pair.dim().2;
        let (h, sqk, sv, pq, pv) = (
            self.heads,
            self.scalar_qk,
            self.scalar_v,
            self.point_qk,
            self.point_v,
        );
        let q_point = self.global_points(&self.q_point, act, pq, frames);
        let k_point = self.global_points(&self.k_point, act, pq, frames);
        let v_point = self.global_points(&self.v_point, act, pv, frames);
        let scalar_weight = (1.0 / sqk.max(1) as f32).sqrt();
        let mut q_scalar = matmul(act, self.q_scalar);
        q_scalar.mapv_inplace(|v| v * scalar_weight);
        let k_scalar = matmul(act, self.k_scalar);
        let v_scalar = matmul(act, self.v_scalar);
        let softplus = |x: f32| if x > 20.0 { x } else { x.exp().ln_1p() };
        let point_variance = pq.max(1) as f32 * 9.0 / 2.0;
        let third = (1.0f32 / 3.0).sqrt();
        let rows = LogitRows { bias, mask };
        let per_head: Vec<Array2<f32>> = (0..h)
            .into_par_iter()
            .map(|head| {
                let pw =
                    (1.0 / point_variance).sqrt() * softplus(self.trainable_point_weights[head]);
                // Scalar term: the scaled queries times the keys, one GEMM.
                let cols = s![.., head * sqk..(head + 1) * sqk];
                let mut logits = matmul(q_scalar.slice(cols), k_scalar.slice(cols).t());
                let keys = KeyPoints::new(&k_point, n, pq, h * pq, head * pq);
                let at = |i: usize| (i * h + head) * pq;
                let q_points = |i: usize| &q_point[at(i)..at(i) + pq];
                // The three terms summed, then scaled together (AlphaFold-Multimer's order).
                let terms = |scalar: f32, d2: f32, bias: f32, mask: f32| {
                    (-0.5 * d2 + scalar + bias - 1e5 * (1.0 - mask)) * third
                };
                rows.finish(&mut logits, head, (&keys, pw), q_points, terms);
                logits
            })
            .collect();
        // The attention-weighted scalar values [N, Sv] and global points [N, 3*Pv] of each head: GEMMs.
        let attended: Vec<(Array2<f32>, Array2<f32>)> = per_head
            .par_iter()
            .enumerate()
            .map(|(head, attn)| {
                let scalars = matmul(
                    attn.view(),
                    v_scalar.slice(s![.., head * sv..(head + 1) * sv]),
                );
                let mut points = Array2::<f32>::zeros((n, 3 * pv));
                for (j, mut row) in points.rows_mut().into_iter().enumerate() {
                    for p in 0..pv {
                        let v = v_point[(j * h + head) * pv + p];
                        for k in 0..3 {
                            row[3 * p + k] = v[k];
                        }
                    }
                }
                (scalars, matmul(attn.view(), points.view()))
            })
            .collect();
        let width = h * sv + 4 * h * pv + h * c_z;
        let mut features = Array2::<f32>::zeros((n, width));
        // [N, H, c_z]: the attention over the pair (from the backend when it computes it).
        let over_pair = terms
            .and_then(|t| t.attend(&per_head))
            .unwrap_or_else(|| attend_over_pair(&per_head, pair));
        features
            .axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(i, mut f)| {
                for (head, (scalars, points)) in attended.iter().enumerate() {
                    f.slice_mut(s![head * sv..(head + 1) * sv])
                        .assign(&scalars.row(i));
                    for p in 0..pv {
                        let g = [
                            points[[i, 3 * p]],
                            points[[i, 3 * p + 1]],
                            points[[i, 3 * p + 2]],
                        ];
                        let local = frames[i].invert_apply(g);
                        let (base, col) = (h * sv, head * pv + p);
                        f[base + col] = local[0];
                        f[base + h * pv + col] = local[1];
                        f[base + 2 * h * pv + col] = local[2];
                        f[base + 3 * h * pv + col] =
                            (local[0] * local[0] + local[1] * local[1] + local[2] * local[2])
                                .max(1e-16)
                                .sqrt();
                    }
                    let base = h * sv + 4 * h * pv + head * c_z;
                    f.slice_mut(s![base..base + c_z])
                        .assign(&over_pair.slice(s![i, head, ..]));
                }
            });
        self.output_projection.forward(features.view())
    }
}

/// Rotation of the quaternion `(1, b, c, d)` after normalisation (`Rot3Array.from_quaternion`, its
/// norm floored at 1e-6).
fn update_rotation(b: f32, c: f32, d: f32) -> [[f32; 3]; 3] {
    let inv = 1.0 / (1.0 + b * b + c * c + d * d).max(1e-6).sqrt();
    let (w, x, y, z) = (inv, b * inv, c * inv, d * inv);
    [
        [
            1.0 - 2.0 * (y * y + z * z),
            2.0 * (x * y - w * z),
            2.0 * (x * z + w * y),
        ],
        [
            2.0 * (x * y + w * z),
            1.0 - 2.0 * (x * x + z * z),
            2.0 * (y * z - w * x),
        ],
        [
            2.0 * (x * z - w * y),
            2.0 * (y * z + w * x),
            1.0 - 2.0 * (x * x + y * y),
        ],
    ]
}

/// A unit quaternion `(w, x, y, z)` (w ≥ 0) of a rotation matrix, for the trajectory output.
fn rot_to_quat(r: &[[f32; 3]; 3]) -> [f32; 4] {
    let (m00, m11, m22) = (r[0][0], r[1][1], r[2][2]);
    let trace = m00 + m11 + m22;
    let q = if trace > 0.0 {
        let s = (trace + 1.0).sqrt() * 2.0;
        [
            0.25 * s,
            (r[2][1] - r[1][2]) / s,
            (r[0][2] - r[2][0]) / s,
            (r[1][0] - r[0][1]) / s,
        ]
    } else if m00 > m11 && m00 > m22 {
        let s = (1.0 + m00 - m11 - m22).sqrt() * 2.0;
        [
            (r[2][1] - r[1][2]) / s,
            0.25 * s,
            (r[0][1] + r[1][0]) / s,
            (r[0][2] + r[2][0]) / s,
        ]
    } else if m11 > m22 {
        let s = (1.0 + m11 - m00 - m22).sqrt() * 2.0;
        [
            (r[0][2] - r[2][0]) / s,
            (r[0][1] + r[1][0]) / s,
            0.25 * s,
            (r[1][2] + r[2][1]) / s,
        ]
    } else {
        let s = (1.0 + m22 - m00 - m11).sqrt() * 2.0;
        [
            (r[1][0] - r[0][1]) / s,
            (r[0][2] + r[2][0]) / s,
            (r[1][2] + r[2][1]) / s,
            0.25 * s,
        ]
    };
    if q[0] < 0.0 {
        [-q[0], -q[1], -q[2], -q[3]]
    } else {
        q
    }
}

/// Alg. 20 in AlphaFold-Multimer's form.
#[derive(Debug, Clone)]
pub struct MultimerStructureModule<'w> {
    common: FoldCommon<'w>,
    invariant_point_attention: MultimerIpa<'w>,
    quat_rigid: Linear<'w>,
}

impl<'w> MultimerStructureModule<'w> {
    /// Below the `alphafold_iteration` scope.
    pub fn load(root: &Scope<'w>, cfg: &ModelConfig) -> Result<Self, WeightError> {
        let sm = root.sub("structure_module");
        let fi = sm.sub("fold_iteration");
        Ok(Self {
            common: FoldCommon::load(&sm, cfg)?,
            invariant_point_attention: MultimerIpa::load(
                &fi.sub("invariant_point_attention"),
                cfg,
            )?,
            quat_rigid: Linear::load(&fi.sub("quat_rigid/rigid"), cfg.structure_module.channel, 6)?,
        })
    }

    /// Alg. 20 on the trunk's single `[N, c_s]` and pair `[N, N, c_z]` representations.
    pub fn forward(
        &self,
        single: &Array2<f32>,
        pair: &Array3<f32>,
        aatype: &[usize],
        seq_mask: &Array1<f32>,
    ) -> StructureOutput {
        self.forward_on(single, pair, aatype, seq_mask, None)
    }

    /// [`Self::forward`] with invariant point attention's pair terms on `backend` when it takes them.
    pub fn forward_on(
        &self,
        single: &Array2<f32>,
        pair: &Array3<f32>,
        aatype: &[usize],
        seq_mask: &Array1<f32>,
        backend: Option<&dyn crate::model::params::config::StackBackend>,
    ) -> StructureOutput {
        let n = single.nrows();
        let scale = ModelKind::Multimer.position_scale();
        let common = &self.common;
        let (initial, mut act, pair_ln) = common.start(single, pair);
        let pair_terms = backend.and_then(|b| b.structure_pair(&pair_ln));
        let bias = self
            .invariant_point_attention
            .pair_bias(pair_ln.view(), pair_terms.as_deref());
        let mut frames = vec![Rigid::IDENTITY; n];
        let mut traj = Array3::zeros((common.layers, n, 7));
        let mut angles = Array3::zeros((n, 7, 2));
        for layer in 0..common.layers {
            act += &self.invariant_point_attention.forward_with(
                act.view(),
                pair_ln.view(),
                &frames,
                seq_mask,
                &bias,
                pair_terms.as_deref(),
            );
            act = common.attention_layer_norm.forward(act.view());
            act = common.transition.forward(act);
            let upd = self.quat_rigid.forward(act.view());
            for (i, f) in frames.iter_mut().enumerate() {
                let u = upd.row(i);
                let update = Rigid {
                    rot: update_rotation(u[0], u[1], u[2]),
                    trans: [u[3], u[4], u[5]],
                };
                *f = f.compose(&update);
                let q = rot_to_quat(&f.rot);
                let t = f.trans;
                traj.slice_mut(s![layer, i, ..]).assign(&ndarray::arr1(&[
                    q[0],
                    q[1],
                    q[2],
                    q[3],
                    t[0] * scale,
                    t[1] * scale,
                    t[2] * scale,
                ]));
            }
            angles = common.rigid_sidechain.forward(act.view(), initial.view()).0;
        }
        let backbones: Vec<Rigid> = frames
            .iter()
            .map(|f| Rigid {
                rot: f.rot,
                trans: [f.trans[0] * scale, f.trans[1] * scale, f.trans[2] * scale],
            })
            .collect();
        let (atom14, mut atom37_positions, mut atom37_mask) =
            all_atoms(aatype, &backbones, &angles);
        for i in 0..n {
            if seq_mask[i] == 0.0 {
                atom37_positions.index_axis_mut(Axis(0), i).fill(0.0);
                atom37_mask.row_mut(i).fill(0.0);
            }
        }
        StructureOutput {
            traj,
            act,
            angles_sin_cos: angles,
            atom14_positions: atom14,
            atom37_positions,
            atom37_mask,
        }
    }
}
