//! Stockholm alignments (jackhmmer / hmmsearch `-A` output, Pfam), and AlphaFold2's reductions of them.
//!
//! * [`Stockholm::to_msa`] follows AlphaFold2's `parsers.parse_stockholm`: the first sequence is the
//!   query; columns where the query has `-` are insertions, removed from every row and counted in the
//!   deletion matrix.
//! * [`Stockholm::truncate`] follows `parsers.truncate_stockholm_msa` (keep the first N sequences, the query
//!   included), which AlphaFold2 applies to precomputed uniref90 / mgnify hits (10,000 / 501).
//! * [`Stockholm::to_a3m`] follows `parsers.convert_stockholm_to_a3m` (query-defined columns, lower-case
//!   insertions, optional `max_sequences`).
//!   DISCREPANCY: AlphaFold2 deletes `.` from each row before pairing its columns with the query's, which
//!   shifts rows that contain `.`; we treat `.` as a gap column by column (identical when there is no `.`).
//!   `to_msa` keeps AlphaFold2's rule exactly (only `-` in the query marks an insert column).

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::Path;

use super::a3m::{A3m, A3mRecord};
use super::msa::{read_text, Msa, MsaError};

/// A Stockholm alignment: sequences in file order (a name's pieces over several blocks joined).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stockholm {
    /// Sequence names in order of first appearance (the query first).
    pub names: Vec<String>,
    /// Aligned text per name, same order.
    pub sequences: Vec<String>,
    /// `#=GS <name> DE <text>` descriptions.
    pub descriptions: HashMap<String, String>,
    /// 1-based line where each name first appears.
    pub lines: Vec<usize>,
}

fn is_gap(c: char) -> bool {
    c == '-' || c == '.'
}

impl Stockholm {
    /// Reads a Stockholm file.
    pub fn read_path(path: impl AsRef<Path>) -> Result<Self, MsaError> {
        let path = path.as_ref();
        Self::parse(&read_text(path)?, path)
    }

