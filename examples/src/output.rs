//! Standard output that never panics. `println!` panics when stdout cannot
//! be written (`> /dev/full`, a closed file); the commands print through
//! [`outln!`](crate::outln) and [`out!`](crate::out) instead, which stop
//! writing at the first error and keep it, and `main` reports it as one
//! line and a failing exit code. (A closed pipe ends the program by SIGPIPE
//! before any error: see `die_on_broken_pipe` in `main.rs`.)

use std::io::{self, Write};
use std::sync::Mutex;

/// The first write error, after which nothing more is written.
static FAILED: Mutex<Option<io::Error>> = Mutex::new(None);

/// Writes `args` to stdout unless a write failed before.
pub(crate) fn emit(args: std::fmt::Arguments<'_>) {
    let mut failed = FAILED.lock().unwrap_or_else(|e| e.into_inner());
    if failed.is_some() {
        return;
    }
    if let Err(e) = io::stdout().lock().write_fmt(args) {
        *failed = Some(e);
    }
}

/// Flushes stdout, and returns the first write error, if any.
pub(crate) fn finish() -> Option<io::Error> {
    let mut failed = FAILED.lock().unwrap_or_else(|e| e.into_inner());
    if failed.is_none()
        && let Err(e) = io::stdout().lock().flush()
    {
        *failed = Some(e);
    }
    failed.take()
}

/// `println!` that never panics (see the module docs).
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::emit(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::emit(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that never panics (see the module docs).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::emit(format_args!($($arg)*))
    };
}
