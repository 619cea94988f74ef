//! PDB and mmCIF reading through pdbtbx into atom37 (our wrapper), on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferrofold::testing::fuzzing::structure(data));
