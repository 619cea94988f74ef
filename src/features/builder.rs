//! Features from precomputed alignments (AlphaFold2's data pipeline with `use_precomputed_msas`), or from
//! the query alone (single-sequence mode).
//!
//! Alignment files are recognised by AlphaFold2's / OpenFold's file names and merged in AlphaFold2's order
//! uniref90 → BFD → MGnify, with AlphaFold2's hit limits (uniref90 10,000 rows, MGnify 501; BFD none).
//! Files with other names (ColabFold's `<target>.a3m`, hand-made alignments) are appended after those.

use std::path::{Path, PathBuf};

use super::{
    make_msa_features, make_sequence_features, single_sequence_msa, FeatureError, RawFeatures,
    TemplateFeatures,
};
use crate::io::a3m::A3m;
use crate::io::msa::{Msa, MsaError};
use crate::io::stockholm::Stockholm;
use crate::query::Query;

/// Which database an alignment came from; decides its place in the merged MSA and its row limit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MsaRole {
    Uniref90,
    Bfd,
    Mgnify,
    /// Any other alignment, merged after the three above in the order given.
    Other,
}

impl MsaRole {
    /// Short name used in logs and provenance.
    pub fn name(&self) -> &'static str {
        match self {
            MsaRole::Uniref90 => "uniref90",
            MsaRole::Bfd => "bfd",
            MsaRole::Mgnify => "mgnify",
            MsaRole::Other => "other",
        }
    }
}

/// What a file in an alignments directory is to the monomer pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MsaFileKind {
    /// An alignment to merge.
    Msa(MsaRole),
    /// Template hits in HH-suite's `.hhr` format (`pdb70_hits.hhr`), used with `--template-mmcif-dir`.
    TemplateHits,
    /// A file the monomer pipeline does not use (multimer pairing MSA, Stockholm template hits), with why.
    Unused(&'static str),
}

/// Classifies a file by AlphaFold2's / OpenFold's names: `uniref90_hits.sto`, `bfd_uniref_hits.a3m`,
/// `bfd_uniclust_hits.a3m`, `small_bfd_hits.sto`, `mgnify_hits.sto`; `*.hhr` and `pdb_hits.sto` are
/// template hits; `uniprot_hits.sto` (multimer pairing) is not used; any other `.a3m`/`.sto` is `Other`.
pub fn classify(path: &Path) -> MsaFileKind {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let stem = name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s);
    match stem {
        "uniref90_hits" => MsaFileKind::Msa(MsaRole::Uniref90),
        "bfd_uniref_hits" | "bfd_uniclust_hits" | "small_bfd_hits" => {
            MsaFileKind::Msa(MsaRole::Bfd)
        }
        "mgnify_hits" => MsaFileKind::Msa(MsaRole::Mgnify),
        "uniprot_hits" => MsaFileKind::Unused("multimer pairing alignment (monomer pipeline)"),
        _ if name.ends_with(".hhr") => MsaFileKind::TemplateHits,
        // hmmsearch's template hits (AlphaFold-Multimer's path).
        "pdb_hits" => MsaFileKind::TemplateHits,
        _ => MsaFileKind::Msa(MsaRole::Other),
    }
}

/// AlphaFold2's row limits for precomputed alignments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsaLimits {
    /// `uniref_max_hits` (10,000).
    pub uniref_max_hits: usize,
    /// `mgnify_max_hits` (501).
    pub mgnify_max_hits: usize,
}

impl Default for MsaLimits {
    fn default() -> Self {
        Self {
            uniref_max_hits: 10_000,
            mgnify_max_hits: 501,
        }
    }
}

impl MsaLimits {
    fn for_role(&self, role: &MsaRole) -> Option<usize> {
        match role {
            MsaRole::Uniref90 => Some(self.uniref_max_hits),
            MsaRole::Mgnify => Some(self.mgnify_max_hits),
            _ => None,
        }
    }
}

