//! The `predict` stage: `features.h5` + model files → for each model and seed a prediction named as
//! AlphaFold2 names them, `<model>_pred_<k>` (seed `seed + k`, `k < num_seeds`): `result_<pred>.h5`,
//! `unrelaxed_<pred>.pdb` / `.cif` (pLDDT in the B-factor column), `confidence_<pred>.json`,
//! `pae_<pred>.json` (ptm models); then `ranked_<k>.pdb` / `.cif` over every prediction of the run,
//! `ranking_debug.json` and `timings.json`, ranked as AlphaFold2 ranks monomers (mean pLDDT); `ranked_*`
//! files of an earlier, larger run are removed. Every file is written atomically; a prediction whose result
//! exists for the same inputs (features, model, seed, recycles) is skipped on a rerun.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::{Array2, ArrayViewD};
use thiserror::Error;
use tracing::info;

use super::params::{self, ParamsError};
use crate::fsutil::checksum::{sha256_file, InputHash};
use crate::io::confidence::{
    pae_json, to_json_indent4, write_json_path, ConfidenceJson, RankingDebug,
};
use crate::io::features_h5::{self, FeaturesFileError};
use crate::io::{mmcif, pdb, results_h5};
use crate::model::engine::{CpuEngine, Engine, GpuEngine};
use crate::model::input::pipeline::{process_features, PipelineConfig};
use crate::model::net::alphafold::{AlphaFold, EarlyStop, Prediction};
use crate::model::params::config::RuntimeOptions;
use crate::model::params::model_file::ModelFile;
use crate::model::plan::memory;
use crate::protein::{Protein, StructureError};

/// Options of the stage.
#[derive(Debug, Clone)]
pub struct PredictOptions {
    pub features: PathBuf,
    pub models: Vec<PathBuf>,
    /// The target's output directory (`out/<target>/`).
    pub output_dir: PathBuf,
    /// Seed of the MSA sampling and masking (of the first prediction of each model).
    pub seed: u64,
    /// Predictions per model, with seeds `seed`, `seed + 1`, … (AlphaFold2's
    /// `num_multimer_predictions_per_model`, here for every model).
    pub num_seeds: usize,
    /// Recycles (iterations − 1); `None`: the model's own (AlphaFold2: 3).
    pub num_recycle: Option<usize>,
    /// `false` switches the input pipeline's randomness off (first rows as clusters, no masking).
    pub random: bool,
    pub runtime: RuntimeOptions,
    /// Stop recycling when Cα distances change less than this (Å).
    pub early_stop_tolerance: Option<f32>,
    /// Refuse models without the predicted-aligned-error head (no PAE / pTM outputs).
    pub require_pae: bool,
    pub overwrite: bool,
    /// Longest query accepted (`--max-length`): the pair representation grows with its square.
    pub max_length: usize,
    /// Draw `plddt.png`, `pae.png` and `coverage.png` into the output directory.
    pub plots: bool,
    /// Peak memory a model may use (`None`: the memory available when the stage starts). Chunks
    /// (`runtime.chunk_budget` at most) shrink to fit; a model that cannot fit is refused.
    pub memory_budget: Option<u64>,
    /// AlphaFold2's processed features (`processed_features.npz`, a leading recycling axis) to run
    /// exactly, iteration by iteration, instead of sampling from `features` (which is then unused):
    /// no resampling, recycles = iterations - 1, one prediction per model.
    pub processed_features: Option<PathBuf>,
    /// File format of `result_<prediction>.*` (HDF5 or numpy's `.npz`).
    pub result_format: results_h5::ResultFormat,
    /// MSA cluster rows the models sample instead of their `max_msa_clusters` (ColabFold's `max_seq`).
    pub max_msa_clusters: Option<usize>,
    /// Extra MSA rows instead of the models' `max_extra_msa` (ColabFold's `max_extra_seq`).
    pub max_extra_msa: Option<usize>,
    /// Which predictions to relax after ranking (AlphaFold2 2.3: the best); `ranked_<k>` are then the
    /// relaxed models where they exist.
    pub relax: super::relax::RelaxMode,
    /// Where the network runs (`--device`).
    pub device: Device,
    /// GPU memory a prediction may use (`--gpu-memory-budget`; `None`: the adapter's memory where the
    /// driver reports it, else unchecked).
    pub gpu_memory_budget: Option<u64>,
}

/// Where the network runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Device {
    /// The CPU engine.
    Cpu,
    /// The GPU engine (the trunk's stacks on the GPU); an error when no adapter is found or the GPU
    /// fails.
    Gpu,
    /// The GPU engine when a hardware GPU adapter is found (falling back to the CPU, logged, if it
    /// fails), else the CPU engine. Software adapters (lavapipe) are used only with `gpu`.
    #[default]
    Auto,
}

impl Default for PredictOptions {
    /// The CLI's defaults: seed 0, the model's recycles, random sampling, all cores, 1 GiB chunks,
    /// plots on; no features file, models or output folder yet; but no relaxation (the CLI's `--relax`
    /// default is `best`).
    fn default() -> Self {
        Self {
            features: PathBuf::new(),
            models: Vec::new(),
            output_dir: PathBuf::new(),
            seed: 0,
            num_seeds: 1,
            num_recycle: None,
            random: true,
            runtime: RuntimeOptions::default(),
            early_stop_tolerance: None,
            require_pae: false,
            overwrite: false,
            max_length: DEFAULT_PREDICT_MAX_LENGTH,
            plots: true,
            memory_budget: None,
            processed_features: None,
            result_format: Default::default(),
            max_msa_clusters: None,
            max_extra_msa: None,
            relax: Default::default(),
            device: Device::default(),
            gpu_memory_budget: None,
        }
    }
}

/// Default of `predict --max-length`: at 3,000 residues one pair representation of model_1_ptm
/// (128 channels, f32) is 4.6 GB, and the trunk holds several.
pub const DEFAULT_PREDICT_MAX_LENGTH: usize = 3_000;

/// What happened to one model.
#[derive(Debug, Clone)]
pub struct ModelReport {
    pub name: String,
    pub ranking_confidence: f64,
    pub mean_plddt: f64,
    pub ptm: Option<f64>,
    /// Interface pTM (complexes).
    pub iptm: Option<f64>,
    pub seconds: f64,
    pub skipped: bool,
}

