//! Output heads (Jumper et al. (2021) Suppl. 1.9): pLDDT (Alg. 29 "predictPerResidueLDDT_Ca"), predicted
//! aligned error and pTM (Suppl. 1.9.7), distogram (1.9.8), experimentally resolved (1.9.10), masked MSA
//! (1.9.9), and the confidence summaries AlphaFold2 derives from them.

use ndarray::{Array1, Array2, Array3, Axis};
use rayon::prelude::*;

use crate::model::ops::primitives::{flat2, softmax_rows, unflat3, LayerNorm, Linear};
use crate::model::params::config::{ModelConfig, ModelKind};
use crate::model::params::weights::{Scope, WeightError};

/// Distogram bins: 64 bins, 63 edges from 2.3125 to 21.6875 Å (AlphaFold2's `distogram` config).
pub const DISTOGRAM_FIRST_BREAK: f32 = 2.3125;
pub const DISTOGRAM_LAST_BREAK: f32 = 21.6875;
/// PAE bins: 64 bins, 63 edges from 0 to 31 Å.
pub const PAE_MAX_ERROR_BIN: f32 = 31.0;

/// Every head's output.
#[derive(Debug, Clone)]
pub struct HeadOutputs {
    /// `[N, 50]`
    pub plddt_logits: Array2<f32>,
    /// `[N]` 0-100
    pub plddt: Array1<f32>,
    /// `[N, N, 64]` symmetric
    pub distogram_logits: Array3<f32>,
    /// `[63]`
    pub distogram_bin_edges: Array1<f32>,
    /// `[N, 37]`
    pub experimentally_resolved_logits: Array2<f32>,
    /// `[S, N, 23]`
    pub masked_msa_logits: Array3<f32>,
    /// For ptm models.
    pub pae: Option<PaeOutputs>,
}

/// Predicted aligned error and pTM.
#[derive(Debug, Clone)]
pub struct PaeOutputs {
    /// `[N, N, 64]`
    pub logits: Array3<f32>,
    /// `[63]`
    pub breaks: Array1<f32>,
    /// `[N, N]` Å
    pub predicted_aligned_error: Array2<f32>,
    pub max_predicted_aligned_error: f32,
    pub ptm: f32,
    /// Interface pTM (AlphaFold-Multimer, Evans et al. 2021 eq. 2: pTM over residue pairs of different
    /// chains); `None` for single chains.
    pub iptm: Option<f32>,
}

/// The TM-score's per-bin term `1 / (1 + (c/d0)²)` over the bin centres, with d0 from `n` residues
/// (clipped at 19, as AlphaFold2's `predicted_tm_score`).
fn tm_per_bin(centers: &Array1<f32>, n: usize) -> Array1<f32> {
    let clipped = (n as f32).max(19.0);
    let d0 = 1.24 * (clipped - 15.0).powf(1.0 / 3.0) - 1.8;
    centers.mapv(|c| 1.0 / (1.0 + c * c / (d0 * d0)))
}

fn linspace(a: f32, b: f32, n: usize) -> Array1<f32> {
    Array1::from_iter((0..n).map(|k| a + (b - a) * k as f32 / (n - 1) as f32))
}

/// Bin centres from edges: edge + step/2, plus one more bin after the last (AlphaFold2's
/// `_calculate_bin_centers`).
fn bin_centers(breaks: &Array1<f32>) -> Array1<f32> {
    let step = breaks[1] - breaks[0];
    let mut c: Vec<f32> = breaks.iter().map(|b| b + step / 2.0).collect();
    c.push(c[c.len() - 1] + step);
    Array1::from(c)
}

/// pLDDT in 0-100 from `[N, bins]` logits: expected value of the bin centres `(k + 0.5) / bins`.
pub(crate) fn plddt_from_logits(logits: &Array2<f32>) -> Array1<f32> {
    let bins = logits.ncols();
    let mut p = logits.clone();
    softmax_rows(p.view_mut());
    p.rows()
        .into_iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(k, &v)| v * (k as f32 + 0.5) / bins as f32)
                .sum::<f32>()
                * 100.0
        })
        .collect()
}

