//! mmCIF: reading structures into atom37 ([`read_path`], through [`super::structure`]) and writing
//! predictions as ModelCIF, with the categories AlphaFold DB files carry: `audit_conform`, `software`,
//! `chem_comp`, `entity`, `entity_poly`, `entity_poly_seq`, `struct_asym`, `pdbx_poly_seq_scheme`,
//! `atom_type`, `atom_site` (pLDDT in `B_iso_or_equiv` of every atom), and the ModelCIF model and quality
//! tables `ma_data`, `ma_model_list`, `ma_qa_metric`, `ma_qa_metric_global` (mean pLDDT) and
//! `ma_qa_metric_local` (per-residue pLDDT). Atoms in the same order and with the same numbers as the PDB
//! writer.

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

/// Names of the residue types (`RESTYPE_3` order) as the PDB's chemical component dictionary gives them.
const CHEM_COMP_NAMES: [&str; 21] = [
    "ALANINE",
    "ARGININE",
    "ASPARAGINE",
    "ASPARTIC ACID",
    "CYSTEINE",
    "GLUTAMINE",
    "GLUTAMIC ACID",
    "GLYCINE",
    "HISTIDINE",
    "ISOLEUCINE",
    "LEUCINE",
    "LYSINE",
    "METHIONINE",
    "PHENYLALANINE",
    "PROLINE",
    "SERINE",
    "THREONINE",
    "TRYPTOPHAN",
    "TYROSINE",
    "VALINE",
    "UNKNOWN",
];

/// Version of the ModelCIF dictionary the files conform to.
const MODELCIF_VERSION: &str = "1.4.5";

