//! Jumper et al. (2021) Suppl. Alg. 20 "StructureModule": `structure_layers` applications of one shared
//! fold iteration — Alg. 22 "InvariantPointAttention", the transition, Alg. 23 "BackboneUpdate" — and,
//! per layer, the side-chain torsion network and Alg. 24 "computeAllAtomCoordinates" (with Alg. 25
//! "makeRotX") turning backbone frames and torsions into atom14 then atom37 positions.
//! Lengths inside the module are in AlphaFold2's scaled units (Å / 10); outputs are in Å.

use ndarray::{s, Array1, Array2, Array3, ArrayView2, ArrayView3, Axis};
use rayon::prelude::*;

use crate::model::ops::gemm::{matmul, matmul_into};
use crate::model::ops::geometry::{QuatAffine, Rigid};
use crate::model::ops::primitives::{flat2, softmax_rows, LayerNorm, Linear};
use crate::model::params::config::ModelConfig;
use crate::model::params::weights::{Scope, WeightError};
use crate::residue_constants::{self as rc, rigid_groups};

/// AlphaFold2's `position_scale`: translations are predicted in units of 10 Å.
pub const POSITION_SCALE: f32 = 10.0;

/// What the structure module produces.
#[derive(Debug, Clone)]
pub struct StructureOutput {
    /// `[layers, N, 7]`: quaternion and translation (Å) of every backbone frame after each layer.
    pub traj: Array3<f32>,
    /// `[N, c]` the module's final single activations (input of the pLDDT head).
    pub act: Array2<f32>,
    /// `[N, 7, 2]` (sin, cos) of the final torsion angles.
    pub angles_sin_cos: Array3<f32>,
    /// `[N, 14, 3]` Å.
    pub atom14_positions: Array3<f32>,
    /// `[N, 37, 3]` Å, zero where an atom does not exist.
    pub atom37_positions: Array3<f32>,
    /// `[N, 37]`
    pub atom37_mask: Array2<f32>,
}

fn relu(mut a: Array2<f32>) -> Array2<f32> {
    a.mapv_inplace(|v| v.max(0.0));
    a
}

/// IPA sizes: heads, scalar query/key and value channels, query/key and value points.
#[derive(Debug, Clone, Copy)]
struct IpaDims {
    heads: usize,
    scalar_qk: usize,
    scalar_v: usize,
    point_qk: usize,
    point_v: usize,
}

/// Alg. 22: invariant point attention.
#[derive(Debug, Clone)]
pub struct InvariantPointAttention<'w> {
    dims: IpaDims,
    q_scalar: Linear<'w>,
    kv_scalar: Linear<'w>,
    q_point_local: Linear<'w>,
    kv_point_local: Linear<'w>,
    /// `[H]`
    trainable_point_weights: ndarray::ArrayView1<'w, f32>,
    attention_2d: Linear<'w>,
    output_projection: Linear<'w>,
}

impl<'w> InvariantPointAttention<'w> {
    pub fn load(sc: &Scope<'w>, cfg: &ModelConfig) -> Result<Self, WeightError> {
        let (h, sqk, sv, pq, pv) = (
            cfg.structure_module.ipa_heads,
            cfg.structure_module.ipa_scalar_qk,
            cfg.structure_module.ipa_scalar_v,
            cfg.structure_module.ipa_point_qk,
            cfg.structure_module.ipa_point_v,
        );
        let (c, c_z) = (cfg.structure_module.channel, cfg.evoformer.pair_channel);
        Ok(Self {
            dims: IpaDims {
                heads: h,
                scalar_qk: sqk,
                scalar_v: sv,
                point_qk: pq,
                point_v: pv,
            },
            q_scalar: Linear::load(&sc.sub("q_scalar"), c, h * sqk)?,
            kv_scalar: Linear::load(&sc.sub("kv_scalar"), c, h * (sqk + sv))?,
            q_point_local: Linear::load(&sc.sub("q_point_local"), c, h * pq * 3)?,
            kv_point_local: Linear::load(&sc.sub("kv_point_local"), c, h * (pq + pv) * 3)?,
            trainable_point_weights: sc.vector("trainable_point_weights", h)?,
            attention_2d: Linear::load(&sc.sub("attention_2d"), c_z, h)?,
            output_projection: Linear::load(
                &sc.sub("output_projection"),
                h * (c_z + sv + pv * 4),
                c,
            )?,
        })
    }

