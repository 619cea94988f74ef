//! `ferrofold score`: a model against a reference structure (an experimental one, a homologue, a later
//! deposition): GDT-TS/GDT-HA and TM-score with the TM-score program's superposition search, Cα RMSD
//! after the optimal superposition, Cα and all-atom lDDT (15 Å, 0.5/1/2/4 Å, no superposition), and the
//! per-residue lDDT beside the model's pLDDT (its B-factors).
//!
//! Residues correspond by chain (in order, or `--chain-map`) and then by residue number and insertion code
//! when the two sequences agree at every common number; otherwise by a Smith-Waterman alignment of the
//! sequences (the built-in search's aligner), and the report says so. Reference residues the model lacks
//! are left out of every score, as CASP scores only what the experiment resolved; scores are normalised
//! by the reference's residue count (TM-score, GDT) as the TM-score program does.

pub mod metrics;
pub mod superpose;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

use crate::residue_constants as rc;
use superpose::P3;

/// Errors scoring; each names the file, chain or residue.
#[derive(Debug, Error)]
pub enum ScoreError {
    #[error("{path}: cannot read: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}: cannot write: {message}")]
    Write { path: PathBuf, message: String },
    #[error("{0}")]
    Chains(String),
    #[error("{model} vs {reference}: no residues in common{why}")]
    NothingInCommon {
        model: PathBuf,
        reference: PathBuf,
        why: String,
    },
}

/// One residue as scored: its chain, number, insertion code, one-letter type and atom37 positions.
#[derive(Debug, Clone)]
pub struct Residue {
    pub number: i64,
    pub icode: String,
    pub aa: char,
    pub atoms: [Option<P3>; 37],
    /// The Cα's B-factor (a prediction's pLDDT).
    pub b_factor: Option<f64>,
}

/// A structure's chains in file order (first model, first alternative location, standard atoms).
#[derive(Debug, Clone)]
pub struct Structure {
    pub path: PathBuf,
    pub chains: Vec<(String, Vec<Residue>)>,
    /// Residues with alternative locations (or microheterogeneity), of which the first was read.
    pub alternatives: usize,
}

const CA: usize = 1;

impl Structure {
    /// Reads PDB or mmCIF (`.cif`, optionally gzipped). Waters and ligands are skipped; a residue with a
    /// non-finite coordinate is an error naming it.
    pub fn read(path: &Path) -> Result<Self, ScoreError> {
        let err = |message: String| ScoreError::Read {
            path: path.into(),
            message,
        };
        let mut bytes = crate::fsutil::regular::read(path).map_err(|e| err(e.to_string()))?;
        if path.extension().is_some_and(|e| e == "gz") {
            let mut out = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::MultiGzDecoder::new(&bytes[..]),
                &mut out,
            )
            .map_err(|e| err(format!("cannot decompress: {e}")))?;
            bytes = out;
        }
        let format = if crate::io::structure::is_mmcif(path) {
            pdbtbx::Format::Mmcif
        } else {
            // SEQRES records are not used here, and pdbtbx refuses files whose SEQRES it cannot check
            // against the atoms (microheterogeneity, as in 1EJG): leave them out.
            bytes = bytes
                .split_inclusive(|&b| b == b'\n')
                .filter(|l| !l.starts_with(b"SEQRES"))
                .flatten()
                .copied()
                .collect();
            check_pdb_coordinates(&bytes).map_err(err)?;
            pdbtbx::Format::Pdb
        };
        let parsed = std::panic::catch_unwind(|| {
            pdbtbx::ReadOptions::default()
                .set_level(pdbtbx::StrictnessLevel::Loose)
                .set_only_first_model(true)
                .set_format(format)
                .read_raw(std::io::BufReader::new(&bytes[..]))
        })
        .map_err(|_| err("the structure parser (pdbtbx) failed".into()))?;
        let (pdb, _) = parsed.map_err(|errs| {
            err(errs
                .iter()
                .map(|e| e.short_description().to_string())
                .collect::<Vec<_>>()
                .join("; "))
        })?;
        let model = pdb.models().next().ok_or_else(|| err("no model".into()))?;
        let mut chains = Vec::new();
        let mut alternatives = 0;
        for ch in model.chains() {
            let mut residues = Vec::new();
            for res in ch.residues() {
                let Some(conf) = res.conformers().next() else {
                    continue;
                };
                if res.conformer_count() > 1 {
                    alternatives += 1;
                }
                if conf.atoms().all(|a| a.hetero()) && conf.name() != "MSE" {
                    continue;
                }
                let mut atoms = [None; 37];
                let mut b_factor = None;
                for atom in conf.atoms() {
                    let Some(k) = rc::atom37_index(atom.name()) else {
                        continue;
                    };
                    let (x, y, z) = atom.pos();
                    if !(x.is_finite() && y.is_finite() && z.is_finite()) {
                        return Err(err(format!(
                            "chain {} residue {}{}: atom {} has a non-finite coordinate",
                            ch.id(),
                            res.serial_number(),
                            res.insertion_code().unwrap_or(""),
                            atom.name()
                        )));
                    }
                    if atoms[k].is_none() {
                        atoms[k] = Some([x, y, z]);
                        if k == CA {
                            b_factor = Some(atom.b_factor());
                        }
                    }
                }
                if atoms.iter().all(Option::is_none) {
                    continue;
                }
                let idx = rc::restype_3_index(conf.name());
                residues.push(Residue {
                    number: res.serial_number() as i64,
                    icode: res.insertion_code().unwrap_or("").to_string(),
                    aa: rc::RESTYPES.get(idx).copied().unwrap_or('X'),
                    atoms,
                    b_factor,
                });
            }
            if !residues.is_empty() {
                chains.push((ch.id().to_string(), residues));
            }
        }
        if chains.is_empty() {
            return Err(err("no protein residues".into()));
        }
        Ok(Self {
            path: path.into(),
            chains,
            alternatives,
        })
    }

    fn chain(&self, id: &str) -> Option<&Vec<Residue>> {
        self.chains.iter().find(|(c, _)| c == id).map(|(_, r)| r)
    }

    fn chain_ids(&self) -> Vec<String> {
        self.chains.iter().map(|(c, _)| c.clone()).collect()
    }
}

