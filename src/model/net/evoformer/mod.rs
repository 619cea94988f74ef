//! Jumper et al. (2021) Suppl. Alg. 6 "EvoformerStack" (lines 2-10: one block) and Alg. 18
//! "ExtraMsaStack" (the same block with global column attention, Alg. 19).

pub mod msa_attention;
pub mod outer_product_mean;
pub mod transition;
pub mod triangle_attention;
pub mod triangle_multiplication;

use ndarray::{Array2, Array3};

use crate::model::params::config::{ModelConfig, RuntimeOptions};
use crate::model::params::weights::{Scope, WeightError};
use msa_attention::{MsaColumnAttention, MsaColumnGlobalAttention, MsaRowAttentionWithPairBias};
use outer_product_mean::OuterProductMean;
use transition::Transition;
use triangle_attention::{Node, TriangleAttention};
use triangle_multiplication::{Direction, TriangleMultiplication};

/// MSA and pair activations with their masks.
pub struct Activations {
    /// `[N_seq, N_res, c_m]`
    pub msa: Array3<f32>,
    /// `[N_res, N_res, c_z]`
    pub pair: Array3<f32>,
}

/// Which stack a block belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackKind {
    Evoformer,
    ExtraMsa,
}

/// The column attention of a block: per-head (Evoformer) or global (extra-MSA stack).
#[derive(Debug, Clone)]
pub enum ColumnAttention<'w> {
    PerHead(MsaColumnAttention<'w>),
    Global(MsaColumnGlobalAttention<'w>),
}

/// One block (AlphaFold2's `EvoformerIteration`: the outer product mean after the MSA updates in the
/// monomer models, before them in AlphaFold-Multimer, `outer_product_mean.first`).
#[derive(Debug, Clone)]
pub struct EvoformerBlock<'w> {
    pub outer_product_mean_first: bool,
    pub msa_row_attention_with_pair_bias: MsaRowAttentionWithPairBias<'w>,
    pub msa_column_attention: ColumnAttention<'w>,
    pub msa_transition: Transition<'w>,
    pub outer_product_mean: OuterProductMean<'w>,
    pub triangle_multiplication_outgoing: TriangleMultiplication<'w>,
    pub triangle_multiplication_incoming: TriangleMultiplication<'w>,
    pub triangle_attention_starting_node: TriangleAttention<'w>,
    pub triangle_attention_ending_node: TriangleAttention<'w>,
    pub pair_transition: Transition<'w>,
}

impl<'w> EvoformerBlock<'w> {
    /// A block of the Evoformer (`c_m` MSA channels) or of the extra-MSA stack (`c_e`), with the
    /// sub-module sizes of `cfg`.
    pub fn load(
        scope: &Scope<'w>,
        kind: StackKind,
        cfg: &ModelConfig,
    ) -> Result<Self, WeightError> {
        let c_m = match kind {
            StackKind::Evoformer => cfg.evoformer.msa_channel,
            StackKind::ExtraMsa => cfg.evoformer.extra_msa_channel,
        };
        let (c_z, h, f) = (
            cfg.evoformer.pair_channel,
            cfg.evoformer.msa_heads,
            cfg.evoformer.transition_factor,
        );
        let tri = cfg.evoformer.triangle_multiplication_channels;
        let multimer = cfg.kind == crate::model::params::config::ModelKind::Multimer;
        // AlphaFold-Multimer's parameters fuse the two projections of a triangle multiplication.
        let tri_mult = |name: &str, d: Direction| {
            TriangleMultiplication::load_for(cfg.kind, &scope.sub(name), d, c_z, tri)
        };
        Ok(Self {
            outer_product_mean_first: multimer,
            msa_row_attention_with_pair_bias: MsaRowAttentionWithPairBias::load(
                &scope.sub("msa_row_attention_with_pair_bias"),
                c_m,
                c_z,
                h,
            )?,
            msa_column_attention: match kind {
                StackKind::Evoformer => ColumnAttention::PerHead(MsaColumnAttention::load(
                    &scope.sub("msa_column_attention"),
                    c_m,
                    h,
                )?),
                StackKind::ExtraMsa => ColumnAttention::Global(MsaColumnGlobalAttention::load(
                    &scope.sub("msa_column_global_attention"),
                    c_m,
                    h,
                )?),
            },
            msa_transition: Transition::load(&scope.sub("msa_transition"), c_m, f)?,
            outer_product_mean: OuterProductMean::load(
                &scope.sub("outer_product_mean"),
                c_m,
                cfg.evoformer.outer_product_channels,
                c_z,
            )?,
            triangle_multiplication_outgoing: tri_mult(
                "triangle_multiplication_outgoing",
                Direction::Outgoing,
            )?,
            triangle_multiplication_incoming: tri_mult(
                "triangle_multiplication_incoming",
                Direction::Incoming,
            )?,
            triangle_attention_starting_node: TriangleAttention::load(
                &scope.sub("triangle_attention_starting_node"),
                Node::Starting,
                c_z,
                cfg.evoformer.pair_heads,
            )?,
            triangle_attention_ending_node: TriangleAttention::load(
                &scope.sub("triangle_attention_ending_node"),
                Node::Ending,
                c_z,
                cfg.evoformer.pair_heads,
            )?,
            pair_transition: Transition::load(&scope.sub("pair_transition"), c_z, f)?,
        })
    }

