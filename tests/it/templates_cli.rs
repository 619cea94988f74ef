//! Templates through the program: `features --template-mmcif-dir` over an AlphaFold2-style alignments
//! folder with `pdb70_hits.hhr` gives DeepMind's template features in `features.h5` (and reuses them only
//! while the hits, structures and settings are the same); `predict` runs a template model on them; and
//! broken template inputs are skipped with a reason (where AlphaFold2 skips) or refused with one error
//! naming the file, with no features file written.

use std::path::{Path, PathBuf};

use crate::common::{data, ferrofold, files_below};
use ferrofold::io::npz::Npz;

/// An alignments folder for record `q` (the OpenFold query): BFD alignment and pdb70 hits.
fn inputs(d: &Path, hhr: &str) -> (PathBuf, PathBuf) {
    let msas = d.join("msas/q");
    std::fs::create_dir_all(&msas).unwrap();
    std::fs::copy(
        data("msas/openfold_query/bfd_uniclust_hits.a3m"),
        msas.join("bfd_uniclust_hits.a3m"),
    )
    .unwrap();
    std::fs::write(msas.join("pdb70_hits.hhr"), hhr).unwrap();
    let seq = std::fs::read_to_string(data("msas/openfold_query/short.fasta")).unwrap();
    let body: String = seq.lines().skip(1).collect();
    let fasta = d.join("q.fasta");
    std::fs::write(&fasta, format!(">q\n{body}\n")).unwrap();
    (fasta, d.join("msas"))
}

/// An alignments folder for `q` with its uniref90 alignment and no template hits (for the searches).
fn inputs_for_a_template_search(d: &Path) -> (PathBuf, PathBuf) {
    let (fasta, msas) = inputs(d, "");
    std::fs::remove_file(msas.join("q/pdb70_hits.hhr")).unwrap();
    std::fs::copy(
        data("msas/openfold_query/uniref90_hits.sto"),
        msas.join("q/uniref90_hits.sto"),
    )
    .unwrap();
    (fasta, msas)
}

fn real_hhr() -> String {
    std::fs::read_to_string(data("msas/openfold_query/pdb70_hits.hhr")).unwrap()
}

fn features(
    fasta: &Path,
    msas: &Path,
    mmcif: &Path,
    out: &Path,
    date: &str,
) -> std::process::Output {
    let args = vec![
        "features",
        fasta.to_str().unwrap(),
        "--msa-dir",
        msas.to_str().unwrap(),
        "--template-mmcif-dir",
        mmcif.to_str().unwrap(),
        "--max-template-date",
        date,
        "-o",
        out.to_str().unwrap(),
    ];
    ferrofold(&args)
}

