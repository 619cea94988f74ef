//! The `params` stage: DeepMind's published parameter files (`params_model_*.npz`, haiku `scope//name` keys)
//! ↔ ferrofold model files (ONNX, see [`crate::model::params::model_file`]), and loading with a full check of every
//! tensor against the configuration.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::fsutil::checksum::sha256_file;
use crate::io::npz::{self, NpzError};
use crate::model::params::config::ModelConfig;
use crate::model::params::model_file::{self, ModelFile, ModelFileError, ALPHAFOLD_PARAMS_LICENSE};
use crate::model::params::schema::{self, SchemaError};
use crate::model::params::weights::{WeightError, Weights};

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
pub(crate) fn model_name_from_path(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    stem.strip_prefix("params_").unwrap_or(&stem).to_string()
}

/// The configuration of a parameter set: AlphaFold2's preset when `name` is one of its models (the
/// weights must then fit it exactly), else sizes inferred from the weights (test models).
pub(crate) fn config_for(name: &str, w: &Weights, path: &Path) -> Result<ModelConfig, ParamsError> {
    let cfg = match ModelConfig::preset(name) {
        Some(c) => c,
        None => ModelConfig::infer(w).map_err(|e| ParamsError::Io {
            path: path.into(),
            message: format!("{e}: not AlphaFold2 parameters (params_model_*.npz)?"),
        })?,
    };
    schema::check(w, &cfg).map_err(|source| ParamsError::Schema {
        path: path.into(),
        source,
    })?;
    Ok(cfg)
}

/// Reads DeepMind's `params_model_*.npz` layout (keys `scope//name`, float32) into a parameter store.
pub fn read_npz_weights(path: impl AsRef<Path>) -> Result<Weights, ParamsError> {
    let path = path.as_ref();
    let npz = npz::Npz::read_path(path)?;
    let mut w = Weights::default();
    for (name, arr) in &npz.arrays {
        let t = arr.to_f32().ok_or_else(|| ParamsError::Io {
            path: path.into(),
            message: format!(
                "{}: not AlphaFold2 parameters (params_model_*.npz, all float32)?",
                WeightError::Dtype {
                    name: name.clone(),
                    descr: arr.descr.clone(),
                }
            ),
        })?;
        w.tensors.insert(name.clone(), t);
    }
    Ok(w)
}

/// Every `.onnx` model file in `dir`, sorted by name; where there is none, DeepMind's
/// `params_model_*.npz` (AlphaFold2's own `params/` folder); neither is an error.
pub fn models_in_dir(dir: &Path) -> Result<Vec<PathBuf>, ParamsError> {
    let io_err = |e: std::io::Error| ParamsError::Io {
        path: dir.into(),
        message: e.to_string(),
    };
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    let pick = |keep: &dyn Fn(&Path) -> bool| {
        let mut v: Vec<PathBuf> = files.iter().filter(|p| keep(p)).cloned().collect();
        v.sort();
        v
    };
    let mut found = pick(&|p| p.extension().is_some_and(|x| x == "onnx"));
    if found.is_empty() {
        found = pick(&|p| {
            p.extension().is_some_and(|x| x == "npz")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("params_model_"))
        });
    }
    if found.is_empty() {
        return Err(ParamsError::Io {
            path: dir.into(),
            message: "no .onnx model files (nor DeepMind's params_model_*.npz)".into(),
        });
    }
    Ok(found)
}

/// Where `--demo-model` keeps the demo model: `$FERROFOLD_MODELS/ferrofold_demo.onnx`, else the user's
/// cache (`$XDG_CACHE_HOME/ferrofold/models/`, by default `~/.cache/ferrofold/models/`), never the folder
/// the user happens to be in (`models/` there only when no home is known).
pub fn demo_model_path() -> PathBuf {
    let dir = std::env::var_os("FERROFOLD_MODELS")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir("models"));
    dir.join("ferrofold_demo.onnx")
}

