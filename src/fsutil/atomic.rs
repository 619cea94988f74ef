//! Atomic output: every file ferrofold writes goes to a temporary file in the destination's directory,
//! is flushed and fsynced, and only then renamed over the destination. A killed job leaves either the
//! old file or the new one, never half of one, and no stray temporary (it is deleted on every error path).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::{Builder, NamedTempFile};

/// An output file being written: a temporary file beside `dest`, renamed onto it by [`AtomicFile::commit`].
/// Dropped without commit, the temporary file is removed.
#[derive(Debug)]
pub struct AtomicFile {
    tmp: NamedTempFile,
    dest: PathBuf,
}

impl AtomicFile {
    /// Creates the temporary file in `dest`'s directory (which must exist).
    pub fn create(dest: impl AsRef<Path>) -> io::Result<Self> {
        let dest = dest.as_ref().to_path_buf();
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // 0o666 before the umask, like any newly created file (tempfile's default, 0o600, is for secrets).
        let tmp = Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(&dir)?;
        Ok(Self { tmp, dest })
    }

    /// The temporary file's path, for libraries (HDF5) that open files by name.
    pub(crate) fn temp_path(&self) -> &Path {
        self.tmp.path()
    }

    /// The destination path.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// The open temporary file, for writing.
    pub fn file(&mut self) -> &mut fs::File {
        self.tmp.as_file_mut()
    }

    /// fsyncs the temporary file, renames it onto the destination and fsyncs the directory.
    pub fn commit(self) -> io::Result<()> {
        // Reopen by path: a library may have replaced the file behind our handle (HDF5 truncates on create).
        fs::File::open(self.tmp.path())?.sync_all()?;
        let dest = self.dest.clone();
        self.tmp.persist(&dest).map_err(|e| e.error)?;
        if let Some(dir) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            // Best effort: not every filesystem lets a directory be fsynced.
            let _ = fs::File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }
}

/// Prefixes of the other temporaries ferrofold makes inside output folders: the query FASTA handed to
/// search tools, MMseqs2's work folder, a database archive being unpacked.
pub const TEMPORARY_PREFIXES: [&str; 3] = [".query.", ".mmseqs.", ".unpack."];

/// Removes temporaries ferrofold left in `dir` (a process killed with SIGKILL cannot delete its own):
/// files `.<file>.<random>.tmp` of this module and the files and folders named in
/// [`TEMPORARY_PREFIXES`]. Call it only where no other process is writing (one target is processed by
/// one task at a time). Returns how many were removed.
pub(crate) fn remove_stale_temporaries(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with('.')
            && (name.ends_with(".tmp") || TEMPORARY_PREFIXES.iter().any(|p| name.starts_with(p)));
        if !ours {
            continue;
        }
        let path = e.path();
        let gone = if path.is_dir() {
            fs::remove_dir_all(&path).is_ok()
        } else {
            fs::remove_file(&path).is_ok()
        };
        if gone {
            removed += 1;
        }
    }
    removed
}

/// Writes `bytes` to `dest` atomically.
pub(crate) fn write_bytes(dest: impl AsRef<Path>, bytes: &[u8]) -> io::Result<()> {
    let mut f = AtomicFile::create(dest)?;
    f.file().write_all(bytes)?;
    f.commit()
}

/// Writes to `dest` atomically through a buffered writer given to `fill`.
pub(crate) fn write_with<E: From<io::Error>>(
    dest: impl AsRef<Path>,
    fill: impl FnOnce(&mut dyn Write) -> Result<(), E>,
) -> Result<(), E> {
    let mut f = AtomicFile::create(dest)?;
    {
        let mut w = io::BufWriter::new(f.file());
        fill(&mut w)?;
        w.flush()?;
    }
    f.commit()?;
    Ok(())
}

/// Copies `src` to `dest` atomically.
pub fn copy(src: impl AsRef<Path>, dest: impl AsRef<Path>) -> io::Result<()> {
    let mut f = AtomicFile::create(dest)?;
    let mut r = fs::File::open(src)?;
    io::copy(&mut r, f.file())?;
    f.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_replaces_and_drop_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.txt");
        write_bytes(&dest, b"one").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"one");
        {
            let mut f = AtomicFile::create(&dest).unwrap();
            f.file().write_all(b"half").unwrap();
            // dropped without commit
        }
        assert_eq!(fs::read(&dest).unwrap(), b"one");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "temporary file left behind: {names:?}");
    }

    #[test]
    fn stale_temporaries_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".features.h5.Ab12Cd.tmp"), b"half").unwrap();
        fs::write(dir.path().join("keep.tmp"), b"user file").unwrap();
        fs::write(dir.path().join("features.h5"), b"done").unwrap();
        fs::write(dir.path().join(".query.x1Y2z3.fasta"), b">q\nMK\n").unwrap();
        fs::create_dir_all(dir.path().join(".mmseqs.AbCdEf/tmp")).unwrap();
        fs::write(dir.path().join(".mmseqs.AbCdEf/tmp/db"), b"x").unwrap();
        fs::write(dir.path().join(".hidden_user_file"), b"keep").unwrap();
        assert_eq!(remove_stale_temporaries(dir.path()), 3);
        assert!(dir.path().join("keep.tmp").exists() && dir.path().join("features.h5").exists());
        assert!(dir.path().join(".hidden_user_file").exists());
        assert!(!dir.path().join(".mmseqs.AbCdEf").exists());
    }

    #[test]
    fn failed_fill_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("x");
        let r: Result<(), io::Error> = write_with(&dest, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("boom"))
        });
        assert!(r.is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
