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
use crate::fsutil::tree;
use crate::io::fasta::FastaError;
use crate::io::features_h5::{self, FeaturesFileError, Provenance, FORMAT_VERSION};
use crate::query::Query;
use crate::search::runner::{self, database_fingerprint, SearchError, Searcher};

/// File name of the features file inside a target directory.
pub const FEATURES_FILE: &str = "features.h5";
/// Folder for the alignments inside a target directory.
pub const MSAS_DIR: &str = "msas";
/// Where alignments of an earlier run that the current `features.h5` was not made from are kept.
pub const UNUSED_MSAS_DIR: &str = "unused_msas";

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
        /// The database searched for a heteromer's pairing rows (AlphaFold2's UniProt search, into
        /// `uniprot_hits`); `None`: heteromers cannot be searched. Single chains never use it.
        pairing: Option<crate::search::SearchSpec>,
    },
    /// ColabFold's MMseqs2 protocol on local databases (`--db-preset colabfold`), batched over a run's
    /// targets; one alignment per target, `msas/colabfold.a3m`.
    Colabfold(super::colabfold::ColabfoldSearch),
    /// ColabFold's MSA server (`--msa-server URL`); one alignment per target, `msas/colabfold.a3m`.
    Server(crate::search::msa_server::MsaServer),
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
    /// Template featurisation from precomputed hits (`--template-mmcif-dir`); `None`: no templates.
    pub templates: Option<TemplateOptions>,
    /// Every record of the FASTA file is one chain of a single complex (`--complex`; AlphaFold2's
    /// multimer input). Without it a record whose sequence holds `:` is a complex (ColabFold's notation).
    pub complex: bool,
}

/// Where template hits and their structures come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateOptions {
    /// The hit structures (`--template-mmcif-dir`).
    pub mmcif_dir: PathBuf,
    /// Release-date cutoff (`--max-template-date`); `None`: every release date.
    pub max_template_date: Option<crate::templates::Date>,
    /// `obsolete.dat` (`--obsolete-pdbs`; found beside the mmCIF files when not given).
    pub obsolete: Option<PathBuf>,
    /// An `.hhr` file for `--msa` inputs (`--template-hits`); with `--msa-dir` the target's `*.hhr`.
    pub hits: Option<PathBuf>,
    /// kalign for realignments (`--kalign`; default: found on PATH).
    pub kalign: Option<PathBuf>,
    pub tool_timeout_s: u64,
    /// Search for template hits (`--template-db`) instead of reading precomputed ones.
    pub search: Option<TemplateSearch>,
}

/// How template hits are searched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSearch {
    /// `hhsearch` on pdb70 databases (HH-suite prefixes) with the target's uniref90 alignment
    /// (AlphaFold2's monomer default); hits to `msas/pdb_hits.hhr`.
    Hhsearch {
        databases: Vec<PathBuf>,
        binary: Option<PathBuf>,
    },
    /// `hmmbuild` + `hmmsearch` over `pdb_seqres.txt` with the uniref90 alignment (AlphaFold-Multimer's
    /// path); hits to `msas/pdb_hits.sto`, featurised as AlphaFold2's `HmmsearchHitFeaturizer` does.
    Hmmsearch { seqres: PathBuf },
    /// ferrofold's Smith-Waterman over `pdb_seqres.txt`; hits to `msas/pdb_seqres_hits.hhr`.
    Builtin { seqres: PathBuf },
}

impl TemplateSearch {
    /// Ties hits to the database(s) they were searched in (path, size, time of every file).
    pub(super) fn fingerprint(&self) -> Result<String, FeaturesStageError> {
        use crate::search::tools::SearchTool;
        Ok(match self {
            TemplateSearch::Hhsearch { databases, .. } => {
                let mut parts = vec!["hhsearch".to_string()];
                for d in databases {
                    parts.push(database_fingerprint(SearchTool::Hhblits, d)?);
                }
                parts.join(";")
            }
            TemplateSearch::Builtin { seqres } => {
                format!(
                    "builtin;{}",
                    database_fingerprint(SearchTool::Builtin, seqres)?
                )
            }
            TemplateSearch::Hmmsearch { seqres } => {
                format!(
                    "hmmsearch;{}",
                    database_fingerprint(SearchTool::Builtin, seqres)?
                )
            }
        })
    }

    /// The hits file this search writes in `msas/`.
    fn output_name(&self) -> &'static str {
        match self {
            TemplateSearch::Hhsearch { .. } => "pdb_hits.hhr",
            TemplateSearch::Hmmsearch { .. } => "pdb_hits.sto",
            TemplateSearch::Builtin { .. } => "pdb_seqres_hits.hhr",
        }
    }
}

