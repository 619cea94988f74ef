//! Template searches: HH-suite's `hhsearch` on a pdb70 database with the uniref90 alignment (AlphaFold2's
//! monomer default), and ferrofold's own Smith-Waterman over `pdb_seqres.txt` (templates with no external
//! tool). Both give `.hhr` hits that [`super::featurize`] turns into template features.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::io::hhr::HhrHit;
use crate::io::stockholm::Stockholm;
use crate::search::align::Op;
use crate::search::db::SequenceDb;
use crate::search::tools::{self, ToolError};
use crate::search::{search, SearchOptions};

/// The alignment hhsearch reads, as AlphaFold2 makes it from the uniref90 hits: a Stockholm file cut to
/// its first `max_rows` sequences, rows equal on the query's columns removed (`deduplicate_stockholm_msa`),
/// converted to A3M. (AlphaFold2 also drops all-gap columns first; that changes no A3M row: such a column
/// is a gap in the query, which A3M drops anyway.) An A3M file is used as it is.
pub fn hhsearch_input(msa: &Path, max_rows: usize) -> Result<String, String> {
    let is_sto = msa
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("sto"));
    if !is_sto {
        return crate::fsutil::regular::read(msa)
            .map_err(|e| format!("{}: {e}", msa.display()))
            .and_then(|b| {
                String::from_utf8(b).map_err(|_| format!("{}: not UTF-8 text", msa.display()))
            });
    }
    let mut sto = Stockholm::read_path(msa).map_err(|e| e.to_string())?;
    sto.truncate(max_rows);
    let query: Vec<bool> = sto
        .sequences
        .first()
        .map(|q| q.chars().map(|c| c != '-').collect())
        .unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    let keep: Vec<usize> = (0..sto.names.len())
        .filter(|&k| {
            let masked: String = sto.sequences[k]
                .chars()
                .zip(&query)
                .filter(|(_, &q)| q)
                .map(|(c, _)| c)
                .collect();
            seen.insert(masked)
        })
        .collect();
    let kept = Stockholm {
        names: keep.iter().map(|&k| sto.names[k].clone()).collect(),
        sequences: keep.iter().map(|&k| sto.sequences[k].clone()).collect(),
        descriptions: sto.descriptions.clone(),
        lines: keep.iter().map(|&k| sto.lines[k]).collect(),
    };
    let a3m = kept.to_a3m(None, msa).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    a3m.write(&mut out).map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// `hhsearch -i <a3m> -o <hhr> -maxseq 1000000 -d <db> [-d <db> ...]` (AlphaFold2's flags).
pub fn hhsearch(
    binary: &Path,
    a3m: &Path,
    databases: &[PathBuf],
    out_hhr: &Path,
    timeout: Duration,
) -> Result<(), ToolError> {
    let mut args: Vec<OsString> = vec![
        "-i".into(),
        a3m.into(),
        "-o".into(),
        out_hhr.into(),
        "-maxseq".into(),
        "1000000".into(),
    ];
    for d in databases {
        args.push("-d".into());
        args.push(d.into());
    }
    tools::run("hhsearch", binary, &args, timeout)
}

/// Besides each hit: its E-value, bit score and template length (for the `.hhr` file).
pub type HitStats = (f64, f64, usize);

/// ferrofold's own template search: the query against every protein chain of a `pdb_seqres.txt`
/// (`>1abc_A mol:protein length:N  NAME`; other molecule types are skipped) with the built-in
/// Smith-Waterman search, best first, at most `max_hits`, as `.hhr` hits (`Sum_probs` 0, as AlphaFold2
/// records hmmsearch hits; the order is the search's).
pub fn builtin_hits(
    query: &str,
    seqres: &SequenceDb,
    opts: &SearchOptions,
) -> (Vec<HhrHit>, Vec<HitStats>) {
    let (hits, _) = search(query, seqres, opts);
    let q: Vec<char> = query.chars().collect();
    let mut out = Vec::new();
    let mut stats = Vec::new();
    for h in hits {
        let header = &seqres.headers[h.index];
        if !header.contains("mol:protein") {
            continue;
        }
        let t: Vec<char> = seqres
            .residues_of(h.index)
            .iter()
            .map(|&b| b as char)
            .collect();
        let (mut qi, mut ti) = (h.alignment.query.0, h.alignment.target.0);
        let (mut qs, mut ts) = (String::new(), String::new());
        let (mut iq, mut it) = (Vec::new(), Vec::new());
        let mut cols = 0;
        for op in &h.alignment.ops {
            match op {
                Op::Match => {
                    qs.push(q[qi]);
                    ts.push(t[ti]);
                    iq.push(qi as i64);
                    it.push(ti as i64);
                    qi += 1;
                    ti += 1;
                    cols += 1;
                }
                Op::Delete => {
                    qs.push(q[qi]);
                    ts.push('-');
                    iq.push(qi as i64);
                    it.push(-1);
                    qi += 1;
                }
                Op::Insert => {
                    qs.push('-');
                    ts.push(t[ti]);
                    iq.push(-1);
                    it.push(ti as i64);
                    ti += 1;
                }
            }
        }
        stats.push((h.evalue, crate::search::align::bits(h.score), t.len()));
        out.push(HhrHit {
            index: out.len() + 1,
            name: header.clone(),
            aligned_cols: cols,
            sum_probs: 0.0,
            query: qs,
            hit_sequence: ts,
            indices_query: iq,
            indices_hit: it,
            line: 0,
        });
    }
    (out, stats)
}

