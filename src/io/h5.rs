//! HDF5 files (`features.h5`, `result_*.h5`) through a pure-Rust implementation of the format
//! (`hdf5-pure`): no system HDF5 library to install or link, and the files stay plain HDF5 that h5py,
//! h5dump and HDF5 1.10-1.14 read (checked by `tests/it/hdf5_interop.rs`).
//!
//! This module is the one place that knows the HDF5 crate; the feature and result files use the small
//! vocabulary below: int32 and float32 arrays, variable-length UTF-8 string arrays, and scalar
//! attributes (a u32 format version, UTF-8 strings). Files are written whole (built in memory, then
//! written to the path the caller gives, normally an [`AtomicFile`](crate::fsutil::atomic::AtomicFile)
//! temporary) and read lazily (metadata and one dataset at a time).

use std::path::Path;

use hdf5_pure::{AttrValue, DType, FileBuilder, H5Element, Layout};
use ndarray::{ArrayD, ArrayView, Dimension, IxDyn};

/// What the HDF5 layer reports; callers add the file and dataset names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H5Error(pub String);

impl std::fmt::Display for H5Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for H5Error {}

fn err(e: impl std::fmt::Display) -> H5Error {
    H5Error(e.to_string())
}

/// The reader's error, with the one format gap it has said in words a user can act on.
fn read_err(e: hdf5_pure::Error) -> H5Error {
    match e {
        hdf5_pure::Error::Format(hdf5_pure::FormatError::InvalidLayoutVersion(v)) if v >= 5 => {
            H5Error(format!(
                "stored in HDF5 2.0's newest format (data layout version {v}), which ferrofold does not read \
                 yet; write it with the formats of HDF5 1.10-1.14 (h5py: libver=('earliest', 'v114'))"
            ))
        }
        other => err(other),
    }
}

/// Element types of the datasets ferrofold reads; anything else is named as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    I32,
    F32,
    /// Variable-length or fixed-width strings.
    Str,
    Other(String),
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kind::I32 => f.write_str("int32"),
            Kind::F32 => f.write_str("float32"),
            Kind::Str => f.write_str("string"),
            Kind::Other(s) => f.write_str(s),
        }
    }
}

/// A file being assembled; nothing touches the disk before [`Writer::write`].
pub struct Writer {
    b: FileBuilder,
}

impl Default for Writer {
    fn default() -> Self {
        Self::new()
    }
}

fn dims_u64(shape: &[usize]) -> Vec<u64> {
    shape.iter().map(|&d| d as u64).collect()
}

impl Writer {
    pub fn new() -> Self {
        Self {
            b: FileBuilder::new(),
        }
    }

    /// A numeric array of any rank (rank 0 is a scalar), in C order.
    fn array<T: H5Element + Copy, D: Dimension>(
        &mut self,
        name: &str,
        a: ArrayView<T, D>,
    ) -> &mut Self {
        let data: Vec<T> = a.iter().copied().collect();
        self.b
            .create_dataset(name)
            .with_data(&data)
            .with_shape(&dims_u64(a.shape()));
        self
    }

    /// An int32 array (any rank; rank 0 is a scalar).
    pub fn i32<D: Dimension>(&mut self, name: &str, a: ArrayView<i32, D>) -> &mut Self {
        self.array(name, a)
    }

    /// A float32 array (any rank; rank 0 is a scalar).
    pub fn f32<D: Dimension>(&mut self, name: &str, a: ArrayView<f32, D>) -> &mut Self {
        self.array(name, a)
    }

    /// A one-dimensional array of variable-length UTF-8 strings (as h5py's `string_dtype()`).
    /// Interior NUL characters, which HDF5 strings cannot hold, are dropped.
    pub fn strings<S: AsRef<str>>(&mut self, name: &str, v: &[S]) -> &mut Self {
        let cleaned: Vec<String> = v.iter().map(|s| s.as_ref().replace('\0', "")).collect();
        let refs: Vec<&str> = cleaned.iter().map(String::as_str).collect();
        self.b.create_dataset(name).with_vlen_strings(&refs);
        self
    }

    /// A chunked array of ones (int32, float32) or of "x" strings with the first dimension growable
    /// (`maxshape=(None, ...)`), for tests that need a dataset whose shape can later claim more than
    /// it stores ([`edit::claim_shape`]).
    #[doc(hidden)]
    pub fn chunked(
        &mut self,
        name: &str,
        shape: &[usize],
        chunk: &[usize],
        kind: Kind,
    ) -> &mut Self {
        let count: usize = shape.iter().product();
        let mut maxshape: Vec<hdf5_pure::MaxExtent> = shape
            .iter()
            .map(|&d| hdf5_pure::MaxExtent::Fixed(d as u64))
            .collect();
        if let Some(first) = maxshape.first_mut() {
            *first = hdf5_pure::MaxExtent::Unlimited;
        }
        let ds = self.b.create_dataset(name);
        match kind {
            Kind::F32 => ds.with_f32_data(&vec![1.0; count]),
            Kind::I32 => ds.with_i32_data(&vec![1; count]),
            _ => ds.with_vlen_strings(&vec!["x"; count]),
        };
        ds.with_shape(&dims_u64(shape))
            .with_chunks(&dims_u64(chunk))
            .with_maxshape(&maxshape);
        self
    }

