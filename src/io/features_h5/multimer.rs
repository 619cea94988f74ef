//! A complex's `features.h5`: the example AlphaFold-Multimer reads ([`MultimerFeatures`]), one dataset
//! per feature under AlphaFold2's name (ids and counts as int32, masks and deletions as float32; the four
//! counts as scalars), plus `chain_sequences` and `chain_labels` (the chains in asym order) and the
//! attribute `features_kind = "multimer"`. The provenance attributes are a monomer file's.

use std::path::Path;

use ndarray::{arr0, Ix0, Ix1, Ix2, Ix3, Ix4};

use super::{attrs, open, provenance, FeaturesFileError, H5Source, Provenance, Reader};
use crate::features::multimer::MultimerFeatures;
use crate::io::h5::Writer;
use crate::residue_constants as rc;

/// Value of the `features_kind` attribute of a complex's file.
pub const KIND: &str = "multimer";

/// Writes a complex's features to `path` atomically.
pub fn write(
    path: impl AsRef<Path>,
    x: &MultimerFeatures,
    prov: &Provenance,
) -> Result<(), FeaturesFileError> {
    let mut w = Writer::new();
    w.i32("aatype", x.aatype.view())
        .i32("residue_index", x.residue_index.view())
        .i32("asym_id", x.asym_id.view())
        .i32("sym_id", x.sym_id.view())
        .i32("entity_id", x.entity_id.view())
        .i32("entity_mask", x.entity_mask.view())
        .f32("seq_mask", x.seq_mask.view())
        .f32("deletion_mean", x.deletion_mean.view())
        .i32("all_atom_mask", x.all_atom_mask.view())
        .i32("msa", x.msa.view())
        .f32("deletion_matrix", x.deletion_matrix.view())
        .f32("msa_mask", x.msa_mask.view())
        .f32("bert_mask", x.bert_mask.view())
        .f32("cluster_bias_mask", x.cluster_bias_mask.view())
        .i32("num_alignments", arr0(x.num_alignments).view())
        .i32("seq_length", arr0(x.seq_length).view())
        .i32("assembly_num_chains", arr0(x.assembly_num_chains).view())
        .i32("num_templates", arr0(x.num_templates).view())
        .i32("template_aatype", x.template_aatype.view())
        .f32("template_all_atom_mask", x.template_all_atom_mask.view())
        .f32(
            "template_all_atom_positions",
            x.template_all_atom_positions.view(),
        )
        .strings("chain_sequences", &x.chain_sequences)
        .strings("chain_labels", &x.chain_labels);
    super::write_provenance(&mut w, prov);
    w.attr_str(attrs::KIND, KIND);
    super::write_atomically(path.as_ref(), w)
}

/// Reads and checks a complex's features file: every dataset present with its type and a shape that
/// agrees with the others (N residues, S rows, T templates), residue codes in range, ids consistent
/// with the chains listed.
pub fn read(path: impl AsRef<Path>) -> Result<(MultimerFeatures, Provenance), FeaturesFileError> {
    let path = path.as_ref();
    let f = open(path)?;
    let prov = provenance(&f, path)?;
    let kind = f.attr_str(attrs::KIND).unwrap_or_else(|| "monomer".into());
    if kind != KIND {
        return Err(FeaturesFileError::Kind {
            path: path.into(),
            found: kind,
            expected: KIND,
        });
    }
    let r = Reader {
        src: &H5Source { f: &f, path },
    };
    let aatype = r.int::<Ix1>("aatype", &[None])?;
    let n = aatype.len();
    let v1 = |name: &'static str| r.int::<Ix1>(name, &[Some(n)]);
    let f1 = |name: &'static str| r.float::<Ix1>(name, &[Some(n)]);
    let scalar = |name: &'static str| r.int::<Ix0>(name, &[]).map(|a| a.into_scalar());
    let msa = r.int::<Ix2>("msa", &[None, Some(n)])?;
    let s = msa.dim().0;
    let f2 = |name: &'static str| r.float::<Ix2>(name, &[Some(s), Some(n)]);
    let template_aatype = r.int::<Ix2>("template_aatype", &[None, Some(n)])?;
    let t = template_aatype.dim().0;
    let x = MultimerFeatures {
        residue_index: v1("residue_index")?,
        asym_id: v1("asym_id")?,
        sym_id: v1("sym_id")?,
        entity_id: v1("entity_id")?,
        entity_mask: v1("entity_mask")?,
        seq_mask: f1("seq_mask")?,
        deletion_mean: f1("deletion_mean")?,
        all_atom_mask: r.int::<Ix2>("all_atom_mask", &[Some(n), Some(rc::ATOM_TYPE_NUM)])?,
        deletion_matrix: f2("deletion_matrix")?,
        msa_mask: f2("msa_mask")?,
        bert_mask: f2("bert_mask")?,
        cluster_bias_mask: r.float::<Ix1>("cluster_bias_mask", &[Some(s)])?,
        num_alignments: scalar("num_alignments")?,
        seq_length: scalar("seq_length")?,
        assembly_num_chains: scalar("assembly_num_chains")?,
        num_templates: scalar("num_templates")?,
        template_all_atom_mask: r.float::<Ix3>(
            "template_all_atom_mask",
            &[Some(t), Some(n), Some(rc::ATOM_TYPE_NUM)],
        )?,
        template_all_atom_positions: r.float::<Ix4>(
            "template_all_atom_positions",
            &[Some(t), Some(n), Some(rc::ATOM_TYPE_NUM), Some(3)],
        )?,
        chain_sequences: r.strings("chain_sequences", None)?,
        chain_labels: r.strings("chain_labels", None)?,
        aatype,
        msa,
        template_aatype,
    };
    check(&r, &x)?;
    Ok((x, prov))
}

