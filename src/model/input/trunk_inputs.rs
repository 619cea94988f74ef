//! What one iteration of the network consumes: AlphaFold2's processed features (the output of
//! `process_features`, one recycling slice), and the recycled state.

use ndarray::{Array1, Array2, Array3};

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
