//! Jumper et al. (2021) Suppl. Alg. 13 "TriangleAttentionStartingNode" and Alg. 14
//! "TriangleAttentionEndingNode": gated self-attention along rows (starting node) or columns (ending
//! node) of the pair representation, biased by the pair representation itself.

use ndarray::{Array3, ArrayView2, Axis};
use rayon::prelude::*;

use crate::model::net::evoformer::msa_attention::pair_bias;
use crate::model::ops::primitives::{
    flat2, mask_bias, unflat3, Attention, AttentionDims, AttentionScratch, LayerNorm, Write,
};
use crate::model::params::weights::{Scope, WeightError};

/// Around which node the triangle closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    Starting,
    Ending,
}

#[derive(Debug, Clone)]
pub struct TriangleAttention<'w> {
    pub(crate) node: Node,
    pub(crate) query_norm: LayerNorm<'w>,
    /// `[c_z, H]`
    pub(crate) feat_2d_weights: ArrayView2<'w, f32>,
    pub(crate) attention: Attention<'w>,
}

impl<'w> TriangleAttention<'w> {
    /// Attention over `c_z` pair channels with `heads` heads of `c_z / heads`.
    pub fn load(
        scope: &Scope<'w>,
        node: Node,
        c_z: usize,
        heads: usize,
    ) -> Result<Self, WeightError> {
        Ok(Self {
            node,
            query_norm: LayerNorm::load(&scope.sub("query_norm"), c_z)?,
            feat_2d_weights: scope.matrix("feat_2d_weights", &[c_z], &[heads])?,
            attention: Attention::load(
                &scope.sub("attention"),
                AttentionDims::gated_self(c_z, heads),
            )?,
        })
    }

    /// Residual update of `pair [N, N, c_z]`.
    pub fn forward(&self, pair: &Array3<f32>, mask: ArrayView2<f32>) -> Array3<f32> {
        let mut out = pair.clone();
        self.write(&mut out, mask, Write::Over);
        out
    }

    /// `pair += update`, each row's (column's) update added as soon as it is computed.
    pub fn add_to(&self, pair: &mut Array3<f32>, mask: ArrayView2<f32>) {
        self.write(pair, mask, Write::Add);
    }

    fn write(&self, pair: &mut Array3<f32>, mask: ArrayView2<f32>, write: Write) {
        let n = pair.dim().0;
        // Ending node: attend along columns, i.e. rows of the transposed pair. Its layer-normed input is
        // made from the pair's rows (each pair[j, i, :] is contiguous) straight into the transposed
        // layout, and each column's result is written straight into place: no transposed copies of the
        // pair or of the output (two pair-sized arrays and passes fewer than transposing both). The
        // normed copy is made whole before any line is written, so lines may be updated in place.
        let (act, mask) = match self.node {
            Node::Starting => (
                unflat3(self.query_norm.forward(flat2(pair)), n, n),
                mask.to_owned(),
            ),
            Node::Ending => (
                self.query_norm.forward_transposed(pair),
                mask.t().as_standard_layout().into_owned(),
            ),
        };
        let bias = pair_bias(act.view(), self.feat_2d_weights);
        let lines = match self.node {
            Node::Starting => pair.axis_iter_mut(Axis(0)),
            Node::Ending => pair.axis_iter_mut(Axis(1)),
        };
        lines.into_par_iter().enumerate().for_each_init(
            AttentionScratch::default,
            |scratch, (i, mut o)| {
                let kb = mask_bias(mask.row(i));
                self.attention.apply_into(
                    scratch,
                    act.index_axis(Axis(0), i),
                    kb.view(),
                    Some(bias.view()),
                    o.view_mut(),
                    write,
                );
            },
        );
    }
}
