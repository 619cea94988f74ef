//! `features.h5`: AlphaFold2's raw features in HDF5, one dataset per feature under AlphaFold2's name, dtype
//! and shape (int32 integers, float32 reals, variable-length UTF-8 strings), plus provenance attributes.
//!
//! Reading checks everything `predict` relies on and names the dataset that fails: presence, dtype, rank,
//! agreement of lengths (N residues, S alignment rows, T templates), one-hot `aatype`, `msa` codes in
//! 0..=21, non-negative deletions, and the file's format version.

use std::path::{Path, PathBuf};

use ndarray::{Array, ArrayD, Dimension};
use thiserror::Error;

use crate::features::{names, MsaFeatures, RawFeatures, SequenceFeatures, TemplateFeatures};
use crate::fsutil::atomic::AtomicFile;
use crate::io::h5::{Dataset, H5Error, Kind, Reader as H5Reader, Writer};
use crate::residue_constants as rc;

pub mod multimer;

/// The version of the layout written here. Readers refuse other versions.
pub const FORMAT_VERSION: u32 = 1;

/// Attribute names.
pub mod attrs {
    pub const FORMAT_VERSION: &str = "ferrofold_format_version";
    pub const TOOL: &str = "tool";
    pub const QUERY_SEQUENCE: &str = "query_sequence";
    pub const DATABASES: &str = "databases";
    pub const COMMAND: &str = "creation_command";
    pub const INPUT_HASH: &str = "input_sha256";
    pub const CREATED: &str = "created_unix_seconds";
    /// `multimer` for a complex's file ([`super::multimer`]); absent in a monomer's.
    pub const KIND: &str = "features_kind";
}

/// Where the features came from (file attributes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    /// Program and version that wrote the file.
    pub tool: String,
    /// The query sequence.
    pub query_sequence: String,
    /// JSON list of the alignments / databases used (name, path, SHA-256, rows).
    pub databases: String,
    /// The command line that made the file.
    pub command: String,
    /// SHA-256 of everything the features depend on; a rerun with the same hash skips the work.
    pub input_hash: String,
    /// Creation time, seconds since the Unix epoch.
    pub created: String,
}

/// Errors reading or writing `features.h5`; each names the file and, where it applies, the dataset.
#[derive(Debug, Error)]
pub enum FeaturesFileError {
    #[error("{path}: cannot read as HDF5: {message}")]
    Open { path: PathBuf, message: String },
    #[error("{path}: cannot read as a Python pickle of numpy arrays (AlphaFold2's features.pkl): {message}")]
    Pickle { path: PathBuf, message: String },
    #[error("{path}: cannot write: {message}")]
    Write { path: PathBuf, message: String },
    #[error("{path}: not a ferrofold features file (attribute '{attr}' is missing)")]
    NotFeatures { path: PathBuf, attr: &'static str },
    #[error("{path}: unknown features format version {found} (this ferrofold reads version {FORMAT_VERSION})")]
    Version { path: PathBuf, found: String },
    #[error("{path}: holds a complex's features (AlphaFold-Multimer's input); this step reads a single chain's (`predict` runs complexes with AlphaFold-Multimer models)")]
    Complex { path: PathBuf },
    #[error("{path}: holds {found} features (features_kind '{found}'); {expected} features are needed here")]
    Kind {
        path: PathBuf,
        found: String,
        expected: &'static str,
    },
    #[error("{path}: dataset '{dataset}' is missing")]
    Missing {
        path: PathBuf,
        dataset: &'static str,
    },
    #[error("{path}: dataset '{dataset}' has type {found}, expected {expected}")]
    Type {
        path: PathBuf,
        dataset: &'static str,
        found: String,
        expected: &'static str,
    },
    #[error("{path}: dataset '{dataset}' has shape {found:?}, expected {expected}")]
    Shape {
        path: PathBuf,
        dataset: &'static str,
        found: Vec<usize>,
        expected: String,
    },
    #[error("{path}: dataset '{dataset}': {message}")]
    Invalid {
        path: PathBuf,
        dataset: &'static str,
        message: String,
    },
}

fn w_err(path: &Path) -> impl Fn(H5Error) -> FeaturesFileError + '_ {
    move |e| FeaturesFileError::Write {
        path: path.into(),
        message: e.to_string(),
    }
}

