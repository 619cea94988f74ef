//! `ferrofold db download` against a small gzipped database served on 127.0.0.1: resume of a partial
//! download, size and SHA-256 checks, unpacking, a rerun that transfers nothing, and clear errors.

use std::io::Write;

use crate::common::{ferrofold, serve};

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn download_resumes_verifies_and_unpacks() {
    let fasta: String = (0..300)
        .map(|i| {
            format!(
                ">seq{i} test\nMKVLAAGIVGWWHHKLMNPQRSTAAAK{}\n",
                "ACDEFGHIKL".repeat(i % 7 + 1)
            )
        })
        .collect();
    let body = gz(fasta.as_bytes());
    let (port, log) = serve(body.clone(), "/dbs/tiny.fasta.gz");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sha = ferrofold::fsutil::checksum::sha256_file(&{
        let p = d.join("body.gz");
        std::fs::write(&p, &body).unwrap();
        p
    })
    .unwrap();
    let manifest = d.join("manifest.tsv");
    std::fs::write(
        &manifest,
        format!("# test\nname\turl\tarchive\tdownload_bytes\tsha256\tunpacked\tdescription\ntiny\thttp://127.0.0.1:{port}/dbs/tiny.fasta.gz\tgz\t{}\t{sha}\ttiny.fasta\ttest db\nbad\thttp://127.0.0.1:{port}/dbs/tiny.fasta.gz\tgz\t0\t{}\tbad.fasta\twrong checksum\n", body.len(), "0".repeat(64)),
    )
    .unwrap();
    let data = d.join("data");
    std::fs::create_dir_all(data.join("tiny")).unwrap();
    let half = body.len() / 2;
    std::fs::write(data.join("tiny/tiny.fasta.gz.part"), &body[..half]).unwrap();
    let args = |name: &str| {
        vec![
            "db".to_string(),
            "download".into(),
            name.into(),
            "--data-dir".into(),
            data.display().to_string(),
            "--manifest".into(),
            manifest.display().to_string(),
        ]
    };
    let run = |a: Vec<String>| ferrofold(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let r = run(args("tiny"));
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(String::from_utf8_lossy(&r.stdout).contains("downloaded"));
    assert_eq!(
        std::fs::read_to_string(data.join("tiny/tiny.fasta")).unwrap(),
        fasta
    );
    assert!(
        !data.join("tiny/tiny.fasta.gz").exists() && !data.join("tiny/tiny.fasta.gz.part").exists()
    );
    {
        let l = log.lock().unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].1.as_deref(), Some(half.to_string().as_str()));
        assert_eq!(l[0].2, body.len() - half);
    }
    // The unpacked database works with the built-in search.
    let db = ferrofold::search::db::SequenceDb::load(data.join("tiny/tiny.fasta")).unwrap();
    assert_eq!(db.len(), 300);
    // Rerun: present, no request.
    let r = run(args("tiny"));
    assert!(String::from_utf8_lossy(&r.stdout).contains("present"));
    assert_eq!(log.lock().unwrap().len(), 1);
    // A checksum mismatch names the file and leaves no database behind.
    let r = run(args("bad"));
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("SHA-256") && err.contains("tiny.fasta.gz"),
        "{err}"
    );
    assert!(!data.join("bad/bad.fasta").exists());
    // Unknown names list what exists; rsync databases say how to fetch them.
    let r = run(args("nope"));
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("tiny, bad"));
    let r = ferrofold(&[
        "db",
        "download",
        "pdb_mmcif",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("rsync"));
}