#[test]
fn features_with_templates_then_a_template_model_predicts() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (fasta, msas) = inputs(d, &real_hhr());
    let out = d.join("out");
    let r = features(&fasta, &msas, &data("templates/mmcif"), &out, "2021-11-01");
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(err.contains("1hf9_B skipped: no mmCIF file"), "{err}");
    assert!(err.contains("7 templates from 10 hits"), "{err}");
    let h5 = out.join("q/features.h5");
    let (f, prov) = ferrofold::io::features_h5::read(&h5).unwrap();
    let want = Npz::read_path(data("templates/openfold_query/template_features.npz")).unwrap();
    assert_eq!(
        f.templates.domain_names,
        want.get("template_domain_names")
            .unwrap()
            .to_strings()
            .unwrap()
    );
    assert_eq!(
        f.templates.all_atom_positions.view().into_dyn(),
        want.get("template_all_atom_positions")
            .unwrap()
            .to_f32()
            .unwrap()
            .view()
    );
    assert!(
        prov.databases.contains("\"templates\""),
        "{}",
        prov.databases
    );
    assert!(out.join("q/msas/pdb70_hits.hhr").is_file());

    // Same inputs: up to date. Another date cutoff: made again, without the later structures.
    let r = features(&fasta, &msas, &data("templates/mmcif"), &out, "2021-11-01");
    assert!(String::from_utf8_lossy(&r.stdout).contains("up to date"));
    let r = features(&fasta, &msas, &data("templates/mmcif"), &out, "2012-01-01");
    assert!(r.status.success());
    assert!(String::from_utf8_lossy(&r.stdout).contains("written"));
    let (f2, _) = ferrofold::io::features_h5::read(&h5).unwrap();
    assert!(f2.templates.count() < 7, "{:?}", f2.templates.domain_names);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("after the maximum template date 2012-01-01"),
        "{err}"
    );

    // The template model of the parity fixtures predicts from these features.
    let r = features(&fasta, &msas, &data("templates/mmcif"), &out, "2021-11-01");
    assert!(r.status.success());
    let model = d.join("tiny_templates.onnx");
    ferrofold::pipeline::params::convert(
        &data("model/templates/params_model_1_ptm.npz"),
        &model,
        Some("tiny_templates"),
        |c| {
            c.structure_module.layers = 2;
            c.num_recycle = 1;
        },
    )
    .unwrap();
    let pred = d.join("pred");
    let r = ferrofold(&[
        "predict",
        h5.to_str().unwrap(),
        "--relax",
        "none",
        "--model",
        model.to_str().unwrap(),
        "-o",
        pred.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(
        err.contains("tiny_templates: templates 3u8v_A, 2crb_A, 4zey_A, 1psm_A"),
        "{err}"
    );
    assert!(files_below(&pred)
        .iter()
        .any(|f| f.ends_with("ranked_0.pdb")));
}

/// One error line, exit code `code`, and no features file.
fn refused(r: &std::process::Output, code: i32, expect: &[&str], out: &Path) {
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(code), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    for e in expect {
        assert!(errors[0].contains(e), "{e:?} not in {}", errors[0]);
    }
    assert!(!out.join("q/features.h5").exists());
    assert!(!err.contains("panicked"));
}

#[test]
fn broken_template_inputs_are_skipped_or_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();

    // Hits whose columns disagree: the whole file is unusable.
    let bad = real_hhr().replace(
        "T 3U8V_A           50 THVGHGIKHLEDAIKHGEEGHVGVATKHAQEA   81 (93)",
        "T 3U8V_A           50 THVGHGIKHLEDAIKHGEEGHVGVATKHAQEAK   81 (93)",
    );
    let (fasta, msas) = inputs(&d.join("a"), &bad);
    let out = d.join("a/out");
    let r = features(&fasta, &msas, &data("templates/mmcif"), &out, "2021-11-01");
    refused(&r, 1, &["pdb70_hits.hhr", "line 71"], &out);

    // A hit that is not PDB_chain.
    let bad = real_hhr().replace(">2Q2K_A Hypothetical", ">not-a-pdb-hit Hypothetical");
    let (fasta, msas) = inputs(&d.join("b"), &bad);
    let out = d.join("b/out");
    let r = features(&fasta, &msas, &data("templates/mmcif"), &out, "2021-11-01");
    refused(&r, 1, &["not-a-pdb-hit"], &out);

    // A date that does not parse: a usage error.
    let (fasta, msas) = inputs(&d.join("c"), &real_hhr());
    let out = d.join("c/out");
    let r = features(&fasta, &msas, &data("templates/mmcif"), &out, "2021-02-30");
    refused(&r, 2, &["--max-template-date", "2021-02-30"], &out);

    // A corrupt and a truncated structure: those hits are skipped with the reason, the rest used.
    let mmcif = d.join("mmcif");
    std::fs::create_dir_all(&mmcif).unwrap();
    for e in std::fs::read_dir(data("templates/mmcif")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, mmcif.join(p.file_name().unwrap())).unwrap();
    }
    std::fs::write(mmcif.join("3u8v.cif.gz"), b"\x1f\x8b\x08\x00garbage").unwrap();
    let gz = std::fs::read(data("templates/mmcif/2crb.cif.gz")).unwrap();
    std::fs::write(mmcif.join("2crb.cif.gz"), &gz[..gz.len() / 2]).unwrap();
    std::fs::remove_file(mmcif.join("4zey.cif.gz")).unwrap();
    std::fs::write(
        mmcif.join("4zey.cif"),
        "data_4ZEY\nloop_\n_atom_site.id\n_atom_site.x\n1\n",
    )
    .unwrap();
    let (fasta, msas) = inputs(&d.join("e"), &real_hhr());
    let out = d.join("e/out");
    let r = features(&fasta, &msas, &mmcif, &out, "2021-11-01");
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    for (hit, why) in [
        ("3u8v_A", "3u8v.cif.gz"),
        ("2crb_A", "2crb.cif.gz"),
        ("4zey_A", "4zey.cif: cannot be read as a template structure"),
    ] {
        assert!(
            err.lines()
                .any(|l| l.contains(&format!("{hit} skipped")) && l.contains(why)),
            "{hit}: {err}"
        );
    }
    assert!(err.contains("4 templates from 10 hits"), "{err}");
}