    /// Update of `act [N, c]` with frames `affines`, biased by the layer-normed pair representation
    /// `pair [N, N, c_z]`.
    pub fn forward(
        &self,
        act: ArrayView2<f32>,
        pair: ArrayView3<f32>,
        affines: &[QuatAffine],
        mask: &Array1<f32>,
    ) -> Array2<f32> {
        self.forward_with(act, pair, affines, mask, &self.pair_bias(pair, None), None)
    }

    /// The pair bias of every layer, for [`Self::forward_with`].
    pub(crate) fn pair_bias(
        &self,
        pair: ArrayView3<f32>,
        terms: Option<&dyn crate::model::params::config::PairTerms>,
    ) -> PairBias {
        PairBias::new(&self.attention_2d, pair, terms, (1.0f32 / 3.0).sqrt())
    }

    /// [`Self::forward`] with the pair bias computed beforehand ([`Self::pair_bias`]) and the attention
    /// over the pair from `terms` when it computes it.
    pub(crate) fn forward_with(
        &self,
        act: ArrayView2<f32>,
        pair: ArrayView3<f32>,
        affines: &[QuatAffine],
        mask: &Array1<f32>,
        bias: &PairBias,
        terms: Option<&dyn crate::model::params::config::PairTerms>,
    ) -> Array2<f32> {
        let n = act.nrows();
        let c_z = pair.dim().2;
        let IpaDims {
            heads: h,
            scalar_qk: sqk,
            scalar_v: sv,
            point_qk: pq,
            point_v: pv,
        } = self.dims;
        let q_scalar = self.q_scalar.forward(act); // [N, H*Sqk]
        let kv_scalar = self.kv_scalar.forward(act); // [N, H*(Sqk+Sv)]
                                                     // Points: the projection holds all x, then all y, then all z; each moved to the global frame.
        let to_global = |local: Array2<f32>, per_head: usize| -> Vec<[f32; 3]> {
            let m = h * per_head;
            let mut out = vec![[0f32; 3]; n * m];
            for i in 0..n {
                for k in 0..m {
                    let p = [local[[i, k]], local[[i, m + k]], local[[i, 2 * m + k]]];
                    out[i * m + k] = affines[i].rigid.apply(p);
                }
            }
            out
        };
        let q_point = to_global(self.q_point_local.forward(act), pq); // [N][H][Pq]
        let kv_point = to_global(self.kv_point_local.forward(act), pq + pv);
        let softplus = |x: f32| if x > 20.0 { x } else { x.exp().ln_1p() };
        let tw = self.trainable_point_weights;
        let scalar_w = (1.0 / (3.0 * sqk as f32)).sqrt();
        let point_w0 = (1.0 / (3.0 * pq as f32 * 9.0 / 2.0)).sqrt();

        let width = h * sv + 4 * h * pv + h * c_z;
        let mut features = Array2::<f32>::zeros((n, width));
        let rows = LogitRows { bias, mask };
        let per_head: Vec<Array2<f32>> = (0..h)
            .into_par_iter()
            .map(|head| {
                let pw = point_w0 * softplus(tw[head]);
                // Scalar term: the scaled queries times the keys, one GEMM (as AlphaFold2 computes it).
                let off = head * (sqk + sv);
                let q = q_scalar
                    .slice(s![.., head * sqk..(head + 1) * sqk])
                    .mapv(|v| v * scalar_w);
                let mut logits = matmul(q.view(), kv_scalar.slice(s![.., off..off + sqk]).t());
                let keys = KeyPoints::new(&kv_point, n, pq, h * (pq + pv), head * (pq + pv));
                let at = |i: usize| i * h * pq + head * pq;
                let q_points = |i: usize| &q_point[at(i)..at(i) + pq];
                // The pair bias is already times √(1/3).
                let terms = |scalar: f32, d2: f32, bias: f32, mask: f32| {
                    scalar - 0.5 * d2 + bias - 1e5 * (1.0 - mask)
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
                let off = head * (sqk + sv);
                let scalars = matmul(
                    attn.view(),
                    kv_scalar.slice(s![.., off + sqk..off + sqk + sv]),
                );
                let mut points = Array2::<f32>::zeros((n, 3 * pv));
                for (j, mut row) in points.rows_mut().into_iter().enumerate() {
                    for p in 0..pv {
                        let v = kv_point[j * h * (pq + pv) + head * (pq + pv) + pq + p];
                        for k in 0..3 {
                            row[3 * p + k] = v[k];
                        }
                    }
                }
                (scalars, matmul(attn.view(), points.view()))
            })
            .collect();
        // Every residue's features in parallel.
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
                        let local = affines[i].rigid.invert_apply(g);
                        let base = h * sv;
                        let col = head * pv + p;
                        f[base + col] = local[0];
                        f[base + h * pv + col] = local[1];
                        f[base + 2 * h * pv + col] = local[2];
                        f[base + 3 * h * pv + col] = (1e-8
                            + local[0] * local[0]
                            + local[1] * local[1]
                            + local[2] * local[2])
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

/// IPA's pair bias (Alg. 22 line 7's `b_ij^h`), head-major: `[H][N·N]`, each value times `scale`
/// (monomer: `√(1/3)`, multiplied exactly as the logits' sum would; AlphaFold-Multimer: 1). The fold
/// iteration's weights are shared by all layers and the pair does not change between them, so this is
/// computed once per structure-module run, not once per layer (8× fewer `N² × c_z × H` products and
/// transposes; the GPU engine downloads it once).
pub(crate) struct PairBias(Vec<Vec<f32>>);

impl PairBias {
    /// From the layer-normed pair `[N, N, c_z]` through `attention_2d`, on `terms` when it computes it.
    pub(crate) fn new(
        attention_2d: &Linear,
        pair: ArrayView3<f32>,
        terms: Option<&dyn crate::model::params::config::PairTerms>,
        scale: f32,
    ) -> Self {
        let (n, _, c_z) = pair.dim();
        let b2d = terms
            .and_then(|t| t.project(attention_2d))
            .unwrap_or_else(|| {
                attention_2d.forward(
                    pair.into_shape_with_order((n * n, c_z))
                        .expect("contiguous"),
                )
            });
        let heads = b2d.ncols();
        Self(
            (0..heads)
                .into_par_iter()
                .map(|head| b2d.column(head).iter().map(|&b| scale * b).collect())
                .collect(),
        )
    }

    /// Head `head`'s bias of query residue `i` over all keys (`n` of them).
    pub(crate) fn row(&self, head: usize, i: usize, n: usize) -> &[f32] {
        &self.0[head][i * n..(i + 1) * n]
    }
}

/// IPA's attention over the pair (Alg. 22 line 10): `Σ_j a_h[i, j] · pair[i, j, :]` for every residue
/// `i` and head `h`, `[N, H, c_z]`; one `[H, N] × [N, c_z]` GEMM per residue (a vector-matrix product per
/// head and residue ran at a few GFLOP/s and was most of the structure module's time).
pub(crate) fn attend_over_pair(attn: &[Array2<f32>], pair: ArrayView3<f32>) -> Array3<f32> {
    let (n, _, c_z) = pair.dim();
    let h = attn.len();
    let mut out = Array3::<f32>::zeros((n, h, c_z));
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(i, o)| {
            let mut rows = Array2::<f32>::zeros((h, n));
            for (mut r, a) in rows.rows_mut().into_iter().zip(attn) {
                r.assign(&a.row(i));
            }
            matmul_into(rows.view(), pair.index_axis(Axis(0), i), o, false);
        });
    out
}

/// What turns a head's scalar logits `[N, N]` into its attention weights besides the point term: the
/// pair bias and the residue mask.
pub(crate) struct LogitRows<'a> {
    pub bias: &'a PairBias,
    pub mask: &'a Array1<f32>,
}

impl LogitRows<'_> {
    /// Query rows per parallel task: heads alone are too few tasks for many cores (12 here).
    const ROWS: usize = 32;

