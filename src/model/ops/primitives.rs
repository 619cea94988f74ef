//! Building blocks shared by every module: layer norm, linear projections (one GEMM each), activations,
//! softmax, and gated multi-head attention (AlphaFold2's `Attention`, used by Alg. 7, 8, 13, 14).

use ndarray::{s, Array1, Array2, Array3, ArrayView1, ArrayView2, ArrayView3, ArrayViewMut2, Axis};

use rayon::prelude::*;

use crate::model::ops::gemm::{matmul_into, matmul_w_into, Weight};
use crate::model::params::weights::{Scope, WeightError};

/// LayerNorm epsilon used throughout AlphaFold2 (haiku default in `common_modules.LayerNorm`).
pub const LN_EPS: f32 = 1e-5;

/// Rows per parallel task for row-wise work over `rows` rows: about four tasks per thread, but never
/// under 256 rows (a GEMM re-packs its weights per task) nor over 1,024 (the GEMM is up to ~10 % slower
/// on taller blocks, `cargo bench --bench gemm`, and a task's temporaries stay small). Every row's
/// arithmetic is the same whatever the split, so results do not depend on the thread count.
pub(crate) fn rows_per_task(rows: usize) -> usize {
    rows.div_ceil(4 * rayon::current_num_threads().max(1))
        .clamp(256, 1024)
}

/// A layer norm's `scale` and `offset` in contiguous memory, applied to contiguous rows.
struct RowNorm<'a> {
    scale: ndarray::CowArray<'a, f32, ndarray::Ix1>,
    offset: ndarray::CowArray<'a, f32, ndarray::Ix1>,
}

impl<'a> RowNorm<'a> {
    fn new(scale: ArrayView1<'a, f32>, offset: ArrayView1<'a, f32>) -> Self {
        let contiguous = |v: ArrayView1<'a, f32>| -> ndarray::CowArray<'a, f32, ndarray::Ix1> {
            if v.is_standard_layout() {
                v.into()
            } else {
                v.to_owned().into()
            }
        };
        Self {
            scale: contiguous(scale),
            offset: contiguous(offset),
        }
    }

    /// Each `c`-wide row of `x` normed into the same row of `out`.
    fn rows(&self, x: &[f32], out: &mut [f32]) {
        crate::model::ops::vmath::layer_norm_rows(
            x,
            self.scale.as_slice().expect("standard layout"),
            self.offset.as_slice().expect("standard layout"),
            LN_EPS,
            out,
        );
    }
}

/// Layer norm over the last axis of `[rows, c]`, with a learned scale and offset (rows in parallel).
pub(crate) fn layer_norm(
    x: ArrayView2<f32>,
    scale: ArrayView1<f32>,
    offset: ArrayView1<f32>,
) -> Array2<f32> {
    let x = x.as_standard_layout();
    let norm = RowNorm::new(scale, offset);
    let mut out = Array2::<f32>::zeros(x.raw_dim());
    let chunk = rows_per_task(x.nrows());
    out.axis_chunks_iter_mut(Axis(0), chunk)
        .into_par_iter()
        .zip(x.axis_chunks_iter(Axis(0), chunk))
        .for_each(|(mut out, x)| {
            norm.rows(
                x.as_slice().expect("standard layout"),
                out.as_slice_mut().expect("standard layout"),
            );
        });
    out
}

/// AlphaFold2's `LayerNorm` module: a learned `scale` and `offset` over `c` channels.
#[derive(Debug, Clone)]
pub struct LayerNorm<'w> {
    pub scale: ArrayView1<'w, f32>,
    pub offset: ArrayView1<'w, f32>,
}

impl<'w> LayerNorm<'w> {
    /// `scale [c]`, `offset [c]`.
    pub fn load(scope: &Scope<'w>, c: usize) -> Result<Self, WeightError> {
        Ok(Self {
            scale: scope.vector("scale", c)?,
            offset: scope.vector("offset", c)?,
        })
    }

    /// Layer norm of `[rows, c]` (rows in parallel).
    pub fn forward(&self, x: ArrayView2<f32>) -> Array2<f32> {
        layer_norm(x, self.scale, self.offset)
    }

    /// [`Self::forward`] on the calling thread, written over `out` (resized to fit): for a parallel
    /// task's own rows.
    pub(crate) fn forward_into(&self, x: ArrayView2<f32>, out: &mut Array2<f32>) {
        let x = x.as_standard_layout();
        let out = resized(out, x.dim());
        RowNorm::new(self.scale, self.offset).rows(
            x.as_slice().expect("standard layout"),
            out.as_slice_mut().expect("standard layout"),
        );
    }

