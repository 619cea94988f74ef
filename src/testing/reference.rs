//! Readers for DeepMind reference outputs (the parity fixtures under `tests/data/`).

pub use crate::model::input::processed::{trunk_inputs_from_processed, InputError};

/// AlphaFold-Multimer features as DeepMind's data pipeline saves them (`np.savez` of
/// `pipeline_multimer.DataPipeline.process`'s output; ids as floats, some counts as int64). Chain
/// sequences and labels are not in DeepMind's example: they are left empty.
pub fn multimer_features_from_npz(
    npz: &crate::io::npz::Npz,
) -> Result<crate::features::multimer::MultimerFeatures, String> {
    use ndarray::{Ix1, Ix2, Ix3, Ix4};
    let get = |k: &str| npz.get(k).map_err(|e| format!("{k}: {e}"));
    let int = |k: &str| -> Result<ndarray::ArrayD<i32>, String> {
        let a = get(k)?;
        a.to_i32()
            .or_else(|| a.to_f32().map(|v| v.mapv(|x| x as i32)))
            .ok_or_else(|| format!("{k}: not a number array"))
    };
    let float = |k: &str| -> Result<ndarray::ArrayD<f32>, String> {
        let a = get(k)?;
        a.to_f32()
            .or_else(|| a.to_i32().map(|v| v.mapv(|x| x as f32)))
            .ok_or_else(|| format!("{k}: not a number array"))
    };
    let scalar = |k: &str| -> Result<i32, String> {
        int(k)?
            .iter()
            .next()
            .copied()
            .ok_or_else(|| format!("{k}: empty"))
    };
    macro_rules! dim {
        ($a:expr, $d:ty, $k:expr) => {
            $a.into_dimensionality::<$d>()
                .map_err(|e| format!("{}: {e}", $k))?
        };
    }
    Ok(crate::features::multimer::MultimerFeatures {
        aatype: dim!(int("aatype")?, Ix1, "aatype"),
        residue_index: dim!(int("residue_index")?, Ix1, "residue_index"),
        asym_id: dim!(int("asym_id")?, Ix1, "asym_id"),
        sym_id: dim!(int("sym_id")?, Ix1, "sym_id"),
        entity_id: dim!(int("entity_id")?, Ix1, "entity_id"),
        entity_mask: dim!(int("entity_mask")?, Ix1, "entity_mask"),
        seq_mask: dim!(float("seq_mask")?, Ix1, "seq_mask"),
        deletion_mean: dim!(float("deletion_mean")?, Ix1, "deletion_mean"),
        all_atom_mask: dim!(int("all_atom_mask")?, Ix2, "all_atom_mask"),
        msa: dim!(int("msa")?, Ix2, "msa"),
        deletion_matrix: dim!(float("deletion_matrix")?, Ix2, "deletion_matrix"),
        msa_mask: dim!(float("msa_mask")?, Ix2, "msa_mask"),
        bert_mask: dim!(float("bert_mask")?, Ix2, "bert_mask"),
        cluster_bias_mask: dim!(float("cluster_bias_mask")?, Ix1, "cluster_bias_mask"),
        num_alignments: scalar("num_alignments")?,
        seq_length: scalar("seq_length")?,
        assembly_num_chains: scalar("assembly_num_chains")?,
        num_templates: scalar("num_templates")?,
        template_aatype: dim!(int("template_aatype")?, Ix2, "template_aatype"),
        template_all_atom_mask: dim!(
            float("template_all_atom_mask")?,
            Ix3,
            "template_all_atom_mask"
        ),
        template_all_atom_positions: dim!(
            float("template_all_atom_positions")?,
            Ix4,
            "template_all_atom_positions"
        ),
        chain_sequences: Vec::new(),
        chain_labels: Vec::new(),
    })
}
