//! The `params` stage: DeepMind's published parameter files (`params_model_*.npz`, haiku `scope//name` keys)
//! ↔ ferrofold model files (ONNX, see [`crate::model::model_file`]), and loading with a full check of every
//! tensor against the configuration.

use std::path::{Path, PathBuf};

use thiserror::Error;

use super::hash::sha256_file;
use crate::io::npz::{self, NpzError};
use crate::model::config::ModelConfig;
use crate::model::model_file::{self, ModelFile, ModelFileError, ALPHAFOLD_PARAMS_LICENSE};
use crate::model::schema::{self, SchemaError};
use crate::model::weights::{WeightError, Weights};

/// Errors of the params stage; each names the file and, where it applies, the tensor.
#[derive(Debug, Error)]
pub enum ParamsError {
    #[error(transparent)]
    Npz(#[from] NpzError),
    #[error(transparent)]
    Weights(#[from] WeightError),
    #[error(transparent)]
    ModelFile(#[from] ModelFileError),
    #[error("{path}: {source}")]
    Schema { path: PathBuf, source: SchemaError },
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
}

/// `params_model_1_ptm.npz` → `model_1_ptm`.
pub fn model_name_from_path(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    stem.strip_prefix("params_").unwrap_or(&stem).to_string()
}

/// The configuration of a parameter set: AlphaFold2's preset when `name` is one of its models (the
/// weights must then fit it exactly), else sizes inferred from the weights (test models).
pub fn config_for(name: &str, w: &Weights, path: &Path) -> Result<ModelConfig, ParamsError> {
    let cfg = match ModelConfig::preset(name) {
        Some(c) => c,
        None => ModelConfig::infer(w)?,
    };
    schema::check(w, &cfg).map_err(|source| ParamsError::Schema {
        path: path.into(),
        source,
    })?;
    Ok(cfg)
}

/// What a conversion did.
#[derive(Debug, Clone)]
pub struct ConvertReport {
    pub name: String,
    pub tensors: usize,
    pub parameters: usize,
    pub source_sha256: String,
}

/// Converts DeepMind's `.npz` parameters into a model file. `overrides` adjusts what the weights cannot
/// tell (structure-module layers, recycles) for non-preset models.
pub fn convert(
    npz_path: &Path,
    out: &Path,
    name: Option<&str>,
    overrides: impl FnOnce(&mut ModelConfig),
) -> Result<ConvertReport, ParamsError> {
    let name = name
        .map(str::to_string)
        .unwrap_or_else(|| model_name_from_path(npz_path));
    let sha = sha256_file(npz_path).map_err(|e| ParamsError::Io {
        path: npz_path.into(),
        message: e.to_string(),
    })?;
    let weights = Weights::from_npz(npz_path)?;
    let mut config = config_for(&name, &weights, npz_path)?;
    overrides(&mut config);
    let report = ConvertReport {
        name: name.clone(),
        tensors: weights.tensors.len(),
        parameters: weights.tensors.values().map(|t| t.len()).sum(),
        source_sha256: sha.clone(),
    };
    let m = ModelFile {
        name,
        config,
        weights,
        source_sha256: sha,
        license: ALPHAFOLD_PARAMS_LICENSE.into(),
    };
    model_file::write(out, &m)?;
    Ok(report)
}

/// Loads a model file and checks every tensor against its configuration.
pub fn load(path: &Path) -> Result<ModelFile, ParamsError> {
    let m = model_file::read(path)?;
    schema::check(&m.weights, &m.config).map_err(|source| ParamsError::Schema {
        path: path.into(),
        source,
    })?;
    Ok(m)
}

/// Writes a model file's weights back as DeepMind's `.npz` layout (for tests and interchange).
pub fn export(model_path: &Path, out: &Path) -> Result<ConvertReport, ParamsError> {
    let m = load(model_path)?;
    npz::write_f32(out, &m.weights.tensors)?;
    Ok(ConvertReport {
        name: m.name,
        tensors: m.weights.tensors.len(),
        parameters: m.weights.tensors.values().map(|t| t.len()).sum(),
        source_sha256: m.source_sha256,
    })
}
