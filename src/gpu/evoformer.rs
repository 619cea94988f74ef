//! Suppl. Alg. 6 "EvoformerStack" and Alg. 18 "ExtraMsaStack" on the GPU, module for module from the
//! CPU engine's loaded modules (`model::net::evoformer`): the same weights (uploaded once per
//! prediction), the same order of operations, every residual update added to activations that stay on
//! the GPU from the first block of a stack to its last.
//!
//! Layouts: the MSA is `[S, R, c]` and the pair `[R, R, c_z]` row-major, as on the CPU. Column attention
//! and ending-node triangle attention read them through strides (no transposes); the triangle
//! multiplication's projections are written channel-major so that each channel's edge sum is a plain
//! GEMM.

use std::sync::{Arc, Mutex};

use ndarray::{Array2, Array3, ArrayView1, ArrayView2};

use super::ops::{
    self, gemm, layer_norm, linear, AttentionGeometry, Epilogue, Operand, RowOp, WeightCache,
};
use super::{Gpu, GpuError, GpuResult, Tensor};
use crate::model::net::evoformer::msa_attention::{
    MsaColumnAttention, MsaColumnGlobalAttention, MsaRowAttentionWithPairBias,
};
use crate::model::net::evoformer::outer_product_mean::OuterProductMean;
use crate::model::net::evoformer::transition::Transition;
use crate::model::net::evoformer::triangle_attention::{Node, TriangleAttention};
use crate::model::net::evoformer::triangle_multiplication::{Direction, TriangleMultiplication};
use crate::model::net::evoformer::{Activations, ColumnAttention, EvoformerBlock, EvoformerStack};
use crate::model::net::template_embedding::TemplatePairBlock;
use crate::model::ops::primitives::Attention;
use crate::model::params::config::{PairTerms, RuntimeOptions, StackBackend};

/// The GPU and the weights uploaded so far for one loaded network.
pub struct Session<'g> {
    pub gpu: &'g Gpu,
    pub weights: WeightCache,
}

/// Sizes of the activations a block works on.
#[derive(Debug, Clone, Copy)]
pub struct Dims {
    pub seqs: usize,
    pub res: usize,
    pub c_m: usize,
    pub c_z: usize,
}

/// The activations and masks of one stack on the GPU.
pub struct State {
    pub msa: Tensor,
    pub pair: Tensor,
    pub msa_mask: Tensor,
    pub pair_mask: Tensor,
    pub dims: Dims,
}

impl State {
    /// Uploads `act` and the masks.
    pub fn upload(
        gpu: &Gpu,
        act: &Activations,
        msa_mask: &Array2<f32>,
        pair_mask: &Array2<f32>,
    ) -> GpuResult<Self> {
        let (seqs, res, c_m) = act.msa.dim();
        let c_z = act.pair.dim().2;
        Ok(Self {
            msa: upload_array(gpu, "msa", &act.msa)?,
            pair: upload_array(gpu, "pair", &act.pair)?,
            msa_mask: upload_array(gpu, "msa_mask", msa_mask)?,
            pair_mask: upload_array(gpu, "pair_mask", pair_mask)?,
            dims: Dims {
                seqs,
                res,
                c_m,
                c_z,
            },
        })
    }

    /// A pair representation alone (the template pair stack): no MSA.
    pub fn upload_pair(gpu: &Gpu, pair: &Array3<f32>, pair_mask: &Array2<f32>) -> GpuResult<Self> {
        let (res, _, c_z) = pair.dim();
        Ok(Self {
            msa: gpu.zeros("msa", 0)?,
            pair: upload_array(gpu, "template_pair", pair)?,
            msa_mask: gpu.zeros("msa_mask", 0)?,
            pair_mask: upload_array(gpu, "pair_mask", pair_mask)?,
            dims: Dims {
                seqs: 0,
                res,
                c_m: 0,
                c_z,
            },
        })
    }

    /// Reads the activations back into `act`.
    pub fn download(&self, gpu: &Gpu, act: &mut Activations) -> GpuResult<()> {
        let Dims {
            seqs,
            res,
            c_m,
            c_z,
        } = self.dims;
        let msa = gpu.download(&self.msa)?;
        let pair = gpu.download(&self.pair)?;
        act.msa = Array3::from_shape_vec((seqs, res, c_m), msa).expect("MSA size");
        act.pair = Array3::from_shape_vec((res, res, c_z), pair).expect("pair size");
        Ok(())
    }
}

