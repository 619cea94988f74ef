//! Model configuration: AlphaFold2's `model_config` for the monomer models (Suppl. Table 5 and
//! AlphaFold2's `config.py`), plus arbitrary sizes for tests; runtime knobs live in [`RuntimeOptions`].

use serde::{Deserialize, Serialize};

use crate::model::params::weights::{WeightError, Weights};

/// Most recycling iterations a configuration or a run may ask for (AlphaFold2 uses 3; ColabFold users go
/// to a few dozen): a bound, so that a typo is an error rather than days of work.
pub const MAX_NUM_RECYCLE: usize = 200;

/// Network sizes and switches (what the parameters must fit), grouped as AlphaFold2's `model_config`
/// groups them. Model files written before the grouping (one flat JSON object) still read: see
/// [`ModelConfig::from_json`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Which network: AlphaFold2's monomer models or AlphaFold-Multimer (model files written before
    /// multimer support hold monomers).
    #[serde(default)]
    pub kind: ModelKind,
    pub evoformer: EvoformerConfig,
    pub structure_module: StructureModuleConfig,
    pub heads: HeadsConfig,
    pub input: InputConfig,
    /// Recycling iterations after the first (AlphaFold2 default 3).
    pub num_recycle: usize,
}

/// The two network families of AlphaFold2 v2.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// model_1..5 (and `_ptm`): one chain, the input pipeline outside the network.
    #[default]
    Monomer,
    /// model_1..5_multimer_v3 (Evans et al. 2021): complexes; MSA sampling inside the network, relative
    /// positions with chain information, its own template embedding and structure module.
    Multimer,
}

impl ModelKind {
    /// The structure module's `position_scale`: translations are predicted in units of this many Å.
    pub fn position_scale(self) -> f32 {
        match self {
            Self::Monomer => 10.0,
            Self::Multimer => 20.0,
        }
    }
}

/// Relative chain index clip of AlphaFold-Multimer's relative encoding (`max_relative_chain`).
pub const MAX_RELATIVE_CHAIN: usize = 2;

/// The trunk: embeddings, recycling, extra-MSA stack, Evoformer, templates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvoformerConfig {
    /// `c_m`
    pub msa_channel: usize,
    /// `c_z`
    pub pair_channel: usize,
    /// `c_e`
    pub extra_msa_channel: usize,
    /// `c_s`
    pub seq_channel: usize,
    /// Evoformer blocks (AlphaFold2: 48).
    pub num_block: usize,
    /// Extra-MSA stack blocks (AlphaFold2: 4).
    pub extra_msa_num_block: usize,
    /// Relative position clip (32 → 65 classes).
    pub max_relative_feature: usize,
    /// Recycled pseudo-β distogram: first and last lower bin edge (Å) and bin count.
    pub prev_pos_min_bin: f32,
    pub prev_pos_max_bin: f32,
    pub prev_pos_num_bins: usize,
    /// Evoformer sub-module sizes (AlphaFold2 config: 8 MSA heads, 4 pair heads, ×4 transitions,
    /// 32 outer-product channels, 128 triangle-multiplication channels).
    pub msa_heads: usize,
    pub pair_heads: usize,
    pub transition_factor: usize,
    pub outer_product_channels: usize,
    pub triangle_multiplication_channels: usize,
    /// Whether the model has the template module (model_1/2).
    pub templates: bool,
    pub template: TemplateConfig,
}

/// Template module sizes (AlphaFold2: 64 pair channels, 2 pair-stack blocks, 4 heads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    pub pair_channel: usize,
    pub pair_blocks: usize,
    pub heads: usize,
    /// Channels of the template pair stack's triangle multiplications (`None`: `pair_channel`, as in the
    /// monomer models; AlphaFold-Multimer sets them separately, 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triangle_multiplication_channels: Option<usize>,
}

impl TemplateConfig {
    /// Channels of the template pair stack's triangle multiplications.
    pub fn triangle_channels(&self) -> usize {
        self.triangle_multiplication_channels
            .unwrap_or(self.pair_channel)
    }
}

