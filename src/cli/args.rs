//! The command line: every subcommand's arguments (clap derive). Turning them into the library's
//! options happens in [`super::options`]; running a subcommand in [`super::commands`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ferrofold::features::builder::MsaLimits;

#[derive(Parser)]
#[command(
    name = "ferrofold",
    version,
    about = "AlphaFold2-class protein structure prediction: features, predict, run",
    long_about = "ferrofold computes what AlphaFold2 computes, from AlphaFold2's own parameters, in native Rust.\n\
                  Stages can run one at a time (on different machines, in job arrays) or all together.",
    after_help = "Exit codes: 0 success, 1 runtime error, 2 usage error.\nLogs go to stderr; RUST_LOG overrides -v/--quiet."
)]
pub(crate) struct Cli {
    /// More log output (-v: debug, -vv: trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Build MSAs and features.h5 for each FASTA record (database search, by default of the demo database;
    /// precomputed alignments; or single-sequence mode)
    Features(Box<FeaturesArgs>),
    /// Predict structures from features.h5 and model files: PDB/mmCIF, pLDDT, PAE, pTM, ranking
    Predict(PredictArgs),
    /// features then predict for every record of FASTA files or folders, job-array aware (Slurm)
    Run(Box<RunArgs>),
    /// Convert AlphaFold2 parameters (.npz) to ferrofold model files (.onnx), and back
    #[command(subcommand)]
    Params(ParamsCommand),
    /// Check a features.h5 file and print what it holds
    Inspect(InspectArgs),
    /// Score a model against a reference structure: TM-score, GDT-TS/HA, Cα RMSD, lDDT (Cα, all-atom),
    /// per-residue lDDT beside pLDDT
    #[command(after_help = "Examples:
  ferrofold score out/T1/ranked_0.pdb 1abc.cif -o out/T1/score.json
  ferrofold score out/ references/ -o scores.tsv      # batch: out/<id>/ranked_0.pdb vs references/<id>.{pdb,cif}

Residues pair by chain (in order, or --chain-map MODEL:REFERENCE,...) and then by residue number, or by a
sequence alignment when the sequences differ (the report says which). TM-score and GDT are normalised by
the reference's residue count; residues the reference lacks are not scored.")]
    Score(ScoreArgs),
    /// Sequence databases: search with the built-in aligner, download AlphaFold2's databases
    #[command(subcommand)]
    Db(DbCommand),
    /// Relax models with Amber ff99SB as AlphaFold2 does: hydrogens added, restrained minimisation,
    /// violation-driven release of restraints; no OpenMM or GPU needed
    #[command(after_help = "Examples:
  ferrofold relax out/T1/unrelaxed_model_1_ptm_pred_0.pdb -o out/T1/
  ferrofold relax model.pdb other.cif -o relaxed/

Writes relaxed_<name>.pdb (all atoms with hydrogens, B-factors kept), relaxed_<name>.cif (heavy atoms) and
relax_metrics.json (energies in kcal/mol, RMSD in Å, remaining violations per residue); <name> is the file
name without its extension and an 'unrelaxed_' prefix. A model relaxed earlier from the same file with the
same settings is reused.")]
    Relax(RelaxArgs),
}

#[derive(Args)]
pub(crate) struct RelaxArgs {
    /// Model files (PDB or mmCIF): every chain, standard amino acids with all heavy atoms
    #[arg(required = true)]
    pub(crate) models: Vec<PathBuf>,
    /// Output directory
    #[arg(short, long, value_name = "DIR")]
    pub(crate) output: PathBuf,
    /// Restraint stiffness on heavy atoms, kcal/mol/Å²
    #[arg(long, default_value_t = 10.0)]
    pub(crate) stiffness: f64,
    /// Convergence: RMS force in kcal/mol/nm (AlphaFold2's 2.39, as OpenMM 8 reads it)
    #[arg(long, default_value_t = 2.39)]
    pub(crate) tolerance: f64,
    /// Outer iterations at most (each releases residues with violations from the restraints)
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_outer_iterations: u64,
    /// Recompute even if a relaxed model is up to date
    #[arg(long)]
    pub(crate) overwrite: bool,
}