    /// A scalar u32 attribute on the root group.
    pub fn attr_u32(&mut self, name: &str, v: u32) -> &mut Self {
        self.b.set_attr(name, AttrValue::U32(v));
        self
    }

    /// A scalar variable-length UTF-8 string attribute on the root group (NULs dropped).
    pub fn attr_str(&mut self, name: &str, v: &str) -> &mut Self {
        self.b
            .set_attr(name, AttrValue::VarLenString(v.replace('\0', "")));
        self
    }

    /// Writes the file to `path` (created or truncated) and syncs it.
    pub fn write(self, path: &Path) -> Result<(), H5Error> {
        let mut f = std::fs::File::create(path).map_err(err)?;
        let mut w = std::io::BufWriter::new(&mut f);
        self.b.finish_to(&mut w).map_err(err)?;
        std::io::Write::flush(&mut w).map_err(err)?;
        drop(w);
        f.sync_all().map_err(err)
    }
}

/// An open file, read lazily: metadata and each dataset's storage are fetched when asked for.
pub struct Reader {
    f: hdf5_pure::File,
}

impl Reader {
    pub fn open(path: &Path) -> Result<Self, H5Error> {
        hdf5_pure::File::open_streaming(path)
            .map(|f| Self { f })
            .map_err(read_err)
    }

    /// Names of the datasets in the root group, sorted.
    pub fn dataset_names(&self) -> Result<Vec<String>, H5Error> {
        let mut v = self.f.root().datasets().map_err(read_err)?;
        v.sort();
        Ok(v)
    }

    pub fn has_dataset(&self, name: &str) -> bool {
        self.dataset_names()
            .map(|v| v.iter().any(|n| n == name))
            .unwrap_or(false)
    }

    pub fn dataset(&self, name: &str) -> Result<Dataset, H5Error> {
        let ds = self.f.dataset(name).map_err(read_err)?;
        let shape = ds
            .shape()
            .map_err(read_err)?
            .into_iter()
            .map(usize::try_from)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| H5Error("a dimension does not fit this machine's address space".into()))?;
        Ok(Dataset { ds, shape })
    }

    /// A root attribute, if present and readable.
    fn attr(&self, name: &str) -> Option<AttrValue> {
        self.f.root().attrs().ok()?.remove(name)
    }

    /// A root attribute as u32: `None` when absent, `Some(Err(type))` when it is not an unsigned or
    /// non-negative integer below 2^32.
    pub fn attr_u32(&self, name: &str) -> Option<Result<u32, String>> {
        let a = self.attr(name)?;
        Some(
            a.as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| a.type_name().to_string()),
        )
    }

    /// A root string attribute (variable-length or fixed-width, UTF-8 or ASCII).
    pub fn attr_str(&self, name: &str) -> Option<String> {
        self.attr(name)?.as_str().map(str::to_string)
    }
}

/// One dataset of an open file.
pub struct Dataset {
    ds: hdf5_pure::Dataset,
    shape: Vec<usize>,
}

impl Dataset {
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn kind(&self) -> Result<Kind, H5Error> {
        Ok(match self.ds.dtype().map_err(read_err)? {
            DType::I32 => Kind::I32,
            DType::F32 => Kind::F32,
            DType::String | DType::VariableLengthString => Kind::Str,
            other => Kind::Other(other.to_string()),
        })
    }

    /// Elements the shape claims (`None` past 2^64).
    pub fn claimed_elements(&self) -> Option<u64> {
        self.shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
    }

    /// Bytes of element data the file really holds for this dataset, counted from its layout: a
    /// contiguous run that was allocated, the chunks that exist (each at its full, uncompressed chunk
    /// size, since a compressed chunk still decodes to all of it), or the inline bytes. A shape that
    /// claims more is made up of fill values that are stored nowhere.
    pub fn backed_bytes(&self) -> Result<u64, H5Error> {
        let elem = self.ds.element_size().map_err(read_err)?;
        Ok(match self.ds.layout().map_err(read_err)? {
            Layout::Compact { size } => size,
            Layout::Contiguous { address, size } => address.map_or(0, |_| size),
            Layout::Chunked { chunk_shape, .. } => {
                let per_chunk = chunk_shape
                    .iter()
                    .try_fold(elem, |a, &d| a.checked_mul(d))
                    .unwrap_or(u64::MAX);
                let chunks = self.ds.chunks().map_err(read_err)?.len() as u64;
                chunks.saturating_mul(per_chunk)
            }
            _ => 0,
        })
    }

