//! Jumper et al. (2021) Suppl. Alg. 11 "TriangleMultiplicationOutgoing" and Alg. 12
//! "TriangleMultiplicationIncoming", as DeepMind's monomer code computes them (separate left/right
//! projections and gates; the mask is applied before the gate). The edge sums run as one GEMM per channel;
//! the gated projections are made a block of channels at a time, sized from the runtime budget, so only
//! the product `[N, N, c]` is ever held whole.

use ndarray::{s, Array2, Array3, ArrayView1, ArrayView2, Axis};
use rayon::prelude::*;

use crate::model::ops::gemm::matmul_into;
use crate::model::ops::primitives::{flat2, resized, rows_per_task, LayerNorm, Linear, Write};
use crate::model::ops::vmath::masked_gated;
use crate::model::params::config::RuntimeOptions;
use crate::model::params::weights::{Scope, WeightError};

/// Pairs a task takes through the last step's three products at a time (see [`TriangleMultiplication::add_to`]).
const CACHE_ROWS: usize = 256;

/// Which edges are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `z_ij ← Σ_k a_ik ⊙ b_jk`
    Outgoing,
    /// `z_ij ← Σ_k a_ki ⊙ b_kj` (AlphaFold2: `kjc,kic->ijc` with left/right swapped)
    Incoming,
}

#[derive(Debug, Clone)]
pub(crate) struct Gated<'a> {
    pub(crate) proj: (ArrayView2<'a, f32>, ArrayView1<'a, f32>),
    pub(crate) gate: (ArrayView2<'a, f32>, ArrayView1<'a, f32>),
}

impl<'a> Gated<'a> {
    fn load(
        scope: &Scope<'a>,
        proj: &str,
        gate: &str,
        c_z: usize,
        c: usize,
    ) -> Result<Self, WeightError> {
        let load = |name: &str| -> Result<(ArrayView2<'a, f32>, ArrayView1<'a, f32>), WeightError> {
            let l = Linear::load(&scope.sub(name), c_z, c)?;
            Ok((*l.weights, l.bias))
        };
        Ok(Self {
            proj: load(proj)?,
            gate: load(gate)?,
        })
    }

    /// `mask · proj(act) · sigmoid(gate(act))` for channels `range`, channel-major `[c, N, N]`: the
    /// projections are computed transposed (`W^T act^T`), so each channel comes out contiguous, a block
    /// of pairs per parallel task.
    fn block(
        &self,
        act: ArrayView2<f32>,
        mask: &[f32],
        n: usize,
        range: std::ops::Range<usize>,
    ) -> Array3<f32> {
        let cols = s![.., range.clone()];
        let (bp, bg) = (
            self.proj.1.slice(s![range.clone()]),
            self.gate.1.slice(s![range.clone()]),
        );
        let c = range.len();
        // Both projections' weights for these channels as one [2c, c_z] left operand (gate rows, then
        // projection rows): one GEMM per task, whose right operand (the task's pairs, transposed) is
        // packed once instead of once per projection.
        let w = ndarray::concatenate(
            Axis(0),
            &[self.gate.0.slice(cols).t(), self.proj.0.slice(cols).t()],
        )
        .expect("both projections have c_z inputs");
        let mut out = Array2::<f32>::zeros((c, n * n));
        let chunk = rows_per_task(n * n);
        out.axis_chunks_iter_mut(Axis(1), chunk)
            .into_par_iter()
            .enumerate()
            .for_each_init(
                || Array2::<f32>::zeros((0, 0)),
                |both, (t, mut o)| {
                    let start = t * chunk;
                    let width = o.ncols();
                    let a = act.slice(s![start..start + width, ..]);
                    // Gate and projection, overwritten by the GEMM: one array per task, not a zeroed
                    // one per block.
                    let both = resized(both, (2 * c, width));
                    matmul_into(w.view(), a.t(), both.view_mut(), false);
                    let (mut g, p) = both.view_mut().split_at(Axis(0), c);
                    let m = &mask[start..start + width];
                    for (k, ((mut orow, mut grow), prow)) in o
                        .rows_mut()
                        .into_iter()
                        .zip(g.rows_mut())
                        .zip(p.rows())
                        .enumerate()
                    {
                        // One pass per row: biases, sigmoid, mask and gate (three passes before).
                        masked_gated(
                            orow.as_slice_mut().expect("rows of a standard array"),
                            (prow.as_slice().expect("rows of a standard array"), bp[k]),
                            (
                                grow.as_slice_mut().expect("rows of a standard array"),
                                bg[k],
                            ),
                            m,
                        );
                    }
                },
            );
        out.into_shape_with_order((c, n, n)).expect("c*N*N values")
    }
}

