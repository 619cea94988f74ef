//! NumPy `.npz` archives (read side): DeepMind's parameter files (`params_model_*.npz`, keys
//! `scope//name`) and the reference fixtures made by AlphaFold2's own code.
//!
//! Supports little/big-endian `f4 f8 i4 i8 u1 b1` and fixed-width byte strings `S<n>`, C order.
//! Pickled object arrays are refused (they would execute code in Python; here they are simply unreadable).

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn};
use thiserror::Error;

/// Errors reading an `.npz` archive; each names the file and, where it applies, the array.
#[derive(Debug, Error)]
pub enum NpzError {
    #[error("{path}: cannot read: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: not a valid .npz (zip) archive: {message}")]
    Zip { path: PathBuf, message: String },
    #[error("{path}: array '{name}': {message}")]
    Array {
        path: PathBuf,
        name: String,
        message: String,
    },
    #[error("{path}: no array named '{name}'")]
    Missing { path: PathBuf, name: String },
}

/// The element data of one array.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    Bool(Vec<bool>),
    /// Fixed-width byte strings, trailing NULs removed.
    Bytes(Vec<Vec<u8>>),
}

/// One array: shape and data in C order.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: NpyData,
    /// The numpy dtype string (`<f4`, `|S5`, ...).
    pub descr: String,
}

impl NpyArray {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The array as `i32` (integer and bool arrays; `i64` values must fit).
    pub fn to_i32(&self) -> Option<ArrayD<i32>> {
        let v: Vec<i32> = match &self.data {
            NpyData::I32(v) => v.clone(),
            NpyData::I64(v) => v
                .iter()
                .map(|&x| i32::try_from(x).ok())
                .collect::<Option<_>>()?,
            NpyData::U8(v) => v.iter().map(|&x| x as i32).collect(),
            NpyData::Bool(v) => v.iter().map(|&x| x as i32).collect(),
            _ => return None,
        };
        ArrayD::from_shape_vec(IxDyn(&self.shape), v).ok()
    }

    /// The array as `f32` (float arrays only; `f64` is narrowed).
    pub fn to_f32(&self) -> Option<ArrayD<f32>> {
        let v: Vec<f32> = match &self.data {
            NpyData::F32(v) => v.clone(),
            NpyData::F64(v) => v.iter().map(|&x| x as f32).collect(),
            _ => return None,
        };
        ArrayD::from_shape_vec(IxDyn(&self.shape), v).ok()
    }

    /// The array as `f64` (float arrays only; `f32` is widened).
    pub fn to_f64(&self) -> Option<ArrayD<f64>> {
        let v: Vec<f64> = match &self.data {
            NpyData::F32(v) => v.iter().map(|&x| x as f64).collect(),
            NpyData::F64(v) => v.clone(),
            _ => return None,
        };
        ArrayD::from_shape_vec(IxDyn(&self.shape), v).ok()
    }

    /// The array as strings (byte-string arrays only; invalid UTF-8 replaced).
    pub fn to_strings(&self) -> Option<Vec<String>> {
        match &self.data {
            NpyData::Bytes(v) => Some(
                v.iter()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .collect(),
            ),
            _ => None,
        }
    }
}

/// A whole `.npz` archive, read into memory.
#[derive(Debug, Clone, Default)]
pub struct Npz {
    pub path: PathBuf,
    pub arrays: BTreeMap<String, NpyArray>,
}

/// The archive at `path`, opened (a regular file only).
fn open_zip(path: &Path) -> Result<zip::ZipArchive<std::fs::File>, NpzError> {
    let file = crate::fsutil::regular::open(path).map_err(|source| NpzError::Io {
        path: path.into(),
        source,
    })?;
    zip::ZipArchive::new(file).map_err(|e| NpzError::Zip {
        path: path.into(),
        message: e.to_string(),
    })
}

