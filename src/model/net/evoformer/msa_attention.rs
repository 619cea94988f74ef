//! MSA attention:
//! Jumper et al. (2021) Suppl. Alg. 7 "MSARowAttentionWithPairBias",
//! Alg. 8 "MSAColumnAttention", and Alg. 19 "MSAColumnGlobalAttention" (extra-MSA stack).
//! Each returns the residual update; the block adds it.

use ndarray::{Array3, ArrayView1, ArrayView2, ArrayView3, Axis};
use rayon::prelude::*;

use crate::model::ops::gemm::matmul;
use crate::model::ops::gemm::Weight;
use crate::model::ops::primitives::{
    flat2, layer_norm, linear, mask_bias, softmax_rows, unflat3, Attention, AttentionDims,
    AttentionScratch, LayerNorm, Write,
};
use crate::model::params::weights::{Scope, WeightError};

/// `[N, N, c_z]` → `[H, N, N]` bias from the layer-normed pair representation (`feat_2d_weights`).
pub(crate) fn pair_bias(pair_normed: ArrayView3<f32>, weights: ArrayView2<f32>) -> Array3<f32> {
    let (n, n2, c) = pair_normed.dim();
    let h = weights.ncols();
    // [N*N, H]
    let flat = linear(
        pair_normed
            .into_shape_with_order((n * n2, c))
            .expect("contiguous"),
        &Weight::new(weights),
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
#[derive(Debug, Clone)]
pub struct MsaRowAttentionWithPairBias<'w> {
    pub(crate) query_norm: LayerNorm<'w>,
    pub(crate) feat_2d_norm: LayerNorm<'w>,
    /// `[c_z, H]`
    pub(crate) feat_2d_weights: ArrayView2<'w, f32>,
    pub(crate) attention: Attention<'w>,
}

impl<'w> MsaRowAttentionWithPairBias<'w> {
    pub fn load(
        scope: &Scope<'w>,
        c_m: usize,
        c_z: usize,
        heads: usize,
    ) -> Result<Self, WeightError> {
        Ok(Self {
            query_norm: LayerNorm::load(&scope.sub("query_norm"), c_m)?,
            feat_2d_norm: LayerNorm::load(&scope.sub("feat_2d_norm"), c_z)?,
            feat_2d_weights: scope.matrix("feat_2d_weights", &[c_z], &[heads])?,
            attention: Attention::load(
                &scope.sub("attention"),
                AttentionDims::gated_self(c_m, heads),
            )?,
        })
    }

    /// Update of `msa [N_seq, N_res, c_m]` given `pair [N_res, N_res, c_z]`.
    pub fn forward(
        &self,
        msa: &Array3<f32>,
        msa_mask: ArrayView2<f32>,
        pair: &Array3<f32>,
    ) -> Array3<f32> {
        let mut out = msa.clone();
        self.write(&mut out, msa_mask, pair, Write::Over);
        out
    }

    /// `msa += update`, each row's update added as soon as it is computed.
    pub fn add_to(&self, msa: &mut Array3<f32>, msa_mask: ArrayView2<f32>, pair: &Array3<f32>) {
        self.write(msa, msa_mask, pair, Write::Add);
    }

    /// Each row of `msa` replaced by its update or added to: a row is layer-normed (a copy) before it is
    /// written, and no other row reads it.
    fn write(
        &self,
        msa: &mut Array3<f32>,
        msa_mask: ArrayView2<f32>,
        pair: &Array3<f32>,
        write: Write,
    ) {
        let n_res = msa.dim().1;
        // [N_res, N_res, c_z]
        let z = unflat3(self.feat_2d_norm.forward(flat2(pair)), n_res, n_res);
        let bias = pair_bias(z.view(), self.feat_2d_weights);
        drop(z);
        msa.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each_init(AttentionScratch::default, |scratch, (s_idx, mut o)| {
                // Each task layer-norms its own row: no normed copy of the whole MSA.
                let m = self.query_norm.forward(o.view());
                let kb = mask_bias(msa_mask.row(s_idx));
                self.attention.apply_into(
                    scratch,
                    m.view(),
                    kb.view(),
                    Some(bias.view()),
                    o.view_mut(),
                    write,
                );
            });
    }
}

/// Alg. 8: column-wise gated self-attention over sequences.
#[derive(Debug, Clone)]
pub struct MsaColumnAttention<'w> {
    pub(crate) query_norm: LayerNorm<'w>,
    pub(crate) attention: Attention<'w>,
}

impl<'w> MsaColumnAttention<'w> {
    pub fn load(scope: &Scope<'w>, c_m: usize, heads: usize) -> Result<Self, WeightError> {
        Ok(Self {
            query_norm: LayerNorm::load(&scope.sub("query_norm"), c_m)?,
            attention: Attention::load(
                &scope.sub("attention"),
                AttentionDims::gated_self(c_m, heads),
            )?,
        })
    }

    /// Update of `msa [N_seq, N_res, c_m]`.
    pub fn forward(&self, msa: &Array3<f32>, msa_mask: ArrayView2<f32>) -> Array3<f32> {
        let mut out = msa.clone();
        self.write(&mut out, msa_mask, Write::Over);
        out
    }

