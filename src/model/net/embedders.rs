//! Input embeddings: Jumper et al. (2021) Suppl. Alg. 3 "InputEmbedder" (with Alg. 4 "relpos" and Alg. 5
//! "one_hot"), Alg. 32 "RecyclingEmbedder", and the extra-MSA embedding of Alg. 2 line 11 (Suppl. 1.4).

use std::ops::AddAssign;

use ndarray::parallel::prelude::*;
use ndarray::{s, Array2, Array3, ArrayView2, ArrayView3, Axis, Zip};

use crate::model::input::trunk_inputs::{ChainIds, Recycled, TrunkInputs};
use crate::model::ops::primitives::{flat2, LayerNorm, Linear};
use crate::model::params::config::{ModelConfig, ModelKind, MAX_RELATIVE_CHAIN};
use crate::model::params::weights::{Scope, WeightError};
use crate::residue_constants as rc;

/// Channels of `target_feat` (Suppl. Table 1: the `between_segment_residues` flag and 21 residue classes).
pub const TARGET_FEAT_CHANNELS: usize = 22;
/// Channels of `msa_feat` (Suppl. Table 1: 23 cluster classes, deletion flag and value, 23 profile
/// classes, deletion mean).
pub const MSA_FEAT_CHANNELS: usize = 49;
/// Channels of the extra-MSA features (23 classes, deletion flag, deletion value).
pub const EXTRA_MSA_FEAT_CHANNELS: usize = 25;

/// Channels of `target_feat` for a kind of model: AlphaFold-Multimer drops the `between_segment_residues`
/// flag (21 residue classes only).
pub fn target_feat_channels(kind: ModelKind) -> usize {
    match kind {
        ModelKind::Monomer => TARGET_FEAT_CHANNELS,
        ModelKind::Multimer => TARGET_FEAT_CHANNELS - 1,
    }
}

/// Alg. 3 lines 1-5 (with Alg. 4 in [`RelPos`]): the initial MSA and pair representations.
#[derive(Debug, Clone)]
pub struct InputEmbedder<'w> {
    preprocess_1d: Linear<'w>,
    preprocess_msa: Linear<'w>,
    left_single: Linear<'w>,
    right_single: Linear<'w>,
}

impl<'w> InputEmbedder<'w> {
    /// Below the `evoformer` scope.
    pub fn load(evo: &Scope<'w>, cfg: &ModelConfig) -> Result<Self, WeightError> {
        let (c_m, c_z) = (cfg.evoformer.msa_channel, cfg.evoformer.pair_channel);
        let tf = target_feat_channels(cfg.kind);
        Ok(Self {
            preprocess_1d: Linear::load(&evo.sub("preprocess_1d"), tf, c_m)?,
            preprocess_msa: Linear::load(&evo.sub("preprocess_msa"), MSA_FEAT_CHANNELS, c_m)?,
            left_single: Linear::load(&evo.sub("left_single"), tf, c_z)?,
            right_single: Linear::load(&evo.sub("right_single"), tf, c_z)?,
        })
    }

    /// The MSA `[S, N, c_m]` and pair `[N, N, c_z]` representations.
    pub fn forward(&self, x: &TrunkInputs) -> (Array3<f32>, Array3<f32>) {
        self.forward_with_room(x, 0)
    }

    /// As [`InputEmbedder::forward`], with `extra_rows` zero rows allocated below the MSA (for the
    /// template rows, so that adding them copies nothing).
    pub fn forward_with_room(
        &self,
        x: &TrunkInputs,
        extra_rows: usize,
    ) -> (Array3<f32>, Array3<f32>) {
        let n = x.num_res();
        let (s, _, _) = x.msa_feat.dim();
        let tf = x.target_feat.view();
        let a1 = self.preprocess_1d.forward(tf);
        let c_m = self.preprocess_msa.c_out();
        let mut msa = Array3::<f32>::zeros((s + extra_rows, n, c_m));
        {
            let rows = msa
                .view_mut()
                .into_shape_with_order(((s + extra_rows) * n, c_m))
                .expect("fresh array");
            let (first, _) = rows.split_at(Axis(0), s * n);
            crate::model::ops::primitives::linear_into(
                flat2(&x.msa_feat),
                &self.preprocess_msa.weights,
                Some(self.preprocess_msa.bias),
                first,
            );
        }
        // Row-parallel element-wise passes (so are the embedders below): at L = 1,000 with 512 rows
        // these passes over the 0.5 GiB MSA and pair took most of a second, serially, per iteration.
        msa.slice_mut(s![..s, .., ..])
            .axis_iter_mut(Axis(0))
            .into_par_iter()
            .for_each(|mut row| row.add_assign(&a1));
        let left = self.left_single.forward(tf);
        let right = self.right_single.forward(tf);
        let mut pair = Array3::<f32>::zeros((n, n, self.left_single.c_out()));
        Zip::from(pair.outer_iter_mut())
            .and(left.rows())
            .par_for_each(|mut z, l| {
                // (0 + left) + right, the order (and signed zeros) of adding each to a zero pair.
                z += &l.insert_axis(Axis(0));
                z += &right;
            });
        (msa, pair)
    }
}

