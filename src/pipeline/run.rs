//! `ferrofold run`: `features` then `predict` for every record of one or many FASTA files (or folders of
//! them), in batch, with a stable share of the targets per job-array task.
//!
//! Targets are the records in input order; output folders are named after sanitised record ids (path
//! separators, control characters, leading dots and dashes replaced, `..` impossible, collisions get
//! `_2`, `_3`, …, every rename reported). Task `i` of `n` takes the targets at positions `p` with
//! `p mod n == i`, so tasks never overlap and together cover everything. Each stage skips work whose
//! outputs exist for the same inputs, so a killed run restarts where it stopped.

use std::path::{Path, PathBuf};

use thiserror::Error;
use tracing::{info, warn};

use super::features::{run_target, FeaturesOptions, FeaturesStageError, MsaSource};
use super::predict::{self, PredictError, PredictOptions};
use crate::features::builder::MsaLimits;
use crate::io::fasta::{self, FastaError};
use crate::model::params::config::ModelKind;
use crate::query::Query;

/// One target of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Output folder name (sanitised, unique).
    pub name: String,
    /// The record id as written in the FASTA file.
    pub original_id: String,
    pub query: Query,
    /// The chains, when the record is a complex (chains separated by `:`, ColabFold's notation).
    pub complex: Option<crate::query::Complex>,
    pub source: PathBuf,
    /// Why the record cannot be a target (an empty or mis-lettered sequence), if it cannot: the batch
    /// records it as failed and goes on with the others.
    pub problem: Option<String>,
}

/// Errors of the batch; each names the input or target.
#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Fasta(#[from] FastaError),
    #[error(transparent)]
    Features(#[from] FeaturesStageError),
    #[error("target '{target}': {source}")]
    Predict {
        target: String,
        source: PredictError,
    },
    #[error("{0}")]
    Input(String),
    /// A model file is unusable; found before any target is worked on.
    #[error("{0} (checked before any target; nothing was searched or written)")]
    Models(PredictError),
    /// Some targets failed; every other target was done.
    #[error("{failed} of {total} target(s) failed (each with its reason in {}); the others are done", list.display())]
    Batch {
        failed: usize,
        total: usize,
        list: PathBuf,
    },
}

pub(crate) use crate::query::sanitize_id;

