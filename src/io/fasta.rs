//! FASTA: reading (through `bio`) with the validation a structure predictor needs, and writing.
//!
//! Parsing is `bio::io::fasta`; this module adds what `bio` does not know: which line each record and
//! residue came from (so that errors can point at them), and the checks of [`validate_protein`]:
//! empty files and records, letters AlphaFold2 does not accept, duplicate ids and ids that would be
//! unsafe as directory names.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::residue_constants;

/// A FASTA record with the 1-based line numbers it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastaRecord {
    /// First word of the header.
    pub id: String,
    /// Rest of the header after the id, if any.
    pub description: Option<String>,
    /// The sequence, lines joined, as written.
    pub sequence: String,
    /// Line of the `>` header.
    pub line: usize,
    /// `(line, residues on that line)` for each sequence line, to map residue positions back to lines.
    sequence_lines: Vec<(usize, usize)>,
}

impl FastaRecord {
    /// Builds a record (line numbers unknown, reported as 0).
    pub fn new(
        id: impl Into<String>,
        description: Option<String>,
        sequence: impl Into<String>,
    ) -> Self {
        let sequence = sequence.into();
        let n = sequence.chars().count();
        Self {
            id: id.into(),
            description,
            sequence,
            line: 0,
            sequence_lines: vec![(0, n)],
        }
    }

    /// The whole header line after `>` (what AlphaFold2 calls the description).
    pub fn header(&self) -> String {
        match &self.description {
            Some(d) => format!("{} {}", self.id, d),
            None => self.id.clone(),
        }
    }

    /// 1-based line of the residue at 0-based `pos`.
    pub(crate) fn line_of_residue(&self, pos: usize) -> usize {
        let mut seen = 0;
        for &(line, n) in &self.sequence_lines {
            if pos < seen + n {
                // Records made with `new` (a CSV row, an .a3m's first row) know only their own line.
                return if line == 0 { self.line } else { line };
            }
            seen += n;
        }
        self.line
    }
}

/// Errors reading or validating FASTA. Each names the file, and where it applies the line and record.
#[derive(Debug, Error)]
pub enum FastaError {
    #[error("{path}: cannot read: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: not a text file (invalid UTF-8 at line {line})")]
    NotText { path: PathBuf, line: usize },
    #[error("{path}: no FASTA records (the file is empty)")]
    Empty { path: PathBuf },
    #[error("{path}:{line}: expected a '>' header line, found {found:?}")]
    NoHeader {
        path: PathBuf,
        line: usize,
        found: String,
    },
    #[error("{path}:{line}: record has an empty header (no id after '>')")]
    EmptyId { path: PathBuf, line: usize },
    #[error("{path}:{line}: record '{id}' has no sequence")]
    EmptyRecord {
        path: PathBuf,
        id: String,
        line: usize,
    },
    #[error(
        "{path}:{line}: record '{id}', residue {position}: {found:?} is not accepted by AlphaFold2 \
         (upper-case letters only: the 20 standard amino acids, X, and B/J/O/U/Z which are read as X)"
    )]
    InvalidResidue {
        path: PathBuf,
        id: String,
        line: usize,
        position: usize,
        found: char,
    },
    #[error("{path}:{line}: duplicate record id '{id}' (first seen at line {first_line})")]
    DuplicateId {
        path: PathBuf,
        id: String,
        line: usize,
        first_line: usize,
    },
    #[error(
        "{path}:{line}: record id {id:?} cannot be used as an output directory name: {reason}"
    )]
    UnsafeId {
        path: PathBuf,
        id: String,
        line: usize,
        reason: &'static str,
    },
    /// A ColabFold `.a3m` or `.csv` input that does not read (the message says what).
    #[error("{path}:{line}: {message}")]
    Format {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: expected exactly one record, found {count}")]
    NotSingle { path: PathBuf, count: usize },
}

/// Reads every record of a FASTA file, without validation beyond FASTA syntax.
pub fn read_path(path: impl AsRef<Path>) -> Result<Vec<FastaRecord>, FastaError> {
    let path = path.as_ref();
    let bytes =
        crate::fsutil::regular::read_file_or_pipe(path).map_err(|source| FastaError::Io {
            path: path.into(),
            source,
        })?;
    parse_bytes(&bytes, path)
}

