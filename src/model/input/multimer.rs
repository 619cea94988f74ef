//! AlphaFold-Multimer's input pipeline, which runs inside its network (Evans et al. 2021; DeepMind's
//! `modules_multimer`: `make_msa_profile`, `sample_msa`, `make_masked_msa`, `nearest_neighbor_clusters`,
//! `create_msa_feat`, `create_extra_msa_feature`), from the multimer features of `features.h5` to what one
//! iteration of the network consumes ([`TrunkInputs`]).
//!
//! As for monomers ([`super::pipeline`]) the random decisions ([`MultimerChoices`]) are separate from the
//! deterministic rest ([`assemble`]) so that DeepMind's recorded decisions can be injected and the rest
//! checked exactly:
//! * which rows become cluster centres: a random order of the rows in three classes — non-empty rows with
//!   `cluster_bias_mask` (the queries) first, then the other rows with a residue plus the empty bias rows,
//!   then the empty rows (DeepMind sorts `±1e6` logits plus Gumbel noise: the same three classes, a
//!   uniformly random order within each); the first `num_msa` are the centres, all others extra rows;
//! * the BERT-style corruption of the centres (15 % of their unmasked positions: 10 % uniform amino acid,
//!   10 % a draw from the MSA profile, 10 % unchanged, 70 % mask token).
//!
//! DISCREPANCY: ferrofold draws these from its own seeded generator, not JAX's threefry keys, so a seed
//! gives other (equally distributed) choices than AlphaFold-Multimer's; its Gumbel-max draw of the
//! corruption also adds 1e-6 to every class's probability, which ferrofold leaves out.

use ndarray::{s, Array1, Array2, Array3, Axis};
use rayon::prelude::*;

use crate::features::multimer::MultimerFeatures;
use crate::model::input::trunk_inputs::{ChainIds, TemplateInputs, TrunkInputs};
use crate::rng::Rng;

/// Code of the BERT mask token.
const MASK_TOKEN: i32 = 22;

/// The random decisions of one iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct MultimerChoices {
    /// A permutation of the MSA rows: the first `num_msa` are the cluster centres in order, the rest
    /// the extra rows in order.
    pub order: Vec<usize>,
    /// `[num_msa, N]` the centres after corruption (0..=22), zero where the row is masked out.
    pub masked: Array2<i32>,
    /// `[num_msa, N]` 1 where a position was corrupted.
    pub bert_mask: Array2<f32>,
}

/// Sizes and corruption rates (AlphaFold-Multimer's `num_msa`, `num_extra_msa`, `masked_msa`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MultimerInputConfig {
    pub num_msa: usize,
    pub num_extra_msa: usize,
    pub replace_fraction: f32,
    pub uniform_prob: f32,
    pub profile_prob: f32,
    pub same_prob: f32,
}

impl MultimerInputConfig {
    /// The sizes of a model configuration, AlphaFold2's corruption rates.
    pub fn for_model(cfg: &crate::model::params::config::ModelConfig) -> Self {
        Self {
            num_msa: cfg.input.max_msa_clusters,
            num_extra_msa: cfg.input.max_extra_msa,
            replace_fraction: 0.15,
            uniform_prob: 0.1,
            profile_prob: 0.1,
            same_prob: 0.1,
        }
    }
}

/// `make_msa_profile`: per-residue frequencies of the 22 codes over the unmasked rows, `[N, 22]`.
pub fn msa_profile(f: &MultimerFeatures) -> Array2<f32> {
    let (s, n) = f.msa.dim();
    let mut p = Array2::<f32>::zeros((n, 22));
    let mut m = vec![0f32; n];
    for i in 0..s {
        for r in 0..n {
            let w = f.msa_mask[[i, r]];
            let c = f.msa[[i, r]].clamp(0, 21) as usize;
            p[[r, c]] += w;
            m[r] += w;
        }
    }
    for (mut row, &total) in p.rows_mut().into_iter().zip(&m) {
        let d = total + 1e-10;
        row.mapv_inplace(|v| v / d);
    }
    p
}

