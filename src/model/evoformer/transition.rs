//! Jumper et al. (2021) Suppl. Alg. 9 "MSATransition" and Alg. 15 "PairTransition": layer norm, a 4×
//! wide ReLU layer and a projection back. (AlphaFold2 computes a mask here but does not apply it; neither do
//! we.) Rows are processed in chunks sized from the runtime budget, in parallel: the wide hidden layer is
//! the largest temporary of the Evoformer (4·c_z floats per pair entry).

use ndarray::{s, Array2, Array3, Axis};
use rayon::prelude::*;

use crate::model::config::RuntimeOptions;
use crate::model::primitives::{flat2, layer_norm, linear, unflat3};
use crate::model::weights::{Scope, WeightError};

/// Residual update of a transition over the last axis of `x` (`[A, B, c]`).
pub fn transition(
    x: &Array3<f32>,
    scope: &Scope,
    rt: &RuntimeOptions,
) -> Result<Array3<f32>, WeightError> {
    let (a, b, c) = x.dim();
    let ln = scope.sub("input_layer_norm");
    let (scale, offset) = (ln.vec("scale", Some(c))?, ln.vec("offset", Some(c))?);
    let t1 = scope.sub("transition1");
    let w1 = t1.matrix("weights", 1, Some(c), None)?;
    let b1 = t1.vec("bias", Some(w1.ncols()))?;
    let t2 = scope.sub("transition2");
    let w2 = t2.matrix("weights", 1, Some(w1.ncols()), Some(c))?;
    let b2 = t2.vec("bias", Some(c))?;
    let rows = a * b;
    let chunk = rt.rows_per_chunk(rows, (w1.ncols() + 2 * c) * 4);
    let input = flat2(x);
    let mut out = Array2::<f32>::zeros((rows, c));
    out.axis_chunks_iter_mut(Axis(0), chunk)
        .into_par_iter()
        .enumerate()
        .for_each(|(k, mut o)| {
            let start = k * chunk;
            let end = start + o.nrows();
            let h = layer_norm(input.slice(s![start..end, ..]), scale, offset);
            let mut h = linear(h.view(), w1, Some(b1));
            h.mapv_inplace(|v| v.max(0.0));
            o.assign(&linear(h.view(), w2, Some(b2)));
        });
    Ok(unflat3(out, a, b))
}
