//! Jumper et al. (2021) Suppl. Alg. 9 "MSATransition" and Alg. 15 "PairTransition": layer norm, a 4×
//! wide ReLU layer and a projection back. (AlphaFold2 computes a mask here but does not apply it; neither do
//! we.) Rows are processed in chunks sized from the runtime budget, in parallel: the wide hidden layer is
//! the largest temporary of the Evoformer (4·c_z floats per pair entry).

use ndarray::{s, Array2, Array3, Axis};
use rayon::prelude::*;

use crate::model::ops::primitives::{flat2, unflat3, LayerNorm, Linear};
use crate::model::params::config::RuntimeOptions;
use crate::model::params::weights::{Scope, WeightError};

/// A transition over `c` channels with a `factor`× wide hidden layer.
#[derive(Debug, Clone)]
pub struct Transition<'w> {
    pub(crate) input_layer_norm: LayerNorm<'w>,
    pub(crate) transition1: Linear<'w>,
    pub(crate) transition2: Linear<'w>,
}

impl<'w> Transition<'w> {
    pub fn load(scope: &Scope<'w>, c: usize, factor: usize) -> Result<Self, WeightError> {
        Ok(Self {
            input_layer_norm: LayerNorm::load(&scope.sub("input_layer_norm"), c)?,
            transition1: Linear::load(&scope.sub("transition1"), c, c * factor)?,
            transition2: Linear::load(&scope.sub("transition2"), c * factor, c)?,
        })
    }

    /// Residual update over the last axis of `x` (`[A, B, c]`).
    pub fn forward(&self, x: &Array3<f32>, rt: &RuntimeOptions) -> Array3<f32> {
        let (a, b, c) = x.dim();
        let rows = a * b;
        let chunk = rt.rows_per_chunk(rows, (self.transition1.c_out() + 2 * c) * 4);
        let input = flat2(x);
        let mut out = Array2::<f32>::zeros((rows, c));
        out.axis_chunks_iter_mut(Axis(0), chunk)
            .into_par_iter()
            .enumerate()
            .for_each(|(k, mut o)| {
                let start = k * chunk;
                let end = start + o.nrows();
                let h = self
                    .input_layer_norm
                    .forward(input.slice(s![start..end, ..]));
                let mut h = self.transition1.forward(h.view());
                h.mapv_inplace(|v| v.max(0.0));
                o.assign(&self.transition2.forward(h.view()));
            });
        unflat3(out, a, b)
    }
}