/// One triangle multiplication (outgoing or incoming edges).
#[derive(Debug, Clone)]
pub struct TriangleMultiplication<'w> {
    pub(crate) direction: Direction,
    pub(crate) layer_norm_input: LayerNorm<'w>,
    pub(crate) left: Gated<'w>,
    pub(crate) right: Gated<'w>,
    pub(crate) center_layer_norm: LayerNorm<'w>,
    pub(crate) output_projection: Linear<'w>,
    pub(crate) gating_linear: Linear<'w>,
}

impl<'w> TriangleMultiplication<'w> {
    /// `c_z` pair channels, `c` channels in the edge products.
    pub fn load(
        scope: &Scope<'w>,
        direction: Direction,
        c_z: usize,
        c: usize,
    ) -> Result<Self, WeightError> {
        Ok(Self {
            direction,
            layer_norm_input: LayerNorm::load(&scope.sub("layer_norm_input"), c_z)?,
            left: Gated::load(scope, "left_projection", "left_gate", c_z, c)?,
            right: Gated::load(scope, "right_projection", "right_gate", c_z, c)?,
            center_layer_norm: LayerNorm::load(&scope.sub("center_layer_norm"), c)?,
            output_projection: Linear::load(&scope.sub("output_projection"), c, c_z)?,
            gating_linear: Linear::load(&scope.sub("gating_linear"), c_z, c_z)?,
        })
    }

    /// The module in the parameter layout of `kind`: AlphaFold-Multimer's fused one, or the monomer models'.
    pub fn load_for(
        kind: crate::model::params::config::ModelKind,
        scope: &Scope<'w>,
        direction: Direction,
        c_z: usize,
        c: usize,
    ) -> Result<Self, WeightError> {
        match kind {
            crate::model::params::config::ModelKind::Multimer => {
                Self::load_fused(scope, direction, c_z, c)
            }
            crate::model::params::config::ModelKind::Monomer => {
                Self::load(scope, direction, c_z, c)
            }
        }
    }