fn check(r: &Reader<'_, H5Source<'_>>, x: &MultimerFeatures) -> Result<(), FeaturesFileError> {
    let n = x.aatype.len();
    if let Some(i) = x.aatype.iter().position(|&a| !(0..=20).contains(&a)) {
        return Err(r.invalid(
            "aatype",
            format!("residue {i} has code {} (0..=20)", x.aatype[i]),
        ));
    }
    if let Some(v) = x.msa.iter().find(|&&a| !(0..=21).contains(&a)) {
        return Err(r.invalid("msa", format!("code {v} (0..=21)")));
    }
    if let Some(v) = x.template_aatype.iter().find(|&&a| !(0..=21).contains(&a)) {
        return Err(r.invalid("template_aatype", format!("code {v} (0..=21)")));
    }
    if x.seq_length as usize != n {
        return Err(r.invalid(
            "seq_length",
            format!("{} but aatype has {n} residues", x.seq_length),
        ));
    }
    if x.num_alignments < 1 || x.num_alignments as usize > x.msa.dim().0 {
        return Err(r.invalid(
            "num_alignments",
            format!("{} with {} MSA rows", x.num_alignments, x.msa.dim().0),
        ));
    }
    let chains = x.chain_sequences.len();
    if x.chain_labels.len() != chains || chains == 0 {
        return Err(r.invalid(
            "chain_labels",
            format!(
                "{} labels for {chains} chain sequences",
                x.chain_labels.len()
            ),
        ));
    }
    // Residues run chain by chain in asym order; each chain's residues are its sequence.
    let mut start = 0;
    for (k, seq) in x.chain_sequences.iter().enumerate() {
        let len = seq.chars().count();
        if len == 0 {
            return Err(r.invalid(
                "chain_sequences",
                format!("chain {} has no residues", x.chain_labels[k]),
            ));
        }
        let ids = x.asym_id.slice(ndarray::s![start..(start + len).min(n)]);
        if start + len > n || ids.iter().any(|&a| a != k as i32 + 1) {
            return Err(r.invalid(
                "asym_id",
                format!(
                    "chain {} ({len} residues) does not have asym id {} at residues {start}..{}",
                    x.chain_labels[k],
                    k + 1,
                    start + len
                ),
            ));
        }
        start += len;
    }
    if start != n || x.assembly_num_chains as usize != chains {
        return Err(r.invalid(
            "chain_sequences",
            format!("{chains} chains of {start} residues; the features have {n} residues and assembly_num_chains {}", x.assembly_num_chains),
        ));
    }
    Ok(())
}

/// Whether the features file at `path` is a complex's (its `features_kind` attribute).
pub fn is_multimer(path: impl AsRef<Path>) -> bool {
    open(path.as_ref()).is_ok_and(|f| f.attr_str(attrs::KIND).as_deref() == Some(KIND))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::multimer::{make_multimer_features, ChainInput};
    use crate::features::{make_msa_features, make_sequence_features, single_sequence_msa};
    use crate::features::{RawFeatures, TemplateFeatures};

    #[test]
    fn a_chain_without_residues_is_refused_on_reading() {
        let chain = || ChainInput {
            features: RawFeatures {
                sequence: make_sequence_features("MKV", "q").unwrap(),
                msa: make_msa_features(&[("m", &single_sequence_msa("MKV", "q"))]).unwrap(),
                templates: TemplateFeatures::empty(3),
            },
            all_seq: None,
        };
        let mut f = make_multimer_features(&[chain(), chain()], &["A".into(), "B".into()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("features.h5");
        write(&path, &f, &Provenance::default()).unwrap();
        assert_eq!(read(&path).unwrap().0, f);
        f.chain_sequences.push(String::new());
        f.chain_labels.push("C".into());
        f.assembly_num_chains = 3;
        write(&path, &f, &Provenance::default()).unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains("chain C has no residues"), "{e}");
    }
}