    /// Combines, for head `head`, every query `i` (its points `q_points(i)`) and key `j`, the scalar
    /// logit with the squared point distance to `keys` (times `point_weight`), the bias and
    /// `mask[i]·mask[j]` by `terms(scalar, d2, bias, mask)`, then normalises each row. Blocks of rows in
    /// parallel; every row is computed alone, so the bits do not depend on the blocks.
    pub(crate) fn finish<'q>(
        &self,
        logits: &mut Array2<f32>,
        head: usize,
        (keys, point_weight): (&KeyPoints, f32),
        q_points: impl Fn(usize) -> &'q [[f32; 3]] + Sync,
        terms: impl Fn(f32, f32, f32, f32) -> f32 + Sync,
    ) {
        let n = logits.ncols();
        let mask = self.mask;
        logits
            .axis_chunks_iter_mut(Axis(0), Self::ROWS)
            .into_par_iter()
            .enumerate()
            .for_each_init(
                || vec![0f32; n],
                |d2, (block, mut rows)| {
                    for (r, mut row) in rows.rows_mut().into_iter().enumerate() {
                        let i = block * Self::ROWS + r;
                        keys.distances(q_points(i), point_weight, d2);
                        let row = row.as_slice_mut().expect("rows of a fresh array");
                        let bias = self.bias.row(head, i, n);
                        for j in 0..n {
                            row[j] = terms(row[j], d2[j], bias[j], mask[i] * mask[j]);
                        }
                    }
                    softmax_rows(rows.view_mut());
                },
            );
    }
}

