//! Numerical building blocks shared by every network module.

pub mod gemm;
pub mod geometry;
pub mod primitives;
pub mod torsions;
pub mod vmath;
