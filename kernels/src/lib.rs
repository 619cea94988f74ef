//! ferrofold's innermost numerical kernels: its own f32 matrix product ([`gemm_simd`]) and the
//! vectorised e^x with the softmax, sigmoid gates and layer norm built on it ([`vmath`]).
//!
//! They are a crate of their own for one reason: build profiles are set per crate. The tests run a debug
//! build of ferrofold (`opt-level = 1`, overflow checks on), where these loops lost their register tiles
//! and vectorisation and ran the products ~40 % slower than the `gemm` crate, which is built optimised as a
//! dependency. The workspace's `Cargo.toml` builds this crate as the release build does, in every profile;
//! the arithmetic, and so every bit, is the same at any optimisation level (explicit FMAs, no fast-math).
//! ferrofold re-exports `vmath` as `ferrofold::model::ops::vmath`; `gemm_simd` it uses only inside the
//! crate, through `ops::gemm`.

#[cfg(target_arch = "x86_64")]
pub mod gemm_simd;
pub mod vmath;
