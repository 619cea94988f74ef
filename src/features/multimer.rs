//! AlphaFold-Multimer's features: each chain's monomer features (and, for heteromers, the features of its
//! unclustered UniProt hits, `*_all_seq`) made into one example as AlphaFold2 v2.3's multimer data
//! pipeline does (`pipeline_multimer.convert_monomer_features`, `add_assembly_features`,
//! `feature_processing.pair_and_merge`, `pad_msa`; `msa_pairing`): chains grouped by sequence into
//! entities, species-based pairing of the UniProt rows, unpaired rows that duplicate a paired one
//! removed, MSAs cropped to 2,048 rows per chain and templates to 4, identical chains' MSAs merged side
//! by side, different entities' block-diagonally below the paired rows, the masks and ids the model reads,
//! the MSA padded to 512 rows.
//!
//! Chains come out grouped by entity in order of first appearance (AlphaFold2's order): chains A (seq 1),
//! B (seq 2), C (seq 1) become asym ids 1 = A, 2 = C, 3 = B.
//!
//! DISCREPANCY: AlphaFold2 sorts a species' rows by similarity to the query with pandas' default
//! (unstable) sort and the paired rows by the product of their row indices with numpy's (unstable)
//! `argsort`, which numpy ≥ 1.25 runs as an AVX-512 sorting network on CPUs that have it and as an
//! introsort elsewhere: which rows pair and their order, where similarities or products tie, depend on
//! the machine. ferrofold sorts both stably: ties keep the alignment's row order (species rows) and
//! the order of the species (sorted names; paired rows). Without ties the result is AlphaFold2's
//! (tested on 2Q2K A + 1A3A A); with ties it is AlphaFold2's code with stable sorts (tested on 1A3A A
//! with a mutant of itself: 1,303 pairs).

use std::collections::{BTreeMap, HashSet};

use ndarray::{concatenate, s, Array1, Array2, Array3, Array4, Axis};

use super::{MsaFeatures, RawFeatures};
use crate::residue_constants as rc;

/// Unpaired rows kept per chain (`feature_processing.MSA_CROP_SIZE`).
pub const MSA_CROP_SIZE: usize = 2048;
/// Templates kept per chain (`feature_processing.MAX_TEMPLATES`).
pub const MAX_TEMPLATES: usize = 4;
/// UniProt hits read for pairing (`max_uniprot_hits`).
pub const MAX_UNIPROT_HITS: usize = 50_000;
/// The MSA is padded to at least this many rows (`pipeline_multimer.pad_msa(np_example, 512)`).
pub const MIN_MSA_ROWS: usize = 512;
/// A species with more rows than this in any chain is not paired (`msa_pairing.pair_sequences`).
const MAX_SPECIES_ROWS: usize = 600;
/// HHblits code of the gap (`MSA_GAP_IDX`).
const GAP: i32 = 21;

/// One chain's input: its monomer features, and (heteromers) its UniProt hits' MSA features for pairing.
#[derive(Debug, Clone)]
pub struct ChainInput {
    pub features: RawFeatures,
    pub all_seq: Option<MsaFeatures>,
}

