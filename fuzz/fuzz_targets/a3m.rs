//! A3M reader → query columns → AlphaFold2's MSA features, on arbitrary text.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

use ferrofold::io::a3m::A3m;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.a3m");
    if let Ok(a3m) = A3m::parse(text, path) {
        if let Ok(msa) = a3m.to_msa(path) {
            let _ = ferrofold::features::make_msa_features(&[("fuzz", &msa)]);
            let mut out = Vec::new();
            let _ = a3m.write(&mut out);
        }
    }
});
