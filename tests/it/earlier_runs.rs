//! What earlier runs leave in an output folder, and how one record is named from stage to stage: a
//! reused output never carries an alignment the current features were not made from, a result file never
//! stands for derived files deleted since, and `features` and `run` put a record in the same folder.

use std::fs;
use std::path::Path;

use crate::common::{data, ferrofold, files_below};

fn ok(args: &[&str]) -> (String, String) {
    let r = ferrofold(args);
    let (out, err) = (
        String::from_utf8_lossy(&r.stdout).into_owned(),
        String::from_utf8_lossy(&r.stderr).into_owned(),
    );
    assert!(r.status.success(), "{args:?}: {err}");
    (out, err)
}

fn rows(features: &Path) -> usize {
    ferrofold::io::features_h5::read(features)
        .unwrap()
        .0
        .num_alignments()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// An alignment dropped from the inputs leaves `msas/` for `unused_msas/` when the features are made
/// again, so reusing the output folder as `--msa-dir` reads exactly what `features.h5` was made from;
/// reusing it in place moves nothing.
#[test]
fn alignments_the_features_were_not_made_from_are_set_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let aln = d.join("aln");
    copy_dir(&data("msas/openfold_query"), &aln);
    let fasta = aln.join("short.fasta");
    let (f, a, o) = (
        fasta.to_str().unwrap(),
        aln.to_str().unwrap(),
        d.join("out"),
    );
    let out = o.to_str().unwrap();
    ok(&["features", f, "--msa-dir", a, "-o", out, "-q"]);
    let all = rows(&o.join("query/features.h5"));
    fs::remove_file(aln.join("bfd_uniclust_hits.a3m")).unwrap();
    let (_, log) = ok(&["features", f, "--msa-dir", a, "-o", out]);
    let fewer = rows(&o.join("query/features.h5"));
    assert!(fewer < all, "{fewer} vs {all}");
    assert!(log.contains("unused_msas"), "{log}");
    let mut kept: Vec<String> = files_below(&o.join("query/msas"));
    kept.sort();
    assert_eq!(kept, ["mgnify_hits.sto", "uniref90_hits.sto"]);
    assert_eq!(
        files_below(&o.join("query/unused_msas")),
        ["bfd_uniclust_hits.a3m"],
        "kept, not deleted"
    );
    // The output folder as the alignments of another run: the features it holds, not the earlier ones.
    let again = d.join("again");
    ok(&[
        "features",
        f,
        "--msa-dir",
        out,
        "-o",
        again.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(rows(&again.join("query/features.h5")), fewer);
    // In place (`--msa-dir` is the output): its alignments are the inputs, nothing moves.
    let (_, log) = ok(&["features", f, "--msa-dir", out, "-o", out, "--overwrite"]);
    assert!(!log.contains("unused_msas"), "{log}");
    assert_eq!(files_below(&o.join("query/msas")).len(), 2);
}

/// A prediction whose result file is there but whose PDB or JSON files were deleted since is made again,
/// not called up to date; a missing file is named as the one missing.
#[test]
fn derived_files_deleted_since_are_made_again() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let model = crate::predict_cli::tiny_model(d, "tiny_ptm", false);
    let features = crate::common::single_sequence_features(d);
    let out = d.join("p");
    let args = [
        "predict",
        features.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--relax",
        "none",
        "--device",
        "cpu",
        "-o",
        out.to_str().unwrap(),
    ];
    let (first, _) = ok(&args);
    assert!(first.contains("written"), "{first}");
    let (second, _) = ok(&args);
    assert!(second.contains("up to date"), "{second}");
    for gone in [
        "unrelaxed_tiny_ptm_pred_0.pdb",
        "confidence_tiny_ptm_pred_0.json",
        "pae_tiny_ptm_pred_0.json",
    ] {
        let before = fs::read(out.join(gone)).unwrap();
        fs::remove_file(out.join(gone)).unwrap();
        let (line, log) = ok(&args);
        assert!(line.contains("written"), "{gone}: {line}");
        assert!(log.contains(&format!("{gone} is missing")), "{log}");
        assert_eq!(fs::read(out.join(gone)).unwrap(), before, "{gone}");
    }
}

/// UniProt-style ids (`sp|P12345|NAME_HUMAN`): `features` writes the folder `run` later looks in, and
/// `run --msa-dir` finds alignments filed under the record's own id.
#[test]
fn features_and_run_name_a_record_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let fasta = d.join("up.fasta");
    fs::write(
        &fasta,
        ">sp|P12345|NAME_HUMAN some protein\nMKVLAGHEELLKK\n",
    )
    .unwrap();
    let model = crate::predict_cli::tiny_model(d, "tiny_ptm", false);
    let (f, m) = (fasta.to_str().unwrap(), model.to_str().unwrap());
    let o = d.join("o");
    let (line, log) = ok(&[
        "features",
        f,
        "--single-sequence",
        "-o",
        o.to_str().unwrap(),
    ]);
    assert!(line.starts_with("sp_P12345_NAME_HUMAN\t"), "{line}");
    assert!(
        log.contains("written to folder 'sp_P12345_NAME_HUMAN'"),
        "{log}"
    );
    // The features stage's folder and input hash are run's: its predict stage takes them as they are.
    let (_, log) = ok(&[
        "run",
        f,
        "--single-sequence",
        "--stage",
        "predict",
        "--model",
        m,
        "--relax",
        "none",
        "--device",
        "cpu",
        "-o",
        o.to_str().unwrap(),
    ]);
    assert!(!log.contains("regenerat"), "{log}");
    assert!(o.join("sp_P12345_NAME_HUMAN/ranked_0.pdb").is_file());

    let ad = d.join("ad/sp|P12345|NAME_HUMAN");
    fs::create_dir_all(&ad).unwrap();
    fs::write(
        ad.join("bfd_uniclust_hits.a3m"),
        ">q\nMKVLAGHEELLKK\n>h\nMKVLAGHEELLKR\n",
    )
    .unwrap();
    let o2 = d.join("o2");
    ok(&[
        "run",
        f,
        "--msa-dir",
        d.join("ad").to_str().unwrap(),
        "--stage",
        "features",
        "-o",
        o2.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(rows(&o2.join("sp_P12345_NAME_HUMAN/features.h5")), 2);
}

/// `features` reports each finished target on stdout before a later one fails, and the failed one
/// leaves no empty folder.
#[test]
fn features_reports_targets_done_before_one_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let md = d.join("md");
    fs::create_dir_all(md.join("other")).unwrap();
    copy_dir(&data("msas/openfold_query"), &md.join("query"));
    let q = fs::read_to_string(data("msas/openfold_query/short.fasta")).unwrap();
    let fasta = d.join("two.fasta");
    fs::write(&fasta, format!("{q}\n>other\nMKVLAGHEELLKK\n")).unwrap();
    let o = d.join("o");
    let r = ferrofold(&[
        "features",
        fasta.to_str().unwrap(),
        "--msa-dir",
        md.to_str().unwrap(),
        "-o",
        o.to_str().unwrap(),
        "-q",
    ]);
    let (out, err) = (
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr),
    );
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("'other'"), "{err}");
    assert!(
        out.starts_with("query\t") && out.contains("written"),
        "{out}"
    );
    assert!(o.join("query/features.h5").is_file());
    assert!(
        !o.join("other").exists(),
        "no empty folder for the failed target"
    );
}

