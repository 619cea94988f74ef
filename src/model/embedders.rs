//! Input embeddings: Jumper et al. (2021) Suppl. Alg. 3 "InputEmbedder" (with Alg. 4 "relpos" and Alg. 5
//! "one_hot"), Alg. 32 "RecyclingEmbedder", and the extra-MSA embedding of Alg. 2 line 11 (Suppl. 1.4).

use ndarray::{s, Array2, Array3, ArrayView2, ArrayView3, Axis};

use super::config::ModelConfig;
use super::inputs::{Recycled, TrunkInputs};
use super::primitives::{flat2, layer_norm_scoped, linear_scoped, unflat3};
use super::weights::{Scope, WeightError};
use crate::residue_constants as rc;

/// Alg. 3 lines 1-5: the initial MSA `[S, N, c_m]` and pair `[N, N, c_z]` representations, with Alg. 4's
/// relative-position encoding added to the pair.
pub fn input_embedder(
    x: &TrunkInputs,
    cfg: &ModelConfig,
    evo: &Scope,
) -> Result<(Array3<f32>, Array3<f32>), WeightError> {
    let n = x.num_res();
    let (s, _, _) = x.msa_feat.dim();
    let tf = x.target_feat.view();
    let a1 = linear_scoped(tf, &evo.sub("preprocess_1d"), Some(cfg.msa_channel))?;
    let m = linear_scoped(
        flat2(&x.msa_feat),
        &evo.sub("preprocess_msa"),
        Some(cfg.msa_channel),
    )?;
    let mut msa = unflat3(m, s, n);
    msa += &a1.view().insert_axis(Axis(0));
    let left = linear_scoped(tf, &evo.sub("left_single"), Some(cfg.pair_channel))?;
    let right = linear_scoped(tf, &evo.sub("right_single"), Some(cfg.pair_channel))?;
    let mut pair = Array3::<f32>::zeros((n, n, cfg.pair_channel));
    pair += &left.view().insert_axis(Axis(1));
    pair += &right.view().insert_axis(Axis(0));
    Ok((msa, pair))
}

/// Alg. 4 "relpos": `pair += Linear(one_hot(clip(i - j, -32, 32)))`. A one-hot times a matrix is a row
/// lookup, so no GEMM is needed.
pub fn add_relpos(
    pair: &mut Array3<f32>,
    residue_index: &[i32],
    cfg: &ModelConfig,
    evo: &Scope,
) -> Result<(), WeightError> {
    let classes = 2 * cfg.max_relative_feature + 1;
    let sc = evo.sub("pair_activiations"); // sic: AlphaFold2's parameter name
    let w = sc.matrix("weights", 1, Some(classes), Some(cfg.pair_channel))?;
    let b = sc.vec("bias", Some(cfg.pair_channel))?;
    let max = cfg.max_relative_feature as i64;
    for (i, &ri) in residue_index.iter().enumerate() {
        for (j, &rj) in residue_index.iter().enumerate() {
            let off = (ri as i64 - rj as i64 + max).clamp(0, 2 * max) as usize;
            let mut z = pair.slice_mut(s![i, j, ..]);
            z += &w.row(off);
            z += &b;
        }
    }
    Ok(())
}

/// Pseudo-β positions `[N, 3]`: Cα for glycine, Cβ otherwise (AlphaFold2's `pseudo_beta_fn`).
pub fn pseudo_beta(aatype: &[i32], pos: ArrayView3<f32>) -> Array2<f32> {
    let gly = rc::RESTYPES
        .iter()
        .position(|&r| r == 'G')
        .expect("G is a restype") as i32;
    let ca = rc::atom37_index("CA").expect("CA");
    let cb = rc::atom37_index("CB").expect("CB");
    let mut out = Array2::zeros((aatype.len(), 3));
    for (i, &t) in aatype.iter().enumerate() {
        let a = if t == gly { ca } else { cb };
        out.row_mut(i).assign(&pos.slice(s![i, a, ..]));
    }
    out
}

/// Alg. 32 "RecyclingEmbedder": adds the layer-normed previous first MSA row and pair, and the one-hot
/// distogram of the previous pseudo-β positions (15 bins, lower edges 3.25 … 20.75 Å), to the new
/// representations.
pub fn recycle(
    msa: &mut Array3<f32>,
    pair: &mut Array3<f32>,
    prev: &Recycled,
    aatype: &[i32],
    cfg: &ModelConfig,
    evo: &Scope,
) -> Result<(), WeightError> {
    let n = pair.dim().0;
    // Distogram of the previous pseudo-β positions, squared bin edges as AlphaFold2 compares squared distances.
    let x = pseudo_beta(aatype, prev.pos.view());
    let nb = cfg.prev_pos_num_bins;
    let lower: Vec<f32> = (0..nb)
        .map(|k| {
            let e = cfg.prev_pos_min_bin
                + (cfg.prev_pos_max_bin - cfg.prev_pos_min_bin) * k as f32 / (nb - 1) as f32;
            e * e
        })
        .collect();
    let upper: Vec<f32> = lower[1..]
        .iter()
        .copied()
        .chain(std::iter::once(1e8))
        .collect();
    let sc = evo.sub("prev_pos_linear");
    let w = sc.matrix("weights", 1, Some(nb), Some(cfg.pair_channel))?;
    let b = sc.vec("bias", Some(cfg.pair_channel))?;
    for i in 0..n {
        for j in 0..n {
            let d2: f32 = (0..3).map(|k| (x[[i, k]] - x[[j, k]]).powi(2)).sum();
            let mut z = pair.slice_mut(s![i, j, ..]);
            z += &b;
            if let Some(bin) = (0..nb).find(|&k| d2 > lower[k] && d2 < upper[k]) {
                z += &w.row(bin);
            }
        }
    }
    let first = layer_norm_scoped(
        prev.msa_first_row.view(),
        &evo.sub("prev_msa_first_row_norm"),
    )?;
    let mut row0 = msa.index_axis_mut(Axis(0), 0);
    row0 += &first;
    let p = layer_norm_scoped(flat2(&prev.pair), &evo.sub("prev_pair_norm"))?;
    *pair += &unflat3(p, n, n);
    Ok(())
}

/// Extra-MSA embedding (Alg. 2 line 11): `Linear(one_hot(extra_msa, 23) ‖ has_deletion ‖ deletion_value)`,
/// computed as a row lookup plus two rank-one terms.
pub fn extra_msa_embedding(
    x: &TrunkInputs,
    cfg: &ModelConfig,
    evo: &Scope,
) -> Result<Array3<f32>, WeightError> {
    let (se, n) = x.extra_msa.dim();
    let sc = evo.sub("extra_msa_activations");
    let w = sc.matrix("weights", 1, Some(25), Some(cfg.extra_msa_channel))?;
    let b = sc.vec("bias", Some(cfg.extra_msa_channel))?;
    let mut out = Array3::<f32>::zeros((se, n, cfg.extra_msa_channel));
    let (w_del, w_val): (ArrayView2<f32>, _) = (w.slice(s![23..24, ..]), w.row(24));
    for ((si, ri, _), _) in x.extra_msa.indexed_iter().map(|((a, b), v)| ((a, b, 0), v)) {
        let code = x.extra_msa[[si, ri]];
        let mut e = out.slice_mut(s![si, ri, ..]);
        e += &b;
        if (0..23).contains(&code) {
            e += &w.row(code as usize);
        }
        e.scaled_add(x.extra_has_deletion[[si, ri]], &w_del.row(0));
        e.scaled_add(x.extra_deletion_value[[si, ri]], &w_val);
    }
    Ok(out)
}
