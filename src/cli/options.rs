//! Raw arguments → the library's validated options, in one step (ripgrep's `lowargs` → `hiargs`). A
//! problem found here that is the user's to fix is a [`UsageError`] (exit code 2).

use std::path::PathBuf;

use ferrofold::features::builder::MsaLimits;
use ferrofold::pipeline::features::{MsaSource, TemplateOptions, TemplateSearch};
use ferrofold::pipeline::params;
use ferrofold::pipeline::predict::PredictOptions;
use ferrofold::pipeline::relax::RelaxMode;

use super::args::{ModelArgs, MsaArgs};

/// A usage problem found after parsing (exit code 2).
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The template search `--template-db` (and `--template-tool`) ask for.
fn template_search(args: &MsaArgs) -> anyhow::Result<Option<TemplateSearch>> {
    let Some(first) = args.template_dbs.first() else {
        return Ok(None);
    };
    let tool = args.template_tool.clone().unwrap_or_else(|| {
        if first.is_file() {
            "builtin".into()
        } else {
            "hhsearch".into()
        }
    });
    Ok(Some(match tool.as_str() {
        "builtin" => {
            if args.template_dbs.len() > 1 {
                return Err(UsageError(
                    "the built-in template search reads one pdb_seqres.txt (--template-db once)"
                        .into(),
                )
                .into());
            }
            TemplateSearch::Builtin {
                seqres: first.clone(),
            }
        }
        "hmmsearch" => {
            if args.template_dbs.len() > 1 {
                return Err(UsageError(
                    "the hmmsearch template search reads one pdb_seqres.txt (--template-db once)"
                        .into(),
                )
                .into());
            }
            TemplateSearch::Hmmsearch {
                seqres: first.clone(),
            }
        }
        _ => TemplateSearch::Hhsearch {
            databases: args.template_dbs.clone(),
            binary: None,
        },
    }))
}

/// Template settings of a database preset: pdb70 (hhsearch) and pdb_mmcif below `--data-dir`, when both
/// are there (AlphaFold2's presets search templates); `None` (with a note) otherwise.
fn preset_templates(args: &MsaArgs) -> Option<TemplateOptions> {
    let preset = args.db_preset.as_deref()?;
    if !matches!(preset, "reduced_dbs" | "full_dbs") {
        return None;
    }
    let data = args.data_dir.as_ref()?;
    let pdb70 = data.join("pdb70").join("pdb70");
    let mmcif = data.join("pdb_mmcif").join("mmcif_files");
    if !std::path::Path::new(&format!("{}_a3m.ffdata", pdb70.display())).is_file()
        || !mmcif.is_dir()
    {
        tracing::warn!(
            "--db-preset {preset}: no templates ({} or {} is missing; `ferrofold db download pdb70`, and rsync pdb_mmcif as AlphaFold2's scripts do)",
            pdb70.display(),
            mmcif.display()
        );
        return None;
    }
    Some(TemplateOptions {
        mmcif_dir: mmcif,
        max_template_date: None,
        obsolete: None,
        hits: None,
        kalign: None,
        tool_timeout_s: args.tool_timeout,
        search: Some(TemplateSearch::Hhsearch {
            databases: vec![pdb70],
            binary: None,
        }),
    })
}

