//! The Slurm pipeline (pipelines/slurm/submit.sh + features.sbatch + predict.sbatch) on a real one-node
//! Slurm cluster that this test starts on localhost: `munged`, `slurmctld` and `slurmd` from Debian's
//! `munge` and `slurm-wlm`, run in the foreground from a generated `slurm.conf` (proctrack/linuxproc,
//! task/none, no accounting, no systemd), each stopped by its pid when the test ends. A 3-target batch is
//! submitted as two job arrays (features, then predict with `aftercorr`), and every target's outputs are
//! checked. `.ci/run` installs the packages.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The daemons this test started; killed (by pid) when dropped, however the test ends.
struct Daemons {
    children: Vec<(String, Child)>,
    dir: PathBuf,
}

impl Daemons {
    fn start(&mut self, name: &str, cmd: &mut Command) {
        let log = std::fs::File::create(self.dir.join(format!("{name}.out"))).unwrap();
        let child = cmd
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {name} (install Debian's slurm-wlm and munge): {e}")
            });
        self.children.push((name.to_string(), child));
    }

    fn logs(&self) -> String {
        let mut s = String::new();
        for (name, _) in &self.children {
            let t =
                std::fs::read_to_string(self.dir.join(format!("{name}.out"))).unwrap_or_default();
            let tail: Vec<&str> = t.lines().rev().take(15).collect();
            s += &format!(
                "--- {name} ---\n{}\n",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        s
    }
}

impl Drop for Daemons {
    fn drop(&mut self) {
        // slurmd first (it may be running job steps), then the controller, then munge.
        for (_, child) in self.children.iter_mut().rev() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn output_of(cmd: &mut Command) -> (bool, String) {
    let o = cmd.output().unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

fn user() -> String {
    let (_, name) = output_of(Command::new("id").arg("-un"));
    name.trim().to_string()
}

fn write_slurm_conf(d: &Path, host: &str) -> PathBuf {
    let user = user();
    let (ctld_port, d_port) = (free_port(), free_port());
    let conf = format!(
        "ClusterName=ferrofoldtest
SlurmctldHost={host}(127.0.0.1)
SlurmUser={user}
SlurmdUser={user}
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge}
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
NodeName={host} NodeAddr=127.0.0.1 CPUs=2 RealMemory=2048 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
",
        munge = d.join("munge/munge.sock").display(),
        dir = d.display()
    );
    let p = d.join("slurm.conf");
    std::fs::write(&p, conf).unwrap();
    p
}

/// Waits until `check` holds, polling; panics with `what` and the daemons' logs after `secs`.
fn wait_for(secs: u64, what: &str, daemons: &Daemons, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}\n{}", daemons.logs());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn slurm_job_arrays_run_features_then_predict_for_three_targets() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // munged wants its socket directory reachable by every user.
    for sub in ["munge", "state", "spool"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::set_permissions(d.join("munge"), std::fs::Permissions::from_mode(0o711)).unwrap();
    let key = d.join("munge/munge.key");
    let mut bytes = vec![0u8; 1024];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut bytes)
        .unwrap();
    std::fs::write(&key, bytes).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o400)).unwrap();

    let (_, host) = output_of(Command::new("hostname").arg("-s"));
    let host = host.trim().to_string();
    let conf = write_slurm_conf(d, &host);
    let mut daemons = Daemons {
        children: Vec::new(),
        dir: d.to_path_buf(),
    };
    let sock = d.join("munge/munge.sock");
    daemons.start(
        "munged",
        Command::new("munged")
            .args(["--foreground", "--force"])
            .arg(format!("--key-file={}", key.display()))
            .arg(format!("--socket={}", sock.display()))
            .arg(format!(
                "--pid-file={}",
                d.join("munge/munged.pid").display()
            ))
            .arg(format!("--seed-file={}", d.join("munge/seed").display()))
            .arg(format!(
                "--log-file={}",
                d.join("munge/munged.log").display()
            )),
    );
    wait_for(20, "munged's socket", &daemons, || sock.exists());
    daemons.start(
        "slurmctld",
        Command::new("slurmctld").arg("-D").arg("-f").arg(&conf),
    );
    daemons.start(
        "slurmd",
        Command::new("slurmd").arg("-D").arg("-f").arg(&conf),
    );
    let slurm = |prog: &str| {
        let mut c = Command::new(prog);
        c.env("SLURM_CONF", &conf).current_dir(d);
        c
    };
    wait_for(60, "the node to be idle", &daemons, || {
        let (ok, out) = output_of(slurm("sinfo").args(["-h", "-o", "%T"]));
        ok && out.trim() == "idle"
    });

    // Three targets in two files; the demo model made here.
    let fastas = d.join("targets");
    std::fs::create_dir_all(&fastas).unwrap();
    std::fs::write(
        fastas.join("a.fasta"),
        ">alpha\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n>beta\nMLTLENVSKTYKGGKKAVNNVNLKIAKGEFICFIGPSGCGKTTTMKMINRL\n",
    )
    .unwrap();
    std::fs::write(
        fastas.join("b.fasta"),
        ">gamma\nMSKGEELFTGVVPILVELDGDVNGHKFSVSGEGEGDATYGKLTLKF\n",
    )
    .unwrap();
    let model = d.join("models/ferrofold_demo.onnx");
    ferrofold::pipeline::params::ensure_demo_model(&model).unwrap();
    let out = d.join("out");
    let submit = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/slurm/submit.sh");
    let (ok, text) = output_of(
        slurm("bash")
            .arg(&submit)
            .arg(&fastas)
            .arg("-o")
            .arg(&out)
            .arg("--model")
            .arg(&model)
            .args(["--num-recycle", "1", "--relax", "none"])
            .env("FERROFOLD", env!("CARGO_BIN_EXE_ferrofold"))
            .env("FERROFOLD_LOG_DIR", d.join("logs"))
            .env("FERROFOLD_SBATCH_FEATURES", "--cpus-per-task=1 --mem=600M")
            .env("FERROFOLD_SBATCH_PREDICT", "--cpus-per-task=1 --mem=600M"),
    );
    assert!(ok, "submit.sh failed:\n{text}\n{}", daemons.logs());
    // submit.sh prints "FEATURES_JOB PREDICT_JOB" on stdout (its messages go to stderr).
    let ids: Vec<String> = text
        .lines()
        .find(|l| {
            !l.trim().is_empty()
                && l.split_whitespace()
                    .all(|w| w.bytes().all(|b| b.is_ascii_digit()))
        })
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(ids.len(), 2, "{text}");
    assert!(text.contains("3 target(s) as 3 task(s)"), "{text}");
    wait_for(600, "both job arrays to finish", &daemons, || {
        let (ok, q) = output_of(slurm("squeue").args(["-h", "-j", &ids.join(",")]));
        ok && q.trim().is_empty()
    });
    // Every task of both arrays completed with exit code 0.
    for id in &ids {
        let (ok, jobs) = output_of(slurm("scontrol").args(["-o", "show", "job", id]));
        assert!(ok, "{jobs}");
        let tasks: Vec<&str> = jobs
            .lines()
            .filter(|l| l.contains("ArrayTaskId="))
            .collect();
        assert_eq!(tasks.len(), 3, "job {id}:\n{jobs}");
        for t in tasks {
            assert!(
                t.contains("JobState=COMPLETED") && t.contains("ExitCode=0:0"),
                "job {id}: {t}\nlogs: {:?}",
                std::fs::read_dir(d.join("logs"))
                    .unwrap()
                    .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
                    .collect::<Vec<_>>()
            );
        }
    }
    for t in ["alpha", "beta", "gamma"] {
        for f in [
            "features.h5",
            "msas/uniprot20k_hits.a3m",
            "result_ferrofold_demo_pred_0.h5",
            "ranked_0.pdb",
            "ranking_debug.json",
            "plddt.png",
            "log.txt",
        ] {
            assert!(out.join(t).join(f).is_file(), "{t}/{f} missing");
        }
        // The features and predict tasks of one array index each wrote one log line for the target.
        let log = std::fs::read_to_string(out.join(t).join("log.txt")).unwrap();
        assert!(log.contains("--stage features"), "{log}");
        assert!(
            log.contains("--stage predict") && log.contains("predict ferrofold_demo"),
            "{log}"
        );
    }
    // Each array task logged its own share: 3 features and 3 predict task logs.
    let logs: Vec<String> = std::fs::read_dir(d.join("logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        logs.iter()
            .filter(|l| l.starts_with("ferrofold-features-"))
            .count(),
        3,
        "{logs:?}"
    );
    assert_eq!(
        logs.iter()
            .filter(|l| l.starts_with("ferrofold-predict-"))
            .count(),
        3,
        "{logs:?}"
    );
    // Issue 14 (5): an offset, stepped and throttled array (ids 3, 7, 11; one task at a time) covers
    // every target once.
    let out2 = d.join("out2");
    let features_sbatch =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/slurm/features.sbatch");
    let (ok, id) = output_of(
        slurm("sbatch")
            .args([
                "--parsable",
                "--export=ALL",
                "--array=3-11:4%1",
                "--cpus-per-task=1",
                "--mem=600M",
            ])
            .arg(format!(
                "--output={}/stepped-%A_%a.log",
                d.join("logs").display()
            ))
            .arg(&features_sbatch)
            .arg(&fastas)
            .arg("-o")
            .arg(&out2)
            .env("FERROFOLD", env!("CARGO_BIN_EXE_ferrofold")),
    );
    assert!(ok, "sbatch failed: {id}");
    let id = id.trim().split(';').next().unwrap().to_string();
    wait_for(300, "the stepped array to finish", &daemons, || {
        let (ok, q) = output_of(slurm("squeue").args(["-h", "-j", &id]));
        ok && q.trim().is_empty()
    });
    let (_, jobs) = output_of(slurm("scontrol").args(["-o", "show", "job", &id]));
    let tasks: Vec<&str> = jobs
        .lines()
        .filter(|l| l.contains("ArrayTaskId="))
        .collect();
    assert_eq!(tasks.len(), 3, "{jobs}");
    assert!(
        tasks
            .iter()
            .all(|t| t.contains("JobState=COMPLETED") && t.contains("ExitCode=0:0")),
        "{jobs}"
    );
    for t in ["alpha", "beta", "gamma"] {
        assert!(
            out2.join(t).join("features.h5").is_file(),
            "{t} missed by the stepped array"
        );
        let log = std::fs::read_to_string(out2.join(t).join("log.txt")).unwrap();
        assert_eq!(
            log.matches("--stage features").count(),
            1,
            "{t} done more than once: {log}"
        );
    }
    drop(daemons);
}
