#![allow(dead_code)] // each bench uses what it needs of this file
//! What the benches that run `ferrofold` as a child process share: its peak resident memory, and the
//! machine and time lines of a results file.

use std::process::Command;

/// Runs `cmd`, returning its exit status and peak RSS in bytes.
pub fn peak_rss(cmd: &mut Command) -> (bool, u64) {
    // Linux hands the spawning process's high-water RSS to the child at exec (its `ru_maxrss` starts
    // there), so a bench that grew while writing a large input (the memory sweep's 300,000-row
    // features) floored every later measurement at its own peak: 427 MiB measured for a 182 MiB run.
    // Return the freed heap and reset this process's high-water mark to what it holds now first.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let child = cmd.spawn().expect("spawn ferrofold");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4");
    std::mem::forget(child);
    (
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        usage.ru_maxrss as u64 * 1024,
    )
}

/// The CPU's model name (`/proc/cpuinfo`).
pub fn machine() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default()
}

/// `date -u`.
pub fn now_utc() -> String {
    Command::new("date")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