/// ferrofold's folder `what` in the user's cache: `$XDG_CACHE_HOME/ferrofold/<what>`, by default
/// `~/.cache/ferrofold/<what>` (`<what>` in the current folder only when no home is known).
pub fn cache_dir(what: &str) -> PathBuf {
    let nonempty = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    nonempty("XDG_CACHE_HOME")
        .or_else(|| nonempty("HOME").map(|h| h.join(".cache")))
        .map(|c| c.join("ferrofold").join(what))
        .unwrap_or_else(|| PathBuf::from(what))
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
    let weights = read_npz_weights(npz_path)?;
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
        weights_sha256: String::new(), // the writer computes it
    };
    create_parent(out)?;
    model_file::write(out, &m)?;
    Ok(report)
}

/// Loads a model file and checks every tensor against its configuration. DeepMind's own
/// `params_model_*.npz` is accepted as it is (converted in memory, as `params convert` would: AlphaFold2's
/// preset for its names, sizes read off the weights otherwise).
pub fn load(path: &Path) -> Result<ModelFile, ParamsError> {
    if path.extension().is_some_and(|e| e == "npz") {
        return load_npz(path);
    }
    let m = model_file::read(path)?;
    schema::check(&m.weights, &m.config).map_err(|source| ParamsError::Schema {
        path: path.into(),
        source,
    })?;
    Ok(m)
}

/// DeepMind's `.npz` parameters as a model, in memory.
fn load_npz(path: &Path) -> Result<ModelFile, ParamsError> {
    let name = model_name_from_path(path);
    let source_sha256 = sha256_file(path).map_err(|e| ParamsError::Io {
        path: path.into(),
        message: e.to_string(),
    })?;
    let weights = read_npz_weights(path)?;
    let config = config_for(&name, &weights, path)?;
    Ok(ModelFile {
        name,
        config,
        weights_sha256: model_file::weights_sha256(&weights),
        weights,
        source_sha256,
        license: ALPHAFOLD_PARAMS_LICENSE.into(),
    })
}

/// What `params info` reports about a model file.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub name: String,
    pub tensors: usize,
    pub parameters: usize,
    pub source_sha256: String,
    pub license: String,
    pub config: ModelConfig,
    /// Peak memory and work for a query of a given size, when asked for.
    pub estimate: Option<ModelEstimate>,
}

/// A query size to estimate a model's cost for.
#[derive(Debug, Clone, Copy)]
pub struct EstimateRequest {
    /// Residues.
    pub len: usize,
    /// MSA rows before sampling into clusters and extra rows.
    pub depth: usize,
    /// Recycles (default: the model's).
    pub num_recycle: Option<usize>,
}

/// Peak memory and work of one prediction.
#[derive(Debug, Clone)]
pub struct ModelEstimate {
    pub clusters: usize,
    pub extra: usize,
    pub iterations: usize,
    pub memory: crate::model::plan::memory::MemoryEstimate,
    /// Peak GPU memory on the GPU engine, chunked as on an adapter whose binding limit is at least
    /// 4 GiB (the engine's chunks stop growing there).
    pub gpu_memory: crate::gpu::memory::GpuEstimate,
    pub flops: crate::model::plan::flops::Flops,
}