/// One head's key points for IPA's point term, laid out per point and axis (`[P][3][N]`) so that the loop
/// over keys vectorises.
pub(crate) struct KeyPoints(Vec<[Vec<f32>; 3]>);

impl KeyPoints {
    /// Point `p` of key `j` is `points[j * stride + offset + p]`, `count` points per key.
    pub(crate) fn new(
        points: &[[f32; 3]],
        n: usize,
        count: usize,
        stride: usize,
        offset: usize,
    ) -> Self {
        Self(
            (0..count)
                .map(|p| {
                    let mut axes = [vec![0f32; n], vec![0f32; n], vec![0f32; n]];
                    for j in 0..n {
                        let b = points[j * stride + offset + p];
                        for (axis, v) in axes.iter_mut().zip(b) {
                            axis[j] = v;
                        }
                    }
                    axes
                })
                .collect(),
        )
    }

    /// `d2[j] = Σ_p weight · |query[p] − key_j[p]|²` over this head's points, in point order.
    pub(crate) fn distances(&self, query: &[[f32; 3]], weight: f32, d2: &mut [f32]) {
        d2.fill(0.0);
        for (a, [kx, ky, kz]) in query.iter().zip(&self.0) {
            for (((d, &x), &y), &z) in d2.iter_mut().zip(kx).zip(ky).zip(kz) {
                let (dx, dy, dz) = (a[0] - x, a[1] - y, a[2] - z);
                *d += weight * (dx * dx + dy * dy + dz * dz);
            }
        }
    }
}

/// Side-chain torsion network (AlphaFold2's `MultiRigidSidechain`, Alg. 20 lines 11-14).
#[derive(Debug, Clone)]
pub struct MultiRigidSidechain<'w> {
    input_projection: Linear<'w>,
    input_projection_1: Linear<'w>,
    resblocks: [(Linear<'w>, Linear<'w>); 2],
    unnormalized_angles: Linear<'w>,
}

