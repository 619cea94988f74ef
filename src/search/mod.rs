//! Built-in homologue search, pure Rust: an exact 3-mer two-hit prefilter with ungapped extension, Smith-Waterman
//! with BLOSUM62 and affine gaps on the candidates, Karlin-Altschul E-values, parallel over the database
//! with rayon; hits become an A3M alignment in the query's columns (query first, insertions lower case).

pub mod align;
pub mod colabfold;
pub mod db;
pub mod msa_server;
pub mod runner;
pub mod striped;
pub mod tools;

use rayon::prelude::*;

use align::{evalue, profile, sw_align_banded, sw_score, GapCosts, Op};
use db::{encode, SequenceDb};

use crate::io::a3m::{A3m, A3mRecord};

/// One database search of the `features` stage: which database, with which program, and the stem of the
/// alignment file it writes in `msas/` (AlphaFold2's names, e.g. `uniref90_hits`, give the alignment its
/// role and row limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchSpec {
    pub database: std::path::PathBuf,
    pub tool: tools::SearchTool,
    pub output_stem: String,
}

impl SearchSpec {
    /// A search whose output is named after the database file (`uniprot20k.fasta.gz` → `uniprot20k_hits`).
    pub fn named_after_database(database: std::path::PathBuf, tool: tools::SearchTool) -> Self {
        let name = database
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = format!("{}_hits", name.split('.').next().unwrap_or("db"));
        Self {
            database,
            tool,
            output_stem: stem,
        }
    }
}

/// Search settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOptions {
    /// Report hits with E-value at most this.
    pub evalue: f64,
    /// At most this many hits (best first).
    pub max_hits: usize,
    /// Prefilter: ungapped score a two-hit diagonal needs before Smith-Waterman runs.
    pub min_ungapped_score: i32,
    pub gaps: GapCosts,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            evalue: 1e-3,
            max_hits: 10_000,
            min_ungapped_score: 38,
            gaps: GapCosts::default(),
        }
    }
}

/// One hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Index in the database.
    pub index: usize,
    pub score: i32,
    pub evalue: f64,
    pub alignment: align::Alignment,
}

/// Search statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchStats {
    pub sequences: usize,
    pub candidates: usize,
    pub hits: usize,
}

/// k-mer length of the prefilter (20³ = 8,000 k-mers fit the database's `u16` indices).
const K: usize = 3;
/// Entries of the query's k-mer presence table: 20³ = 8,000 k-mers rounded up to a power of two, so that
/// masking an index keeps it in bounds (`NO_KMER` lands on an entry past 8,000, always absent).
const PRESENT_SIZE: usize = 8192;
const _: () =
    assert!(20usize.pow(K as u32) <= PRESENT_SIZE && db::NO_KMER as usize % PRESENT_SIZE >= 8000);
/// Half-width (diagonals) of the band in which hits are re-aligned for their path.
const TRACE_BAND: usize = 64;
/// Half-width of the band tried first: most hits' optimal paths stay this close to the seed diagonal,
/// and a quarter of the band costs a quarter of the time.
const NARROW_TRACE_BAND: usize = 16;
/// Two k-mer hits on one diagonal at most this far apart trigger an extension.
const WINDOW: i32 = 40;

/// Best ungapped segment score on the diagonal through query `i` / target `j` (Kadane over the diagonal).
/// `qprof` holds each query position's row of [`align::BLOSUM62_PADDED`].
fn ungapped_best(qprof: &[&[i8; 32]], t: &[u8], i: usize, j: usize) -> i32 {
    let back = i.min(j);
    let (mut run, mut best) = (0, 0);
    for (row, &c) in qprof[i - back..].iter().zip(&t[j - back..]) {
        run = (run + row[c as usize & 31] as i32).max(0);
        best = best.max(run);
    }
    best
}

/// Index (base 20) of the k-mer `codes`, `None` if it holds a non-standard residue.
fn kmer(codes: &[u8]) -> Option<usize> {
    let mut v = 0;
    for &c in codes {
        if c >= 20 {
            return None;
        }
        v = v * 20 + c as usize;
    }
    Some(v)
}

/// Smith-Waterman score: vectorised on x86-64 (re-scored exactly when the 16-bit lanes saturate), scalar
/// elsewhere. `lower_bound` (a score some alignment is known to reach, the prefilter's ungapped one) skips
/// the 8-bit pass when that pass is bound to saturate.
#[allow(clippy::too_many_arguments)]
fn score_pair(
    lower_bound: i32,
    prof: &[Vec<i32>],
    striped_prof: &striped::StripedProfile,
    bytes_prof: Option<&striped::BytesProfile>,
    t: &[u8],
    gaps: GapCosts,
    h: &mut Vec<i32>,
    e: &mut Vec<i32>,
    scratch: &mut striped::Scratch,
    byte_scratch: &mut striped::ByteScratch,
) -> i32 {
    #[cfg(target_arch = "x86_64")]
    if let Some(bp) = bytes_prof.filter(|bp| lower_bound < bp.saturation_score()) {
        if let Some(s) = striped::score_bytes(bp, t, gaps, byte_scratch) {
            return s;
        }
    }
    if cfg!(target_arch = "x86_64") {
        let s = striped::score(striped_prof, t, gaps, scratch);
        if s < i16::MAX as i32 - 256 {
            return s;
        }
    }
    sw_score(prof, t, gaps, h, e)
}

