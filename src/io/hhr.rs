//! HH-suite result files (`.hhr`, from hhsearch or hhblits): the hits with their alignments to the query,
//! read as AlphaFold2's `parse_hhr` reads them (the detailed "No N" sections: the hit name, its
//! `Aligned_cols` and `Sum_probs`, and the `Q`/`T` alignment lines with their start positions; consensus
//! and secondary-structure lines are skipped).

use std::path::{Path, PathBuf};

/// One hit of an `.hhr` file.
#[derive(Debug, Clone, PartialEq)]
pub struct HhrHit {
    /// The `No N` number.
    pub index: usize,
    /// The `>` line without `>` (e.g. `3U8V_A Metal-binding protein ...`).
    pub name: String,
    pub aligned_cols: usize,
    pub sum_probs: f64,
    /// The aligned query segment, with `-` where the hit has an insertion.
    pub query: String,
    /// The aligned hit segment, with `-` where the query has an insertion.
    pub hit_sequence: String,
    /// Per alignment column: the query residue index (0-based), -1 at a gap.
    pub indices_query: Vec<i64>,
    /// Per alignment column: the hit residue index (0-based), -1 at a gap.
    pub indices_hit: Vec<i64>,
    /// 1-based line of the hit's `No` line.
    pub line: usize,
}

/// A malformed `.hhr` file: the file, the line and what is wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: line {line}: {message}", path.display())]
pub struct HhrError {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

/// `start SEQ end (len)` after the 17-character name column of a `Q`/`T` line.
fn alignment_line(rest: &str) -> Option<(i64, &str)> {
    let mut parts = rest.split_whitespace();
    let start: i64 = parts.next()?.parse().ok()?;
    let seq = parts.next()?;
    let _end: i64 = parts.next()?.parse().ok()?;
    let len = parts.next()?;
    if !(len.starts_with('(') && len.ends_with(')')) {
        return None;
    }
    if !seq.chars().all(|c| c.is_ascii_uppercase() || c == '-') {
        return None;
    }
    Some((start, seq))
}

fn append_indices(seq: &str, start: i64, out: &mut Vec<i64>) {
    let mut k = start;
    for c in seq.chars() {
        if c == '-' {
            out.push(-1);
        } else {
            out.push(k);
            k += 1;
        }
    }
}

/// The value after `key=` in a summary line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(key)? + key.len();
    line[at..].split_whitespace().next()
}

/// Parses every hit section of an `.hhr` text. `path` names the file in errors.
pub fn parse(text: &str, path: &Path) -> Result<Vec<HhrHit>, HhrError> {
    let lines: Vec<&str> = text.lines().collect();
    let err = |line: usize, message: String| HhrError {
        path: path.to_path_buf(),
        line: line + 1,
        message,
    };
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("No "))
        .collect();
    let mut hits = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(lines.len());
        let section = &lines[s..end];
        let index = section[0]
            .split_whitespace()
            .last()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| err(s, format!("expected 'No <number>', found '{}'", section[0])))?;
        let name = section
            .get(1)
            .and_then(|l| l.strip_prefix('>'))
            .ok_or_else(|| err(s + 1, "expected the hit's '>name' line".into()))?
            .to_string();
        let summary = section
            .get(2)
            .ok_or_else(|| err(s + 2, "expected the 'Probab=... Sum_probs=...' line".into()))?;
        let number = |key: &str| -> Result<f64, HhrError> {
            field(summary, key)
                .map(|v| v.trim_end_matches('%'))
                .and_then(|v| v.parse::<f64>().ok())
                .ok_or_else(|| err(s + 2, format!("no number after '{key}' in '{summary}'")))
        };
        if !summary.starts_with("Probab=") {
            return Err(err(
                s + 2,
                format!("expected 'Probab=...', found '{summary}'"),
            ));
        }
        let aligned_cols = number("Aligned_cols=")?;
        let sum_probs = number("Sum_probs=")?;
        let mut hit = HhrHit {
            index,
            name,
            aligned_cols: aligned_cols as usize,
            sum_probs,
            query: String::new(),
            hit_sequence: String::new(),
            indices_query: Vec::new(),
            indices_hit: Vec::new(),
            line: s + 1,
        };
        let mut block: Option<usize> = None;
        for (j, line) in section.iter().enumerate().skip(3) {
            let at = s + j;
            let skip = ["ss_dssp", "ss_pred", "Consensus"];
            let aux = |l: &str| {
                skip.iter()
                    .any(|p| l.get(2..).is_some_and(|b| b.starts_with(p)))
            };
            if line.starts_with("Q ") {
                if aux(line) {
                    continue;
                }
                let (start, seq) = line
                    .get(17..)
                    .and_then(alignment_line)
                    .ok_or_else(|| err(at, format!("cannot read the query line '{line}'")))?;
                block = Some(seq.len());
                hit.query.push_str(seq);
                append_indices(seq, start - 1, &mut hit.indices_query);
            } else if line.starts_with("T ") {
                if aux(line) {
                    continue;
                }
                let (start, seq) = line
                    .get(17..)
                    .and_then(alignment_line)
                    .ok_or_else(|| err(at, format!("cannot read the template line '{line}'")))?;
                if block != Some(seq.len()) {
                    return Err(err(
                        at,
                        format!(
                            "template segment of {} columns where the query segment above has {}",
                            seq.len(),
                            block.map_or("none".into(), |b| b.to_string())
                        ),
                    ));
                }
                hit.hit_sequence.push_str(seq);
                append_indices(seq, start - 1, &mut hit.indices_hit);
            }
        }
        if hit.query.len() != hit.hit_sequence.len() {
            return Err(err(
                s,
                format!(
                    "hit {}: {} query columns but {} template columns",
                    hit.index,
                    hit.query.len(),
                    hit.hit_sequence.len()
                ),
            ));
        }
        hits.push(hit);
    }
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HIT: &str = "No 1\n>1ABC_B some protein\nProbab=7.51  E-value=3.8e+02  Score=16.19  Aligned_cols=5  Identities=23%  Similarity=0.398  Sum_probs=13.1  Template_Neff=4.500\n\nQ query             7 AE-HK   10 (73)\nQ Consensus         7 aE-hk   10 (73)\n                      .++|\nT Consensus        10 I-HHA   13 (41)\nT 1ABC_B           10 I-HHA   13 (41)\nT ss_dssp             HHHHH\n";

    #[test]
    fn reads_a_hit_as_alphafold2() {
        let hits = parse(HIT, Path::new("x.hhr")).unwrap();
        assert_eq!(hits.len(), 1);
        let h = &hits[0];
        assert_eq!(h.name, "1ABC_B some protein");
        assert_eq!((h.aligned_cols, h.sum_probs), (5, 13.1));
        assert_eq!(h.query, "AE-HK");
        assert_eq!(h.hit_sequence, "I-HHA");
        assert_eq!(h.indices_query, [6, 7, -1, 8, 9]);
        assert_eq!(h.indices_hit, [9, -1, 10, 11, 12]);
    }

    #[test]
    fn columns_that_disagree_name_the_line() {
        let bad = HIT.replace(
            "T 1ABC_B           10 I-HHA",
            "T 1ABC_B           10 I-HHAK",
        );
        let e = parse(&bad, Path::new("x.hhr")).unwrap_err();
        assert_eq!(e.line, 9, "{e}");
        assert!(e.to_string().contains("x.hhr"));
    }
}