/// Structure module (Alg. 20-24): channels, layers (shared weights), IPA heads and point counts, the
/// transition's depth, the side-chain (angle) network's channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StructureModuleConfig {
    pub channel: usize,
    pub layers: usize,
    pub ipa_heads: usize,
    pub ipa_scalar_qk: usize,
    pub ipa_scalar_v: usize,
    pub ipa_point_qk: usize,
    pub ipa_point_v: usize,
    pub transition_layers: usize,
    pub sidechain_channel: usize,
}

/// Heads: pLDDT hidden channels and bins, distogram bins, PAE bins (`None`: no PAE head, non-ptm models).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadsConfig {
    pub plddt_channels: usize,
    pub plddt_bins: usize,
    pub distogram_bins: usize,
    pub pae_bins: Option<usize>,
}

/// Input pipeline: cluster centres (512; template models reserve 4 rows for templates, leaving 508) and
/// extra rows kept (model_1/3/4: 5120, model_2/5: 1024; AlphaFold2's `CONFIG_DIFFS`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    pub max_msa_clusters: usize,
    pub max_extra_msa: usize,
}

/// The configuration as model files before format 2 stored it: one flat object.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlatConfig {
    msa_channel: usize,
    pair_channel: usize,
    extra_msa_channel: usize,
    seq_channel: usize,
    evoformer_num_block: usize,
    extra_msa_stack_num_block: usize,
    max_relative_feature: usize,
    prev_pos_min_bin: f32,
    prev_pos_max_bin: f32,
    prev_pos_num_bins: usize,
    templates: bool,
    num_recycle: usize,
    msa_heads: usize,
    pair_heads: usize,
    transition_factor: usize,
    outer_product_channels: usize,
    triangle_multiplication_channels: usize,
    template_pair_channel: usize,
    template_pair_blocks: usize,
    template_heads: usize,
    structure_channel: usize,
    structure_layers: usize,
    ipa_heads: usize,
    ipa_scalar_qk: usize,
    ipa_scalar_v: usize,
    ipa_point_qk: usize,
    ipa_point_v: usize,
    structure_transition_layers: usize,
    sidechain_channel: usize,
    plddt_channels: usize,
    plddt_bins: usize,
    distogram_bins: usize,
    pae_bins: Option<usize>,
    max_msa_clusters: usize,
    max_extra_msa: usize,
}

impl From<FlatConfig> for ModelConfig {
    fn from(f: FlatConfig) -> Self {
        Self {
            kind: ModelKind::Monomer,
            evoformer: EvoformerConfig {
                msa_channel: f.msa_channel,
                pair_channel: f.pair_channel,
                extra_msa_channel: f.extra_msa_channel,
                seq_channel: f.seq_channel,
                num_block: f.evoformer_num_block,
                extra_msa_num_block: f.extra_msa_stack_num_block,
                max_relative_feature: f.max_relative_feature,
                prev_pos_min_bin: f.prev_pos_min_bin,
                prev_pos_max_bin: f.prev_pos_max_bin,
                prev_pos_num_bins: f.prev_pos_num_bins,
                msa_heads: f.msa_heads,
                pair_heads: f.pair_heads,
                transition_factor: f.transition_factor,
                outer_product_channels: f.outer_product_channels,
                triangle_multiplication_channels: f.triangle_multiplication_channels,
                templates: f.templates,
                template: TemplateConfig {
                    pair_channel: f.template_pair_channel,
                    pair_blocks: f.template_pair_blocks,
                    heads: f.template_heads,
                    triangle_multiplication_channels: None,
                },
            },
            structure_module: StructureModuleConfig {
                channel: f.structure_channel,
                layers: f.structure_layers,
                ipa_heads: f.ipa_heads,
                ipa_scalar_qk: f.ipa_scalar_qk,
                ipa_scalar_v: f.ipa_scalar_v,
                ipa_point_qk: f.ipa_point_qk,
                ipa_point_v: f.ipa_point_v,
                transition_layers: f.structure_transition_layers,
                sidechain_channel: f.sidechain_channel,
            },
            heads: HeadsConfig {
                plddt_channels: f.plddt_channels,
                plddt_bins: f.plddt_bins,
                distogram_bins: f.distogram_bins,
                pae_bins: f.pae_bins,
            },
            input: InputConfig {
                max_msa_clusters: f.max_msa_clusters,
                max_extra_msa: f.max_extra_msa,
            },
            num_recycle: f.num_recycle,
        }
    }
}