    pub fn read_i32(&self) -> Result<ArrayD<i32>, H5Error> {
        let v = self.ds.read_i32().map_err(read_err)?;
        ArrayD::from_shape_vec(IxDyn(&self.shape), v).map_err(err)
    }

    pub fn read_f32(&self) -> Result<ArrayD<f32>, H5Error> {
        let v = self.ds.read_f32().map_err(read_err)?;
        ArrayD::from_shape_vec(IxDyn(&self.shape), v).map_err(err)
    }

    pub fn read_strings(&self) -> Result<Vec<String>, H5Error> {
        let v = self.ds.read_string().map_err(read_err)?;
        if Some(v.len() as u64) != self.claimed_elements() {
            return Err(H5Error(format!(
                "{} strings stored for shape {:?}",
                v.len(),
                self.shape
            )));
        }
        Ok(v)
    }
}

/// A whole file held in memory for tests that rewrite one (replace, drop or retype a dataset, change
/// an attribute): read with [`Contents::read`], edit the maps, write back with [`Contents::write`].
#[doc(hidden)]
pub mod edit {
    use std::collections::BTreeMap;
    use std::path::Path;

    use ndarray::ArrayD;

    use super::{H5Error, Kind, Reader, Writer};

    #[derive(Debug, Clone, PartialEq)]
    pub enum Data {
        I32(ArrayD<i32>),
        F32(ArrayD<f32>),
        Strings(Vec<String>),
    }

    #[derive(Debug, Clone, PartialEq)]
    pub enum Attr {
        U32(u32),
        Str(String),
    }

    #[derive(Debug, Clone, Default, PartialEq)]
    pub struct Contents {
        pub datasets: BTreeMap<String, Data>,
        pub attrs: BTreeMap<String, Attr>,
    }

    impl Contents {
        /// Reads every dataset ferrofold's files hold and the given root attributes.
        pub fn read(path: &Path, attr_names: &[&str]) -> Result<Self, H5Error> {
            let r = Reader::open(path)?;
            let mut c = Contents::default();
            for name in r.dataset_names()? {
                let ds = r.dataset(&name)?;
                let data = match ds.kind()? {
                    Kind::I32 => Data::I32(ds.read_i32()?),
                    Kind::F32 => Data::F32(ds.read_f32()?),
                    Kind::Str => Data::Strings(ds.read_strings()?),
                    Kind::Other(t) => return Err(H5Error(format!("{name}: type {t}"))),
                };
                c.datasets.insert(name, data);
            }
            for &a in attr_names {
                if let Some(Ok(v)) = r.attr_u32(a) {
                    c.attrs.insert(a.into(), Attr::U32(v));
                } else if let Some(s) = r.attr_str(a) {
                    c.attrs.insert(a.into(), Attr::Str(s));
                }
            }
            Ok(c)
        }

        pub fn writer(&self) -> Writer {
            let mut w = Writer::new();
            for (name, d) in &self.datasets {
                match d {
                    Data::I32(a) => w.i32(name, a.view()),
                    Data::F32(a) => w.f32(name, a.view()),
                    Data::Strings(v) => w.strings(name, v),
                };
            }
            for (name, a) in &self.attrs {
                match a {
                    Attr::U32(v) => w.attr_u32(name, *v),
                    Attr::Str(s) => w.attr_str(name, s),
                };
            }
            w
        }

        pub fn write(&self, path: &Path) -> Result<(), H5Error> {
            self.writer().write(path)
        }
    }

