//! The engine's f32 matrix product: `c = a·b` or `c += a·b` on ndarray views of any strides.
//!
//! Two kernels, one chosen per machine (never per call, so a machine always gives the same bits):
//! - the `gemm` crate (AVX2+FMA / NEON kernels; its AVX-512 kernels need a nightly compiler): at the
//!   engine's shapes (K = 16-1,024, 146-1,024 rows per task) 10-70 % faster than matrixmultiply on CPUs
//!   whose vector units are 256 bits wide or split 512-bit instructions in two (AMD Zen 4: attention
//!   values 107 vs 62 GFLOP/s, projections 108 vs 87, square 105 vs 99 on one thread);
//! - ndarray's `general_mat_mul` (matrixmultiply, with an AVX-512 kernel) on CPUs with full-width
//!   AVX-512 (Intel Xeon, AMD Zen 5), where the 256-bit kernel would reach only about half the peak.
//!
//! `FERROFOLD_GEMM=gemm|matrixmultiply` overrides the choice (benchmarks; `cargo bench --bench gemm`
//! measures both). Every product is single-threaded: the engine parallelises over independent products
//! with rayon, so a product's reduction order depends only on its shape and the kernel, never on the
//! thread count (the engine's bitwise-determinism guarantee).

use std::sync::OnceLock;

use ndarray::{Array2, ArrayView2, ArrayViewMut2};

/// Which kernel computes the engine's products on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// The `gemm` crate.
    Gemm,
    /// ndarray's `general_mat_mul` (matrixmultiply).
    MatrixMultiply,
}

/// The kernel for this process: `FERROFOLD_GEMM` if set, else by the CPU (see the module notes).
pub fn kernel() -> Kernel {
    static KERNEL: OnceLock<Kernel> = OnceLock::new();
    *KERNEL.get_or_init(|| {
        let by_cpu = if full_width_avx512() {
            Kernel::MatrixMultiply
        } else {
            Kernel::Gemm
        };
        match std::env::var("FERROFOLD_GEMM").as_deref() {
            Ok("gemm") => Kernel::Gemm,
            Ok("matrixmultiply") => Kernel::MatrixMultiply,
            Ok(other) => {
                tracing::warn!(
                    "FERROFOLD_GEMM={other:?} is neither \"gemm\" nor \"matrixmultiply\"; using {by_cpu:?}"
                );
                by_cpu
            }
            Err(_) => by_cpu,
        }
    })
}

/// AVX-512 executed at full width: present, and not AMD family 19h (Zen 4, which runs each 512-bit
/// instruction as two 256-bit halves, so the 256-bit kernel loses nothing there).
fn full_width_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if !std::arch::is_x86_feature_detected!("avx512f") {
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
    let ((m, k), (k2, n)) = (a.dim(), b.dim());
    assert!(
        k == k2 && c.dim() == (m, n),
        "matmul shapes: [{m}, {k}]·[{k2}, {n}] into {:?}",
        c.dim()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c.fill(0.0);
        }
        return;
    }
    if kernel == Kernel::MatrixMultiply {
        let beta = if accumulate { 1.0 } else { 0.0 };
        ndarray::linalg::general_mat_mul(1.0, &a, &b, beta, &mut c);
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

    #[test]
    fn agrees_with_ndarray_on_strided_and_transposed_views() {
        let a = filled(37, 50, 1);
        let b = filled(40, 29, 2);
        // a[:, 3..43] · b (k = 40), b transposed twice, a column-sliced: every stride path, on both
        // kernels whichever this machine picks.
        let av = a.slice(s![.., 3..43]);
        let bt = b.t().as_standard_layout().into_owned();
        let want = av.dot(&b);
        for kernel in [Kernel::Gemm, Kernel::MatrixMultiply] {
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
        for kernel in [Kernel::Gemm, Kernel::MatrixMultiply] {
            let mut c = Array2::<f32>::from_elem((3, 2), 7.0);
            product(kernel, a.view(), b.view(), c.view_mut(), true);
            assert!(c.iter().all(|&v| v == 7.0));
            product(kernel, a.view(), b.view(), c.view_mut(), false);
            assert!(c.iter().all(|&v| v == 0.0));
        }
    }
}