    /// `msa += update`, each column's update added as soon as it is computed.
    pub fn add_to(&self, msa: &mut Array3<f32>, msa_mask: ArrayView2<f32>) {
        self.write(msa, msa_mask, Write::Add);
    }

    fn write(&self, msa: &mut Array3<f32>, msa_mask: ArrayView2<f32>, write: Write) {
        // Columns are read and written in place (strided views), each layer-normed by its own task (a
        // copy, made before the column is written): no transposed or normed copies of the whole MSA.
        msa.axis_iter_mut(Axis(1))
            .into_par_iter()
            .enumerate()
            .for_each_init(AttentionScratch::default, |scratch, (r, mut o)| {
                let m = self.query_norm.forward(o.view());
                let kb = mask_bias(msa_mask.column(r));
                self.attention
                    .apply_into(scratch, m.view(), kb.view(), None, o.view_mut(), write);
            });
    }
}

/// Alg. 19: global column attention (one averaged query per column and head; keys and values shared by
/// the heads), gated per sequence.
#[derive(Debug, Clone)]
pub struct MsaColumnGlobalAttention<'w> {
    pub(crate) query_norm: LayerNorm<'w>,
    pub(crate) heads: usize,
    pub(crate) key_dim: usize,
    /// `[c_e, H*d]`
    pub(crate) query: ArrayView2<'w, f32>,
    /// `[c_e, d]`
    pub(crate) key: ArrayView2<'w, f32>,
    /// `[c_e, d]`
    pub(crate) value: ArrayView2<'w, f32>,
    /// `[c_e, H*d]`, `[H*d]`
    pub(crate) gating: (ArrayView2<'w, f32>, ArrayView1<'w, f32>),
    /// `[H*d, c_e]`, `[c_e]`
    pub(crate) output: (ArrayView2<'w, f32>, ArrayView1<'w, f32>),
}

impl<'w> MsaColumnGlobalAttention<'w> {
    pub fn load(scope: &Scope<'w>, c_e: usize, heads: usize) -> Result<Self, WeightError> {
        let a = scope.sub("attention");
        let d = c_e / heads;
        Ok(Self {
            query_norm: LayerNorm::load(&scope.sub("query_norm"), c_e)?,
            heads,
            key_dim: d,
            query: a.matrix("query_w", &[c_e], &[heads, d])?,
            key: a.matrix("key_w", &[c_e], &[d])?,
            value: a.matrix("value_w", &[c_e], &[d])?,
            gating: (
                a.matrix("gating_w", &[c_e], &[heads, d])?,
                a.matrix("gating_b", &[], &[heads, d])?
                    .index_axis_move(Axis(0), 0),
            ),
            output: (
                a.matrix("output_w", &[heads, d], &[c_e])?,
                a.vector("output_b", c_e)?,
            ),
        })
    }

    /// Update of the extra MSA `[N_seq, N_res, c_e]`.
    pub fn forward(&self, msa: &Array3<f32>, msa_mask: ArrayView2<f32>) -> Array3<f32> {
        let mut out = msa.clone();
        self.write(&mut out, msa_mask, Write::Over);
        out
    }

    /// `msa += update`, each column's update added as soon as it is computed.
    pub fn add_to(&self, msa: &mut Array3<f32>, msa_mask: ArrayView2<f32>) {
        self.write(msa, msa_mask, Write::Add);
    }

    /// Each column replaced by its update or added to (layer-normed into a copy before it is written).
    fn write(&self, msa: &mut Array3<f32>, msa_mask: ArrayView2<f32>, write: Write) {
        let (h, d) = (self.heads, self.key_dim);
        msa.axis_iter_mut(Axis(1))
            .into_par_iter()
            .enumerate()
            .for_each(|(r, mut o)| {
                let m = layer_norm(o.view(), self.query_norm.scale, self.query_norm.offset);
                let x = m.view(); // [N_seq, c_e]
                let mask = msa_mask.column(r);
                // Masked mean of the queries over sequences: [c_e]
                let msum = mask.sum();
                let mut q_avg = x.t().dot(&mask);
                q_avg.mapv_inplace(|v| v / (msum + 1e-10));
                // [H*d]
                let mut q = q_avg.dot(&self.query);
                q.mapv_inplace(|v| v * (d as f32).powf(-0.5));
                let k = matmul(x, self.key); // [N_seq, d]
                let v = matmul(x, self.value); // [N_seq, d]
                                               // [H, N_seq]
                let mut logits = q.into_shape_with_order((h, d)).expect("H*d").dot(&k.t());
                let kb = mask_bias(mask);
                logits += &kb.insert_axis(Axis(0));
                softmax_rows(logits.view_mut());
                let avg = logits.dot(&v); // [H, d]
                let mut g = matmul(x, self.gating.0); // [N_seq, H*d]
                g += &self.gating.1;
                let avg_flat = avg.into_shape_with_order(h * d).expect("H*d");
                // The 16-lane sigmoid (the same bits as the scalar one), then the gate applied.
                crate::model::ops::vmath::sigmoid_in_place(g.as_slice_mut().expect("fresh array"));
                g.rows_mut().into_iter().for_each(|mut row| {
                    row.zip_mut_with(&avg_flat, |gv, &a| *gv *= a);
                });
                let mut y = matmul(g.view(), self.output.0);
                y += &self.output.1;
                write.apply(o.view_mut(), y.view());
            });
    }
}
