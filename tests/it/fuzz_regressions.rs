//! Replays the inputs kept in `tests/data/fuzz/<target>/` (inputs that once crashed a fuzz target, and a
//! few that reach deep into each reader) through the fuzz targets' code (`ferrofold::testing::fuzzing`): none may
//! panic. Add a crashing input from `fuzz/artifacts/<target>/` here when fixing it.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no inputs", dir.display());
    for f in files {
        let data = std::fs::read(&f).unwrap();
        let r = std::panic::catch_unwind(|| run(&data));
        assert!(r.is_ok(), "{}: panicked", f.display());
    }
}

#[test]
fn fasta() {
    replay("fasta", ferrofold::testing::fuzzing::fasta);
}

#[test]
fn a3m() {
    replay("a3m", ferrofold::testing::fuzzing::a3m);
}

#[test]
fn stockholm() {
    replay("stockholm", ferrofold::testing::fuzzing::stockholm);
}

#[test]
fn onnx() {
    replay("onnx", ferrofold::testing::fuzzing::onnx);
}

#[test]
fn features_h5() {
    replay("features_h5", ferrofold::testing::fuzzing::features_h5);
}

#[test]
fn structure() {
    replay("structure", ferrofold::testing::fuzzing::structure);
}

#[test]
fn features_h5_claims() {
    replay(
        "features_h5_claims",
        ferrofold::testing::fuzzing::features_h5_claims,
    );
}

#[test]
fn templates() {
    replay("templates", ferrofold::testing::fuzzing::templates);
}
