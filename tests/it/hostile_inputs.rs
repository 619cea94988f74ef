//! The hostile- and broken-input catalogue (beside `malformed_inputs.rs` and the database/tool cases of
//! `search.rs`): model files that lie about their size or hold NaN, features files whose arrays disagree,
//! ids with control characters, search tools that hang or write garbage, and an output directory that
//! fills up. Each must give one error line naming the thing, exit code 1, and no partial file.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{data, ferrofold, files_below, single_sequence_features};
use prost::Message;

use ferrofold::model::params::model_file::proto;

/// Runs ferrofold; returns (exit code, stderr).
fn fail(args: &[&str]) -> (i32, String) {
    let r = ferrofold(args);
    (
        r.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&r.stderr).into_owned(),
    )
}

/// Asserts one `error:` line containing every `expect`, exit code 1.
fn assert_one_error(case: &str, (code, stderr): (i32, String), expect: &[&str]) {
    assert_eq!(code, 1, "{case}: exit code; stderr: {stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("warning: the ferrofold demo model"))
        .filter(|l| !l.starts_with("For real predictions"))
        .collect();
    assert_eq!(lines.len(), 1, "{case}: one line, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{case}: {stderr}");
    assert!(!stderr.contains("panicked"), "{case}: {stderr}");
    for e in expect {
        assert!(lines[0].contains(e), "{case}: {e:?} not in {}", lines[0]);
    }
}

fn no_temporaries(dir: &Path) {
    let left = files_below(dir);
    assert!(
        !left.iter().any(|f| f.ends_with(".tmp")),
        "temporaries left: {left:?}"
    );
}

/// The demo model as a protobuf message, to be tampered with.
fn demo_model(dir: &Path) -> proto::ModelProto {
    let p = dir.join("demo.onnx");
    ferrofold::pipeline::params::ensure_demo_model(&p).unwrap();
    proto::ModelProto::decode(fs::read(&p).unwrap().as_slice()).unwrap()
}

#[test]
fn model_file_claiming_ten_gigabytes_is_refused_without_allocating() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let feats = single_sequence_features(d);
    // (a) A tensor whose shape claims 50,000 × 50,000 floats (10 GB) over a few bytes of data.
    let mut m = demo_model(d);
    let graph = m.graph.as_mut().unwrap();
    let t = &mut graph.initializer[0];
    let name = t.name.clone().unwrap();
    t.dims = vec![50_000, 50_000];
    let lying = d.join("lying.onnx");
    fs::write(&lying, m.encode_to_vec()).unwrap();
    // (b) A message whose graph field's length prefix claims 10 GB.
    let mut header = vec![0x3a]; // field 7 (graph), length-delimited
    let mut len: u64 = 10_000_000_000;
    while len >= 0x80 {
        header.push((len as u8 & 0x7f) | 0x80);
        len >>= 7;
    }
    header.push(len as u8);
    header.extend_from_slice(&[0u8; 64]);
    let truncated = d.join("header.onnx");
    fs::write(&truncated, &header).unwrap();

    for (case, model, expect) in [
        (
            "10-GB tensor shape",
            &lying,
            vec![
                "lying.onnx",
                name.as_str(),
                "[50000, 50000]",
                "10000000000 expected",
            ],
        ),
        ("10-GB length prefix", &truncated, vec!["header.onnx"]),
    ] {
        let o = d.join(format!("out-{}", case.len()));
        let start = Instant::now();
        // The process may not get the memory it would need to believe the claim.
        let r = Command::new("bash")
            .arg("-c")
            .arg("ulimit -v 4000000; exec \"$@\"")
            .arg("bash")
            .arg(env!("CARGO_BIN_EXE_ferrofold"))
            .args([
                "predict",
                feats.to_str().unwrap(),
                "--relax",
                "none",
                "--model",
            ])
            .arg(model)
            .arg("-o")
            .arg(&o)
            .output()
            .unwrap();
        let got = (
            r.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&r.stderr).into_owned(),
        );
        assert_one_error(case, got, &expect);
        assert!(start.elapsed() < Duration::from_secs(30), "{case}: slow");
        assert!(files_below(&o).is_empty(), "{case}: {:?}", files_below(&o));
    }
}

