//! `result_<model>.h5`: every output of one model run as float32 datasets under AlphaFold2's names
//! (`final_atom_positions`, `plddt`, `predicted_aligned_error`, `distogram_logits`, ...) plus provenance
//! attributes; written atomically.

use std::path::Path;

use hdf5::types::VarLenUnicode;
use ndarray::ArrayViewD;

use crate::fsutil::atomic::AtomicFile;

/// Writes `datasets` (float32) and string `attrs` to `path` atomically.
pub fn write(
    path: &Path,
    datasets: &[(&str, ArrayViewD<f32>)],
    attrs: &[(&str, String)],
) -> Result<(), String> {
    let tmp = AtomicFile::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    {
        let f =
            hdf5::File::create(tmp.temp_path()).map_err(|e| format!("{}: {e}", path.display()))?;
        for (name, a) in datasets {
            let owned = a.as_standard_layout();
            f.new_dataset_builder()
                .with_data(&owned)
                .create(*name)
                .map_err(|e| format!("{}: dataset '{name}': {e}", path.display()))?;
        }
        for (name, value) in attrs {
            let v = super::features_h5::to_vlu(value);
            f.new_attr::<VarLenUnicode>()
                .create(*name)
                .and_then(|a| a.write_scalar(&v))
                .map_err(|e| format!("{}: attribute '{name}': {e}", path.display()))?;
        }
        f.close().map_err(|e| format!("{}: {e}", path.display()))?;
    }
    tmp.commit().map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads a string attribute (e.g. the input hash of a finished run).
pub fn read_attr(path: &Path, name: &str) -> Option<String> {
    let f = hdf5::File::open(path).ok()?;
    let a = f.attr(name).ok()?;
    a.read_scalar::<VarLenUnicode>()
        .ok()
        .map(|s| s.as_str().to_string())
}

/// Reads one float32 dataset.
pub fn read_f32(path: &Path, name: &str) -> Option<ndarray::ArrayD<f32>> {
    let f = hdf5::File::open(path).ok()?;
    f.dataset(name).ok()?.read_dyn::<f32>().ok()
}
