//! From features to what one network iteration consumes: AlphaFold2's `process_features` (seeded MSA
//! sampling, masking, cluster summaries) and the per-iteration inputs.

pub mod multimer;
pub mod pipeline;
pub mod processed;
pub mod trunk_inputs;