/// Writes `features` to `path` atomically (temporary file in the same directory, fsync, rename).
pub fn write(
    path: impl AsRef<Path>,
    features: &RawFeatures,
    prov: &Provenance,
) -> Result<(), FeaturesFileError> {
    write_atomically(path.as_ref(), contents(features, prov))
}

/// Writes the assembled file `w` to `path` atomically.
fn write_atomically(path: &Path, w: Writer) -> Result<(), FeaturesFileError> {
    let io_err = |e: std::io::Error| FeaturesFileError::Write {
        path: path.into(),
        message: e.to_string(),
    };
    let tmp = AtomicFile::create(path).map_err(io_err)?;
    w.write(tmp.temp_path()).map_err(w_err(path))?;
    tmp.commit().map_err(io_err)
}

/// The file's datasets and attributes, assembled in memory.
fn contents(x: &RawFeatures, prov: &Provenance) -> Writer {
    let mut w = Writer::new();
    let s = &x.sequence;
    w.i32(names::AATYPE, s.aatype.view())
        .i32(
            names::BETWEEN_SEGMENT_RESIDUES,
            s.between_segment_residues.view(),
        )
        .strings(names::DOMAIN_NAME, std::slice::from_ref(&s.domain_name))
        .i32(names::RESIDUE_INDEX, s.residue_index.view())
        .i32(names::SEQ_LENGTH, s.seq_length.view())
        .strings(names::SEQUENCE, std::slice::from_ref(&s.sequence));
    let m = &x.msa;
    w.i32(names::MSA, m.msa.view())
        .i32(names::DELETION_MATRIX_INT, m.deletion_matrix_int.view())
        .i32(names::NUM_ALIGNMENTS, m.num_alignments.view())
        .strings(names::MSA_SPECIES_IDENTIFIERS, &m.msa_species_identifiers);
    let t = &x.templates;
    w.f32(names::TEMPLATE_AATYPE, t.aatype.view())
        .f32(names::TEMPLATE_ALL_ATOM_MASKS, t.all_atom_masks.view())
        .f32(
            names::TEMPLATE_ALL_ATOM_POSITIONS,
            t.all_atom_positions.view(),
        )
        .strings(names::TEMPLATE_DOMAIN_NAMES, &t.domain_names)
        .strings(names::TEMPLATE_SEQUENCE, &t.sequence)
        .f32(names::TEMPLATE_SUM_PROBS, t.sum_probs.view());
    write_provenance(&mut w, prov);
    w
}

/// The format version and the provenance attributes (every kind of features file has them).
fn write_provenance(w: &mut Writer, prov: &Provenance) {
    w.attr_u32(attrs::FORMAT_VERSION, FORMAT_VERSION);
    for (name, value) in [
        (attrs::TOOL, &prov.tool),
        (attrs::QUERY_SEQUENCE, &prov.query_sequence),
        (attrs::DATABASES, &prov.databases),
        (attrs::COMMAND, &prov.command),
        (attrs::INPUT_HASH, &prov.input_hash),
        (attrs::CREATED, &prov.created),
    ] {
        w.attr_str(name, value);
    }
}

/// Reads only the provenance attributes (cheap: used to decide whether a rerun can skip work).
pub(crate) fn read_provenance(path: impl AsRef<Path>) -> Result<Provenance, FeaturesFileError> {
    let path = path.as_ref();
    let f = open(path)?;
    provenance(&f, path)
}

fn open(path: &Path) -> Result<H5Reader, FeaturesFileError> {
    if !path.is_file() {
        let message = match crate::fsutil::regular::check(path) {
            Err(e) if path.exists() => e.to_string(),
            _ => "no such file".to_string(),
        };
        return Err(FeaturesFileError::Open {
            path: path.into(),
            message,
        });
    }
    H5Reader::open(path).map_err(|e| FeaturesFileError::Open {
        path: path.into(),
        message: e.to_string(),
    })
}