impl ModelConfig {
    /// Reads the configuration JSON of a model file: the grouped form, or the flat form of model files
    /// written before the grouping.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        let v: serde_json::Value = serde_json::from_str(text)?;
        if v.get("evoformer").is_some() {
            serde_json::from_value(v)
        } else {
            serde_json::from_value::<FlatConfig>(v).map(Self::from)
        }
    }

    /// Checks that the sizes describe a network that can exist (a configuration read from a model file is
    /// untrusted): every count positive where the network divides by it or needs one, channels divisible by
    /// their heads, and nothing absurdly large. Names the first offending field.
    pub fn validate(&self) -> Result<(), String> {
        const MAX_CHANNELS: usize = 1 << 14;
        const MAX_BLOCKS: usize = 1 << 10;
        let positive = [
            ("evoformer.msa_channel", self.evoformer.msa_channel),
            ("evoformer.pair_channel", self.evoformer.pair_channel),
            (
                "evoformer.extra_msa_channel",
                self.evoformer.extra_msa_channel,
            ),
            ("evoformer.seq_channel", self.evoformer.seq_channel),
            ("evoformer.msa_heads", self.evoformer.msa_heads),
            ("evoformer.pair_heads", self.evoformer.pair_heads),
            (
                "evoformer.transition_factor",
                self.evoformer.transition_factor,
            ),
            (
                "evoformer.outer_product_channels",
                self.evoformer.outer_product_channels,
            ),
            (
                "evoformer.triangle_multiplication_channels",
                self.evoformer.triangle_multiplication_channels,
            ),
            (
                "evoformer.template.pair_channel",
                self.evoformer.template.pair_channel,
            ),
            ("evoformer.template.heads", self.evoformer.template.heads),
            ("structure_module.channel", self.structure_module.channel),
            ("structure_module.layers", self.structure_module.layers),
            (
                "structure_module.ipa_heads",
                self.structure_module.ipa_heads,
            ),
            (
                "structure_module.sidechain_channel",
                self.structure_module.sidechain_channel,
            ),
            ("heads.plddt_channels", self.heads.plddt_channels),
            ("heads.plddt_bins", self.heads.plddt_bins),
            ("heads.distogram_bins", self.heads.distogram_bins),
            (
                "evoformer.prev_pos_num_bins",
                self.evoformer.prev_pos_num_bins,
            ),
            ("input.max_msa_clusters", self.input.max_msa_clusters),
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
            ("evoformer.num_block", self.evoformer.num_block),
            (
                "evoformer.extra_msa_num_block",
                self.evoformer.extra_msa_num_block,
            ),
            (
                "evoformer.template.pair_blocks",
                self.evoformer.template.pair_blocks,
            ),
            (
                "structure_module.transition_layers",
                self.structure_module.transition_layers,
            ),
            (
                "evoformer.max_relative_feature",
                self.evoformer.max_relative_feature,
            ),
            (
                "structure_module.ipa_scalar_qk",
                self.structure_module.ipa_scalar_qk,
            ),
            (
                "structure_module.ipa_scalar_v",
                self.structure_module.ipa_scalar_v,
            ),
            (
                "structure_module.ipa_point_qk",
                self.structure_module.ipa_point_qk,
            ),
            (
                "structure_module.ipa_point_v",
                self.structure_module.ipa_point_v,
            ),
        ] {
            if v > MAX_BLOCKS {
                return Err(format!("{name} is {v}, more than {MAX_BLOCKS}"));
            }
        }
        if let Some(t) = self.evoformer.template.triangle_multiplication_channels {
            if t == 0 || t > MAX_CHANNELS {
                return Err(format!(
                    "evoformer.template.triangle_multiplication_channels is {t}"
                ));
            }
        }
        if self.num_recycle > MAX_NUM_RECYCLE {
            return Err(format!(
                "num_recycle is {}, more than {MAX_NUM_RECYCLE}",
                self.num_recycle
            ));
        }
        if self
            .heads
            .pae_bins
            .is_some_and(|b| b == 0 || b > MAX_CHANNELS)
        {
            return Err(format!("heads.pae_bins is {:?}", self.heads.pae_bins));
        }
        if self.input.max_extra_msa > 1 << 20 {
            return Err(format!(
                "input.max_extra_msa is {}",
                self.input.max_extra_msa
            ));
        }
        for (name, c, h) in [
            (
                "evoformer.msa_channel",
                self.evoformer.msa_channel,
                self.evoformer.msa_heads,
            ),
            (
                "evoformer.extra_msa_channel",
                self.evoformer.extra_msa_channel,
                self.evoformer.msa_heads,
            ),
            (
                "evoformer.pair_channel",
                self.evoformer.pair_channel,
                self.evoformer.pair_heads,
            ),
            (
                "evoformer.template.pair_channel",
                self.evoformer.template.pair_channel,
                self.evoformer.template.heads,
            ),
        ] {
            if c % h != 0 {
                return Err(format!("{name} {c} is not divisible by its {h} heads"));
            }
        }
        if !(self.evoformer.prev_pos_min_bin.is_finite()
            && self.evoformer.prev_pos_max_bin.is_finite()
            && self.evoformer.prev_pos_min_bin < self.evoformer.prev_pos_max_bin)
        {
            return Err(format!(
                "recycled distogram bins {}..{} are not an increasing range",
                self.evoformer.prev_pos_min_bin, self.evoformer.prev_pos_max_bin
            ));
        }
        Ok(())
    }

    /// AlphaFold2 model_1_ptm (Suppl. Table 5 / `config.py`): c_m 256, c_z 128, c_e 64, c_s 384, 48 Evoformer
    /// blocks, 4 extra-MSA blocks, templates, 3 recycles.
    pub fn model_1_ptm() -> Self {
        Self {
            kind: ModelKind::Monomer,
            evoformer: EvoformerConfig {
                msa_channel: 256,
                pair_channel: 128,
                extra_msa_channel: 64,
                seq_channel: 384,
                num_block: 48,
                extra_msa_num_block: 4,
                max_relative_feature: 32,
                prev_pos_min_bin: 3.25,
                prev_pos_max_bin: 20.75,
                prev_pos_num_bins: 15,
                msa_heads: 8,
                pair_heads: 4,
                transition_factor: 4,
                outer_product_channels: 32,
                triangle_multiplication_channels: 128,
                templates: true,
                template: TemplateConfig {
                    pair_channel: 64,
                    pair_blocks: 2,
                    heads: 4,
                    triangle_multiplication_channels: None,
                },
            },
            structure_module: StructureModuleConfig {
                channel: 384,
                layers: 8,
                ipa_heads: 12,
                ipa_scalar_qk: 16,
                ipa_scalar_v: 16,
                ipa_point_qk: 4,
                ipa_point_v: 8,
                transition_layers: 3,
                sidechain_channel: 128,
            },
            heads: HeadsConfig {
                plddt_channels: 128,
                plddt_bins: 50,
                distogram_bins: 64,
                pae_bins: Some(64),
            },
            input: InputConfig {
                max_msa_clusters: 508,
                max_extra_msa: 5120,
            },
            num_recycle: 3,
        }
    }

    /// A preset by AlphaFold2's model name: `model_1` … `model_5`, each optionally `_ptm` (the ptm models
    /// add the predicted-aligned-error head). model_1/2 use templates, model_3/4/5 do not (AlphaFold2's
    /// `CONFIG_DIFFS`); all share the trunk and structure-module sizes.
    pub fn preset(name: &str) -> Option<Self> {
        if let Some(base) = name.strip_suffix("_multimer_v3") {
            return Self::multimer_preset(base);
        }
        let (base, ptm) = match name.strip_suffix("_ptm") {
            Some(b) => (b, true),
            None => (name, false),
        };
        let mut c = Self::model_1_ptm();
        c.evoformer.templates = match base {
            "model_1" | "model_2" => true,
            "model_3" | "model_4" | "model_5" => false,
            _ => return None,
        };
        c.heads.pae_bins = ptm.then_some(64);
        c.input.max_msa_clusters = if c.evoformer.templates { 508 } else { 512 };
        c.input.max_extra_msa = if matches!(base, "model_2" | "model_5") {
            1024
        } else {
            5120
        };
        Some(c)
    }

    /// AlphaFold2 v2.3's `model_1_multimer_v3` … `model_5_multimer_v3` (`CONFIG_MULTIMER`): the monomer
    /// trunk and structure-module sizes, templates with a 64-channel triangle multiplication, 508 sampled
    /// cluster rows and 2,048 extra rows (1,152 for model_4/5), 20 recycles (stopped early at 0.5 Å by
    /// the caller, see [`crate::model::net::alphafold::EarlyStop`]).
    pub fn multimer_preset(base: &str) -> Option<Self> {
        if !matches!(
            base,
            "model_1" | "model_2" | "model_3" | "model_4" | "model_5"
        ) {
            return None;
        }
        let mut c = Self::model_1_ptm();
        c.kind = ModelKind::Multimer;
        c.evoformer.template.triangle_multiplication_channels = Some(64);
        c.input.max_msa_clusters = 508;
        c.input.max_extra_msa = if matches!(base, "model_4" | "model_5") {
            1152
        } else {
            2048
        };
        c.num_recycle = 20;
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
        if w.has_prefix(&format!(
            "{ROOT}/evoformer/~_relative_encoding/position_activations/"
        )) {
            c.kind = ModelKind::Multimer;
            c.input.max_extra_msa = 2048;
            c.evoformer.triangle_multiplication_channels = dim(
                "evoformer/evoformer_iteration/triangle_multiplication_outgoing/projection//weights",
                2,
            )? / 2;
            let t = "evoformer/template_embedding/single_template_embedding";
            if w.has_prefix(&format!("{ROOT}/{t}/")) {
                c.evoformer.template.pair_channel =
                    dim(&format!("{t}/template_pair_embedding_0//weights"), 1)?;
                c.evoformer.template.pair_blocks = dim(
                    &format!(
                        "{t}/template_embedding_iteration/pair_transition/transition1//weights"
                    ),
                    0,
                )?;
                c.evoformer.template.triangle_multiplication_channels = Some(
                    dim(
                        &format!("{t}/template_embedding_iteration/triangle_multiplication_outgoing/projection//weights"),
                        2,
                    )? / 2,
                );
            }
        }
        c.evoformer.msa_channel = cols("preprocess_1d")?;
        c.evoformer.pair_channel = cols("left_single")?;
        c.evoformer.extra_msa_channel = cols("extra_msa_activations")?;
        c.evoformer.seq_channel = cols("single_activations")?;
        c.evoformer.num_block = blocks("evoformer_iteration")?;
        c.evoformer.extra_msa_num_block = blocks("extra_msa_stack")?;
        c.evoformer.templates = w.has_prefix(&format!("{ROOT}/evoformer/template_embedding/"));
        c.input.max_msa_clusters = if c.evoformer.templates || c.kind == ModelKind::Multimer {
            508
        } else {
            512
        };
        c.structure_module.channel = dim("structure_module/initial_projection//weights", 1)?;
        c.structure_module.sidechain_channel = dim(
            "structure_module/fold_iteration/rigid_sidechain/input_projection//weights",
            1,
        )?;
        c.heads.plddt_channels = dim("predicted_lddt_head/act_0//weights", 1)?;
        c.heads.pae_bins = dim("predicted_aligned_error_head/logits//weights", 1).ok();
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
    /// Runs the extra-MSA stack and the Evoformer somewhere else (the GPU engine installs one); `None`:
    /// on the CPU.
    pub stack_runner: Option<StackRunner>,
}

