//! Model configuration: AlphaFold2's `model_config` for the monomer models (Suppl. Table 5 and
//! AlphaFold2's `config.py`), plus arbitrary sizes for tests; runtime knobs live in [`RuntimeOptions`].

use serde::{Deserialize, Serialize};

use super::weights::{WeightError, Weights};

/// Network sizes and switches (what the parameters must fit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// `c_m`
    pub msa_channel: usize,
    /// `c_z`
    pub pair_channel: usize,
    /// `c_e`
    pub extra_msa_channel: usize,
    /// `c_s`
    pub seq_channel: usize,
    pub evoformer_num_block: usize,
    pub extra_msa_stack_num_block: usize,
    /// Relative position clip (32 → 65 classes).
    pub max_relative_feature: usize,
    /// Recycled pseudo-β distogram: first and last lower bin edge (Å) and bin count.
    pub prev_pos_min_bin: f32,
    pub prev_pos_max_bin: f32,
    pub prev_pos_num_bins: usize,
    /// Whether the model has the template module (model_1/2).
    pub templates: bool,
    /// Recycling iterations after the first (AlphaFold2 default 3).
    pub num_recycle: usize,
}

impl ModelConfig {
    /// AlphaFold2 model_1_ptm (Suppl. Table 5 / `config.py`): c_m 256, c_z 128, c_e 64, c_s 384, 48 Evoformer
    /// blocks, 4 extra-MSA blocks, templates, 3 recycles.
    pub fn model_1_ptm() -> Self {
        Self {
            msa_channel: 256,
            pair_channel: 128,
            extra_msa_channel: 64,
            seq_channel: 384,
            evoformer_num_block: 48,
            extra_msa_stack_num_block: 4,
            max_relative_feature: 32,
            prev_pos_min_bin: 3.25,
            prev_pos_max_bin: 20.75,
            prev_pos_num_bins: 15,
            templates: true,
            num_recycle: 3,
        }
    }

    /// Sizes read off a parameter set (for test models of any size): channels from the embedders, block
    /// counts from the stacks' leading axes.
    pub fn infer(w: &Weights) -> Result<Self, WeightError> {
        let evo = w.root().sub("evoformer");
        let cols =
            |name: &str| -> Result<usize, WeightError> { Ok(evo.sub(name).shape("weights")?[1]) };
        let blocks = |stack: &str| -> Result<usize, WeightError> {
            Ok(evo
                .sub(stack)
                .sub("msa_transition")
                .sub("transition1")
                .shape("weights")?[0])
        };
        let mut c = Self::model_1_ptm();
        c.msa_channel = cols("preprocess_1d")?;
        c.pair_channel = cols("left_single")?;
        c.extra_msa_channel = cols("extra_msa_activations")?;
        c.seq_channel = cols("single_activations")?;
        c.evoformer_num_block = blocks("evoformer_iteration")?;
        c.extra_msa_stack_num_block = blocks("extra_msa_stack")?;
        c.templates = evo.sub("template_embedding").exists();
        Ok(c)
    }
}

/// Runtime settings, separate from what the weights fix.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuntimeOptions {
    /// Worker threads (0: rayon's default).
    pub threads: usize,
}
