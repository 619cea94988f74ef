//! Opening HDF5 files without HDF5's own file locks.
//!
//! HDF5 1.10+ locks every file it opens (flock). Its descriptors are not close-on-exec, so a program
//! started by another thread while a file is open (a search tool, a test's subprocess) inherits the
//! descriptor and with it the lock, for as long as it runs: the next open of that file fails with
//! "unable to lock file, errno = 11". ferrofold needs no such locks: every file is written to a temporary
//! and renamed into place, and one process at a time works in a target folder (its own lock).

use std::path::Path;

fn builder() -> hdf5::FileBuilder {
    let mut b = hdf5::File::with_options();
    b.with_fapl(|p| p.file_locking(false));
    b
}

/// Opens `path` read-only.
pub fn open(path: impl AsRef<Path>) -> hdf5::Result<hdf5::File> {
    builder().open(path)
}

/// Opens `path` for reading and writing.
pub fn open_rw(path: impl AsRef<Path>) -> hdf5::Result<hdf5::File> {
    builder().open_rw(path)
}

/// Creates (truncates) `path`.
pub fn create(path: impl AsRef<Path>) -> hdf5::Result<hdf5::File> {
    builder().create(path)
}
