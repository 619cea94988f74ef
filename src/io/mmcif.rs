//! mmCIF: reading structures into atom37 ([`read_path`], through [`super::structure`]) and writing
//! predictions: `entity`, `entity_poly_seq`, `struct_asym` and `atom_site` categories (the
//! PDBx/mmCIF dictionary), pLDDT in `atom_site.B_iso_or_equiv` of every atom, and the per-residue pLDDT as a
//! ModelCIF `ma_qa_metric_local` table, as AlphaFold DB files carry it. Atoms in the same order and with the
//! same numbers as the PDB writer.

use std::io::Write;
use std::path::Path;

use crate::protein::{Protein, StructureError};
use crate::residue_constants as rc;

/// Quotes a CIF value when it needs it.
fn cif_value(s: &str) -> String {
    if s.is_empty() {
        return "?".into();
    }
    let needs =
        s.contains(char::is_whitespace) || s.starts_with(['_', '#', '$', '\'', '"', '[', ']', ';']);
    if !needs {
        s.to_string()
    } else if !s.contains('\'') {
        format!("'{s}'")
    } else {
        format!("\"{s}\"")
    }
}

fn write_lines(p: &Protein, name: &str, w: &mut dyn Write) -> std::io::Result<()> {
    let id = cif_value(&name.replace(char::is_whitespace, "_"));
    writeln!(w, "data_{}", id.trim_matches(['\'', '"']))?;
    writeln!(w, "#\n_entry.id {id}\n#")?;
    // Chains: one entity per chain (monomers: one).
    let n = p.num_res();
    let mut chains: Vec<(usize, usize, usize)> = Vec::new(); // (chain index, start, end)
    for i in 0..n {
        match chains.last_mut() {
            Some(c) if c.0 == p.chain_index[i] => c.2 = i + 1,
            _ => chains.push((p.chain_index[i], i, i + 1)),
        }
    }
    writeln!(w, "loop_\n_entity.id\n_entity.type")?;
    for (e, _) in chains.iter().enumerate() {
        writeln!(w, "{} polymer", e + 1)?;
    }
    writeln!(w, "#\nloop_\n_entity_poly_seq.entity_id\n_entity_poly_seq.num\n_entity_poly_seq.mon_id\n_entity_poly_seq.hetero")?;
    for (e, &(_, start, end)) in chains.iter().enumerate() {
        for (k, i) in (start..end).enumerate() {
            writeln!(w, "{} {} {} n", e + 1, k + 1, rc::RESTYPE_3[p.aatype[i]])?;
        }
    }
    writeln!(w, "#\nloop_\n_struct_asym.id\n_struct_asym.entity_id")?;
    for (e, &(c, _, _)) in chains.iter().enumerate() {
        writeln!(w, "{} {}", Protein::chain_id(c), e + 1)?;
    }
    writeln!(w, "#\nloop_")?;
    for field in [
        "group_PDB",
        "id",
        "type_symbol",
        "label_atom_id",
        "label_alt_id",
        "label_comp_id",
        "label_asym_id",
        "label_entity_id",
        "label_seq_id",
        "pdbx_PDB_ins_code",
        "Cartn_x",
        "Cartn_y",
        "Cartn_z",
        "occupancy",
        "B_iso_or_equiv",
        "pdbx_formal_charge",
        "auth_seq_id",
        "auth_comp_id",
        "auth_asym_id",
        "auth_atom_id",
        "pdbx_PDB_model_num",
    ] {
        writeln!(w, "_atom_site.{field}")?;
    }
    let mut serial = 1usize;
    for (e, &(c, start, end)) in chains.iter().enumerate() {
        let chain = Protein::chain_id(c);
        for (k, i) in (start..end).enumerate() {
            let res = rc::RESTYPE_3[p.aatype[i]];
            for (a, atom) in rc::ATOM_TYPES.iter().enumerate() {
                if p.atom_mask[[i, a]] < 0.5 {
                    continue;
                }
                let pos = p.atom_positions.slice(ndarray::s![i, a, ..]);
                writeln!(
                    w,
                    "ATOM {serial} {} {atom} . {res} {chain} {} {} ? {:.3} {:.3} {:.3} 1.00 {:.2} ? {} {res} {chain} {atom} 1",
                    &atom[..1],
                    e + 1,
                    k + 1,
                    pos[0] as f64,
                    pos[1] as f64,
                    pos[2] as f64,
                    p.b_factors[[i, a]] as f64,
                    p.residue_index[i],
                )?;
                serial += 1;
            }
        }
        serial += 1; // numbering stays aligned with the PDB file, whose TER record takes a serial
    }
    writeln!(w, "#")?;
    // Per-residue confidence (ModelCIF): the B-factor of the residue's first atom, i.e. its pLDDT.
    writeln!(w, "_ma_qa_metric.id 1\n_ma_qa_metric.name pLDDT\n_ma_qa_metric.mode local\n_ma_qa_metric.type pLDDT\n#")?;
    writeln!(w, "loop_\n_ma_qa_metric_local.label_asym_id\n_ma_qa_metric_local.label_comp_id\n_ma_qa_metric_local.label_seq_id\n_ma_qa_metric_local.metric_id\n_ma_qa_metric_local.metric_value")?;
    for &(c, start, end) in &chains {
        for (k, i) in (start..end).enumerate() {
            let first = (0..37).find(|&a| p.atom_mask[[i, a]] >= 0.5);
            if let Some(a) = first {
                writeln!(
                    w,
                    "{} {} {} 1 {:.2}",
                    Protein::chain_id(c),
                    rc::RESTYPE_3[p.aatype[i]],
                    k + 1,
                    p.b_factors[[i, a]] as f64
                )?;
            }
        }
    }
    writeln!(w, "#")?;
    Ok(())
}

/// Writes `protein` as mmCIF text with data block `name`.
pub fn write<W: Write>(protein: &Protein, name: &str, mut w: W) -> Result<(), StructureError> {
    protein.validate()?;
    write_lines(protein, name, &mut w).map_err(|source| StructureError::Write {
        path: "<stream>".into(),
        source,
    })
}

/// Writes `protein` to `path` atomically.
pub fn write_path(
    protein: &Protein,
    name: &str,
    path: impl AsRef<Path>,
) -> Result<(), StructureError> {
    let path = path.as_ref();
    protein.validate()?;
    let wrap = |source| StructureError::Write {
        path: path.display().to_string(),
        source,
    };
    crate::fsutil::atomic::write_with(path, |w| write_lines(protein, name, w)).map_err(wrap)
}
/// Reads the first model of an mmCIF file (`.cif`, optionally gzipped) into atom37, as AlphaFold2's
/// `protein.from_pdb_string` does for PDB; see [`super::structure`].
pub fn read_path(path: impl AsRef<Path>, chain: Option<&str>) -> Result<Protein, StructureError> {
    super::structure::read_format(path.as_ref(), chain, pdbtbx::Format::Mmcif)
}
