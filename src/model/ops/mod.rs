//! Numerical building blocks shared by every network module.

pub mod gemm;
#[cfg(target_arch = "x86_64")]
pub(crate) use ferrofold_kernels::gemm_simd;
pub mod geometry;
pub mod primitives;
pub mod torsions;
pub use ferrofold_kernels::vmath;