fn provenance(f: &H5Reader, path: &Path) -> Result<Provenance, FeaturesFileError> {
    let found = match f.attr_u32(attrs::FORMAT_VERSION) {
        None => {
            return Err(FeaturesFileError::NotFeatures {
                path: path.into(),
                attr: attrs::FORMAT_VERSION,
            })
        }
        Some(Err(ty)) => {
            return Err(FeaturesFileError::Version {
                path: path.into(),
                found: format!("of type {ty}"),
            })
        }
        Some(Ok(v)) => v,
    };
    if found != FORMAT_VERSION {
        return Err(FeaturesFileError::Version {
            path: path.into(),
            found: found.to_string(),
        });
    }
    let get = |name| f.attr_str(name).unwrap_or_default();
    Ok(Provenance {
        tool: get(attrs::TOOL),
        query_sequence: get(attrs::QUERY_SEQUENCE),
        databases: get(attrs::DATABASES),
        command: get(attrs::COMMAND),
        input_hash: get(attrs::INPUT_HASH),
        created: get(attrs::CREATED),
    })
}

/// Refuses a complex's (or another kind's) features where a single chain's are read.
fn single_chain(f: &H5Reader, path: &Path) -> Result<(), FeaturesFileError> {
    match f.attr_str(attrs::KIND) {
        Some(k) if k == multimer::KIND => Err(FeaturesFileError::Complex { path: path.into() }),
        Some(k) if k != "monomer" => Err(FeaturesFileError::Kind {
            path: path.into(),
            found: k,
            expected: "monomer",
        }),
        _ => Ok(()),
    }
}

/// Reads and validates a features file.
pub fn read(path: impl AsRef<Path>) -> Result<(RawFeatures, Provenance), FeaturesFileError> {
    let path = path.as_ref();
    let f = open(path)?;
    let prov = provenance(&f, path)?;
    single_chain(&f, path)?;
    let features = validate(&H5Source { f: &f, path })?;
    Ok((features, prov))
}

