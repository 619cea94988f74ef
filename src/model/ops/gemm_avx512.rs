//! An AVX-512 f32 matrix product with matrixmultiply's arithmetic, a wider register tile, A read in
//! place and weights packed once.
//!
//! matrixmultiply's AVX-512 kernel holds a 16 × 16 tile of C in 16 registers and, per step of k, loads one
//! vector of B and broadcasts 16 values of A: 17 loads for 16 FMAs. This kernel holds a 12 × 32 tile in 24
//! registers: 2 loads of B and 12 broadcasts for 24 FMAs. Besides, matrixmultiply packs both operands at
//! every call, which was 18.6 % of the samples of a whole `predict` at L = 146 (half A, half B, `perf`):
//! here a row-major A is read in place (the broadcasts load from 12 row pointers), and a weight matrix,
//! the B of most of the engine's products, is packed once per model ([`PackedB`]) instead of at every call.
//!
//! Every value is computed exactly as matrixmultiply 0.3 computes it on AVX-512, so the bits do not
//! change: K is split into blocks of 256 (its `S_KC`); within a block each output accumulates
//! `fma(a_ik, b_kj, acc)` from zero in increasing k; the first block's sum is stored (`c = ab`, or
//! `c = ab + c` when accumulating), every later block's is added (`c = ab + c`: its `fma(1, ab, c·1)`
//! rounds once, as an add does). Zero-padded edges add nothing to any output. The unit tests compare the
//! two bit for bit on every stride layout and edge shape, packed and unpacked.

use std::arch::x86_64::*;
use std::cell::RefCell;

const MR: usize = 12;
const NR: usize = 32;
/// matrixmultiply's `S_KC`: the block of K summed before C is updated (this fixes the rounding).
const KC: usize = 256;
/// Rows of A per block (96 × 256 floats: 96 KiB, in L2).
const MC: usize = 8 * MR;
/// Columns of B per block (256 × 512 floats: 512 KiB packed).
const NC: usize = 16 * NR;

thread_local! {
    /// Packing buffers, kept per thread (the engine calls this from rayon's workers).
    static SCRATCH: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// A matrix operand: element (i, j) at `ptr + i·rs + j·cs`.
#[derive(Clone, Copy)]
pub(crate) struct Strided {
    pub ptr: *const f32,
    pub rs: isize,
    pub cs: isize,
}

/// The B operand: strided (packed at every call) or packed once.
#[derive(Clone, Copy)]
pub(crate) enum B<'p> {
    Strided(Strided),
    Packed(&'p PackedB),
}

/// A `[k, n]` matrix in the kernel's layout, for products that reuse it (the engine's weights): for each
/// block of `KC` rows, `ceil(n / NR)` panels of `kc × NR` values (k-major, zero-padded on the right).
pub(crate) struct PackedB {
    k: usize,
    n: usize,
    data: Vec<f32>,
}

impl std::fmt::Debug for PackedB {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackedB [{}, {}]", self.k, self.n)
    }
}

impl PackedB {
    /// Packs `b` (any strides).
    pub(crate) fn new(b: ndarray::ArrayView2<f32>) -> Self {
        let (k, n) = b.dim();
        let panels = n.div_ceil(NR);
        let mut data = vec![0.0; k * panels * NR];
        let src = Strided {
            ptr: b.as_ptr(),
            rs: b.strides()[0],
            cs: b.strides()[1],
        };
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            let block = &mut data[pc * panels * NR..(pc + kc) * panels * NR];
            // SAFETY: rows pc..pc+kc and columns 0..n lie inside the live view `b`.
            unsafe { pack_panels::<NR>(kc, n, offset(src, pc, 0), block) };
        }
        Self { k, n, data }
    }

    /// `[k, n]`.
    pub(crate) fn dim(&self) -> (usize, usize) {
        (self.k, self.n)
    }

    /// The panels of rows `pc..pc + KC` from column `jc` (a multiple of `NR`) on.
    fn block(&self, pc: usize, jc: usize) -> *const f32 {
        let panels = self.n.div_ceil(NR);
        let kc = KC.min(self.k - pc);
        self.data[pc * panels * NR + (jc / NR) * kc * NR..].as_ptr()
    }
}

/// One product: `c = a·b` (`accumulate == false`) or `c += a·b`, `a [m, k]`, `b [k, n]`, `c [m, n]` (`c`
/// at `c + i·rsc + j·csc`).
#[derive(Clone, Copy)]
pub(crate) struct Product<'p> {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: Strided,
    pub b: B<'p>,
    pub c: *mut f32,
    pub rsc: isize,
    pub csc: isize,
    pub accumulate: bool,
}

