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
        let (prefix, suffix) = (owned_prefix(), format!(".{name}.tmp"));
        let tmp = Builder::new()
            .prefix(&prefix)
            .rand_bytes(RANDOM_CHARS)
            .suffix(&suffix)
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

/// What every temporary file or folder ferrofold makes inside an output tree starts with:
/// `.ferrofold-<pid>-`, then 12 random characters, then what it is (`.features.h5.tmp`,
/// `.query.fasta`, `.mmseqs`, `.unpack`). The name says who made it and whether that process still lives;
/// cleanup removes nothing else, so a user's `.notes.tmp` or `.mmseqs.mywork/` is never touched.
pub const TEMPORARY_PREFIX: &str = ".ferrofold-";

const RANDOM_CHARS: usize = 12;

/// `.ferrofold-<pid>-` of this process.
fn owned_prefix() -> String {
    format!("{TEMPORARY_PREFIX}{}-", std::process::id())
}

/// A temporary file in `dir` owned by this process, ending in `suffix` (removed when dropped).
pub fn temp_file_in(dir: &Path, suffix: &str) -> io::Result<NamedTempFile> {
    Builder::new()
        .prefix(&owned_prefix())
        .rand_bytes(RANDOM_CHARS)
        .suffix(suffix)
        .tempfile_in(dir)
}

/// A temporary folder in `dir` owned by this process, ending in `suffix` (removed when dropped).
pub fn temp_dir_in(dir: &Path, suffix: &str) -> io::Result<tempfile::TempDir> {
    Builder::new()
        .prefix(&owned_prefix())
        .rand_bytes(RANDOM_CHARS)
        .suffix(suffix)
        .tempdir_in(dir)
}

/// The process that made a temporary named `name`, if the name is one of ours.
fn owner(name: &str) -> Option<i32> {
    let rest = name.strip_prefix(TEMPORARY_PREFIX)?;
    let (pid, rest) = rest.split_once('-')?;
    if rest.len() < RANDOM_CHARS {
        return None;
    }
    pid.parse().ok()
}

/// Whether process `pid` is alive (a process we may not signal is alive too).
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Removes the temporaries a killed ferrofold left in `dir` (a process killed with SIGKILL cannot
/// delete its own): entries named as [`TEMPORARY_PREFIX`] describes whose process is gone. Links are never
/// followed (a link is removed as a link). Returns how many were removed.
pub(crate) fn remove_stale_temporaries(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = owner(&name) else {
            continue;
        };
        if alive(pid) {
            continue;
        }
        let path = e.path();
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        let gone = if is_dir {
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
    fn only_our_temporaries_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // A process id that is not running: past the kernel's pid_max (at most 2^22).
        let dead = 9_999_999;
        fs::write(
            d.join(format!(".ferrofold-{dead}-Ab12Cd34Ef56.features.h5.tmp")),
            b"half",
        )
        .unwrap();
        fs::write(
            d.join(format!(".ferrofold-{dead}-Ab12Cd34Ef57.query.fasta")),
            b">q\nMK\n",
        )
        .unwrap();
        fs::create_dir_all(d.join(format!(".ferrofold-{dead}-Ab12Cd34Ef58.mmseqs/tmp"))).unwrap();
        fs::write(
            d.join(format!(".ferrofold-{dead}-Ab12Cd34Ef58.mmseqs/tmp/db")),
            b"x",
        )
        .unwrap();
        // A live process's temporary (ours, this test's) stays.
        let live = d.join(format!(
            ".ferrofold-{}-Ab12Cd34Ef59.x.tmp",
            std::process::id()
        ));
        fs::write(&live, b"being written").unwrap();
        // Files that merely look like temporaries are the user's.
        for user in [
            ".notes.tmp",
            ".query.bak",
            ".features.h5.Ab12Cd.tmp",
            "keep.tmp",
            ".hidden",
        ] {
            fs::write(d.join(user), b"user file").unwrap();
        }
        fs::create_dir_all(d.join(".mmseqs.mywork")).unwrap();
        // A link named like one of ours is removed as a link; what it points to stays.
        let elsewhere = tempfile::tempdir().unwrap();
        fs::write(elsewhere.path().join("precious"), b"keep").unwrap();
        std::os::unix::fs::symlink(
            elsewhere.path(),
            d.join(format!(".ferrofold-{dead}-Ab12Cd34Ef60.unpack")),
        )
        .unwrap();
        assert_eq!(remove_stale_temporaries(d), 4);
        assert!(live.exists());
        for user in [
            ".notes.tmp",
            ".query.bak",
            ".features.h5.Ab12Cd.tmp",
            "keep.tmp",
            ".hidden",
            ".mmseqs.mywork",
        ] {
            assert!(d.join(user).exists(), "{user} was removed");
        }
        assert!(elsewhere.path().join("precious").exists());
    }

    #[test]
    fn temporaries_are_named_for_their_process() {
        let dir = tempfile::tempdir().unwrap();
        let f = AtomicFile::create(dir.path().join("features.h5")).unwrap();
        let name = f
            .temp_path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_eq!(owner(&name), Some(std::process::id() as i32), "{name}");
        assert!(name.ends_with(".features.h5.tmp"), "{name}");
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