/// Where alignments come from (shared by `features` and `run`).
#[derive(Args)]
pub(crate) struct MsaArgs {
    /// A precomputed alignment (.a3m or .sto); repeat for several (one-record FASTA only)
    #[arg(long = "msa", value_name = "FILE", conflicts_with_all = ["msa_dir", "single_sequence"])]
    pub(crate) msas: Vec<PathBuf>,
    /// AlphaFold2 / OpenFold alignments directory: DIR/<record id>/*.{a3m,sto}, or DIR/*.{a3m,sto}
    #[arg(long, value_name = "DIR", conflicts_with = "single_sequence")]
    pub(crate) msa_dir: Option<PathBuf>,
    /// No alignment: the MSA is the query alone
    #[arg(long)]
    pub(crate) single_sequence: bool,
    /// Search this FASTA(.gz) database with the built-in search; repeat for several (default when no
    /// alignment is given: the demo database, databases/demo/uniprot20k.fasta.gz)
    #[arg(long = "db", value_name = "FILE", conflicts_with_all = ["msas", "msa_dir", "single_sequence"])]
    pub(crate) databases: Vec<PathBuf>,
    /// E-value cut-off of the built-in search
    #[arg(long, default_value_t = 1e-3)]
    pub(crate) evalue: f64,
    /// Maximum hits per database of the built-in search
    #[arg(long, default_value_t = 10_000)]
    pub(crate) max_hits: usize,
    /// Database preset: demo (built-in search of the shipped demo database); reduced_dbs (jackhmmer on
    /// uniref90, mgnify, small_bfd); full_dbs (jackhmmer on uniref90, mgnify; hhblits on bfd + uniref30),
    /// the databases below --data-dir as `ferrofold db download` lays them out; colabfold (ColabFold's
    /// MMseqs2 protocol on uniref30_2302_db + colabfold_envdb_202108_db below --data-dir, as ColabFold's
    /// setup_databases.sh lays them out; all targets of a run searched in one batch)
    #[arg(long, value_name = "PRESET", value_parser = ["demo", "reduced_dbs", "full_dbs", "colabfold"], conflicts_with_all = ["msas", "msa_dir", "single_sequence", "databases", "tool"])]
    pub(crate) db_preset: Option<String>,
    /// Directory holding the databases of --db-preset (as written by `ferrofold db download`, or
    /// ColabFold's setup_databases.sh for colabfold)
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Get alignments from a ColabFold MSA server (its API: e.g. https://api.colabfold.com, ColabFold's
    /// public server; see the README for its terms). Results are kept in <OUTPUT>/.colabfold/, so
    /// reruns and job arrays never submit a sequence twice
    #[arg(long, value_name = "URL", conflicts_with_all = ["msas", "msa_dir", "single_sequence", "databases", "tool", "db_preset"], help_heading = "ColabFold")]
    pub(crate) msa_server: Option<String>,
    /// ColabFold's MSA mode: mmseqs2_uniref_env (UniRef30 + environmental databases, the default),
    /// mmseqs2_uniref (UniRef30 only) or single_sequence; for --db-preset colabfold and --msa-server
    #[arg(long, value_name = "MODE", value_parser = ["mmseqs2_uniref_env", "mmseqs2_uniref", "single_sequence"], help_heading = "ColabFold")]
    pub(crate) msa_mode: Option<String>,
    /// MMseqs2 sensitivity of --db-preset colabfold (colabfold_search's -s; default: the k-mer
    /// thresholds of ColabFold's server, about 8)
    #[arg(long, value_name = "S", help_heading = "ColabFold")]
    pub(crate) mmseqs_sensitivity: Option<f32>,
    /// First wait between status requests to the MSA server, seconds (then 1.5x longer each time, up
    /// to a minute)
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 5.0,
        requires = "msa_server",
        help_heading = "ColabFold"
    )]
    pub(crate) msa_server_poll: f64,
    /// For complexes of different chains: the UniProt database searched for each chain's pairing rows
    /// (uniprot_hits; AlphaFold2's uniprot.fasta). Default: the demo database when the demo database is
    /// searched, DATA_DIR/uniprot/uniprot.fasta with --db-preset reduced_dbs/full_dbs when it is there
    #[arg(long, value_name = "FILE", conflicts_with_all = ["msas", "msa_dir", "single_sequence"])]
    pub(crate) uniprot_db: Option<PathBuf>,
    /// Search program for the databases: builtin, jackhmmer (HMMER), mmseqs (MMseqs2) or hhblits
    /// (HH-suite; --db is then a database prefix, several joined with ":")
    #[arg(long, default_value = "builtin", value_name = "TOOL")]
    pub(crate) tool: ferrofold::search::tools::SearchTool,
    /// Path of the search program (default: found on PATH)
    #[arg(long, value_name = "FILE")]
    pub(crate) tool_binary: Option<PathBuf>,
    /// Time limit of one search, seconds
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    pub(crate) tool_timeout: u64,
    /// Rows kept from uniref90 alignments (AlphaFold2: 10000)
    #[arg(long, default_value_t = MsaLimits::default().uniref_max_hits, value_name = "N")]
    pub(crate) uniref_max_hits: usize,
    /// Rows kept from MGnify alignments (AlphaFold2: 501)
    #[arg(long, default_value_t = MsaLimits::default().mgnify_max_hits, value_name = "N")]
    pub(crate) mgnify_max_hits: usize,
    /// Use template hits (pdb70_hits.hhr in --msa-dir, or --template-hits) with their structures from
    /// this folder: <id>.cif[.gz], AlphaFold2's pdb_mmcif/mmcif_files layout, or wwPDB's divided layout
    #[arg(long, value_name = "DIR", help_heading = "Templates")]
    pub(crate) template_mmcif_dir: Option<PathBuf>,
    /// Use no template released after this date (YYYY-MM-DD; AlphaFold2's --max_template_date);
    /// default: no cutoff
    #[arg(
        long,
        value_name = "DATE",
        requires = "template_mmcif_dir",
        help_heading = "Templates"
    )]
    pub(crate) max_template_date: Option<String>,
    /// Template hits from hhsearch (.hhr) for a one-record FASTA with --msa files
    #[arg(
        long,
        value_name = "FILE",
        requires = "template_mmcif_dir",
        help_heading = "Templates"
    )]
    pub(crate) template_hits: Option<PathBuf>,
    /// PDB's obsolete.dat (withdrawn and replaced entries); default: obsolete.dat beside or above
    /// --template-mmcif-dir, when there
    #[arg(
        long,
        value_name = "FILE",
        requires = "template_mmcif_dir",
        help_heading = "Templates"
    )]
    pub(crate) obsolete_pdbs: Option<PathBuf>,
    /// kalign, to realign a hit whose sequence differs from its mmCIF file's (default: on PATH)
    #[arg(
        long,
        value_name = "FILE",
        requires = "template_mmcif_dir",
        help_heading = "Templates"
    )]
    pub(crate) kalign: Option<PathBuf>,
    /// Search template hits instead of reading them: a pdb70 database prefix (hhsearch; repeat for
    /// several) or a pdb_seqres.txt file (the built-in search)
    #[arg(
        long = "template-db",
        value_name = "PATH",
        requires = "template_mmcif_dir",
        help_heading = "Templates"
    )]
    pub(crate) template_dbs: Vec<PathBuf>,
    /// Template search program: hhsearch (HH-suite on pdb70, AlphaFold2's monomer default), hmmsearch
    /// (HMMER on pdb_seqres.txt, AlphaFold-Multimer's) or builtin; default: builtin for a file, hhsearch
    /// for a database prefix
    #[arg(long, value_name = "TOOL", value_parser = ["hhsearch", "hmmsearch", "builtin"], requires = "template_dbs", help_heading = "Templates")]
    pub(crate) template_tool: Option<String>,
}