/// PAE, its maximum and pTM from `[N, N, bins]` logits (AlphaFold2's `compute_predicted_aligned_error` and
/// `predicted_tm_score` with all residues weighted 1), and with chains (`asym_id`) the interface pTM:
/// the same score over the residue pairs of different chains (Evans et al. 2021 eq. 2; d0 from all
/// residues), from the same probabilities.
pub(crate) fn pae_from_logits(
    logits: Array3<f32>,
    breaks: &Array1<f32>,
    asym_id: Option<&[i32]>,
) -> PaeOutputs {
    let n = logits.dim().0;
    let centers = bin_centers(breaks);
    let tm_per_bin = tm_per_bin(&centers, n);
    let w = 1.0 / (1e-8 + n as f32);
    // One aligned residue per task, its probabilities in a small scratch array (the whole `[N, N, bins]`
    // softmax was a serial pass over a copy of the logits, most of the heads' time at L = 384).
    let mut pae = Array2::<f32>::zeros((n, n));
    let per_alignment: Vec<(f32, f32)> = pae
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(logits.axis_iter(Axis(0)).into_par_iter())
        .enumerate()
        .map(|(i, (mut pae_row, l))| {
            let mut probs = l.to_owned();
            softmax_rows(probs.view_mut());
            let partner = |j: usize| asym_id.is_some_and(|a| a[j] != a[i]);
            let w_partner = 1.0 / (1e-8 + (0..n).filter(|&j| partner(j)).count() as f32);
            let (mut tm, mut interface) = (0f32, 0f32);
            for (j, p) in probs.rows().into_iter().enumerate() {
                pae_row[j] = p.dot(&centers);
                let term = p.dot(&tm_per_bin);
                tm += term * w;
                if partner(j) {
                    interface += term * w_partner;
                }
            }
            (tm, interface)
        })
        .collect();
    let best = |pick: fn(&(f32, f32)) -> f32| {
        per_alignment
            .iter()
            .map(pick)
            .fold(f32::NEG_INFINITY, f32::max)
    };
    PaeOutputs {
        ptm: best(|t| t.0),
        iptm: asym_id.map(|_| best(|t| t.1)),
        logits,
        breaks: breaks.clone(),
        predicted_aligned_error: pae,
        max_predicted_aligned_error: centers[centers.len() - 1],
    }
}

/// Residue classes of the masked-MSA head (20 amino acids, X, gap, mask) and atom37 positions of the
/// experimentally-resolved head.
const MASKED_MSA_CLASSES: usize = 23;
const ATOM37: usize = 37;

/// Every head's parameters (below `alphafold_iteration`).
#[derive(Debug, Clone)]
pub struct Heads<'w> {
    plddt_input_layer_norm: LayerNorm<'w>,
    plddt_act: [Linear<'w>; 2],
    plddt_logits: Linear<'w>,
    distogram: Linear<'w>,
    experimentally_resolved: Linear<'w>,
    masked_msa: Linear<'w>,
    predicted_aligned_error: Option<Linear<'w>>,
}

impl<'w> Heads<'w> {
    pub fn load(root: &Scope<'w>, cfg: &ModelConfig) -> Result<Self, WeightError> {
        let l = root.sub("predicted_lddt_head");
        let (sc, pc, c_z) = (
            cfg.structure_module.channel,
            cfg.heads.plddt_channels,
            cfg.evoformer.pair_channel,
        );
        Ok(Self {
            plddt_input_layer_norm: LayerNorm::load(&l.sub("input_layer_norm"), sc)?,
            plddt_act: [
                Linear::load(&l.sub("act_0"), sc, pc)?,
                Linear::load(&l.sub("act_1"), pc, pc)?,
            ],
            plddt_logits: Linear::load(&l.sub("logits"), pc, cfg.heads.plddt_bins)?,
            distogram: Linear::load(
                &root.sub("distogram_head/half_logits"),
                c_z,
                cfg.heads.distogram_bins,
            )?,
            experimentally_resolved: Linear::load(
                &root.sub("experimentally_resolved_head/logits"),
                cfg.evoformer.seq_channel,
                ATOM37,
            )?,
            masked_msa: Linear::load(
                &root.sub("masked_msa_head/logits"),
                cfg.evoformer.msa_channel,
                match cfg.kind {
                    ModelKind::Monomer => MASKED_MSA_CLASSES,
                    // AlphaFold-Multimer predicts no mask token
                    ModelKind::Multimer => MASKED_MSA_CLASSES - 1,
                },
            )?,
            predicted_aligned_error: match cfg.heads.pae_bins {
                Some(bins) => Some(Linear::load(
                    &root.sub("predicted_aligned_error_head/logits"),
                    c_z,
                    bins,
                )?),
                None => None,
            },
        })
    }

