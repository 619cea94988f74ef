//! The whole network: Jumper et al. (2021) Suppl. Alg. 2 "Inference" — for each recycling iteration the
//! trunk (embeddings, recycling, extra-MSA stack, Evoformer), then the structure module; the first MSA row,
//! the pair representation and the atom positions are recycled into the next iteration (AlphaFold2 v2.3:
//! a fixed number of iterations, no early stop for monomers unless asked). The heads run on the last
//! iteration's representations.

use std::time::Instant;

use ndarray::{Array1, Array2};

use crate::model::input::trunk_inputs::{Recycled, TrunkInputs};
use crate::model::net::heads::{HeadOutputs, Heads};
use crate::model::net::structure_module::{StructureModule, StructureOutput};
use crate::model::net::structure_module_multimer::MultimerStructureModule;
use crate::model::net::trunk::{Trunk, TrunkOutput};
use crate::model::params::config::{ModelConfig, ModelKind, RuntimeOptions};
use crate::model::params::weights::{Scope, WeightError, Weights};

/// A prediction: the last iteration's representations, structure and head outputs.
#[derive(Debug, Clone)]
pub struct Prediction {
    pub trunk: TrunkOutput,
    pub structure: StructureOutput,
    pub heads: HeadOutputs,
    /// Iterations run (recycles + 1, or fewer after an early stop).
    pub iterations: usize,
    /// Seconds per iteration.
    pub iteration_seconds: Vec<f64>,
}

/// Stops recycling early when the Cα positions move less than `tolerance` Å (RMS of the change of all
/// Cα-Cα distances between consecutive iterations, as ColabFold's `recycle_early_stop_tolerance`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EarlyStop {
    pub tolerance: f32,
}

fn ca_distance_change(a: &ndarray::Array3<f32>, b: &ndarray::Array3<f32>) -> f32 {
    let n = a.dim().0;
    let ca = 1;
    let d = |x: &ndarray::Array3<f32>, i: usize, j: usize| -> f32 {
        (0..3)
            .map(|k| (x[[i, ca, k]] - x[[j, ca, k]]).powi(2))
            .sum::<f32>()
            .sqrt()
    };
    let mut sum = 0.0f64;
    for i in 0..n {
        for j in 0..n {
            sum += ((d(a, i, j) - d(b, i, j)) as f64).powi(2);
        }
    }
    ((sum / (n * n).max(1) as f64).sqrt()) as f32
}

/// The whole network (AlphaFold2's `AlphaFoldIteration` with its recycling loop), loaded from one
/// parameter store: the loaders below are the parameter tree's only description.
#[derive(Debug, Clone)]
pub struct AlphaFold<'w> {
    pub config: ModelConfig,
    pub trunk: Trunk<'w>,
    pub structure_module: Folding<'w>,
    pub heads: Heads<'w>,
}

/// The structure module of a monomer model or of AlphaFold-Multimer.
#[derive(Debug, Clone)]
pub enum Folding<'w> {
    Monomer(StructureModule<'w>),
    Multimer(MultimerStructureModule<'w>),
}

impl<'w> Folding<'w> {
    /// The structure module `cfg`'s kind has, below the `alphafold_iteration` scope.
    pub fn load(root: &Scope<'w>, cfg: &ModelConfig) -> Result<Self, WeightError> {
        Ok(match cfg.kind {
            ModelKind::Monomer => Self::Monomer(StructureModule::load(root, cfg)?),
            ModelKind::Multimer => Self::Multimer(MultimerStructureModule::load(root, cfg)?),
        })
    }

    /// Alg. 20 on the trunk's single and pair representations (`backend`: where the pair terms of
    /// invariant point attention run, if not here).
    pub fn forward(
        &self,
        single: &Array2<f32>,
        pair: &ndarray::Array3<f32>,
        aatype: &[usize],
        seq_mask: &Array1<f32>,
        backend: Option<&dyn crate::model::params::config::StackBackend>,
    ) -> StructureOutput {
        match self {
            Self::Monomer(m) => m.forward_on(single, pair, aatype, seq_mask, backend),
            Self::Multimer(m) => m.forward_on(single, pair, aatype, seq_mask, backend),
        }
    }
}

impl<'w> AlphaFold<'w> {
    /// The scope every AlphaFold2 monomer parameter lives under.
    pub const ROOT: &'static str = "alphafold/alphafold_iteration";

    /// Fetches and shape-checks every parameter `cfg` implies (a missing or misshaped tensor is an
    /// error naming it; tensors the configuration does not use are reported by
    /// [`crate::model::params::schema::check`]).
    pub fn load(cfg: &ModelConfig, w: &'w Weights) -> Result<Self, WeightError> {
        Self::load_scope(cfg, &w.scope(Self::ROOT))
    }

    /// As [`AlphaFold::load`], below any root scope (a recorder, for the schema).
    pub(crate) fn load_scope(cfg: &ModelConfig, root: &Scope<'w>) -> Result<Self, WeightError> {
        Ok(Self {
            config: cfg.clone(),
            trunk: Trunk::load(root, cfg)?,
            structure_module: Folding::load(root, cfg)?,
            heads: Heads::load(root, cfg)?,
        })
    }

    /// Runs one iteration per entry of `inputs` (AlphaFold2 resamples the MSA for every iteration),
    /// recycling between them. `progress` is called after each iteration with its index and seconds.
    pub fn predict(
        &self,
        inputs: &[TrunkInputs],
        rt: &RuntimeOptions,
        early_stop: Option<EarlyStop>,
        mut progress: impl FnMut(usize, f64),
    ) -> Prediction {
        let cfg = &self.config;
        let first = inputs.first().expect("at least one iteration");
        let n = first.num_res();
        let aatype: Vec<usize> = first
            .aatype
            .iter()
            .map(|&a| a.clamp(0, 20) as usize)
            .collect();
        let seq_mask: Array1<f32> = first.seq_mask.clone();
        let mut prev = Recycled::zeros(n, cfg.evoformer.msa_channel, cfg.evoformer.pair_channel);
        let mut times = Vec::new();
        let mut last = None;
        for (r, x) in inputs.iter().enumerate() {
            let t = Instant::now();
            let trunk = self.trunk.forward(x, &prev, rt);
            let sm = self.structure_module.forward(
                &trunk.single,
                &trunk.pair,
                &aatype,
                &seq_mask,
                rt.stack_runner.as_ref().map(|r| &*r.0),
            );
            let secs = t.elapsed().as_secs_f64();
            times.push(secs);
            progress(r, secs);
            let stop = early_stop.is_some_and(|e| {
                r > 0 && ca_distance_change(&prev.pos, &sm.atom37_positions) < e.tolerance
            });
            // The pair representation (N²·c_z floats, the largest array) moves into the recycled state
            // instead of being copied; the last iteration's is moved back out below.
            let msa_first_row = trunk.msa_first_row();
            let TrunkOutput { msa, pair, single } = trunk;
            prev = Recycled {
                msa_first_row,
                pair,
                pos: sm.atom37_positions.clone(),
            };
            last = Some((msa, single, sm));
            if stop {
                break;
            }
        }
        let (msa, single, structure) = last.expect("one iteration ran");
        let trunk = TrunkOutput {
            msa,
            pair: prev.pair,
            single,
        };
        let asym = first.chains.as_ref().map(|c| c.asym_id.to_vec());
        let heads = self.heads.forward(
            &trunk.single,
            &trunk.pair,
            &trunk.msa,
            &structure.act,
            asym.as_deref(),
        );
        Prediction {
            iterations: times.len(),
            iteration_seconds: times,
            trunk,
            structure,
            heads,
        }
    }
}
