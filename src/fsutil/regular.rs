//! Inputs that must be files. A FIFO, a character device (`/dev/zero`, `/dev/urandom`), a socket or a
//! folder where a file belongs would be read forever or make no sense; each is refused by name before it
//! is opened (opening a FIFO alone would block).

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// What `path` is, when it is not a regular file (following links): `None` for a regular file.
fn not_regular(path: &Path, allow_fifo: bool) -> io::Result<Option<&'static str>> {
    let t = fs::metadata(path)?.file_type();
    Ok(if t.is_file() || (allow_fifo && t.is_fifo()) {
        None
    } else if t.is_dir() {
        Some("a folder")
    } else if t.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    })
}

/// The error says what the path is; callers name the path (every reader's error does).
fn refuse(_path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is {what}, not a regular file"),
    )
}

/// Checks that `path` is a regular file (links followed).
pub fn check(path: &Path) -> io::Result<()> {
    match not_regular(path, false)? {
        None => Ok(()),
        Some(what) => Err(refuse(path, what)),
    }
}

/// Opens `path`, which must be a regular file.
pub fn open(path: &Path) -> io::Result<File> {
    check(path)?;
    File::open(path)
}

/// Reads all of `path`, which must be a regular file.
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    check(path)?;
    fs::read(path)
}

/// Reads all of `path`, a regular file or a FIFO (process substitution, `mkfifo`): for inputs read once
/// from start to end, such as a FASTA query.
pub fn read_file_or_pipe(path: &Path) -> io::Result<Vec<u8>> {
    if let Some(what) = not_regular(path, true)? {
        return Err(refuse(path, what));
    }
    fs::read(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_and_folders_are_refused() {
        let e = read(Path::new("/dev/zero")).unwrap_err();
        assert!(e.to_string().contains("is a character device"), "{e}");
        let d = tempfile::tempdir().unwrap();
        let e = open(d.path()).unwrap_err();
        assert!(e.to_string().contains("is a folder"), "{e}");
        let fifo = d.path().join("f");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a fresh path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read(&fifo).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
        let link = d.path().join("link");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(check(&link).is_err());
        let f = d.path().join("ok");
        std::fs::write(&f, b"x").unwrap();
        assert_eq!(read(&f).unwrap(), b"x");
    }
}
