//! A3M: FASTA-like alignment where upper-case letters and `-` are aligned to the query's columns and
//! lower-case letters are insertions relative to the query (HH-suite, ColabFold, AlphaFold2's BFD hits).
//!
//! Reading follows AlphaFold2's `parsers.parse_a3m` (lines stripped, blank lines skipped, the deletion
//! matrix counts the lower-case letters before each aligned column).
//! DISCREPANCY: `.` (an optional gap in an insert column) is dropped instead of failing later in the
//! HHblits lookup as AlphaFold2 does.

use std::io::{self, Write};
use std::path::Path;

use super::msa::{read_text, Msa, MsaError};

/// One A3M row as written: aligned letters, `-` and lower-case insertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct A3mRecord {
    /// The header after `>`.
    pub description: String,
    /// The row text.
    pub text: String,
    /// 1-based line of the header (0 if not read from a file).
    pub line: usize,
}

/// An A3M alignment as read from a file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct A3m {
    pub records: Vec<A3mRecord>,
}

impl A3m {
    /// Reads an A3M file.
    pub fn read_path(path: impl AsRef<Path>) -> Result<Self, MsaError> {
        let path = path.as_ref();
        Self::parse(&read_text(path)?, path)
    }

    /// Parses A3M text; `path` only names the source in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, MsaError> {
        let mut records: Vec<A3mRecord> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if let Some(desc) = line.strip_prefix('>') {
                records.push(A3mRecord {
                    description: desc.to_string(),
                    text: String::new(),
                    line: i + 1,
                });
            } else if line.is_empty() || line.starts_with('#') {
                // Blank lines are skipped by AlphaFold2; `#` lines are HH-suite's A3M comment/metadata lines.
                continue;
            } else if let Some(r) = records.last_mut() {
                if let Some((col, c)) = line
                    .chars()
                    .enumerate()
                    .find(|&(_, c)| !(c.is_ascii_alphabetic() || c == '-' || c == '.'))
                {
                    return Err(MsaError::Syntax {
                        path: path.into(),
                        line: i + 1,
                        message: format!(
                            "character {c:?} at column {} is not a residue, '-' or '.'",
                            col + 1
                        ),
                    });
                }
                r.text.push_str(line);
            } else {
                return Err(MsaError::Syntax {
                    path: path.into(),
                    line: i + 1,
                    message: "sequence line before the first '>' header".into(),
                });
            }
        }
        if records.is_empty() {
            return Err(MsaError::Empty { path: path.into() });
        }
        Ok(Self { records })
    }

    /// Reduces the alignment to query columns: rows without insertions, and the deletion matrix.
    /// Every row must have as many aligned columns as the query.
    pub fn to_msa(&self, path: &Path) -> Result<Msa, MsaError> {
        let mut msa = Msa::default();
        for r in &self.records {
            let name = r
                .description
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string();
            if r.text.is_empty() {
                return Err(MsaError::EmptyRow {
                    path: path.into(),
                    line: r.line,
                    name,
                });
            }
            let mut aligned = String::with_capacity(r.text.len());
            let mut deletions = Vec::with_capacity(r.text.len());
            let mut run = 0;
            for c in r.text.chars() {
                if c.is_ascii_lowercase() {
                    run += 1;
                } else if c != '.' {
                    aligned.push(c);
                    deletions.push(run);
                    run = 0;
                }
            }
            let expected = msa
                .sequences
                .first()
                .map_or(aligned.len(), |q: &String| q.len());
            if aligned.len() != expected {
                return Err(MsaError::UnequalRows {
                    path: path.into(),
                    line: r.line,
                    name,
                    expected,
                    found: aligned.len(),
                });
            }
            msa.sequences.push(aligned);
            msa.deletion_matrix.push(deletions);
            msa.descriptions.push(r.description.clone());
            msa.lines.push(r.line);
        }
        Ok(msa)
    }

    /// Writes the alignment, one line per row.
    pub fn write<W: Write>(&self, mut w: W) -> io::Result<()> {
        for r in &self.records {
            writeln!(w, ">{}", r.description)?;
            writeln!(w, "{}", r.text)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "x.a3m";

    #[test]
    fn deletion_matrix_counts_lowercase_before_each_column() {
        let a = A3m::parse(">q\nACDE\n>h1 desc\nAabC-E\n\n>h2\nA.C-Ex\n", Path::new(P)).unwrap();
        let m = a.to_msa(Path::new(P)).unwrap();
        assert_eq!(m.sequences, vec!["ACDE", "AC-E", "AC-E"]);
        assert_eq!(
            m.deletion_matrix,
            vec![vec![0, 0, 0, 0], vec![0, 2, 0, 0], vec![0, 0, 0, 0]]
        );
        assert_eq!(m.descriptions[1], "h1 desc");
        assert_eq!(m.lines, vec![1, 3, 6]);
    }

    #[test]
    fn unequal_rows_and_truncation_are_errors() {
        let e = A3m::parse(">q\nACDE\n>h1\nACD\n", Path::new(P))
            .unwrap()
            .to_msa(Path::new(P))
            .unwrap_err();
        assert!(
            matches!(
                e,
                MsaError::UnequalRows {
                    line: 3,
                    expected: 4,
                    found: 3,
                    ..
                }
            ),
            "{e}"
        );
        let e = A3m::parse(">q\nACDE\n>h1\n", Path::new(P))
            .unwrap()
            .to_msa(Path::new(P))
            .unwrap_err();
        assert!(matches!(e, MsaError::EmptyRow { line: 3, .. }), "{e}");
        assert!(matches!(
            A3m::parse("\n", Path::new(P)),
            Err(MsaError::Empty { .. })
        ));
        assert!(matches!(
            A3m::parse("ACD\n", Path::new(P)),
            Err(MsaError::Syntax { line: 1, .. })
        ));
        assert!(matches!(
            A3m::parse(">q\nAC*D\n", Path::new(P)),
            Err(MsaError::Syntax { line: 2, .. })
        ));
    }

    #[test]
    fn writes_what_it_reads() {
        let text = ">q\nACDE\n>h1 d\nAabC-E\n";
        let a = A3m::parse(text, Path::new(P)).unwrap();
        let mut out = Vec::new();
        a.write(&mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), text);
    }
}
