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

/// One chain of a complex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplexChain {
    /// AlphaFold2's chain id: A, B, ... in input order (then a..z, 0..9).
    pub id: String,
    /// The chain's own record id (`--complex`), or `<target>_<chain id>` for a `:`-separated record.
    pub name: String,
    /// The residues as written (upper case).
    pub sequence: String,
}

/// A complex target: its chains in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Complex {
    /// Names the output folder: the record id (`:` form) or the FASTA file's stem (`--complex`).
    pub id: String,
    /// The header (`:` form) or the chains' record ids joined by spaces.
    pub description: String,
    pub chains: Vec<ComplexChain>,
}

impl Complex {
    /// Total residues.
    pub fn len(&self) -> usize {
        self.chains.iter().map(|c| c.sequence.len()).sum()
    }

    /// Whether there are no residues (never true for a validated complex).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The chains' sequences joined by `:` (ColabFold's notation).
    pub fn colon_sequence(&self) -> String {
        self.chains
            .iter()
            .map(|c| c.sequence.as_str())
            .collect::<Vec<_>>()
            .join(":")
    }

    /// The distinct sequences, in order of first appearance, with the chain ids that have each.
    pub fn entities(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for c in &self.chains {
            match out.iter_mut().find(|(s, _)| *s == c.sequence) {
                Some((_, ids)) => ids.push(c.id.clone()),
                None => out.push((c.sequence.clone(), vec![c.id.clone()])),
            }
        }
        out
    }
}

/// A target of the `features` stage: one chain, or a complex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Monomer(Query),
    Complex(Complex),
}

impl Target {
    /// The output folder's name.
    pub fn id(&self) -> &str {
        match self {
            Target::Monomer(q) => &q.id,
            Target::Complex(c) => &c.id,
        }
    }
}

fn complex_err(path: &Path, line: usize, message: String) -> FastaError {
    FastaError::Format {
        path: path.into(),
        line,
        message,
    }
}

/// Chains named from `parts` (sequence, name, record for error lines); each validated as a protein.
fn complex_chains(
    path: &Path,
    target: &str,
    parts: Vec<(String, String, usize)>,
) -> Result<Vec<ComplexChain>, FastaError> {
    let Some(ids) = crate::features::multimer::chain_ids(parts.len()) else {
        return Err(complex_err(
            path,
            parts.first().map_or(0, |p| p.2),
            format!(
                "'{target}' has {} chains; AlphaFold-Multimer names at most 62 (A-Z, a-z, 0-9)",
                parts.len()
            ),
        ));
    };
    let mut out = Vec::new();
    for ((seq, name, line), id) in parts.into_iter().zip(ids) {
        let record = FastaRecord::new(name.clone(), None, seq.clone());
        fasta::validate_protein_record(&record, path).map_err(|e| match e {
            FastaError::InvalidResidue { position, found, .. } => complex_err(
                path,
                line,
                format!("'{target}' chain {id}: residue {position} is {found:?}, not an amino acid AlphaFold2 reads"),
            ),
            other => other,
        })?;
        out.push(ComplexChain {
            id: id.to_string(),
            name,
            sequence: seq,
        });
    }
    Ok(out)
}

/// Reads the targets of a FASTA file (or ColabFold `.a3m` / `.csv` input): a record whose sequence holds
/// `:` is a complex of those chains (ColabFold's notation); with `complex` every record of the file is
/// one chain of a single complex named after the file (AlphaFold2's multimer FASTA); other records are
/// single chains.
pub fn read_targets(path: impl AsRef<Path>, complex: bool) -> Result<Vec<Target>, FastaError> {
    let path = path.as_ref();
    let kind = crate::io::colabfold::InputKind::of(path);
    if kind == crate::io::colabfold::InputKind::A3m {
        if let Some(c) = crate::io::colabfold::read_complex_a3m(path)? {
            return Ok(vec![Target::Complex(complex_from_a3m(path, &c)?)]);
        }
    }
    let mut records = if kind == crate::io::colabfold::InputKind::Fasta {
        fasta::read_path(path)?
    } else {
        let mut records = crate::io::colabfold::read_records(path)?;
        fasta::validate_protein(&records, path)?;
        name_folders(path, &mut records);
        return Ok(records
            .iter()
            .map(|r| Target::Monomer(Query::from_record(r)))
            .collect());
    };
    if records.is_empty() {
        return Err(FastaError::Empty { path: path.into() });
    }
    let split = |r: &FastaRecord| split_chains(path, r);
    if complex {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "complex".into());
        let stem = stem.split('.').next().unwrap_or("complex").to_string();
        let mut parts = Vec::new();
        for r in &records {
            if r.id.is_empty() {
                return Err(FastaError::EmptyId {
                    path: path.into(),
                    line: r.line,
                });
            }
            if r.sequence.is_empty() {
                return Err(FastaError::EmptyRecord {
                    path: path.into(),
                    id: r.id.clone(),
                    line: r.line,
                });
            }
            for (k, seq) in split(r)?.into_iter().enumerate() {
                let name = if k == 0 {
                    r.id.clone()
                } else {
                    format!("{}_{}", r.id, k + 1)
                };
                parts.push((seq, name, r.line));
            }
        }
        if let Some(reason) = fasta::unsafe_id_reason(&stem) {
            return Err(complex_err(
                path,
                1,
                format!("the file name '{stem}' names the complex's folder but {reason}"),
            ));
        }
        let chains = complex_chains(path, &stem, parts)?;
        return Ok(vec![Target::Complex(Complex {
            id: stem,
            description: records
                .iter()
                .map(|r| r.id.clone())
                .collect::<Vec<_>>()
                .join(" "),
            chains,
        })]);
    }
    // Ids, duplicates and residues of the whole file as for single chains (complexes are checked as they
    // are read below).
    let mut checked: Vec<FastaRecord> = records.clone();
    for r in checked.iter_mut() {
        if r.sequence.contains(':') {
            r.sequence = "A".into();
        }
    }
    fasta::validate_protein(&checked, path)?;
    name_folders(path, &mut records);
    let mut singles = Vec::new();
    for r in &records {
        if r.sequence.contains(':') {
            singles.push(Target::Complex(complex_from_colon_record(path, r)?));
        } else {
            singles.push(Target::Monomer(Query::from_record(r)));
        }
    }
    Ok(singles)
}