impl TemplateOptions {
    /// `obsolete.dat` as given, or AlphaFold2's `pdb_mmcif/obsolete.dat` beside or above the mmCIF folder.
    pub(super) fn obsolete_file(&self) -> Option<PathBuf> {
        self.obsolete.clone().or_else(|| {
            [
                self.mmcif_dir.join("obsolete.dat"),
                self.mmcif_dir.join("../obsolete.dat"),
            ]
            .into_iter()
            .find(|p| p.is_file())
        })
    }
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
    /// Template domain names (`pdbid_chain`) in the features, in order (template models use the first 4).
    pub templates: Vec<String>,
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

impl From<SearchError> for FeaturesStageError {
    fn from(e: SearchError) -> Self {
        match e {
            SearchError::Io { path, message } => Self::Io { path, message },
            other => Self::Search(other.to_string()),
        }
    }
}

pub(super) fn io_err(path: &Path) -> impl Fn(std::io::Error) -> FeaturesStageError + '_ {
    move |e| FeaturesStageError::Io {
        path: path.into(),
        message: e.to_string(),
    }
}

#[derive(Serialize)]
pub(super) struct DatabaseRecord {
    pub(super) name: String,
    pub(super) path: String,
    pub(super) file: String,
    pub(super) sha256: String,
    pub(super) rows: usize,
    pub(super) rows_used: usize,
    /// Template hits only: what their structures were when the features were made
    /// ([`template_fingerprint`]), checked again before the features are reused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) structures: Option<String>,
}

/// The folder `--msa-dir` holds `query`'s alignments in.
fn target_msa_dir(dir: &Path, query: &Query) -> PathBuf {
    // DIR/<id>/ (OpenFold's layout), DIR/<id>/msas/ (an AlphaFold2 or ferrofold output folder: the batch
    // form of AlphaFold2's --use_precomputed_msas), or DIR itself.
    let mut per_target = dir.join(&query.id);
    if !per_target.is_dir() {
        // A folder named by the record's own id where the target's folder name differs from it
        // (`DIR/sp|P69905|HBA_HUMAN/` for the target `sp_P69905_HBA_HUMAN`): the one whose name
        // becomes the target's.
        let mut named: Vec<PathBuf> = fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| {
                        e.path().is_dir()
                            && crate::query::sanitize_id(&e.file_name().to_string_lossy())
                                == query.id
                    })
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        if named.len() == 1 {
            per_target = named.pop().unwrap_or(per_target);
        }
    }
    if per_target.join(MSAS_DIR).is_dir() {
        per_target.join(MSAS_DIR)
    } else if per_target.is_dir() {
        per_target
    } else {
        dir.to_path_buf()
    }
}