/// Errors of the stage; each names the file, model or tensor.
#[derive(Debug, Error)]
pub enum PredictError {
    #[error(transparent)]
    Features(#[from] FeaturesFileError),
    #[error(transparent)]
    Params(#[from] ParamsError),
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("model '{model}': {message}")]
    Model { model: String, message: String },
    #[error("model '{model}': needs an estimated {needs} of GPU memory at its peak, over the GPU memory budget of {budget} ({source_of_budget}); use --device cpu or auto, a shorter query or fewer MSA rows, or raise --gpu-memory-budget")]
    GpuMemory {
        model: String,
        needs: String,
        budget: String,
        source_of_budget: &'static str,
    },
    #[error("model '{model}': needs an estimated {needs} at its peak, over the memory budget of {budget} ({source_of_budget}); raise --memory-budget, or use a shorter query or fewer MSA rows")]
    Memory {
        model: String,
        needs: String,
        budget: String,
        source_of_budget: &'static str,
    },
    #[error(transparent)]
    Structure(#[from] StructureError),
    #[error("relax: {0} (the unrelaxed models and their ranking are written; --relax none skips relaxation)")]
    Relax(Box<super::relax::RelaxStageError>),
    #[error("{0}")]
    Write(String),
}

pub(super) fn write_err(path: &Path) -> impl Fn(std::io::Error) -> PredictError + '_ {
    move |e| PredictError::Write(format!("{}: {e}", path.display()))
}

/// Runs the stage: every model on the features, then the ranking, timings and plots. AlphaFold2's
/// `features.pkl` is accepted in place of `features.h5`: it is converted first into
/// `<output_dir>/features.h5` (reused while the pickle is unchanged), and the run goes on from that.
pub fn run(opts: &PredictOptions) -> Result<Vec<ModelReport>, PredictError> {
    check_settings(opts)?;
    if crate::io::features_pkl::is_pickle(&opts.features) {
        let dest = opts.output_dir.join("features.h5");
        let report = super::features::convert_pickle(
            &opts.features,
            &dest,
            &format!("(converted by predict from {})", opts.features.display()),
            opts.overwrite,
        )
        .map_err(|e| match e {
            super::features::FeaturesStageError::FeaturesFile(f) => PredictError::Features(f),
            other => PredictError::Invalid {
                path: opts.features.clone(),
                message: other.to_string(),
            },
        })?;
        let converted = PredictOptions {
            features: report.features_path,
            ..opts.clone()
        };
        return run(&converted);
    }
    if features_h5::multimer::is_multimer(&opts.features) {
        return super::predict_complex::run(opts);
    }
    let max = crate::model::params::config::MAX_NUM_RECYCLE;
    if opts.num_recycle.is_some_and(|n| n > max) {
        return Err(PredictError::Invalid {
            path: opts.features.clone(),
            message: format!(
                "{} recycles is more than the limit of {max}",
                opts.num_recycle.unwrap_or(0)
            ),
        });
    }
    // Everything that decides whether the job fits is checked before the alignment is read: the file's
    // integrity, the models, and the peak memory at the sizes the file claims.
    let processed = match &opts.processed_features {
        Some(p) => Some(read_processed(opts, p)?),
        None => None,
    };
    let (features_sha, sizes) = match (&processed, &opts.processed_features) {
        (Some((_, sha, sizes)), _) => (sha.clone(), *sizes),
        _ => (
            check_features_file(opts)?,
            features_h5::peek_sizes(&opts.features)?,
        ),
    };
    let features_h5::PeekedSizes {
        num_res,
        num_alignments,
        templates: num_templates,
    } = sizes;
    let mut models = load_models(opts, num_res)?;
    let monomer = |m: &ModelFile| m.config.kind == crate::model::params::config::ModelKind::Monomer;
    if models.iter().any(monomer) {
        models.retain(|m| {
            if !monomer(m) {
                tracing::warn!(
                    "{}: an AlphaFold-Multimer model, not run on a single chain",
                    m.name
                );
            }
            monomer(m)
        });
    }
    if let Some(m) = models.iter().find(|m| !monomer(m)) {
        return Err(PredictError::Model {
            model: m.name.clone(),
            message: format!(
                "an AlphaFold-Multimer model; {} holds a single chain's features: use a monomer model (model_1 … model_5, _ptm), or make a complex's features (`ferrofold features --complex`)",
                opts.features.display()
            ),
        });
    }
    let runtimes = plan_memory(opts, num_res, num_alignments, num_templates, &models)?;
    let (raw, prov, fixed_inputs) = match processed {
        Some((pf, _, _)) => {
            let raw = raw_of_processed(&pf);
            let prov = features_h5::Provenance {
                query_sequence: raw.sequence.sequence.clone(),
                ..Default::default()
            };
            (raw, prov, Some(pf.inputs))
        }
        None => {
            let (raw, prov) = read_features(opts)?;
            (raw, prov, None)
        }
    };
    let _lock = prepare_output_dir(opts)?;
    let mut timings: BTreeMap<String, f64> = BTreeMap::new();
    let reports = for_each_prediction(
        opts,
        &features_sha,
        &models,
        runtimes,
        |m, runtime, k, pred_name, seed, hash| {
            let t0 = Instant::now();
            let (recycles, inputs) = match &fixed_inputs {
                Some(given) => (given.len() - 1, given.clone()),
                None => {
                    let recycles = opts.num_recycle.unwrap_or(m.config.num_recycle);
                    let inputs = process_features(
                        &raw,
                        &PipelineConfig::for_model(&m.config),
                        recycles + 1,
                        seed,
                        opts.random,
                    );
                    (recycles, inputs)
                }
            };
            let process_s = t0.elapsed().as_secs_f64();
            let seen = inputs.first().map_or(0, |x| x.templates.count());
            if raw.templates.count() > 0 && k == 0 {
                info!(
                    "{}: {}",
                    m.name,
                    if seen == 0 {
                        format!(
                            "no template module: the {} templates in the features are not used",
                            raw.templates.count()
                        )
                    } else {
                        format!(
                            "templates {}",
                            raw.templates.domain_names[..seen].join(", ")
                        )
                    }
                );
            }
            let t1 = Instant::now();
            let pred = predict_model(opts, m, pred_name, &inputs, runtime, recycles)?;
            let predict_s = t1.elapsed().as_secs_f64();
            timings.insert(format!("process_features_{pred_name}"), process_s);
            timings.insert(format!("predict_and_compile_{pred_name}"), predict_s);
            let protein = protein_of(&raw, &pred)?;
            let ranking_confidence = pred.heads.plddt.mean().unwrap_or(0.0) as f64;
            let report = write_model_outputs(
                opts,
                m,
                pred_name,
                seed,
                &pred,
                hash,
                &prov.query_sequence,
                OutputParts {
                    protein,
                    ranking_confidence,
                    extra: Vec::new(),
                },
            )?;
            info!(
                "{pred_name} (seed {seed}): mean pLDDT {:.2}{} ({:.1} s)",
                report.mean_plddt,
                report
                    .ptm
                    .map(|p| format!(", pTM {p:.3}"))
                    .unwrap_or_default(),
                predict_s
            );
            Ok(ModelReport {
                seconds: predict_s,
                ..report
            })
        },
    )?;
    let order = write_ranking(opts, &reports, &timings, false)?;
    if opts.plots {
        write_plots(opts, &raw, &order);
    }
    Ok(reports)
}

/// Settings no prediction can run with, refused before any work: an early-stop tolerance that is not a
/// finite distance ≥ 0 (NaN would never stop, nor say so), seeds past the largest one (they would wrap
/// around to 0).
fn check_settings(opts: &PredictOptions) -> Result<(), PredictError> {
    let invalid = |message: String| PredictError::Invalid {
        path: opts.features.clone(),
        message,
    };
    if let Some(t) = opts.early_stop_tolerance {
        if !(t.is_finite() && t >= 0.0) {
            return Err(invalid(format!(
                "early-stop tolerance {t}: must be a finite distance ≥ 0 (Å)"
            )));
        }
    }
    let last = (opts.num_seeds.max(1) - 1) as u64;
    if opts.seed.checked_add(last).is_none() {
        return Err(invalid(format!(
            "seeds {} … {} + {last} go past the largest seed, {}",
            opts.seed,
            opts.seed,
            u64::MAX
        )));
    }
    Ok(())
}

/// Creates the output folder and takes its lock (one process at a time writes a prediction folder; a
/// second waits, then finds the results up to date); removes what an interrupted run left.
pub(super) fn prepare_output_dir(
    opts: &PredictOptions,
) -> Result<crate::fsutil::tree::DirLock, PredictError> {
    crate::fsutil::tree::create_output_dir(&opts.output_dir)
        .map_err(write_err(&opts.output_dir))?;
    let lock = crate::fsutil::tree::DirLock::acquire(&opts.output_dir, "predict")
        .map_err(write_err(&opts.output_dir))?;
    let stale = crate::fsutil::atomic::remove_stale_temporaries(&opts.output_dir);
    if stale > 0 {
        info!(
            "removed {stale} temporary file(s) left by an interrupted run in {}",
            opts.output_dir.display()
        );
    }
    Ok(lock)
}

/// Every model × seed (`<model>_pred_<k>`, seed `seed + k`): an earlier result for the same inputs is
/// reused, otherwise `one(model, runtime, k, name, seed, input hash)` predicts and writes it. Logs each
/// model's memory line first.
pub(super) fn for_each_prediction(
    opts: &PredictOptions,
    features_sha: &str,
    models: &[ModelFile],
    runtimes: Vec<(RuntimeOptions, String)>,
    mut one: impl FnMut(
        &ModelFile,
        &RuntimeOptions,
        usize,
        &str,
        u64,
        &str,
    ) -> Result<ModelReport, PredictError>,
) -> Result<Vec<ModelReport>, PredictError> {
    let mut reports = Vec::new();
    for (m, (runtime, line)) in models.iter().zip(runtimes) {
        info!("{line}");
        for k in 0..opts.num_seeds.max(1) {
            let pred_name = prediction_name(&m.name, k);
            let seed = opts.seed.wrapping_add(k as u64);
            let hash = result_hash(opts, features_sha, m, seed);
            match reusable_result(opts, &pred_name, &hash) {
                Some(report) => reports.push(report),
                None => reports.push(one(m, &runtime, k, &pred_name, seed, &hash)?),
            }
        }
    }
    Ok(reports)
}

/// One model on in-memory features, nothing written: the library form of the stage for tools that embed
/// it. Uses `opts`' sampling and runtime settings (seed, recycles, randomness, threads, chunk budget,
/// early stop); its file fields are ignored. Returns the prediction and its structure (pLDDT as
/// B-factors).
pub fn predict_features(
    model: &ModelFile,
    raw: &crate::features::RawFeatures,
    opts: &PredictOptions,
) -> Result<(Prediction, Protein), PredictError> {
    refuse_multimer(model)?;
    let recycles = opts
        .num_recycle
        .unwrap_or(model.config.num_recycle)
        .min(crate::model::params::config::MAX_NUM_RECYCLE);
    let inputs = process_features(
        raw,
        &PipelineConfig::for_model(&model.config),
        recycles + 1,
        opts.seed,
        opts.random,
    );
    let pred = predict_model(opts, model, &model.name, &inputs, &opts.runtime, recycles)?;
    let protein = protein_of(raw, &pred)?;
    Ok((pred, protein))
}

/// One model on AlphaFold2's processed features, iteration by iteration (what `--processed-features`
/// runs), nothing written: for tools that reproduce an AlphaFold2 run in memory. Recycles are fixed by
/// the iterations the features hold; `opts` gives the runtime settings.
pub fn predict_processed(
    model: &ModelFile,
    processed: &crate::model::input::processed::ProcessedFeatures,
    opts: &PredictOptions,
) -> Result<(Prediction, Protein), PredictError> {
    refuse_multimer(model)?;
    let recycles = processed.inputs.len().saturating_sub(1);
    let pred = predict_model(
        opts,
        model,
        &model.name,
        &processed.inputs,
        &opts.runtime,
        recycles,
    )?;
    let protein = protein_of(&raw_of_processed(processed), &pred)?;
    Ok((pred, protein))
}

/// A single chain's features need a monomer model.
fn refuse_multimer(model: &ModelFile) -> Result<(), PredictError> {
    if model.config.kind == crate::model::params::config::ModelKind::Multimer {
        return Err(PredictError::Model {
            model: model.name.clone(),
            message: "an AlphaFold-Multimer model: a single chain's features need a monomer model (model_1 … model_5, _ptm); complexes are predicted from their features.h5 by the predict stage".into(),
        });
    }
    Ok(())
}

/// The features file's SHA-256 (which keys the results), checked against its recorded checksum (a file
/// without one is taken as given). A file that cannot be read is reported by the features reader.
pub(super) fn check_features_file(opts: &PredictOptions) -> Result<String, PredictError> {
    let features_sha = sha256_file(&opts.features);
    if let Ok(sha) = &features_sha {
        let integrity = crate::fsutil::checksum::check_hash(&opts.features, sha.clone());
        if let crate::fsutil::checksum::Check::Mismatch { .. } = integrity {
            return Err(PredictError::Invalid {
                path: opts.features.clone(),
                message: format!(
                    "{}; make it again with the features stage",
                    integrity.reason()
                ),
            });
        }
    }
    if let Err(e) = features_sha {
        // The reader names what is wrong with the file (missing, not HDF5, not a regular file).
        features_h5::read_provenance(&opts.features)?;
        return Err(PredictError::Invalid {
            path: opts.features.clone(),
            message: e.to_string(),
        });
    }
    features_sha.map_err(|e| PredictError::Invalid {
        path: opts.features.clone(),
        message: e.to_string(),
    })
}

/// Reads `--processed-features` (all of it: it is the network's input) and checks that the other
/// settings agree with it: the iterations it holds fix the recycles, and it is one sample.
fn read_processed(
    opts: &PredictOptions,
    path: &Path,
) -> Result<
    (
        crate::model::input::processed::ProcessedFeatures,
        String,
        features_h5::PeekedSizes,
    ),
    PredictError,
> {
    let invalid = |message: String| PredictError::Invalid {
        path: path.into(),
        message,
    };
    let sha = sha256_file(path).map_err(|e| invalid(e.to_string()))?;
    let npz = crate::io::npz::Npz::read_path(path).map_err(|e| invalid(e.to_string()))?;
    let pf = crate::model::input::processed::ProcessedFeatures::read(&npz)
        .map_err(|e| invalid(e.to_string()))?;
    let iterations = pf.inputs.len();
    if let Some(r) = opts.num_recycle.filter(|&r| r + 1 != iterations) {
        return Err(invalid(format!(
            "holds {iterations} iterations (recycles = {}); --num-recycle {r} disagrees: leave it out",
            iterations - 1
        )));
    }
    if opts.num_seeds > 1 {
        return Err(invalid(format!(
            "processed features are one sample: --num-seeds {} would repeat the same prediction",
            opts.num_seeds
        )));
    }
    let first = &pf.inputs[0];
    let sizes = features_h5::PeekedSizes {
        num_res: pf.aatype.len(),
        num_alignments: first.msa_feat.shape()[0] + first.extra_msa.nrows(),
        templates: first.templates.count(),
    };
    info!(
        "{}: processed features, {} iterations, {} residues, {} cluster + {} extra rows",
        path.display(),
        iterations,
        sizes.num_res,
        first.msa_feat.shape()[0],
        first.extra_msa.nrows()
    );
    Ok((pf, sha, sizes))
}

/// What the outputs (structure files, coverage picture) need of the query, from processed features:
/// its sequence and residue numbers, and the first iteration's cluster rows as the alignment.
fn raw_of_processed(
    pf: &crate::model::input::processed::ProcessedFeatures,
) -> crate::features::RawFeatures {
    let letters: String = pf
        .aatype
        .iter()
        .map(|&a| {
            crate::residue_constants::RESTYPES
                .get(a as usize)
                .copied()
                .unwrap_or('X')
        })
        .collect();
    let q = crate::query::Query {
        id: "processed_features".into(),
        description: "processed_features".into(),
        sequence: letters,
    };
    let mut raw = crate::features::builder::FeatureBuilder::single_sequence()
        .build(&q, "processed_features.npz")
        .expect("a sequence of standard residue letters builds")
        .features;
    raw.sequence.residue_index = pf.residue_index.clone();
    let rows = pf.msa_rows.nrows();
    raw.msa.msa = pf.msa_rows.clone();
    raw.msa.deletion_matrix_int = ndarray::Array2::zeros(pf.msa_rows.raw_dim());
    raw.msa.num_alignments = ndarray::Array1::from_elem(pf.aatype.len(), rows as i32);
    raw.msa.msa_species_identifiers = vec![String::new(); rows];
    raw
}

/// The features (with their templates, if any: template models use the first four, the others none).
fn read_features(
    opts: &PredictOptions,
) -> Result<(crate::features::RawFeatures, features_h5::Provenance), PredictError> {
    Ok(features_h5::read(&opts.features)?)
}

/// Loads and checks every model before anything is written; refuses a query longer than
/// `--max-length`, naming what one pair representation of the widest model would take.
/// Checks every model file of `opts` as `predict` would (readable, weights intact, PAE head if required,
/// no name twice), one at a time so that only one model is in memory: `run` calls it before any search
/// or write, so that a broken model file stops the batch before hours of searches.
/// Returns each model's kind (monomer or AlphaFold-Multimer), in order.
pub(crate) fn check_models(
    opts: &PredictOptions,
) -> Result<Vec<crate::model::params::config::ModelKind>, PredictError> {
    let mut names: Vec<String> = Vec::new();
    let mut kinds = Vec::new();
    for path in &opts.models {
        let m = params::load(path)?;
        check_model(opts, &m, path, &names)?;
        names.push(m.name.clone());
        kinds.push(m.config.kind);
    }
    Ok(kinds)
}

/// One model file against the options and the models before it.
fn check_model(
    opts: &PredictOptions,
    m: &ModelFile,
    path: &std::path::Path,
    earlier: &[String],
) -> Result<(), PredictError> {
    if opts.require_pae && m.config.heads.pae_bins.is_none() {
        return Err(PredictError::Model {
            model: m.name.clone(),
            message: format!("{}: no predicted-aligned-error head, so no PAE or pTM (use a _ptm model, or drop --require-pae)", path.display()),
        });
    }
    if earlier.contains(&m.name) {
        return Err(PredictError::Model {
            model: m.name.clone(),
            message: format!("{}: given twice", path.display()),
        });
    }
    Ok(())
}

pub(super) fn load_models(
    opts: &PredictOptions,
    num_res: usize,
) -> Result<Vec<ModelFile>, PredictError> {
    if opts.models.is_empty() {
        return Err(PredictError::Invalid {
            path: opts.output_dir.clone(),
            message: "no model files given".into(),
        });
    }
    let mut models: Vec<ModelFile> = Vec::new();
    for path in &opts.models {
        let mut m = params::load(path)?;
        // Row counts are sampling settings, not weights: they enter the configuration (and with it the
        // result's input hash).
        if let Some(n) = opts.max_msa_clusters {
            m.config.input.max_msa_clusters = n;
        }
        if let Some(n) = opts.max_extra_msa {
            m.config.input.max_extra_msa = n;
        }
        let earlier: Vec<String> = models.iter().map(|o| o.name.clone()).collect();
        check_model(opts, &m, path, &earlier)?;
        models.push(m);
    }
    if num_res > opts.max_length {
        let c_z = models
            .iter()
            .map(|m| m.config.evoformer.pair_channel)
            .max()
            .unwrap_or(0);
        return Err(PredictError::Invalid {
            path: opts.features.clone(),
            message: format!(
                "{num_res} residues, more than the limit of {} (one {c_z}-channel pair representation alone would take {:.1} GB; raise the limit with --max-length)",
                opts.max_length,
                (num_res as f64).powi(2) * c_z as f64 * 4.0 / 1e9
            ),
        });
    }
    Ok(models)
}

/// Every model's peak memory, estimated and fitted to the budget (chunk sizes shrink to fit) before
/// anything is read or written; a model that cannot fit is refused with the numbers. With `--device
/// gpu`, the same for GPU memory (see [`gpu_budget_check`]). Returns each model's runtime settings and
/// the line that reports its estimates.
pub(super) fn plan_memory(
    opts: &PredictOptions,
    num_res: usize,
    num_alignments: usize,
    num_templates: usize,
    models: &[ModelFile],
) -> Result<Vec<(RuntimeOptions, String)>, PredictError> {
    let (budget, source_of_budget) = match opts.memory_budget {
        Some(b) => (b, "--memory-budget"),
        None => (
            memory::available_memory().unwrap_or(u64::MAX),
            "the memory available now; set it with --memory-budget",
        ),
    };
    let mut runtimes = Vec::new();
    for m in models {
        let sizes = memory::Sizes {
            num_res,
            num_alignments,
            iterations: opts.num_recycle.unwrap_or(m.config.num_recycle) + 1,
            threads: opts.runtime.threads,
            templates: num_templates,
        };
        let weights_bytes: u64 = m.weights.tensors.values().map(|t| t.len() as u64 * 4).sum();
        match memory::fit(
            &m.config,
            sizes,
            weights_bytes,
            budget,
            opts.runtime.chunk_budget as u64,
        ) {
            Ok(est) => {
                let mut line = format!(
                    "{}: estimated peak memory {} of a {} budget",
                    m.name,
                    est.describe(),
                    memory::human(budget)
                );
                if opts.device == Device::Gpu {
                    // The GPU is opened here only when asked for: `auto` checks its adapter when the
                    // model runs (see `choose_engine`), and may then pick the CPU instead.
                    let gpu = crate::gpu::shared().map_err(|e| PredictError::Model {
                        model: m.name.clone(),
                        message: format!("--device gpu: {e}"),
                    })?;
                    let gpu_sizes = crate::gpu::memory::GpuSizes::planned(&m.config, &sizes);
                    let check = gpu_budget_check(opts, &gpu, m, gpu_sizes);
                    line.push_str(&format!("; GPU memory {}", check.report));
                    if let Some(e) = check.over {
                        return Err(e);
                    }
                }
                runtimes.push((
                    RuntimeOptions {
                        chunk_budget: est.chunk_budget as usize,
                        ..opts.runtime.clone()
                    },
                    line,
                ));
            }
            Err(est) => {
                return Err(PredictError::Memory {
                    model: m.name.clone(),
                    needs: est.describe(),
                    budget: memory::human(budget),
                    source_of_budget,
                })
            }
        }
    }
    Ok(runtimes)
}

/// A model's estimated peak GPU memory ([`crate::gpu::memory`]) against `--gpu-memory-budget`, else
/// the adapter's memory where the driver reports it.
struct GpuBudgetCheck {
    /// The estimate and its budget, for the log.
    report: String,
    /// Over budget: the refusal (`--device gpu`; `auto` runs such a model on the CPU).
    over: Option<PredictError>,
}

fn gpu_budget_check(
    opts: &PredictOptions,
    gpu: &crate::gpu::Gpu,
    m: &ModelFile,
    sizes: crate::gpu::memory::GpuSizes,
) -> GpuBudgetCheck {
    let est = crate::gpu::memory::estimate(
        &m.config,
        sizes,
        crate::gpu::memory::stack_weight_bytes(&m.weights, sizes.templates > 0),
        gpu.max_binding_bytes(),
    );
    let (budget, source_of_budget) = match opts.gpu_memory_budget {
        Some(b) => (Some(b), "--gpu-memory-budget"),
        None => (
            gpu.adapter_memory(),
            "the adapter's memory; set it with --gpu-memory-budget",
        ),
    };
    let report = match budget {
        Some(b) => format!("{} of a {} budget", est.describe(), memory::human(b)),
        None => format!(
            "{} (the adapter does not report its memory: not checked)",
            est.describe()
        ),
    };
    let over = budget
        .filter(|&b| est.total > b)
        .map(|b| PredictError::GpuMemory {
            model: m.name.clone(),
            needs: est.describe(),
            budget: memory::human(b),
            source_of_budget,
        });
    GpuBudgetCheck { report, over }
}

/// What a model's result depends on: the features' bytes, the model's weights (their own checksum: a
/// demo model or an export can share a name, a source and a configuration with other weights) and
/// configuration, and the sampling settings.
/// AlphaFold2's name of prediction `k` of `model`.
pub fn prediction_name(model: &str, k: usize) -> String {
    format!("{model}_pred_{k}")
}

pub(super) fn result_hash(
    opts: &PredictOptions,
    features_sha: &str,
    m: &ModelFile,
    seed: u64,
) -> String {
    let recycles = opts.num_recycle.unwrap_or(m.config.num_recycle);
    let mut h = InputHash::new("ferrofold predict v2");
    h.add(features_sha)
        .add(&m.source_sha256)
        .add(&m.weights_sha256)
        .add(&serde_json::to_string(&m.config).unwrap_or_default());
    h.add(&format!(
        "{}/{}/{}/{:?}",
        seed, recycles, opts.random, opts.early_stop_tolerance
    ));
    h.finish()
}

/// The report of an earlier run's result for the same inputs, when it may be reused.
pub(super) fn reusable_result(
    opts: &PredictOptions,
    name: &str,
    hash: &str,
) -> Option<ModelReport> {
    let result_path = opts.result_format.path(&opts.output_dir, name);
    let recorded = || {
        results_h5::read_attr(&result_path, "input_sha256")
            .ok_or_else(|| format!("{}: no recorded input hash", result_path.display()))
    };
    if opts.overwrite
        || !super::reuse::may_reuse(name, &result_path, recorded, hash, "predicting again")
    {
        return None;
    }
    let plddt = results_h5::read_f32(&result_path, "plddt")?;
    let mean = plddt.mean().unwrap_or(0.0) as f64;
    let scalar = |key: &str| {
        results_h5::read_f32(&result_path, key).and_then(|a| a.iter().next().map(|&v| v as f64))
    };
    let ptm = scalar("ptm");
    let iptm = scalar("iptm");
    // The files written from the prediction before its result file: one deleted since (by hand, or a
    // clean-up script) is made again with the rest, never left missing beside a result called done.
    let mut derived = vec![
        format!("unrelaxed_{name}.pdb"),
        format!("unrelaxed_{name}.cif"),
        format!("confidence_{name}.json"),
    ];
    if ptm.is_some() {
        derived.push(format!("pae_{name}.json"));
    }
    if let Some(gone) = derived.iter().find(|f| !opts.output_dir.join(f).is_file()) {
        info!(
            "{name}: {} is missing beside {}; predicting again",
            opts.output_dir.join(gone).display(),
            result_path.display()
        );
        return None;
    }
    info!("{name}: {} is up to date, skipped", result_path.display());
    Some(ModelReport {
        name: name.to_string(),
        ranking_confidence: scalar("ranking_confidence").unwrap_or(mean),
        mean_plddt: mean,
        ptm,
        iptm,
        seconds: 0.0,
        skipped: true,
    })
}

/// Worker threads for `requested` (0: one per core): at most what this process may run on (its CPU
/// affinity and cgroup quota, as a Slurm allocation sets them), saying so when it asks for more.
fn worker_threads(requested: usize) -> usize {
    let available = std::thread::available_parallelism().map_or(1, |n| n.get());
    if requested > available {
        tracing::warn!(
            "--threads {requested}: this machine (or its allocation) offers {available} cores; using {available}"
        );
        return available;
    }
    requested
}

/// Runs one model on the engine `--device` picks, in its own thread pool, with a progress bar of its
/// blocks.
pub(super) fn predict_model(
    opts: &PredictOptions,
    m: &ModelFile,
    name: &str,
    inputs: &[crate::model::input::trunk_inputs::TrunkInputs],
    runtime: &RuntimeOptions,
    recycles: usize,
) -> Result<Prediction, PredictError> {
    let name = name.to_string();
    let model_err = |e: &dyn std::fmt::Display| PredictError::Model {
        model: name.clone(),
        message: e.to_string(),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(worker_threads(opts.runtime.threads))
        .build()
        .map_err(|e| model_err(&e))?;
    // One step per extra-MSA / Evoformer block of every iteration.
    let blocks = m.config.evoformer.extra_msa_num_block + m.config.evoformer.num_block;
    let bar = crate::progress::steps_bar(
        ((recycles + 1) * blocks.max(1)) as u64,
        &format!("{name}: iteration 1/{}, blocks", recycles + 1),
    );
    let mut runtime = runtime.clone();
    if !bar.is_hidden() {
        let b = bar.clone();
        runtime.on_block = Some(crate::model::params::config::BlockHook(
            std::sync::Arc::new(move || b.inc(1)),
        ));
    }
    let net = AlphaFold::load(&m.config, &m.weights).map_err(|e| model_err(&e))?;
    let engine = choose_engine(opts, m, &net, inputs, &name).map_err(|e| model_err(&e))?;
    let pred = pool.install(|| {
        engine.predict(
            &net,
            inputs,
            &runtime,
            opts.early_stop_tolerance
                .map(|tolerance| EarlyStop { tolerance }),
            &mut |r, s| {
                bar.set_position(((r + 1) * blocks.max(1)) as u64);
                crate::progress::set_message(
                    &bar,
                    &format!(
                        "{name}: iteration {}/{}, blocks",
                        (r + 2).min(recycles + 1),
                        recycles + 1
                    ),
                );
                info!(
                    "{name}: iteration {}/{} done in {s:.2} s",
                    r + 1,
                    recycles + 1
                );
            },
        )
    });
    bar.finish_and_clear();
    pred.map_err(|e| model_err(&e))
}

/// The engine `--device` asks for (see [`Device`]), logged. A model whose estimated GPU memory (at the
/// sizes of its `inputs`) is over the budget is an error with `gpu` (the CLI refused it earlier, in
/// [`plan_memory`]; this catches the library's entry points) and runs on the CPU with `auto`.
fn choose_engine(
    opts: &PredictOptions,
    m: &ModelFile,
    net: &AlphaFold,
    inputs: &[crate::model::input::trunk_inputs::TrunkInputs],
    model: &str,
) -> Result<Box<dyn Engine>, String> {
    let cpu = || -> Box<dyn Engine> { Box::new(CpuEngine) };
    let fallback = match opts.device {
        Device::Cpu => return Ok(cpu()),
        Device::Gpu => false,
        Device::Auto => true,
    };
    // `auto` probes the adapter first, without opening it: a software one is not opened at all.
    let gpu = if fallback {
        crate::gpu::probe().and_then(|a| {
            if a.software {
                Err(format!(
                    "only a software GPU adapter found ({}; --device gpu uses it)",
                    a.description
                ))
            } else {
                crate::gpu::shared()
            }
        })
    } else {
        crate::gpu::shared()
    };
    let gpu = match gpu {
        Ok(gpu) => gpu,
        Err(e) if fallback => {
            info!("{model}: {e}; running on the CPU");
            return Ok(cpu());
        }
        Err(e) => return Err(format!("--device gpu: {e}")),
    };
    if let Some(x) = inputs.first() {
        let check = gpu_budget_check(opts, &gpu, m, crate::model::engine::gpu_sizes(net, x));
        match check.over {
            Some(_) if fallback => {
                tracing::warn!(
                    "{model}: GPU memory {}: over budget, running on the CPU",
                    check.report
                );
                return Ok(cpu());
            }
            Some(_) => {
                return Err(format!(
                    "--device gpu: GPU memory {}: over budget (use --device cpu or auto, or raise --gpu-memory-budget)",
                    check.report
                ))
            }
            None if fallback => info!("{model}: GPU memory {}", check.report),
            None => {}
        }
    }
    info!("{model}: GPU engine on {}", gpu.describe());
    Ok(Box::new(GpuEngine { gpu, fallback }))
}

/// `coverage.png`, `plddt.png` (every model, in rank order) and `pae.png` (the top-ranked model). A plot
/// that cannot be drawn is a warning, never a failed prediction.
fn write_plots(opts: &PredictOptions, raw: &crate::features::RawFeatures, order: &[String]) {
    let dir = &opts.output_dir;
    let target = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "target".into());
    let result = |name: &str| opts.result_format.path(dir, name);
    let models: Vec<(String, Vec<f32>)> = order
        .iter()
        .filter_map(|name| {
            results_h5::read_f32(&result(name), "plddt")
                .map(|a| (name.clone(), a.iter().copied().collect()))
        })
        .collect();
    let top_pae = order.first().and_then(|name| {
        let pae = results_h5::read_f32(&result(name), "predicted_aligned_error")?
            .into_dimensionality::<ndarray::Ix2>()
            .ok()?;
        let max = results_h5::read_f32(&result(name), "max_predicted_aligned_error")?
            .iter()
            .next()
            .copied()?;
        Some((name.as_str(), pae, max))
    });
    match crate::plots::target_plots(dir, &target, raw.msa.msa.view(), &models, top_pae) {
        Ok(files) => info!(
            "plots: {}",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Err(e) => tracing::warn!("plots for {} not written: {e}", dir.display()),
    }
}

fn protein_of(
    raw: &crate::features::RawFeatures,
    pred: &Prediction,
) -> Result<Protein, StructureError> {
    let aatype: Vec<usize> = raw
        .sequence
        .aatype
        .rows()
        .into_iter()
        .map(|r| r.iter().position(|&v| v == 1).unwrap_or(20))
        .collect();
    let n = aatype.len();
    Protein {
        aatype,
        atom_positions: pred.structure.atom37_positions.clone(),
        atom_mask: pred.structure.atom37_mask.clone(),
        residue_index: raw.sequence.residue_index.iter().map(|&r| r + 1).collect(),
        chain_index: vec![0; n],
        b_factors: Array2::zeros((n, 37)),
    }
    .with_residue_b_factors(pred.heads.plddt.as_slice().expect("contiguous"))
}

/// What one prediction's files are written from besides the prediction: its structure, how it is ranked
/// (AlphaFold2: mean pLDDT for monomers, 0.8·ipTM + 0.2·pTM for complexes) and extra arrays for the
/// result file (a complex's chains).
pub(super) struct OutputParts<'a> {
    pub protein: Protein,
    pub ranking_confidence: f64,
    pub extra: Vec<(&'a str, ArrayViewD<'a, f32>)>,
}

/// The ranking confidence of a complex: AlphaFold2's `0.8·ipTM + 0.2·pTM`.
pub(super) fn multimer_ranking(pred: &Prediction) -> Option<(f64, f64, f64)> {
    let pae = pred.heads.pae.as_ref()?;
    let (ptm, iptm) = (pae.ptm as f64, pae.iptm? as f64);
    Some((0.8 * iptm + 0.2 * ptm, ptm, iptm))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn write_model_outputs(
    opts: &PredictOptions,
    m: &ModelFile,
    name: &str,
    seed: u64,
    pred: &Prediction,
    hash: &str,
    sequence: &str,
    parts: OutputParts,
) -> Result<ModelReport, PredictError> {
    let dir = &opts.output_dir;
    let h = &pred.heads;
    let n = parts.protein.num_res();
    let mean_plddt = h.plddt.mean().unwrap_or(0.0) as f64;
    let ptm = h.pae.as_ref().map(|p| p.ptm as f64);
    let iptm = h.pae.as_ref().and_then(|p| p.iptm).map(|v| v as f64);
    let ranking = ndarray::arr0(parts.ranking_confidence as f32);
    let iptm_arr = iptm.map(|v| ndarray::arr0(v as f32));
    let ptm_arr = h.pae.as_ref().map(|p| ndarray::arr0(p.ptm));
    let max_pae = h
        .pae
        .as_ref()
        .map(|p| ndarray::arr0(p.max_predicted_aligned_error));
    let iters = ndarray::arr0(pred.iterations as f32);
    let mut sets: Vec<(&str, ArrayViewD<f32>)> = vec![
        (
            "final_atom_positions",
            pred.structure.atom37_positions.view().into_dyn(),
        ),
        (
            "final_atom_mask",
            pred.structure.atom37_mask.view().into_dyn(),
        ),
        ("plddt", h.plddt.view().into_dyn()),
        ("predicted_lddt_logits", h.plddt_logits.view().into_dyn()),
        ("ranking_confidence", ranking.view().into_dyn()),
        ("distogram_logits", h.distogram_logits.view().into_dyn()),
        (
            "distogram_bin_edges",
            h.distogram_bin_edges.view().into_dyn(),
        ),
        (
            "experimentally_resolved_logits",
            h.experimentally_resolved_logits.view().into_dyn(),
        ),
        ("masked_msa_logits", h.masked_msa_logits.view().into_dyn()),
        (
            "structure_module_traj",
            pred.structure.traj.view().into_dyn(),
        ),
        (
            "representations_single",
            pred.trunk.single.view().into_dyn(),
        ),
        ("representations_pair", pred.trunk.pair.view().into_dyn()),
        (
            "representations_structure_module",
            pred.structure.act.view().into_dyn(),
        ),
        ("num_iterations", iters.view().into_dyn()),
    ];
    if let (Some(p), Some(t), Some(mx)) = (&h.pae, &ptm_arr, &max_pae) {
        sets.push((
            "predicted_aligned_error",
            p.predicted_aligned_error.view().into_dyn(),
        ));
        sets.push(("predicted_aligned_error_logits", p.logits.view().into_dyn()));
        sets.push(("predicted_aligned_error_breaks", p.breaks.view().into_dyn()));
        sets.push(("max_predicted_aligned_error", mx.view().into_dyn()));
        sets.push(("ptm", t.view().into_dyn()));
    }
    if let Some(v) = &iptm_arr {
        sets.push(("iptm", v.view().into_dyn()));
    }
    sets.extend(parts.extra);
    let attrs = vec![
        ("input_sha256", hash.to_string()),
        ("model_name", m.name.clone()),
        ("model_source_sha256", m.source_sha256.clone()),
        ("tool", crate::TOOL.to_string()),
        ("query_sequence", sequence.to_string()),
        ("prediction_name", name.to_string()),
        ("seed", seed.to_string()),
    ];
    let protein = parts.protein;
    pdb::write_path(&protein, dir.join(format!("unrelaxed_{name}.pdb")))?;
    mmcif::write_path(&protein, name, dir.join(format!("unrelaxed_{name}.cif")))?;
    let conf =
        ConfidenceJson::from_plddt(h.plddt.as_slice().expect("contiguous")).map_err(|e| {
            PredictError::Model {
                model: m.name.clone(),
                message: e.to_string(),
            }
        })?;
    let p = dir.join(format!("confidence_{name}.json"));
    write_json_path(&conf.to_json(), &p).map_err(write_err(&p))?;
    if let Some(pae) = &h.pae {
        let text = pae_json(
            pae.predicted_aligned_error.as_slice().expect("contiguous"),
            n,
            pae.max_predicted_aligned_error,
        )
        .map_err(|e| PredictError::Model {
            model: m.name.clone(),
            message: e.to_string(),
        })?;
        let p = dir.join(format!("pae_{name}.json"));
        write_json_path(&text, &p).map_err(write_err(&p))?;
    }
    // The result file last: its presence (with the input hash and a matching checksum beside it) marks
    // the model as done.
    let result_path = opts.result_format.path(dir, name);
    results_h5::write(&result_path, &sets, &attrs)
        .map_err(|e| PredictError::Write(e.to_string()))?;
    // A result of this prediction in the other format is from an earlier run: not left to be mistaken
    // for this one.
    for other in opts.result_format.others(dir, name) {
        for stale in [crate::fsutil::checksum::sidecar_path(&other), other] {
            if stale.exists() {
                std::fs::remove_file(&stale).map_err(write_err(&stale))?;
            }
        }
    }
    crate::fsutil::checksum::record(&result_path).map_err(write_err(&result_path))?;
    Ok(ModelReport {
        name: name.to_string(),
        ranking_confidence: parts.ranking_confidence,
        mean_plddt,
        ptm,
        iptm,
        seconds: 0.0,
        skipped: false,
    })
}

/// Removes `ranked_<k>.pdb` / `.cif` with `k >= keep`.
fn remove_stale_ranked(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let stale = name
            .strip_prefix("ranked_")
            .and_then(|r| r.strip_suffix(".pdb").or_else(|| r.strip_suffix(".cif")))
            .and_then(|k| k.parse::<usize>().ok())
            .is_some_and(|k| k >= keep);
        if stale && e.file_type().is_ok_and(|t| t.is_file()) {
            match std::fs::remove_file(e.path()) {
                Ok(()) => info!("removed {name}: from an earlier run with more predictions"),
                Err(err) => tracing::warn!("cannot remove stale {}: {err}", e.path().display()),
            }
        }
    }
}

pub(super) fn write_ranking(
    opts: &PredictOptions,
    reports: &[ModelReport],
    timings: &BTreeMap<String, f64>,
    complex: bool,
) -> Result<Vec<String>, PredictError> {
    let dir = &opts.output_dir;
    let conf: Vec<(String, f64)> = reports
        .iter()
        .map(|r| (r.name.clone(), r.ranking_confidence))
        .collect();
    let ranking = if complex {
        RankingDebug::multimer(&conf)
    } else {
        RankingDebug::monomer(&conf)
    };
    let mut timings = timings.clone();
    // A failed relaxation still leaves a complete ranking (of unrelaxed models) before it is reported.
    let (relaxed, relax_error) = match super::relax::relax_predictions(
        dir,
        &ranking.order,
        opts.relax,
        &Default::default(),
        opts.overwrite,
    ) {
        Ok((relaxed, relax_timings)) => {
            timings.extend(relax_timings);
            (relaxed, None)
        }
        Err(e) => (Vec::new(), Some(e)),
    };
    for (k, name) in ranking.order.iter().enumerate() {
        let kind = if relaxed.contains(name) {
            "relaxed"
        } else {
            "unrelaxed"
        };
        for ext in ["pdb", "cif"] {
            let src = dir.join(format!("{kind}_{name}.{ext}"));
            let dest = dir.join(format!("ranked_{k}.{ext}"));
            crate::fsutil::atomic::copy(&src, &dest).map_err(|e| {
                // Name the file that is missing, not the copy that could not be made of it.
                if src.is_file() {
                    write_err(&dest)(e)
                } else {
                    write_err(&src)(e)
                }
            })?;
        }
    }
    // ranked_<k> beyond this run's predictions belong to an earlier, larger run: never leave them.
    remove_stale_ranked(dir, ranking.order.len());
    let p = dir.join("ranking_debug.json");
    write_json_path(&to_json_indent4(&ranking), &p).map_err(write_err(&p))?;
    // Keeps the features stage's time and those of models skipped on this run.
    let p = dir.join("timings.json");
    crate::io::confidence::merge_timings(&p, &timings).map_err(write_err(&p))?;
    if let Some(e) = relax_error {
        return Err(PredictError::Relax(Box::new(e)));
    }
    Ok(ranking.order)
}