    /// Runs every head. `single` is the trunk's single representation, `pair` the trunk's pair, `msa`
    /// the trunk's MSA, `structure_act` the structure module's final activations; with `asym_id` (the
    /// chain of each residue, AlphaFold-Multimer) the PAE head's outputs include the interface pTM.
    pub fn forward(
        &self,
        single: &Array2<f32>,
        pair: &Array3<f32>,
        msa: &Array3<f32>,
        structure_act: &Array2<f32>,
        asym_id: Option<&[i32]>,
    ) -> HeadOutputs {
        let (n, _, _) = pair.dim();
        let a = self.plddt_input_layer_norm.forward(structure_act.view());
        let mut a = self.plddt_act[0].forward(a.view());
        a.mapv_inplace(|v| v.max(0.0));
        let mut a = self.plddt_act[1].forward(a.view());
        a.mapv_inplace(|v| v.max(0.0));
        let plddt_logits = self.plddt_logits.forward(a.view());
        let plddt = plddt_from_logits(&plddt_logits);

        let half = unflat3(self.distogram.forward(flat2(pair)), n, n);
        // Symmetrised: `half[i, j] + half[j, i]`, one residue's row per task.
        let mut distogram_logits = Array3::<f32>::zeros(half.dim());
        distogram_logits
            .axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(i, mut out)| {
                out.assign(&half.index_axis(Axis(0), i));
                out += &half.index_axis(Axis(1), i);
            });
        let distogram_bin_edges = linspace(
            DISTOGRAM_FIRST_BREAK,
            DISTOGRAM_LAST_BREAK,
            self.distogram.c_out() - 1,
        );

        let experimentally_resolved_logits = self.experimentally_resolved.forward(single.view());
        let (s, _, _) = msa.dim();
        let masked_msa_logits = unflat3(self.masked_msa.forward(flat2(msa)), s, n);

        let pae = self.predicted_aligned_error.as_ref().map(|head| {
            let logits = unflat3(head.forward(flat2(pair)), n, n);
            pae_from_logits(
                logits,
                &linspace(0.0, PAE_MAX_ERROR_BIN, head.c_out() - 1),
                asym_id,
            )
        });
        HeadOutputs {
            plddt_logits,
            plddt,
            distogram_logits,
            distogram_bin_edges,
            experimentally_resolved_logits,
            masked_msa_logits,
            pae,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random-ish logits with a wide range (a fixed linear congruential sequence).
    fn logits(n: usize, bins: usize) -> Array3<f32> {
        let mut state = 12345u32;
        Array3::from_shape_fn((n, n, bins), |_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1 << 24) as f32 * 20.0 - 10.0
        })
    }

    /// PAE, pTM and interface pTM per aligned residue in parallel, in one pass, give the bits of the
    /// whole-tensor softmax they replaced, with any number of threads.
    #[test]
    fn pae_and_ptm_match_the_whole_tensor_computation_with_any_threads() {
        let (n, bins) = (23, 64);
        let x = logits(n, bins);
        let breaks = linspace(0.0, PAE_MAX_ERROR_BIN, bins - 1);
        let asym: Vec<i32> = (0..n).map(|i| i32::from(i >= 9)).collect();
        // The reference: softmax over a copy of all rows, then the expectations row by row.
        let centers = bin_centers(&breaks);
        let tm = tm_per_bin(&centers, n);
        let mut probs = x.clone().into_shape_with_order((n * n, bins)).unwrap();
        softmax_rows(probs.view_mut());
        let pae: Vec<f32> = probs.rows().into_iter().map(|r| r.dot(&centers)).collect();
        let w = 1.0 / (1e-8 + n as f32);
        let ptm = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| probs.row(i * n + j).dot(&tm) * w)
                    .sum::<f32>()
            })
            .fold(f32::NEG_INFINITY, f32::max);
        let iptm = (0..n)
            .map(|i| {
                let partners = (0..n).filter(|&j| asym[j] != asym[i]).count() as f32;
                let w = 1.0 / (1e-8 + partners);
                (0..n)
                    .filter(|&j| asym[j] != asym[i])
                    .map(|j| probs.row(i * n + j).dot(&tm) * w)
                    .sum::<f32>()
            })
            .fold(f32::NEG_INFINITY, f32::max);
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let (out, got_iptm) = pool.install(|| {
                let monomer = pae_from_logits(x.clone(), &breaks, None);
                let chains = pae_from_logits(x.clone(), &breaks, Some(&asym));
                assert_eq!(monomer.iptm, None);
                assert_eq!(monomer.ptm.to_bits(), chains.ptm.to_bits());
                (monomer, chains.iptm.unwrap())
            });
            assert_eq!(out.predicted_aligned_error.as_slice().unwrap(), &pae[..]);
            assert_eq!(out.ptm.to_bits(), ptm.to_bits(), "{threads} threads");
            assert_eq!(got_iptm.to_bits(), iptm.to_bits(), "{threads} threads");
            assert_eq!(out.logits, x);
        }
    }
}
