//! Query inputs as `colabfold_batch` takes them, besides FASTA: an `.a3m` alignment whose first row is
//! the query (its alignment then serves as the target's MSA), and a `.csv` table with `id` and
//! `sequence` columns. ColabFold writes complexes as `:`-separated sequences and marks complex `.a3m`
//! files with a `#` line of chain lengths and cardinalities (`#150,80\t1,2`); both are refused with a
//! message saying so until multimer lands. A single-chain `#` line (`#150\t1`) is read and checked
//! against the query.

use std::path::Path;

use super::fasta::{FastaError, FastaRecord};

/// How an input file is read, by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Fasta,
    A3m,
    Csv,
}

impl InputKind {
    pub fn of(path: &Path) -> Self {
        match path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .as_deref()
        {
            Some("a3m") => InputKind::A3m,
            Some("csv") => InputKind::Csv,
            _ => InputKind::Fasta,
        }
    }
}

fn format_err(path: &Path, line: usize, message: impl Into<String>) -> FastaError {
    FastaError::Format {
        path: path.into(),
        line,
        message: message.into(),
    }
}

fn read_text(path: &Path) -> Result<String, FastaError> {
    let bytes =
        crate::fsutil::regular::read_file_or_pipe(path).map_err(|source| FastaError::Io {
            path: path.into(),
            source,
        })?;
    String::from_utf8(bytes).map_err(|e| FastaError::NotText {
        path: path.into(),
        line: 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count(),
    })
}

/// The complex a sequence describes with ColabFold's `:` separator, refused with the line.
fn refuse_complex(path: &Path, line: usize, id: &str, sequence: &str) -> Result<(), FastaError> {
    if sequence.contains(':') {
        let chains = sequence.split(':').count();
        return Err(format_err(
            path,
            line,
            format!(
                "'{id}' is a complex of {chains} chains (ColabFold's ':' separator); a CSV row is read as one chain: give the complex as a FASTA record (>id, then SEQ1:SEQ2), which `features` and `run` take, or as ColabFold's complex .a3m"
            ),
        ));
    }
    Ok(())
}

/// The query of a ColabFold-style `.a3m`: its first record, named after the file (as `colabfold_batch`
/// names it), with the optional `#lengths\tcardinalities` line checked (one chain, once, of the query's
/// length).
pub fn read_a3m_query(path: &Path) -> Result<FastaRecord, FastaError> {
    let text = read_text(path)?;
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end()));
    let mut claimed_len = None;
    let mut header = None;
    for (no, line) in lines.by_ref() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            if claimed_len.is_some() || header.is_some() {
                continue;
            }
            let mut parts = rest.split('\t');
            let lens: Vec<&str> = parts.next().unwrap_or("").split(',').collect();
            let cards: Vec<&str> = parts.next().unwrap_or("1").split(',').collect();
            let bad = || {
                format_err(path, no, format!("cannot read ColabFold's '#' line {line:?} (expected '#<lengths>\\t<cardinalities>')"))
            };
            let lens: Vec<usize> = lens
                .iter()
                .map(|s| s.trim().parse().map_err(|_| bad()))
                .collect::<Result<_, _>>()?;
            let cards: Vec<usize> = cards
                .iter()
                .map(|s| s.trim().parse().map_err(|_| bad()))
                .collect::<Result<_, _>>()?;
            if lens.len() != cards.len() {
                return Err(bad());
            }
            if lens.len() > 1 || cards.iter().any(|&c| c != 1) {
                return Err(format_err(
                    path,
                    no,
                    format!(
                        "a complex alignment ({} chain(s) of lengths {lens:?}, copies {cards:?}); `run` takes complexes from FASTA records (SEQ1:SEQ2): for this alignment run `ferrofold features` on it, then `ferrofold predict`",
                        lens.len()
                    ),
                ));
            }
            claimed_len = lens.first().copied();
            continue;
        }
        if let Some(h) = line.strip_prefix('>') {
            header = Some((no, h.trim().to_string()));
            break;
        }
        return Err(FastaError::NoHeader {
            path: path.into(),
            line: no,
            found: line.chars().take(40).collect(),
        });
    }
    let Some((hline, h)) = header else {
        return Err(FastaError::Empty { path: path.into() });
    };
    let mut seq = String::new();
    for (_, line) in lines {
        if line.starts_with('>') {
            break;
        }
        seq.push_str(line.trim());
    }
    if let Some((i, c)) = seq
        .chars()
        .enumerate()
        .find(|&(_, c)| c == '-' || c == '.' || c.is_ascii_lowercase())
    {
        return Err(format_err(
            path,
            hline,
            format!("the first row is the query and must have no gaps or insertions; found {c:?} at column {}", i + 1),
        ));
    }
    // The target is named after the file, as colabfold_batch names it (`file.stem`): ColabFold's own
    // alignments all begin with `>101`. The first row's header is its description.
    let id = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    refuse_complex(path, hline, &id, &seq)?;
    if let Some(n) = claimed_len.filter(|&n| n != seq.chars().count()) {
        return Err(format_err(
            path,
            hline,
            format!(
                "the '#' line says the query has {n} residues, its first row has {}",
                seq.chars().count()
            ),
        ));
    }
    let mut r = FastaRecord::new(id, Some(h).filter(|h| !h.is_empty()), seq);
    r.line = hline;
    Ok(r)
}

