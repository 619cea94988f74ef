//! The template parameters of model_1 and model_2 (Jumper et al. (2021) Suppl. Alg. 16
//! "TemplatePairStack", Alg. 17 "TemplatePointwiseAttention", and the template torsion-angle rows of
//! Suppl. 1.4 / Alg. 2 lines 7-8), loaded and shape-checked so that a model file with templates is
//! validated tensor by tensor like every other module.
//!
//! DISCREPANCY: the template forward pass is not implemented yet (the trunk refuses features with
//! templates; with no templates AlphaFold2's template contributions are masked to zero, so predictions
//! without templates are unaffected). These loaders are where it will attach.

use crate::model::ops::primitives::{Attention, AttentionDims, LayerNorm, Linear};
use crate::model::params::config::ModelConfig;
use crate::model::params::weights::{Scope, WeightError};

/// Template angle features (Suppl. Table 1: 22 residue classes, 14 torsion sin/cos, 14 alternative
/// sin/cos, 7 torsion masks).
pub const TEMPLATE_ANGLE_FEAT_CHANNELS: usize = 57;
/// Template pair features (Suppl. Table 1: distogram 39, mask 1, residue classes 22 + 22, unit vector 3,
/// backbone mask 1; AlphaFold2's `dgram_features` layout).
pub const TEMPLATE_PAIR_FEAT_CHANNELS: usize = 88;

/// One block of the template pair stack (Alg. 16): triangle updates and a transition at the template
/// pair width.
#[derive(Debug, Clone)]
pub struct TemplatePairBlock<'w> {
    pub triangle_multiplication_outgoing:
        crate::model::net::evoformer::triangle_multiplication::TriangleMultiplication<'w>,
    pub triangle_multiplication_incoming:
        crate::model::net::evoformer::triangle_multiplication::TriangleMultiplication<'w>,
    pub triangle_attention_starting_node:
        crate::model::net::evoformer::triangle_attention::TriangleAttention<'w>,
    pub triangle_attention_ending_node:
        crate::model::net::evoformer::triangle_attention::TriangleAttention<'w>,
    pub pair_transition: crate::model::net::evoformer::transition::Transition<'w>,
}

/// Everything below `evoformer/template_*`.
#[derive(Debug, Clone)]
pub struct TemplateEmbedding<'w> {
    pub template_single_embedding: Linear<'w>,
    pub template_projection: Linear<'w>,
    pub pointwise_attention: Attention<'w>,
    pub embedding2d: Linear<'w>,
    pub pair_stack: Vec<TemplatePairBlock<'w>>,
    pub output_layer_norm: LayerNorm<'w>,
}

impl<'w> TemplateEmbedding<'w> {
    /// Below the `evoformer` scope.
    pub fn load(evo: &Scope<'w>, cfg: &ModelConfig) -> Result<Self, WeightError> {
        use crate::model::net::evoformer::{
            transition::Transition,
            triangle_attention::{Node, TriangleAttention},
            triangle_multiplication::{Direction, TriangleMultiplication},
        };
        let (c_m, c_z, tc, th) = (
            cfg.evoformer.msa_channel,
            cfg.evoformer.pair_channel,
            cfg.evoformer.template.pair_channel,
            cfg.evoformer.template.heads,
        );
        let t = evo.sub("template_embedding");
        let single = t.sub("single_template_embedding");
        let stack = single
            .sub("template_pair_stack/__layer_stack_no_state")
            .stacked(cfg.evoformer.template.pair_blocks);
        let pair_stack = (0..cfg.evoformer.template.pair_blocks)
            .map(|i| {
                let b = stack.layer(i);
                Ok(TemplatePairBlock {
                    triangle_multiplication_outgoing: TriangleMultiplication::load(
                        &b.sub("triangle_multiplication_outgoing"),
                        Direction::Outgoing,
                        tc,
                        tc,
                    )?,
                    triangle_multiplication_incoming: TriangleMultiplication::load(
                        &b.sub("triangle_multiplication_incoming"),
                        Direction::Incoming,
                        tc,
                        tc,
                    )?,
                    triangle_attention_starting_node: TriangleAttention::load(
                        &b.sub("triangle_attention_starting_node"),
                        Node::Starting,
                        tc,
                        th,
                    )?,
                    triangle_attention_ending_node: TriangleAttention::load(
                        &b.sub("triangle_attention_ending_node"),
                        Node::Ending,
                        tc,
                        th,
                    )?,
                    pair_transition: Transition::load(&b.sub("pair_transition"), tc, 2)?,
                })
            })
            .collect::<Result<_, WeightError>>()?;
        Ok(Self {
            template_single_embedding: Linear::load(
                &evo.sub("template_single_embedding"),
                TEMPLATE_ANGLE_FEAT_CHANNELS,
                c_m,
            )?,
            template_projection: Linear::load(&evo.sub("template_projection"), c_m, c_m)?,
            pointwise_attention: Attention::load(
                &t.sub("attention"),
                AttentionDims {
                    c_q: c_z,
                    c_kv: tc,
                    heads: th,
                    key_dim: tc / th,
                    value_dim: tc / th,
                    c_out: c_z,
                    gating: false,
                },
            )?,
            embedding2d: Linear::load(&single.sub("embedding2d"), TEMPLATE_PAIR_FEAT_CHANNELS, tc)?,
            pair_stack,
            output_layer_norm: LayerNorm::load(&single.sub("output_layer_norm"), tc)?,
        })
    }
}