    /// Layer norm of `x [A, B, c]` with its first two axes swapped, as `[B, A, c]` (row `[b, a]` is the
    /// norm of `x[a, b, :]`): the same values as [`Self::forward`] on the transposed copy, without making
    /// the copy.
    pub fn forward_transposed(&self, x: &Array3<f32>) -> Array3<f32> {
        let (rows_a, rows_b, c) = x.dim();
        let x = x.as_standard_layout();
        let norm = RowNorm::new(self.scale, self.offset);
        let mut out = Array3::<f32>::zeros((rows_b, rows_a, c));
        out.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(b, mut out)| {
                for (a, mut row) in out.outer_iter_mut().enumerate() {
                    norm.rows(
                        x.slice(s![a, b, ..])
                            .as_slice()
                            .expect("a row of a standard array"),
                        row.as_slice_mut().expect("a row of a standard array"),
                    );
                }
            });
        out
    }

    /// Layer norm of rows `start..start + len` of `xt^T` for a channel-major `xt [c, rows]`, written
    /// over `out` (resized to `[len, c]`), on the calling thread: the same values as [`Self::forward`]
    /// on those rows of the transposed array, without a transposed copy (rows are gathered a small tile
    /// at a time).
    pub(crate) fn channel_major_rows_into(
        &self,
        xt: ArrayView2<f32>,
        start: usize,
        len: usize,
        out: &mut Array2<f32>,
    ) {
        const TILE: usize = 32;
        let c = xt.nrows();
        let norm = RowNorm::new(self.scale, self.offset);
        let out = resized(out, (len, c));
        let mut tile = vec![0.0f32; TILE * c];
        for (u, mut out) in out.axis_chunks_iter_mut(Axis(0), TILE).enumerate() {
            let (first, rows) = (start + u * TILE, out.nrows());
            let tile = &mut tile[..rows * c];
            for (k, channel) in xt.outer_iter().enumerate() {
                for (r, &v) in channel.slice(s![first..first + rows]).iter().enumerate() {
                    tile[r * c + k] = v;
                }
            }
            norm.rows(tile, out.as_slice_mut().expect("standard layout"));
        }
    }
}

/// `x @ w + b`, one GEMM per block of rows, blocks in parallel.
pub(crate) fn linear(x: ArrayView2<f32>, w: &Weight, b: Option<ArrayView1<f32>>) -> Array2<f32> {
    let mut out = Array2::<f32>::zeros((x.nrows(), w.ncols()));
    linear_into(x, w, b, out.view_mut());
    out
}

/// [`linear`] into `out` (`[rows, c_out]`), which the caller allocated (e.g. as part of a larger array).
pub(crate) fn linear_into(
    x: ArrayView2<f32>,
    w: &Weight,
    b: Option<ArrayView1<f32>>,
    mut out: ndarray::ArrayViewMut2<f32>,
) {
    let chunk = rows_per_task(x.nrows());
    out.axis_chunks_iter_mut(Axis(0), chunk)
        .into_par_iter()
        .zip(x.axis_chunks_iter(Axis(0), chunk))
        .for_each(|(mut out, x)| {
            matmul_w_into(x, w, out.view_mut(), false);
            if let Some(b) = b {
                out += &b;
            }
        });
}

/// AlphaFold2's `Linear` module: `weights [c_in, c_out]` (input axes flattened), `bias [c_out]`.
#[derive(Debug, Clone)]
pub struct Linear<'w> {
    pub weights: Weight<'w>,
    pub bias: ArrayView1<'w, f32>,
}

impl<'w> Linear<'w> {
    /// `weights [c_in, c_out]`, `bias [c_out]`.
    pub fn load(scope: &Scope<'w>, c_in: usize, c_out: usize) -> Result<Self, WeightError> {
        Self::load_nd(scope, &[c_in], &[c_out])
    }

    /// Weights of shape `input ++ output` (AlphaFold2's `num_input_dims` / multi-axis outputs), used as
    /// a `[prod(input), prod(output)]` matrix; the bias has shape `output`.
    pub(crate) fn load_nd(
        scope: &Scope<'w>,
        input: &[usize],
        output: &[usize],
    ) -> Result<Self, WeightError> {
        let weights = scope.matrix("weights", input, output)?;
        let bias = scope
            .matrix("bias", &[], output)?
            .index_axis_move(Axis(0), 0);
        Ok(Self {
            weights: Weight::new(weights),
            bias,
        })
    }

    /// `x [rows, c_in] @ weights + bias`.
    pub fn forward(&self, x: ArrayView2<f32>) -> Array2<f32> {
        linear(x, &self.weights, Some(self.bias))
    }

