//! The engine's f32 matrix product: `c = a·b` or `c += a·b` on ndarray views of any strides.
//!
//! Four kernels, one chosen per machine (never per call, so a machine always gives the same bits):
//! - ferrofold's own kernel (`gemm_simd`) at 512 bits on CPUs with full-width AVX-512 (Intel Xeon, AMD
//!   Zen 5), at 256 bits on the other x86-64 CPUs with AVX2 and FMA (AMD Zen 1-4, Intel since Haswell):
//!   matrixmultiply's arithmetic, bit for bit at both widths, without most of its packing (A read in
//!   place, weights packed once per model: [`Weight`]). So every x86-64 CPU with FMA computes the same
//!   products to the bit;
//! - the `gemm` crate (NEON on ARM; on x86-64 CPUs without FMA its own fallbacks); before the 256-bit
//!   kernel above it ran the products on AVX2 CPUs, 10-70 % faster than matrixmultiply at the engine's
//!   shapes (AMD Zen 4), packing both operands at every call;
//! - ndarray's `general_mat_mul` (matrixmultiply): the same bits as the first, kept as the reference its
//!   tests compare against (and for benchmarks).
//!
//! `FERROFOLD_GEMM=avx512|avx2|gemm|matrixmultiply` overrides the choice (benchmarks; `cargo bench --bench
//! gemm` measures them). Every product is single-threaded: the engine parallelises over independent products
//! with rayon, so a product's reduction order depends only on its shape and the kernel, never on the
//! thread count (the engine's bitwise-determinism guarantee).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use ndarray::{Array2, ArrayView2, ArrayViewMut2};

#[cfg(target_arch = "x86_64")]
use crate::model::ops::gemm_simd as simd;

/// Which kernel computes the engine's products on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// ferrofold's kernel on AVX-512 (matrixmultiply's bits, less packing).
    Avx512,
    /// ferrofold's kernel on AVX2 + FMA (the same bits).
    Avx2,
    /// The `gemm` crate.
    Gemm,
    /// ndarray's `general_mat_mul` (matrixmultiply).
    MatrixMultiply,
}

/// The kernel for this process: `FERROFOLD_GEMM` if set, else by the CPU (see the module notes).
pub fn kernel() -> Kernel {
    match BENCH_OVERRIDE.load(Ordering::Relaxed) {
        1 => return Kernel::Avx512,
        2 => return Kernel::MatrixMultiply,
        3 => return Kernel::Avx2,
        4 => return Kernel::Gemm,
        _ => {}
    }
    static KERNEL: OnceLock<Kernel> = OnceLock::new();
    *KERNEL.get_or_init(|| {
        let by_cpu = if full_width_avx512() {
            Kernel::Avx512
        } else if Kernel::Avx2.available() {
            Kernel::Avx2
        } else {
            Kernel::Gemm
        };
        match std::env::var("FERROFOLD_GEMM").as_deref() {
            Ok("avx512") if Kernel::Avx512.available() => Kernel::Avx512,
            Ok("avx2") if Kernel::Avx2.available() => Kernel::Avx2,
            Ok("gemm") => Kernel::Gemm,
            Ok("matrixmultiply") => Kernel::MatrixMultiply,
            Ok(other) => {
                tracing::warn!(
                    "FERROFOLD_GEMM={other:?} is not \"gemm\", \"matrixmultiply\" or one this CPU \
                     can run of \"avx512\" (AVX-512F) and \"avx2\" (AVX2 and FMA); using {by_cpu:?}"
                );
                by_cpu
            }
            Err(_) => by_cpu,
        }
    })
}

/// [`set_kernel_for_benchmarks`]'s choice: 0 none, 1 AVX-512, 2 matrixmultiply, 3 AVX2, 4 `gemm`.
static BENCH_OVERRIDE: AtomicU8 = AtomicU8::new(0);

