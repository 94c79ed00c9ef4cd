//! Progress on stderr for long runs: a bar for `bench`, a spinner while
//! `load` waits on one `load_many` call.
//!
//! Both are drawn only when stderr is a terminal. When it is piped or
//! redirected (a script, a test, `--json` into a file) they are hidden and
//! write nothing at all, so the output stays exactly what the command prints.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// Whether progress is drawn: only on a terminal.
fn visible() -> bool {
    std::io::stderr().is_terminal()
}

/// A bar of `len` steps with a message, or a hidden one off a terminal.
pub(crate) fn bar(len: u64) -> ProgressBar {
    if !visible() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(
        "{spinner} {msg:<16} [{bar:25}] {pos}/{len} samples, ETA {eta}",
    )
    .map_or_else(
        |_| ProgressStyle::default_bar(),
        |s| s.progress_chars("=> "),
    );
    let bar = ProgressBar::new(len).with_style(style);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A spinner with a message for one long call, or a hidden one off a terminal.
pub(crate) fn spinner(message: String) -> ProgressBar {
    if !visible() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let spinner = ProgressBar::new_spinner()
        .with_style(style)
        .with_message(message);
    spinner.enable_steady_tick(Duration::from_millis(100));
    spinner
}