/// Uploads `a` in row-major order (without a host copy when it is already contiguous).
fn upload_array<D: ndarray::Dimension>(
    gpu: &Gpu,
    name: &str,
    a: &ndarray::Array<f32, D>,
) -> GpuResult<Tensor> {
    match a.as_slice() {
        Some(values) => gpu.upload(name, values),
        None => gpu.upload(
            name,
            a.as_standard_layout().as_slice().expect("standard layout"),
        ),
    }
}

/// The largest tensor the GPU stacks allocate (name, bytes) for `res` residues, `msa_rows` Evoformer
/// MSA rows (template rows included) and `extra_rows` extra-MSA rows with `cfg`'s widths: the MSA and
/// its attention projections, the extra MSA, the pair and the triangle multiplication's projections.
/// The transitions and the outer product mean are chunked to a quarter of the binding limit.
pub fn largest_tensor(
    cfg: &crate::model::params::config::ModelConfig,
    res: usize,
    msa_rows: usize,
    extra_rows: usize,
) -> (&'static str, u64) {
    let e = &cfg.evoformer;
    let pair = e.pair_channel.max(e.triangle_multiplication_channels);
    [
        ("msa", msa_rows * res * e.msa_channel),
        ("extra_msa", extra_rows * res * e.extra_msa_channel),
        ("pair", res * res * pair),
    ]
    .into_iter()
    .map(|(name, len)| (name, len as u64 * 4))
    .max_by_key(|&(_, bytes)| bytes)
    .expect("three tensors")
}

/// Rows per chunk when each row needs `bytes_per_row` of temporaries (a quarter of the binding limit).
fn rows_per_chunk(gpu: &Gpu, rows: usize, bytes_per_row: usize) -> usize {
    super::memory::rows_per_chunk(gpu.max_binding_bytes(), rows, bytes_per_row)
}

/// Where a gated attention's rows are: row of (batch b, position n) = `b·rb + n·rn`; the mask's key bias
/// for (b, key k) at `m_sb·b + m_sk·k`; the pair bias strides (head, query, key).
struct Layout {
    batch: usize,
    n: usize,
    rb: usize,
    rn: usize,
    m_sb: usize,
    m_sk: usize,
    pair: Option<(usize, usize, usize)>,
}

/// Bytes of one batch entry's attention temporaries over `n` positions: queries and keys (`qk` wide),
/// values and weighted values (`v` wide), alive together (the gate comes after the first three go).
pub(super) fn attention_bytes_per_entry(n: usize, qk: usize, v: usize) -> usize {
    n * (2 * qk + 2 * v) * 4
}

/// The rows of batch entries `b0..b0 + nb` of a [`Layout`], as GEMM operands: one block of rows when
/// each entry's positions are contiguous (MSA rows, starting-node pair rows), or one `[nb, c]` block
/// per position when the entries are adjacent rows of every position (MSA columns, ending-node pair
/// columns). Chunk-local tensors hold the chunk's rows in the same order.
enum ChunkRows {
    /// Rows `first..first + count`.
    Block { first: usize, count: usize },
    /// For each of `positions` positions `p`: rows `first + p·stride ..` (`nb` of them).
    PerPosition {
        first: usize,
        nb: usize,
        positions: usize,
        stride: usize,
    },
}

impl ChunkRows {
    fn new(l: &Layout, b0: usize, nb: usize) -> GpuResult<Self> {
        if l.rn == 1 && l.rb == l.n {
            Ok(Self::Block {
                first: b0 * l.n,
                count: nb * l.n,
            })
        } else if l.rb == 1 {
            Ok(Self::PerPosition {
                first: b0,
                nb,
                positions: l.n,
                stride: l.rn,
            })
        } else {
            Err(GpuError::Unsupported(format!(
                "an attention layout with strides {} / {}",
                l.rb, l.rn
            )))
        }
    }

    /// Strides (entry, position) of the chunk's rows in chunk-local tensors.
    fn local_strides(&self, n: usize) -> (usize, usize) {
        match *self {
            Self::Block { .. } => (n, 1),
            Self::PerPosition { nb, .. } => (1, nb),
        }
    }

