//! AlphaFold2's input pipeline (`RunModel.process_features` for monomers, Suppl. 1.2.6-1.2.8): raw features
//! (`features.h5`) → what one iteration of the network consumes ([`TrunkInputs`]).
//!
//! Split in two so that the deterministic part can be checked against AlphaFold2 exactly:
//! * [`Choices`]: the random decisions — which rows become cluster centres (row 0, then a shuffle of the
//!   rest), the BERT-style corruption of the cluster rows (15 % of positions: 10 % uniform amino acid,
//!   10 % profile sample, 10 % unchanged, 70 % mask token), and which extra rows are kept. Drawn from
//!   ferrofold's seeded generator ([`Choices::sample`]); AlphaFold2 draws them from TensorFlow's RNG, so
//!   the two agree in distribution, not in values. `Choices::identity` switches randomness off.
//! * [`assemble`]: everything else, as AlphaFold2 computes it — HHblits → ferrofold residue codes, the
//!   HHblits profile, nearest-neighbour assignment of extra rows to cluster centres (Hamming agreement,
//!   gaps and masks not counted), cluster profiles and deletion means over all extra rows, `msa_feat`
//!   (49 channels), `target_feat` (22), extra-MSA features.
//!
//! No fixed-size padding: arrays are exactly as deep as the real MSA.

use ndarray::{Array1, Array2, Array3, Axis};
use rayon::prelude::*;

use crate::features::RawFeatures;
use crate::model::input::trunk_inputs::{TemplateInputs, TrunkInputs};
use crate::residue_constants as rc;
use crate::rng::Rng;

/// Code of the BERT mask token in the 23-class MSA alphabet (20 amino acids, X, gap, mask).
pub const MASK_TOKEN: i32 = 22;

/// Sizes and rates of the pipeline (AlphaFold2's `data` config for monomers).
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// Cluster centres (AlphaFold2: 512, minus 4 template rows for template models).
    pub max_msa_clusters: usize,
    /// Extra rows kept (AlphaFold2: 5120; 1024 for model_3..5 in some configurations).
    pub max_extra_msa: usize,
    /// Templates the model sees: the first `max_templates` hits (AlphaFold2: 4; 0 for models without
    /// the template module, whose configuration sets `use_templates = False`).
    pub max_templates: usize,
    /// Fraction of cluster positions corrupted (0.15 at inference, as in AlphaFold2).
    pub replace_fraction: f32,
    pub uniform_prob: f32,
    pub profile_prob: f32,
    pub same_prob: f32,
}

impl PipelineConfig {
    /// The pipeline sizes a model was trained with.
    pub(crate) fn for_model(cfg: &crate::model::params::config::ModelConfig) -> Self {
        Self {
            max_msa_clusters: cfg.input.max_msa_clusters,
            max_extra_msa: cfg.input.max_extra_msa,
            max_templates: if cfg.evoformer.templates { 4 } else { 0 },
            ..Self::default()
        }
    }
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            max_msa_clusters: 508,
            max_extra_msa: 5120,
            max_templates: 4,
            replace_fraction: 0.15,
            uniform_prob: 0.1,
            profile_prob: 0.1,
            same_prob: 0.1,
        }
    }
}

/// The raw MSA in ferrofold's residue codes (0..=20, gap 21) with deletions as floats.
pub struct CodedMsa {
    /// `[S, N]`
    pub codes: Array2<i32>,
    /// `[S, N]`
    pub deletions: Array2<f32>,
}

impl CodedMsa {
    /// AlphaFold2's `correct_msa_restypes`: HHblits codes → restype order.
    pub fn from_raw(raw: &RawFeatures) -> Self {
        let codes = raw
            .msa
            .msa
            .mapv(|h| rc::MAP_HHBLITS_AATYPE_TO_OUR_AATYPE[h.clamp(0, 21) as usize] as i32);
        let deletions = raw.msa.deletion_matrix_int.mapv(|d| d as f32);
        Self { codes, deletions }
    }

    /// AlphaFold2's `make_hhblits_profile`: per-residue frequencies of the 22 codes over all rows, `[N, 22]`.
    pub(crate) fn profile(&self) -> Array2<f32> {
        let (s, n) = self.codes.dim();
        let mut p = Array2::<f32>::zeros((n, 22));
        for row in self.codes.rows() {
            for (r, &c) in row.iter().enumerate() {
                p[[r, c as usize]] += 1.0;
            }
        }
        p.mapv_inplace(|v| v / s as f32);
        p
    }
}

