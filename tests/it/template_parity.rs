//! The template module against AlphaFold2's own intermediates (recycle 0 of the `templates` fixture,
//! DeepMind's code run eagerly): template pair features through `embedding2d`, the full-width template
//! pair stack (64 channels, 4 heads, 2 blocks), the pointwise attention over 4 templates, and the
//! torsion-angle rows.

use crate::common::data;
use ferrofold::io::npz::Npz;
use ferrofold::model::net::alphafold::AlphaFold;
use ferrofold::model::params::config::{ModelConfig, RuntimeOptions};
use ndarray::{Array2, Array3, ArrayD, Ix3};

const SCOPE: &str = "alphafold/alphafold_iteration/evoformer/";

pub(crate) fn rel(ours: &ArrayD<f32>, theirs: &ArrayD<f32>) -> f32 {
    assert_eq!(ours.shape(), theirs.shape());
    let num: f32 = ours.iter().zip(theirs).map(|(a, b)| (a - b).powi(2)).sum();
    let den: f32 = theirs.iter().map(|b| b * b).sum();
    (num / den).sqrt()
}

pub(crate) struct Fixture {
    pub(crate) weights: ferrofold::model::params::weights::Weights,
    pub(crate) cfg: ModelConfig,
    pub(crate) inter: Npz,
    pub(crate) inputs: ferrofold::model::input::trunk_inputs::TrunkInputs,
}

pub(crate) fn fixture() -> Fixture {
    let base = data("model/templates");
    let weights =
        ferrofold::pipeline::params::read_npz_weights(base.join("params_model_1_ptm.npz")).unwrap();
    let cfg = ModelConfig::infer(&weights).unwrap();
    assert!(cfg.evoformer.templates);
    let feats = Npz::read_path(base.join("processed_features.npz")).unwrap();
    let inputs = ferrofold::testing::reference::trunk_inputs_from_processed(&feats, 0).unwrap();
    assert_eq!(inputs.templates.count(), 4);
    Fixture {
        weights,
        cfg,
        inter: Npz::read_path(base.join("template_intermediates.npz")).unwrap(),
        inputs,
    }
}

pub(crate) fn get(inter: &Npz, key: &str) -> ArrayD<f32> {
    inter.get(key).unwrap().to_f32().unwrap()
}

pub(crate) fn single(key: &str) -> String {
    format!("{SCOPE}template_embedding/single_template_embedding/{key}")
}

#[test]
fn template_pair_features_and_stack_match_alphafold2() {
    let f = fixture();
    let model = AlphaFold::load(&f.cfg, &f.weights).unwrap();
    let te = model
        .trunk
        .template_embedding
        .as_ref()
        .and_then(|t| t.as_monomer())
        .unwrap();
    let rt = RuntimeOptions::default();

    let ours = te.embed_pair_features(&f.inputs.templates, 0).into_dyn();
    let d = rel(&ours, &get(&f.inter, &single("embedding2d/out#0")));
    eprintln!("embedding2d: {d:.1e} relative");
    assert!(d < 1e-6, "template pair features through embedding2d: {d}");

    // The full-width template pair stack from AlphaFold2's own input.
    let input = get(&f.inter, &single("template_pair_stack/in0#0"))
        .into_dimensionality::<Ix3>()
        .unwrap();
    let n = input.dim().0;
    let mask = Array2::<f32>::ones((n, n));
    let mut act = input.clone();
    for block in &te.pair_stack {
        block.forward(&mut act, &mask, &rt);
    }
    let d = rel(
        &act.into_dyn(),
        &get(&f.inter, &single("template_pair_stack/out#0")),
    );
    eprintln!("template pair stack (2 blocks): {d:.1e} relative");
    assert!(d < 1e-5, "template pair stack: {d}");
}

#[test]
fn template_pointwise_attention_and_torsion_rows_match_alphafold2() {
    let f = fixture();
    let model = AlphaFold::load(&f.cfg, &f.weights).unwrap();
    let te = model
        .trunk
        .template_embedding
        .as_ref()
        .and_then(|t| t.as_monomer())
        .unwrap();

    let templates: Vec<Array3<f32>> = (0..4)
        .map(|t| {
            get(&f.inter, &single(&format!("out#{t}")))
                .into_dimensionality::<Ix3>()
                .unwrap()
        })
        .collect();
    let pair = get(&f.inter, &format!("{SCOPE}template_embedding/in0#0"))
        .into_dimensionality::<Ix3>()
        .unwrap();
    let ours = te.pointwise_attention(&pair, &templates).into_dyn();
    let d = rel(
        &ours,
        &get(&f.inter, &format!("{SCOPE}template_embedding/out#0")),
    );
    eprintln!("pointwise attention: {d:.1e} relative");
    assert!(d < 1e-5, "pointwise attention: {d}");

    // Torsion angles against AlphaFold2's jitted `atom37_to_torsion_angles` (what the model runs):
    // everywhere, including the 4 degenerate, masked pre-ω angles where its eager run differs.
    let tors = Npz::read_path(data("model/templates/torsions_jit.npz")).unwrap();
    let (feats, mask) =
        ferrofold::model::net::template_embedding::torsion_features(&f.inputs.templates);
    let (nt, n) = f.inputs.templates.aatype.dim();
    let sc = get(&tors, "jit/torsion_angles_sin_cos");
    let alt = get(&tors, "jit/alt_torsion_angles_sin_cos");
    let tmask = get(&tors, "jit/torsion_angles_mask");
    let mut worst = 0f32;
    for t in 0..nt {
        for i in 0..n {
            let row = feats.row(t * n + i);
            for k in 0..7 {
                for c in 0..2 {
                    worst = worst
                        .max((row[22 + 2 * k + c] - sc[[t, i, k, c]]).abs())
                        .max((row[36 + 2 * k + c] - alt[[t, i, k, c]]).abs());
                }
                assert_eq!(row[50 + k], tmask[[t, i, k]], "torsion mask {t} {i} {k}");
            }
            assert_eq!(mask[[t, i]], tmask[[t, i, 2]]);
        }
    }
    eprintln!("torsion angles vs jitted AlphaFold2: max |diff| {worst:.1e}");
    assert!(worst < 1e-5, "template torsion angles: {worst}");

    // The rows through template_single_embedding / template_projection against the eager run, on the
    // residues whose features agree between AlphaFold2's eager and jitted runs.
    let eager = get(&tors, "eager/torsion_angles_sin_cos");
    let (rows, _) = te.msa_rows(&f.inputs.templates);
    let want = get(&f.inter, &format!("{SCOPE}template_projection/out#0"));
    let mut skipped = 0;
    let (mut num, mut den) = (0f32, 0f32);
    for t in 0..nt {
        for i in 0..n {
            let same = (0..7)
                .all(|k| (0..2).all(|c| (eager[[t, i, k, c]] - sc[[t, i, k, c]]).abs() < 1e-5));
            if !same {
                skipped += 1;
                continue;
            }
            for c in 0..rows.dim().2 {
                num += (rows[[t, i, c]] - want[[t, i, c]]).powi(2);
                den += want[[t, i, c]].powi(2);
            }
        }
    }
    let d = (num / den).sqrt();
    eprintln!(
        "torsion rows: {d:.1e} relative ({skipped} residues where eager and jit differ left out)"
    );
    assert_eq!(skipped, 4);
    assert!(d < 1e-5, "template torsion rows: {d}");
}