impl<'w> MultiRigidSidechain<'w> {
    pub fn load(sc: &Scope<'w>, cfg: &ModelConfig) -> Result<Self, WeightError> {
        let cc = cfg.structure_module.sidechain_channel;
        let res = |a: &str, b: &str| -> Result<(Linear<'w>, Linear<'w>), WeightError> {
            Ok((
                Linear::load(&sc.sub(a), cc, cc)?,
                Linear::load(&sc.sub(b), cc, cc)?,
            ))
        };
        Ok(Self {
            input_projection: Linear::load(
                &sc.sub("input_projection"),
                cfg.structure_module.channel,
                cc,
            )?,
            // from the initial (layer-normed) single representation
            input_projection_1: Linear::load(
                &sc.sub("input_projection_1"),
                cfg.evoformer.seq_channel,
                cc,
            )?,
            resblocks: [
                res("resblock1", "resblock2")?,
                res("resblock1_1", "resblock2_1")?,
            ],
            unnormalized_angles: Linear::load(&sc.sub("unnormalized_angles"), cc, 14)?,
        })
    }

    /// `[N, 7, 2]` normalised and raw (sin, cos) from the module's activations and the initial single
    /// representation.
    pub fn forward(
        &self,
        act: ArrayView2<f32>,
        initial: ArrayView2<f32>,
    ) -> (Array3<f32>, Array3<f32>) {
        let n = act.nrows();
        let mut a = self.input_projection.forward(relu(act.to_owned()).view());
        a += &self
            .input_projection_1
            .forward(relu(initial.to_owned()).view());
        for (r1, r2) in &self.resblocks {
            let h = r1.forward(relu(a.clone()).view());
            let h = r2.forward(relu(h).view());
            a += &h;
        }
        let raw = self.unnormalized_angles.forward(relu(a).view());
        let raw = raw.into_shape_with_order((n, 7, 2)).expect("14 = 7 x 2");
        let mut norm = raw.clone();
        for mut v in norm.lanes_mut(Axis(2)) {
            let l = (v[0] * v[0] + v[1] * v[1]).max(1e-12).sqrt();
            v.mapv_inplace(|x| x / l);
        }
        (norm, raw)
    }
}

/// Alg. 24: rigid-group frames from the backbone frame and torsions, then atom14 positions from the
/// idealised literature positions. `backbone` is in Å.
pub(crate) fn atom14_from_torsions(
    aatype: usize,
    backbone: &Rigid,
    sin_cos: ArrayView2<f32>,
) -> [[f32; 3]; 14] {
    let t = aatype.min(20);
    let default = &rigid_groups::DEFAULT_FRAMES[t];
    let mut frames = [Rigid::IDENTITY; 8];
    for g in 0..8 {
        let (s, c) = if g == 0 {
            (0.0, 1.0)
        } else {
            (sin_cos[[g - 1, 0]], sin_cos[[g - 1, 1]])
        };
        let rot_x = [[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]];
        frames[g] = Rigid::from_4x4(&default[g]).mul_rot(&rot_x);
    }
    // chi2..chi4 hang off the previous chi frame; everything else off the backbone.
    for g in 5..8 {
        frames[g] = frames[g - 1].compose(&frames[g]);
    }
    let global: Vec<Rigid> = frames.iter().map(|f| backbone.compose(f)).collect();
    let mut out = [[0f32; 3]; 14];
    for (a, o) in out.iter_mut().enumerate() {
        if rigid_groups::ATOM14_MASK[t][a] == 0 {
            continue;
        }
        *o = global[rigid_groups::ATOM14_GROUP[t][a] as usize]
            .apply(rigid_groups::ATOM14_POSITIONS[t][a]);
    }
    out
}

