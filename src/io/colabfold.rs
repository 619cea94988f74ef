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
                "'{id}' is a complex of {chains} chains (ColabFold's ':' separator); complexes are not supported yet (AlphaFold-Multimer is planned)"
            ),
        ));
    }
    Ok(())
}

/// The query of a ColabFold-style `.a3m`: its first record, with the optional `#lengths\tcardinalities`
/// line checked (one chain, once, of the query's length).
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
                        "a complex alignment ({} chain(s) of lengths {lens:?}, copies {cards:?}); complexes are not supported yet (AlphaFold-Multimer is planned)",
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
    let mut words = h.splitn(2, char::is_whitespace);
    let id = words.next().unwrap_or("").to_string();
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
    let mut r = FastaRecord::new(id, words.next().map(|d| d.trim().to_string()), seq);
    r.line = hline;
    Ok(r)
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
            ("101", "MKVLA", 2)
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
