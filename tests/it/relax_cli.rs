//! Issue 22: `ferrofold relax` and `--relax best|all|none` on predict/run, as a user runs them.

use std::path::Path;

use crate::common::{data, ferrofold};

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn metrics(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("relax_metrics.json")).unwrap()).unwrap()
}

#[test]
fn relax_writes_relaxed_models_and_metrics_and_reuses_them() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let input = d.join("unrelaxed_ubq.pdb");
    std::fs::copy(data("relax/1ubq_input.pdb"), &input).unwrap();
    let out = d.join("out");
    let r = ferrofold(&[
        "relax",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let stdout = String::from_utf8_lossy(&r.stdout).into_owned();
    assert!(
        stdout.contains("relaxed_ubq.pdb") && stdout.contains("violations 0 -> 0"),
        "{stdout}"
    );
    let pdb = std::fs::read_to_string(out.join("relaxed_ubq.pdb")).unwrap();
    // Hydrogens added (1UBQ: 1,231 atoms with hydrogens and OXT), OXT on the last residue, TER, END.
    let atoms: Vec<&str> = pdb.lines().filter(|l| l.starts_with("ATOM")).collect();
    assert_eq!(atoms.len(), 1231);
    assert!(atoms
        .iter()
        .any(|l| &l[12..16] == "HG21" && l.ends_with("H  ")));
    assert!(atoms.last().unwrap().contains("OXT GLY A  76"));
    assert!(pdb.contains("\nTER ") && pdb.ends_with("END\n"));
    // The relaxed mmCIF (heavy atoms) reads back as the same residues.
    let cif = ferrofold::io::structure::read_path(out.join("relaxed_ubq.cif"), None).unwrap();
    assert_eq!(cif.num_res(), 76);
    let m = metrics(&out);
    let e = &m["ubq"];
    for key in [
        "initial_energy",
        "final_energy",
        "attempts",
        "rmsd",
        "remaining_violations",
        "remaining_violations_count",
        "input_sha256",
    ] {
        assert!(!e[key].is_null(), "relax_metrics.json lacks {key}: {e}");
    }
    assert!(e["final_energy"].as_f64().unwrap() < e["initial_energy"].as_f64().unwrap());
    assert_eq!(e["remaining_violations"].as_array().unwrap().len(), 76);
    // A rerun reuses the relaxed model; a changed input is relaxed again.
    let before = std::fs::metadata(out.join("relaxed_ubq.pdb"))
        .unwrap()
        .modified()
        .unwrap();
    let r = ferrofold(&[
        "relax",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(r.status.success());
    assert!(String::from_utf8_lossy(&r.stdout).contains("(up to date)"));
    assert_eq!(
        std::fs::metadata(out.join("relaxed_ubq.pdb"))
            .unwrap()
            .modified()
            .unwrap(),
        before
    );
    let text = std::fs::read_to_string(&input)
        .unwrap()
        .replacen("  1.00 ", "  0.99 ", 1);
    std::fs::write(&input, text).unwrap();
    let r = ferrofold(&[
        "relax",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(r.status.success());
    assert!(!String::from_utf8_lossy(&r.stdout).contains("(up to date)"));
}

#[test]
fn relax_takes_complexes_chain_by_chain() {
    // 1UBQ cut into two chains: each gets its own N- and C-terminal groups.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let text = std::fs::read_to_string(data("relax/1ubq_input.pdb")).unwrap();
    let mut two = String::new();
    for line in text.lines() {
        if line.starts_with("ATOM") {
            let res: i32 = line[22..26].trim().parse().unwrap();
            if res == 39 && line[12..16].trim() == "N" {
                two.push_str("TER\n");
            }
            let chain = if res >= 39 { 'B' } else { 'A' };
            two.push_str(&format!("{}{chain}{}\n", &line[..21], &line[22..]));
        }
    }
    two.push_str("END\n");
    let input = d.join("dimer.pdb");
    std::fs::write(&input, two).unwrap();
    let r = ferrofold(&["relax", input.to_str().unwrap(), "-o", d.to_str().unwrap()]);
    assert!(r.status.success(), "{}", stderr(&r));
    let pdb = std::fs::read_to_string(d.join("relaxed_dimer.pdb")).unwrap();
    let has = |needle: &str| {
        pdb.lines()
            .any(|l| l.starts_with("ATOM") && l.contains(needle))
    };
    assert!(
        has(" OXT PRO A  38") && has(" OXT GLY B  76"),
        "C-termini of both chains"
    );
    assert!(
        has(" H3  MET A   1") && has(" H3  ASP B  39"),
        "N-termini of both chains"
    );
    assert_eq!(pdb.lines().filter(|l| l.starts_with("TER")).count(), 2);
}

#[test]
fn relax_refuses_incomplete_residues_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let text = std::fs::read_to_string(data("relax/1ubq_input.pdb")).unwrap();
    // Lys 11 loses its CB.
    let cut: String = text
        .lines()
        .filter(|l| {
            !(l.starts_with("ATOM") && l[22..26].trim() == "11" && l[12..16].trim() == "CB")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let input = d.join("cut.pdb");
    std::fs::write(&input, cut).unwrap();
    let out = d.join("out");
    let r = ferrofold(&[
        "relax",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(1));
    let err = stderr(&r);
    assert!(err.contains("cut.pdb") && err.contains("A:LYS 11"), "{err}");
    assert!(err.contains("heavy atoms missing: CB"), "{err}");
    assert!(!out.join("relaxed_cut.pdb").exists() && !out.join("relax_metrics.json").exists());
    // Bad settings are refused before any work.
    let r = ferrofold(&[
        "relax",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--tolerance",
        "0",
    ]);
    assert_eq!(r.status.code(), Some(1));
    assert!(stderr(&r).contains("--tolerance"));
}

#[test]
fn predict_relaxes_the_best_model_and_ranks_it() {
    // The demo model's random weights give structures Amber can relax only when short: a 22-residue peptide.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let fasta = d.join("pep.fasta");
    std::fs::write(&fasta, ">pep\nMKTAYIAKQRQISFVKSHFSRQ\n").unwrap();
    let out = d.join("out");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            fasta.to_str().unwrap(),
            "--demo-model",
            "--no-plots",
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let r = ferrofold(&args);
        assert!(r.status.success(), "{}", stderr(&r));
    };
    let t = out.join("pep");
    let pred = "ferrofold_demo_pred_0";
    // --demo-model alone: no relaxation (its structures are random).
    run(&[]);
    assert!(!t.join(format!("relaxed_{pred}.pdb")).exists());
    run(&["--relax", "best"]);
    let relaxed = std::fs::read(t.join(format!("relaxed_{pred}.pdb"))).unwrap();
    assert_eq!(
        std::fs::read(t.join("ranked_0.pdb")).unwrap(),
        relaxed,
        "ranked_0 is the relaxed model"
    );
    assert!(t.join(format!("relaxed_{pred}.cif")).exists());
    let m = metrics(&t);
    assert!(m[pred]["remaining_violations_count"].is_u64());
    let timings = std::fs::read_to_string(t.join("timings.json")).unwrap();
    assert!(timings.contains(&format!("relax_{pred}")), "{timings}");
    // --relax none: ranked_0 is the unrelaxed model again; the relaxed one still belongs to it and stays.
    run(&["--relax", "none"]);
    assert_eq!(
        std::fs::read(t.join("ranked_0.pdb")).unwrap(),
        std::fs::read(t.join(format!("unrelaxed_{pred}.pdb"))).unwrap()
    );
    assert!(t.join(format!("relaxed_{pred}.pdb")).exists());
    // A new prediction (another seed): the old relaxed model no longer belongs to it and is removed.
    run(&["--relax", "none", "--seed", "7", "--overwrite"]);
    assert!(!t.join(format!("relaxed_{pred}.pdb")).exists());
    assert!(!t.join(format!("relaxed_{pred}.cif")).exists());
    assert!(metrics(&t).get(pred).is_none());
}

#[test]
fn a_failed_relaxation_still_leaves_the_unrelaxed_ranking() {
    // An unknown residue (X) has no atoms in the unrelaxed model: the chain has a break there, which relax
    // refuses rather than closing it (AlphaFold2's relax refuses residues without atoms too); predict exits 1
    // naming it, after writing the predictions and ranking them unrelaxed.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let fasta = d.join("x.fasta");
    std::fs::write(&fasta, ">x\nMKTAYIAKXRQISFVKSHFSRQ\n").unwrap();
    let out = d.join("out");
    let r = ferrofold(&[
        "run",
        fasta.to_str().unwrap(),
        "--demo-model",
        "--relax",
        "best",
        "--no-plots",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(1));
    let err = stderr(&r);
    assert!(
        err.contains("A:ARG 10") && err.contains("chain break") && err.contains("--relax none"),
        "{err}"
    );
    let t = out.join("x");
    let pred = "ferrofold_demo_pred_0";
    assert_eq!(
        std::fs::read(t.join("ranked_0.pdb")).unwrap(),
        std::fs::read(t.join(format!("unrelaxed_{pred}.pdb"))).unwrap()
    );
    assert!(t.join("ranking_debug.json").exists());
    assert!(!t.join(format!("relaxed_{pred}.pdb")).exists());
}

/// A deposited PDB file whose SEQRES pdbtbx cannot check against its atoms (1EJG's microheterogeneity)
/// is relaxed as `score` reads it (SEQRES is not used); a missing input leaves no output folder.
#[test]
fn relax_reads_deposited_pdb_files_and_checks_inputs_first() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let r = ferrofold(&[
        "relax",
        data("structures/1ejg_crambin.pdb").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(out.join("relaxed_1ejg_crambin.pdb").is_file());
    let none = tmp.path().join("none");
    let r = ferrofold(&[
        "relax",
        tmp.path().join("missing.pdb").to_str().unwrap(),
        "-o",
        none.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(1));
    let err = stderr(&r);
    assert!(err.contains("missing.pdb"), "{err}");
    assert_eq!(err.matches("missing.pdb").count(), 1, "{err}");
    assert!(!none.exists());
}
