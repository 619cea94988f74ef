//! ONNX model container: protobuf decoding, metadata, tensors, then the check against AlphaFold2's
//! parameter schema for the configuration the file claims, on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferrofold::testing::fuzzing::onnx(data));