/// Computes `p`.
///
/// # Safety
/// The CPU supports AVX-512F; every element of the three operands is inside a live allocation; `c` does
/// not overlap `a` or `b`; `m, n, k > 0`; a packed `b` is `[k, n]`.
pub(crate) unsafe fn sgemm(p: Product) {
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut buffers) => {
            let (apack, bpack) = &mut *buffers;
            sgemm_with(p, apack, bpack)
        }
        Err(_) => sgemm_with(p, &mut Vec::new(), &mut Vec::new()),
    })
}

#[target_feature(enable = "avx512f")]
unsafe fn sgemm_with(p: Product, apack: &mut Vec<f32>, bpack: &mut Vec<f32>) {
    let Product {
        m,
        n,
        k,
        a,
        b,
        c,
        rsc,
        csc,
        accumulate,
    } = p;
    // A is read in place when its rows are contiguous; otherwise (transposed views) packed.
    let a_in_place = a.cs == 1;
    for jc in (0..n).step_by(NC) {
        let nc = NC.min(n - jc);
        let b_panels = nc.div_ceil(NR);
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            let store = !accumulate && pc == 0;
            let b_block = match b {
                B::Strided(b) => {
                    pack_b(kc, nc, offset(b, pc, jc), bpack);
                    bpack.as_ptr()
                }
                B::Packed(p) => p.block(pc, jc),
            };
            for ic in (0..m).step_by(MC) {
                let mc = MC.min(m - ic);
                let a_panels = mc.div_ceil(MR);
                if !a_in_place {
                    pack_a(kc, mc, offset(a, ic, pc), apack);
                }
                for jr in 0..b_panels {
                    let cols = NR.min(nc - jr * NR);
                    let bp = b_block.add(jr * NR * kc);
                    for ir in 0..a_panels {
                        let rows = MR.min(mc - ir * MR);
                        let (i, j) = (ic + ir * MR, jc + jr * NR);
                        let cp = c.offset(i as isize * rsc + j as isize * csc);
                        let tile = Tile {
                            c: cp,
                            rsc,
                            csc,
                            rows,
                            cols,
                            store,
                        };
                        if !a_in_place {
                            let ap = apack.as_ptr().add(ir * MR * kc);
                            kernel(kc, Rows::Packed(ap), bp, tile);
                        } else if rows == MR {
                            let ap = offset(a, i, pc);
                            kernel(kc, Rows::InPlace(ap.ptr, ap.rs), bp, tile);
                        } else {
                            // The last rows of A: packed with zeros below, so the kernel never reads past A.
                            pack_a(kc, rows, offset(a, i, pc), apack);
                            kernel(kc, Rows::Packed(apack.as_ptr()), bp, tile);
                        }
                    }
                }
            }
        }
    }
}

unsafe fn offset(x: Strided, i: usize, j: usize) -> Strided {
    Strided {
        ptr: x.ptr.offset(i as isize * x.rs + j as isize * x.cs),
        ..x
    }
}

/// Grows `buf` to at least `len` values (contents unspecified: every packing writes all it reads).
fn ensure(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}

/// `B[0..kc, 0..nc]` into panels of `NR` columns, each `kc × NR` (k-major), zero-padded on the right.
unsafe fn pack_b(kc: usize, nc: usize, b: Strided, out: &mut Vec<f32>) {
    pack_panels::<NR>(kc, nc, b, ensure(out, nc.div_ceil(NR) * NR * kc));
}

/// `A[0..mc, 0..kc]` into panels of `MR` rows, each `kc × MR` (k-major), zero-padded below: A's
/// transpose packed as a B.
unsafe fn pack_a(kc: usize, mc: usize, a: Strided, out: &mut Vec<f32>) {
    let at = Strided {
        ptr: a.ptr,
        rs: a.cs,
        cs: a.rs,
    };
    pack_panels::<MR>(kc, mc, at, ensure(out, mc.div_ceil(MR) * MR * kc));
}