    /// [`Self::forward`] on the calling thread, into `out [rows, c_out]`.
    pub(crate) fn forward_into(&self, x: ArrayView2<f32>, mut out: ArrayViewMut2<f32>) {
        matmul_w_into(x, &self.weights, out.view_mut(), false);
        out += &self.bias;
    }

    /// Output channels.
    pub(crate) fn c_out(&self) -> usize {
        self.weights.ncols()
    }

    /// `(weights, bias)`.
    pub(crate) fn parts(&self) -> (ArrayView2<'w, f32>, ArrayView1<'w, f32>) {
        (self.weights.view(), self.bias)
    }
}

pub use crate::model::ops::vmath::sigmoid;

/// Softmax over each row, in place.
pub(crate) fn softmax_rows(a: ArrayViewMut2<f32>) {
    softmax_rows_biased(a, None, None);
}

/// Softmax over each row of `a + key_bias[None, :] (+ pair_bias)`, in place (the additions fused into
/// the softmax's passes; vectorised e^x, see `vmath`).
pub(crate) fn softmax_rows_biased(
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
        Some(x) => crate::model::ops::vmath::softmax_rows(x, width, kb, pb),
        None => {
            let mut x = a.as_standard_layout().into_owned();
            let xs = x.as_slice_mut().expect("standard layout");
            crate::model::ops::vmath::softmax_rows(xs, width, kb, pb);
            a.assign(&x);
        }
    }
}

/// Views a C-contiguous 3-D array as `[a*b, c]`.
pub(crate) fn flat2(x: &Array3<f32>) -> ArrayView2<'_, f32> {
    let (a, b, c) = x.dim();
    x.view()
        .into_shape_with_order((a * b, c))
        .expect("standard layout")
}

/// Reshapes `[a*b, c]` back to `[a, b, c]`.
pub(crate) fn unflat3(x: Array2<f32>, a: usize, b: usize) -> Array3<f32> {
    let c = x.ncols();
    x.into_shape_with_order((a, b, c))
        .expect("row count is a*b")
}

/// Sizes of one multi-head attention (AlphaFold2's `Attention`): query and key/value input channels,
/// heads, per-head key and value widths, output channels, and whether the output is gated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionDims {
    pub c_q: usize,
    pub c_kv: usize,
    pub heads: usize,
    pub key_dim: usize,
    pub value_dim: usize,
    pub c_out: usize,
    pub gating: bool,
}

impl AttentionDims {
    /// Gated self-attention over `c` channels with `heads` heads of `c / heads` (Evoformer attentions).
    pub(crate) fn gated_self(c: usize, heads: usize) -> Self {
        Self {
            c_q: c,
            c_kv: c,
            heads,
            key_dim: c / heads,
            value_dim: c / heads,
            c_out: c,
            gating: true,
        }
    }
}

/// Weights of one multi-head attention (`Attention` in AlphaFold2's modules).
#[derive(Debug, Clone)]
pub struct Attention<'a> {
    pub heads: usize,
    pub key_dim: usize,
    pub value_dim: usize,
    /// `[c_q, H*d]`
    pub query: Weight<'a>,
    /// `[c_kv, H*d]`
    pub key: Weight<'a>,
    /// `[c_kv, H*dv]`
    pub value: Weight<'a>,
    /// `[c_q, H*dv]`, `[H*dv]`; `None` without gating.
    pub gating: Option<(Weight<'a>, ArrayView1<'a, f32>)>,
    /// `[H*dv, c_out]`, `[c_out]`
    pub output: Weight<'a>,
    pub output_b: ArrayView1<'a, f32>,
}

impl<'a> Attention<'a> {
    /// Loads `query_w [c_q, H, d]`, `key_w`, `value_w [c_kv, H, d(v)]`, `gating_w [c_q, H, dv]` and
    /// `gating_b [H, dv]` (gated only), `output_w [H, dv, c_out]`, `output_b [c_out]`.
    pub fn load(scope: &Scope<'a>, d: AttentionDims) -> Result<Self, WeightError> {
        let (h, kd, vd) = (d.heads, d.key_dim, d.value_dim);
        let gating = if d.gating {
            let w = scope.matrix("gating_w", &[d.c_q], &[h, vd])?;
            let b = scope
                .matrix("gating_b", &[], &[h, vd])?
                .index_axis_move(Axis(0), 0);
            Some((Weight::new(w), b))
        } else {
            None
        };
        Ok(Self {
            heads: h,
            key_dim: kd,
            value_dim: vd,
            query: Weight::new(scope.matrix("query_w", &[d.c_q], &[h, kd])?),
            key: Weight::new(scope.matrix("key_w", &[d.c_kv], &[h, kd])?),
            value: Weight::new(scope.matrix("value_w", &[d.c_kv], &[h, vd])?),
            gating,
            output: Weight::new(scope.matrix("output_w", &[h, vd], &[d.c_out])?),
            output_b: scope.vector("output_b", d.c_out)?,
        })
    }

