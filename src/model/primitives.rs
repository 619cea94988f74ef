//! Building blocks shared by every module: layer norm, linear projections (one GEMM each), activations,
//! softmax, and gated multi-head attention (AlphaFold2's `Attention`, used by Alg. 7, 8, 13, 14).

use ndarray::{s, Array1, Array2, Array3, ArrayView1, ArrayView2, ArrayView3, ArrayViewMut2, Axis};

use super::weights::{Scope, WeightError};

/// LayerNorm epsilon used throughout AlphaFold2 (haiku default in `common_modules.LayerNorm`).
pub const LN_EPS: f32 = 1e-5;

/// Layer norm over the last axis of `[rows, c]`, with a learned scale and offset.
pub fn layer_norm(
    x: ArrayView2<f32>,
    scale: ArrayView1<f32>,
    offset: ArrayView1<f32>,
) -> Array2<f32> {
    let c = x.ncols();
    let mut out = Array2::<f32>::zeros(x.raw_dim());
    for (row, mut o) in x.rows().into_iter().zip(out.rows_mut()) {
        let mean = row.sum() / c as f32;
        let var = row.iter().map(|&v| (v - mean) * (v - mean)).sum::<f32>() / c as f32;
        let inv = 1.0 / (var + LN_EPS).sqrt();
        for k in 0..c {
            o[k] = (row[k] - mean) * inv * scale[k] + offset[k];
        }
    }
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

/// `x @ w + b`.
pub fn linear(x: ArrayView2<f32>, w: ArrayView2<f32>, b: Option<ArrayView1<f32>>) -> Array2<f32> {
    let mut out = x.dot(&w);
    if let Some(b) = b {
        out += &b;
    }
    out
}

/// AlphaFold2's `Linear` module at `scope` (`weights` [c_in, c_out], `bias` [c_out]).
pub fn linear_scoped(
    x: ArrayView2<f32>,
    scope: &Scope,
    c_out: Option<usize>,
) -> Result<Array2<f32>, WeightError> {
    let w = scope.matrix("weights", 1, Some(x.ncols()), c_out)?;
    let b = scope.vec("bias", Some(w.ncols()))?;
    Ok(linear(x, w, Some(b)))
}

/// Logistic sigmoid.
pub fn sigmoid(v: f32) -> f32 {
    // Below -88.73, e^-v overflows f32 and the sigmoid is exactly 0; answering directly skips libm's
    // slow overflow path (errno handling) without changing any result.
    if v < -88.75 {
        return 0.0;
    }
    1.0 / (1.0 + (-v).exp())
}

/// e^x as `expf` computes it, but arguments below -104 (whose e^x rounds to exactly 0 in f32) answered
/// without libm's slow underflow path: masked and far-from-maximal softmax logits land there all the time,
/// and that path cost a third of the trunk's time (perf, L = 128).
#[inline]
pub fn exp_or_zero(x: f32) -> f32 {
    if x < -104.0 {
        0.0
    } else {
        x.exp()
    }
}

/// Softmax over each row, in place.
pub fn softmax_rows(mut a: ArrayViewMut2<f32>) {
    for mut row in a.rows_mut() {
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let mut sum = 0.0;
        row.mapv_inplace(|v| {
            let e = exp_or_zero(v - max);
            sum += e;
            e
        });
        let inv = 1.0 / sum;
        row.mapv_inplace(|v| v * inv);
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
            logits += &key_bias.insert_axis(Axis(0));
            if let Some(pb) = pair_bias {
                logits += &pb.index_axis(Axis(0), head);
            }
            softmax_rows(logits.view_mut());
            let vh = v.slice(s![.., head * dv..(head + 1) * dv]);
            let mut oh = avg.slice_mut(s![.., head * dv..(head + 1) * dv]);
            ndarray::linalg::general_mat_mul(1.0, &logits, &vh, 0.0, &mut oh);
        }
        if let Some((gw, gb)) = &self.gating {
            let mut g = x.dot(gw);
            g += gb;
            avg.zip_mut_with(&g, |a, &gv| *a *= sigmoid(gv));
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

    #[test]
    fn fast_exp_paths_equal_libm_bit_for_bit() {
        let mut x = -300.0f32;
        while x <= 100.0 {
            if x <= 0.0 {
                assert_eq!(exp_or_zero(x).to_bits(), x.exp().to_bits(), "exp({x})");
            }
            let naive = 1.0 / (1.0 + (-x).exp());
            assert_eq!(sigmoid(x).to_bits(), naive.to_bits(), "sigmoid({x})");
            x += 0.0137;
        }
        assert_eq!(exp_or_zero(-1e9), 0.0);
        assert_eq!(sigmoid(-1e9), 0.0);
    }

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
    fn softmax_ignores_masked_keys() {
        let mut a = array![[0.5f32, 1.0 - 1e9, 0.5]];
        softmax_rows(a.view_mut());
        assert_eq!(a[[0, 1]], 0.0);
        assert!((a[[0, 0]] - 0.5).abs() < 1e-7);
    }
}
