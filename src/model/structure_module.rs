//! Jumper et al. (2021) Suppl. Alg. 20 "StructureModule": `structure_layers` applications of one shared
//! fold iteration — Alg. 22 "InvariantPointAttention", the transition, Alg. 23 "BackboneUpdate" — and,
//! per layer, the side-chain torsion network and Alg. 24 "computeAllAtomCoordinates" (with Alg. 25
//! "makeRotX") turning backbone frames and torsions into atom14 then atom37 positions.
//! Lengths inside the module are in AlphaFold2's scaled units (Å / 10); outputs are in Å.

use ndarray::{s, Array1, Array2, Array3, ArrayView2, ArrayView3, Axis};
use rayon::prelude::*;

use super::config::ModelConfig;
use super::geometry::{QuatAffine, Rigid};
use super::primitives::{flat2, layer_norm, layer_norm_scoped, linear_scoped, softmax_rows};
use super::weights::{Scope, WeightError};
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

/// Alg. 22: invariant point attention over `act [N, c]` with frames `affines`, biased by the layer-normed
/// pair representation `pair [N, N, c_z]`.
fn invariant_point_attention(
    act: ArrayView2<f32>,
    pair: ArrayView3<f32>,
    affines: &[QuatAffine],
    mask: &Array1<f32>,
    cfg: &ModelConfig,
    sc: &Scope,
) -> Result<Array2<f32>, WeightError> {
    let n = act.nrows();
    let c_z = pair.dim().2;
    let (h, sqk, sv, pq, pv) = (
        cfg.ipa_heads,
        cfg.ipa_scalar_qk,
        cfg.ipa_scalar_v,
        cfg.ipa_point_qk,
        cfg.ipa_point_v,
    );
    let q_scalar = linear_scoped(act, &sc.sub("q_scalar"), Some(h * sqk))?; // [N, H*Sqk]
    let kv_scalar = linear_scoped(act, &sc.sub("kv_scalar"), Some(h * (sqk + sv)))?; // [N, H*(Sqk+Sv)]
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
    let q_point = to_global(
        linear_scoped(act, &sc.sub("q_point_local"), Some(3 * h * pq))?,
        pq,
    ); // [N][H][Pq]
    let kv_point = to_global(
        linear_scoped(act, &sc.sub("kv_point_local"), Some(3 * h * (pq + pv)))?,
        pq + pv,
    );
    let softplus = |x: f32| if x > 20.0 { x } else { x.exp().ln_1p() };
    let tw = sc.vec("trainable_point_weights", Some(h))?;
    let scalar_w = (1.0 / (3.0 * sqk as f32)).sqrt();
    let point_w0 = (1.0 / (3.0 * pq as f32 * 9.0 / 2.0)).sqrt();
    let w2d = (1.0f32 / 3.0).sqrt();
    // [N*N, H] pair bias
    let b2d = linear_scoped(
        pair.into_shape_with_order((n * n, c_z))
            .expect("contiguous"),
        &sc.sub("attention_2d"),
        Some(h),
    )?;

    let width = h * sv + 4 * h * pv + h * c_z;
    let mut features = Array2::<f32>::zeros((n, width));
    let per_head: Vec<Array2<f32>> = (0..h)
        .into_par_iter()
        .map(|head| {
            let pw = point_w0 * softplus(tw[head]);
            let mut logits = Array2::<f32>::zeros((n, n));
            for i in 0..n {
                for j in 0..n {
                    let mut qk = 0.0;
                    for c in 0..sqk {
                        qk += scalar_w
                            * q_scalar[[i, head * sqk + c]]
                            * kv_scalar[[j, head * (sqk + sv) + c]];
                    }
                    let mut d2 = 0.0;
                    for p in 0..pq {
                        let a = q_point[i * h * pq + head * pq + p];
                        let b = kv_point[j * h * (pq + pv) + head * (pq + pv) + p];
                        d2 += pw
                            * ((a[0] - b[0]).powi(2)
                                + (a[1] - b[1]).powi(2)
                                + (a[2] - b[2]).powi(2));
                    }
                    logits[[i, j]] = qk - 0.5 * d2 + w2d * b2d[[i * n + j, head]]
                        - 1e5 * (1.0 - mask[i] * mask[j]);
                }
            }
            softmax_rows(logits.view_mut());
            logits
        })
        .collect();
    for (head, attn) in per_head.iter().enumerate() {
        for i in 0..n {
            let mut f = features.row_mut(i);
            for c in 0..sv {
                let mut acc = 0.0;
                for j in 0..n {
                    acc += attn[[i, j]] * kv_scalar[[j, head * (sqk + sv) + sqk + c]];
                }
                f[head * sv + c] = acc;
            }
            for p in 0..pv {
                let mut g = [0f32; 3];
                for j in 0..n {
                    let v = kv_point[j * h * (pq + pv) + head * (pq + pv) + pq + p];
                    for k in 0..3 {
                        g[k] += attn[[i, j]] * v[k];
                    }
                }
                let local = affines[i].rigid.invert_apply(g);
                let base = h * sv;
                let col = head * pv + p;
                f[base + col] = local[0];
                f[base + h * pv + col] = local[1];
                f[base + 2 * h * pv + col] = local[2];
                f[base + 3 * h * pv + col] =
                    (1e-8 + local[0] * local[0] + local[1] * local[1] + local[2] * local[2]).sqrt();
            }
            let base = h * sv + 4 * h * pv + head * c_z;
            let row = attn.row(i);
            let o = row.dot(&pair.slice(s![i, .., ..]));
            f.slice_mut(s![base..base + c_z]).assign(&o);
        }
    }
    linear_scoped(
        features.view(),
        &sc.sub("output_projection"),
        Some(cfg.structure_channel),
    )
}