#[derive(Args)]
#[command(after_help = "Examples:\n  \
    ferrofold features target.fasta --msa uniref90_hits.sto --msa bfd_uniclust_hits.a3m -o out/\n  \
    ferrofold features targets.fasta --msa-dir alignments/ -o out/\n  \
    ferrofold features target.fasta --single-sequence -o out/\n  \
    ferrofold features targets.fasta --db-preset colabfold --data-dir /data/colabfold -o out/   # ColabFold's MMseqs2 search, one batch\n  \
    ferrofold features targets.fasta --msa-server https://api.colabfold.com -o out/   # ColabFold's public MSA server (see README)\n  \
    ferrofold features dimer.fasta --msa-dir alignments/ -o out/   # a record SEQ1:SEQ2 is a complex: alignments/<id>_A/, <id>_B/\n  \
    ferrofold features chains.fasta --complex --msa-dir alignments/ -o out/   # one record per chain of one complex\n  \
    ferrofold features targets.fasta --msa-dir alignments/ --template-mmcif-dir pdb_mmcif/mmcif_files \\\n      \
    --max-template-date 2021-11-01 -o out/     # templates from alignments/<id>/pdb70_hits.hhr\n\n\
Alignments are recognised by AlphaFold2's file names (uniref90_hits.sto, bfd_uniref_hits.a3m,\n\
bfd_uniclust_hits.a3m, small_bfd_hits.sto, mgnify_hits.sto) and merged in AlphaFold2's order\n\
uniref90 -> BFD -> MGnify, then any other .a3m/.sto in the order given, de-duplicated.")]
pub(crate) struct FeaturesArgs {
    /// FASTA file (or a ColabFold .a3m, whose rows are then the MSA, or .csv with id,sequence
    /// columns); each record is one target, written to <OUTPUT>/<record id>/
    #[arg(required_unless_present = "from_pkl")]
    pub(crate) fasta: Option<PathBuf>,
    /// Convert AlphaFold2's features.pkl (run_alphafold.py's, ColabFold's) into <OUTPUT>/features.h5
    /// instead of building features; read as data only (a pickle naming anything but numpy's array
    /// types is refused)
    #[arg(long, value_name = "PKL", conflicts_with = "fasta")]
    pub(crate) from_pkl: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) msa: MsaArgs,
    /// Output directory
    #[arg(short, long, value_name = "DIR")]
    pub(crate) output: PathBuf,
    /// Refuse queries longer than this many residues
    #[arg(long, value_name = "N", default_value_t = ferrofold::pipeline::features::DEFAULT_FEATURES_MAX_LENGTH)]
    pub(crate) max_length: usize,
    /// Recompute even if features.h5 is up to date
    #[arg(long)]
    pub(crate) overwrite: bool,
    /// Every record of the FASTA file is one chain of a single complex, named after the file
    /// (AlphaFold2's multimer input); without it a record whose sequence separates chains with ':' is a
    /// complex (ColabFold's notation). Chains get ids A, B, ... in input order
    #[arg(long)]
    pub(crate) complex: bool,
}

