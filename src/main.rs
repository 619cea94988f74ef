//! The `ferrofold` command: a thin layer that parses arguments into stage options, calls the library,
//! prints the error chain on failure. Exit codes: 0 success, 1 runtime error, 2 usage error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ferrofold::features::builder::MsaLimits;
use ferrofold::pipeline::features::{self as features_stage, FeaturesOptions, MsaSource, Outcome};

#[derive(Parser)]
#[command(
    name = "ferrofold",
    version,
    about = "AlphaFold2-class protein structure prediction: features, predict, run",
    long_about = "ferrofold computes what AlphaFold2 computes, from AlphaFold2's own parameters, in native Rust.\n\
                  Stages can run one at a time (on different machines, in job arrays) or all together.",
    after_help = "Exit codes: 0 success, 1 runtime error, 2 usage error.\nLogs go to stderr; RUST_LOG overrides -v/--quiet."
)]
struct Cli {
    /// More log output (-v: debug, -vv: trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build MSAs and features.h5 for each FASTA record (precomputed alignments or single-sequence mode)
    Features(FeaturesArgs),
    /// Predict structures from features.h5 and model files: PDB/mmCIF, pLDDT, PAE, pTM, ranking
    Predict(PredictArgs),
    /// features then predict for every record of FASTA files or folders, job-array aware (Slurm)
    Run(RunArgs),
    /// Convert AlphaFold2 parameters (.npz) to ferrofold model files (.onnx), and back
    #[command(subcommand)]
    Params(ParamsCommand),
    /// Check a features.h5 file and print what it holds
    Inspect(InspectArgs),
    /// Sequence databases: search with the built-in aligner, download AlphaFold2's databases
    #[command(subcommand)]
    Db(DbCommand),
}

/// Where alignments come from (shared by `features` and `run`).
#[derive(Args)]
struct MsaArgs {
    /// A precomputed alignment (.a3m or .sto); repeat for several (one-record FASTA only)
    #[arg(long = "msa", value_name = "FILE", conflicts_with_all = ["msa_dir", "single_sequence"])]
    msas: Vec<PathBuf>,
    /// AlphaFold2 / OpenFold alignments directory: DIR/<record id>/*.{a3m,sto}, or DIR/*.{a3m,sto}
    #[arg(long, value_name = "DIR", conflicts_with = "single_sequence")]
    msa_dir: Option<PathBuf>,
    /// No alignment: the MSA is the query alone
    #[arg(long)]
    single_sequence: bool,
    /// Search this FASTA(.gz) database with the built-in search; repeat for several (default when no
    /// alignment is given: the demo database, databases/demo/uniprot20k.fasta.gz)
    #[arg(long = "db", value_name = "FILE", conflicts_with_all = ["msas", "msa_dir", "single_sequence"])]
    databases: Vec<PathBuf>,
    /// E-value cut-off of the built-in search
    #[arg(long, default_value_t = 1e-3)]
    evalue: f64,
    /// Maximum hits per database of the built-in search
    #[arg(long, default_value_t = 10_000)]
    max_hits: usize,
    /// Database preset: demo (built-in search of the shipped demo database); reduced_dbs (jackhmmer on
    /// uniref90, mgnify, small_bfd); full_dbs (jackhmmer on uniref90, mgnify; hhblits on bfd + uniref30),
    /// the databases below --data-dir as `ferrofold db download` lays them out
    #[arg(long, value_name = "PRESET", value_parser = ["demo", "reduced_dbs", "full_dbs", "colabfold"], conflicts_with_all = ["msas", "msa_dir", "single_sequence", "databases"])]
    db_preset: Option<String>,
    /// Directory holding the databases of --db-preset (as written by `ferrofold db download`)
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Search program for the databases: builtin, jackhmmer (HMMER), mmseqs (MMseqs2) or hhblits
    /// (HH-suite; --db is then a database prefix, several joined with ":")
    #[arg(long, default_value = "builtin", value_name = "TOOL")]
    tool: ferrofold::search::tools::SearchTool,
    /// Path of the search program (default: found on PATH)
    #[arg(long, value_name = "FILE")]
    tool_binary: Option<PathBuf>,
    /// Time limit of one search, seconds
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    tool_timeout: u64,
    /// Rows kept from uniref90 alignments (AlphaFold2: 10000)
    #[arg(long, default_value_t = MsaLimits::default().uniref_max_hits, value_name = "N")]
    uniref_max_hits: usize,
    /// Rows kept from MGnify alignments (AlphaFold2: 501)
    #[arg(long, default_value_t = MsaLimits::default().mgnify_max_hits, value_name = "N")]
    mgnify_max_hits: usize,
}

