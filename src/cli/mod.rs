//! The `ferrofold` command line: arguments ([`args`]), their translation into the library's options
//! ([`options`]), one function per subcommand ([`commands`]), logging and the one-line error report.

pub(crate) mod args;
pub(crate) mod commands;
pub(crate) mod options;

use std::process::ExitCode;

use ferrofold::pipeline::features::FeaturesStageError;

pub(crate) use args::Cli;
use args::Command;
use options::UsageError;

/// Writes one line to stderr. A reader that closed stderr (`2>&1 >/dev/null | head -1`) stops the
/// messages, not the program: `eprintln!` would panic on the broken pipe.
pub(crate) fn stderr_line(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// stderr for the log: once the reader has closed it, log lines are dropped (tracing-subscriber would
/// otherwise report the failed write with `eprintln!`, which panics).
struct ClosedStderrIsFine;

impl std::io::Write for ClosedStderrIsFine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Through the progress bars: they are cleared for the line and drawn again below it.
        match ferrofold::progress::suspend(|| std::io::stderr().write(buf)) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(buf.len()),
            r => r,
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match std::io::stderr().flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            r => r,
        }
    }
}

/// Runs the subcommand.
pub(crate) fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Features(a) => commands::features(*a),
        Command::Predict(a) => commands::predict(a),
        Command::Run(a) => commands::run(*a),
        Command::Params(c) => commands::params(c),
        Command::Inspect(a) => commands::inspect(a),
        Command::Score(a) => commands::score(a),
        Command::Relax(a) => commands::relax(a),
        Command::Db(c) => commands::db(c),
    }
}

/// Logs to stderr: info by default, `-v` debug, `-vv` trace, `-q` errors only; `RUST_LOG` overrides.
pub(crate) fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("ferrofold={level}")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| ClosedStderrIsFine)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .init();
}

/// The exit code of a result, after printing an error as one line on stderr: the error, then any cause
/// whose text it does not already include. 0 success (and output cut short by a closed pipe), 1 runtime
/// error, 2 usage error.
pub(crate) fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS // output piped into `head` & co.: not an error
        }
        Err(e) => {
            let usage = e.downcast_ref::<UsageError>().is_some()
                || matches!(
                    e.downcast_ref::<FeaturesStageError>(),
                    Some(FeaturesStageError::Usage(_))
                )
                || matches!(
                    e.downcast_ref::<ferrofold::pipeline::run::RunError>(),
                    Some(ferrofold::pipeline::run::RunError::Features(
                        FeaturesStageError::Usage(_)
                    ))
                );
            let mut line = e.to_string();
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                if !line.contains(&c) {
                    line = format!("{line}: {c}");
                }
            }
            stderr_line(&format!("error: {}", line.replace('\n', " ")));
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}
