//! Model files: a valid ONNX model (read and written with `prost` over the official `onnx.proto`) whose
//! graph initializers hold every weight under its AlphaFold2 parameter path (float32, same shapes, stacked
//! blocks keep their leading axis) and whose `metadata_props` hold the model configuration (JSON), the
//! format version, the source parameter file's SHA-256 and the weights' licence.

use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn};
use prost::Message;
use thiserror::Error;

use crate::model::params::config::ModelConfig;
use crate::model::params::weights::Weights;

/// The protobuf types of `onnx.proto`, generated at build time.
#[allow(clippy::all, missing_docs)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

/// Version of this container layout; readers refuse others.
pub const FORMAT_VERSION: &str = "1";
/// ONNX IR version written (IR v9: ONNX 1.14+).
pub const IR_VERSION: i64 = 9;
/// `TensorProto.DataType.FLOAT`.
const ONNX_FLOAT: i32 = 1;

/// `metadata_props` keys.
pub mod meta {
    pub const FORMAT_VERSION: &str = "ferrofold.format_version";
    pub const MODEL_NAME: &str = "ferrofold.model_name";
    pub const CONFIG: &str = "ferrofold.config";
    pub const SOURCE_SHA256: &str = "ferrofold.source_sha256";
    pub const LICENSE: &str = "ferrofold.weights_license";
    /// SHA-256 of the weights themselves ([`super::weights_sha256`]); files written before it was
    /// recorded have none and are read unchecked.
    pub const WEIGHTS_SHA256: &str = "ferrofold.weights_sha256";
}

/// SHA-256 over every tensor in name order: its name, its shape and its values (little-endian f32). A bit
/// flipped anywhere in the weights changes it.
pub fn weights_sha256(w: &Weights) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (name, t) in &w.tensors {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((t.ndim() as u64).to_le_bytes());
        for &d in t.shape() {
            h.update((d as u64).to_le_bytes());
        }
        match t.as_slice() {
            Some(values) => {
                for chunk in values.chunks(1 << 16) {
                    let bytes: Vec<u8> = chunk.iter().flat_map(|v| v.to_le_bytes()).collect();
                    h.update(&bytes);
                }
            }
            None => t.iter().for_each(|v| h.update(v.to_le_bytes())),
        }
    }
    crate::fsutil::checksum::hex(&h.finalize())
}

/// Licence of DeepMind's published AlphaFold2 parameters.
pub const ALPHAFOLD_PARAMS_LICENSE: &str =
    "CC BY 4.0 (AlphaFold parameters, DeepMind; https://creativecommons.org/licenses/by/4.0/)";

/// A model: name, configuration, weights and provenance.
#[derive(Debug, Clone)]
pub struct ModelFile {
    /// e.g. `model_1_ptm`.
    pub name: String,
    pub config: ModelConfig,
    pub weights: Weights,
    /// SHA-256 of the parameter file the weights came from.
    pub source_sha256: String,
    pub license: String,
    /// SHA-256 of the weights as loaded ([`weights_sha256`]; empty for a model built in memory). What
    /// a result depends on: two model files with one name and configuration but other weights never share
    /// results. (Writing recomputes it from the weights.)
    pub weights_sha256: String,
}

/// Errors reading or writing model files; each names the file and, where it applies, the tensor or key.
#[derive(Debug, Error)]
pub enum ModelFileError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: cannot write: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not an ONNX model: {message}")]
    Decode { path: PathBuf, message: String },
    #[error("{path}: not a ferrofold model file (metadata '{key}' is missing)")]
    NotFerrofold { path: PathBuf, key: &'static str },
    #[error("{path}: unknown model file version {found} (this ferrofold reads version {FORMAT_VERSION})")]
    Version { path: PathBuf, found: String },
    #[error("{path}: metadata '{key}': {message}")]
    Metadata {
        path: PathBuf,
        key: &'static str,
        message: String,
    },
    #[error("{path}: tensor '{name}': {message}")]
    Tensor {
        path: PathBuf,
        name: String,
        message: String,
    },
}

/// Encodes a model as ONNX bytes.
pub(crate) fn encode(m: &ModelFile) -> Vec<u8> {
    let initializer = m
        .weights
        .tensors
        .iter()
        .map(|(name, t)| {
            let mut raw = Vec::with_capacity(t.len() * 4);
            for v in t.iter() {
                raw.extend_from_slice(&v.to_le_bytes());
            }
            proto::TensorProto {
                dims: t.shape().iter().map(|&d| d as i64).collect(),
                data_type: Some(ONNX_FLOAT),
                name: Some(name.clone()),
                raw_data: Some(raw),
                ..Default::default()
            }
        })
        .collect();
    let kv = |k: &str, v: &str| proto::StringStringEntryProto {
        key: Some(k.into()),
        value: Some(v.into()),
    };
    let model = proto::ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![proto::OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(19),
        }],
        producer_name: Some("ferrofold".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        doc_string: Some(format!(
            "AlphaFold2 parameters ({}) under their original names; no graph nodes.",
            m.name
        )),
        graph: Some(proto::GraphProto {
            name: Some(format!("{}_parameters", m.name)),
            initializer,
            ..Default::default()
        }),
        metadata_props: vec![
            kv(meta::FORMAT_VERSION, FORMAT_VERSION),
            kv(meta::MODEL_NAME, &m.name),
            kv(
                meta::CONFIG,
                &serde_json::to_string(&m.config).expect("config serialises"),
            ),
            kv(meta::SOURCE_SHA256, &m.source_sha256),
            kv(meta::LICENSE, &m.license),
            kv(meta::WEIGHTS_SHA256, &weights_sha256(&m.weights)),
        ],
        ..Default::default()
    };
    model.encode_to_vec()
}

