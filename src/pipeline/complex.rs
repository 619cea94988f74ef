//! The `features` stage for a complex: per-chain alignments (AlphaFold2's `msas/<chain>/` folders,
//! OpenFold's per-chain folders) or the chains alone, each distinct sequence's monomer features and (for
//! heteromers) the features of its UniProt hits, made into AlphaFold-Multimer's example
//! ([`crate::features::multimer`]) and written to `<out>/<complex>/features.h5` with the alignments used
//! in `<out>/<complex>/msas/<chain id>/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use tracing::{info, warn};

use super::features::{
    io_err, new_provenance, record_features_time, template_features, DatabaseRecord,
    FeaturesOptions, FeaturesStageError, MsaSource, Outcome, TargetReport, FEATURES_FILE, MSAS_DIR,
};
use crate::features::builder::{classify, FeatureBuilder, MsaFileKind, MsaInput};
use crate::features::multimer::{
    all_seq_features, make_multimer_features_with, ChainInput, Pairing,
};
use crate::features::{make_msa_features, single_sequence_msa, MsaFeatures, TemplateFeatures};
use crate::fsutil::checksum::{sha256_file, InputHash};
use crate::fsutil::tree;
use crate::io::features_h5::{self, FORMAT_VERSION};
use crate::query::{Complex, ComplexChain, Query};

/// One distinct sequence's files: alignments, UniProt hits (pairing), template hits.
#[derive(Debug, Default)]
struct ChainFiles {
    msas: Vec<MsaInput>,
    uniprot: Option<PathBuf>,
    template_hits: Option<PathBuf>,
}

