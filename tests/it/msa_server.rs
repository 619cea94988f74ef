//! `--msa-server`: ColabFold's MSA server API against a local server on 127.0.0.1 that implements its
//! endpoints (`POST /ticket/msa`, `GET /ticket/<id>`, `GET /result/download/<id>`) and its failure
//! answers (RATELIMIT, MAINTENANCE, ERROR, a truncated archive). The public server cannot be reached
//! from these machines; this one answers from a script each test sets.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::common::{data, ferrofold};

#[derive(Clone, Copy, PartialEq)]
enum Archive {
    Good,
    Truncated,
    WithoutEnv,
}

/// What the server answers: statuses for successive submissions and status requests (the last one
/// repeats), and the kind of archive it sends.
struct Script {
    submit: Vec<&'static str>,
    poll: Vec<&'static str>,
    archive: Archive,
}

#[derive(Default)]
struct Seen {
    /// (mode, query FASTA, user agent) per submission.
    submissions: Vec<(String, String, String)>,
    polls: Vec<String>,
    downloads: usize,
    /// (mode, query FASTA) per submission to the pair endpoint.
    pair_submissions: Vec<(String, String)>,
    /// ticket → (endpoint, submitted sequences)
    tickets: HashMap<String, (String, Vec<String>)>,
}

struct Server {
    url: String,
    script: Arc<Mutex<Script>>,
    seen: Arc<Mutex<Seen>>,
}

