//! Resumable downloads: a `.part` file beside the destination grows until complete (HTTP `Range` resumes it
//! after an interruption), is checked for size and SHA-256, and only then renamed onto the destination.
//! Progress is a bar on a terminal, a log line per 10 % otherwise.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;
use tracing::info;

/// Errors of a download; each names the URL or the file.
#[derive(Debug, Error)]
pub enum DownloadError {
    #[error("{url}: {message}")]
    Http { url: String, message: String },
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{path}: size {found} bytes, expected {expected}")]
    Size {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error("{path}: SHA-256 {found}, expected {expected}")]
    Checksum {
        path: PathBuf,
        expected: String,
        found: String,
    },
}

/// What the caller knows about the file.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    pub size: Option<u64>,
    pub sha256: Option<String>,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadReport {
    /// Bytes transferred by this call (0 when the file was already complete).
    pub transferred: u64,
    /// Offset the transfer resumed from.
    pub resumed_from: u64,
    pub size: u64,
    pub sha256: String,
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> DownloadError + '_ {
    move |e| DownloadError::Io {
        path: path.into(),
        message: e.to_string(),
    }
}

/// SHA-256 of a file, hex.
fn sha256_of(path: &Path) -> Result<String, DownloadError> {
    crate::fsutil::checksum::sha256_file(path).map_err(io_err(path))
}

fn verify(path: &Path, expect: &Expect) -> Result<(u64, String), DownloadError> {
    let size = fs::metadata(path).map_err(io_err(path))?.len();
    if let Some(e) = expect.size {
        if e != size {
            return Err(DownloadError::Size {
                path: path.into(),
                expected: e,
                found: size,
            });
        }
    }
    let sha = sha256_of(path)?;
    if let Some(e) = &expect.sha256 {
        if !e.eq_ignore_ascii_case(&sha) {
            return Err(DownloadError::Checksum {
                path: path.into(),
                expected: e.clone(),
                found: sha,
            });
        }
    }
    Ok((size, sha))
}

/// Downloads `url` to `dest` (resuming `dest.part` when present). A complete `dest` that passes the checks
/// is left alone.
pub fn download(url: &str, dest: &Path, expect: &Expect) -> Result<DownloadReport, DownloadError> {
    if dest.is_file() {
        if let Ok((size, sha256)) = verify(dest, expect) {
            info!("{}: already downloaded ({size} bytes)", dest.display());
            return Ok(DownloadReport {
                transferred: 0,
                resumed_from: size,
                size,
                sha256,
            });
        }
    }
    if let Some(dir) = dest.parent() {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let part = PathBuf::from(format!("{}.part", dest.display()));
    let have = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    let http = |message: String| DownloadError::Http {
        url: url.into(),
        message,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_body(Some(Duration::from_secs(120)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.get(url);
    if have > 0 {
        req = req.header("Range", format!("bytes={have}-"));
    }
    let resp = req.call().map_err(|e| http(e.to_string()))?;
    let status = resp.status().as_u16();
    let (mut offset, append) = match status {
        206 => (have, true),
        200 => (0, false),
        416 if have > 0 => {
            // Nothing left to send: the part file is complete (checked below).
            (have, true)
        }
        s => return Err(http(format!("HTTP status {s}"))),
    };
    let length = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let total = expect.size.or(length.map(|l| l + offset));
    let resumed_from = offset;
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(&part)
        .map_err(io_err(&part))?;
    let bar = crate::progress::bytes_bar(
        total,
        &format!(
            "downloading {}",
            dest.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ),
    );
    bar.set_position(offset);
    let mut transferred = 0u64;
    if status != 416 {
        let mut body = resp.into_body().into_reader();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = body
                .read(&mut buf)
                .map_err(|e| http(format!("transfer interrupted after {offset} bytes: {e}")))?;
            if n == 0 {
                break;
            }
            file.write_all(&buf[..n]).map_err(io_err(&part))?;
            offset += n as u64;
            transferred += n as u64;
            bar.set_position(offset);
        }
    }
    file.sync_all().map_err(io_err(&part))?;
    drop(file);
    bar.finish_and_clear();
    let (size, sha256) = verify(&part, expect)?;
    if let Some(t) = total {
        if t != size {
            return Err(DownloadError::Size {
                path: part,
                expected: t,
                found: size,
            });
        }
    }
    fs::rename(&part, dest).map_err(io_err(dest))?;
    info!("{}: {size} bytes, sha256 {sha256}", dest.display());
    Ok(DownloadReport {
        transferred,
        resumed_from,
        size,
        sha256,
    })
}