    /// (GEMM batch, rows per product, operand over `t` with `cols` columns, chunk-local operand).
    fn operands<'t>(&self, t: &'t Tensor, cols: usize) -> (usize, usize, Operand<'t>) {
        match *self {
            Self::Block { first, count } => (1, count, Operand::rows(t, first * cols, cols)),
            Self::PerPosition {
                first,
                nb,
                positions,
                stride,
            } => (
                positions,
                nb,
                Operand::strided(t, first * cols, stride * cols, cols, 1),
            ),
        }
    }

    /// `x`'s chunk rows `@ w (+ bias) · alpha` into a new chunk-local tensor.
    fn project(
        &self,
        gpu: &Gpu,
        name: &str,
        x: &Tensor,
        w: &ops::GpuMatrix,
        bias: Option<&Tensor>,
        alpha: f32,
    ) -> GpuResult<Tensor> {
        let (batch, m, a) = self.operands(x, w.rows);
        ops::linear_from(gpu, name, a, (batch, m), w, bias, alpha)
    }

    /// `target`'s chunk rows `+= local @ w + bias` (`local`: chunk-local rows).
    fn add_projection(
        &self,
        gpu: &Gpu,
        local: &Tensor,
        w: &ops::GpuMatrix,
        bias: &Tensor,
        target: &Tensor,
    ) -> GpuResult<()> {
        let (batch, m, c) = self.operands(target, w.cols);
        gemm(
            gpu,
            (m, w.cols, w.rows, batch),
            Operand::strided(local, 0, m * w.rows, w.rows, 1),
            Operand::rows(&w.t, 0, w.cols),
            c,
            Epilogue {
                bias: Some(bias),
                accumulate: true,
                ..Default::default()
            },
        )
    }
}