/// Searches `query` (residue letters) against `db`.
pub fn search(query: &str, db: &SequenceDb, opts: &SearchOptions) -> (Vec<Hit>, SearchStats) {
    search_with_total(query, db, opts, db.total_residues())
}

/// Residues per chunk when a database is searched as a stream ([`search_file`]): about 4 bytes each
/// (letters, codes, k-mer index) plus headers, i.e. a few hundred MB per chunk.
pub const STREAM_CHUNK_RESIDUES: usize = 64 << 20;

/// Searches `query` against the FASTA(.gz) file at `path` read in chunks of `chunk_residues` residues,
/// so that memory stays bounded by one chunk whatever the database's size: a first pass counts the
/// residues (E-values are over the whole database), the second searches chunk by chunk and keeps the best
/// `max_hits`. The hits are the same as [`search`]'s on the whole database loaded at once; they come with
/// a small database of just their sequences (hit `index` points into it).
pub fn search_file(
    query: &str,
    path: &std::path::Path,
    opts: &SearchOptions,
    chunk_residues: usize,
) -> Result<(Vec<Hit>, SearchStats, SequenceDb), db::DbError> {
    let (sequences, total) = SequenceDb::count(path, chunk_residues)?;
    // (hit with its global index, header, letters, codes)
    let mut found: Vec<(Hit, String, Vec<u8>, Vec<u8>)> = Vec::new();
    let (mut base, mut candidates) = (0usize, 0usize);
    SequenceDb::load_chunks(path, chunk_residues, |c| {
        let (hits, stats) = search_with_total(query, &c, opts, total);
        candidates += stats.candidates;
        for h in hits {
            let i = h.index;
            found.push((
                Hit {
                    index: base + i,
                    ..h
                },
                c.headers[i].clone(),
                c.residues_of(i).to_vec(),
                c.codes_of(i).to_vec(),
            ));
        }
        found.sort_by(|a, b| b.0.score.cmp(&a.0.score).then(a.0.index.cmp(&b.0.index)));
        found.truncate(opts.max_hits);
        base += c.len();
        Ok(())
    })?;
    let mut hit_db = SequenceDb {
        path: path.into(),
        ..Default::default()
    };
    let mut hits = Vec::with_capacity(found.len());
    for (k, (mut h, header, letters, codes)) in found.into_iter().enumerate() {
        hit_db.offsets.push(hit_db.residues.len());
        hit_db.headers.push(header);
        hit_db.residues.extend_from_slice(&letters);
        hit_db.codes.extend_from_slice(&codes);
        h.index = k;
        hits.push(h);
    }
    hit_db.offsets.push(hit_db.residues.len());
    hit_db.kmers = vec![db::NO_KMER; hit_db.codes.len()];
    let stats = SearchStats {
        sequences,
        candidates,
        hits: hits.len(),
    };
    Ok((hits, stats, hit_db))
}