/// One alignment file and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsaInput {
    pub path: PathBuf,
    pub role: MsaRole,
}

impl MsaInput {
    /// An alignment whose role is taken from its file name ([`classify`]; unused kinds become `Other`).
    pub fn from_path(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let role = match classify(&path) {
            MsaFileKind::Msa(r) => r,
            MsaFileKind::Unused(_) | MsaFileKind::TemplateHits => MsaRole::Other,
        };
        Self { path, role }
    }
}

/// How one alignment contributed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsaUsage {
    pub path: PathBuf,
    pub role: MsaRole,
    /// Rows read from the file.
    pub rows: usize,
    /// Rows kept after the role's limit.
    pub rows_used: usize,
}

/// Errors building features; each names the file or the feature that failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Msa(#[from] MsaError),
    #[error("{path}: {source}")]
    Feature { path: PathBuf, source: FeatureError },
    #[error("query '{id}': {source}")]
    Query { id: String, source: FeatureError },
    #[error("{path}: unknown alignment format (expected .a3m or .sto)")]
    UnknownFormat { path: PathBuf },
}

/// Reads an alignment file (`.a3m` or `.sto`, by extension) into query columns, applying `limit` rows.
pub(crate) fn read_msa(path: &Path, limit: Option<usize>) -> Result<(Msa, usize), BuildError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let mut msa = match ext.as_str() {
        "sto" | "stockholm" => {
            let mut sto = Stockholm::read_path(path)?;
            let rows = sto.names.len();
            if let Some(max) = limit {
                sto.truncate(max);
            }
            let m = sto.to_msa(path)?;
            return Ok((m, rows));
        }
        "a3m" => A3m::read_path(path)?.to_msa(path)?,
        _ => return Err(BuildError::UnknownFormat { path: path.into() }),
    };
    let rows = msa.depth();
    if let Some(max) = limit {
        msa.truncate(max);
    }
    Ok((msa, rows))
}

/// Checks that an alignment's first row is the query.
pub(crate) fn check_query(
    msa: &Msa,
    query: &Query,
    path: &Path,
    query_source: &str,
) -> Result<(), MsaError> {
    let first = msa.sequences.first().map(String::as_str).unwrap_or("");
    if first == query.sequence {
        return Ok(());
    }
    let detail = match first
        .chars()
        .zip(query.sequence.chars())
        .position(|(a, b)| a != b)
    {
        Some(i) => format!(
            "first row (line {}) has {:?} at residue {}, the query has {:?}",
            msa.lines.first().copied().unwrap_or(0),
            first.chars().nth(i).unwrap_or('?'),
            i + 1,
            query.sequence.chars().nth(i).unwrap_or('?')
        ),
        None => format!(
            "first row (line {}) is {} residues long, the query {}",
            msa.lines.first().copied().unwrap_or(0),
            first.chars().count(),
            query.len()
        ),
    };
    Err(MsaError::QueryMismatch {
        path: path.into(),
        query_source: query_source.into(),
        detail,
    })
}

/// Builds raw features for queries from precomputed alignments, or from the query alone.
#[derive(Debug, Clone, Default)]
pub struct FeatureBuilder {
    msas: Vec<MsaInput>,
    limits: MsaLimits,
}

/// Features and how they were made.
#[derive(Debug, Clone)]
pub struct BuiltFeatures {
    pub features: RawFeatures,
    pub msas: Vec<MsaUsage>,
}

impl FeatureBuilder {
    /// Single-sequence mode: the MSA is the query alone.
    pub fn single_sequence() -> Self {
        Self::default()
    }

    /// From precomputed alignments (merged in role order, then in the order given).
    pub fn from_msas(msas: Vec<MsaInput>) -> Self {
        Self {
            msas,
            limits: MsaLimits::default(),
        }
    }

