//! AlphaFold2's `features.pkl` (the raw feature dict `run_alphafold.py` pickles, also written by
//! ColabFold and others), read as data through [`crate::io::pickle`] and checked exactly as a
//! `features.h5` is (`features_h5::validate`).
//!
//! AlphaFold2 gives template features of shape `(0,)` when no template was found; they are read as the
//! empty arrays of the full rank. Integer features may be stored in any integer width that fits int32,
//! float features as float32 or float64; strings as `bytes` or `str` object arrays or fixed-width
//! `S`/`U` arrays. Keys the monomer model does not use are ignored; multimer features (`asym_id`) are
//! refused until multimer lands.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn};

use super::features_h5::{validate, ArraySource, FeaturesFileError};
use super::h5::Kind;
use super::pickle::{ArrayData, NdArray, PyValue};
use crate::features::{names, RawFeatures};
use crate::residue_constants as rc;

/// Whether `path` is a regular file that looks like a pickle (protocol 2 or later start with the PROTO
/// opcode 0x80). Never opens anything else (a FIFO would block the caller).
pub fn is_pickle(path: &Path) -> bool {
    use std::io::Read;
    let mut b = [0u8; 2];
    crate::fsutil::regular::open(path)
        .and_then(|mut f| f.read_exact(&mut b))
        .map(|_| b[0] == 0x80 && (2..=5).contains(&b[1]))
        .unwrap_or(false)
}

/// Reads and validates `features.pkl`.
pub fn read(path: impl AsRef<Path>) -> Result<RawFeatures, FeaturesFileError> {
    let path = path.as_ref();
    let open_err = |message: String| FeaturesFileError::Pickle {
        path: path.into(),
        message,
    };
    let bytes = crate::fsutil::regular::open(path)
        .and_then(|mut f| {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut v).map(|_| v)
        })
        .map_err(|e| open_err(e.to_string()))?;
    let arrays = super::pickle::load_array_dict(&bytes).map_err(|e| open_err(e.to_string()))?;
    let mut arrays: BTreeMap<String, NdArray> = arrays.into_iter().collect();
    if arrays.contains_key("asym_id") {
        return Err(open_err(
            "holds AlphaFold-Multimer features (asym_id): complexes are not supported yet".into(),
        ));
    }
    fill_empty_templates(&mut arrays);
    validate(&PklSource {
        path: path.into(),
        arrays,
    })
}

/// AlphaFold2's featuriser returns `(0,)`-shaped template arrays when it found no template; the
/// validator expects `[0, N, ...]`.
fn fill_empty_templates(arrays: &mut BTreeMap<String, NdArray>) {
    let Some(n) = arrays
        .get(names::AATYPE)
        .and_then(|a| a.shape.first().copied())
    else {
        return;
    };
    let empty = |shape: &[usize], data: ArrayData| NdArray {
        shape: shape.to_vec(),
        data,
    };
    let wanted = [
        (
            names::TEMPLATE_AATYPE,
            empty(&[0, n, rc::RESTYPE_WITH_X_AND_GAP], ArrayData::F32(vec![])),
        ),
        (
            names::TEMPLATE_ALL_ATOM_MASKS,
            empty(&[0, n, rc::ATOM_TYPE_NUM], ArrayData::F32(vec![])),
        ),
        (
            names::TEMPLATE_ALL_ATOM_POSITIONS,
            empty(&[0, n, rc::ATOM_TYPE_NUM, 3], ArrayData::F32(vec![])),
        ),
        (
            names::TEMPLATE_DOMAIN_NAMES,
            empty(&[0], ArrayData::Bytes(vec![])),
        ),
        (
            names::TEMPLATE_SEQUENCE,
            empty(&[0], ArrayData::Bytes(vec![])),
        ),
        (
            names::TEMPLATE_SUM_PROBS,
            empty(&[0, 1], ArrayData::F32(vec![])),
        ),
    ];
    let none_found = |a: Option<&NdArray>| a.is_none_or(|a| a.shape == [0]);
    if wanted.iter().all(|(name, _)| none_found(arrays.get(*name))) {
        for (name, a) in wanted {
            arrays.insert(name.to_string(), a);
        }
    }
}

struct PklSource {
    path: PathBuf,
    arrays: BTreeMap<String, NdArray>,
}

impl PklSource {
    fn get(&self, name: &str) -> Result<&NdArray, String> {
        self.arrays
            .get(name)
            .ok_or_else(|| format!("no array '{name}'"))
    }
}

