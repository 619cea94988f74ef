//! The `predict` stage for a complex's `features.h5` (AlphaFold-Multimer's input, made by `features
//! --complex` or from a ColabFold complex a3m): every AlphaFold-Multimer model (`model_<k>_multimer_v3`)
//! and seed, as AlphaFold2 runs them (`<model>_pred_<k>`), with the multimer input pipeline inside the
//! network, AlphaFold2's recycling schedule (the model's recycles, 20 for the v3 presets, stopped early
//! when Cα distances change less than 0.5 Å unless `--early-stop-tolerance` says otherwise); multi-chain
//! PDB (a `TER` after each chain) and mmCIF (one entity per distinct sequence) files, PAE over the whole
//! complex, pTM and ipTM; ranked by `0.8·ipTM + 0.2·pTM` (`ranking_debug.json` under `iptm+ptm`).

use std::collections::BTreeMap;
use std::time::Instant;

use ndarray::Array2;
use tracing::info;

use super::predict::{
    check_features_file, for_each_prediction, load_models, multimer_ranking, plan_memory,
    predict_model, prepare_output_dir, write_err, write_model_outputs, write_ranking, ModelReport,
    OutputParts, PredictError, PredictOptions,
};
use crate::features::multimer::MultimerFeatures;
use crate::io::features_h5;
use crate::model::input::multimer::{process_multimer_features, MultimerInputConfig};
use crate::model::net::alphafold::Prediction;
use crate::model::params::config::ModelKind;
use crate::protein::{Protein, StructureError};

/// AlphaFold2's early stop for multimer models (`recycle_early_stop_tolerance`), Å.
pub const MULTIMER_EARLY_STOP_TOLERANCE: f32 = 0.5;

/// Runs the stage on a complex's features (see the module notes).
pub fn run(opts: &PredictOptions) -> Result<Vec<ModelReport>, PredictError> {
    if opts.processed_features.is_some() {
        return Err(PredictError::Invalid {
            path: opts.features.clone(),
            message: "holds a complex's features; --processed-features is for monomers".into(),
        });
    }
    let features_sha = check_features_file(opts)?;
    let (feats, _) = features_h5::multimer::read(&opts.features)?;
    let num_res = feats.aatype.len();
    let mut models = load_models(opts, num_res)?;
    let multimer =
        |m: &crate::model::params::model_file::ModelFile| m.config.kind == ModelKind::Multimer;
    if models.iter().any(multimer) {
        models.retain(|m| {
            if !multimer(m) {
                tracing::warn!("{}: a monomer model, not run on a complex", m.name);
            }
            multimer(m)
        });
    }
    for m in &models {
        if m.config.kind != ModelKind::Multimer {
            return Err(PredictError::Model {
                model: m.name.clone(),
                message: format!(
                    "a monomer model; {} holds a complex ({} chains): use AlphaFold-Multimer models (model_1_multimer_v3 … model_5_multimer_v3; `ferrofold params convert` or `params demo --multimer`)",
                    opts.features.display(),
                    feats.assembly_num_chains
                ),
            });
        }
    }
    let runtimes = plan_memory(
        opts,
        num_res,
        feats.msa.nrows(),
        feats.template_aatype.nrows(),
        &models,
    )?;
    info!(
        "{}: complex of {} chains ({}), {num_res} residues, {} MSA rows",
        opts.features.display(),
        feats.assembly_num_chains,
        chain_summary(&feats),
        feats.num_alignments
    );
    let _lock = prepare_output_dir(opts)?;
    let opts = &PredictOptions {
        early_stop_tolerance: opts
            .early_stop_tolerance
            .or(Some(MULTIMER_EARLY_STOP_TOLERANCE)),
        ..opts.clone()
    };
    let sequence = feats.chain_sequences.join(":");
    let asym: Vec<f32> = feats.asym_id.iter().map(|&a| a as f32).collect();
    let asym = ndarray::Array1::from(asym);
    let mut timings: BTreeMap<String, f64> = BTreeMap::new();
    let reports = for_each_prediction(
        opts,
        &features_sha,
        &models,
        runtimes,
        |m, runtime, _, pred_name, seed, hash| {
            let t0 = Instant::now();
            let recycles = opts.num_recycle.unwrap_or(m.config.num_recycle);
            let inputs = process_multimer_features(
                &feats,
                &MultimerInputConfig::for_model(&m.config),
                recycles + 1,
                seed,
            );
            let process_s = t0.elapsed().as_secs_f64();
            let t1 = Instant::now();
            let pred = predict_model(opts, m, pred_name, &inputs, runtime, recycles)?;
            let predict_s = t1.elapsed().as_secs_f64();
            timings.insert(format!("process_features_{pred_name}"), process_s);
            timings.insert(format!("predict_and_compile_{pred_name}"), predict_s);
            let (ranking_confidence, ptm, iptm) =
                multimer_ranking(&pred).ok_or_else(|| PredictError::Model {
                    model: m.name.clone(),
                    message:
                        "no predicted-aligned-error head: complexes are ranked by ipTM and pTM"
                            .into(),
                })?;
            let protein = complex_protein(&feats, &pred)?;
            // Before the result file, whose presence marks the prediction as done.
            write_chain_confidences(opts, &feats, pred_name, &pred)?;
            let report = write_model_outputs(
                opts,
                m,
                pred_name,
                seed,
                &pred,
                hash,
                &sequence,
                OutputParts {
                    protein,
                    ranking_confidence,
                    extra: vec![("asym_id", asym.view().into_dyn())],
                },
            )?;
            info!(
                "{pred_name} (seed {seed}): ipTM {iptm:.3}, pTM {ptm:.3}, 0.8·ipTM+0.2·pTM {ranking_confidence:.3}, mean pLDDT {:.2}, {} iterations ({:.1} s)",
                report.mean_plddt, pred.iterations, predict_s
            );
            Ok(ModelReport {
                seconds: predict_s,
                ..report
            })
        },
    )?;
    let order = write_ranking(opts, &reports, &timings, true)?;
    if opts.plots {
        write_complex_plots(opts, &feats, &order);
    }
    Ok(reports)
}

