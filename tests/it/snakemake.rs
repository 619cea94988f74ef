//! The Snakemake workflow (pipelines/snakemake/Snakefile) run by real `snakemake` with two cores on two
//! targets: features (demo-database search) then predict with the demo model. `.ci/run` installs
//! snakemake from PyPI into a virtualenv and points `FERROFOLD_SNAKEMAKE` at it.

use std::path::Path;
use std::process::Command;

fn snakemake() -> String {
    std::env::var("FERROFOLD_SNAKEMAKE").unwrap_or_else(|_| "snakemake".into())
}

#[test]
fn snakemake_runs_features_and_predict_for_two_targets() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let fastas = d.join("fastas");
    std::fs::create_dir_all(&fastas).unwrap();
    std::fs::write(
        fastas.join("alpha.fasta"),
        ">alpha\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n",
    )
    .unwrap();
    std::fs::write(
        fastas.join("beta.fasta"),
        ">beta\nMLTLENVSKTYKGGKKAVNNVNLKIAKGEFICFIGPSGCGKTTTMKMINRL\n",
    )
    .unwrap();
    let model = d.join("models/ferrofold_demo.onnx");
    ferrofold::pipeline::params::ensure_demo_model(&model).unwrap();
    let out = d.join("out");
    let snakefile = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/snakemake/Snakefile");
    // The same invocation both times: two cores, this folder, the demo model for predict.
    let workflow = || {
        let mut c = Command::new(snakemake());
        c.arg("-s")
            .arg(&snakefile)
            .args(["-c", "2", "--directory"])
            .arg(d)
            .arg("--config")
            .arg(format!("ferrofold={}", env!("CARGO_BIN_EXE_ferrofold")))
            .arg(format!("fasta_dir={}", fastas.display()))
            .arg(format!("out={}", out.display()))
            .arg(format!(
                "predict_args=--relax none --model {}",
                model.display()
            ));
        c
    };
    let o = workflow().output().unwrap_or_else(|e| {
        panic!(
            "cannot run {} (install it: pip install snakemake): {e}",
            snakemake()
        )
    });
    assert!(
        o.status.success(),
        "snakemake failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    for t in ["alpha", "beta"] {
        for f in [
            "features.h5",
            "ranking_debug.json",
            "ranked_0.pdb",
            "result_ferrofold_demo_pred_0.h5",
            "msas/uniprot20k_hits.a3m",
        ] {
            assert!(out.join(t).join(f).is_file(), "{t}/{f}");
        }
    }
    // Nothing left to do on a second run.
    let o = workflow().output().unwrap();
    assert!(o.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text.contains("Nothing to be done"), "{text}");
}
