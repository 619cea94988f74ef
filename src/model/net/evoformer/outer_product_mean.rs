//! Jumper et al. (2021) Suppl. Alg. 10 "OuterProductMean": the MSA's contribution to the pair
//! representation, `mean_s(a_si ⊗ b_sj)` projected to `c_z`, normalised by the number of sequences where
//! both residues are present (+1e-3, after the bias, as AlphaFold2 does).

use ndarray::{s, Array2, Array3, ArrayView1, ArrayView2, Axis};
use rayon::prelude::*;

use crate::model::ops::gemm::{matmul_reused_into, matmul_w_into, Reused, Weight};
use crate::model::ops::primitives::{flat2, resized, unflat3, LayerNorm, Linear, Write};
use crate::model::params::weights::{Scope, WeightError};

/// Residues per task of the outer product mean over `n_seq` rows, `n_res` residues and `c` channels (see
/// [`OuterProductMean::forward`]; the memory estimate counts each worker's block temporaries from it).
pub(crate) fn residue_block(n_seq: usize, n_res: usize, c: usize) -> usize {
    let per_residue = c * c * n_res * std::mem::size_of::<f32>();
    let right_bytes = n_seq * n_res * c * std::mem::size_of::<f32>();
    (right_bytes / (2 << 20))
        .min((16usize << 20) / per_residue.max(1))
        .clamp(1, 16)
}

#[derive(Debug, Clone)]
pub struct OuterProductMean<'w> {
    pub(crate) layer_norm_input: LayerNorm<'w>,
    pub(crate) left_projection: Linear<'w>,
    pub(crate) right_projection: Linear<'w>,
    /// `[c*c, c_z]` (from `[c, c, c_z]`)
    pub(crate) output_w: Weight<'w>,
    pub(crate) output_b: ArrayView1<'w, f32>,
}

impl<'w> OuterProductMean<'w> {
    /// `c` outer-product channels between `c_m` MSA and `c_z` pair channels.
    pub fn load(scope: &Scope<'w>, c_m: usize, c: usize, c_z: usize) -> Result<Self, WeightError> {
        Ok(Self {
            layer_norm_input: LayerNorm::load(&scope.sub("layer_norm_input"), c_m)?,
            left_projection: Linear::load(&scope.sub("left_projection"), c_m, c)?,
            right_projection: Linear::load(&scope.sub("right_projection"), c_m, c)?,
            output_w: Weight::new(scope.matrix("output_w", &[c, c], &[c_z])?),
            output_b: scope.vector("output_b", c_z)?,
        })
    }

    /// Update of the pair representation `[N_res, N_res, c_z]` from `msa [N_seq, N_res, c_m]`.
    pub fn forward(&self, msa: &Array3<f32>, msa_mask: ArrayView2<f32>) -> Array3<f32> {
        let n_res = msa.dim().1;
        let mut out = Array3::<f32>::zeros((n_res, n_res, self.output_b.len()));
        self.write(msa, msa_mask, &mut out, Write::Over);
        out
    }

    /// `pair += update`, each block of residues added as soon as it is computed.
    pub fn add_to(&self, msa: &Array3<f32>, msa_mask: ArrayView2<f32>, pair: &mut Array3<f32>) {
        self.write(msa, msa_mask, pair, Write::Add);
    }