/// The query files of the inputs: files as given, folders' `*.fasta`, `*.fa`, `*.faa` and ColabFold's
/// `*.a3m` and `*.csv`, sorted by name.
pub(crate) fn fasta_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, RunError> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut v = Vec::new();
            let mut skipped = Vec::new();
            for f in std::fs::read_dir(p)
                .map_err(|e| RunError::Input(format!("{}: {e}", p.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
            {
                let name = f.file_name().unwrap_or_default().to_string_lossy();
                if !f.is_file() || name.starts_with('.') {
                    continue;
                }
                // ColabFold compares extensions case-insensitively too (`x.FASTA` is a FASTA file).
                let ext = f
                    .extension()
                    .map(|x| x.to_string_lossy().to_ascii_lowercase())
                    .unwrap_or_default();
                if ["fasta", "fa", "faa", "a3m", "csv"].contains(&ext.as_str()) {
                    v.push(f);
                } else {
                    skipped.push(name.into_owned());
                }
            }
            v.sort();
            if !skipped.is_empty() {
                skipped.sort();
                warn!(
                    "{}: skipped {} file(s) that are not .fasta/.fa/.faa/.a3m/.csv: {}",
                    p.display(),
                    skipped.len(),
                    skipped.join(", ")
                );
            }
            if v.is_empty() {
                return Err(RunError::Input(format!(
                    "{}: no .fasta/.fa/.faa/.a3m/.csv files",
                    p.display()
                )));
            }
            out.extend(v);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Every record of every input, validated (residues as AlphaFold2 reads them), with unique folder names.
pub(crate) fn collect_targets(inputs: &[PathBuf]) -> Result<Vec<Target>, RunError> {
    let mut targets = Vec::new();
    let mut names = crate::query::FolderNames::default();
    for file in fasta_files(inputs)? {
        let mut records = crate::io::colabfold::read_records(&file)?;
        for r in &mut records {
            let name = names.name(&file, r.line, &r.id);
            let original = std::mem::replace(&mut r.id, name.clone());
            // A bad record is one failed target, not a failed batch (its position still counts, so
            // array tasks share the batch the same way whatever the records hold).
            let (problem, complex) = if r.sequence.contains(':') {
                match crate::query::complex_from_colon_record(&file, r) {
                    Ok(mut c) => {
                        c.id = name.clone();
                        (None, Some(c))
                    }
                    Err(e) => (
                        Some(
                            e.to_string()
                                .replace(&format!("'{name}'"), &format!("'{original}'")),
                        ),
                        None,
                    ),
                }
            } else {
                (
                    fasta::validate_protein_record(r, &file).err().map(|e| {
                        e.to_string()
                            .replace(&format!("'{name}'"), &format!("'{original}'"))
                    }),
                    None,
                )
            };
            targets.push((original, r.clone(), file.clone(), problem, complex));
        }
        if records.is_empty() {
            fasta::validate_protein(&records, &file)?;
        }
    }
    Ok(targets
        .into_iter()
        .map(|(original_id, r, source, problem, complex)| Target {
            name: r.id.clone(),
            original_id,
            query: Query::from_record(&r),
            complex,
            source,
            problem,
        })
        .collect())
}

/// The job-array task of this process as `(index, size)`: explicit `(index, size)` if given, else from
/// Slurm's variables ([`slurm_task`]), else the whole batch `(0, 1)`.
pub fn array_task(explicit: Option<(usize, usize)>) -> Result<(usize, usize), RunError> {
    if let Some((i, n)) = explicit {
        if n == 0 {
            return Err(RunError::Input(
                "--array-size 0: a job array has at least one task".into(),
            ));
        }
        if i >= n {
            return Err(RunError::Input(format!(
                "--array-index {i} must be below --array-size {n}"
            )));
        }
        return Ok((i, n));
    }
    slurm_task(|k| std::env::var_os(k).map(|v| v.to_string_lossy().into_owned()))
        .map_err(RunError::Input)
}

/// Largest array Slurm allows (`MaxArraySize` is at most 4,000,001).
const MAX_ARRAY_TASKS: u64 = 4_000_001;

/// The task's rank among the array's ids, from Slurm's `SLURM_ARRAY_TASK_ID`, `_MIN`, `_MAX`, `_STEP`
/// and `_COUNT` (read through `var`). Arrays may be offset (`--array=5-9`), stepped (`--array=3-11:4`)
/// and throttled (`%2`, which does not change the ids): task ids `MIN, MIN+STEP, …, MAX` are ranks
/// `0, 1, …, COUNT-1`. Outside an array (no `SLURM_ARRAY_TASK_ID`) the batch is one task. Values that are
/// missing, unparseable, negative or inconsistent with each other (an id that is not in the array, a
/// list such as `--array=1,4,6` that no step describes) are an error that says so: never "run
/// everything".
pub fn slurm_task(var: impl Fn(&str) -> Option<String>) -> Result<(usize, usize), String> {
    let Some(id_text) = var("SLURM_ARRAY_TASK_ID") else {
        return Ok((0, 1));
    };
    let get = |name: &str, text: Option<String>| -> Result<Option<u64>, String> {
        match text {
            None => Ok(None),
            Some(t) => t.trim().parse::<u64>().map(Some).map_err(|_| {
                format!("{name}='{t}' is not a task number (Slurm sets it to a whole number ≥ 0)")
            }),
        }
    };
    let required = |name: &str| -> Result<u64, String> {
        get(name, var(name))?.ok_or_else(|| {
            format!("SLURM_ARRAY_TASK_ID is set but {name} is not: not a Slurm job array task? (use --array-index and --array-size to set the task by hand)")
        })
    };
    let id = get("SLURM_ARRAY_TASK_ID", Some(id_text))?.expect("given");
    let min = required("SLURM_ARRAY_TASK_MIN")?;
    let count = required("SLURM_ARRAY_TASK_COUNT")?;
    let step = get("SLURM_ARRAY_TASK_STEP", var("SLURM_ARRAY_TASK_STEP"))?.unwrap_or(1);
    let max = get("SLURM_ARRAY_TASK_MAX", var("SLURM_ARRAY_TASK_MAX"))?;
    let described = format!(
        "SLURM_ARRAY_TASK_ID={id}, _MIN={min}, _MAX={}, _STEP={step}, _COUNT={count}",
        max.map_or("unset".into(), |m| m.to_string())
    );
    let inconsistent = |why: &str| {
        Err(format!(
            "inconsistent Slurm array variables ({described}): {why}; give the task with --array-index and --array-size"
        ))
    };
    if count == 0 || count > MAX_ARRAY_TASKS {
        return inconsistent("the task count must be between 1 and 4000001");
    }
    if step == 0 {
        return inconsistent("the step must be at least 1");
    }
    if id < min || (id - min) % step != 0 {
        return inconsistent("the task id is not one of the array's ids");
    }
    let rank = (id - min) / step;
    if rank >= count {
        return inconsistent("the task id lies beyond the array's last task");
    }
    if let Some(max) = max {
        // An arithmetic array's last id; anything else (a list like 1,4,6) has no rank by step.
        if min + (count - 1) * step != max {
            return inconsistent(
                "the ids are not MIN, MIN+STEP, ..., MAX (an id list rather than a range?)",
            );
        }
    }
    Ok((rank as usize, count as usize))
}

/// The share of task `index` of `size`.
pub(crate) fn shard(targets: Vec<Target>, index: usize, size: usize) -> Vec<Target> {
    targets
        .into_iter()
        .enumerate()
        .filter(|(p, _)| p % size == index)
        .map(|(_, t)| t)
        .collect()
}

/// One line of `run --list`: a target, its position in input order and the array task that takes it.
#[derive(Debug, Clone)]
pub struct ListedTarget {
    pub position: usize,
    pub task: usize,
    pub target: Target,
}

/// The targets this array task takes (all of them outside an array), in input order, without running
/// anything: what `run --list` prints to size a job array.
pub fn list(
    inputs: &[PathBuf],
    array: Option<(usize, usize)>,
) -> Result<Vec<ListedTarget>, RunError> {
    let targets = collect_targets(inputs)?;
    let (index, size) = array_task(array)?;
    Ok(targets
        .into_iter()
        .enumerate()
        .filter(|(p, _)| p % size == index)
        .map(|(position, target)| ListedTarget {
            position,
            task: position % size,
            target,
        })
        .collect())
}

/// Options of a batch.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub inputs: Vec<PathBuf>,
    pub output_dir: PathBuf,
    pub msas: MsaSource,
    pub limits: MsaLimits,
    /// Template featurisation (`--template-mmcif-dir`); `None`: no templates.
    pub templates: Option<super::features::TemplateOptions>,
    pub models: Vec<PathBuf>,
    /// Predict settings (its `features`, `output_dir` and `overwrite` are set per target).
    pub predict: PredictOptions,
    pub array: Option<(usize, usize)>,
    pub overwrite: bool,
    pub command_line: String,
    /// Which stages to run for each target (`--stage`).
    pub stages: Stages,
    /// Experimental structures named by target: each prediction is scored against its own
    /// (`--reference-dir`).
    pub reference_dir: Option<PathBuf>,
}

/// The stages `run` performs per target: both, or one (a cluster runs features on CPU nodes and predict
/// on GPU nodes as two job arrays, the second depending on the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stages {
    #[default]
    All,
    /// `features` only.
    Features,
    /// `predict` only, from the `features.h5` an earlier features run wrote.
    Predict,
}

impl Stages {
    fn features(self) -> bool {
        self != Stages::Predict
    }
    fn predict(self) -> bool {
        self != Stages::Features
    }
}

/// What happened to one target.
#[derive(Debug, Clone)]
pub struct TargetResult {
    pub name: String,
    pub output_dir: PathBuf,
    pub models: Vec<predict::ModelReport>,
}

/// Proves that an existing `features.h5` was made from this target's current input (the record's
/// sequence and header, the alignment inputs and options of this command): the input hash recorded in
/// it must equal the one the features stage would record now. Otherwise the predict stage would predict
/// an old sequence and credit the new FASTA. The error says what differs and what to run.
fn check_features_belong(t: &Target, path: &Path, opts: &FeaturesOptions) -> Result<(), RunError> {
    let expected = match &t.complex {
        Some(c) => super::complex::expected_input_hash(c, opts)?,
        None => super::features::expected_input_hash(&t.query, opts)?,
    };
    let prov = crate::io::features_h5::read_provenance(path)
        .map_err(|e| RunError::Input(format!("target '{}': {e}", t.name)))?;
    if prov.input_hash == expected {
        return Ok(());
    }
    // Residues, not counting a complex's ':' separators.
    let residues = |s: &str| s.chars().filter(|&c| c != ':').count();
    let why = if prov.query_sequence != t.query.sequence {
        format!(
            "it was made for another sequence ({} residues; record '{}' in {} now has {})",
            residues(&prov.query_sequence),
            t.original_id,
            t.source.display(),
            residues(&t.query.sequence)
        )
    } else {
        format!(
            "it was made from another header of record '{}' or from other alignment inputs or options than this command's",
            t.original_id
        )
    };
    Err(RunError::Input(format!(
        "target '{}': {} does not belong to the current input: {why}; run the features stage again (ferrofold run --stage features with the same inputs and -o), or give the options it was made with",
        t.name,
        path.display()
    )))
}

/// Runs the batch share of this task.
pub fn run(opts: &RunOptions) -> Result<Vec<TargetResult>, RunError> {
    let mut out = Vec::new();
    run_each(opts, |t| out.push(t.clone()))?;
    Ok(out)
}

/// As [`run`], calling `done` with each target's result as soon as it is finished (so a batch of
/// hundreds can be followed, `tail -f`), in input order.
pub fn run_each(opts: &RunOptions, mut done: impl FnMut(&TargetResult)) -> Result<(), RunError> {
    let all = collect_targets(&opts.inputs)?;
    if matches!(opts.msas, MsaSource::Files(_)) && all.len() > 1 {
        return Err(RunError::Features(FeaturesStageError::Usage(format!(
            "{} targets but --msa files belong to one target; use --msa-dir with one folder per record id",
            all.len()
        ))));
    }
    super::features::check_search_outputs(&opts.msas)?;
    let (index, size) = array_task(opts.array)?;
    // Every model file is checked before any search or write (a broken one would otherwise surface only
    // after the first target's searches).
    let kinds = if opts.stages.predict() {
        let check = PredictOptions {
            models: opts.models.clone(),
            ..opts.predict.clone()
        };
        predict::check_models(&check).map_err(RunError::Models)?
    } else {
        Vec::new()
    };
    let mine = shard(all, index, size);
    info!("task {index} of {size}: {} target(s)", mine.len());
    crate::fsutil::tree::create_output_dir(&opts.output_dir)
        .map_err(|e| RunError::Input(format!("{}: {e}", opts.output_dir.display())))?;
    // ColabFold's local search runs once for this task's targets (those it applies to: a ColabFold
    // .a3m input is its own alignment), before any target's features.
    if opts.stages.features() {
        let searched: Vec<&Target> = mine
            .iter()
            .filter(|t| t.problem.is_none() && t.query.len() <= opts.predict.max_length)
            .filter(|t| matches!(features_options(opts, t).msas, MsaSource::Colabfold(_)))
            .collect();
        if let Some(first) = searched.first() {
            let queries: Vec<&crate::query::Query> = searched.iter().map(|t| &t.query).collect();
            super::colabfold::search_batch(&queries, &features_options(opts, first))
                .map_err(RunError::Features)?;
        }
    }
    let total = mine.len();
    let mut failed = 0usize;
    for (i, t) in mine.into_iter().enumerate() {
        let label = format!("{} ({}/{total})", t.name, i + 1);
        info!("target {label}");
        crate::progress::set_target(Some(label));
        let result = match &t.problem {
            Some(problem) => Err(("input", RunError::Input(problem.clone()))),
            None => one_target(opts, &t, &kinds),
        };
        match result {
            Ok(r) => done(&r),
            // A usage problem is the same for every target: stop at once.
            Err((_, e @ RunError::Features(FeaturesStageError::Usage(_)))) => return Err(e),
            Err((stage, e)) => {
                failed += 1;
                record_failure(opts, &t, stage, &e);
            }
        }
    }
    crate::progress::set_target(None);
    if failed > 0 {
        return Err(RunError::Batch {
            failed,
            total,
            list: opts.output_dir.join(FAILED_FILE),
        });
    }
    Ok(())
}

/// The batch's list of failed targets (tab-separated, appended by every run and array task: when, array
/// task, target folder, record id, stage, reason).
pub const FAILED_FILE: &str = "failed.tsv";

/// Records a failed target: an error line in the log, a line in its `log.txt` and in `failed.tsv`.
fn record_failure(opts: &RunOptions, t: &Target, stage: &str, e: &RunError) {
    let reason = e.to_string().replace(['\t', '\n'], " ");
    tracing::error!(
        "{}: {stage} failed: {reason}; going on with the other targets",
        t.name
    );
    let target_dir = opts.output_dir.join(&t.name);
    if crate::fsutil::tree::ensure_dir(&target_dir).is_ok() {
        append_log(
            &target_dir,
            t,
            &format!("{stage} failed: {reason}"),
            &opts.command_line,
        );
    }
    let list = opts.output_dir.join(FAILED_FILE);
    let header = if list.exists() {
        ""
    } else {
        "# unix_time\tarray_task\ttarget\trecord_id\tstage\treason\n"
    };
    let when = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let task = array_task(opts.array).map_or("-".into(), |(i, n)| format!("{i}/{n}"));
    let line = format!(
        "{header}{when}\t{task}\t{}\t{}\t{stage}\t{reason}\n",
        t.name, t.original_id
    );
    if let Err(e) = crate::fsutil::tree::append_no_follow(&list, &line) {
        warn!("cannot append to {}: {e}", list.display());
    }
}

/// The features stage's options for target `t`.
fn features_options(opts: &RunOptions, t: &Target) -> FeaturesOptions {
    FeaturesOptions {
        fasta: t.source.clone(),
        msas: crate::pipeline::features::msas_for_input(&t.source, &opts.msas),
        output_dir: opts.output_dir.clone(),
        limits: opts.limits,
        overwrite: opts.overwrite,
        command_line: opts.command_line.clone(),
        max_length: opts.predict.max_length,
        templates: opts.templates.clone(),
        complex: false,
    }
}

/// Features and/or predict for one target; an error comes with the stage it happened in.
// Returned once per target: the size of the error does not matter.
#[allow(clippy::result_large_err)]
fn one_target(
    opts: &RunOptions,
    t: &Target,
    kinds: &[ModelKind],
) -> Result<TargetResult, (&'static str, RunError)> {
    let f_opts = features_options(opts, t);
    let target_dir = opts.output_dir.join(&t.name);
    let started = std::time::Instant::now();
    let (features_path, features_line) = if opts.stages.features() {
        let report = match &t.complex {
            Some(c) => super::complex::run_complex_target(c, &f_opts),
            None => run_target(&t.query, &f_opts),
        }
        .map_err(|e| ("features", e.into()))?;
        let templates = match report.templates.len() {
            0 => String::new(),
            n => format!(
                ", {n} templates (template models see {})",
                report.templates[..n.min(4)].join(" ")
            ),
        };
        let line = format!(
            "features: {} residues, {} alignment rows{templates} ({:?}, {:.2} s)",
            report.num_res, report.num_alignments, report.outcome, report.seconds
        );
        (report.features_path, line)
    } else {
        crate::fsutil::tree::ensure_dir(&target_dir).map_err(|e| {
            (
                "features",
                RunError::Input(format!("target '{}': {e}", t.name)),
            )
        })?;
        let p = target_dir.join(super::features::FEATURES_FILE);
        if !p.is_file() {
            return Err(("features", RunError::Input(format!(
                "target '{}': {} does not exist: run the features stage first (ferrofold run --stage features with the same inputs and -o)",
                t.name,
                p.display()
            ))));
        }
        check_features_belong(t, &p, &f_opts).map_err(|e| ("features", e))?;
        (p, "features: from the features stage".to_string())
    };
    if !opts.stages.predict() {
        append_log(
            &target_dir,
            t,
            &format!("{features_line} [{:.1} s]", started.elapsed().as_secs_f64()),
            &opts.command_line,
        );
        return Ok(TargetResult {
            name: t.name.clone(),
            output_dir: target_dir,
            models: Vec::new(),
        });
    }
    let kind = if t.complex.is_some() {
        ModelKind::Multimer
    } else {
        ModelKind::Monomer
    };
    let models: Vec<PathBuf> = opts
        .models
        .iter()
        .zip(kinds)
        .filter(|(_, k)| **k == kind)
        .map(|(p, _)| p.clone())
        .collect();
    if models.is_empty() && !opts.models.is_empty() {
        let (what, need) = match kind {
            ModelKind::Multimer => (
                "a complex",
                "AlphaFold-Multimer models (model_<n>_multimer_v3)",
            ),
            ModelKind::Monomer => (
                "a single chain",
                "monomer models (model_<n>, model_<n>_ptm)",
            ),
        };
        return Err((
            "predict",
            RunError::Input(format!(
                "target '{}' is {what}: none of the models given is one of the {need} it needs",
                t.name
            )),
        ));
    }
    let p_opts = PredictOptions {
        features: features_path,
        models,
        output_dir: target_dir.clone(),
        overwrite: opts.overwrite,
        ..opts.predict.clone()
    };
    let result = predict::run(&p_opts);
    let line = match &result {
        Ok(models) => models
            .iter()
            .map(|m| {
                let ptm = m.ptm.map(|p| format!(", pTM {p:.4}")).unwrap_or_default();
                let ptm = match m.iptm {
                    Some(i) => format!("{ptm}, ipTM {i:.4}"),
                    None => ptm,
                };
                let what = if m.skipped { "up to date" } else { "written" };
                format!(
                    "predict {}: mean pLDDT {:.2}{ptm} ({what})",
                    m.name, m.mean_plddt
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        Err(e) => format!("predict failed: {e}"),
    };
    let score_line = match (&result, &opts.reference_dir) {
        (Ok(_), Some(dir)) => score_target(dir, &t.name, &target_dir),
        _ => String::new(),
    };
    let summary = format!(
        "{features_line}; {line}{score_line} [{:.1} s]",
        started.elapsed().as_secs_f64()
    );
    if result.is_ok() {
        append_log(&target_dir, t, &summary, &opts.command_line);
    }
    let models = result.map_err(|source| {
        (
            "predict",
            RunError::Predict {
                target: t.name.clone(),
                source,
            },
        )
    })?;
    Ok(TargetResult {
        name: t.name.clone(),
        output_dir: target_dir,
        models,
    })
}

/// Scores `<target>/ranked_0.pdb` against the target's reference in `dir`, if there is one, writing
/// `score.json` and `score.png`; the log's words for it. A failed score is a warning, not a failed target.
fn score_target(dir: &Path, name: &str, target_dir: &Path) -> String {
    let Some(reference) = crate::score::find_reference(dir, name) else {
        info!(
            "{name}: no reference structure in {}; not scored",
            dir.display()
        );
        return String::new();
    };
    match crate::score::score_files(
        &target_dir.join("ranked_0.pdb"),
        &reference,
        None,
        Some(&target_dir.join("score.json")),
        Some(&target_dir.join("score.png")),
    ) {
        Ok(r) => {
            let line = format!(
                "; score vs {}: TM-score {:.4}, GDT-TS {:.2}, lDDT-Cα {:.4}, Cα RMSD {:.2} Å",
                reference.display(),
                r.tm_score,
                r.gdt_ts,
                r.lddt_ca,
                r.rmsd_ca
            );
            info!("{name}{line}");
            line
        }
        Err(e) => {
            warn!("{name}: not scored: {e}");
            format!("; not scored: {e}")
        }
    }
}

/// Appends one line per run to `<target>/log.txt`: when, what ran and what came of it, and the command.
fn append_log(target_dir: &Path, t: &Target, line: &str, command: &str) {
    let when = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let text = format!(
        "[unix {when}] {} (record '{}' of {}): {line}\n    command: {command}\n",
        crate::TOOL,
        t.original_id,
        t.source.display()
    );
    let log = target_dir.join("log.txt");
    if let Err(e) = crate::fsutil::tree::append_no_follow(&log, &text) {
        warn!("{}: cannot append to {}: {e}", t.name, log.display());
    }
}

/// Whether `p` is a path inside `dir`.
#[cfg(test)]
fn is_inside(dir: &Path, p: &Path) -> bool {
    p.components()
        .all(|c| !matches!(c, std::path::Component::ParentDir))
        && p.starts_with(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slurm(vars: &[(&str, &str)]) -> Result<(usize, usize), String> {
        let map: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (format!("SLURM_ARRAY_TASK_{k}"), v.to_string()))
            .collect();
        slurm_task(|k| map.get(k).cloned())
    }

    #[test]
    fn slurm_tasks_are_ranked_among_the_arrays_ids() {
        // Not an array.
        assert_eq!(slurm(&[]), Ok((0, 1)));
        // --array=0-2
        let plain = |id: &str| {
            slurm(&[
                ("ID", id),
                ("MIN", "0"),
                ("MAX", "2"),
                ("STEP", "1"),
                ("COUNT", "3"),
            ])
        };
        assert_eq!(plain("0"), Ok((0, 3)));
        assert_eq!(plain("2"), Ok((2, 3)));
        // --array=5-9 (offset), STEP unset as older Slurm leaves it.
        assert_eq!(
            slurm(&[("ID", "7"), ("MIN", "5"), ("MAX", "9"), ("COUNT", "5")]),
            Ok((2, 5))
        );
        // --array=3-11:4%1 (stepped, throttled): ids 3, 7, 11.
        for (id, rank) in [("3", 0), ("7", 1), ("11", 2)] {
            assert_eq!(
                slurm(&[
                    ("ID", id),
                    ("MIN", "3"),
                    ("MAX", "11"),
                    ("STEP", "4"),
                    ("COUNT", "3")
                ]),
                Ok((rank, 3)),
                "id {id}"
            );
        }
    }

    #[test]
    fn broken_slurm_variables_are_errors_not_the_whole_batch() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("ID", "x"), ("MIN", "0"), ("COUNT", "3")],
                "'x' is not a task number",
            ),
            (
                &[("ID", "-1"), ("MIN", "0"), ("COUNT", "3")],
                "'-1' is not a task number",
            ),
            (&[("ID", "1")], "SLURM_ARRAY_TASK_MIN is not"),
            (
                &[("ID", "1"), ("MIN", "0")],
                "SLURM_ARRAY_TASK_COUNT is not",
            ),
            (&[("ID", "1"), ("MIN", "0"), ("COUNT", "0")], "task count"),
            (
                &[("ID", "5"), ("MIN", "3"), ("STEP", "4"), ("COUNT", "3")],
                "not one of the array's ids",
            ),
            (
                &[("ID", "2"), ("MIN", "3"), ("COUNT", "3")],
                "not one of the array's ids",
            ),
            (
                &[("ID", "9"), ("MIN", "0"), ("COUNT", "3")],
                "beyond the array's last task",
            ),
            (
                &[
                    ("ID", "1"),
                    ("MIN", "1"),
                    ("MAX", "6"),
                    ("STEP", "1"),
                    ("COUNT", "3"),
                ],
                "not MIN, MIN+STEP",
            ),
            (
                &[("ID", "1"), ("MIN", "1"), ("STEP", "0"), ("COUNT", "3")],
                "step",
            ),
            (
                &[("ID", "1"), ("MIN", "0"), ("COUNT", "99999999999999999999")],
                "not a task number",
            ),
        ];
        for (vars, expect) in cases {
            let e = slurm(vars).unwrap_err();
            assert!(e.contains(expect), "{vars:?}: {e}");
            assert!(
                vars.is_empty() || e.contains("--array-index") || e.contains("task number"),
                "{e}"
            );
        }
    }

    #[test]
    fn long_multibyte_ids_are_cut_to_100_bytes_at_a_character_boundary() {
        let id: String = "😀".repeat(120);
        let name = sanitize_id(&id);
        assert!(name.len() <= 100 && name.len() > 90, "{} bytes", name.len());
        assert!(name.chars().all(|c| c == '😀'));
        assert_eq!(crate::io::fasta::unsafe_id_reason(&name), None);
    }

    #[test]
    fn colliding_folder_names_get_consecutive_suffixes() {
        let dir = tempfile::tempdir().unwrap();
        let fasta = dir.path().join("t.fasta");
        let mut text = String::new();
        for i in 0..2000 {
            // ids that differ only past the 100-byte cut
            text.push_str(&format!(">{}{i}\nMKTAYIAKQRQ\n", "a".repeat(100)));
        }
        std::fs::write(&fasta, text).unwrap();
        let targets = collect_targets(&[fasta]).unwrap();
        let base = "a".repeat(100);
        assert_eq!(targets[0].name, base);
        assert_eq!(targets[1].name, format!("{base}_2"));
        assert_eq!(targets[1999].name, format!("{base}_2000"));
    }

    #[test]
    fn uniprot_ids_are_named_as_colabfold_names_them() {
        assert_eq!(
            sanitize_id("tr|F8AN26|F8AN26_METOI"),
            "tr_F8AN26_F8AN26_METOI"
        );
    }

    #[test]
    fn ids_become_safe_folder_names() {
        assert_eq!(sanitize_id("../../etc/x"), "_._.._etc_x");
        for id in [
            "../../etc/x",
            "..",
            "/abs/path",
            "a\\b",
            ".hidden",
            "-rf",
            "tab\tid",
            "",
        ] {
            let s = sanitize_id(id);
            assert!(
                !s.contains('/')
                    && !s.contains('\\')
                    && !s.starts_with('.')
                    && !s.starts_with('-')
                    && !s.is_empty(),
                "{id:?} -> {s:?}"
            );
            assert!(
                is_inside(Path::new("out"), &Path::new("out").join(&s)),
                "{id:?} -> {s:?}"
            );
        }
        assert_eq!(sanitize_id("sp|P69905|HBA_HUMAN"), "sp_P69905_HBA_HUMAN");
    }

    #[test]
    fn shards_are_disjoint_and_cover_everything() {
        let targets: Vec<Target> = (0..10)
            .map(|i| Target {
                name: format!("t{i}"),
                original_id: format!("t{i}"),
                query: Query {
                    id: format!("t{i}"),
                    description: String::new(),
                    sequence: "MK".into(),
                },
                complex: None,
                source: PathBuf::from("x"),
                problem: None,
            })
            .collect();
        let mut seen = Vec::new();
        for i in 0..3 {
            seen.extend(shard(targets.clone(), i, 3).into_iter().map(|t| t.name));
        }
        seen.sort();
        let mut all: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
        all.sort();
        assert_eq!(seen, all);
        assert!(array_task(Some((3, 3))).is_err());
        assert_eq!(array_task(Some((1, 3))).unwrap(), (1, 3));
    }

    #[test]
    fn collisions_get_suffixes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.fasta");
        std::fs::write(&p, ">x/y\nMKV\n>x_y\nMKV\n>../z\nMK\n").unwrap();
        let t = collect_targets(&[p]).unwrap();
        let names: Vec<&str> = t.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["x_y", "x_y_2", "_._z"]);
        assert_eq!(t[2].original_id, "../z");
    }
}
