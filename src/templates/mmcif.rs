//! The parts of an mmCIF file AlphaFold2's template featuriser reads (its `mmcif_parsing.parse` over
//! Biopython's structure): the protein chains' SEQRES sequences (`_entity_poly_seq`, one letter per
//! component through [`super::scop::one_letter`]) keyed by author chain id, which structure residue sits
//! at each SEQRES position, the first model's atoms, and the release date (the oldest
//! `_pdbx_audit_revision_history.revision_date`).

use std::collections::HashMap;

use crate::io::cif::CifDict;

/// Biopython's residue id within a chain: (hetero flag, author residue number, insertion code).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResidueId {
    pub chain: String,
    /// `' '` for ATOM records, `W` for water, `H_<name>` for other HETATM records.
    pub hetflag: String,
    pub number: i64,
    pub insertion_code: String,
}

/// The atoms of one residue of the first model, as Biopython keeps them (one position per atom name:
/// of alternative locations the one with the highest occupancy, the first on ties).
#[derive(Debug, Clone, Default)]
pub struct Residue {
    pub name: String,
    /// (atom name, position, occupancy)
    pub atoms: Vec<(String, [f32; 3], f64)>,
}

/// One parsed template structure.
#[derive(Debug, Clone)]
pub struct MmcifObject {
    pub file_id: String,
    /// `YYYY-MM-DD`, when the file has a revision history.
    pub release_date: Option<String>,
    /// Author chain id → SEQRES sequence, in AlphaFold2's order (entities as they first appear in
    /// `_entity_poly_seq`, their chains in `_struct_asym` order).
    pub chain_to_seqres: Vec<(String, String)>,
    /// Author chain id → for each SEQRES position, the residue there (`None`: not observed).
    pub seqres_to_structure: HashMap<String, Vec<Option<ResidueId>>>,
    pub residues: HashMap<ResidueId, Residue>,
}

impl MmcifObject {
    pub fn seqres(&self, chain: &str) -> Option<&str> {
        self.chain_to_seqres
            .iter()
            .find(|(c, _)| c == chain)
            .map(|(_, s)| s.as_str())
    }
}

fn is_set(v: &str) -> bool {
    v != "." && v != "?"
}