/// Loads and checks a model file (every tensor against its configuration) and summarises it, with the
/// peak memory and work of a query of `estimate`'s size when given.
pub fn info(path: &Path, estimate: Option<EstimateRequest>) -> Result<ModelInfo, ParamsError> {
    use crate::model::plan::{flops, memory};
    let m = load(path)?;
    let estimate = estimate.map(|q| {
        let sizes = memory::Sizes {
            num_res: q.len,
            num_alignments: q.depth,
            iterations: q.num_recycle.unwrap_or(m.config.num_recycle) + 1,
            threads: 0,
            // A template model's worst case: AlphaFold2's four templates.
            templates: 4,
        };
        let (clusters, extra) = sizes.msa_rows(&m.config);
        let weights: u64 = m.weights.tensors.values().map(|t| t.len() as u64 * 4).sum();
        let gpu_sizes = crate::gpu::memory::GpuSizes::planned(&m.config, &sizes);
        let gpu_memory = crate::gpu::memory::estimate(
            &m.config,
            gpu_sizes,
            crate::gpu::memory::stack_weight_bytes(&m.weights, gpu_sizes.templates > 0),
            4 << 30,
        );
        ModelEstimate {
            gpu_memory,
            clusters,
            extra,
            iterations: sizes.iterations,
            memory: memory::estimate(&m.config, sizes, weights, 1 << 30),
            flops: flops::per_iteration(
                &m.config,
                q.len,
                clusters,
                extra,
                sizes.templates_seen(&m.config),
            ),
        }
    });
    Ok(ModelInfo {
        tensors: m.weights.tensors.len(),
        parameters: m.weights.tensors.values().map(|t| t.len()).sum(),
        name: m.name,
        source_sha256: m.source_sha256,
        license: m.license,
        config: m.config,
        estimate,
    })
}

/// Writes a model file's weights back as DeepMind's `.npz` layout (for tests and interchange).
pub fn export(model_path: &Path, out: &Path) -> Result<ConvertReport, ParamsError> {
    let m = load(model_path)?;
    create_parent(out)?;
    npz::write_f32(out, &m.weights.tensors)?;
    Ok(ConvertReport {
        name: m.name,
        tensors: m.weights.tensors.len(),
        parameters: m.weights.tensors.values().map(|t| t.len()).sum(),
        source_sha256: m.source_sha256,
    })
}

/// Where DeepMind publishes AlphaFold2's parameters (all five monomer models, their _ptm variants and the
/// multimer models, CC BY 4.0).
pub const ALPHAFOLD_PARAMS_URL: &str =
    "https://storage.googleapis.com/alphafold/alphafold_params_2022-12-06.tar";

/// What `fetch` did per model.
#[derive(Debug, Clone)]
pub struct FetchedModel {
    pub name: String,
    pub model_path: PathBuf,
    /// `false` when the model file was already there.
    pub converted: bool,
}

/// Downloads the parameter archive into `<data_dir>/params/` (resuming a partial download), extracts every
/// `params_*.npz` and converts each model (monomer and multimer) into `<data_dir>/models/<name>.onnx`; a
/// rerun skips what is complete.
pub fn fetch(
    data_dir: &Path,
    url: &str,
    expect: &crate::fsutil::download::Expect,
) -> Result<Vec<FetchedModel>, ParamsError> {
    use crate::fsutil::download::download;
    let params_dir = data_dir.join("params");
    let models_dir = data_dir.join("models");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| ParamsError::Io {
            path: path.clone(),
            message: e.to_string(),
        }
    };
    std::fs::create_dir_all(&models_dir).map_err(io(&models_dir))?;
    // AlphaFold2's download_alphafold_params.sh leaves the .npz files in params/ (and deletes the
    // archive): those are used as they are, nothing is downloaded again.
    let mut existing: Vec<PathBuf> = std::fs::read_dir(&params_dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file()
                        && p.file_name().is_some_and(|n| {
                            let n = n.to_string_lossy();
                            n.starts_with("params_model_") && n.ends_with(".npz")
                        })
                })
                .collect()
        })
        .unwrap_or_default();
    existing.sort();
    if !existing.is_empty() {
        tracing::info!(
            "{} already holds {} AlphaFold2 parameter files: converting those, downloading nothing",
            params_dir.display(),
            existing.len()
        );
        let mut out = Vec::new();
        for npz in &existing {
            out.extend(fetched_model(npz, &models_dir)?);
        }
        return Ok(out);
    }
    let archive_name = url
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("alphafold_params.tar");
    let archive = params_dir.join(archive_name);
    download(url, &archive, expect).map_err(|e| ParamsError::Io {
        path: archive.clone(),
        message: e.to_string(),
    })?;

    let file = std::fs::File::open(&archive).map_err(io(&archive))?;
    let mut tar = tar::Archive::new(std::io::BufReader::new(file));
    let mut out = Vec::new();
    let bad_tar = |e: std::io::Error| ParamsError::Io {
        path: archive.clone(),
        message: format!("corrupt archive: {e}"),
    };
    for entry in tar.entries().map_err(bad_tar)? {
        let mut entry = entry.map_err(bad_tar)?;
        let name = entry
            .path()
            .map_err(bad_tar)?
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Only plain file names: an archive cannot write outside params/.
        if name.is_empty()
            || name.starts_with('.')
            || !(name.ends_with(".npz") || name == "LICENSE")
        {
            continue;
        }
        let dest = params_dir.join(&name);
        let size = entry.header().size().map_err(bad_tar)?;
        if fs_len(&dest) != Some(size) {
            let mut f = crate::fsutil::atomic::AtomicFile::create(&dest).map_err(io(&dest))?;
            std::io::copy(&mut entry, f.file()).map_err(bad_tar)?;
            f.commit().map_err(io(&dest))?;
        }
        if !name.ends_with(".npz") {
            continue;
        }
        out.extend(fetched_model(&dest, &models_dir)?);
    }
    if out.is_empty() {
        return Err(ParamsError::Io {
            path: archive,
            message: "no params_*.npz monomer parameters in the archive".into(),
        });
    }
    Ok(out)
}