/// Alg. 4 "relpos": `pair += Linear(one_hot(clip(i - j, -32, 32)))`. A one-hot times a matrix is a row
/// lookup, so no GEMM is needed.
///
/// AlphaFold-Multimer's relative encoding (`use_chain_relative`): the clipped offset within a chain (one
/// more class, 2k + 1, for residues of different chains), whether the two residues belong to the same
/// entity, and the clipped difference of their copy indices (`sym_id`) within an entity (class 2c + 1
/// across entities): 66 + 1 + 6 one-hot inputs.
#[derive(Debug, Clone)]
pub struct RelPos<'w> {
    max_relative_feature: usize,
    with_chains: bool,
    linear: Linear<'w>,
}

impl<'w> RelPos<'w> {
    pub fn load(evo: &Scope<'w>, cfg: &ModelConfig) -> Result<Self, WeightError> {
        let k = cfg.evoformer.max_relative_feature;
        let (with_chains, scope, classes) = match cfg.kind {
            // sic: AlphaFold2's parameter name
            ModelKind::Monomer => (false, evo.sub("pair_activiations"), 2 * k + 1),
            ModelKind::Multimer => (
                true,
                evo.sub("~_relative_encoding/position_activations"),
                2 * k + 2 + 1 + 2 * MAX_RELATIVE_CHAIN + 2,
            ),
        };
        Ok(Self {
            max_relative_feature: k,
            with_chains,
            linear: Linear::load(&scope, classes, cfg.evoformer.pair_channel)?,
        })
    }

    /// Adds the encoding to `pair`. AlphaFold-Multimer's form reads `chains`; without them every residue
    /// is in one chain (a single chain's `asym_id`, `entity_id` and `sym_id` are all 1).
    pub fn forward(
        &self,
        pair: &mut Array3<f32>,
        residue_index: &[i32],
        chains: Option<&ChainIds>,
    ) {
        let (w, b) = (*self.linear.weights, self.linear.bias);
        let max = self.max_relative_feature as i64;
        let one_chain;
        let chains = match (self.with_chains, chains) {
            (false, _) => None,
            (true, Some(c)) => Some(c),
            (true, None) => {
                one_chain = ChainIds::single(residue_index.len());
                Some(&one_chain)
            }
        };
        let c = MAX_RELATIVE_CHAIN as i64;
        let rows = pair.outer_iter_mut().into_par_iter().enumerate();
        rows.for_each(|(i, mut pair_i)| {
            let ri = residue_index[i];
            for (j, &rj) in residue_index.iter().enumerate() {
                let off = (ri as i64 - rj as i64 + max).clamp(0, 2 * max) as usize;
                let mut z = pair_i.row_mut(j);
                z += &b;
                match chains {
                    None => z += &w.row(off),
                    Some(ch) => {
                        let same_chain = ch.asym_id[i] == ch.asym_id[j];
                        z += &w.row(if same_chain {
                            off
                        } else {
                            2 * max as usize + 1
                        });
                        let base = 2 * max as usize + 2;
                        let same_entity = ch.entity_id[i] == ch.entity_id[j];
                        if same_entity {
                            z += &w.row(base);
                        }
                        let rel = if same_entity {
                            (ch.sym_id[i] as i64 - ch.sym_id[j] as i64 + c).clamp(0, 2 * c) as usize
                        } else {
                            2 * c as usize + 1
                        };
                        z += &w.row(base + 1 + rel);
                    }
                }
            }
        });
    }
}

/// Pseudo-β positions `[N, 3]`: Cα for glycine, Cβ otherwise (AlphaFold2's `pseudo_beta_fn`).
pub(crate) fn pseudo_beta(aatype: &[i32], pos: ArrayView3<f32>) -> Array2<f32> {
    let gly = rc::RESTYPES
        .iter()
        .position(|&r| r == 'G')
        .expect("G is a restype") as i32;
    let ca = rc::atom37_index("CA").expect("CA");
    let cb = rc::atom37_index("CB").expect("CB");
    let mut out = Array2::zeros((aatype.len(), 3));
    for (i, &t) in aatype.iter().enumerate() {
        let a = if t == gly { ca } else { cb };
        out.row_mut(i).assign(&pos.slice(s![i, a, ..]));
    }
    out
}

