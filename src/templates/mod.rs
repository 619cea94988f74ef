//! Template featurisation with AlphaFold2 v2.3.2's semantics (`templates.py`, `HhsearchHitFeaturizer`):
//! hits sorted by `Sum_probs`, the prefilters (release date, align ratio ≤ 0.1, near-duplicate of the
//! query, < 10 residues), `obsolete.dat` replacements, the hit structure read from `--template-mmcif-dir`,
//! the hit located in the mmCIF SEQRES (chain and sequence, sequence only, then `X` as a wildcard) or
//! else realigned to it with kalign (≥ 90 % identity), atoms placed on the query residues, at most
//! `max_hits` (20) templates. Every hit AlphaFold2 skips is skipped here with its reason in the report.
//!
//! DISCREPANCY: a hit whose mmCIF file is missing (or whose file has no release date) makes AlphaFold2's
//! featuriser raise and the whole run fail; ferrofold skips that hit with the reason instead.

pub mod kalign;
pub mod mmcif;
pub mod scop;
pub mod search;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ndarray::{Array2, Array3, Array4};

use crate::features::TemplateFeatures;
use crate::io::hhr::HhrHit;
use crate::residue_constants as rc;

/// AlphaFold2's `max_hits` for templates in features.
pub const MAX_TEMPLATE_HITS: usize = 20;

/// A calendar date (`YYYY-MM-DD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: u32,
    pub month: u32,
    pub day: u32,
}

impl std::str::FromStr for Date {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' is not a date of the form YYYY-MM-DD");
        let mut parts = s.trim().split('-');
        let (Some(y), Some(m), Some(d), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let num = |v: &str, digits: std::ops::RangeInclusive<usize>| -> Result<u32, String> {
            if digits.contains(&v.len()) && v.chars().all(|c| c.is_ascii_digit()) {
                v.parse().map_err(|_| bad())
            } else {
                Err(bad())
            }
        };
        let date = Date {
            year: num(y, 4..=4)?,
            month: num(m, 1..=2)?,
            day: num(d, 1..=2)?,
        };
        let leap = date.year.is_multiple_of(4)
            && (!date.year.is_multiple_of(100) || date.year.is_multiple_of(400));
        let days = match date.month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return Err(bad()),
        };
        if date.day == 0 || date.day > days {
            return Err(bad());
        }
        Ok(date)
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Where hit structures come from and which may be used.
#[derive(Debug, Clone)]
pub struct TemplateSettings {
    /// mmCIF files: `<dir>/<id>.cif`, `<dir>/mmcif_files/<id>.cif` (AlphaFold2's `pdb_mmcif` layout) or
    /// the wwPDB `<dir>/<middle two letters>/<id>.cif`, each also gzipped.
    pub mmcif_dir: PathBuf,
    /// Templates released after this date are not used (AlphaFold2's `--max_template_date`).
    pub max_template_date: Date,
    pub max_hits: usize,
    /// kalign, for hits whose sequence differs from the mmCIF file's.
    pub kalign: Option<PathBuf>,
    /// `obsolete.dat`: obsolete id → replacement (`None`: withdrawn).
    pub obsolete: HashMap<String, Option<String>>,
    pub tool_timeout: Duration,
    /// Which of AlphaFold2's featurisers: hhsearch hits (by `Sum_probs`) or hmmsearch hits.
    pub style: FeaturizerStyle,
}

/// AlphaFold2 featurises hhsearch and hmmsearch hits slightly differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FeaturizerStyle {
    /// `HhsearchHitFeaturizer` (monomer): every usable hit, up to `max_hits`.
    #[default]
    Hhsearch,
    /// `HmmsearchHitFeaturizer` (AlphaFold-Multimer's path): hits whose template sequence (over the
    /// query) was already used are skipped, and with no usable hit one all-zero template stands in.
    Hmmsearch,
}

/// What became of one hit.
#[derive(Debug, Clone, PartialEq)]
pub struct HitReport {
    /// `pdbid_chain` as in the hit (before obsolete replacement), or the hit name.
    pub hit: String,
    pub sum_probs: f64,
    /// `None`: used (as template number `k` of the features, in order); `Some(reason)`: skipped.
    pub skipped: Option<String>,
    /// The hit was realigned to the mmCIF sequence with kalign.
    pub realigned: bool,
}

