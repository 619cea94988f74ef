//! Where databases live: the demo database shipped in `databases/demo/`, and the data directory of
//! AlphaFold2's databases (`--data-dir`).

use std::path::PathBuf;

/// File name of the demo database (20,000 UniProt sequences, CC BY 4.0).
pub const DEMO_DATABASE: &str = "uniprot20k.fasta.gz";

/// The `databases/` folder: `$FERROFOLD_DATABASES` if set, else `./databases` if it holds the demo
/// database, else the source tree's (where the binary was built).
pub fn databases_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("FERROFOLD_DATABASES") {
        return PathBuf::from(d);
    }
    let local = PathBuf::from("databases");
    if local.join("demo").join(DEMO_DATABASE).is_file() {
        return local;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("databases")
}

/// The demo database file.
pub fn demo_database() -> PathBuf {
    databases_dir().join("demo").join(DEMO_DATABASE)
}