    /// Overrides AlphaFold2's row limits.
    pub(crate) fn with_limits(mut self, limits: MsaLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The alignments in merge order.
    pub(crate) fn ordered_msas(&self) -> Vec<MsaInput> {
        let mut v = self.msas.clone();
        v.sort_by_key(|m| m.role.clone()); // stable: equal roles keep the given order
        v
    }

    /// Builds the features of `query`. `query_source` names where the query came from (for mismatch errors).
    pub fn build(&self, query: &Query, query_source: &str) -> Result<BuiltFeatures, BuildError> {
        let sequence =
            make_sequence_features(&query.sequence, &query.description).map_err(|source| {
                BuildError::Query {
                    id: query.id.clone(),
                    source,
                }
            })?;
        let mut loaded = Vec::new();
        let mut usage = Vec::new();
        for input in self.ordered_msas() {
            let (msa, rows) = read_msa(&input.path, self.limits.for_role(&input.role))?;
            check_query(&msa, query, &input.path, query_source)?;
            usage.push(MsaUsage {
                path: input.path.clone(),
                role: input.role.clone(),
                rows,
                rows_used: msa.depth(),
            });
            loaded.push((input.path.clone(), msa));
        }
        if loaded.is_empty() {
            loaded.push((
                PathBuf::from(query_source),
                single_sequence_msa(&query.sequence, &query.description),
            ));
        }
        let names: Vec<String> = loaded
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect();
        let refs: Vec<(&str, &Msa)> = names
            .iter()
            .map(String::as_str)
            .zip(loaded.iter().map(|(_, m)| m))
            .collect();
        let msa = make_msa_features(&refs).map_err(|source| BuildError::Feature {
            path: loaded.first().map(|(p, _)| p.clone()).unwrap_or_default(),
            source,
        })?;
        let templates = TemplateFeatures::empty(query.len());
        Ok(BuiltFeatures {
            features: RawFeatures {
                sequence,
                msa,
                templates,
            },
            msas: usage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_alphafold_names() {
        assert_eq!(
            classify(Path::new("x/uniref90_hits.sto")),
            MsaFileKind::Msa(MsaRole::Uniref90)
        );
        assert_eq!(
            classify(Path::new("bfd_uniclust_hits.a3m")),
            MsaFileKind::Msa(MsaRole::Bfd)
        );
        assert_eq!(
            classify(Path::new("bfd_uniref_hits.a3m")),
            MsaFileKind::Msa(MsaRole::Bfd)
        );
        assert_eq!(
            classify(Path::new("mgnify_hits.sto")),
            MsaFileKind::Msa(MsaRole::Mgnify)
        );
        assert_eq!(
            classify(Path::new("T1050.a3m")),
            MsaFileKind::Msa(MsaRole::Other)
        );
        assert_eq!(
            classify(Path::new("pdb70_hits.hhr")),
            MsaFileKind::TemplateHits
        );
        assert!(matches!(
            classify(Path::new("uniprot_hits.sto")),
            MsaFileKind::Unused(_)
        ));
    }

    #[test]
    fn merge_order_is_uniref_bfd_mgnify_then_others() {
        let b = FeatureBuilder::from_msas(vec![
            MsaInput::from_path("z.a3m"),
            MsaInput::from_path("mgnify_hits.sto"),
            MsaInput::from_path("bfd_uniclust_hits.a3m"),
            MsaInput::from_path("uniref90_hits.sto"),
        ]);
        let order: Vec<_> = b.ordered_msas().iter().map(|m| m.role.name()).collect();
        assert_eq!(order, vec!["uniref90", "bfd", "mgnify", "other"]);
    }

    #[test]
    fn single_sequence_mode() {
        let q = Query {
            id: "q".into(),
            description: "q".into(),
            sequence: "MKV".into(),
        };
        let f = FeatureBuilder::single_sequence()
            .build(&q, "q.fasta")
            .unwrap()
            .features;
        assert_eq!(f.msa.msa.dim(), (1, 3));
        assert_eq!(f.msa.msa.row(0).to_vec(), vec![10, 8, 17]);
        assert_eq!(f.templates.count(), 0);
    }
}
