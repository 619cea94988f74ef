//! Jumper et al. (2021) Suppl. Alg. 9 "MSATransition" and Alg. 15 "PairTransition": layer norm, a 4×
//! wide ReLU layer and a projection back. (AlphaFold2 computes a mask here but does not apply it; neither do
//! we.) Rows are processed in chunks sized from the runtime budget and the cache, in parallel, each chunk
//! start to end by one task: the wide hidden layer would be the largest temporary of the Evoformer (4·c_z
//! floats per pair entry) and exists only a chunk at a time, in buffers each task reuses.

use ndarray::{s, Array2, Array3, Axis};
use rayon::prelude::*;

use crate::model::ops::primitives::{flat2, resized, unflat3, LayerNorm, Linear};
use crate::model::params::config::RuntimeOptions;
use crate::model::params::weights::{Scope, WeightError};

/// Rows a task takes through the three steps at a time.
const CACHE_ROWS: usize = 256;

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
        // The normed rows and the hidden layer of one chunk, kept by each task for its next chunk
        // (fresh zeroed arrays per chunk and a copy of the result were ~5 % of the pair transition, perf).
        let scratch = || {
            (
                Array2::<f32>::default((0, 0)),
                Array2::<f32>::default((0, 0)),
            )
        };
        out.axis_chunks_iter_mut(Axis(0), chunk)
            .into_par_iter()
            .enumerate()
            .for_each_init(scratch, |(normed, hidden), (k, mut o)| {
                // Blocks of rows small enough that the normed rows, the hidden layer and the weights
                // stay in cache between the three steps (one GEMM over a whole chunk re-read its rows
                // from memory for every panel of the weights: 5 % slower at L = 146).
                for (u, mut o) in o.axis_chunks_iter_mut(Axis(0), CACHE_ROWS).enumerate() {
                    let start = k * chunk + u * CACHE_ROWS;
                    let end = start + o.nrows();
                    self.input_layer_norm
                        .forward_into(input.slice(s![start..end, ..]), normed);
                    let h = resized(hidden, (end - start, self.transition1.c_out()));
                    self.transition1.forward_into(normed.view(), h.view_mut());
                    h.mapv_inplace(|v| v.max(0.0));
                    self.transition2.forward_into(h.view(), o.view_mut());
                }
            });
        unflat3(out, a, b)
    }
}
