//! External search tools, driven as AlphaFold2 and ColabFold drive them: argument vectors only (no shell),
//! the exact command line logged, a time limit, and errors that name the tool, its command line and the
//! tail of its stderr.
//!
//! * `jackhmmer` (HMMER): AlphaFold2's flags (`-o /dev/null -A out.sto --noali --F1 0.0005 --F2 0.00005
//!   --F3 0.0000005 --incE 0.0001 -E 0.0001 --cpu N -N 1`), Stockholm output.
//! * `mmseqs` (MMseqs2): `createdb`, `search`, `result2msa --msa-format-mode 6` (A3M), as ColabFold's
//!   pipeline does in outline (one database, no profile expansion).

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use thiserror::Error;
use tracing::info;

/// Which program searches a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchTool {
    /// ferrofold's own Smith-Waterman search.
    #[default]
    Builtin,
    /// HMMER's jackhmmer (AlphaFold2's uniref90 / MGnify search).
    Jackhmmer,
    /// MMseqs2 (ColabFold's search engine).
    Mmseqs,
    /// HH-suite's hhblits (AlphaFold2's BFD / UniRef30 search); the database is an HH-suite prefix.
    Hhblits,
}

impl std::str::FromStr for SearchTool {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "builtin" => Ok(Self::Builtin),
            "jackhmmer" => Ok(Self::Jackhmmer),
            "mmseqs" => Ok(Self::Mmseqs),
            "hhblits" => Ok(Self::Hhblits),
            _ => Err(format!(
                "unknown search tool '{s}' (builtin, jackhmmer, mmseqs, hhblits)"
            )),
        }
    }
}

/// Errors running a tool; each names the tool and its command line.
#[derive(Debug, Error)]
pub enum ToolError {
    #[error("{tool}: not found on PATH (install it, e.g. `apt-get install {package}`, or give its path)")]
    NotFound { tool: String, package: String },
    #[error("{tool}: {path}: no such program")]
    NoProgram { tool: String, path: PathBuf },
    #[error("{tool} failed ({status}): `{command}`: {stderr}")]
    Failed {
        tool: String,
        command: String,
        status: String,
        stderr: String,
    },
    #[error("{tool} did not finish within {seconds} s: `{command}` (killed; raise the limit with --tool-timeout)")]
    Timeout {
        tool: String,
        command: String,
        seconds: u64,
    },
    #[error("{tool}: {message}")]
    Io { tool: String, message: String },
}

/// Finds `name` on `PATH` (or returns `explicit` if it is an executable file).
pub fn find(name: &str, explicit: Option<&Path>, package: &str) -> Result<PathBuf, ToolError> {
    let not_found = || ToolError::NotFound {
        tool: name.into(),
        package: package.into(),
    };
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(ToolError::NoProgram {
                tool: name.into(),
                path: p.into(),
            })
        };
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
        .ok_or_else(not_found)
}

