//! All-atom structures for relaxation: every atom of a PDB file's first model (hydrogens included), grouped
//! into residues and chains in file order. Positions are kept in nm, OpenMM's unit.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum StructureReadError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}, line {line}: {what}")]
    Line {
        path: String,
        line: usize,
        what: String,
    },
    #[error("{path}: no ATOM records")]
    Empty { path: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Atom {
    pub name: String,
    /// Element symbol, upper case (`C`, `H`, `SE`).
    pub element: String,
    pub residue: usize,
    /// nm
    pub position: [f64; 3],
}

impl Atom {
    pub fn is_hydrogen(&self) -> bool {
        self.element == "H" || self.element == "D"
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Residue {
    pub name: String,
    pub chain: usize,
    /// The chain's identifier in the file.
    pub chain_id: String,
    pub number: i32,
    pub insertion: char,
    pub atoms: std::ops::Range<usize>,
}

impl Residue {
    /// `A:GLY 76` style, for messages.
    pub fn label(&self) -> String {
        let ins = if self.insertion == ' ' {
            String::new()
        } else {
            self.insertion.to_string()
        };
        format!("{}:{} {}{}", self.chain_id, self.name, self.number, ins)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AllAtomStructure {
    pub atoms: Vec<Atom>,
    pub residues: Vec<Residue>,
    /// Residue ranges of the chains, in order.
    pub chains: Vec<std::ops::Range<usize>>,
}

fn field(line: &str, range: std::ops::Range<usize>) -> &str {
    line.get(range.clone())
        .or_else(|| line.get(range.start.min(line.len())..))
        .unwrap_or("")
        .trim()
}

/// The element of an atom from columns 77-78, or, where those are blank, from its name (PDB convention:
/// a name starting in column 13 has a two-letter element).
fn element_of(line: &str) -> String {
    let e = field(line, 76..78);
    if !e.is_empty() {
        return e.to_ascii_uppercase();
    }
    let raw = line.get(12..16).unwrap_or("");
    if raw.starts_with(' ') || raw.starts_with(|c: char| c.is_ascii_digit()) {
        raw.trim_start_matches(|c: char| c == ' ' || c.is_ascii_digit())
            .chars()
            .take(1)
            .collect::<String>()
            .to_ascii_uppercase()
    } else if raw.starts_with('H') {
        // Four-character hydrogen names (HG21, HD11) start in column 13.
        "H".to_string()
    } else {
        raw.chars().take(2).collect::<String>().to_ascii_uppercase()
    }
}

impl AllAtomStructure {
    pub fn read_path(path: impl AsRef<Path>) -> Result<Self, StructureReadError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| StructureReadError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses PDB text; `source` names it in errors. Reads ATOM and HETATM records of the first model
    /// (alternate locations other than blank, `A` or `1` are skipped); `TER` and a change of chain identifier
    /// end a chain.
    pub fn parse(text: &str, source: &str) -> Result<Self, StructureReadError> {
        let mut s = AllAtomStructure::default();
        let mut chain_start = 0usize;
        let mut chain_open = false;
        let mut last_key: Option<(String, i32, char, String)> = None;
        for (i, line) in text.lines().enumerate() {
            let lineno = i + 1;
            if line.starts_with("ENDMDL") {
                break;
            }
            if line.starts_with("TER") {
                if chain_open {
                    s.chains.push(chain_start..s.residues.len());
                    chain_start = s.residues.len();
                    chain_open = false;
                }
                last_key = None;
                continue;
            }
            if !(line.starts_with("ATOM  ") || line.starts_with("HETATM")) {
                continue;
            }
            let bad = |what: String| StructureReadError::Line {
                path: source.to_string(),
                line: lineno,
                what,
            };
            let altloc = line.get(16..17).unwrap_or(" ");
            if !matches!(altloc, " " | "A" | "1") {
                continue;
            }
            let name = field(line, 12..16).to_string();
            let res_name = field(line, 17..20).to_string();
            let chain_id = field(line, 21..22).to_string();
            let number: i32 = field(line, 22..26).parse().map_err(|_| {
                bad(format!(
                    "residue number `{}` is not a number",
                    field(line, 22..26)
                ))
            })?;
            let insertion = line
                .get(26..27)
                .and_then(|c| c.chars().next())
                .unwrap_or(' ');
            let mut position = [0.0f64; 3];
            for (k, range) in [30..38, 38..46, 46..54].into_iter().enumerate() {
                let text = field(line, range);
                let v: f64 = text
                    .parse()
                    .map_err(|_| bad(format!("coordinate `{text}` is not a number")))?;
                if !v.is_finite() {
                    return Err(bad(format!("coordinate `{text}` is not finite")));
                }
                position[k] = v * 0.1;
            }
            if name.is_empty() {
                return Err(bad("atom without a name".into()));
            }
            let key = (chain_id.clone(), number, insertion, res_name.clone());
            if let Some(last) = &last_key {
                if last.0 != key.0 && chain_open {
                    s.chains.push(chain_start..s.residues.len());
                    chain_start = s.residues.len();
                }
            }
            if last_key.as_ref() != Some(&key) {
                if let Some(r) = s.residues.last_mut() {
                    r.atoms.end = s.atoms.len();
                }
                s.residues.push(Residue {
                    name: res_name,
                    chain: s.chains.len(),
                    chain_id,
                    number,
                    insertion,
                    atoms: s.atoms.len()..s.atoms.len(),
                });
                chain_open = true;
                last_key = Some(key);
            }
            let residue = s.residues.len() - 1;
            let element = element_of(line);
            s.atoms.push(Atom {
                name,
                element,
                residue,
                position,
            });
        }
        if let Some(r) = s.residues.last_mut() {
            r.atoms.end = s.atoms.len();
        }
        if chain_open {
            s.chains.push(chain_start..s.residues.len());
        }
        if s.atoms.is_empty() {
            return Err(StructureReadError::Empty {
                path: source.to_string(),
            });
        }
        // Residue ranges were set as atoms arrived; a residue re-opened after a TER keeps its own range.
        for (ci, range) in s.chains.iter().enumerate() {
            for r in range.clone() {
                s.residues[r].chain = ci;
            }
        }
        Ok(s)
    }

    pub fn positions(&self) -> Vec<[f64; 3]> {
        self.atoms.iter().map(|a| a.position).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_residues_chains_and_elements() {
        let text = "\
ATOM      1  N   GLY A   1      31.758  13.358 -13.673  1.00  0.00           N
ATOM      2  H   GLY A   1      31.011  14.055 -14.300  1.00  0.00           H
ATOM      3  CA  GLY A   2      32.000  13.000 -13.000  1.00  0.00
TER
ATOM      4 HG21 THR B   5       1.000   2.000   3.000  1.00  0.00
ATOM      5 FE   HEM B   6       1.000   2.000   3.000  1.00  0.00
END
";
        let s = AllAtomStructure::parse(text, "t.pdb").unwrap();
        assert_eq!(s.atoms.len(), 5);
        assert_eq!(s.residues.len(), 4);
        assert_eq!(s.chains, vec![0..2, 2..4]);
        assert_eq!(s.residues[1].atoms, 2..3);
        assert_eq!(s.atoms[2].element, "C");
        assert_eq!(s.atoms[3].element, "H");
        assert_eq!(s.atoms[4].element, "FE");
        assert!((s.atoms[0].position[0] - 3.1758).abs() < 1e-12);
        let err =
            AllAtomStructure::parse("ATOM      1  N   GLY A   x      1.0 2.0 3.0\n", "bad.pdb")
                .unwrap_err();
        assert!(err.to_string().contains("bad.pdb, line 1"), "{err}");
    }
}
