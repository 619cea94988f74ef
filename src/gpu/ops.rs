//! The kernels' Rust faces: each is the GPU twin of a CPU function (`model::ops::primitives`,
//! `model::ops::vmath`) and is tested against it below.

use std::collections::HashMap;

use ndarray::{ArrayView1, ArrayView2};

use super::{Gpu, GpuError, GpuResult, Tensor};

const GEMM: &str = include_str!("shaders/gemm.wgsl");
const LAYER_NORM: &str = include_str!("shaders/layer_norm.wgsl");
const ATTENTION: &str = include_str!("shaders/attention.wgsl");
const GLOBAL_ATTENTION: &str = include_str!("shaders/global_attention.wgsl");
const ELEMENTWISE: &str = include_str!("shaders/elementwise.wgsl");

/// Elements of `t` read as a matrix (or a batch of them): element `(b, i, j)` at
/// `off + b·sb + i·s0 + j·s1`.
#[derive(Debug, Clone, Copy)]
pub struct Operand<'a> {
    pub t: &'a Tensor,
    pub off: usize,
    pub sb: usize,
    pub s0: usize,
    pub s1: usize,
}

impl<'a> Operand<'a> {
    /// Row-major `[rows, cols]` from `off`.
    pub fn rows(t: &'a Tensor, off: usize, cols: usize) -> Self {
        Self {
            t,
            off,
            sb: 0,
            s0: cols,
            s1: 1,
        }
    }

    /// An arbitrary strided view.
    pub fn strided(t: &'a Tensor, off: usize, sb: usize, s0: usize, s1: usize) -> Self {
        Self { t, off, sb, s0, s1 }
    }
}

/// What a GEMM does with `acc = A @ B` before storing it (in this order): `· alpha`, `+ bias[col]`,
/// ReLU, `· scale[row]`, `/ (eps + scale[row])`, then store or add to C.
#[derive(Debug, Clone, Copy)]
pub struct Epilogue<'a> {
    pub alpha: f32,
    pub bias: Option<&'a Tensor>,
    pub relu: bool,
    /// A per-row factor (`off`, batch stride, row stride into the tensor) and whether it divides (with
    /// `eps`) instead of multiplying.
    pub row: Option<(&'a Tensor, usize, usize, usize, RowOp)>,
    pub accumulate: bool,
}

/// How [`Epilogue::row`] applies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RowOp {
    Mul,
    /// `/ (eps + value)`
    Div(f32),
}

impl Default for Epilogue<'_> {
    fn default() -> Self {
        Self {
            alpha: 1.0,
            bias: None,
            relu: false,
            row: None,
            accumulate: false,
        }
    }
}

fn u(v: usize, what: &str) -> GpuResult<u32> {
    u32::try_from(v).map_err(|_| GpuError::Unsupported(format!("{what} = {v} (over 2^32)")))
}

/// The GEMM kernel's shapes: for products up to `n` columns wide, the threads along n (`WX` in
/// `gemm.wgsl`: output tiles of `8·(64 / WX)` rows × `8·WX` columns) and the K tile's depth (workgroup
/// memory stays ≤ 10 KiB). Narrow products (pair biases, n = heads; the outer product mean's 32-channel
/// projections) get narrow, tall tiles instead of a 64-wide tile mostly computing zeros. Every shape sums
/// in the same order (the same bits).
const GEMM_TILES: [(usize, usize, u32); 4] =
    [(8, 1, 4), (16, 2, 8), (32, 4, 16), (usize::MAX, 8, 16)];

/// `C[b] (+)= epilogue(A[b] @ B[b])` for `batch` products of `[m, k] @ [k, n]`.
pub fn gemm(
    gpu: &Gpu,
    dims: (usize, usize, usize, usize),
    a: Operand,
    b: Operand,
    c: Operand,
    ep: Epilogue,
) -> GpuResult<()> {
    let wx = GEMM_TILES.iter().find(|t| dims.1 <= t.0).map_or(8, |t| t.1);
    gemm_in_tiles(gpu, dims, a, b, c, ep, wx)
}

