//! One runner per search tool, each with one `query` (AlphaFold2's `data/tools/` shape): the stages ask a
//! [`Searcher`] for an alignment and never need to know which program made it, how it names its database
//! files or where it keeps its temporaries.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use thiserror::Error;
use tracing::info;

use super::db::SequenceDb;
use super::tools::{self, SearchTool, ToolError};
use super::SearchOptions;
use crate::fsutil::atomic::{self, AtomicFile};
use crate::query::Query;

/// Errors of one search; each names the database or file.
#[derive(Debug, Error)]
pub enum SearchError {
    #[error("{}: {source}", database.display())]
    Tool {
        database: PathBuf,
        source: ToolError,
    },
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    /// The database could not be loaded (the error names it).
    #[error(transparent)]
    Database(#[from] super::db::DbError),
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> SearchError + '_ {
    move |e| SearchError::Io {
        path: path.into(),
        message: e.to_string(),
    }
}

/// A program that searches a sequence database for homologues of one query.
pub trait Searcher: Send + Sync {
    /// Which tool this is.
    fn tool(&self) -> SearchTool;

    /// Extension of the alignments it writes (`a3m` or `sto`).
    fn extension(&self) -> &'static str;

    /// Searches `database` for `query`, writing the alignment to `out` (atomically); temporaries go
    /// below `work_dir` and are removed.
    fn query(
        &self,
        query: &Query,
        database: &Path,
        out: &Path,
        work_dir: &Path,
    ) -> Result<(), SearchError>;
}

fn exists(files: Vec<PathBuf>, missing: &str) -> Result<Vec<PathBuf>, SearchError> {
    for f in &files {
        if std::fs::metadata(f).is_err() {
            return Err(SearchError::Io {
                path: f.clone(),
                message: missing.into(),
            });
        }
    }
    Ok(files)
}

/// The files a database spec of `tool` stands for (one FASTA file; for hhblits an HH-suite prefix's
/// ffindex/ffdata files, several prefixes joined by `:`), each checked to exist.
pub(crate) fn database_files(
    tool: SearchTool,
    database: &Path,
) -> Result<Vec<PathBuf>, SearchError> {
    if tool == SearchTool::Hhblits {
        let files = Hhblits::prefixes(database)
            .iter()
            .flat_map(|p| {
                let p = p.display();
                [
                    format!("{p}_a3m.ffdata"),
                    format!("{p}_a3m.ffindex"),
                    format!("{p}_cs219.ffindex"),
                ]
            })
            .map(PathBuf::from)
            .collect();
        return exists(files, "no such HH-suite database file");
    }
    if database.is_dir() {
        return Err(SearchError::Io {
            path: database.into(),
            message: "is a directory, not a sequence database file".into(),
        });
    }
    if tool == SearchTool::Mmseqs && tools::is_mmseqs_database(database) {
        let with = |ext: &str| {
            let mut p = database.as_os_str().to_owned();
            p.push(ext);
            PathBuf::from(p)
        };
        return exists(
            vec![database.to_path_buf(), with(".index"), with(".dbtype")],
            "no such MMseqs2 database file",
        );
    }
    exists(vec![database.to_path_buf()], "no such database file")
}

/// Path, size and modification time of every file of a database: what ties an alignment to the
/// database it was searched in (part of the features' input hash).
pub(crate) fn database_fingerprint(
    tool: SearchTool,
    database: &Path,
) -> Result<String, SearchError> {
    let mut parts = Vec::new();
    for f in database_files(tool, database)? {
        let meta = std::fs::metadata(&f).map_err(io_err(&f))?;
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

/// The runner for `tool`. External programs are looked up now (`binary`, else `PATH`), so a missing one
/// is reported before any work; `timeout` bounds each run.
pub(crate) fn searcher(
    tool: SearchTool,
    options: &SearchOptions,
    binary: Option<&Path>,
    timeout: Duration,
) -> Result<Box<dyn Searcher>, ToolError> {
    let cpu = rayon::current_num_threads();
    Ok(match tool {
        SearchTool::Builtin => Box::new(Builtin {
            options: options.clone(),
        }),
        SearchTool::Jackhmmer => Box::new(Jackhmmer {
            binary: tools::find("jackhmmer", binary, "hmmer")?,
            cpu,
            timeout,
        }),
        SearchTool::Hhblits => Box::new(Hhblits {
            binary: tools::find("hhblits", binary, "hhsuite")?,
            cpu,
            timeout,
        }),
        SearchTool::Mmseqs => Box::new(Mmseqs {
            binary: tools::find("mmseqs", binary, "mmseqs2")?,
            evalue: options.evalue,
            cpu,
            timeout,
        }),
    })
}

/// ferrofold's own search (k-mer prefilter + Smith-Waterman), A3M out.
pub struct Builtin {
    pub options: SearchOptions,
}

/// The built-in search's database, loaded once per process for a batch of targets: the last database
/// used is kept (keyed by path, size and modification time), so a multi-record FASTA loads it once.
/// Memory the built-in search takes per byte of (uncompressed) FASTA, measured: the residues, their codes,
/// the k-mer index and the headers (76 MB for an 11.5 MB FASTA).
pub(crate) const BUILTIN_MEMORY_PER_FASTA_BYTE: f64 = 6.6;

/// Uncompressed size of a FASTA(.gz) file: the file's size, or for gzip its trailer's size field (the
/// last member's size modulo 4 GiB; at least 3× the compressed size is assumed, sequences compress about
/// that well).
fn uncompressed_size(path: &Path) -> Option<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let len = std::fs::metadata(path).ok()?.len();
    if path.extension().is_none_or(|e| e != "gz") || len < 18 {
        return Some(len);
    }
    let mut f = std::fs::File::open(path).ok()?;
    f.seek(SeekFrom::End(-4)).ok()?;
    let mut b = [0u8; 4];
    f.read_exact(&mut b).ok()?;
    Some((u32::from_le_bytes(b) as u64).max(3 * len))
}

/// Above this estimated in-memory size the built-in search streams its database in chunks instead of
/// holding it (and keeping it for the next query).
pub(crate) const STREAM_ABOVE_BYTES: u64 = 1 << 30;

/// Whether the built-in search should stream `path` rather than hold it in memory.
fn stream_database(path: &Path) -> bool {
    uncompressed_size(path).is_some_and(|size| {
        (size as f64 * BUILTIN_MEMORY_PER_FASTA_BYTE) as u64 > STREAM_ABOVE_BYTES
    })
}

fn cached_database(path: &Path) -> Result<Arc<SequenceDb>, SearchError> {
    static CACHE: Mutex<Option<(String, Arc<SequenceDb>)>> = Mutex::new(None);
    let key = database_fingerprint(SearchTool::Builtin, path)?;
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((k, db)) = cache.as_ref() {
        if *k == key {
            return Ok(db.clone());
        }
    }
    *cache = None; // release the previous database before loading the next
    let db = Arc::new(SequenceDb::load(path)?);
    *cache = Some((key, db.clone()));
    Ok(db)
}

impl Searcher for Builtin {
    fn tool(&self) -> SearchTool {
        SearchTool::Builtin
    }

    fn extension(&self) -> &'static str {
        "a3m"
    }

    fn query(
        &self,
        query: &Query,
        database: &Path,
        out: &Path,
        _: &Path,
    ) -> Result<(), SearchError> {
        let (a3m, stats) = if stream_database(database) {
            info!(
                "{}: searched in chunks of {} residues (held whole it would take about {}); two passes over the file per query",
                database.display(),
                super::STREAM_CHUNK_RESIDUES,
                crate::model::plan::memory::human(
                    (uncompressed_size(database).unwrap_or(0) as f64
                        * BUILTIN_MEMORY_PER_FASTA_BYTE) as u64
                )
            );
            let (hits, stats, hit_db) = super::search_file(
                &query.sequence,
                database,
                &self.options,
                super::STREAM_CHUNK_RESIDUES,
            )?;
            (
                super::hits_to_a3m(&query.id, &query.sequence, &hits, &hit_db),
                stats,
            )
        } else {
            let db = cached_database(database)?;
            let (hits, stats) = super::search(&query.sequence, &db, &self.options);
            (
                super::hits_to_a3m(&query.id, &query.sequence, &hits, &db),
                stats,
            )
        };
        atomic::write_with(out, |w| a3m.write(w)).map_err(io_err(out))?;
        info!(
            "{}: built-in search: {} hits, {} of {} sequences aligned",
            query.id, stats.hits, stats.candidates, stats.sequences
        );
        Ok(())
    }
}

/// External tools read the query from a FASTA file in `dir` (removed when dropped).
fn query_fasta(query: &Query, dir: &Path) -> Result<tempfile::NamedTempFile, SearchError> {
    use std::io::Write;
    let mut f = atomic::temp_file_in(dir, ".query.fasta").map_err(io_err(dir))?;
    writeln!(f, ">{}\n{}", query.id, query.sequence).map_err(io_err(dir))?;
    Ok(f)
}

/// Runs an external tool that reads the query from a FASTA file and writes its alignment to a path:
/// `run(query_fasta, temporary_output)`, then moves the output into place (atomically).
fn run_into(
    query: &Query,
    database: &Path,
    out: &Path,
    work: &Path,
    run: impl FnOnce(&Path, &Path) -> Result<(), ToolError>,
) -> Result<(), SearchError> {
    let q = query_fasta(query, work)?;
    let tmp = AtomicFile::create(out).map_err(io_err(out))?;
    run(q.path(), tmp.temp_path()).map_err(|source| SearchError::Tool {
        database: database.into(),
        source,
    })?;
    tmp.commit().map_err(io_err(out))
}

/// A `.gz` database decompressed into a temporary file in `work` (removed when dropped); `None` for a
/// database that is not gzipped.
fn decompressed(
    database: &Path,
    work: &Path,
) -> Result<Option<tempfile::NamedTempFile>, SearchError> {
    if database.extension().is_none_or(|e| e != "gz") {
        return Ok(None);
    }
    let mut tmp = atomic::temp_file_in(work, ".database.fasta").map_err(io_err(work))?;
    let f = crate::fsutil::regular::open(database).map_err(io_err(database))?;
    std::io::copy(
        &mut flate2::read::MultiGzDecoder::new(std::io::BufReader::new(f)),
        tmp.as_file_mut(),
    )
    .map_err(|e| SearchError::Io {
        path: database.into(),
        message: format!("cannot decompress: {e}"),
    })?;
    Ok(Some(tmp))
}

/// HMMER's jackhmmer with AlphaFold2's flags (one iteration), Stockholm out.
pub struct Jackhmmer {
    pub binary: PathBuf,
    pub cpu: usize,
    pub timeout: Duration,
}

impl Searcher for Jackhmmer {
    fn tool(&self) -> SearchTool {
        SearchTool::Jackhmmer
    }

