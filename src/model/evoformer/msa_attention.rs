//! MSA attention:
//! Jumper et al. (2021) Suppl. Alg. 7 "MSARowAttentionWithPairBias",
//! Alg. 8 "MSAColumnAttention", and Alg. 19 "MSAColumnGlobalAttention" (extra-MSA stack).
//! Each returns the residual update; the block adds it.

use ndarray::{Array3, ArrayView1, ArrayView2, ArrayView3, Axis};
use rayon::prelude::*;

use crate::model::primitives::{
    flat2, layer_norm, layer_norm_scoped, mask_bias, sigmoid, softmax_rows, unflat3,
    AttentionWeights,
};
use crate::model::weights::{Scope, WeightError};

/// `[N, N, c_z]` → `[H, N, N]` bias from the layer-normed pair representation (`feat_2d_weights`).
pub fn pair_bias(pair_normed: ArrayView3<f32>, weights: ArrayView2<f32>) -> Array3<f32> {
    let (n, n2, c) = pair_normed.dim();
    let h = weights.ncols();
    // [N*N, H]
    let flat = crate::model::primitives::linear(
        pair_normed
            .into_shape_with_order((n * n2, c))
            .expect("contiguous"),
        weights,
        None,
    );
    // [H, N*N] → [H, N, N]
    flat.t()
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((h, n, n2))
        .expect("H*N*N values")
}

/// Alg. 7: row-wise gated self-attention over residues, biased by the pair representation.
pub fn row_attention_with_pair_bias(
    msa: &Array3<f32>,
    msa_mask: ArrayView2<f32>,
    pair: &Array3<f32>,
    scope: &Scope,
) -> Result<Array3<f32>, WeightError> {
    let (n_seq, n_res, c_m) = msa.dim();
    let c_z = pair.dim().2;
    let (scale, offset) = query_norm(scope, c_m)?;
    // [N_res, N_res, c_z]
    let z = unflat3(
        layer_norm_scoped(flat2(pair), &scope.sub("feat_2d_norm"))?,
        n_res,
        n_res,
    );
    let w2d = scope.matrix("feat_2d_weights", 1, Some(c_z), None)?;
    let bias = pair_bias(z.view(), w2d);
    drop(z);
    let attn = AttentionWeights::load(&scope.sub("attention"), c_m)?;
    let mut out = Array3::<f32>::zeros((n_seq, n_res, c_m));
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(s_idx, mut o)| {
            // Each task layer-norms its own row: no normed copy of the whole MSA.
            let m = layer_norm(msa.index_axis(Axis(0), s_idx), scale, offset);
            let kb = mask_bias(msa_mask.row(s_idx));
            o.assign(&attn.apply(m.view(), kb.view(), Some(bias.view())));
        });
    Ok(out)
}

/// `query_norm`'s scale and offset for `c` channels.
fn query_norm<'a>(
    scope: &Scope<'a>,
    c: usize,
) -> Result<(ArrayView1<'a, f32>, ArrayView1<'a, f32>), WeightError> {
    let norm = scope.sub("query_norm");
    Ok((norm.vec("scale", Some(c))?, norm.vec("offset", Some(c))?))
}

/// Alg. 8: column-wise gated self-attention over sequences.
pub fn column_attention(
    msa: &Array3<f32>,
    msa_mask: ArrayView2<f32>,
    scope: &Scope,
) -> Result<Array3<f32>, WeightError> {
    let (n_seq, n_res, c_m) = msa.dim();
    let (scale, offset) = query_norm(scope, c_m)?;
    let attn = AttentionWeights::load(&scope.sub("attention"), c_m)?;
    // Columns are read and written in place (strided views), each layer-normed by its own task: no
    // transposed or normed copies of the whole MSA.
    let mut out = Array3::<f32>::zeros((n_seq, n_res, c_m));
    out.axis_iter_mut(Axis(1))
        .into_par_iter()
        .enumerate()
        .for_each(|(r, mut o)| {
            let m = layer_norm(msa.index_axis(Axis(1), r), scale, offset);
            let kb = mask_bias(msa_mask.column(r));
            o.assign(&attn.apply(m.view(), kb.view(), None));
        });
    Ok(out)
}

/// Alg. 19: global column attention (one averaged query per column and head; keys and values shared by
/// the heads), gated per sequence.
pub fn column_global_attention(
    msa: &Array3<f32>,
    msa_mask: ArrayView2<f32>,
    scope: &Scope,
) -> Result<Array3<f32>, WeightError> {
    let (n_seq, n_res, c_e) = msa.dim();
    let (scale, offset) = query_norm(scope, c_e)?;
    let a = scope.sub("attention");
    let qs = a.shape("query_w")?;
    let (h, d) = (qs[1], qs[2]);
    let wq = a.matrix("query_w", 1, Some(c_e), Some(h * d))?;
    let wk = a.matrix("key_w", 1, Some(c_e), Some(d))?;
    let wv = a.matrix("value_w", 1, Some(c_e), None)?;
    let dv = wv.ncols();
    let wg = a.matrix("gating_w", 1, Some(c_e), Some(h * dv))?;
    let bg = a
        .get("gating_b")?
        .into_shape_with_order(h * dv)
        .map_err(|_| WeightError::Missing(format!("{}//gating_b", a.path())))?;
    let wo = a.matrix("output_w", 2, Some(h * dv), Some(c_e))?;
    let bo = a.vec("output_b", Some(c_e))?;
    let mut out = Array3::<f32>::zeros((n_seq, n_res, c_e));
    out.axis_iter_mut(Axis(1))
        .into_par_iter()
        .enumerate()
        .for_each(|(r, mut o)| {
            let m = layer_norm(msa.index_axis(Axis(1), r), scale, offset);
            let x = m.view(); // [N_seq, c_e]
            let mask = msa_mask.column(r);
            // Masked mean of the queries over sequences: [c_e]
            let msum = mask.sum();
            let mut q_avg = x.t().dot(&mask);
            q_avg.mapv_inplace(|v| v / (msum + 1e-10));
            // [H*d]
            let mut q = q_avg.dot(&wq);
            q.mapv_inplace(|v| v * (d as f32).powf(-0.5));
            let k = x.dot(&wk); // [N_seq, d]
            let v = x.dot(&wv); // [N_seq, dv]
                                // [H, N_seq]
            let mut logits = q.into_shape_with_order((h, d)).expect("H*d").dot(&k.t());
            let kb = mask_bias(mask);
            logits += &kb.insert_axis(Axis(0));
            softmax_rows(logits.view_mut());
            let avg = logits.dot(&v); // [H, dv]
            let mut g = x.dot(&wg); // [N_seq, H*dv]
            g += &bg;
            let avg_flat = avg.into_shape_with_order(h * dv).expect("H*dv");
            g.rows_mut().into_iter().for_each(|mut row| {
                row.zip_mut_with(&avg_flat, |gv, &a| *gv = sigmoid(*gv) * a);
            });
            let mut y = g.dot(&wo);
            y += &bo;
            o.assign(&y);
        });
    Ok(out)
}
