//! Template featurisation against DeepMind's own (AlphaFold2 v2.3.2 `HhsearchHitFeaturizer`, run by
//! `../shared/reference/template_features.py`): the OpenFold query's real `pdb70_hits.hhr` against the 8
//! shared mmCIF files (gzipped here), max template date 2021-11-01. Residue types and masks bitwise,
//! positions within 1e-4 Å, names, sequences and `Sum_probs` equal, and the hits DeepMind's code skips
//! skipped with their reasons.

use std::path::Path;

use crate::common::data;
use ferrofold::io::npz::Npz;
use ferrofold::templates::{featurize, TemplateSettings, MAX_TEMPLATE_HITS};

fn settings() -> TemplateSettings {
    TemplateSettings {
        mmcif_dir: data("templates/mmcif"),
        max_template_date: "2021-11-01".parse().unwrap(),
        max_hits: MAX_TEMPLATE_HITS,
        kalign: ferrofold::search::tools::find("kalign", None, "kalign").ok(),
        obsolete: Default::default(),
        tool_timeout: std::time::Duration::from_secs(60),
        style: Default::default(),
    }
}

fn query() -> String {
    ferrofold::Query::from_fasta_path(data("msas/openfold_query/short.fasta"))
        .unwrap()
        .sequence
}

fn strings(npz: &Npz, key: &str) -> Vec<String> {
    let a = npz.get(key).unwrap();
    a.to_strings().unwrap()
}

/// `f` equals DeepMind's features in `want`: names, sequences, residue types, masks and `Sum_probs`
/// exactly; returns the largest position difference (Å).
fn assert_same_features(f: &ferrofold::features::TemplateFeatures, want: &Npz) -> f32 {
    assert_eq!(
        f.domain_names,
        strings(want, "template_domain_names"),
        "templates used, in order"
    );
    assert_eq!(f.sequence, strings(want, "template_sequence"));
    let g = |k: &str| want.get(k).unwrap().to_f32().unwrap();
    assert_eq!(f.aatype.view().into_dyn(), g("template_aatype").view());
    assert_eq!(
        f.all_atom_masks.view().into_dyn(),
        g("template_all_atom_masks").view()
    );
    assert_eq!(
        f.sum_probs.view().into_dyn(),
        g("template_sum_probs").view()
    );
    let pos = g("template_all_atom_positions");
    f.all_atom_positions
        .iter()
        .zip(pos.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max)
}

/// Features from `hhr` equal DeepMind's in `npz`; returns the reports.
fn check(hhr: &str, npz: &str) -> Vec<ferrofold::templates::HitReport> {
    let text = std::fs::read_to_string(data(hhr)).unwrap();
    let hits = ferrofold::io::hhr::parse(&text, Path::new(hhr)).unwrap();
    assert_eq!(hits.len(), 10);
    let (f, reports) = featurize(&query(), &hits, &settings()).unwrap();
    let want = Npz::read_path(data(npz)).unwrap();
    let d = assert_same_features(&f, &want);
    assert!(d <= 1e-4, "positions differ by {d} Å");
    eprintln!(
        "{hhr}: {} templates; positions max |diff| {d:.1e} Å",
        f.count()
    );
    reports
}

#[test]
fn openfold_query_templates_match_deepmind() {
    let reports = check(
        "msas/openfold_query/pdb70_hits.hhr",
        "templates/openfold_query/template_features.npz",
    );

    let skipped: Vec<(&str, &str)> = reports
        .iter()
        .filter_map(|r| r.skipped.as_deref().map(|s| (r.hit.as_str(), s)))
        .collect();
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert!(skipped
        .iter()
        .any(|(h, why)| *h == "1hf9_B" && why.contains("no mmCIF file")));
    for chain in ["5kc1_F", "5kc1_J"] {
        assert!(
            skipped
                .iter()
                .any(|(h, why)| *h == chain && why.contains("all zeros")),
            "{chain}: {skipped:?}"
        );
    }
}

/// The same hits edited (tests/reference/make_template_fixtures.py): 3U8V_A differs from its mmCIF SEQRES
/// in 2 of 32 residues (realigned with kalign), 2CRB_A has an X (found by the wildcard match), 4ZEY_A
/// differs in 5 of 20 (realignment refused, < 90 % identical).
#[test]
fn realigned_and_wildcard_hits_match_deepmind() {
    let reports = check(
        "templates/openfold_query/pdb70_hits_mutated.hhr",
        "templates/openfold_query/template_features_mutated.npz",
    );
    let by = |h: &str| reports.iter().find(|r| r.hit == h).unwrap();
    assert!(by("3u8v_A").realigned && by("3u8v_A").skipped.is_none());
    assert!(!by("2crb_A").realigned && by("2crb_A").skipped.is_none());
    let why = by("4zey_A").skipped.as_deref().unwrap();
    assert!(why.contains("90 %"), "{why}");
}

/// What hhsearch reads: the uniref90 alignment as AlphaFold2 v2.3.2's monomer pipeline prepares it
/// (first 10,000 rows, deduplicated on the query's columns, empty columns removed, A3M).
#[test]
fn hhsearch_input_is_alphafold2s() {
    let ours = ferrofold::templates::search::hhsearch_input(
        &data("msas/openfold_query/uniref90_hits.sto"),
        10_000,
    )
    .unwrap();
    let theirs =
        std::fs::read_to_string(data("templates/openfold_query/uniref90_for_hhsearch.a3m"))
            .unwrap();
    let records = |t: &str| -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for l in t.lines() {
            if let Some(h) = l.strip_prefix('>') {
                out.push((h.trim().to_string(), String::new()));
            } else if let Some(last) = out.last_mut() {
                last.1.push_str(l.trim());
            }
        }
        out
    };
    let (a, b) = (records(&ours), records(&theirs));
    assert_eq!(a.len(), b.len());
    assert_eq!(a, b);
}

/// AlphaFold-Multimer's template path: the Stockholm hmmbuild reads equals DeepMind's text line for line,
/// and the hits of hmmsearch's `pdb_hits.sto` (DeepMind's run, committed) featurise as its
/// `HmmsearchHitFeaturizer` does (hits with an already used template sequence skipped).
#[test]
fn hmmsearch_path_matches_deepmind() {
    let ours = ferrofold::templates::search::hmmsearch_input(
        &data("msas/openfold_query/uniref90_hits.sto"),
        10_000,
    )
    .unwrap();
    let theirs =
        std::fs::read_to_string(data("templates/openfold_query/uniref90_for_hmmsearch.sto"))
            .unwrap();
    assert_eq!(ours, theirs);

    let sto_path = data("templates/openfold_query/pdb_hits.sto");
    let hits = ferrofold::templates::search::hmmsearch_hits(
        &std::fs::read_to_string(&sto_path).unwrap(),
        &query(),
        &sto_path,
    )
    .unwrap();
    let names: Vec<&str> = hits.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        ["1psm_A", "4zey_A", "2crb_A", "3u8v_A", "3u8v_A", "3u8v_B", "3u8v_B"]
    );
    let mut s = settings();
    s.style = ferrofold::templates::FeaturizerStyle::Hmmsearch;
    let (f, reports) = featurize(&query(), &hits, &s).unwrap();
    let want = Npz::read_path(data(
        "templates/openfold_query/template_features_hmmsearch.npz",
    ))
    .unwrap();
    assert_eq!(assert_same_features(&f, &want), 0.0);
    assert_eq!(
        reports
            .iter()
            .filter(|r| r
                .skipped
                .as_deref()
                .is_some_and(|w| w.contains("same template sequence")))
            .count(),
        2
    );
}