/// Parses FASTA text; `path` only names the source in errors.
pub(crate) fn parse_bytes(bytes: &[u8], path: &Path) -> Result<Vec<FastaRecord>, FastaError> {
    let text = std::str::from_utf8(bytes).map_err(|e| FastaError::NotText {
        path: path.into(),
        line: 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count(),
    })?;
    // Pre-scan for line numbers (bio does not keep them) and for leading junk.
    let mut headers = Vec::new();
    let mut seq_lines: Vec<Vec<(usize, usize)>> = Vec::new();
    let mut start = None;
    let mut offset = 0;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let line = raw.trim_end();
        if start.is_none() {
            if line.is_empty() {
                offset += raw.len();
                continue;
            }
            if !line.starts_with('>') {
                let found: String = line.chars().take(40).collect();
                return Err(FastaError::NoHeader {
                    path: path.into(),
                    line: i + 1,
                    found,
                });
            }
            start = Some(offset);
        }
        if line.starts_with('>') {
            headers.push(i + 1);
            seq_lines.push(Vec::new());
        } else if let Some(v) = seq_lines.last_mut() {
            v.push((i + 1, line.chars().count()));
        }
    }
    let Some(start) = start else {
        return Err(FastaError::Empty { path: path.into() });
    };
    let reader = bio::io::fasta::Reader::new(&text.as_bytes()[start..]);
    let mut records = Vec::with_capacity(headers.len());
    for (k, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|source| FastaError::Io {
            path: path.into(),
            source,
        })?;
        let line = headers.get(k).copied().unwrap_or(0);
        let sequence = String::from_utf8(rec.seq().to_vec()).map_err(|_| FastaError::NotText {
            path: path.into(),
            line,
        })?;
        records.push(FastaRecord {
            id: rec.id().to_string(),
            description: rec.desc().map(str::to_string),
            sequence,
            line,
            sequence_lines: seq_lines.get(k).cloned().unwrap_or_default(),
        });
    }
    Ok(records)
}

/// Why `id` cannot name an output directory, if it cannot.
pub(crate) fn unsafe_id_reason(id: &str) -> Option<&'static str> {
    if id == "." || id == ".." {
        Some("it is a relative directory name")
    } else if id.contains('/') || id.contains('\\') {
        Some("it contains a path separator")
    } else if id.chars().any(|c| c.is_control()) {
        Some("it contains a control character")
    } else if id.starts_with('.') {
        Some("it starts with '.' (a hidden file name)")
    } else if id.starts_with('-') {
        Some("it starts with '-' (read as an option by command-line tools)")
    } else if id.len() > 200 {
        Some("it is longer than 200 bytes")
    } else {
        None
    }
}

/// Checks protein records the way the pipeline needs them: at least one record, every record with an id
/// that is safe as a directory name and unique, a non-empty sequence, and only letters AlphaFold2
/// accepts (`sequence_to_onehot(..., map_unknown_to_x=True)`: any upper-case ASCII letter; the ones outside
/// the 20 standard + X are read as X; everything else, lower case included, is rejected as AlphaFold2 does).
/// The checks of [`validate_protein`] that concern one record alone: a non-empty sequence of letters
/// AlphaFold2 accepts.
pub fn validate_protein_record(r: &FastaRecord, path: &Path) -> Result<(), FastaError> {
    if r.sequence.is_empty() {
        return Err(FastaError::EmptyRecord {
            path: path.into(),
            id: r.id.clone(),
            line: r.line,
        });
    }
    if let Some((pos, c)) = r
        .sequence
        .chars()
        .enumerate()
        .find(|&(_, c)| residue_constants::restype_index_with_x(c).is_none())
    {
        return Err(FastaError::InvalidResidue {
            path: path.into(),
            id: r.id.clone(),
            line: r.line_of_residue(pos),
            position: pos + 1,
            found: c,
        });
    }
    Ok(())
}