/// The random decisions of one pipeline run.
#[derive(Debug, Clone, PartialEq)]
pub struct Choices {
    /// Raw row indices of the cluster centres, in order (row 0 first).
    pub clusters: Vec<usize>,
    /// `[clusters, N]` the cluster rows after corruption (0..=22).
    pub masked: Array2<i32>,
    /// `[clusters, N]` 1 where a position was corrupted (AlphaFold2's `bert_mask`).
    pub bert_mask: Array2<f32>,
    /// Raw row indices of the extra rows kept, in order.
    pub extra: Vec<usize>,
}

impl Choices {
    /// No randomness: the first rows are the clusters in file order, nothing is corrupted, the first extra
    /// rows are kept.
    pub fn identity(msa: &CodedMsa, cfg: &PipelineConfig) -> Self {
        let s = msa.codes.nrows();
        let k = cfg.max_msa_clusters.min(s);
        let clusters: Vec<usize> = (0..k).collect();
        let masked = msa.codes.select(Axis(0), &clusters);
        let bert_mask = Array2::zeros(masked.raw_dim());
        let extra = (k..s).take(cfg.max_extra_msa).collect();
        Self {
            clusters,
            masked,
            bert_mask,
            extra,
        }
    }

    /// Draws the decisions the way AlphaFold2's `sample_msa`, `make_masked_msa` and `crop_extra_msa` do,
    /// from ferrofold's seeded generator.
    pub fn sample(
        msa: &CodedMsa,
        profile: &Array2<f32>,
        cfg: &PipelineConfig,
        rng: &mut Rng,
    ) -> Self {
        let (s, n) = msa.codes.dim();
        let mut rest: Vec<usize> = (1..s).collect();
        rng.shuffle(&mut rest);
        let k = cfg.max_msa_clusters.min(s);
        let mut clusters = vec![0];
        clusters.extend_from_slice(&rest[..k - 1]);
        let mut not_selected: Vec<usize> = rest[k - 1..].to_vec();
        let mut masked = msa.codes.select(Axis(0), &clusters);
        let mut bert_mask = Array2::<f32>::zeros((k, n));
        let mask_prob = 1.0 - cfg.profile_prob - cfg.same_prob - cfg.uniform_prob;
        for i in 0..k {
            for r in 0..n {
                if rng.uniform() >= cfg.replace_fraction {
                    continue;
                }
                bert_mask[[i, r]] = 1.0;
                let original = masked[[i, r]] as usize;
                // Categorical over 22 codes + mask token.
                let mut probs = [0f32; 23];
                for (c, p) in probs.iter_mut().enumerate().take(22) {
                    *p = cfg.uniform_prob * if c < 20 { 0.05 } else { 0.0 }
                        + cfg.profile_prob * profile[[r, c]]
                        + cfg.same_prob * if c == original { 1.0 } else { 0.0 };
                }
                probs[22] = mask_prob;
                let total: f32 = probs.iter().sum();
                let mut u = rng.uniform() * total;
                let mut pick = 22;
                for (c, &p) in probs.iter().enumerate() {
                    if u < p {
                        pick = c;
                        break;
                    }
                    u -= p;
                }
                masked[[i, r]] = pick as i32;
            }
        }
        rng.shuffle(&mut not_selected);
        not_selected.truncate(cfg.max_extra_msa);
        Self {
            clusters,
            masked,
            bert_mask,
            extra: not_selected,
        }
    }
}

fn atan_feature(d: f32) -> f32 {
    (d / 3.0).atan() * (2.0 / std::f32::consts::PI)
}