/// Reads AlphaFold2's raw features from `src` (an HDF5 file, AlphaFold2's `features.pkl`, ...) and checks
/// everything `predict` relies on, naming the array that fails.
pub(crate) fn validate(src: &impl ArraySource) -> Result<RawFeatures, FeaturesFileError> {
    let r = Reader { src };
    let aatype = r.int::<ndarray::Ix2>(names::AATYPE, &[None, Some(rc::RESTYPE_WITH_X)])?;
    let n = aatype.dim().0;
    if let Some(i) = aatype
        .rows()
        .into_iter()
        .position(|row| row.iter().sum::<i32>() != 1 || row.iter().any(|&v| v != 0 && v != 1))
    {
        return Err(r.invalid(names::AATYPE, format!("row {i} is not one-hot")));
    }
    let between_segment_residues =
        r.int::<ndarray::Ix1>(names::BETWEEN_SEGMENT_RESIDUES, &[Some(n)])?;
    let domain_name = r.strings(names::DOMAIN_NAME, Some(1))?.remove(0);
    let residue_index = r.int::<ndarray::Ix1>(names::RESIDUE_INDEX, &[Some(n)])?;
    let seq_length = r.int::<ndarray::Ix1>(names::SEQ_LENGTH, &[Some(n)])?;
    if seq_length.iter().any(|&v| v as usize != n) {
        return Err(r.invalid(
            names::SEQ_LENGTH,
            format!("entries differ from the {n} residues of 'aatype'"),
        ));
    }
    let sequence = r.strings(names::SEQUENCE, Some(1))?.remove(0);
    if sequence.chars().count() != n {
        return Err(r.invalid(
            names::SEQUENCE,
            format!("{} residues, 'aatype' has {n}", sequence.chars().count()),
        ));
    }
    // The row count is claimed by 'num_alignments' (and the shapes of the MSA datasets); all of them are
    // checked against each other before the large arrays are read.
    let num_alignments = r.int::<ndarray::Ix1>(names::NUM_ALIGNMENTS, &[Some(n)])?;
    let s = num_alignments.first().copied().unwrap_or(0);
    if s <= 0 || num_alignments.iter().any(|&v| v != s) {
        return Err(r.invalid(
            names::NUM_ALIGNMENTS,
            format!(
                "entries must all equal the MSA's row count (at least 1), found {:?}",
                num_alignments.iter().take(3).collect::<Vec<_>>()
            ),
        ));
    }
    let s = s as usize;
    for (name, shape) in [
        (names::MSA, vec![Some(s), Some(n)]),
        (names::DELETION_MATRIX_INT, vec![Some(s), Some(n)]),
        (names::MSA_SPECIES_IDENTIFIERS, vec![Some(s)]),
    ] {
        r.check(name, &shape)?;
    }
    let msa = r.int::<ndarray::Ix2>(names::MSA, &[Some(s), Some(n)])?;
    if let Some(v) = msa.iter().find(|&&v| !(0..=rc::HHBLITS_GAP).contains(&v)) {
        return Err(r.invalid(
            names::MSA,
            format!("value {v} outside the HHblits alphabet 0..=21"),
        ));
    }
    let deletion_matrix_int =
        r.int::<ndarray::Ix2>(names::DELETION_MATRIX_INT, &[Some(s), Some(n)])?;
    if let Some(v) = deletion_matrix_int.iter().find(|&&v| v < 0) {
        return Err(r.invalid(names::DELETION_MATRIX_INT, format!("negative value {v}")));
    }
    let msa_species_identifiers = r.strings(names::MSA_SPECIES_IDENTIFIERS, Some(s))?;

    let t = r.check(
        names::TEMPLATE_AATYPE,
        &[None, Some(n), Some(rc::RESTYPE_WITH_X_AND_GAP)],
    )?[0];
    for (name, shape) in [
        (
            names::TEMPLATE_ALL_ATOM_MASKS,
            vec![Some(t), Some(n), Some(rc::ATOM_TYPE_NUM)],
        ),
        (
            names::TEMPLATE_ALL_ATOM_POSITIONS,
            vec![Some(t), Some(n), Some(rc::ATOM_TYPE_NUM), Some(3)],
        ),
        (names::TEMPLATE_SUM_PROBS, vec![Some(t), Some(1)]),
    ] {
        r.check(name, &shape)?;
    }
    let t_aatype = r.float::<ndarray::Ix3>(
        names::TEMPLATE_AATYPE,
        &[Some(t), Some(n), Some(rc::RESTYPE_WITH_X_AND_GAP)],
    )?;
    let templates = TemplateFeatures {
        aatype: t_aatype,
        all_atom_masks: r.float(
            names::TEMPLATE_ALL_ATOM_MASKS,
            &[Some(t), Some(n), Some(rc::ATOM_TYPE_NUM)],
        )?,
        all_atom_positions: r.float(
            names::TEMPLATE_ALL_ATOM_POSITIONS,
            &[Some(t), Some(n), Some(rc::ATOM_TYPE_NUM), Some(3)],
        )?,
        domain_names: r.strings(names::TEMPLATE_DOMAIN_NAMES, Some(t))?,
        sequence: r.strings(names::TEMPLATE_SEQUENCE, Some(t))?,
        sum_probs: r.float(names::TEMPLATE_SUM_PROBS, &[Some(t), Some(1)])?,
    };
    for (name, bad) in [
        (
            names::TEMPLATE_AATYPE,
            templates.aatype.iter().any(|v| !v.is_finite()),
        ),
        (
            names::TEMPLATE_ALL_ATOM_MASKS,
            templates.all_atom_masks.iter().any(|v| !v.is_finite()),
        ),
        (
            names::TEMPLATE_ALL_ATOM_POSITIONS,
            templates.all_atom_positions.iter().any(|v| !v.is_finite()),
        ),
        (
            names::TEMPLATE_SUM_PROBS,
            templates.sum_probs.iter().any(|v| !v.is_finite()),
        ),
    ] {
        if bad {
            return Err(r.invalid(name, "holds a non-finite value (NaN or infinity)".into()));
        }
    }
    let features = RawFeatures {
        sequence: SequenceFeatures {
            aatype,
            between_segment_residues,
            domain_name,
            residue_index,
            seq_length,
            sequence,
        },
        msa: MsaFeatures {
            msa,
            deletion_matrix_int,
            num_alignments,
            msa_species_identifiers,
        },
        templates,
    };
    Ok(features)
}

/// Largest dataset read without the file storing (about) as many bytes.
const MAX_UNSTORED_BYTES: u64 = 64 << 20;