/// [`gemm`] with `wx` (1, 2, 4 or 8) threads along n, i.e. output tiles of `8·(64 / wx)` × `8·wx`,
/// whatever `n` is (tests and benches compare the shapes; [`gemm`] picks by `n`).
pub fn gemm_in_tiles(
    gpu: &Gpu,
    (m, n, k, batch): (usize, usize, usize, usize),
    a: Operand,
    b: Operand,
    c: Operand,
    ep: Epilogue,
    wx: usize,
) -> GpuResult<()> {
    if batch > 65535 {
        return Err(GpuError::Unsupported(format!("a GEMM batch of {batch}")));
    }
    let Some(&(_, wx, kt)) = GEMM_TILES.iter().find(|t| t.1 == wx) else {
        return Err(GpuError::Unsupported(format!(
            "GEMM tiles {wx} threads wide (1, 2, 4 or 8)"
        )));
    };
    let (tile_m, tile_n) = (8 * (64 / wx), 8 * wx);
    let pipeline = gpu.pipeline(GEMM, "main", &[("WX", wx as u32), ("KT", kt)]);
    let mut flags = 0u32;
    if ep.bias.is_some() {
        flags |= 1;
    }
    if ep.relu {
        flags |= 2;
    }
    let (rs, rs_off, rs_sb, rs_sm, eps) = match ep.row {
        Some((t, off, sb, sm, op)) => {
            let eps = match op {
                RowOp::Mul => {
                    flags |= 4;
                    0.0
                }
                RowOp::Div(e) => {
                    flags |= 8;
                    e
                }
            };
            (&t.buf, off, sb, sm, eps)
        }
        None => (&gpu.dummy, 0, 0, 0, 0.0),
    };
    if ep.accumulate {
        flags |= 16;
    }
    let bias = ep.bias.map_or(&gpu.dummy, |t| &t.buf);
    let tiles_m = m.div_ceil(tile_m);
    let per_dispatch = 65535usize;
    let mut t0 = 0;
    while t0 < tiles_m {
        let tiles = (tiles_m - t0).min(per_dispatch);
        let params = [
            u(m, "GEMM rows")?,
            u(n, "GEMM columns")?,
            u(k, "GEMM depth")?,
            flags,
            u(a.off, "offset")?,
            u(a.sb, "stride")?,
            u(a.s0, "stride")?,
            u(a.s1, "stride")?,
            u(b.off, "offset")?,
            u(b.sb, "stride")?,
            u(b.s0, "stride")?,
            u(b.s1, "stride")?,
            u(c.off, "offset")?,
            u(c.sb, "stride")?,
            u(c.s0, "stride")?,
            u(c.s1, "stride")?,
            0,
            u(rs_off, "offset")?,
            u(rs_sb, "stride")?,
            u(rs_sm, "stride")?,
            u(t0 * tile_m, "GEMM rows")?,
            ep.alpha.to_bits(),
            eps.to_bits(),
            0,
        ];
        gpu.dispatch(
            &pipeline,
            &params,
            &[
                (1, &a.t.buf),
                (2, &b.t.buf),
                (3, bias),
                (4, rs),
                (5, &c.t.buf),
            ],
            (
                u(n.div_ceil(tile_n), "GEMM column tiles")?,
                tiles as u32,
                batch.max(1) as u32,
            ),
        );
        t0 += tiles;
    }
    Ok(())
}

/// `x [rows, c_in] @ w [c_in, c_out] (+ bias)` into a new tensor.
pub fn linear(
    gpu: &Gpu,
    name: &str,
    x: &Tensor,
    rows: usize,
    w: &GpuMatrix,
    bias: Option<&Tensor>,
    alpha: f32,
) -> GpuResult<Tensor> {
    linear_from(
        gpu,
        name,
        Operand::rows(x, 0, w.rows),
        (1, rows),
        w,
        bias,
        alpha,
    )
}

/// `batch` products `(a[b] [m, c_in] @ w (+ bias)) · alpha` into a new `[batch·m, c_out]` tensor.
pub fn linear_from(
    gpu: &Gpu,
    name: &str,
    a: Operand,
    (batch, m): (usize, usize),
    w: &GpuMatrix,
    bias: Option<&Tensor>,
    alpha: f32,
) -> GpuResult<Tensor> {
    let out = gpu.zeros(name, batch * m * w.cols)?;
    gemm(
        gpu,
        (m, w.cols, w.rows, batch),
        a,
        Operand::rows(&w.t, 0, w.cols),
        Operand::strided(&out, 0, m * w.cols, w.cols, 1),
        Epilogue {
            alpha,
            bias,
            ..Default::default()
        },
    )?;
    Ok(out)
}