/// Alg. 24 for every residue: atom14 positions from the backbone frames (Å) and torsions, and their atom37
/// positions and mask.
pub(crate) fn all_atoms(
    aatype: &[usize],
    backbones: &[Rigid],
    angles: &Array3<f32>,
) -> (Array3<f32>, Array3<f32>, Array2<f32>) {
    let n = aatype.len();
    let mut atom14 = Array3::zeros((n, 14, 3));
    for i in 0..n {
        let pos = atom14_from_torsions(aatype[i], &backbones[i], angles.index_axis(Axis(0), i));
        for (a, p) in pos.iter().enumerate() {
            atom14.slice_mut(s![i, a, ..]).assign(&ndarray::arr1(p));
        }
    }
    let (pos, mask) = atom14_to_atom37(aatype, &atom14);
    (atom14, pos, mask)
}

/// atom14 → atom37 by atom name (AlphaFold2's `atom14_to_atom37` with `atom37_atom_exists`).
pub(crate) fn atom14_to_atom37(
    aatype: &[usize],
    atom14: &Array3<f32>,
) -> (Array3<f32>, Array2<f32>) {
    let n = aatype.len();
    let mut pos = Array3::zeros((n, 37, 3));
    let mut mask = Array2::zeros((n, 37));
    for (i, &t) in aatype.iter().enumerate() {
        for (a, name) in rc::ATOM14_NAMES[t.min(20)].iter().enumerate() {
            if name.is_empty() {
                continue;
            }
            let k = rc::atom37_index(name).expect("atom14 names are atom37 names");
            mask[[i, k]] = 1.0;
            pos.slice_mut(s![i, k, ..])
                .assign(&atom14.slice(s![i, a, ..]));
        }
    }
    (pos, mask)
}

/// The fold iteration's transition (Alg. 20 lines 8-9): `transition`, `transition_1`, … with ReLU between
/// them, the residual, and `transition_layer_norm`.
#[derive(Debug, Clone)]
pub(crate) struct FoldTransition<'w> {
    layers: Vec<Linear<'w>>,
    layer_norm: LayerNorm<'w>,
}

impl<'w> FoldTransition<'w> {
    /// Below the `fold_iteration` scope.
    pub(crate) fn load(fi: &Scope<'w>, cfg: &ModelConfig) -> Result<Self, WeightError> {
        let c = cfg.structure_module.channel;
        Ok(Self {
            layers: (0..cfg.structure_module.transition_layers)
                .map(|k| {
                    let name = if k == 0 {
                        "transition".to_string()
                    } else {
                        format!("transition_{k}")
                    };
                    Linear::load(&fi.sub(&name), c, c)
                })
                .collect::<Result<_, _>>()?,
            layer_norm: LayerNorm::load(&fi.sub("transition_layer_norm"), c)?,
        })
    }

    pub(crate) fn forward(&self, input: Array2<f32>) -> Array2<f32> {
        let mut act = input.clone();
        let depth = self.layers.len();
        for (k, t) in self.layers.iter().enumerate() {
            act = t.forward(act.view());
            if k + 1 < depth {
                act.mapv_inplace(|v| v.max(0.0));
            }
        }
        act += &input;
        self.layer_norm.forward(act.view())
    }
}

/// What the monomer models' and AlphaFold-Multimer's structure modules share: the layer counts and norms,
/// the initial projection, the transition and the side-chain network (their IPA and backbone update differ).
#[derive(Debug, Clone)]
pub(crate) struct FoldCommon<'w> {
    pub(crate) layers: usize,
    single_layer_norm: LayerNorm<'w>,
    pair_layer_norm: LayerNorm<'w>,
    initial_projection: Linear<'w>,
    pub(crate) attention_layer_norm: LayerNorm<'w>,
    pub(crate) transition: FoldTransition<'w>,
    pub(crate) rigid_sidechain: MultiRigidSidechain<'w>,
}

