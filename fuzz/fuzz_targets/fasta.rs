//! FASTA reader + AlphaFold2's residue validation + the batch's folder naming, on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferrofold::testing::fuzzing::fasta(data));