#[test]
fn nan_and_infinite_weights_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let feats = single_sequence_features(d);
    for (case, value) in [("NaN", f32::NAN), ("Inf", f32::INFINITY)] {
        let mut m = demo_model(d);
        let graph = m.graph.as_mut().unwrap();
        let t = graph
            .initializer
            .iter_mut()
            .find(|t| t.raw_data.as_ref().is_some_and(|r| r.len() >= 40))
            .unwrap();
        let name = t.name.clone().unwrap();
        t.raw_data.as_mut().unwrap()[36..40].copy_from_slice(&value.to_le_bytes());
        let p = d.join(format!("{case}.onnx"));
        fs::write(&p, m.encode_to_vec()).unwrap();
        let o = d.join(format!("out-{case}"));
        let got = fail(&[
            "predict",
            feats.to_str().unwrap(),
            "--relax",
            "none",
            "--model",
            p.to_str().unwrap(),
            "-o",
            o.to_str().unwrap(),
        ]);
        assert_one_error(
            case,
            got,
            &[&format!("{case}.onnx"), &name, "non-finite", "flat index 9"],
        );
        assert!(files_below(&o).is_empty());
    }
}

#[test]
fn features_arrays_that_disagree_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let feats = single_sequence_features(d);
    let model = d.join("demo.onnx");
    ferrofold::pipeline::params::ensure_demo_model(&model).unwrap();
    // Each case replaces one dataset with a wrongly sized one.
    use ferrofold::io::h5::edit::{Contents, Data};
    let i32s =
        |shape: &[usize], v: i32| Data::I32(ndarray::ArrayD::from_elem(ndarray::IxDyn(shape), v));
    let cases: Vec<(&str, &str, Data, Vec<&str>)> = vec![
        (
            "deletion matrix with another row count",
            "deletion_matrix_int",
            i32s(&[3, 70], 0),
            vec!["deletion_matrix_int"],
        ),
        (
            "MSA narrower than the sequence",
            "msa",
            i32s(&[1, 69], 0),
            vec!["'msa'", "69"],
        ),
        (
            "residue index shorter than aatype",
            "residue_index",
            i32s(&[12], 0),
            vec!["residue_index"],
        ),
        (
            "MSA codes outside the alphabet",
            "msa",
            i32s(&[1, 70], 99),
            vec!["'msa'", "99"],
        ),
    ];
    for (i, (case, name, data, expect)) in cases.into_iter().enumerate() {
        let bad = d.join(format!("bad{i}/features.h5"));
        fs::create_dir_all(bad.parent().unwrap()).unwrap();
        let mut c = Contents::read(&feats, &["ferrofold_format_version"]).unwrap();
        c.datasets.insert(name.into(), data);
        c.write(&bad).unwrap();
        let o = d.join(format!("out{i}"));
        let mut expect = expect.clone();
        expect.push("features.h5");
        assert_one_error(
            case,
            fail(&[
                "predict",
                bad.to_str().unwrap(),
                "--relax",
                "none",
                "--model",
                model.to_str().unwrap(),
                "-o",
                o.to_str().unwrap(),
            ]),
            &expect,
        );
        assert!(files_below(&o).is_empty(), "{case}");
    }
}

