//! AlphaFold-Multimer's features against DeepMind's multimer data pipeline (fixtures by
//! `tests/reference/make_multimer_fixtures.py`): a homodimer (2Q2K A + B: one entity, MSAs side by side,
//! no pairing) and a heteromer (2Q2K A + 1A3A A: species pairing of the UniProt rows, block-diagonal
//! unpaired rows), and 1A3A A with a mutant of itself (dense pairing with ties). Every array must be
//! equal.

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
                vec![d.join("uniref90_hits.sto"), d.join("bfd_uniclust_hits.a3m"), d.join("mgnify_hits.sto")],
                d.join("uniprot_hits.sto"),
            )
        }
        _ => {
            let d = data(&format!("multimer/{chain}"));
            (vec![d.join("bfd_uniclust_hits.a3m")], d.join("uniprot_hits.a3m"))
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
        max_template_date: ferrofold::templates::Date { year: 2100, month: 1, day: 1 },
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
    let seqs: Vec<String> = chains.iter().map(|c| first_sequence(&chain_files(c).0[1.min(chain_files(c).0.len() - 1)])).collect();
    let heteromer = seqs.iter().any(|s| *s != seqs[0]);
    let mut out: Vec<ChainInput> = Vec::new();
    for (i, chain) in chains.iter().enumerate() {
        if let Some(j) = seqs[..i].iter().position(|s| *s == seqs[i]) {
            out.push(out[j].clone());
            continue;
        }
        let (msas, uniprot) = chain_files(chain);
        let query = Query { id: chain.to_string(), description: chain.to_string(), sequence: seqs[i].clone() };
        let mut built = FeatureBuilder::from_msas(msas.into_iter().map(MsaInput::from_path).collect())
            .build(&query, chain)
            .unwrap()
            .features;
        built.templates = templates(chain, &seqs[i], dir);
        let all_seq = heteromer.then(|| all_seq_features(&uniprot, &query).unwrap());
        out.push(ChainInput { features: built, all_seq });
    }
    out
}

fn check(chains: &[&str], fixture: &str) {
    let dir = tempfile::tempdir().unwrap();
    let labels: Vec<String> = chains.iter().map(|c| c.to_string()).collect();
    let f = make_multimer_features(&inputs(chains, dir.path()), &labels).unwrap();
    let z = Npz::read_path(data(&format!("multimer/{fixture}"))).unwrap();
    let int = |k: &str| z.get(k).unwrap().to_i32().unwrap_or_else(|| panic!("{k}: not integers"));
    let float = |k: &str| z.get(k).unwrap().to_f32().unwrap_or_else(|| panic!("{k}: not floats"));
    let eq_i = |k: &str, ours: ndarray::ArrayViewD<'_, i32>| {
        let theirs = int(k);
        assert_eq!(ours.shape(), theirs.shape(), "{fixture}: {k} shape");
        if let Some((i, (a, b))) = ours.iter().zip(theirs.iter()).enumerate().find(|(_, (a, b))| a != b) {
            panic!("{fixture}: {k} differs at flat index {i}: ours {a}, DeepMind's {b}");
        }
    };
    let eq_f = |k: &str, ours: ndarray::ArrayViewD<'_, f32>| {
        let theirs = float(k);
        assert_eq!(ours.shape(), theirs.shape(), "{fixture}: {k} shape");
        if let Some((i, (a, b))) = ours.iter().zip(theirs.iter()).enumerate().find(|(_, (a, b))| a.to_bits() != b.to_bits()) {
            panic!("{fixture}: {k} differs at flat index {i}: ours {a}, DeepMind's {b}");
        }
    };
    eq_i("aatype", f.aatype.view().into_dyn());
    eq_i("residue_index", f.residue_index.view().into_dyn());
    // AlphaFold2 keeps the ids as floats.
    eq_f("asym_id", f.asym_id.mapv(|v| v as f32).view().into_dyn());
    eq_f("sym_id", f.sym_id.mapv(|v| v as f32).view().into_dyn());
    eq_f("entity_id", f.entity_id.mapv(|v| v as f32).view().into_dyn());
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
    eq_f("template_all_atom_mask", f.template_all_atom_mask.view().into_dyn());
    eq_f("template_all_atom_positions", f.template_all_atom_positions.view().into_dyn());
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
