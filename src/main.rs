//! The `ferrofold` command: parse the arguments, set up logging, run the subcommand, report the outcome
//! as an exit code (0 success, 1 runtime error, 2 usage error). Everything else lives in `cli/` (arguments
//! and their translation into options) and in the library (the stages).

mod cli;

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: ferrofold::model::plan::memory::LargePageHint =
    ferrofold::model::plan::memory::LargePageHint;

fn main() -> ExitCode {
    // Past a file-size limit (`ulimit -f`) a write should fail with EFBIG and be reported like a full
    // disk, not kill the process with SIGXFSZ and leave temporaries behind.
    // SAFETY: setting a signal's disposition to SIG_IGN before any thread starts.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    // `--device auto` asks this program, in a child, which GPU adapter there is (ferrofold::gpu::probe).
    if let Some(code) = ferrofold::gpu::probe_child_main() {
        return code;
    }
    if let Ok(exe) = std::env::current_exe() {
        ferrofold::gpu::probe_in_child(exe);
    }
    ferrofold::model::plan::memory::return_large_allocations_to_the_system();
    let args = cli::Cli::parse();
    cli::init_logging(args.verbose, args.quiet);
    cli::report(cli::dispatch(args.command))
}