#[derive(Args)]
#[command(after_help = "Examples:\n  \
    ferrofold features target.fasta --msa uniref90_hits.sto --msa bfd_uniclust_hits.a3m -o out/\n  \
    ferrofold features targets.fasta --msa-dir alignments/ -o out/\n  \
    ferrofold features target.fasta --single-sequence -o out/\n\n\
Alignments are recognised by AlphaFold2's file names (uniref90_hits.sto, bfd_uniref_hits.a3m,\n\
bfd_uniclust_hits.a3m, small_bfd_hits.sto, mgnify_hits.sto) and merged in AlphaFold2's order\n\
uniref90 -> BFD -> MGnify, then any other .a3m/.sto in the order given, de-duplicated.")]
struct FeaturesArgs {
    /// FASTA file; each record is one target, written to <OUTPUT>/<record id>/
    fasta: PathBuf,
    #[command(flatten)]
    msa: MsaArgs,
    /// Output directory
    #[arg(short, long, value_name = "DIR")]
    output: PathBuf,
    /// Refuse queries longer than this many residues
    #[arg(long, value_name = "N", default_value_t = ferrofold::pipeline::features::DEFAULT_FEATURES_MAX_LENGTH)]
    max_length: usize,
    /// Recompute even if features.h5 is up to date
    #[arg(long)]
    overwrite: bool,
}

#[derive(Subcommand)]
enum ParamsCommand {
    /// DeepMind's params_model_*.npz -> ferrofold model file (ONNX)
    #[command(
        after_help = "Example:\n  ferrofold params convert params/params_model_1_ptm.npz -o models/model_1_ptm.onnx"
    )]
    Convert {
        /// params_model_<n>[_ptm].npz as published by DeepMind
        npz: PathBuf,
        /// Output model file (.onnx)
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Model name (default: from the file name, e.g. model_1_ptm); AlphaFold2's names select its preset
        #[arg(long)]
        name: Option<String>,
        /// Structure-module layers, for non-preset (test) models (AlphaFold2: 8)
        #[arg(long, value_name = "N")]
        structure_layers: Option<usize>,
        /// Recycling iterations after the first, for non-preset models (AlphaFold2: 3)
        #[arg(long, value_name = "N")]
        num_recycle: Option<usize>,
    },
    /// ferrofold model file -> DeepMind's .npz layout (lossless)
    Export {
        /// Model file (.onnx)
        model: PathBuf,
        /// Output .npz
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Write the small demo model with random weights (made from a fixed seed; not meaningful structures)
    Demo {
        /// Output model file
        #[arg(
            short,
            long,
            value_name = "FILE",
            default_value = "models/ferrofold_demo.onnx"
        )]
        output: PathBuf,
    },
    /// Check a model file against its configuration and print a summary
    Info {
        /// Model file (.onnx)
        model: PathBuf,
        /// Also estimate the peak memory and the work (GFLOP per iteration) of a query this long
        #[arg(long, value_name = "N")]
        len: Option<usize>,
        /// MSA rows of that query (before sampling into clusters and extra rows)
        #[arg(long, value_name = "ROWS", default_value_t = 1, requires = "len")]
        depth: usize,
        /// Recycles, for the estimate (default: the model's)
        #[arg(long, value_name = "N", requires = "len")]
        num_recycle: Option<usize>,
    },
    /// Download DeepMind's parameter archive (resumable) and convert every monomer model
    #[command(
        after_help = "Writes <DATA_DIR>/params/ (the archive and its .npz files) and <DATA_DIR>/models/<name>.onnx.\nThe parameters are DeepMind's, under CC BY 4.0."
    )]
    Fetch {
        /// Directory for params/ and models/
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// Archive URL
        #[arg(long, default_value = ferrofold::pipeline::params::ALPHAFOLD_PARAMS_URL)]
        url: String,
        /// Expected SHA-256 of the archive (checked after download)
        #[arg(long, value_name = "HEX")]
        sha256: Option<String>,
        /// Expected size of the archive in bytes
        #[arg(long, value_name = "BYTES")]
        size: Option<u64>,
    },
}

