//! The backend a prediction runs on. The network is described once ([`AlphaFold`], modules that load
//! their own parameters); an engine computes it. The CPU engine (ndarray + rayon) is bitwise
//! deterministic across thread counts and chunk sizes; the GPU engine ([`crate::gpu`], wgpu) runs the
//! trunk's stacks (extra-MSA, Evoformer, template pair stack) and the structure module's pair terms on a
//! GPU over the same loaded network and leaves the embeddings, the rest of the structure module and the
//! heads to the CPU.

use std::sync::Arc;

use crate::gpu::evoformer::GpuStacks;
use crate::gpu::Gpu;
use crate::model::input::trunk_inputs::TrunkInputs;
use crate::model::net::alphafold::{AlphaFold, EarlyStop, Prediction};
use crate::model::params::config::{RuntimeOptions, StackRunner};

/// An engine that could not finish a prediction.
#[derive(Debug, thiserror::Error)]
#[error("{engine} engine: {message}")]
pub struct EngineError {
    pub engine: &'static str,
    pub message: String,
}

/// Runs a loaded network.
pub trait Engine: Send + Sync {
    /// A short name for logs and timings (`cpu`, `gpu`).
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
    ) -> Result<Prediction, EngineError>;
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
    ) -> Result<Prediction, EngineError> {
        Ok(net.predict(inputs, rt, early_stop, progress))
    }
}

/// The GPU engine: the trunk's stacks on `gpu`. With `fallback`, a GPU failure is logged and the CPU
/// engine takes over (`--device auto`); without, the prediction fails with the GPU's error.
#[derive(Debug, Clone)]
pub struct GpuEngine {
    pub gpu: Arc<Gpu>,
    pub fallback: bool,
}

impl Engine for GpuEngine {
    fn name(&self) -> &'static str {
        "gpu"
    }

    fn predict(
        &self,
        net: &AlphaFold,
        inputs: &[TrunkInputs],
        rt: &RuntimeOptions,
        early_stop: Option<EarlyStop>,
        progress: &mut dyn FnMut(usize, f64),
    ) -> Result<Prediction, EngineError> {
        // Sizes first: a tensor over the adapter's binding limit is refused (or left to the CPU) before
        // any work.
        if let Some(x) = inputs.first() {
            let sizes = gpu_sizes(net, x);
            let (name, bytes) = crate::gpu::evoformer::largest_tensor(
                &net.config,
                sizes.res,
                sizes.msa_rows,
                sizes.extra_rows,
            );
            let limit = self.gpu.max_binding_bytes();
            if bytes > limit {
                let message = format!(
                    "the {name} tensor of this query needs {:.1} MiB, over the adapter's {:.1} MiB storage-buffer binding limit",
                    bytes as f64 / (1u64 << 20) as f64,
                    limit as f64 / (1u64 << 20) as f64
                );
                if !self.fallback {
                    return Err(EngineError {
                        engine: "gpu",
                        message: format!("{message} (use --device cpu or auto)"),
                    });
                }
                tracing::warn!("GPU engine: {message}; running on the CPU");
                return CpuEngine.predict(net, inputs, rt, early_stop, progress);
            }
        }
        // One runner (and weight upload) per loaded network: its weight cache is keyed by addresses
        // that are only meaningful while `net`'s parameters are alive.
        let stacks = Arc::new(GpuStacks::new(self.gpu.clone(), self.fallback));
        let rt = RuntimeOptions {
            stack_runner: Some(StackRunner(stacks.clone())),
            ..rt.clone()
        };
        self.gpu.reset_peak_bytes();
        let prediction = net.predict(inputs, &rt, early_stop, progress);
        tracing::info!(
            "GPU engine: peak GPU tensor memory {} (weights and activations)",
            crate::model::plan::memory::human(self.gpu.peak_bytes())
        );
        match stacks.failure() {
            Some(message) if !self.fallback => Err(EngineError {
                engine: "gpu",
                message,
            }),
            _ => Ok(prediction),
        }
    }
}

/// The sizes the GPU engine runs `net` at on input `x`: the Evoformer's MSA rows include one row per
/// template in template models.
pub fn gpu_sizes(net: &AlphaFold, x: &TrunkInputs) -> crate::gpu::memory::GpuSizes {
    let templates = if net.trunk.template_embedding.is_some() {
        x.templates.count()
    } else {
        0
    };
    crate::gpu::memory::GpuSizes {
        res: x.num_res(),
        msa_rows: x.msa_feat.dim().0 + templates,
        extra_rows: x.extra_msa.nrows(),
        templates,
    }
}