/// The model file of one fetched `params_model_*.npz` (converted unless it is there already).
fn fetched_model(npz: &Path, models_dir: &Path) -> Result<Option<FetchedModel>, ParamsError> {
    let model = model_name_from_path(npz);
    let model_path = models_dir.join(format!("{model}.onnx"));
    let converted = if model_path.is_file() {
        false
    } else {
        let r = convert(npz, &model_path, Some(&model), |_| {})?;
        tracing::info!(
            "{}: {} tensors, {} parameters → {}",
            r.name,
            r.tensors,
            r.parameters,
            model_path.display()
        );
        true
    };
    Ok(Some(FetchedModel {
        name: model,
        model_path,
        converted,
    }))
}

/// Creates the directory an output file goes into.
fn create_parent(out: &Path) -> Result<(), ParamsError> {
    match out.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => std::fs::create_dir_all(dir).map_err(|e| ParamsError::Io {
            path: dir.into(),
            message: e.to_string(),
        }),
        None => Ok(()),
    }
}

fn fs_len(p: &Path) -> Option<u64> {
    std::fs::metadata(p)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len())
}

/// Name of the demo model.
pub const DEMO_MODEL_NAME: &str = "ferrofold_demo";
/// Seed of the demo model's weights.
pub const DEMO_MODEL_SEED: u64 = 2026;

/// A small model (AlphaFold2's architecture, narrow and shallow: 4 Evoformer blocks, c_m 64, c_z 32) with
/// **random** weights made deterministically from a seed by [`crate::model::params::random`]: it exercises the
/// whole pipeline without DeepMind's parameters, and its structures mean nothing.
pub fn demo_model() -> ModelFile {
    demo_model_of(ModelConfig::model_1_ptm(), DEMO_MODEL_NAME)
}

/// Name of the demo AlphaFold-Multimer model.
pub const DEMO_MULTIMER_MODEL_NAME: &str = "ferrofold_demo_multimer";

/// The demo model's sizes in AlphaFold-Multimer's architecture (templates on, a 16-channel template
/// stack), random weights from the same seed: for complexes without DeepMind's parameters.
pub fn demo_multimer_model() -> ModelFile {
    let base = ModelConfig::multimer_preset("model_1").expect("model_1 is a preset");
    let mut m = demo_model_of(base, DEMO_MULTIMER_MODEL_NAME);
    m.source_sha256 = format!("generated: ferrofold demo multimer model, seed {DEMO_MODEL_SEED}");
    m
}

