//! What one iteration of the network consumes: AlphaFold2's processed features (the output of
//! `process_features`, one recycling slice), and the recycled state.

use ndarray::{Array1, Array2, Array3, Array4, Axis};

/// Model inputs of one iteration.
#[derive(Debug, Clone)]
pub struct TrunkInputs {
    /// `[N]` residue types (restype order, 20 = X).
    pub aatype: Array1<i32>,
    /// `[N]`
    pub residue_index: Array1<i32>,
    /// `[N]`
    pub seq_mask: Array1<f32>,
    /// `[N, 22]`
    pub target_feat: Array2<f32>,
    /// `[S, N, 49]`
    pub msa_feat: Array3<f32>,
    /// `[S, N]`
    pub msa_mask: Array2<f32>,
    /// `[S_e, N]` extra MSA residue codes (0..=22).
    pub extra_msa: Array2<i32>,
    /// `[S_e, N]`
    pub extra_msa_mask: Array2<f32>,
    pub extra_has_deletion: Array2<f32>,
    pub extra_deletion_value: Array2<f32>,
    /// The templates the model sees (none for template-free models or inputs).
    pub templates: TemplateInputs,
    /// Which chain every residue belongs to (complexes, AlphaFold-Multimer); `None` for monomers.
    pub chains: Option<ChainIds>,
}

/// Chain identity of every residue, AlphaFold-Multimer's `asym_id` (chain, from 1), `entity_id` (distinct
/// sequence, from 1) and `sym_id` (copy of that sequence, from 1).
#[derive(Debug, Clone, PartialEq)]
pub struct ChainIds {
    pub asym_id: Array1<i32>,
    pub entity_id: Array1<i32>,
    pub sym_id: Array1<i32>,
}

impl ChainIds {
    /// `n` residues of one chain.
    pub fn single(n: usize) -> Self {
        let ones = Array1::<i32>::ones(n);
        Self {
            asym_id: ones.clone(),
            entity_id: ones.clone(),
            sym_id: ones,
        }
    }
}

/// Template inputs of one iteration: AlphaFold2's processed `template_aatype`,
/// `template_all_atom_positions` and `template_all_atom_masks` for the templates whose `template_mask`
/// is 1 (the first `max_templates` hits, in hit order). AlphaFold2 pads to `max_templates` with masked
/// templates; those change nothing (pointwise attention gives them weight exp(-1e9) = 0 and their MSA
/// rows are masked), so they are not carried.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateInputs {
    /// `[T, N]` residue types in restype order (20 = X, 21 = gap).
    pub aatype: Array2<i32>,
    /// `[T, N, 37, 3]`
    pub all_atom_positions: Array4<f32>,
    /// `[T, N, 37]`
    pub all_atom_masks: Array3<f32>,
}

impl TemplateInputs {
    /// No templates for `n` residues.
    pub fn none(n: usize) -> Self {
        Self {
            aatype: Array2::zeros((0, n)),
            all_atom_positions: Array4::zeros((0, n, 37, 3)),
            all_atom_masks: Array3::zeros((0, n, 37)),
        }
    }

    /// Number of templates T.
    pub fn count(&self) -> usize {
        self.aatype.nrows()
    }

    /// Keeps the templates at `keep` (in that order).
    pub fn select(&self, keep: &[usize]) -> Self {
        Self {
            aatype: self.aatype.select(Axis(0), keep),
            all_atom_positions: self.all_atom_positions.select(Axis(0), keep),
            all_atom_masks: self.all_atom_masks.select(Axis(0), keep),
        }
    }
}

/// State carried from one iteration to the next (Alg. 2 lines 5-6).
#[derive(Debug, Clone)]
pub struct Recycled {
    /// `[N, c_m]`
    pub msa_first_row: Array2<f32>,
    /// `[N, N, c_z]`
    pub pair: Array3<f32>,
    /// `[N, 37, 3]` atom positions of the previous structure.
    pub pos: Array3<f32>,
}

impl Recycled {
    /// The zero state of the first iteration.
    pub fn zeros(n: usize, c_m: usize, c_z: usize) -> Self {
        Self {
            msa_first_row: Array2::zeros((n, c_m)),
            pair: Array3::zeros((n, n, c_z)),
            pos: Array3::zeros((n, 37, 3)),
        }
    }
}

impl TrunkInputs {
    /// Number of residues.
    pub fn num_res(&self) -> usize {
        self.aatype.len()
    }

    /// Drops MSA and extra-MSA rows whose mask is zero everywhere (AlphaFold2's fixed-size padding). Such
    /// rows never reach a real row: attention gives them weight exp(-1e9) = 0, the outer product mean
    /// multiplies them by their zero mask, so the outputs for the remaining rows are unchanged.
    pub fn without_padding_rows(mut self) -> Self {
        let keep = |mask: &Array2<f32>| -> Vec<usize> {
            (0..mask.nrows())
                .filter(|&i| mask.row(i).iter().any(|&m| m != 0.0))
                .collect()
        };
        let k = keep(&self.msa_mask);
        if !k.is_empty() {
            self.msa_feat = self.msa_feat.select(ndarray::Axis(0), &k);
            self.msa_mask = self.msa_mask.select(ndarray::Axis(0), &k);
        }
        let k = keep(&self.extra_msa_mask);
        self.extra_msa = self.extra_msa.select(ndarray::Axis(0), &k);
        self.extra_msa_mask = self.extra_msa_mask.select(ndarray::Axis(0), &k);
        self.extra_has_deletion = self.extra_has_deletion.select(ndarray::Axis(0), &k);
        self.extra_deletion_value = self.extra_deletion_value.select(ndarray::Axis(0), &k);
        self
    }
}