/// Switches this process's kernel (`None`: back to [`kernel`]'s choice), so that a benchmark can time
/// kernels alternately in one process on this noisy machine (`cargo bench --bench trunk --
/// --compare-kernels N`). Returns false, and changes nothing, for a kernel this CPU cannot run. Only for
/// benchmarks: the `gemm` crate's bits differ from the others', so switching to or from it mid-run
/// changes results by rounding. Weights packed for one width are read as plain matrices at the other
/// (`matmul_w_into`).
#[doc(hidden)]
pub fn set_kernel_for_benchmarks(k: Option<Kernel>) -> bool {
    let code = match k {
        None => 0,
        Some(Kernel::Avx512) if Kernel::Avx512.available() => 1,
        Some(Kernel::MatrixMultiply) => 2,
        Some(Kernel::Avx2) if Kernel::Avx2.available() => 3,
        Some(Kernel::Gemm) => 4,
        Some(_) => return false,
    };
    BENCH_OVERRIDE.store(code, Ordering::Relaxed);
    true
}

impl Kernel {
    /// ferrofold's own kernel's vector width, for the two kernels that are.
    #[cfg(target_arch = "x86_64")]
    fn own_width(self) -> Option<simd::Width> {
        match self {
            Kernel::Avx512 => Some(simd::Width::Avx512),
            Kernel::Avx2 => Some(simd::Width::Avx2),
            Kernel::Gemm | Kernel::MatrixMultiply => None,
        }
    }

    /// Whether this CPU can run the kernel.
    pub fn available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        if let Some(width) = self.own_width() {
            return width.available();
        }
        matches!(self, Kernel::Gemm | Kernel::MatrixMultiply)
    }
}

/// AVX-512 executed at full width: present, and not AMD family 19h (Zen 4, which runs each 512-bit
/// instruction as two 256-bit halves, so the 256-bit kernel loses nothing there).
fn full_width_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if !Kernel::Avx512.available() {
            return false;
        }
        // SAFETY: cpuid exists on every x86_64 CPU (the intrinsic is a safe function in newer Rust).
        #[allow(unused_unsafe)]
        let (vendor, eax) = unsafe {
            (
                std::arch::x86_64::__cpuid(0),
                std::arch::x86_64::__cpuid(1).eax,
            )
        };
        let amd = (vendor.ebx, vendor.edx, vendor.ecx) == (0x6874_7541, 0x6974_6e65, 0x444d_4163);
        let base = (eax >> 8) & 0xf;
        let family = if base == 0xf {
            base + ((eax >> 20) & 0xff)
        } else {
            base
        };
        !(amd && family == 0x19)
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// `c = a·b` (`accumulate == false`) or `c += a·b`; `a [m, k]`, `b [k, n]`, `c [m, n]`.
///
/// Panics if the shapes do not agree (a programming error, never input).
pub fn matmul_into(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    c: ArrayViewMut2<f32>,
    accumulate: bool,
) {
    product(kernel(), a, b, c, accumulate);
}

