//! Jumper et al. (2021) Suppl. Alg. 6 "EvoformerStack" (lines 2-10: one block) and Alg. 18
//! "ExtraMsaStack" (the same block with global column attention, Alg. 19).

pub mod msa_attention;
pub mod outer_product_mean;
pub mod transition;
pub mod triangle_attention;
pub mod triangle_multiplication;

use ndarray::{Array2, Array3};

use super::config::RuntimeOptions;
use super::weights::{Scope, WeightError};
use msa_attention::{column_attention, column_global_attention, row_attention_with_pair_bias};
use outer_product_mean::outer_product_mean;
use transition::transition;
use triangle_attention::{triangle_attention, Node};
use triangle_multiplication::{triangle_multiplication, Direction};

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

/// One block (AlphaFold2's `EvoformerIteration`, outer product mean after the MSA updates), in place.
pub fn block(
    act: &mut Activations,
    msa_mask: &Array2<f32>,
    pair_mask: &Array2<f32>,
    scope: &Scope,
    kind: StackKind,
    rt: &RuntimeOptions,
) -> Result<(), WeightError> {
    let c_z = act.pair.dim().2;
    let update = row_attention_with_pair_bias(
        &act.msa,
        msa_mask.view(),
        &act.pair,
        &scope.sub("msa_row_attention_with_pair_bias"),
    )?;
    add_in_place(&mut act.msa, update);
    let update = match kind {
        StackKind::Evoformer => column_attention(
            &act.msa,
            msa_mask.view(),
            &scope.sub("msa_column_attention"),
        )?,
        StackKind::ExtraMsa => column_global_attention(
            &act.msa,
            msa_mask.view(),
            &scope.sub("msa_column_global_attention"),
        )?,
    };
    add_in_place(&mut act.msa, update);
    let update = transition(&act.msa, &scope.sub("msa_transition"), rt)?;
    add_in_place(&mut act.msa, update);
    let update = outer_product_mean(
        &act.msa,
        msa_mask.view(),
        &scope.sub("outer_product_mean"),
        c_z,
    )?;
    add_in_place(&mut act.pair, update);
    let update = triangle_multiplication(
        &act.pair,
        pair_mask.view(),
        &scope.sub("triangle_multiplication_outgoing"),
        Direction::Outgoing,
        rt,
    )?;
    add_in_place(&mut act.pair, update);
    let update = triangle_multiplication(
        &act.pair,
        pair_mask.view(),
        &scope.sub("triangle_multiplication_incoming"),
        Direction::Incoming,
        rt,
    )?;
    add_in_place(&mut act.pair, update);
    let update = triangle_attention(
        &act.pair,
        pair_mask.view(),
        &scope.sub("triangle_attention_starting_node"),
        Node::Starting,
    )?;
    add_in_place(&mut act.pair, update);
    let update = triangle_attention(
        &act.pair,
        pair_mask.view(),
        &scope.sub("triangle_attention_ending_node"),
        Node::Ending,
    )?;
    add_in_place(&mut act.pair, update);
    let update = transition(&act.pair, &scope.sub("pair_transition"), rt)?;
    add_in_place(&mut act.pair, update);
    Ok(())
}

/// `x += update`, in parallel over the leading axis (the residual adds touch the whole MSA).
fn add_in_place(x: &mut Array3<f32>, update: Array3<f32>) {
    ndarray::Zip::from(x)
        .and(&update)
        .par_for_each(|v, &u| *v += u);
}

/// A stack of `num_blocks` blocks whose parameters carry a leading block axis.
pub fn stack(
    act: &mut Activations,
    msa_mask: &Array2<f32>,
    pair_mask: &Array2<f32>,
    scope: &Scope,
    kind: StackKind,
    num_blocks: usize,
    rt: &RuntimeOptions,
) -> Result<(), WeightError> {
    for i in 0..num_blocks {
        block(act, msa_mask, pair_mask, &scope.layer(i), kind, rt)?;
        if let Some(hook) = &rt.on_block {
            (hook.0)();
        }
    }
    Ok(())
}
