//! The AlphaFold2 network, native Rust (ndarray + rayon), f32.
//!
//! One module per algorithm family of the supplement (Jumper et al. 2021), each citing its algorithm
//! numbers. Weights are looked up by AlphaFold2's own parameter paths through [`weights::Scope`].

pub mod alphafold;
pub mod config;
pub mod embedders;
pub mod evoformer;
pub mod flops;
pub mod geometry;
pub mod heads;
pub mod input_pipeline;
pub mod inputs;
pub mod memory;
pub mod model_file;
pub mod primitives;
pub mod schema;
pub mod structure_module;
pub mod testgen;
pub mod trunk;
pub mod vmath;
pub mod weights;