#[derive(Args)]
#[command(after_help = "Examples:\n  \
    ferrofold run targets.fasta --models-dir models/ -o out/\n  \
    ferrofold run fastas/ --db-preset reduced_dbs --data-dir /data/af2 --models-dir models/ -o out/ --array-index 3 --array-size 10\n\n\
In a Slurm job array the task is read from SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_MIN / SLURM_ARRAY_TASK_COUNT.\n\
Task i of n takes the targets at positions p with p mod n == i (input order). Finished work is skipped.")]
struct RunArgs {
    /// FASTA files or folders of them (*.fasta, *.fa, *.faa); every record is one target
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output directory: one folder per target, named after its (sanitised) record id
    #[arg(short, long, value_name = "DIR")]
    output: PathBuf,
    #[command(flatten)]
    msa: MsaArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// This task's index in a job array (0-based; default: from Slurm, else 0)
    #[arg(long, value_name = "N", requires = "array_size")]
    array_index: Option<usize>,
    /// Number of tasks in the job array
    #[arg(long, value_name = "N", requires = "array_index")]
    array_size: Option<usize>,
    /// Recompute features and predictions even if they are up to date
    #[arg(long)]
    overwrite: bool,
    /// Run only one stage per target: `features` (CPU nodes) or `predict` (from the features.h5 a
    /// features run wrote under -o); default both
    #[arg(long, value_enum, default_value_t = StageArg::All)]
    stage: StageArg,
    /// Print the targets (position, array task, folder, record id, file) and exit; sizes job arrays
    #[arg(long)]
    list: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum StageArg {
    All,
    Features,
    Predict,
}

/// Which models and how to run them (shared by `predict` and `run`).
#[derive(Args)]
struct ModelArgs {
    /// Use ferrofold's small demo model (random weights; made in models/ on first use): shows the pipeline,
    /// its structures mean nothing
    #[arg(long, conflicts_with_all = ["models", "models_dir"])]
    demo_model: bool,
    /// A model file (.onnx); repeat for several
    #[arg(long = "model", value_name = "FILE")]
    models: Vec<PathBuf>,
    /// Use every .onnx model file in DIR
    #[arg(long, value_name = "DIR")]
    models_dir: Option<PathBuf>,
    /// Seed of the MSA sampling and masking
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Recycling iterations after the first (default: the model's, 3 for AlphaFold2)
    #[arg(long, value_name = "N")]
    num_recycle: Option<usize>,
    /// Stop recycling when Ca-Ca distances change less than this (Angstrom); off by default
    #[arg(long, value_name = "ANGSTROM")]
    early_stop_tolerance: Option<f32>,
    /// No randomness in the input pipeline (first rows as clusters, no masking)
    #[arg(long)]
    deterministic: bool,
    /// Worker threads (default: all cores)
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Peak memory a prediction may use (e.g. 16G, 512M; default: the memory available now). The
    /// estimated peak is checked before any work: over budget, chunks shrink; if that cannot fit, the
    /// model is refused with the numbers
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory_budget: Option<usize>,
    /// Largest chunk of temporaries of one operation (transitions, triangle-multiplication projections)
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "1G")]
    chunk_budget: usize,
    /// Refuse queries longer than this many residues (memory grows with the square of the length)
    #[arg(long, value_name = "N", default_value_t = ferrofold::pipeline::predict::DEFAULT_PREDICT_MAX_LENGTH)]
    max_length: usize,
    /// Refuse models without a PAE head (every model must give PAE and pTM)
    #[arg(long)]
    require_pae: bool,
    /// Do not draw plddt.png, pae.png and coverage.png
    #[arg(long)]
    no_plots: bool,
}