impl Npz {
    /// Reads every array of an archive (stored or deflated).
    pub fn read_path(path: impl AsRef<Path>) -> Result<Self, NpzError> {
        let path = path.as_ref();
        let mut zip = open_zip(path)?;
        let mut arrays = BTreeMap::new();
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).map_err(|e| NpzError::Zip {
                path: path.into(),
                message: e.to_string(),
            })?;
            let name = entry
                .name()
                .strip_suffix(".npy")
                .unwrap_or(entry.name())
                .to_string();
            let mut bytes = Vec::with_capacity(entry.size().min(1 << 30) as usize);
            entry
                .read_to_end(&mut bytes)
                .map_err(|source| NpzError::Io {
                    path: path.into(),
                    source,
                })?;
            let arr = parse_npy(&bytes).map_err(|message| NpzError::Array {
                path: path.into(),
                name: name.clone(),
                message,
            })?;
            arrays.insert(name, arr);
        }
        Ok(Self {
            path: path.into(),
            arrays,
        })
    }

    /// Reads only the array `name` of an archive (the others are not decompressed or kept).
    pub fn read_array(path: impl AsRef<Path>, name: &str) -> Result<NpyArray, NpzError> {
        let path = path.as_ref();
        let mut zip = open_zip(path)?;
        let mut entry = match zip.by_name(&format!("{name}.npy")) {
            Ok(e) => e,
            Err(zip::result::ZipError::FileNotFound) => {
                return Err(NpzError::Missing {
                    path: path.into(),
                    name: name.into(),
                })
            }
            Err(e) => {
                return Err(NpzError::Zip {
                    path: path.into(),
                    message: e.to_string(),
                })
            }
        };
        let mut bytes = Vec::with_capacity(entry.size().min(1 << 30) as usize);
        entry
            .read_to_end(&mut bytes)
            .map_err(|source| NpzError::Io {
                path: path.into(),
                source,
            })?;
        parse_npy(&bytes).map_err(|message| NpzError::Array {
            path: path.into(),
            name: name.into(),
            message,
        })
    }

    /// The array named `name`, or an error naming it.
    pub fn get(&self, name: &str) -> Result<&NpyArray, NpzError> {
        self.arrays.get(name).ok_or_else(|| NpzError::Missing {
            path: self.path.clone(),
            name: name.into(),
        })
    }
}