/// [`matmul_into`] on a given kernel (the tests run both on every machine).
fn product(
    kernel: Kernel,
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    mut c: ArrayViewMut2<f32>,
    accumulate: bool,
) {
    if !work_left(a.dim(), b.dim(), c.view_mut(), accumulate) {
        return;
    }
    let ((m, k), n) = (a.dim(), b.ncols());
    if kernel == Kernel::MatrixMultiply {
        let beta = if accumulate { 1.0 } else { 0.0 };
        ndarray::linalg::general_mat_mul(1.0, &a, &b, beta, &mut c);
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if let Some(width) = kernel.own_width() {
        let b = simd::B::Strided(strided(b));
        // SAFETY: ferrofold's kernels are only chosen where the CPU can run them (`kernel`,
        // `set_kernel_for_benchmarks`; the tests check `available`); the views are live with the shapes
        // checked above, and `c` is a unique view, so it overlaps neither operand.
        unsafe { own_product(width, a, b, c, accumulate) };
        return;
    }
    let (sa, sb) = (a.strides(), b.strides());
    let sc = [c.strides()[0], c.strides()[1]];
    // SAFETY: the pointers and strides come from live ndarray views whose shapes were checked above,
    // so every element the kernel reads or writes is inside them; `c` is a unique (mutable) view, so it
    // cannot alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            sc[1],
            sc[0],
            accumulate,
            a.as_ptr(),
            sa[1],
            sa[0],
            b.as_ptr(),
            sb[1],
            sb[0],
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Checks that `a [m, k]`, `b [k, n]` and `c [m, n]` agree (panics otherwise: a programming error, never
/// input) and does an empty product's work (`c = 0` for `k == 0`); false when nothing is left to compute.
fn work_left(
    (m, k): (usize, usize),
    (k2, n): (usize, usize),
    mut c: ArrayViewMut2<f32>,
    accumulate: bool,
) -> bool {
    assert!(
        k == k2 && c.dim() == (m, n),
        "matmul shapes: [{m}, {k}]·[{k2}, {n}] into {:?}",
        c.dim()
    );
    if k == 0 && !accumulate {
        c.fill(0.0);
    }
    m > 0 && n > 0 && k > 0
}

/// [`product`] with a B packed beforehand, on ferrofold's kernel at `width`.
///
/// Only with a `width` this CPU can run and `b` packed for it, as [`Weight`] and [`Reused`] call it.
#[cfg(target_arch = "x86_64")]
fn packed_product(
    width: simd::Width,
    a: ArrayView2<f32>,
    b: &simd::PackedB,
    mut c: ArrayViewMut2<f32>,
    accumulate: bool,
) {
    if work_left(a.dim(), b.dim(), c.view_mut(), accumulate) {
        // SAFETY: the CPU can run `width` and `b` is packed for it (see above); the shapes agree
        // (checked against the packed matrix's own); `c` is a unique view, so it overlaps neither
        // operand.
        unsafe { own_product(width, a, simd::B::Packed(b), c, accumulate) };
    }
}

/// An operand's pointer and strides, for ferrofold's kernel.
#[cfg(target_arch = "x86_64")]
fn strided(x: ArrayView2<f32>) -> simd::Strided {
    simd::Strided {
        ptr: x.as_ptr(),
        rs: x.strides()[0],
        cs: x.strides()[1],
    }
}

/// # Safety
/// `width.available()`; `a [m, k]`, `b [k, n]` and `c [m, n]` agree, with `m, n, k > 0`.
#[cfg(target_arch = "x86_64")]
unsafe fn own_product(
    width: simd::Width,
    a: ArrayView2<f32>,
    b: simd::B,
    mut c: ArrayViewMut2<f32>,
    accumulate: bool,
) {
    let ((m, k), n) = (a.dim(), c.ncols());
    let (rsc, csc) = (c.strides()[0], c.strides()[1]);
    simd::sgemm(
        width,
        simd::Product {
            m,
            n,
            k,
            a: strided(a),
            b,
            c: c.as_mut_ptr(),
            rsc,
            csc,
            accumulate,
        },
    );
}

/// A weight matrix (`[c_in, c_out]`, the B of `x·W`) with, on ferrofold's kernels, its packed form made
/// at its first product and kept for the model's lifetime (the packing would otherwise be repeated at
/// every product: one per row block, MSA row or pair row). Dereferences to the plain view.
#[derive(Clone)]
pub struct Weight<'w> {
    view: ArrayView2<'w, f32>,
    #[cfg(target_arch = "x86_64")]
    packed: Arc<OnceLock<simd::PackedB>>,
}

impl<'w> Weight<'w> {
    pub fn new(view: ArrayView2<'w, f32>) -> Self {
        Self {
            view,
            #[cfg(target_arch = "x86_64")]
            packed: Arc::new(OnceLock::new()),
        }
    }

    /// The plain view.
    pub fn view(&self) -> ArrayView2<'w, f32> {
        self.view
    }
}

impl<'w> std::ops::Deref for Weight<'w> {
    type Target = ArrayView2<'w, f32>;
    fn deref(&self) -> &Self::Target {
        &self.view
    }
}

impl std::fmt::Debug for Weight<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Weight {:?}", self.view.dim())
    }
}

/// `c = a·w` or `c += a·w` (see [`matmul_into`]) with a weight matrix, packed once on ferrofold's kernels.
pub fn matmul_w_into(a: ArrayView2<f32>, w: &Weight, c: ArrayViewMut2<f32>, accumulate: bool) {
    let kernel = kernel();
    #[cfg(target_arch = "x86_64")]
    if let Some(width) = kernel.own_width() {
        let packed = w.packed.get_or_init(|| simd::PackedB::new(width, w.view));
        // (Packed for the other width only when a benchmark switched kernels: then B as it is.)
        if packed.width() == width {
            packed_product(width, a, packed, c, accumulate);
            return;
        }
    }
    product(kernel, a, w.view, c, accumulate);
}