#[test]
fn ids_with_control_characters_stay_inside_the_output() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let fasta = d.join("ids.fasta");
    fs::write(&fasta, b">a\x07b\x1b[31m/../x\nMKVLAAGIV\n").unwrap();
    // `features` refuses such an id, naming it and the line.
    let o = d.join("out-features");
    assert_one_error(
        "features",
        fail(&[
            "features",
            fasta.to_str().unwrap(),
            "--single-sequence",
            "-o",
            o.to_str().unwrap(),
        ]),
        &["ids.fasta:1", "path separator"],
    );
    assert!(files_below(&o).is_empty());
    // `run` sanitises it into one folder inside -o.
    let o = d.join("out-run");
    let r = ferrofold(&[
        "run",
        fasta.to_str().unwrap(),
        "--single-sequence",
        "--stage",
        "features",
        "-o",
        o.to_str().unwrap(),
        "-q",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let dirs: Vec<String> = fs::read_dir(&o)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    assert!(
        dirs[0].chars().all(|c| !c.is_control() && c != '/'),
        "{dirs:?}"
    );
    assert!(o.join(&dirs[0]).join("features.h5").is_file());
    assert!(!d.join("x").exists());
}

/// A stand-in for jackhmmer that records its pid, then runs `body` (sh).
fn fake_tool(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(
        &p,
        format!(
            "#!/bin/sh\necho $$ > {}/{name}.pid\n{body}\n",
            dir.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn alive(pid: &str) -> bool {
    Path::new("/proc").join(pid.trim()).exists()
        && !fs::read_to_string(Path::new("/proc").join(pid.trim()).join("stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[test]
fn hanging_and_garbage_printing_tools_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let db = d.join("db.fasta");
    fs::write(&db, ">s1\nMKVLAAGIVKKLLE\n").unwrap();
    let query = d.join("q.fasta");
    fs::write(&query, ">q\nMKVLAAGIV\n").unwrap();
    // Hangs: sleeps (in a child process of its own) far past the time limit.
    let hang = fake_tool(
        d,
        "hang",
        "sleep 300 & echo $! > \"$(dirname \"$0\")/hang.child\"\nwait",
    );
    // Garbage: writes nonsense where the alignment should go (the argument after -A) and succeeds.
    let garbage = fake_tool(
        d,
        "garbage",
        "while [ $# -gt 0 ]; do if [ \"$1\" = -A ]; then printf '\\001\\002 not stockholm\\n' > \"$2\"; fi; shift; done\nexit 0",
    );
    for (case, tool, expect) in [
        (
            "hang",
            &hang,
            vec![
                "jackhmmer",
                "did not finish within 1 s",
                "--noali",
                "--tool-timeout",
            ],
        ),
        ("garbage", &garbage, vec!["db_hits.sto"]),
    ] {
        let o = d.join(format!("out-{case}"));
        let start = Instant::now();
        let got = fail(&[
            "features",
            query.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "--tool",
            "jackhmmer",
            "--tool-binary",
            tool.to_str().unwrap(),
            "--tool-timeout",
            "1",
            "-o",
            o.to_str().unwrap(),
            "-q",
        ]);
        assert_one_error(case, got, &expect);
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{case}: took {:?}",
            start.elapsed()
        );
        let left = files_below(&o);
        assert!(
            !left
                .iter()
                .any(|f| f.ends_with("features.h5") || f.ends_with(".tmp")),
            "{case}: {left:?}"
        );
    }
    // The hung tool and the process it started were both killed.
    std::thread::sleep(Duration::from_millis(200));
    for f in ["hang.pid", "hang.child"] {
        let pid = fs::read_to_string(d.join(f)).unwrap();
        assert!(!alive(&pid), "{f}: process {} still running", pid.trim());
    }
}

/// Makes `dir` a 256 KiB tmpfs when this process may mount (root in most CI containers); returns
/// whether it did.
fn small_tmpfs(dir: &Path) -> bool {
    fs::create_dir_all(dir).unwrap();
    Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(dir)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn full_output_directory_is_an_error_and_leaves_no_partial_file() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // A query with a real 1,136-row alignment: its features file (~1 MB) does not fit in 256 KiB.
    let fasta = data("msas/openfold_query/short.fasta");
    let msas = data("msas/openfold_query");
    let o = d.join("full");
    let mounted = small_tmpfs(&o);
    let args = [
        "features",
        fasta.to_str().unwrap(),
        "--msa-dir",
        msas.to_str().unwrap(),
        "-o",
        o.to_str().unwrap(),
        "-q",
    ];
    let (code, stderr) = if mounted {
        fail(&args)
    } else {
        // No mount permission: a 256 KiB file-size limit instead (writes past it fail with EFBIG).
        let r = Command::new("bash")
            .arg("-c")
            .arg("ulimit -f 256; exec \"$@\"")
            .arg("bash")
            .arg(env!("CARGO_BIN_EXE_ferrofold"))
            .args(args)
            .output()
            .unwrap();
        (
            r.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&r.stderr).into_owned(),
        )
    };
    let left = files_below(&o);
    if mounted {
        let _ = Command::new("umount").arg(&o).status();
    }
    assert_one_error(
        if mounted { "tmpfs" } else { "ulimit -f" },
        (code, stderr.clone()),
        &["features.h5"],
    );
    assert!(
        stderr.contains("No space left")
            || stderr.contains("too large")
            || stderr.contains("write"),
        "{stderr}"
    );
    assert!(
        !left
            .iter()
            .any(|f| f.ends_with("features.h5") || f.ends_with(".tmp")),
        "{left:?}"
    );
    no_temporaries(&o);
}

#[test]
fn a_prediction_over_the_memory_budget_is_refused_with_the_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let feats = single_sequence_features(d);
    let model = d.join("demo.onnx");
    ferrofold::pipeline::params::ensure_demo_model(&model).unwrap();
    let o = d.join("out");
    assert_one_error(
        "memory budget",
        fail(&[
            "predict",
            feats.to_str().unwrap(),
            "--relax",
            "none",
            "--model",
            model.to_str().unwrap(),
            "--memory-budget",
            "20M",
            "-o",
            o.to_str().unwrap(),
        ]),
        &[
            "model 'ferrofold_demo'",
            "needs an estimated",
            "largest step",
            "memory budget of 20 MiB",
            "--memory-budget",
        ],
    );
    assert!(files_below(&o).is_empty());
}
