//! Stockholm reader, AlphaFold2's truncation and conversion to A3M → MSA features, on arbitrary text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferrofold::testing::fuzzing::stockholm(data));