#[derive(Args)]
#[command(after_help = "Examples:\n  \
    ferrofold predict out/T1/features.h5 --model models/model_1_ptm.onnx --model models/model_2_ptm.onnx\n  \
    ferrofold predict out/T1/features.h5 --models-dir models/ --num-recycle 1 --threads 8\n\n\
Writes, per model: result_<model>.h5, unrelaxed_<model>.pdb/.cif (pLDDT as B-factor), confidence_<model>.json,\n\
pae_<model>.json (ptm models); then ranked_<k>.pdb/.cif, ranking_debug.json, timings.json and the plots\n\
plddt.png (every model), pae.png (top-ranked model) and coverage.png (the MSA).")]
struct PredictArgs {
    /// features.h5 written by `ferrofold features`
    features: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
    /// Output directory (default: the features file's directory)
    #[arg(short, long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// Recompute even if results are up to date
    #[arg(long)]
    overwrite: bool,
}

#[global_allocator]
static ALLOCATOR: ferrofold::model::plan::memory::LargePageHint =
    ferrofold::model::plan::memory::LargePageHint;

fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (num, mult) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1usize << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        Some('T') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (e.g. 2G, 512M, 1000000)"))?;
    if v <= 0.0 {
        return Err(format!("'{s}' must be positive"));
    }
    Ok((v * mult as f64) as usize)
}

#[derive(Subcommand)]
enum DbCommand {
    /// Download one of AlphaFold2's databases (resumable; checksums where published) into DATA_DIR/NAME/
    Download {
        /// Database name (see `ferrofold db list`)
        name: String,
        /// Directory holding the databases
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// Manifest to use instead of the shipped databases/manifest.tsv
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
    },
    /// List the databases of the manifest
    List,
    /// Search a FASTA query against a FASTA(.gz) database with the built-in Smith-Waterman search; write A3M
    Search {
        /// Query FASTA (one record)
        query: PathBuf,
        /// Database FASTA or FASTA.gz (default: the demo database)
        #[arg(long, value_name = "FILE")]
        db: Option<PathBuf>,
        /// Output A3M
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// E-value cut-off
        #[arg(long, default_value_t = 1e-3)]
        evalue: f64,
        /// Maximum hits
        #[arg(long, default_value_t = 10_000)]
        max_hits: usize,
    },
}

#[derive(Args)]
struct InspectArgs {
    /// features.h5 file
    file: PathBuf,
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("ferrofold={level}")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .init();
}

fn msa_source(args: MsaArgs) -> anyhow::Result<(MsaSource, MsaLimits)> {
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
    let msas = if args.single_sequence {
        MsaSource::SingleSequence
    } else if let Some(dir) = args.msa_dir {
        MsaSource::Dir(dir)
    } else if !args.msas.is_empty() {
        MsaSource::Files(args.msas)
    } else {
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
        }
    };
    Ok((msas, limits))
}

fn features(args: FeaturesArgs) -> anyhow::Result<()> {
    let (msas, limits) = msa_source(args.msa)?;
    let opts = FeaturesOptions {
        fasta: args.fasta,
        msas,
        output_dir: args.output,
        limits,
        overwrite: args.overwrite,
        command_line: std::env::args().collect::<Vec<_>>().join(" "),
        max_length: args.max_length,
    };
    let reports = features_stage::run(&opts)?;
    let mut out = std::io::stdout().lock();
    for r in reports {
        let what = match r.outcome {
            Outcome::Written => "written",
            Outcome::UpToDate => "up to date",
        };
        writeln!(
            out,
            "{}\t{}\t{} residues\t{} alignment rows\t{what}",
            r.target,
            r.features_path.display(),
            r.num_res,
            r.num_alignments
        )?;
    }
    Ok(())
}

