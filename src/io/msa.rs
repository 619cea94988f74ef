//! The aligned form every MSA is reduced to before features are made: AlphaFold2's `parsers.Msa`.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// An alignment in query coordinates: every row as long as the query, insertions removed and counted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Msa {
    /// Aligned rows (upper-case letters and `-`), the query first.
    pub sequences: Vec<String>,
    /// For each row and query column, how many residues the row inserts before that column.
    pub deletion_matrix: Vec<Vec<i32>>,
    /// Each row's description (header line / Stockholm name).
    pub descriptions: Vec<String>,
    /// 1-based line where each row starts in its file (0 if unknown), for error messages.
    pub lines: Vec<usize>,
}

impl Msa {
    /// Number of rows.
    pub fn depth(&self) -> usize {
        self.sequences.len()
    }

    /// Whether the alignment has no rows.
    pub fn is_empty(&self) -> bool {
        self.sequences.is_empty()
    }

    /// Query length (0 for an empty alignment).
    pub(crate) fn width(&self) -> usize {
        self.sequences.first().map_or(0, |s| s.len())
    }

    /// Keeps the first `max` rows (AlphaFold2's `Msa.truncate`).
    pub(crate) fn truncate(&mut self, max: usize) {
        self.sequences.truncate(max);
        self.deletion_matrix.truncate(max);
        self.descriptions.truncate(max);
        self.lines.truncate(max);
    }
}

/// Errors reading an alignment (A3M or Stockholm). Each names the file and, where it applies, the line.
#[derive(Debug, Error)]
pub enum MsaError {
    #[error("{path}: cannot read: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: not a text file (invalid UTF-8 at line {line})")]
    NotText { path: PathBuf, line: usize },
    #[error("{path}: the alignment is empty (no sequences)")]
    Empty { path: PathBuf },
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(
        "{path}:{line}: row '{name}' has {found} aligned columns but the query has {expected} \
         (unequal row lengths; truncated file?)"
    )]
    UnequalRows {
        path: PathBuf,
        line: usize,
        name: String,
        expected: usize,
        found: usize,
    },
    #[error("{path}:{line}: row '{name}' has no sequence (truncated file?)")]
    EmptyRow {
        path: PathBuf,
        line: usize,
        name: String,
    },
    #[error("{path}:{line}: row '{name}', column {column}: {found:?} is not in the HHblits alphabet (A-Z, '-')")]
    BadResidue {
        path: PathBuf,
        line: usize,
        name: String,
        column: usize,
        found: char,
    },
    #[error("{path}: the alignment's query does not match {query_source}: {detail}")]
    QueryMismatch {
        path: PathBuf,
        query_source: String,
        detail: String,
    },
}

impl MsaError {
    pub(crate) fn io(path: &std::path::Path, source: io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// Reads a whole file as UTF-8 text for the alignment parsers.
pub(crate) fn read_text(path: &std::path::Path) -> Result<String, MsaError> {
    let bytes = crate::fsutil::regular::read(path).map_err(|e| MsaError::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let upto = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..upto].iter().filter(|&&b| b == b'\n').count();
        MsaError::NotText {
            path: path.into(),
            line,
        }
    })
}
