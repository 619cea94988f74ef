//! Output heads (Jumper et al. (2021) Suppl. 1.9): pLDDT (Alg. 29 "predictPerResidueLDDT_Ca"), predicted
//! aligned error and pTM (Suppl. 1.9.7), distogram (1.9.8), experimentally resolved (1.9.10), masked MSA
//! (1.9.9), and the confidence summaries AlphaFold2 derives from them.

use ndarray::{Array1, Array2, Array3};

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

/// AlphaFold2's `predicted_tm_score` with every residue weighted 1, over the residue pairs of different
/// chains (`asym_id`): the interface pTM. The TM-score scale d0 comes from all residues.
pub fn interface_ptm(logits: &Array3<f32>, breaks: &Array1<f32>, asym_id: &[i32]) -> f32 {
    let (n, _, bins) = logits.dim();
    let centers = bin_centers(breaks);
    let clipped = (n as f32).max(19.0);
    let d0 = 1.24 * (clipped - 15.0).powf(1.0 / 3.0) - 1.8;
    let tm_per_bin = centers.mapv(|c| 1.0 / (1.0 + c * c / (d0 * d0)));
    let mut best = f32::NEG_INFINITY;
    for i in 0..n {
        let mut row = logits
            .slice(ndarray::s![i, .., ..])
            .to_owned()
            .into_shape_with_order((n, bins))
            .expect("contiguous");
        softmax_rows(row.view_mut());
        let partners = (0..n).filter(|&j| asym_id[j] != asym_id[i]).count() as f32;
        let w = 1.0 / (1e-8 + partners);
        let v: f32 = (0..n)
            .filter(|&j| asym_id[j] != asym_id[i])
            .map(|j| row.row(j).dot(&tm_per_bin) * w)
            .sum();
        best = best.max(v);
    }
    best
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
/// `predicted_tm_score` with all residues weighted 1).
pub(crate) fn pae_from_logits(logits: &Array3<f32>, breaks: &Array1<f32>) -> PaeOutputs {
    let (n, _, bins) = logits.dim();
    let centers = bin_centers(breaks);
    let mut probs = logits
        .clone()
        .into_shape_with_order((n * n, bins))
        .expect("contiguous");
    softmax_rows(probs.view_mut());
    let pae = Array2::from_shape_vec(
        (n, n),
        probs.rows().into_iter().map(|r| r.dot(&centers)).collect(),
    )
    .expect("n*n");
    let clipped = (n as f32).max(19.0);
    let d0 = 1.24 * (clipped - 15.0).powf(1.0 / 3.0) - 1.8;
    let tm_per_bin = centers.mapv(|c| 1.0 / (1.0 + c * c / (d0 * d0)));
    let term = Array2::from_shape_vec(
        (n, n),
        probs
            .rows()
            .into_iter()
            .map(|r| r.dot(&tm_per_bin))
            .collect(),
    )
    .expect("n*n");
    let w = 1.0 / (1e-8 + n as f32);
    let per_alignment: Vec<f32> = term
        .rows()
        .into_iter()
        .map(|r| r.iter().map(|v| v * w).sum())
        .collect();
    let ptm = per_alignment
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    PaeOutputs {
        logits: logits.clone(),
        breaks: breaks.clone(),
        predicted_aligned_error: pae,
        max_predicted_aligned_error: centers[centers.len() - 1],
        ptm,
        iptm: None,
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
    /// the trunk's MSA, `structure_act` the structure module's final activations.
    pub fn forward(
        &self,
        single: &Array2<f32>,
        pair: &Array3<f32>,
        msa: &Array3<f32>,
        structure_act: &Array2<f32>,
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
        let distogram_logits = &half + &half.view().permuted_axes([1, 0, 2]);
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
            pae_from_logits(&logits, &linspace(0.0, PAE_MAX_ERROR_BIN, head.c_out() - 1))
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