fn params(cmd: ParamsCommand) -> anyhow::Result<()> {
    use ferrofold::pipeline::params;
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
        ParamsCommand::Demo { output } => {
            let written = params::ensure_demo_model(&output)?;
            warn_demo();
            writeln!(
                out,
                "{}\t{}\t{}",
                params::DEMO_MODEL_NAME,
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
            let m = params::load(&model)?;
            let n: usize = m.weights.tensors.values().map(|t| t.len()).sum();
            writeln!(out, "name\t{}", m.name)?;
            writeln!(out, "tensors\t{}", m.weights.tensors.len())?;
            writeln!(out, "parameters\t{n}")?;
            writeln!(out, "source_sha256\t{}", m.source_sha256)?;
            writeln!(out, "license\t{}", m.license)?;
            writeln!(out, "config\t{}", serde_json::to_string(&m.config)?)?;
            if let Some(len) = len {
                use ferrofold::model::plan::{flops, memory};
                let sizes = memory::Sizes {
                    num_res: len,
                    num_alignments: depth,
                    iterations: num_recycle.unwrap_or(m.config.num_recycle) + 1,
                    threads: 0,
                };
                let (clusters, extra) = sizes.msa_rows(&m.config);
                let weights: u64 = m.weights.tensors.values().map(|t| t.len() as u64 * 4).sum();
                let est = memory::estimate(&m.config, sizes, weights, 1 << 30);
                let f = flops::per_iteration(&m.config, len, clusters, extra);
                writeln!(out, "msa_rows\t{clusters} clusters + {extra} extra")?;
                writeln!(out, "peak_memory_bytes\t{}", est.total)?;
                writeln!(out, "peak_memory\t{}", est.describe())?;
                writeln!(
                    out,
                    "gflop_per_iteration\t{:.1} (extra-MSA stack {:.1}, Evoformer {:.1}, structure module {:.1})",
                    f.total() / 1e9,
                    f.extra_msa_stack / 1e9,
                    f.evoformer / 1e9,
                    f.structure_module / 1e9
                )?;
                writeln!(out, "iterations\t{}", sizes.iterations)?;
            }
        }
        ParamsCommand::Fetch {
            data_dir,
            url,
            sha256,
            size,
        } => {
            let expect = ferrofold::io::download::Expect { size, sha256 };
            for m in params::fetch(&data_dir, &url, &expect)? {
                let what = if m.converted { "converted" } else { "present" };
                writeln!(out, "{}\t{}\t{what}", m.name, m.model_path.display())?;
            }
        }
    }
    Ok(())
}

fn warn_demo() {
    eprintln!(
        "warning: the ferrofold demo model has RANDOM weights: its structures and confidences are not meaningful.\n\
         For real predictions get DeepMind's parameters: ferrofold params fetch --data-dir DIR, then --models-dir DIR/models"
    );
}

fn model_list(args: &ModelArgs) -> anyhow::Result<Vec<PathBuf>> {
    if args.demo_model {
        let path = std::env::var_os("FERROFOLD_MODELS")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("models"))
            .join("ferrofold_demo.onnx");
        ferrofold::pipeline::params::ensure_demo_model(&path)?;
        warn_demo();
        return Ok(vec![path]);
    }
    let mut models = args.models.clone();
    if let Some(dir) = &args.models_dir {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "onnx"))
            .collect();
        found.sort();
        if found.is_empty() {
            return Err(anyhow::anyhow!("{}: no .onnx model files", dir.display()));
        }
        models.extend(found);
    }
    if models.is_empty() {
        return Err(UsageError(
            "no model given: pass --model FILE or --models-dir DIR (see `ferrofold params`)".into(),
        )
        .into());
    }
    Ok(models)
}

