//! Checksums recorded beside intermediate files (`features.h5.sha256`, `result_<model>.h5.sha256`), in
//! `sha256sum` format so `sha256sum -c` checks them too. A rerun trusts an existing intermediate only when
//! it still matches its recorded checksum: a file truncated or corrupted after it was written (a failing
//! disk, a partial copy between clusters, an editor) is detected and regenerated, never used.
//!
//! The sidecar is written after its file, each atomically; a kill between the two leaves a file without a
//! matching sidecar, which counts as untrusted.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// `<file>.sha256`.
pub fn sidecar_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".sha256");
    PathBuf::from(s)
}

/// Hex SHA-256 of a file's contents (the one implementation: input hashes use it too).
pub fn sha256_file(file: &Path) -> io::Result<String> {
    let mut f = super::regular::open(file)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Computes `file`'s checksum and writes it beside the file (atomically).
pub fn record(file: &Path) -> io::Result<String> {
    let sum = sha256_file(file)?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    super::atomic::write_bytes(sidecar_path(file), format!("{sum}  {name}\n").as_bytes())?;
    Ok(sum)
}

/// What a check of a file against its sidecar found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The file matches its recorded checksum.
    Match,
    /// No (readable) sidecar: the file was never recorded, or a kill came between file and sidecar.
    Unrecorded,
    /// The file is missing or unreadable.
    MissingFile,
    /// The file's bytes differ from what was recorded.
    Mismatch { recorded: String, actual: String },
}

impl Check {
    pub fn is_match(&self) -> bool {
        *self == Check::Match
    }

    /// Why the file is not trusted, for logs.
    pub(crate) fn reason(&self) -> String {
        match self {
            Check::Match => "matches its recorded checksum".into(),
            Check::Unrecorded => "has no recorded checksum (.sha256)".into(),
            Check::MissingFile => "is missing or unreadable".into(),
            Check::Mismatch { recorded, actual } => format!(
                "does not match its recorded checksum (recorded {}…, now {}…): truncated or corrupted",
                &recorded[..recorded.len().min(12)],
                &actual[..actual.len().min(12)]
            ),
        }
    }
}

/// The checksum recorded in `<file>.sha256`, if there is a readable one.
fn recorded(file: &Path) -> Option<String> {
    let text = std::fs::read_to_string(sidecar_path(file)).ok()?;
    text.split_whitespace().next().map(str::to_string)
}

/// Checks `file` against `<file>.sha256`.
pub fn check(file: &Path) -> Check {
    match sha256_file(file) {
        Ok(actual) => check_hash(file, actual),
        Err(_) if recorded(file).is_none() => Check::Unrecorded,
        Err(_) => Check::MissingFile,
    }
}

/// As [`check`], for a caller that has already hashed the file (`actual`), so it is read once.
pub(crate) fn check_hash(file: &Path, actual: String) -> Check {
    match recorded(file) {
        None => Check::Unrecorded,
        Some(r) if r == actual => Check::Match,
        Some(recorded) => Check::Mismatch { recorded, actual },
    }
}

/// Incremental hash of named parts (each part length-prefixed, so boundaries cannot shift).
#[derive(Default)]
pub struct InputHash(Sha256);

impl InputHash {
    pub fn new(domain: &str) -> Self {
        let mut h = Self::default();
        h.add(domain);
        h
    }

    pub fn add(&mut self, part: &str) -> &mut Self {
        self.0.update((part.len() as u64).to_le_bytes());
        self.0.update(part.as_bytes());
        self
    }

    pub fn finish(self) -> String {
        hex(&self.0.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_detects_truncation_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("features.h5");
        assert_eq!(check(&f), Check::Unrecorded);
        std::fs::write(&f, b"0123456789").unwrap();
        assert_eq!(check(&f), Check::Unrecorded);
        let sum = record(&f).unwrap();
        assert_eq!(check(&f), Check::Match);
        let side = std::fs::read_to_string(sidecar_path(&f)).unwrap();
        assert_eq!(side, format!("{sum}  features.h5\n"));
        std::fs::write(&f, b"01234").unwrap();
        assert!(matches!(check(&f), Check::Mismatch { .. }));
        std::fs::write(&f, b"0123456788").unwrap();
        assert!(check(&f).reason().contains("corrupted"));
        std::fs::remove_file(&f).unwrap();
        assert_eq!(check(&f), Check::MissingFile);
    }

    #[test]
    fn parts_are_delimited() {
        let a = {
            let mut h = InputHash::new("d");
            h.add("ab").add("c");
            h.finish()
        };
        let b = {
            let mut h = InputHash::new("d");
            h.add("a").add("bc");
            h.finish()
        };
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
    }
}