/// An activation used as the B of many products (e.g. the outer product mean's right projection, one
/// product per block of residues): packed once on ferrofold's kernels, in place of the array, so it
/// takes no more memory; the array itself on the other kernels.
pub struct Reused(ReusedForm);

enum ReusedForm {
    Plain(Array2<f32>),
    #[cfg(target_arch = "x86_64")]
    Packed(simd::PackedB),
}

impl Reused {
    /// Takes `b` (`[k, n]`; packs it and frees it on ferrofold's kernels).
    pub fn new(b: Array2<f32>) -> Self {
        #[cfg(target_arch = "x86_64")]
        if let Some(width) = kernel().own_width() {
            return Self(ReusedForm::Packed(simd::PackedB::new(width, b.view())));
        }
        Self(ReusedForm::Plain(b))
    }
}

/// `c = a·b` or `c += a·b` (see [`matmul_into`]) with a [`Reused`] `b`.
pub fn matmul_reused_into(a: ArrayView2<f32>, b: &Reused, c: ArrayViewMut2<f32>, accumulate: bool) {
    match &b.0 {
        ReusedForm::Plain(b) => product(kernel(), a, b.view(), c, accumulate),
        #[cfg(target_arch = "x86_64")]
        ReusedForm::Packed(b) => packed_product(b.width(), a, b, c, accumulate),
    }
}

/// Bytes of the packed copies the kernel keeps of `weights_bytes` of weights: as many again on
/// ferrofold's kernels (an upper bound up to padding: layer norms and a few matrices are never packed,
/// and a matrix is padded to a whole number of panels, 32 or 16 columns wide), none on the others.
pub fn packed_copy_bytes(weights_bytes: u64) -> u64 {
    if matches!(kernel(), Kernel::Avx512 | Kernel::Avx2) {
        weights_bytes
    } else {
        0
    }
}

/// `a·w` as a new `[m, n]` array (see [`matmul_w_into`]).
pub fn matmul_w(a: ArrayView2<f32>, w: &Weight) -> Array2<f32> {
    let mut c = Array2::<f32>::zeros((a.nrows(), w.ncols()));
    matmul_w_into(a, w, c.view_mut(), false);
    c
}

