//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

/// `tests/data/...`
pub fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

/// Runs the `ferrofold` binary with `args`.
pub fn ferrofold(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrofold"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run ferrofold")
}

/// (id, sequence) of every record of a FASTA file (one line per sequence or wrapped).
pub fn fasta_records(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    text.split('>')
        .filter(|r| !r.is_empty())
        .map(|r| {
            let (h, s) = r.split_once('\n').unwrap();
            (h.trim().to_string(), s.replace('\n', ""))
        })
        .collect()
}

/// Runs a helper program (an HH-suite tool making a test database) and asserts it succeeded.
pub fn run_tool(c: &mut Command) {
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Adds HH-suite's column-state prefilter (`<prefix>_cs219`) to a database with `<prefix>_a3m`.
/// Debian's `cstranslate` wrapper looks for its SIMD builds in the wrong place; one is called directly.
pub fn cstranslate(prefix: &Path) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let variant = ["avx2", "sse3", "plain"]
        .into_iter()
        .find(|v| *v == "plain" || cpu.contains(v))
        .unwrap();
    let cs = PathBuf::from(format!("/usr/libexec/hhsuite/cstranslate-{variant}"));
    let cs = if cs.is_file() {
        cs
    } else {
        PathBuf::from("cstranslate")
    };
    let name = |s: &str| {
        let mut p = prefix.as_os_str().to_owned();
        p.push(s);
        PathBuf::from(p)
    };
    run_tool(
        Command::new(cs)
            .args(["-f", "-x", "0.3", "-c", "4", "-I", "a3m", "-b"])
            .arg("-i")
            .arg(name("_a3m"))
            .arg("-o")
            .arg(name("_cs219"))
            .arg("-A")
            .arg("/usr/share/hhsuite/data/cs219.lib")
            .arg("-D")
            .arg("/usr/share/hhsuite/data/context_data.lib"),
    );
}

/// Features of the 2Q2K A query in single-sequence mode, made by the CLI below `dir/feat`; returns the
/// `features.h5` path.
pub fn single_sequence_features(dir: &Path) -> PathBuf {
    let o = dir.join("feat");
    let r = ferrofold(&[
        "features",
        data("msas/2q2k_A/query.fasta").to_str().unwrap(),
        "--single-sequence",
        "-o",
        o.to_str().unwrap(),
        "-q",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    o.join("query/features.h5")
}

/// Every file below `dir`, relative paths, sorted.
pub fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(base, &p, out);
                } else {
                    out.push(p.strip_prefix(base).unwrap().display().to_string());
                }
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Served requests: (path, Range header, bytes sent).
pub type Log = Arc<Mutex<Vec<(String, Option<String>, usize)>>>;

/// A minimal HTTP/1.1 file server for one body, honouring `Range: bytes=N-`; 404 for other paths.
pub fn serve(body: Vec<u8>, path: &'static str) -> (u16, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log: Log = Arc::default();
    let log2 = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(16) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let mut range = None;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("range: bytes=") {
                    range = Some(v.trim().trim_end_matches('-').to_string());
                }
            }
            let asked = request.split_whitespace().nth(1).unwrap_or("").to_string();
            if asked != path {
                let _ = stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
                log2.lock().unwrap().push((asked, range, 0));
                continue;
            }
            let start: usize = range.as_deref().map(|r| r.parse().unwrap()).unwrap_or(0);
            let part = &body[start.min(body.len())..];
            let head = if range.is_some() {
                format!("HTTP/1.1 206 Partial Content\r\ncontent-length: {}\r\ncontent-range: bytes {start}-{}/{}\r\nconnection: close\r\n\r\n", part.len(), body.len() - 1, body.len())
            } else {
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    part.len()
                )
            };
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(part).unwrap();
            log2.lock().unwrap().push((asked, range, part.len()));
        }
    });
    (port, log)
}

/// Relative RMS error of `ours` against a reference of the same shape: ‖ours − ref‖ / ‖ref‖.
pub fn rel_err<D: ndarray::Dimension>(
    ours: &ndarray::Array<f32, D>,
    reference: &ndarray::ArrayD<f32>,
) -> f64 {
    assert_eq!(ours.shape(), reference.shape(), "shapes");
    let (mut num, mut den) = (0f64, 0f64);
    for (a, b) in ours.iter().zip(reference.iter()) {
        num += ((*a - *b) as f64).powi(2);
        den += (*b as f64).powi(2);
    }
    (num / den).sqrt()
}

/// gemmi and python-modelcif read a prediction's mmCIF: its chains and their lengths, one entity per
/// distinct sequence, the global and per-residue pLDDT of its result file (`tests/reference/check_modelcif.py`
/// run by FERROFOLD_CIF_PYTHON, a Python with gemmi and modelcif; default python3). Returns the script's line.
pub fn check_modelcif(cif: &Path, result: &Path, chains: &[usize], entities: usize) -> String {
    let plddt = ferrofold::io::results_h5::read_f32(result, "plddt").unwrap();
    let mean = plddt.iter().map(|&v| v as f64).sum::<f64>() / plddt.len() as f64;
    let python = std::env::var("FERROFOLD_CIF_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/check_modelcif.py");
    let lengths: Vec<String> = chains.iter().map(|c| c.to_string()).collect();
    let o = std::process::Command::new(&python)
        .arg(&script)
        .arg(cif)
        .arg(format!("{mean:.4}"))
        .arg(plddt.len().to_string())
        .arg(lengths.join(","))
        .arg(entities.to_string())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} (set FERROFOLD_CIF_PYTHON to a Python with gemmi and modelcif): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.status.success() && text.starts_with("ok"),
        "{}: {text}",
        cif.display()
    );
    text
}