/// `out[out_off..] += x [rows, c_in] @ w + bias` (a residual update straight into the activations).
pub fn linear_add(
    gpu: &Gpu,
    x: &Tensor,
    rows: usize,
    w: &GpuMatrix,
    bias: &Tensor,
    out: &Tensor,
    out_off: usize,
) -> GpuResult<()> {
    gemm(
        gpu,
        (rows, w.cols, w.rows, 1),
        Operand::rows(x, 0, w.rows),
        Operand::rows(&w.t, 0, w.cols),
        Operand::rows(out, out_off, w.cols),
        Epilogue {
            bias: Some(bias),
            accumulate: true,
            ..Default::default()
        },
    )
}

/// Layer norm of `rows` contiguous rows of `c` (from `in_off`) into `out` (from `out_off`).
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_into(
    gpu: &Gpu,
    x: &Tensor,
    in_off: usize,
    rows: usize,
    c: usize,
    ln: &GpuLayerNorm,
    out: &Tensor,
    out_off: usize,
) -> GpuResult<()> {
    let pipeline = gpu.pipeline(LAYER_NORM, "main", &[]);
    let params = [
        u(rows, "rows")?,
        u(c, "channels")?,
        u(in_off, "offset")?,
        u(out_off, "offset")?,
        0,
        crate::model::ops::primitives::LN_EPS.to_bits(),
        0,
        0,
    ];
    gpu.dispatch(
        &pipeline,
        &params,
        &[
            (1, &x.buf),
            (2, &ln.scale.buf),
            (3, &ln.offset.buf),
            (4, &out.buf),
        ],
        gpu.grid(rows, 64),
    );
    Ok(())
}

/// Layer norm of `[rows, c]` into a new tensor.
pub fn layer_norm(
    gpu: &Gpu,
    name: &str,
    x: &Tensor,
    rows: usize,
    ln: &GpuLayerNorm,
) -> GpuResult<Tensor> {
    let c = ln.scale.len;
    let out = gpu.zeros(name, rows * c)?;
    layer_norm_into(gpu, x, 0, rows, c, ln, &out, 0)?;
    Ok(out)
}

/// Where the attention kernel finds its operands (see `shaders/attention.wgsl`): strides in elements.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttentionGeometry {
    /// Batch entries, positions (queries = keys), heads, key and value widths per head.
    pub batch: usize,
    pub n: usize,
    pub heads: usize,
    pub d: usize,
    pub dv: usize,
    pub qk_sb: usize,
    pub qk_sn: usize,
    pub v_sb: usize,
    pub v_sn: usize,
    pub o_sb: usize,
    pub o_sn: usize,
    pub m_off: usize,
    pub m_sb: usize,
    pub m_sk: usize,
    /// Pair-bias strides (head, query, key), when there is one.
    pub pair: Option<(usize, usize, usize)>,
}

/// Softmax attention with the mask bias and an optional pair bias (queries pre-scaled), into `out`.
#[allow(clippy::too_many_arguments)]
pub fn attention(
    gpu: &Gpu,
    g: &AttentionGeometry,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &Tensor,
    pair: Option<&Tensor>,
    out: &Tensor,
) -> GpuResult<()> {
    if g.d > 32 || g.dv > 32 || g.d == 0 || g.dv == 0 {
        return Err(GpuError::Unsupported(format!(
            "attention with {} key / {} value channels per head (1-32 supported)",
            g.d, g.dv
        )));
    }
    if g.heads > 65535 || g.batch > 65535 {
        return Err(GpuError::Unsupported(format!(
            "attention over a batch of {} with {} heads",
            g.batch, g.heads
        )));
    }
    let pipeline = gpu.pipeline(ATTENTION, "main", &[("D", g.d as u32), ("DV", g.dv as u32)]);
    let (p_sh, p_sq, p_sk) = g.pair.unwrap_or((0, 0, 0));
    let params = [
        u(g.n, "positions")?,
        u(g.heads, "heads")?,
        u32::from(g.pair.is_some()),
        0,
        u(g.qk_sb, "stride")?,
        u(g.qk_sn, "stride")?,
        u(g.v_sb, "stride")?,
        u(g.v_sn, "stride")?,
        u(g.o_sb, "stride")?,
        u(g.o_sn, "stride")?,
        u(g.m_off, "offset")?,
        u(g.m_sb, "stride")?,
        u(g.m_sk, "stride")?,
        u(p_sh, "stride")?,
        u(p_sq, "stride")?,
        u(p_sk, "stride")?,
    ];
    let pair = pair.map_or(&gpu.dummy, |t| &t.buf);
    gpu.dispatch(
        &pipeline,
        &params,
        &[
            (1, &q.buf),
            (2, &k.buf),
            (3, &v.buf),
            (4, &mask.buf),
            (5, pair),
            (6, &out.buf),
        ],
        (g.n.div_ceil(64) as u32, g.heads as u32, g.batch as u32),
    );
    Ok(())
}