/// Errors that make the hits unusable as a whole.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template hit '{name}': the name does not start with a PDB id and chain (like 1ABC_A), so its structure cannot be found")]
    HitName { name: String },
    #[error("{}: no mmCIF files (*.cif, *.cif.gz, mmcif_files/*.cif) found", path.display())]
    NoStructures { path: PathBuf },
    #[error("{}: {message}", path.display())]
    Obsolete { path: PathBuf, message: String },
}

/// `obsolete.dat` as AlphaFold2 reads it (`OBSLTE` lines: replaced when longer than 30 characters,
/// withdrawn when exactly 24).
pub fn parse_obsolete(path: &Path) -> Result<HashMap<String, Option<String>>, TemplateError> {
    let text = std::fs::read_to_string(path).map_err(|e| TemplateError::Obsolete {
        path: path.into(),
        message: e.to_string(),
    })?;
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if !line.starts_with("OBSLTE") || !line.is_ascii() {
            continue;
        }
        if line.len() > 30 {
            out.insert(
                line[20..24].to_lowercase(),
                Some(line[29..33].to_lowercase()),
            );
        } else if line.len() == 24 {
            out.insert(line[20..24].to_lowercase(), None);
        }
    }
    Ok(out)
}

/// PDB id (lower case) and chain of a hit name (`[A-Za-z0-9]{4}_[A-Za-z0-9.]+` at its start).
pub fn pdb_id_and_chain(name: &str) -> Option<(String, String)> {
    let b = name.as_bytes();
    if b.len() < 6 || !b[..4].iter().all(u8::is_ascii_alphanumeric) || b[4] != b'_' {
        return None;
    }
    let chain: String = name[5..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect();
    if chain.is_empty() {
        return None;
    }
    Some((name[..4].to_lowercase(), chain))
}

/// The mmCIF file of `id` below `dir`, gzipped or not, in any of the supported layouts.
pub fn find_mmcif(dir: &Path, id: &str) -> Option<PathBuf> {
    let middle = id.get(1..3).unwrap_or("");
    [dir.to_path_buf(), dir.join("mmcif_files"), dir.join(middle)]
        .iter()
        .flat_map(|d| [d.join(format!("{id}.cif")), d.join(format!("{id}.cif.gz"))])
        .find(|p| p.is_file())
}

fn has_structures(dir: &Path) -> bool {
    let any = |d: &Path| {
        std::fs::read_dir(d).is_ok_and(|rd| {
            rd.flatten().any(|e| {
                let n = e.file_name().to_string_lossy().to_lowercase();
                n.ends_with(".cif") || n.ends_with(".cif.gz") || (n.len() == 2 && e.path().is_dir())
            })
        })
    };
    any(dir) || any(&dir.join("mmcif_files"))
}

/// Reads an mmCIF file (gzipped when its name ends in `.gz`).
pub fn read_mmcif(path: &Path) -> Result<String, String> {
    let bytes = crate::fsutil::regular::read(path).map_err(|e| e.to_string())?;
    let text = if path.extension().is_some_and(|e| e == "gz") {
        use std::io::Read;
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .map_err(|e| format!("not a readable gzip file: {e}"))?;
        s
    } else {
        String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?
    };
    Ok(text)
}

/// AlphaFold2's `_build_query_to_hit_index_mapping`: query residue → hit residue (both 0-based, the
/// hit index into the hit's ungapped aligned segment).
pub fn query_to_hit_mapping(hit: &HhrHit, query: &str) -> Vec<(usize, usize)> {
    if hit.query.is_empty() {
        return Vec::new();
    }
    let hhsearch_query: String = hit.query.chars().filter(|&c| c != '-').collect();
    let hit_seq_len = hit.hit_sequence.chars().filter(|&c| c != '-').count();
    // Python's str.find: -1 when absent.
    let offset: i64 = query.find(&hhsearch_query).map_or(-1, |o| o as i64);
    let min_of = |v: &[i64]| v.iter().copied().filter(|&x| x > -1).min();
    let (Some(min_hit), Some(min_query)) = (min_of(&hit.indices_hit), min_of(&hit.indices_query))
    else {
        return Vec::new();
    };
    let mut mapping: Vec<(usize, usize)> = Vec::new();
    for (&qi, &ti) in hit.indices_query.iter().zip(&hit.indices_hit) {
        if qi == -1 || ti == -1 {
            continue;
        }
        let (q, t) = (qi - min_query, ti - min_hit);
        if t >= hit_seq_len as i64 || q + offset >= query.len() as i64 || q + offset < 0 {
            continue;
        }
        let key = (q + offset) as usize;
        // A dict: a later column for the same query residue replaces the earlier one.
        match mapping.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = t as usize,
            None => mapping.push((key, t as usize)),
        }
    }
    mapping
}

