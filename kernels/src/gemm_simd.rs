//! ferrofold's own f32 matrix product, in two vector widths (AVX-512, and AVX2 + FMA), with
//! matrixmultiply's arithmetic, a wide register tile, A read in place and weights packed once.
//!
//! matrixmultiply's kernels hold a square tile of C (16 × 16 on AVX-512, 8 × 8 on AVX2) and, per step of
//! k, load one vector of B and broadcast a value of A per row: 17 (9) loads for 16 (8) FMAs. This kernel
//! holds 12 × 32 (AVX-512, 24 registers) or 6 × 16 (AVX2, 12 registers) values of C: per step of k,
//! 2 + 12 loads for 24 FMAs, or 2 + 6 for 12. Besides, matrixmultiply packs both operands at every call, which was
//! 18.6 % of the samples of a whole `predict` at L = 146 (half A, half B, `perf`); the `gemm` crate, used
//! on AVX2 CPUs before this kernel had an AVX2 form, packed both too (5.3 % on an AMD Zen 1). Here a
//! row-major A is read in place (the broadcasts load from the row pointers), and a weight matrix, the B of
//! most of the engine's products, is packed once per model ([`PackedB`]) instead of at every call.
//!
//! Every value is computed exactly as matrixmultiply 0.3 computes it with FMA (its AVX2 + FMA and AVX-512
//! kernels agree), so both widths give the same bits, and give matrixmultiply's: K is split into blocks of
//! 256 (its `S_KC`); within a block each output accumulates `fma(a_ik, b_kj, acc)` from zero in increasing
//! k; the first block's sum is stored (`c = ab`, or `c = ab + c` when accumulating), every later block's
//! is added (`c = ab + c`: its `fma(1, ab, c·1)` rounds once, as an add does). Zero-padded edges add
//! nothing to any output. ferrofold's unit tests (`src/model/ops/gemm.rs`) compare them bit for bit on
//! every stride layout and edge shape, packed and unpacked. The two widths share everything but the
//! vector type ([`Lanes`]), the tile's height and B's panel width (as wide as the tile: 32 or 16 columns).

use std::arch::x86_64::*;
use std::cell::RefCell;

/// matrixmultiply's `S_KC`: the block of K summed before C is updated (this fixes the rounding).
const KC: usize = 256;
/// Rows of A per block (96 × 256 floats: 96 KiB, in L2); a multiple of both tiles' heights.
const MC: usize = 96;
/// Columns of B per block (256 × 512 floats: 512 KiB packed); a multiple of both panel widths.
const NC: usize = 512;

thread_local! {
    /// Packing buffers, kept per thread (the engine calls this from rayon's workers).
    static SCRATCH: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// A matrix operand: element (i, j) at `ptr + i·rs + j·cs`.
#[derive(Clone, Copy)]
pub struct Strided {
    pub ptr: *const f32,
    pub rs: isize,
    pub cs: isize,
}

/// The B operand: strided (packed at every call) or packed once.
#[derive(Clone, Copy)]
pub enum B<'p> {
    Strided(Strided),
    Packed(&'p PackedB),
}

/// A `[k, n]` matrix in the kernel's layout at one width, for products that reuse it (the engine's
/// weights): for each block of `KC` rows, `ceil(n / nr)` panels of `kc × nr` values (k-major,
/// zero-padded on the right), `nr` the width's tile width.
pub struct PackedB {
    k: usize,
    n: usize,
    width: Width,
    data: Vec<f32>,
}

impl std::fmt::Debug for PackedB {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackedB [{}, {}]", self.k, self.n)
    }
}

impl PackedB {
    /// Packs `b` (any strides) for products at `width`.
    pub fn new(width: Width, b: ndarray::ArrayView2<f32>) -> Self {
        let (k, n) = b.dim();
        let nr = width.panel();
        let panels = n.div_ceil(nr);
        let mut data = vec![0.0; k * panels * nr];
        let src = Strided {
            ptr: b.as_ptr(),
            rs: b.strides()[0],
            cs: b.strides()[1],
        };
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            let block = &mut data[pc * panels * nr..(pc + kc) * panels * nr];
            // SAFETY: rows pc..pc+kc and columns 0..n lie inside the live view `b`.
            unsafe {
                match width {
                    Width::Avx512 => pack_panels::<32>(kc, n, offset(src, pc, 0), block),
                    Width::Avx2 => pack_panels::<16>(kc, n, offset(src, pc, 0), block),
                }
            };
        }
        Self { k, n, width, data }
    }

    /// The width it is packed for.
    pub fn width(&self) -> Width {
        self.width
    }

    /// `[k, n]`.
    pub fn dim(&self) -> (usize, usize) {
        (self.k, self.n)
    }

    /// The panels of rows `pc..pc + KC` from column `jc` (a multiple of the panel width) on.
    fn block(&self, pc: usize, jc: usize) -> *const f32 {
        let nr = self.width.panel();
        let panels = self.n.div_ceil(nr);
        let kc = KC.min(self.k - pc);
        self.data[pc * panels * nr + (jc / nr) * kc * nr..].as_ptr()
    }
}

