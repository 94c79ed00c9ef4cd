//! `ebpf-examples race`: the cilium/ebpf copy race, and why it cannot happen here.
//!
//! In cilium/ebpf, copies of a `CollectionSpec` shared one byte reader over the
//! trailing bytes of a legacy map definition. Map creation from several copies at
//! once raced on its read position: one copy read the bytes, the others read
//! nothing, and the original came back drained. This command runs the same
//! experiment: every copy reads its extra bytes from its own thread, all at once.

use ebpf_spec::DeepCopy;
use ebpf_spec::deep_copy::check_disjoint;
use std::io::{Cursor, Read};
use std::process::ExitCode;
use std::sync::{Arc, Barrier, Mutex};

/// Options of `race`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example: ebpf-examples race --copies 16 --shallow")]
pub struct Args {
    /// How many copies read at once, each on its own thread.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(2..=1024))]
    copies: u16,
    /// Copy with a shallow `Clone` (sharing the reader, as cilium/ebpf did) instead of `deep_copy`.
    #[arg(long)]
    shallow: bool,
}

/// A map spec in the shape cilium/ebpf had: `extra` is a reader with a position.
/// (ebpf-spec's own `MapSpec` keeps immutable bytes; this is the worst case.)
#[derive(DeepCopy, Clone)]
struct GoStyleMapSpec {
    name: String,
    extra: Arc<Mutex<Cursor<Vec<u8>>>>,
}

/// iproute2's `struct bpf_elf_map` fields beyond the 20-byte `bpf_map_def`:
/// id 1, pinning 2 (global), inner_id 0, inner_idx 0, little-endian.
const EXTRA: [u8; 16] = [1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

pub fn run(args: &Args) -> Result<ExitCode, String> {
    let original = GoStyleMapSpec {
        name: "tc_ingress_map".into(),
        extra: Arc::new(Mutex::new(Cursor::new(EXTRA.to_vec()))),
    };
    let how = if args.shallow {
        "shallow Clone"
    } else {
        "deep_copy"
    };
    let copies: Vec<GoStyleMapSpec> = (0..args.copies)
        .map(|_| {
            if args.shallow {
                original.clone()
            } else {
                original.deep_copy()
            }
        })
        .collect();

    let report = check_disjoint(&original, &copies[0]);
    let reads = read_all_at_once(&copies)?;
    let full = reads.iter().filter(|&&n| n == EXTRA.len()).count();
    let position = original
        .extra
        .lock()
        .map_err(|_| "lock poisoned")?
        .position();

    println!(
        "spec `{}` with {} extra bytes, {} copies by {how}",
        original.name,
        EXTRA.len(),
        copies.len()
    );
    println!("bytes read per copy: {reads:?}");
    println!(
        "copies that read all {} bytes: {full}/{}",
        EXTRA.len(),
        copies.len()
    );
    println!("original's read position afterwards: {position}");
    println!("proof helper: {report}");

    let sound = full == copies.len() && position == 0 && report.is_ok();
    if sound {
        println!(
            "verdict: OK: every copy read all its bytes, the original is unchanged, and no buffer is shared"
        );
    } else {
        println!(
            "verdict: RACE: copies share the reader, so reads come out short and the original is drained"
        );
    }
    // A race is the expected outcome of --shallow; with deep_copy it would be a bug.
    Ok(if sound || args.shallow {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn read_all_at_once(copies: &[GoStyleMapSpec]) -> Result<Vec<usize>, String> {
    let barrier = Barrier::new(copies.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = copies
            .iter()
            .map(|copy| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let mut buf = Vec::new();
                    let mut reader = copy.extra.lock().map_err(|_| "lock poisoned".to_string())?;
                    reader.read_to_end(&mut buf).map_err(|e| e.to_string())?;
                    Ok(buf.len())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| "reader thread panicked".to_string())?)
            .collect()
    })
}
