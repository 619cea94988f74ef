//! Jumper et al. (2021) Suppl. Alg. 13 "TriangleAttentionStartingNode" and Alg. 14
//! "TriangleAttentionEndingNode": gated self-attention along rows (starting node) or columns (ending
//! node) of the pair representation, biased by the pair representation itself.

use ndarray::{Array3, ArrayView2, Axis};
use rayon::prelude::*;

use super::msa_attention::pair_bias;
use crate::model::primitives::{flat2, layer_norm_scoped, mask_bias, unflat3, AttentionWeights};
use crate::model::weights::{Scope, WeightError};

/// Around which node the triangle closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    Starting,
    Ending,
}

/// Residual update of `pair [N, N, c_z]`.
pub fn triangle_attention(
    pair: &Array3<f32>,
    mask: ArrayView2<f32>,
    scope: &Scope,
    node: Node,
) -> Result<Array3<f32>, WeightError> {
    let (n, _, c_z) = pair.dim();
    // Ending node: attend along columns, i.e. rows of the transposed pair.
    // The starting node reads the pair as it is; only the ending node needs a transposed copy, dropped
    // once layer-normed (pair-sized arrays are what bound memory).
    let (act, mask) = match node {
        Node::Starting => (
            layer_norm_scoped(flat2(pair), &scope.sub("query_norm"))?,
            mask.to_owned(),
        ),
        Node::Ending => {
            let x = pair
                .view()
                .permuted_axes([1, 0, 2])
                .as_standard_layout()
                .into_owned();
            (
                layer_norm_scoped(flat2(&x), &scope.sub("query_norm"))?,
                mask.t().as_standard_layout().into_owned(),
            )
        }
    };
    let act = unflat3(act, n, n);
    let w2d = scope.matrix("feat_2d_weights", 1, Some(c_z), None)?;
    let bias = pair_bias(act.view(), w2d);
    let attn = AttentionWeights::load(&scope.sub("attention"), c_z)?;
    let mut out = Array3::<f32>::zeros((n, n, c_z));
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(i, mut o)| {
            let kb = mask_bias(mask.row(i));
            o.assign(&attn.apply(act.index_axis(Axis(0), i), kb.view(), Some(bias.view())));
        });
    drop(act);
    Ok(match node {
        Node::Starting => out,
        Node::Ending => out
            .permuted_axes([1, 0, 2])
            .as_standard_layout()
            .into_owned(),
    })
}