impl MultimerChoices {
    /// Draws the decisions from ferrofold's seeded generator (see the module notes).
    pub fn sample(
        f: &MultimerFeatures,
        profile: &Array2<f32>,
        cfg: &MultimerInputConfig,
        rng: &mut Rng,
    ) -> Self {
        let (s, n) = f.msa.dim();
        let nonempty = |i: usize| f.msa_mask.row(i).iter().any(|&v| v != 0.0);
        let mut classes: [Vec<usize>; 3] = Default::default();
        for i in 0..s {
            let bias = f.cluster_bias_mask[i] != 0.0;
            let class = match (nonempty(i), bias) {
                (true, true) => 0,
                (true, false) | (false, true) => 1,
                (false, false) => 2,
            };
            classes[class].push(i);
        }
        let mut order = Vec::with_capacity(s);
        for mut c in classes {
            rng.shuffle(&mut c);
            order.extend(c);
        }
        let k = cfg.num_msa.min(s);
        let mut masked = Array2::<i32>::zeros((k, n));
        let mut bert_mask = Array2::<f32>::zeros((k, n));
        let mask_prob = 1.0 - cfg.profile_prob - cfg.same_prob - cfg.uniform_prob;
        for (m, &row) in order[..k].iter().enumerate() {
            for r in 0..n {
                let original = f.msa[[row, r]];
                let in_mask = f.msa_mask[[row, r]];
                let position = rng.uniform() < cfg.replace_fraction && in_mask != 0.0;
                if !position {
                    masked[[m, r]] = if in_mask != 0.0 { original } else { 0 };
                    continue;
                }
                bert_mask[[m, r]] = f.bert_mask[[row, r]];
                let mut probs = [0f32; 23];
                for (c, p) in probs.iter_mut().enumerate().take(22) {
                    *p = cfg.uniform_prob * if c < 20 { 0.05 } else { 0.0 }
                        + cfg.profile_prob * profile[[r, c]]
                        + cfg.same_prob * if c as i32 == original { 1.0 } else { 0.0 };
                }
                probs[22] = mask_prob;
                let total: f32 = probs.iter().sum();
                let mut u = rng.uniform() * total;
                let mut pick = MASK_TOKEN;
                for (c, &p) in probs.iter().enumerate() {
                    if u < p {
                        pick = c as i32;
                        break;
                    }
                    u -= p;
                }
                masked[[m, r]] = pick;
            }
        }
        Self {
            order,
            masked,
            bert_mask,
        }
    }
}

fn atan_feature(d: f32) -> f32 {
    (d / 3.0).atan() * (2.0 / std::f32::consts::PI)
}