/// `confidence_<pred>_<chain>.json` for every chain: its residues' pLDDT in AlphaFold DB's schema,
/// numbered from 1 as in the chain's PDB records (`confidence_<pred>.json` covers the whole complex).
fn write_chain_confidences(
    opts: &PredictOptions,
    f: &MultimerFeatures,
    pred_name: &str,
    pred: &Prediction,
) -> Result<(), PredictError> {
    let plddt = pred.heads.plddt.as_slice().expect("contiguous");
    let n = f.asym_id.len();
    let mut start = 0;
    for i in 1..=n {
        if i < n && f.asym_id[i] == f.asym_id[start] {
            continue;
        }
        let chain = Protein::chain_id((f.asym_id[start] - 1).max(0) as usize);
        let conf =
            crate::io::confidence::ConfidenceJson::from_plddt(&plddt[start..i]).map_err(|e| {
                PredictError::Model {
                    model: pred_name.to_string(),
                    message: e.to_string(),
                }
            })?;
        let p = opts
            .output_dir
            .join(format!("confidence_{pred_name}_{chain}.json"));
        crate::io::confidence::write_json_path(&conf.to_json(), &p).map_err(write_err(&p))?;
        start = i;
    }
    Ok(())
}

/// `A: 70 aa, B: 70 aa`.
fn chain_summary(f: &MultimerFeatures) -> String {
    let mut out = Vec::new();
    let mut start = 0;
    let n = f.asym_id.len();
    for i in 1..=n {
        if i == n || f.asym_id[i] != f.asym_id[start] {
            let label = Protein::chain_id((f.asym_id[start] - 1).max(0) as usize);
            out.push(format!("{label}: {} aa", i - start));
            start = i;
        }
    }
    out.join(", ")
}

/// The predicted complex: chain A, B, … in asym order, residues numbered from 1 within each chain,
/// pLDDT as B-factors.
pub(crate) fn complex_protein(
    f: &MultimerFeatures,
    pred: &Prediction,
) -> Result<Protein, StructureError> {
    let n = f.aatype.len();
    Protein {
        aatype: f.aatype.iter().map(|&a| a.clamp(0, 20) as usize).collect(),
        atom_positions: pred.structure.atom37_positions.clone(),
        atom_mask: pred.structure.atom37_mask.clone(),
        residue_index: f.residue_index.iter().map(|&r| r + 1).collect(),
        chain_index: f.asym_id.iter().map(|&a| (a - 1).max(0) as usize).collect(),
        b_factors: Array2::zeros((n, 37)),
    }
    .with_residue_b_factors(pred.heads.plddt.as_slice().expect("contiguous"))
}

/// `plddt.png` and `pae.png` (chain boundaries marked) of the top-ranked predictions; `coverage.png` of
/// the merged alignment. A plot that cannot be drawn is a warning.
fn write_complex_plots(opts: &PredictOptions, f: &MultimerFeatures, order: &[String]) {
    let dir = &opts.output_dir;
    let target = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "target".into());
    let result = |name: &str| opts.result_format.path(dir, name);
    let models: Vec<(String, Vec<f32>)> = order
        .iter()
        .filter_map(|name| {
            crate::io::results_h5::read_f32(&result(name), "plddt")
                .map(|a| (name.clone(), a.iter().copied().collect()))
        })
        .collect();
    let top_pae = order.first().and_then(|name| {
        let pae = crate::io::results_h5::read_f32(&result(name), "predicted_aligned_error")?
            .into_dimensionality::<ndarray::Ix2>()
            .ok()?;
        let max = crate::io::results_h5::read_f32(&result(name), "max_predicted_aligned_error")?
            .iter()
            .next()
            .copied()?;
        Some((name.as_str(), pae, max))
    });
    // Rows of the merged alignment with a residue (padding rows left out), gap code as a monomer's.
    let rows: Vec<usize> = (0..f.msa.nrows())
        .filter(|&i| f.msa_mask.row(i).iter().any(|&m| m != 0.0))
        .collect();
    let msa = f.msa.select(ndarray::Axis(0), &rows);
    let boundaries: Vec<usize> = (1..f.asym_id.len())
        .filter(|&i| f.asym_id[i] != f.asym_id[i - 1])
        .collect();
    match crate::plots::target_plots_with_chains(
        dir,
        &target,
        msa.view(),
        &models,
        top_pae,
        &boundaries,
    ) {
        Ok(files) => info!(
            "plots: {}",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Err(e) => tracing::warn!("plots for {} not written: {e}", dir.display()),
    }
}