    /// Parses Stockholm text; `path` only names the source in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, MsaError> {
        let mut sto = Stockholm::default();
        let mut index: HashMap<String, usize> = HashMap::new();
        // Whether a `//` line closed the alignment after its last sequence line: every Stockholm
        // alignment ends with one, so a file without it was cut off (a killed search, a full disk).
        let mut closed = false;
        let mut lines = 0;
        for (i, raw) in text.lines().enumerate() {
            lines = i + 1;
            let line = raw.trim();
            if let Some(rest) = line.strip_prefix("#=GS") {
                let mut cols = rest.split_whitespace();
                if let (Some(name), Some("DE")) = (cols.next(), cols.next()) {
                    // The text after the name and the DE tag, however many spaces separate them
                    // (AlphaFold2: `line.split(maxsplit=3)[3]`).
                    let after_name = rest.trim_start()[name.len()..].trim_start();
                    let value = after_name["DE".len()..].trim_start();
                    sto.descriptions
                        .insert(name.to_string(), value.trim().to_string());
                }
                continue;
            }
            if line.starts_with("//") {
                closed = true;
                continue;
            }
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            closed = false;
            let mut fields = line.split_whitespace();
            let (Some(name), Some(seq), None) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(MsaError::Syntax {
                    path: path.into(),
                    line: i + 1,
                    message: "expected '<name> <aligned sequence>'".into(),
                });
            };
            if let Some((col, c)) = seq
                .chars()
                .enumerate()
                .find(|&(_, c)| !(c.is_ascii_alphabetic() || is_gap(c)))
            {
                return Err(MsaError::Syntax {
                    path: path.into(),
                    line: i + 1,
                    message: format!(
                        "character {c:?} at column {} of '{name}' is not a residue or gap",
                        col + 1
                    ),
                });
            }
            match index.get(name) {
                Some(&k) => sto.sequences[k].push_str(seq),
                None => {
                    index.insert(name.to_string(), sto.names.len());
                    sto.names.push(name.to_string());
                    sto.sequences.push(seq.to_string());
                    sto.lines.push(i + 1);
                }
            }
        }
        if sto.names.is_empty() {
            return Err(MsaError::Empty { path: path.into() });
        }
        if !closed {
            return Err(MsaError::Syntax {
                path: path.into(),
                line: lines,
                message: "the file ends without the '//' line that closes a Stockholm alignment: it was cut off (a killed search or a full disk?)".into(),
            });
        }
        Ok(sto)
    }

    /// Keeps the first `max` sequences (the query counts as one).
    pub fn truncate(&mut self, max: usize) {
        for name in self.names.drain(max.min(self.names.len())..) {
            self.descriptions.remove(&name);
        }
        self.sequences.truncate(max);
        self.lines.truncate(max);
    }

    fn check_lengths(&self, path: &Path) -> Result<(), MsaError> {
        // Truncated to nothing (a limit of 0 rows) there is not even a query row.
        let Some(first) = self.sequences.first() else {
            return Err(MsaError::Empty { path: path.into() });
        };
        let expected = first.len();
        for (k, s) in self.sequences.iter().enumerate() {
            if s.len() != expected {
                return Err(MsaError::UnequalRows {
                    path: path.into(),
                    line: self.lines[k],
                    name: self.names[k].clone(),
                    expected,
                    found: s.len(),
                });
            }
        }
        Ok(())
    }

    /// Reduces to query columns (AlphaFold2's `parse_stockholm`). Descriptions are the sequence names, as in
    /// AlphaFold2 (species are then read from the name).
    pub fn to_msa(&self, path: &Path) -> Result<Msa, MsaError> {
        self.check_lengths(path)?;
        let query = self.sequences[0].as_bytes();
        let mut msa = Msa::default();
        for (k, s) in self.sequences.iter().enumerate() {
            let mut aligned = String::with_capacity(query.len());
            let mut deletions = Vec::with_capacity(query.len());
            let mut run = 0;
            for (&r, &q) in s.as_bytes().iter().zip(query) {
                if q == b'-' {
                    // Insert column. AlphaFold2 counts every non-'-' character here as a deleted residue.
                    if r != b'-' {
                        run += 1;
                    }
                } else {
                    aligned.push(r as char);
                    deletions.push(run);
                    run = 0;
                }
            }
            msa.sequences.push(aligned);
            msa.deletion_matrix.push(deletions);
            msa.descriptions.push(self.names[k].clone());
            msa.lines.push(self.lines[k]);
        }
        Ok(msa)
    }

    /// Converts to A3M with the query's columns (AlphaFold2's `convert_stockholm_to_a3m`): rows keep the
    /// query's non-gap columns, residues in the query's gap columns become lower-case insertions, gaps
    /// there are dropped. `max_sequences` keeps the first N sequences.
    pub fn to_a3m(&self, max_sequences: Option<usize>, path: &Path) -> Result<A3m, MsaError> {
        self.check_lengths(path)?;
        let n = max_sequences.unwrap_or(usize::MAX).min(self.names.len());
        let query: Vec<char> = self.sequences[0].chars().collect();
        let mut records = Vec::with_capacity(n);
        for k in 0..n {
            let mut text = String::with_capacity(query.len());
            for (r, &q) in self.sequences[k].chars().zip(&query) {
                if !is_gap(q) {
                    text.push(if r == '.' { '-' } else { r });
                } else if !is_gap(r) {
                    text.push(r.to_ascii_lowercase());
                }
            }
            let name = &self.names[k];
            let description = match self.descriptions.get(name) {
                Some(d) if !d.is_empty() => format!("{name} {d}"),
                _ => name.clone(),
            };
            records.push(A3mRecord {
                description,
                text,
                line: self.lines[k],
            });
        }
        Ok(A3m { records })
    }

    /// Writes the alignment as Stockholm 1.0 (one block).
    pub fn write<W: Write>(&self, mut w: W) -> io::Result<()> {
        writeln!(w, "# STOCKHOLM 1.0")?;
        let width = self.names.iter().map(|n| n.len()).max().unwrap_or(0);
        let mut any_de = false;
        for n in &self.names {
            if let Some(d) = self.descriptions.get(n) {
                writeln!(w, "#=GS {n:<width$} DE {d}")?;
                any_de = true;
            }
        }
        if any_de {
            writeln!(w)?;
        }
        for (n, s) in self.names.iter().zip(&self.sequences) {
            writeln!(w, "{n:<width$} {s}")?;
        }
        writeln!(w, "//")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STO: &str = "# STOCKHOLM 1.0\n#=GF ID q-i1\n\n#=GS h1/2-5 DE some protein\n\n\
        query   AC-DE\nh1/2-5  ACgD-\n#=GR h1/2-5 PP 99.99\nh2      -C-DE\n\nquery   FG\nh1/2-5  F-\nh2      FG\n//\n";

    fn p() -> &'static Path {
        Path::new("x.sto")
    }

    #[test]
    fn parse_stockholm_like_alphafold() {
        let s = Stockholm::parse(STO, p()).unwrap();
        assert_eq!(s.names, vec!["query", "h1/2-5", "h2"]);
        assert_eq!(s.sequences[1], "ACgD-F-");
        let m = s.to_msa(p()).unwrap();
        assert_eq!(m.sequences, vec!["ACDEFG", "ACD-F-", "-CDEFG"]);
        assert_eq!(m.deletion_matrix[1], vec![0, 0, 1, 0, 0, 0]);
        assert_eq!(m.descriptions[1], "h1/2-5");
    }

    #[test]
    fn to_a3m_uses_query_columns_and_truncates() {
        let s = Stockholm::parse(STO, p()).unwrap();
        let a = s.to_a3m(Some(2), p()).unwrap();
        assert_eq!(a.records.len(), 2);
        assert_eq!(a.records[0].text, "ACDEFG");
        assert_eq!(a.records[1].text, "ACgD-F-");
        assert_eq!(a.records[1].description, "h1/2-5 some protein");
        // and the A3M reduces to the same MSA as the Stockholm
        let from_a3m = a.to_msa(p()).unwrap();
        let mut direct = s.to_msa(p()).unwrap();
        direct.truncate(2);
        assert_eq!(from_a3m.sequences, direct.sequences);
        assert_eq!(from_a3m.deletion_matrix, direct.deletion_matrix);
    }

    #[test]
    fn truncate_keeps_first_names() {
        let mut s = Stockholm::parse(STO, p()).unwrap();
        s.truncate(1);
        assert_eq!(s.names, vec!["query"]);
        assert!(s.descriptions.is_empty());
    }

    #[test]
    fn errors() {
        let e = Stockholm::parse("# STOCKHOLM 1.0\nq ACD\nh AC\n//\n", p())
            .unwrap()
            .to_msa(p())
            .unwrap_err();
        assert!(
            matches!(
                e,
                MsaError::UnequalRows {
                    line: 3,
                    expected: 3,
                    found: 2,
                    ..
                }
            ),
            "{e}"
        );
        assert!(matches!(
            Stockholm::parse("# STOCKHOLM 1.0\n//\n", p()),
            Err(MsaError::Empty { .. })
        ));
        assert!(matches!(
            Stockholm::parse("q AC D\n", p()),
            Err(MsaError::Syntax { line: 1, .. })
        ));
        // Cut off: no closing `//` after the last rows (here inside the second block of rows).
        let cut = &STO[..STO.find("h1/2-5  F-").unwrap()];
        match Stockholm::parse(cut, p()) {
            Err(MsaError::Syntax {
                line: 11, message, ..
            }) => {
                assert!(message.contains("'//'"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert!(Stockholm::parse(STO, p()).is_ok());
    }

    #[test]
    fn write_then_read_is_identity() {
        let s = Stockholm::parse(STO, p()).unwrap();
        let mut out = Vec::new();
        s.write(&mut out).unwrap();
        let back = Stockholm::parse(std::str::from_utf8(&out).unwrap(), p()).unwrap();
        assert_eq!(back.names, s.names);
        assert_eq!(back.sequences, s.sequences);
        assert_eq!(back.descriptions, s.descriptions);
    }
}
