//! A fixed amount of parse or copy work on the parse bench's 21 objects, to
//! count instructions with callgrind (timings on this shared machine are too
//! noisy to compare two builds; instruction counts are not):
//!
//! ```text
//! cargo build --release -p ebpf-spec --example copy_profile
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/copy_profile copy 2000
//! ```
//!
//! `copy N` copies every parsed spec N times (each copy dropped at once, as
//! in the bench); `parse N` parses every object N times. Both parse the
//! objects once first. It uses only `from_elf` and `copy`: copied into an
//! older commit's worktree with `benches/common/mod.rs` (the list of the
//! bench's objects), it runs there unchanged, for a before/after count.

use ebpf_spec::CollectionSpec;
use std::hint::black_box;

#[path = "../benches/common/mod.rs"]
mod common;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(what), Some(n)) = (args.next(), args.next()) else {
        eprintln!("usage: copy_profile copy|parse ITERATIONS");
        std::process::exit(2);
    };
    let n: u32 = n.parse().expect("ITERATIONS is a number");
    let objects: Vec<Vec<u8>> = common::parse_bench_objects()
        .into_iter()
        .map(|(_, bytes)| bytes)
        .collect();
    let specs: Vec<CollectionSpec> = objects
        .iter()
        .map(|b| CollectionSpec::from_elf(b).expect("fixture parses"))
        .collect();
    match what.as_str() {
        "copy" => {
            for _ in 0..n {
                for spec in &specs {
                    black_box(black_box(spec).copy());
                }
            }
        }
        "parse" => {
            for _ in 0..n {
                for bytes in &objects {
                    black_box(CollectionSpec::from_elf(black_box(bytes)).expect("parses"));
                }
            }
        }
        other => {
            eprintln!("unknown work {other:?}: copy or parse");
            std::process::exit(2);
        }
    }
    println!("{} objects, {what} x{n}", specs.len());
}
