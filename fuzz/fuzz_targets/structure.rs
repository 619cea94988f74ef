//! PDB and mmCIF reading through pdbtbx into atom37 (our wrapper), on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ext = if kind % 2 == 0 { "pdb" } else { "cif" };
    let path = dir.path().join(format!("fuzz.{ext}"));
    std::fs::write(&path, rest).unwrap();
    if let Ok(p) = ferrofold::io::pdb::read_path(&path, None) {
        let mut out = Vec::new();
        let _ = ferrofold::io::pdb::write(&p, &mut out);
    }
});
