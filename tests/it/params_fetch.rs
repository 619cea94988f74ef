//! `ferrofold params fetch` against a small parameter archive served on 127.0.0.1: download, resume of a
//! partial download through HTTP Range, conversion, and a rerun that transfers nothing.

use std::io::Write;

use crate::common::{data, ferrofold, serve};

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
    add(
        "params_tiny_multimer.npz",
        &std::fs::read(data("multimer/model_tiny/params_model_1_multimer_v3.npz")).unwrap(),
    );
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
    assert_eq!(m.config.evoformer.msa_channel, 32);
    let m = ferrofold::pipeline::params::load(&d.join("models/tiny_multimer.onnx")).unwrap();
    assert_eq!(
        m.config.kind,
        ferrofold::model::params::config::ModelKind::Multimer
    );

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

/// A data folder where AlphaFold2's download_alphafold_params.sh already put the .npz files (no archive):
/// fetch converts those and downloads nothing (the URL points nowhere).
#[test]
fn fetch_uses_an_existing_alphafold2_params_folder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("params")).unwrap();
    std::fs::copy(
        data("model/tiny/params_model_1_ptm.npz"),
        d.join("params/params_model_9_tiny.npz"),
    )
    .unwrap();
    let r = ferrofold(&[
        "params",
        "fetch",
        "--data-dir",
        d.to_str().unwrap(),
        "--url",
        "http://127.0.0.1:9/nothing-listens-here.tar",
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(err.contains("downloading nothing"), "{err}");
    assert!(d.join("models/model_9_tiny.onnx").is_file());
    assert!(!d.join("params/nothing-listens-here.tar").exists());
}