/// Folders of inputs: extensions in any case, and a warning naming the files skipped.
#[test]
fn input_folders_take_extensions_in_any_case_and_name_what_they_skip() {
    let tmp = tempfile::tempdir().unwrap();
    let mix = tmp.path().join("mix");
    fs::create_dir_all(&mix).unwrap();
    for (file, id) in [("a.fasta", "a1"), ("b.fas", "b1"), ("c.FASTA", "c1")] {
        fs::write(mix.join(file), format!(">{id}\nMKVLAG\n")).unwrap();
    }
    let (list, log) = ok(&[
        "run",
        mix.to_str().unwrap(),
        "--single-sequence",
        "--demo-model",
        "-o",
        tmp.path().join("o").to_str().unwrap(),
        "--list",
    ]);
    let ids: Vec<&str> = list
        .lines()
        .map(|l| l.split('\t').nth(2).unwrap())
        .collect();
    assert_eq!(ids, ["a1", "c1"]);
    assert!(
        log.contains("skipped 1 file(s)") && log.contains("b.fas"),
        "{log}"
    );
}

/// `inspect` reads AlphaFold2's features.pkl as every other stage does.
#[test]
fn inspect_reads_a_features_pickle() {
    let tmp = tempfile::tempdir().unwrap();
    let pkl = tmp.path().join("features.pkl");
    fs::copy(data("pickle/af2_real_p4.pkl"), &pkl).unwrap();
    let (out, _) = ok(&["inspect", pkl.to_str().unwrap()]);
    assert!(out.contains("residues\t40"), "{out}");
    assert!(out.contains("alignment rows\t5"), "{out}");
    assert!(out.contains("features.pkl"), "{out}");
}
