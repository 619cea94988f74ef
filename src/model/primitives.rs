//! Building blocks shared by every module: layer norm, linear projections (one GEMM each), activations,
//! softmax, and gated multi-head attention (AlphaFold2's `Attention`, used by Alg. 7, 8, 13, 14).

use ndarray::{s, Array1, Array2, Array3, ArrayView1, ArrayView2, ArrayView3, ArrayViewMut2, Axis};

use rayon::prelude::*;

use super::weights::{Scope, WeightError};

/// LayerNorm epsilon used throughout AlphaFold2 (haiku default in `common_modules.LayerNorm`).
pub const LN_EPS: f32 = 1e-5;

/// Rows per parallel task for row-wise work over `rows` rows: about four tasks per thread, but never
/// under 256 rows (a GEMM re-packs its weights per task). Every row's arithmetic is the same whatever the
/// split, so results do not depend on the thread count.
pub(crate) fn rows_per_task(rows: usize) -> usize {
    rows.div_ceil(4 * rayon::current_num_threads().max(1))
        .max(256)
}

/// Layer norm over the last axis of `[rows, c]`, with a learned scale and offset (rows in parallel).
pub fn layer_norm(
    x: ArrayView2<f32>,
    scale: ArrayView1<f32>,
    offset: ArrayView1<f32>,
) -> Array2<f32> {
    let x = x.as_standard_layout();
    let (scale, offset) = (scale.as_standard_layout(), offset.as_standard_layout());
    let (scale, offset) = (
        scale.as_slice().expect("standard layout"),
        offset.as_slice().expect("standard layout"),
    );
    let mut out = Array2::<f32>::zeros(x.raw_dim());
    let chunk = rows_per_task(x.nrows());
    out.axis_chunks_iter_mut(Axis(0), chunk)
        .into_par_iter()
        .zip(x.axis_chunks_iter(Axis(0), chunk))
        .for_each(|(mut out, x)| {
            super::vmath::layer_norm_rows(
                x.as_slice().expect("standard layout"),
                scale,
                offset,
                LN_EPS,
                out.as_slice_mut().expect("standard layout"),
            );
        });
    out
}

/// Layer norm with the parameters of `scope` (`scale`, `offset`).
pub fn layer_norm_scoped(x: ArrayView2<f32>, scope: &Scope) -> Result<Array2<f32>, WeightError> {
    let c = x.ncols();
    Ok(layer_norm(
        x,
        scope.vec("scale", Some(c))?,
        scope.vec("offset", Some(c))?,
    ))
}

/// `x @ w + b`, one GEMM per block of rows, blocks in parallel.
pub fn linear(x: ArrayView2<f32>, w: ArrayView2<f32>, b: Option<ArrayView1<f32>>) -> Array2<f32> {
    let mut out = Array2::<f32>::zeros((x.nrows(), w.ncols()));
    let chunk = rows_per_task(x.nrows());
    out.axis_chunks_iter_mut(Axis(0), chunk)
        .into_par_iter()
        .zip(x.axis_chunks_iter(Axis(0), chunk))
        .for_each(|(mut out, x)| {
            ndarray::linalg::general_mat_mul(1.0, &x, &w, 0.0, &mut out);
            if let Some(b) = b {
                out += &b;
            }
        });
    out
}

/// AlphaFold2's `Linear` module at `scope` (`weights` `[c_in, c_out]`, `bias` `[c_out]`).
pub fn linear_scoped(
    x: ArrayView2<f32>,
    scope: &Scope,
    c_out: Option<usize>,
) -> Result<Array2<f32>, WeightError> {
    let w = scope.matrix("weights", 1, Some(x.ncols()), c_out)?;
    let b = scope.vec("bias", Some(w.ncols()))?;
    Ok(linear(x, w, Some(b)))
}

pub use super::vmath::sigmoid;

/// Softmax over each row, in place.
pub fn softmax_rows(a: ArrayViewMut2<f32>) {
    softmax_rows_biased(a, None, None);
}