/// The example AlphaFold-Multimer reads, with AlphaFold2's names (`feature_processing.REQUIRED_FEATURES`
/// produced by the data pipeline; `all_atom_positions`, all zeros, is left out).
#[derive(Debug, Clone, PartialEq)]
pub struct MultimerFeatures {
    /// `[N]` residue types, `restype_order_with_x` (0..=20).
    pub aatype: Array1<i32>,
    /// `[N]` residue number within its chain, from 0.
    pub residue_index: Array1<i32>,
    /// `[N]` chain number, from 1 (AlphaFold2 stores floats).
    pub asym_id: Array1<i32>,
    /// `[N]` which copy of its sequence the chain is, from 1.
    pub sym_id: Array1<i32>,
    /// `[N]` which distinct sequence the chain has, from 1.
    pub entity_id: Array1<i32>,
    /// `[N]` 1 where `entity_id > 0`.
    pub entity_mask: Array1<i32>,
    /// `[N]`.
    pub seq_mask: Array1<f32>,
    /// `[N]` mean deletion count per column over the chain's whole MSA (before pairing and cropping).
    pub deletion_mean: Array1<f32>,
    /// `[N, 37]` the residue type's heavy atoms (`STANDARD_ATOM_MASK[aatype]`).
    pub all_atom_mask: Array2<i32>,
    /// `[S, N]` paired rows, then each entity's unpaired rows block-diagonally, gaps elsewhere;
    /// `restype_order_with_x` + gap 21; padded with 0 to at least 512 rows.
    pub msa: Array2<i32>,
    /// `[S, N]`.
    pub deletion_matrix: Array2<f32>,
    /// `[S, N]` 1 on real rows, 0 on padding.
    pub msa_mask: Array2<f32>,
    /// `[S, N]` where masking may happen (1 on the paired rows and each entity's own block).
    pub bert_mask: Array2<f32>,
    /// `[S]` 1 on rows that are always cluster centres (queries).
    pub cluster_bias_mask: Array1<f32>,
    /// Rows before padding.
    pub num_alignments: i32,
    pub seq_length: i32,
    pub assembly_num_chains: i32,
    /// The first chain's template count (at most 4), as AlphaFold2 keeps it.
    pub num_templates: i32,
    /// `[4, N]` `restype_order_with_x` + gap.
    pub template_aatype: Array2<i32>,
    /// `[4, N, 37]`.
    pub template_all_atom_mask: Array3<f32>,
    /// `[4, N, 37, 3]`.
    pub template_all_atom_positions: Array4<f32>,
    /// The chains' sequences in asym order (asym id k has `chain_sequences[k - 1]`).
    pub chain_sequences: Vec<String>,
    /// The chains' names as given (input chain ids), in asym order.
    pub chain_labels: Vec<String>,
}

/// One chain on its way through the pipeline (AlphaFold2's per-chain feature dict).
#[derive(Debug, Clone)]
struct Chain {
    label: String,
    sequence: String,
    entity: i32,
    sym: i32,
    asym: i32,
    aatype: Vec<i32>,
    residue_index: Vec<i32>,
    deletion_mean: Vec<f32>,
    /// HHblits codes.
    msa: Array2<i32>,
    deletion: Array2<f32>,
    /// Paired rows (after pairing) or all UniProt rows (before): HHblits codes.
    msa_all_seq: Option<Array2<i32>>,
    deletion_all_seq: Option<Array2<f32>>,
    species_all_seq: Vec<String>,
    template_aatype: Array2<i32>,
    template_mask: Array3<f32>,
    template_positions: Array4<f32>,
}

/// Errors assembling a complex.
#[derive(Debug, thiserror::Error)]
pub enum MultimerError {
    #[error("a complex needs at least one chain")]
    NoChains,
    #[error("chain {chain}: {what}")]
    Chain { chain: String, what: String },
}

/// AlphaFold2's chain ids for `n` chains: A..Z, a..z, 0..9 (`protein.PDB_CHAIN_IDS`).
pub fn chain_ids(n: usize) -> Option<Vec<char>> {
    const IDS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (n <= IDS.len()).then(|| IDS.chars().take(n).collect())
}

/// numpy's `argmax`: the index of the first maximum.
fn argmax(values: impl Iterator<Item = f32>) -> i32 {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0 as i32
}

/// `pipeline_multimer.convert_monomer_features` for one chain: residue types from the one-hot,
/// template residue types into `restype_order_with_x`.
fn convert(input: &ChainInput, label: &str) -> Result<Chain, MultimerError> {
    let f = &input.features;
    let err = |what: String| MultimerError::Chain {
        chain: label.to_string(),
        what,
    };
    let n = f.num_res();
    let aatype: Vec<i32> = f
        .sequence
        .aatype
        .rows()
        .into_iter()
        .map(|r| argmax(r.iter().map(|&v| v as f32)))
        .collect();
    let t = f.templates.count();
    let mut template_aatype = Array2::zeros((t, n));
    for k in 0..t {
        for i in 0..n {
            let h = argmax(f.templates.aatype.slice(s![k, i, ..]).iter().copied());
            template_aatype[[k, i]] = rc::MAP_HHBLITS_AATYPE_TO_OUR_AATYPE[h as usize] as i32;
        }
    }
    let msa = f.msa.msa.clone();
    if msa.dim().1 != n {
        return Err(err(format!(
            "its MSA is {} columns wide, its sequence {n} residues",
            msa.dim().1
        )));
    }
    let deletion = f.msa.deletion_matrix_int.mapv(|d| d as f32);
    // `np.mean` over rows of the float32 deletions: an exact integer sum (far below 2^24) divided in f32.
    let rows = deletion.dim().0.max(1) as f32;
    let deletion_mean = deletion
        .sum_axis(Axis(0))
        .iter()
        .map(|&s| s / rows)
        .collect();
    let (msa_all_seq, deletion_all_seq, species_all_seq) = match &input.all_seq {
        Some(a) => {
            if a.msa.dim().1 != n {
                return Err(err(format!(
                    "its UniProt (pairing) alignment is {} columns wide, its sequence {n} residues",
                    a.msa.dim().1
                )));
            }
            (
                Some(a.msa.clone()),
                Some(a.deletion_matrix_int.mapv(|d| d as f32)),
                a.msa_species_identifiers.clone(),
            )
        }
        None => (None, None, Vec::new()),
    };
    Ok(Chain {
        label: label.to_string(),
        sequence: f.sequence.sequence.clone(),
        entity: 0,
        sym: 0,
        asym: 0,
        aatype,
        residue_index: f.sequence.residue_index.to_vec(),
        deletion_mean,
        msa,
        deletion,
        msa_all_seq,
        deletion_all_seq,
        species_all_seq,
        template_aatype,
        template_mask: f.templates.all_atom_masks.clone(),
        template_positions: f.templates.all_atom_positions.clone(),
    })
}

