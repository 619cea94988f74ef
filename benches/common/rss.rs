//! Peak resident memory of a child process, for the benches that run `ferrofold` as one.

use std::process::Command;

/// Runs `cmd`, returning its exit status and peak RSS in bytes.
pub fn peak_rss(cmd: &mut Command) -> (bool, u64) {
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