impl<'w> FoldCommon<'w> {
    /// Below the `structure_module` scope `sm`.
    pub(crate) fn load(sm: &Scope<'w>, cfg: &ModelConfig) -> Result<Self, WeightError> {
        let fi = sm.sub("fold_iteration");
        let c = cfg.structure_module.channel;
        Ok(Self {
            layers: cfg.structure_module.layers,
            single_layer_norm: LayerNorm::load(
                &sm.sub("single_layer_norm"),
                cfg.evoformer.seq_channel,
            )?,
            pair_layer_norm: LayerNorm::load(
                &sm.sub("pair_layer_norm"),
                cfg.evoformer.pair_channel,
            )?,
            initial_projection: Linear::load(
                &sm.sub("initial_projection"),
                cfg.evoformer.seq_channel,
                c,
            )?,
            attention_layer_norm: LayerNorm::load(&fi.sub("attention_layer_norm"), c)?,
            transition: FoldTransition::load(&fi, cfg)?,
            rigid_sidechain: MultiRigidSidechain::load(&fi.sub("rigid_sidechain"), cfg)?,
        })
    }

    /// Alg. 20 lines 1-3: the layer-normed single representation (the side chains' second input), the
    /// module's initial activations, and the layer-normed pair representation `[N, N, c_z]`.
    pub(crate) fn start(
        &self,
        single: &Array2<f32>,
        pair: &Array3<f32>,
    ) -> (Array2<f32>, Array2<f32>, Array3<f32>) {
        let n = single.nrows();
        let initial = self.single_layer_norm.forward(single.view());
        let act = self.initial_projection.forward(initial.view());
        let c_z = pair.dim().2;
        let pair_ln = self
            .pair_layer_norm
            .forward(flat2(pair))
            .into_shape_with_order((n, n, c_z))
            .expect("N*N rows");
        (initial, act, pair_ln)
    }
}

/// Alg. 20: `structure_layers` applications of one shared fold iteration.
#[derive(Debug, Clone)]
pub struct StructureModule<'w> {
    common: FoldCommon<'w>,
    invariant_point_attention: InvariantPointAttention<'w>,
    affine_update: Linear<'w>,
}

impl<'w> StructureModule<'w> {
    /// Below the `alphafold_iteration` scope.
    pub fn load(root: &Scope<'w>, cfg: &ModelConfig) -> Result<Self, WeightError> {
        let sm = root.sub("structure_module");
        let fi = sm.sub("fold_iteration");
        Ok(Self {
            common: FoldCommon::load(&sm, cfg)?,
            invariant_point_attention: InvariantPointAttention::load(
                &fi.sub("invariant_point_attention"),
                cfg,
            )?,
            affine_update: Linear::load(&fi.sub("affine_update"), cfg.structure_module.channel, 6)?,
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
        let common = &self.common;
        let (initial, mut act, pair_ln) = common.start(single, pair);
        let pair_terms = backend.and_then(|b| b.structure_pair(&pair_ln));
        let bias = self
            .invariant_point_attention
            .pair_bias(pair_ln.view(), pair_terms.as_deref());
        let mut affines = vec![QuatAffine::IDENTITY; n];
        let mut traj = Array3::zeros((common.layers, n, 7));
        let mut angles = Array3::zeros((n, 7, 2));
        for layer in 0..common.layers {
            act += &self.invariant_point_attention.forward_with(
                act.view(),
                pair_ln.view(),
                &affines,
                seq_mask,
                &bias,
                pair_terms.as_deref(),
            );
            act = common.attention_layer_norm.forward(act.view());
            act = common.transition.forward(act);
            let upd = self.affine_update.forward(act.view());
            for (i, a) in affines.iter_mut().enumerate() {
                let u = upd.row(i);
                *a = a.pre_compose([u[0], u[1], u[2], u[3], u[4], u[5]]);
                traj.slice_mut(s![layer, i, ..])
                    .assign(&ndarray::arr1(&a.to_tensor(POSITION_SCALE)));
            }
            angles = common.rigid_sidechain.forward(act.view(), initial.view()).0;
        }
        let backbones: Vec<Rigid> = affines.iter().map(|a| a.scaled(POSITION_SCALE)).collect();
        let (atom14, atom37_positions, atom37_mask) = all_atoms(aatype, &backbones, &angles);
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