    /// Self-attention of `x [N, c]` over itself with a per-key additive bias `key_bias [N]` and an optional
    /// shared bias `pair_bias [H, N, N]`, into `out [N, c_out]` (e.g. a row of the module's output).
    /// `scratch` holds the intermediate arrays between calls (one per parallel task).
    ///
    /// Per head: logits by one GEMM, then the biases, the row maximum and the exponentials in two passes
    /// over them, the weighted values by a second GEMM, and the softmax's normalisation applied to those
    /// `[N, d]` values instead of the `[N, N]` weights (`(Σ_k e_k v_k) / Σ_k e_k`; AlphaFold2 divides
    /// first — the same quantity, rounded once differently). `write` says whether the result replaces
    /// `out` or is added to it (a residual update in place); `x` must not alias `out`.
    pub(crate) fn apply_into(
        &self,
        scratch: &mut AttentionScratch,
        x: ArrayView2<f32>,
        key_bias: ArrayView1<f32>,
        pair_bias: Option<ArrayView3<f32>>,
        out: ArrayViewMut2<f32>,
        write: Write,
    ) {
        let n = x.nrows();
        let (h, d, dv) = (self.heads, self.key_dim, self.value_dim);
        let AttentionScratch {
            q,
            k,
            v,
            gate,
            avg,
            logits,
            inv_sums,
            result,
        } = scratch;
        // [N, H*d]
        let q = project(x, &self.query, q);
        q.mapv_inplace(|v| v * (d as f32).powf(-0.5));
        let k = project(x, &self.key, k);
        let v = project(x, &self.value, v);
        let kb = key_bias.as_standard_layout();
        let kb = kb.as_slice().expect("standard layout");
        let pb = pair_bias.as_ref().map(|p| p.as_standard_layout());
        // [N, H*dv]: every head's columns are written by its values product before they are read.
        let avg = resized(avg, (n, h * dv));
        let logits = resized(logits, (n, n));
        inv_sums.resize(n, 0.0);
        for head in 0..h {
            let qh = q.slice(s![.., head * d..(head + 1) * d]);
            let kh = k.slice(s![.., head * d..(head + 1) * d]);
            matmul_into(qh, kh.t(), logits.view_mut(), false);
            let pair_h = pb.as_ref().map(|p| {
                p.slice(s![head, .., ..])
                    .to_slice()
                    .expect("standard layout")
            });
            crate::model::ops::vmath::exp_rows(
                logits.as_slice_mut().expect("fresh array"),
                n,
                Some(kb),
                pair_h,
                inv_sums,
            );
            let vh = v.slice(s![.., head * dv..(head + 1) * dv]);
            let mut oh = avg.slice_mut(s![.., head * dv..(head + 1) * dv]);
            matmul_into(logits.view(), vh, oh.view_mut(), false);
            for (mut row, &inv) in oh.rows_mut().into_iter().zip(inv_sums.iter()) {
                row.mapv_inplace(|v| v * inv);
            }
        }
        if let Some((gw, gb)) = &self.gating {
            let g = project(x, gw, gate);
            *g += gb;
            crate::model::ops::vmath::gate_in_place(
                avg.as_slice_mut().expect("fresh array"),
                g.as_slice().expect("fresh array"),
            );
        }
        match write {
            Write::Over => linear_into(avg.view(), &self.output, Some(self.output_b), out),
            Write::Add => {
                let y = resized(result, out.dim());
                linear_into(avg.view(), &self.output, Some(self.output_b), y.view_mut());
                add_rows(out, y.view());
            }
        }
    }
}

/// Whether a module's result replaces its output or is added to it. The Evoformer's modules are
/// residual updates (`x ← x + f(x)`): added in place, line by line as each is computed, no `x`-sized
/// update array is allocated (fresh pages the kernel must clear) and then added in a pass of its own.
/// The values are the same either way: `f(x)` is computed into a small buffer exactly as it would be
/// into the update array, then added by the same single rounding as `x += update`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Write {
    Over,
    Add,
}

impl Write {
    /// `out = y` or `out += y`.
    pub(crate) fn apply(self, mut out: ArrayViewMut2<f32>, y: ArrayView2<f32>) {
        match self {
            Write::Over => out.assign(&y),
            Write::Add => add_rows(out, y),
        }
    }
}