/// Gives each record its target folder's name as its id, as `run` does ([`FolderNames`]: UniProt's
/// `sp|P69905|HBA_HUMAN` becomes `sp_P69905_HBA_HUMAN`), so that `features` and `run` write one record
/// to one folder and hash the same header.
fn name_folders(path: &Path, records: &mut [FastaRecord]) {
    let mut names = FolderNames::default();
    for r in records {
        r.id = names.name(path, r.line, &r.id);
    }
}

/// The complex of a record whose sequence separates chains with `:` (ColabFold's notation): chains A, B,
/// … named `<id>_<chain id>`; an empty chain or a chain that is not a protein is an error naming the file,
/// line and chain.
pub fn complex_from_colon_record(path: &Path, r: &FastaRecord) -> Result<Complex, FastaError> {
    let mut parts = Vec::new();
    for (k, seq) in split_chains(path, r)?.into_iter().enumerate() {
        let id = crate::features::multimer::chain_ids(k + 1)
            .and_then(|v| v.last().copied())
            .unwrap_or('?');
        parts.push((seq, format!("{}_{id}", r.id), r.line));
    }
    Ok(Complex {
        id: r.id.clone(),
        description: r.header(),
        chains: complex_chains(path, &r.id, parts)?,
    })
}

/// A record's chains (`:`-separated); an empty one is an error naming the file, line and chain.
fn split_chains(path: &Path, r: &FastaRecord) -> Result<Vec<String>, FastaError> {
    let parts: Vec<String> = r.sequence.split(':').map(str::to_string).collect();
    if let Some(k) = parts.iter().position(|p| p.is_empty()) {
        return Err(complex_err(
            path,
            r.line,
            format!(
                "'{}': chain {} is empty (a ':' at the start or end, or '::')",
                r.id,
                k + 1
            ),
        ));
    }
    Ok(parts)
}

/// The complex of a ColabFold complex alignment: named after the file, each distinct chain repeated as
/// often as the `#` line says, chain ids in that order.
pub fn complex_from_a3m(
    path: &Path,
    a: &crate::io::colabfold::ComplexA3m,
) -> Result<Complex, FastaError> {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "complex".into());
    if let Some(reason) = fasta::unsafe_id_reason(&stem) {
        return Err(complex_err(
            path,
            1,
            format!("the file name '{stem}' names the complex's folder but {reason}"),
        ));
    }
    let mut parts = Vec::new();
    for (seq, &copies) in a.sequences.iter().zip(&a.cardinality) {
        for _ in 0..copies {
            parts.push((seq.clone(), String::new(), 1));
        }
    }
    let mut chains = complex_chains(path, &stem, parts)?;
    for c in &mut chains {
        c.name = format!("{stem}_{}", c.id);
    }
    Ok(Complex {
        description: format!("{stem} (ColabFold complex alignment)"),
        id: stem,
        chains,
    })
}

/// A folder name from a record id: path separators, `|` (UniProt's `tr|F8AN26|F8AN26_METOI` becomes
/// `tr_F8AN26_F8AN26_METOI`, as ColabFold names it), control characters and whitespace become `_`,
/// leading `.` and `-` too; at most 100 bytes (cut at a character boundary, so multi-byte ids fit the
/// same limit as ASCII ones); never empty.
pub(crate) fn sanitize_id(id: &str) -> String {
    const MAX_FOLDER_BYTES: usize = 100;
    let mut s: String = id
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c == '|' || c.is_control() || c.is_whitespace() {
                '_'
            } else {
                c
            }
        })
        .collect();
    while s.starts_with('.') || s.starts_with('-') {
        s.replace_range(0..1, "_");
    }
    let mut end = s.len().min(MAX_FOLDER_BYTES);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let s = s[..end].to_string();
    if s.is_empty() {
        "target".into()
    } else {
        s
    }
}

/// Unique target folder names for record ids, the same in `features` and `run`: [`sanitize_id`], and
/// `_2`, `_3`, … for a name already given.
#[derive(Debug, Default)]
pub(crate) struct FolderNames {
    used: std::collections::HashSet<String>,
    /// The next suffix to try per base name: linear in the number of targets sharing it.
    next_suffix: std::collections::HashMap<String, usize>,
}

impl FolderNames {
    /// The folder of record `id` (at `path:line`), logged when it is not the id itself.
    pub(crate) fn name(&mut self, path: &Path, line: usize, id: &str) -> String {
        let base = sanitize_id(id);
        let mut name = base.clone();
        let k = self.next_suffix.entry(base.clone()).or_insert(2usize);
        while self.used.contains(&name) {
            name = format!("{base}_{k}");
            *k += 1;
        }
        self.used.insert(name.clone());
        if name != id {
            tracing::warn!(
                "{}:{line}: record '{id}' is written to folder '{name}'",
                path.display()
            );
        }
        name
    }
}
