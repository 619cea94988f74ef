//! Helpers for tests, benchmarks and fuzzing (hidden from the docs; not part of the library's API):
//! the fuzz targets' entry points and readers for DeepMind's reference outputs.

pub mod bench;
pub mod colabfold;
pub mod fuzzing;
pub mod reference;