/// `X[0..kc, 0..width]` into panels of `W` columns, each `kc × W` (k-major), zero-padded on the right.
/// `out` holds exactly `ceil(width / W) · W · kc` values.
unsafe fn pack_panels<const W: usize>(kc: usize, width: usize, x: Strided, out: &mut [f32]) {
    debug_assert_eq!(out.len(), width.div_ceil(W) * W * kc);
    for (p, panel) in out.chunks_exact_mut(W * kc).enumerate() {
        let cols = W.min(width - p * W);
        let src = x.ptr.offset((p * W) as isize * x.cs);
        if cols < W {
            panel.fill(0.0);
        }
        if x.rs == 1 && x.cs != 1 {
            // Column-major X (e.g. a transposed view): read each column contiguously. Whole panels go
            // through 16 × 16 register transposes; what is left (the last kc % 16 rows, narrow panels)
            // one value at a time.
            let mut done = 0;
            if W.is_multiple_of(16) && cols == W && std::arch::is_x86_feature_detected!("avx512f") {
                done = transpose_into_panel(kc, W, src, x.cs, panel);
            }
            for j in 0..cols {
                let col = src.offset(j as isize * x.cs);
                for kk in done..kc {
                    panel[kk * W + j] = *col.add(kk);
                }
            }
        } else {
            for kk in 0..kc {
                let row = src.offset(kk as isize * x.rs);
                let dst = &mut panel[kk * W..kk * W + cols];
                if x.cs == 1 {
                    dst.copy_from_slice(std::slice::from_raw_parts(row, cols));
                } else {
                    for (j, v) in dst.iter_mut().enumerate() {
                        *v = *row.offset(j as isize * x.cs);
                    }
                }
            }
        }
    }
}

/// `panel[kk·w + j] = src[kk + j·cs]` for `j < w` (a multiple of 16) and the first `kc - kc % 16` values
/// of `kk`, in 16 × 16 blocks transposed in registers (the value-at-a-time loop stored with a stride of
/// `w` floats; perf: packing transposed operands 2.2 % of `predict` at L = 384, mostly there). Returns
/// how many `kk` it did. Moves values only, so the product's bits do not change.
///
/// # Safety
/// The CPU has AVX-512F; columns `0..w` of `src` hold `kc` values each; `panel` holds `kc · w` values.
#[target_feature(enable = "avx512f")]
unsafe fn transpose_into_panel(
    kc: usize,
    w: usize,
    src: *const f32,
    cs: isize,
    panel: &mut [f32],
) -> usize {
    debug_assert!(w.is_multiple_of(16) && panel.len() >= kc * w);
    let whole = kc - kc % 16;
    for k0 in (0..whole).step_by(16) {
        for j0 in (0..w).step_by(16) {
            // r[i]: values k0..k0 + 16 of column j0 + i.
            let r: [__m512; 16] = std::array::from_fn(|i| {
                _mm512_loadu_ps(src.offset((j0 + i) as isize * cs).add(k0))
            });
            let t = transpose16(r);
            for (i, v) in t.iter().enumerate() {
                _mm512_storeu_ps(panel.as_mut_ptr().add((k0 + i) * w + j0), *v);
            }
        }
    }
    whole
}

/// The transpose of a 16 × 16 block held as 16 rows: `out[t][i] = r[i][t]`. Unpacks pair rows within
/// 128-bit lanes (4 × 4 blocks form), then two rounds of lane shuffles gather each column's four
/// 4-value pieces.
#[target_feature(enable = "avx512f")]
unsafe fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
    // u[4g + k], 128-bit lane l: column 4l + k of rows 4g..4g + 4.
    let mut u = [_mm512_setzero_ps(); 16];
    for g in 0..4 {
        let t0 = _mm512_unpacklo_ps(r[4 * g], r[4 * g + 1]);
        let t1 = _mm512_unpackhi_ps(r[4 * g], r[4 * g + 1]);
        let t2 = _mm512_unpacklo_ps(r[4 * g + 2], r[4 * g + 3]);
        let t3 = _mm512_unpackhi_ps(r[4 * g + 2], r[4 * g + 3]);
        let pd = _mm512_castps_pd;
        u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(t0), pd(t2)));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(t0), pd(t2)));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(t1), pd(t3)));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(t1), pd(t3)));
    }
    let mut out = [_mm512_setzero_ps(); 16];
    for k in 0..4 {
        // Columns k and 8 + k (lo), 4 + k and 12 + k (hi), of rows 0..8 and 8..16.
        let lo0 = _mm512_shuffle_f32x4::<0x88>(u[k], u[4 + k]);
        let hi0 = _mm512_shuffle_f32x4::<0xdd>(u[k], u[4 + k]);
        let lo1 = _mm512_shuffle_f32x4::<0x88>(u[8 + k], u[12 + k]);
        let hi1 = _mm512_shuffle_f32x4::<0xdd>(u[8 + k], u[12 + k]);
        out[k] = _mm512_shuffle_f32x4::<0x88>(lo0, lo1);
        out[8 + k] = _mm512_shuffle_f32x4::<0xdd>(lo0, lo1);
        out[4 + k] = _mm512_shuffle_f32x4::<0x88>(hi0, hi1);
        out[12 + k] = _mm512_shuffle_f32x4::<0xdd>(hi0, hi1);
    }
    out
}

