//! Our features from precomputed alignments equal the `af2_features.npz` that DeepMind's own data pipeline
//! (AlphaFold2 v2.3 `make_sequence_features` + `make_msa_features((uniref90[:10000], bfd, mgnify[:501]))`)
//! made from the same files. See tests/data/README.md for where the files come from.

use crate::common::{data, ferrofold};
use ferrofold::features::builder::{FeatureBuilder, MsaInput};
use ferrofold::features::RawFeatures;
use ferrofold::io::npz::Npz;
use ferrofold::Query;
use ndarray::ArrayD;

fn int(npz: &Npz, name: &str) -> ArrayD<i32> {
    npz.get(name)
        .unwrap()
        .to_i32()
        .unwrap_or_else(|| panic!("{name} is not integer"))
}

fn assert_same(ours: &RawFeatures, npz: &Npz, what: &str) {
    let check = |name: &str, got: ArrayD<i32>| {
        let want = int(npz, name);
        assert_eq!(got.shape(), want.shape(), "{what}: shape of {name}");
        if let Some((i, (g, w))) = got
            .iter()
            .zip(want.iter())
            .enumerate()
            .find(|(_, (g, w))| g != w)
        {
            panic!("{what}: {name} differs at flat index {i}: ours {g}, AlphaFold2 {w}");
        }
    };
    let s = &ours.sequence;
    check("aatype", s.aatype.clone().into_dyn());
    check(
        "between_segment_residues",
        s.between_segment_residues.clone().into_dyn(),
    );
    check("residue_index", s.residue_index.clone().into_dyn());
    check("seq_length", s.seq_length.clone().into_dyn());
    check("msa", ours.msa.msa.clone().into_dyn());
    check(
        "deletion_matrix_int",
        ours.msa.deletion_matrix_int.clone().into_dyn(),
    );
    check("num_alignments", ours.msa.num_alignments.clone().into_dyn());
    let strings = |name: &str| npz.get(name).unwrap().to_strings().unwrap();
    assert_eq!(
        vec![s.sequence.clone()],
        strings("sequence"),
        "{what}: sequence"
    );
    assert_eq!(
        vec![s.domain_name.clone()],
        strings("domain_name"),
        "{what}: domain_name"
    );
    assert_eq!(
        ours.msa.msa_species_identifiers,
        strings("msa_species_identifiers"),
        "{what}: msa_species_identifiers"
    );
}

fn library_features(dir: &str, fasta: &str) -> RawFeatures {
    let d = data(dir);
    let q = Query::from_fasta_path(d.join(fasta)).unwrap();
    // Given in a scrambled order on purpose: the builder must merge uniref90 → bfd → mgnify.
    let msas = [
        "mgnify_hits.sto",
        "bfd_uniclust_hits.a3m",
        "uniref90_hits.sto",
    ]
    .iter()
    .map(|f| MsaInput::from_path(d.join(f)))
    .collect();
    FeatureBuilder::from_msas(msas)
        .build(&q, fasta)
        .unwrap()
        .features
}

#[test]
fn openfold_query_matches_alphafold2() {
    let npz = Npz::read_path(data("msas/openfold_query/af2_features.npz")).unwrap();
    let f = library_features("msas/openfold_query", "short.fasta");
    assert_eq!(
        f.num_alignments(),
        1136,
        "57 + 1024 + 59 rows, 4 duplicates removed"
    );
    assert_same(&f, &npz, "openfold_query (library)");
    // Species identifiers come from the BFD rows (tr|...|..._SPECIES); uniref90 names carry none.
    assert!(f.msa.msa_species_identifiers.iter().any(|s| !s.is_empty()));
}

#[test]
fn chains_of_2q2k_match_alphafold2() {
    for chain in ["2q2k_A", "2q2k_B"] {
        let dir = format!("msas/{chain}");
        let npz = Npz::read_path(data(&format!("{dir}/af2_features.npz"))).unwrap();
        let f = library_features(&dir, "query.fasta");
        assert_same(&f, &npz, chain);
    }
}

#[test]
fn cli_features_h5_matches_alphafold2() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    // openfold_query through --msa-dir (the directory also holds pdb70_hits.hhr, which is not used).
    let dir = data("msas/openfold_query");
    let r = ferrofold(&[
        "features",
        dir.join("short.fasta").to_str().unwrap(),
        "--msa-dir",
        dir.to_str().unwrap(),
        "-o",
        o,
        "-q",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let (f, prov) = ferrofold::io::features_h5::read(out.path().join("query/features.h5")).unwrap();
    assert_same(
        &f,
        &Npz::read_path(dir.join("af2_features.npz")).unwrap(),
        "openfold_query (features.h5)",
    );
    assert_eq!(prov.query_sequence, f.sequence.sequence);
    assert!(
        prov.databases.contains("uniref90_hits.sto") && prov.databases.contains("\"rows_used\"")
    );
    for m in [
        "uniref90_hits.sto",
        "bfd_uniclust_hits.a3m",
        "mgnify_hits.sto",
    ] {
        assert_eq!(
            std::fs::read(out.path().join("query/msas").join(m)).unwrap(),
            std::fs::read(dir.join(m)).unwrap(),
            "{m} copied unchanged"
        );
    }
    // 2q2k_A through repeated --msa flags, into another output directory.
    let out2 = tempfile::tempdir().unwrap();
    let d = data("msas/2q2k_A");
    let p = |f: &str| d.join(f).to_str().unwrap().to_string();
    let args = [
        "features".to_string(),
        p("query.fasta"),
        "--msa".into(),
        p("uniref90_hits.sto"),
        "--msa".into(),
        p("bfd_uniclust_hits.a3m"),
        "--msa".into(),
        p("mgnify_hits.sto"),
        "-o".into(),
        out2.path().to_str().unwrap().into(),
    ];
    let r = ferrofold(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let (f, _) = ferrofold::io::features_h5::read(out2.path().join("query/features.h5")).unwrap();
    assert_same(
        &f,
        &Npz::read_path(d.join("af2_features.npz")).unwrap(),
        "2q2k_A (features.h5)",
    );
}

#[test]
fn rerun_skips_and_changed_input_recomputes() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let d = data("msas/2q2k_B");
    let fasta = d.join("query.fasta");
    let run = |extra: &[&str]| {
        let mut a = vec![
            "features",
            fasta.to_str().unwrap(),
            "--msa-dir",
            d.to_str().unwrap(),
            "-o",
            o,
        ];
        a.extend_from_slice(extra);
        let r = ferrofold(&a);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        String::from_utf8(r.stdout).unwrap()
    };
    assert!(run(&[]).contains("written"));
    let h5 = out.path().join("query/features.h5");
    let before = std::fs::read(&h5).unwrap();
    assert!(run(&[]).contains("up to date"));
    assert_eq!(
        std::fs::read(&h5).unwrap(),
        before,
        "skipped run leaves the file alone"
    );
    assert!(
        run(&["--mgnify-max-hits", "3"]).contains("written"),
        "changed limits recompute"
    );
    assert!(run(&["--mgnify-max-hits", "3", "--overwrite"]).contains("written"));
}
