//! A protein sequence database in memory: FASTA or gzipped FASTA, residues encoded for alignment.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Errors loading a database; each names the file and line.
#[derive(Debug, Error)]
pub enum DbError {
    #[error("{path}: cannot read: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{path}: is a directory, not a sequence database file")]
    IsDirectory { path: PathBuf },
    #[error("{path}:{line}: {message}")]
    Format {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: no sequences (empty or not FASTA)")]
    Empty { path: PathBuf },
}

/// Code of a residue letter for alignment: the 20 standard amino acids in AlphaFold2's order, anything else
/// (B, Z, J, U, O, X) as X (20).
pub(crate) fn encode(c: u8) -> u8 {
    crate::residue_constants::restype_index_with_x((c as char).to_ascii_uppercase()).unwrap_or(20)
        as u8
}

/// An encoded database.
#[derive(Debug, Clone, Default)]
pub struct SequenceDb {
    pub path: PathBuf,
    /// Header after `>`.
    pub headers: Vec<String>,
    /// Upper-case residue letters of every sequence, concatenated.
    pub residues: Vec<u8>,
    /// Codes (0..=20) of `residues`.
    pub codes: Vec<u8>,
    /// Start of each sequence in `residues`, plus the total length at the end.
    pub offsets: Vec<usize>,
    /// For every position, the index (base 20) of the 3-mer of standard residues starting there within
    /// its sequence, [`NO_KMER`] where there is none (an X, B, Z… in it, or the sequence ends): made once at
    /// load so the search's prefilter only looks them up.
    pub kmers: Vec<u16>,
}

/// Longest line a database may have (sequences unwrapped on one line included).
pub const MAX_LINE_BYTES: usize = 1 << 24;
/// Longest database sequence: far beyond any protein (titin, the longest known, has ~35,000 residues).
pub const MAX_SEQUENCE_RESIDUES: usize = 1_000_000;

/// No 3-mer starts at this position.
pub const NO_KMER: u16 = u16::MAX;

impl SequenceDb {
    /// Loads a FASTA file, gzipped when its name ends in `.gz`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, DbError> {
        let mut whole = None;
        Self::load_chunks(path, usize::MAX, |chunk| {
            whole = Some(chunk);
            Ok(())
        })?;
        Ok(whole.expect("a non-empty database gives one chunk"))
    }

    /// Reads the database in chunks of about `max_residues` residues (whole records; a record longer
    /// than the limit is a chunk of its own), handing each to `f` in file order: memory stays bounded by
    /// one chunk however large the database. An empty database is an error.
    pub fn load_chunks(
        path: impl AsRef<Path>,
        max_residues: usize,
        f: impl FnMut(SequenceDb) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        Self::read_chunks(path.as_ref(), max_residues, true, f)
    }

    /// Sequences and residues of the database, read in chunks of `max_residues` without building the
    /// k-mer index (a streamed search's first pass).
    pub fn count(path: impl AsRef<Path>, max_residues: usize) -> Result<(usize, usize), DbError> {
        let (mut sequences, mut residues) = (0, 0);
        Self::read_chunks(path.as_ref(), max_residues, false, |c| {
            sequences += c.len();
            residues += c.residues.len();
            Ok(())
        })?;
        Ok((sequences, residues))
    }

