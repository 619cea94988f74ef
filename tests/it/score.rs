//! `ferrofold score` against the real tools: the TM-score program (Debian's tm-align package, run here)
//! for TM-score, GDT-TS/HA and Cα RMSD; DeepMind's own lDDT (Cα) and an independent all-atom lDDT for
//! lDDT (values stored by tests/reference/make_score_fixtures.py). On real pairs (1UBQ vs 1UBI) and
//! perturbed copies of 1EJG and 1BPI: noise of 0.3/1/2.5 Å, a hinge motion, a displaced loop, and a
//! renumbered model lacking four residues (paired by sequence alignment).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{data, ferrofold};

/// Experimental structures shipped in tests/data/structures (from ../shared/data/structures/pdb/).
fn reference(name: &str) -> PathBuf {
    data(&format!("structures/{name}"))
}

/// TM-score, GDT-TS, GDT-HA (0-100) and RMSD as the TM-score program reports them.
fn tmscore(model: &Path, reference: &Path) -> (f64, f64, f64, f64) {
    let o = Command::new("TMscore")
        .arg(model)
        .arg(reference)
        .output()
        .expect("TMscore (Debian package tm-align)");
    let text = String::from_utf8_lossy(&o.stdout);
    let field = |prefix: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l[prefix.len()..].split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no '{prefix}' in TMscore's output:\n{text}"))
    };
    (
        field("TM-score    ="),
        100.0 * field("GDT-TS-score="),
        100.0 * field("GDT-HA-score="),
        field("RMSD of  the common residues="),
    )
}

fn score_json(model: &Path, reference: &Path, dir: &Path, extra: &[&str]) -> Value {
    // In a folder that does not exist yet: score makes it, as every other output's.
    let out = dir.join("reports/s.json");
    let mut args = vec![
        "score",
        model.to_str().unwrap(),
        reference.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let r = ferrofold(&args);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap()
}

fn check_against_tmscore(ours: &Value, model_for_tmscore: &Path, reference: &Path, what: &str) {
    let (tm, gdt_ts, gdt_ha, rmsd) = tmscore(model_for_tmscore, reference);
    let f = |k: &str| ours[k].as_f64().unwrap();
    assert!(
        (f("tm_score") - tm).abs() <= 1e-3,
        "{what}: TM-score {} vs {tm}",
        f("tm_score")
    );
    assert!(
        (f("gdt_ts") - gdt_ts).abs() <= 0.1,
        "{what}: GDT-TS {} vs {gdt_ts}",
        f("gdt_ts")
    );
    assert!(
        (f("gdt_ha") - gdt_ha).abs() <= 0.1,
        "{what}: GDT-HA {} vs {gdt_ha}",
        f("gdt_ha")
    );
    assert!(
        (f("rmsd_ca") - rmsd).abs() <= 1e-3,
        "{what}: RMSD {} vs {rmsd}",
        f("rmsd_ca")
    );
}

#[test]
fn scores_agree_with_the_tm_score_program_and_deepminds_lddt() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(data("score/expected.json")).unwrap())
            .unwrap();
    for c in &cases {
        let model = data(&format!("score/{}", c["model"].as_str().unwrap()));
        let refp = reference(c["reference"].as_str().unwrap());
        let ours = score_json(&model, &refp, tmp.path(), &[]);
        let name = c["model"].as_str().unwrap();
        if c["lddt_ca"].is_null() {
            // The renumbered model: the TM-score program pairs by number, so give it the numbers back.
            assert!(
                ours["chains"][0]["matched_by"]
                    .as_str()
                    .unwrap()
                    .starts_with("sequence alignment (54 identical of 54"),
                "{name}: {}",
                ours["chains"][0]
            );
            let back = tmp.path().join("back.pdb");
            let text: String = std::fs::read_to_string(&model)
                .unwrap()
                .lines()
                .map(|l| {
                    if l.starts_with("ATOM") {
                        let n: i32 = l[22..26].trim().parse().unwrap();
                        format!("{}{:4}{}\n", &l[..22], n - 100, &l[26..])
                    } else {
                        format!("{l}\n")
                    }
                })
                .collect();
            std::fs::write(&back, text).unwrap();
            check_against_tmscore(&ours, &back, &refp, name);
            continue;
        }
        check_against_tmscore(&ours, &model, &refp, name);
        for (key, per) in [
            ("lddt_ca", "lddt_ca_per_residue"),
            ("lddt_all_atom", "lddt_all_atom_per_residue"),
        ] {
            let want = c[key].as_f64().unwrap();
            let got = ours[key].as_f64().unwrap();
            assert!((got - want).abs() <= 1e-3, "{name}: {key} {got} vs {want}");
            let per_ours: Vec<f64> = ours["per_residue"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p[key].as_f64().unwrap())
                .collect();
            let per_want: Vec<f64> = c[per]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert_eq!(per_ours.len(), per_want.len(), "{name}: {per}");
            for (i, (a, b)) in per_ours.iter().zip(&per_want).enumerate() {
                assert!((a - b).abs() <= 1e-3, "{name}: {per}[{i}] {a} vs {b}");
            }
        }
        if name.starts_with("1ejg") {
            // 1EJG has alternative locations (and microheterogeneity at residue 22): said, first used.
            assert!(
                ours["skipped"]
                    .to_string()
                    .contains("alternative locations"),
                "{name}: {}",
                ours["skipped"]
            );
        }
        // The fixture's B-factors fall with the displacement: pLDDT and lDDT correlate.
        assert!(
            ours["plddt_lddt_correlation"].as_f64().unwrap() > 0.5,
            "{name}"
        );
    }
    // A real pair: ubiquitin in two crystal forms.
    let (m, r) = (reference("1ubi_ubiquitin.pdb"), reference("1ubq.pdb"));
    let ours = score_json(
        &m,
        &r,
        tmp.path(),
        &["--plot", tmp.path().join("s.png").to_str().unwrap()],
    );
    check_against_tmscore(&ours, &m, &r, "1UBI vs 1UBQ");
    assert!(tmp.path().join("s.png").is_file());
}

