//! The backend a prediction runs on. The network is described once ([`AlphaFold`], modules that load
//! their own parameters); an engine computes it. Today there is one, the CPU engine (ndarray + rayon,
//! bitwise deterministic across thread counts and chunk sizes); a GPU engine implements the same trait
//! over the same loaded network, chunk plan and memory estimate.

use crate::model::input::trunk_inputs::TrunkInputs;
use crate::model::net::alphafold::{AlphaFold, EarlyStop, Prediction};
use crate::model::params::config::RuntimeOptions;

/// Runs a loaded network.
pub trait Engine {
    /// A short name for logs and timings (`cpu`, …).
    fn name(&self) -> &'static str;

    /// One iteration per entry of `inputs`, recycling between them (Alg. 2); `progress` gets each
    /// finished iteration's index and seconds.
    fn predict(
        &self,
        net: &AlphaFold,
        inputs: &[TrunkInputs],
        rt: &RuntimeOptions,
        early_stop: Option<EarlyStop>,
        progress: &mut dyn FnMut(usize, f64),
    ) -> Prediction;
}

/// The native CPU engine.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuEngine;

impl Engine for CpuEngine {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn predict(
        &self,
        net: &AlphaFold,
        inputs: &[TrunkInputs],
        rt: &RuntimeOptions,
        early_stop: Option<EarlyStop>,
        progress: &mut dyn FnMut(usize, f64),
    ) -> Prediction {
        net.predict(inputs, rt, early_stop, progress)
    }
}