    /// The same module with AlphaFold-Multimer's fused parameter layout (`fuse_projection_weights`): one
    /// `projection` and one `gate` of `2c` columns (left channels, then right), `left_norm_input` and
    /// `center_norm` for the two layer norms. The computation is the same.
    pub fn load_fused(
        scope: &Scope<'w>,
        direction: Direction,
        c_z: usize,
        c: usize,
    ) -> Result<Self, WeightError> {
        let proj = Linear::load(&scope.sub("projection"), c_z, 2 * c)?;
        let gate = Linear::load(&scope.sub("gate"), c_z, 2 * c)?;
        let half = |l: &Linear<'w>, r: std::ops::Range<usize>| {
            (
                l.weights.slice_move(s![.., r.clone()]),
                l.bias.slice_move(s![r]),
            )
        };
        Ok(Self {
            direction,
            layer_norm_input: LayerNorm::load(&scope.sub("left_norm_input"), c_z)?,
            left: Gated {
                proj: half(&proj, 0..c),
                gate: half(&gate, 0..c),
            },
            right: Gated {
                proj: half(&proj, c..2 * c),
                gate: half(&gate, c..2 * c),
            },
            center_layer_norm: LayerNorm::load(&scope.sub("center_norm"), c)?,
            output_projection: Linear::load(&scope.sub("output_projection"), c, c_z)?,
            gating_linear: Linear::load(&scope.sub("gating_linear"), c_z, c_z)?,
        })
    }

    /// Residual update of `pair [N, N, c_z]`.
    pub fn forward(
        &self,
        pair: &Array3<f32>,
        mask: ArrayView2<f32>,
        rt: &RuntimeOptions,
    ) -> Array3<f32> {
        let mut out = pair.clone();
        self.write(&mut out, mask, rt, Write::Over);
        out
    }

    /// `pair += update`: the update is added a block of pairs at a time as the last step makes it.
    pub fn add_to(&self, pair: &mut Array3<f32>, mask: ArrayView2<f32>, rt: &RuntimeOptions) {
        self.write(pair, mask, rt, Write::Add);
    }

    /// Every pair replaced by its update or added to. The pair is read only through its layer-normed
    /// copy, made whole first, so it may be written as the last step goes.
    fn write(
        &self,
        pair: &mut Array3<f32>,
        mask: ArrayView2<f32>,
        rt: &RuntimeOptions,
        write: Write,
    ) {
        let (n, _, c_z) = pair.dim();
        // [N*N, c_z]
        let act = self.layer_norm_input.forward(flat2(pair));
        let mask_flat: Vec<f32> = mask.iter().copied().collect();
        let (left_w, right_w) = (&self.left, &self.right);
        let c = left_w.proj.0.ncols();
        // [c, N*N]: the edge sums, channel-major, filled a channel block at a time. Each channel's GEMM
        // writes its own contiguous [N, N] slab: written into a `[N, N, c]` array instead, two threads'
        // neighbouring channels shared every cache line of the output (L = 384: 25 GFLOP/s for the
        // module on two threads; see benches/results/scaling.md).
        let mut prod = Array2::<f32>::zeros((c, n * n));
        let per_channel = 2 * n * n * 4 + (2 * c_z) * 4;
        let block = (rt.chunk_budget / per_channel.max(1)).clamp(1, c);
        for start in (0..c).step_by(block) {
            let range = start..(start + block).min(c);
            let left = left_w.block(act.view(), &mask_flat, n, range.clone());
            let right = right_w.block(act.view(), &mask_flat, n, range.clone());
            let mut target = prod.slice_mut(s![range.clone(), ..]);
            // One GEMM per channel, channels in parallel.
            let slabs: Vec<_> = target.axis_iter_mut(Axis(0)).collect();
            slabs.into_par_iter().enumerate().for_each(|(k, o)| {
                let o = o
                    .into_shape_with_order((n, n))
                    .expect("a contiguous N*N row");
                let (l, r) = (left.index_axis(Axis(0), k), right.index_axis(Axis(0), k));
                match self.direction {
                    Direction::Outgoing => matmul_into(l, r.t(), o, false),
                    Direction::Incoming => matmul_into(r.t(), l, o, false),
                }
            });
        }
        // The last step a block of pairs per task: the centre layer norm (gathered from the channel-major
        // edge sums), the output projection, the gate from the normed input, then the block written or
        // added to the pair. Three pair-sized arrays (normed sums, projection, gate) and the update were
        // made whole before, one pass each.
        let rows = n * n;
        let chunk = rows_per_task(rows);
        let mut target = pair
            .view_mut()
            .into_shape_with_order((rows, c_z))
            .expect("a standard array");
        let scratch = || {
            (
                Array2::<f32>::zeros((0, 0)),
                Array2::<f32>::zeros((0, 0)),
                Array2::<f32>::zeros((0, 0)),
            )
        };
        target
            .axis_chunks_iter_mut(Axis(0), chunk)
            .into_par_iter()
            .enumerate()
            .for_each_init(scratch, |(x, y, g), (t, mut o)| {
                // Blocks small enough that the three temporaries stay in cache between the steps.
                for (u, o) in o.axis_chunks_iter_mut(Axis(0), CACHE_ROWS).enumerate() {
                    let start = t * chunk + u * CACHE_ROWS;
                    let len = o.nrows();
                    self.center_layer_norm
                        .channel_major_rows_into(prod.view(), start, len, x);
                    let y = resized(y, (len, c_z));
                    self.output_projection.forward_into(x.view(), y.view_mut());
                    let g = resized(g, (len, c_z));
                    self.gating_linear
                        .forward_into(act.slice(s![start..start + len, ..]), g.view_mut());
                    crate::model::ops::vmath::gate_in_place(
                        y.as_slice_mut().expect("a standard array"),
                        g.as_slice().expect("a standard array"),
                    );
                    write.apply(o, y.view());
                }
            });
    }
}
