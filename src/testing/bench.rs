//! Seeded random weights and inputs at any size, for the benchmarks (`benches/trunk.rs`,
//! `benches/gpu.rs`).

use ndarray::{Array1, Array2, Array3, Array4, Ix2, Ix3};

use crate::model::input::trunk_inputs::{TemplateInputs, TrunkInputs};
use crate::model::params::config::ModelConfig;
use crate::model::params::random::{input_values, param_values};
use crate::model::params::schema;
use crate::model::params::weights::Weights;

/// Every parameter `cfg` asks for, from the seeded generator (`params demo`'s scheme).
pub fn random_weights(cfg: &ModelConfig, seed: u64) -> Weights {
    let mut w = Weights::default();
    for (key, shape) in schema::expected(cfg) {
        w.tensors
            .insert(key.clone(), param_values(&key, &shape, seed));
    }
    w
}

/// One iteration's inputs for `n` residues: `clusters` MSA rows (features in [0, 1)), `extra` extra rows,
/// `templates` synthetic helix templates; every mask 1.
pub fn random_trunk_inputs(
    n: usize,
    clusters: usize,
    extra: usize,
    templates: usize,
) -> TrunkInputs {
    let onehot = |name: &str, rows: usize, classes: usize| {
        let u = input_values(name, &[rows, n], 3);
        Array2::from_shape_fn((rows, n), |(i, j)| {
            (((u[[i, j]] + 1.0) * 0.5 * classes as f32) as i32).min(classes as i32 - 1)
        })
    };
    let aatype = onehot("aatype", 1, 20).row(0).to_owned();
    let mut target_feat = Array2::<f32>::zeros((n, 22));
    for (r, &a) in aatype.iter().enumerate() {
        target_feat[[r, 1 + a as usize]] = 1.0;
    }
    TrunkInputs {
        residue_index: Array1::from_iter(0..n as i32),
        seq_mask: Array1::ones(n),
        target_feat,
        aatype,
        msa_feat: input_values("msa_feat", &[clusters, n, 49], 3)
            .into_dimensionality::<Ix3>()
            .expect("3-D")
            .mapv(|v| v.abs()),
        msa_mask: Array2::ones((clusters, n)),
        extra_msa: onehot("extra", extra, 22),
        extra_msa_mask: Array2::ones((extra, n)),
        extra_has_deletion: Array2::zeros((extra, n)),
        extra_deletion_value: input_values("del", &[extra, n], 3)
            .into_dimensionality::<Ix2>()
            .expect("2-D")
            .mapv(|v| v.abs() * 0.1),
        templates: helix_templates(templates, n),
        chains: None,
    }
}

/// `count` copies of an ideal α-helix (Cα on a radius of 2.3 Å, 100° and
/// 1.5 Å per residue), backbone N, Cα, C, O and Cβ placed around each Cα; all of them present.
pub fn helix_templates(count: usize, n: usize) -> TemplateInputs {
    let mut pos = Array4::<f32>::zeros((count, n, 37, 3));
    let mut mask = Array3::<f32>::zeros((count, n, 37));
    for t in 0..count {
        for i in 0..n {
            let a = i as f32 * 100f32.to_radians();
            let ca = [2.3 * a.cos(), 2.3 * a.sin(), 1.5 * i as f32];
            // N, CA, C, CB, O (atom37 0..=4) at fixed offsets from the Cα: enough for every feature.
            let offsets = [
                [-1.2, 0.6, -0.5],
                [0.0, 0.0, 0.0],
                [1.2, 0.7, 0.4],
                [0.3, -1.4, 0.2],
                [1.6, 1.8, 0.5],
            ];
            for (atom, off) in offsets.iter().enumerate() {
                for k in 0..3 {
                    pos[[t, i, atom, k]] = ca[k] + off[k] + 0.01 * t as f32;
                }
                mask[[t, i, atom]] = 1.0;
            }
        }
    }
    TemplateInputs {
        aatype: Array2::zeros((count, n)),
        all_atom_positions: pos,
        all_atom_masks: mask,
    }
}
