//! ONNX model container: protobuf decoding, metadata, tensors, then the check against AlphaFold2's
//! parameter schema for the configuration the file claims, on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = ferrofold::model::model_file::decode(data, Path::new("fuzz.onnx")) {
        let _ = ferrofold::model::schema::check(&m.weights, &m.config);
    }
});