/// AlphaFold2's `_find_template_in_pdb`: (chain sequence, chain id, offset) of the template sequence.
fn find_in_structure(
    chain: &str,
    template: &str,
    m: &mmcif::MmcifObject,
) -> Option<(String, String, usize)> {
    if let Some(seq) = m.seqres(chain) {
        if !seq.is_empty() {
            if let Some(o) = seq.find(template) {
                return Some((seq.to_string(), chain.to_string(), o));
            }
        }
    }
    for (c, seq) in &m.chain_to_seqres {
        if !seq.is_empty() {
            if let Some(o) = seq.find(template) {
                return Some((seq.clone(), c.clone(), o));
            }
        }
    }
    // X in the template matches anything; any other letter itself or X.
    let t: Vec<char> = template.chars().collect();
    for (c, seq) in &m.chain_to_seqres {
        let s: Vec<char> = seq.chars().collect();
        if s.len() < t.len() {
            continue;
        }
        let hit = (0..=s.len() - t.len()).find(|&start| {
            t.iter()
                .enumerate()
                .all(|(k, &a)| a == 'X' || s[start + k] == a || s[start + k] == 'X')
        });
        if let Some(o) = hit {
            return Some((seq.clone(), c.clone(), o));
        }
    }
    None
}

/// Atom positions and masks `[L, 37]` of every SEQRES residue of `chain` (AlphaFold2's
/// `_get_atom_positions`: selenium of MSE as SD, Arg NH1/NH2 named consistently, consecutive observed
/// Cα more than 150 Å apart refused).
fn atom_positions(
    m: &mmcif::MmcifObject,
    chain: &str,
) -> Result<(Vec<ResiduePositions>, Vec<ResidueMask>), String> {
    let seq = m
        .seqres_to_structure
        .get(chain)
        .ok_or_else(|| format!("no residues for chain {chain}"))?;
    let sd = rc::atom37_index("SD").expect("SD");
    let (cd, nh1, nh2) = (
        rc::atom37_index("CD").expect("CD"),
        rc::atom37_index("NH1").expect("NH1"),
        rc::atom37_index("NH2").expect("NH2"),
    );
    let mut pos = Vec::with_capacity(seq.len());
    let mut mask = Vec::with_capacity(seq.len());
    for at in seq {
        let mut p = [[0f32; 3]; 37];
        let mut k = [0f32; 37];
        if let Some(id) = at {
            let res = m.residues.get(id).ok_or_else(|| {
                format!(
                    "residue {}{} of chain {} is not in the first model",
                    id.number,
                    id.insertion_code.trim(),
                    id.chain
                )
            })?;
            for (name, xyz, _) in &res.atoms {
                if let Some(a) = rc::atom37_index(name) {
                    p[a] = *xyz;
                    k[a] = 1.0;
                } else if name.eq_ignore_ascii_case("SE") && res.name == "MSE" {
                    p[sd] = *xyz;
                    k[sd] = 1.0;
                }
            }
            let dist = |a: [f32; 3], b: [f32; 3]| -> f32 {
                ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
            };
            if res.name == "ARG"
                && k[cd] > 0.0
                && k[nh1] > 0.0
                && k[nh2] > 0.0
                && dist(p[nh1], p[cd]) > dist(p[nh2], p[cd])
            {
                p.swap(nh1, nh2);
                k.swap(nh1, nh2);
            }
        }
        pos.push(p);
        mask.push(k);
    }
    let ca = 1;
    let mut prev: Option<[f32; 3]> = None;
    for (i, (p, k)) in pos.iter().zip(&mask).enumerate() {
        if k[ca] > 0.0 {
            if let Some(q) = prev {
                let d = (0..3)
                    .map(|x| (f64::from(p[ca][x]) - f64::from(q[x])).powi(2))
                    .sum::<f64>()
                    .sqrt();
                if d > 150.0 {
                    return Err(format!(
                        "the distance between residues {i} and {} is {d} > limit 150",
                        i + 1
                    ));
                }
            }
            prev = Some(p[ca]);
        } else {
            prev = None;
        }
    }
    Ok((pos, mask))
}