/// The folder holding `chain`'s alignments below `dir`: `dir/<complex>/msas/<chain id>/` (an AlphaFold2
/// or ferrofold output), `dir/<complex>/<chain id>/`, `dir/<chain name>/` (OpenFold's per-chain
/// folders) or `dir/<chain id>/`.
fn chain_dir(dir: &Path, c: &Complex, chain: &ComplexChain) -> Result<PathBuf, FeaturesStageError> {
    let candidates = [
        dir.join(&c.id).join(MSAS_DIR).join(&chain.id),
        dir.join(&c.id).join(&chain.id),
        dir.join(&chain.name),
        dir.join(&chain.id),
    ];
    candidates
        .iter()
        .find(|p| p.is_dir())
        .cloned()
        .ok_or_else(|| FeaturesStageError::Io {
            path: dir.into(),
            message: format!(
                "no alignment folder for chain {} of '{}' (looked for {})",
                chain.id,
                c.id,
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

fn chain_files(dir: &Path) -> Result<ChainFiles, FeaturesStageError> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    let mut out = ChainFiles::default();
    for p in entries {
        let ext = p
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let stem = p
            .file_stem()
            .map(|s| s.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if stem == "uniprot_hits" && (ext == "sto" || ext == "a3m") {
            out.uniprot = Some(p);
            continue;
        }
        match classify(&p) {
            MsaFileKind::Msa(_) if ext == "a3m" || ext == "sto" => {
                out.msas.push(MsaInput::from_path(p))
            }
            // hmmsearch's hits (AlphaFold-Multimer's template path) first, else HH-suite's.
            MsaFileKind::TemplateHits
                if out
                    .template_hits
                    .as_ref()
                    .is_none_or(|h| h.extension().is_none_or(|e| e != "sto")) =>
            {
                out.template_hits = Some(p)
            }
            _ => {}
        }
    }
    if out.msas.is_empty() {
        return Err(FeaturesStageError::Io {
            path: dir.into(),
            message: "no alignments (.a3m / .sto) for this chain".into(),
        });
    }
    Ok(out)
}

/// Where a distinct sequence's alignments come from.
#[derive(Debug, Clone)]
enum ChainSource {
    /// The chain alone (`--single-sequence`).
    Alone,
    /// A per-chain folder of `--msa-dir`.
    Folder(PathBuf),
    /// The searches of the features stage, run for the chain into `msas/<chain id>/`.
    Search,
    /// A distinct chain of a ColabFold complex alignment `path`: its unpaired rows and (heteromers) its
    /// paired rows, as the file was read once.
    ColabfoldA3m {
        path: PathBuf,
        unpaired: String,
        paired: Option<String>,
    },
    /// ColabFold's MSA server: unpaired rows per chain, paired rows from its `pair` endpoint.
    Server,
}

/// The complex's distinct sequences with their first chain and where their alignments come from.
fn entity_sources(
    c: &Complex,
    opts: &FeaturesOptions,
) -> Result<Vec<(ComplexChain, ChainSource)>, FeaturesStageError> {
    let mut out = Vec::new();
    let heteromer = c.entities().len() > 1;
    // A ColabFold complex alignment input is the MSA of every chain.
    let colabfold_a3m = match &opts.msas {
        MsaSource::Files(files) if files.len() == 1 => {
            crate::io::colabfold::read_complex_a3m(&files[0])
                .map_err(|e| FeaturesStageError::Search(e.to_string()))?
                .map(|a| (files[0].clone(), a))
        }
        _ => None,
    };
    for (k, (seq, ids)) in c.entities().into_iter().enumerate() {
        let first = c
            .chains
            .iter()
            .find(|ch| ch.sequence == seq && ch.id == ids[0])
            .cloned()
            .expect("an entity's first chain is a chain");
        let source = match (&opts.msas, &colabfold_a3m) {
            (_, Some((path, a))) => {
                if a.sequences.get(k) != Some(&seq) {
                    return Err(FeaturesStageError::Usage(format!(
                        "{}: its chains are not those of '{}'",
                        path.display(),
                        c.id
                    )));
                }
                ChainSource::ColabfoldA3m {
                    path: path.clone(),
                    unpaired: a.unpaired[k].clone(),
                    paired: a.paired.as_ref().map(|p| p[k].clone()),
                }
            }
            (MsaSource::SingleSequence, _) => ChainSource::Alone,
            (MsaSource::Server(_), _) => ChainSource::Server,
            (MsaSource::Dir(dir), _) => ChainSource::Folder(chain_dir(dir, c, &first)?),
            (MsaSource::Search { pairing, .. }, _) => {
                if heteromer && pairing.is_none() {
                    return Err(FeaturesStageError::Usage(format!(
                        "'{}' is a complex of different chains: their MSAs are paired through a UniProt search; name its database with --uniprot-db FILE (AlphaFold2's uniprot.fasta)",
                        c.id
                    )));
                }
                ChainSource::Search
            }
            (_, None) => {
                return Err(FeaturesStageError::Usage(format!(
                    "'{}' is a complex: its chains' alignments come from searches (--db, --db-preset demo|reduced_dbs|full_dbs), ColabFold's MSA server (--msa-server), per-chain folders (--msa-dir DIR with DIR/<chain id>/ or AlphaFold2's msas/<chain id>/) or --single-sequence; --db-preset colabfold does not pair complexes yet (its pairing step needs MMseqs2 15 or newer)",
                    c.id
                )))
            }
        };
        out.push((first, source));
    }
    Ok(out)
}

/// The input hash of a complex's features: its chains and everything their alignments come from (the
/// files of per-chain folders; the databases and settings of searches).
fn input_hash(
    c: &Complex,
    entities: &[(ComplexChain, ChainSource)],
    opts: &FeaturesOptions,
) -> Result<String, FeaturesStageError> {
    let mut h = InputHash::new("ferrofold multimer features");
    h.add(&FORMAT_VERSION.to_string()).add(&c.description);
    for ch in &c.chains {
        h.add(&ch.id).add(&ch.sequence);
    }
    h.add(&format!(
        "{}/{}",
        opts.limits.uniref_max_hits, opts.limits.mgnify_max_hits
    ));
    for (chain, source) in entities {
        h.add(&chain.id);
        match source {
            ChainSource::Alone => {
                h.add("alone");
            }
            ChainSource::ColabfoldA3m { path, .. } => {
                h.add("colabfold a3m");
                h.add(&sha256_file(path).map_err(io_err(path))?);
            }
            ChainSource::Server => {
                if let MsaSource::Server(server) = &opts.msas {
                    h.add(&format!(
                        "msa server {} {} pairgreedy",
                        server.url,
                        server.mode.field()
                    ));
                }
            }
            ChainSource::Folder(dir) => {
                let f = chain_files(dir)?;
                for p in f
                    .msas
                    .iter()
                    .map(|m| m.path.clone())
                    .chain(f.uniprot.clone())
                {
                    h.add(&p.file_name().unwrap_or_default().to_string_lossy());
                    h.add(&sha256_file(&p).map_err(io_err(&p))?);
                }
                // The template hits and the structures they name (an mmCIF file replaced since is
                // another input), as for a single chain.
                if let (Some(t), Some(hits)) = (&opts.templates, &f.template_hits) {
                    h.add(&super::features::template_fingerprint(hits, t)?);
                }
            }
            ChainSource::Search => {
                if let MsaSource::Search {
                    searches,
                    options,
                    pairing,
                    ..
                } = &opts.msas
                {
                    h.add(&format!("{options:?}"));
                    for spec in searches.iter().chain(pairing) {
                        h.add(&format!("{:?} {}", spec.tool, spec.output_stem));
                        h.add(&crate::search::runner::database_fingerprint(
                            spec.tool,
                            &spec.database,
                        )?);
                    }
                }
            }
        }
    }
    if let Some(t) = &opts.templates {
        h.add(&t.mmcif_dir.display().to_string())
            .add(&format!("{:?}", t.max_template_date));
        // A search's hits are known only after it: the database it searches, and obsolete.dat, here; the
        // structures its hits name are checked before reuse (`templates_still_current`).
        if let Some(search) = &t.search {
            h.add("template search").add(&search.fingerprint()?);
            if let Some(o) = t.obsolete_file() {
                h.add(&sha256_file(&o).map_err(io_err(&o))?);
            }
        }
    }
    Ok(h.finish())
}

/// Runs the stage's searches for `chain` into `dir` (its `msas/<chain id>/`): the alignment searches,
/// and for a heteromer the pairing search (`uniprot_hits`).
fn search_chain(
    chain: &ComplexChain,
    opts: &FeaturesOptions,
    heteromer: bool,
    dir: &Path,
) -> Result<ChainFiles, FeaturesStageError> {
    let MsaSource::Search {
        searches,
        options,
        binary,
        timeout_s,
        pairing,
    } = &opts.msas
    else {
        return Err(FeaturesStageError::Usage("no searches configured".into()));
    };
    let query = Query {
        id: chain.name.clone(),
        description: chain.name.clone(),
        sequence: chain.sequence.clone(),
    };
    let search = |spec: &crate::search::SearchSpec| -> Result<PathBuf, FeaturesStageError> {
        let searcher = crate::search::runner::searcher(
            spec.tool,
            options,
            binary.as_deref(),
            std::time::Duration::from_secs(*timeout_s),
        )
        .map_err(|e| FeaturesStageError::Search(format!("{}: {e}", spec.database.display())))?;
        super::features::run_search(
            searcher.as_ref(),
            &query,
            &spec.database,
            &spec.output_stem,
            dir,
        )
    };
    // Only what these searches wrote is used (never another file left in the folder by an earlier run).
    let mut files = ChainFiles::default();
    for spec in searches {
        files.msas.push(MsaInput::from_path(search(spec)?));
    }
    if let Some(spec) = pairing.as_ref().filter(|_| heteromer) {
        files.uniprot = Some(search(spec)?);
    }
    Ok(files)
}

/// Runs the stage for one complex.
/// The input hash the features stage would record for complex `c` now (to prove that an existing
/// `features.h5` belongs to it).
pub(crate) fn expected_input_hash(
    c: &Complex,
    opts: &FeaturesOptions,
) -> Result<String, FeaturesStageError> {
    let entities = entity_sources(c, opts)?;
    input_hash(c, &entities, opts)
}

pub(crate) fn run_complex_target(
    c: &Complex,
    opts: &FeaturesOptions,
) -> Result<TargetReport, FeaturesStageError> {
    let start = Instant::now();
    if c.len() > opts.max_length {
        return Err(FeaturesStageError::Limit(format!(
            "{}: complex '{}' has {} residues in {} chains, more than the limit of {} (raise it with --max-length)",
            opts.fasta.display(),
            c.id,
            c.len(),
            c.chains.len(),
            opts.max_length
        )));
    }
    let entities = entity_sources(c, opts)?;
    let heteromer = entities.len() > 1;
    let hash = input_hash(c, &entities, opts)?;
    let target_dir = opts.output_dir.join(&c.id);
    let features_path = target_dir.join(FEATURES_FILE);
    tree::ensure_dir(&target_dir).map_err(io_err(&target_dir))?;
    let _lock = tree::DirLock::acquire(&target_dir, &c.id).map_err(io_err(&target_dir))?;
    let msas_dir = target_dir.join(MSAS_DIR);
    crate::fsutil::atomic::remove_stale_temporaries(&target_dir);
    let recorded = || {
        features_h5::read_provenance(&features_path)
            .map(|p| p.input_hash)
            .map_err(|e| e.to_string())
    };
    if !opts.overwrite
        && super::reuse::may_reuse(&c.id, &features_path, recorded, &hash, "regenerating it")
    {
        let read = features_h5::multimer::read(&features_path)
            .ok()
            .filter(|(_, prov)| {
                super::features::templates_still_current(
                    &c.id,
                    prov,
                    &msas_dir,
                    opts.templates.as_ref(),
                )
            });
        if let Some((f, _)) = read {
            info!(
                "{}: {} is up to date, skipped",
                c.id,
                features_path.display()
            );
            return Ok(TargetReport {
                target: c.id.clone(),
                features_path,
                outcome: Outcome::UpToDate,
                num_res: f.aatype.len(),
                num_alignments: f.num_alignments as usize,
                templates: Vec::new(),
                seconds: start.elapsed().as_secs_f64(),
            });
        }
    }
    tree::ensure_dir(&msas_dir).map_err(io_err(&msas_dir))?;
    let mut databases = Vec::new();
    // ColabFold's MSA server: each distinct chain's alignment, and the chains' paired rows together.
    let server_msas = match &opts.msas {
        MsaSource::Server(server) => {
            let cache = super::colabfold::cache_dir(&opts.output_dir);
            let unique: Vec<String> = entities.iter().map(|(c, _)| c.sequence.clone()).collect();
            let err = |e: crate::search::msa_server::ServerError| {
                FeaturesStageError::Search(format!("'{}': {e}", c.id))
            };
            let unpaired = unique
                .iter()
                .map(|s| server.alignment(s, &cache))
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            let paired = if heteromer {
                Some(server.paired_alignments(&unique, &cache).map_err(err)?)
            } else {
                None
            };
            Some((unpaired, paired))
        }
        _ => None,
    };
    let mut per_entity: Vec<(String, ChainInput)> = Vec::new();
    for (chain, source) in &entities {
        let chain_msas_dir = msas_dir.join(&chain.id);
        // ColabFold's rows for this chain (unpaired, paired, where from), when they come from ColabFold.
        let colabfold_rows: Option<(&str, Option<&str>, String)> = match (source, &server_msas) {
            (
                ChainSource::ColabfoldA3m {
                    path,
                    unpaired,
                    paired,
                },
                _,
            ) => Some((unpaired, paired.as_deref(), path.display().to_string())),
            (ChainSource::Server, Some((unpaired, paired))) => {
                let k = per_entity.len();
                let paired = paired.as_ref().map(|p| p[k].as_str());
                Some((&unpaired[k], paired, "the MSA server".to_string()))
            }
            _ => None,
        };
        if let Some((unpaired, paired, from)) = colabfold_rows {
            let input = colabfold_chain(
                (unpaired, paired),
                &from,
                chain,
                heteromer,
                &chain_msas_dir,
                &mut databases,
            )?;
            per_entity.push((chain.sequence.clone(), input));
            continue;
        }
        let files = match source {
            ChainSource::ColabfoldA3m { .. } | ChainSource::Server | ChainSource::Alone => None,
            ChainSource::Folder(d) => Some(chain_files(d)?),
            ChainSource::Search => {
                tree::ensure_dir(&chain_msas_dir).map_err(io_err(&chain_msas_dir))?;
                Some(search_chain(chain, opts, heteromer, &chain_msas_dir)?)
            }
        };
        let files = &files;
        let query = Query {
            id: chain.name.clone(),
            description: chain.name.clone(),
            sequence: chain.sequence.clone(),
        };
        let chain_msas = msas_dir.join(&chain.id);
        tree::ensure_dir(&chain_msas).map_err(io_err(&chain_msas))?;
        let source = format!("chain {} of {}", chain.id, opts.fasta.display());
        let (mut features, all_seq) = match files {
            None => {
                let built = FeatureBuilder::single_sequence().build(&query, &source)?;
                // The chain alone pairs with the other chains' queries only.
                let all_seq = heteromer.then(|| {
                    make_msa_features(&[("query", &single_sequence_msa(&chain.sequence, "query"))])
                });
                (
                    built.features,
                    all_seq
                        .transpose()
                        .map_err(|e| FeaturesStageError::Search(e.to_string()))?,
                )
            }
            Some(f) => {
                let builder = FeatureBuilder::from_msas(f.msas.clone()).with_limits(opts.limits);
                let built = builder.build(&query, &source)?;
                for (usage, input) in built.msas.iter().zip(builder.ordered_msas()) {
                    let file = input
                        .path
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned();
                    let dest = chain_msas.join(&file);
                    if fs::canonicalize(&input.path).ok() != fs::canonicalize(&dest).ok() {
                        crate::fsutil::atomic::copy(&input.path, &dest).map_err(io_err(&dest))?;
                    }
                    databases.push(DatabaseRecord {
                        name: format!("{}:{}", chain.id, usage.role.name()),
                        path: input.path.display().to_string(),
                        file: format!("{}/{file}", chain.id),
                        sha256: sha256_file(&input.path).map_err(io_err(&input.path))?,
                        rows: usage.rows,
                        rows_used: usage.rows_used,
                        structures: None,
                    });
                }
                let all_seq = match (&f.uniprot, heteromer) {
                    (Some(u), true) => {
                        let a = all_seq_features(u, &query)?;
                        let file = u.file_name().unwrap_or_default().to_string_lossy().into_owned();
                        let dest = chain_msas.join(&file);
                        if fs::canonicalize(u).ok() != fs::canonicalize(&dest).ok() {
                            crate::fsutil::atomic::copy(u, &dest).map_err(io_err(&dest))?;
                        }
                        databases.push(DatabaseRecord {
                            name: format!("{}:uniprot", chain.id),
                            path: u.display().to_string(),
                            file: format!("{}/{file}", chain.id),
                            sha256: sha256_file(u).map_err(io_err(u))?,
                            rows: a.msa.dim().0,
                            rows_used: a.msa.dim().0,
                            structures: None,
                        });
                        Some(a)
                    }
                    (None, true) => {
                        return Err(FeaturesStageError::Io {
                            path: f.msas[0].path.parent().unwrap_or(Path::new(".")).into(),
                            message: format!(
                                "chain {} of '{}': no uniprot_hits.sto (or .a3m): a heteromer's chains are paired through their UniProt hits",
                                chain.id, c.id
                            ),
                        })
                    }
                    (_, false) => None,
                };
                (built.features, all_seq)
            }
        };
        if let Some(t) = &opts.templates {
            // A template search (`--template-db`) per distinct chain, with its alignments, as
            // AlphaFold-Multimer searches pdb_seqres with each chain's uniref90 hits.
            let searched = match &t.search {
                Some(search) => {
                    let msas: Vec<(crate::features::builder::MsaInput, String)> = files
                        .as_ref()
                        .map(|f| f.msas.iter().map(|m| (m.clone(), String::new())).collect())
                        .unwrap_or_default();
                    Some(super::features::search_templates(
                        &query,
                        search,
                        t,
                        &msas,
                        &opts.limits,
                        &chain_msas,
                    )?)
                }
                None => None,
            };
            match searched.or_else(|| files.as_ref().and_then(|f| f.template_hits.clone())) {
                Some(hits) => {
                    let (tf, mut record) = template_features(&query, &hits, t, &chain_msas)?;
                    features.templates = tf;
                    record.name = format!("{}:templates", chain.id);
                    record.file = format!("{}/{}", chain.id, record.file);
                    databases.push(record);
                }
                None => {
                    warn!("chain {} of '{}': no template hits (pdb_hits.sto) in its folder: no templates", chain.id, c.id);
                    features.templates = TemplateFeatures::empty(chain.sequence.len());
                }
            }
        }
        per_entity.push((chain.sequence.clone(), ChainInput { features, all_seq }));
    }
    for ch in &c.chains {
        for (pos, letter) in (Query {
            id: ch.name.clone(),
            description: String::new(),
            sequence: ch.sequence.clone(),
        })
        .mapped_to_unknown()
        {
            warn!("'{}' chain {}: residue {pos} '{letter}' is read as X (unknown), as AlphaFold2 does", c.id, ch.id);
        }
    }
    let inputs: Vec<ChainInput> = c
        .chains
        .iter()
        .map(|ch| {
            per_entity
                .iter()
                .find(|(s, _)| *s == ch.sequence)
                .map(|(_, i)| i.clone())
                .expect("every chain's sequence is an entity")
        })
        .collect();
    let labels: Vec<String> = c.chains.iter().map(|ch| ch.id.clone()).collect();
    let pairing = if entities
        .iter()
        .any(|(_, s)| matches!(s, ChainSource::ColabfoldA3m { .. } | ChainSource::Server))
    {
        Pairing::Given
    } else {
        Pairing::BySpecies
    };
    let features = make_multimer_features_with(&inputs, &labels, pairing)
        .map_err(|e| FeaturesStageError::Search(format!("'{}': {e}", c.id)))?;
    let read_in_place: Vec<std::path::PathBuf> = entities
        .iter()
        .filter_map(|(_, s)| match s {
            ChainSource::Folder(d) => Some(d.clone()),
            _ => None,
        })
        .collect();
    super::features::set_aside_unused_msas(&c.id, &target_dir, &databases, &read_in_place)?;
    let prov = new_provenance(&c.colon_sequence(), &databases, &opts.command_line, hash);
    features_h5::multimer::write(&features_path, &features, &prov)?;
    crate::fsutil::checksum::record(&features_path).map_err(io_err(&features_path))?;
    let report = TargetReport {
        target: c.id.clone(),
        features_path,
        outcome: Outcome::Written,
        num_res: features.aatype.len(),
        num_alignments: features.num_alignments as usize,
        templates: Vec::new(),
        seconds: start.elapsed().as_secs_f64(),
    };
    record_features_time(&target_dir, report.seconds)?;
    info!(
        "{}: complex of {} chains ({} residues; {}), {} MSA rows{} → {} ({:.2} s)",
        c.id,
        c.chains.len(),
        report.num_res,
        if heteromer {
            "paired"
        } else {
            "homomer, unpaired"
        },
        report.num_alignments,
        if features.num_alignments < crate::features::multimer::MIN_MSA_ROWS as i32 {
            format!(" (padded to {})", crate::features::multimer::MIN_MSA_ROWS)
        } else {
            String::new()
        },
        report.features_path.display(),
        report.seconds
    );
    Ok(report)
}

/// A distinct chain's ColabFold alignments — unpaired rows (its MSA) and, for heteromers, paired rows
/// (its `*_all_seq`) — with ColabFold's placeholder template (one template of `A`s with nothing
/// resolved, `mk_mock_template`). The rows are written to `msas/<chain id>/` and read from there.
fn colabfold_chain(
    (unpaired, paired): (&str, Option<&str>),
    source: &str,
    chain: &ComplexChain,
    heteromer: bool,
    dir: &Path,
    databases: &mut Vec<DatabaseRecord>,
) -> Result<ChainInput, FeaturesStageError> {
    tree::ensure_dir(dir).map_err(io_err(dir))?;
    let query = Query {
        id: chain.name.clone(),
        description: "none".into(),
        sequence: chain.sequence.clone(),
    };
    let mut read =
        |text: &str, name: &str, role: &str| -> Result<MsaFeatures, FeaturesStageError> {
            let file = dir.join(name);
            crate::fsutil::atomic::write_bytes(&file, text.as_bytes()).map_err(io_err(&file))?;
            let msa = crate::io::a3m::A3m::parse(text, &file)
                .and_then(|m| m.to_msa(&file))
                .map_err(|e| FeaturesStageError::Search(e.to_string()))?;
            crate::features::builder::check_query(&msa, &query, &file, source)
                .map_err(|e| FeaturesStageError::Search(e.to_string()))?;
            let f = make_msa_features(&[(name, &msa)])
                .map_err(|e| FeaturesStageError::Search(format!("{}: {e}", file.display())))?;
            databases.push(DatabaseRecord {
                name: format!("{}:colabfold {role}", chain.id),
                path: source.to_string(),
                file: format!("{}/{name}", chain.id),
                sha256: sha256_file(&file).map_err(io_err(&file))?,
                rows: msa.depth(),
                rows_used: f.msa.dim().0,
                structures: None,
            });
            Ok(f)
        };
    let msa = read(unpaired, "colabfold_unpaired.a3m", "unpaired")?;
    let all_seq = match (paired, heteromer) {
        (Some(p), true) => Some(read(p, "colabfold_paired.a3m", "paired")?),
        _ => None,
    };
    let sequence = crate::features::make_sequence_features(&chain.sequence, "none")
        .map_err(|e| FeaturesStageError::Search(format!("chain {}: {e}", chain.id)))?;
    Ok(ChainInput {
        features: crate::features::RawFeatures {
            sequence,
            msa,
            templates: mock_template(chain.sequence.len()),
        },
        all_seq,
    })
}

/// ColabFold's `mk_mock_template`: one template whose residues are all `A` and whose atoms are all
/// unresolved.
fn mock_template(n: usize) -> TemplateFeatures {
    use crate::residue_constants as rc;
    let mut aatype = ndarray::Array3::zeros((1, n, rc::RESTYPE_WITH_X_AND_GAP));
    for i in 0..n {
        aatype[[0, i, 0]] = 1.0; // 'A' in HHblits order
    }
    TemplateFeatures {
        aatype,
        all_atom_masks: ndarray::Array3::zeros((1, n, rc::ATOM_TYPE_NUM)),
        all_atom_positions: ndarray::Array4::zeros((1, n, rc::ATOM_TYPE_NUM, 3)),
        domain_names: vec!["none".into()],
        sequence: vec!["A".repeat(n)],
        sum_probs: ndarray::Array2::zeros((1, 1)),
    }
}
