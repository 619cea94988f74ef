//! One function per subcommand: build the stage's options from the arguments, call the library, print
//! its report on stdout (tab-separated, one line per target or model).

use std::io::Write;
use std::path::PathBuf;

use ferrofold::pipeline::features::{self as features_stage, FeaturesOptions, Outcome};
use ferrofold::pipeline::{
    db as db_stage, inspect as inspect_stage, params, predict as predict_stage, run as run_stage,
};

use super::args::{
    DbCommand, FeaturesArgs, InspectArgs, MsaArgs, ParamsCommand, PredictArgs, RelaxArgs, RunArgs,
    ScoreArgs, StageArg,
};
use super::options::{
    command_line, model_list, msa_source, predict_options, template_options, warn_demo,
};

pub(crate) fn features(args: FeaturesArgs) -> anyhow::Result<()> {
    // One line per target on stdout as soon as it is done (flushed), so the targets finished before a
    // failing one are reported too.
    let print = |r: &features_stage::TargetReport| -> std::io::Result<()> {
        let what = match r.outcome {
            Outcome::Written => "written",
            Outcome::UpToDate => "up to date",
        };
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{}\t{}\t{} residues\t{} alignment rows\t{what}",
            r.target,
            r.features_path.display(),
            r.num_res,
            r.num_alignments
        )?;
        out.flush()
    };
    let mut failed_write = None;
    match (args.fasta, args.from_pkl) {
        (_, Some(pkl)) => print(&features_stage::convert_pickle(
            &pkl,
            &args.output.join("features.h5"),
            &command_line(),
            args.overwrite,
        )?)?,
        (Some(fasta), None) => build_features(
            fasta,
            args.msa,
            args.output,
            args.overwrite,
            args.max_length,
            args.complex,
            |r| {
                if failed_write.is_none() {
                    failed_write = print(r).err();
                }
            },
        )?,
        (None, None) => anyhow::bail!("give a FASTA file or --from-pkl"),
    }
    if let Some(e) = failed_write {
        return Err(e.into());
    }
    Ok(())
}

fn build_features(
    fasta: PathBuf,
    msa: MsaArgs,
    output: PathBuf,
    overwrite: bool,
    max_length: usize,
    complex: bool,
    done: impl FnMut(&features_stage::TargetReport),
) -> anyhow::Result<()> {
    let templates = template_options(&msa)?;
    let (msas, limits) = msa_source(msa)?;
    let opts = FeaturesOptions {
        fasta,
        msas,
        output_dir: output,
        limits,
        overwrite,
        command_line: command_line(),
        max_length,
        templates,
        complex,
    };
    Ok(features_stage::run_each(&opts, done)?)
}

pub(crate) fn params(cmd: ParamsCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        ParamsCommand::Convert {
            npz,
            output,
            name,
            structure_layers,
            num_recycle,
        } => {
            let r = params::convert(&npz, &output, name.as_deref(), |c| {
                if let Some(n) = structure_layers {
                    c.structure_module.layers = n;
                }
                if let Some(n) = num_recycle {
                    c.num_recycle = n;
                }
            })?;
            writeln!(
                out,
                "{}\t{}\t{} tensors\t{} parameters\tsha256 {}",
                r.name,
                output.display(),
                r.tensors,
                r.parameters,
                r.source_sha256
            )?;
        }
        ParamsCommand::Export { model, output } => {
            let r = params::export(&model, &output)?;
            writeln!(
                out,
                "{}\t{}\t{} tensors\t{} parameters",
                r.name,
                output.display(),
                r.tensors,
                r.parameters
            )?;
        }
        ParamsCommand::Demo { output, multimer } => {
            let output = match (multimer, output) {
                (true, None) => PathBuf::from("models/ferrofold_demo_multimer.onnx"),
                (false, None) => PathBuf::from("models/ferrofold_demo.onnx"),
                (_, Some(o)) => o,
            };
            let written = params::ensure_demo(&output, multimer)?;
            warn_demo();
            writeln!(
                out,
                "{}\t{}\t{}",
                if multimer {
                    params::DEMO_MULTIMER_MODEL_NAME
                } else {
                    params::DEMO_MODEL_NAME
                },
                output.display(),
                if written { "written" } else { "present" }
            )?;
        }
        ParamsCommand::Info {
            model,
            len,
            depth,
            num_recycle,
        } => {
            // Bounded by the parser: the estimates' byte counts fit in u64.
            let request = len.map(|len| params::EstimateRequest {
                len: len as usize,
                depth: depth as usize,
                num_recycle,
            });
            let m = params::info(&model, request)?;
            writeln!(out, "name\t{}", m.name)?;
            writeln!(out, "tensors\t{}", m.tensors)?;
            writeln!(out, "parameters\t{}", m.parameters)?;
            writeln!(out, "source_sha256\t{}", m.source_sha256)?;
            writeln!(out, "license\t{}", m.license)?;
            writeln!(out, "config\t{}", serde_json::to_string(&m.config)?)?;
            if let Some(e) = m.estimate {
                let f = &e.flops;
                writeln!(out, "msa_rows\t{} clusters + {} extra", e.clusters, e.extra)?;
                writeln!(out, "peak_memory_bytes\t{}", e.memory.total)?;
                writeln!(out, "peak_memory\t{}", e.memory.describe())?;
                writeln!(out, "peak_gpu_memory_bytes\t{}", e.gpu_memory.total)?;
                writeln!(out, "peak_gpu_memory\t{}", e.gpu_memory.describe())?;
                writeln!(
                    out,
                    "gflop_per_iteration\t{:.1} (extra-MSA stack {:.1}, Evoformer {:.1}, structure module {:.1})",
                    f.total() / 1e9,
                    f.extra_msa_stack / 1e9,
                    f.evoformer / 1e9,
                    f.structure_module / 1e9
                )?;
                writeln!(out, "iterations\t{}", e.iterations)?;
            }
        }
        ParamsCommand::Fetch {
            data_dir,
            url,
            sha256,
            size,
        } => {
            let expect = ferrofold::fsutil::download::Expect { size, sha256 };
            for m in params::fetch(&data_dir, &url, &expect)? {
                let what = if m.converted { "converted" } else { "present" };
                writeln!(out, "{}\t{}\t{what}", m.name, m.model_path.display())?;
            }
        }
    }
    Ok(())
}