    fn read_chunks(
        path: &Path,
        max_residues: usize,
        index: bool,
        mut f: impl FnMut(SequenceDb) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        if path.is_dir() {
            return Err(DbError::IsDirectory { path: path.into() });
        }
        let file = crate::fsutil::regular::open(path).map_err(|e| DbError::Io {
            path: path.into(),
            message: e.to_string(),
        })?;
        let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
            Box::new(flate2::read::MultiGzDecoder::new(file))
        } else {
            Box::new(file)
        };
        let fresh = || SequenceDb {
            path: path.into(),
            ..Default::default()
        };
        let mut db = fresh();
        let mut any = false;
        let mut started = false;
        let mut reader = BufReader::with_capacity(1 << 20, reader);
        let mut line = Vec::new();
        let mut record_start = 0usize;
        for i in 0.. {
            // Lines and records are bounded, so a device or a decompression bomb (one endless line or
            // sequence) is an error naming the line, not an exhausted memory.
            line.clear();
            let n = (&mut reader)
                .take(MAX_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut line)
                .map_err(|e| DbError::Io {
                    path: path.into(),
                    message: format!("line {}: {e}", i + 1),
                })?;
            if n == 0 {
                break;
            }
            if line.len() > MAX_LINE_BYTES {
                return Err(DbError::Format {
                    path: path.into(),
                    line: i + 1,
                    message: format!(
                        "a line longer than {MAX_LINE_BYTES} bytes: not a FASTA database"
                    ),
                });
            }
            let line = line.strip_suffix(b"\n").unwrap_or(&line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(h) = line.strip_prefix(b">") {
                // A full chunk is handed over before the next record starts.
                if !db.headers.is_empty() && db.residues.len() >= max_residues {
                    f(db.finish(index))?;
                    db = fresh();
                }
                db.offsets.push(db.residues.len());
                record_start = db.residues.len();
                db.headers
                    .push(String::from_utf8_lossy(h).trim().to_string());
                started = true;
                any = true;
            } else if !line.is_empty() {
                if !started {
                    return Err(DbError::Format {
                        path: path.into(),
                        line: i + 1,
                        message: "sequence data before the first '>' header".into(),
                    });
                }
                for &c in line {
                    if c.is_ascii_alphabetic() {
                        let u = c.to_ascii_uppercase();
                        db.residues.push(u);
                        db.codes.push(encode(u));
                    } else if c != b'*' && !c.is_ascii_whitespace() {
                        return Err(DbError::Format {
                            path: path.into(),
                            line: i + 1,
                            message: format!("character {:?} in a sequence", c as char),
                        });
                    }
                }
                if db.residues.len() - record_start > MAX_SEQUENCE_RESIDUES {
                    return Err(DbError::Format {
                        path: path.into(),
                        line: i + 1,
                        message: format!(
                            "record '{}' is longer than {MAX_SEQUENCE_RESIDUES} residues: not a protein sequence database",
                            db.headers.last().map(String::as_str).unwrap_or("")
                        ),
                    });
                }
            }
        }
        if !any {
            return Err(DbError::Empty { path: path.into() });
        }
        if !db.headers.is_empty() {
            f(db.finish(index))?;
        }
        Ok(())
    }

    /// Closes the offsets and builds the k-mer index (when `index`).
    fn finish(mut self, index: bool) -> Self {
        self.offsets.push(self.residues.len());
        if !index {
            return self;
        }
        self.kmers = vec![NO_KMER; self.codes.len()];
        for w in self.offsets.windows(2) {
            let (start, end) = (w[0], w[1]);
            for p in start..end.saturating_sub(super::K - 1) {
                if let Some(k) = super::kmer(&self.codes[p..p + super::K]) {
                    self.kmers[p] = k as u16;
                }
            }
        }
        self
    }

    /// 3-mer indices of sequence `i` (see [`SequenceDb::kmers`]).
    pub(crate) fn kmers_of(&self, i: usize) -> &[u16] {
        &self.kmers[self.offsets[i]..self.offsets[i + 1]]
    }

    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.headers.len()
    }

    /// Whether the database has no sequences.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// Total residues.
    pub fn total_residues(&self) -> usize {
        self.residues.len()
    }

    /// Codes of sequence `i`.
    pub(crate) fn codes_of(&self, i: usize) -> &[u8] {
        &self.codes[self.offsets[i]..self.offsets[i + 1]]
    }

    /// Letters of sequence `i`.
    pub fn residues_of(&self, i: usize) -> &[u8] {
        &self.residues[self.offsets[i]..self.offsets[i + 1]]
    }
}