pub fn validate_protein(records: &[FastaRecord], path: &Path) -> Result<(), FastaError> {
    if records.is_empty() {
        return Err(FastaError::Empty { path: path.into() });
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for r in records {
        if r.id.is_empty() {
            return Err(FastaError::EmptyId {
                path: path.into(),
                line: r.line,
            });
        }
        if let Some(reason) = unsafe_id_reason(&r.id) {
            return Err(FastaError::UnsafeId {
                path: path.into(),
                id: r.id.clone(),
                line: r.line,
                reason,
            });
        }
        if let Some(&first_line) = seen.get(r.id.as_str()) {
            return Err(FastaError::DuplicateId {
                path: path.into(),
                id: r.id.clone(),
                line: r.line,
                first_line,
            });
        }
        seen.insert(&r.id, r.line);
        validate_protein_record(r, path)?;
    }
    Ok(())
}

/// Writes records as FASTA (through `bio`), sequences wrapped at 60 columns.
pub struct Writer<W: Write> {
    inner: bio::io::fasta::Writer<W>,
}

impl<W: Write> Writer<W> {
    /// Wraps a writer.
    pub fn new(w: W) -> Self {
        let mut inner = bio::io::fasta::Writer::new(w);
        inner.set_linewrap(Some(60));
        Self { inner }
    }

    /// Writes one record.
    pub fn write(&mut self, r: &FastaRecord) -> io::Result<()> {
        self.inner
            .write(&r.id, r.description.as_deref(), r.sequence.as_bytes())
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Vec<FastaRecord>, FastaError> {
        let p = Path::new("t.fasta");
        let r = parse_bytes(s.as_bytes(), p)?;
        validate_protein(&r, p)?;
        Ok(r)
    }

    #[test]
    fn reads_records_with_lines() {
        let r = parse("\n>a desc here\nMKV\nLLA\n>b\nGG\n").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].id.as_str(), r[0].description.as_deref()),
            ("a", Some("desc here"))
        );
        assert_eq!(r[0].sequence, "MKVLLA");
        assert_eq!(r[0].line, 2);
        assert_eq!(r[0].line_of_residue(4), 4);
        assert_eq!(r[1].line, 5);
        assert_eq!(r[0].header(), "a desc here");
    }

    #[test]
    fn errors_name_line_record_and_position() {
        let e = parse(">a\nMKV\nLLa\n").unwrap_err().to_string();
        assert!(
            e.contains("t.fasta:3") && e.contains("'a'") && e.contains("residue 6"),
            "{e}"
        );
        let e = parse(">a\nMKV*\n").unwrap_err().to_string();
        assert!(e.contains("residue 4") && e.contains("'*'"), "{e}");
        assert!(matches!(parse(""), Err(FastaError::Empty { .. })));
        assert!(matches!(parse("\n\n"), Err(FastaError::Empty { .. })));
        assert!(matches!(
            parse("MKV\n"),
            Err(FastaError::NoHeader { line: 1, .. })
        ));
        assert!(matches!(
            parse(">a\n>b\nMK\n"),
            Err(FastaError::EmptyRecord { line: 1, .. })
        ));
        assert!(matches!(
            parse(">a\nMK\n>a\nMK\n"),
            Err(FastaError::DuplicateId {
                line: 3,
                first_line: 1,
                ..
            })
        ));
        assert!(matches!(
            parse(">../../etc/x\nMK\n"),
            Err(FastaError::UnsafeId { .. })
        ));
        assert!(matches!(
            parse(">..\nMK\n"),
            Err(FastaError::UnsafeId { .. })
        ));
        assert!(matches!(parse(">\nMK\n"), Err(FastaError::EmptyId { .. })));
        assert!(matches!(
            parse_bytes(b">a\n\xff\xfe\n", Path::new("x")),
            Err(FastaError::NotText { line: 2, .. })
        ));
    }

    #[test]
    fn nonstandard_uppercase_is_accepted() {
        assert!(parse(">a\nMKBZUOJX\n").is_ok());
    }

    #[test]
    fn writer_round_trips() {
        let recs = [FastaRecord::new("x", Some("y z".into()), "A".repeat(70))];
        let mut out = Vec::new();
        {
            let mut w = Writer::new(&mut out);
            w.write(&recs[0]).unwrap();
            w.flush().unwrap();
        }
        let text = String::from_utf8(out.clone()).unwrap();
        assert_eq!(
            text,
            format!(">x y z\n{}\n{}\n", "A".repeat(60), "A".repeat(10))
        );
        let back = parse_bytes(&out, Path::new("o")).unwrap();
        assert_eq!(back[0].sequence, recs[0].sequence);
    }
}