/// One iteration's inputs from the features and the random decisions, as AlphaFold-Multimer computes
/// them: cluster profiles and deletion means from the nearest-neighbour assignment of every extra row
/// (a softmax over ×1000 agreement counts, weighted — as in AlphaFold-Multimer — by the number of
/// positions both rows cover), the 49 `msa_feat` channels, the first `num_extra_msa` extra rows, all
/// templates (AlphaFold-Multimer has no template mask), and the chains.
pub fn assemble(
    f: &MultimerFeatures,
    choices: &MultimerChoices,
    cfg: &MultimerInputConfig,
) -> TrunkInputs {
    let (_, n) = f.msa.dim();
    let k = choices.masked.nrows();
    let sel = &choices.order[..k];
    let extra = &choices.order[k..];
    let e = extra.len();
    let msa_mask = f.msa_mask.select(Axis(0), sel);
    let deletions = f.deletion_matrix.select(Axis(0), sel);
    let masked = &choices.masked;

    // One-hot rows (23 classes) times their mask, flattened to [rows, N*23].
    let one_hot = |codes: &Array2<i32>, mask: &Array2<f32>, weights: bool| -> Array2<f32> {
        let rows = codes.nrows();
        let mut out = Array2::<f32>::zeros((rows, n * 23));
        out.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(i, mut o)| {
                for r in 0..n {
                    let c = codes[[i, r]].clamp(0, 22) as usize;
                    // Agreement weights: amino acids and X count, gaps and mask tokens do not.
                    if weights && c >= 21 {
                        continue;
                    }
                    o[r * 23 + c] = mask[[i, r]];
                }
            });
        out
    };
    let extra_codes = f.msa.select(Axis(0), extra);
    let extra_mask = f.msa_mask.select(Axis(0), extra);
    let extra_del = f.deletion_matrix.select(Axis(0), extra);
    let msa_hot = one_hot(masked, &msa_mask, false);
    let msa_hot_w = one_hot(masked, &msa_mask, true);

    // The extra rows a block at a time (their one-hot form is [rows, N*23] floats): for each, the
    // agreement with every centre [k, rows], a softmax over the centres, weighted by the positions both
    // rows cover (AlphaFold-Multimer's `einsum('mr, nr->mn', ...)`); sums over all blocks.
    const BLOCK: usize = 1024;
    let mut count = Array1::<f32>::ones(k);
    let mut msa_sum = msa_hot;
    let mut del_sum = deletions.clone();
    for start in (0..e).step_by(BLOCK) {
        let rows = start..(start + BLOCK).min(e);
        let codes = extra_codes.slice(s![rows.clone(), ..]).to_owned();
        let mask = extra_mask.slice(s![rows.clone(), ..]).to_owned();
        let hot = one_hot(&codes, &mask, false);
        let mut assignment = msa_hot_w.dot(&hot.t());
        assignment.mapv_inplace(|v| v * 1e3);
        for mut col in assignment.axis_iter_mut(Axis(1)) {
            let max = col.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            col.mapv_inplace(|v| (v - max).exp());
            let sum = col.sum();
            col.mapv_inplace(|v| v / sum);
        }
        assignment *= &msa_mask.dot(&mask.t());
        count += &assignment.sum_axis(Axis(1));
        msa_sum += &assignment.dot(&hot);
        let masked_del = &mask * &extra_del.slice(s![rows, ..]);
        del_sum += &assignment.dot(&masked_del);
    }

    let mut msa_feat = Array3::<f32>::zeros((k, n, 49));
    msa_feat
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(m, mut rows)| {
            let c = count[m];
            for r in 0..n {
                let mut v = rows.row_mut(r);
                let code = masked[[m, r]].clamp(0, 22) as usize;
                v[code] = 1.0;
                let d = deletions[[m, r]];
                v[23] = d.clamp(0.0, 1.0);
                v[24] = atan_feature(d);
                for q in 0..23 {
                    v[25 + q] = msa_sum[[m, r * 23 + q]] / c;
                }
                v[48] = atan_feature(del_sum[[m, r]] / c);
            }
        });

    let keep = e.min(cfg.num_extra_msa);
    let extra_del = extra_del.slice(s![..keep, ..]).to_owned();
    let mut target_feat = Array2::<f32>::zeros((n, 21));
    for r in 0..n {
        target_feat[[r, f.aatype[r].clamp(0, 20) as usize]] = 1.0;
    }
    TrunkInputs {
        aatype: f.aatype.clone(),
        residue_index: f.residue_index.clone(),
        seq_mask: f.seq_mask.clone(),
        target_feat,
        msa_feat,
        msa_mask,
        extra_msa: extra_codes.slice(s![..keep, ..]).to_owned(),
        extra_msa_mask: extra_mask.slice(s![..keep, ..]).to_owned(),
        extra_has_deletion: extra_del.mapv(|d| d.clamp(0.0, 1.0)),
        extra_deletion_value: extra_del.mapv(atan_feature),
        templates: TemplateInputs {
            aatype: f.template_aatype.clone(),
            all_atom_positions: f.template_all_atom_positions.clone(),
            all_atom_masks: f.template_all_atom_mask.clone(),
        },
        chains: Some(ChainIds {
            asym_id: f.asym_id.clone(),
            entity_id: f.entity_id.clone(),
            sym_id: f.sym_id.clone(),
        }),
    }
}

/// One input per iteration (`num_iterations` = recycles + 1), each with its own seeded decisions.
pub fn process_multimer_features(
    f: &MultimerFeatures,
    cfg: &MultimerInputConfig,
    num_iterations: usize,
    seed: u64,
) -> Vec<TrunkInputs> {
    let profile = msa_profile(f);
    let mut rng = Rng::new(seed);
    (0..num_iterations)
        .map(|_| {
            let choices = MultimerChoices::sample(f, &profile, cfg, &mut rng);
            assemble(f, &choices, cfg)
        })
        .collect()
}