/// Where the kernel reads A's `MR` rows: a packed panel, or the rows themselves (`ptr + i·rs + k`).
#[derive(Clone, Copy)]
enum Rows {
    Packed(*const f32),
    InPlace(*const f32, isize),
}

/// One `MR × NR` block of C, of which `rows × cols` are real.
struct Tile {
    c: *mut f32,
    rsc: isize,
    csc: isize,
    rows: usize,
    cols: usize,
    /// Store the sum (`c = ab`) instead of adding it (`c = ab + c`).
    store: bool,
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn kernel(kc: usize, a: Rows, b: *const f32, t: Tile) {
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    match a {
        Rows::Packed(ap) => {
            for kk in 0..kc {
                let b0 = _mm512_loadu_ps(b.add(kk * NR));
                let b1 = _mm512_loadu_ps(b.add(kk * NR + 16));
                for (i, acc) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*ap.add(kk * MR + i));
                    acc[0] = _mm512_fmadd_ps(av, b0, acc[0]);
                    acc[1] = _mm512_fmadd_ps(av, b1, acc[1]);
                }
            }
        }
        Rows::InPlace(ap, rs) => {
            for kk in 0..kc {
                let b0 = _mm512_loadu_ps(b.add(kk * NR));
                let b1 = _mm512_loadu_ps(b.add(kk * NR + 16));
                for (i, acc) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*ap.offset(i as isize * rs + kk as isize));
                    acc[0] = _mm512_fmadd_ps(av, b0, acc[0]);
                    acc[1] = _mm512_fmadd_ps(av, b1, acc[1]);
                }
            }
        }
    }
    if t.rows == MR && t.cols == NR && t.csc == 1 {
        for (i, acc) in acc.iter().enumerate() {
            let row = t.c.offset(i as isize * t.rsc);
            for (h, &v) in acc.iter().enumerate() {
                let p = row.add(16 * h);
                let v = if t.store {
                    v
                } else {
                    _mm512_add_ps(v, _mm512_loadu_ps(p))
                };
                _mm512_storeu_ps(p, v);
            }
        }
        return;
    }
    let mut tmp = [0.0f32; MR * NR];
    for (i, acc) in acc.iter().enumerate() {
        _mm512_storeu_ps(tmp.as_mut_ptr().add(i * NR), acc[0]);
        _mm512_storeu_ps(tmp.as_mut_ptr().add(i * NR + 16), acc[1]);
    }
    for i in 0..t.rows {
        for j in 0..t.cols {
            let p = t.c.offset(i as isize * t.rsc + j as isize * t.csc);
            let v = tmp[i * NR + j];
            *p = if t.store { v } else { v + *p };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The register transposes give the value-at-a-time packing of a column-major operand, for whole
    /// 16-row blocks, a remainder, a narrow last panel and the 12-wide A panels.
    #[test]
    fn transposed_packing_moves_every_value_to_its_place() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            eprintln!("no AVX-512F on this CPU: nothing to test");
            return;
        }
        let (kc, width, cs) = (40usize, 70usize, 45isize);
        let data: Vec<f32> = (0..width * cs as usize).map(|v| v as f32).collect();
        let x = Strided {
            ptr: data.as_ptr(),
            rs: 1,
            cs,
        };
        let want = |w: usize| {
            let mut out = vec![0.0f32; width.div_ceil(w) * w * kc];
            for (p, panel) in out.chunks_exact_mut(w * kc).enumerate() {
                for kk in 0..kc {
                    for j in 0..w.min(width - p * w) {
                        panel[kk * w + j] = data[kk + (p * w + j) * cs as usize];
                    }
                }
            }
            out
        };
        let mut got = vec![f32::NAN; width.div_ceil(NR) * NR * kc];
        // SAFETY: AVX-512F checked above; columns 0..width hold kc values each inside `data`.
        unsafe { pack_panels::<NR>(kc, width, x, &mut got) };
        assert_eq!(got, want(NR));
        let mut got = vec![f32::NAN; width.div_ceil(MR) * MR * kc];
        // SAFETY: as above.
        unsafe { pack_panels::<MR>(kc, width, x, &mut got) };
        assert_eq!(got, want(MR));
    }
}
