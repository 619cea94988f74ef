//! `result_<model>.h5` (or `.npz`, `--result-format npz`): every output of one model run as float32
//! arrays under AlphaFold2's names (`final_atom_positions`, `plddt`, `predicted_aligned_error`,
//! `distogram_logits`, ...) plus provenance strings; written atomically. In HDF5 the strings are root
//! attributes; in `.npz` (numpy's own format, read with `numpy.load`, no pickle) they are 0-d unicode
//! arrays under the same names.

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

/// The file format of result files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResultFormat {
    #[default]
    H5,
    Npz,
}

impl ResultFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ResultFormat::H5 => "h5",
            ResultFormat::Npz => "npz",
        }
    }

    /// `<dir>/result_<name>.<ext>`.
    pub fn path(self, dir: &Path, name: &str) -> PathBuf {
        dir.join(format!("result_{name}.{}", self.extension()))
    }

    /// The other formats' result paths of `name` (stale once this format is written).
    pub fn others(self, dir: &Path, name: &str) -> Vec<PathBuf> {
        [ResultFormat::H5, ResultFormat::Npz]
            .into_iter()
            .filter(|&f| f != self)
            .map(|f| f.path(dir, name))
            .collect()
    }
}

impl std::str::FromStr for ResultFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "h5" | "hdf5" => Ok(ResultFormat::H5),
            "npz" => Ok(ResultFormat::Npz),
            other => Err(format!("unknown result format '{other}' (h5 or npz)")),
        }
    }
}

fn is_npz(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "npz")
}

/// Writes `datasets` (float32) and string `attrs` to `path` atomically, as HDF5 or, for a `.npz` path,
/// as numpy's archive.
pub fn write(
    path: &Path,
    datasets: &[(&str, ArrayViewD<f32>)],
    attrs: &[(&str, String)],
) -> Result<(), ResultsFileError> {
    let file_err = |e: &dyn std::fmt::Display| ResultsFileError::Write {
        path: path.into(),
        message: e.to_string(),
    };
    if is_npz(path) {
        let arrays: Vec<(String, crate::io::npz::NpyOut)> = datasets
            .iter()
            .map(|(n, a)| (n.to_string(), crate::io::npz::NpyOut::F32(a.view())))
            .chain(
                attrs
                    .iter()
                    .map(|(n, v)| (n.to_string(), crate::io::npz::NpyOut::Str(v.as_str()))),
            )
            .collect();
        return crate::io::npz::write(path, &arrays).map_err(|e| file_err(&e));
    }
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
    if is_npz(path) {
        // One entry, not the whole archive (a result's logits can be hundreds of MB).
        let a = crate::io::npz::Npz::read_array(path, name).ok()?;
        return (a.shape.is_empty())
            .then(|| a.to_strings()?.pop())
            .flatten();
    }
    Reader::open(path).ok()?.attr_str(name)
}

/// Reads one float32 dataset.
pub fn read_f32(path: &Path, name: &str) -> Option<ndarray::ArrayD<f32>> {
    if is_npz(path) {
        // One entry, not the whole archive (a result's logits can be hundreds of MB).
        let a = crate::io::npz::Npz::read_array(path, name).ok()?;
        return matches!(a.data, crate::io::npz::NpyData::F32(_))
            .then(|| a.to_f32())
            .flatten();
    }
    let f = Reader::open(path).ok()?;
    let ds = f.dataset(name).ok()?;
    if ds.kind().ok()? != crate::io::h5::Kind::F32 {
        return None;
    }
    ds.read_f32().ok()
}