/// A pdb70-style HH-suite database of the protein chains of `tests/data/templates/pdb_seqres.txt`, made
/// with HH-suite's own tools (one sequence per entry: `ffindex_from_fasta`, `hhmake` through
/// `ffindex_apply`, `cstranslate`).
fn pdb70(dir: &Path) -> PathBuf {
    let seqres = std::fs::read_to_string(data("templates/pdb_seqres.txt")).unwrap();
    let mut fasta = String::new();
    let mut keep = false;
    for l in seqres.lines() {
        if let Some(h) = l.strip_prefix('>') {
            keep = h.contains("mol:protein");
            if keep {
                fasta.push_str(&format!(">{}\n", h.split_whitespace().next().unwrap()));
            }
        } else if keep {
            fasta.push_str(l);
            fasta.push('\n');
        }
    }
    std::fs::create_dir_all(dir).unwrap();
    let seqs = dir.join("seqs.fasta");
    std::fs::write(&seqs, fasta).unwrap();
    let p = |s: &str| dir.join(format!("pdb70_{s}"));
    crate::common::run_tool(
        std::process::Command::new("ffindex_from_fasta")
            .arg("-s")
            .arg(p("a3m.ffdata"))
            .arg(p("a3m.ffindex"))
            .arg(&seqs),
    );
    crate::common::run_tool(
        std::process::Command::new("ffindex_apply")
            .arg(p("a3m.ffdata"))
            .arg(p("a3m.ffindex"))
            .arg("-i")
            .arg(p("hhm.ffindex"))
            .arg("-d")
            .arg(p("hhm.ffdata"))
            .args(["--", "hhmake", "-i", "stdin", "-o", "stdout", "-v", "0"]),
    );
    crate::common::cstranslate(&dir.join("pdb70"));
    dir.join("pdb70")
}