/// Template settings from the arguments (`None` without `--template-mmcif-dir` or a preset with
/// template databases).
pub(crate) fn template_options(args: &MsaArgs) -> anyhow::Result<Option<TemplateOptions>> {
    let Some(dir) = &args.template_mmcif_dir else {
        let mut preset = preset_templates(args);
        if let (Some(p), Some(d)) = (preset.as_mut(), &args.max_template_date) {
            p.max_template_date = Some(
                d.parse::<ferrofold::templates::Date>()
                    .map_err(|e| UsageError(format!("--max-template-date: {e}")))?,
            );
        }
        return Ok(preset);
    };
    if !dir.is_dir() {
        return Err(UsageError(format!(
            "--template-mmcif-dir {}: no such folder",
            dir.display()
        ))
        .into());
    }
    let max_template_date = args
        .max_template_date
        .as_deref()
        .map(|d| {
            d.parse::<ferrofold::templates::Date>()
                .map_err(|e| UsageError(format!("--max-template-date: {e}")))
        })
        .transpose()?;
    if args.template_hits.is_some() && args.msa_dir.is_some() {
        tracing::info!("--template-hits given: the .hhr files in --msa-dir are not read");
    }
    Ok(Some(TemplateOptions {
        mmcif_dir: dir.clone(),
        max_template_date,
        obsolete: args.obsolete_pdbs.clone(),
        hits: args.template_hits.clone(),
        kalign: args.kalign.clone(),
        tool_timeout_s: args.tool_timeout,
        search: template_search(args)?,
    }))
}

/// Where the alignments come from, and the row limits.
pub(crate) fn msa_source(args: MsaArgs) -> anyhow::Result<(MsaSource, MsaLimits)> {
    for (flag, v) in [
        ("--uniref-max-hits", args.uniref_max_hits),
        ("--mgnify-max-hits", args.mgnify_max_hits),
    ] {
        if v == 0 {
            return Err(UsageError(format!(
                "{flag} 0 would drop the query row itself; it must be at least 1"
            ))
            .into());
        }
    }
    let limits = MsaLimits {
        uniref_max_hits: args.uniref_max_hits,
        mgnify_max_hits: args.mgnify_max_hits,
    };
    let colabfold = args.db_preset.as_deref() == Some("colabfold");
    if args.msa_mode.is_some()
        && !colabfold
        && args.msa_server.is_none()
        && args.msa_mode.as_deref() != Some("single_sequence")
    {
        return Err(UsageError(
            "--msa-mode needs a ColabFold source: --db-preset colabfold --data-dir DIR, or --msa-server URL".into(),
        )
        .into());
    }
    if args.mmseqs_sensitivity.is_some() && !colabfold {
        return Err(UsageError(
            "--mmseqs-sensitivity is a setting of --db-preset colabfold".into(),
        )
        .into());
    }
    if args.tool_binary.is_some() && args.db_preset.is_some() && !colabfold {
        return Err(UsageError(format!(
            "--tool-binary names one program; --db-preset {} runs several (put them on PATH)",
            args.db_preset.as_deref().unwrap_or_default()
        ))
        .into());
    }
    if !(args.msa_server_poll.is_finite() && args.msa_server_poll > 0.0) {
        return Err(UsageError(format!(
            "--msa-server-poll {} must be a positive number of seconds",
            args.msa_server_poll
        ))
        .into());
    }
    if args.msa_mode.as_deref() == Some("single_sequence")
        && (args.msa_dir.is_some() || !args.msas.is_empty() || !args.databases.is_empty())
    {
        return Err(UsageError(
            "--msa-mode single_sequence uses no alignment; drop --msa, --msa-dir and --db".into(),
        )
        .into());
    }
    let use_env = args.msa_mode.as_deref() != Some("mmseqs2_uniref");
    let msas = if args.single_sequence || args.msa_mode.as_deref() == Some("single_sequence") {
        MsaSource::SingleSequence
    } else if let Some(url) = &args.msa_server {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(UsageError(format!("--msa-server {url}: not an http(s) URL")).into());
        }
        let mode = if use_env {
            ferrofold::search::msa_server::ServerMode::Env
        } else {
            ferrofold::search::msa_server::ServerMode::All
        };
        let mut server = ferrofold::search::msa_server::MsaServer::new(url, mode);
        server.poll = std::time::Duration::from_secs_f64(args.msa_server_poll);
        server.timeout = std::time::Duration::from_secs(args.tool_timeout);
        MsaSource::Server(server)
    } else if colabfold {
        let data_dir = args.data_dir.clone().ok_or_else(|| {
            UsageError("--db-preset colabfold needs --data-dir (the folder ColabFold's setup_databases.sh filled)".into())
        })?;
        MsaSource::Colabfold(ferrofold::pipeline::colabfold::ColabfoldSearch {
            data_dir,
            use_env,
            settings: ferrofold::search::colabfold::ColabfoldSettings {
                sensitivity: args.mmseqs_sensitivity,
                ..Default::default()
            },
            binary: args.tool_binary.clone(),
            timeout_s: args.tool_timeout,
        })
    } else if let Some(dir) = args.msa_dir {
        MsaSource::Dir(dir)
    } else if !args.msas.is_empty() {
        MsaSource::Files(args.msas)
    } else {
        let demo =
            args.databases.is_empty() && args.db_preset.as_deref().is_none_or(|p| p == "demo");
        let pairing_tool = match args.db_preset.as_deref() {
            Some("reduced_dbs" | "full_dbs") => ferrofold::search::tools::SearchTool::Jackhmmer,
            Some(_) | None if demo => ferrofold::search::tools::SearchTool::Builtin,
            _ => args.tool,
        };
        let pairing_db = args.uniprot_db.clone().or_else(|| {
            if demo {
                Some(ferrofold::databases::demo_database())
            } else if matches!(args.db_preset.as_deref(), Some("reduced_dbs" | "full_dbs")) {
                args.data_dir
                    .as_ref()
                    .map(|d| d.join("uniprot").join("uniprot.fasta"))
                    .filter(|p| p.is_file())
            } else {
                None
            }
        });
        let pairing = pairing_db.map(|database| ferrofold::search::SearchSpec {
            database,
            tool: pairing_tool,
            output_stem: "uniprot_hits".into(),
        });
        let searches = if let Some(preset) = &args.db_preset {
            ferrofold::databases::preset_searches(preset, args.data_dir.as_deref())
                .map_err(anyhow::Error::msg)?
        } else if args.databases.is_empty() {
            vec![ferrofold::search::SearchSpec::named_after_database(
                ferrofold::databases::demo_database(),
                ferrofold::search::tools::SearchTool::Builtin,
            )]
        } else {
            args.databases
                .into_iter()
                .map(|d| ferrofold::search::SearchSpec::named_after_database(d, args.tool))
                .collect()
        };
        let options = ferrofold::search::SearchOptions {
            evalue: args.evalue,
            max_hits: args.max_hits,
            ..Default::default()
        };
        MsaSource::Search {
            searches,
            options,
            binary: args.tool_binary,
            timeout_s: args.tool_timeout,
            pairing,
        }
    };
    Ok((msas, limits))
}