#[derive(Subcommand)]
pub(crate) enum ParamsCommand {
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
        #[arg(long, value_name = "N", value_parser = parse_recycles)]
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
        /// Output model file [default: models/ferrofold_demo.onnx, models/ferrofold_demo_multimer.onnx
        /// with --multimer]
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// The demo AlphaFold-Multimer model (for complexes) instead
        #[arg(long)]
        multimer: bool,
    },
    /// Check a model file against its configuration and print a summary
    Info {
        /// Model file (.onnx)
        model: PathBuf,
        /// Also estimate the peak memory and the work (GFLOP per iteration) of a query this long (at
        /// most 1,000,000)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        len: Option<u64>,
        /// MSA rows of that query (before sampling into clusters and extra rows; at most 10^9)
        #[arg(long, value_name = "ROWS", default_value_t = 1, requires = "len",
              value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
        depth: u64,
        /// Recycles, for the estimate (default: the model's)
        #[arg(long, value_name = "N", requires = "len", value_parser = parse_recycles)]
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
In a Slurm job array the task is its rank among the array ids (SLURM_ARRAY_TASK_ID, _MIN, _MAX,\n_STEP, _COUNT: offset, stepped and throttled arrays work).\n\
Task i of n takes the targets at positions p with p mod n == i (input order). Finished work is skipped.")]
pub(crate) struct RunArgs {
    /// FASTA files, ColabFold inputs (.a3m: the query and its MSA; .csv: id,sequence rows) or folders
    /// of them (*.fasta, *.fa, *.faa, *.a3m, *.csv); every record is one target
    #[arg(required = true)]
    pub(crate) inputs: Vec<PathBuf>,
    /// Output directory: one folder per target, named after its (sanitised) record id
    #[arg(short, long, value_name = "DIR")]
    pub(crate) output: PathBuf,
    #[command(flatten)]
    pub(crate) msa: MsaArgs,
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// This task's index in a job array (0-based; default: from Slurm, else 0)
    #[arg(long, value_name = "N", requires = "array_size")]
    pub(crate) array_index: Option<usize>,
    /// Number of tasks in the job array
    #[arg(long, value_name = "N", requires = "array_index")]
    pub(crate) array_size: Option<usize>,
    /// Recompute features and predictions even if they are up to date
    #[arg(long)]
    pub(crate) overwrite: bool,
    /// Run only one stage per target: `features` (CPU nodes) or `predict` (from the features.h5 a
    /// features run wrote under -o); default both
    #[arg(long, value_enum, default_value_t = StageArg::All)]
    pub(crate) stage: StageArg,
    /// Print the targets (position, array task, folder, record id, file) and exit; sizes job arrays
    #[arg(long)]
    pub(crate) list: bool,
    /// Score each target's ranked_0.pdb against DIR/<target>.{pdb,cif,...} when that file exists
    /// (score.json, score.png and a log line in the target folder; see `ferrofold score`)
    #[arg(long, value_name = "DIR")]
    pub(crate) reference_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum StageArg {
    All,
    Features,
    Predict,
}

/// Which models and how to run them (shared by `predict` and `run`).
#[derive(Args)]
pub(crate) struct ModelArgs {
    /// File format of result_<prediction>.*: h5 (HDF5) or npz (numpy's format: numpy.load reads it,
    /// no HDF5 needed); the same array names either way
    #[arg(long, value_name = "FORMAT", default_value = "h5")]
    pub(crate) result_format: ferrofold::io::results_h5::ResultFormat,
    /// Use ferrofold's small demo model (random weights; made on first use in
    /// ~/.cache/ferrofold/models/, or $FERROFOLD_MODELS): shows the pipeline, its structures mean nothing
    #[arg(long, conflicts_with_all = ["models", "models_dir"])]
    pub(crate) demo_model: bool,
    /// A model file (.onnx); repeat for several
    #[arg(long = "model", value_name = "FILE")]
    pub(crate) models: Vec<PathBuf>,
    /// Use every .onnx model file in DIR (or, where there is none, DeepMind's params_model_*.npz)
    #[arg(long, value_name = "DIR")]
    pub(crate) models_dir: Option<PathBuf>,
    /// Seed of the MSA sampling and masking (of each model's first prediction)
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Predictions per model, with seeds SEED, SEED+1, …; named <model>_pred_<k> as AlphaFold2 names them,
    /// all ranked together
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub(crate) num_seeds: u64,
    /// Recycling iterations after the first (default: the model's, 3 for AlphaFold2)
    #[arg(long, value_name = "N", value_parser = parse_recycles)]
    pub(crate) num_recycle: Option<usize>,
    /// Stop recycling when Ca-Ca distances change less than this (Angstrom); off by default
    #[arg(long, value_name = "ANGSTROM", allow_negative_numbers = true)]
    pub(crate) early_stop_tolerance: Option<f32>,
    /// No randomness in the input pipeline (first rows as clusters, no masking)
    #[arg(long)]
    pub(crate) deterministic: bool,
    /// Worker threads (default: all cores)
    #[arg(long, default_value_t = 0)]
    pub(crate) threads: usize,
    /// Peak memory a prediction may use (e.g. 16G, 512M; default: the memory available now). The
    /// estimated peak is checked before any work: over budget, chunks shrink; if that cannot fit, the
    /// model is refused with the numbers
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) memory_budget: Option<usize>,
    /// Largest chunk of temporaries of one operation (transitions, triangle-multiplication projections)
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "1G")]
    pub(crate) chunk_budget: usize,
    /// Refuse queries longer than this many residues (memory grows with the square of the length)
    #[arg(long, value_name = "N", default_value_t = ferrofold::pipeline::predict::DEFAULT_PREDICT_MAX_LENGTH)]
    pub(crate) max_length: usize,
    /// Refuse models without a PAE head (every model must give PAE and pTM)
    #[arg(long)]
    pub(crate) require_pae: bool,
    /// Do not draw plddt.png, pae.png and coverage.png
    #[arg(long)]
    pub(crate) no_plots: bool,
    /// Relax predictions with Amber as AlphaFold2 does (relaxed_<prediction>.pdb/.cif, relax_metrics.json;
    /// ranked_<k> from relaxed models where they exist): best (the top-ranked prediction, AlphaFold2's
    /// default), all, or none [default: best; none with --demo-model, whose random structures cannot be
    /// relaxed]
    #[arg(long, value_name = "WHICH")]
    pub(crate) relax: Option<ferrofold::pipeline::relax::RelaxMode>,
    /// Where the network runs: gpu (the Evoformer, extra-MSA and template stacks on a GPU through Vulkan, Metal or
    /// DirectX 12; an error without one), cpu, or auto (the GPU when a hardware adapter is found, with a
    /// logged fall-back to the CPU if it fails; WGPU_ADAPTER_NAME / WGPU_BACKEND pick among several)
    #[arg(long, value_name = "DEVICE", default_value = "auto")]
    pub(crate) device: ferrofold::pipeline::predict::Device,
    /// GPU memory a prediction may use (e.g. 40G; default: the adapter's memory where the driver reports
    /// it). The GPU engine's estimated peak is checked before any work: over budget, --device gpu
    /// refuses with the numbers and --device auto runs that model on the CPU
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) gpu_memory_budget: Option<usize>,
    /// Run only the first N models (in name order: model_1 … model_5; ColabFold's --num-models)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), help_heading = "ColabFold")]
    pub(crate) num_models: Option<u64>,
    /// Which of the models given run: alphafold2_ptm (model_<n>_ptm), alphafold2 (model_<n>) or
    /// alphafold2_multimer_v3 (model_<n>_multimer_v3, for complexes); ColabFold's --model-type
    #[arg(long, value_name = "TYPE", value_parser = ["alphafold2_ptm", "alphafold2", "alphafold2_multimer_v3"], help_heading = "ColabFold")]
    pub(crate) model_type: Option<String>,
    /// MSA cluster rows the model samples (its max_msa_clusters: 512, 508 with templates; ColabFold's
    /// --max-seq)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000), help_heading = "ColabFold")]
    pub(crate) max_seq: Option<u64>,
    /// Extra MSA rows the model reads (its max_extra_msa: 5120, 1024 for models 2 and 5 … ;
    /// ColabFold's --max-extra-seq)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000), help_heading = "ColabFold")]
    pub(crate) max_extra_seq: Option<u64>,
}

