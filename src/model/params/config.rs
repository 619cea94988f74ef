//! Model configuration: AlphaFold2's `model_config` for the monomer models (Suppl. Table 5 and
//! AlphaFold2's `config.py`), plus arbitrary sizes for tests; runtime knobs live in [`RuntimeOptions`].

use serde::{Deserialize, Serialize};

use crate::model::params::weights::{WeightError, Weights};

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
    /// Evoformer sub-module sizes (AlphaFold2 config: 8 MSA heads, 4 pair heads, ×4 transitions,
    /// 32 outer-product channels, 128 triangle-multiplication channels).
    pub msa_heads: usize,
    pub pair_heads: usize,
    pub transition_factor: usize,
    pub outer_product_channels: usize,
    pub triangle_multiplication_channels: usize,
    /// Template module: pair channels, pair-stack blocks, heads (AlphaFold2: 64, 2, 4).
    pub template_pair_channel: usize,
    pub template_pair_blocks: usize,
    pub template_heads: usize,
    /// Structure module (Alg. 20-24): channels, layers (shared weights), IPA heads and point counts, the
    /// transition's depth, the side-chain (angle) network's channels.
    pub structure_channel: usize,
    pub structure_layers: usize,
    pub ipa_heads: usize,
    pub ipa_scalar_qk: usize,
    pub ipa_scalar_v: usize,
    pub ipa_point_qk: usize,
    pub ipa_point_v: usize,
    pub structure_transition_layers: usize,
    pub sidechain_channel: usize,
    /// Heads: pLDDT hidden channels and bins, distogram bins, PAE bins (`None`: no PAE head, non-ptm models).
    pub plddt_channels: usize,
    pub plddt_bins: usize,
    pub distogram_bins: usize,
    pub pae_bins: Option<usize>,
    /// Input pipeline: cluster centres (512; template models reserve 4 rows for templates, leaving 508) and
    /// extra rows kept (model_1/3/4: 5120, model_2/5: 1024; AlphaFold2's `CONFIG_DIFFS`).
    pub max_msa_clusters: usize,
    pub max_extra_msa: usize,
}

