//! The whole network: Jumper et al. (2021) Suppl. Alg. 2 "Inference" — for each recycling iteration the
//! trunk (embeddings, recycling, extra-MSA stack, Evoformer), then the structure module; the first MSA row,
//! the pair representation and the atom positions are recycled into the next iteration (AlphaFold2 v2.3:
//! a fixed number of iterations, no early stop for monomers unless asked). The heads run on the last
//! iteration's representations.

use std::time::Instant;

use ndarray::Array1;

use super::config::{ModelConfig, RuntimeOptions};
use super::heads::{heads, HeadOutputs};
use super::inputs::{Recycled, TrunkInputs};
use super::structure_module::{structure_module, StructureOutput};
use super::trunk::{run_trunk, TrunkOutput};
use super::weights::{WeightError, Weights};

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

/// Runs one iteration per entry of `inputs` (AlphaFold2 resamples the MSA for every iteration), recycling
/// between them. `progress` is called after each iteration with its index and seconds.
pub fn predict(
    inputs: &[TrunkInputs],
    cfg: &ModelConfig,
    w: &Weights,
    rt: &RuntimeOptions,
    early_stop: Option<EarlyStop>,
    mut progress: impl FnMut(usize, f64),
) -> Result<Prediction, WeightError> {
    let first = inputs.first().expect("at least one iteration");
    let n = first.num_res();
    let aatype: Vec<usize> = first
        .aatype
        .iter()
        .map(|&a| a.clamp(0, 20) as usize)
        .collect();
    let seq_mask: Array1<f32> = first.seq_mask.clone();
    let mut prev = Recycled::zeros(n, cfg.msa_channel, cfg.pair_channel);
    let mut times = Vec::new();
    let mut last = None;
    for (r, x) in inputs.iter().enumerate() {
        let t = Instant::now();
        let trunk = run_trunk(x, &prev, cfg, w, rt)?;
        let sm = structure_module(
            &trunk.single,
            &trunk.pair,
            &aatype,
            &seq_mask,
            cfg,
            &w.root(),
        )?;
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
    let heads = heads(
        &trunk.single,
        &trunk.pair,
        &trunk.msa,
        &structure.act,
        cfg,
        &w.root(),
    )?;
    Ok(Prediction {
        iterations: times.len(),
        iteration_seconds: times,
        trunk,
        structure,
        heads,
    })
}
