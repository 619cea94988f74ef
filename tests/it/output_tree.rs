//! Issue 14 (2-4): the output tree. ferrofold never writes, appends or deletes through a symbolic link it
//! finds below `-o`; its cleanup removes only the temporaries it made itself, of processes that are gone;
//! two processes on one target do not break each other and give the outputs of one run.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::common::{ferrofold, files_below};

fn query(dir: &Path) -> std::path::PathBuf {
    let fasta = dir.join("q.fasta");
    fs::write(&fasta, ">t1 a query\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n").unwrap();
    fasta
}

fn features(fasta: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "features",
        fasta.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ferrofold(&args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn links_inside_the_output_tree_are_never_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let fasta = query(d);
    let elsewhere = d.join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    fs::write(
        elsewhere.join(".ferrofold-9999999-Ab12Cd34Ef56.x.tmp"),
        b"not ours to delete",
    )
    .unwrap();
    let before = files_below(&elsewhere);

    // The target folder is a link.
    let out = d.join("out1");
    fs::create_dir_all(&out).unwrap();
    symlink(&elsewhere, out.join("t1")).unwrap();
    let o = features(&fasta, &out, &["--single-sequence"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("t1") && stderr(&o).contains("symbolic link"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        files_below(&elsewhere),
        before,
        "written or deleted through the link"
    );

    // msas/ is a link.
    let out = d.join("out2");
    fs::create_dir_all(out.join("t1")).unwrap();
    symlink(&elsewhere, out.join("t1/msas")).unwrap();
    let o = features(&fasta, &out, &["--single-sequence"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("msas") && stderr(&o).contains("symbolic link"),
        "{}",
        stderr(&o)
    );
    assert_eq!(files_below(&elsewhere), before);

    // log.txt is a link: the run's work is done, the log line is not appended through it.
    let out = d.join("out3");
    fs::create_dir_all(out.join("t1")).unwrap();
    let victim = elsewhere.join("victim.txt");
    fs::write(&victim, b"precious").unwrap();
    symlink(&victim, out.join("t1/log.txt")).unwrap();
    let o = ferrofold(&[
        "run",
        fasta.to_str().unwrap(),
        "--single-sequence",
        "--stage",
        "features",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("log.txt"), "{}", stderr(&o));
    assert_eq!(fs::read(&victim).unwrap(), b"precious");

    // -o itself may be a link (the user's choice).
    let real = d.join("real_out");
    fs::create_dir_all(&real).unwrap();
    let linked = d.join("linked_out");
    symlink(&real, &linked).unwrap();
    let o = features(&fasta, &linked, &["--single-sequence"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(real.join("t1/features.h5").is_file());
}

#[test]
fn cleanup_removes_only_what_a_dead_ferrofold_left() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let fasta = query(d);
    let out = d.join("out");
    let target = out.join("t1");
    fs::create_dir_all(target.join("msas")).unwrap();
    let users = [
        ".notes.tmp",
        ".query.bak",
        ".features.h5.AbCdEf.tmp",
        "msas/.query.x1y2z3.fasta",
    ];
    for u in users {
        fs::write(target.join(u), b"the user's").unwrap();
    }
    fs::create_dir_all(target.join(".mmseqs.mywork")).unwrap();
    fs::write(target.join(".mmseqs.mywork/db"), b"the user's").unwrap();
    // What a ferrofold killed with SIGKILL left (its process is gone).
    let stale = [
        ".ferrofold-9999999-Ab12Cd34Ef56.features.h5.tmp",
        "msas/.ferrofold-9999999-Ab12Cd34Ef57.query.fasta",
    ];
    for s in stale {
        fs::write(target.join(s), b"half").unwrap();
    }
    let o = features(&fasta, &out, &["--single-sequence"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for u in users {
        assert!(target.join(u).exists(), "{u} was removed");
    }
    assert!(target.join(".mmseqs.mywork/db").exists());
    for s in stale {
        assert!(!target.join(s).exists(), "{s} was left");
    }
}

/// Two processes on one target (a `run` and a `features`, or two array tasks a user sized wrongly): the
/// second waits for the first, neither fails, and the result is what one run makes.
#[test]
fn two_processes_on_one_target_give_the_outputs_of_one() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let fasta = query(d);
    let single = d.join("single");
    let o = features(&fasta, &single, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    let out = d.join("out");
    let spawn = |stage: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ferrofold"));
        if stage == "features" {
            c.args(["features", fasta.to_str().unwrap()]);
        } else {
            c.args(["run", fasta.to_str().unwrap(), "--stage", "features"]);
        }
        c.args(["-o", out.to_str().unwrap()])
            .env_remove("RUST_LOG")
            .env_remove("SLURM_ARRAY_TASK_ID")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    for _ in 0..3 {
        let _ = fs::remove_dir_all(&out);
        let children: Vec<_> = ["features", "run", "features", "run"]
            .iter()
            .map(|s| spawn(s))
            .collect();
        for c in children {
            let o = c.wait_with_output().unwrap();
            assert!(
                o.status.success(),
                "a concurrent process failed: {}",
                stderr(&o)
            );
        }
        assert_eq!(
            fs::read(out.join("t1/msas/uniprot20k_hits.a3m")).unwrap(),
            fs::read(single.join("t1/msas/uniprot20k_hits.a3m")).unwrap()
        );
        let inspect = |p: &Path| {
            let o = ferrofold(&["inspect", p.to_str().unwrap()]);
            assert!(o.status.success(), "{}", stderr(&o));
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| {
                    l.starts_with("dataset")
                        || l.starts_with("residues")
                        || l.starts_with("alignment")
                })
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            inspect(&out.join("t1/features.h5")),
            inspect(&single.join("t1/features.h5"))
        );
        assert!(!files_below(&out).iter().any(|f| f.contains(".ferrofold-")));
    }
}
