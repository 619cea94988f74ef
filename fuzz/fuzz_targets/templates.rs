//! Template inputs: .hhr files, and mmCIF files featurised as a hit's structure, on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferrofold::testing::fuzzing::templates(data));