impl ModelConfig {
    /// Checks that the sizes describe a network that can exist (a configuration read from a model file is
    /// untrusted): every count positive where the network divides by it or needs one, channels divisible by
    /// their heads, and nothing absurdly large. Names the first offending field.
    pub fn validate(&self) -> Result<(), String> {
        const MAX_CHANNELS: usize = 1 << 14;
        const MAX_BLOCKS: usize = 1 << 10;
        let positive = [
            ("msa_channel", self.msa_channel),
            ("pair_channel", self.pair_channel),
            ("extra_msa_channel", self.extra_msa_channel),
            ("seq_channel", self.seq_channel),
            ("msa_heads", self.msa_heads),
            ("pair_heads", self.pair_heads),
            ("transition_factor", self.transition_factor),
            ("outer_product_channels", self.outer_product_channels),
            (
                "triangle_multiplication_channels",
                self.triangle_multiplication_channels,
            ),
            ("template_pair_channel", self.template_pair_channel),
            ("template_heads", self.template_heads),
            ("structure_channel", self.structure_channel),
            ("structure_layers", self.structure_layers),
            ("ipa_heads", self.ipa_heads),
            ("sidechain_channel", self.sidechain_channel),
            ("plddt_channels", self.plddt_channels),
            ("plddt_bins", self.plddt_bins),
            ("distogram_bins", self.distogram_bins),
            ("prev_pos_num_bins", self.prev_pos_num_bins),
            ("max_msa_clusters", self.max_msa_clusters),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(format!("{name} is 0"));
            }
            if v > MAX_CHANNELS {
                return Err(format!("{name} is {v}, more than {MAX_CHANNELS}"));
            }
        }
        for (name, v) in [
            ("evoformer_num_block", self.evoformer_num_block),
            ("extra_msa_stack_num_block", self.extra_msa_stack_num_block),
            ("template_pair_blocks", self.template_pair_blocks),
            (
                "structure_transition_layers",
                self.structure_transition_layers,
            ),
            ("num_recycle", self.num_recycle),
            ("max_relative_feature", self.max_relative_feature),
            ("ipa_scalar_qk", self.ipa_scalar_qk),
            ("ipa_scalar_v", self.ipa_scalar_v),
            ("ipa_point_qk", self.ipa_point_qk),
            ("ipa_point_v", self.ipa_point_v),
        ] {
            if v > MAX_BLOCKS {
                return Err(format!("{name} is {v}, more than {MAX_BLOCKS}"));
            }
        }
        if self.pae_bins.is_some_and(|b| b == 0 || b > MAX_CHANNELS) {
            return Err(format!("pae_bins is {:?}", self.pae_bins));
        }
        if self.max_extra_msa > 1 << 20 {
            return Err(format!("max_extra_msa is {}", self.max_extra_msa));
        }
        for (name, c, h) in [
            ("msa_channel", self.msa_channel, self.msa_heads),
            ("extra_msa_channel", self.extra_msa_channel, self.msa_heads),
            ("pair_channel", self.pair_channel, self.pair_heads),
            (
                "template_pair_channel",
                self.template_pair_channel,
                self.template_heads,
            ),
        ] {
            if c % h != 0 {
                return Err(format!("{name} {c} is not divisible by its {h} heads"));
            }
        }
        if !(self.prev_pos_min_bin.is_finite()
            && self.prev_pos_max_bin.is_finite()
            && self.prev_pos_min_bin < self.prev_pos_max_bin)
        {
            return Err(format!(
                "recycled distogram bins {}..{} are not an increasing range",
                self.prev_pos_min_bin, self.prev_pos_max_bin
            ));
        }
        Ok(())
    }

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
            msa_heads: 8,
            pair_heads: 4,
            transition_factor: 4,
            outer_product_channels: 32,
            triangle_multiplication_channels: 128,
            template_pair_channel: 64,
            template_pair_blocks: 2,
            template_heads: 4,
            structure_channel: 384,
            structure_layers: 8,
            ipa_heads: 12,
            ipa_scalar_qk: 16,
            ipa_scalar_v: 16,
            ipa_point_qk: 4,
            ipa_point_v: 8,
            structure_transition_layers: 3,
            sidechain_channel: 128,
            plddt_channels: 128,
            plddt_bins: 50,
            distogram_bins: 64,
            pae_bins: Some(64),
            max_msa_clusters: 508,
            max_extra_msa: 5120,
        }
    }

    /// A preset by AlphaFold2's model name: `model_1` … `model_5`, each optionally `_ptm` (the ptm models
    /// add the predicted-aligned-error head). model_1/2 use templates, model_3/4/5 do not (AlphaFold2's
    /// `CONFIG_DIFFS`); all share the trunk and structure-module sizes.
    pub fn preset(name: &str) -> Option<Self> {
        let (base, ptm) = match name.strip_suffix("_ptm") {
            Some(b) => (b, true),
            None => (name, false),
        };
        let mut c = Self::model_1_ptm();
        c.templates = match base {
            "model_1" | "model_2" => true,
            "model_3" | "model_4" | "model_5" => false,
            _ => return None,
        };
        c.pae_bins = ptm.then_some(64);
        c.max_msa_clusters = if c.templates { 508 } else { 512 };
        c.max_extra_msa = if matches!(base, "model_2" | "model_5") {
            1024
        } else {
            5120
        };
        Some(c)
    }

    /// Sizes read off a parameter set (for test models of any size): channels from the embedders, block
    /// counts from the stacks' leading axes.
    pub fn infer(w: &Weights) -> Result<Self, WeightError> {
        const ROOT: &str = "alphafold/alphafold_iteration";
        // Axis `axis` of the tensor at `path` (below the root).
        let dim = |path: &str, axis: usize| -> Result<usize, WeightError> {
            let key = format!("{ROOT}/{path}");
            let t = w
                .tensors
                .get(&key)
                .ok_or_else(|| WeightError::Missing(key.clone()))?;
            t.shape()
                .get(axis)
                .copied()
                .ok_or_else(|| WeightError::Shape {
                    name: key,
                    found: t.shape().to_vec(),
                    expected: format!("at least {} axes", axis + 1),
                })
        };
        let cols = |name: &str| dim(&format!("evoformer/{name}//weights"), 1);
        let blocks = |stack: &str| {
            dim(
                &format!("evoformer/{stack}/msa_transition/transition1//weights"),
                0,
            )
        };
        let mut c = Self::model_1_ptm();
        c.msa_channel = cols("preprocess_1d")?;
        c.pair_channel = cols("left_single")?;
        c.extra_msa_channel = cols("extra_msa_activations")?;
        c.seq_channel = cols("single_activations")?;
        c.evoformer_num_block = blocks("evoformer_iteration")?;
        c.extra_msa_stack_num_block = blocks("extra_msa_stack")?;
        c.templates = w.has_prefix(&format!("{ROOT}/evoformer/template_embedding/"));
        c.max_msa_clusters = if c.templates { 508 } else { 512 };
        c.structure_channel = dim("structure_module/initial_projection//weights", 1)?;
        c.sidechain_channel = dim(
            "structure_module/fold_iteration/rigid_sidechain/input_projection//weights",
            1,
        )?;
        c.plddt_channels = dim("predicted_lddt_head/act_0//weights", 1)?;
        c.pae_bins = dim("predicted_aligned_error_head/logits//weights", 1).ok();
        Ok(c)
    }
}

/// Runtime settings, separate from what the weights fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// Worker threads (0: rayon's default, one per core).
    pub threads: usize,
    /// Bytes the largest temporary of one operation may take (summed over the chunks that run at once);
    /// row-wise operations (transitions, triangle-multiplication projections) are cut into chunks to fit.
    pub chunk_budget: usize,
    /// Called after every extra-MSA and Evoformer block (progress reporting); never changes results.
    pub on_block: Option<BlockHook>,
}

/// A callback run after each block of the trunk's stacks.
#[derive(Clone)]
pub struct BlockHook(pub std::sync::Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for BlockHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlockHook")
    }
}

impl PartialEq for BlockHook {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for BlockHook {}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            threads: 0,
            chunk_budget: 1 << 30,
            on_block: None,
        }
    }
}

impl RuntimeOptions {
    /// Rows per chunk when each row needs `bytes_per_row` of temporaries: as many as the budget allows,
    /// split so that every worker thread gets work, and no more than fit a cache-sized chunk (a chunk's
    /// temporaries are written by one GEMM and read by the next: 8 MiB stay in cache and below glibc's
    /// mmap threshold, so they are neither faulted in fresh nor evicted in between); at least one.
    pub fn rows_per_chunk(&self, rows: usize, bytes_per_row: usize) -> usize {
        const CACHE_CHUNK: usize = 8 << 20;
        let workers = rayon::current_num_threads().max(1);
        let by_budget = (self.chunk_budget / workers.max(1) / bytes_per_row.max(1)).max(1);
        let for_parallelism = rows.div_ceil(workers * 4).max(1);
        let for_cache = (CACHE_CHUNK / bytes_per_row.max(1)).max(256);
        by_budget.min(for_parallelism).min(for_cache).max(1)
    }
}
