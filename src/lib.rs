//! ferrofold: an AlphaFold2-class protein structure prediction pipeline.
//!
//! Stages (each a library function; the `ferrofold` binary is a thin CLI over them):
//! * [`pipeline::features`]: FASTA + precomputed alignments (or the query alone) → `features.h5`.
//! * `predict` and `run`: not built yet (see the README's status table).
//!
//! ```no_run
//! use ferrofold::{features::builder::{FeatureBuilder, MsaInput}, query::Query};
//! let query = Query::from_fasta_path("target.fasta")?;
//! let built = FeatureBuilder::from_msas(vec![MsaInput::from_path("msas/uniref90_hits.sto")])
//!     .build(&query, "target.fasta")?;
//! ferrofold::io::features_h5::write("features.h5", &built.features, &Default::default())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod databases;
pub mod features;
pub mod fsutil;

pub mod io;
pub mod model;
pub mod pipeline;
pub mod plots;
pub mod progress;
pub mod protein;
pub mod query;
pub mod residue_constants;
pub mod rng;
pub mod search;
#[cfg(feature = "test-support")]
pub mod testing;

pub use query::Query;

/// Program name and version, recorded in every output's provenance.
pub const TOOL: &str = concat!("ferrofold ", env!("CARGO_PKG_VERSION"));
