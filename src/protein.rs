//! A protein structure in AlphaFold2's atom37 representation (AlphaFold2's `protein.Protein`): what the
//! structure writers take and what `predict` produces.

use ndarray::{Array2, Array3};
use thiserror::Error;

use crate::residue_constants as rc;

/// Chain ids in order, as AlphaFold2 assigns them (`PDB_CHAIN_IDS`); at most 62 chains in a PDB file.
pub const PDB_CHAIN_IDS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Structure in atom37 layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Protein {
    /// Residue type per residue, index into `restypes` + X (0..=20).
    pub aatype: Vec<usize>,
    /// `[N, 37, 3]` Å.
    pub atom_positions: Array3<f32>,
    /// `[N, 37]`, 1 where the atom exists.
    pub atom_mask: Array2<f32>,
    /// Residue number written to files (1-based for predictions).
    pub residue_index: Vec<i32>,
    /// Chain index per residue (0 → `A`).
    pub chain_index: Vec<usize>,
    /// `[N, 37]` B-factors (pLDDT for predictions).
    pub b_factors: Array2<f32>,
}

/// Errors building, reading or writing structures; each names the file and what failed.
#[derive(Debug, Error)]
pub enum StructureError {
    #[error("{path}: cannot read: {message}")]
    Read { path: String, message: String },
    #[error("{path}: cannot write: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("structure is inconsistent: {0}")]
    Inconsistent(String),
    #[error("{path}: residue {residue} of chain {chain} has insertion code {code:?} (not supported, as in AlphaFold2)")]
    InsertionCode {
        path: String,
        chain: String,
        residue: isize,
        code: String,
    },
}

impl Protein {
    /// Number of residues.
    pub fn num_res(&self) -> usize {
        self.aatype.len()
    }

    /// A protein whose B-factors are one value per residue (pLDDT), repeated over its atoms.
    pub fn with_residue_b_factors(mut self, per_residue: &[f32]) -> Result<Self, StructureError> {
        if per_residue.len() != self.num_res() {
            return Err(StructureError::Inconsistent(format!(
                "{} per-residue values for {} residues",
                per_residue.len(),
                self.num_res()
            )));
        }
        for (mut row, &v) in self.b_factors.rows_mut().into_iter().zip(per_residue) {
            row.fill(v);
        }
        Ok(self)
    }

    /// Checks that every per-residue array has N entries and that types and chains are in range.
    pub fn validate(&self) -> Result<(), StructureError> {
        let n = self.num_res();
        let bad = |m: String| Err(StructureError::Inconsistent(m));
        if n == 0 {
            return bad("no residues".into());
        }
        if self.atom_positions.dim() != (n, rc::ATOM_TYPE_NUM, 3) {
            return bad(format!(
                "atom_positions has shape {:?}, expected [{n}, 37, 3]",
                self.atom_positions.dim()
            ));
        }
        for (name, a) in [
            ("atom_mask", &self.atom_mask),
            ("b_factors", &self.b_factors),
        ] {
            if a.dim() != (n, rc::ATOM_TYPE_NUM) {
                return bad(format!(
                    "{name} has shape {:?}, expected [{n}, 37]",
                    a.dim()
                ));
            }
        }
        if self.residue_index.len() != n || self.chain_index.len() != n {
            return bad(format!(
                "{n} residues but {} residue numbers and {} chain indices",
                self.residue_index.len(),
                self.chain_index.len()
            ));
        }
        if let Some(&t) = self.aatype.iter().find(|&&t| t > rc::UNKNOWN_RESTYPE) {
            return bad(format!("residue type {t} is out of range 0..=20"));
        }
        if let Some(&c) = self.chain_index.iter().find(|&&c| c >= PDB_CHAIN_IDS.len()) {
            return bad(format!(
                "chain index {c}: the PDB format allows at most {} chains",
                PDB_CHAIN_IDS.len()
            ));
        }
        Ok(())
    }

    /// Chain letter of chain index `c`.
    pub fn chain_id(c: usize) -> char {
        PDB_CHAIN_IDS.as_bytes()[c] as char
    }
}