/// Writes hits in HH-suite's `.hhr` layout (the parts AlphaFold2's and ferrofold's readers use: the
/// summary line and the `Q`/`T` alignment blocks), so that the hits of the built-in search are kept in
/// `msas/` and read back like hhsearch's.
pub fn write_hhr(query_len: usize, hits: &[HhrHit], stats: &[HitStats]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Query         query");
    let _ = writeln!(s, "Match_columns {query_len}");
    let _ = writeln!(s, "Command       ferrofold built-in template search\n");
    for (k, h) in hits.iter().enumerate() {
        let _ = writeln!(s, "No {}", k + 1);
        let _ = writeln!(s, ">{}", h.name);
        let (evalue, bits, tlen) = stats.get(k).copied().unwrap_or((0.0, 0.0, 0));
        let same = h
            .query
            .chars()
            .zip(h.hit_sequence.chars())
            .filter(|(a, b)| a == b && *a != '-')
            .count();
        let identities = 100 * same / h.aligned_cols.max(1);
        let _ = writeln!(
            s,
            "Probab=0.00  E-value={evalue:.2e}  Score={bits:.2}  Aligned_cols={}  Identities={identities}%  Similarity=0  Sum_probs={}  Template_Neff=1",
            h.aligned_cols, h.sum_probs
        );
        s.push('\n');
        let width = 80;
        let qlen = query_len;
        let id: String = h
            .name
            .split_whitespace()
            .next()
            .unwrap_or("hit")
            .chars()
            .take(14)
            .collect();
        let cols: Vec<usize> = (0..h.query.len()).collect();
        for chunk in cols.chunks(width) {
            let (a, b) = (chunk[0], chunk[chunk.len() - 1] + 1);
            let first = |idx: &[i64]| idx[a..b].iter().find(|&&x| x >= 0).map_or(0, |&x| x + 1);
            let last = |idx: &[i64]| {
                idx[a..b]
                    .iter()
                    .rev()
                    .find(|&&x| x >= 0)
                    .map_or(0, |&x| x + 1)
            };
            let _ = writeln!(
                s,
                "Q {:<15}{:>4} {} {:>4} ({qlen})",
                "query",
                first(&h.indices_query),
                &h.query[a..b],
                last(&h.indices_query)
            );
            let _ = writeln!(
                s,
                "T {id:<15}{:>4} {} {:>4} ({tlen})",
                first(&h.indices_hit),
                &h.hit_sequence[a..b],
                last(&h.indices_hit)
            );
            s.push('\n');
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_hits_read_back() {
        let h = HhrHit {
            index: 1,
            name: "1abc_A mol:protein length:20  TEST".into(),
            aligned_cols: 4,
            sum_probs: 0.0,
            query: "AE-HK".into(),
            hit_sequence: "AEWH-".into(),
            indices_query: vec![6, 7, -1, 8, 9],
            indices_hit: vec![0, 1, 2, 3, -1],
            line: 0,
        };
        let text = write_hhr(73, std::slice::from_ref(&h), &[(1e-5, 30.0, 20)]);
        let back = crate::io::hhr::parse(&text, Path::new("x.hhr")).unwrap();
        assert_eq!(back.len(), 1);
        let b = &back[0];
        assert_eq!(
            (b.query.as_str(), b.hit_sequence.as_str()),
            ("AE-HK", "AEWH-")
        );
        assert_eq!(b.indices_query, h.indices_query);
        assert_eq!(b.indices_hit, h.indices_hit);
        assert_eq!(b.name, h.name);
    }
}
