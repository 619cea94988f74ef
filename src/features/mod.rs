//! AlphaFold2's raw features: what the `features` stage writes to `features.h5` and `predict` reads.
//!
//! [`make_sequence_features`] and [`make_msa_features`] compute exactly what AlphaFold2's
//! `pipeline.make_sequence_features` and `pipeline.make_msa_features` (v2.3) compute: one-hot `aatype`
//! (unknown upper-case letters read as X), zero-based `residue_index`, and the MSA rows in HHblits codes,
//! merged in the order given and de-duplicated on the aligned sequence (the first copy wins).

pub mod builder;
pub mod msa_identifiers;
pub mod multimer;

use std::collections::HashSet;

use ndarray::{Array1, Array2, Array3, Array4};

use crate::io::msa::Msa;
use crate::residue_constants as rc;

/// Feature names, verbatim from AlphaFold2 (dataset names in `features.h5`).
pub mod names {
    pub const AATYPE: &str = "aatype";
    pub const BETWEEN_SEGMENT_RESIDUES: &str = "between_segment_residues";
    pub const DOMAIN_NAME: &str = "domain_name";
    pub const RESIDUE_INDEX: &str = "residue_index";
    pub const SEQ_LENGTH: &str = "seq_length";
    pub const SEQUENCE: &str = "sequence";
    pub const MSA: &str = "msa";
    pub const DELETION_MATRIX_INT: &str = "deletion_matrix_int";
    pub const NUM_ALIGNMENTS: &str = "num_alignments";
    pub const MSA_SPECIES_IDENTIFIERS: &str = "msa_species_identifiers";
    pub const TEMPLATE_AATYPE: &str = "template_aatype";
    pub const TEMPLATE_ALL_ATOM_MASKS: &str = "template_all_atom_masks";
    pub const TEMPLATE_ALL_ATOM_POSITIONS: &str = "template_all_atom_positions";
    pub const TEMPLATE_DOMAIN_NAMES: &str = "template_domain_names";
    pub const TEMPLATE_SEQUENCE: &str = "template_sequence";
    pub const TEMPLATE_SUM_PROBS: &str = "template_sum_probs";

    /// Every raw feature, in `features.h5` writing order.
    pub const ALL: [&str; 16] = [
        AATYPE,
        BETWEEN_SEGMENT_RESIDUES,
        DOMAIN_NAME,
        RESIDUE_INDEX,
        SEQ_LENGTH,
        SEQUENCE,
        MSA,
        DELETION_MATRIX_INT,
        NUM_ALIGNMENTS,
        MSA_SPECIES_IDENTIFIERS,
        TEMPLATE_AATYPE,
        TEMPLATE_ALL_ATOM_MASKS,
        TEMPLATE_ALL_ATOM_POSITIONS,
        TEMPLATE_DOMAIN_NAMES,
        TEMPLATE_SEQUENCE,
        TEMPLATE_SUM_PROBS,
    ];
}

/// Template features (AlphaFold2's `TEMPLATE_FEATURES`); zero templates until template search lands.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateFeatures {
    /// `[T, N, 22]` one-hot over `restypes_with_x_and_gap`.
    pub aatype: Array3<f32>,
    /// `[T, N, 37]`.
    pub all_atom_masks: Array3<f32>,
    /// `[T, N, 37, 3]`.
    pub all_atom_positions: Array4<f32>,
    /// `[T]`.
    pub domain_names: Vec<String>,
    /// `[T]`.
    pub sequence: Vec<String>,
    /// `[T, 1]`.
    pub sum_probs: Array2<f32>,
}

impl TemplateFeatures {
    /// No templates for a query of `num_res` residues.
    pub fn empty(num_res: usize) -> Self {
        Self {
            aatype: Array3::zeros((0, num_res, rc::RESTYPE_WITH_X_AND_GAP)),
            all_atom_masks: Array3::zeros((0, num_res, rc::ATOM_TYPE_NUM)),
            all_atom_positions: Array4::zeros((0, num_res, rc::ATOM_TYPE_NUM, 3)),
            domain_names: Vec::new(),
            sequence: Vec::new(),
            sum_probs: Array2::zeros((0, 1)),
        }
    }

    /// Number of templates.
    pub fn count(&self) -> usize {
        self.aatype.dim().0
    }
}

