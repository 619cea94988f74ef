//! The `relax` stage: AlphaFold2's Amber relaxation ([`crate::relax::pipeline`]) of model files, on its own
//! (`ferrofold relax model.pdb -o DIR`) or after `predict` (`--relax best|all|none`, default `best` as
//! AlphaFold2 2.3): `relaxed_<model>.pdb` (all atoms, hydrogens included, pLDDT as B-factors) and `.cif`
//! (heavy atoms), and `relax_metrics.json` with AlphaFold2's keys per model (`remaining_violations`,
//! `remaining_violations_count`) plus its relax debug data (energies in kcal/mol, RMSD in Å, attempts) and
//! ferrofold's (violations before, outer iterations, seconds, and the hash of the input the entry belongs
//! to). A relaxed model is reused only while its recorded input hash matches the unrelaxed model and the
//! settings; one that no longer matches is removed, never left to be mistaken for the current model.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use tracing::info;

use crate::fsutil::checksum::{sha256_file, InputHash};
use crate::io::{confidence::write_json_path, mmcif, structure};
use crate::relax::pipeline::{relax_protein, to_pdb, RelaxError, RelaxOptions};

/// Which predictions `predict` relaxes. The CLI's default is `Best` (AlphaFold2 2.3's); the library's
/// (`PredictOptions::default`) is `None`, so that a caller gets relaxation only by asking for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RelaxMode {
    /// The top-ranked prediction only.
    Best,
    All,
    #[default]
    None,
}

impl std::str::FromStr for RelaxMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "best" => Ok(RelaxMode::Best),
            "all" => Ok(RelaxMode::All),
            "none" => Ok(RelaxMode::None),
            other => Err(format!("'{other}': expected best, all or none")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelaxStageError {
    #[error("{}", read_message(path, source))]
    Read {
        path: PathBuf,
        source: crate::protein::StructureError,
    },
    #[error("{path}: {source}")]
    Relax { path: PathBuf, source: RelaxError },
    #[error("{0}")]
    Write(String),
}

/// A read error names its file once: most structure errors name it already.
fn read_message(path: &Path, source: &crate::protein::StructureError) -> String {
    match source {
        crate::protein::StructureError::Inconsistent(_) => format!("{}: {source}", path.display()),
        _ => source.to_string(),
    }
}

fn write_err(path: &Path) -> impl Fn(std::io::Error) -> RelaxStageError + '_ {
    move |e| RelaxStageError::Write(format!("{}: {e}", path.display()))
}

/// What `relax` did with one model.
#[derive(Debug, Clone)]
pub struct RelaxReport {
    pub name: String,
    pub pdb: PathBuf,
    pub reused: bool,
    pub metrics: serde_json::Value,
}

/// The hash that ties a relaxed model to its input file and the settings.
fn input_hash(input: &Path, opts: &RelaxOptions) -> Result<String, RelaxStageError> {
    let sha = sha256_file(input).map_err(write_err(input))?;
    let mut h = InputHash::new("ferrofold relax 1");
    h.add(&sha).add(&format!("{opts:?}"));
    Ok(h.finish())
}

fn read_metrics(path: &Path) -> BTreeMap<String, serde_json::Value> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn relaxed_paths(dir: &Path, name: &str) -> [PathBuf; 2] {
    [
        dir.join(format!("relaxed_{name}.pdb")),
        dir.join(format!("relaxed_{name}.cif")),
    ]
}

/// Whether `dir` holds a relaxed `name` made from `hash`.
fn is_current(
    dir: &Path,
    name: &str,
    hash: &str,
    metrics: &BTreeMap<String, serde_json::Value>,
) -> bool {
    relaxed_paths(dir, name).iter().all(|p| p.is_file())
        && metrics
            .get(name)
            .and_then(|m| m.get("input_sha256"))
            .and_then(|v| v.as_str())
            == Some(hash)
}