/// Predict settings from the arguments (features path and output folder filled in by the caller).
fn predict_options(
    args: &ModelArgs,
    models: Vec<PathBuf>,
) -> ferrofold::pipeline::predict::PredictOptions {
    ferrofold::pipeline::predict::PredictOptions {
        features: PathBuf::new(),
        models,
        output_dir: PathBuf::new(),
        seed: args.seed,
        num_recycle: args.num_recycle,
        random: !args.deterministic,
        runtime: ferrofold::model::params::config::RuntimeOptions {
            threads: args.threads,
            chunk_budget: args.chunk_budget,
            on_block: None,
        },
        early_stop_tolerance: args.early_stop_tolerance,
        require_pae: args.require_pae,
        overwrite: false,
        max_length: args.max_length,
        plots: !args.no_plots,
        memory_budget: args.memory_budget.map(|b| b as u64),
    }
}

fn run_batch(args: RunArgs) -> anyhow::Result<()> {
    use ferrofold::pipeline::run::Stages;
    use ferrofold::pipeline::run::{run, RunOptions};
    if args.list {
        let targets = ferrofold::pipeline::run::collect_targets(&args.inputs)?;
        let (index, size) =
            ferrofold::pipeline::run::array_task(args.array_index.zip(args.array_size))?;
        let mut out = std::io::stdout().lock();
        for (p, t) in targets.iter().enumerate() {
            if p % size == index {
                writeln!(
                    out,
                    "{p}\t{}\t{}\t{}\t{}",
                    p % size,
                    t.name,
                    t.original_id,
                    t.source.display()
                )?;
            }
        }
        return Ok(());
    }
    let stages = match args.stage {
        StageArg::All => Stages::All,
        StageArg::Features => Stages::Features,
        StageArg::Predict => Stages::Predict,
    };
    let (msas, limits) = msa_source(args.msa)?;
    // The features stage needs no model.
    let models = if stages == Stages::Features {
        Vec::new()
    } else {
        model_list(&args.model)?
    };
    let opts = RunOptions {
        inputs: args.inputs,
        output_dir: args.output,
        msas,
        limits,
        predict: predict_options(&args.model, models.clone()),
        models,
        array: args.array_index.zip(args.array_size),
        overwrite: args.overwrite,
        command_line: std::env::args().collect::<Vec<_>>().join(" "),
        stages,
    };
    let results = run(&opts)?;
    let mut out = std::io::stdout().lock();
    for t in results {
        if t.models.is_empty() {
            writeln!(out, "{}\tfeatures\t{}", t.name, t.output_dir.display())?;
        }
        for m in t.models {
            let ptm = m
                .ptm
                .map(|p| format!("{p:.4}"))
                .unwrap_or_else(|| "-".into());
            let what = if m.skipped { "up to date" } else { "written" };
            writeln!(
                out,
                "{}\t{}\t{}\tmean_plddt {:.2}\tptm {ptm}\t{what}",
                t.name,
                m.name,
                t.output_dir.display(),
                m.mean_plddt
            )?;
        }
    }
    Ok(())
}

fn predict(args: PredictArgs) -> anyhow::Result<()> {
    use ferrofold::pipeline::predict::{run, PredictOptions};
    let models = model_list(&args.model)?;
    let output = args.output.unwrap_or_else(|| {
        args.features
            .parent()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."))
    });
    let opts = PredictOptions {
        features: args.features,
        output_dir: output.clone(),
        overwrite: args.overwrite,
        ..predict_options(&args.model, models)
    };
    let reports = run(&opts)?;
    let mut out = std::io::stdout().lock();
    for r in reports {
        let ptm = r
            .ptm
            .map(|p| format!("{p:.4}"))
            .unwrap_or_else(|| "-".into());
        let what = if r.skipped { "up to date" } else { "written" };
        writeln!(
            out,
            "{}\t{}\tmean_plddt {:.2}\tptm {ptm}\t{:.1} s\t{what}",
            r.name,
            output.display(),
            r.mean_plddt,
            r.seconds
        )?;
    }
    Ok(())
}