/// Sequence features (`make_sequence_features`).
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceFeatures {
    /// `[N, 21]` one-hot, int32.
    pub aatype: Array2<i32>,
    /// `[N]` zeros.
    pub between_segment_residues: Array1<i32>,
    /// The FASTA header (AlphaFold2's description).
    pub domain_name: String,
    /// `[N]` 0..N.
    pub residue_index: Array1<i32>,
    /// `[N]`, every entry N.
    pub seq_length: Array1<i32>,
    /// The query sequence as given.
    pub sequence: String,
}

/// MSA features (`make_msa_features`).
#[derive(Debug, Clone, PartialEq)]
pub struct MsaFeatures {
    /// `[S, N]` HHblits codes (0..=21).
    pub msa: Array2<i32>,
    /// `[S, N]`.
    pub deletion_matrix_int: Array2<i32>,
    /// `[N]`, every entry S.
    pub num_alignments: Array1<i32>,
    /// `[S]` UniProt species mnemonics, `""` where unknown.
    pub msa_species_identifiers: Vec<String>,
}

/// All raw features of one target.
#[derive(Debug, Clone, PartialEq)]
pub struct RawFeatures {
    pub sequence: SequenceFeatures,
    pub msa: MsaFeatures,
    pub templates: TemplateFeatures,
}

impl RawFeatures {
    /// Number of residues N.
    pub fn num_res(&self) -> usize {
        self.sequence.aatype.dim().0
    }

    /// Number of MSA rows S.
    pub fn num_alignments(&self) -> usize {
        self.msa.msa.dim().0
    }
}

/// Errors making features from sequences and alignments; each names the alignment and row.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    #[error("sequence has no residues")]
    EmptySequence,
    #[error("residue {position}: {found:?} is not accepted by AlphaFold2")]
    BadResidue { position: usize, found: char },
    #[error("no MSA given (at least the query itself is needed)")]
    NoMsa,
    #[error("{source_name}: the alignment has no rows")]
    EmptyMsa { source_name: String },
    #[error(
        "{source_name}: row {row} ('{name}') is {found} columns wide but the query has {expected}"
    )]
    Width {
        source_name: String,
        row: usize,
        name: String,
        expected: usize,
        found: usize,
    },
    #[error("{source_name}: row {row} ('{name}'), column {column}: {found:?} is not in the HHblits alphabet")]
    BadMsaResidue {
        source_name: String,
        row: usize,
        name: String,
        column: usize,
        found: char,
    },
}

/// AlphaFold2's `make_sequence_features(sequence, description, num_res)`.
pub fn make_sequence_features(
    sequence: &str,
    description: &str,
) -> Result<SequenceFeatures, FeatureError> {
    let n = sequence.chars().count();
    if n == 0 {
        return Err(FeatureError::EmptySequence);
    }
    let mut aatype = Array2::zeros((n, rc::RESTYPE_WITH_X));
    for (i, c) in sequence.chars().enumerate() {
        let k = rc::restype_index_with_x(c).ok_or(FeatureError::BadResidue {
            position: i + 1,
            found: c,
        })?;
        aatype[[i, k]] = 1;
    }
    Ok(SequenceFeatures {
        aatype,
        between_segment_residues: Array1::zeros(n),
        domain_name: description.to_string(),
        residue_index: Array1::from_iter(0..n as i32),
        seq_length: Array1::from_elem(n, n as i32),
        sequence: sequence.to_string(),
    })
}