fn search_with_total(
    query: &str,
    db: &SequenceDb,
    opts: &SearchOptions,
    n_total: usize,
) -> (Vec<Hit>, SearchStats) {
    let q: Vec<u8> = query.bytes().map(encode).collect();
    let m = q.len();
    // Query k-mer table: k-mer → query positions.
    let mut table: Vec<Vec<u16>> = vec![Vec::new(); 20usize.pow(K as u32)];
    for i in 0..m.saturating_sub(K - 1) {
        if let Some(k) = kmer(&q[i..i + K]) {
            table[k].push(i as u16);
        }
    }
    // Which k-mers the query has at all, one byte each (8 KB, stays in L1; `NO_KMER` is past the end):
    // most database positions are dismissed by this test without touching the table.
    let mut present = Box::new([false; PRESENT_SIZE]);
    for (k, v) in table.iter().enumerate() {
        present[k] = !v.is_empty();
    }
    let prof = profile(&q);
    let qprof: Vec<&[i8; 32]> = q
        .iter()
        .map(|&c| &align::BLOSUM62_PADDED[c as usize & 31])
        .collect();
    let striped_prof = striped::StripedProfile::new(&q);
    let bytes_prof = striped::BytesProfile::new(&q);
    let scored: Vec<(usize, i32, isize)> = (0..db.len())
        .into_par_iter()
        .map_init(
            || {
                (
                    Vec::<i32>::new(),
                    Vec::<u32>::new(),
                    Vec::<u32>::new(),
                    Vec::<i32>::new(),
                    Vec::<i32>::new(),
                    striped::Scratch::default(),
                    striped::ByteScratch::default(),
                )
            },
            |(last, touched, positions, h, e, scratch, byte_scratch), idx| {
                let t = db.codes_of(idx);
                if t.len() < K || m < K {
                    return None;
                }
                // Two-hit prefilter (as BLAST): a k-mer hit within `WINDOW` of an earlier one on the same
                // diagonal triggers an ungapped extension of that diagonal (once per diagonal); the pair
                // passes when the best extension scores at least `opts.min_ungapped_score`, and that
                // diagonal centres the band of the final alignment.
                const EXTENDED: i32 = i32::MAX;
                // Diagonal state persists between targets; only the entries touched are reset afterwards
                // (clearing the whole array per target would cost more than the scan itself).
                if last.len() < m + t.len() {
                    last.resize(m + t.len(), i32::MIN / 2);
                }
                let mut best: Option<(i32, isize)> = None;
                let kmers = &db.kmers_of(idx)[..=t.len() - K];
                // Positions whose k-mer the query has, compacted without branches (~4 % of positions
                // pass; a branch per position mispredicted often enough to dominate the scan).
                positions.resize(kmers.len(), 0);
                let mut found = 0;
                for (j, &k) in kmers.iter().enumerate() {
                    positions[found] = j as u32;
                    found += present[k as usize & (PRESENT_SIZE - 1)] as usize;
                }
                for &j in &positions[..found] {
                    let j = j as usize;
                    for &i in &table[kmers[j] as usize] {
                        let d = j + m - i as usize;
                        let prev = last[d];
                        if prev == i32::MIN / 2 {
                            touched.push(d as u32);
                        }
                        if prev == EXTENDED {
                            continue;
                        }
                        let dist = j as i32 - prev;
                        if dist >= K as i32 && dist <= WINDOW {
                            last[d] = EXTENDED;
                            let u = ungapped_best(&qprof, t, i as usize, j);
                            if u >= opts.min_ungapped_score && best.is_none_or(|b| u > b.0) {
                                best = Some((u, j as isize - i as isize));
                            }
                            continue;
                        }
                        if dist >= K as i32 || prev < 0 {
                            last[d] = j as i32;
                        }
                    }
                }
                for &d in touched.iter() {
                    last[d as usize] = i32::MIN / 2;
                }
                touched.clear();
                let (ungapped, diagonal) = best?;
                Some((
                    idx,
                    score_pair(
                        ungapped,
                        &prof,
                        &striped_prof,
                        bytes_prof.as_ref(),
                        t,
                        opts.gaps,
                        h,
                        e,
                        scratch,
                        byte_scratch,
                    ),
                    diagonal,
                ))
            },
        )
        .flatten()
        .collect();
    let candidates = scored.len();
    let mut kept: Vec<(usize, i32, f64, isize)> = scored
        .into_iter()
        .map(|(i, s, d)| (i, s, evalue(s, m, n_total), d))
        .filter(|&(_, _, e, _)| e <= opts.evalue)
        .collect();
    kept.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    kept.truncate(opts.max_hits);
    let hits: Vec<Hit> = kept
        .into_par_iter()
        .map(|(index, score, ev, diagonal)| Hit {
            index,
            score,
            evalue: ev,
            // The path in a band around the seed diagonal (the score above is the full Smith-Waterman's):
            // first a narrow band, kept when it already reaches the full score (an optimal path lies in
            // it), else the wide one.
            alignment: {
                let t = db.codes_of(index);
                let narrow = sw_align_banded(&q, t, opts.gaps, diagonal, NARROW_TRACE_BAND);
                if narrow.score >= score {
                    narrow
                } else {
                    sw_align_banded(&q, t, opts.gaps, diagonal, TRACE_BAND)
                }
            },
        })
        .collect();
    let stats = SearchStats {
        sequences: db.len(),
        candidates,
        hits: hits.len(),
    };
    (hits, stats)
}

/// The hits as an A3M alignment in the query's columns, the query first. Rows are named
/// `<db header id>/<start>-<end>` (1-based target range) followed by the rest of the header and the E-value.
pub(crate) fn hits_to_a3m(query_id: &str, query: &str, hits: &[Hit], db: &SequenceDb) -> A3m {
    let mut records = vec![A3mRecord {
        description: query_id.to_string(),
        text: query.to_string(),
        line: 0,
    }];
    for h in hits {
        let letters = db.residues_of(h.index);
        let a = &h.alignment;
        let mut text = String::with_capacity(query.len() + 16);
        text.extend(std::iter::repeat_n('-', a.query.0));
        let (mut ti, mut qi) = (a.target.0, a.query.0);
        for op in &a.ops {
            match op {
                Op::Match => {
                    text.push(letters[ti] as char);
                    ti += 1;
                    qi += 1;
                }
                Op::Delete => {
                    text.push('-');
                    qi += 1;
                }
                Op::Insert => {
                    text.push((letters[ti] as char).to_ascii_lowercase());
                    ti += 1;
                }
            }
        }
        text.extend(std::iter::repeat_n('-', query.len() - qi));
        let header = &db.headers[h.index];
        let (id, rest) = header
            .split_once(char::is_whitespace)
            .unwrap_or((header, ""));
        let description = format!(
            "{id}/{}-{} {} E={:.2e}",
            a.target.0 + 1,
            a.target.1,
            rest.trim(),
            h.evalue
        );
        records.push(A3mRecord {
            description,
            text,
            line: 0,
        });
    }
    A3m { records }
}
