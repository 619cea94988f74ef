//! Numerical building blocks shared by every network module.

pub mod gemm;
#[cfg(target_arch = "x86_64")]
pub(crate) mod gemm_simd;
pub mod geometry;
pub mod primitives;
pub mod torsions;
pub mod vmath;
