//! Template searches: HH-suite's `hhsearch` on a pdb70 database with the uniref90 alignment (AlphaFold2's
//! monomer default), and ferrofold's own Smith-Waterman over `pdb_seqres.txt` (templates with no external
//! tool). Both give `.hhr` hits that [`super::featurize`] turns into template features.

use std::collections::HashMap;
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

/// The alignment hhsearch reads, as AlphaFold2 makes it from the uniref90 hits: the Stockholm text
/// [`hmmsearch_input`] makes (first `max_rows` sequences, de-duplicated, empty columns removed) converted
/// to A3M. An A3M file is used as it is.
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
    let sto = Stockholm::parse(&hmmsearch_input(msa, max_rows)?, msa).map_err(|e| e.to_string())?;
    let a3m = sto.to_a3m(None, msa).map_err(|e| e.to_string())?;
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

/// AlphaFold2's `_keep_line`: which Stockholm lines survive when only `names` are kept.
fn keep_line(line: &str, names: &std::collections::HashSet<String>) -> bool {
    if line.trim().is_empty() || line.trim() == "//" || line.starts_with("# STOCKHOLM") {
        return true;
    }
    if line.starts_with("#=GC RF") {
        return true;
    }
    if line.starts_with("#=GS") {
        return line
            .split_whitespace()
            .nth(1)
            .is_some_and(|n| names.contains(n));
    }
    if line.starts_with('#') {
        return false;
    }
    names.contains(line.split(' ').next().unwrap_or(""))
}

fn is_alignment_line(line: &str) -> bool {
    !line.trim().is_empty() && !line.starts_with('#') && !line.starts_with("//")
}

/// The Stockholm text hmmbuild reads, as AlphaFold-Multimer makes it from the uniref90 hits (its
/// `truncate_stockholm_msa`, `deduplicate_stockholm_msa`, `remove_empty_columns_from_stockholm_msa`,
/// line for line: hmmbuild `--hand` takes the match columns from the `#=GC RF` lines they keep).
pub fn hmmsearch_input(msa: &Path, max_rows: usize) -> Result<String, String> {
    let bytes = crate::fsutil::regular::read(msa).map_err(|e| format!("{}: {e}", msa.display()))?;
    let text =
        String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", msa.display()))?;
    // Truncate: the first `max_rows` names.
    let mut names = std::collections::HashSet::new();
    for line in text.lines() {
        if is_alignment_line(line) {
            names.insert(line.split(' ').next().unwrap_or("").to_string());
            if names.len() >= max_rows {
                break;
            }
        }
    }
    let truncated: Vec<&str> = text.lines().filter(|l| keep_line(l, &names)).collect();
    // De-duplicate on the query's columns.
    let mut order: Vec<String> = Vec::new();
    let mut aligned: HashMap<String, String> = HashMap::new();
    for line in &truncated {
        if !is_alignment_line(line) {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(name), Some(seq), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!(
                "{}: alignment line '{line}' is not 'name sequence'",
                msa.display()
            ));
        };
        match aligned.get_mut(name) {
            Some(s) => s.push_str(seq),
            None => {
                order.push(name.to_string());
                aligned.insert(name.to_string(), seq.to_string());
            }
        }
    }
    let Some(first) = order.first() else {
        return Err(format!("{}: no sequences", msa.display()));
    };
    let mask: Vec<bool> = aligned[first].chars().map(|c| c != '-').collect();
    let mut seen = std::collections::HashSet::new();
    let mut kept = std::collections::HashSet::new();
    for name in &order {
        let masked: String = aligned[name]
            .chars()
            .zip(&mask)
            .filter(|(_, &m)| m)
            .map(|(c, _)| c)
            .collect();
        if seen.insert(masked) {
            kept.insert(name.clone());
        }
    }
    let deduped: Vec<&str> = truncated
        .into_iter()
        .filter(|l| keep_line(l, &kept))
        .collect();
    // Remove all-gap columns, block by block (a block ends at its #=GC RF line).
    let mut out: Vec<String> = Vec::with_capacity(deduped.len());
    let mut pending: Vec<usize> = Vec::new();
    for line in &deduped {
        if line.starts_with("#=GC RF") {
            let idx = out.len();
            out.push(line.to_string());
            let alignment_of = |l: &str| l.rsplit_once(' ').map_or("", |(_, a)| a).to_string();
            let first = alignment_of(line);
            let width = first.len();
            let rows: Vec<Vec<u8>> = pending
                .iter()
                .map(|&i| alignment_of(&out[i]).into_bytes())
                .collect();
            let keep: Vec<bool> = (0..width)
                .map(|j| rows.iter().any(|r| r.get(j).is_some_and(|&c| c != b'-')))
                .collect();
            let apply = |l: &str| -> String {
                if !keep.iter().any(|&k| k) {
                    return String::new();
                }
                let (prefix, a) = l.rsplit_once(' ').unwrap_or(("", l));
                let masked: String = a
                    .chars()
                    .zip(keep.iter().chain(std::iter::repeat(&false)))
                    .filter(|(_, &k)| k)
                    .map(|(c, _)| c)
                    .collect();
                format!("{prefix} {masked}")
            };
            for &i in pending.iter().chain(std::iter::once(&idx)) {
                let new = apply(&out[i]);
                out[i] = new;
            }
            pending.clear();
        } else if is_alignment_line(line) {
            pending.push(out.len());
            out.push(line.to_string());
        } else {
            out.push(line.to_string());
        }
    }
    Ok(out.join("\n"))
}

