//! AlphaFold-Multimer's features against DeepMind's multimer data pipeline (fixtures by
//! `tests/reference/make_multimer_fixtures.py`): a homodimer (2Q2K A + B: one entity, MSAs side by side,
//! no pairing) and a heteromer (2Q2K A + 1A3A A: species pairing of the UniProt rows, block-diagonal
//! unpaired rows), and 1A3A A with a mutant of itself (dense pairing with ties). Every array must be
//! equal, from the library function and from `ferrofold features` on per-chain alignment folders
//! (`--complex` and ColabFold's `:` notation); and bad complexes are refused with nothing written.

use std::path::{Path, PathBuf};

use ferrofold::features::builder::{FeatureBuilder, MsaInput};
use ferrofold::features::multimer::{all_seq_features, make_multimer_features, ChainInput};
use ferrofold::io::npz::Npz;
use ferrofold::query::Query;

use crate::common::data;

/// The per-chain files of the fixtures: (alignments, UniProt hits).
fn chain_files(chain: &str) -> (Vec<PathBuf>, PathBuf) {
    match chain {
        "2q2k_A" | "2q2k_B" => {
            let d = data(&format!("msas/{chain}"));
            (
                vec![
                    d.join("uniref90_hits.sto"),
                    d.join("bfd_uniclust_hits.a3m"),
                    d.join("mgnify_hits.sto"),
                ],
                d.join("uniprot_hits.sto"),
            )
        }
        _ => {
            let d = data(&format!("multimer/{chain}"));
            (
                vec![d.join("bfd_uniclust_hits.a3m")],
                d.join("uniprot_hits.a3m"),
            )
        }
    }
}

/// The first row of an alignment file (the chain's sequence).
fn first_sequence(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines().skip_while(|l| !l.starts_with('>')).skip(1);
    let mut seq = String::new();
    for l in lines.by_ref() {
        if l.starts_with('>') {
            break;
        }
        seq.push_str(l.trim());
    }
    seq
}

/// Template features as the fixture's: HmmsearchHitFeaturizer on a hit over the first 60 residues of
/// 2Q2K's own structure (an hmmsearch-style Stockholm row), no hits for 1A3A (one all-zero template).
fn templates(chain: &str, seq: &str, dir: &Path) -> ferrofold::features::TemplateFeatures {
    let hits = if chain.starts_with("2q2k") {
        // hmmsearch's row for a hit on the chain's own structure over residues 1-60 (the fixture's).
        let c = &chain[5..6];
        let name = format!("2q2k_{c}/1-60");
        let row = format!("{}{}", &seq[..60], "-".repeat(seq.len() - 60));
        let sto = format!(
            "# STOCKHOLM 1.0\n\n#=GS {name} DE [subseq from] mol:protein length:{}  ParR\n\n{name} {row}\n//\n",
            seq.len()
        );
        let p = dir.join(format!("{chain}_pdb_hits.sto"));
        std::fs::write(&p, &sto).unwrap();
        ferrofold::templates::search::hmmsearch_hits(&sto, seq, &p).unwrap()
    } else {
        Vec::new()
    };
    let settings = ferrofold::templates::TemplateSettings {
        mmcif_dir: data("templates/mmcif"),
        max_template_date: ferrofold::templates::Date {
            year: 2100,
            month: 1,
            day: 1,
        },
        max_hits: 20,
        kalign: Some(PathBuf::from("kalign")),
        obsolete: Default::default(),
        tool_timeout: std::time::Duration::from_secs(60),
        style: ferrofold::templates::FeaturizerStyle::Hmmsearch,
    };
    let (features, reports) = ferrofold::templates::featurize(seq, &hits, &settings).unwrap();
    assert!(reports.iter().all(|r| r.skipped.is_none()), "{reports:?}");
    features
}