    /// Makes the chunked dataset of shape `old` (written with [`Writer::chunked`]; its
    /// shape must be unique among such datasets in the file) claim `dims` instead, leaving its stored chunks as they are: the file then holds a
    /// dataset whose claimed elements are mostly fill values stored nowhere, as libhdf5 writes one
    /// that was never filled. The object header's checksum is recomputed, so the file stays valid.
    pub fn claim_shape(path: &Path, old: &[usize], dims: &[usize]) -> Result<(), H5Error> {
        assert_eq!(old.len(), dims.len());
        let mut bytes = std::fs::read(path).map_err(super::err)?;
        // Dataspace message, version 2: version, rank, flags (max dims present), type (simple),
        // then the dimensions and the maximum dimensions (the first unlimited).
        let mut pattern = vec![2u8, old.len() as u8, 1, 1];
        for &d in old {
            pattern.extend_from_slice(&(d as u64).to_le_bytes());
        }
        pattern.extend_from_slice(&u64::MAX.to_le_bytes());
        let at = bytes
            .windows(pattern.len())
            .position(|w| w == pattern.as_slice())
            .ok_or_else(|| H5Error("dataspace message not found".into()))?;
        for (i, &d) in dims.iter().enumerate() {
            let o = at + 4 + 8 * i;
            bytes[o..o + 8].copy_from_slice(&(d as u64).to_le_bytes());
        }
        // Maximum dimensions must not be below the dimensions.
        for (i, &d) in dims.iter().enumerate().skip(1) {
            let o = at + 4 + 8 * (dims.len() + i);
            let max = u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap());
            if (d as u64) > max {
                bytes[o..o + 8].copy_from_slice(&(d as u64).to_le_bytes());
            }
        }
        // The enclosing version-2 object header: "OHDR", version, flags, optional times and
        // attribute-phase fields, the size of chunk 0 (1, 2, 4 or 8 bytes by flags), the messages,
        // then a Jenkins lookup3 checksum of everything before it.
        let start = bytes[..at]
            .windows(4)
            .rposition(|w| w == b"OHDR")
            .ok_or_else(|| H5Error("object header not found".into()))?;
        let flags = bytes[start + 5];
        let mut p = start + 6;
        if flags & 0x20 != 0 {
            p += 16;
        }
        if flags & 0x10 != 0 {
            p += 4;
        }
        let width = 1usize << (flags & 3);
        let mut size = 0usize;
        for k in 0..width {
            size |= (bytes[p + k] as usize) << (8 * k);
        }
        let end = p + width + size;
        if at >= end {
            return Err(H5Error("dataspace message outside chunk 0".into()));
        }
        let sum = lookup3(&bytes[start..end]);
        bytes[end..end + 4].copy_from_slice(&sum.to_le_bytes());
        std::fs::write(path, bytes).map_err(super::err)
    }

    /// Bob Jenkins' lookup3 `hashlittle` with initial value 0, HDF5's metadata checksum.
    pub fn lookup3(key: &[u8]) -> u32 {
        fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
            *a = a.wrapping_sub(*c);
            *a ^= c.rotate_left(4);
            *c = c.wrapping_add(*b);
            *b = b.wrapping_sub(*a);
            *b ^= a.rotate_left(6);
            *a = a.wrapping_add(*c);
            *c = c.wrapping_sub(*b);
            *c ^= b.rotate_left(8);
            *b = b.wrapping_add(*a);
            *a = a.wrapping_sub(*c);
            *a ^= c.rotate_left(16);
            *c = c.wrapping_add(*b);
            *b = b.wrapping_sub(*a);
            *b ^= a.rotate_left(19);
            *a = a.wrapping_add(*c);
            *c = c.wrapping_sub(*b);
            *c ^= b.rotate_left(4);
            *b = b.wrapping_add(*a);
        }
        fn fin(a: &mut u32, b: &mut u32, c: &mut u32) {
            *c ^= *b;
            *c = c.wrapping_sub(b.rotate_left(14));
            *a ^= *c;
            *a = a.wrapping_sub(c.rotate_left(11));
            *b ^= *a;
            *b = b.wrapping_sub(a.rotate_left(25));
            *c ^= *b;
            *c = c.wrapping_sub(b.rotate_left(16));
            *a ^= *c;
            *a = a.wrapping_sub(c.rotate_left(4));
            *b ^= *a;
            *b = b.wrapping_sub(a.rotate_left(14));
            *c ^= *b;
            *c = c.wrapping_sub(b.rotate_left(24));
        }
        let word = |k: &[u8]| {
            k.iter()
                .enumerate()
                .fold(0u32, |acc, (i, &v)| acc.wrapping_add((v as u32) << (8 * i)))
        };
        let init = 0xdead_beefu32.wrapping_add(key.len() as u32);
        let (mut a, mut b, mut c) = (init, init, init);
        let mut k = key;
        while k.len() > 12 {
            a = a.wrapping_add(word(&k[0..4]));
            b = b.wrapping_add(word(&k[4..8]));
            c = c.wrapping_add(word(&k[8..12]));
            mix(&mut a, &mut b, &mut c);
            k = &k[12..];
        }
        if k.is_empty() {
            return c;
        }
        a = a.wrapping_add(word(&k[..k.len().min(4)]));
        if k.len() > 4 {
            b = b.wrapping_add(word(&k[4..k.len().min(8)]));
        }
        if k.len() > 8 {
            c = c.wrapping_add(word(&k[8..]));
        }
        fin(&mut a, &mut b, &mut c);
        c
    }
}