/// Side-chain torsion network (AlphaFold2's `MultiRigidSidechain`): `[N, 7, 2]` normalised (sin, cos).
fn torsion_angles(
    act: ArrayView2<f32>,
    initial: ArrayView2<f32>,
    sc: &Scope,
) -> Result<(Array3<f32>, Array3<f32>), WeightError> {
    let n = act.nrows();
    let mut a = linear_scoped(
        relu(act.to_owned()).view(),
        &sc.sub("input_projection"),
        None,
    )?;
    a += &linear_scoped(
        relu(initial.to_owned()).view(),
        &sc.sub("input_projection_1"),
        Some(a.ncols()),
    )?;
    for (r1, r2) in [("resblock1", "resblock2"), ("resblock1_1", "resblock2_1")] {
        let h = linear_scoped(relu(a.clone()).view(), &sc.sub(r1), None)?;
        let h = linear_scoped(relu(h).view(), &sc.sub(r2), Some(a.ncols()))?;
        a += &h;
    }
    let raw = linear_scoped(relu(a).view(), &sc.sub("unnormalized_angles"), Some(14))?;
    let raw = raw.into_shape_with_order((n, 7, 2)).expect("14 = 7 x 2");
    let mut norm = raw.clone();
    for mut v in norm.lanes_mut(Axis(2)) {
        let l = (v[0] * v[0] + v[1] * v[1]).max(1e-12).sqrt();
        v.mapv_inplace(|x| x / l);
    }
    Ok((norm, raw))
}

/// Alg. 24: rigid-group frames from the backbone frame and torsions, then atom14 positions from the
/// idealised literature positions. `backbone` is in Å.
pub fn atom14_from_torsions(
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

/// atom14 → atom37 by atom name (AlphaFold2's `atom14_to_atom37` with `atom37_atom_exists`).
pub fn atom14_to_atom37(aatype: &[usize], atom14: &Array3<f32>) -> (Array3<f32>, Array2<f32>) {
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

/// Alg. 20 on the trunk's single `[N, c_s]` and pair `[N, N, c_z]` representations.
pub fn structure_module(
    single: &Array2<f32>,
    pair: &Array3<f32>,
    aatype: &[usize],
    seq_mask: &Array1<f32>,
    cfg: &ModelConfig,
    root: &Scope,
) -> Result<StructureOutput, WeightError> {
    let sm = root.sub("structure_module");
    let n = single.nrows();
    let initial = layer_norm_scoped(single.view(), &sm.sub("single_layer_norm"))?;
    let mut act = linear_scoped(
        initial.view(),
        &sm.sub("initial_projection"),
        Some(cfg.structure_channel),
    )?;
    let c_z = pair.dim().2;
    let pair_ln = layer_norm_scoped(flat2(pair), &sm.sub("pair_layer_norm"))?
        .into_shape_with_order((n, n, c_z))
        .expect("N*N rows");
    let fi = sm.sub("fold_iteration");
    let ipa = fi.sub("invariant_point_attention");
    let att_ln = fi.sub("attention_layer_norm");
    let tr_ln = fi.sub("transition_layer_norm");
    let (att_scale, att_offset) = (att_ln.vec("scale", None)?, att_ln.vec("offset", None)?);
    let (tr_scale, tr_offset) = (tr_ln.vec("scale", None)?, tr_ln.vec("offset", None)?);
    let mut affines = vec![QuatAffine::IDENTITY; n];
    let mut traj = Array3::zeros((cfg.structure_layers, n, 7));
    let mut angles = Array3::zeros((n, 7, 2));
    for layer in 0..cfg.structure_layers {
        act +=
            &invariant_point_attention(act.view(), pair_ln.view(), &affines, seq_mask, cfg, &ipa)?;
        act = layer_norm(act.view(), att_scale, att_offset);
        let input = act.clone();
        for k in 0..cfg.structure_transition_layers {
            let name = if k == 0 {
                "transition".to_string()
            } else {
                format!("transition_{k}")
            };
            act = linear_scoped(act.view(), &fi.sub(&name), Some(cfg.structure_channel))?;
            if k + 1 < cfg.structure_transition_layers {
                act.mapv_inplace(|v| v.max(0.0));
            }
        }
        act += &input;
        act = layer_norm(act.view(), tr_scale, tr_offset);
        let upd = linear_scoped(act.view(), &fi.sub("affine_update"), Some(6))?;
        for (i, a) in affines.iter_mut().enumerate() {
            let u = upd.row(i);
            *a = a.pre_compose([u[0], u[1], u[2], u[3], u[4], u[5]]);
            traj.slice_mut(s![layer, i, ..])
                .assign(&ndarray::arr1(&a.to_tensor(POSITION_SCALE)));
        }
        angles = torsion_angles(act.view(), initial.view(), &fi.sub("rigid_sidechain"))?.0;
    }
    let mut atom14 = Array3::zeros((n, 14, 3));
    for i in 0..n {
        let pos = atom14_from_torsions(
            aatype[i],
            &affines[i].scaled(POSITION_SCALE),
            angles.index_axis(Axis(0), i),
        );
        for (a, p) in pos.iter().enumerate() {
            atom14.slice_mut(s![i, a, ..]).assign(&ndarray::arr1(p));
        }
    }
    let (atom37_positions, atom37_mask) = atom14_to_atom37(aatype, &atom14);
    Ok(StructureOutput {
        traj,
        act,
        angles_sin_cos: angles,
        atom14_positions: atom14,
        atom37_positions,
        atom37_mask,
    })
}