/// Builds the object from the file's dictionary; `Err` says why AlphaFold2's parser would fail on it
/// (a missing category, a chain without atoms, a number that does not parse).
pub fn from_dict(file_id: &str, d: &CifDict) -> Result<MmcifObject, String> {
    // Protein chains: entities with a component whose _chem_comp.type contains "peptide".
    let seq_rows = d.rows("_entity_poly_seq.", &["entity_id", "mon_id", "num"])?;
    let mut polymers: Vec<(String, Vec<(String, i64)>)> = Vec::new();
    for r in seq_rows {
        let (Some(entity), Some(mon), Some(num)) = (&r[0], &r[1], &r[2]) else {
            return Err("_entity_poly_seq lacks entity_id, mon_id or num".into());
        };
        let num: i64 = num
            .parse()
            .map_err(|_| format!("_entity_poly_seq.num '{num}' is not a number"))?;
        match polymers.iter_mut().find(|(e, _)| e == entity) {
            Some((_, v)) => v.push((mon.clone(), num)),
            None => polymers.push((entity.clone(), vec![(mon.clone(), num)])),
        }
    }
    let chem_type: HashMap<String, String> = d
        .rows("_chem_comp.", &["id", "type"])?
        .into_iter()
        .filter_map(|r| Some((r[0].clone()?, r[1].clone().unwrap_or_default())))
        .collect();
    let mut entity_chains: Vec<(String, Vec<String>)> = Vec::new();
    for r in d.rows("_struct_asym.", &["id", "entity_id"])? {
        let (Some(id), Some(entity)) = (&r[0], &r[1]) else {
            continue;
        };
        match entity_chains.iter_mut().find(|(e, _)| e == entity) {
            Some((_, v)) => v.push(id.clone()),
            None => entity_chains.push((entity.clone(), vec![id.clone()])),
        }
    }
    // label chain id → monomers, in AlphaFold2's (dict insertion) order.
    let mut valid: Vec<(String, Vec<(String, i64)>)> = Vec::new();
    for (entity, monomers) in &polymers {
        let mut peptide = false;
        for (mon, _) in monomers {
            let t = chem_type
                .get(mon)
                .ok_or_else(|| format!("component {mon} is not in _chem_comp"))?;
            peptide |= t.to_lowercase().contains("peptide");
        }
        if !peptide {
            continue;
        }
        let chains = entity_chains
            .iter()
            .find(|(e, _)| e == entity)
            .map(|(_, c)| c.clone())
            .unwrap_or_default();
        for c in chains {
            match valid.iter_mut().find(|(v, _)| *v == c) {
                Some(slot) => slot.1 = monomers.clone(),
                None => valid.push((c, monomers.clone())),
            }
        }
    }
    if valid.is_empty() {
        return Err("no protein chains found in this file".into());
    }
    let seq_start: HashMap<&str, i64> = valid
        .iter()
        .map(|(c, m)| (c.as_str(), m.iter().map(|x| x.1).min().unwrap_or(1)))
        .collect();

    let fields = [
        "label_comp_id",
        "auth_asym_id",
        "label_asym_id",
        "auth_seq_id",
        "label_seq_id",
        "pdbx_PDB_ins_code",
        "group_PDB",
        "pdbx_PDB_model_num",
        "label_atom_id",
        "label_alt_id",
        "Cartn_x",
        "Cartn_y",
        "Cartn_z",
        "occupancy",
    ];
    let atoms = d.rows("_atom_site.", &fields)?;
    let first_model = atoms.first().and_then(|r| r[7].clone());
    let mut label_to_author: HashMap<String, String> = HashMap::new();
    let mut seq_map: HashMap<String, HashMap<i64, ResidueId>> = HashMap::new();
    let mut residues: HashMap<ResidueId, Residue> = HashMap::new();
    let need = |v: &Option<String>, what: &str| -> Result<String, String> {
        v.clone()
            .ok_or_else(|| format!("_atom_site.{what} is missing"))
    };
    for r in &atoms {
        let resname = need(&r[0], "label_comp_id")?;
        let auth_chain = need(&r[1], "auth_asym_id")?;
        let label_chain = need(&r[2], "label_asym_id")?;
        let auth_seq = need(&r[3], "auth_seq_id")?;
        let group = need(&r[6], "group_PDB")?;
        let model = need(&r[7], "pdbx_PDB_model_num")?;
        let icode = r[5]
            .clone()
            .filter(|v| is_set(v))
            .unwrap_or_else(|| " ".into());
        let hetflag = if group == "HETATM" {
            if resname == "HOH" || resname == "WAT" {
                "W".to_string()
            } else {
                format!("H_{resname}")
            }
        } else {
            " ".to_string()
        };
        let number: i64 = auth_seq
            .parse()
            .map_err(|_| format!("_atom_site.auth_seq_id '{auth_seq}' is not a number"))?;
        let id = ResidueId {
            chain: auth_chain.clone(),
            hetflag,
            number,
            insertion_code: icode,
        };
        // AlphaFold2's SEQRES mapping reads model "1"; the structure is Biopython's first model.
        if model == "1" {
            label_to_author.insert(label_chain.clone(), auth_chain.clone());
            if let Some(&start) = seq_start.get(label_chain.as_str()) {
                let label_seq = need(&r[4], "label_seq_id")?;
                let idx: i64 = label_seq.parse().map_err(|_| {
                    format!("_atom_site.label_seq_id '{label_seq}' is not a number")
                })?;
                seq_map
                    .entry(auth_chain.clone())
                    .or_default()
                    .insert(idx - start, id.clone());
            }
        }
        if first_model.as_deref() != Some(model.as_str()) {
            continue;
        }
        let name = need(&r[8], "label_atom_id")?;
        let coord = |k: usize, what: &str| -> Result<f32, String> {
            let v = need(&r[k], what)?;
            // As Biopython: a Python float (f64), stored as float32.
            v.parse::<f64>()
                .map(|x| x as f32)
                .map_err(|_| format!("_atom_site.{what} '{v}' is not a number"))
        };
        let pos = [
            coord(10, "Cartn_x")?,
            coord(11, "Cartn_y")?,
            coord(12, "Cartn_z")?,
        ];
        let occupancy = r[13]
            .as_deref()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        let res = residues.entry(id).or_insert_with(|| Residue {
            name: resname.clone(),
            atoms: Vec::new(),
        });
        if res.name != resname {
            // A point mutation modelled as alternative residues: keep the first, as documented.
            continue;
        }
        match res.atoms.iter_mut().find(|(n, _, _)| *n == name) {
            Some(slot) => {
                // Alternative locations: the highest occupancy wins, the first on ties.
                let _ = r[9].as_deref();
                if occupancy > slot.2 {
                    *slot = (name, pos, occupancy);
                }
            }
            None => res.atoms.push((name, pos, occupancy)),
        }
    }

    let mut chain_to_seqres: Vec<(String, String)> = Vec::new();
    let mut seqres_to_structure: HashMap<String, Vec<Option<ResidueId>>> = HashMap::new();
    for (label, monomers) in &valid {
        let author = label_to_author
            .get(label)
            .ok_or_else(|| format!("protein chain {label} has no atoms in model 1"))?;
        let mapped = seq_map
            .get(author)
            .ok_or_else(|| format!("chain {author} has no residues in model 1"))?;
        let positions: Vec<Option<ResidueId>> = (0..monomers.len() as i64)
            .map(|i| mapped.get(&i).cloned())
            .collect();
        seqres_to_structure.insert(author.clone(), positions);
        let seq: String = monomers
            .iter()
            .map(|(m, _)| super::scop::one_letter(m))
            .collect();
        match chain_to_seqres.iter_mut().find(|(c, _)| c == author) {
            Some(slot) => slot.1 = seq,
            None => chain_to_seqres.push((author.clone(), seq)),
        }
    }
    let release_date = d
        .get("_pdbx_audit_revision_history.revision_date")
        .iter()
        .min()
        .cloned();
    Ok(MmcifObject {
        file_id: file_id.to_string(),
        release_date,
        chain_to_seqres,
        seqres_to_structure,
        residues,
    })
}
