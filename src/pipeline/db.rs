//! `ferrofold db download`: fetch one of AlphaFold2's databases listed in the manifest into
//! `<data-dir>/<name>/`, resuming a partial download, checking size and checksum where published, and
//! unpacking (`.gz` streamed to the final file, `.tar.gz` extracted inside the database folder).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::databases::{database_path, parse_manifest, ManifestEntry};
use crate::io::download::{download, Expect};

/// What `download_database` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbOutcome {
    Downloaded(PathBuf),
    Present(PathBuf),
}

fn err(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}", path.display())
}

/// Downloads database `name` of `manifest` (tab-separated text) into `data_dir`.
pub fn download_database(name: &str, data_dir: &Path, manifest: &str) -> Result<DbOutcome, String> {
    let entries = parse_manifest(manifest)?;
    let Some(e) = entries.iter().find(|e| e.name == name) else {
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        return Err(format!(
            "unknown database '{name}' (the manifest lists: {})",
            names.join(", ")
        ));
    };
    let target = database_path(data_dir, e);
    if target.exists() {
        return Ok(DbOutcome::Present(target));
    }
    if e.archive == "rsync" {
        return Err(format!("{name}: fetched with rsync, not by ferrofold: rsync -rlpt -v -z --delete --port=33444 {} {}", e.url, target.display()));
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
    download(&e.url, &archive, &expect).map_err(|x| x.to_string())?;
    unpack(e, &archive, &dir, &target)?;
    Ok(DbOutcome::Downloaded(target))
}

fn unpack(e: &ManifestEntry, archive: &Path, dir: &Path, target: &Path) -> Result<(), String> {
    match e.archive.as_str() {
        "plain" => Ok(()),
        "gz" => {
            let mut out =
                crate::io::atomic::AtomicFile::create(target).map_err(|x| err(target, x))?;
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
            crate::io::atomic::remove_stale_temporaries(dir);
            let tmp = tempfile::Builder::new()
                .prefix(".unpack.")
                .tempdir_in(dir)
                .map_err(|x| err(dir, x))?;
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
        other => Err(format!("{}: unknown archive kind '{other}'", e.name)),
    }
}