/// Runs the trunk's stacks somewhere other than the CPU engine (the GPU engine's [`crate::gpu`]). Each
/// method runs its stack in place and returns `true`, or returns `false` to leave it to the CPU engine.
pub trait StackBackend: Send + Sync {
    /// An extra-MSA stack or the Evoformer.
    fn evoformer_stack(
        &self,
        stack: &crate::model::net::evoformer::EvoformerStack,
        act: &mut crate::model::net::evoformer::Activations,
        msa_mask: &ndarray::Array2<f32>,
        pair_mask: &ndarray::Array2<f32>,
        rt: &RuntimeOptions,
    ) -> bool;

    /// The template pair stack of one template (`act [N, N, c_t]`).
    fn template_pair_stack(
        &self,
        blocks: &[crate::model::net::template_embedding::TemplatePairBlock],
        act: &mut ndarray::Array3<f32>,
        pair_mask: &ndarray::Array2<f32>,
        rt: &RuntimeOptions,
    ) -> bool;

    /// The structure module's pair terms over the layer-normed pair `[N, N, c_z]` for one structure
    /// module run; `None` to leave them to the CPU engine.
    fn structure_pair(&self, pair_ln: &ndarray::Array3<f32>) -> Option<Box<dyn PairTerms + '_>> {
        let _ = pair_ln;
        None
    }
}