    fn extension(&self) -> &'static str {
        "sto"
    }

    fn query(
        &self,
        query: &Query,
        database: &Path,
        out: &Path,
        work: &Path,
    ) -> Result<(), SearchError> {
        // jackhmmer rewinds its database between iterations: a gzipped FASTA is decompressed first.
        let plain = decompressed(database, work)?;
        let db = plain.as_ref().map_or(database, |f| f.path());
        run_into(query, database, out, work, |q, tmp| {
            tools::jackhmmer(&self.binary, q, db, tmp, 1, self.cpu, self.timeout)
        })
    }
}

/// HH-suite's hhblits with AlphaFold2's flags (three iterations) over one or more database prefixes
/// (`a:b`), A3M out.
pub struct Hhblits {
    pub binary: PathBuf,
    pub cpu: usize,
    pub timeout: Duration,
}

impl Hhblits {
    fn prefixes(database: &Path) -> Vec<PathBuf> {
        database
            .to_string_lossy()
            .split(':')
            .map(PathBuf::from)
            .collect()
    }
}

impl Searcher for Hhblits {
    fn tool(&self) -> SearchTool {
        SearchTool::Hhblits
    }

    fn extension(&self) -> &'static str {
        "a3m"
    }

    fn query(
        &self,
        query: &Query,
        database: &Path,
        out: &Path,
        work: &Path,
    ) -> Result<(), SearchError> {
        let prefixes = Self::prefixes(database);
        let refs: Vec<&Path> = prefixes.iter().map(PathBuf::as_path).collect();
        run_into(query, database, out, work, |q, tmp| {
            tools::hhblits(&self.binary, q, &refs, tmp, 3, self.cpu, self.timeout)
        })
    }
}

