//! AlphaFold2's processed features (what `RunModel.process_features` returns, saved with a leading
//! recycling axis as `processed_features.npz` by the reference harness) as the network's per-iteration
//! inputs, so that a run can be reproduced input for input (`predict --processed-features`).

use ndarray::{Array1, Array2, ArrayD, Ix1, Ix2, Ix3, Ix4};
use thiserror::Error;

use crate::io::npz::Npz;
use crate::model::input::trunk_inputs::{TemplateInputs, TrunkInputs};

/// Errors reading processed features; each names the feature.
#[derive(Debug, Error)]
pub enum InputError {
    #[error("processed feature '{name}': {message}")]
    Feature { name: String, message: String },
    #[error(transparent)]
    Npz(#[from] crate::io::npz::NpzError),
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

/// Slice `r` of AlphaFold2's processed features (`RunModel.process_features` output, leading recycling axis).
/// The templates of iteration `r` whose `template_mask` is set (none when the features have no
/// `template_aatype`, as with `--templates off`).
fn templates_from_processed(npz: &Npz, r: usize) -> Result<TemplateInputs, InputError> {
    let n = slice_i32::<Ix1>(npz, "aatype", r)?.len();
    if npz.get("template_aatype").is_err() {
        return Ok(TemplateInputs::none(n));
    }
    let mask = slice_f32::<Ix1>(npz, "template_mask", r)?;
    let all = TemplateInputs {
        aatype: slice_i32::<Ix2>(npz, "template_aatype", r)?,
        all_atom_positions: slice_f32::<Ix4>(npz, "template_all_atom_positions", r)?,
        all_atom_masks: slice_f32::<Ix3>(npz, "template_all_atom_masks", r)?,
    };
    let keep: Vec<usize> = (0..mask.len()).filter(|&t| mask[t] > 0.0).collect();
    Ok(all.select(&keep))
}

/// Iteration `r` of the processed features as the network's inputs.
pub fn trunk_inputs_from_processed(npz: &Npz, r: usize) -> Result<TrunkInputs, InputError> {
    Ok(TrunkInputs {
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
        templates: templates_from_processed(npz, r)?,
        chains: None,
    })
}

/// Every iteration of a processed-features archive, plus what the outputs need of the query.
#[derive(Debug, Clone)]
pub struct ProcessedFeatures {
    /// One entry per iteration (recycles + 1), MSA padding rows removed.
    pub inputs: Vec<TrunkInputs>,
    pub aatype: Array1<i32>,
    pub residue_index: Array1<i32>,
    /// The first iteration's cluster rows (`true_msa`, padding removed), for the coverage picture.
    pub msa_rows: Array2<i32>,
}

impl ProcessedFeatures {
    /// Reads every iteration; each array must have the same leading (iteration) length.
    pub fn read(npz: &Npz) -> Result<Self, InputError> {
        let iterations = npz.get("aatype")?.shape.first().copied().unwrap_or(0);
        if iterations == 0 {
            return Err(InputError::Feature {
                name: "aatype".into(),
                message: "no iterations (leading axis of length 0)".into(),
            });
        }
        for (name, a) in &npz.arrays {
            if a.shape.first() != Some(&iterations) {
                return Err(InputError::Feature {
                    name: name.clone(),
                    message: format!(
                        "shape {:?}: expected a leading recycling axis of {iterations} like 'aatype'",
                        a.shape
                    ),
                });
            }
        }
        let inputs = (0..iterations)
            .map(|r| trunk_inputs_from_processed(npz, r).map(TrunkInputs::without_padding_rows))
            .collect::<Result<Vec<_>, _>>()?;
        let aatype = slice_i32::<Ix1>(npz, "aatype", 0)?;
        if let Some(v) = aatype.iter().find(|&&v| !(0..=20).contains(&v)) {
            return Err(InputError::Feature {
                name: "aatype".into(),
                message: format!("residue code {v} outside 0..=20"),
            });
        }
        let residue_index = slice_i32::<Ix1>(npz, "residue_index", 0)?;
        let msa_rows = match (npz.get("true_msa"), npz.get("msa_mask")) {
            (Ok(_), Ok(_)) => {
                let msa = slice_i32::<Ix2>(npz, "true_msa", 0)?;
                let mask = slice_f32::<Ix2>(npz, "msa_mask", 0)?;
                let keep: Vec<usize> = (0..msa.nrows().min(mask.nrows()))
                    .filter(|&i| mask.row(i).iter().any(|&m| m != 0.0))
                    .collect();
                msa.select(ndarray::Axis(0), &keep)
            }
            _ => aatype.clone().insert_axis(ndarray::Axis(0)),
        };
        Ok(Self {
            inputs,
            aatype,
            residue_index,
            msa_rows,
        })
    }
}