/// atom37 positions of one residue.
type ResiduePositions = [[f32; 3]; 37];
/// atom37 mask of one residue.
type ResidueMask = [f32; 37];

/// One hit's features (`[N, 37, 3]`, `[N, 37]`, sequence over the query) or the reason it is skipped.
struct HitFeatures {
    positions: Vec<[[f32; 3]; 37]>,
    masks: Vec<[f32; 37]>,
    sequence: String,
    domain_name: String,
    realigned: bool,
}

/// Python's negative indexing for the one negative value AlphaFold2 can produce (-1: the last element).
fn py_index(i: i64, len: usize) -> Option<usize> {
    let j = if i < 0 { len as i64 + i } else { i };
    (0..len as i64).contains(&j).then_some(j as usize)
}

/// Parsed structures by file, within one featurisation (hits often share an entry: chains of one file,
/// or the same chain found twice), as AlphaFold2 caches its parses.
type StructureCache = HashMap<PathBuf, Result<std::rc::Rc<mmcif::MmcifObject>, String>>;

fn load_structure(
    path: &Path,
    id: &str,
    cache: &mut StructureCache,
) -> Result<std::rc::Rc<mmcif::MmcifObject>, String> {
    cache
        .entry(path.to_path_buf())
        .or_insert_with(|| {
            let text = read_mmcif(path).map_err(|e| format!("{}: {e}", path.display()))?;
            crate::io::cif::parse(&text)
                .map_err(|e| e.to_string())
                .and_then(|d| mmcif::from_dict(id, &d))
                .map(std::rc::Rc::new)
                .map_err(|e| {
                    format!(
                        "{}: cannot be read as a template structure: {e}",
                        path.display()
                    )
                })
        })
        .clone()
}