fn write_lines(p: &Protein, name: &str, w: &mut dyn Write) -> std::io::Result<()> {
    let id = cif_value(&name.replace(char::is_whitespace, "_"));
    writeln!(w, "data_{}", id.trim_matches(['\'', '"']))?;
    writeln!(w, "#\n_entry.id {id}\n#")?;
    writeln!(
        w,
        "_audit_conform.dict_name mmcif_ma.dic\n_audit_conform.dict_version {MODELCIF_VERSION}\n_audit_conform.dict_location https://raw.githubusercontent.com/ihmwg/ModelCIF/master/dist/mmcif_ma.dic\n#"
    )?;
    writeln!(w, "loop_\n_software.pdbx_ordinal\n_software.name\n_software.version\n_software.type\n_software.classification\n_software.description")?;
    writeln!(
        w,
        "1 ferrofold {} program 'model building' 'AlphaFold2-class structure prediction (Rust)'\n#",
        cif_value(env!("CARGO_PKG_VERSION"))
    )?;
    // Chains, and one entity per distinct sequence (a homodimer's two chains share one).
    let n = p.num_res();
    let mut chains: Vec<(usize, usize, usize)> = Vec::new(); // (chain index, start, end)
    for i in 0..n {
        match chains.last_mut() {
            Some(c) if c.0 == p.chain_index[i] => c.2 = i + 1,
            _ => chains.push((p.chain_index[i], i, i + 1)),
        }
    }
    // entity_of[k]: the entity (from 0) of chain k; entities[e]: the chains of entity e.
    let mut entities: Vec<Vec<usize>> = Vec::new();
    let mut entity_of: Vec<usize> = Vec::with_capacity(chains.len());
    for (k, &(_, start, end)) in chains.iter().enumerate() {
        let same = entities.iter().position(|members| {
            let (_, s0, e0) = chains[members[0]];
            p.aatype[s0..e0] == p.aatype[start..end]
        });
        match same {
            Some(e) => {
                entities[e].push(k);
                entity_of.push(e);
            }
            None => {
                entity_of.push(entities.len());
                entities.push(vec![k]);
            }
        }
    }
    let mut used: Vec<usize> = p.aatype.iter().map(|&a| a.min(20)).collect();
    used.sort_unstable();
    used.dedup();
    writeln!(
        w,
        "loop_\n_chem_comp.id\n_chem_comp.type\n_chem_comp.mon_nstd_flag\n_chem_comp.name"
    )?;
    for &a in &used {
        let kind = if rc::RESTYPE_3[a] == "GLY" {
            "'peptide linking'"
        } else {
            "'L-peptide linking'"
        };
        writeln!(
            w,
            "{} {kind} {} {}",
            rc::RESTYPE_3[a],
            if a < 20 { "y" } else { "." },
            cif_value(CHEM_COMP_NAMES[a])
        )?;
    }
    writeln!(
        w,
        "#\nloop_\n_entity.id\n_entity.type\n_entity.src_method\n_entity.pdbx_description"
    )?;
    for (e, members) in entities.iter().enumerate() {
        let ids: Vec<String> = members
            .iter()
            .map(|&k| Protein::chain_id(chains[k].0).to_string())
            .collect();
        writeln!(
            w,
            "{} polymer man {}",
            e + 1,
            cif_value(&format!("Predicted chain {}", ids.join(", ")))
        )?;
    }
    writeln!(w, "#\nloop_\n_entity_poly.entity_id\n_entity_poly.type\n_entity_poly.nstd_linkage\n_entity_poly.nstd_monomer\n_entity_poly.pdbx_strand_id\n_entity_poly.pdbx_seq_one_letter_code\n_entity_poly.pdbx_seq_one_letter_code_can")?;
    for (e, members) in entities.iter().enumerate() {
        let (_, start, end) = chains[members[0]];
        let seq: String = (start..end)
            .map(|i| rc::RESTYPES.get(p.aatype[i]).copied().unwrap_or('X'))
            .collect();
        let unknown = if seq.contains('X') { "yes" } else { "no" };
        let strands: Vec<String> = members
            .iter()
            .map(|&k| Protein::chain_id(chains[k].0).to_string())
            .collect();
        writeln!(
            w,
            "{} polypeptide(L) no {unknown} {} {seq} {seq}",
            e + 1,
            strands.join(",")
        )?;
    }
    writeln!(w, "#\nloop_\n_entity_poly_seq.entity_id\n_entity_poly_seq.num\n_entity_poly_seq.mon_id\n_entity_poly_seq.hetero")?;
    for (e, members) in entities.iter().enumerate() {
        let (_, start, end) = chains[members[0]];
        for (k, i) in (start..end).enumerate() {
            writeln!(w, "{} {} {} n", e + 1, k + 1, rc::RESTYPE_3[p.aatype[i]])?;
        }
    }
    writeln!(w, "#\nloop_\n_struct_asym.id\n_struct_asym.entity_id")?;
    for (k, &(c, _, _)) in chains.iter().enumerate() {
        writeln!(w, "{} {}", Protein::chain_id(c), entity_of[k] + 1)?;
    }
    writeln!(w, "#\nloop_\n_pdbx_poly_seq_scheme.asym_id\n_pdbx_poly_seq_scheme.entity_id\n_pdbx_poly_seq_scheme.seq_id\n_pdbx_poly_seq_scheme.mon_id\n_pdbx_poly_seq_scheme.pdb_seq_num\n_pdbx_poly_seq_scheme.auth_seq_num\n_pdbx_poly_seq_scheme.pdb_mon_id\n_pdbx_poly_seq_scheme.auth_mon_id\n_pdbx_poly_seq_scheme.pdb_strand_id\n_pdbx_poly_seq_scheme.pdb_ins_code\n_pdbx_poly_seq_scheme.hetero")?;
    for (ck, &(c, start, end)) in chains.iter().enumerate() {
        let (e, chain) = (entity_of[ck], Protein::chain_id(c));
        for (k, i) in (start..end).enumerate() {
            let res = rc::RESTYPE_3[p.aatype[i].min(20)];
            let num = p.residue_index[i];
            writeln!(
                w,
                "{chain} {} {} {res} {num} {num} {res} {res} {chain} . n",
                e + 1,
                k + 1
            )?;
        }
    }
    let mut elements: Vec<&str> = Vec::new();
    for i in 0..n {
        for (a, atom) in rc::ATOM_TYPES.iter().enumerate() {
            if p.atom_mask[[i, a]] >= 0.5 && !elements.contains(&&atom[..1]) {
                elements.push(&atom[..1]);
            }
        }
    }
    elements.sort_unstable();
    writeln!(w, "#\nloop_\n_atom_type.symbol")?;
    for e in &elements {
        writeln!(w, "{e}")?;
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
    for (ck, &(c, start, end)) in chains.iter().enumerate() {
        let (e, chain) = (entity_of[ck], Protein::chain_id(c));
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
    // The model (ModelCIF) and its confidence: per residue the B-factor of the residue's first atom, i.e.
    // its pLDDT; globally their mean (as AlphaFold DB files give it).
    writeln!(
        w,
        "_ma_data.id 1\n_ma_data.name Model\n_ma_data.content_type 'model coordinates'\n#"
    )?;
    writeln!(w, "_ma_model_list.ordinal_id 1\n_ma_model_list.model_id 1\n_ma_model_list.model_group_id 1\n_ma_model_list.model_name {id}\n_ma_model_list.model_group_name {id}\n_ma_model_list.data_id 1\n_ma_model_list.model_type 'Ab initio model'\n#")?;
    writeln!(w, "loop_\n_ma_qa_metric.id\n_ma_qa_metric.name\n_ma_qa_metric.mode\n_ma_qa_metric.type\n_ma_qa_metric.software_group_id\n1 pLDDT global pLDDT .\n2 pLDDT local pLDDT .\n#")?;
    let residue_plddt: Vec<f64> = (0..n)
        .filter_map(|i| {
            (0..37)
                .find(|&a| p.atom_mask[[i, a]] >= 0.5)
                .map(|a| p.b_factors[[i, a]] as f64)
        })
        .collect();
    let mean = residue_plddt.iter().sum::<f64>() / residue_plddt.len().max(1) as f64;
    writeln!(w, "_ma_qa_metric_global.ordinal_id 1\n_ma_qa_metric_global.model_id 1\n_ma_qa_metric_global.metric_id 1\n_ma_qa_metric_global.metric_value {mean:.2}\n#")?;
    writeln!(w, "loop_\n_ma_qa_metric_local.ordinal_id\n_ma_qa_metric_local.model_id\n_ma_qa_metric_local.label_asym_id\n_ma_qa_metric_local.label_comp_id\n_ma_qa_metric_local.label_seq_id\n_ma_qa_metric_local.metric_id\n_ma_qa_metric_local.metric_value")?;
    let mut ordinal = 0usize;
    for &(c, start, end) in &chains {
        for (k, i) in (start..end).enumerate() {
            let first = (0..37).find(|&a| p.atom_mask[[i, a]] >= 0.5);
            if let Some(a) = first {
                ordinal += 1;
                writeln!(
                    w,
                    "{ordinal} 1 {} {} {} 2 {:.2}",
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