/// Named arrays as a features source holds them; [`validate`] checks names, types and shapes on top.
pub(crate) trait ArraySource {
    /// The file, for messages.
    fn path(&self) -> &Path;
    /// The shape of `name`, `None` when there is no such array.
    fn shape(&self, name: &str) -> Result<Option<Vec<usize>>, String>;
    /// The element type of `name` (which exists).
    fn kind(&self, name: &str) -> Result<Kind, String>;
    /// Refuses an array whose shape claims more than the source holds (before anything is allocated).
    fn check_backed(&self, name: &str, elem_bytes: usize) -> Result<(), String>;
    fn read_i32(&self, name: &str) -> Result<ArrayD<i32>, String>;
    fn read_f32(&self, name: &str) -> Result<ArrayD<f32>, String>;
    fn read_strings(&self, name: &str) -> Result<Vec<String>, String>;
}

struct H5Source<'a> {
    f: &'a H5Reader,
    path: &'a Path,
}

impl H5Source<'_> {
    fn ds(&self, name: &str) -> Result<Dataset, String> {
        self.f.dataset(name).map_err(|e| e.to_string())
    }
}

impl ArraySource for H5Source<'_> {
    fn path(&self) -> &Path {
        self.path
    }

    fn shape(&self, name: &str) -> Result<Option<Vec<usize>>, String> {
        if !self.f.has_dataset(name) {
            return Ok(None);
        }
        Ok(Some(self.ds(name)?.shape().to_vec()))
    }

    fn kind(&self, name: &str) -> Result<Kind, String> {
        self.ds(name)?.kind().map_err(|e| e.to_string())
    }

    /// ferrofold writes its datasets whole; a chunked file from elsewhere counts the chunks it really
    /// has, at their decoded size.
    fn check_backed(&self, name: &str, elem: usize) -> Result<(), String> {
        let ds = self.ds(name)?;
        let claimed = ds
            .claimed_elements()
            .and_then(|c| c.checked_mul(elem as u64));
        let backed = ds.backed_bytes().map_err(|e| e.to_string())?;
        match claimed {
            Some(c) if c <= MAX_UNSTORED_BYTES || c <= backed => Ok(()),
            _ => Err(format!(
                "its shape {:?} claims {} bytes but the file holds {backed}: a corrupt or hostile file",
                ds.shape(),
                claimed.map_or("more than 2^64".to_string(), |c| c.to_string())
            )),
        }
    }

    fn read_i32(&self, name: &str) -> Result<ArrayD<i32>, String> {
        self.ds(name)?.read_i32().map_err(|e| e.to_string())
    }

    fn read_f32(&self, name: &str) -> Result<ArrayD<f32>, String> {
        self.ds(name)?.read_f32().map_err(|e| e.to_string())
    }

    fn read_strings(&self, name: &str) -> Result<Vec<String>, String> {
        self.ds(name)?.read_strings().map_err(|e| e.to_string())
    }
}

/// [`ArraySource`] with the checks and the messages naming file and array.
struct Reader<'a, S: ArraySource> {
    src: &'a S,
}