/// A complex's alignment as ColabFold writes it (`msa_to_str`: a `#<lengths>\t<copies>` line, then rows
/// spanning every distinct chain side by side — paired rows, then each chain's unpaired rows padded with
/// gaps), split back into each distinct chain's unpaired and paired alignments as ColabFold's
/// `unserialize_msa` (1.6.3) does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplexA3m {
    /// The distinct chains, in order.
    pub sequences: Vec<String>,
    /// Copies of each.
    pub cardinality: Vec<usize>,
    /// Each distinct chain's unpaired rows (A3M text; the chain's query first).
    pub unpaired: Vec<String>,
    /// Each distinct chain's paired rows (A3M text; row k of every chain belongs together); `None` for
    /// copies of one chain (a homomer pairs nothing).
    pub paired: Option<Vec<String>>,
}

/// Splits a row spanning the chains into each chain's segment (by the chains' aligned columns; an
/// insertion belongs to the segment it is in) and says which segments hold a residue.
fn split_by_chain(row: &str, lens: &[usize]) -> (Vec<String>, Vec<bool>, usize) {
    let mut segments = vec![String::new(); lens.len()];
    let mut has_aa = vec![false; lens.len()];
    let (mut seg, mut count, mut start, mut aligned) = (0, 0, 0, 0);
    let mut cur_aa = false;
    for (i, c) in row.char_indices() {
        if c.is_ascii_lowercase() {
            continue;
        }
        aligned += 1;
        if seg >= lens.len() {
            continue;
        }
        if c.is_ascii_uppercase() {
            cur_aa = true;
        }
        count += 1;
        if count == lens[seg] {
            segments[seg] = row[start..i + c.len_utf8()].to_string();
            has_aa[seg] = cur_aa;
            seg += 1;
            count = 0;
            start = i + c.len_utf8();
            cur_aa = false;
        }
    }
    (segments, has_aa, aligned)
}

