//! Reading experimental or predicted structures (PDB and mmCIF) through `pdbtbx` into the atom37
//! representation, as AlphaFold2's `protein.from_pdb_string` / `from_mmcif` do: the first model,
//! standard residues by name (others as `UNK`), atoms outside the atom37 names dropped, hetero groups
//! (waters, ligands) skipped, `chain` selecting one chain if given. [`read_path`] picks the format from
//! the extension; [`super::pdb::read_path`] and [`super::mmcif::read_path`] insist on theirs.

use std::path::Path;

use ndarray::{Array2, Array3};

use crate::protein::{Protein, StructureError};
use crate::residue_constants as rc;

/// Whether `path` names an mmCIF file (`.cif`, `.mmcif`, optionally `.gz`).
pub(crate) fn is_mmcif(path: &Path) -> bool {
    let name = path.to_string_lossy().to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    name.ends_with(".cif") || name.ends_with(".mmcif")
}

/// Reads a PDB or mmCIF file (format from the extension) into atom37.
pub fn read_path(path: impl AsRef<Path>, chain: Option<&str>) -> Result<Protein, StructureError> {
    let path = path.as_ref();
    let format = if is_mmcif(path) {
        pdbtbx::Format::Mmcif
    } else {
        pdbtbx::Format::Pdb
    };
    read_format(path, chain, format)
}

/// Runs `f`, turning a panic into `Err(its message)`. The process-wide panic hook is left alone (it is
/// the program's, not the library's): a panic inside pdbtbx still prints Rust's panic message before the
/// read error.
fn without_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    r.map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panicked".into())
    })
}

/// Reads the first model of `path` in `format` into atom37 (see the module documentation).
pub(crate) fn read_format(
    path: &Path,
    chain: Option<&str>,
    format: pdbtbx::Format,
) -> Result<Protein, StructureError> {
    let shown = path.display().to_string();
    let read_err = |message: String| StructureError::Read {
        path: shown.clone(),
        message,
    };
    let name = path
        .to_str()
        .ok_or_else(|| read_err("path is not valid UTF-8".into()))?;
    crate::fsutil::regular::check(path).map_err(|e| read_err(e.to_string()))?;
    let options = || {
        let mut o = pdbtbx::ReadOptions::default();
        o.set_level(pdbtbx::StrictnessLevel::Loose)
            .set_only_first_model(true)
            .set_format(format);
        o
    };
    // pdbtbx 0.12 panics (`expect`) on some malformed mmCIF rows (an atom_site row without an id, found by
    // fuzzing); such a file is a read error here, not a crash.
    let parsed = if matches!(format, pdbtbx::Format::Pdb) && !name.ends_with(".gz") {
        // SEQRES records are not used, and pdbtbx refuses files whose SEQRES it cannot check against
        // the atoms (microheterogeneity, as in 1EJG; `score` reads such files the same way).
        let bytes = crate::fsutil::regular::read(path).map_err(|e| read_err(e.to_string()))?;
        let bytes: Vec<u8> = bytes
            .split_inclusive(|&b| b == b'\n')
            .filter(|l| !l.starts_with(b"SEQRES"))
            .flatten()
            .copied()
            .collect();
        without_panic(|| options().read_raw(std::io::BufReader::new(&bytes[..])))
    } else {
        without_panic(|| {
            options()
                .guess_format(name) // compression from the extension
                .set_format(format)
                .read(name)
        })
    }
    .map_err(|m| read_err(format!("the structure parser (pdbtbx) failed: {m}")))?;
    let (pdb, _warnings) = parsed.map_err(|errs| {
        let mut messages: Vec<String> = Vec::new();
        for e in &errs {
            let m = e.short_description().to_string();
            if !messages.contains(&m) {
                messages.push(m);
            }
        }
        read_err(messages.join("; "))
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
