//! The `features` stage: FASTA (+ precomputed alignments, or none in single-sequence mode) →
//! `<out>/<target>/features.h5` and `<out>/<target>/msas/`.
//!
//! Each FASTA record is one target. Work is skipped when `features.h5` exists, reads back, and records the
//! same input hash (sequence, header, alignment contents and roles, row limits, format version); every file
//! is written atomically, so a killed run leaves no file a rerun would trust.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use thiserror::Error;
use tracing::{info, warn};

use crate::features::builder::{
    classify, BuildError, FeatureBuilder, MsaFileKind, MsaInput, MsaLimits,
};
use crate::fsutil::checksum::{sha256_file, InputHash};
use crate::io::fasta::FastaError;
use crate::io::features_h5::{self, FeaturesFileError, Provenance, FORMAT_VERSION};
use crate::query::Query;

/// File name of the features file inside a target directory.
pub const FEATURES_FILE: &str = "features.h5";
/// Folder for the alignments inside a target directory.
pub const MSAS_DIR: &str = "msas";

/// Where the alignments come from.
#[derive(Debug, Clone, PartialEq)]
pub enum MsaSource {
    /// The query alone.
    SingleSequence,
    /// These files (one target only).
    Files(Vec<PathBuf>),
    /// An AlphaFold2 / OpenFold alignments directory: `DIR/<target id>/` when it exists, else `DIR` itself.
    Dir(PathBuf),
    /// Search these FASTA(.gz) databases with the built-in search (the demo database by default).
    Search {
        searches: Vec<crate::search::SearchSpec>,
        options: crate::search::SearchOptions,
        /// The tool's binary (default: found on PATH).
        binary: Option<PathBuf>,
        /// Time limit per tool run.
        timeout_s: u64,
    },
}

/// Options of the `features` stage.
#[derive(Debug, Clone)]
pub struct FeaturesOptions {
    pub fasta: PathBuf,
    pub msas: MsaSource,
    pub output_dir: PathBuf,
    pub limits: MsaLimits,
    /// Redo work even when the outputs are up to date.
    pub overwrite: bool,
    /// The command line, recorded in the file's provenance.
    pub command_line: String,
    /// Longest query accepted (`--max-length`).
    pub max_length: usize,
}

/// Default of `features --max-length`: far beyond any protein AlphaFold2 can fold, low enough to refuse
/// a genome pasted by mistake before a search starts.
pub const DEFAULT_FEATURES_MAX_LENGTH: usize = 10_000;

/// What happened to one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Written,
    UpToDate,
}

/// Report for one target.
#[derive(Debug, Clone)]
pub struct TargetReport {
    pub target: String,
    pub features_path: PathBuf,
    pub outcome: Outcome,
    pub num_res: usize,
    pub num_alignments: usize,
    pub seconds: f64,
}