/// Reads `path` as ColabFold's complex alignment when its `#` line names several chains or copies;
/// `None` for one chain's alignment. Rows whose aligned columns do not add up to the chains' lengths, a
/// first row that is not the chains' queries, or copies of 0 are errors naming the line.
pub fn read_complex_a3m(path: &Path) -> Result<Option<ComplexA3m>, FastaError> {
    let text = read_text(path)?.replace('\0', "");
    // Lines: the '#' line, then (header, sequence) pairs with wrapped sequences joined.
    let mut head: Option<(usize, String)> = None;
    let mut rows: Vec<(usize, String, String)> = Vec::new();
    for (no, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() {
            continue;
        }
        if head.is_none() && rows.is_empty() && line.starts_with('#') {
            head = Some((no, line.to_string()));
        } else if line.starts_with('>') {
            rows.push((no, line.to_string(), String::new()));
        } else if let Some(last) = rows.last_mut() {
            last.2.extend(line.split_whitespace());
        } else {
            return Err(FastaError::NoHeader {
                path: path.into(),
                line: no,
                found: line.chars().take(40).collect(),
            });
        }
    }
    let Some((hline, head)) = head else {
        return Ok(None);
    };
    let fields: Vec<&str> = head[1..].split('\t').collect();
    if fields.len() != 2 {
        return Ok(None);
    }
    let bad = || {
        format_err(
            path,
            hline,
            format!("cannot read ColabFold's '#' line {head:?} (expected '#<lengths>\\t<copies>')"),
        )
    };
    let num = |f: &str| -> Result<Vec<usize>, FastaError> {
        f.split(',')
            .map(|s| s.trim().parse().map_err(|_| bad()))
            .collect()
    };
    let (lens, cards) = (num(fields[0])?, num(fields[1])?);
    if lens.len() != cards.len() || lens.is_empty() {
        return Err(bad());
    }
    if lens.len() == 1 && cards[0] == 1 {
        return Ok(None);
    }
    if let Some(k) = cards.iter().position(|&c| c == 0) {
        return Err(format_err(
            path,
            hline,
            format!("chain {} has 0 copies in the '#' line", k + 1),
        ));
    }
    let total: usize = lens.iter().sum();
    let Some((qline, _, qcat)) = rows.first() else {
        return Err(format_err(
            path,
            hline,
            "a complex alignment without rows".to_string(),
        ));
    };
    if qcat.chars().count() != total || qcat.chars().any(|c| !c.is_ascii_uppercase()) {
        return Err(format_err(
            path,
            *qline,
            format!(
                "the first row must be the chains' queries side by side ({total} residues, as the '#' line says: {lens:?}); it has {} characters",
                qcat.chars().count()
            ),
        ));
    }
    let mut sequences = Vec::new();
    let mut at = 0;
    for &l in &lens {
        sequences.push(qcat[at..at + l].to_string());
        at += l;
    }
    let homomer = lens.len() == 1;
    let mut paired = vec![String::new(); lens.len()];
    let mut unpaired = vec![String::new(); lens.len()];
    let mut seen = std::collections::HashSet::new();
    for (no, header, row) in &rows {
        if !seen.insert((header.clone(), row.clone())) {
            continue;
        }
        let (segments, has_aa, aligned) = split_by_chain(row, &lens);
        if aligned != total {
            return Err(format_err(
                path,
                *no,
                format!(
                    "row {header:?} has {aligned} aligned columns; the chains of the '#' line have {total}"
                ),
            ));
        }
        if !homomer && has_aa.iter().filter(|&&a| a).count() > 1 {
            let labels: Vec<&str> = header[1..].split('\t').collect();
            for (j, seg) in segments.iter().enumerate() {
                let label = labels.get(j).or(labels.last()).copied().unwrap_or("");
                paired[j].push_str(&format!(">{label}\n{seg}\n"));
            }
        } else {
            for (j, seg) in segments.iter().enumerate() {
                if has_aa[j] {
                    unpaired[j].push_str(&format!("{header}\n{seg}\n"));
                }
            }
        }
    }
    Ok(Some(ComplexA3m {
        paired: (!homomer).then_some(paired),
        sequences,
        cardinality: cards,
        unpaired,
    }))
}

/// Splits one CSV line into fields (double quotes may wrap a field; `""` inside is a quote).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if cur.trim().is_empty() => {
                cur.clear();
                quoted = true;
            }
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    out.push(cur);
    Ok(out.into_iter().map(|f| f.trim().to_string()).collect())
}