pub(crate) fn run(args: RunArgs) -> anyhow::Result<()> {
    use run_stage::{RunOptions, Stages};
    let array = args.array_index.zip(args.array_size);
    if args.list {
        let mut out = std::io::stdout().lock();
        for l in run_stage::list(&args.inputs, array)? {
            writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}",
                l.position,
                l.task,
                l.target.name,
                l.target.original_id,
                l.target.source.display()
            )?;
        }
        return Ok(());
    }
    let stages = match args.stage {
        StageArg::All => Stages::All,
        StageArg::Features => Stages::Features,
        StageArg::Predict => Stages::Predict,
    };
    let templates = template_options(&args.msa)?;
    let (msas, limits) = msa_source(args.msa)?;
    // The features stage needs no model.
    let models = if stages == Stages::Features {
        Vec::new()
    } else {
        model_list(&args.model, false, true)?
    };
    let opts = RunOptions {
        inputs: args.inputs,
        output_dir: args.output,
        msas,
        limits,
        templates,
        predict: predict_options(&args.model, models.clone()),
        models,
        array,
        overwrite: args.overwrite,
        command_line: command_line(),
        stages,
        reference_dir: args.reference_dir,
    };
    // One line per target as it finishes (flushed: a long batch can be followed with `tail -f`).
    let mut failed_write = None;
    run_stage::run_each(&opts, |t| {
        if failed_write.is_none() {
            failed_write = print_target(t).err();
        }
    })?;
    if let Some(e) = failed_write {
        return Err(e.into());
    }
    Ok(())
}

/// `run`'s line(s) for one finished target on stdout.
fn print_target(t: &run_stage::TargetResult) -> std::io::Result<()> {
    // With the progress bars cleared, so that the line does not leave stale copies of them.
    ferrofold::progress::suspend(|| print_target_lines(t))
}

fn print_target_lines(t: &run_stage::TargetResult) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if t.models.is_empty() {
        writeln!(out, "{}\tfeatures\t{}", t.name, t.output_dir.display())?;
    }
    for m in &t.models {
        let ptm = m
            .ptm
            .map(|p| format!("{p:.4}"))
            .unwrap_or_else(|| "-".into());
        let what = if m.skipped { "up to date" } else { "written" };
        let iptm = m.iptm.map(|p| format!("\tiptm {p:.4}")).unwrap_or_default();
        writeln!(
            out,
            "{}\t{}\t{}\tmean_plddt {:.2}\tptm {ptm}{iptm}\t{what}",
            t.name,
            m.name,
            t.output_dir.display(),
            m.mean_plddt
        )?;
    }
    out.flush()
}

