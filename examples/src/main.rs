//! `ebpf-examples`: the first program a new user of ebpf-spec runs.
//!
//! Each subcommand is a thin client of the public API, as a user's program would be.

use clap::error::ErrorKind;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[macro_use]
mod output;

mod bench;
mod default_object;
mod inspect;
mod load;
mod progress;
mod race;

/// Inspect, copy and load eBPF objects with ebpf-spec.
#[derive(Parser, Debug)]
#[command(
    name = "ebpf-examples",
    version,
    about,
    long_about = None,
    after_help = "\
Examples:
  ebpf-examples inspect --json
  ebpf-examples race --copies 16
  ebpf-examples load --instances 1000
  ebpf-examples bench --iterations 200

Without a FILE, every command uses the object embedded in this binary (examples/bpf/default.bpf.c).
`load` and the load steps of `bench` call bpf(2): run them as root, or with CAP_BPF,
CAP_NET_ADMIN and CAP_PERFMON (what the embedded object's programs need)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the maps and programs of an eBPF object (the embedded default object without FILE).
    ///
    /// Example: ebpf-examples inspect --json
    Inspect(inspect::Args),
    /// Show that copies of a spec never share their extra bytes (the cilium/ebpf copy race).
    ///
    /// Example: ebpf-examples race --copies 16
    Race(race::Args),
    /// Load N independent instances of an object (maps and programs) at once, and time it.
    ///
    /// Example: ebpf-examples load --instances 1000 --json
    Load(load::Args),
    /// Time parse, copy and load of an object, each as a ratio to a baseline timed in the same run
    ///
    /// Each step warms up, then runs --iterations timed samples; the table shows the median
    /// and 90th percentile per run, and RATIO, the step's median over its baseline's median:
    ///
    ///   clone             baseline of parse and copy: a clone of the object's bytes (Vec of u8),
    ///                     the least a step that reads them all can cost
    ///   parse             CollectionSpec::from_elf on those bytes
    ///   copy              spec.copy(), a deep copy of the parsed spec
    ///   create_map        baseline of the load steps: one 1-entry ARRAY map created with
    ///                     Loader::create_map, the cheapest kernel map there is
    ///   load              Loader::load: one collection, maps and programs
    ///   load --maps-only  the same with maps_only(true)
    ///   load_many         Loader::load_many(&spec, --instances), per collection
    ///
    /// Fast steps are timed in batches of runs (runs_per_sample) to stay above the clock's
    /// resolution; a run of clone, parse or copy makes its value and frees it; what a load
    /// step creates is released after its clock stops. The load steps reuse one Loader, so the
    /// object's BTF is loaded once, in the warm-up. They need bpf(2): without the privilege, or
    /// with --no-load, they are left out with one line saying why.
    ///
    /// --json prints one line with these keys, in this order:
    ///
    ///   {"object":S,"object_bytes":N,"maps":N,"programs":N,"debug_build":B,
    ///    "iterations":N,"instances":N,"threads":N,"load_skipped":S|null,
    ///    "steps":[{"name":S,"baseline":S,"runs_per_sample":N,
    ///              "median_ns":F,"p90_ns":F,"min_ns":F,"ratio":F}]}
    ///
    /// steps are in the table's order, named clone, parse, copy, create_map, load,
    /// load_maps_only, load_many (the last four only when the load steps ran); baseline names
    /// the step a ratio is relative to (a baseline names itself, ratio 1); times are
    /// nanoseconds per run; load_skipped says why the load steps did not run.
    #[command(verbatim_doc_comment)]
    Bench(bench::Args),
}

fn main() -> ExitCode {
    die_on_broken_pipe();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    let result = match cli.command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Race(args) => race::run(&args),
        Command::Load(args) => load::run(&args),
        Command::Bench(args) => bench::run(&args),
    };
    let code = match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    };
    match output::finish() {
        None => code,
        Some(e) => {
            eprintln!("error: writing the output: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Output piped into a reader that stops early (`| head`) ends the program
/// quietly, as it ends `cat`: Rust ignores SIGPIPE, and `println!` then
/// panics on the broken pipe; the default action is restored instead.
fn die_on_broken_pipe() {
    // SAFETY: sets the disposition of one signal to its default, before any
    // thread exists; no handler runs Rust code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Help and version go where clap sends them (a failed write is one error
/// line and exit code 1); a usage error becomes one line on stderr (clap's
/// message, its tip, and where to find help) and exit code 2.
fn usage_error(err: &clap::Error) -> ExitCode {
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let printed = err.print().and_then(|()| {
            use std::io::Write;
            std::io::stdout().flush()?;
            std::io::stderr().flush()
        });
        if let Err(e) = printed {
            eprintln!("error: writing the output: {e}");
            return ExitCode::FAILURE;
        }
        // clap's codes: 0 for help and version asked for, 2 for help shown
        // because a command is missing.
        return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
    }
    eprintln!("{}", one_line_usage(&err.render().to_string()));
    ExitCode::from(2)
}

/// clap's multi-line error text on one line: the usage synopsis dropped,
/// other lines joined with "; " (or a space after a line ending in ':').
fn one_line_usage(text: &str) -> String {
    let mut line = String::new();
    for part in text.lines().map(str::trim) {
        if part.is_empty() || part.starts_with("Usage:") {
            continue;
        }
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        match part.strip_prefix("For more information, try ") {
            Some(rest) => {
                line.push_str("for more information, try ");
                line.push_str(rest.trim_end_matches('.'));
            }
            None => line.push_str(part),
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::one_line_usage;

    #[test]
    fn clap_errors_become_one_line() {
        assert_eq!(
            one_line_usage(
                "error: unexpected argument '--iteration' found\n\n  tip: a similar argument exists: \
                 '--iterations'\n\nUsage: ebpf-examples bench --iterations <N> [FILE]\n\nFor more \
                 information, try '--help'.\n"
            ),
            "error: unexpected argument '--iteration' found; tip: a similar argument exists: \
             '--iterations'; for more information, try '--help'"
        );
        assert_eq!(
            one_line_usage(
                "error: the following required arguments were not provided:\n  <FILE>\n\nUsage: x\n"
            ),
            "error: the following required arguments were not provided: <FILE>"
        );
    }
}