/// `a·b` as a new `[m, n]` array.
pub fn matmul(a: ArrayView2<f32>, b: ArrayView2<f32>) -> Array2<f32> {
    let mut c = Array2::<f32>::zeros((a.nrows(), b.ncols()));
    matmul_into(a, b, c.view_mut(), false);
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array2};

    fn filled(r: usize, c: usize, seed: usize) -> Array2<f32> {
        Array2::from_shape_fn((r, c), |(i, j)| {
            ((i * 31 + j * 17 + seed) % 97) as f32 / 97.0 - 0.5
        })
    }

    /// Every kernel this machine can run.
    fn kernels() -> Vec<Kernel> {
        [
            Kernel::Gemm,
            Kernel::MatrixMultiply,
            Kernel::Avx512,
            Kernel::Avx2,
        ]
        .into_iter()
        .filter(|k| k.available())
        .collect()
    }

    /// ferrofold's kernels (at each width this CPU runs) give matrixmultiply's bits, on every operand
    /// layout, at edge shapes (every remainder of rows modulo the tiles' 12 and 6 that the 8-, 4-, 2- and
    /// 1-row kernels sum to, columns not a multiple of the tiles' 32 or 16 and last panels of one vector
    /// or less, several blocks of 256 along k), storing and accumulating, with B strided or packed once
    /// as a weight.
    #[test]
    fn own_kernels_give_matrixmultiplys_bits() {
        #[cfg(target_arch = "x86_64")]
        for kernel in [Kernel::Avx512, Kernel::Avx2] {
            if kernel.available() {
                own_kernel_gives_matrixmultiplys_bits(kernel);
            } else {
                eprintln!("{kernel:?}: this CPU cannot run it");
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    fn own_kernel_gives_matrixmultiplys_bits(kernel: Kernel) {
        let width = kernel.own_width().expect("one of ferrofold's kernels");
        let shapes = [
            (1, 1, 1),
            (2, 5, 40),
            (11, 40, 17),
            (23, 300, 9),
            (15, 33, 8),
            (12, 256, 32),
            (13, 257, 33),
            (37, 600, 70),
            (146, 32, 146),
            (146, 146, 32),
            (100, 128, 4),
            (25, 1024, 520),
        ];
        for (m, k, n) in shapes {
            let a = filled(m, k, 3);
            let at = a.t().as_standard_layout().into_owned();
            let b = filled(k, n, 5);
            let bt = b.t().as_standard_layout().into_owned();
            // Row-major A (read in place) and column-major A (packed); row- and column-major B.
            for (av, bv) in [
                (a.view(), b.view()),
                (at.t(), b.view()),
                (a.view(), bt.t()),
                (at.t(), bt.t()),
            ] {
                for accumulate in [false, true] {
                    let start = filled(m, n, 9);
                    let mut want = start.clone();
                    product(Kernel::MatrixMultiply, av, bv, want.view_mut(), accumulate);
                    let mut got = start.clone();
                    product(kernel, av, bv, got.view_mut(), accumulate);
                    let same = |x: &Array2<f32>| {
                        x.iter()
                            .zip(want.iter())
                            .all(|(p, q)| p.to_bits() == q.to_bits())
                    };
                    assert!(
                        same(&got),
                        "{kernel:?} [{m}, {k}]·[{k}, {n}] accumulate {accumulate}"
                    );
                    // Into a column-major destination (the kernel's scattered store).
                    let mut ct = start.t().as_standard_layout().into_owned();
                    product(kernel, av, bv, ct.view_mut().reversed_axes(), accumulate);
                    assert!(
                        same(&ct.t().to_owned()),
                        "{kernel:?} [{m}, {k}]·[{k}, {n}] into C^T"
                    );
                    // B packed once as a weight, used twice (the second use reads the kept packing).
                    let w = Weight::new(bv);
                    for _ in 0..2 {
                        let mut got = start.clone();
                        let p = w.packed.get_or_init(|| simd::PackedB::new(width, w.view()));
                        packed_product(width, av, p, got.view_mut(), accumulate);
                        assert!(same(&got), "{kernel:?} [{m}, {k}]·[{k}, {n}] packed B");
                    }
                }
            }
        }
    }

    #[test]
    fn agrees_with_ndarray_on_strided_and_transposed_views() {
        let a = filled(37, 50, 1);
        let b = filled(40, 29, 2);
        // a[:, 3..43] · b (k = 40), b transposed twice, a column-sliced: every stride path, on both
        // kernels whichever this machine picks.
        let av = a.slice(s![.., 3..43]);
        let bt = b.t().as_standard_layout().into_owned();
        let want = av.dot(&b);
        for kernel in kernels() {
            let mut got = Array2::<f32>::zeros((37, 29));
            product(kernel, av, bt.t(), got.view_mut(), false);
            let err = (&got - &want).mapv(f32::abs).fold(0.0f32, |m, &v| m.max(v));
            assert!(err < 1e-5, "{kernel:?}: max |Δ| {err}");
            let mut acc = Array2::<f32>::ones((37, 29));
            product(kernel, av, b.view(), acc.view_mut(), true);
            let err = (&acc - &(&want + 1.0))
                .mapv(f32::abs)
                .fold(0.0f32, |m, &v| m.max(v));
            assert!(err < 1e-5, "{kernel:?} accumulate: max |Δ| {err}");
            // Into a transposed (column-major) destination.
            let mut ct = Array2::<f32>::zeros((29, 37));
            product(kernel, av, b.view(), ct.view_mut().reversed_axes(), false);
            assert_eq!(ct.t(), got, "{kernel:?}");
        }
        // The engine's entry point is one of them.
        let got = matmul(av, bt.t());
        let err = (&got - &want).mapv(f32::abs).fold(0.0f32, |m, &v| m.max(v));
        assert!(err < 1e-5, "max |Δ| {err}");
    }

    #[test]
    fn empty_inner_dimension_gives_zeros_or_leaves_the_sum() {
        let a = Array2::<f32>::zeros((3, 0));
        let b = Array2::<f32>::zeros((0, 2));
        for kernel in kernels() {
            let mut c = Array2::<f32>::from_elem((3, 2), 7.0);
            product(kernel, a.view(), b.view(), c.view_mut(), true);
            assert!(c.iter().all(|&v| v == 7.0));
            product(kernel, a.view(), b.view(), c.view_mut(), false);
            assert!(c.iter().all(|&v| v == 0.0));
        }
    }
}