/// Chain inputs made by ferrofold from the files; identical sequences reuse the first chain's inputs,
/// as AlphaFold2 does.
fn inputs(chains: &[&str], dir: &Path) -> Vec<ChainInput> {
    let seqs: Vec<String> = chains
        .iter()
        .map(|c| first_sequence(&chain_files(c).0[1.min(chain_files(c).0.len() - 1)]))
        .collect();
    let heteromer = seqs.iter().any(|s| *s != seqs[0]);
    let mut out: Vec<ChainInput> = Vec::new();
    for (i, chain) in chains.iter().enumerate() {
        if let Some(j) = seqs[..i].iter().position(|s| *s == seqs[i]) {
            out.push(out[j].clone());
            continue;
        }
        let (msas, uniprot) = chain_files(chain);
        let query = Query {
            id: chain.to_string(),
            description: chain.to_string(),
            sequence: seqs[i].clone(),
        };
        let mut built =
            FeatureBuilder::from_msas(msas.into_iter().map(MsaInput::from_path).collect())
                .build(&query, chain)
                .unwrap()
                .features;
        built.templates = templates(chain, &seqs[i], dir);
        let all_seq = heteromer.then(|| all_seq_features(&uniprot, &query).unwrap());
        out.push(ChainInput {
            features: built,
            all_seq,
        });
    }
    out
}

fn check(chains: &[&str], fixture: &str) {
    let dir = tempfile::tempdir().unwrap();
    let labels: Vec<String> = chains.iter().map(|c| c.to_string()).collect();
    let f = make_multimer_features(&inputs(chains, dir.path()), &labels).unwrap();
    compare(&f, fixture);
}

/// Every array of `f` equals the fixture's (bit for bit).
fn compare(f: &ferrofold::features::multimer::MultimerFeatures, fixture: &str) {
    let z = Npz::read_path(data(&format!("multimer/{fixture}"))).unwrap();
    let int = |k: &str| {
        z.get(k)
            .unwrap()
            .to_i32()
            .unwrap_or_else(|| panic!("{k}: not integers"))
    };
    let float = |k: &str| {
        z.get(k)
            .unwrap()
            .to_f32()
            .unwrap_or_else(|| panic!("{k}: not floats"))
    };
    let eq_i = |k: &str, ours: ndarray::ArrayViewD<'_, i32>| {
        let theirs = int(k);
        assert_eq!(ours.shape(), theirs.shape(), "{fixture}: {k} shape");
        if let Some((i, (a, b))) = ours
            .iter()
            .zip(theirs.iter())
            .enumerate()
            .find(|(_, (a, b))| a != b)
        {
            panic!("{fixture}: {k} differs at flat index {i}: ours {a}, DeepMind's {b}");
        }
    };
    let eq_f = |k: &str, ours: ndarray::ArrayViewD<'_, f32>| {
        let theirs = float(k);
        assert_eq!(ours.shape(), theirs.shape(), "{fixture}: {k} shape");
        if let Some((i, (a, b))) = ours
            .iter()
            .zip(theirs.iter())
            .enumerate()
            .find(|(_, (a, b))| a.to_bits() != b.to_bits())
        {
            panic!("{fixture}: {k} differs at flat index {i}: ours {a}, DeepMind's {b}");
        }
    };
    eq_i("aatype", f.aatype.view().into_dyn());
    eq_i("residue_index", f.residue_index.view().into_dyn());
    // AlphaFold2 keeps the ids as floats.
    eq_f("asym_id", f.asym_id.mapv(|v| v as f32).view().into_dyn());
    eq_f("sym_id", f.sym_id.mapv(|v| v as f32).view().into_dyn());
    eq_f(
        "entity_id",
        f.entity_id.mapv(|v| v as f32).view().into_dyn(),
    );
    eq_i("entity_mask", f.entity_mask.view().into_dyn());
    eq_f("seq_mask", f.seq_mask.view().into_dyn());
    eq_f("deletion_mean", f.deletion_mean.view().into_dyn());
    eq_i("all_atom_mask", f.all_atom_mask.view().into_dyn());
    eq_i("msa", f.msa.view().into_dyn());
    eq_f("deletion_matrix", f.deletion_matrix.view().into_dyn());
    eq_f("msa_mask", f.msa_mask.view().into_dyn());
    eq_f("bert_mask", f.bert_mask.view().into_dyn());
    eq_f("cluster_bias_mask", f.cluster_bias_mask.view().into_dyn());
    for (k, v) in [
        ("num_alignments", f.num_alignments),
        ("seq_length", f.seq_length),
        ("assembly_num_chains", f.assembly_num_chains),
        ("num_templates", f.num_templates),
    ] {
        assert_eq!(int(k).iter().next().copied(), Some(v), "{fixture}: {k}");
    }
    eq_i("template_aatype", f.template_aatype.view().into_dyn());
    eq_f(
        "template_all_atom_mask",
        f.template_all_atom_mask.view().into_dyn(),
    );
    eq_f(
        "template_all_atom_positions",
        f.template_all_atom_positions.view().into_dyn(),
    );
}