/// Writes a model file atomically.
pub fn write(path: impl AsRef<Path>, m: &ModelFile) -> Result<(), ModelFileError> {
    let path = path.as_ref();
    let bytes = encode(m);
    let werr = |source| ModelFileError::Write {
        path: path.into(),
        source,
    };
    let mut f = crate::fsutil::atomic::AtomicFile::create(path).map_err(werr)?;
    f.file().write_all(&bytes).map_err(werr)?;
    f.commit().map_err(werr)
}

/// Decodes a model file's bytes; `path` only names the source in errors.
pub fn decode(bytes: &[u8], path: &Path) -> Result<ModelFile, ModelFileError> {
    let model = proto::ModelProto::decode(bytes).map_err(|e| ModelFileError::Decode {
        path: path.into(),
        message: e.to_string(),
    })?;
    let get = |key: &'static str| -> Result<String, ModelFileError> {
        model
            .metadata_props
            .iter()
            .find(|p| p.key.as_deref() == Some(key))
            .and_then(|p| p.value.clone())
            .ok_or(ModelFileError::NotFerrofold {
                path: path.into(),
                key,
            })
    };
    let version = get(meta::FORMAT_VERSION)?;
    if version != FORMAT_VERSION {
        return Err(ModelFileError::Version {
            path: path.into(),
            found: version,
        });
    }
    let config: ModelConfig =
        ModelConfig::from_json(&get(meta::CONFIG)?).map_err(|e| ModelFileError::Metadata {
            path: path.into(),
            key: meta::CONFIG,
            message: e.to_string(),
        })?;
    config
        .validate()
        .map_err(|message| ModelFileError::Metadata {
            path: path.into(),
            key: meta::CONFIG,
            message,
        })?;
    let graph = model.graph.unwrap_or_default();
    let mut weights = Weights::default();
    for t in graph.initializer {
        let name = t.name.clone().unwrap_or_default();
        let terr = |message: String| ModelFileError::Tensor {
            path: path.into(),
            name: name.clone(),
            message,
        };
        if t.data_type != Some(ONNX_FLOAT) {
            return Err(terr(format!(
                "data type {:?} is not FLOAT (1)",
                t.data_type
            )));
        }
        let dims: Vec<usize> = t
            .dims
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| terr(format!("negative dimension {d}"))))
            .collect::<Result<_, _>>()?;
        let n = dims
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| terr("shape overflows".into()))?;
        let values: Vec<f32> = match (&t.raw_data, t.float_data.is_empty()) {
            (Some(raw), _) => {
                // Compared before anything is allocated for the claimed shape.
                if n.checked_mul(4) != Some(raw.len()) {
                    return Err(terr(format!(
                        "{} data bytes for shape {dims:?} ({} expected)",
                        raw.len(),
                        n as u128 * 4
                    )));
                }
                raw.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            }
            (None, false) => {
                if t.float_data.len() != n {
                    return Err(terr(format!(
                        "{} values for shape {dims:?}",
                        t.float_data.len()
                    )));
                }
                t.float_data.clone()
            }
            (None, true) if n == 0 => Vec::new(),
            (None, true) => return Err(terr("no data (external data is not supported)".into())),
        };
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(terr(format!(
                "non-finite value {} at flat index {i}",
                values[i]
            )));
        }
        let arr = ArrayD::from_shape_vec(IxDyn(&dims), values).map_err(|e| terr(e.to_string()))?;
        if weights.tensors.insert(name.clone(), arr).is_some() {
            return Err(terr("appears twice".into()));
        }
    }
    let actual = weights_sha256(&weights);
    if let Ok(recorded) = get(meta::WEIGHTS_SHA256) {
        if recorded != actual {
            return Err(ModelFileError::Metadata {
                path: path.into(),
                key: meta::WEIGHTS_SHA256,
                message: format!(
                    "the weights do not match their recorded checksum (recorded {}…, now {}…): the file is corrupted; convert or copy it again",
                    &recorded[..recorded.len().min(12)],
                    &actual[..12]
                ),
            });
        }
    }
    Ok(ModelFile {
        name: get(meta::MODEL_NAME)?,
        config,
        weights,
        source_sha256: get(meta::SOURCE_SHA256).unwrap_or_default(),
        license: get(meta::LICENSE).unwrap_or_default(),
        weights_sha256: actual,
    })
}

/// Reads a model file.
pub fn read(path: impl AsRef<Path>) -> Result<ModelFile, ModelFileError> {
    let path = path.as_ref();
    let bytes = crate::fsutil::regular::read(path).map_err(|source| ModelFileError::Read {
        path: path.into(),
        source,
    })?;
    decode(&bytes, path)
}
