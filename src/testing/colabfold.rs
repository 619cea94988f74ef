//! Small ColabFold-layout MMseqs2 databases made from FASTA text with the real `mmseqs`, for the tests
//! and the benchmark of the ColabFold search path.

use std::path::Path;
use std::process::Command;

fn mmseqs(dir: &Path, args: &[&str]) {
    let o = Command::new("mmseqs")
        .current_dir(dir)
        .args(args)
        .args(["-v", "1"])
        .env("MMSEQS_FORCE_MERGE", "1")
        .env("MMSEQS_CALL_DEPTH", "1")
        .output()
        .expect("run mmseqs (apt-get install mmseqs2)");
    assert!(
        o.status.success(),
        "mmseqs {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// An expandable database `name` in `dir` from `fasta`, as ColabFold lays one out: every sequence
/// (`<name>_seq`, `<name>_seq_h`), clusters of ≥ 30 % identity over 80 % coverage whose representatives
/// are the searched database (`<name>`, `<name>_h`), and representative → member alignments
/// (`<name>_aln`).
pub fn build_expandable(dir: &Path, name: &str, fasta: &str) {
    let f = format!("{name}.fasta");
    std::fs::write(dir.join(&f), fasta).unwrap();
    let (seq, clu, tmp) = (
        format!("{name}_seq"),
        format!("{name}_clu"),
        format!("tmp_{name}"),
    );
    mmseqs(dir, &["createdb", &f, &seq]);
    mmseqs(
        dir,
        &[
            "linclust",
            &seq,
            &clu,
            &tmp,
            "--min-seq-id",
            "0.3",
            "-c",
            "0.8",
            "--threads",
            "2",
        ],
    );
    mmseqs(dir, &["createsubdb", &clu, &seq, name]);
    mmseqs(
        dir,
        &[
            "createsubdb",
            &clu,
            &format!("{seq}_h"),
            &format!("{name}_h"),
        ],
    );
    mmseqs(
        dir,
        &[
            "align",
            &seq,
            &seq,
            &clu,
            &format!("{name}_aln"),
            "-a",
            "-e",
            "inf",
            "-c",
            "0",
            "--threads",
            "2",
        ],
    );
    mmseqs(dir, &["rmdb", &clu]);
    std::fs::remove_dir_all(dir.join(tmp)).unwrap();
    std::fs::remove_file(dir.join(&f)).unwrap();
}

/// The demo database's records whose index satisfies `keep`, as FASTA text.
pub fn demo_records(keep: impl Fn(usize) -> bool) -> String {
    let gz = std::fs::read(crate::databases::demo_database()).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text).unwrap();
    // Records start at lines beginning with '>' (a header may hold '>' further on).
    let mut out = String::new();
    let mut index = None;
    for line in text.lines() {
        if line.starts_with('>') {
            index = Some(index.map_or(0, |i| i + 1));
        }
        if index.is_some_and(&keep) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// UniRef30 (`uniref30_2302_db`: the demo database's odd records) and the environmental database
/// (`colabfold_envdb_202108_db`: its even records) in `dir`.
pub fn build_demo_pair(dir: &Path) {
    build_expandable(dir, "uniref30_2302_db", &demo_records(|i| i % 2 == 1));
    build_expandable(
        dir,
        "colabfold_envdb_202108_db",
        &demo_records(|i| i % 2 == 0),
    );
}
