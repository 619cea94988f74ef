//! ferrofold's HDF5 files are plain HDF5: h5dump (Debian's HDF5 1.10) and h5py (libhdf5 1.14) read
//! what ferrofold writes, value for value, and ferrofold reads what h5py writes in other layouts
//! (chunked + gzip + shuffle, HDF5 1.14's newest format, fixed-width strings) to the same features.
//! Needs `h5dump` (Debian's hdf5-tools) and a Python with h5py in `FERROFOLD_CIF_PYTHON`
//! (`.ci/run` installs both).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::{data, ferrofold};

fn python() -> String {
    std::env::var("FERROFOLD_CIF_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/h5_interop.py")
}

fn run_python(args: &[&str]) -> String {
    let o = Command::new(python())
        .arg(script())
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} (set FERROFOLD_CIF_PYTHON to a Python with h5py): {e}",
                python()
            )
        });
    assert!(
        o.status.success(),
        "h5_interop.py {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Features with an MSA (species identifiers, deletions) made by the program.
fn features(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("f");
    let r = ferrofold(&[
        "features",
        data("msas/2q2k_A/query.fasta").to_str().unwrap(),
        "--msa",
        data("msas/2q2k_A/uniprot_hits.sto").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    out.join("query/features.h5")
}

#[test]
fn h5py_and_h5dump_read_what_ferrofold_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let path = features(tmp.path());
    let (f, prov) = ferrofold::io::features_h5::read(&path).unwrap();

    let dump: Value = serde_json::from_str(&run_python(&["dump", path.to_str().unwrap()])).unwrap();
    let ds = &dump["datasets"];
    assert_eq!(ds["msa"]["dtype"], "int32");
    assert_eq!(ds["msa"]["shape"], serde_json::json!(f.msa.msa.shape()));
    let msa: Vec<i32> = ds["msa"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap() as i32)
        })
        .collect();
    assert_eq!(msa, f.msa.msa.iter().copied().collect::<Vec<_>>());
    let species: Vec<String> = ds["msa_species_identifiers"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(species, f.msa.msa_species_identifiers);
    assert!(
        species.iter().any(|s| !s.is_empty()),
        "the alignment names species"
    );
    assert_eq!(ds["sequence"]["values"][0], f.sequence.sequence.as_str());
    assert_eq!(ds["template_aatype"]["dtype"], "float32");
    assert_eq!(ds["template_aatype"]["shape"][0], 0);
    assert_eq!(dump["attrs"]["ferrofold_format_version"], 1);
    assert_eq!(dump["attrs"]["input_sha256"], prov.input_hash.as_str());

    // h5dump (Debian's libhdf5 1.10) prints the same header and data.
    let o = Command::new("h5dump")
        .args(["-d", "/residue_index", "-A", "0"])
        .arg(&path)
        .output()
        .expect("h5dump (Debian package hdf5-tools)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("H5T_STD_I32LE"), "{text}");
    let n = f.num_res();
    assert!(text.contains(&format!("( {n} ) / ( {n} )")), "{text}");
    assert!(text.contains(&format!("{}", n - 1)), "{text}");
    let o = Command::new("h5dump")
        .arg("-H")
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let header = String::from_utf8_lossy(&o.stdout);
    assert!(
        header.contains("H5T_CSET_UTF8") && header.contains("H5T_VARIABLE"),
        "{header}"
    );
}

#[test]
fn ferrofold_reads_what_h5py_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let path = features(tmp.path());
    let (f, prov) = ferrofold::io::features_h5::read(&path).unwrap();
    for mode in ["gzip", "v114", "fixed"] {
        let other = tmp.path().join(format!("{mode}.h5"));
        run_python(&[
            "rewrite",
            path.to_str().unwrap(),
            other.to_str().unwrap(),
            mode,
        ]);
        let (g, gprov) =
            ferrofold::io::features_h5::read(&other).unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert_eq!(g, f, "{mode}: features differ");
        assert_eq!(gprov, prov, "{mode}: provenance differs");
        // The program reads it too.
        let r = ferrofold(&["inspect", other.to_str().unwrap()]);
        assert!(
            r.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
    }
}

#[test]
fn h5py_reads_a_results_file() {
    let tmp = tempfile::tempdir().unwrap();
    let path = features(tmp.path());
    let out = tmp.path().join("p");
    let r = ferrofold(&[
        "predict",
        path.to_str().unwrap(),
        "--demo-model",
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let result = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("result_")
        })
        .expect("a result file");
    let ours = ferrofold::io::results_h5::read_f32(&result, "plddt").unwrap();
    let dump: Value =
        serde_json::from_str(&run_python(&["dump", result.to_str().unwrap()])).unwrap();
    let theirs: Vec<f32> = dump["datasets"]["plddt"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(theirs, ours.iter().copied().collect::<Vec<_>>());
    assert_eq!(dump["datasets"]["ptm"]["shape"], serde_json::json!([]));
    assert!(dump["attrs"]["model_name"].is_string());
}

/// HDF5 2.0's newest format (data layout version 5, h5py 3.16 with `libver='latest'`) is the one format
/// ferrofold's reader lacks: refused with a message that says how to write a readable file.
#[test]
fn hdf5_2_newest_format_is_refused_with_a_way_out() {
    let f = data("hdf5/features_hdf5_2.0_latest.h5");
    let r = ferrofold(&["inspect", f.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(
        err.contains("features_hdf5_2.0_latest.h5")
            && err.contains("HDF5 2.0")
            && err.contains("libver=('earliest', 'v114')"),
        "{err}"
    );
}
