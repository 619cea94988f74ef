//! ferrofold's integration tests, one binary (each test binary links the whole crate; one link instead
//! of nineteen keeps CI short). One module per area; fixtures live in `tests/data/` (see its README).

mod common;

mod block_full_parity;
mod colabfold_search;
mod db_download;
mod earlier_runs;
mod end_to_end_parity;
mod evoformer_modules_parity;
mod features_parity;
mod foreign_inputs;
mod fresh_install;
mod fuzz_regressions;
mod gpu_parity;
mod hdf5_interop;
mod hostile_inputs;
mod input_pipeline_parity;
mod malformed_inputs;
mod model_files;
mod msa_server;
mod multimer_features_parity;
mod multimer_model_parity;
mod output_tree;
mod params_fetch;
mod predict_cli;
mod predict_complex;
mod relax_cli;
mod relax_energy_parity;
mod relax_violations;
mod reliability;
mod run_cli;
mod score;
mod search;
mod slurm;
mod snakemake;
mod structure_parity;
mod structures;
mod template_features_parity;
mod template_parity;
mod templates_cli;
mod trunk_parity;