fn process_hit(
    query: &str,
    hit: &HhrHit,
    s: &TemplateSettings,
    cache: &mut StructureCache,
) -> Result<HitFeatures, String> {
    let (mut id, chain) = pdb_id_and_chain(&hit.name).expect("checked before");
    if let Some(Some(new)) = s.obsolete.get(&id) {
        id = new.clone();
    }
    // Prefilters (AlphaFold2's _assess_hhsearch_hit; release dates come from the mmCIF file below).
    let template_sequence: String = hit.hit_sequence.chars().filter(|&c| c != '-').collect();
    let align_ratio = hit.aligned_cols as f64 / query.len() as f64;
    let length_ratio = template_sequence.len() as f64 / query.len() as f64;
    if align_ratio <= 0.1 {
        return Err(format!("did not pass prefilter: proportion of residues aligned to query too small (align ratio {align_ratio})"));
    }
    if query.contains(&template_sequence) && length_ratio > 0.95 {
        return Err(format!("did not pass prefilter: template is an exact subsequence of the query with large coverage (length ratio {length_ratio})"));
    }
    if template_sequence.len() < 10 {
        return Err(format!(
            "did not pass prefilter: template too short (length {})",
            template_sequence.len()
        ));
    }
    let mut mapping: Vec<(usize, i64)> = query_to_hit_mapping(hit, query)
        .into_iter()
        .map(|(k, v)| (k, v as i64))
        .collect();
    let path = find_mmcif(&s.mmcif_dir, &id)
        .ok_or_else(|| format!("no mmCIF file for {id} in {}", s.mmcif_dir.display()))?;
    let parsed = load_structure(&path, &id, cache)?;
    let released = parsed.release_date.as_deref().ok_or_else(|| {
        format!(
            "{}: no release date (_pdbx_audit_revision_history)",
            path.display()
        )
    })?;
    let released: Date = released
        .parse()
        .map_err(|e| format!("{}: release date {e}", path.display()))?;
    if released > s.max_template_date {
        return Err(format!(
            "released {released}, after the maximum template date {}",
            s.max_template_date
        ));
    }
    let mut realigned = false;
    let (chain_id, offset, template_sequence) = match find_in_structure(
        &chain,
        &template_sequence,
        &parsed,
    ) {
        Some((_, c, o)) => (c, o, template_sequence),
        None => {
            // Realign the hit's sequence to the structure's (AlphaFold2's
            // _realign_pdb_template_to_query).
            let new_seq = match parsed.seqres(&chain) {
                Some(x) if !x.is_empty() => x.to_string(),
                _ if parsed.chain_to_seqres.len() == 1 => parsed.chain_to_seqres[0].1.clone(),
                _ => {
                    return Err(format!(
                        "could not find chain {chain} in {id} (it may not be a protein chain)"
                    ))
                }
            };
            let kalign = s.kalign.as_deref().ok_or_else(|| {
                    "its sequence differs from the mmCIF file's and kalign is not available to realign it (apt-get install kalign, or --kalign)".to_string()
                })?;
            let (old_aln, new_aln) =
                kalign::align_pair(kalign, &template_sequence, &new_seq, s.tool_timeout)
                    .map_err(|e| format!("could not align the hit to {id}_{chain}: {e}"))?;
            let (mut oi, mut ni, mut same) = (-1i64, -1i64, 0usize);
            let mut old_to_new: HashMap<i64, i64> = HashMap::new();
            for (a, b) in old_aln.chars().zip(new_aln.chars()) {
                if a != '-' {
                    oi += 1;
                }
                if b != '-' {
                    ni += 1;
                }
                if a != '-' && b != '-' {
                    old_to_new.insert(oi, ni);
                    if a == b {
                        same += 1;
                    }
                }
            }
            let shorter = template_sequence.len().min(new_seq.len());
            if (same as f64) / (shorter as f64) < 0.9 {
                return Err(format!(
                        "the hit's sequence {template_sequence} is less than 90 % identical to {id}_{chain}'s {new_seq}"
                    ));
            }
            for slot in mapping.iter_mut() {
                slot.1 = old_to_new.get(&slot.1).copied().unwrap_or(-1);
            }
            realigned = true;
            let new_seq: String = new_seq.chars().filter(|&c| c != '-').collect();
            (chain.clone(), 0, new_seq)
        }
    };
    let (positions, masks) = atom_positions(&parsed, &chain_id)
        .map_err(|e| format!("could not get atom data ({id}_{chain_id}): {e}"))?;
    let n = query.chars().count();
    let mut out_pos = vec![[[0f32; 3]; 37]; n];
    let mut out_mask = vec![[0f32; 37]; n];
    let mut out_seq = vec!['-'; n];
    let tseq: Vec<char> = template_sequence.chars().collect();
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for &(k, v) in &mapping {
        // A realigned hit residue with no counterpart maps to -1, which AlphaFold2 indexes as the last
        // residue (Python's negative index); kept for parity.
        lo = lo.min(v + offset as i64);
        hi = hi.max(v + offset as i64);
        let t = py_index(v + offset as i64, positions.len()).ok_or_else(|| {
            format!(
                "template residue {} outside chain {chain_id}",
                v + offset as i64
            )
        })?;
        out_pos[k] = positions[t];
        out_mask[k] = masks[t];
        out_seq[k] = py_index(v, tseq.len()).map_or('-', |i| tseq[i]);
    }
    let total: f32 = out_mask.iter().flat_map(|m| m.iter()).sum();
    if total < 5.0 {
        return Err(format!(
            "template all atom mask was all zeros: {id}_{chain_id}, residue range {lo}-{hi}"
        ));
    }
    Ok(HitFeatures {
        positions: out_pos,
        masks: out_mask,
        sequence: out_seq.into_iter().collect(),
        domain_name: format!("{id}_{chain_id}"),
        realigned,
    })
}