impl Session<'_> {
    /// `ln` applied to `rows` rows of `x`, into a new tensor (`name` for errors).
    fn normed(
        &mut self,
        name: &str,
        ln: &crate::model::ops::primitives::LayerNorm,
        x: &Tensor,
        rows: usize,
    ) -> GpuResult<Tensor> {
        let ln = self.weights.layer_norm(self.gpu, ln)?;
        layer_norm(self.gpu, name, x, rows, &ln)
    }

    /// `x [rows, c_in] @ w + b` into a new tensor (`name` for errors).
    fn affine(
        &mut self,
        name: &str,
        x: &Tensor,
        rows: usize,
        wb: (ArrayView2<f32>, ArrayView1<f32>),
    ) -> GpuResult<Tensor> {
        let (w, b) = self.weights.affine(self.gpu, wb)?;
        linear(self.gpu, name, x, rows, &w, Some(&b), 1.0)
    }

    /// `out[off..] += x [rows, c_in] @ w + b`: a residual update straight into the activations.
    fn add_affine(
        &mut self,
        x: &Tensor,
        rows: usize,
        wb: (ArrayView2<f32>, ArrayView1<f32>),
        out: &Tensor,
        off: usize,
    ) -> GpuResult<()> {
        let (w, b) = self.weights.affine(self.gpu, wb)?;
        ops::linear_add(self.gpu, x, rows, &w, &b, out, off)
    }

    /// AlphaFold2's `Attention` over the layer-normed rows `x [rows, c]`: the update is added to
    /// `target` (`[rows, c_out]`, the same rows). In chunks of batch entries (MSA rows, pair rows or
    /// columns) so that the queries, keys, values and weighted values of all rows never exist at once:
    /// they were the engine's largest temporaries (5× the MSA for the MSA row attention). Every
    /// element is computed as without chunks, so the bits do not depend on the chunk size.
    #[allow(clippy::too_many_arguments)]
    fn gated_attention(
        &mut self,
        att: &Attention,
        x: &Tensor,
        rows: usize,
        l: &Layout,
        mask: &Tensor,
        pair_bias: Option<&Tensor>,
        target: &Tensor,
    ) -> GpuResult<()> {
        let gpu = self.gpu;
        let (h, d, dv) = (att.heads, att.key_dim, att.value_dim);
        debug_assert_eq!(rows, l.batch * l.n);
        let wq = self.weights.matrix(gpu, *att.query)?;
        let wk = self.weights.matrix(gpu, *att.key)?;
        let wv = self.weights.matrix(gpu, *att.value)?;
        let gating = match &att.gating {
            Some((w, b)) => Some(self.weights.affine(gpu, (**w, *b))?),
            None => None,
        };
        let (wo, bo) = self.weights.affine(gpu, (*att.output, att.output_b))?;
        let chunk = rows_per_chunk(gpu, l.batch, attention_bytes_per_entry(l.n, h * d, h * dv));
        for b0 in (0..l.batch).step_by(chunk) {
            let nb = chunk.min(l.batch - b0);
            let part = ChunkRows::new(l, b0, nb)?;
            let q = part.project(gpu, "attention.q", x, &wq, None, (d as f32).powf(-0.5))?;
            let k = part.project(gpu, "attention.k", x, &wk, None, 1.0)?;
            let v = part.project(gpu, "attention.v", x, &wv, None, 1.0)?;
            let avg = gpu.zeros("attention.avg", nb * l.n * h * dv)?;
            // The chunk's own rows: entry b, position p at `b·rb + p·rn`.
            let (rb, rn) = part.local_strides(l.n);
            let g = AttentionGeometry {
                batch: nb,
                n: l.n,
                heads: h,
                d,
                dv,
                qk_sb: rb * h * d,
                qk_sn: rn * h * d,
                v_sb: rb * h * dv,
                v_sn: rn * h * dv,
                o_sb: rb * h * dv,
                o_sn: rn * h * dv,
                m_off: b0 * l.m_sb,
                m_sb: l.m_sb,
                m_sk: l.m_sk,
                pair: l.pair,
            };
            ops::attention(gpu, &g, &q, &k, &v, mask, pair_bias, &avg)?;
            drop((q, k, v));
            if let Some((wg, bg)) = &gating {
                let gate = part.project(gpu, "attention.gate", x, wg, Some(bg), 1.0)?;
                ops::gate(gpu, &avg, &gate)?;
            }
            part.add_projection(gpu, &avg, &wo, &bo, target)?;
        }
        Ok(())
    }

    /// Alg. 7, its update added to `out` (`[S, R, c_m]`; the block passes `s.msa`).
    pub fn msa_row_attention(
        &mut self,
        m: &MsaRowAttentionWithPairBias,
        s: &State,
        out: &Tensor,
    ) -> GpuResult<()> {
        let gpu = self.gpu;
        let Dims { seqs, res, .. } = s.dims;
        let z = self.normed("pair.normed", &m.feat_2d_norm, &s.pair, res * res)?;
        let w = self.weights.matrix(gpu, m.feat_2d_weights)?;
        let bias = linear(gpu, "pair_bias", &z, res * res, &w, None, 1.0)?;
        drop(z);
        let h = w.cols;
        let x = self.normed("msa.normed", &m.query_norm, &s.msa, seqs * res)?;
        let layout = Layout {
            batch: seqs,
            n: res,
            rb: res,
            rn: 1,
            m_sb: res,
            m_sk: 1,
            pair: Some((1, res * h, h)),
        };
        self.gated_attention(
            &m.attention,
            &x,
            seqs * res,
            &layout,
            &s.msa_mask,
            Some(&bias),
            out,
        )
    }

    /// Alg. 8, its update added to `out`.
    pub fn msa_column_attention(
        &mut self,
        m: &MsaColumnAttention,
        s: &State,
        out: &Tensor,
    ) -> GpuResult<()> {
        let Dims { seqs, res, .. } = s.dims;
        let x = self.normed("msa.normed", &m.query_norm, &s.msa, seqs * res)?;
        let layout = Layout {
            batch: res,
            n: seqs,
            rb: 1,
            rn: res,
            m_sb: 1,
            m_sk: res,
            pair: None,
        };
        self.gated_attention(
            &m.attention,
            &x,
            seqs * res,
            &layout,
            &s.msa_mask,
            None,
            out,
        )
    }

    /// Alg. 19, its update added to `out`.
    pub fn msa_column_global_attention(
        &mut self,
        m: &MsaColumnGlobalAttention,
        s: &State,
        out: &Tensor,
    ) -> GpuResult<()> {
        let gpu = self.gpu;
        let Dims {
            seqs, res, c_m: c, ..
        } = s.dims;
        let (h, d) = (m.heads, m.key_dim);
        let x = self.normed("msa.normed", &m.query_norm, &s.msa, seqs * res)?;
        let q_avg = ops::global::masked_mean(gpu, &x, &s.msa_mask, (seqs, res, c))?;
        let wq = self.weights.matrix(gpu, m.query)?;
        let q = linear(
            gpu,
            "global_attention.q",
            &q_avg,
            res,
            &wq,
            None,
            (d as f32).powf(-0.5),
        )?;
        let wk = self.weights.matrix(gpu, m.key)?;
        let wv = self.weights.matrix(gpu, m.value)?;
        let k = linear(gpu, "global_attention.k", &x, seqs * res, &wk, None, 1.0)?;
        let v = linear(gpu, "global_attention.v", &x, seqs * res, &wv, None, 1.0)?;
        ops::global::attend(gpu, &q, &k, &v, &s.msa_mask, (seqs, res, h, d))?;
        drop((k, v));
        let g = self.affine("global_attention.gate", &x, seqs * res, m.gating)?;
        ops::global::gate(gpu, &g, &q, (seqs, res, h * d))?;
        self.add_affine(&g, seqs * res, m.output, out, 0)
    }

    /// Alg. 9 / 15: `out += Linear(relu(Linear(LayerNorm(x))))` over `rows` rows, in row chunks (`out`
    /// may be `x`: each chunk's rows are read before they are written).
    pub fn transition(
        &mut self,
        m: &Transition,
        x: &Tensor,
        rows: usize,
        out: &Tensor,
    ) -> GpuResult<()> {
        let gpu = self.gpu;
        let ln = self.weights.layer_norm(gpu, &m.input_layer_norm)?;
        let (w1, b1) = self.weights.affine(gpu, m.transition1.parts())?;
        let c = w1.rows;
        let chunk = rows_per_chunk(gpu, rows, (c + w1.cols) * 4);
        let normed = gpu.zeros("transition.normed", chunk * c)?;
        let hidden = gpu.zeros("transition.hidden", chunk * w1.cols)?;
        for start in (0..rows).step_by(chunk) {
            let n = chunk.min(rows - start);
            ops::layer_norm_into(gpu, x, start * c, n, c, &ln, &normed, 0)?;
            gemm(
                gpu,
                (n, w1.cols, c, 1),
                Operand::rows(&normed, 0, c),
                Operand::rows(&w1.t, 0, w1.cols),
                Operand::rows(&hidden, 0, w1.cols),
                Epilogue {
                    bias: Some(&b1),
                    relu: true,
                    ..Default::default()
                },
            )?;
            self.add_affine(&hidden, n, m.transition2.parts(), out, start * c)?;
        }
        Ok(())
    }

    /// Alg. 10, its update added to `out` (`[R, R, c_z]`; the block passes `s.pair`).
    pub fn outer_product_mean(
        &mut self,
        m: &OuterProductMean,
        s: &State,
        out: &Tensor,
    ) -> GpuResult<()> {
        let gpu = self.gpu;
        let Dims { seqs, res, c_z, .. } = s.dims;
        let x = self.normed("msa.normed", &m.layer_norm_input, &s.msa, seqs * res)?;
        let project = |sess: &mut Self, lin: &crate::model::ops::primitives::Linear| {
            let (w, b) = sess.weights.affine(gpu, lin.parts())?;
            let out = gpu.zeros("outer_product_mean.projection", seqs * res * w.cols)?;
            gemm(
                gpu,
                (seqs * res, w.cols, w.rows, 1),
                Operand::rows(&x, 0, w.rows),
                Operand::rows(&w.t, 0, w.cols),
                Operand::rows(&out, 0, w.cols),
                Epilogue {
                    bias: Some(&b),
                    row: Some((&s.msa_mask, 0, 0, 1, RowOp::Mul)),
                    ..Default::default()
                },
            )?;
            Ok::<_, GpuError>((out, w.cols))
        };
        let (left, c) = project(self, &m.left_projection)?;
        let (right, _) = project(self, &m.right_projection)?;
        drop(x);
        // norm[i, j] = Σ_s mask[s, i] · mask[s, j]
        let norm = gpu.zeros("outer_product_mean.norm", res * res)?;
        gemm(
            gpu,
            (res, res, seqs, 1),
            Operand::strided(&s.msa_mask, 0, 0, 1, res),
            Operand::strided(&s.msa_mask, 0, 0, res, 1),
            Operand::rows(&norm, 0, res),
            Epilogue::default(),
        )?;
        let (wo, bo) = self.weights.affine(gpu, (*m.output_w, m.output_b))?;
        // Residues i per chunk: the outer products [i, c, R, c] twice (before and after the permute).
        let ib = rows_per_chunk(gpu, res, 2 * c * res * c * 4);
        for i0 in (0..res).step_by(ib) {
            let n = ib.min(res - i0);
            let outer = gpu.zeros("outer_product_mean.outer", n * c * res * c)?;
            gemm(
                gpu,
                (n * c, res * c, seqs, 1),
                Operand::strided(&left, i0 * c, 0, 1, res * c),
                Operand::strided(&right, 0, 0, res * c, 1),
                Operand::rows(&outer, 0, res * c),
                Epilogue::default(),
            )?;
            let x = ops::permute_opm(gpu, &outer, (n, res, c))?;
            drop(outer);
            gemm(
                gpu,
                (n * res, c_z, c * c, 1),
                Operand::rows(&x, 0, c * c),
                Operand::rows(&wo.t, 0, c_z),
                Operand::rows(out, i0 * res * c_z, c_z),
                Epilogue {
                    bias: Some(&bo),
                    row: Some((&norm, i0 * res, 0, 1, RowOp::Div(1e-3))),
                    accumulate: true,
                    ..Default::default()
                },
            )?;
        }
        Ok(())
    }

    /// Alg. 11 / 12, its update added to `out`.
    pub fn triangle_multiplication(
        &mut self,
        m: &TriangleMultiplication,
        s: &State,
        out: &Tensor,
    ) -> GpuResult<()> {
        let gpu = self.gpu;
        let Dims { res, c_z, .. } = s.dims;
        let rr = res * res;
        let act = self.normed("pair.normed", &m.layer_norm_input, &s.pair, rr)?;
        // mask · (act @ W + b) · sigmoid(act @ Wg + bg), channel-major [c, R·R].
        let gated =
            |sess: &mut Self, g: &crate::model::net::evoformer::triangle_multiplication::Gated| {
                let channel_major = |w: &ops::GpuMatrix, b: &Tensor, name: &str| {
                    let out = gpu.zeros(name, rr * w.cols)?;
                    gemm(
                        gpu,
                        (rr, w.cols, c_z, 1),
                        Operand::rows(&act, 0, c_z),
                        Operand::rows(&w.t, 0, w.cols),
                        Operand::strided(&out, 0, 0, 1, rr),
                        Epilogue {
                            bias: Some(b),
                            ..Default::default()
                        },
                    )?;
                    Ok::<_, GpuError>(out)
                };
                let (wp, bp) = sess.weights.affine(gpu, g.proj)?;
                let (wg, bg) = sess.weights.affine(gpu, g.gate)?;
                let p = channel_major(&wp, &bp, "triangle_multiplication.projection")?;
                let gate = channel_major(&wg, &bg, "triangle_multiplication.gate")?;
                ops::mask_gate(gpu, &p, &gate, &s.pair_mask, rr)?;
                Ok::<_, GpuError>((p, wp.cols))
            };
        let (left, c) = gated(self, &m.left)?;
        let (right, _) = gated(self, &m.right)?;
        // prod[i, j, ch], one GEMM per channel.
        let prod = gpu.zeros("triangle_multiplication.product", rr * c)?;
        let (a, b) = match m.direction {
            // Σ_k left[i, k] · right[j, k]
            Direction::Outgoing => (
                Operand::strided(&left, 0, rr, res, 1),
                Operand::strided(&right, 0, rr, 1, res),
            ),
            // Σ_k right[k, i] · left[k, j]
            Direction::Incoming => (
                Operand::strided(&right, 0, rr, 1, res),
                Operand::strided(&left, 0, rr, res, 1),
            ),
        };
        gemm(
            gpu,
            (res, res, res, c),
            a,
            b,
            Operand::strided(&prod, 0, 1, res * c, c),
            Epilogue::default(),
        )?;
        drop((left, right));
        let x = self.normed(
            "triangle_multiplication.normed",
            &m.center_layer_norm,
            &prod,
            rr,
        )?;
        drop(prod);
        let update = self.affine(
            "triangle_multiplication.out",
            &x,
            rr,
            m.output_projection.parts(),
        )?;
        drop(x);
        let gate = self.affine(
            "triangle_multiplication.gate",
            &act,
            rr,
            m.gating_linear.parts(),
        )?;
        ops::gate(gpu, &update, &gate)?;
        ops::add(gpu, out, &update)
    }

    /// Alg. 13 / 14, its update added to `out`.
    pub fn triangle_attention(
        &mut self,
        m: &TriangleAttention,
        s: &State,
        out: &Tensor,
    ) -> GpuResult<()> {
        let gpu = self.gpu;
        let Dims { res, .. } = s.dims;
        let rr = res * res;
        let x = self.normed("pair.normed", &m.query_norm, &s.pair, rr)?;
        let w = self.weights.matrix(gpu, m.feat_2d_weights)?;
        let bias = linear(gpu, "pair_bias", &x, rr, &w, None, 1.0)?;
        let h = w.cols;
        let layout = match m.node {
            // Row i attends over j: bias[h, j, k] from pair row (j, k).
            Node::Starting => Layout {
                batch: res,
                n: res,
                rb: res,
                rn: 1,
                m_sb: res,
                m_sk: 1,
                pair: Some((1, res * h, h)),
            },
            // Column j attends over i (AlphaFold2 transposes; here the strides do): bias[h, i, k] from
            // pair row (k, i), the mask's key bias from mask[k, j].
            Node::Ending => Layout {
                batch: res,
                n: res,
                rb: 1,
                rn: res,
                m_sb: 1,
                m_sk: res,
                pair: Some((1, h, res * h)),
            },
        };
        self.gated_attention(
            &m.attention,
            &x,
            rr,
            &layout,
            &s.pair_mask,
            Some(&bias),
            out,
        )
    }

    /// One block of the template pair stack (Alg. 16), in the CPU engine's order (AlphaFold-Multimer's:
    /// the triangle multiplications first).
    pub fn template_pair_block(&mut self, b: &TemplatePairBlock, s: &State) -> GpuResult<()> {
        let (pair, rr) = (&s.pair, s.dims.res * s.dims.res);
        if b.multimer {
            self.triangle_multiplication(&b.triangle_multiplication_outgoing, s, pair)?;
            self.triangle_multiplication(&b.triangle_multiplication_incoming, s, pair)?;
        }
        self.triangle_attention(&b.triangle_attention_starting_node, s, pair)?;
        self.triangle_attention(&b.triangle_attention_ending_node, s, pair)?;
        if !b.multimer {
            self.triangle_multiplication(&b.triangle_multiplication_outgoing, s, pair)?;
            self.triangle_multiplication(&b.triangle_multiplication_incoming, s, pair)?;
        }
        self.transition(&b.pair_transition, pair, rr, pair)
    }

    /// One block (`EvoformerIteration`), in the CPU engine's order.
    pub fn block(&mut self, b: &EvoformerBlock, s: &State) -> GpuResult<()> {
        let Dims { seqs, res, .. } = s.dims;
        let (msa, pair) = (&s.msa, &s.pair);
        if b.outer_product_mean_first {
            self.outer_product_mean(&b.outer_product_mean, s, pair)?;
        }
        self.msa_row_attention(&b.msa_row_attention_with_pair_bias, s, msa)?;
        match &b.msa_column_attention {
            ColumnAttention::PerHead(m) => self.msa_column_attention(m, s, msa)?,
            ColumnAttention::Global(m) => self.msa_column_global_attention(m, s, msa)?,
        }
        self.transition(&b.msa_transition, msa, seqs * res, msa)?;
        if !b.outer_product_mean_first {
            self.outer_product_mean(&b.outer_product_mean, s, pair)?;
        }
        self.triangle_multiplication(&b.triangle_multiplication_outgoing, s, pair)?;
        self.triangle_multiplication(&b.triangle_multiplication_incoming, s, pair)?;
        self.triangle_attention(&b.triangle_attention_starting_node, s, pair)?;
        self.triangle_attention(&b.triangle_attention_ending_node, s, pair)?;
        self.transition(&b.pair_transition, pair, res * res, pair)
    }
}