#[derive(Args)]
#[command(after_help = "Examples:\n  \
    ferrofold predict out/T1/features.h5 --model models/model_1_ptm.onnx --model models/model_2_ptm.onnx\n  \
    ferrofold predict out/T1/features.h5 --models-dir models/ --num-recycle 1 --threads 8\n\n\
Writes, per prediction <model>_pred_<k> (k < --num-seeds, seed --seed + k): result_<pred>.h5,\n\
unrelaxed_<pred>.pdb/.cif (pLDDT as B-factor), confidence_<pred>.json, pae_<pred>.json (ptm models); then\n\
ranked_<k>.pdb/.cif over every prediction, ranking_debug.json, timings.json and the plots plddt.png (every\n\
prediction), pae.png (top-ranked) and coverage.png (the MSA).")]
pub(crate) struct PredictArgs {
    /// features.h5 written by `ferrofold features`, or AlphaFold2's features.pkl (converted first into
    /// <OUTPUT>/features.h5)
    #[arg(required_unless_present = "processed_features")]
    pub(crate) features: Option<PathBuf>,
    /// Run AlphaFold2's processed features exactly (the dict RunModel.process_features returns, saved
    /// as .npz with a leading recycling axis): no resampling, recycles = its iterations - 1. Reproduces
    /// an AlphaFold2 run input for input
    #[arg(long, value_name = "NPZ", conflicts_with = "features")]
    pub(crate) processed_features: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// Output directory (default: the features file's directory)
    #[arg(short, long, value_name = "DIR")]
    pub(crate) output: Option<PathBuf>,
    /// Recompute even if results are up to date
    #[arg(long)]
    pub(crate) overwrite: bool,
}