/// Template features of `query` from its hits (AlphaFold2's `HhsearchHitFeaturizer.get_templates`),
/// with what became of each hit considered.
pub fn featurize(
    query: &str,
    hits: &[HhrHit],
    settings: &TemplateSettings,
) -> Result<(TemplateFeatures, Vec<HitReport>), TemplateError> {
    for h in hits {
        if pdb_id_and_chain(&h.name).is_none() {
            return Err(TemplateError::HitName {
                name: h.name.clone(),
            });
        }
    }
    if !hits.is_empty() && !has_structures(&settings.mmcif_dir) {
        return Err(TemplateError::NoStructures {
            path: settings.mmcif_dir.clone(),
        });
    }
    let mut order: Vec<&HhrHit> = hits.iter().collect();
    // Stable, descending Sum_probs (Python's sorted(..., reverse=True) keeps ties in file order).
    order.sort_by(|a, b| {
        b.sum_probs
            .partial_cmp(&a.sum_probs)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut used: Vec<(HitFeatures, f64)> = Vec::new();
    let mut reports = Vec::new();
    let mut cache = StructureCache::new();
    for hit in order {
        if used.len() >= settings.max_hits {
            break;
        }
        let (id, chain) = pdb_id_and_chain(&hit.name).expect("checked above");
        let name = format!("{id}_{chain}");
        if let Some(None) = settings.obsolete.get(&id) {
            reports.push(HitReport {
                hit: name,
                sum_probs: hit.sum_probs,
                skipped: Some("withdrawn from the PDB (obsolete.dat)".into()),
                realigned: false,
            });
            continue;
        }
        match process_hit(query, hit, settings, &mut cache) {
            Ok(f)
                if settings.style == FeaturizerStyle::Hmmsearch
                    && used.iter().any(|(u, _)| u.sequence == f.sequence) =>
            {
                reports.push(HitReport {
                    hit: name,
                    sum_probs: hit.sum_probs,
                    skipped: Some("same template sequence as an earlier hit".into()),
                    realigned: f.realigned,
                });
            }
            Ok(f) => {
                reports.push(HitReport {
                    hit: name,
                    sum_probs: hit.sum_probs,
                    skipped: None,
                    realigned: f.realigned,
                });
                used.push((f, hit.sum_probs));
            }
            Err(reason) => reports.push(HitReport {
                hit: name,
                sum_probs: hit.sum_probs,
                skipped: Some(reason),
                realigned: false,
            }),
        }
    }
    let n = query.chars().count();
    if used.is_empty() && settings.style == FeaturizerStyle::Hmmsearch {
        // AlphaFold-Multimer's placeholder: one template of zeros, empty name and sequence.
        return Ok((
            TemplateFeatures {
                aatype: Array3::zeros((1, n, rc::RESTYPE_WITH_X_AND_GAP)),
                all_atom_masks: Array3::zeros((1, n, rc::ATOM_TYPE_NUM)),
                all_atom_positions: Array4::zeros((1, n, rc::ATOM_TYPE_NUM, 3)),
                domain_names: vec![String::new()],
                sequence: vec![String::new()],
                sum_probs: Array2::zeros((1, 1)),
            },
            reports,
        ));
    }
    let t = used.len();
    let mut aatype = Array3::<f32>::zeros((t, n, rc::RESTYPE_WITH_X_AND_GAP));
    let mut masks = Array3::<f32>::zeros((t, n, rc::ATOM_TYPE_NUM));
    let mut positions = Array4::<f32>::zeros((t, n, rc::ATOM_TYPE_NUM, 3));
    let mut sum_probs = Array2::<f32>::zeros((t, 1));
    let mut names = Vec::new();
    let mut sequences = Vec::new();
    for (k, (f, p)) in used.iter().enumerate() {
        for (i, c) in f.sequence.chars().enumerate() {
            let code = rc::hhblits_id(c).unwrap_or(rc::HHBLITS_UNKNOWN) as usize;
            aatype[[k, i, code]] = 1.0;
            for a in 0..rc::ATOM_TYPE_NUM {
                masks[[k, i, a]] = f.masks[i][a];
                for x in 0..3 {
                    positions[[k, i, a, x]] = f.positions[i][a][x];
                }
            }
        }
        sum_probs[[k, 0]] = *p as f32;
        names.push(f.domain_name.clone());
        sequences.push(f.sequence.clone());
    }
    Ok((
        TemplateFeatures {
            aatype,
            all_atom_masks: masks,
            all_atom_positions: positions,
            domain_names: names,
            sequence: sequences,
            sum_probs,
        },
        reports,
    ))
}
