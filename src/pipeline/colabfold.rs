//! The `features` stage's ColabFold alignment sources: ColabFold's MMseqs2 protocol on local databases
//! (`--db-preset colabfold`), searched for every pending target of a run in one batch, and ColabFold's
//! MSA server (`--msa-server`). Both give each target one alignment, `msas/colabfold.a3m` (UniRef30
//! rows, then the environmental rows), which the features are built from as ColabFold builds a
//! monomer's.
//!
//! Results are kept below the output folder (`<out>/.colabfold/<key>.a3m`), filed under a key that
//! covers everything they depend on (the sequence; the databases' files, the settings and the `mmseqs`
//! binary, or the server and mode), so a rerun, a later array task or another target with the same
//! sequence uses them and nothing stale is ever taken for the current input.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::info;

use super::features::{FeaturesOptions, FeaturesStageError, MsaSource, FEATURES_FILE};
use crate::fsutil::checksum::InputHash;
use crate::query::Query;
use crate::search::colabfold::{self, ColabfoldDatabases, ColabfoldSettings};

/// The alignment file a ColabFold source writes in `msas/`.
pub const COLABFOLD_A3M: &str = "colabfold.a3m";

/// The folder below the output folder that keeps ColabFold results and batch work.
pub fn cache_dir(output_dir: &Path) -> PathBuf {
    output_dir.join(".colabfold")
}

/// ColabFold's search on local MMseqs2 databases (`--db-preset colabfold --data-dir DIR`).
#[derive(Debug, Clone, PartialEq)]
pub struct ColabfoldSearch {
    /// The folder holding `uniref30_2302_db*` and `colabfold_envdb_202108_db*`.
    pub data_dir: PathBuf,
    /// Search the environmental database too (`mmseqs2_uniref_env`, the default) or UniRef30 only
    /// (`mmseqs2_uniref`).
    pub use_env: bool,
    pub settings: ColabfoldSettings,
    /// `mmseqs` (default: found on PATH).
    pub binary: Option<PathBuf>,
    /// Time limit of one MMseqs2 step, seconds.
    pub timeout_s: u64,
}

/// The databases, the program and the fingerprint of a local ColabFold search.
struct Prepared {
    databases: ColabfoldDatabases,
    mmseqs: PathBuf,
    fingerprint: String,
}

fn prepare(search: &ColabfoldSearch) -> Result<Prepared, FeaturesStageError> {
    let databases = ColabfoldDatabases::locate(&search.data_dir, search.use_env)
        .map_err(|e| FeaturesStageError::Search(format!("--db-preset colabfold: {e}")))?;
    let mmseqs = crate::search::tools::find("mmseqs", search.binary.as_deref(), "mmseqs2")
        .map_err(|e| FeaturesStageError::Search(e.to_string()))?;
    let program = crate::search::runner::database_fingerprint(
        crate::search::tools::SearchTool::Builtin,
        &mmseqs,
    )?;
    let mut h = InputHash::new("ferrofold colabfold search");
    h.add(&databases.fingerprint())
        .add(&format!("{:?} env={}", search.settings, search.use_env))
        .add(&program);
    Ok(Prepared {
        databases,
        mmseqs,
        fingerprint: h.finish(),
    })
}

/// What the alignments of `source` depend on besides the sequence (`None` for other sources): part of
/// the features' input hash.
pub(crate) fn source_fingerprint(source: &MsaSource) -> Result<Option<String>, FeaturesStageError> {
    Ok(match source {
        MsaSource::Colabfold(search) => Some(prepare(search)?.fingerprint),
        MsaSource::Server(server) => Some(format!(
            "msa server {} mode {}",
            server.url,
            server.mode.field()
        )),
        _ => None,
    })
}

fn key(fingerprint: &str, sequence: &str) -> String {
    let mut h = InputHash::new("ferrofold colabfold alignment");
    h.add(fingerprint).add(sequence);
    h.finish()
}

/// Whether `target`'s features are up to date already (then it needs no search).
fn features_current(query: &Query, opts: &FeaturesOptions) -> bool {
    let path = opts.output_dir.join(&query.id).join(FEATURES_FILE);
    let Ok(expected) = super::features::expected_input_hash(query, opts) else {
        return false;
    };
    crate::io::features_h5::read_provenance(&path).is_ok_and(|p| p.input_hash == expected)
}