/// `hmmbuild --hand --amino <hmm> <sto>`, then `hmmsearch --noali --cpu <cpu> --F1 0.1 --F2 0.1 --F3 0.1
/// --incE 100 -E 100 --domE 100 --incdomE 100 -A <out.sto> <hmm> <database>` (AlphaFold-Multimer's flags).
#[allow(clippy::too_many_arguments)]
pub fn hmmsearch(
    hmmbuild: &Path,
    hmmsearch: &Path,
    sto: &Path,
    hmm: &Path,
    database: &Path,
    out_sto: &Path,
    cpu: usize,
    timeout: Duration,
) -> Result<(), ToolError> {
    let a = |s: &str| OsString::from(s);
    tools::run(
        "hmmbuild",
        hmmbuild,
        &[a("--hand"), a("--amino"), hmm.into(), sto.into()],
        timeout,
    )?;
    let mut args: Vec<OsString> = vec![a("--noali"), a("--cpu"), a(&cpu.to_string())];
    for f in [
        "--F1",
        "0.1",
        "--F2",
        "0.1",
        "--F3",
        "0.1",
        "--incE",
        "100",
        "-E",
        "100",
        "--domE",
        "100",
        "--incdomE",
        "100",
    ] {
        args.push(a(f));
    }
    args.extend([a("-A"), out_sto.into(), hmm.into(), database.into()]);
    tools::run("hmmsearch", hmmsearch, &args, timeout)
}

/// AlphaFold2's `_get_indices`: residue index per aligned column (lower-case insertions advance the
/// counter without a column, `-` is -1).
fn a3m_indices(seq: &str, start: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut k = start;
    for c in seq.chars() {
        if c == '-' {
            out.push(-1);
        } else if c.is_lowercase() {
            k += 1;
        } else {
            out.push(k);
            k += 1;
        }
    }
    out
}

/// Hits of an hmmsearch `-A` alignment over `pdb_seqres.txt` (AlphaFold-Multimer's
/// `convert_stockholm_to_a3m(remove_first_row_gaps=False)` then `parse_hmmsearch_a3m`): one per protein
/// sequence, aligned to the whole query, named `<pdb id>_<chain>` from the `name/start-end` and
/// `mol:protein length:N` of its description. `path` names the file in errors.
pub fn hmmsearch_hits(text: &str, query: &str, path: &Path) -> Result<Vec<HhrHit>, String> {
    let mut order: Vec<String> = Vec::new();
    let mut seqs: HashMap<String, String> = HashMap::new();
    for line in text.lines() {
        if !is_alignment_line(line) {
            continue;
        }
        let Some((name, rest)) = line.trim().split_once(char::is_whitespace) else {
            return Err(format!(
                "{}: alignment line '{line}' has no sequence",
                path.display()
            ));
        };
        let piece: String = rest.split_whitespace().collect();
        match seqs.get_mut(name) {
            Some(s) => s.push_str(&piece),
            None => {
                order.push(name.to_string());
                seqs.insert(name.to_string(), piece);
            }
        }
    }
    let last = text.lines().map(str::trim).rfind(|l| !l.is_empty());
    if !order.is_empty() && !last.is_some_and(|l| l.starts_with("//")) {
        return Err(format!(
            "{}: the file ends without the '//' line that closes a Stockholm alignment: it was cut off (a killed search or a full disk?)",
            path.display()
        ));
    }
    let mut descriptions: HashMap<String, String> = HashMap::new();
    for line in text.lines().filter(|l| l.starts_with("#=GS")) {
        let mut cols = line.split_whitespace();
        let (_, Some(name), Some("DE")) = (cols.next(), cols.next(), cols.next()) else {
            continue;
        };
        let after = line[4..].trim_start()[name.len()..].trim_start()["DE".len()..].trim_start();
        descriptions.insert(name.to_string(), after.to_string());
    }
    let indices_query = a3m_indices(query, 0);
    let mut hits = Vec::new();
    for (i, name) in order.iter().enumerate() {
        let seq: String = seqs[name].chars().filter(|&c| c != '.').collect();
        let description = format!(
            "{name} {}",
            descriptions.get(name).map_or("", String::as_str)
        );
        if !description.contains("mol:protein") {
            continue;
        }
        let bad = || {
            format!("{}: cannot read hit description '{description}' (expected 'pdbid_chain/start-end ... mol:protein length:N')", path.display())
        };
        let (id_chain, range) = name.split_once('/').ok_or_else(bad)?;
        let (id, chain) = id_chain.split_once('_').ok_or_else(bad)?;
        let valid_id = !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let valid_chain =
            !chain.is_empty() && chain.chars().all(|c| c.is_alphanumeric() || c == '_');
        let (start, end) = range.split_once('-').ok_or_else(bad)?;
        let start: i64 = start.parse().map_err(|_| bad())?;
        let _end: i64 = end
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .map_err(|_| bad())?;
        if !valid_id || !valid_chain || !description.contains("protein length:") {
            return Err(bad());
        }
        let aligned_cols = seq
            .chars()
            .filter(|c| c.is_uppercase() && *c != '-')
            .count();
        hits.push(HhrHit {
            index: i + 1,
            name: format!("{id}_{chain}"),
            aligned_cols,
            sum_probs: 0.0,
            query: query.to_string(),
            hit_sequence: seq.to_uppercase(),
            indices_query: indices_query.clone(),
            indices_hit: a3m_indices(&seq, start - 1),
            line: 0,
        });
    }
    Ok(hits)
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
