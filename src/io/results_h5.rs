//! `result_<model>.h5`: every output of one model run as float32 datasets under AlphaFold2's names
//! (`final_atom_positions`, `plddt`, `predicted_aligned_error`, `distogram_logits`, ...) plus provenance
//! attributes; written atomically.

use std::path::{Path, PathBuf};

use hdf5::types::VarLenUnicode;
use ndarray::ArrayViewD;
use thiserror::Error;

use crate::fsutil::atomic::AtomicFile;

/// Errors writing a results file; each names the file and the dataset or attribute.
#[derive(Debug, Error)]
pub enum ResultsFileError {
    #[error("{}: {message}", path.display())]
    Write { path: PathBuf, message: String },
    #[error("{}: {what} '{name}': {message}", path.display())]
    Item {
        path: PathBuf,
        what: &'static str,
        name: String,
        message: String,
    },
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
    let item_err = |what: &'static str, name: &str, e: hdf5::Error| ResultsFileError::Item {
        path: path.into(),
        what,
        name: name.into(),
        message: e.to_string(),
    };
    let tmp = AtomicFile::create(path).map_err(|e| file_err(&e))?;
    {
        let f = crate::io::h5::create(tmp.temp_path()).map_err(|e| file_err(&e))?;
        for (name, a) in datasets {
            let owned = a.as_standard_layout();
            f.new_dataset_builder()
                .with_data(&owned)
                .create(*name)
                .map_err(|e| item_err("dataset", name, e))?;
        }
        for (name, value) in attrs {
            let v = super::features_h5::to_vlu(value);
            f.new_attr::<VarLenUnicode>()
                .create(*name)
                .and_then(|a| a.write_scalar(&v))
                .map_err(|e| item_err("attribute", name, e))?;
        }
        f.close().map_err(|e| file_err(&e))?;
    }
    tmp.commit().map_err(|e| file_err(&e))
}

/// Reads a string attribute (e.g. the input hash of a finished run).
pub fn read_attr(path: &Path, name: &str) -> Option<String> {
    let f = crate::io::h5::open(path).ok()?;
    let a = f.attr(name).ok()?;
    a.read_scalar::<VarLenUnicode>()
        .ok()
        .map(|s| s.as_str().to_string())
}

/// Reads one float32 dataset.
pub fn read_f32(path: &Path, name: &str) -> Option<ndarray::ArrayD<f32>> {
    let f = crate::io::h5::open(path).ok()?;
    f.dataset(name).ok()?.read_dyn::<f32>().ok()
}