/// MMseqs2 (`createdb`, `search`, `result2msa`), A3M out.
pub struct Mmseqs {
    pub binary: PathBuf,
    pub evalue: f64,
    pub cpu: usize,
    pub timeout: Duration,
}

impl Mmseqs {
    /// The MMseqs2 database to search: `database` itself when MMseqs2 made it (prebuilt, e.g.
    /// ColabFold's), else the one `createdb` made from the FASTA file once, kept in the user's cache
    /// (`~/.cache/ferrofold/mmseqs/<fingerprint>/db`) and reused while the FASTA's path, size and
    /// modification time are the same.
    fn target_database(&self, database: &Path) -> Result<PathBuf, SearchError> {
        if tools::is_mmseqs_database(database) {
            return Ok(database.to_path_buf());
        }
        let fingerprint = database_fingerprint(SearchTool::Mmseqs, database)?;
        let key = {
            let mut h = crate::fsutil::checksum::InputHash::new("mmseqs database");
            h.add(&fingerprint);
            h.finish()
        };
        let cache = crate::pipeline::params::cache_dir("mmseqs");
        let dir = cache.join(&key[..16]);
        let db = dir.join("db");
        if tools::is_mmseqs_database(&db) {
            info!(
                "{}: reusing its MMseqs2 database {}",
                database.display(),
                db.display()
            );
            return Ok(db);
        }
        std::fs::create_dir_all(&cache).map_err(io_err(&cache))?;
        // Made in an owned temporary folder, renamed into place when complete: a killed createdb
        // never leaves a half-made database that a later run would trust.
        let tmp = atomic::temp_dir_in(&cache, ".createdb").map_err(io_err(&cache))?;
        tools::mmseqs_createdb(&self.binary, database, &tmp.path().join("db"), self.timeout)
            .map_err(|source| SearchError::Tool {
                database: database.into(),
                source,
            })?;
        let made = tmp.keep();
        if std::fs::rename(&made, &dir).is_err() {
            // Another process made it meanwhile: use theirs.
            let _ = std::fs::remove_dir_all(&made);
        }
        info!(
            "{}: made its MMseqs2 database once, kept in {} for later searches",
            database.display(),
            db.display()
        );
        Ok(db)
    }
}