/// AlphaFold2's `make_msa_features(msas)`: rows of all alignments in order, an aligned sequence seen
/// before is skipped (with its deletions and species), residues in HHblits codes. `msas` pairs each
/// alignment with a name for error messages. The query length is the first alignment's width.
pub fn make_msa_features(msas: &[(&str, &Msa)]) -> Result<MsaFeatures, FeatureError> {
    let (_, first) = msas.first().ok_or(FeatureError::NoMsa)?;
    let n = first.width();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut rows: Vec<i32> = Vec::new();
    let mut deletions: Vec<i32> = Vec::new();
    let mut species = Vec::new();
    for &(source_name, msa) in msas {
        if msa.is_empty() {
            return Err(FeatureError::EmptyMsa {
                source_name: source_name.into(),
            });
        }
        for (row, seq) in msa.sequences.iter().enumerate() {
            let name = || {
                msa.descriptions[row]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_string()
            };
            if seq.len() != n || msa.deletion_matrix[row].len() != n {
                return Err(FeatureError::Width {
                    source_name: source_name.into(),
                    row: row + 1,
                    name: name(),
                    expected: n,
                    found: seq.len(),
                });
            }
            if !seen.insert(seq.as_str()) {
                continue;
            }
            for (column, c) in seq.chars().enumerate() {
                let id = rc::hhblits_id(c).ok_or_else(|| FeatureError::BadMsaResidue {
                    source_name: source_name.into(),
                    row: row + 1,
                    name: name(),
                    column: column + 1,
                    found: c,
                })?;
                rows.push(id);
            }
            deletions.extend_from_slice(&msa.deletion_matrix[row]);
            species.push(msa_identifiers::species_id(&msa.descriptions[row]).to_string());
        }
    }
    let s = species.len();
    Ok(MsaFeatures {
        msa: Array2::from_shape_vec((s, n), rows).expect("rows are n wide"),
        deletion_matrix_int: Array2::from_shape_vec((s, n), deletions).expect("rows are n wide"),
        num_alignments: Array1::from_elem(n, s as i32),
        msa_species_identifiers: species,
    })
}

/// The single-sequence MSA AlphaFold2 uses when no alignment is given: the query alone.
pub(crate) fn single_sequence_msa(sequence: &str, description: &str) -> Msa {
    Msa {
        sequences: vec![sequence.to_string()],
        deletion_matrix: vec![vec![0; sequence.chars().count()]],
        descriptions: vec![description.to_string()],
        lines: vec![0],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_features_follow_alphafold() {
        let f = make_sequence_features("ARX", "q d").unwrap();
        assert_eq!(f.aatype.row(0)[0], 1);
        assert_eq!(f.aatype.row(1)[1], 1);
        assert_eq!(f.aatype.row(2)[20], 1);
        assert_eq!(f.aatype.sum(), 3);
        assert_eq!(f.residue_index.to_vec(), vec![0, 1, 2]);
        assert_eq!(f.seq_length.to_vec(), vec![3, 3, 3]);
        assert_eq!(f.domain_name, "q d");
        assert!(matches!(
            make_sequence_features("Aa", ""),
            Err(FeatureError::BadResidue { position: 2, .. })
        ));
    }

    #[test]
    fn msa_features_merge_and_deduplicate() {
        let a = Msa {
            sequences: vec!["AC".into(), "A-".into()],
            deletion_matrix: vec![vec![0, 0], vec![0, 3]],
            descriptions: vec!["q".into(), "tr|A0A146SKV9|A0A146SKV9_FUNHE".into()],
            lines: vec![1, 3],
        };
        let b = Msa {
            sequences: vec!["AC".into(), "BC".into(), "A-".into()],
            deletion_matrix: vec![vec![0, 0], vec![1, 0], vec![9, 9]],
            descriptions: vec!["q".into(), "x".into(), "y".into()],
            lines: vec![1, 3, 5],
        };
        let f = make_msa_features(&[("a", &a), ("b", &b)]).unwrap();
        assert_eq!(f.msa.dim(), (3, 2));
        assert_eq!(f.msa.row(1).to_vec(), vec![0, 21]);
        assert_eq!(f.msa.row(2).to_vec(), vec![2, 1], "B is read as D (2)");
        assert_eq!(
            f.deletion_matrix_int.row(1).to_vec(),
            vec![0, 3],
            "first copy wins"
        );
        assert_eq!(f.msa_species_identifiers, vec!["", "FUNHE", ""]);
        assert_eq!(f.num_alignments.to_vec(), vec![3, 3]);
    }

    #[test]
    fn msa_errors_name_source_and_row() {
        let bad = Msa {
            sequences: vec!["AC".into(), "A*".into()],
            deletion_matrix: vec![vec![0, 0]; 2],
            descriptions: vec!["q".into(), "h1 x".into()],
            lines: vec![1, 3],
        };
        let e = make_msa_features(&[("bfd", &bad)]).unwrap_err().to_string();
        assert!(
            e.contains("bfd")
                && e.contains("row 2")
                && e.contains("'h1'")
                && e.contains("column 2"),
            "{e}"
        );
    }
}
