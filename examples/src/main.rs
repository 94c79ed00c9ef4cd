//! `ebpf-examples`: the first program a new user of ebpf-spec runs.
//!
//! Each subcommand is a thin client of the public API, as a user's program would be.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod default_object;
mod inspect;
mod load;
mod race;

/// Inspect, copy and load eBPF objects with ebpf-spec.
#[derive(Parser, Debug)]
#[command(
    name = "ebpf-examples",
    version,
    about,
    long_about = None,
    after_help = "Example: ebpf-examples inspect --json"
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
    /// Create N independent instances of an object's maps at once, and time it.
    ///
    /// Example: ebpf-examples load --instances 1000 --json
    Load(load::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Race(args) => race::run(&args),
        Command::Load(args) => load::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
