//! One iteration of the trunk: Jumper et al. (2021) Suppl. Alg. 2 "Inference" lines 5-17 without the
//! structure module: embeddings (Alg. 3-5), recycling (Alg. 32), extra-MSA stack (Alg. 18-19), Evoformer
//! (Alg. 6) and the single-representation projection (Alg. 2 line 17).
//!
//! DISCREPANCY: the template module is not run yet. With no template hits AlphaFold2's template pair
//! embedding is multiplied by zero and its template rows are fully masked, so the outputs are the same; a
//! features file with templates is refused until the template module lands.

use ndarray::{Array2, Array3, Axis};

use super::config::{ModelConfig, RuntimeOptions};
use super::embedders::{add_relpos, extra_msa_embedding, input_embedder, recycle};
use super::evoformer::{stack, Activations, StackKind};
use super::inputs::{Recycled, TrunkInputs};
use super::primitives::linear_scoped;
use super::weights::{WeightError, Weights};

/// The trunk's outputs for one iteration.
#[derive(Debug, Clone)]
pub struct TrunkOutput {
    /// `[S, N, c_m]`
    pub msa: Array3<f32>,
    /// `[N, N, c_z]`
    pub pair: Array3<f32>,
    /// `[N, c_s]`
    pub single: Array2<f32>,
}

impl TrunkOutput {
    /// `[N, c_m]`, the first MSA row (recycled).
    pub fn msa_first_row(&self) -> Array2<f32> {
        self.msa.index_axis(Axis(0), 0).to_owned()
    }
}

/// Runs embeddings, recycling, the extra-MSA stack and the Evoformer for one iteration.
pub fn run_trunk(
    x: &TrunkInputs,
    prev: &Recycled,
    cfg: &ModelConfig,
    w: &Weights,
    rt: &RuntimeOptions,
) -> Result<TrunkOutput, WeightError> {
    let evo = w.root().sub("evoformer");
    let n = x.num_res();
    let (mut msa, mut pair) = input_embedder(x, cfg, &evo)?;
    let aatype: Vec<i32> = x.aatype.to_vec();
    recycle(&mut msa, &mut pair, prev, &aatype, cfg, &evo)?;
    add_relpos(&mut pair, &x.residue_index.to_vec(), cfg, &evo)?;

    let seq_mask = &x.seq_mask;
    let pair_mask = Array2::from_shape_fn((n, n), |(i, j)| seq_mask[i] * seq_mask[j]);

    let extra = extra_msa_embedding(x, cfg, &evo)?;
    let mut act = Activations { msa: extra, pair };
    stack(
        &mut act,
        &x.extra_msa_mask,
        &pair_mask,
        &evo.sub("extra_msa_stack"),
        StackKind::ExtraMsa,
        cfg.extra_msa_stack_num_block,
        rt,
    )?;

    let mut act = Activations {
        msa,
        pair: act.pair,
    };
    stack(
        &mut act,
        &x.msa_mask,
        &pair_mask,
        &evo.sub("evoformer_iteration"),
        StackKind::Evoformer,
        cfg.evoformer_num_block,
        rt,
    )?;

    let single = linear_scoped(
        act.msa.index_axis(Axis(0), 0),
        &evo.sub("single_activations"),
        Some(cfg.seq_channel),
    )?;
    Ok(TrunkOutput {
        msa: act.msa,
        pair: act.pair,
        single,
    })
}