    fn write(
        &self,
        msa: &Array3<f32>,
        msa_mask: ArrayView2<f32>,
        out: &mut Array3<f32>,
        write: Write,
    ) {
        let (n_seq, n_res, _) = msa.dim();
        let c_z = self.output_b.len();
        assert_eq!(out.dim(), (n_res, n_res, c_z), "pair [N_res, N_res, c_z]");
        let act = self.layer_norm_input.forward(flat2(msa));
        let mask_flat = msa_mask
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(n_seq * n_res)
            .expect("mask [S, N]");
        let project = |lin: &Linear| -> Array3<f32> {
            let mut p = lin.forward(act.view());
            for (mut row, &m) in p.rows_mut().into_iter().zip(mask_flat.iter()) {
                row.mapv_inplace(|v| v * m);
            }
            unflat3(p, n_seq, n_res)
        };
        // left, right as [N_seq, N_res*c]; left transposed ([N_res*c, N_seq], so that each block's rows
        // are the A of its product, row-major: read in place by ferrofold's GEMM kernel instead of packed at
        // every block), right packed once for all blocks (`Reused`), each in place of its array. The
        // normed MSA goes before right is packed, so the peak stays MSA + two projections.
        let c = self.left_projection.c_out();
        let cc = c * c;
        let flat = |p: Array3<f32>| {
            p.into_shape_with_order((n_seq, n_res * c))
                .expect("contiguous")
        };
        let left_t = flat(project(&self.left_projection))
            .reversed_axes()
            .as_standard_layout()
            .into_owned();
        let right = flat(project(&self.right_projection));
        drop(act);
        let right2 = Reused::new(right);
        // A task takes a block of residues i: one GEMM [b*c, N_seq]·[N_seq, N_res*c] for the block, then
        // one output projection for its b*N_res pairs. One residue per GEMM re-reads all of `right` for
        // 32 output rows: fine while `right` stays in cache, but at L = 384 with 1,024 extra rows (48 MiB)
        // that ran at a third of the GEMM ceiling. So the block grows with `right`'s size (one residue up
        // to 2 MiB), under ~16 MiB per temporary; it depends only on the sizes, never on the threads.
        let block = residue_block(n_seq, n_res, c);
        let norm = msa_mask.t().dot(&msa_mask);
        // Each task keeps its block-sized temporaries for its next block: fresh ones (up to 16 MiB
        // each) were zeroed by the allocator or the kernel and then overwritten (perf: 1.2 % of predict
        // at L = 384).
        let scratch = || {
            (
                Array2::<f32>::zeros((0, 0)),
                Array2::<f32>::zeros((0, 0)),
                Array2::<f32>::zeros((0, 0)),
            )
        };
        out.axis_chunks_iter_mut(Axis(0), block)
            .into_par_iter()
            .enumerate()
            .for_each_init(scratch, |(outer, x, result), (t, mut ob)| {
                let (i0, b) = (t * block, ob.dim().0);
                // [b*c, N_res*c]: outer[il*c + a, j*c + e] = Σ_s left[s, i0+il, a] right[s, j, e]
                let outer = resized(outer, (b * c, n_res * c));
                matmul_reused_into(
                    left_t.slice(s![i0 * c..(i0 + b) * c, ..]),
                    &right2,
                    outer.view_mut(),
                    false,
                );
                // → [b*N_res, c*c] with (a, e) flattened as a*c + e, matching output_w [c, e, c_z]
                // Every value of `x` is assigned below (all c blocks of c columns of every row).
                // Plain slice copies, each output row written front to back: ndarray's `assign` of
                // the [N_res, c] views went through its generic zip per c-value row (perf: 2.5 % of
                // `predict` at L = 384, 128 + 1,024 rows).
                let x = resized(x, (b * n_res, cc));
                let src = outer.as_slice().expect("a standard array");
                let dst = x.as_slice_mut().expect("a standard array");
                for (r, xrow) in dst.chunks_exact_mut(cc.max(1)).enumerate() {
                    let (il, j) = (r / n_res, r % n_res);
                    for (a, piece) in xrow.chunks_exact_mut(c.max(1)).enumerate() {
                        let from = (il * c + a) * n_res * c + j * c;
                        copy_short(piece, &src[from..from + c]);
                    }
                }
                // The bias and the normalisation applied here (the same operations per value as adding
                // and dividing afterwards), in parallel, then this task's rows of the output written or
                // added to.
                let y = resized(result, (b * n_res, c_z));
                matmul_w_into(x.view(), &self.output_w, y.view_mut(), false);
                for (r, mut row) in y.rows_mut().into_iter().enumerate() {
                    let denominator = 1e-3 + norm[[i0 + r / n_res, r % n_res]];
                    row.zip_mut_with(&self.output_b, |v, &bias| {
                        *v = (*v + bias) / denominator;
                    });
                }
                let o = ob
                    .view_mut()
                    .into_shape_with_order((b * n_res, c_z))
                    .expect("a contiguous block of rows");
                write.apply(o, y.view());
            });
    }
}

/// `dst.copy_from_slice(src)` for short rows (c = 32 values here) in 16-value pieces of known length,
/// which compile to vector moves: `copy_from_slice` of a run-time length called libc's `memmove` per
/// row (perf: 2.7 % of `predict` at L = 384 in that call).
fn copy_short(dst: &mut [f32], src: &[f32]) {
    let mut d = dst.chunks_exact_mut(16);
    let mut s = src.chunks_exact(16);
    for (d, s) in (&mut d).zip(&mut s) {
        let d: &mut [f32; 16] = d.try_into().expect("a 16-value chunk");
        let s: &[f32; 16] = s.try_into().expect("a 16-value chunk");
        *d = *s;
    }
    d.into_remainder().copy_from_slice(s.remainder());
}