/// Global column attention's pieces (`shaders/global_attention.wgsl`).
pub mod global {
    use super::*;

    fn params(seqs: usize, res: usize, width: usize, heads: usize) -> GpuResult<[u32; 4]> {
        Ok([
            u(seqs, "sequences")?,
            u(res, "residues")?,
            u(width, "channels")?,
            u(heads, "heads")?,
        ])
    }

    /// `[res, width]`: the masked mean over sequences of `x [seqs, res, width]`.
    pub fn masked_mean(
        gpu: &Gpu,
        x: &Tensor,
        mask: &Tensor,
        (seqs, res, width): (usize, usize, usize),
    ) -> GpuResult<Tensor> {
        let out = gpu.zeros("global_attention.q_avg", res * width)?;
        let pipeline = gpu.pipeline(GLOBAL_ATTENTION, "masked_mean", &[("D", 1)]);
        gpu.dispatch(
            &pipeline,
            &params(seqs, res, width, 0)?,
            &[(1, &x.buf), (3, &mask.buf), (4, &out.buf)],
            gpu.grid(res * width, 64),
        );
        Ok(out)
    }

    /// `q [res, heads·d]` (scaled) becomes the attention average `[res, heads·d]` over keys and values
    /// `[seqs, res, d]`.
    #[allow(clippy::too_many_arguments)]
    pub fn attend(
        gpu: &Gpu,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: &Tensor,
        (seqs, res, heads, d): (usize, usize, usize, usize),
    ) -> GpuResult<()> {
        if d == 0 || d > 32 {
            return Err(GpuError::Unsupported(format!(
                "global attention with {d} channels per head (1-32 supported)"
            )));
        }
        let pipeline = gpu.pipeline(GLOBAL_ATTENTION, "attend", &[("D", d as u32)]);
        gpu.dispatch(
            &pipeline,
            &params(seqs, res, d, heads)?,
            &[(1, &k.buf), (2, &v.buf), (3, &mask.buf), (4, &q.buf)],
            gpu.grid(res * heads, 64),
        );
        Ok(())
    }

    /// `g [seqs, res, width] = sigmoid(g) · avg[res, width]`.
    pub fn gate(
        gpu: &Gpu,
        g: &Tensor,
        avg: &Tensor,
        (seqs, res, width): (usize, usize, usize),
    ) -> GpuResult<()> {
        let pipeline = gpu.pipeline(GLOBAL_ATTENTION, "gate", &[("D", 1)]);
        gpu.dispatch(
            &pipeline,
            &params(seqs, res, width, 0)?,
            &[(1, &avg.buf), (4, &g.buf)],
            gpu.grid(seqs * res * width, 64),
        );
        Ok(())
    }
}

fn elementwise(
    gpu: &Gpu,
    entry: &'static str,
    x: &Tensor,
    y: &Tensor,
    z: Option<&Tensor>,
    (n, rows, width, c): (usize, usize, usize, usize),
) -> GpuResult<()> {
    let pipeline = gpu.pipeline(ELEMENTWISE, entry, &[]);
    let params = [
        u(n, "elements")?,
        u(rows, "rows")?,
        u(width, "width")?,
        u(c, "channels")?,
    ];
    let mut buffers = vec![(1, &x.buf), (2, &y.buf)];
    if let Some(z) = z {
        buffers.push((3, &z.buf));
    }
    gpu.dispatch(&pipeline, &params, &buffers, gpu.grid(n, 256));
    Ok(())
}