pub(crate) fn predict(args: PredictArgs) -> anyhow::Result<()> {
    let input = args
        .features
        .clone()
        .or_else(|| args.processed_features.clone())
        .unwrap_or_default();
    let complex = ferrofold::io::features_h5::multimer::is_multimer(&input);
    let models = model_list(&args.model, complex, false)?;
    let output = args.output.unwrap_or_else(|| {
        input
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."))
    });
    let opts = predict_stage::PredictOptions {
        features: input,
        processed_features: args.processed_features,
        output_dir: output.clone(),
        overwrite: args.overwrite,
        ..predict_options(&args.model, models)
    };
    let reports = predict_stage::run(&opts)?;
    let mut out = std::io::stdout().lock();
    for r in reports {
        let ptm = r
            .ptm
            .map(|p| format!("{p:.4}"))
            .unwrap_or_else(|| "-".into());
        let what = if r.skipped { "up to date" } else { "written" };
        let iptm = r.iptm.map(|p| format!("\tiptm {p:.4}")).unwrap_or_default();
        writeln!(
            out,
            "{}\t{}\tmean_plddt {:.2}\tptm {ptm}{iptm}\t{:.1} s\t{what}",
            r.name,
            output.display(),
            r.mean_plddt,
            r.seconds
        )?;
    }
    Ok(())
}

pub(crate) fn db(cmd: DbCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        DbCommand::Download {
            name,
            data_dir,
            manifest,
        } => {
            let text = match &manifest {
                Some(p) => std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
                None => ferrofold::databases::MANIFEST.to_string(),
            };
            let (what, path) = match db_stage::download_database(&name, &data_dir, &text)? {
                db_stage::DbOutcome::Downloaded(p) => ("downloaded", p),
                db_stage::DbOutcome::Present(p) => ("present", p),
            };
            writeln!(out, "{name}\t{}\t{what}", path.display())?;
        }
        DbCommand::List => {
            for e in ferrofold::databases::parse_manifest(ferrofold::databases::MANIFEST)
                .map_err(anyhow::Error::msg)?
            {
                writeln!(out, "{}\t{}\t{}", e.name, e.archive, e.description)?;
            }
        }
        DbCommand::Search {
            query,
            db,
            output,
            evalue,
            max_hits,
        } => {
            let db_path = db.unwrap_or_else(ferrofold::databases::demo_database);
            let opts = ferrofold::search::SearchOptions {
                evalue,
                max_hits,
                ..Default::default()
            };
            let r = db_stage::search(&query, &db_path, &opts, &output)?;
            writeln!(
                out,
                "{}\t{} hits\t{} candidates of {} sequences\tload {:.2} s\tsearch {:.2} s",
                output.display(),
                r.hits,
                r.candidates,
                r.sequences,
                r.load_seconds,
                r.search_seconds
            )?;
        }
    }
    Ok(())
}

pub(crate) fn inspect(args: InspectArgs) -> anyhow::Result<()> {
    let i = inspect_stage::inspect(&args.file)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "file\t{}", i.path.display())?;
    writeln!(out, "tool\t{}", i.tool)?;
    writeln!(out, "residues\t{}", i.residues)?;
    for (id, entity, copy, len, _) in &i.chains {
        writeln!(
            out,
            "chain\t{id}\tentity {entity}\tcopy {copy}\t{len} residues"
        )?;
    }
    writeln!(out, "alignment rows\t{}", i.alignment_rows)?;
    writeln!(out, "templates\t{}", i.templates)?;
    for (k, (name, sum_probs, covered)) in i.template_hits.iter().enumerate() {
        let note = if k < 4 {
            "\tseen by template models"
        } else {
            ""
        };
        writeln!(
            out,
            "template\t{name}\tsum_probs {sum_probs}\t{covered} of {} residues{note}",
            i.residues
        )?;
    }
    writeln!(out, "sequence\t{}", i.sequence)?;
    writeln!(out, "command\t{}", i.command)?;
    writeln!(out, "databases\t{}", i.databases)?;
    for (name, shape, dtype) in i.datasets {
        writeln!(out, "dataset\t{name}\t{shape:?}\t{dtype}")?;
    }
    Ok(())
}

