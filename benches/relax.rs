//! Amber relaxation, ferrofold against DeepMind's relax on OpenMM, side by side in one run (issue 22):
//! `ferrofold relax` (release binary, a child process; peak RSS by `wait4`) and, when
//! `FERROFOLD_RELAX_PYTHON` names a Python with alphafold-colabfold 2.3.1 + openmm 8.6.1 + pdbfixer 1.12.0
//! (the reference harness's venv), DeepMind's `AmberRelaxation` on OpenMM's CPU platform
//! (`../shared/reference/relax_test.py ... patched`, its own relax time, imports excluded), one after the
//! other on the same inputs:
//!
//! * 1UBQ, 1BPI, 1EJG, 1UBI as AlphaFold2 reads them (`tests/data/relax/<name>_input.pdb`);
//! * 1UBQ ×4 as a four-chain complex (copies 60 Å apart, 304 residues, 4,924 atoms with hydrogens): the
//!   all-pairs nonbonded sum grows with the square of the atoms.
//!
//! ferrofold runs with 1 and with all threads (`--threads` is not a relax option: `RAYON_NUM_THREADS`).
//! Writes `benches/results/relax.md`.
//!
//! ```text
//! cargo build --release && FERROFOLD_RELAX_PYTHON=/tmp/oracle/venv/bin/python cargo bench --bench relax
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

#[path = "common/util.rs"]
mod util;
use util::{machine, now_utc, peak_rss};

fn tetramer(src: &Path, dest: &Path) {
    let text = std::fs::read_to_string(src).expect("1ubq input");
    let mut out = String::new();
    for (k, chain) in ['A', 'B', 'C', 'D'].iter().enumerate() {
        for line in text.lines().filter(|l| l.starts_with("ATOM")) {
            let x: f64 = line[30..38].trim().parse().expect("x");
            out.push_str(&format!(
                "{}{chain}{}{:>8.3}{}\n",
                &line[..21],
                &line[22..30],
                x + 60.0 * k as f64,
                &line[38..]
            ));
        }
        out.push_str("TER\n");
    }
    out.push_str("END\n");
    std::fs::write(dest, out).expect("write tetramer");
}

fn ferrofold_relax(
    bin: &Path,
    input: &Path,
    out: &Path,
    threads: Option<usize>,
) -> (f64, u64, String) {
    let _ = std::fs::remove_dir_all(out);
    let mut cmd = Command::new(bin);
    cmd.args(["relax", "-q"]).arg(input).arg("-o").arg(out);
    if let Some(t) = threads {
        cmd.env("RAYON_NUM_THREADS", t.to_string());
    }
    cmd.stdout(std::process::Stdio::null());
    let t = Instant::now();
    let (ok, rss) = peak_rss(&mut cmd);
    let secs = t.elapsed().as_secs_f64();
    assert!(ok, "ferrofold relax {} failed", input.display());
    let metrics: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("relax_metrics.json")).expect("metrics"),
    )
    .expect("json");
    let m = metrics
        .as_object()
        .and_then(|o| o.values().next())
        .cloned()
        .unwrap_or_default();
    let summary = format!(
        "{:.1} kcal/mol, {} violations",
        m["final_energy"].as_f64().unwrap_or(f64::NAN),
        m["remaining_violations_count"]
    );
    (secs, rss, summary)
}

fn openmm_relax(python: &str, input: &Path, out: &Path) -> Option<(f64, String)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/relax_test.py");
    let o = Command::new(python)
        .arg(&script)
        .arg(input)
        .arg(out)
        .arg("patched")
        .current_dir(script.parent()?)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let line = text.lines().find(|l| l.starts_with('{'))?;
    let (json, rest) = line.split_at(line.find('}')? + 1);
    let debug: serde_json::Value = serde_json::from_str(json).ok()?;
    let secs: f64 = rest.split_whitespace().last()?.parse().ok()?;
    let violations = rest.split_whitespace().nth(1).unwrap_or("?").to_string();
    Some((
        secs,
        format!(
            "{:.1} kcal/mol, {violations} violations",
            debug["final_energy"].as_f64().unwrap_or(f64::NAN)
        ),
    ))
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = root.join("target/release/ferrofold");
    assert!(
        bin.exists(),
        "build the release binary first: cargo build --release"
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut inputs: Vec<(String, PathBuf)> = ["1ubq", "1bpi", "1ejg", "1ubi"]
        .iter()
        .map(|n| {
            (
                n.to_string(),
                root.join(format!("tests/data/relax/{n}_input.pdb")),
            )
        })
        .collect();
    let tet = tmp.path().join("ubq4.pdb");
    tetramer(&root.join("tests/data/relax/1ubq_input.pdb"), &tet);
    inputs.push(("1ubq x4".into(), tet));
    let python = std::env::var("FERROFOLD_RELAX_PYTHON").ok();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut rows = Vec::new();
    for (name, input) in &inputs {
        let residues = std::fs::read_to_string(input)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("ATOM") && &l[12..16] == " CA ")
            .count();
        let (s1, _, _) = ferrofold_relax(&bin, input, &tmp.path().join("f1"), Some(1));
        let (sn, rss, summary) = ferrofold_relax(&bin, input, &tmp.path().join("fn"), None);
        let openmm = python
            .as_deref()
            .and_then(|py| openmm_relax(py, input, &tmp.path().join("openmm.pdb")));
        let (om, om_summary, ratio) = match &openmm {
            Some((s, summ)) => (format!("{s:.1}"), summ.clone(), format!("{:.1}×", s / sn)),
            None => ("–".into(), "not run".into(), "–".into()),
        };
        eprintln!("{name}: ferrofold {s1:.2} s (1 thread) / {sn:.2} s ({threads}); OpenMM {om} s");
        rows.push(format!(
            "| {name} | {residues} | {s1:.2} | {sn:.2} | {:.0} | {summary} | {om} | {om_summary} | {ratio} |",
            rss as f64 / (1 << 20) as f64
        ));
    }
    let out = root.join("benches/results/relax.md");
    let mut f = std::fs::File::create(&out).expect("results file");
    writeln!(
        f,
        "# Amber relax: ferrofold vs DeepMind's relax on OpenMM\n\n\
         `cargo build --release && FERROFOLD_RELAX_PYTHON=/tmp/oracle/venv/bin/python cargo bench --bench relax`\n\n\
         Machine: {} ({threads} threads), {}. ferrofold: `ferrofold relax` (release, whole process: reading, \
         hydrogens, minimisation, violations, writing). OpenMM: DeepMind's `AmberRelaxation` (v2.3.2 relax \
         code, OpenMM 8.6.1 CPU platform, pdbfixer 1.12.0; the reference harness's tolerance fix), its own \
         relax time without Python's imports. Both: AlphaFold2's settings (stiffness 10 kcal/mol/Å², \
         tolerance 2.39, up to 3 outer iterations). Speed-up = OpenMM ÷ ferrofold ({threads} threads).\n\n\
         | input | residues | ferrofold 1 thread (s) | ferrofold {threads} threads (s) | peak RSS (MiB) | ferrofold result | OpenMM (s) | OpenMM result | speed-up |\n\
         |---|---|---|---|---|---|---|---|---|",
        machine(),
        now_utc()
    )
    .expect("write");
    for r in rows {
        writeln!(f, "{r}").expect("write");
    }
    eprintln!("wrote {}", out.display());
}
