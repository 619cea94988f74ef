//! The deterministic part of AlphaFold2's input pipeline (`process_features`): given the same random
//! decisions (cluster centres, BERT corruption, kept extra rows — read back from AlphaFold2's own processed
//! features), our `msa_feat`, `target_feat` and extra-MSA features equal AlphaFold2's, and fed to the trunk
//! they give AlphaFold2's representations.

use crate::common::data;
use ferrofold::features::builder::{FeatureBuilder, MsaInput};
use ferrofold::features::RawFeatures;
use ferrofold::io::npz::Npz;
use ferrofold::model::input::pipeline::{assemble, Choices, CodedMsa};
use ferrofold::Query;
use ndarray::{Array2, Axis, Ix2, Ix3};

fn raw_features(fasta: &str, a3m: &str) -> RawFeatures {
    let q = Query::from_fasta_path(data(fasta)).unwrap();
    FeatureBuilder::from_msas(vec![MsaInput::from_path(data(a3m))])
        .build(&q, fasta)
        .unwrap()
        .features
}

/// AlphaFold2's random decisions for iteration `r`, recovered from its processed features.
fn recover_choices(msa: &CodedMsa, p: &Npz, r: usize) -> Choices {
    let slice2 = |k: &str| -> Array2<f32> {
        let a = p.get(k).unwrap();
        let f = a
            .to_f32()
            .unwrap_or_else(|| a.to_i32().unwrap().mapv(|v| v as f32));
        f.index_axis_move(Axis(0), r)
            .into_dimensionality::<Ix2>()
            .unwrap()
    };
    let find = |row: ndarray::ArrayView1<f32>| -> usize {
        (0..msa.codes.nrows())
            .find(|&j| {
                msa.codes
                    .row(j)
                    .iter()
                    .zip(row.iter())
                    .all(|(&a, &b)| a as f32 == b)
            })
            .expect("row of the raw MSA")
    };
    let msa_mask = slice2("msa_mask");
    let true_msa = slice2("true_msa");
    let bert = slice2("bert_mask");
    let feat = p
        .get("msa_feat")
        .unwrap()
        .to_f32()
        .unwrap()
        .index_axis_move(Axis(0), r)
        .into_dimensionality::<Ix3>()
        .unwrap();
    let real: Vec<usize> = (0..msa_mask.nrows())
        .filter(|&i| msa_mask.row(i).sum() > 0.0)
        .collect();
    let clusters: Vec<usize> = real.iter().map(|&i| find(true_msa.row(i))).collect();
    let n = msa.codes.ncols();
    let mut masked = Array2::<i32>::zeros((real.len(), n));
    for (k, &i) in real.iter().enumerate() {
        for res in 0..n {
            masked[[k, res]] = (0..23).find(|&c| feat[[i, res, c]] == 1.0).unwrap() as i32;
        }
    }
    let bert_mask = bert.select(Axis(0), &real);
    let extra_mask = slice2("extra_msa_mask");
    let extra_codes = slice2("extra_msa");
    let extra = (0..extra_mask.nrows())
        .filter(|&i| extra_mask.row(i).sum() > 0.0)
        .map(|i| find(extra_codes.row(i)))
        .collect();
    Choices {
        clusters,
        masked,
        bert_mask,
        extra,
    }
}

fn max_abs(a: ndarray::ArrayViewD<f32>, b: ndarray::ArrayViewD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn check(dir: &str, fasta: &str, a3m: &str) {
    let raw = raw_features(fasta, a3m);
    let msa = CodedMsa::from_raw(&raw);
    let p = Npz::read_path(data(&format!("model/{dir}/processed_features.npz"))).unwrap();
    let iterations = p.get("aatype").unwrap().shape[0];
    let mut corrupted = 0.0;
    for r in 0..iterations {
        let choices = recover_choices(&msa, &p, r);
        corrupted += choices.bert_mask.sum();
        let ours = assemble(&raw, &msa, &choices, 4);
        let af2 = ferrofold::testing::reference::trunk_inputs_from_processed(&p, r)
            .unwrap()
            .without_padding_rows();
        let d = max_abs(
            ours.msa_feat.view().into_dyn(),
            af2.msa_feat.view().into_dyn(),
        );
        eprintln!(
            "{dir} iteration {r}: {} clusters, {} extra rows, msa_feat max |diff| {d:.1e}",
            choices.clusters.len(),
            choices.extra.len()
        );
        assert!(d <= 1e-6, "{dir} iteration {r}: msa_feat differs by {d}");
        assert_eq!(ours.target_feat, af2.target_feat, "{dir}: target_feat");
        assert_eq!(ours.aatype, af2.aatype);
        assert_eq!(ours.residue_index, af2.residue_index);
        assert_eq!(ours.extra_msa, af2.extra_msa, "{dir}: extra_msa");
        assert_eq!(ours.extra_has_deletion, af2.extra_has_deletion);
        assert!(
            max_abs(
                ours.extra_deletion_value.view().into_dyn(),
                af2.extra_deletion_value.view().into_dyn()
            ) <= 1e-6
        );
        assert_eq!(ours.msa_mask, af2.msa_mask);
    }
    assert!(
        corrupted > 0.0,
        "{dir}: the fixture exercises the BERT corruption"
    );
}

#[test]
fn tiny_2q2k_a_pipeline_matches_alphafold2() {
    check(
        "tiny",
        "msas/2q2k_A/query.fasta",
        "model/tiny/2q2k_A_uniref90.a3m",
    );
}

#[test]
fn openfold_query_pipeline_matches_alphafold2() {
    check(
        "small",
        "msas/openfold_query/short.fasta",
        "msas/openfold_query/bfd_uniclust_hits.a3m",
    );
}