/// Builds one iteration's inputs from the raw features and the random decisions. Extra rows are all rows
/// that are not cluster centres (for the cluster summaries); only `choices.extra` become extra-MSA inputs.
pub fn assemble(
    raw: &RawFeatures,
    msa: &CodedMsa,
    choices: &Choices,
    max_templates: usize,
) -> TrunkInputs {
    let (s, n) = msa.codes.dim();
    let k = choices.clusters.len();
    let mut is_cluster = vec![false; s];
    for &c in &choices.clusters {
        is_cluster[c] = true;
    }
    let others: Vec<usize> = (0..s).filter(|&i| !is_cluster[i]).collect();

    // Nearest cluster centre of every non-centre row: most positions where both hold the same amino acid
    // (codes 0..=20; gaps and mask tokens carry no weight), ties to the lowest centre index.
    let masked = &choices.masked;
    let assignment: Vec<usize> = others
        .par_iter()
        .map(|&e| {
            let row = msa.codes.row(e);
            let mut best = (0usize, -1i64);
            for m in 0..k {
                let centre = masked.row(m);
                let agree = row
                    .iter()
                    .zip(centre.iter())
                    .filter(|(&a, &b)| a == b && a < 21)
                    .count() as i64;
                if agree > best.1 {
                    best = (m, agree);
                }
            }
            best.0
        })
        .collect();

    // Cluster summaries (AlphaFold2's `summarize_clusters`), including the centre itself.
    let mut counts = Array2::<f32>::zeros((k, n));
    let mut profile = Array3::<f32>::zeros((k, n, 23));
    let mut del_sum = Array2::<f32>::zeros((k, n));
    for (&e, &m) in others.iter().zip(&assignment) {
        for r in 0..n {
            counts[[m, r]] += 1.0;
            profile[[m, r, msa.codes[[e, r]] as usize]] += 1.0;
            del_sum[[m, r]] += msa.deletions[[e, r]];
        }
    }
    let mut msa_feat = Array3::<f32>::zeros((k, n, 49));
    for (m, &c) in choices.clusters.iter().enumerate() {
        for r in 0..n {
            let total = (1e-6f32 + 1.0) + counts[[m, r]];
            let code = masked[[m, r]] as usize;
            let d = msa.deletions[[c, r]];
            let mut f = msa_feat.slice_mut(ndarray::s![m, r, ..]);
            f[code] = 1.0;
            f[23] = d.clamp(0.0, 1.0);
            f[24] = atan_feature(d);
            profile[[m, r, code]] += 1.0;
            for q in 0..23 {
                f[25 + q] = profile[[m, r, q]] / total;
            }
            f[48] = atan_feature((del_sum[[m, r]] + d) / total);
        }
    }

    let seq = &raw.sequence;
    let aatype: Array1<i32> = seq
        .aatype
        .rows()
        .into_iter()
        .map(|row| row.iter().position(|&v| v == 1).unwrap_or(20) as i32)
        .collect();
    let mut target_feat = Array2::<f32>::zeros((n, 22));
    for r in 0..n {
        target_feat[[r, 0]] = (seq.between_segment_residues[r] as f32).clamp(0.0, 1.0);
        target_feat[[r, 1 + aatype[r] as usize]] = 1.0;
    }
    let extra_msa = msa.codes.select(Axis(0), &choices.extra);
    let extra_del = msa.deletions.select(Axis(0), &choices.extra);
    TrunkInputs {
        residue_index: seq.residue_index.clone(),
        seq_mask: Array1::ones(n),
        aatype,
        target_feat,
        msa_feat,
        msa_mask: Array2::ones((k, n)),
        extra_msa_mask: Array2::ones(extra_msa.raw_dim()),
        extra_has_deletion: extra_del.mapv(|d| d.clamp(0.0, 1.0)),
        extra_deletion_value: extra_del.mapv(atan_feature),
        extra_msa,
        templates: template_inputs(raw, max_templates),
        chains: None,
    }
}

/// The first `max_templates` templates of the raw features, residue types mapped from the HHblits
/// one-hot of `template_aatype` to restype order (AlphaFold2's `fix_templates_aatype`; at inference
/// templates are not subsampled, so the hit order is kept).
pub fn template_inputs(raw: &RawFeatures, max_templates: usize) -> TemplateInputs {
    let t = &raw.templates;
    let keep: Vec<usize> = (0..t.count().min(max_templates)).collect();
    let aatype = Array2::from_shape_fn((keep.len(), raw.num_res()), |(k, i)| {
        let onehot = t.aatype.slice(ndarray::s![keep[k], i, ..]);
        // argmax, first maximum (an all-zero row reads as code 0, as tf.argmax).
        let mut best = 0;
        for (c, &v) in onehot.iter().enumerate() {
            if v > onehot[best] {
                best = c;
            }
        }
        rc::MAP_HHBLITS_AATYPE_TO_OUR_AATYPE[best.min(21)] as i32
    });
    TemplateInputs {
        aatype,
        all_atom_positions: t.all_atom_positions.select(Axis(0), &keep),
        all_atom_masks: t.all_atom_masks.select(Axis(0), &keep),
    }
}