impl Searcher for Mmseqs {
    fn tool(&self) -> SearchTool {
        SearchTool::Mmseqs
    }

    fn extension(&self) -> &'static str {
        "a3m"
    }

    fn query(
        &self,
        query: &Query,
        database: &Path,
        out: &Path,
        work: &Path,
    ) -> Result<(), SearchError> {
        let q = query_fasta(query, work)?;
        let scratch = atomic::temp_dir_in(work, ".mmseqs").map_err(io_err(work))?;
        let target = self.target_database(database)?;
        tools::mmseqs(
            &self.binary,
            q.path(),
            &target,
            out,
            scratch.path(),
            self.evalue,
            self.cpu,
            self.timeout,
        )
        .map_err(|source| SearchError::Tool {
            database: database.into(),
            source,
        })
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_trailers_give_the_uncompressed_size() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("db.fasta");
        let text = ">a\n".to_string() + &"ACDEFGHIKLMNPQRSTVWY".repeat(5000) + "\n";
        std::fs::write(&plain, &text).unwrap();
        assert_eq!(uncompressed_size(&plain), Some(text.len() as u64));
        let gz = dir.path().join("db.fasta.gz");
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(text.as_bytes()).unwrap();
        std::fs::write(&gz, e.finish().unwrap()).unwrap();
        assert_eq!(uncompressed_size(&gz), Some(text.len() as u64));
    }
}
