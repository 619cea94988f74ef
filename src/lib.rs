//! ferrofold: an AlphaFold2-class protein structure prediction pipeline.
//!
//! Stages, each a library function over typed options (the `ferrofold` binary is a thin CLI over them):
//! * [`pipeline::features`]: FASTA + databases or precomputed alignments → MSAs + `features.h5`
//!   ([`FeatureBuilder`] in memory).
//! * [`pipeline::predict`]: features + model files → structures, pLDDT, PAE, pTM, ranking
//!   ([`pipeline::predict::predict_features`] in memory).
//! * [`pipeline::run`]: both, for every record of many FASTA files, job-array aware.
//!
//! Layout, lowest layer first: [`fsutil`] (atomic writes, checksums, downloads) and [`rng`];
//! [`residue_constants`], [`query`], [`protein`]; [`io`] (one reader and writer per file format);
//! [`search`] (built-in search and one runner per external tool); [`features`] (AlphaFold2's raw
//! features); [`model`] (the network: `net`, `ops`, `params`, `plan`, `input`, `engine`); [`pipeline`]
//! (the stages). The items re-exported below are the entry points a lab tool needs.
//!
//! ```no_run
//! use ferrofold::{FeatureBuilder, MsaInput, PredictOptions, Query};
//! let query = Query::from_fasta_path("target.fasta")?;
//! let built = FeatureBuilder::from_msas(vec![MsaInput::from_path("msas/uniref90_hits.sto")])
//!     .build(&query, "target.fasta")?;
//! ferrofold::io::features_h5::write("features.h5", &built.features, &Default::default())?;
//! let model = ferrofold::pipeline::params::load("model_1_ptm.onnx".as_ref())?;
//! let (prediction, protein) = ferrofold::pipeline::predict::predict_features(
//!     &model,
//!     &built.features,
//!     &PredictOptions::default(),
//! )?;
//! ferrofold::io::pdb::write_path(&protein, "model_1_ptm.pdb")?;
//! println!("pTM {:?}", prediction.heads.pae.map(|p| p.ptm));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod databases;
pub mod features;
pub mod fsutil;
pub mod gpu;

pub mod io;
pub mod model;
pub mod pipeline;
pub mod plots;
pub mod progress;
pub mod protein;
pub mod query;
pub mod relax;
pub mod residue_constants;
pub mod rng;
pub mod score;
pub mod search;
pub mod templates;
// Test, benchmark and fuzzing helpers: compiled in every build (hidden from the docs, not API) rather
// than behind a feature, so that the program, the tests and the Python wheel share one build of this
// crate (a feature would give the library a second hash, and CI compiled it twice).
#[doc(hidden)]
pub mod testing;

pub use features::builder::{FeatureBuilder, MsaInput};
pub use features::RawFeatures;
pub use model::engine::{CpuEngine, Engine};
pub use model::net::alphafold::{AlphaFold, Prediction};
pub use model::params::config::{ModelConfig, RuntimeOptions};
pub use model::params::model_file::ModelFile;
pub use pipeline::features::FeaturesOptions;
pub use pipeline::predict::PredictOptions;
pub use pipeline::run::RunOptions;
pub use protein::Protein;
pub use query::Query;

/// Program name and version, recorded in every output's provenance.
pub const TOOL: &str = concat!("ferrofold ", env!("CARGO_PKG_VERSION"));