impl<S: ArraySource> Reader<'_, S> {
    fn invalid(&self, dataset: &'static str, message: String) -> FeaturesFileError {
        FeaturesFileError::Invalid {
            path: self.src.path().into(),
            dataset,
            message,
        }
    }

    /// The shape of `name` if it exists and agrees with `expected` (`None`: any length).
    fn check(
        &self,
        name: &'static str,
        expected: &[Option<usize>],
    ) -> Result<Vec<usize>, FeaturesFileError> {
        let shape = self
            .src
            .shape(name)
            .map_err(|e| self.invalid(name, e))?
            .ok_or_else(|| FeaturesFileError::Missing {
                path: self.src.path().into(),
                dataset: name,
            })?;
        let ok = shape.len() == expected.len()
            && shape
                .iter()
                .zip(expected)
                .all(|(&d, e)| e.is_none_or(|e| e == d));
        if ok {
            return Ok(shape);
        }
        let expected = format!(
            "[{}]",
            expected
                .iter()
                .map(|e| e.map_or("*".to_string(), |v| v.to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Err(FeaturesFileError::Shape {
            path: self.src.path().into(),
            dataset: name,
            found: shape,
            expected,
        })
    }

    fn typed<T, D: Dimension>(
        &self,
        name: &'static str,
        expected: &[Option<usize>],
        want: Kind,
        read: impl Fn(&S, &str) -> Result<ArrayD<T>, String>,
    ) -> Result<Array<T, D>, FeaturesFileError> {
        self.check(name, expected)?;
        let kind = self.src.kind(name).map_err(|e| self.invalid(name, e))?;
        if kind != want {
            return Err(FeaturesFileError::Type {
                path: self.src.path().into(),
                dataset: name,
                found: kind.to_string(),
                expected: if want == Kind::I32 {
                    "int32"
                } else {
                    "float32"
                },
            });
        }
        self.src
            .check_backed(name, std::mem::size_of::<T>())
            .map_err(|e| self.invalid(name, e))?;
        read(self.src, name)
            .map_err(|e| self.invalid(name, e))?
            .into_dimensionality::<D>()
            .map_err(|e| self.invalid(name, e.to_string()))
    }

    fn int<D: Dimension>(
        &self,
        name: &'static str,
        expected: &[Option<usize>],
    ) -> Result<Array<i32, D>, FeaturesFileError> {
        self.typed(name, expected, Kind::I32, S::read_i32)
    }

    fn float<D: Dimension>(
        &self,
        name: &'static str,
        expected: &[Option<usize>],
    ) -> Result<Array<f32, D>, FeaturesFileError> {
        self.typed(name, expected, Kind::F32, S::read_f32)
    }

    fn strings(
        &self,
        name: &'static str,
        len: Option<usize>,
    ) -> Result<Vec<String>, FeaturesFileError> {
        self.check(name, &[len])?;
        let kind = self.src.kind(name).map_err(|e| self.invalid(name, e))?;
        if kind != Kind::Str {
            return Err(FeaturesFileError::Type {
                path: self.src.path().into(),
                dataset: name,
                found: kind.to_string(),
                expected: "variable-length string",
            });
        }
        // A variable-length string's reference is 16 bytes in an HDF5 file.
        self.src
            .check_backed(name, 16)
            .map_err(|e| self.invalid(name, e))?;
        self.src
            .read_strings(name)
            .map_err(|e| self.invalid(name, e))
    }
}

/// The residue count and the MSA's row count a features file claims, read without reading the
/// alignment (the small `aatype` and `num_alignments` datasets only), so that a stage can check its
/// memory budget before reading what the rows need. The full read checks everything again.
pub fn peek_sizes(path: impl AsRef<Path>) -> Result<PeekedSizes, FeaturesFileError> {
    let path = path.as_ref();
    let f = open(path)?;
    single_chain(&f, path)?;
    let r = Reader {
        src: &H5Source { f: &f, path },
    };
    let n = r.check(names::AATYPE, &[None, Some(rc::RESTYPE_WITH_X)])?[0];
    let num_alignments = r.int::<ndarray::Ix1>(names::NUM_ALIGNMENTS, &[Some(n)])?;
    let templates = r
        .src
        .shape(names::TEMPLATE_AATYPE)
        .ok()
        .flatten()
        .and_then(|s| s.first().copied())
        .unwrap_or(0);
    match num_alignments.first() {
        Some(&s) if s > 0 => Ok(PeekedSizes {
            num_res: n,
            num_alignments: s as usize,
            templates,
        }),
        _ => Err(r.invalid(names::NUM_ALIGNMENTS, "no positive MSA row count".into())),
    }
}

/// What [`peek_sizes`] reads: residues, MSA rows, templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeekedSizes {
    pub num_res: usize,
    pub num_alignments: usize,
    pub templates: usize,
}

/// Shape of a dataset, for summaries (`ferrofold inspect`).
pub(crate) fn dataset_shapes(
    path: impl AsRef<Path>,
) -> Result<Vec<(String, Vec<usize>, String)>, FeaturesFileError> {
    let path = path.as_ref();
    let f = open(path)?;
    let names = f.dataset_names().map_err(|e| FeaturesFileError::Open {
        path: path.into(),
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    for n in names {
        if let Ok(ds) = f.dataset(&n) {
            let kind = ds.kind().map_or_else(|_| "?".into(), |k| k.to_string());
            out.push((n, ds.shape().to_vec(), kind));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::builder::FeatureBuilder;
    use crate::io::h5::edit::{Attr, Contents, Data};
    use crate::io::h5::Kind;
    use crate::query::Query;

    fn sample() -> RawFeatures {
        let q = Query {
            id: "q".into(),
            description: "q test".into(),
            sequence: "MKVLA".into(),
        };
        FeatureBuilder::single_sequence()
            .build(&q, "q.fasta")
            .unwrap()
            .features
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("features.h5");
        let f = sample();
        let prov = Provenance {
            tool: "t".into(),
            input_hash: "abc".into(),
            ..Default::default()
        };
        write(&p, &f, &prov).unwrap();
        let (back, bp) = read(&p).unwrap();
        assert_eq!(back, f);
        assert_eq!(bp.input_hash, "abc");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }

    fn edit(p: &Path, change: impl FnOnce(&mut Contents)) {
        let mut c = Contents::read(p, &[attrs::FORMAT_VERSION]).unwrap();
        change(&mut c);
        c.write(p).unwrap();
    }

    #[test]
    fn missing_dataset_and_bad_version_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.h5");
        write(&p, &sample(), &Provenance::default()).unwrap();
        edit(&p, |c| {
            c.datasets.remove(names::DELETION_MATRIX_INT);
        });
        let e = read(&p).unwrap_err();
        assert!(
            matches!(
                e,
                FeaturesFileError::Missing {
                    dataset: "deletion_matrix_int",
                    ..
                }
            ),
            "{e}"
        );
        edit(&p, |c| {
            c.attrs.insert(attrs::FORMAT_VERSION.into(), Attr::U32(7));
        });
        assert!(matches!(
            read(&p).unwrap_err(),
            FeaturesFileError::Version { .. }
        ));
        edit(&p, |c| {
            c.attrs.remove(attrs::FORMAT_VERSION);
        });
        assert!(matches!(
            read(&p).unwrap_err(),
            FeaturesFileError::NotFeatures { .. }
        ));
    }

    #[test]
    fn misshaped_and_mistyped_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.h5");
        write(&p, &sample(), &Provenance::default()).unwrap();
        edit(&p, |c| {
            c.datasets.insert(
                names::RESIDUE_INDEX.into(),
                Data::I32(ndarray::ArrayD::zeros(ndarray::IxDyn(&[4]))),
            );
            c.datasets.insert(
                names::MSA.into(),
                Data::F32(ndarray::ArrayD::zeros(ndarray::IxDyn(&[1, 5]))),
            );
        });
        let e = read(&p).unwrap_err().to_string();
        assert!(
            e.contains("'residue_index'") && e.contains("[4]") && e.contains("[5]"),
            "{e}"
        );
        edit(&p, |c| {
            c.datasets.insert(
                names::RESIDUE_INDEX.into(),
                Data::I32(ndarray::ArrayD::zeros(ndarray::IxDyn(&[5]))),
            );
        });
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains("'msa'") && e.contains("int32"), "{e}");
    }

    #[test]
    fn a_claimed_shape_without_stored_data_is_refused_before_allocating() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.h5");
        write(&p, &sample(), &Provenance::default()).unwrap();
        let mut c = Contents::read(&p, &[attrs::FORMAT_VERSION]).unwrap();
        for name in [
            names::MSA,
            names::DELETION_MATRIX_INT,
            names::MSA_SPECIES_IDENTIFIERS,
        ] {
            c.datasets.remove(name);
        }
        c.datasets.insert(
            names::NUM_ALIGNMENTS.into(),
            Data::I32(ndarray::ArrayD::from_elem(ndarray::IxDyn(&[5]), 1 << 30)),
        );
        let mut w = c.writer();
        w.chunked(names::MSA, &[1, 5], &[1, 5], Kind::I32)
            .chunked(names::DELETION_MATRIX_INT, &[2, 5], &[1, 5], Kind::I32)
            .chunked(names::MSA_SPECIES_IDENTIFIERS, &[3], &[1], Kind::Str);
        w.write(&p).unwrap();
        // The file claims 2^30 rows (20 GiB of int32) and stores one or a few.
        let claim = crate::io::h5::edit::claim_shape;
        claim(&p, &[1, 5], &[1 << 30, 5]).unwrap();
        claim(&p, &[2, 5], &[1 << 30, 5]).unwrap();
        claim(&p, &[3], &[1 << 30]).unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains("'msa'") && e.contains("claims"), "{e}");
    }
}
