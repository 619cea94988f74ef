//! The program carries what its main job needs: copied away from the source tree (as `cargo install`
//! or a copy to a cluster leaves it), run from a folder with no `databases/`, `run --demo-model` still
//! finds its demo database (the copy carried in the binary, written to the user's cache) and predicts.

use std::process::Command;

use crate::common::data;

#[test]
fn a_copied_binary_runs_the_main_job_without_the_source_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let bin = d.join("bin/ferrofold");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    // A hard link is the binary at another path without another few hundred MiB on a CI disk; a copy
    // where the temporary folder is on another file system.
    let built = env!("CARGO_BIN_EXE_ferrofold");
    if std::fs::hard_link(built, &bin).is_err() {
        std::fs::copy(built, &bin).unwrap();
    }
    let query = d.join("q.fasta");
    std::fs::copy(data("msas/2q2k_A/query.fasta"), &query).unwrap();
    let work = d.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let cache = d.join("cache");
    let run = || {
        Command::new(&bin)
            .current_dir(&work)
            .env_remove("FERROFOLD_DATABASES")
            .env("XDG_CACHE_HOME", &cache)
            .args(["run", "../q.fasta", "--demo-model", "-o", "out", "-q"])
            .output()
            .unwrap()
    };
    let o = run();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(work.join("out/query/ranked_0.pdb").is_file());
    let db = cache.join("ferrofold/databases/demo/uniprot20k.fasta.gz");
    let shipped = std::fs::read(data("../../databases/demo/uniprot20k.fasta.gz")).unwrap();
    assert_eq!(std::fs::read(&db).unwrap(), shipped);
    // A damaged cached copy is replaced by the carried bytes, not searched.
    std::fs::write(&db, b"damaged").unwrap();
    std::fs::remove_dir_all(work.join("out")).unwrap();
    let o = run();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(&db).unwrap(), shipped);
}