/// AlphaFold2's `process_features` with `resample_msa_in_recycling`: one independently sampled input per
/// iteration (`num_iterations` = recycles + 1), seeded. With `random = false` every iteration uses
/// [`Choices::identity`].
pub fn process_features(
    raw: &RawFeatures,
    cfg: &PipelineConfig,
    num_iterations: usize,
    seed: u64,
    random: bool,
) -> Vec<TrunkInputs> {
    let msa = CodedMsa::from_raw(raw);
    let profile = msa.profile();
    let mut rng = Rng::new(seed);
    (0..num_iterations)
        .map(|_| {
            let choices = if random {
                Choices::sample(&msa, &profile, cfg, &mut rng)
            } else {
                Choices::identity(&msa, cfg)
            };
            assemble(raw, &msa, &choices, cfg.max_templates)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::builder::FeatureBuilder;
    use crate::query::Query;

    fn raw(rows: usize, n: usize) -> RawFeatures {
        let q = Query {
            id: "q".into(),
            description: "q".into(),
            sequence: "ACDEFGHIKLMNPQRSTVWY".chars().cycle().take(n).collect(),
        };
        let mut f = FeatureBuilder::single_sequence()
            .build(&q, "q")
            .unwrap()
            .features;
        // Distinct synthetic rows.
        let mut rng = Rng::new(1);
        let msa = Array2::from_shape_fn((rows, n), |(i, r)| {
            if i == 0 {
                f.msa.msa[[0, r]]
            } else {
                (rng.below(22)) as i32
            }
        });
        f.msa.msa = msa;
        f.msa.deletion_matrix_int = Array2::from_shape_fn((rows, n), |(i, r)| ((i + r) % 3) as i32);
        f
    }

    #[test]
    fn sampling_is_seeded_keeps_the_query_first_and_corrupts_about_15_percent() {
        let f = raw(200, 50);
        let msa = CodedMsa::from_raw(&f);
        let prof = msa.profile();
        let cfg = PipelineConfig {
            max_msa_clusters: 64,
            max_extra_msa: 100,
            ..Default::default()
        };
        let a = Choices::sample(&msa, &prof, &cfg, &mut Rng::new(7));
        let b = Choices::sample(&msa, &prof, &cfg, &mut Rng::new(7));
        let c = Choices::sample(&msa, &prof, &cfg, &mut Rng::new(8));
        assert_eq!(a, b);
        assert_ne!(a.clusters, c.clusters);
        assert_eq!(a.clusters[0], 0);
        assert_eq!(a.clusters.len(), 64);
        assert_eq!(a.extra.len(), 100);
        let frac = a.bert_mask.sum() / a.bert_mask.len() as f32;
        assert!((0.12..0.18).contains(&frac), "corrupted fraction {frac}");
        let mut all: Vec<usize> = a.clusters.iter().chain(&a.extra).copied().collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 164, "clusters and extra rows are disjoint");
    }

    #[test]
    fn identity_choices_and_feature_ranges() {
        let f = raw(30, 12);
        let cfg = PipelineConfig {
            max_msa_clusters: 10,
            max_extra_msa: 100,
            ..Default::default()
        };
        let x = process_features(&f, &cfg, 2, 0, false);
        assert_eq!(x.len(), 2);
        assert_eq!(x[0].msa_feat.dim(), (10, 12, 49));
        assert_eq!(x[0].extra_msa.dim(), (20, 12));
        // One-hot and cluster profile each sum to 1 per position (profile up to the 1e-6 in its count).
        for v in x[0].msa_feat.lanes(Axis(2)) {
            assert_eq!(v.slice(ndarray::s![..23]).sum(), 1.0);
            assert!((v.slice(ndarray::s![25..48]).sum() - 1.0).abs() < 1e-5);
        }
        let y = process_features(&f, &cfg, 1, 5, true);
        assert_eq!(y[0].msa_feat.dim(), (10, 12, 49));
    }
}