    /// Runs the block on `act`, in place.
    pub fn forward(
        &self,
        act: &mut Activations,
        msa_mask: &Array2<f32>,
        pair_mask: &Array2<f32>,
        rt: &RuntimeOptions,
    ) {
        let (msa_mask, pair_mask) = (msa_mask.view(), pair_mask.view());
        // Every module adds its update to the activations in place as it computes it (no update
        // arrays; the same values as adding a whole update afterwards).
        let (msa, pair) = (&mut act.msa, &mut act.pair);
        if self.outer_product_mean_first {
            self.outer_product_mean.add_to(msa, msa_mask, pair);
        }
        self.msa_row_attention_with_pair_bias
            .add_to(msa, msa_mask, pair);
        match &self.msa_column_attention {
            ColumnAttention::PerHead(m) => m.add_to(msa, msa_mask),
            ColumnAttention::Global(m) => m.add_to(msa, msa_mask),
        }
        self.msa_transition.add_to(msa, rt);
        if !self.outer_product_mean_first {
            self.outer_product_mean.add_to(msa, msa_mask, pair);
        }
        self.triangle_multiplication_outgoing
            .add_to(pair, pair_mask, rt);
        self.triangle_multiplication_incoming
            .add_to(pair, pair_mask, rt);
        self.triangle_attention_starting_node
            .add_to(pair, pair_mask);
        self.triangle_attention_ending_node.add_to(pair, pair_mask);
        self.pair_transition.add_to(pair, rt);
    }
}

/// A stack of blocks whose parameters carry a leading block axis.
#[derive(Debug, Clone)]
pub struct EvoformerStack<'w> {
    pub blocks: Vec<EvoformerBlock<'w>>,
}

impl<'w> EvoformerStack<'w> {
    /// `num_blocks` blocks of `kind` under `scope` (a layer stack).
    pub fn load(
        scope: &Scope<'w>,
        kind: StackKind,
        num_blocks: usize,
        cfg: &ModelConfig,
    ) -> Result<Self, WeightError> {
        let stack = scope.stacked(num_blocks);
        let blocks = (0..num_blocks)
            .map(|i| EvoformerBlock::load(&stack.layer(i), kind, cfg))
            .collect::<Result<_, _>>()?;
        Ok(Self { blocks })
    }

    /// Runs every block in order, in place, calling `rt.on_block` after each.
    pub fn forward(
        &self,
        act: &mut Activations,
        msa_mask: &Array2<f32>,
        pair_mask: &Array2<f32>,
        rt: &RuntimeOptions,
    ) {
        if let Some(runner) = &rt.stack_runner {
            if runner.0.evoformer_stack(self, act, msa_mask, pair_mask, rt) {
                return;
            }
        }
        for block in &self.blocks {
            block.forward(act, msa_mask, pair_mask, rt);
            if let Some(hook) = &rt.on_block {
                (hook.0)();
            }
        }
    }
}
