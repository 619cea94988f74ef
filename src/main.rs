//! The `ferrofold` command: a thin layer that parses arguments into stage options, calls the library,
//! prints the error chain on failure. Exit codes: 0 success, 1 runtime error, 2 usage error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
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
    /// Predict structures from features.h5 and model files [not built yet]
    Predict(NotBuilt),
    /// Run features + predict for many targets, job-array aware [not built yet]
    Run(NotBuilt),
    /// Convert or fetch AlphaFold2 parameters into ferrofold model files [not built yet]
    Params(NotBuilt),
    /// Check a features.h5 file and print what it holds
    Inspect(InspectArgs),
}

#[derive(Args)]
struct NotBuilt {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    args: Vec<String>,
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
    /// A precomputed alignment (.a3m or .sto); repeat for several (one-record FASTA only)
    #[arg(long = "msa", value_name = "FILE", conflicts_with_all = ["msa_dir", "single_sequence"])]
    msas: Vec<PathBuf>,
    /// AlphaFold2 / OpenFold alignments directory: DIR/<record id>/*.{a3m,sto}, or DIR/*.{a3m,sto}
    #[arg(long, value_name = "DIR", conflicts_with = "single_sequence")]
    msa_dir: Option<PathBuf>,
    /// No alignment: the MSA is the query alone
    #[arg(long)]
    single_sequence: bool,
    /// Output directory
    #[arg(short, long, value_name = "DIR")]
    output: PathBuf,
    /// Rows kept from uniref90 alignments (AlphaFold2: 10000)
    #[arg(long, default_value_t = MsaLimits::default().uniref_max_hits, value_name = "N")]
    uniref_max_hits: usize,
    /// Rows kept from MGnify alignments (AlphaFold2: 501)
    #[arg(long, default_value_t = MsaLimits::default().mgnify_max_hits, value_name = "N")]
    mgnify_max_hits: usize,
    /// Recompute even if features.h5 is up to date
    #[arg(long)]
    overwrite: bool,
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

fn features(args: FeaturesArgs) -> anyhow::Result<()> {
    let msas = if args.single_sequence {
        MsaSource::SingleSequence
    } else if let Some(dir) = args.msa_dir {
        MsaSource::Dir(dir)
    } else if !args.msas.is_empty() {
        MsaSource::Files(args.msas)
    } else {
        return Err(UsageError(
            "no alignments given: pass --msa FILE, --msa-dir DIR or --single-sequence \
             (searching databases is not built yet)"
                .into(),
        )
        .into());
    };
    let opts = FeaturesOptions {
        fasta: args.fasta,
        msas,
        output_dir: args.output,
        limits: MsaLimits {
            uniref_max_hits: args.uniref_max_hits,
            mgnify_max_hits: args.mgnify_max_hits,
        },
        overwrite: args.overwrite,
        command_line: std::env::args().collect::<Vec<_>>().join(" "),
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

fn not_built(stage: &str, issue: &str) -> anyhow::Result<()> {
    Err(UsageError(format!(
        "'ferrofold {stage}' is not built yet ({issue}); see the README's status table"
    ))
    .into())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    let result = match cli.command {
        Command::Features(a) => features(a),
        Command::Predict(_) => not_built("predict", "model engine"),
        Command::Run(_) => not_built("run", "batch pipeline"),
        Command::Params(_) => not_built("params", "ONNX model files"),
        Command::Inspect(a) => inspect(a),
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
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("error: {}", chain.join(": "));
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}