/// Runs the local ColabFold search once for every query among `queries` that has neither current
/// features nor a kept alignment (each distinct sequence searched once), keeping each alignment in
/// [`cache_dir`]. Does nothing for other sources. An interrupted batch resumes from its last finished
/// step when the same queries are searched again.
pub fn search_batch(queries: &[&Query], opts: &FeaturesOptions) -> Result<(), FeaturesStageError> {
    let MsaSource::Colabfold(search) = &opts.msas else {
        return Ok(());
    };
    if queries.is_empty() {
        return Ok(());
    }
    let prepared = prepare(search)?;
    let cache = cache_dir(&opts.output_dir);
    let mut pending: Vec<String> = Vec::new();
    for q in queries {
        let kept = cache.join(format!("{}.a3m", key(&prepared.fingerprint, &q.sequence)));
        let needed = opts.overwrite || !(kept.is_file() || features_current(q, opts));
        if needed && !pending.contains(&q.sequence) {
            pending.push(q.sequence.clone());
        }
    }
    if pending.is_empty() {
        return Ok(());
    }
    crate::fsutil::tree::ensure_dir(&opts.output_dir)
        .and_then(|_| crate::fsutil::tree::ensure_dir(&cache))
        .map_err(|e| FeaturesStageError::Io {
            path: cache.clone(),
            message: e.to_string(),
        })?;
    // The batch's work folder is named after what it searches, so that a rerun of the same batch
    // resumes in it; one process at a time works in it.
    let batch_key = {
        let mut h = InputHash::new("ferrofold colabfold batch");
        h.add(&prepared.fingerprint);
        for s in &pending {
            h.add(s);
        }
        h.finish()
    };
    let work = cache.join(format!("batch-{}", &batch_key[..16]));
    let io = |p: &Path, e: std::io::Error| FeaturesStageError::Io {
        path: p.to_path_buf(),
        message: e.to_string(),
    };
    crate::fsutil::tree::ensure_dir(&work).map_err(|e| io(&work, e))?;
    let _lock = crate::fsutil::tree::DirLock::acquire(&work, "the ColabFold search batch")
        .map_err(|e| io(&work, e))?;
    let started = std::time::Instant::now();
    info!(
        "ColabFold search: {} sequence(s) against {}{} in one batch ({})",
        pending.len(),
        prepared.databases.uniref.prefix.display(),
        prepared
            .databases
            .env
            .as_ref()
            .map(|e| format!(" and {}", e.prefix.display()))
            .unwrap_or_default(),
        work.display()
    );
    let a3ms = colabfold::search_batch(
        &prepared.mmseqs,
        &prepared.databases,
        &search.settings,
        &pending,
        &work,
        rayon::current_num_threads(),
        Duration::from_secs(search.timeout_s),
    )
    .map_err(|e| {
        FeaturesStageError::Search(format!(
            "ColabFold search (work kept in {} for a rerun to resume): {e}",
            work.display()
        ))
    })?;
    for (seq, a3m) in pending.iter().zip(&a3ms) {
        let kept = cache.join(format!("{}.a3m", key(&prepared.fingerprint, seq)));
        crate::fsutil::atomic::write_bytes(&kept, a3m.as_bytes()).map_err(|e| io(&kept, e))?;
    }
    drop(_lock);
    std::fs::remove_dir_all(&work).map_err(|e| io(&work, e))?;
    info!(
        "ColabFold search: {} alignment(s) in {:.1} s",
        a3ms.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Writes `query`'s ColabFold alignment to `msas_dir/colabfold.a3m` and returns that path: from the
/// kept results (searching for it alone when the batch did not), or from the MSA server.
pub(crate) fn alignment(
    query: &Query,
    opts: &FeaturesOptions,
    msas_dir: &Path,
) -> Result<PathBuf, FeaturesStageError> {
    let cache = cache_dir(&opts.output_dir);
    let text = match &opts.msas {
        MsaSource::Colabfold(search) => {
            let fingerprint = prepare(search)?.fingerprint;
            let kept = cache.join(format!("{}.a3m", key(&fingerprint, &query.sequence)));
            if !kept.is_file() {
                search_batch(&[query], opts)?;
            }
            crate::fsutil::regular::read(&kept).map_err(|e| FeaturesStageError::Io {
                path: kept.clone(),
                message: e.to_string(),
            })?
        }
        MsaSource::Server(server) => server
            .alignment(&query.sequence, &cache)
            .map_err(|e| FeaturesStageError::Search(format!("{}: {e}", query.id)))?
            .into_bytes(),
        _ => {
            return Err(FeaturesStageError::Usage(
                "a ColabFold alignment needs --db-preset colabfold or --msa-server".into(),
            ))
        }
    };
    let out = msas_dir.join(COLABFOLD_A3M);
    crate::fsutil::atomic::write_bytes(&out, &text).map_err(|e| FeaturesStageError::Io {
        path: out.clone(),
        message: e.to_string(),
    })?;
    Ok(out)
}
