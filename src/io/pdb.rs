//! PDB: writing predictions in AlphaFold2's exact layout (`protein.to_pdb`: `MODEL 1`, 80-column `ATOM`
//! records with right-justified serial and residue numbers, element symbol, `TER` per chain, `ENDMDL`,
//! `END`, every line padded to 80 columns) with per-atom B-factors (pLDDT); and reading structures through
//! `pdbtbx` into the atom37 representation (AlphaFold2's `protein.from_pdb_string`).

use std::io::Write;
use std::path::Path;

use ndarray::{Array2, Array3};

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

/// Runs `f`, turning a panic into `Err(its message)`; the panic hook is silenced meanwhile (serialised by
/// a lock) so that nothing but the caller's error reaches stderr.
fn without_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static HOOK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = HOOK.lock().unwrap_or_else(|e| e.into_inner());
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    r.map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panicked".into())
    })
}

/// Reads the first model of a PDB or mmCIF file (format from the extension) through `pdbtbx` into atom37,
/// as AlphaFold2's `from_pdb_string` does: standard residues by name (others as `UNK`), atoms outside the
/// atom37 names dropped, hetero groups (waters, ligands) skipped, `chain` selecting one chain if given.
pub fn read_path(path: impl AsRef<Path>, chain: Option<&str>) -> Result<Protein, StructureError> {
    let path = path.as_ref();
    let shown = path.display().to_string();
    let read_err = |message: String| StructureError::Read {
        path: shown.clone(),
        message,
    };
    let name = path
        .to_str()
        .ok_or_else(|| read_err("path is not valid UTF-8".into()))?;
    // pdbtbx 0.12 panics (`expect`) on some malformed mmCIF rows (an atom_site row without an id, found by
    // fuzzing); such a file is a read error here, not a crash.
    let parsed = without_panic(|| {
        pdbtbx::ReadOptions::default()
            .set_level(pdbtbx::StrictnessLevel::Loose)
            .set_only_first_model(true)
            .read(name)
    })
    .map_err(|m| read_err(format!("the structure parser (pdbtbx) failed: {m}")))?;
    let (pdb, _warnings) = parsed.map_err(|errs| {
        read_err(
            errs.iter()
                .map(|e| e.short_description().to_string())
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    let mut aatype = Vec::new();
    let mut residue_index = Vec::new();
    let mut chain_index = Vec::new();
    // Per residue: atom37 positions, mask and B-factors.
    type Atoms37 = ([[f32; 3]; 37], [f32; 37], [f32; 37]);
    let mut rows: Vec<Atoms37> = Vec::new();
    let model = pdb
        .models()
        .next()
        .ok_or_else(|| read_err("no model".into()))?;
    let mut chain_no = 0usize;
    for ch in model.chains() {
        if chain.is_some_and(|c| c != ch.id()) {
            continue;
        }
        let mut any = false;
        for res in ch.residues() {
            let Some(conf) = res.conformers().next() else {
                continue;
            };
            if conf.atoms().all(|a| a.hetero()) {
                continue;
            }
            if let Some(code) = res.insertion_code() {
                return Err(StructureError::InsertionCode {
                    path: shown.clone(),
                    chain: ch.id().to_string(),
                    residue: res.serial_number(),
                    code: code.to_string(),
                });
            }
            let mut pos = [[0f32; 3]; 37];
            let mut mask = [0f32; 37];
            let mut b = [0f32; 37];
            for atom in conf.atoms() {
                if let Some(k) = rc::atom37_index(atom.name()) {
                    let (x, y, z) = atom.pos();
                    pos[k] = [x as f32, y as f32, z as f32];
                    mask[k] = 1.0;
                    b[k] = atom.b_factor() as f32;
                }
            }
            if mask.iter().all(|&m| m == 0.0) {
                continue; // no atom37 atom: AlphaFold2 skips the residue
            }
            aatype.push(rc::restype_3_index(conf.name()));
            residue_index.push(res.serial_number() as i32);
            chain_index.push(chain_no);
            rows.push((pos, mask, b));
            any = true;
        }
        if any {
            chain_no += 1;
        }
    }
    if rows.is_empty() {
        return Err(read_err(match chain {
            Some(c) => format!("no residues in chain {c}"),
            None => "no residues".into(),
        }));
    }
    let n = rows.len();
    let mut atom_positions = Array3::zeros((n, 37, 3));
    let mut atom_mask = Array2::zeros((n, 37));
    let mut b_factors = Array2::zeros((n, 37));
    for (i, (pos, mask, b)) in rows.iter().enumerate() {
        for k in 0..37 {
            for d in 0..3 {
                atom_positions[[i, k, d]] = pos[k][d];
            }
            atom_mask[[i, k]] = mask[k];
            b_factors[[i, k]] = b[k];
        }
    }
    Ok(Protein {
        aatype,
        atom_positions,
        atom_mask,
        residue_index,
        chain_index,
        b_factors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