/// The targets of a `colabfold_batch` CSV: a header naming `id` and `sequence` (other columns
/// ignored), then one target per row.
pub fn read_csv(path: &Path) -> Result<Vec<FastaRecord>, FastaError> {
    let text = read_text(path)?;
    let mut rows = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((hno, header)) = rows.next() else {
        return Err(FastaError::Empty { path: path.into() });
    };
    let cols = csv_fields(header).map_err(|e| format_err(path, hno, e))?;
    let col = |name: &str| {
        cols.iter()
            .position(|c| c.trim_start_matches('\u{feff}').eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                format_err(
                    path,
                    hno,
                    format!("the header {header:?} has no '{name}' column (colabfold_batch's CSV: id,sequence)"),
                )
            })
    };
    let (id_col, seq_col) = (col("id")?, col("sequence")?);
    let mut out = Vec::new();
    for (no, line) in rows {
        let f = csv_fields(line).map_err(|e| format_err(path, no, e))?;
        if f.len() <= id_col.max(seq_col) {
            return Err(format_err(
                path,
                no,
                format!("{} field(s), the header has {}", f.len(), cols.len()),
            ));
        }
        let id = f[id_col].clone();
        let seq: String = f[seq_col].chars().filter(|c| !c.is_whitespace()).collect();
        if id.is_empty() {
            return Err(format_err(path, no, "empty 'id' field"));
        }
        refuse_complex(path, no, &id, &seq)?;
        let mut r = FastaRecord::new(id, None, seq);
        r.line = no;
        out.push(r);
    }
    if out.is_empty() {
        return Err(format_err(path, hno, "no rows after the header"));
    }
    Ok(out)
}

/// Every record of an input file, read by its kind (FASTA, ColabFold `.a3m` or `.csv`), without
/// validation beyond the format.
pub fn read_records(path: &Path) -> Result<Vec<FastaRecord>, FastaError> {
    match InputKind::of(path) {
        InputKind::Fasta => super::fasta::read_path(path),
        InputKind::A3m => Ok(vec![read_a3m_query(path)?]),
        InputKind::Csv => read_csv(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(name);
        std::fs::write(&p, text).unwrap();
        (d, p)
    }

    #[test]
    fn a3m_query_with_and_without_colabfold_header() {
        let (_d, p) = file("q.a3m", "#5\t1\n>101 query\nMKVLA\n>hit\nMK-Lga\n");
        let r = read_a3m_query(&p).unwrap();
        assert_eq!(
            (r.id.as_str(), r.sequence.as_str(), r.line),
            ("q", "MKVLA", 2)
        );
        let (_d, p) = file("q.a3m", ">q\nMKV\nLA\n>hit\n-KVLA\n");
        assert_eq!(read_a3m_query(&p).unwrap().sequence, "MKVLA");
    }

    #[test]
    fn complex_and_inconsistent_a3m_are_refused_by_line() {
        for (text, want) in [
            (
                "#5,3\t1,1\n>101\nMKVLAGGG\n",
                ":1: a complex alignment (2 chain(s)",
            ),
            ("#5\t2\n>101\nMKVLA\n", "copies [2]"),
            (
                "#6\t1\n>101\nMKVLA\n",
                ":2: the '#' line says the query has 6 residues",
            ),
            ("#x\t1\n>101\nMKVLA\n", "cannot read ColabFold's '#' line"),
            (
                ">q\nMK-LA\n",
                "no gaps or insertions; found '-' at column 3",
            ),
            (">q\nMKVLA:GGG\n", "complex of 2 chains"),
        ] {
            let (_d, p) = file("q.a3m", text);
            let e = read_a3m_query(&p).unwrap_err().to_string();
            assert!(e.contains("q.a3m") && e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn csv_as_colabfold_batch_takes_it() {
        let (_d, p) = file(
            "b.csv",
            "id,sequence\nfirst,MKVLA\n\"second, quoted\",\"GG HH\"\r\n",
        );
        let r = read_csv(&p).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].id.as_str(), r[0].sequence.as_str(), r[0].line),
            ("first", "MKVLA", 2)
        );
        assert_eq!(
            (r[1].id.as_str(), r[1].sequence.as_str()),
            ("second, quoted", "GGHH")
        );
        let (_d, p) = file("b.csv", "sequence,id,extra\nMKV,x,1\n");
        assert_eq!(read_csv(&p).unwrap()[0].id, "x");
        for (text, want) in [
            (
                "name,seq\na,MKV\n",
                ":1: the header \"name,seq\" has no 'id' column",
            ),
            (
                "id,sequence\na,MKV:GGG\n",
                ":2: 'a' is a complex of 2 chains",
            ),
            ("id,sequence\na\n", ":2: 1 field(s)"),
            ("id,sequence\n", ":1: no rows after the header"),
        ] {
            let (_d, p) = file("b.csv", text);
            let e = read_csv(&p).unwrap_err().to_string();
            assert!(e.contains("b.csv") && e.contains(want), "{text:?}: {e}");
        }
    }
}