/// Refuses an atom record whose coordinates are not finite numbers (pdbtbx cannot read them), naming
/// its line, chain, residue and atom.
fn check_pdb_coordinates(text: &[u8]) -> Result<(), String> {
    for (no, line) in text.split(|&b| b == b'\n').enumerate() {
        if !(line.starts_with(b"ATOM") || line.starts_with(b"HETATM")) || line.len() < 54 {
            continue;
        }
        let field = |a: usize, b: usize| String::from_utf8_lossy(&line[a..b]).trim().to_string();
        let finite = (0..3).all(|k| {
            field(30 + 8 * k, 38 + 8 * k)
                .parse::<f64>()
                .is_ok_and(f64::is_finite)
        });
        if !finite {
            return Err(format!(
                "line {}: chain {} residue {}{} atom {}: a coordinate is not a finite number ({:?})",
                no + 1,
                field(21, 22),
                field(22, 26),
                field(26, 27),
                field(12, 16),
                field(30, 54)
            ));
        }
    }
    Ok(())
}

/// How the residues of a chain pair were matched.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChainPairing {
    pub model_chain: String,
    pub reference_chain: String,
    /// `residue number` or `sequence alignment (N identical of M aligned)`.
    pub matched_by: String,
    pub pairs: usize,
    pub reference_residues: usize,
}

/// What `score` reports.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreReport {
    pub model: String,
    pub reference: String,
    pub chains: Vec<ChainPairing>,
    /// Residues of the reference (the normaliser of TM-score and GDT).
    pub reference_length: usize,
    /// Residue pairs with a Cα on both sides.
    pub aligned_residues: usize,
    pub tm_score: f64,
    pub gdt_ts: f64,
    pub gdt_ha: f64,
    pub rmsd_ca: f64,
    pub lddt_ca: f64,
    /// `None` when either side has only Cα atoms (said in `skipped`).
    pub lddt_all_atom: Option<f64>,
    /// Per scored residue: chain, number (+ insertion code), Cα lDDT, all-atom lDDT, model pLDDT.
    pub per_residue: Vec<PerResidue>,
    /// Pearson correlation of per-residue Cα lDDT and pLDDT (`None` if pLDDT is constant or absent).
    pub plddt_lddt_correlation: Option<f64>,
    /// What could not be scored, and why.
    pub skipped: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PerResidue {
    pub chain: String,
    pub residue: String,
    pub aa: char,
    pub lddt_ca: Option<f64>,
    pub lddt_all_atom: Option<f64>,
    pub plddt: Option<f64>,
}