/// Exit 1, one error line containing each of `want`.
fn refused(args: &[&str], want: &[&str]) {
    let r = ferrofold(args);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{args:?}: {err}");
    for w in want {
        assert!(err.contains(w), "{args:?}: '{w}' not in {err}");
    }
}

fn edit_pdb(src: &Path, dest: &Path, f: impl Fn(&str) -> Option<String>) {
    let text: String = std::fs::read_to_string(src)
        .unwrap()
        .lines()
        .filter_map(|l| f(l).map(|l| l + "\n"))
        .collect();
    std::fs::write(dest, text).unwrap();
}

#[test]
fn bad_pairs_get_one_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let ubq = reference("1ubq.pdb");
    let bpi = reference("1bpi.pdb");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    // Unrelated proteins.
    refused(
        &["score", &s(&bpi), &s(&ubq)],
        &["no residues in common", "too few to score"],
    );
    // Two chains against one, and a chain map naming a chain that does not exist.
    let two = d.join("two.pdb");
    edit_pdb(&ubq, &two, |l| l.starts_with("ATOM").then(|| l.to_string()));
    let mut text = std::fs::read_to_string(&two).unwrap();
    text += &text
        .lines()
        .map(|l| format!("{}B{}\n", &l[..21], &l[22..]))
        .collect::<String>();
    std::fs::write(&two, text).unwrap();
    refused(
        &["score", &s(&two), &s(&ubq)],
        &["2 chain(s) (A, B)", "--chain-map"],
    );
    refused(
        &["score", &s(&two), &s(&ubq), "--chain-map", "C:A"],
        &["no chain 'C'", "A, B"],
    );
    let r = ferrofold(&["score", &s(&two), &s(&ubq), "--chain-map", "B:A"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    // A non-finite coordinate names its residue.
    let nan = d.join("nan.pdb");
    edit_pdb(&ubq, &nan, |l| {
        Some(
            if l.starts_with("ATOM") && &l[22..26] == "  12" && &l[12..16] == " CA " {
                format!("{}{:>8}{}", &l[..30], "nan", &l[38..])
            } else {
                l.to_string()
            },
        )
    });
    refused(
        &["score", &s(&nan), &s(&ubq)],
        &["nan.pdb", "residue 12", "atom CA", "not a finite number"],
    );
}

#[test]
fn partial_structures_and_insertion_codes_are_scored_as_far_as_they_go() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let ubq = reference("1ubq.pdb");
    // A reference with only Cα atoms: everything but all-atom lDDT, which is said to be skipped.
    let ca = d.join("ca.pdb");
    edit_pdb(&ubq, &ca, |l| {
        (!l.starts_with("ATOM") || &l[12..16] == " CA ").then(|| l.to_string())
    });
    let v = score_json(&reference("1ubi_ubiquitin.pdb"), &ca, d, &[]);
    assert!(v["lddt_all_atom"].is_null());
    assert!(
        v["skipped"][0].as_str().unwrap().contains("only Cα"),
        "{}",
        v["skipped"]
    );
    assert!(v["tm_score"].as_f64().unwrap() > 0.99);
    // Insertion codes on both sides (residue 10 written as 9A): paired by number and code.
    let ins = d.join("ins.pdb");
    edit_pdb(&ubq, &ins, |l| {
        Some(if l.starts_with("ATOM") && &l[22..26] == "  10" {
            format!("{}   9A{}", &l[..22], &l[27..])
        } else {
            l.to_string()
        })
    });
    let v = score_json(&ins, &ins, d, &[]);
    assert_eq!(v["chains"][0]["matched_by"], "residue number");
    assert_eq!(v["aligned_residues"], 76);
    assert!(v["per_residue"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["residue"] == "9A"));
    assert!((v["tm_score"].as_f64().unwrap() - 1.0).abs() < 1e-9);
}

