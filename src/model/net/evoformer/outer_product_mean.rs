//! Jumper et al. (2021) Suppl. Alg. 10 "OuterProductMean": the MSA's contribution to the pair
//! representation, `mean_s(a_si ⊗ b_sj)` projected to `c_z`, normalised by the number of sequences where
//! both residues are present (+1e-3, after the bias, as AlphaFold2 does).

use ndarray::{s, Array2, Array3, ArrayView1, ArrayView2, Axis};
use rayon::prelude::*;

use crate::model::ops::gemm::matmul;
use crate::model::ops::primitives::{flat2, unflat3, LayerNorm, Linear};
use crate::model::params::weights::{Scope, WeightError};

#[derive(Debug, Clone)]
pub struct OuterProductMean<'w> {
    pub(crate) layer_norm_input: LayerNorm<'w>,
    pub(crate) left_projection: Linear<'w>,
    pub(crate) right_projection: Linear<'w>,
    /// `[c*c, c_z]` (from `[c, c, c_z]`)
    pub(crate) output_w: ArrayView2<'w, f32>,
    pub(crate) output_b: ArrayView1<'w, f32>,
}

impl<'w> OuterProductMean<'w> {
    /// `c` outer-product channels between `c_m` MSA and `c_z` pair channels.
    pub fn load(scope: &Scope<'w>, c_m: usize, c: usize, c_z: usize) -> Result<Self, WeightError> {
        Ok(Self {
            layer_norm_input: LayerNorm::load(&scope.sub("layer_norm_input"), c_m)?,
            left_projection: Linear::load(&scope.sub("left_projection"), c_m, c)?,
            right_projection: Linear::load(&scope.sub("right_projection"), c_m, c)?,
            output_w: scope.matrix("output_w", &[c, c], &[c_z])?,
            output_b: scope.vector("output_b", c_z)?,
        })
    }

    /// Update of the pair representation `[N_res, N_res, c_z]` from `msa [N_seq, N_res, c_m]`.
    pub fn forward(&self, msa: &Array3<f32>, msa_mask: ArrayView2<f32>) -> Array3<f32> {
        let (n_seq, n_res, _) = msa.dim();
        let c_z = self.output_b.len();
        let act = self.layer_norm_input.forward(flat2(msa));
        let mask_flat = msa_mask
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(n_seq * n_res)
            .expect("mask [S, N]");
        let project = |lin: &Linear| -> Array3<f32> {
            let mut p = lin.forward(act.view());
            for (mut row, &m) in p.rows_mut().into_iter().zip(mask_flat.iter()) {
                row.mapv_inplace(|v| v * m);
            }
            unflat3(p, n_seq, n_res)
        };
        // [N_seq, N_res, c]
        let left = project(&self.left_projection);
        let right = project(&self.right_projection);
        let c = left.dim().2;
        // right as [N_seq, N_res*c]
        let right2 = right
            .view()
            .into_shape_with_order((n_seq, n_res * c))
            .expect("contiguous");
        let mut out = Array3::<f32>::zeros((n_res, n_res, c_z));
        out.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(i, mut oi)| {
                // [c, N_seq] @ [N_seq, N_res*c] → [c, N_res*c]: outer[c, j*c + e] = Σ_s left[s,i,c] right[s,j,e]
                let li = left.slice(s![.., i, ..]);
                let outer = matmul(li.t(), right2);
                // → [N_res, c*c] with (c, e) flattened as c*C + e, matching output_w [c, e, c_z]
                let mut x = Array2::<f32>::zeros((n_res, c * c));
                for cc in 0..c {
                    let row = outer
                        .row(cc)
                        .into_shape_with_order((n_res, c))
                        .expect("N_res*c");
                    x.slice_mut(s![.., cc * c..(cc + 1) * c]).assign(&row);
                }
                let mut y = matmul(x.view(), self.output_w);
                y += &self.output_b;
                oi.assign(&y);
            });
        // norm[i, j] = Σ_s mask[s,i] mask[s,j]
        let norm = msa_mask.t().dot(&msa_mask);
        for ((i, j, _), v) in out.indexed_iter_mut() {
            *v /= 1e-3 + norm[[i, j]];
        }
        out
    }
}