fn command_line(program: &Path, args: &[OsString]) -> String {
    std::iter::once(program.display().to_string())
        .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Kills `child`'s process group (the tool and whatever it started) and reaps the child.
fn kill_group(child: &mut std::process::Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals the process group the child leads (made by
        // `process_group(0)`); it touches no memory of ours.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs `program args` (no shell), stdout discarded, stderr kept (its last 2,000 bytes go into errors).
pub fn run(
    tool: &str,
    program: &Path,
    args: &[OsString],
    timeout: Duration,
) -> Result<(), ToolError> {
    run_with_env(tool, program, args, &[], timeout)
}

/// [`run`] with extra environment variables for the tool.
pub fn run_with_env(
    tool: &str,
    program: &Path,
    args: &[OsString],
    env: &[(&str, &str)],
    timeout: Duration,
) -> Result<(), ToolError> {
    let command = command_line(program, args);
    info!("running: {command}");
    // Its own process group, so that a timeout ends the tool and everything it started.
    let mut child = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ToolError::Io {
            tool: tool.into(),
            message: format!("cannot start `{command}`: {e}"),
        })?;
    let mut stderr = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let start = Instant::now();
    // "mmseqs search", "jackhmmer on uniref90.fasta": the subcommand, or the last argument's file name.
    let what = match args.first().map(|a| a.to_string_lossy()) {
        Some(sub) if !sub.starts_with('-') => format!("{tool} {sub}"),
        _ => format!(
            "{tool} on {}",
            args.last()
                .and_then(|a| Path::new(a).file_name())
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        ),
    };
    let _spinner = crate::progress::spinner(&what);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if start.elapsed() > timeout => {
                kill_group(&mut child);
                return Err(ToolError::Timeout {
                    tool: tool.into(),
                    command,
                    seconds: timeout.as_secs(),
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                return Err(ToolError::Io {
                    tool: tool.into(),
                    message: e.to_string(),
                })
            }
        }
    };
    let err = reader.join().unwrap_or_default();
    if !status.success() {
        let tail = String::from_utf8_lossy(&err[err.len().saturating_sub(2000)..])
            .trim()
            .replace('\n', " | ");
        return Err(ToolError::Failed {
            tool: tool.into(),
            command,
            status: status.to_string(),
            stderr: tail,
        });
    }
    Ok(())
}

/// jackhmmer with AlphaFold2's settings: writes Stockholm hits of `query` against `database` to `out_sto`.
pub fn jackhmmer(
    binary: &Path,
    query: &Path,
    database: &Path,
    out_sto: &Path,
    iterations: u32,
    cpu: usize,
    timeout: Duration,
) -> Result<(), ToolError> {
    let a = |s: &str| OsString::from(s);
    let args = vec![
        a("-o"),
        a("/dev/null"),
        a("-A"),
        out_sto.into(),
        a("--noali"),
        a("--F1"),
        a("0.0005"),
        a("--F2"),
        a("0.00005"),
        a("--F3"),
        a("0.0000005"),
        a("--incE"),
        a("0.0001"),
        a("-E"),
        a("0.0001"),
        a("--cpu"),
        a(&cpu.to_string()),
        a("-N"),
        a(&iterations.to_string()),
        query.into(),
        database.into(),
    ];
    run("jackhmmer", binary, &args, timeout)
}

/// hhblits with AlphaFold2's settings (`-n 3 -e 0.001 -maxseq 1000000 -realign_max 100000 -maxfilt 100000
/// -min_prefilter_hits 1000`) against one or more HH-suite databases (path prefixes, e.g.
/// `.../uniref30/UniRef30_2021_03`), A3M hits to `out_a3m`.
#[allow(clippy::too_many_arguments)]
pub fn hhblits(
    binary: &Path,
    query: &Path,
    databases: &[&Path],
    out_a3m: &Path,
    iterations: u32,
    cpu: usize,
    timeout: Duration,
) -> Result<(), ToolError> {
    let a = |s: &str| OsString::from(s);
    let mut args = vec![
        a("-i"),
        query.into(),
        a("-cpu"),
        a(&cpu.to_string()),
        a("-oa3m"),
        out_a3m.into(),
        a("-o"),
        a("/dev/null"),
        a("-n"),
        a(&iterations.to_string()),
        a("-e"),
        a("0.001"),
        a("-maxseq"),
        a("1000000"),
        a("-realign_max"),
        a("100000"),
        a("-maxfilt"),
        a("100000"),
        a("-min_prefilter_hits"),
        a("1000"),
    ];
    for d in databases {
        args.push(a("-d"));
        args.push((*d).into());
    }
    run("hhblits", binary, &args, timeout)
}

/// Whether `path` is a database MMseqs2 made (`createdb`, or a prebuilt one): it has `<path>.dbtype`.
pub fn is_mmseqs_database(path: &Path) -> bool {
    let mut t = path.as_os_str().to_owned();
    t.push(".dbtype");
    Path::new(&t).is_file()
}

/// `mmseqs createdb <fasta> <db>` into a fresh folder `dir` (the caller keeps or renames it).
pub fn mmseqs_createdb(
    binary: &Path,
    fasta: &Path,
    db: &Path,
    timeout: Duration,
) -> Result<(), ToolError> {
    let a = |s: &str| OsString::from(s);
    run(
        "mmseqs",
        binary,
        &[a("createdb"), fasta.into(), db.into(), a("-v"), a("1")],
        timeout,
    )
}

/// MMseqs2: search `query` against the MMseqs2 `database` (prebuilt, or made once from a FASTA by the
/// caller) and write the hits as A3M to `out_a3m`. `work` is a scratch directory (created, left for
/// inspection on failure, removed on success).
#[allow(clippy::too_many_arguments)]
pub fn mmseqs(
    binary: &Path,
    query: &Path,
    database: &Path,
    out_a3m: &Path,
    work: &Path,
    evalue: f64,
    cpu: usize,
    timeout: Duration,
) -> Result<(), ToolError> {
    let io = |e: std::io::Error| ToolError::Io {
        tool: "mmseqs".into(),
        message: format!("{}: {e}", work.display()),
    };
    std::fs::create_dir_all(work).map_err(io)?;
    let p = |name: &str| OsString::from(work.join(name));
    let a = |s: &str| OsString::from(s);
    let threads = cpu.to_string();
    run(
        "mmseqs",
        binary,
        &[a("createdb"), query.into(), p("qdb"), a("-v"), a("1")],
        timeout,
    )?;
    let target = OsString::from(database);
    run(
        "mmseqs",
        binary,
        &[
            a("search"),
            p("qdb"),
            target.clone(),
            p("res"),
            p("tmp"),
            a("-e"),
            a(&evalue.to_string()),
            a("--max-seqs"),
            a("10000"),
            a("-a"),
            a("--threads"),
            a(&threads),
            a("-v"),
            a("1"),
        ],
        timeout,
    )?;
    run(
        "mmseqs",
        binary,
        &[
            a("result2msa"),
            p("qdb"),
            target,
            p("res"),
            p("msa"),
            a("--msa-format-mode"),
            a("6"),
            a("--threads"),
            a(&threads),
            a("-v"),
            a("1"),
        ],
        timeout,
    )?;
    // --msa-format-mode 6 writes one plain A3M file per query; with one query it is `msa` itself.
    let text = std::fs::read(work.join("msa")).map_err(io)?;
    let text: Vec<u8> = text.into_iter().filter(|&b| b != 0).collect();
    crate::fsutil::atomic::write_bytes(out_a3m, &text).map_err(io)?;
    let _ = std::fs::remove_dir_all(work);
    Ok(())
}
