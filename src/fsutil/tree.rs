//! Safety inside the output tree. The user's `-o` folder may be a symbolic link (their choice); below it
//! ferrofold never writes, appends or deletes through a link it finds (a target folder, `msas/`,
//! `log.txt`), and one process at a time works on a target (an advisory lock on its folder).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

use tracing::warn;

fn link_error(path: &Path) -> io::Error {
    io::Error::other(format!(
        "{} is a symbolic link: ferrofold does not write through links inside its output folder (remove the link, or point -o where the outputs should go)",
        path.display()
    ))
}

/// Creates `dir` (and its parents) and checks that `dir` itself is a real folder, not a symbolic link.
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => return Err(link_error(dir)),
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => {
            return Err(io::Error::other(format!(
                "{} exists and is not a folder",
                dir.display()
            )))
        }
        Err(_) => {}
    }
    fs::create_dir_all(dir)?;
    // Created just now, or raced by someone else: check again.
    match fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => Err(link_error(dir)),
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Appends `text` to `file` (created if missing), never through a symbolic link.
pub fn append_no_follow(file: &Path, text: &str) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(file)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                link_error(file)
            } else {
                e
            }
        })?;
    f.write_all(text.as_bytes())
}

/// Creates an output folder (`-o`) with its parents; a file already at that path is named as such
/// instead of the system's bare "File exists".
pub fn create_output_dir(dir: &Path) -> io::Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "a file is there, not a folder (-o names the output folder)",
        ));
    }
    std::fs::create_dir_all(dir)
}

/// Removes `dir` if nothing but empty folders is in it (what a step that failed before writing
/// anything leaves); never removes a file.
pub fn remove_if_empty(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                // Fails (and is left) unless empty.
                let _ = std::fs::remove_dir(e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// An exclusive advisory lock on a folder: `flock` on the folder itself, so no lock file is left behind,
/// and the kernel releases it when the holder exits, however it exits (kill -9 included). Held for as
/// long as the value lives.
#[derive(Debug)]
pub struct DirLock {
    _dir: File,
}

impl DirLock {
    /// Locks `dir`, waiting (with a message naming `what`) while another process holds it. Where the
    /// filesystem does not support locks, proceeds unlocked with a warning.
    pub fn acquire(dir: &Path, what: &str) -> io::Result<Self> {
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(dir)?;
        let fd = f.as_raw_fd();
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(Self { _dir: f });
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
            warn!(
                "{what}: cannot lock {} ({e}); going on without a lock",
                dir.display()
            );
            return Ok(Self { _dir: f });
        }
        warn!(
            "{what}: another ferrofold process is working on it ({} is locked); waiting for it to finish",
            dir.display()
        );
        loop {
            // SAFETY: as above; blocking.
            if unsafe { libc::flock(fd, libc::LOCK_EX) } == 0 {
                return Ok(Self { _dir: f });
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_inside_the_tree_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let link = d.path().join("target");
        std::os::unix::fs::symlink(elsewhere.path(), &link).unwrap();
        let e = ensure_dir(&link).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        ensure_dir(&d.path().join("real/below")).unwrap();

        let log = d.path().join("log.txt");
        let victim = elsewhere.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        std::os::unix::fs::symlink(&victim, &log).unwrap();
        assert!(append_no_follow(&log, "x").is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        append_no_follow(&d.path().join("real/log.txt"), "line\n").unwrap();
    }

    #[test]
    fn a_second_lock_waits_for_the_first() {
        let d = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(d.path(), "t").unwrap();
        let path = d.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        let h = std::thread::spawn(move || {
            let _second = DirLock::acquire(&path, "t").unwrap();
            tx.send(()).unwrap();
        });
        // flock locks belong to open file descriptions: the thread's own open conflicts with ours.
        assert!(rx
            .recv_timeout(std::time::Duration::from_millis(200))
            .is_err());
        drop(first);
        rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        h.join().unwrap();
    }
}
