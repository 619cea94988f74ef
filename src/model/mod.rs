//! The AlphaFold2 network, native Rust (ndarray + rayon), f32.
//!
//! Rooms:
//! * [`net`]: the network, one module per algorithm family of the supplement (Jumper et al. 2021), each
//!   citing its algorithm numbers. Every module loads its own parameters (`load(cfg, scope)`, candle
//!   style) and then computes (`forward`): the loaders are the only description of the parameter tree.
//! * [`ops`]: primitives (linear, layer norm, attention, softmax), vectorised maths, rigid-body geometry.
//! * [`params`]: the configuration, the parameter store and its scopes, the schema derived from the
//!   loaders, the ONNX model file.
//! * [`plan`]: the memory estimate and the work (FLOP) count that size chunks and refuse what cannot fit.
//! * [`input`]: AlphaFold2's input pipeline (`process_features`) and the per-iteration inputs it makes.
//! * [`engine`]: the backend trait a prediction runs on (the CPU engine today).

pub mod engine;
pub mod input;
pub mod net;
pub mod ops;
pub mod params;
pub mod plan;