/// Parses one `.npy` payload.
pub(crate) fn parse_npy(bytes: &[u8]) -> Result<NpyArray, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy array (bad magic)".into());
    }
    let major = bytes[6];
    let (hlen, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Err(format!("unsupported .npy version {major}")),
    };
    let header = bytes.get(start..start + hlen).ok_or("truncated header")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    let descr = dict_value(header, "descr").ok_or("header has no 'descr'")?;
    let quote = descr
        .chars()
        .next()
        .filter(|&c| c == '\'' || c == '"')
        .ok_or("'descr' is not a string")?;
    let descr = descr[1..].split(quote).next().unwrap_or("").to_string();
    if dict_value(header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err("Fortran-ordered arrays are not supported".into());
    }
    let shape_txt = dict_value(header, "shape").ok_or("header has no 'shape'")?;
    let shape_txt = shape_txt.trim_start_matches('(');
    let shape_txt = &shape_txt[..shape_txt.find(')').ok_or("bad shape")?];
    let shape: Vec<usize> = shape_txt
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("bad shape entry {s:?}"))
        })
        .collect::<Result<_, _>>()?;
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("shape overflows")?;
    let body = &bytes[start + hlen..];
    let (endian, kind) = descr.split_at(1);
    let big = endian == ">";
    let width = |w: usize| -> Result<&[u8], String> {
        let need = n.checked_mul(w).ok_or("size overflows")?;
        body.get(..need).ok_or_else(|| {
            format!(
                "truncated data: {} bytes for {n} elements of {w}",
                body.len()
            )
        })
    };
    macro_rules! nums {
        ($t:ty, $w:expr) => {{
            let raw = width($w)?;
            raw.chunks_exact($w)
                .map(|c| {
                    let a: [u8; $w] = c.try_into().expect("chunk width");
                    if big {
                        <$t>::from_be_bytes(a)
                    } else {
                        <$t>::from_le_bytes(a)
                    }
                })
                .collect::<Vec<$t>>()
        }};
    }
    let data = match kind {
        "f4" => NpyData::F32(nums!(f32, 4)),
        "f8" => NpyData::F64(nums!(f64, 8)),
        "i4" => NpyData::I32(nums!(i32, 4)),
        "i8" => NpyData::I64(nums!(i64, 8)),
        "u1" => NpyData::U8(width(1)?.to_vec()),
        "b1" => NpyData::Bool(width(1)?.iter().map(|&b| b != 0).collect()),
        k if k.starts_with('S') => {
            let w: usize = k[1..].parse().map_err(|_| format!("bad dtype {descr}"))?;
            if w == 0 {
                NpyData::Bytes(vec![Vec::new(); n])
            } else {
                let raw = width(w)?;
                NpyData::Bytes(
                    raw.chunks_exact(w)
                        .map(|c| {
                            let end = c.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
                            c[..end].to_vec()
                        })
                        .collect(),
                )
            }
        }
        k if k.starts_with('U') => {
            // UTF-32 code points, fixed width, NUL-padded: kept as UTF-8 bytes.
            let w: usize = k[1..].parse().map_err(|_| format!("bad dtype {descr}"))?;
            let raw = width(w.checked_mul(4).ok_or("size overflows")?)?;
            let mut out = Vec::with_capacity(n);
            if w > 0 {
                for c in raw.chunks_exact(w * 4) {
                    let mut s = String::new();
                    for u in c.chunks_exact(4) {
                        let a: [u8; 4] = u.try_into().expect("chunk width");
                        let v = if big {
                            u32::from_be_bytes(a)
                        } else {
                            u32::from_le_bytes(a)
                        };
                        if v == 0 {
                            break;
                        }
                        s.push(
                            char::from_u32(v)
                                .ok_or_else(|| format!("invalid code point {v:#x}"))?,
                        );
                    }
                    out.push(s.into_bytes());
                }
            } else {
                out.resize(n, Vec::new());
            }
            NpyData::Bytes(out)
        }
        "O" => {
            return Err("pickled object array (not readable; save it as bytes 'S' instead)".into())
        }
        _ => return Err(format!("unsupported dtype {descr}")),
    };
    Ok(NpyArray { shape, data, descr })
}

/// The text after `'key':` in a numpy header dict, up to the next top-level comma (shape tuples kept whole).
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let k = header.find(&format!("'{key}'"))?;
    let rest = &header[k + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    Some(rest)
}

/// `.npy` (format 1.0) bytes of a little-endian float32 array in C order.
pub(crate) fn npy_f32_bytes(shape: &[usize], data: impl Iterator<Item = f32>) -> Vec<u8> {
    let mut out = npy_header("<f4", shape);
    for v in data {
        out.extend(v.to_le_bytes());
    }
    out
}

/// One array to write: float32 of any shape, or a 0-d unicode string (numpy `<U`).
pub enum NpyOut<'a> {
    F32(ndarray::ArrayViewD<'a, f32>),
    Str(&'a str),
}

/// `.npy` (format 1.0) header: magic, version, length, the dict padded so that magic (6) + version (2)
/// + length (2) + dict + newline is a multiple of 64 bytes, as numpy does.
fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out
}

