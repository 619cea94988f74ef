//! Stockholm reader, AlphaFold2's truncation and conversion to A3M → MSA features, on arbitrary text.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

use ferrofold::io::stockholm::Stockholm;

fuzz_target!(|data: &[u8]| {
    let Some((&limit, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let path = Path::new("fuzz.sto");
    if let Ok(mut sto) = Stockholm::parse(text, path) {
        let _ = sto.to_a3m(Some(limit as usize), path);
        sto.truncate(limit as usize);
        if let Ok(msa) = sto.to_msa(path) {
            let _ = ferrofold::features::make_msa_features(&[("fuzz", &msa)]);
        }
        let mut out = Vec::new();
        let _ = sto.write(&mut out);
    }
});