#[test]
fn homodimer_features_equal_deepminds() {
    check(&["2q2k_A", "2q2k_B"], "homodimer_features.npz");
}

/// 1A3A A with a mutant of itself: every species is shared, so most UniProt rows pair, with ties in
/// similarity and in the products of row indices that order the pairs.
#[test]
fn heteromer_features_with_dense_pairing_and_ties_equal_deepminds() {
    check(&["1a3a_A", "1a3a_Amut"], "mutant_features.npz");
}

#[test]
fn heteromer_features_with_pairing_equal_deepminds() {
    check(&["2q2k_A", "1a3a_A"], "heteromer_features.npz");
}

/// The synthetic hmmsearch hit of the fixtures (2Q2K on its own structure, residues 1-60) as a
/// `pdb_hits.sto` for chain `letter`.
fn pdb_hits_sto(letter: &str, seq: &str) -> String {
    let name = format!("2q2k_{letter}/1-60");
    let row = format!("{}{}", &seq[..60], "-".repeat(seq.len() - 60));
    format!(
        "# STOCKHOLM 1.0\n\n#=GS {name} DE [subseq from] mol:protein length:{}  ParR\n\n{name} {row}\n//\n",
        seq.len()
    )
}

/// An alignments folder with `2q2k_A/` (+ `pdb_hits.sto`) and `1a3a_A/`; the sequences.
fn chain_folders(dir: &Path) -> (PathBuf, String, String) {
    let msas = dir.join("alignments");
    for (name, src) in [
        ("2q2k_A", data("msas/2q2k_A")),
        ("1a3a_A", data("multimer/1a3a_A")),
    ] {
        let d = msas.join(name);
        std::fs::create_dir_all(&d).unwrap();
        for e in std::fs::read_dir(src).unwrap().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.ends_with(".a3m") || n.ends_with(".sto") {
                std::fs::copy(e.path(), d.join(&n)).unwrap();
            }
        }
    }
    let a = first_sequence(&msas.join("2q2k_A/bfd_uniclust_hits.a3m"));
    let b = first_sequence(&msas.join("1a3a_A/bfd_uniclust_hits.a3m"));
    std::fs::write(msas.join("2q2k_A/pdb_hits.sto"), pdb_hits_sto("A", &a)).unwrap();
    (msas, a, b)
}

