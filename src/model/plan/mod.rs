//! Planning a prediction before it runs: peak memory (and the chunk sizes that fit a budget) and work.

pub mod flops;
pub mod memory;