/// `add_assembly_features`: entities by distinct sequence (in order of first appearance), each entity's
/// chains in order; asym ids count chains in that grouped order.
fn assemble(chains: Vec<Chain>) -> Vec<Chain> {
    let mut entity_of: Vec<String> = Vec::new();
    let mut groups: BTreeMap<usize, Vec<Chain>> = BTreeMap::new();
    for c in chains {
        let e = match entity_of.iter().position(|s| *s == c.sequence) {
            Some(e) => e,
            None => {
                entity_of.push(c.sequence.clone());
                entity_of.len() - 1
            }
        };
        groups.entry(e).or_default().push(c);
    }
    let mut out = Vec::new();
    let mut asym = 1;
    for (e, group) in groups {
        for (k, mut c) in group.into_iter().enumerate() {
            c.entity = e as i32 + 1;
            c.sym = k as i32 + 1;
            c.asym = asym;
            asym += 1;
            out.push(c);
        }
    }
    out
}

/// Stable sort of `rows` by `key` descending (ties keep their order).
fn sorted_desc(rows: &mut [usize], key: impl Fn(usize) -> f64) {
    rows.sort_by(|&a, &b| {
        key(b)
            .partial_cmp(&key(a))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
}

/// `msa_pairing.pair_sequences` + `reorder_paired_rows`: for every species in at least two chains
/// (and in no chain more than 600 times), the chains' rows of that species most similar to their
/// query, paired in order; the query rows first; rows paired across all chains before rows paired across
/// fewer, each group by the product of its row indices. Row index −1 (a chain without that species)
/// stands for a gap row.
fn pair_rows(chains: &[Chain]) -> Vec<Vec<i64>> {
    let n = chains.len();
    // Per chain: species → its rows (in row order), and each row's similarity to the query row.
    let mut per_chain: Vec<BTreeMap<&str, Vec<usize>>> = Vec::new();
    let mut similarity: Vec<Vec<f64>> = Vec::new();
    let mut species: Vec<&str> = Vec::new();
    for c in chains {
        let msa = c.msa_all_seq.as_ref().expect("checked by the caller");
        let len = msa.dim().1 as f64;
        let q = msa.row(0);
        similarity.push(
            msa.rows()
                .into_iter()
                .map(|r| r.iter().zip(q.iter()).filter(|(a, b)| a == b).count() as f64 / len)
                .collect(),
        );
        let mut map: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (row, sp) in c.species_all_seq.iter().enumerate() {
            map.entry(sp.as_str()).or_default().push(row);
        }
        species.extend(map.keys().copied());
        per_chain.push(map);
    }
    species.sort_unstable();
    species.dedup();
    let mut by_count: BTreeMap<usize, Vec<Vec<i64>>> = BTreeMap::new();
    by_count.entry(n).or_default().push(vec![0; n]);
    for sp in species.into_iter().filter(|s| !s.is_empty()) {
        let present: Vec<Option<&Vec<usize>>> = per_chain.iter().map(|m| m.get(sp)).collect();
        let count = present.iter().filter(|p| p.is_some()).count();
        if count <= 1 || present.iter().flatten().any(|r| r.len() > MAX_SPECIES_ROWS) {
            continue;
        }
        let take = present.iter().flatten().map(|r| r.len()).min().unwrap_or(0);
        let columns: Vec<Vec<i64>> = present
            .iter()
            .enumerate()
            .map(|(ci, p)| match p {
                Some(rows) => {
                    let mut rows = rows.to_vec();
                    sorted_desc(&mut rows, |r| similarity[ci][r]);
                    rows[..take].iter().map(|&r| r as i64).collect()
                }
                None => vec![-1; take],
            })
            .collect();
        let group = by_count.entry(count).or_default();
        for k in 0..take {
            group.push(columns.iter().map(|col| col[k]).collect());
        }
    }
    let mut out = Vec::new();
    for (_, mut rows) in by_count.into_iter().rev() {
        let product = |r: &Vec<i64>| r.iter().product::<i64>().unsigned_abs();
        rows.sort_by_key(product); // stable
        out.extend(rows);
    }
    out
}

/// `create_paired_features` + `deduplicate_unpaired_sequences`.
fn pair(chains: &mut [Chain]) {
    let rows = pair_rows(chains);
    for (ci, c) in chains.iter_mut().enumerate() {
        let msa = c.msa_all_seq.take().expect("checked");
        let del = c.deletion_all_seq.take().expect("checked");
        let (s, n) = msa.dim();
        let pick = |r: i64| if r < 0 { s } else { r as usize };
        let mut pm = Array2::from_elem((rows.len(), n), GAP);
        let mut pd = Array2::zeros((rows.len(), n));
        for (k, r) in rows.iter().enumerate() {
            let src = pick(r[ci]);
            if src < s {
                pm.row_mut(k).assign(&msa.row(src));
                pd.row_mut(k).assign(&del.row(src));
            }
        }
        // Unpaired rows equal to a paired row go (the query row among them).
        let paired: HashSet<Vec<i32>> = pm.rows().into_iter().map(|r| r.to_vec()).collect();
        let keep: Vec<usize> = (0..c.msa.dim().0)
            .filter(|&r| !paired.contains(&c.msa.row(r).to_vec()))
            .collect();
        c.msa = c.msa.select(Axis(0), &keep);
        c.deletion = c.deletion.select(Axis(0), &keep);
        c.msa_all_seq = Some(pm);
        c.deletion_all_seq = Some(pd);
    }
}

/// `crop_chains`: unpaired rows to 2,048 less the chain's non-gap paired rows (of at most 1,024), templates
/// to 4.
fn crop(c: &mut Chain, paired: bool) {
    let unpaired = c.msa.dim().0;
    let keep = if paired {
        let all = c.msa_all_seq.as_ref().expect("paired");
        let keep_all = all.dim().0.min(MSA_CROP_SIZE / 2);
        let non_gap = all
            .slice(s![..keep_all, ..])
            .rows()
            .into_iter()
            .filter(|r| r.iter().any(|&x| x != GAP))
            .count()
            .min(keep_all);
        c.msa_all_seq = Some(all.slice(s![..keep_all, ..]).to_owned());
        let d = c.deletion_all_seq.as_ref().expect("paired");
        c.deletion_all_seq = Some(d.slice(s![..keep_all, ..]).to_owned());
        unpaired.min(MSA_CROP_SIZE.saturating_sub(non_gap))
    } else {
        unpaired.min(MSA_CROP_SIZE)
    };
    c.msa = c.msa.slice(s![..keep, ..]).to_owned();
    c.deletion = c.deletion.slice(s![..keep, ..]).to_owned();
    let t = c.template_aatype.dim().0.min(MAX_TEMPLATES);
    c.template_aatype = c.template_aatype.slice(s![..t, ..]).to_owned();
    c.template_mask = c.template_mask.slice(s![..t, .., ..]).to_owned();
    c.template_positions = c.template_positions.slice(s![..t, .., .., ..]).to_owned();
}

/// Block-diagonal stack of `blocks` (rows × their own columns), `pad` elsewhere.
fn block_diag<T: Clone>(blocks: &[Array2<T>], pad: T) -> Array2<T> {
    let rows: usize = blocks.iter().map(|b| b.dim().0).sum();
    let cols: usize = blocks.iter().map(|b| b.dim().1).sum();
    let mut out = Array2::from_elem((rows, cols), pad);
    let (mut r, mut c) = (0, 0);
    for b in blocks {
        let (h, w) = b.dim();
        out.slice_mut(s![r..r + h, c..c + w]).assign(b);
        r += h;
        c += w;
    }
    out
}

fn hstack<T: Clone>(parts: &[Array2<T>]) -> Array2<T> {
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    concatenate(Axis(1), &views).expect("same row counts")
}

fn vstack<T: Clone>(parts: &[Array2<T>]) -> Array2<T> {
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    concatenate(Axis(0), &views).expect("same widths")
}

/// How a heteromer's `*_all_seq` rows become paired rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pairing {
    /// AlphaFold2's: rows of the same species paired, unpaired rows that repeat a paired one dropped.
    #[default]
    BySpecies,
    /// Already paired (ColabFold's paired alignments: row k of every chain belongs together), used as
    /// they are, nothing dropped — ColabFold's `process_multimer_features`.
    Given,
}

/// AlphaFold2's multimer data pipeline over `chains` (in chain order A, B, ...; identical sequences
/// may repeat): the example the multimer model reads. `labels` name the chains in errors.
pub fn make_multimer_features(
    chains: &[ChainInput],
    labels: &[String],
) -> Result<MultimerFeatures, MultimerError> {
    make_multimer_features_with(chains, labels, Pairing::BySpecies)
}

/// [`make_multimer_features`] with the pairing given.
pub fn make_multimer_features_with(
    chains: &[ChainInput],
    labels: &[String],
    pairing: Pairing,
) -> Result<MultimerFeatures, MultimerError> {
    if chains.is_empty() {
        return Err(MultimerError::NoChains);
    }
    let converted: Vec<Chain> = chains
        .iter()
        .zip(labels)
        .map(|(c, l)| convert(c, l))
        .collect::<Result<_, _>>()?;
    // Identical chains are merged side by side: they must come with the same alignments (AlphaFold2
    // gives every copy the first one's features).
    for (i, a) in converted.iter().enumerate() {
        if let Some(b) = converted[..i].iter().find(|b| b.sequence == a.sequence) {
            let rows = |c: &Chain| (c.msa.dim().0, c.msa_all_seq.as_ref().map(|m| m.dim().0));
            if rows(a) != rows(b) || a.msa != b.msa {
                return Err(MultimerError::Chain {
                    chain: a.label.clone(),
                    what: format!(
                        "it has chain {}'s sequence but other alignments; identical chains must share the first one's",
                        b.label
                    ),
                });
            }
        }
    }
    let mut chains = assemble(converted);
    let num_chains = chains.len();
    let entities: HashSet<i32> = chains.iter().map(|c| c.entity).collect();
    let paired = entities.len() > 1;
    if paired {
        if let Some(c) = chains.iter().find(|c| c.msa_all_seq.is_none()) {
            return Err(MultimerError::Chain {
                chain: c.label.clone(),
                what: "a heteromer's chains each need UniProt hits for pairing (uniprot_hits.sto)"
                    .into(),
            });
        }
        match pairing {
            Pairing::BySpecies => pair(&mut chains),
            Pairing::Given => {
                let rows: Vec<usize> = chains
                    .iter()
                    .map(|c| c.msa_all_seq.as_ref().map_or(0, |m| m.dim().0))
                    .collect();
                if rows.iter().any(|&r| r != rows[0]) {
                    return Err(MultimerError::Chain {
                        chain: chains[0].label.clone(),
                        what: format!("the chains' paired alignments have different numbers of rows ({rows:?}); row k of every chain must belong together"),
                    });
                }
            }
        }
    }
    for c in chains.iter_mut() {
        crop(c, paired);
    }
    // AlphaFold2 keeps the first chain's (cropped) template count.
    let num_templates = chains[0].template_aatype.dim().0 as i32;
    // Templates padded to 4 per chain.
    for c in chains.iter_mut() {
        let (t, n) = c.template_aatype.dim();
        if t < MAX_TEMPLATES {
            let mut a = Array2::zeros((MAX_TEMPLATES, n));
            a.slice_mut(s![..t, ..]).assign(&c.template_aatype);
            c.template_aatype = a;
            let mut m = Array3::zeros((MAX_TEMPLATES, n, rc::ATOM_TYPE_NUM));
            m.slice_mut(s![..t, .., ..]).assign(&c.template_mask);
            c.template_mask = m;
            let mut p = Array4::zeros((MAX_TEMPLATES, n, rc::ATOM_TYPE_NUM, 3));
            p.slice_mut(s![..t, .., .., ..])
                .assign(&c.template_positions);
            c.template_positions = p;
        }
    }
    // Identical chains side by side (one group per entity, in entity order).
    let mut groups: Vec<Vec<&Chain>> = Vec::new();
    for c in &chains {
        match groups.last_mut() {
            Some(g) if g[0].entity == c.entity => g.push(c),
            _ => groups.push(vec![c]),
        }
    }
    let group_msa: Vec<Array2<i32>> = groups
        .iter()
        .map(|g| hstack(&g.iter().map(|c| c.msa.clone()).collect::<Vec<_>>()))
        .collect();
    let group_del: Vec<Array2<f32>> = groups
        .iter()
        .map(|g| hstack(&g.iter().map(|c| c.deletion.clone()).collect::<Vec<_>>()))
        .collect();
    let mut msa = block_diag(&group_msa, GAP);
    let mut deletion = block_diag(&group_del, 0.0f32);
    let n: usize = chains.iter().map(|c| c.aatype.len()).sum();
    let group_blocks: Vec<Array2<f32>> = group_msa.iter().map(|m| Array2::ones(m.dim())).collect();
    let (bert_mask, cluster_bias_mask) = if paired {
        let all: Vec<Array2<i32>> = chains
            .iter()
            .map(|c| c.msa_all_seq.clone().expect("paired"))
            .collect();
        let all_del: Vec<Array2<f32>> = chains
            .iter()
            .map(|c| c.deletion_all_seq.clone().expect("paired"))
            .collect();
        let pm = hstack(&all);
        let pd = hstack(&all_del);
        let paired_rows = pm.dim().0;
        msa = vstack(&[pm, msa]);
        deletion = vstack(&[pd, deletion]);
        let bert = vstack(&[
            Array2::ones((paired_rows, n)),
            block_diag(&group_blocks, 0.0),
        ]);
        let mut bias = Array1::zeros(msa.dim().0);
        bias[0] = 1.0;
        (bert, bias)
    } else {
        let mut bias = Vec::new();
        for m in &group_msa {
            let mut b = vec![0.0f32; m.dim().0];
            if let Some(first) = b.first_mut() {
                *first = 1.0;
            }
            bias.extend(b);
        }
        (block_diag(&group_blocks, 0.0), Array1::from(bias))
    };
    let num_alignments = msa.dim().0 as i32;
    // HHblits codes → AlphaFold2's residue order.
    let msa = msa.mapv(|h| rc::MAP_HHBLITS_AATYPE_TO_OUR_AATYPE[h as usize] as i32);
    let cat_i = |f: &dyn Fn(&Chain) -> Vec<i32>| -> Array1<i32> {
        Array1::from(chains.iter().flat_map(f).collect::<Vec<_>>())
    };
    let aatype = cat_i(&|c: &Chain| c.aatype.clone());
    let entity_id = cat_i(&|c: &Chain| vec![c.entity; c.aatype.len()]);
    let mut all_atom_mask = Array2::zeros((n, rc::ATOM_TYPE_NUM));
    for (i, &a) in aatype.iter().enumerate() {
        for k in 0..rc::ATOM_TYPE_NUM {
            all_atom_mask[[i, k]] = rc::restype_has_atom37(a as usize, k) as i32;
        }
    }
    let seq_mask = entity_id.mapv(|e| (e > 0) as i32 as f32);
    let mut msa_mask = Array2::<f32>::ones(msa.dim());
    msa_mask *= &seq_mask.view().insert_axis(Axis(0));
    // Padded to at least 512 rows with zeros.
    let (msa, deletion, bert_mask, msa_mask, cluster_bias_mask) = {
        let rows = msa.dim().0;
        if rows < MIN_MSA_ROWS {
            let pad2 = |a: Array2<f32>| {
                let mut p = Array2::zeros((MIN_MSA_ROWS, n));
                p.slice_mut(s![..rows, ..]).assign(&a);
                p
            };
            let mut m = Array2::zeros((MIN_MSA_ROWS, n));
            m.slice_mut(s![..rows, ..]).assign(&msa);
            let mut b = Array1::zeros(MIN_MSA_ROWS);
            b.slice_mut(s![..rows]).assign(&cluster_bias_mask);
            (m, pad2(deletion), pad2(bert_mask), pad2(msa_mask), b)
        } else {
            (msa, deletion, bert_mask, msa_mask, cluster_bias_mask)
        }
    };
    let template_aatype = hstack(
        &chains
            .iter()
            .map(|c| c.template_aatype.clone())
            .collect::<Vec<_>>(),
    );
    let tm: Vec<_> = chains.iter().map(|c| c.template_mask.view()).collect();
    let tp: Vec<_> = chains.iter().map(|c| c.template_positions.view()).collect();
    Ok(MultimerFeatures {
        residue_index: cat_i(&|c: &Chain| c.residue_index.clone()),
        asym_id: cat_i(&|c: &Chain| vec![c.asym; c.aatype.len()]),
        sym_id: cat_i(&|c: &Chain| vec![c.sym; c.aatype.len()]),
        entity_mask: entity_id.mapv(|e| (e != 0) as i32),
        deletion_mean: Array1::from(
            chains
                .iter()
                .flat_map(|c| c.deletion_mean.clone())
                .collect::<Vec<_>>(),
        ),
        entity_id,
        seq_mask,
        all_atom_mask,
        aatype,
        msa,
        deletion_matrix: deletion,
        msa_mask,
        bert_mask,
        cluster_bias_mask,
        num_alignments,
        seq_length: n as i32,
        assembly_num_chains: num_chains as i32,
        num_templates,
        template_aatype,
        template_all_atom_mask: concatenate(Axis(1), &tm).expect("4 templates each"),
        template_all_atom_positions: concatenate(Axis(1), &tp).expect("4 templates each"),
        chain_sequences: chains.iter().map(|c| c.sequence.clone()).collect(),
        chain_labels: chains.iter().map(|c| c.label.clone()).collect(),
    })
}

/// The pairing features of a chain (`DataPipeline._all_seq_msa_features`): its UniProt hits (`.sto` from
/// jackhmmer, or an `.a3m`), at most 50,000 rows, through `make_msa_features`. `query` is the chain's
/// sequence, which must be the alignment's first row.
pub fn all_seq_features(
    path: &std::path::Path,
    query: &crate::query::Query,
) -> Result<MsaFeatures, super::builder::BuildError> {
    let (msa, _) = super::builder::read_msa(path, Some(MAX_UNIPROT_HITS))?;
    super::builder::check_query(&msa, query, path, "the chain")?;
    let name = path.display().to_string();
    super::make_msa_features(&[(name.as_str(), &msa)]).map_err(|source| {
        super::builder::BuildError::Feature {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{
        make_msa_features, make_sequence_features, single_sequence_msa, TemplateFeatures,
    };

    fn chain(seq: &str, extra_row: Option<&str>) -> ChainInput {
        let mut msa = single_sequence_msa(seq, "q");
        if let Some(r) = extra_row {
            msa.sequences.push(r.into());
            msa.deletion_matrix.push(vec![0; r.len()]);
            msa.descriptions.push("hit".into());
            msa.lines.push(0);
        }
        ChainInput {
            features: RawFeatures {
                sequence: make_sequence_features(seq, "q").unwrap(),
                msa: make_msa_features(&[("m", &msa)]).unwrap(),
                templates: TemplateFeatures::empty(seq.len()),
            },
            all_seq: None,
        }
    }

    #[test]
    fn identical_chains_with_other_alignments_and_unpaired_heteromers_are_errors() {
        let labels = vec!["A".to_string(), "B".to_string()];
        let e = make_multimer_features(&[chain("MKV", None), chain("MKV", Some("MKI"))], &labels)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("chain B") && e.contains("chain A's sequence"),
            "{e}"
        );
        let e = make_multimer_features(&[chain("MKV", None), chain("MRV", None)], &labels)
            .unwrap_err()
            .to_string();
        assert!(e.contains("UniProt hits"), "{e}");
        let f = make_multimer_features(&[chain("MKV", None), chain("MKV", None)], &labels).unwrap();
        assert_eq!((f.seq_length, f.msa.dim().0, f.num_alignments), (6, 512, 1));
        assert_eq!(f.sym_id.to_vec(), [1, 1, 1, 2, 2, 2]);
        assert!(chain_ids(62).is_some() && chain_ids(63).is_none());
    }
}