pub(crate) fn relax(args: RelaxArgs) -> anyhow::Result<()> {
    use ferrofold::pipeline::relax::relax_model;
    use ferrofold::relax::pipeline::RelaxOptions;
    anyhow::ensure!(
        args.stiffness >= 0.0 && args.stiffness.is_finite(),
        "--stiffness {}: must be a finite number ≥ 0",
        args.stiffness
    );
    anyhow::ensure!(
        args.tolerance > 0.0 && args.tolerance.is_finite(),
        "--tolerance {}: must be a finite number > 0",
        args.tolerance
    );
    let opts = RelaxOptions {
        stiffness: args.stiffness,
        tolerance: args.tolerance,
        max_outer_iterations: args.max_outer_iterations as usize,
        ..Default::default()
    };
    let mut names = std::collections::BTreeSet::new();
    let mut jobs = Vec::new();
    for m in &args.models {
        let file = m
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let lower = file.to_ascii_lowercase();
        let stem_len = [
            ".pdb.gz", ".cif.gz", ".ent.gz", ".pdb", ".cif", ".ent", ".mmcif",
        ]
        .iter()
        .find(|ext| lower.ends_with(*ext))
        .map_or(file.len(), |ext| file.len() - ext.len());
        let stem = &file[..stem_len];
        let name = stem.strip_prefix("unrelaxed_").unwrap_or(stem).to_string();
        anyhow::ensure!(
            !name.is_empty(),
            "{}: cannot name a relaxed model after this file",
            m.display()
        );
        anyhow::ensure!(
            names.insert(name.clone()),
            "{}: two models would both be written as relaxed_{name}.pdb",
            m.display()
        );
        // Every input is checked before the output folder is made: a typo leaves nothing behind.
        if let Err(e) = std::fs::metadata(m) {
            anyhow::bail!("{}: {e}", m.display());
        }
        jobs.push((m, name));
    }
    ferrofold::fsutil::tree::create_output_dir(&args.output)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.output.display()))?;
    // One process at a time writes a folder's relaxed models and relax_metrics.json (as predict does).
    let _lock = ferrofold::fsutil::tree::DirLock::acquire(&args.output, "relax")
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.output.display()))?;
    let mut out = std::io::stdout().lock();
    for (m, name) in jobs {
        let r = relax_model(m, &name, &args.output, &opts, args.overwrite)?;
        let g = |k: &str| {
            r.metrics
                .get(k)
                .and_then(|v| v.as_f64())
                .unwrap_or(f64::NAN)
        };
        writeln!(
            out,
            "{}\t{}energy {:.1} -> {:.1} kcal/mol\tRMSD {:.2} Å\tviolations {} -> {}",
            r.pdb.display(),
            if r.reused { "(up to date) " } else { "" },
            g("initial_energy"),
            g("final_energy"),
            g("rmsd"),
            g("violations_before_count"),
            g("remaining_violations_count"),
        )?;
    }
    Ok(())
}

pub(crate) fn score(args: ScoreArgs) -> anyhow::Result<()> {
    use ferrofold::score;
    let map = args
        .chain_map
        .as_deref()
        .map(score::parse_chain_map)
        .transpose()?;
    let mut out = std::io::stdout().lock();
    if !args.model.is_dir() {
        let r = score::score_files(
            &args.model,
            &args.reference,
            map.as_deref(),
            args.output.as_deref(),
            args.plot.as_deref(),
        )?;
        for c in &r.chains {
            writeln!(
                out,
                "chains {} -> {}: {} of {} reference residues paired by {}",
                c.model_chain, c.reference_chain, c.pairs, c.reference_residues, c.matched_by
            )?;
        }
        writeln!(out, "{}", score::TSV_HEADER)?;
        writeln!(out, "{}", r.tsv_row("-"))?;
        for s in &r.skipped {
            tracing::warn!("{s}");
        }
        return Ok(());
    }
    anyhow::ensure!(
        args.reference.is_dir(),
        "{}: a folder of models is scored against a folder of references named by id",
        args.reference.display()
    );
    let models = score::batch_models(&args.model)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.model.display()))?;
    anyhow::ensure!(
        !models.is_empty(),
        "{}: no models (<id>/ranked_0.pdb or <id>.pdb/.cif)",
        args.model.display()
    );
    let mut rows = vec![score::TSV_HEADER.to_string()];
    let (mut failed, mut missing) = (0usize, 0usize);
    for (id, model) in &models {
        let Some(reference) = score::find_reference(&args.reference, id) else {
            tracing::warn!(
                "{id}: no reference {}/{id}.{{pdb,cif,...}}; not scored",
                args.reference.display()
            );
            missing += 1;
            continue;
        };
        // Target folders (a run's output) keep their own report and picture.
        let folder = model
            .parent()
            .filter(|p| p.file_name().is_some_and(|n| n == id.as_str()));
        let json = folder.map(|f| f.join("score.json"));
        let png = folder.map(|f| f.join("score.png"));
        match score::score_files(
            model,
            &reference,
            map.as_deref(),
            json.as_deref(),
            png.as_deref(),
        ) {
            Ok(r) => rows.push(r.tsv_row(id)),
            Err(e) => {
                tracing::error!("{id}: {e}");
                failed += 1;
            }
        }
    }
    let text = rows.join("\n") + "\n";
    match &args.output {
        Some(p) => {
            std::fs::write(p, &text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            writeln!(
                out,
                "{}: {} scored, {missing} without a reference, {failed} failed",
                p.display(),
                rows.len() - 1
            )?;
        }
        None => out.write_all(text.as_bytes())?,
    }
    anyhow::ensure!(
        failed == 0 && rows.len() > 1,
        "{failed} target(s) could not be scored, {} scored",
        rows.len() - 1
    );
    Ok(())
}
