//! Readers for DeepMind reference outputs (the parity fixtures under `tests/data/`).

pub use crate::model::input::processed::{trunk_inputs_from_processed, InputError};