/// Says, on stderr, that the demo model's weights are random.
pub(crate) fn warn_demo() {
    super::stderr_line(
        "warning: the ferrofold demo model has RANDOM weights: its structures and confidences are not meaningful.\n\
         For real predictions get DeepMind's parameters: ferrofold params fetch --data-dir DIR, then --models-dir DIR/models",
    );
}

/// The model files to run: the demo model (made on first use), or those given and those in
/// `--models-dir`.
/// With `complex`, the demo model is the demo AlphaFold-Multimer model; with `both` (a batch of single
/// chains and complexes), both demo models.
pub(crate) fn model_list(
    args: &ModelArgs,
    complex: bool,
    both: bool,
) -> anyhow::Result<Vec<PathBuf>> {
    if args.demo_model {
        let mut kinds = vec![complex];
        if both {
            kinds = vec![false, true];
        }
        let mut paths = Vec::new();
        for multimer in kinds {
            let path = if multimer {
                params::demo_multimer_model_path()
            } else {
                params::demo_model_path()
            };
            if params::ensure_demo(&path, multimer)? {
                tracing::info!(
                    "wrote the demo model to {} (set FERROFOLD_MODELS to keep it elsewhere)",
                    path.display()
                );
            }
            paths.push(path);
        }
        warn_demo();
        return Ok(paths);
    }
    let mut models = args.models.clone();
    if let Some(dir) = &args.models_dir {
        let mut found = params::models_in_dir(dir)?;
        // A folder from `params fetch` holds monomer and multimer models: a single prediction takes the
        // kind its features need (by AlphaFold2's file names; other names are checked when loaded).
        if !both {
            let kind_of = |p: &PathBuf| {
                p.file_stem()
                    .is_some_and(|s| s.to_string_lossy().contains("multimer"))
            };
            if found.iter().any(|p| kind_of(p) == complex) {
                found.retain(|p| kind_of(p) == complex);
            }
        }
        models.extend(found);
    }
    if models.is_empty() {
        return Err(UsageError(
            "no model given: pass --model FILE or --models-dir DIR (see `ferrofold params`)".into(),
        )
        .into());
    }
    select_models(models, args.model_type.as_deref(), args.num_models)
}