#[derive(Subcommand)]
pub(crate) enum DbCommand {
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
pub(crate) struct ScoreArgs {
    /// The model (PDB/mmCIF), or a folder of models: <id>/ranked_0.pdb or <id>.pdb/.cif
    pub(crate) model: PathBuf,
    /// The reference structure (PDB/mmCIF), or a folder of them named by id (<id>.pdb/.cif/.cif.gz)
    pub(crate) reference: PathBuf,
    /// Chain pairs MODEL:REFERENCE, comma-separated (default: chains in file order)
    #[arg(long, value_name = "MAP")]
    pub(crate) chain_map: Option<String>,
    /// Write the report here: JSON for one model (default: stdout summary only), TSV for a folder
    /// (default: stdout)
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Draw per-residue lDDT vs pLDDT to this PNG (one model); in batch mode each target folder gets
    /// score.png and score.json
    #[arg(long, value_name = "PNG")]
    pub(crate) plot: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct InspectArgs {
    /// features.h5 file (or AlphaFold2's features.pkl)
    pub(crate) file: PathBuf,
}

pub(crate) fn parse_size(s: &str) -> Result<usize, String> {
    /// Largest size accepted: 1 PiB (more memory than any machine has).
    const MAX_SIZE: f64 = (1u64 << 50) as f64;
    let t = s.trim();
    let (num, mult) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        Some('T') => (&t[..t.len() - 1], 1 << 40),
        Some('P') => (&t[..t.len() - 1], 1 << 50),
        _ => (t, 1),
    };
    let v: f64 = num
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| format!("'{s}' is not a size (e.g. 2G, 512M, 1000000)"))?;
    if v <= 0.0 {
        return Err(format!("'{s}' must be positive"));
    }
    let bytes = v * mult as f64;
    if bytes > MAX_SIZE {
        return Err(format!(
            "'{s}' is more than the largest size accepted, 1P (1 PiB)"
        ));
    }
    Ok(bytes as usize)
}

/// A recycle count, at most [`MAX_NUM_RECYCLE`](ferrofold::model::params::config::MAX_NUM_RECYCLE).
pub(crate) fn parse_recycles(s: &str) -> Result<usize, String> {
    let max = ferrofold::model::params::config::MAX_NUM_RECYCLE;
    let n: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a whole number of recycles"))?;
    if n > max {
        return Err(format!("{n} recycles is more than the limit of {max}"));
    }
    Ok(n)
}
