//! What one iteration of the network consumes: AlphaFold2's processed features (the output of
//! `process_features`, one recycling slice), and the recycled state.

use ndarray::{Array1, Array2, Array3, ArrayD, Ix1, Ix2, Ix3};
use thiserror::Error;

use crate::io::npz::Npz;

/// Errors reading processed features; each names the feature.
#[derive(Debug, Error)]
pub enum InputError {
    #[error("processed feature '{name}': {message}")]
    Feature { name: String, message: String },
    #[error(transparent)]
    Npz(#[from] crate::io::npz::NpzError),
}

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

/// Recycling slice `r` of a processed feature, converted by `convert` (which names what it expected).
fn slice<T, D: ndarray::Dimension>(
    npz: &Npz,
    name: &str,
    r: usize,
    convert: impl FnOnce(&crate::io::npz::NpyArray) -> Result<ArrayD<T>, String>,
) -> Result<ndarray::Array<T, D>, InputError> {
    let err = |message: String| InputError::Feature {
        name: name.into(),
        message,
    };
    let full = convert(npz.get(name)?).map_err(err)?;
    if full.ndim() == 0 || full.shape()[0] <= r {
        return Err(err(format!(
            "no recycling slice {r} in shape {:?}",
            full.shape()
        )));
    }
    full.index_axis_move(ndarray::Axis(0), r)
        .into_dimensionality::<D>()
        .map_err(|e| err(e.to_string()))
}

fn slice_f32<D: ndarray::Dimension>(
    npz: &Npz,
    name: &str,
    r: usize,
) -> Result<ndarray::Array<f32, D>, InputError> {
    slice(npz, name, r, |a| {
        a.to_f32()
            .or_else(|| a.to_i32().map(|i| i.mapv(|v| v as f32)))
            .ok_or_else(|| format!("unsupported dtype {}", a.descr))
    })
}

fn slice_i32<D: ndarray::Dimension>(
    npz: &Npz,
    name: &str,
    r: usize,
) -> Result<ndarray::Array<i32, D>, InputError> {
    slice(npz, name, r, |a| {
        a.to_i32()
            .ok_or_else(|| format!("expected integers, found {}", a.descr))
    })
}

impl TrunkInputs {
    /// Slice `r` of AlphaFold2's processed features (`RunModel.process_features` output, leading recycling axis).
    pub fn from_processed(npz: &Npz, r: usize) -> Result<Self, InputError> {
        Ok(Self {
            aatype: slice_i32::<Ix1>(npz, "aatype", r)?,
            residue_index: slice_i32::<Ix1>(npz, "residue_index", r)?,
            seq_mask: slice_f32::<Ix1>(npz, "seq_mask", r)?,
            target_feat: slice_f32::<Ix2>(npz, "target_feat", r)?,
            msa_feat: slice_f32::<Ix3>(npz, "msa_feat", r)?,
            msa_mask: slice_f32::<Ix2>(npz, "msa_mask", r)?,
            extra_msa: slice_i32::<Ix2>(npz, "extra_msa", r)?,
            extra_msa_mask: slice_f32::<Ix2>(npz, "extra_msa_mask", r)?,
            extra_has_deletion: slice_f32::<Ix2>(npz, "extra_has_deletion", r)?,
            extra_deletion_value: slice_f32::<Ix2>(npz, "extra_deletion_value", r)?,
        })
    }

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