/// Writes arrays as an uncompressed `.npz` (what `numpy.savez` writes), atomically, in the given order.
pub fn write(path: impl AsRef<Path>, arrays: &[(String, NpyOut)]) -> Result<(), NpzError> {
    use std::io::Write;
    let path = path.as_ref();
    let io_err = |source: io::Error| NpzError::Io {
        path: path.into(),
        source,
    };
    let zip_err = |e: zip::result::ZipError| NpzError::Zip {
        path: path.into(),
        message: e.to_string(),
    };
    let mut tmp = crate::fsutil::atomic::AtomicFile::create(path).map_err(io_err)?;
    {
        let mut zip = zip::ZipWriter::new(tmp.file());
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(true);
        for (name, a) in arrays {
            zip.start_file(format!("{name}.npy"), opts)
                .map_err(zip_err)?;
            let bytes = match a {
                NpyOut::F32(a) => npy_f32_bytes(a.shape(), a.iter().copied()),
                NpyOut::Str(s) => {
                    let chars: Vec<char> = s.chars().collect();
                    let mut out = npy_header(&format!("<U{}", chars.len().max(1)), &[]);
                    for c in &chars {
                        out.extend((*c as u32).to_le_bytes());
                    }
                    if chars.is_empty() {
                        out.extend(0u32.to_le_bytes());
                    }
                    out
                }
            };
            zip.write_all(&bytes).map_err(io_err)?;
        }
        zip.finish().map_err(zip_err)?;
    }
    tmp.commit().map_err(io_err)
}

/// Writes float32 arrays as an uncompressed `.npz` (what `numpy.savez` writes), atomically.
pub fn write_f32(
    path: impl AsRef<Path>,
    arrays: &BTreeMap<String, ArrayD<f32>>,
) -> Result<(), NpzError> {
    let list: Vec<(String, NpyOut)> = arrays
        .iter()
        .map(|(n, a)| (n.clone(), NpyOut::F32(a.view())))
        .collect();
    write(path, &list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, body: &[u8]) -> Vec<u8> {
        let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut v = b"\x93NUMPY\x01\x00".to_vec();
        v.extend((h.len() as u16).to_le_bytes());
        v.extend(h.as_bytes());
        v.extend(body);
        v
    }

    #[test]
    fn parses_numbers_and_strings() {
        let a = parse_npy(&npy(
            "<i4",
            "(2, 2)",
            &[1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0],
        ))
        .unwrap();
        assert_eq!(a.shape, vec![2, 2]);
        assert_eq!(
            a.to_i32().unwrap().into_raw_vec_and_offset().0,
            vec![1, 2, 3, 4]
        );
        let s = parse_npy(&npy("|S3", "(2,)", b"ab\0xyz")).unwrap();
        assert_eq!(s.to_strings().unwrap(), vec!["ab", "xyz"]);
        let f = parse_npy(&npy("<f4", "()", &1.5f32.to_le_bytes())).unwrap();
        assert_eq!(
            f.to_f32().unwrap().iter().copied().collect::<Vec<_>>(),
            vec![1.5]
        );
    }

    #[test]
    fn refuses_truncated_and_pickled() {
        assert!(parse_npy(&npy("<i4", "(4,)", &[0; 8]))
            .unwrap_err()
            .contains("truncated"));
        assert!(parse_npy(&npy("|O", "(1,)", &[]))
            .unwrap_err()
            .contains("pickled"));
        assert!(parse_npy(b"garbage....").is_err());
    }

    #[test]
    fn one_array_is_read_alone_and_a_missing_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.npz");
        let mut arrays = BTreeMap::new();
        arrays.insert("a".to_string(), ArrayD::from_elem(IxDyn(&[2, 3]), 1.5f32));
        arrays.insert("b".to_string(), ArrayD::from_elem(IxDyn(&[4]), 2.0f32));
        write_f32(&p, &arrays).unwrap();
        let b = Npz::read_array(&p, "b").unwrap();
        assert_eq!(b.to_f32().unwrap(), arrays["b"]);
        assert!(matches!(
            Npz::read_array(&p, "c"),
            Err(NpzError::Missing { name, .. }) if name == "c"
        ));
    }
}