/// `x *= sigmoid(g)` over the first `x.len` values.
pub fn gate(gpu: &Gpu, x: &Tensor, g: &Tensor) -> GpuResult<()> {
    elementwise(gpu, "gate", x, g, None, (x.len, 0, 0, 0))
}

/// `x += y`.
pub fn add(gpu: &Gpu, x: &Tensor, y: &Tensor) -> GpuResult<()> {
    elementwise(gpu, "add", x, y, None, (x.len, 0, 0, 0))
}

/// `x[i] = mask[i mod rows] · x[i] · sigmoid(g[i])`.
pub fn mask_gate(gpu: &Gpu, x: &Tensor, g: &Tensor, mask: &Tensor, rows: usize) -> GpuResult<()> {
    elementwise(gpu, "mask_gate", x, g, Some(mask), (x.len, rows, 0, 0))
}

/// `[i, a, j, b] → [i, j, a, b]` for `ni` values of i, `nj` of j and `c` of a and b.
pub fn permute_opm(gpu: &Gpu, y: &Tensor, (ni, nj, c): (usize, usize, usize)) -> GpuResult<Tensor> {
    let x = gpu.zeros("outer_product_mean.outer", ni * nj * c * c)?;
    elementwise(gpu, "permute_opm", &x, y, None, (x.len, ni, nj, c))?;
    Ok(x)
}

/// A weight matrix on the GPU, `[rows, cols]` row-major.
#[derive(Debug, Clone)]
pub struct GpuMatrix {
    pub t: Tensor,
    pub rows: usize,
    pub cols: usize,
}

/// A layer norm's scale and offset on the GPU.
#[derive(Debug, Clone)]
pub struct GpuLayerNorm {
    pub scale: Tensor,
    pub offset: Tensor,
}

/// Weights uploaded once per prediction, keyed by the CPU view they came from (address, shape,
/// strides). A cache lives only as long as the loaded network it serves: the addresses identify tensors
/// only while that parameter store is alive.
#[derive(Default)]
pub struct WeightCache {
    map: HashMap<(usize, usize, usize, isize, isize), Tensor>,
}

impl WeightCache {
    fn get(&mut self, gpu: &Gpu, v: ArrayView2<f32>) -> GpuResult<Tensor> {
        let key = (
            v.as_ptr() as usize,
            v.nrows(),
            v.ncols(),
            v.strides()[0],
            v.strides()[1],
        );
        if let Some(t) = self.map.get(&key) {
            return Ok(t.clone());
        }
        let data = v.as_standard_layout();
        let t = gpu.upload("weights", data.as_slice().expect("standard layout"))?;
        self.map.insert(key, t.clone());
        Ok(t)
    }

    /// `[rows, cols]`.
    pub fn matrix(&mut self, gpu: &Gpu, v: ArrayView2<f32>) -> GpuResult<GpuMatrix> {
        Ok(GpuMatrix {
            t: self.get(gpu, v)?,
            rows: v.nrows(),
            cols: v.ncols(),
        })
    }

    pub fn vector(&mut self, gpu: &Gpu, v: ArrayView1<f32>) -> GpuResult<Tensor> {
        self.get(gpu, v.insert_axis(ndarray::Axis(0)))
    }

    /// An affine map's weights `[rows, cols]` and bias `[cols]`.
    pub fn affine(
        &mut self,
        gpu: &Gpu,
        (w, b): (ArrayView2<f32>, ArrayView1<f32>),
    ) -> GpuResult<(GpuMatrix, Tensor)> {
        Ok((self.matrix(gpu, w)?, self.vector(gpu, b)?))
    }

    pub fn layer_norm(
        &mut self,
        gpu: &Gpu,
        ln: &crate::model::ops::primitives::LayerNorm,
    ) -> GpuResult<GpuLayerNorm> {
        Ok(GpuLayerNorm {
            scale: self.vector(gpu, ln.scale)?,
            offset: self.vector(gpu, ln.offset)?,
        })
    }
}