fn db(cmd: DbCommand) -> anyhow::Result<()> {
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
            let outcome = ferrofold::pipeline::db::download_database(&name, &data_dir, &text)
                .map_err(anyhow::Error::msg)?;
            let (what, path) = match outcome {
                ferrofold::pipeline::db::DbOutcome::Downloaded(p) => ("downloaded", p),
                ferrofold::pipeline::db::DbOutcome::Present(p) => ("present", p),
            };
            writeln!(
                std::io::stdout().lock(),
                "{name}\t{}\t{what}",
                path.display()
            )?;
        }
        DbCommand::List => {
            let mut out = std::io::stdout().lock();
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
            let q = ferrofold::Query::from_fasta_path(&query)?;
            let db_path = db.unwrap_or_else(ferrofold::databases::demo_database);
            let t = std::time::Instant::now();
            let database = ferrofold::search::db::SequenceDb::load(&db_path)?;
            let load_s = t.elapsed().as_secs_f64();
            let opts = ferrofold::search::SearchOptions {
                evalue,
                max_hits,
                ..Default::default()
            };
            let t = std::time::Instant::now();
            let (hits, stats) = ferrofold::search::search(&q.sequence, &database, &opts);
            let search_s = t.elapsed().as_secs_f64();
            let a3m = ferrofold::search::hits_to_a3m(&q.id, &q.sequence, &hits, &database);
            ferrofold::io::atomic::write_with(&output, |w| a3m.write(w))?;
            writeln!(
                std::io::stdout().lock(),
                "{}\t{} hits\t{} candidates of {} sequences\tload {load_s:.2} s\tsearch {search_s:.2} s",
                output.display(),
                stats.hits,
                stats.candidates,
                stats.sequences
            )?;
        }
    }
    Ok(())
}

fn inspect(args: InspectArgs) -> anyhow::Result<()> {
    let (f, prov) = ferrofold::io::features_h5::read(&args.file)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "file\t{}", args.file.display())?;
    writeln!(out, "tool\t{}", prov.tool)?;
    writeln!(out, "residues\t{}", f.num_res())?;
    writeln!(out, "alignment rows\t{}", f.num_alignments())?;
    writeln!(out, "templates\t{}", f.templates.count())?;
    writeln!(out, "sequence\t{}", f.sequence.sequence)?;
    writeln!(out, "command\t{}", prov.command)?;
    writeln!(out, "databases\t{}", prov.databases)?;
    for (name, shape, dtype) in ferrofold::io::features_h5::dataset_shapes(&args.file)? {
        writeln!(out, "dataset\t{name}\t{shape:?}\t{dtype}")?;
    }
    Ok(())
}

/// A usage problem found after parsing (exit code 2).
#[derive(Debug)]
struct UsageError(String);
impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for UsageError {}

fn main() -> ExitCode {
    // Past a file-size limit (`ulimit -f`) a write should fail with EFBIG and be reported like a full
    // disk, not kill the process with SIGXFSZ and leave temporaries behind.
    // SAFETY: setting a signal's disposition to SIG_IGN before any thread starts.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    ferrofold::model::plan::memory::return_large_allocations_to_the_system();
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    let result = match cli.command {
        Command::Features(a) => features(a),
        Command::Predict(a) => predict(a),
        Command::Run(a) => run_batch(a),
        Command::Params(c) => params(c),
        Command::Inspect(a) => inspect(a),
        Command::Db(c) => db(c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS // output piped into `head` & co.: not an error
        }
        Err(e) => {
            let usage = e.downcast_ref::<UsageError>().is_some()
                || matches!(
                    e.downcast_ref::<features_stage::FeaturesStageError>(),
                    Some(features_stage::FeaturesStageError::Usage(_))
                );
            // One line: the error and its causes.
            // One line: the error, then any cause whose text it does not already include.
            let mut line = e.to_string();
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                if !line.contains(&c) {
                    line = format!("{line}: {c}");
                }
            }
            eprintln!("error: {}", line.replace('\n', " "));
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}
