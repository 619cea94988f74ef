//! A validated query: one protein sequence with an id that is safe to use as a directory name.

use std::path::Path;

use crate::io::fasta::{self, FastaError, FastaRecord};
use crate::residue_constants;

/// One target sequence, checked the way AlphaFold2 reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// First word of the FASTA header; names the output directory.
    pub id: String,
    /// The whole header after `>` (AlphaFold2's description, the `domain_name` feature).
    pub description: String,
    /// The residues as written (upper case).
    pub sequence: String,
}

impl Query {
    /// Reads a FASTA file that holds exactly one record.
    pub fn from_fasta_path(path: impl AsRef<Path>) -> Result<Self, FastaError> {
        let path = path.as_ref();
        let mut all = Self::read_all(path)?;
        if all.len() != 1 {
            return Err(FastaError::NotSingle {
                path: path.into(),
                count: all.len(),
            });
        }
        Ok(all.remove(0))
    }

    /// Reads every record of a FASTA file (or of a ColabFold `.a3m` / `.csv` input, see
    /// [`crate::io::colabfold`]), validated (see [`fasta::validate_protein`]).
    pub fn read_all(path: impl AsRef<Path>) -> Result<Vec<Self>, FastaError> {
        let path = path.as_ref();
        let records = crate::io::colabfold::read_records(path)?;
        fasta::validate_protein(&records, path)?;
        Ok(records.iter().map(Self::from_record).collect())
    }

    /// Builds a query from a record that passed [`fasta::validate_protein`].
    pub fn from_record(r: &FastaRecord) -> Self {
        Self {
            id: r.id.clone(),
            description: r.header(),
            sequence: r.sequence.clone(),
        }
    }

    /// Number of residues.
    pub fn len(&self) -> usize {
        self.sequence.len()
    }

    /// Whether the sequence is empty (never true for a validated query).
    pub fn is_empty(&self) -> bool {
        self.sequence.is_empty()
    }

    /// Residues AlphaFold2 reads as `X` although they are not `X` (B, J, O, U, Z): `(1-based position, letter)`.
    pub fn mapped_to_unknown(&self) -> Vec<(usize, char)> {
        self.sequence
            .chars()
            .enumerate()
            .filter(|&(_, c)| !residue_constants::is_standard_or_x(c))
            .map(|(i, c)| (i + 1, c))
            .collect()
    }
}
