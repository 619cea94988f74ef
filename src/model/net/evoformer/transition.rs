//! Jumper et al. (2021) Suppl. Alg. 9 "MSATransition" and Alg. 15 "PairTransition": layer norm, a 4×
//! wide ReLU layer and a projection back. (AlphaFold2 computes a mask here but does not apply it; neither do
//! we.) Rows are processed in chunks sized from the runtime budget and the cache, in parallel, each chunk
//! start to end by one task: the wide hidden layer would be the largest temporary of the Evoformer (4·c_z
//! floats per pair entry) and exists only a chunk at a time, in buffers each task reuses.

use ndarray::{Array2, Array3, Axis};
use rayon::prelude::*;

use crate::model::ops::primitives::{resized, LayerNorm, Linear, Write};
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
        let mut out = x.clone();
        self.write(&mut out, rt, Write::Over);
        out
    }

    /// `x += update`, each block of rows updated as soon as it is computed.
    pub fn add_to(&self, x: &mut Array3<f32>, rt: &RuntimeOptions) {
        self.write(x, rt, Write::Add);
    }

    /// Every row of `x` replaced by its update or added to; a row is read (layer-normed into a copy)
    /// before it is written, and only by its own task.
    fn write(&self, x: &mut Array3<f32>, rt: &RuntimeOptions, write: Write) {
        let (a, b, c) = x.dim();
        let rows = a * b;
        let chunk = rt.rows_per_chunk(rows, (self.transition1.c_out() + 2 * c) * 4);
        let mut x = x
            .view_mut()
            .into_shape_with_order((rows, c))
            .expect("a standard array");
        // The normed rows, the hidden layer and the result of one block, kept by each task for its next
        // block (fresh zeroed arrays per chunk and a copy of the result were ~5 % of the pair transition,
        // perf).
        let scratch = || {
            (
                Array2::<f32>::default((0, 0)),
                Array2::<f32>::default((0, 0)),
                Array2::<f32>::default((0, 0)),
            )
        };
        x.axis_chunks_iter_mut(Axis(0), chunk)
            .into_par_iter()
            .for_each_init(scratch, |(normed, hidden, result), mut o| {
                // Blocks of rows small enough that the normed rows, the hidden layer and the weights
                // stay in cache between the three steps (one GEMM over a whole chunk re-read its rows
                // from memory for every panel of the weights: 5 % slower at L = 146).
                for mut o in o.axis_chunks_iter_mut(Axis(0), CACHE_ROWS) {
                    self.input_layer_norm.forward_into(o.view(), normed);
                    let h = resized(hidden, (o.nrows(), self.transition1.c_out()));
                    self.transition1.forward_into(normed.view(), h.view_mut());
                    h.mapv_inplace(|v| v.max(0.0));
                    let y = resized(result, o.dim());
                    self.transition2.forward_into(h.view(), y.view_mut());
                    write.apply(o.view_mut(), y.view());
                }
            });
    }
}
