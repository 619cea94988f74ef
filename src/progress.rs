//! Progress reporting: `indicatif` bars when stderr is a terminal, nothing otherwise (logs carry the
//! milestones), so batch jobs' logs stay readable.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A byte-count bar (hidden when stderr is not a terminal).
pub(crate) fn bytes_bar(total: Option<u64>, message: &str) -> ProgressBar {
    let bar = match total {
        Some(t) => ProgressBar::new(t),
        None => ProgressBar::no_length(),
    };
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar.set_message(message.to_string());
    bar
}

/// A step-count bar (hidden when stderr is not a terminal).
pub(crate) fn steps_bar(total: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) =
        ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} {elapsed_precise} eta {eta}")
    {
        bar.set_style(style);
    }
    bar.set_message(message.to_string());
    bar
}