/// Parses `--chain-map A:B,C:D` (model chain : reference chain).
pub fn parse_chain_map(text: &str) -> Result<Vec<(String, String)>, ScoreError> {
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|pair| match pair.split_once(':') {
            Some((m, r)) if !m.trim().is_empty() && !r.trim().is_empty() => {
                Ok((m.trim().to_string(), r.trim().to_string()))
            }
            _ => Err(ScoreError::Chains(format!(
                "--chain-map: '{pair}' is not MODEL_CHAIN:REFERENCE_CHAIN"
            ))),
        })
        .collect()
}

/// Residue pairs `(model index, reference index)` of one chain pair and how they were found.
fn pair_residues(model: &[Residue], reference: &[Residue]) -> (Vec<(usize, usize)>, String) {
    let key = |r: &Residue| (r.number, r.icode.clone());
    let by_number: HashMap<(i64, String), usize> =
        model.iter().enumerate().map(|(i, r)| (key(r), i)).collect();
    let pairs: Vec<(usize, usize)> = reference
        .iter()
        .enumerate()
        .filter_map(|(j, r)| by_number.get(&key(r)).map(|&i| (i, j)))
        .collect();
    if !pairs.is_empty() && pairs.iter().all(|&(i, j)| model[i].aa == reference[j].aa) {
        return (pairs, "residue number".into());
    }
    // Sequences differ (another numbering, a homologue): align them.
    let enc = |rs: &[Residue]| -> Vec<u8> {
        rs.iter()
            .map(|r| crate::search::db::encode(r.aa as u8))
            .collect()
    };
    let (q, t) = (enc(model), enc(reference));
    let a = crate::search::align::sw_align_banded(
        &q,
        &t,
        crate::search::align::GapCosts::default(),
        0,
        q.len() + t.len(),
    );
    let (mut i, mut j) = (a.query.0, a.target.0);
    let mut out = Vec::new();
    for op in &a.ops {
        match op {
            crate::search::align::Op::Match => {
                out.push((i, j));
                i += 1;
                j += 1;
            }
            crate::search::align::Op::Delete => i += 1,
            crate::search::align::Op::Insert => j += 1,
        }
    }
    let identical = out
        .iter()
        .filter(|&&(i, j)| model[i].aa == reference[j].aa)
        .count();
    let how = format!(
        "sequence alignment ({identical} identical of {} aligned)",
        out.len()
    );
    // A few residues aligned by chance between unrelated sequences are not a correspondence.
    let needed = 10.min(model.len().min(reference.len()).div_ceil(2));
    if out.len() < needed {
        return (Vec::new(), format!("{how}: too few to score"));
    }
    (out, how)
}

fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len() as f64;
    if x.len() < 2 {
        return None;
    }
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// Scores `model` against `reference`. `chain_map` pairs model chains with reference chains; without it
/// chains pair in file order and their counts must agree.
pub fn score(
    model: &Structure,
    reference: &Structure,
    chain_map: Option<&[(String, String)]>,
) -> Result<ScoreReport, ScoreError> {
    let mapping: Vec<(String, String)> = match chain_map {
        Some(m) => {
            for (mc, rc_) in m {
                if model.chain(mc).is_none() {
                    return Err(ScoreError::Chains(format!(
                        "{}: no chain '{mc}' (chains: {})",
                        model.path.display(),
                        model.chain_ids().join(", ")
                    )));
                }
                if reference.chain(rc_).is_none() {
                    return Err(ScoreError::Chains(format!(
                        "{}: no chain '{rc_}' (chains: {})",
                        reference.path.display(),
                        reference.chain_ids().join(", ")
                    )));
                }
            }
            m.to_vec()
        }
        None => {
            if model.chains.len() != reference.chains.len() {
                return Err(ScoreError::Chains(format!(
                    "{} has {} chain(s) ({}), {} has {} ({}): say which go together with --chain-map MODEL:REFERENCE,...",
                    model.path.display(),
                    model.chains.len(),
                    model.chain_ids().join(", "),
                    reference.path.display(),
                    reference.chains.len(),
                    reference.chain_ids().join(", ")
                )));
            }
            model
                .chain_ids()
                .into_iter()
                .zip(reference.chain_ids())
                .collect()
        }
    };
    // Flattened pairs over all chain pairs.
    let mut pairs: Vec<(&Residue, &Residue, &str)> = Vec::new();
    let mut chains = Vec::new();
    let mut reference_length = 0;
    for (mc, rc_) in &mapping {
        let (m, r) = (
            model.chain(mc).expect("checked"),
            reference.chain(rc_).expect("checked"),
        );
        reference_length += r.len();
        let (p, how) = pair_residues(m, r);
        chains.push(ChainPairing {
            model_chain: mc.clone(),
            reference_chain: rc_.clone(),
            matched_by: how,
            pairs: p.len(),
            reference_residues: r.len(),
        });
        pairs.extend(p.into_iter().map(|(i, j)| (&m[i], &r[j], rc_.as_str())));
    }
    let mut skipped = Vec::new();
    for s in [model, reference] {
        if s.alternatives > 0 {
            skipped.push(format!(
                "{}: {} residue(s) with alternative locations; the first of each was scored",
                s.path.display(),
                s.alternatives
            ));
        }
    }
    let with_ca: Vec<usize> = (0..pairs.len())
        .filter(|&k| pairs[k].0.atoms[CA].is_some() && pairs[k].1.atoms[CA].is_some())
        .collect();
    if with_ca.len() < pairs.len() {
        skipped.push(format!(
            "{} residue pair(s) without a Cα on one side: left out of TM-score, GDT and RMSD",
            pairs.len() - with_ca.len()
        ));
    }
    if with_ca.is_empty() {
        return Err(ScoreError::NothingInCommon {
            model: model.path.clone(),
            reference: reference.path.clone(),
            why: if pairs.is_empty() {
                format!(
                    ": neither the residue numbers nor the sequences match ({})",
                    chains
                        .iter()
                        .map(|c| format!(
                            "chains {}/{}: {}",
                            c.model_chain, c.reference_chain, c.matched_by
                        ))
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            } else {
                format!(
                    ": {} paired residue(s), none with a Cα on both sides",
                    pairs.len()
                )
            },
        });
    }
    let m_ca: Vec<P3> = with_ca
        .iter()
        .map(|&k| pairs[k].0.atoms[CA].expect("filtered"))
        .collect();
    let r_ca: Vec<P3> = with_ca
        .iter()
        .map(|&k| pairs[k].1.atoms[CA].expect("filtered"))
        .collect();
    let sup = metrics::search(&m_ca, &r_ca, reference_length);
    let all: Vec<usize> = (0..m_ca.len()).collect();
    let rmsd_ca = superpose::rmsd(&m_ca, &r_ca, &all);

    // lDDT: Cα only, then every atom present in the reference.
    let n = pairs.len();
    let res: Vec<usize> = (0..n).collect();
    let (lddt_ca, per_ca) = metrics::lddt(
        &pairs.iter().map(|p| p.0.atoms[CA]).collect::<Vec<_>>(),
        &pairs.iter().map(|p| p.1.atoms[CA]).collect::<Vec<_>>(),
        &res,
        n,
        15.0,
    );
    let side_chains = |r: &Residue| {
        r.atoms
            .iter()
            .enumerate()
            .any(|(k, a)| k != CA && a.is_some())
    };
    let all_atom_possible =
        pairs.iter().any(|p| side_chains(p.0)) && pairs.iter().any(|p| side_chains(p.1));
    let (lddt_all, per_all) = if all_atom_possible {
        let (mut m, mut r, mut owner) = (Vec::new(), Vec::new(), Vec::new());
        for (k, p) in pairs.iter().enumerate() {
            for a in 0..37 {
                if p.1.atoms[a].is_some() {
                    m.push(p.0.atoms[a]);
                    r.push(p.1.atoms[a]);
                    owner.push(k);
                }
            }
        }
        let (g, per) = metrics::lddt(&m, &r, &owner, n, 15.0);
        (Some(g), per)
    } else {
        skipped.push("all-atom lDDT: one side has only Cα atoms".into());
        (None, vec![None; n])
    };
    let per_residue: Vec<PerResidue> = pairs
        .iter()
        .enumerate()
        .map(|(k, (m, r, chain))| PerResidue {
            chain: chain.to_string(),
            residue: format!("{}{}", r.number, r.icode),
            aa: r.aa,
            lddt_ca: per_ca[k],
            lddt_all_atom: per_all[k],
            plddt: m.b_factor,
        })
        .collect();
    let (xs, ys): (Vec<f64>, Vec<f64>) = per_residue
        .iter()
        .filter_map(|p| Some((p.lddt_ca?, p.plddt?)))
        .unzip();
    Ok(ScoreReport {
        model: model.path.display().to_string(),
        reference: reference.path.display().to_string(),
        chains,
        reference_length,
        aligned_residues: with_ca.len(),
        tm_score: sup.tm_score,
        gdt_ts: sup.gdt_ts(),
        gdt_ha: sup.gdt_ha(),
        rmsd_ca,
        lddt_ca,
        lddt_all_atom: lddt_all,
        per_residue,
        plddt_lddt_correlation: pearson(&xs, &ys),
        skipped,
    })
}

/// The header and one row of the batch table.
pub const TSV_HEADER: &str =
    "target\tmodel\treference\tmatched_by\tref_len\taligned\ttm_score\tgdt_ts\tgdt_ha\trmsd_ca\tlddt_ca\tlddt_all_atom\tplddt_lddt_r";

impl ScoreReport {
    pub fn tsv_row(&self, target: &str) -> String {
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
        format!(
            "{target}\t{}\t{}\t{}\t{}\t{}\t{:.4}\t{:.2}\t{:.2}\t{:.3}\t{:.4}\t{}\t{}",
            self.model,
            self.reference,
            self.chains
                .iter()
                .map(|c| c.matched_by.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            self.reference_length,
            self.aligned_residues,
            self.tm_score,
            self.gdt_ts,
            self.gdt_ha,
            self.rmsd_ca,
            self.lddt_ca,
            opt(self.lddt_all_atom),
            opt(self.plddt_lddt_correlation)
        )
    }
}

/// Scores one model file against one reference file; writes the report as JSON to `json` and the
/// picture to `png` when given (atomically).
pub fn score_files(
    model: &Path,
    reference: &Path,
    chain_map: Option<&[(String, String)]>,
    json: Option<&Path>,
    png: Option<&Path>,
) -> Result<ScoreReport, ScoreError> {
    let m = Structure::read(model)?;
    let r = Structure::read(reference)?;
    let report = score(&m, &r, chain_map)?;
    let write_err = |p: &Path, message: String| ScoreError::Write {
        path: p.into(),
        message,
    };
    // Like every other output of the program, their folders are made as needed.
    for p in json.iter().chain(png.iter()) {
        if let Some(parent) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| write_err(p, e.to_string()))?;
        }
    }
    if let Some(p) = json {
        let text = serde_json::to_string_pretty(&report).expect("plain data serialises");
        crate::fsutil::atomic::write_bytes(p, text.as_bytes())
            .map_err(|e| write_err(p, e.to_string()))?;
    }
    if let Some(p) = png {
        crate::plots::score_png(p, &report).map_err(|e| write_err(p, e))?;
    }
    Ok(report)
}

/// The structure file of target `id` in a folder of references: `<id>.pdb`, `.ent`, `.cif`, `.mmcif`,
/// optionally gzipped, or `<id>/` holding one of those.
pub fn find_reference(dir: &Path, id: &str) -> Option<PathBuf> {
    let exts = ["pdb", "ent", "cif", "mmcif", "pdb.gz", "cif.gz"];
    exts.iter()
        .map(|e| dir.join(format!("{id}.{e}")))
        .chain(exts.iter().map(|e| dir.join(id).join(format!("{id}.{e}"))))
        .find(|p| p.is_file())
}

/// The models of a batch: for each target folder `<dir>/<id>/` with a `ranked_0.pdb` (a `run` or
/// AlphaFold2 output), that file; else each `<dir>/<id>.pdb|.cif` file. Sorted by id.
pub fn batch_models(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if p.is_dir() {
            let ranked = p.join("ranked_0.pdb");
            if ranked.is_file() {
                out.push((name, ranked));
            }
        } else if let Some(stem) = [".pdb", ".cif", ".pdb.gz", ".cif.gz"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
        {
            out.push((stem.to_string(), p.clone()));
        }
    }
    out.sort();
    Ok(out)
}
