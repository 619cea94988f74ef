//! Jumper et al. (2021) Suppl. Alg. 10 "OuterProductMean": the MSA's contribution to the pair
//! representation, `mean_s(a_si ⊗ b_sj)` projected to `c_z`, normalised by the number of sequences where
//! both residues are present (+1e-3, after the bias, as AlphaFold2 does).

use ndarray::{s, Array2, Array3, ArrayView2, Axis};
use rayon::prelude::*;

use crate::model::primitives::{flat2, layer_norm_scoped, linear_scoped, unflat3};
use crate::model::weights::{Scope, WeightError};

/// Update of the pair representation `[N_res, N_res, c_z]` from `msa [N_seq, N_res, c_m]`.
pub fn outer_product_mean(
    msa: &Array3<f32>,
    msa_mask: ArrayView2<f32>,
    scope: &Scope,
    c_z: usize,
) -> Result<Array3<f32>, WeightError> {
    let (n_seq, n_res, _) = msa.dim();
    let act = layer_norm_scoped(flat2(msa), &scope.sub("layer_norm_input"))?;
    let mask_flat = msa_mask
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(n_seq * n_res)
        .expect("mask [S, N]");
    let project = |name: &str| -> Result<Array3<f32>, WeightError> {
        let mut p = linear_scoped(act.view(), &scope.sub(name), None)?;
        for (mut row, &m) in p.rows_mut().into_iter().zip(mask_flat.iter()) {
            row.mapv_inplace(|v| v * m);
        }
        Ok(unflat3(p, n_seq, n_res))
    };
    // [N_seq, N_res, c]
    let left = project("left_projection")?;
    let right = project("right_projection")?;
    let c = left.dim().2;
    let w = scope.matrix("output_w", 2, Some(c * c), Some(c_z))?;
    let b = scope.vec("output_b", Some(c_z))?;
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
            let outer = li.t().dot(&right2);
            // → [N_res, c*c] with (c, e) flattened as c*C + e, matching output_w [c, e, c_z]
            let mut x = Array2::<f32>::zeros((n_res, c * c));
            for cc in 0..c {
                let row = outer
                    .row(cc)
                    .into_shape_with_order((n_res, c))
                    .expect("N_res*c");
                x.slice_mut(s![.., cc * c..(cc + 1) * c]).assign(&row);
            }
            let mut y = x.dot(&w);
            y += &b;
            oi.assign(&y);
        });
    // norm[i, j] = Σ_s mask[s,i] mask[s,j]
    let norm = msa_mask.t().dot(&msa_mask);
    for ((i, j, _), v) in out.indexed_iter_mut() {
        *v /= 1e-3 + norm[[i, j]];
    }
    Ok(out)
}
