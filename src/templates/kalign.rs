//! Realigning a template's hit sequence to its mmCIF SEQRES with kalign, as AlphaFold2 does when the
//! database's copy of the sequence differs from the structure file's (`kalign -i in -o out -format
//! fasta`, the two sequences as `>sequence 1`, `>sequence 2`).

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use crate::search::tools::{self, ToolError};

/// The two sequences aligned (with `-` gaps), in input order.
pub fn align_pair(
    kalign: &Path,
    a: &str,
    b: &str,
    timeout: Duration,
) -> Result<(String, String), String> {
    for s in [a, b] {
        // AlphaFold2's Kalign wrapper refuses sequences shorter than 6 residues.
        if s.len() < 6 {
            return Err(format!(
                "kalign needs sequences of at least 6 residues, got {} ({s})",
                s.len()
            ));
        }
    }
    let dir = tempfile::tempdir().map_err(|e| format!("kalign: temporary folder: {e}"))?;
    let input = dir.path().join("input.fasta");
    let output = dir.path().join("output.a3m");
    std::fs::write(&input, format!(">sequence 1\n{a}\n>sequence 2\n{b}\n"))
        .map_err(|e| format!("kalign: {}: {e}", input.display()))?;
    let args: Vec<OsString> = vec![
        "-i".into(),
        input.clone().into(),
        "-o".into(),
        output.clone().into(),
        "-format".into(),
        "fasta".into(),
    ];
    tools::run("kalign", kalign, &args, timeout).map_err(|e: ToolError| e.to_string())?;
    let text = std::fs::read_to_string(&output)
        .map_err(|e| format!("kalign wrote no alignment ({}): {e}", output.display()))?;
    // Read as AlphaFold2's parse_a3m: lower-case letters (insertions) dropped.
    let mut seqs: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('>') {
            seqs.push(String::new());
        } else if let Some(s) = seqs.last_mut() {
            s.extend(line.chars().filter(|c| !c.is_ascii_lowercase()));
        }
    }
    match <[String; 2]>::try_from(seqs) {
        Ok([x, y]) if x.len() == y.len() => Ok((x, y)),
        Ok([x, y]) => Err(format!(
            "kalign returned rows of different lengths ({} and {})",
            x.len(),
            y.len()
        )),
        Err(v) => Err(format!("kalign returned {} sequences, not 2", v.len())),
    }
}