fn form_decode(s: &str) -> HashMap<String, String> {
    let decode = |v: &str| {
        let b = v.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                    i += 2;
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8(out).unwrap()
    };
    s.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// The alignment the server returns for `seq` from database `db`: the query row (named 101), then
/// two rows with one substitution each (named after the database; each database's at other places).
fn rows(seq: &str, db: &str) -> String {
    let mut out = format!(">101\n{seq}\n");
    let at = if db == "env" {
        [2, seq.len() / 3]
    } else {
        [1, seq.len() / 2]
    };
    for (k, pos) in at.into_iter().enumerate() {
        let mut s: Vec<u8> = seq.as_bytes().to_vec();
        s[pos] = if s[pos] == b'W' { b'F' } else { b'W' };
        out.push_str(&format!(
            ">{db}_hit{k}\n{}\n",
            String::from_utf8(s).unwrap()
        ));
    }
    out
}

/// The paired rows the server returns for query k of a pair ticket: the query (named 101 + k), then two
/// hits whose rows are the query with one substitution (row j of every chain belongs together).
fn pair_rows(seq: &str, k: usize) -> String {
    let mut out = format!(">{}\n{seq}\n", 101 + k);
    for j in 0..2 {
        let mut s: Vec<u8> = seq.as_bytes().to_vec();
        s[3 + j] = if s[3 + j] == b'Y' { b'F' } else { b'Y' };
        out.push_str(&format!(
            ">UniRef100_P{j}\n{}\n",
            String::from_utf8(s).unwrap()
        ));
    }
    out
}

fn tar_gz(files: &[(&str, String)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (name, text) in files {
        let bytes = text.clone().into_bytes();
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, &bytes[..]).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

fn archive(seq: &str, kind: Archive) -> Vec<u8> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let mut add = |name: &str, text: String| {
        let bytes = (text + "\0").into_bytes();
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, &bytes[..]).unwrap();
    };
    add("uniref.a3m", rows(seq, "uniref"));
    if kind != Archive::WithoutEnv {
        add("bfd.mgnify30.metaeuk30.smag30.a3m", rows(seq, "env"));
    }
    add("pdb70.m8", String::new());
    let bytes = tar.into_inner().unwrap().finish().unwrap();
    if kind == Archive::Truncated {
        bytes[..bytes.len() / 2].to_vec()
    } else {
        bytes
    }
}

fn next(list: &mut Vec<&'static str>) -> &'static str {
    if list.len() > 1 {
        list.remove(0)
    } else {
        list[0]
    }
}

fn start(script: Script) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let script = Arc::new(Mutex::new(script));
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let (script2, seen2) = (script.clone(), seen.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).unwrap_or(0) == 0 {
                continue;
            }
            let mut headers = HashMap::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                }
            }
            let len: usize = headers
                .get("content-length")
                .map_or(0, |v| v.parse().unwrap());
            let mut body = vec![0u8; len];
            reader.read_exact(&mut body).unwrap();
            let mut parts = request.split_whitespace();
            let (method, path) = (
                parts.next().unwrap_or(""),
                parts.next().unwrap_or("").to_string(),
            );
            let mut script = script2.lock().unwrap();
            let mut seen = seen2.lock().unwrap();
            let json = |v: String| (200, "application/json", v.into_bytes());
            let (code, kind, reply) = if method == "POST" && path == "/ticket/msa" {
                let form = form_decode(std::str::from_utf8(&body).unwrap());
                let q = form.get("q").cloned().unwrap_or_default();
                let ua = headers.get("user-agent").cloned().unwrap_or_default();
                seen.submissions.push((
                    form.get("mode").cloned().unwrap_or_default(),
                    q.clone(),
                    ua,
                ));
                let status = next(&mut script.submit);
                if matches!(status, "PENDING" | "RUNNING" | "COMPLETE") {
                    let id = format!("ticket-{}", seen.submissions.len());
                    let seq = q.lines().nth(1).unwrap_or("").to_string();
                    seen.tickets.insert(id.clone(), ("msa".into(), vec![seq]));
                    json(format!(r#"{{"id":"{id}","status":"{status}"}}"#))
                } else {
                    json(format!(r#"{{"status":"{status}"}}"#))
                }
            } else if method == "POST" && path == "/ticket/pair" {
                let form = form_decode(std::str::from_utf8(&body).unwrap());
                let q = form.get("q").cloned().unwrap_or_default();
                seen.pair_submissions
                    .push((form.get("mode").cloned().unwrap_or_default(), q.clone()));
                let id = format!("pair-{}", seen.pair_submissions.len());
                let seqs = q
                    .lines()
                    .filter(|l| !l.starts_with('>'))
                    .map(str::to_string)
                    .collect();
                seen.tickets.insert(id.clone(), ("pair".into(), seqs));
                json(format!(r#"{{"id":"{id}","status":"PENDING"}}"#))
            } else if let Some(id) = path.strip_prefix("/ticket/") {
                seen.polls.push(id.to_string());
                let status = if seen.tickets.contains_key(id) {
                    next(&mut script.poll)
                } else {
                    "UNKNOWN"
                };
                json(format!(r#"{{"id":"{id}","status":"{status}"}}"#))
            } else if let Some(id) = path.strip_prefix("/result/download/") {
                seen.downloads += 1;
                match seen.tickets.get(id) {
                    Some((e, seqs)) if e == "pair" => {
                        let text: Vec<String> = seqs
                            .iter()
                            .enumerate()
                            .map(|(k, s)| pair_rows(s, k))
                            .collect();
                        (
                            200,
                            "application/gzip",
                            tar_gz(&[("pair.a3m", text.join("\0") + "\0")]),
                        )
                    }
                    Some((_, seqs)) => (200, "application/gzip", archive(&seqs[0], script.archive)),
                    None => (404, "text/plain", b"no such ticket".to_vec()),
                }
            } else {
                (404, "text/plain", b"not found".to_vec())
            };
            drop((script, seen));
            let head = format!("HTTP/1.1 {code} X\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", reply.len());
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&reply);
        }
    });
    Server { url, script, seen }
}

fn features(server: &Server, out: &Path, extra: &[&str]) -> std::process::Output {
    let q = data("colabfold/queries.fasta");
    let mut args = vec![
        "features",
        q.to_str().unwrap(),
        "--msa-server",
        &server.url,
        "--msa-server-poll",
        "0.01",
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ferrofold(&args)
}

fn ok(o: &std::process::Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn failed_with(o: &std::process::Output, words: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    for w in words {
        assert!(err.contains(w), "missing {w:?} in: {err}");
    }
}

fn targets() -> Vec<(String, String)> {
    crate::common::fasta_records(&data("colabfold/queries.fasta"))
}

#[test]
fn msa_server_alignments_are_fetched_once_per_sequence_and_kept() {
    let server = start(Script {
        submit: vec!["PENDING"],
        poll: vec!["RUNNING", "RUNNING", "COMPLETE"],
        archive: Archive::Good,
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    ok(&features(&server, &out, &[]));
    {
        let seen = server.seen.lock().unwrap();
        assert_eq!(seen.submissions.len(), 3);
        for ((mode, q, ua), (_, seq)) in seen.submissions.iter().zip(targets()) {
            assert_eq!(mode, "env");
            assert_eq!(q, &format!(">101\n{seq}\n"));
            assert!(ua.starts_with("ferrofold/"), "{ua}");
        }
        assert_eq!(seen.downloads, 3);
    }
    for (id, seq) in targets() {
        let a3m = std::fs::read_to_string(out.join(&id).join("msas/colabfold.a3m")).unwrap();
        assert_eq!(a3m, rows(&seq, "uniref") + &rows(&seq, "env"), "{id}");
        let (f, _) = ferrofold::io::features_h5::read(out.join(&id).join("features.h5")).unwrap();
        // The query row and four hits; the environmental part's query row is a duplicate.
        assert_eq!(f.msa.msa.nrows(), 5, "{id}");
    }
    // Recomputing the features submits nothing: the results are kept per sequence.
    ok(&features(&server, &out, &["--overwrite"]));
    assert_eq!(server.seen.lock().unwrap().submissions.len(), 3);
    // UniRef30 only is another search (mode "all"), without environmental rows.
    let out2 = dir.path().join("out2");
    ok(&features(&server, &out2, &["--msa-mode", "mmseqs2_uniref"]));
    let seen = server.seen.lock().unwrap();
    assert_eq!(seen.submissions.len(), 6);
    assert!(seen.submissions[3..].iter().all(|s| s.0 == "all"));
    let (id, seq) = &targets()[0];
    assert_eq!(
        std::fs::read_to_string(out2.join(id).join("msas/colabfold.a3m")).unwrap(),
        rows(seq, "uniref")
    );
}

#[test]
fn msa_server_failures_are_clear_errors_that_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let no_features = |out: &Path| {
        for (id, _) in targets() {
            assert!(!out.join(id).join("features.h5").exists());
        }
    };
    // Rate limited twice, then accepted: waited out.
    let s = start(Script {
        submit: vec!["RATELIMIT", "RATELIMIT", "PENDING"],
        poll: vec!["COMPLETE"],
        archive: Archive::Good,
    });
    ok(&features(&s, &dir.path().join("a"), &[]));
    // Rate limited for good: an error that says so and what to do.
    let s = start(Script {
        submit: vec!["RATELIMIT"],
        poll: vec!["COMPLETE"],
        archive: Archive::Good,
    });
    let out = dir.path().join("b");
    failed_with(
        &features(&s, &out, &[]),
        &["rate limiting", "RATELIMIT", &s.url],
    );
    no_features(&out);
    assert_eq!(
        s.seen.lock().unwrap().submissions.len(),
        4,
        "the first try and three retries"
    );
    // Maintenance.
    let s = start(Script {
        submit: vec!["MAINTENANCE"],
        poll: vec!["COMPLETE"],
        archive: Archive::Good,
    });
    failed_with(&features(&s, &dir.path().join("c"), &[]), &["maintenance"]);
    // The search fails on the server.
    let s = start(Script {
        submit: vec!["PENDING"],
        poll: vec!["RUNNING", "ERROR"],
        archive: Archive::Good,
    });
    failed_with(
        &features(&s, &dir.path().join("d"), &[]),
        &["refused", "ticket-1"],
    );
    // A truncated archive: nothing kept, nothing written.
    let s = start(Script {
        submit: vec!["PENDING"],
        poll: vec!["COMPLETE"],
        archive: Archive::Truncated,
    });
    let out = dir.path().join("e");
    failed_with(
        &features(&s, &out, &[]),
        &["malformed", "truncated or corrupt"],
    );
    no_features(&out);
    let kept: Vec<_> = std::fs::read_dir(out.join(".colabfold"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "a3m"))
        .collect();
    assert!(kept.is_empty(), "{kept:?}");
    // An archive without the environmental alignment in env mode.
    let s = start(Script {
        submit: vec!["PENDING"],
        poll: vec!["COMPLETE"],
        archive: Archive::WithoutEnv,
    });
    failed_with(
        &features(&s, &dir.path().join("f"), &[]),
        &["bfd.mgnify30.metaeuk30.smag30.a3m"],
    );
    // Nothing listening.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let q = data("colabfold/queries.fasta");
    let o = ferrofold(&[
        "features",
        q.to_str().unwrap(),
        "--msa-server",
        &format!("http://127.0.0.1:{port}"),
        "-o",
        dir.path().join("g").to_str().unwrap(),
    ]);
    failed_with(&o, &["MSA server", "submitting"]);
    // Not a URL.
    let o = ferrofold(&[
        "features",
        q.to_str().unwrap(),
        "--msa-server",
        "api.colabfold.com",
        "-o",
        dir.path().join("h").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_run_interrupted_while_waiting_asks_for_the_same_ticket_again() {
    let s = start(Script {
        submit: vec!["PENDING"],
        poll: vec!["RUNNING"],
        archive: Archive::Good,
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    failed_with(
        &features(&s, &out, &["--tool-timeout", "1"]),
        &["did not finish within 1 s", "RUNNING"],
    );
    assert_eq!(s.seen.lock().unwrap().submissions.len(), 1);
    s.script.lock().unwrap().poll = vec!["COMPLETE"];
    ok(&features(&s, &out, &[]));
    let seen = s.seen.lock().unwrap();
    // The first target's ticket was picked up; the other two were submitted now.
    assert_eq!(seen.submissions.len(), 3);
    assert!(seen.polls.iter().filter(|p| *p == "ticket-1").count() >= 2);
    let (id, seq) = &targets()[0];
    assert_eq!(
        std::fs::read_to_string(out.join(id).join("msas/colabfold.a3m")).unwrap(),
        rows(seq, "uniref") + &rows(seq, "env")
    );
}

/// A heteromer through the server: each chain's alignment from the msa endpoint, the chains' paired rows
/// from the pair endpoint (greedy pairing), used as paired (ColabFold's way); nothing submitted twice.
#[test]
fn msa_server_complexes_get_unpaired_and_paired_rows() {
    let server = start(Script {
        submit: vec!["PENDING"],
        poll: vec!["COMPLETE"],
        archive: Archive::Good,
    });
    let dir = tempfile::tempdir().unwrap();
    let t = targets();
    let (a, b) = (&t[0].1, &t[1].1);
    let fasta = dir.path().join("cx.fasta");
    std::fs::write(&fasta, format!(">cx\n{a}:{b}\n")).unwrap();
    let out = dir.path().join("out");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "features",
            fasta.to_str().unwrap(),
            "--msa-server",
            &server.url,
            "--msa-server-poll",
            "0.01",
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = ferrofold(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(&[]);
    {
        let seen = server.seen.lock().unwrap();
        assert_eq!(seen.submissions.len(), 2, "one alignment per chain");
        assert_eq!(seen.pair_submissions.len(), 1);
        let (mode, q) = &seen.pair_submissions[0];
        assert_eq!(mode, "pairgreedy");
        assert_eq!(q, &format!(">101\n{a}\n>102\n{b}\n"));
    }
    let (f, _) = ferrofold::io::features_h5::multimer::read(out.join("cx/features.h5")).unwrap();
    // 3 paired rows (queries + 2 pairs), then each chain's 5 unpaired rows.
    assert_eq!(f.num_alignments, 13);
    let (ca, cb): (Vec<usize>, Vec<usize>) = (0..f.aatype.len()).partition(|&i| f.asym_id[i] == 1);
    for r in 0..3 {
        assert!(
            ca.iter().all(|&i| f.msa[[r, i]] != 21) && cb.iter().all(|&i| f.msa[[r, i]] != 21),
            "row {r}"
        );
    }
    assert!(out.join("cx/msas/B/colabfold_paired.a3m").is_file());
    run(&["--overwrite"]);
    let seen = server.seen.lock().unwrap();
    assert_eq!(
        (seen.submissions.len(), seen.pair_submissions.len()),
        (2, 1),
        "kept results are not submitted again"
    );
}