/// Alg. 32 "RecyclingEmbedder": adds the layer-normed previous first MSA row and pair, and the one-hot
/// distogram of the previous pseudo-β positions (15 bins, lower edges 3.25 … 20.75 Å), to the new
/// representations.
#[derive(Debug, Clone)]
pub struct RecyclingEmbedder<'w> {
    min_bin: f32,
    max_bin: f32,
    num_bins: usize,
    prev_pos_linear: Linear<'w>,
    prev_msa_first_row_norm: LayerNorm<'w>,
    prev_pair_norm: LayerNorm<'w>,
}

impl<'w> RecyclingEmbedder<'w> {
    pub fn load(evo: &Scope<'w>, cfg: &ModelConfig) -> Result<Self, WeightError> {
        Ok(Self {
            min_bin: cfg.evoformer.prev_pos_min_bin,
            max_bin: cfg.evoformer.prev_pos_max_bin,
            num_bins: cfg.evoformer.prev_pos_num_bins,
            prev_pos_linear: Linear::load(
                &evo.sub("prev_pos_linear"),
                cfg.evoformer.prev_pos_num_bins,
                cfg.evoformer.pair_channel,
            )?,
            prev_msa_first_row_norm: LayerNorm::load(
                &evo.sub("prev_msa_first_row_norm"),
                cfg.evoformer.msa_channel,
            )?,
            prev_pair_norm: LayerNorm::load(
                &evo.sub("prev_pair_norm"),
                cfg.evoformer.pair_channel,
            )?,
        })
    }

    pub fn forward(
        &self,
        msa: &mut Array3<f32>,
        pair: &mut Array3<f32>,
        prev: &Recycled,
        aatype: &[i32],
    ) {
        let n = pair.dim().0;
        // Distogram of the previous pseudo-β positions, squared bin edges as AlphaFold2 compares squared distances.
        let x = pseudo_beta(aatype, prev.pos.view());
        let (lower, upper) = crate::model::net::template_embedding::dgram_edges(
            self.min_bin,
            self.max_bin,
            self.num_bins,
        );
        let (w, b) = (*self.prev_pos_linear.weights, self.prev_pos_linear.bias);
        let first = self
            .prev_msa_first_row_norm
            .forward(prev.msa_first_row.view());
        let mut row0 = msa.index_axis_mut(Axis(0), 0);
        row0 += &first;
        // Per pair row i: the distogram term, then the layer-normed previous pair row added (each
        // element's additions in the order of the whole-array form; the norm of row i only needs row i).
        Zip::indexed(pair.outer_iter_mut())
            .and(prev.pair.outer_iter())
            .into_par_iter()
            .for_each_init(
                || Array2::zeros((0, 0)),
                |normed, (i, mut pair_i, prev_i)| {
                    for j in 0..n {
                        let d2: f32 = (0..3).map(|k| (x[[i, k]] - x[[j, k]]).powi(2)).sum();
                        let mut z = pair_i.row_mut(j);
                        z += &b;
                        if let Some(bin) =
                            crate::model::net::template_embedding::dgram_bin(d2, &lower, &upper)
                        {
                            z += &w.row(bin);
                        }
                    }
                    self.prev_pair_norm.forward_into(prev_i, normed);
                    pair_i += &*normed;
                },
            );
    }
}

/// Extra-MSA embedding (Alg. 2 line 11): `Linear(one_hot(extra_msa, 23) ‖ has_deletion ‖ deletion_value)`,
/// computed as a row lookup plus two rank-one terms.
#[derive(Debug, Clone)]
pub struct ExtraMsaEmbedder<'w> {
    linear: Linear<'w>,
}

impl<'w> ExtraMsaEmbedder<'w> {
    pub fn load(evo: &Scope<'w>, cfg: &ModelConfig) -> Result<Self, WeightError> {
        Ok(Self {
            linear: Linear::load(
                &evo.sub("extra_msa_activations"),
                EXTRA_MSA_FEAT_CHANNELS,
                cfg.evoformer.extra_msa_channel,
            )?,
        })
    }

    /// `[S_e, N, c_e]`
    pub fn forward(&self, x: &TrunkInputs) -> Array3<f32> {
        let (se, n) = x.extra_msa.dim();
        let (w, b) = (*self.linear.weights, self.linear.bias);
        let mut out = Array3::<f32>::zeros((se, n, self.linear.c_out()));
        let (w_del, w_val): (ArrayView2<f32>, _) = (w.slice(s![23..24, ..]), w.row(24));
        Zip::indexed(out.outer_iter_mut()).par_for_each(|si, mut rows| {
            for (ri, mut e) in rows.outer_iter_mut().enumerate() {
                let code = x.extra_msa[[si, ri]];
                e += &b;
                if (0..23).contains(&code) {
                    e += &w.row(code as usize);
                }
                e.scaled_add(x.extra_has_deletion[[si, ri]], &w_del.row(0));
                e.scaled_add(x.extra_deletion_value[[si, ri]], &w_val);
            }
        });
        out
    }
}
