//! `ferrofold inspect`: check a `features.h5` file (every dataset read and validated) and say what it
//! holds.

use std::path::{Path, PathBuf};

use crate::io::features_h5::{self, FeaturesFileError};

/// What a features file holds.
#[derive(Debug, Clone)]
pub struct Inspection {
    pub path: PathBuf,
    pub tool: String,
    pub residues: usize,
    pub alignment_rows: usize,
    pub templates: usize,
    /// Per template: domain name (`pdbid_chain`), `Sum_probs`, query residues it covers.
    pub template_hits: Vec<(String, f32, usize)>,
    pub sequence: String,
    pub command: String,
    pub databases: String,
    /// Every dataset: name, shape, dtype.
    pub datasets: Vec<(String, Vec<usize>, String)>,
    /// A complex's chains, in asym order: (chain id as given, entity, copy, residues, sequence).
    pub chains: Vec<(String, i32, i32, usize, String)>,
}

/// Reads and validates `path` and summarises it.
pub fn inspect(path: &Path) -> Result<Inspection, FeaturesFileError> {
    if features_h5::multimer::is_multimer(path) {
        return inspect_multimer(path);
    }
    // AlphaFold2's features.pkl, accepted wherever features.h5 is: read (and checked) as `predict` reads
    // it, without converting it.
    let (f, prov, datasets) = if crate::io::features_pkl::is_pickle(path) {
        let f = crate::io::features_pkl::read(path)?;
        let prov = features_h5::Provenance {
            tool: "AlphaFold2 features.pkl (not converted; `ferrofold features --from-pkl` converts it)"
                .into(),
            ..Default::default()
        };
        (f, prov, Vec::new())
    } else {
        let (f, prov) = features_h5::read(path)?;
        (f, prov, features_h5::dataset_shapes(path)?)
    };
    Ok(Inspection {
        path: path.into(),
        tool: prov.tool,
        residues: f.num_res(),
        alignment_rows: f.num_alignments(),
        templates: f.templates.count(),
        template_hits: (0..f.templates.count())
            .map(|t| {
                let covered = f.templates.sequence[t]
                    .chars()
                    .filter(|&c| c != '-')
                    .count();
                (
                    f.templates.domain_names[t].clone(),
                    f.templates.sum_probs[[t, 0]],
                    covered,
                )
            })
            .collect(),
        sequence: f.sequence.sequence.clone(),
        command: prov.command,
        databases: prov.databases,
        datasets,
        chains: Vec::new(),
    })
}

fn inspect_multimer(path: &Path) -> Result<Inspection, FeaturesFileError> {
    let (f, prov) = features_h5::multimer::read(path)?;
    let mut start = 0;
    let mut chains = Vec::new();
    for (label, seq) in f.chain_labels.iter().zip(&f.chain_sequences) {
        let len = seq.chars().count();
        chains.push((
            label.clone(),
            f.entity_id[start],
            f.sym_id[start],
            len,
            seq.clone(),
        ));
        start += len;
    }
    Ok(Inspection {
        path: path.into(),
        tool: prov.tool,
        residues: f.aatype.len(),
        alignment_rows: f.num_alignments as usize,
        templates: f.num_templates as usize,
        template_hits: Vec::new(),
        sequence: f.chain_sequences.join(":"),
        command: prov.command,
        databases: prov.databases,
        datasets: features_h5::dataset_shapes(path)?,
        chains,
    })
}
