//! Readers for DeepMind reference outputs (the parity fixtures under `tests/data/`).

use ndarray::{ArrayD, Ix1, Ix2, Ix3, Ix4};
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
    })
}
