//! Our validation of what a `features.h5` holds. A valid file for a short query is written first; the
//! input then replaces (or deletes) up to four of its datasets with arrays of any type, rank, shape and
//! contents. Whatever `features_h5::read` accepts must then go through the model's input pipeline
//! without a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

use ferrofold::features::{
    make_msa_features, make_sequence_features, single_sequence_msa, RawFeatures, TemplateFeatures,
};
use ferrofold::io::features_h5::{self, Provenance};
use ferrofold::model::config::ModelConfig;
use ferrofold::model::input_pipeline::{process_features, PipelineConfig};

const NAMES: [&str; 16] = [
    "aatype",
    "between_segment_residues",
    "domain_name",
    "residue_index",
    "seq_length",
    "sequence",
    "msa",
    "deletion_matrix_int",
    "num_alignments",
    "msa_species_identifiers",
    "template_aatype",
    "template_all_atom_masks",
    "template_all_atom_positions",
    "template_domain_names",
    "template_sequence",
    "template_sum_probs",
];

fn base() -> (RawFeatures, Provenance) {
    let seq = "MKVLA";
    let sequence = make_sequence_features(seq, "fuzz").unwrap();
    let msa = single_sequence_msa(seq, "fuzz");
    let msa = make_msa_features(&[("fuzz", &msa)]).unwrap();
    let raw = RawFeatures {
        sequence,
        msa,
        templates: TemplateFeatures::empty(seq.len()),
    };
    let prov = Provenance {
        tool: "fuzz".into(),
        query_sequence: seq.into(),
        databases: "[]".into(),
        command: "fuzz".into(),
        input_hash: "0".into(),
        created: "0".into(),
    };
    (raw, prov)
}

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("features.h5");
    let (raw, prov) = base();
    features_h5::write(&path, &raw, &prov).unwrap();
    {
        let f = hdf5::File::open_rw(&path).unwrap();
        let mut bytes = data.iter().copied();
        for _ in 0..4 {
            let Some(sel) = bytes.next() else { break };
            let name = NAMES[sel as usize % NAMES.len()];
            let kind = bytes.next().unwrap_or(0) % 4;
            let ndim = (bytes.next().unwrap_or(0) % 4) as usize;
            let dims: Vec<usize> = (0..ndim)
                .map(|_| (bytes.next().unwrap_or(1) % 7) as usize)
                .collect();
            let count: usize = dims.iter().product();
            let _ = f.unlink(name);
            let shape = ndarray::IxDyn(&dims);
            match kind {
                0 => {
                    let v: Vec<i32> = (0..count)
                        .map(|_| bytes.next().unwrap_or(0) as i8 as i32)
                        .collect();
                    let a = ndarray::ArrayD::from_shape_vec(shape, v).unwrap();
                    f.new_dataset_builder().with_data(&a).create(name).unwrap();
                }
                1 => {
                    let v: Vec<f32> = (0..count)
                        .map(|_| {
                            let b = bytes.next().unwrap_or(0);
                            match b {
                                255 => f32::NAN,
                                254 => f32::INFINITY,
                                _ => b as f32 / 16.0 - 4.0,
                            }
                        })
                        .collect();
                    let a = ndarray::ArrayD::from_shape_vec(shape, v).unwrap();
                    f.new_dataset_builder().with_data(&a).create(name).unwrap();
                }
                2 => {
                    let v: Vec<hdf5::types::VarLenUnicode> = (0..count)
                        .map(|_| {
                            let len = bytes.next().unwrap_or(0) % 8;
                            let s: String = (0..len)
                                .map(|_| (b'A' + bytes.next().unwrap_or(0) % 26) as char)
                                .collect();
                            s.parse().unwrap()
                        })
                        .collect();
                    let a = ndarray::ArrayD::from_shape_vec(shape, v).unwrap();
                    f.new_dataset_builder().with_data(&a).create(name).unwrap();
                }
                _ => {} // deleted
            }
        }
    }
    if let Ok((raw, _)) = features_h5::read(&path) {
        let cfg = PipelineConfig::for_model(&ModelConfig::model_1_ptm());
        let _ = process_features(&raw, &cfg, 1, 0, true);
    }
});
