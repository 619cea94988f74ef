//! Jumper et al. (2021) Suppl. Alg. 11 "TriangleMultiplicationOutgoing" and Alg. 12
//! "TriangleMultiplicationIncoming", as DeepMind's monomer code computes them (separate left/right
//! projections and gates; the mask is applied before the gate). The edge sums run as one GEMM per channel.

use ndarray::{Array2, Array3, ArrayView2, Axis};
use rayon::prelude::*;

use crate::model::primitives::{flat2, layer_norm_scoped, linear_scoped, sigmoid, unflat3};
use crate::model::weights::{Scope, WeightError};

/// Which edges are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `z_ij ← Σ_k a_ik ⊙ b_jk`
    Outgoing,
    /// `z_ij ← Σ_k a_ki ⊙ b_kj` (AlphaFold2: `kjc,kic->ijc` with left/right swapped)
    Incoming,
}

/// Residual update of `pair [N, N, c_z]`.
pub fn triangle_multiplication(
    pair: &Array3<f32>,
    mask: ArrayView2<f32>,
    scope: &Scope,
    dir: Direction,
) -> Result<Array3<f32>, WeightError> {
    let (n, _, c_z) = pair.dim();
    let act = layer_norm_scoped(flat2(pair), &scope.sub("layer_norm_input"))?;
    let mask_flat = mask
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(n * n)
        .expect("mask [N, N]");
    // Projection × mask × sigmoid(gate), channel-major: [c, N, N]
    let gated = |proj: &str, gate: &str| -> Result<Array3<f32>, WeightError> {
        let p = linear_scoped(act.view(), &scope.sub(proj), None)?;
        let g = linear_scoped(act.view(), &scope.sub(gate), Some(p.ncols()))?;
        let c = p.ncols();
        let mut out = Array3::<f32>::zeros((c, n, n));
        for (idx, (prow, grow)) in p.rows().into_iter().zip(g.rows()).enumerate() {
            let (i, j) = (idx / n, idx % n);
            let m = mask_flat[idx];
            for k in 0..c {
                out[[k, i, j]] = m * prow[k] * sigmoid(grow[k]);
            }
        }
        Ok(out)
    };
    let left = gated("left_projection", "left_gate")?;
    let right = gated("right_projection", "right_gate")?;
    let c = left.dim().0;
    // [c, N, N]
    let mut prod = Array3::<f32>::zeros((c, n, n));
    prod.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(k, mut o)| {
            let (l, r) = (left.index_axis(Axis(0), k), right.index_axis(Axis(0), k));
            match dir {
                Direction::Outgoing => {
                    ndarray::linalg::general_mat_mul(1.0, &l, &r.t(), 0.0, &mut o)
                }
                Direction::Incoming => {
                    ndarray::linalg::general_mat_mul(1.0, &r.t(), &l, 0.0, &mut o)
                }
            }
        });
    // back to [N*N, c]
    let x: Array2<f32> = prod
        .permuted_axes([1, 2, 0])
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((n * n, c))
        .expect("contiguous");
    let x = layer_norm_scoped(x.view(), &scope.sub("center_layer_norm"))?;
    let mut out = linear_scoped(x.view(), &scope.sub("output_projection"), Some(c_z))?;
    let gate = linear_scoped(act.view(), &scope.sub("gating_linear"), Some(c_z))?;
    out.zip_mut_with(&gate, |o, &g| *o *= sigmoid(g));
    Ok(unflat3(out, n, n))
}