/// One product: `c = a·b` (`accumulate == false`) or `c += a·b`, `a [m, k]`, `b [k, n]`, `c [m, n]` (`c`
/// at `c + i·rsc + j·csc`).
#[derive(Clone, Copy)]
pub struct Product<'p> {
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

/// The vector width a product runs at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// 512-bit vectors (AVX-512F), a 12 × 32 tile.
    Avx512,
    /// 256-bit vectors (AVX2 and FMA), a 6 × 16 tile.
    Avx2,
}

impl Width {
    /// Columns of the register tile, and of B's packed panels.
    fn panel(self) -> usize {
        match self {
            Width::Avx512 => 32,
            Width::Avx2 => 16,
        }
    }

    /// Whether this CPU can run products at this width.
    pub fn available(self) -> bool {
        match self {
            Width::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            Width::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
        }
    }
}

/// Computes `p` at `width`.
///
/// # Safety
/// `width.available()`; every element of the three operands is inside a live allocation; `c` does not
/// overlap `a` or `b`; `m, n, k > 0`; a packed `b` is `[k, n]`, packed for `width`.
pub unsafe fn sgemm(width: Width, p: Product) {
    let run = |apack: &mut Vec<f32>, bpack: &mut Vec<f32>| match width {
        Width::Avx512 => sgemm_avx512(p, apack, bpack),
        Width::Avx2 => sgemm_avx2(p, apack, bpack),
    };
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut buffers) => {
            let (apack, bpack) = &mut *buffers;
            run(apack, bpack)
        }
        Err(_) => run(&mut Vec::new(), &mut Vec::new()),
    })
}

/// [`sgemm_with`] compiled for AVX-512F: 12 rows of two 16-float vectors.
#[target_feature(enable = "avx512f")]
unsafe fn sgemm_avx512(p: Product, apack: &mut Vec<f32>, bpack: &mut Vec<f32>) {
    sgemm_with::<__m512, 12, 2, 32>(p, apack, bpack)
}

/// [`sgemm_with`] compiled for AVX2 and FMA: 6 rows of two 8-float vectors (12 accumulators, two
/// vectors of B and a broadcast: 15 of the 16 registers; a 3 × 32 tile needs 17 and spilled two
/// accumulators to the stack at every step, 20-25 % slower). B's panels are 16 columns wide: read as
/// two strips of 32-column panels, a strip's cache lines fell into half of the L1 cache's sets.
#[target_feature(enable = "avx2,fma")]
unsafe fn sgemm_avx2(p: Product, apack: &mut Vec<f32>, bpack: &mut Vec<f32>) {
    sgemm_with::<__m256, 6, 2, 16>(p, apack, bpack)
}

/// One vector register of floats: the operations the kernel needs, at one width. Always inlined into
/// [`sgemm_avx512`] or [`sgemm_avx2`], whose target features the intrinsics then compile with.
trait Lanes: Copy {
    /// Floats per vector.
    const WIDTH: usize;
    unsafe fn zero() -> Self;
    unsafe fn load(p: *const f32) -> Self;
    unsafe fn splat(v: f32) -> Self;
    /// `a·b + c`, rounded once.
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self;
    unsafe fn add(a: Self, b: Self) -> Self;
    unsafe fn store(self, p: *mut f32);
}

impl Lanes for __m512 {
    const WIDTH: usize = 16;
    #[inline(always)]
    unsafe fn zero() -> Self {
        _mm512_setzero_ps()
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        _mm512_loadu_ps(p)
    }
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        _mm512_set1_ps(v)
    }
    #[inline(always)]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        _mm512_fmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn add(a: Self, b: Self) -> Self {
        _mm512_add_ps(a, b)
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        _mm512_storeu_ps(p, self)
    }
}

impl Lanes for __m256 {
    const WIDTH: usize = 8;
    #[inline(always)]
    unsafe fn zero() -> Self {
        _mm256_setzero_ps()
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        _mm256_loadu_ps(p)
    }
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        _mm256_set1_ps(v)
    }
    #[inline(always)]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        _mm256_fmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn add(a: Self, b: Self) -> Self {
        _mm256_add_ps(a, b)
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        _mm256_storeu_ps(p, self)
    }
}

