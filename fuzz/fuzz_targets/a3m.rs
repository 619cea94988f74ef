//! A3M reader → query columns → AlphaFold2's MSA features, on arbitrary text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferrofold::testing::fuzzing::a3m(data));
