//! PDB: writing predictions in AlphaFold2's exact layout (`protein.to_pdb`: `MODEL 1`, 80-column `ATOM`
//! records with right-justified serial and residue numbers, element symbol, `TER` per chain, `ENDMDL`,
//! `END`, every line padded to 80 columns) with per-atom B-factors (pLDDT); and reading PDB files into the
//! atom37 representation (through [`super::structure`]).

use std::io::Write;
use std::path::Path;

use crate::protein::{Protein, StructureError};
use crate::residue_constants as rc;

fn pad80(w: &mut dyn Write, line: &str) -> std::io::Result<()> {
    writeln!(w, "{line:<80}")
}

fn ter_line(serial: usize, res_name: &str, chain: char, res_num: i32) -> String {
    format!(
        "{:<6}{serial:>5}      {res_name:>3} {chain:>1}{res_num:>4}",
        "TER"
    )
}

/// Writes `protein` as PDB text.
pub fn write<W: Write>(protein: &Protein, mut w: W) -> Result<(), StructureError> {
    protein.validate()?;
    write_lines(protein, &mut w).map_err(|source| StructureError::Write {
        path: "<stream>".into(),
        source,
    })
}

fn write_lines(p: &Protein, w: &mut dyn Write) -> std::io::Result<()> {
    pad80(w, "MODEL     1")?;
    let mut serial = 1usize;
    let n = p.num_res();
    for i in 0..n {
        if i > 0 && p.chain_index[i] != p.chain_index[i - 1] {
            let prev = i - 1;
            pad80(
                w,
                &ter_line(
                    serial,
                    rc::RESTYPE_3[p.aatype[prev]],
                    Protein::chain_id(p.chain_index[prev]),
                    p.residue_index[prev],
                ),
            )?;
            serial += 1;
        }
        let res_name = rc::RESTYPE_3[p.aatype[i]];
        let chain = Protein::chain_id(p.chain_index[i]);
        for (a, atom_name) in rc::ATOM_TYPES.iter().enumerate() {
            if p.atom_mask[[i, a]] < 0.5 {
                continue;
            }
            // Atom names of fewer than four characters start in column 14.
            let name = if atom_name.len() == 4 {
                atom_name.to_string()
            } else {
                format!(" {atom_name}")
            };
            let pos = p.atom_positions.slice(ndarray::s![i, a, ..]);
            let element = &atom_name[..1];
            let line = format!(
                "{:<6}{serial:>5} {name:<4}{:>1}{res_name:>3} {chain:>1}{:>4}{:>1}   {:>8.3}{:>8.3}{:>8.3}{:>6.2}{:>6.2}          {element:>2}{:>2}",
                "ATOM",
                "",
                p.residue_index[i],
                "",
                pos[0] as f64,
                pos[1] as f64,
                pos[2] as f64,
                1.00f64,
                p.b_factors[[i, a]] as f64,
                "",
            );
            pad80(w, &line)?;
            serial += 1;
        }
    }
    let last = n - 1;
    pad80(
        w,
        &ter_line(
            serial,
            rc::RESTYPE_3[p.aatype[last]],
            Protein::chain_id(p.chain_index[last]),
            p.residue_index[last],
        ),
    )?;
    pad80(w, "ENDMDL")?;
    pad80(w, "END")?;
    Ok(())
}

/// Writes `protein` to `path` atomically.
pub fn write_path(protein: &Protein, path: impl AsRef<Path>) -> Result<(), StructureError> {
    let path = path.as_ref();
    protein.validate()?;
    let wrap = |source| StructureError::Write {
        path: path.display().to_string(),
        source,
    };
    crate::fsutil::atomic::write_with(path, |w| write_lines(protein, w)).map_err(wrap)
}

/// Reads the first model of a PDB file (`.pdb`, `.ent`, optionally gzipped) into atom37, as AlphaFold2's
/// `protein.from_pdb_string` does; see [`super::structure`].
pub fn read_path(path: impl AsRef<Path>, chain: Option<&str>) -> Result<Protein, StructureError> {
    super::structure::read_format(path.as_ref(), chain, pdbtbx::Format::Pdb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array3};

    pub(crate) fn two_residues() -> Protein {
        let mut atom_positions = Array3::zeros((2, 37, 3));
        let mut atom_mask = Array2::zeros((2, 37));
        for i in 0..2 {
            for (k, _) in ["N", "CA", "C"].iter().enumerate() {
                atom_mask[[i, k]] = 1.0;
                atom_positions[[i, k, 0]] = i as f32 * 3.8 + k as f32 - 0.0004;
                atom_positions[[i, k, 1]] = -12.3456;
                atom_positions[[i, k, 2]] = 123.4567;
            }
        }
        atom_mask[[1, 3]] = 1.0; // CB of ALA
        Protein {
            aatype: vec![7, 0],
            atom_positions,
            atom_mask,
            residue_index: vec![1, 2],
            chain_index: vec![0, 0],
            b_factors: Array2::from_elem((2, 37), 87.654),
        }
    }

    #[test]
    fn writes_alphafold_layout() {
        let mut out = Vec::new();
        write(&two_residues(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines.iter().all(|l| l.len() == 80),
            "every line is 80 columns"
        );
        assert_eq!(lines[0].trim_end(), "MODEL     1");
        assert_eq!(
            lines[1],
            "ATOM      1  N   GLY A   1      -0.000 -12.346 123.457  1.00 87.65           N  "
        );
        assert_eq!(&lines[7][12..16], " CB ");
        assert_eq!(lines[8].trim_end(), "TER       8      ALA A   2");
        assert_eq!(lines[9].trim_end(), "ENDMDL");
        assert_eq!(lines[10].trim_end(), "END");
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn multi_chain_gets_ter_between_chains() {
        let mut p = two_residues();
        p.chain_index = vec![0, 1];
        let mut out = Vec::new();
        write(&p, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let ters: Vec<&str> = text.lines().filter(|l| l.starts_with("TER")).collect();
        assert_eq!(ters.len(), 2);
        assert_eq!(ters[0].trim_end(), "TER       4      GLY A   1");
        assert!(text
            .lines()
            .nth(5)
            .unwrap()
            .starts_with("ATOM      5  N   ALA B   2"));
    }

    #[test]
    fn rejects_inconsistent_protein() {
        let mut p = two_residues();
        p.residue_index.pop();
        assert!(write(&p, Vec::new()).is_err());
    }
}
