#![no_main]
// Claimed HDF5 shapes against real sizes: see `ferrofold::testing::fuzzing::features_h5_claims`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferrofold::testing::fuzzing::features_h5_claims(data));