/// The template hits (`.hhr`) of one target: `--template-hits`, or in the target's `--msa-dir` folder
/// `pdb70_hits.hhr` (or the one `.hhr` there).
fn template_hits_file(
    source: &MsaSource,
    query: &Query,
    t: &TemplateOptions,
) -> Result<Option<PathBuf>, FeaturesStageError> {
    if let Some(h) = &t.hits {
        crate::fsutil::regular::check(h).map_err(io_err(h))?;
        return Ok(Some(h.clone()));
    }
    let MsaSource::Dir(dir) = source else {
        return Ok(None);
    };
    let dir = target_msa_dir(dir, query);
    let mut found: Vec<PathBuf> = fs::read_dir(&dir)
        .map_err(io_err(&dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && classify(p) == MsaFileKind::TemplateHits)
        .collect();
    found.sort();
    if let Some(p) = found
        .iter()
        .find(|p| p.file_name().is_some_and(|n| n == "pdb70_hits.hhr"))
    {
        return Ok(Some(p.clone()));
    }
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(FeaturesStageError::Usage(format!(
            "{}: {} template hit files ({}); keep one, or name it with --template-hits",
            dir.display(),
            found.len(),
            found
                .iter()
                .map(|p| p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// What the template features of `query` depend on: the hits file, the settings, `obsolete.dat`, and
/// the size and modification time of each mmCIF file the hits name (the structures that can be read).
pub(super) fn template_fingerprint(
    hits: &Path,
    t: &TemplateOptions,
) -> Result<String, FeaturesStageError> {
    let mut h = InputHash::new("ferrofold templates");
    h.add(&sha256_file(hits).map_err(io_err(hits))?);
    h.add(&t.mmcif_dir.display().to_string());
    h.add(&format!("{:?}", t.max_template_date));
    if let Some(o) = t.obsolete_file() {
        h.add(&sha256_file(&o).map_err(io_err(&o))?);
    }
    let text = crate::fsutil::regular::read(hits).map_err(io_err(hits))?;
    let text = String::from_utf8_lossy(&text);
    let names: Vec<String> = if hits
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("sto"))
    {
        // hmmsearch rows are named <id>_<chain>/<start>-<end>.
        text.lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#') && !l.starts_with("//"))
            .filter_map(|l| l.split_whitespace().next())
            .map(|n| n.split('/').next().unwrap_or(n).to_string())
            .collect()
    } else {
        crate::io::hhr::parse(&text, hits)
            .map_err(|e| FeaturesStageError::Search(e.to_string()))?
            .into_iter()
            .map(|h| h.name)
            .collect()
    };
    for name in &names {
        if let Some((id, _)) = crate::templates::pdb_id_and_chain(name) {
            let meta = crate::templates::find_mmcif(&t.mmcif_dir, &id).and_then(|p| {
                let m = fs::metadata(&p).ok()?;
                let mtime = m
                    .modified()
                    .ok()?
                    .duration_since(UNIX_EPOCH)
                    .ok()?
                    .as_nanos();
                Some(format!("{} {} {mtime}", p.display(), m.len()))
            });
            h.add(&format!("{id}: {meta:?}"));
        }
    }
    Ok(h.finish())
}

/// The alignment inputs of one target.
fn msa_inputs(source: &MsaSource, query: &Query) -> Result<Vec<MsaInput>, FeaturesStageError> {
    match source {
        MsaSource::SingleSequence
        | MsaSource::Search { .. }
        | MsaSource::Colabfold(_)
        | MsaSource::Server(_) => Ok(Vec::new()),
        MsaSource::Files(files) => {
            let mut names = std::collections::HashSet::new();
            for f in files {
                // Alignments are kept in msas/ under their file names, and the name says which database
                // an alignment is from: two with one name would overwrite each other.
                if let Some(name) = f.file_name() {
                    if !names.insert(name.to_owned()) {
                        return Err(FeaturesStageError::Usage(format!(
                            "two alignments are named '{}' ({}): names say which database an alignment is from; rename one",
                            name.to_string_lossy(),
                            f.display()
                        )));
                    }
                }
                if !f.exists() {
                    return Err(FeaturesStageError::Io {
                        path: f.clone(),
                        message: "no such alignment file".into(),
                    });
                }
                crate::fsutil::regular::check(f).map_err(io_err(f))?;
            }
            Ok(files.iter().map(MsaInput::from_path).collect())
        }
        MsaSource::Dir(dir) => {
            let dir = target_msa_dir(dir, query);
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
                    // Read by the template step (with --template-mmcif-dir).
                    MsaFileKind::TemplateHits => info!(
                        "{}: template hits (used with --template-mmcif-dir)",
                        p.display()
                    ),
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

/// Refuses searches that would write one alignment file twice: the file is named after the database
/// (`db.fasta` → `msas/db_hits.*`), so two databases with one name would leave only the last one's hits.
pub(super) fn check_search_outputs(source: &MsaSource) -> Result<(), FeaturesStageError> {
    let MsaSource::Search {
        searches, pairing, ..
    } = source
    else {
        return Ok(());
    };
    let mut seen: std::collections::HashMap<&str, &Path> = std::collections::HashMap::new();
    for spec in searches.iter().chain(pairing) {
        if let Some(first) = seen.insert(spec.output_stem.as_str(), &spec.database) {
            return Err(FeaturesStageError::Usage(format!(
                "databases {} and {} would both write msas/{}.*: alignments are named after their database's file name; give one of them another name (a link will do)",
                first.display(),
                spec.database.display(),
                spec.output_stem
            )));
        }
    }
    Ok(())
}

/// Alignments and template hits in a target's `msas/` folder (and its chains' subfolders) that the
/// features about to be written were not made from — an earlier run's, with other inputs — are moved to
/// `<target>/unused_msas/`: `msas/` then holds exactly what `features.h5` was made from, so reusing this
/// output with `--msa-dir` cannot bring a stale alignment back, and no search result is deleted.
/// `used`: the files of the provenance (`name`, or `chain/name` for a complex); `read_in_place`: input
/// folders that are themselves inside `msas/` (left as they are: all their alignments were read).
pub(super) fn set_aside_unused_msas(
    target: &str,
    target_dir: &Path,
    used: &[DatabaseRecord],
    read_in_place: &[PathBuf],
) -> Result<(), FeaturesStageError> {
    let msas_dir = target_dir.join(MSAS_DIR);
    let used: std::collections::HashSet<&str> = used.iter().map(|d| d.file.as_str()).collect();
    let in_place: Vec<PathBuf> = read_in_place
        .iter()
        .filter_map(|d| fs::canonicalize(d).ok())
        .collect();
    let is_alignment = |p: &Path| {
        p.extension().is_some_and(|e| {
            ["a3m", "sto", "hhr"]
                .iter()
                .any(|x| e.eq_ignore_ascii_case(x))
        })
    };
    let files_of = |dir: &Path| -> Vec<PathBuf> {
        fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .map(|e| e.path())
                    .filter(|p| is_alignment(p))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut dirs = vec![(msas_dir.clone(), String::new())];
    if let Ok(rd) = fs::read_dir(&msas_dir) {
        for e in rd.filter_map(|e| e.ok()) {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                let name = e.file_name().to_string_lossy().into_owned();
                dirs.push((e.path(), format!("{name}/")));
            }
        }
    }
    let unused_dir = target_dir.join(UNUSED_MSAS_DIR);
    let mut moved = 0;
    for (dir, prefix) in dirs {
        if fs::canonicalize(&dir).is_ok_and(|c| in_place.contains(&c)) {
            continue;
        }
        let mut files = files_of(&dir);
        files.sort();
        for f in files {
            let name = f
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if used.contains(format!("{prefix}{name}").as_str()) {
                continue;
            }
            let dest_dir = unused_dir.join(prefix.trim_end_matches('/'));
            tree::ensure_dir(&dest_dir).map_err(io_err(&dest_dir))?;
            let dest = dest_dir.join(&name);
            fs::rename(&f, &dest).map_err(io_err(&f))?;
            moved += 1;
        }
    }
    if moved > 0 {
        info!(
            "{target}: moved {moved} alignment file(s) of an earlier run that these features do not use from {} to {} (kept, never read)",
            msas_dir.display(),
            unused_dir.display()
        );
    }
    Ok(())
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

/// The alignments of a target read from `input`: a ColabFold `.a3m` input is its own MSA (as
/// `colabfold_batch` uses it), whatever `given` says; any other input uses `given`.
pub fn msas_for_input(input: &Path, given: &MsaSource) -> MsaSource {
    if crate::io::colabfold::InputKind::of(input) == crate::io::colabfold::InputKind::A3m {
        if !matches!(given, MsaSource::Files(f) if f.as_slice() == [input.to_path_buf()]) {
            info!(
                "{}: a ColabFold alignment input: its rows are the MSA (no search)",
                input.display()
            );
        }
        return MsaSource::Files(vec![input.to_path_buf()]);
    }
    given.clone()
}

/// Runs the stage for every record of the FASTA file (or ColabFold `.a3m` / `.csv` input).
pub fn run(opts: &FeaturesOptions) -> Result<Vec<TargetReport>, FeaturesStageError> {
    let mut reports = Vec::new();
    run_each(opts, |r| reports.push(r.clone()))?;
    Ok(reports)
}

/// As [`run`], calling `done` with each target's report as soon as it is finished, in input order (so
/// the targets done before a failing one are reported too).
pub fn run_each(
    opts: &FeaturesOptions,
    mut done: impl FnMut(&TargetReport),
) -> Result<(), FeaturesStageError> {
    let with_input_msa;
    let opts = if crate::io::colabfold::InputKind::of(&opts.fasta)
        == crate::io::colabfold::InputKind::A3m
    {
        with_input_msa = FeaturesOptions {
            msas: msas_for_input(&opts.fasta, &opts.msas),
            ..opts.clone()
        };
        &with_input_msa
    } else {
        opts
    };
    let targets = crate::query::read_targets(&opts.fasta, opts.complex)?;
    let queries: Vec<Query> = targets
        .iter()
        .filter_map(|t| match t {
            crate::query::Target::Monomer(q) => Some(q.clone()),
            crate::query::Target::Complex(_) => None,
        })
        .collect();
    if matches!(opts.msas, MsaSource::Files(_)) && targets.len() > 1 {
        return Err(FeaturesStageError::Usage(format!(
            "{}: {} records but --msa files belong to one target; use --msa-dir with one folder per record id",
            opts.fasta.display(),
            queries.len()
        )));
    }
    check_search_outputs(&opts.msas)?;
    tree::create_output_dir(&opts.output_dir).map_err(io_err(&opts.output_dir))?;
    // ColabFold's local search runs once for every target that needs it.
    super::colabfold::search_batch(&queries.iter().collect::<Vec<_>>(), opts)?;
    for t in &targets {
        let (id, result) = match t {
            crate::query::Target::Monomer(q) => (&q.id, run_target(q, opts)),
            crate::query::Target::Complex(c) => {
                (&c.id, super::complex::run_complex_target(c, opts))
            }
        };
        match result {
            Ok(report) => done(&report),
            Err(e) => {
                // A target that failed before writing anything leaves no empty folder behind.
                crate::fsutil::tree::remove_if_empty(&opts.output_dir.join(id));
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Searches one database for `query`, writing `<msas_dir>/<stem>.{a3m,sto}`.
pub(super) fn run_search(
    searcher: &dyn Searcher,
    query: &Query,
    database: &Path,
    stem: &str,
    msas_dir: &Path,
) -> Result<PathBuf, FeaturesStageError> {
    let t = Instant::now();
    database_fingerprint(searcher.tool(), database)?;
    let out = msas_dir.join(format!("{stem}.{}", searcher.extension()));
    searcher.query(query, database, &out, msas_dir)?;
    info!(
        "{}: searched {} with {:?} in {:.2} s → {}",
        query.id,
        database.display(),
        searcher.tool(),
        t.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(out)
}

/// The input hash `features.h5` records for `query` under `opts` (sequence, header, alignment inputs or
/// databases and search settings, row limits, format version), and the precomputed alignments with their
/// SHA-256 in merge order. Runs no search: a later stage uses it to prove that an existing `features.h5`
/// belongs to the current input.
pub fn expected_input_hash(
    query: &Query,
    opts: &FeaturesOptions,
) -> Result<String, FeaturesStageError> {
    Ok(hashed_inputs(query, opts)?.0)
}

fn hashed_inputs(
    query: &Query,
    opts: &FeaturesOptions,
) -> Result<(String, Vec<(MsaInput, String)>), FeaturesStageError> {
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
                h.add(&database_fingerprint(spec.tool, &spec.database)?);
            }
            Some(h.finish())
        }
        MsaSource::Colabfold(_) | MsaSource::Server(_) => {
            let fingerprint = super::colabfold::source_fingerprint(&opts.msas)?.unwrap_or_default();
            let mut h = InputHash::new("ferrofold features colabfold");
            h.add(&FORMAT_VERSION.to_string())
                .add(&query.description)
                .add(&query.sequence)
                .add(&fingerprint);
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
    // Template hits and structures join the hash (without templates it stays as it was).
    let hash = match &opts.templates {
        Some(t) if t.search.is_some() => {
            let search = t.search.as_ref().expect("checked");
            let mut h = InputHash::new("ferrofold features with a template search");
            h.add(&hash)
                .add(&search.fingerprint()?)
                .add(&t.mmcif_dir.display().to_string())
                .add(&format!("{:?}", t.max_template_date));
            if let Some(o) = t.obsolete_file() {
                h.add(&sha256_file(&o).map_err(io_err(&o))?);
            }
            h.finish()
        }
        Some(t) => match template_hits_file(&opts.msas, query, t)? {
            Some(hits) => {
                let mut h = InputHash::new("ferrofold features with templates");
                h.add(&hash).add(&template_fingerprint(&hits, t)?);
                h.finish()
            }
            None => hash,
        },
        None => hash,
    };
    Ok((hash, hashed))
}

/// Searches template hits for `query`, writing them to `msas_dir` (atomically); returns the hits file.
pub(super) fn search_templates(
    query: &Query,
    search: &TemplateSearch,
    t: &TemplateOptions,
    msas: &[(MsaInput, String)],
    limits: &MsaLimits,
    msas_dir: &Path,
) -> Result<PathBuf, FeaturesStageError> {
    let started = Instant::now();
    let out = msas_dir.join(search.output_name());
    let timeout = std::time::Duration::from_secs(t.tool_timeout_s);
    // AlphaFold2 searches with the uniref90 alignment; without one, the first alignment.
    let msa = msas
        .iter()
        .map(|(m, _)| m)
        .find(|m| m.role == crate::features::builder::MsaRole::Uniref90)
        .or_else(|| msas.first().map(|(m, _)| m));
    if let Some(m) = msa.filter(|m| m.role != crate::features::builder::MsaRole::Uniref90) {
        info!(
            "{}: no uniref90 alignment; the template search reads {} instead",
            query.id,
            m.path.display()
        );
    }
    let text = match search {
        TemplateSearch::Hmmsearch { seqres } => {
            let find = |tool: &str| {
                crate::search::tools::find(tool, None, "hmmer")
                    .map_err(|e| FeaturesStageError::Search(e.to_string()))
            };
            let (hmmbuild, hmmsearch) = (find("hmmbuild")?, find("hmmsearch")?);
            let sto_text = match msa {
                Some(m) if m.path.extension().is_some_and(|e| e.eq_ignore_ascii_case("sto")) => {
                    crate::templates::search::hmmsearch_input(&m.path, limits.uniref_max_hits)
                        .map_err(FeaturesStageError::Search)?
                }
                _ => {
                    return Err(FeaturesStageError::Usage(format!(
                        "{}: the hmmsearch template search builds its profile from a Stockholm alignment with reference columns (uniref90_hits.sto from jackhmmer); there is none",
                        query.id
                    )))
                }
            };
            let tmp = |suffix: &str| {
                crate::fsutil::atomic::temp_file_in(msas_dir, suffix).map_err(io_err(msas_dir))
            };
            let (input, hmm, hits) = (tmp(".hmmbuild.sto")?, tmp(".hmm")?, tmp(".hits.sto")?);
            fs::write(input.path(), sto_text).map_err(io_err(input.path()))?;
            crate::templates::search::hmmsearch(
                &hmmbuild,
                &hmmsearch,
                input.path(),
                hmm.path(),
                seqres,
                hits.path(),
                rayon::current_num_threads(),
                timeout,
            )
            .map_err(|e| FeaturesStageError::Search(e.to_string()))?;
            fs::read_to_string(hits.path()).map_err(io_err(hits.path()))?
        }
        TemplateSearch::Hhsearch { databases, binary } => {
            let bin = crate::search::tools::find("hhsearch", binary.as_deref(), "hhsuite")
                .map_err(|e| FeaturesStageError::Search(e.to_string()))?;
            let a3m = match msa {
                Some(m) => {
                    crate::templates::search::hhsearch_input(&m.path, limits.uniref_max_hits)
                        .map_err(FeaturesStageError::Search)?
                }
                None => format!(">{}\n{}\n", query.id, query.sequence),
            };
            // Owned temporaries (removed when dropped, or by a later run if this one is killed).
            let input = crate::fsutil::atomic::temp_file_in(msas_dir, ".hhsearch.a3m")
                .map_err(io_err(msas_dir))?;
            fs::write(input.path(), a3m).map_err(io_err(input.path()))?;
            let hhr =
                crate::fsutil::atomic::temp_file_in(msas_dir, ".hhr").map_err(io_err(msas_dir))?;
            crate::templates::search::hhsearch(&bin, input.path(), databases, hhr.path(), timeout)
                .map_err(|e| FeaturesStageError::Search(e.to_string()))?;
            fs::read_to_string(hhr.path()).map_err(io_err(hhr.path()))?
        }
        TemplateSearch::Builtin { seqres } => {
            let db = crate::search::db::SequenceDb::load(seqres)
                .map_err(|e| FeaturesStageError::Search(e.to_string()))?;
            let opts = crate::search::SearchOptions {
                evalue: 10.0,
                max_hits: 200,
                ..Default::default()
            };
            let (hits, stats) = crate::templates::search::builtin_hits(&query.sequence, &db, &opts);
            crate::templates::search::write_hhr(query.len(), &hits, &stats)
        }
    };
    crate::fsutil::atomic::write_bytes(&out, text.as_bytes()).map_err(io_err(&out))?;
    info!(
        "{}: template search ({}) → {} in {:.2} s",
        query.id,
        match search {
            TemplateSearch::Hhsearch { .. } => "hhsearch",
            TemplateSearch::Hmmsearch { .. } => "hmmsearch",
            TemplateSearch::Builtin { .. } => "built-in",
        },
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(out)
}

/// Whether the structures the recorded template hits name are as they were when the features were made.
/// The input hash covers them only when the hits are given; hits that a search found are known only after
/// it, so a structure replaced in place since (an rsync of pdb_mmcif) is caught here, before reuse.
pub(super) fn templates_still_current(
    query_id: &str,
    prov: &Provenance,
    msas_dir: &Path,
    t: Option<&TemplateOptions>,
) -> bool {
    let Some(t) = t else {
        return true;
    };
    let records: Vec<serde_json::Value> = serde_json::from_str(&prov.databases).unwrap_or_default();
    // A single chain's record is `templates`; a complex's, one per chain, `<chain id>:templates`.
    for rec in records.iter().filter(|r| {
        r["name"]
            .as_str()
            .is_some_and(|n| n == "templates" || n.ends_with(":templates"))
    }) {
        let (Some(file), Some(recorded)) = (rec["file"].as_str(), rec["structures"].as_str())
        else {
            return false;
        };
        let now = template_fingerprint(&msas_dir.join(file), t).ok();
        if now.as_deref() != Some(recorded) {
            info!(
                "{query_id}: the template structures (or hits) changed since its features were made; regenerating them"
            );
            return false;
        }
    }
    true
}

/// Template features of `query` from its hits file, with a line per hit in the log; the hits file is
/// copied into `msas_dir` and recorded.
pub(super) fn template_features(
    query: &Query,
    hits_path: &Path,
    t: &TemplateOptions,
    msas_dir: &Path,
) -> Result<(crate::features::TemplateFeatures, DatabaseRecord), FeaturesStageError> {
    let started = Instant::now();
    let bytes = crate::fsutil::regular::read(hits_path).map_err(io_err(hits_path))?;
    let text = String::from_utf8(bytes).map_err(|_| FeaturesStageError::Io {
        path: hits_path.into(),
        message: "not UTF-8 text".into(),
    })?;
    // An hmmsearch alignment (pdb_hits.sto, AlphaFold-Multimer's path) or HH-suite hits (.hhr).
    let hmmsearch = hits_path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("sto"));
    let hits = if hmmsearch {
        crate::templates::search::hmmsearch_hits(&text, &query.sequence, hits_path)
            .map_err(FeaturesStageError::Search)?
    } else {
        crate::io::hhr::parse(&text, hits_path)
            .map_err(|e| FeaturesStageError::Search(e.to_string()))?
    };
    let obsolete = match t.obsolete_file() {
        Some(p) => crate::templates::parse_obsolete(&p)
            .map_err(|e| FeaturesStageError::Search(e.to_string()))?,
        None => Default::default(),
    };
    let settings = crate::templates::TemplateSettings {
        mmcif_dir: t.mmcif_dir.clone(),
        max_template_date: t.max_template_date.unwrap_or(crate::templates::Date {
            year: 9999,
            month: 12,
            day: 31,
        }),
        max_hits: crate::templates::MAX_TEMPLATE_HITS,
        kalign: crate::search::tools::find("kalign", t.kalign.as_deref(), "kalign").ok(),
        obsolete,
        tool_timeout: std::time::Duration::from_secs(t.tool_timeout_s),
        style: if hmmsearch {
            crate::templates::FeaturizerStyle::Hmmsearch
        } else {
            crate::templates::FeaturizerStyle::Hhsearch
        },
    };
    let (features, reports) = crate::templates::featurize(&query.sequence, &hits, &settings)
        .map_err(|e| FeaturesStageError::Search(format!("{}: {e}", hits_path.display())))?;
    for r in &reports {
        match &r.skipped {
            None => info!(
                "{}: template {} (sum_probs {}){}",
                query.id,
                r.hit,
                r.sum_probs,
                if r.realigned {
                    ", realigned to its mmCIF sequence"
                } else {
                    ""
                }
            ),
            Some(why) => info!("{}: template hit {} skipped: {why}", query.id, r.hit),
        }
    }
    info!(
        "{}: {} templates from {} hits in {} ({:.2} s); a template model uses the first {}",
        query.id,
        features.count(),
        hits.len(),
        hits_path.display(),
        started.elapsed().as_secs_f64(),
        features.count().min(4)
    );
    let file = hits_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dest = msas_dir.join(&file);
    if fs::canonicalize(hits_path).ok() != fs::canonicalize(&dest).ok() {
        crate::fsutil::atomic::copy(hits_path, &dest).map_err(io_err(&dest))?;
    }
    let record = DatabaseRecord {
        name: "templates".into(),
        path: hits_path.display().to_string(),
        file,
        sha256: sha256_file(hits_path).map_err(io_err(hits_path))?,
        rows: hits.len(),
        rows_used: features.count(),
        structures: Some(template_fingerprint(hits_path, t)?),
    };
    Ok((features, record))
}

/// Records the features stage's seconds as `features` in the target's `timings.json` (AlphaFold2's key;
/// predict adds its own keys to the same file), keeping what else is there.
pub(super) fn record_features_time(
    target_dir: &Path,
    seconds: f64,
) -> Result<(), FeaturesStageError> {
    let p = target_dir.join("timings.json");
    let entry = std::collections::BTreeMap::from([("features".to_string(), seconds)]);
    crate::io::confidence::merge_timings(&p, &entry).map_err(io_err(&p))
}

/// Runs the stage for one query.
pub(crate) fn run_target(
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
    // The target folder is a real folder (never a link to elsewhere), and one process at a time works in
    // it: a second one waits, then finds the first one's outputs up to date.
    tree::ensure_dir(&target_dir).map_err(io_err(&target_dir))?;
    let _lock = tree::DirLock::acquire(&target_dir, &query.id).map_err(io_err(&target_dir))?;
    let msas_dir = target_dir.join(MSAS_DIR);
    if fs::symlink_metadata(&msas_dir).is_ok() {
        tree::ensure_dir(&msas_dir).map_err(io_err(&msas_dir))?;
    }
    // Leftovers of a killed run (its temporary files) are never trusted, only removed.
    let stale = crate::fsutil::atomic::remove_stale_temporaries(&target_dir)
        + crate::fsutil::atomic::remove_stale_temporaries(&msas_dir);
    if stale > 0 {
        info!(
            "{}: removed {stale} temporary file(s) left by an interrupted run",
            query.id
        );
    }
    let (hash, mut hashed) = hashed_inputs(query, opts)?;

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
        let read = features_h5::read(&features_path).ok().filter(|(_, prov)| {
            templates_still_current(&query.id, prov, &msas_dir, opts.templates.as_ref())
        });
        if let Some((f, _)) = read {
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
                templates: f.templates.domain_names.clone(),
                seconds: start.elapsed().as_secs_f64(),
            });
        }
    }

    if let MsaSource::Search {
        searches,
        options,
        binary,
        timeout_s,
        ..
    } = &opts.msas
    {
        tree::ensure_dir(&msas_dir).map_err(io_err(&msas_dir))?;
        for spec in searches {
            let searcher = runner::searcher(
                spec.tool,
                options,
                binary.as_deref(),
                std::time::Duration::from_secs(*timeout_s),
            )
            .map_err(|e| FeaturesStageError::Search(format!("{}: {e}", spec.database.display())))?;
            let out = run_search(
                searcher.as_ref(),
                query,
                &spec.database,
                &spec.output_stem,
                &msas_dir,
            )?;
            let sha = sha256_file(&out).map_err(io_err(&out))?;
            hashed.push((MsaInput::from_path(out), sha));
        }
        // Into merge order, as the builder reads them, so that the provenance below pairs each
        // alignment's role and row counts with its own file and checksum (searches run in the order
        // given; uniref90, BFD, MGnify is the merge order).
        hashed.sort_by_key(|(m, _)| m.role.clone());
    }
    if matches!(opts.msas, MsaSource::Colabfold(_) | MsaSource::Server(_)) {
        tree::ensure_dir(&msas_dir).map_err(io_err(&msas_dir))?;
        let out = super::colabfold::alignment(query, opts, &msas_dir)?;
        let sha = sha256_file(&out).map_err(io_err(&out))?;
        hashed.push((MsaInput::from_path(out), sha));
    }
    let builder = FeatureBuilder::from_msas(hashed.iter().map(|(m, _)| m.clone()).collect())
        .with_limits(opts.limits);
    let mut built = builder.build(query, &opts.fasta.display().to_string())?;

    tree::ensure_dir(&msas_dir).map_err(io_err(&msas_dir))?;
    let mut template_record = None;
    if let Some(t) = &opts.templates {
        let searched = match &t.search {
            Some(search) => Some(search_templates(
                query,
                search,
                t,
                &hashed,
                &opts.limits,
                &msas_dir,
            )?),
            None => None,
        };
        let hits_file = match searched {
            Some(p) => Some(p),
            None => template_hits_file(&opts.msas, query, t)?,
        };
        match hits_file {
            Some(hits) => {
                let (features, record) = template_features(query, &hits, t, &msas_dir)?;
                built.features.templates = features;
                template_record = Some(record);
            }
            None => warn!(
                "{}: no template hits (.hhr) found (--template-hits, or pdb70_hits.hhr with --msa-dir): features without templates",
                query.id
            ),
        }
    }
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
            structures: None,
        });
    }
    databases.extend(template_record);
    let read_in_place: Vec<PathBuf> = match &opts.msas {
        MsaSource::Dir(d) => vec![target_msa_dir(d, query)],
        _ => Vec::new(),
    };
    set_aside_unused_msas(&query.id, &target_dir, &databases, &read_in_place)?;
    let prov = new_provenance(&query.sequence, &databases, &opts.command_line, hash);
    features_h5::write(&features_path, &built.features, &prov)?;
    crate::fsutil::checksum::record(&features_path).map_err(io_err(&features_path))?;
    let report = TargetReport {
        target: query.id.clone(),
        features_path,
        outcome: Outcome::Written,
        num_res: built.features.num_res(),
        num_alignments: built.features.num_alignments(),
        templates: built.features.templates.domain_names.clone(),
        seconds: start.elapsed().as_secs_f64(),
    };
    record_features_time(&target_dir, report.seconds)?;
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

/// The provenance of features written now.
pub(super) fn new_provenance(
    query_sequence: &str,
    databases: &[DatabaseRecord],
    command: &str,
    input_hash: String,
) -> Provenance {
    Provenance {
        tool: crate::TOOL.into(),
        query_sequence: query_sequence.into(),
        databases: serde_json::to_string(databases).expect("plain data serialises"),
        command: command.into(),
        input_hash,
        created: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            .to_string(),
    }
}

/// Converts AlphaFold2's `features.pkl` into `dest` (a `features.h5`, written atomically with its
/// checksum), keyed by the pickle's SHA-256: a rerun on the same pickle finds `dest` up to date, a changed
/// pickle is converted again. The features are checked as a `features.h5` is.
pub fn convert_pickle(
    pkl: &Path,
    dest: &Path,
    command_line: &str,
    overwrite: bool,
) -> Result<TargetReport, FeaturesStageError> {
    let start = std::time::Instant::now();
    let sha = crate::fsutil::checksum::sha256_file(pkl).map_err(io_err(pkl))?;
    let mut h = InputHash::new("ferrofold features from pickle v1");
    h.add(&sha);
    let hash = h.finish();
    let target = dest
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "features".into());
    let recorded = || {
        features_h5::read_provenance(dest)
            .map(|p| p.input_hash)
            .map_err(|e| e.to_string())
    };
    if !overwrite && super::reuse::may_reuse(&target, dest, recorded, &hash, "converting again") {
        if let Ok((f, _)) = features_h5::read(dest) {
            return Ok(TargetReport {
                target,
                features_path: dest.into(),
                outcome: Outcome::UpToDate,
                num_res: f.num_res(),
                num_alignments: f.num_alignments(),
                templates: f.templates.domain_names.clone(),
                seconds: 0.0,
            });
        }
    }
    let features = crate::io::features_pkl::read(pkl)?;
    let record = DatabaseRecord {
        name: "features.pkl".into(),
        path: pkl.display().to_string(),
        file: pkl
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        sha256: sha,
        rows: features.num_alignments(),
        rows_used: features.num_alignments(),
        structures: None,
    };
    let prov = new_provenance(&features.sequence.sequence, &[record], command_line, hash);
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    features_h5::write(dest, &features, &prov)?;
    crate::fsutil::checksum::record(dest).map_err(io_err(dest))?;
    info!(
        "{}: {} residues, {} alignment rows, {} templates → {}",
        pkl.display(),
        features.num_res(),
        features.num_alignments(),
        features.templates.domain_names.len(),
        dest.display()
    );
    Ok(TargetReport {
        target,
        features_path: dest.into(),
        outcome: Outcome::Written,
        num_res: features.num_res(),
        num_alignments: features.num_alignments(),
        templates: features.templates.domain_names.clone(),
        seconds: start.elapsed().as_secs_f64(),
    })
}