/// Softmax over each row of `a + key_bias[None, :] (+ pair_bias)`, in place (the additions fused into
/// the softmax's passes; vectorised e^x, see `vmath`).
pub fn softmax_rows_biased(
    mut a: ArrayViewMut2<f32>,
    key_bias: Option<ArrayView1<f32>>,
    pair_bias: Option<ArrayView2<f32>>,
) {
    let width = a.ncols();
    // Borrowed as they are when contiguous (the attention's case), copied otherwise.
    let kb = key_bias.as_ref().map(|b| b.as_standard_layout());
    let pb = pair_bias.as_ref().map(|p| p.as_standard_layout());
    let kb = kb.as_ref().map(|b| b.as_slice().expect("standard layout"));
    let pb = pb.as_ref().map(|p| p.as_slice().expect("standard layout"));
    match a.as_slice_mut() {
        Some(x) => super::vmath::softmax_rows(x, width, kb, pb),
        None => {
            let mut x = a.as_standard_layout().into_owned();
            let xs = x.as_slice_mut().expect("standard layout");
            super::vmath::softmax_rows(xs, width, kb, pb);
            a.assign(&x);
        }
    }
}

/// Views a C-contiguous 3-D array as `[a*b, c]`.
pub fn flat2(x: &Array3<f32>) -> ArrayView2<'_, f32> {
    let (a, b, c) = x.dim();
    x.view()
        .into_shape_with_order((a * b, c))
        .expect("standard layout")
}

/// Reshapes `[a*b, c]` back to `[a, b, c]`.
pub fn unflat3(x: Array2<f32>, a: usize, b: usize) -> Array3<f32> {
    let c = x.ncols();
    x.into_shape_with_order((a, b, c))
        .expect("row count is a*b")
}

/// Weights of one gated multi-head attention (`Attention` in AlphaFold2's modules).
pub struct AttentionWeights<'a> {
    pub heads: usize,
    pub key_dim: usize,
    pub value_dim: usize,
    /// `[c_q, H*d]`
    pub query: ArrayView2<'a, f32>,
    pub key: ArrayView2<'a, f32>,
    pub value: ArrayView2<'a, f32>,
    /// `[c_q, H*dv]`, `[H*dv]`; `None` without gating.
    pub gating: Option<(ArrayView2<'a, f32>, ArrayView1<'a, f32>)>,
    /// `[H*dv, c_out]`, `[c_out]`
    pub output: ArrayView2<'a, f32>,
    pub output_b: ArrayView1<'a, f32>,
}

impl<'a> AttentionWeights<'a> {
    /// Loads `query_w [c, H, d]`, `key_w`, `value_w`, `gating_w/b`, `output_w [H, dv, c_out]`, `output_b`.
    pub fn load(scope: &Scope<'a>, c_in: usize) -> Result<Self, WeightError> {
        let qs = scope.shape("query_w")?;
        let vs = scope.shape("value_w")?;
        if qs.len() != 3 || vs.len() != 3 || qs[0] != c_in {
            return Err(WeightError::Shape {
                name: format!("{}//query_w", scope.path()),
                found: qs,
                expected: format!("[{c_in}, heads, key_dim]"),
            });
        }
        let (heads, key_dim, value_dim) = (qs[1], qs[2], vs[2]);
        let gating = if scope.get("gating_w").is_ok() {
            Some((
                scope.matrix("gating_w", 1, Some(c_in), Some(heads * value_dim))?,
                scope
                    .get("gating_b")?
                    .into_shape_with_order(heads * value_dim)
                    .map_err(|_| WeightError::Shape {
                        name: format!("{}//gating_b", scope.path()),
                        found: vec![],
                        expected: format!("[{heads}, {value_dim}]"),
                    })?,
            ))
        } else {
            None
        };
        let output = scope.matrix("output_w", 2, Some(heads * value_dim), None)?;
        Ok(Self {
            heads,
            key_dim,
            value_dim,
            query: scope.matrix("query_w", 1, Some(c_in), Some(heads * key_dim))?,
            key: scope.matrix("key_w", 1, Some(c_in), Some(heads * key_dim))?,
            value: scope.matrix("value_w", 1, Some(c_in), Some(heads * value_dim))?,
            gating,
            output_b: scope.vec("output_b", Some(output.ncols()))?,
            output,
        })
    }