/// Where `--demo-model` keeps the demo multimer model, beside the demo model.
pub fn demo_multimer_model_path() -> PathBuf {
    demo_model_path().with_file_name(format!("{DEMO_MULTIMER_MODEL_NAME}.onnx"))
}

fn demo_model_of(base: ModelConfig, name: &str) -> ModelFile {
    let mut c = base;
    let multimer = c.kind == crate::model::params::config::ModelKind::Multimer;
    c.evoformer.msa_channel = 64;
    c.evoformer.pair_channel = 32;
    c.evoformer.extra_msa_channel = 16;
    c.evoformer.seq_channel = 64;
    c.evoformer.num_block = 4;
    c.evoformer.extra_msa_num_block = 1;
    // AlphaFold-Multimer always has its template module.
    c.evoformer.templates = multimer;
    if multimer {
        // AlphaFold-Multimer runs the template stack for each of its four template slots, filled or
        // not: one narrow block keeps the demo's cost in its trunk.
        c.evoformer.template.pair_channel = 16;
        c.evoformer.template.pair_blocks = 1;
        c.evoformer.template.triangle_multiplication_channels = Some(16);
    }
    c.num_recycle = if multimer { 3 } else { 1 };
    c.structure_module.channel = 64;
    c.structure_module.layers = 4;
    c.structure_module.sidechain_channel = 32;
    c.heads.plddt_channels = 32;
    c.evoformer.triangle_multiplication_channels = 32;
    c.input.max_msa_clusters = 128;
    c.input.max_extra_msa = 256;
    let mut weights = Weights::default();
    for (key, shape) in schema::expected(&c) {
        let mut t = crate::model::params::random::param_values(&key, &shape, DEMO_MODEL_SEED);
        // Keep residual updates small so the random network stays numerically tame.
        if key.ends_with("transition2//weights")
            || key.ends_with("output_projection//weights")
            || key.ends_with("//output_w")
        {
            t.mapv_inplace(|v| v * 0.1);
        }
        weights.tensors.insert(key, t);
    }
    ModelFile {
        name: name.into(),
        config: c,
        weights,
        source_sha256: format!("generated: ferrofold demo model, seed {DEMO_MODEL_SEED}"),
        license: "random weights generated by ferrofold (no licence restrictions); not AlphaFold2's parameters".into(),
        weights_sha256: String::new(), // the writer computes it
    }
}

/// Writes the demo model to `path` unless a valid one is there already; returns whether it was written.
pub fn ensure_demo_model(path: &Path) -> Result<bool, ParamsError> {
    ensure_demo(path, false)
}

/// As [`ensure_demo_model`], the demo multimer model ([`demo_multimer_model`]) when `multimer`.
pub fn ensure_demo(path: &Path, multimer: bool) -> Result<bool, ParamsError> {
    let name = if multimer {
        DEMO_MULTIMER_MODEL_NAME
    } else {
        DEMO_MODEL_NAME
    };
    if let Ok(m) = load(path) {
        if m.name == name {
            return Ok(false);
        }
    }
    create_parent(path)?;
    // A kill while an earlier run wrote it left a temporary beside it.
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::fsutil::atomic::remove_stale_temporaries(dir);
    }
    let model = if multimer {
        demo_multimer_model()
    } else {
        demo_model()
    };
    model_file::write(path, &model)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writing_the_demo_model_removes_what_a_killed_writer_left() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir
            .path()
            .join(".ferrofold-9999999-Ab12Cd34Ef56.ferrofold_demo.onnx.tmp");
        std::fs::write(&stale, b"half a model").unwrap();
        assert!(ensure_demo_model(&dir.path().join("ferrofold_demo.onnx")).unwrap());
        assert!(!stale.exists());
    }
}