/// The blocked product with an `MR × NR` register tile, `NR = NV · V::WIDTH` (also the width of B's
/// packed panels).
#[inline(always)]
unsafe fn sgemm_with<V: Lanes, const MR: usize, const NV: usize, const NR: usize>(
    p: Product,
    apack: &mut Vec<f32>,
    bpack: &mut Vec<f32>,
) {
    debug_assert!(NR == NV * V::WIDTH && MC.is_multiple_of(MR) && MR <= 12 && NR <= 32);
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
                    pack_b::<NR>(kc, nc, offset(b, pc, jc), bpack);
                    bpack.as_ptr()
                }
                B::Packed(p) => {
                    debug_assert_eq!(p.width.panel(), NR);
                    p.block(pc, jc)
                }
            };
            for ic in (0..m).step_by(MC) {
                let mc = MC.min(m - ic);
                let a_panels = mc.div_ceil(MR);
                if !a_in_place {
                    pack_a::<MR>(kc, mc, offset(a, ic, pc), apack);
                }
                for jr in 0..b_panels {
                    let j = jr * NR;
                    let cols = NR.min(nc - j);
                    let bp = b_block.add(jr * NR * kc);
                    for ir in 0..a_panels {
                        let rows = MR.min(mc - ir * MR);
                        let i = ic + ir * MR;
                        let cp = c.offset(i as isize * rsc + (jc + j) as isize * csc);
                        let tile = Tile {
                            c: cp,
                            rsc,
                            csc,
                            rows,
                            cols,
                            store,
                        };
                        let rows_of_a = if a_in_place {
                            let ap = offset(a, i, pc);
                            Rows::InPlace(ap.ptr, ap.rs)
                        } else {
                            Rows::Packed(apack.as_ptr().add(ir * MR * kc), MR)
                        };
                        // A last panel of at most one vector's columns: one vector per row.
                        if NV > 1 && cols <= V::WIDTH {
                            tiles::<V, MR, 1, NR>(kc, rows_of_a, bp, tile);
                        } else {
                            tiles::<V, MR, NV, NR>(kc, rows_of_a, bp, tile);
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
unsafe fn pack_b<const NR: usize>(kc: usize, nc: usize, b: Strided, out: &mut Vec<f32>) {
    pack_panels::<NR>(kc, nc, b, ensure(out, nc.div_ceil(NR) * NR * kc));
}

/// `A[0..mc, 0..kc]` into panels of `MR` rows, each `kc × MR` (k-major), zero-padded below: A's
/// transpose packed as a B.
unsafe fn pack_a<const MR: usize>(kc: usize, mc: usize, a: Strided, out: &mut Vec<f32>) {
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

/// Where the kernel reads A's rows: a packed panel `w` rows wide (`ptr + k·w + i`), or the rows
/// themselves (`ptr + i·rs + k`).
#[derive(Clone, Copy)]
enum Rows {
    Packed(*const f32, usize),
    InPlace(*const f32, isize),
}

impl Rows {
    /// The rows from row `r` on.
    unsafe fn from(self, r: usize) -> Rows {
        match self {
            Rows::Packed(p, w) => Rows::Packed(p.add(r), w),
            Rows::InPlace(p, rs) => Rows::InPlace(p.offset(r as isize * rs), rs),
        }
    }
}

/// The tile `t` (`t.rows <= MR`): one `MR`-row kernel, or, for the last rows of A, kernels of 8, 4, 2
/// and 1 rows, one for each bit of `t.rows` (never reading past A, never computing rows that are not
/// there; each output's arithmetic is the same whatever kernel computes it).
#[inline(always)]
unsafe fn tiles<V: Lanes, const MR: usize, const NV: usize, const NR: usize>(
    kc: usize,
    a: Rows,
    b: *const f32,
    t: Tile,
) {
    if t.rows == MR {
        return kernel::<V, MR, NV, NR>(kc, a, b, t);
    }
    let mut r = 0;
    let mut part = |height: usize| -> Option<(Rows, Tile)> {
        if t.rows & height == 0 {
            return None;
        }
        let part = (
            a.from(r),
            Tile {
                c: t.c.offset(r as isize * t.rsc),
                rows: height,
                ..t
            },
        );
        r += height;
        Some(part)
    };
    if MR > 8 {
        if let Some((a, t)) = part(8) {
            kernel::<V, 8, NV, NR>(kc, a, b, t);
        }
    }
    if let Some((a, t)) = part(4) {
        kernel::<V, 4, NV, NR>(kc, a, b, t);
    }
    if let Some((a, t)) = part(2) {
        kernel::<V, 2, NV, NR>(kc, a, b, t);
    }
    if let Some((a, t)) = part(1) {
        kernel::<V, 1, NV, NR>(kc, a, b, t);
    }
}

/// One block of C as tall and wide as the register tile, of which `rows × cols` are real.
#[derive(Clone, Copy)]
struct Tile {
    c: *mut f32,
    rsc: isize,
    csc: isize,
    rows: usize,
    cols: usize,
    /// Store the sum (`c = ab`) instead of adding it (`c = ab + c`).
    store: bool,
}

/// One tile: `MR` rows of `NV` vectors, over `kc` steps of k (B's rows `NR` floats apart).
#[inline(always)]
unsafe fn kernel<V: Lanes, const MR: usize, const NV: usize, const NR: usize>(
    kc: usize,
    a: Rows,
    b: *const f32,
    t: Tile,
) {
    let mut acc = [[V::zero(); NV]; MR];
    // Per step of k: NV vectors of B, and each row's value of A broadcast (`a(i, k)`), for NV · MR
    // FMAs. (Not unrolled: unrolled by two, the 12-row AVX-512 tile had its 24 broadcasts hoisted and
    // spilled to the stack.) A function, not a closure: a closure would not be compiled with the
    // caller's target features.
    #[inline(always)]
    unsafe fn steps<V: Lanes, const MR: usize, const NV: usize, const NR: usize>(
        acc: &mut [[V; NV]; MR],
        kc: usize,
        b: *const f32,
        a: impl Fn(usize, usize) -> *const f32,
    ) {
        for kk in 0..kc {
            let bv: [V; NV] = std::array::from_fn(|h| V::load(b.add(kk * NR + h * V::WIDTH)));
            for (i, acc) in acc.iter_mut().enumerate() {
                let av = V::splat(*a(i, kk));
                for (acc, &bv) in acc.iter_mut().zip(&bv) {
                    *acc = V::fma(av, bv, *acc);
                }
            }
        }
    }
    match a {
        Rows::Packed(ap, w) => steps::<V, MR, NV, NR>(&mut acc, kc, b, |i, kk| ap.add(kk * w + i)),
        Rows::InPlace(ap, rs) => steps::<V, MR, NV, NR>(&mut acc, kc, b, |i, kk| {
            ap.offset(i as isize * rs + kk as isize)
        }),
    }
    if t.rows == MR && t.cols == NV * V::WIDTH && t.csc == 1 {
        for (i, acc) in acc.iter().enumerate() {
            let row = t.c.offset(i as isize * t.rsc);
            for (h, &v) in acc.iter().enumerate() {
                let p = row.add(h * V::WIDTH);
                let v = if t.store { v } else { V::add(v, V::load(p)) };
                v.store(p);
            }
        }
        return;
    }
    // The edge tile through a buffer (room for the largest tile, `MR <= 12`, `NR <= 32`; not zeroed: only the values
    // stored here are read).
    let mut tmp = std::mem::MaybeUninit::<[f32; 12 * 32]>::uninit();
    let tmp = tmp.as_mut_ptr() as *mut f32;
    for (i, acc) in acc.iter().enumerate() {
        for (h, &v) in acc.iter().enumerate() {
            v.store(tmp.add(i * NR + h * V::WIDTH));
        }
    }
    for i in 0..t.rows {
        for j in 0..t.cols {
            let p = t.c.offset(i as isize * t.rsc + j as isize * t.csc);
            let v = *tmp.add(i * NR + j);
            *p = if t.store { v } else { v + *p };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packing a column-major operand moves every value to its place (with AVX-512F through the register
    /// transposes, elsewhere one value at a time), for whole 16-row blocks, a remainder, a narrow last
    /// panel, both widths' B panels (32 and 16) and their A panels (12 and 6 rows).
    #[test]
    fn transposed_packing_moves_every_value_to_its_place() {
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
        fn packed<const W: usize>(kc: usize, width: usize, x: Strided) -> Vec<f32> {
            let mut got = vec![f32::NAN; width.div_ceil(W) * W * kc];
            // SAFETY: columns 0..width hold kc values each inside the caller's `data`.
            unsafe { pack_panels::<W>(kc, width, x, &mut got) };
            got
        }
        assert_eq!(packed::<32>(kc, width, x), want(32));
        assert_eq!(packed::<16>(kc, width, x), want(16));
        assert_eq!(packed::<12>(kc, width, x), want(12));
        assert_eq!(packed::<6>(kc, width, x), want(6));
    }
}
