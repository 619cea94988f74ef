//! Numerical building blocks shared by every network module.

pub mod geometry;
pub mod primitives;
pub mod torsions;
pub mod vmath;