#[test]
fn a_batch_scores_every_target_with_a_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let models = d.join("out");
    let refs = d.join("refs");
    std::fs::create_dir_all(models.join("ubq")).unwrap();
    std::fs::create_dir_all(models.join("lonely")).unwrap();
    std::fs::create_dir_all(&refs).unwrap();
    std::fs::copy(
        reference("1ubi_ubiquitin.pdb"),
        models.join("ubq/ranked_0.pdb"),
    )
    .unwrap();
    std::fs::copy(
        reference("1ubi_ubiquitin.pdb"),
        models.join("lonely/ranked_0.pdb"),
    )
    .unwrap();
    std::fs::copy(data("score/1bpi_loop.pdb"), models.join("bpi.pdb")).unwrap();
    std::fs::copy(reference("1ubq.pdb"), refs.join("ubq.pdb")).unwrap();
    std::fs::copy(reference("1bpi.pdb"), refs.join("bpi.pdb")).unwrap();
    let tsv = d.join("scores.tsv");
    let r = ferrofold(&[
        "score",
        models.to_str().unwrap(),
        refs.to_str().unwrap(),
        "-o",
        tsv.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let text = std::fs::read_to_string(&tsv).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert!(rows[0].starts_with("target\t"));
    assert!(
        rows[1].starts_with("bpi\t") && rows[2].starts_with("ubq\t"),
        "{text}"
    );
    assert!(String::from_utf8_lossy(&r.stderr).contains("lonely: no reference"));
    // A run's target folder keeps its own report and picture.
    assert!(models.join("ubq/score.json").is_file() && models.join("ubq/score.png").is_file());
}

#[test]
fn run_scores_each_prediction_against_its_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let refs = d.join("refs");
    std::fs::create_dir_all(&refs).unwrap();
    std::fs::copy(reference("1ubq.pdb"), refs.join("ubq.pdb")).unwrap();
    let fasta = d.join("q.fasta");
    std::fs::write(
        &fasta,
        ">ubq\nMQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG\n>other\nMKTAYIAKQRQISFVKSHFSRQ\n",
    )
    .unwrap();
    let out = d.join("out");
    let r = ferrofold(&[
        "run",
        fasta.to_str().unwrap(),
        "--single-sequence",
        "--demo-model",
        "--reference-dir",
        refs.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("ubq/score.json")).unwrap())
            .unwrap();
    assert_eq!(v["aligned_residues"], 76);
    assert!(out.join("ubq/score.png").is_file());
    let log = std::fs::read_to_string(out.join("ubq/log.txt")).unwrap();
    assert!(
        log.contains("score vs") && log.contains("TM-score"),
        "{log}"
    );
    // A target without a reference is predicted as usual and not scored.
    assert!(out.join("other/ranked_0.pdb").is_file() && !out.join("other/score.json").exists());
}
