//! Search benchmark: the built-in search vs jackhmmer (1 iteration, default filters; and AlphaFold2's
//! flags) vs MMseqs2, on the demo database, for 50 queries taken from it. Reports wall time, hits and the
//! overlap with jackhmmer's hits at E ≤ 1e-3, and writes benches/results/search.md.
//!
//! ```text
//! cargo bench --bench search                # needs jackhmmer and mmseqs on PATH
//! ```

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use ferrofold::search::db::SequenceDb;
use ferrofold::search::{search, SearchOptions};

fn id_of(header: &str) -> String {
    header.split_whitespace().next().unwrap_or("").to_string()
}

/// Accession of a UniProt id (`tr|ACC|NAME` → `ACC`), as MMseqs2 names its hits.
fn accession(id: &str) -> String {
    id.split('|').nth(1).unwrap_or(id).to_string()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run tool");
    assert!(
        out.status.success(),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn jackhmmer_hits(query: &Path, db: &Path, af2_flags: bool, tbl: &Path) -> Vec<BTreeSet<String>> {
    let mut cmd = Command::new("jackhmmer");
    cmd.args([
        "--cpu",
        "2",
        "-N",
        "1",
        "--noali",
        "-o",
        "/dev/null",
        "--tblout",
    ])
    .arg(tbl);
    if af2_flags {
        cmd.args([
            "--F1",
            "0.0005",
            "--F2",
            "0.00005",
            "--F3",
            "0.0000005",
            "--incE",
            "0.0001",
            "-E",
            "0.0001",
        ]);
    } else {
        cmd.args(["-E", "1e-3", "--incE", "1e-3"]);
    }
    run(cmd.arg(query).arg(db));
    let text = std::fs::read_to_string(tbl).unwrap();
    let mut set = BTreeSet::new();
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() > 4 && f[4].parse::<f64>().is_ok_and(|e| e <= 1e-3) {
            set.insert(accession(f[0]));
        }
    }
    vec![set]
}

fn main() {
    let db_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("databases/demo/uniprot20k.fasta.gz");
    let tmp = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let db = SequenceDb::load(&db_path).unwrap();
    let load_s = t.elapsed().as_secs_f64();
    // Plain FASTA for the external tools.
    let plain = tmp.path().join("demo.fasta");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&plain).unwrap());
        for i in 0..db.len() {
            writeln!(
                f,
                ">{}\n{}",
                db.headers[i],
                String::from_utf8_lossy(db.residues_of(i))
            )
            .unwrap();
        }
    }
    // 50 queries: every 307th sequence of length 50-800, the first 50.
    let queries: Vec<usize> = (0..db.len())
        .step_by(307)
        .filter(|&i| (50..=800).contains(&db.residues_of(i).len()))
        .take(50)
        .collect();
    let mut opts = SearchOptions::default();
    if let Some(v) = std::env::var("FERROFOLD_BENCH_MIN_UNGAPPED")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        opts.min_ungapped_score = v;
    }
    // `--builtin-only`: time the built-in search alone (for tuning it), print and stop.
    if std::env::args().any(|a| a == "--builtin-only") {
        let t = Instant::now();
        let (mut hits, mut candidates) = (0, 0);
        for &q in &queries {
            let seq = String::from_utf8_lossy(db.residues_of(q)).into_owned();
            let (h, stats) = search(&seq, &db, &opts);
            hits += h.len();
            candidates += stats.candidates;
        }
        println!(
            "built-in: {} queries in {:.3} s, {candidates} candidates scored, {hits} hits",
            queries.len(),
            t.elapsed().as_secs_f64()
        );
        return;
    }
    let (mut t_builtin, mut t_jack1, mut t_jackaf, mut t_mm) = (0.0, 0.0, 0.0, 0.0);
    let (mut n_builtin, mut n_jack1, mut n_jackaf, mut n_mm) = (0, 0, 0, 0);
    let (mut shared_builtin, mut shared_mm) = (0, 0);
    let qfasta = tmp.path().join("queries.fasta");
    {
        let mut f = std::fs::File::create(&qfasta).unwrap();
        for &q in &queries {
            writeln!(
                f,
                ">{}\n{}",
                id_of(&db.headers[q]),
                String::from_utf8_lossy(db.residues_of(q))
            )
            .unwrap();
        }
    }
    // MMseqs2: all queries in one run (its normal mode), E ≤ 1e-3.
    let mm = tmp.path().join("mm");
    std::fs::create_dir_all(&mm).unwrap();
    let t = Instant::now();
    run(Command::new("mmseqs")
        .args(["createdb"])
        .arg(&qfasta)
        .arg(mm.join("q"))
        .args(["-v", "1"]));
    run(Command::new("mmseqs")
        .args(["createdb"])
        .arg(&plain)
        .arg(mm.join("t"))
        .args(["-v", "1"]));
    run(Command::new("mmseqs")
        .arg("search")
        .arg(mm.join("q"))
        .arg(mm.join("t"))
        .arg(mm.join("r"))
        .arg(mm.join("tmp"))
        .args(["-e", "1e-3", "--threads", "2", "-v", "1"]));
    run(Command::new("mmseqs")
        .arg("convertalis")
        .arg(mm.join("q"))
        .arg(mm.join("t"))
        .arg(mm.join("r"))
        .arg(mm.join("r.m8"))
        .args(["-v", "1"]));
    t_mm += t.elapsed().as_secs_f64();
    let m8 = std::fs::read_to_string(mm.join("r.m8")).unwrap();
    let mut rows = Vec::new();
    for &q in &queries {
        let qid = id_of(&db.headers[q]);
        let seq = String::from_utf8_lossy(db.residues_of(q)).into_owned();
        let t = Instant::now();
        let (hits, _) = search(&seq, &db, &opts);
        t_builtin += t.elapsed().as_secs_f64();
        let ours: BTreeSet<String> = hits
            .iter()
            .map(|h| accession(&id_of(&db.headers[h.index])))
            .collect();
        let qf = tmp.path().join("q.fasta");
        std::fs::write(&qf, format!(">{qid}\n{seq}\n")).unwrap();
        let t = Instant::now();
        let jack = jackhmmer_hits(&qf, &plain, false, &tmp.path().join("j1.tbl")).remove(0);
        t_jack1 += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let jack_af = jackhmmer_hits(&qf, &plain, true, &tmp.path().join("jaf.tbl")).remove(0);
        t_jackaf += t.elapsed().as_secs_f64();
        let qacc = accession(&qid);
        let mmset: BTreeSet<String> = m8
            .lines()
            .filter(|l| l.split('\t').next().map(accession).as_deref() == Some(qacc.as_str()))
            .filter_map(|l| l.split('\t').nth(1))
            .map(accession)
            .collect();
        n_builtin += ours.len();
        n_jack1 += jack.len();
        n_jackaf += jack_af.len();
        n_mm += mmset.len();
        let sb = ours.intersection(&jack).count();
        let sm = mmset.intersection(&jack).count();
        shared_builtin += sb;
        shared_mm += sm;
        rows.push(format!(
            "| {qid} | {} | {} | {} | {} | {} | {sb} | {sm} |",
            seq.len(),
            ours.len(),
            jack.len(),
            jack_af.len(),
            mmset.len()
        ));
    }
    let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    let mut md = String::new();
    md.push_str("# Search benchmark\n\n");
    md.push_str(&format!(
        "Machine: {} cores, {}; date: {}. Command: `cargo bench --bench search`.\n\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        std::env::consts::ARCH,
        std::process::Command::new("date")
            .arg("-u")
            .arg("+%Y-%m-%d")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    ));
    md.push_str(&format!(
        "Demo database: {} sequences, {} residues (loaded and encoded in {load_s:.2} s, not counted below). {} queries (every 307th sequence of length 50-800). Hits counted at E ≤ 1e-3 (jackhmmer AlphaFold2 flags: E ≤ 1e-4). Overlap: hits shared with jackhmmer -N 1.\n\n",
        db.len(), db.total_residues(), queries.len()
    ));
    md.push_str("| search | wall s (all queries) | per query s | hits | shared with jackhmmer -N 1 |\n|---|---|---|---|---|\n");
    md.push_str(&format!("| ferrofold built-in | {t_builtin:.2} | {:.3} | {n_builtin} | {shared_builtin} ({:.1} % of jackhmmer's) |\n", t_builtin / queries.len() as f64, pct(shared_builtin, n_jack1)));
    md.push_str(&format!(
        "| jackhmmer -N 1 (E ≤ 1e-3) | {t_jack1:.2} | {:.3} | {n_jack1} | — |\n",
        t_jack1 / queries.len() as f64
    ));
    md.push_str(&format!(
        "| jackhmmer, AlphaFold2 flags | {t_jackaf:.2} | {:.3} | {n_jackaf} | — |\n",
        t_jackaf / queries.len() as f64
    ));
    md.push_str(&format!(
        "| mmseqs search (one batch) | {t_mm:.2} | {:.3} | {n_mm} | {shared_mm} ({:.1} %) |\n\n",
        t_mm / queries.len() as f64,
        pct(shared_mm, n_jack1)
    ));
    md.push_str(&format!(
        "Speed-up of the built-in search over jackhmmer -N 1: {:.2}x.\n\n",
        t_jack1 / t_builtin
    ));
    md.push_str("Jackhmmer times include reading the 9 M-residue FASTA on every run (as a real run does); the built-in search holds the database in memory across queries (as `features` does for a batch).\n\n");
    md.push_str("| query | length | built-in | jackhmmer -N 1 | jackhmmer AF2 | mmseqs | built-in ∩ jackhmmer | mmseqs ∩ jackhmmer |\n|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        md.push_str(&r);
        md.push('\n');
    }
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/results/search.md");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    // The ColabFold section is `cargo bench --bench colabfold_search`'s: kept as it is.
    let old = std::fs::read_to_string(&out).unwrap_or_default();
    if let Some(at) = old.find("\n## ColabFold preset") {
        md.push_str(&old[at..]);
    }
    std::fs::write(&out, &md).unwrap();
    println!("{}", md.lines().take(12).collect::<Vec<_>>().join("\n"));
}
