//! Our validation of what a `features.h5` holds. A valid file for a short query is written first; the
//! input then replaces (or deletes) up to four of its datasets with arrays of any type, rank, shape and
//! contents. Whatever `features_h5::read` accepts must then go through the model's input pipeline
//! without a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferrofold::testing::fuzzing::features_h5(data));