fn integers(a: &NdArray) -> Result<Vec<i32>, String> {
    fn fit<T: Copy + TryInto<i32> + std::fmt::Display>(v: &[T]) -> Result<Vec<i32>, String> {
        v.iter()
            .map(|&x| {
                x.try_into()
                    .map_err(|_| format!("value {x} does not fit int32"))
            })
            .collect()
    }
    match &a.data {
        ArrayData::I32(v) => Ok(v.clone()),
        ArrayData::I8(v) => fit(v),
        ArrayData::U8(v) => fit(v),
        ArrayData::I16(v) => fit(v),
        ArrayData::U16(v) => fit(v),
        ArrayData::U32(v) => fit(v),
        ArrayData::I64(v) => fit(v),
        ArrayData::U64(v) => fit(v),
        ArrayData::Bool(v) => Ok(v.iter().map(|&b| b as i32).collect()),
        other => Err(format!("expected integers, found {}", other.dtype_name())),
    }
}

fn item_string(v: &PyValue) -> Result<String, String> {
    match v {
        PyValue::Bytes(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        PyValue::Str(s) => Ok(s.clone()),
        other => Err(format!("an object array item is a {}", other.type_name())),
    }
}

impl ArraySource for PklSource {
    fn path(&self) -> &Path {
        &self.path
    }

    fn shape(&self, name: &str) -> Result<Option<Vec<usize>>, String> {
        Ok(self.arrays.get(name).map(|a| a.shape.clone()))
    }

    fn kind(&self, name: &str) -> Result<Kind, String> {
        Ok(match &self.get(name)?.data {
            ArrayData::F32(_) | ArrayData::F64(_) => Kind::F32,
            ArrayData::Bytes(_) | ArrayData::Str(_) => Kind::Str,
            ArrayData::Object(v) if v.iter().all(|x| item_string(x).is_ok()) => Kind::Str,
            d @ ArrayData::Object(_) => Kind::Other(d.dtype_name().into()),
            // Integer features: any width, checked to fit when read.
            _ => Kind::I32,
        })
    }

    /// The pickle reader materialises what the file holds, within a budget tied to its size.
    fn check_backed(&self, _name: &str, _elem_bytes: usize) -> Result<(), String> {
        Ok(())
    }

    fn read_i32(&self, name: &str) -> Result<ArrayD<i32>, String> {
        let a = self.get(name)?;
        ArrayD::from_shape_vec(IxDyn(&a.shape), integers(a)?).map_err(|e| e.to_string())
    }

    fn read_f32(&self, name: &str) -> Result<ArrayD<f32>, String> {
        let a = self.get(name)?;
        let v = match &a.data {
            ArrayData::F32(v) => v.clone(),
            ArrayData::F64(v) => v.iter().map(|&x| x as f32).collect(),
            other => return Err(format!("expected floats, found {}", other.dtype_name())),
        };
        ArrayD::from_shape_vec(IxDyn(&a.shape), v).map_err(|e| e.to_string())
    }

    fn read_strings(&self, name: &str) -> Result<Vec<String>, String> {
        match &self.get(name)?.data {
            ArrayData::Bytes(v) => Ok(v
                .iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect()),
            ArrayData::Str(v) => Ok(v.clone()),
            ArrayData::Object(v) => v.iter().map(item_string).collect(),
            other => Err(format!("expected strings, found {}", other.dtype_name())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/pickle")
            .join(name)
    }

    #[test]
    fn deepmind_features_pkl_is_read_and_validated() {
        let f = read(fixture("af2_real_p4.pkl")).unwrap();
        let n = f.num_res();
        assert!(n > 0);
        assert_eq!(f.sequence.sequence.chars().count(), n);
        assert_eq!(f.templates.aatype.shape(), &[0, n, 22]);
        assert!(f.msa.msa.shape()[0] >= 1);
    }

    #[test]
    fn synthetic_features_from_numpy_1_and_2_and_every_protocol_agree() {
        let first = read(fixture("np1_af2_like_p4.pkl")).unwrap();
        assert_eq!(first.templates.domain_names.len(), 2);
        for np in ["np1", "np2"] {
            for p in [2, 4, 5] {
                let f = read(fixture(&format!("{np}_af2_like_p{p}.pkl"))).unwrap();
                assert_eq!(f, first, "{np} protocol {p}");
            }
        }
    }

    #[test]
    fn a_foreign_global_is_refused_by_name() {
        for (file, global) in [
            // os.system pickles as posix.system on Linux.
            ("evil_os_system_p4.pkl", "posix.system"),
            ("evil_os_system_p2.pkl", "posix.system"),
            ("evil_eval_p4.pkl", "builtins.eval"),
            ("evil_popen_p5.pkl", "subprocess.Popen"),
        ] {
            let e = read(fixture(file)).unwrap_err().to_string();
            assert!(e.contains(file) && e.contains(global), "{file}: {e}");
        }
    }
}