/// ColabFold's model selection over the models given: `--model-type` keeps AlphaFold2's pTM models
/// (`model_<n>_ptm`) or its original ones (`model_<n>`), by file name; `--num-models` the first N.
fn select_models(
    mut models: Vec<PathBuf>,
    model_type: Option<&str>,
    num_models: Option<u64>,
) -> anyhow::Result<Vec<PathBuf>> {
    let name = |p: &PathBuf| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let numbered = |n: &str| {
        n.strip_prefix("model_")
            .is_some_and(|r| r.len() == 1 && r.as_bytes()[0].is_ascii_digit())
    };
    if let Some(t) = model_type {
        let keep: Box<dyn Fn(&str) -> bool> = match t {
            "alphafold2_ptm" => Box::new(|n: &str| n.strip_suffix("_ptm").is_some_and(numbered)),
            "alphafold2" => Box::new(numbered),
            "alphafold2_multimer_v3" => {
                Box::new(|n: &str| n.strip_suffix("_multimer_v3").is_some_and(numbered))
            }
            _ => {
                return Err(UsageError(format!(
                    "--model-type {t}: one of alphafold2_ptm, alphafold2, alphafold2_multimer_v3"
                ))
                .into())
            }
        };
        let all: Vec<String> = models.iter().map(name).collect();
        models.retain(|p| keep(&name(p)));
        if models.is_empty() {
            return Err(UsageError(format!(
                "--model-type {t}: none of the models given is one ({})",
                all.join(", ")
            ))
            .into());
        }
    }
    if let Some(n) = num_models {
        models.truncate(n as usize);
    }
    Ok(models)
}

/// Predict settings from the arguments (features path and output folder filled in by the caller).
pub(crate) fn predict_options(args: &ModelArgs, models: Vec<PathBuf>) -> PredictOptions {
    PredictOptions {
        features: PathBuf::new(),
        models,
        output_dir: PathBuf::new(),
        seed: args.seed,
        num_seeds: args.num_seeds as usize,
        num_recycle: args.num_recycle,
        random: !args.deterministic,
        runtime: ferrofold::model::params::config::RuntimeOptions {
            threads: args.threads,
            chunk_budget: args.chunk_budget,
            on_block: None,
            stack_runner: None,
        },
        early_stop_tolerance: args.early_stop_tolerance,
        require_pae: args.require_pae,
        overwrite: false,
        max_length: args.max_length,
        plots: !args.no_plots,
        memory_budget: args.memory_budget.map(|b| b as u64),
        processed_features: None,
        result_format: args.result_format,
        max_msa_clusters: args.max_seq.map(|n| n as usize),
        max_extra_msa: args.max_extra_seq.map(|n| n as usize),
        // The demo model's random weights give clashing structures that Amber cannot relax.
        relax: args.relax.unwrap_or(if args.demo_model {
            RelaxMode::None
        } else {
            RelaxMode::Best
        }),
        device: args.device,
        gpu_memory_budget: args.gpu_memory_budget.map(|b| b as u64),
    }
}

/// The command line as typed (lossily, so that a non-UTF-8 path is not a panic), recorded in every
/// output's provenance.
pub(crate) fn command_line() -> String {
    std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