/// Runs the trunk's stacks on a GPU for one prediction (installed into [`RuntimeOptions`] by the GPU
/// engine). After a failure it either hands every later stack back to the CPU engine (`fallback`, the
/// `--device auto` behaviour, logged) or skips them and keeps the error for the engine to report.
pub struct GpuStacks {
    gpu: Arc<Gpu>,
    weights: Mutex<WeightCache>,
    fallback: bool,
    failure: Mutex<Option<String>>,
}

impl GpuStacks {
    pub fn new(gpu: Arc<Gpu>, fallback: bool) -> Self {
        Self {
            gpu,
            weights: Mutex::new(WeightCache::default()),
            fallback,
            failure: Mutex::new(None),
        }
    }

    /// The error that stopped the GPU path, if one did.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Runs `work` on a session (weights cached across calls); `None` after this or an earlier
    /// failure (logged and kept).
    fn try_on_gpu<T>(&self, work: impl FnOnce(&mut Session) -> GpuResult<T>) -> Option<T> {
        if self.failure().is_some() {
            return None;
        }
        let mut weights = self.weights.lock().unwrap_or_else(|p| p.into_inner());
        let mut session = Session {
            gpu: &self.gpu,
            weights: std::mem::take(&mut *weights),
        };
        let result = self.gpu.check().and_then(|()| work(&mut session));
        *weights = session.weights;
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                let message = e.to_string();
                if self.fallback {
                    tracing::warn!("GPU engine: {message}; running on the CPU instead");
                } else {
                    tracing::error!("GPU engine: {message}");
                }
                *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(message);
                None
            }
        }
    }

    /// A stack's `work`: `true` when it ran, or when the CPU engine should skip the stack (a failure
    /// without fall-back: the prediction fails anyway); `false` to run it on the CPU.
    fn attempt(&self, work: impl FnOnce(&mut Session) -> GpuResult<()>) -> bool {
        self.try_on_gpu(work).is_some() || !self.fallback
    }
}

