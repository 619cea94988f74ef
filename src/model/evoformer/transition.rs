//! Jumper et al. (2021) Suppl. Alg. 9 "MSATransition" and Alg. 15 "PairTransition": layer norm, a 4×
//! (pair: AlphaFold2 config) wide ReLU layer and a projection back. (AlphaFold2 computes a mask here but
//! does not apply it; neither do we.)

use ndarray::Array3;

use crate::model::primitives::{flat2, layer_norm_scoped, linear_scoped, unflat3};
use crate::model::weights::{Scope, WeightError};

/// Residual update of a transition over the last axis of `x` (`[A, B, c]`).
pub fn transition(x: &Array3<f32>, scope: &Scope) -> Result<Array3<f32>, WeightError> {
    let (a, b, c) = x.dim();
    let h = layer_norm_scoped(flat2(x), &scope.sub("input_layer_norm"))?;
    let mut h = linear_scoped(h.view(), &scope.sub("transition1"), None)?;
    h.mapv_inplace(|v| v.max(0.0));
    let out = linear_scoped(h.view(), &scope.sub("transition2"), Some(c))?;
    Ok(unflat3(out, a, b))
}