/// Relaxes the model in `input` (PDB or mmCIF) into `dir` as `relaxed_<name>.pdb/.cif`, recording its metrics
/// under `name` in `dir/relax_metrics.json`. Reuses an earlier result for the same input and settings unless
/// `overwrite`. The caller holds `dir`'s lock ([`crate::fsutil::tree::DirLock`]) if other processes may write
/// there (`predict` holds it for its whole run, `ferrofold relax` for its own).
pub fn relax_model(
    input: &Path,
    name: &str,
    dir: &Path,
    opts: &RelaxOptions,
    overwrite: bool,
) -> Result<RelaxReport, RelaxStageError> {
    let hash = input_hash(input, opts)?;
    std::fs::create_dir_all(dir).map_err(write_err(dir))?;
    let metrics_path = dir.join("relax_metrics.json");
    let mut all = read_metrics(&metrics_path);
    let [pdb_path, cif_path] = relaxed_paths(dir, name);
    if !overwrite && is_current(dir, name, &hash, &all) {
        info!("{name}: relaxed model up to date ({})", pdb_path.display());
        return Ok(RelaxReport {
            name: name.to_string(),
            pdb: pdb_path,
            reused: true,
            metrics: all.get(name).cloned().unwrap_or_default(),
        });
    }
    // What is there for this name was made from something else: never left beside a failed relaxation.
    remove_relaxed(dir, name, &metrics_path, &mut all)?;
    let protein = structure::read_path(input, None).map_err(|source| RelaxStageError::Read {
        path: input.to_path_buf(),
        source,
    })?;
    info!(
        "{name}: relaxing {} residues (Amber ff99SB, restrained)",
        protein.num_res()
    );
    let t = Instant::now();
    let relaxed = relax_protein(&protein, opts).map_err(|source| RelaxStageError::Relax {
        path: input.to_path_buf(),
        source,
    })?;
    let b: Vec<f32> = (0..protein.num_res())
        .map(|i| protein.b_factors[[i, 1]])
        .collect();
    std::fs::create_dir_all(dir).map_err(write_err(dir))?;
    crate::fsutil::atomic::write_bytes(&pdb_path, to_pdb(&relaxed.all_atoms, &b).as_bytes())
        .map_err(write_err(&pdb_path))?;
    mmcif::write_path(&relaxed.protein, &format!("relaxed_{name}"), &cif_path)
        .map_err(|e| RelaxStageError::Write(e.to_string()))?;
    let mut entry = serde_json::to_value(&relaxed.metrics)
        .map_err(|e| RelaxStageError::Write(e.to_string()))?;
    if let Some(obj) = entry.as_object_mut() {
        obj.insert("input".into(), input.display().to_string().into());
        obj.insert("input_sha256".into(), hash.into());
    }
    // Read again just before writing: another model's entry may have been added meanwhile by this process.
    all = read_metrics(&metrics_path);
    all.insert(name.to_string(), entry.clone());
    let text =
        serde_json::to_string_pretty(&all).map_err(|e| RelaxStageError::Write(e.to_string()))?;
    write_json_path(&(text + "\n"), &metrics_path).map_err(write_err(&metrics_path))?;
    info!(
        "{name}: relaxed in {:.1} s: energy {:.1} -> {:.1} kcal/mol, RMSD {:.2} Å, {} residue(s) with violations (before: {})",
        t.elapsed().as_secs_f64(),
        relaxed.metrics.initial_energy,
        relaxed.metrics.final_energy,
        relaxed.metrics.rmsd,
        relaxed.metrics.remaining_violations_count,
        relaxed.metrics.violations_before_count
    );
    Ok(RelaxReport {
        name: name.to_string(),
        pdb: pdb_path,
        reused: false,
        metrics: entry,
    })
}

/// Removes `relaxed_<name>.pdb/.cif` and the name's entry in `relax_metrics.json` (`all`, its contents).
fn remove_relaxed(
    dir: &Path,
    name: &str,
    metrics_path: &Path,
    all: &mut BTreeMap<String, serde_json::Value>,
) -> Result<(), RelaxStageError> {
    for p in relaxed_paths(dir, name) {
        if p.exists() {
            std::fs::remove_file(&p).map_err(write_err(&p))?;
            info!("removed {}: made from an earlier input", p.display());
        }
    }
    if all.remove(name).is_some() {
        let text = serde_json::to_string_pretty(&all)
            .map_err(|e| RelaxStageError::Write(e.to_string()))?;
        write_json_path(&(text + "\n"), metrics_path).map_err(write_err(metrics_path))?;
    }
    Ok(())
}

/// Relaxes the predictions `mode` selects from `order` (ranked, best first; their `unrelaxed_<name>.pdb`
/// in `dir`) and removes relaxed files of this run's predictions that no longer belong to their unrelaxed
/// model. Returns the names whose relaxed files are current, and the seconds each relaxation took.
pub fn relax_predictions(
    dir: &Path,
    order: &[String],
    mode: RelaxMode,
    opts: &RelaxOptions,
    overwrite: bool,
) -> Result<(Vec<String>, BTreeMap<String, f64>), RelaxStageError> {
    let selected: &[String] = match mode {
        RelaxMode::None => &[],
        RelaxMode::Best => &order[..order.len().min(1)],
        RelaxMode::All => order,
    };
    let mut timings = BTreeMap::new();
    let mut current = Vec::new();
    for name in selected {
        let t = Instant::now();
        let input = dir.join(format!("unrelaxed_{name}.pdb"));
        let r = relax_model(&input, name, dir, opts, overwrite)?;
        if !r.reused {
            timings.insert(format!("relax_{name}"), t.elapsed().as_secs_f64());
        }
        current.push(name.clone());
    }
    // Relaxed files of the other predictions: kept only while they still belong to their unrelaxed model.
    let metrics_path = dir.join("relax_metrics.json");
    let mut all = read_metrics(&metrics_path);
    for name in order.iter().filter(|n| !selected.contains(n)) {
        if !relaxed_paths(dir, name).iter().any(|p| p.exists()) && !all.contains_key(name) {
            continue;
        }
        let hash = input_hash(&dir.join(format!("unrelaxed_{name}.pdb")), opts)?;
        if !is_current(dir, name, &hash, &all) {
            remove_relaxed(dir, name, &metrics_path, &mut all)?;
        }
    }
    Ok((current, timings))
}
