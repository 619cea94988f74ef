//! Progress reporting: `indicatif` bars and spinners when stderr is a terminal, nothing otherwise (logs
//! carry the milestones), so batch jobs' logs stay readable.
//!
//! Every bar lives in one [`MultiProgress`], and the log writer prints through [`suspend`]: a log line
//! clears the bars, is printed, and the bars are drawn again below it — no stale copies of a bar between
//! log lines. Bars carry the current target and its place in the batch (`t1 (2/5)`, see [`set_target`]).

use std::io::IsTerminal;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

static MULTI: LazyLock<MultiProgress> = LazyLock::new(|| {
    let m = MultiProgress::new();
    if !std::io::stderr().is_terminal() {
        m.set_draw_target(ProgressDrawTarget::hidden());
    }
    m
});

static TARGET: Mutex<String> = Mutex::new(String::new());

/// Names the target being worked on (`None` when between targets); new bars show it.
pub fn set_target(label: Option<String>) {
    *TARGET.lock().unwrap_or_else(|p| p.into_inner()) = label.unwrap_or_default();
}

fn with_target(message: &str) -> String {
    let t = TARGET.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if t.is_empty() {
        message.to_string()
    } else {
        format!("{t} · {message}")
    }
}

/// Runs `f` (writing a log line) with the bars cleared, then draws them again.
pub fn suspend<R>(f: impl FnOnce() -> R) -> R {
    MULTI.suspend(f)
}

fn styled(bar: ProgressBar, template: &str, message: &str) -> ProgressBar {
    // Into the MultiProgress first: a bar drawn before it is added draws on its own, outside the lines
    // the MultiProgress clears, and that first copy would stay on the screen.
    let bar = MULTI.add(bar);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.set_message(with_target(message));
    bar
}

/// A byte-count bar (hidden when stderr is not a terminal).
pub(crate) fn bytes_bar(total: Option<u64>, message: &str) -> ProgressBar {
    let bar = match total {
        Some(t) => ProgressBar::new(t),
        None => ProgressBar::no_length(),
    };
    styled(
        bar,
        "{msg} {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        message,
    )
}

/// A step-count bar (hidden when stderr is not a terminal).
pub(crate) fn steps_bar(total: u64, message: &str) -> ProgressBar {
    styled(
        ProgressBar::new(total),
        "{msg} {bar:30} {pos}/{len} {elapsed_precise} eta {eta}",
        message,
    )
}

/// A spinner with the elapsed time, for work whose length is unknown (an external search tool); cleared
/// when dropped.
pub(crate) struct Spinner(ProgressBar);

impl Drop for Spinner {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

pub(crate) fn spinner(message: &str) -> Spinner {
    let bar = styled(
        ProgressBar::new_spinner(),
        "{spinner} {msg} {elapsed_precise}",
        message,
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    Spinner(bar)
}

/// Sets the message of `bar` with the current target in front.
pub(crate) fn set_message(bar: &ProgressBar, message: &str) {
    bar.set_message(with_target(message));
}