fn features_cli(fasta: &Path, msas: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mmcif = data("templates/mmcif");
    let mut args = vec![
        "features",
        fasta.to_str().unwrap(),
        "--msa-dir",
        msas.to_str().unwrap(),
        "--template-mmcif-dir",
        mmcif.to_str().unwrap(),
        "--max-template-date",
        "2100-01-01",
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    crate::common::ferrofold(&args)
}

#[test]
fn features_cli_makes_deepminds_complex_features_from_chain_folders() {
    let dir = tempfile::tempdir().unwrap();
    let (msas, a, b) = chain_folders(dir.path());
    let out = dir.path().join("out");
    // AlphaFold2's multimer FASTA: one record per chain, --complex.
    let hetero = dir.path().join("hetero.fasta");
    std::fs::write(&hetero, format!(">2q2k_A\n{a}\n>1a3a_A\n{b}\n")).unwrap();
    let o = features_cli(&hetero, &msas, &out, &["--complex"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.starts_with("hetero\t")
            && stdout.contains("215 residues")
            && stdout.contains("1044 alignment rows"),
        "{stdout}"
    );
    let (f, prov) =
        ferrofold::io::features_h5::multimer::read(out.join("hetero/features.h5")).unwrap();
    compare(&f, "heteromer_features.npz");
    assert_eq!(f.chain_labels, ["A", "B"]);
    assert_eq!(prov.query_sequence, format!("{a}:{b}"));
    for file in [
        "A/uniref90_hits.sto",
        "A/uniprot_hits.sto",
        "A/pdb_hits.sto",
        "B/bfd_uniclust_hits.a3m",
        "B/uniprot_hits.a3m",
    ] {
        assert!(out.join("hetero/msas").join(file).is_file(), "{file}");
    }
    // A rerun finds it current; `inspect` lists the chains; predict says complexes are not predicted yet.
    let o = features_cli(&hetero, &msas, &out, &["--complex"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("up to date"));
    let o =
        crate::common::ferrofold(&["inspect", out.join("hetero/features.h5").to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("chain\tA\tentity 1\tcopy 1\t70 residues")
            && text.contains("chain\tB\tentity 2\tcopy 1\t145 residues"),
        "{text}"
    );
    let o = crate::common::ferrofold(&[
        "predict",
        out.join("hetero/features.h5").to_str().unwrap(),
        "--relax",
        "none",
        "--model",
        "x.onnx",
        "-o",
        dir.path().join("p").to_str().unwrap(),
    ]);
    // (Complexes are predicted: `predict_complex` tests that.) A missing model file is named, nothing
    // written.
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("x.onnx"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!dir.path().join("p").exists());

    // ColabFold's notation: one record, chains separated by ':' (a homodimer: chain folders by name).
    let homo = dir.path().join("homo.fasta");
    std::fs::write(&homo, format!(">2q2k\n{a}:{a}\n")).unwrap();
    let o = features_cli(&homo, &msas, &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (f, _) = ferrofold::io::features_h5::multimer::read(out.join("2q2k/features.h5")).unwrap();
    compare(&f, "homodimer_features.npz");
}

#[test]
fn bad_complexes_are_refused_with_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let (msas, a, b) = chain_folders(dir.path());
    let out = dir.path().join("out");
    let run = |name: &str, text: String, extra: &[&str]| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let o = features_cli(&p, &msas, &out, extra);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        (o.status.code(), err)
    };
    for (text, words) in [
        (format!(">x\n{a}::{b}\n"), vec!["'x': chain 2 is empty"]),
        (format!(">x\n{a}:\n"), vec!["chain 2 is empty"]),
        (format!(">x\n:{a}\n"), vec!["chain 1 is empty"]),
        (
            format!(">x\n{a}:{}1\n", &b[..10]),
            vec!["'x' chain B: residue 11"],
        ),
        (
            format!(">x\n{}\n", vec!["MKV"; 63].join(":")),
            vec!["63 chains", "at most 62"],
        ),
    ] {
        let (code, err) = run("bad.fasta", text, &[]);
        assert_eq!(code, Some(1), "{err}");
        for w in words {
            assert!(err.contains(w), "{w:?} not in: {err}");
        }
    }
    // A chain without a folder; a heteromer chain without UniProt hits; over --max-length.
    let (code, err) = run("c.fasta", format!(">2q2k\n{a}:MKVLAAGICW\n"), &[]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("no alignment folder for chain B of '2q2k'") && err.contains("2q2k_B"),
        "{err}"
    );
    std::fs::remove_file(msas.join("1a3a_A/uniprot_hits.a3m")).unwrap();
    let (code, err) = run(
        "hetero.fasta",
        format!(">2q2k_A\n{a}\n>1a3a_A\n{b}\n"),
        &["--complex"],
    );
    assert_eq!(code, Some(1));
    assert!(
        err.contains("chain B of 'hetero': no uniprot_hits.sto"),
        "{err}"
    );
    let (code, err) = run(
        "long.fasta",
        format!(">long\n{a}:{a}\n"),
        &["--max-length", "100"],
    );
    assert_eq!(code, Some(1));
    assert!(
        err.contains("140 residues in 2 chains") && err.contains("--max-length"),
        "{err}"
    );
    // ColabFold's local search does not pair complexes yet: a usage error naming what works.
    let p = dir.path().join("s.fasta");
    std::fs::write(&p, format!(">s\n{a}:{a}\n")).unwrap();
    let o = crate::common::ferrofold(&[
        "features",
        p.to_str().unwrap(),
        "--db-preset",
        "colabfold",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("does not pair complexes"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--msa-dir"));
    assert!(
        crate::common::files_below(&out)
            .iter()
            .all(|f| !f.ends_with("features.h5")),
        "{:?}",
        crate::common::files_below(&out)
    );
    // Single-sequence complexes need no files.
    let o = crate::common::ferrofold(&[
        "features",
        p.to_str().unwrap(),
        "--single-sequence",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (f, _) = ferrofold::io::features_h5::multimer::read(out.join("s/features.h5")).unwrap();
    assert_eq!(
        (f.num_alignments, f.aatype.len(), f.msa.dim().0),
        (1, 140, 512)
    );
}

/// A heteromer searched end to end on a fresh machine: the demo database searched per chain, and again as
/// the UniProt database for pairing (two ABC transporters of different bacteria: hundreds of rows pair).
/// The same features come from reading the alignments the searches wrote back as per-chain folders.
#[test]
fn searched_heteromer_pairs_and_equals_its_alignments_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let fasta = data("multimer/abc_dimer.fasta");
    let out = dir.path().join("out");
    let run = |extra: &[&str], out: &Path| {
        let mut args = vec![
            "features",
            fasta.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = crate::common::ferrofold(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    run(&[], &out);
    let (searched, _) =
        ferrofold::io::features_h5::multimer::read(out.join("abc_transporters/features.h5"))
            .unwrap();
    let rows = searched.num_alignments as usize;
    let (a, b): (Vec<usize>, Vec<usize>) =
        (0..searched.aatype.len()).partition(|&i| searched.asym_id[i] == 1);
    let paired = (0..rows)
        .filter(|&r| {
            a.iter().any(|&i| searched.msa[[r, i]] != 21)
                && b.iter().any(|&i| searched.msa[[r, i]] != 21)
        })
        .count();
    assert!(paired > 100, "{paired} paired rows of {rows}");
    for f in [
        "A/uniprot20k_hits.a3m",
        "A/uniprot_hits.a3m",
        "B/uniprot20k_hits.a3m",
        "B/uniprot_hits.a3m",
    ] {
        assert!(out.join("abc_transporters/msas").join(f).is_file(), "{f}");
    }
    assert!(run(&[], &out).contains("up to date"));
    // AlphaFold2's layout of the output (DIR/<complex>/msas/<chain>/) read as precomputed alignments.
    let again = dir.path().join("again");
    run(&["--msa-dir", out.to_str().unwrap()], &again);
    let (read_back, _) =
        ferrofold::io::features_h5::multimer::read(again.join("abc_transporters/features.h5"))
            .unwrap();
    assert!(
        read_back == searched,
        "features from the alignments read back differ from the searched ones"
    );
}

/// ColabFold's complex alignment (`#` line with lengths and copies; made by ColabFold's own `msa_to_str`)
/// read as it is: an A2B complex whose paired rows are used as paired (ColabFold's semantics), equal to
/// the features ColabFold makes from it (with AlphaFold2 v2.3.2's de-duplicating `make_msa_features`).
#[test]
fn colabfold_complex_alignment_gives_colabfolds_features() {
    let dir = tempfile::tempdir().unwrap();
    let a3m = data("multimer/colabfold_complex.a3m");
    let out = dir.path().join("out");
    let o = crate::common::ferrofold(&[
        "features",
        a3m.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (f, _) =
        ferrofold::io::features_h5::multimer::read(out.join("colabfold_complex/features.h5"))
            .unwrap();
    compare(&f, "colabfold_complex_features.npz");
    assert_eq!(f.chain_labels, ["A", "B", "C"]);
    for file in [
        "A/colabfold_unpaired.a3m",
        "A/colabfold_paired.a3m",
        "C/colabfold_paired.a3m",
    ] {
        assert!(
            out.join("colabfold_complex/msas").join(file).is_file(),
            "{file}"
        );
    }
    // A '#' line that disagrees with the rows, and zero copies: errors naming the line.
    let text = std::fs::read_to_string(&a3m).unwrap();
    let bad = dir.path().join("bad.a3m");
    std::fs::write(&bad, text.replacen("#145,145\t2,1", "#145,140\t2,1", 1)).unwrap();
    let o = crate::common::ferrofold(&[
        "features",
        bad.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("bad.a3m:2") && err.contains("285 residues"),
        "{err}"
    );
    std::fs::write(&bad, text.replacen("#145,145\t2,1", "#145,145\t2,0", 1)).unwrap();
    let o = crate::common::ferrofold(&[
        "features",
        bad.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("0 copies"));
    assert!(!out.join("bad").exists());
}

/// A complex's features are not reused once a template structure they were made from changes.
#[test]
fn complex_features_follow_their_template_structures() {
    let dir = tempfile::tempdir().unwrap();
    let (msas, a, b) = chain_folders(dir.path());
    let mmcif = dir.path().join("mmcif");
    std::fs::create_dir_all(&mmcif).unwrap();
    let gz = data("templates/mmcif/2q2k.cif.gz");
    std::fs::copy(&gz, mmcif.join("2q2k.cif.gz")).unwrap();
    let fasta = dir.path().join("hetero.fasta");
    std::fs::write(&fasta, format!(">2q2k_A\n{a}\n>1a3a_A\n{b}\n")).unwrap();
    let out = dir.path().join("out");
    let run = || {
        let o = crate::common::ferrofold(&[
            "features",
            fasta.to_str().unwrap(),
            "--complex",
            "--msa-dir",
            msas.to_str().unwrap(),
            "--template-mmcif-dir",
            mmcif.to_str().unwrap(),
            "--max-template-date",
            "2100-01-01",
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert!(run().contains("written"));
    assert!(run().contains("up to date"));
    // The structure file replaced (the same bytes under a newer time stand for a new download).
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(mmcif.join("2q2k.cif.gz"), std::fs::read(&gz).unwrap()).unwrap();
    let again = run();
    assert!(
        again.contains("written") && !again.contains("up to date"),
        "{again}"
    );
}

/// A complex with a template search (`--template-db pdb_seqres.txt --template-tool hmmsearch`, as
/// AlphaFold-Multimer searches): each distinct chain is searched with its own uniref90 alignment into
/// `msas/<chain id>/pdb_hits.sto`, featurised as the same hits given precomputed in the chain's folder are;
/// a rerun reuses the features.
#[test]
fn a_complexs_template_search_runs_per_chain() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = first_sequence(&data("msas/2q2k_A/bfd_uniclust_hits.a3m"));
    let fasta = d.join("dimer.fasta");
    std::fs::write(&fasta, format!(">2q2k\n{a}:{a}\n")).unwrap();
    let mmcif = data("templates/mmcif");
    let seqres = data("templates/pdb_seqres.txt");
    let msas = data("msas");
    let features = |out: &Path, msa_dir: &Path, search: bool| {
        let mut args = vec![
            "features",
            fasta.to_str().unwrap(),
            "--msa-dir",
            msa_dir.to_str().unwrap(),
            "--template-mmcif-dir",
            mmcif.to_str().unwrap(),
            "--max-template-date",
            "2100-01-01",
            "-o",
            out.to_str().unwrap(),
        ];
        if search {
            args.extend([
                "--template-db",
                seqres.to_str().unwrap(),
                "--template-tool",
                "hmmsearch",
            ]);
        }
        let o = crate::common::ferrofold(&args);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{err}");
        err
    };
    let out = d.join("out");
    let err = features(&out, &msas, true);
    assert!(err.contains("hmmbuild --hand --amino"), "{err}");
    let hits = out.join("2q2k/msas/A/pdb_hits.sto");
    assert!(hits.is_file());
    let (searched, _) =
        ferrofold::io::features_h5::multimer::read(out.join("2q2k/features.h5")).unwrap();

    // The same hits, precomputed in the chain folders.
    let given = d.join("given");
    for chain in ["2q2k_A", "2q2k_B"] {
        let dest = given.join(chain);
        std::fs::create_dir_all(&dest).unwrap();
        for e in std::fs::read_dir(msas.join(chain)).unwrap().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.ends_with(".a3m") || n.ends_with(".sto") {
                std::fs::copy(e.path(), dest.join(&n)).unwrap();
            }
        }
        std::fs::copy(&hits, dest.join("pdb_hits.sto")).unwrap();
    }
    features(&d.join("out_given"), &given, false);
    let (from_files, _) =
        ferrofold::io::features_h5::multimer::read(d.join("out_given/2q2k/features.h5")).unwrap();
    assert_eq!(searched.template_aatype, from_files.template_aatype);
    assert_eq!(
        searched.template_all_atom_mask,
        from_files.template_all_atom_mask
    );
    assert_eq!(
        searched.template_all_atom_positions,
        from_files.template_all_atom_positions
    );
    assert_eq!(searched.msa, from_files.msa);

    let err = features(&out, &msas, true);
    assert!(err.contains("up to date"), "{err}");
}