#[test]
fn hhsearch_and_the_builtin_search_find_templates() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // hhsearch on pdb70 with the query's uniref90 alignment (AlphaFold2's monomer path).
    let (fasta, msas) = inputs_for_a_template_search(d);
    let db = pdb70(&d.join("pdb70"));
    let out = d.join("out");
    let r = ferrofold(&[
        "features",
        fasta.to_str().unwrap(),
        "--msa-dir",
        msas.to_str().unwrap(),
        "--template-mmcif-dir",
        data("templates/mmcif").to_str().unwrap(),
        "--template-db",
        db.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(
        err.contains("running: ") && err.contains("hhsearch -i"),
        "{err}"
    );
    let hits = ferrofold::io::hhr::parse(
        &std::fs::read_to_string(out.join("q/msas/pdb_hits.hhr")).unwrap(),
        Path::new("pdb_hits.hhr"),
    )
    .unwrap();
    assert!(!hits.is_empty());
    let (f, _) = ferrofold::io::features_h5::read(out.join("q/features.h5")).unwrap();
    assert!(f.templates.count() > 0, "{err}");
    assert!(
        f.templates
            .domain_names
            .iter()
            .all(|n| hits.iter().any(|h| h.name.starts_with(n.as_str()))),
        "{:?}",
        f.templates.domain_names
    );

    // The built-in search over pdb_seqres.txt, no external tool: a query 3U8V_A mutated at every 9th
    // residue finds chains A and B of 3U8V.
    let (m, s3u8v) = mutated_3u8v_query(d);
    let r = ferrofold(&[
        "features",
        m.to_str().unwrap(),
        "--single-sequence",
        "--template-mmcif-dir",
        data("templates/mmcif").to_str().unwrap(),
        "--template-db",
        data("templates/pdb_seqres.txt").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    let (f, _) = ferrofold::io::features_h5::read(out.join("m/features.h5")).unwrap();
    assert_eq!(f.templates.domain_names[..2], ["3u8v_A", "3u8v_B"], "{err}");
    assert!(out.join("m/msas/pdb_seqres_hits.hhr").is_file());
    // The template residues are the structure's, placed on the query's (mutated) positions.
    assert_eq!(f.templates.sequence[0], s3u8v);
}

#[test]
fn hmmsearch_searches_and_precomputed_pdb_hits_sto_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (fasta, msas) = inputs_for_a_template_search(d);
    let want = Npz::read_path(data(
        "templates/openfold_query/template_features_hmmsearch.npz",
    ))
    .unwrap();
    let want_names = want
        .get("template_domain_names")
        .unwrap()
        .to_strings()
        .unwrap();
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "features",
            fasta.to_str().unwrap(),
            "--msa-dir",
            msas.to_str().unwrap(),
            "--template-mmcif-dir",
            data("templates/mmcif").to_str().unwrap().to_owned().leak(),
            "--max-template-date",
            "2021-11-01",
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let r = ferrofold(&args);
        let err = String::from_utf8_lossy(&r.stderr).into_owned();
        assert!(r.status.success(), "{err}");
        let (f, _) = ferrofold::io::features_h5::read(out.join("q/features.h5")).unwrap();
        (f, err)
    };
    // hmmbuild + hmmsearch over pdb_seqres.txt: DeepMind's hits and features.
    let out = d.join("out");
    let seqres = data("templates/pdb_seqres.txt");
    let (f, err) = run(
        &out,
        &[
            "--template-db",
            seqres.to_str().unwrap(),
            "--template-tool",
            "hmmsearch",
        ],
    );
    assert!(err.contains("hmmbuild --hand --amino"), "{err}");
    assert_eq!(f.templates.domain_names, want_names, "{err}");
    let ours = std::fs::read_to_string(out.join("q/msas/pdb_hits.sto")).unwrap();
    let theirs = std::fs::read_to_string(data("templates/openfold_query/pdb_hits.sto")).unwrap();
    let rows = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty() && !l.starts_with("//"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(rows(&ours), rows(&theirs));

    // DeepMind's pdb_hits.sto given as a precomputed file in the alignments folder.
    std::fs::copy(
        data("templates/openfold_query/pdb_hits.sto"),
        msas.join("q/pdb_hits.sto"),
    )
    .unwrap();
    let (f, _) = run(&d.join("out2"), &[]);
    assert_eq!(f.templates.domain_names, want_names);
}

/// Features made with a template search are reused only while the structures its hits name are unchanged:
/// a structure replaced in place (as an rsync of pdb_mmcif does) makes them again, instead of answering from
/// the old coordinates.
#[test]
fn a_structure_replaced_in_place_is_never_answered_from_the_old_features() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mmcif = d.join("mmcif");
    std::fs::create_dir_all(&mmcif).unwrap();
    for e in std::fs::read_dir(data("templates/mmcif")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, mmcif.join(p.file_name().unwrap())).unwrap();
    }
    // A query close to 3U8V chain A: the built-in search finds chains A and B of 3U8V.
    let (m, _) = mutated_3u8v_query(d);
    let out = d.join("out");
    let run = || {
        let r = ferrofold(&[
            "features",
            m.to_str().unwrap(),
            "--single-sequence",
            "--template-mmcif-dir",
            mmcif.to_str().unwrap(),
            "--template-db",
            data("templates/pdb_seqres.txt").to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&r.stderr).into_owned();
        assert!(r.status.success(), "{err}");
        (String::from_utf8_lossy(&r.stdout).into_owned(), err)
    };
    let (stdout, err) = run();
    assert!(stdout.contains("written"), "{err}");
    let (before, _) = ferrofold::io::features_h5::read(out.join("m/features.h5")).unwrap();
    assert_eq!(before.templates.domain_names[0], "3u8v_A");
    let (stdout, _) = run();
    assert!(stdout.contains("up to date"), "{stdout}");
    // 3U8V's file replaced in place by a copy with every x coordinate moved by 1 Å.
    let path = mmcif.join("3u8v.cif.gz");
    let text = ferrofold::templates::read_mmcif(&path).unwrap();
    let moved: String = text
        .lines()
        .map(|l| {
            if l.starts_with("ATOM ") || l.starts_with("HETATM ") {
                let mut f: Vec<String> = l.split_whitespace().map(str::to_string).collect();
                if let Ok(x) = f[10].parse::<f64>() {
                    f[10] = format!("{:.3}", x + 1.0);
                }
                f.join(" ")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, format!("{moved}\n").as_bytes()).unwrap();
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    let (stdout, err) = run();
    assert!(stdout.contains("written"), "stale features reused: {err}");
    assert!(
        err.contains("template structures (or hits) changed"),
        "{err}"
    );
    let (after, _) = ferrofold::io::features_h5::read(out.join("m/features.h5")).unwrap();
    assert_eq!(after.templates.domain_names[0], "3u8v_A");
    // The new coordinates: every atom of the template 1 Å further along x.
    let (b, a) = (&before.templates, &after.templates);
    let (mut moved_atoms, mut other) = (0, 0);
    for ((pb, pa), m) in b
        .all_atom_positions
        .outer_iter()
        .next()
        .unwrap()
        .rows()
        .into_iter()
        .zip(a.all_atom_positions.outer_iter().next().unwrap().rows())
        .zip(b.all_atom_masks.outer_iter().next().unwrap().iter())
    {
        if *m > 0.0 {
            if ((pa[0] - pb[0]) - 1.0).abs() < 1e-3 && pa[1] == pb[1] {
                moved_atoms += 1;
            } else {
                other += 1;
            }
        }
    }
    assert!(
        moved_atoms > 100 && other == 0,
        "{moved_atoms} moved, {other} not"
    );
}

/// A query of 3U8V chain A's sequence (from the shipped pdb_seqres.txt) mutated at every 9th residue,
/// written to `dir/m.fasta` (returned with the unmutated sequence): the built-in template search finds
/// chains A and B of 3U8V for it.
fn mutated_3u8v_query(dir: &Path) -> (PathBuf, String) {
    let seqres = std::fs::read_to_string(data("templates/pdb_seqres.txt")).unwrap();
    let s3u8v = seqres
        .lines()
        .skip_while(|l| !l.starts_with(">3u8v_A"))
        .nth(1)
        .unwrap();
    let mutated: String = s3u8v
        .chars()
        .enumerate()
        .map(|(i, c)| match (i % 9 == 3, c) {
            (false, c) => c,
            (true, 'A') => 'G',
            (true, _) => 'A',
        })
        .collect();
    let m = dir.join("m.fasta");
    std::fs::write(&m, format!(">m\n{mutated}\n")).unwrap();
    (m, s3u8v.to_string())
}
