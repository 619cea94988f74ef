//! `result_<model>.h5`: every output of one model run as float32 datasets under AlphaFold2's names
//! (`final_atom_positions`, `plddt`, `predicted_aligned_error`, `distogram_logits`, ...) plus provenance
//! attributes; written atomically.

use std::path::{Path, PathBuf};

use ndarray::ArrayViewD;
use thiserror::Error;

use crate::fsutil::atomic::AtomicFile;
use crate::io::h5::{Reader, Writer};

/// Errors writing a results file; each names the file.
#[derive(Debug, Error)]
pub enum ResultsFileError {
    #[error("{}: {message}", path.display())]
    Write { path: PathBuf, message: String },
}

/// Writes `datasets` (float32) and string `attrs` to `path` atomically.
pub fn write(
    path: &Path,
    datasets: &[(&str, ArrayViewD<f32>)],
    attrs: &[(&str, String)],
) -> Result<(), ResultsFileError> {
    let file_err = |e: &dyn std::fmt::Display| ResultsFileError::Write {
        path: path.into(),
        message: e.to_string(),
    };
    let mut w = Writer::new();
    for (name, a) in datasets {
        w.f32(name, a.view());
    }
    for (name, value) in attrs {
        w.attr_str(name, value);
    }
    let tmp = AtomicFile::create(path).map_err(|e| file_err(&e))?;
    w.write(tmp.temp_path()).map_err(|e| file_err(&e))?;
    tmp.commit().map_err(|e| file_err(&e))
}

/// Reads a string attribute (e.g. the input hash of a finished run).
pub fn read_attr(path: &Path, name: &str) -> Option<String> {
    Reader::open(path).ok()?.attr_str(name)
}

/// Reads one float32 dataset.
pub fn read_f32(path: &Path, name: &str) -> Option<ndarray::ArrayD<f32>> {
    let f = Reader::open(path).ok()?;
    let ds = f.dataset(name).ok()?;
    if ds.kind().ok()? != crate::io::h5::Kind::F32 {
        return None;
    }
    ds.read_f32().ok()
}
