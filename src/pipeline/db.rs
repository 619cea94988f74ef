//! `ferrofold db download`: fetch one of AlphaFold2's databases listed in the manifest into
//! `<data-dir>/<name>/`, resuming a partial download, checking size and checksum where published, and
//! unpacking (`.gz` streamed to the final file, `.tar.gz` extracted inside the database folder).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::databases::{database_path, parse_manifest, ManifestEntry};
use crate::fsutil::download::{download, DownloadError, Expect};

/// Errors of the `db` commands; each names the database, file or query.
#[derive(Debug, Error)]
pub enum DbError {
    #[error("database manifest: {0}")]
    Manifest(String),
    #[error("unknown database '{name}' (the manifest lists: {known})")]
    Unknown { name: String, known: String },
    #[error("{name}: fetched with rsync, not by ferrofold: {command}")]
    Rsync { name: String, command: String },
    #[error("{name}: unknown archive kind '{kind}'")]
    ArchiveKind { name: String, kind: String },
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error(transparent)]
    Download(#[from] DownloadError),
    #[error(transparent)]
    Query(#[from] crate::io::fasta::FastaError),
    #[error(transparent)]
    Database(#[from] crate::search::db::DbError),
}

/// What `download_database` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbOutcome {
    Downloaded(PathBuf),
    Present(PathBuf),
}

fn err(path: &Path, e: impl std::fmt::Display) -> DbError {
    DbError::File {
        path: path.into(),
        message: e.to_string(),
    }
}

/// Downloads database `name` of `manifest` (tab-separated text) into `data_dir`.
pub fn download_database(
    name: &str,
    data_dir: &Path,
    manifest: &str,
) -> Result<DbOutcome, DbError> {
    let entries = parse_manifest(manifest).map_err(DbError::Manifest)?;
    let Some(e) = entries.iter().find(|e| e.name == name) else {
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        return Err(DbError::Unknown {
            name: name.into(),
            known: names.join(", "),
        });
    };
    let target = database_path(data_dir, e);
    if target.exists() {
        return Ok(DbOutcome::Present(target));
    }
    if e.archive == "rsync" {
        return Err(DbError::Rsync {
            name: name.into(),
            command: format!(
                "rsync -rlpt -v -z --delete --port=33444 {} {}",
                e.url,
                target.display()
            ),
        });
    }
    let dir = data_dir.join(&e.name);
    fs::create_dir_all(&dir).map_err(|x| err(&dir, x))?;
    let file = e
        .url
        .rsplit('/')
        .next()
        .filter(|f| !f.is_empty())
        .unwrap_or("download");
    let archive = if e.archive == "plain" {
        target.clone()
    } else {
        dir.join(file)
    };
    let expect = Expect {
        size: e.download_bytes,
        sha256: e.sha256.clone(),
    };
    download(&e.url, &archive, &expect)?;
    unpack(e, &archive, &dir, &target)?;
    Ok(DbOutcome::Downloaded(target))
}

fn unpack(e: &ManifestEntry, archive: &Path, dir: &Path, target: &Path) -> Result<(), DbError> {
    match e.archive.as_str() {
        "plain" => Ok(()),
        "gz" => {
            let mut out =
                crate::fsutil::atomic::AtomicFile::create(target).map_err(|x| err(target, x))?;
            let f = fs::File::open(archive).map_err(|x| err(archive, x))?;
            io::copy(
                &mut flate2::read::MultiGzDecoder::new(io::BufReader::new(f)),
                out.file(),
            )
            .map_err(|x| err(archive, format!("corrupt gzip: {x}")))?;
            out.commit().map_err(|x| err(target, x))?;
            fs::remove_file(archive).map_err(|x| err(archive, x))
        }
        "tar.gz" => {
            // Unpack into a temporary folder, then move the result into place: no half-extracted database
            // (one a killed run left is removed first).
            crate::fsutil::atomic::remove_stale_temporaries(dir);
            let tmp =
                crate::fsutil::atomic::temp_dir_in(dir, ".unpack").map_err(|x| err(dir, x))?;
            let f = fs::File::open(archive).map_err(|x| err(archive, x))?;
            tar::Archive::new(flate2::read::MultiGzDecoder::new(io::BufReader::new(f)))
                .unpack(tmp.path())
                .map_err(|x| err(archive, format!("corrupt archive: {x}")))?;
            let inner = tmp.path().join(&e.unpacked);
            let src = if inner.exists() {
                inner
            } else {
                tmp.path().to_path_buf()
            };
            fs::rename(&src, target).map_err(|x| err(target, x))?;
            fs::remove_file(archive).map_err(|x| err(archive, x))
        }
        other => Err(DbError::ArchiveKind {
            name: e.name.clone(),
            kind: other.into(),
        }),
    }
}

/// What `search` did.
#[derive(Debug, Clone)]
pub struct SearchReport {
    pub hits: usize,
    pub candidates: usize,
    pub sequences: usize,
    pub load_seconds: f64,
    pub search_seconds: f64,
}

/// `ferrofold db search`: the built-in search of one query (a one-record FASTA) against a FASTA(.gz)
/// database, hits written to `output` as A3M (atomically).
pub fn search(
    query: &Path,
    database: &Path,
    options: &crate::search::SearchOptions,
    output: &Path,
) -> Result<SearchReport, DbError> {
    let q = crate::Query::from_fasta_path(query)?;
    let t = std::time::Instant::now();
    let db = crate::search::db::SequenceDb::load(database)?;
    let load_seconds = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let (hits, stats) = crate::search::search(&q.sequence, &db, options);
    let search_seconds = t.elapsed().as_secs_f64();
    let a3m = crate::search::hits_to_a3m(&q.id, &q.sequence, &hits, &db);
    crate::fsutil::atomic::write_with(output, |w| a3m.write(w)).map_err(|e| err(output, e))?;
    Ok(SearchReport {
        hits: stats.hits,
        candidates: stats.candidates,
        sequences: stats.sequences,
        load_seconds,
        search_seconds,
    })
}
