//! `ferrofold params fetch` against a small parameter archive served on 127.0.0.1: download, resume of a
//! partial download through HTTP Range, conversion, and a rerun that transfers nothing.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use common::{data, ferrofold};

/// Served requests: (path, Range header, bytes sent).
type Log = Arc<Mutex<Vec<(String, Option<String>, usize)>>>;

/// A minimal HTTP/1.1 file server for one body, honouring `Range: bytes=N-`; 404 for other paths.
fn serve(body: Vec<u8>, path: &'static str) -> (u16, Log) {
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

fn archive() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, bytes: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, bytes).unwrap();
    };
    add("LICENSE", b"CC BY 4.0 test licence\n");
    add(
        "params_tiny.npz",
        &std::fs::read(data("model/tiny/params_model_1_ptm.npz")).unwrap(),
    );
    add("params_model_1_multimer_v3.npz", b"not converted");
    b.into_inner().unwrap()
}

#[test]
fn fetch_downloads_resumes_converts_and_skips() {
    let body = archive();
    let (port, log) = serve(body.clone(), "/params/test_params.tar");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A previous, interrupted download left the first third behind.
    std::fs::create_dir_all(d.join("params")).unwrap();
    let third = body.len() / 3;
    std::fs::File::create(d.join("params/test_params.tar.part"))
        .unwrap()
        .write_all(&body[..third])
        .unwrap();

    let url = format!("http://127.0.0.1:{port}/params/test_params.tar");
    let r = ferrofold(&[
        "params",
        "fetch",
        "--data-dir",
        d.to_str().unwrap(),
        "--url",
        &url,
        "--size",
        &body.len().to_string(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(String::from_utf8_lossy(&r.stdout).contains("tiny\t"));
    {
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(
            log[0].1.as_deref(),
            Some(third.to_string().as_str()),
            "resumed with a Range request"
        );
        assert_eq!(
            log[0].2,
            body.len() - third,
            "only the missing bytes were sent"
        );
    }
    assert_eq!(
        std::fs::read(d.join("params/test_params.tar")).unwrap(),
        body
    );
    assert!(!d.join("params/test_params.tar.part").exists());
    assert!(d.join("params/LICENSE").is_file());
    let m = ferrofold::pipeline::params::load(&d.join("models/tiny.onnx")).unwrap();
    assert_eq!(m.config.msa_channel, 32);
    assert!(!d.join("models/model_1_multimer_v3.onnx").exists());

    // Rerun: nothing is transferred, nothing converted again.
    let r = ferrofold(&[
        "params",
        "fetch",
        "--data-dir",
        d.to_str().unwrap(),
        "--url",
        &url,
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(String::from_utf8_lossy(&r.stdout).contains("present"));
    assert_eq!(log.lock().unwrap().len(), 1, "no second request");

    // A wrong checksum is an error naming the file; a missing URL an error naming the URL.
    let d2 = tempfile::tempdir().unwrap();
    let r = ferrofold(&[
        "params",
        "fetch",
        "--data-dir",
        d2.path().to_str().unwrap(),
        "--url",
        &url,
        "--sha256",
        "00ff",
    ]);
    assert_eq!(r.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("SHA-256"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let bad = format!("http://127.0.0.1:{port}/nope.tar");
    let r = ferrofold(&[
        "params",
        "fetch",
        "--data-dir",
        d2.path().to_str().unwrap(),
        "--url",
        &bad,
    ]);
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("nope.tar") && err.contains("404"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