/// The layer-normed pair representation on the GPU for one structure-module run.
struct GpuPairTerms<'a> {
    stacks: &'a GpuStacks,
    pair: Tensor,
    n: usize,
    c_z: usize,
}

impl PairTerms for GpuPairTerms<'_> {
    fn project(&self, lin: &crate::model::ops::primitives::Linear) -> Option<Array2<f32>> {
        let rows = self.n * self.n;
        self.stacks.try_on_gpu(|s| {
            let out = s.affine("ipa.pair_bias", &self.pair, rows, lin.parts())?;
            let values = s.gpu.download(&out)?;
            Ok(Array2::from_shape_vec((rows, lin.c_out()), values).expect("N*N x H"))
        })
    }

    fn attend(&self, attn: &[Array2<f32>]) -> Option<Array3<f32>> {
        let (n, c_z, h) = (self.n, self.c_z, attn.len());
        self.stacks.try_on_gpu(|s| {
            let mut weights = Vec::with_capacity(h * n * n);
            for a in attn {
                weights.extend(a.iter().copied());
            }
            let weights = s.gpu.upload("ipa.attention", &weights)?;
            let out = s.gpu.zeros("ipa.over_pair", n * h * c_z)?;
            // Per residue i: [H, N] attention rows @ pair[i] [N, c_z].
            gemm(
                s.gpu,
                (h, c_z, n, n),
                Operand::strided(&weights, 0, n, n * n, 1),
                Operand::strided(&self.pair, 0, n * c_z, c_z, 1),
                Operand::strided(&out, 0, h * c_z, c_z, 1),
                Epilogue::default(),
            )?;
            let values = s.gpu.download(&out)?;
            Ok(Array3::from_shape_vec((n, h, c_z), values).expect("N x H x c_z"))
        })
    }
}