/// `out += y` row by row (rows contiguous in both: the pair's columns are lines of strided rows).
pub(crate) fn add_rows(mut out: ArrayViewMut2<f32>, y: ArrayView2<f32>) {
    debug_assert_eq!(out.dim(), y.dim());
    for (mut o, y) in out.rows_mut().into_iter().zip(y.rows()) {
        match (o.as_slice_mut(), y.as_slice()) {
            (Some(o), Some(y)) => o.iter_mut().zip(y).for_each(|(o, &y)| *o += y),
            _ => o.zip_mut_with(&y, |o, &y| *o += y),
        }
    }
}

/// The intermediate arrays of [`Attention::apply_into`], kept by a parallel task across the rows it
/// attends over: one attention per row of the pair or the MSA allocated and zeroed seven arrays (the
/// zeroing alone ~4 % of `predict` at L = 384, perf), and every one of them is overwritten before it is
/// read.
#[derive(Debug, Default)]
pub(crate) struct AttentionScratch {
    q: Array2<f32>,
    k: Array2<f32>,
    v: Array2<f32>,
    gate: Array2<f32>,
    avg: Array2<f32>,
    logits: Array2<f32>,
    inv_sums: Vec<f32>,
    /// The result before it is added to the output ([`Write::Add`]).
    result: Array2<f32>,
}

/// `a` with the given shape: itself, or a new array when its shape differs (contents unspecified).
pub(crate) fn resized(a: &mut Array2<f32>, shape: (usize, usize)) -> &mut Array2<f32> {
    if a.dim() != shape {
        // The old buffer goes first, so that it and its replacement are never held together.
        *a = Array2::zeros((0, 0));
        *a = Array2::zeros(shape);
    }
    a
}

/// `x·w` written over `buf` (resized to fit).
fn project<'b>(x: ArrayView2<f32>, w: &Weight, buf: &'b mut Array2<f32>) -> &'b mut Array2<f32> {
    let out = resized(buf, (x.nrows(), w.ncols()));
    matmul_w_into(x, w, out.view_mut(), false);
    out
}

/// The key bias AlphaFold2 derives from a mask: `1e9 * (mask - 1)`.
pub(crate) fn mask_bias(mask: ArrayView1<f32>) -> Array1<f32> {
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
    fn channel_major_layer_norm_equals_the_row_major_one_bit_for_bit() {
        // Row counts across the 32-row tiles and the per-task chunks (≥ 256 rows), channels not a
        // multiple of the vector width.
        for (rows, c) in [(1, 3), (31, 8), (33, 37), (1_000, 128), (2_049, 5)] {
            let xt = Array2::from_shape_fn((c, rows), |(k, r)| {
                ((r * 7 + k * 13) % 23) as f32 * 0.37 - (k as f32).sin()
            });
            let scale = Array1::from_shape_fn(c, |k| 1.0 + 0.1 * k as f32);
            let offset = Array1::from_shape_fn(c, |k| -0.05 * k as f32);
            let ln = LayerNorm {
                scale: scale.view(),
                offset: offset.view(),
            };
            let want = ln.forward(xt.t().as_standard_layout().view());
            let mut out = Array2::zeros((0, 0));
            ln.channel_major_rows_into(xt.view(), 0, rows, &mut out);
            assert_eq!(out, want, "{rows} x {c}");
            // A block of rows from the middle, as the triangle multiplication takes them.
            let (start, len) = (rows / 3, rows - rows / 3);
            ln.channel_major_rows_into(xt.view(), start, len, &mut out);
            assert_eq!(
                out,
                want.slice(s![start.., ..]),
                "{rows} x {c} from row {start}"
            );
        }
    }

    #[test]
    fn transposed_layer_norm_equals_the_norm_of_the_transposed_copy_bit_for_bit() {
        let x = Array3::from_shape_fn((7, 5, 19), |(a, b, k)| {
            ((a * 11 + b * 5 + k * 3) % 17) as f32 * 0.41 - (k as f32).cos()
        });
        let scale = Array1::from_shape_fn(19, |k| 0.5 + 0.1 * k as f32);
        let offset = Array1::from_shape_fn(19, |k| 0.01 * k as f32);
        let ln = LayerNorm {
            scale: scale.view(),
            offset: offset.view(),
        };
        let copy = x
            .view()
            .permuted_axes([1, 0, 2])
            .as_standard_layout()
            .into_owned();
        let want = ln.forward(copy.view().into_shape_with_order((35, 19)).unwrap());
        let got = ln.forward_transposed(&x);
        assert_eq!(got.into_shape_with_order((35, 19)).unwrap(), want);
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