/// Errors of the stage; each names the file or target that failed.
#[derive(Debug, Error)]
pub enum FeaturesStageError {
    #[error(transparent)]
    Fasta(#[from] FastaError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    FeaturesFile(#[from] FeaturesFileError),
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{0}")]
    Usage(String),
    /// A database or search tool failed; the message names the file or the tool and its command line.
    #[error("{0}")]
    Search(String),
    /// A limit refused the job; the message names the limit and the flag that raises it.
    #[error("{0}")]
    Limit(String),
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> FeaturesStageError + '_ {
    move |e| FeaturesStageError::Io {
        path: path.into(),
        message: e.to_string(),
    }
}

#[derive(Serialize)]
struct DatabaseRecord {
    name: String,
    path: String,
    file: String,
    sha256: String,
    rows: usize,
    rows_used: usize,
}

/// The alignment inputs of one target.
fn msa_inputs(source: &MsaSource, query: &Query) -> Result<Vec<MsaInput>, FeaturesStageError> {
    match source {
        MsaSource::SingleSequence | MsaSource::Search { .. } => Ok(Vec::new()),
        MsaSource::Files(files) => {
            for f in files {
                if !f.is_file() {
                    return Err(FeaturesStageError::Io {
                        path: f.clone(),
                        message: "no such alignment file".into(),
                    });
                }
            }
            Ok(files.iter().map(MsaInput::from_path).collect())
        }
        MsaSource::Dir(dir) => {
            let per_target = dir.join(&query.id);
            let dir = if per_target.is_dir() {
                per_target
            } else {
                dir.clone()
            };
            let mut entries: Vec<PathBuf> = fs::read_dir(&dir)
                .map_err(io_err(&dir))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            let mut inputs = Vec::new();
            for p in entries {
                let ext = p
                    .extension()
                    .map(|e| e.to_string_lossy().to_lowercase())
                    .unwrap_or_default();
                match classify(&p) {
                    MsaFileKind::Msa(_) if ext == "a3m" || ext == "sto" => {
                        inputs.push(MsaInput::from_path(p))
                    }
                    MsaFileKind::Unused(why) => info!("{}: not used: {why}", p.display()),
                    _ => {}
                }
            }
            if inputs.is_empty() {
                return Err(FeaturesStageError::Io {
                    path: dir,
                    message: format!("no alignments (.a3m / .sto) for target '{}'", query.id),
                });
            }
            Ok(inputs)
        }
    }
}

fn input_hash(query: &Query, inputs: &[(MsaInput, String)], limits: &MsaLimits) -> String {
    let mut h = InputHash::new("ferrofold features");
    h.add(&FORMAT_VERSION.to_string())
        .add(&query.description)
        .add(&query.sequence);
    h.add(&format!(
        "{}/{}",
        limits.uniref_max_hits, limits.mgnify_max_hits
    ));
    for (m, sha) in inputs {
        let name = m
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        h.add(m.role.name()).add(&name).add(sha);
    }
    h.finish()
}

/// Runs the stage for every record of the FASTA file.
pub fn run(opts: &FeaturesOptions) -> Result<Vec<TargetReport>, FeaturesStageError> {
    let queries = Query::read_all(&opts.fasta)?;
    if matches!(opts.msas, MsaSource::Files(_)) && queries.len() > 1 {
        return Err(FeaturesStageError::Usage(format!(
            "{}: {} records but --msa files belong to one target; use --msa-dir with one folder per record id",
            opts.fasta.display(),
            queries.len()
        )));
    }
    fs::create_dir_all(&opts.output_dir).map_err(io_err(&opts.output_dir))?;
    let mut reports = Vec::new();
    for q in &queries {
        reports.push(run_target(q, opts)?);
    }
    Ok(reports)
}

/// Identity of a database for the rerun check: path, size and modification time of its file(s) — not their
/// contents, which for AlphaFold2's databases would mean hashing hundreds of gigabytes per run. For
/// hhblits the database is one or more HH-suite prefixes (`a:b`), each needing `<prefix>_a3m.ffdata`.
fn database_fingerprint(
    db: &Path,
    tool: crate::search::tools::SearchTool,
) -> Result<String, FeaturesStageError> {
    let files: Vec<PathBuf> = if tool == crate::search::tools::SearchTool::Hhblits {
        db.to_string_lossy()
            .split(':')
            .flat_map(|p| {
                [
                    format!("{p}_a3m.ffdata"),
                    format!("{p}_a3m.ffindex"),
                    format!("{p}_cs219.ffindex"),
                ]
            })
            .map(PathBuf::from)
            .collect()
    } else {
        if db.is_dir() {
            return Err(FeaturesStageError::Io {
                path: db.into(),
                message: "is a directory, not a sequence database file".into(),
            });
        }
        vec![db.to_path_buf()]
    };
    let mut parts = Vec::new();
    for f in files {
        let meta = std::fs::metadata(&f).map_err(|_| FeaturesStageError::Io {
            path: f.clone(),
            message: if tool == crate::search::tools::SearchTool::Hhblits {
                "no such HH-suite database file".into()
            } else {
                "no such database file".into()
            },
        })?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        parts.push(format!("{}|{}|{mtime}", f.display(), meta.len()));
    }
    Ok(parts.join(";"))
}

/// The built-in search's database, loaded once per process for a batch of targets: the last database used
/// is kept (keyed by path, size and modification time), so a multi-record FASTA loads it once.
fn cached_database(
    path: &Path,
) -> Result<std::sync::Arc<crate::search::db::SequenceDb>, FeaturesStageError> {
    use std::sync::{Arc, Mutex};
    static CACHE: Mutex<Option<(String, Arc<crate::search::db::SequenceDb>)>> = Mutex::new(None);
    let key = database_fingerprint(path, crate::search::tools::SearchTool::Builtin)?;
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((k, db)) = cache.as_ref() {
        if *k == key {
            return Ok(db.clone());
        }
    }
    *cache = None; // release the previous database before loading the next
    let db = Arc::new(
        crate::search::db::SequenceDb::load(path)
            .map_err(|e| FeaturesStageError::Search(e.to_string()))?,
    );
    *cache = Some((key, db.clone()));
    Ok(db)
}

/// Searches one database for `query` with `tool`, writing `<msas_dir>/<database stem>_hits.{a3m,sto}`.
#[allow(clippy::too_many_arguments)]
fn run_search(
    query: &Query,
    db_path: &Path,
    stem: &str,
    msas_dir: &Path,
    options: &crate::search::SearchOptions,
    tool: crate::search::tools::SearchTool,
    binary: Option<&Path>,
    timeout_s: u64,
) -> Result<PathBuf, FeaturesStageError> {
    use crate::search::tools::{self, SearchTool};
    let t = Instant::now();
    database_fingerprint(db_path, tool)?;
    let timeout = std::time::Duration::from_secs(timeout_s);
    let cpu = rayon::current_num_threads();
    let tool_err =
        |e: tools::ToolError| FeaturesStageError::Search(format!("{}: {e}", db_path.display()));
    // External tools read the query from a FASTA file in the output folder (removed afterwards).
    let query_fasta = || -> Result<tempfile::NamedTempFile, FeaturesStageError> {
        let mut f = tempfile::Builder::new()
            .prefix(".query.")
            .suffix(".fasta")
            .tempfile_in(msas_dir)
            .map_err(io_err(msas_dir))?;
        use std::io::Write;
        writeln!(f, ">{}\n{}", query.id, query.sequence).map_err(io_err(msas_dir))?;
        Ok(f)
    };
    let out = match tool {
        SearchTool::Builtin => {
            let db = cached_database(db_path)?;
            let (hits, stats) = crate::search::search(&query.sequence, &db, options);
            let out = msas_dir.join(format!("{stem}.a3m"));
            let a3m = crate::search::hits_to_a3m(&query.id, &query.sequence, &hits, &db);
            crate::fsutil::atomic::write_with(&out, |w| a3m.write(w)).map_err(io_err(&out))?;
            info!(
                "{}: built-in search: {} hits, {} of {} sequences aligned",
                query.id, stats.hits, stats.candidates, stats.sequences
            );
            out
        }
        SearchTool::Jackhmmer => {
            let bin = tools::find("jackhmmer", binary, "hmmer").map_err(tool_err)?;
            let q = query_fasta()?;
            let out = msas_dir.join(format!("{stem}.sto"));
            let tmp = crate::fsutil::atomic::AtomicFile::create(&out).map_err(io_err(&out))?;
            tools::jackhmmer(&bin, q.path(), db_path, tmp.temp_path(), 1, cpu, timeout)
                .map_err(tool_err)?;
            tmp.commit().map_err(io_err(&out))?;
            out
        }
        SearchTool::Hhblits => {
            let bin = tools::find("hhblits", binary, "hhsuite").map_err(tool_err)?;
            let q = query_fasta()?;
            let out = msas_dir.join(format!("{stem}.a3m"));
            let tmp = crate::fsutil::atomic::AtomicFile::create(&out).map_err(io_err(&out))?;
            // Several HH-suite databases can be searched together: `a:b` in one spec.
            let prefixes: Vec<PathBuf> = db_path
                .to_string_lossy()
                .split(':')
                .map(PathBuf::from)
                .collect();
            let refs: Vec<&Path> = prefixes.iter().map(PathBuf::as_path).collect();
            tools::hhblits(&bin, q.path(), &refs, tmp.temp_path(), 3, cpu, timeout)
                .map_err(tool_err)?;
            tmp.commit().map_err(io_err(&out))?;
            out
        }
        SearchTool::Mmseqs => {
            let bin = tools::find("mmseqs", binary, "mmseqs2").map_err(tool_err)?;
            let q = query_fasta()?;
            let out = msas_dir.join(format!("{stem}.a3m"));
            let work = tempfile::Builder::new()
                .prefix(".mmseqs.")
                .tempdir_in(msas_dir)
                .map_err(io_err(msas_dir))?;
            tools::mmseqs(
                &bin,
                q.path(),
                db_path,
                &out,
                work.path(),
                options.evalue,
                cpu,
                timeout,
            )
            .map_err(tool_err)?;
            out
        }
    };
    info!(
        "{}: searched {} with {:?} in {:.2} s → {}",
        query.id,
        db_path.display(),
        tool,
        t.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(out)
}

/// Runs the stage for one query.
pub fn run_target(
    query: &Query,
    opts: &FeaturesOptions,
) -> Result<TargetReport, FeaturesStageError> {
    let start = Instant::now();
    if query.len() > opts.max_length {
        return Err(FeaturesStageError::Limit(format!(
            "{}: record '{}' has {} residues, more than the limit of {} (raise it with --max-length)",
            opts.fasta.display(),
            query.id,
            query.len(),
            opts.max_length
        )));
    }
    for (pos, c) in query.mapped_to_unknown() {
        warn!(
            "{}: residue {pos} '{c}' is read as X (unknown), as AlphaFold2 does",
            query.id
        );
    }
    let target_dir = opts.output_dir.join(&query.id);
    let features_path = target_dir.join(FEATURES_FILE);
    // Leftovers of a killed run (its temporary files) are never trusted, only removed.
    let stale = crate::fsutil::atomic::remove_stale_temporaries(&target_dir)
        + crate::fsutil::atomic::remove_stale_temporaries(&target_dir.join(MSAS_DIR));
    if stale > 0 {
        info!(
            "{}: removed {stale} temporary file(s) left by an interrupted run",
            query.id
        );
    }
    // With a search, the inputs are the databases and the settings (the alignments are made below).
    let search_hash = match &opts.msas {
        MsaSource::Search {
            searches, options, ..
        } => {
            let mut h = InputHash::new("ferrofold features search");
            h.add(&FORMAT_VERSION.to_string())
                .add(&query.description)
                .add(&query.sequence);
            h.add(&format!("{options:?}"));
            for spec in searches {
                h.add(&format!("{:?} {}", spec.tool, spec.output_stem));
                h.add(&database_fingerprint(&spec.database, spec.tool)?);
            }
            Some(h.finish())
        }
        _ => None,
    };
    let inputs = msa_inputs(&opts.msas, query)?;
    let mut hashed: Vec<(MsaInput, String)> = inputs
        .into_iter()
        .map(|m| {
            sha256_file(&m.path)
                .map(|s| (m.clone(), s))
                .map_err(io_err(&m.path))
        })
        .collect::<Result<_, _>>()?;
    // Merge order (uniref90, BFD, MGnify, others; stable), the order the builder reads them in.
    hashed.sort_by_key(|(m, _)| m.role.clone());
    let hash = search_hash.unwrap_or_else(|| input_hash(query, &hashed, &opts.limits));

    let recorded = || {
        features_h5::read_provenance(&features_path)
            .map(|p| p.input_hash)
            .map_err(|e| e.to_string())
    };
    if !opts.overwrite
        && super::reuse::may_reuse(
            &query.id,
            &features_path,
            recorded,
            &hash,
            "regenerating it",
        )
    {
        if let Ok((f, _)) = features_h5::read(&features_path) {
            info!(
                "{}: {} is up to date, skipped",
                query.id,
                features_path.display()
            );
            return Ok(TargetReport {
                target: query.id.clone(),
                features_path,
                outcome: Outcome::UpToDate,
                num_res: f.num_res(),
                num_alignments: f.num_alignments(),
                seconds: start.elapsed().as_secs_f64(),
            });
        }
    }

    if let MsaSource::Search {
        searches,
        options,
        binary,
        timeout_s,
    } = &opts.msas
    {
        let msas_dir = target_dir.join(MSAS_DIR);
        fs::create_dir_all(&msas_dir).map_err(io_err(&msas_dir))?;
        for spec in searches {
            let out = run_search(
                query,
                &spec.database,
                &spec.output_stem,
                &msas_dir,
                options,
                spec.tool,
                binary.as_deref(),
                *timeout_s,
            )?;
            let sha = sha256_file(&out).map_err(io_err(&out))?;
            hashed.push((MsaInput::from_path(out), sha));
        }
    }
    let builder = FeatureBuilder::from_msas(hashed.iter().map(|(m, _)| m.clone()).collect())
        .with_limits(opts.limits);
    let built = builder.build(query, &opts.fasta.display().to_string())?;

    let msas_dir = target_dir.join(MSAS_DIR);
    fs::create_dir_all(&msas_dir).map_err(io_err(&msas_dir))?;
    let mut databases = Vec::new();
    for (usage, (input, sha)) in built.msas.iter().zip(&hashed) {
        let file = input
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dest = msas_dir.join(&file);
        if fs::canonicalize(&input.path).ok() != fs::canonicalize(&dest).ok() {
            crate::fsutil::atomic::copy(&input.path, &dest).map_err(io_err(&dest))?;
        }
        databases.push(DatabaseRecord {
            name: usage.role.name().into(),
            path: input.path.display().to_string(),
            file,
            sha256: sha.clone(),
            rows: usage.rows,
            rows_used: usage.rows_used,
        });
    }
    let prov = Provenance {
        tool: crate::TOOL.into(),
        query_sequence: query.sequence.clone(),
        databases: serde_json::to_string(&databases).expect("plain data serialises"),
        command: opts.command_line.clone(),
        input_hash: hash,
        created: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            .to_string(),
    };
    features_h5::write(&features_path, &built.features, &prov)?;
    crate::fsutil::checksum::record(&features_path).map_err(io_err(&features_path))?;
    let report = TargetReport {
        target: query.id.clone(),
        features_path,
        outcome: Outcome::Written,
        num_res: built.features.num_res(),
        num_alignments: built.features.num_alignments(),
        seconds: start.elapsed().as_secs_f64(),
    };
    info!(
        "{}: {} residues, {} alignment rows → {} ({:.2} s)",
        report.target,
        report.num_res,
        report.num_alignments,
        report.features_path.display(),
        report.seconds
    );
    Ok(report)
}