impl StackBackend for GpuStacks {
    fn evoformer_stack(
        &self,
        stack: &EvoformerStack,
        act: &mut Activations,
        msa_mask: &Array2<f32>,
        pair_mask: &Array2<f32>,
        rt: &RuntimeOptions,
    ) -> bool {
        self.attempt(|session| {
            let gpu = session.gpu;
            let state = State::upload(gpu, act, msa_mask, pair_mask)?;
            for block in &stack.blocks {
                session.block(block, &state)?;
                gpu.wait()?;
                if let Some(hook) = &rt.on_block {
                    (hook.0)();
                }
            }
            state.download(gpu, act)
        })
    }

    fn structure_pair(&self, pair_ln: &Array3<f32>) -> Option<Box<dyn PairTerms + '_>> {
        let (n, _, c_z) = pair_ln.dim();
        let pair = self.try_on_gpu(|s| upload_array(s.gpu, "pair.normed", pair_ln))?;
        Some(Box::new(GpuPairTerms {
            stacks: self,
            pair,
            n,
            c_z,
        }))
    }

    fn template_pair_stack(
        &self,
        blocks: &[TemplatePairBlock],
        act: &mut Array3<f32>,
        pair_mask: &Array2<f32>,
        _rt: &RuntimeOptions,
    ) -> bool {
        self.attempt(|session| {
            let gpu = session.gpu;
            let state = State::upload_pair(gpu, act, pair_mask)?;
            for block in blocks {
                session.template_pair_block(block, &state)?;
            }
            gpu.wait()?;
            let (n, _, c) = act.dim();
            let values = gpu.download(&state.pair)?;
            *act = Array3::from_shape_vec((n, n, c), values).expect("template pair size");
            Ok(())
        })
    }
}