    /// Self-attention of `x [N, c]` over itself with a per-key additive bias `key_bias [N]` and an optional
    /// shared bias `pair_bias [H, N, N]`; returns `[N, c_out]`.
    pub fn apply(
        &self,
        x: ArrayView2<f32>,
        key_bias: ArrayView1<f32>,
        pair_bias: Option<ArrayView3<f32>>,
    ) -> Array2<f32> {
        let n = x.nrows();
        let (h, d, dv) = (self.heads, self.key_dim, self.value_dim);
        // [N, H*d]
        let mut q = x.dot(&self.query);
        q.mapv_inplace(|v| v * (d as f32).powf(-0.5));
        let k = x.dot(&self.key);
        let v = x.dot(&self.value);
        // [N, H*dv]
        let mut avg = Array2::<f32>::zeros((n, h * dv));
        let mut logits = Array2::<f32>::zeros((n, n));
        for head in 0..h {
            let qh = q.slice(s![.., head * d..(head + 1) * d]);
            let kh = k.slice(s![.., head * d..(head + 1) * d]);
            ndarray::linalg::general_mat_mul(1.0, &qh, &kh.t(), 0.0, &mut logits);
            softmax_rows_biased(
                logits.view_mut(),
                Some(key_bias),
                pair_bias.map(|pb| pb.index_axis_move(Axis(0), head)),
            );
            let vh = v.slice(s![.., head * dv..(head + 1) * dv]);
            let mut oh = avg.slice_mut(s![.., head * dv..(head + 1) * dv]);
            ndarray::linalg::general_mat_mul(1.0, &logits, &vh, 0.0, &mut oh);
        }
        if let Some((gw, gb)) = &self.gating {
            let mut g = x.dot(gw);
            g += gb;
            super::vmath::gate_in_place(
                avg.as_slice_mut().expect("fresh array"),
                g.as_slice().expect("fresh array"),
            );
        }
        linear(avg.view(), self.output, Some(self.output_b))
    }
}

/// The key bias AlphaFold2 derives from a mask: `1e9 * (mask - 1)`.
pub fn mask_bias(mask: ArrayView1<f32>) -> Array1<f32> {
    mask.mapv(|m| 1e9 * (m - 1.0))
}

#[cfg(test)]
mod tests {

    use super::*;
    use ndarray::array;

    #[test]
    fn layer_norm_normalises() {
        let x = array![[1.0f32, 2.0, 3.0, 4.0]];
        let y = layer_norm(
            x.view(),
            array![1.0f32, 1.0, 1.0, 1.0].view(),
            array![0.0f32, 0.0, 0.0, 0.0].view(),
        );
        assert!((y.sum()).abs() < 1e-6);
        let var: f32 = y.iter().map(|v| v * v).sum::<f32>() / 4.0;
        assert!((var - 1.0).abs() < 1e-4);
    }

    #[test]
    fn softmax_of_a_strided_view_equals_the_contiguous_one() {
        let x = array![[0.5f32, -1.0, 2.0], [3.0, 0.25, -4.0]];
        let bias = array![0.1f32, 1.0 - 1e9, 0.3];
        let mut contiguous = x.t().as_standard_layout().into_owned();
        softmax_rows_biased(contiguous.view_mut(), Some(bias.view()), None);
        let mut strided = x.clone();
        softmax_rows_biased(strided.view_mut().reversed_axes(), Some(bias.view()), None);
        assert_eq!(strided.t(), contiguous);
        assert_eq!(contiguous[[0, 1]], 0.0);
    }

    #[test]
    fn softmax_ignores_masked_keys() {
        let mut a = array![[0.5f32, 1.0 - 1e9, 0.5]];
        softmax_rows(a.view_mut());
        assert_eq!(a[[0, 1]], 0.0);
        assert!((a[[0, 0]] - 0.5).abs() < 1e-7);
    }
}