/// The structure module's two pair-sized terms of invariant point attention (Suppl. Alg. 22 lines 7
/// and 10), computed elsewhere from the layer-normed pair representation it was opened with. `None`:
/// not done (a failure, logged by the backend); the CPU engine computes the term instead.
pub trait PairTerms {
    /// `pair [N·N, c_z] @ weights + bias` (`attention_2d`, the pair bias of every head): `[N·N, H]`.
    fn project(&self, lin: &crate::model::ops::primitives::Linear) -> Option<ndarray::Array2<f32>>;

    /// `Σ_j attn[h][i, j] · pair[i, j, :]` for the attention weights of every head: `[N, H, c_z]`.
    fn attend(&self, attn: &[ndarray::Array2<f32>]) -> Option<ndarray::Array3<f32>>;
}

/// A stack backend (see [`RuntimeOptions::stack_runner`]); compared by identity.
#[derive(Clone)]
pub struct StackRunner(pub std::sync::Arc<dyn StackBackend>);

impl std::fmt::Debug for StackRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StackRunner")
    }
}

impl PartialEq for StackRunner {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for StackRunner {}

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
            stack_runner: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration as a model file written before the grouping stored it (the demo model's).
    const FLAT: &str = r#"{"msa_channel":64,"pair_channel":32,"extra_msa_channel":16,"seq_channel":64,"evoformer_num_block":4,"extra_msa_stack_num_block":1,"max_relative_feature":32,"prev_pos_min_bin":3.25,"prev_pos_max_bin":20.75,"prev_pos_num_bins":15,"templates":false,"num_recycle":1,"msa_heads":8,"pair_heads":4,"transition_factor":4,"outer_product_channels":32,"triangle_multiplication_channels":32,"template_pair_channel":64,"template_pair_blocks":2,"template_heads":4,"structure_channel":64,"structure_layers":4,"ipa_heads":12,"ipa_scalar_qk":16,"ipa_scalar_v":16,"ipa_point_qk":4,"ipa_point_v":8,"structure_transition_layers":3,"sidechain_channel":32,"plddt_channels":32,"plddt_bins":50,"distogram_bins":64,"pae_bins":64,"max_msa_clusters":128,"max_extra_msa":256}"#;

    #[test]
    fn flat_configs_of_older_model_files_still_read() {
        let c = ModelConfig::from_json(FLAT).unwrap();
        assert_eq!(c.evoformer.num_block, 4);
        assert_eq!(c.evoformer.extra_msa_num_block, 1);
        assert_eq!(c.evoformer.template.pair_channel, 64);
        assert_eq!(c.structure_module.transition_layers, 3);
        assert_eq!(c.heads.pae_bins, Some(64));
        assert_eq!(c.input.max_extra_msa, 256);
        // The grouped form round-trips.
        let text = serde_json::to_string(&c).unwrap();
        assert!(text.starts_with(r#"{"kind":"monomer","evoformer":{"#));
        assert_eq!(ModelConfig::from_json(&text).unwrap(), c);
    }

    #[test]
    fn unknown_or_missing_fields_are_named() {
        let e = ModelConfig::from_json(&FLAT.replace("\"ipa_heads\":12,", "")).unwrap_err();
        assert!(e.to_string().contains("ipa_heads"), "{e}");
        let mut v: serde_json::Value = serde_json::to_value(ModelConfig::model_1_ptm()).unwrap();
        v["heads"]["plddt_binz"] = 3.into();
        let e = ModelConfig::from_json(&v.to_string()).unwrap_err();
        assert!(e.to_string().contains("plddt_binz"), "{e}");
    }
}
