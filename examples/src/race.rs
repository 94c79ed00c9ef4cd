//! `ebpf-examples race`: the cilium/ebpf copy race, and why it cannot happen here.
//!
//! In cilium/ebpf, copies of a `CollectionSpec` shared one byte reader over the
//! trailing bytes of a legacy map definition. Map creation from several copies at
//! once raced on its read position: one copy read the bytes, the others read
//! nothing, and the original came back drained. This command runs the same
//! experiment twice, each time with every copy reading on its own thread, all
//! released at once:
//!
//! 1. on a spec in cilium/ebpf's shape, whose extra bytes sit behind a shared
//!    reader (`Arc<Mutex<Cursor<Vec<u8>>>>`, the worst case): copied with
//!    `deep_copy` every copy reads all the bytes and the original keeps its
//!    position; with `--shallow` (a derived `Clone`, as cilium/ebpf's hand-written
//!    `Copy` was) the copies share the reader and the race shows;
//! 2. on this project's own `ebpf_spec::MapSpec`, `tc_outer` of the embedded
//!    object (an iproute2 definition with 16 extra bytes): every copy reads
//!    `extra.iproute2()` and gets the original's fields.
//!
//! Before the reads, every copy is checked against the original with
//! `check_deep_copy`, the check `assert_deep_copy` asserts: equal, and no heap
//! buffer of the copy overlaps one of the original. After them, the original is
//! compared with a snapshot taken before copying.

use crate::default_object::DEFAULT_OBJECT;
use crate::inspect::one_line;
use ebpf_spec::deep_copy::{Report, check_deep_copy};
use ebpf_spec::{CollectionSpec, DeepCopy, Iproute2Fields, MapSpec};
use std::io::{Cursor, Read};
use std::process::ExitCode;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// The map of the embedded object whose copies are read in part 2.
const REAL_MAP: &str = "tc_outer";

/// Options of `race`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example: ebpf-examples race --copies 16 --shallow")]
pub struct Args {
    /// How many copies read at once, each on its own thread.
    #[arg(long, default_value_t = 8, value_name = "N",
          value_parser = clap::value_parser!(u16).range(2..=1024))]
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

impl GoStyleMapSpec {
    /// The reader, even if a reading thread panicked while holding it.
    fn reader(&self) -> MutexGuard<'_, Cursor<Vec<u8>>> {
        self.extra.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The reader's bytes and position (one lock at a time, never two: a
    /// shallow copy shares its mutex with the original).
    fn state(&self) -> (Vec<u8>, u64) {
        let reader = self.reader();
        (reader.get_ref().clone(), reader.position())
    }
}

/// Equal names, bytes and read positions: what `check_deep_copy` compares.
impl PartialEq for GoStyleMapSpec {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.state() == other.state()
    }
}

/// iproute2's `struct bpf_elf_map` fields beyond the 20-byte `bpf_map_def`:
/// id 1, pinning 2 (global), inner_id 0, inner_idx 0, little-endian.
const EXTRA: [u8; 16] = [1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// What one experiment found.
struct Outcome {
    /// Copies whose `check_deep_copy` against the original is ok.
    sound: usize,
    /// The first report that is not ok.
    first_bad: Option<Report>,
    /// Copies whose read on their thread returned everything the original holds.
    full_reads: usize,
    /// The original equals its snapshot from before the copies were made.
    original_unchanged: bool,
}

impl Outcome {
    fn holds(&self, copies: usize) -> bool {
        self.sound == copies && self.full_reads == copies && self.original_unchanged
    }
}

pub fn run(args: &Args) -> Result<ExitCode, String> {
    let n = usize::from(args.copies);
    let how = if args.shallow {
        "shallow Clone"
    } else {
        "deep_copy"
    };

    // 1. cilium/ebpf's shape.
    let original = GoStyleMapSpec {
        name: "tc_ingress_map".into(),
        extra: Arc::new(Mutex::new(Cursor::new(EXTRA.to_vec()))),
    };
    let snapshot = original.deep_copy();
    let copies: Vec<GoStyleMapSpec> = (0..n)
        .map(|_| {
            if args.shallow {
                original.clone()
            } else {
                original.deep_copy()
            }
        })
        .collect();
    let (sound, first_bad) = check_all(&original, &copies);
    let reads = on_threads_at_once(&copies, |copy| {
        let mut buf = Vec::new();
        copy.reader()
            .read_to_end(&mut buf)
            .map_err(|e| e.to_string())?;
        Ok(buf)
    })?;
    let go = Outcome {
        sound,
        first_bad,
        full_reads: reads.iter().filter(|b| **b == EXTRA).count(),
        original_unchanged: original == snapshot,
    };
    let position = original.reader().position();

    outln!(
        "1. cilium/ebpf's shape: `{}`, {} extra bytes behind a reader (Arc<Mutex<Cursor>>)",
        original.name,
        EXTRA.len()
    );
    print_check(n, how, &go);
    outln!(
        "   read on {n} threads at once: {}/{n} copies read all {} bytes ({})",
        go.full_reads,
        EXTRA.len(),
        bytes_read(&reads)
    );
    outln!(
        "   original afterwards: {} (read position {position} of {})",
        if go.original_unchanged {
            "unchanged"
        } else {
            "drained"
        },
        EXTRA.len()
    );

    // 2. ebpf_spec::MapSpec, as the reader makes it from the embedded object.
    let spec = CollectionSpec::from_elf(DEFAULT_OBJECT).map_err(one_line)?;
    let map = spec
        .maps
        .get(REAL_MAP)
        .ok_or_else(|| format!("the embedded object has no map `{REAL_MAP}`"))?;
    let fields = map.extra.iproute2().ok_or_else(|| {
        format!("map `{REAL_MAP}` of the embedded object has no iproute2 extra bytes")
    })?;
    let snapshot = map.deep_copy();
    let copies: Vec<MapSpec> = (0..n)
        .map(|_| {
            if args.shallow {
                map.clone()
            } else {
                map.deep_copy()
            }
        })
        .collect();
    let (sound, first_bad) = check_all(map, &copies);
    let reads = on_threads_at_once(&copies, |copy| {
        Ok((copy.extra.iproute2(), copy.extra.bytes().to_vec()))
    })?;
    let real = Outcome {
        sound,
        first_bad,
        full_reads: reads
            .iter()
            .filter(|(f, bytes)| *f == Some(fields) && bytes == map.extra.bytes())
            .count(),
        original_unchanged: *map == snapshot,
    };

    outln!(
        "2. ebpf_spec::MapSpec `{REAL_MAP}` of the embedded object: {} extra bytes ({})",
        map.extra.bytes().len(),
        describe(fields)
    );
    print_check(n, how, &real);
    outln!(
        "   extra.iproute2() on {n} threads at once: {}/{n} copies read the original's fields and bytes",
        real.full_reads
    );
    outln!(
        "   original afterwards: {}",
        if real.original_unchanged {
            "unchanged"
        } else {
            "changed"
        }
    );

    let ok = go.holds(n) && real.holds(n);
    if ok {
        outln!(
            "verdict: OK: every copy read all its bytes, the originals are unchanged, and no buffer is shared"
        );
    } else if args.shallow && !go.holds(n) {
        outln!(
            "verdict: RACE: shallow copies share one reader: {} of {n} read short and the original is drained; \
             deep_copy (without --shallow) prevents it{}",
            n - go.full_reads,
            if real.holds(n) {
                " (and MapSpec, bytes without a reader, is safe even with Clone)"
            } else {
                ""
            }
        );
    } else {
        outln!(
            "verdict: RACE: copies by {how} share memory with the original or read short: the guarantee is broken"
        );
    }
    // A race is the expected outcome of --shallow; with deep_copy it would be a bug.
    Ok(if ok || args.shallow {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Bytes read per copy: the list for a few copies, a count per size for many.
fn bytes_read(reads: &[Vec<u8>]) -> String {
    let lens: Vec<usize> = reads.iter().map(Vec::len).collect();
    if lens.len() <= 16 {
        return format!("per copy: {lens:?}");
    }
    let mut by_len = std::collections::BTreeMap::<usize, usize>::new();
    for len in lens {
        *by_len.entry(len).or_default() += 1;
    }
    by_len
        .iter()
        .rev()
        .map(|(len, count)| format!("{count} read {len}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `check_deep_copy` of every copy against the original: how many are
/// sound, and the first report that is not.
fn check_all<T: DeepCopy + PartialEq>(original: &T, copies: &[T]) -> (usize, Option<Report>) {
    let mut sound = 0;
    let mut first_bad = None;
    for copy in copies {
        let report = check_deep_copy(original, copy);
        if report.is_ok() {
            sound += 1;
        } else {
            first_bad.get_or_insert(report);
        }
    }
    (sound, first_bad)
}

/// One line for the proof helper's result over all copies.
fn print_check(n: usize, how: &str, o: &Outcome) {
    match &o.first_bad {
        None => outln!(
            "   {n} copies by {how}; check_deep_copy (assert_deep_copy's check): {n}/{n} equal, no buffer shared"
        ),
        Some(report) => {
            let shared: Vec<String> = report
                .overlaps
                .iter()
                .map(|o| format!("{} ({} bytes)", short(o.copy.owner), o.shared_bytes))
                .collect();
            let why = if shared.is_empty() {
                report
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            } else {
                format!("each shares {} with the original", shared.join(", "))
            };
            outln!(
                "   {n} copies by {how}; check_deep_copy (assert_deep_copy's check): {}/{n} sound: {why}",
                o.sound
            );
        }
    }
}

/// A type name without its module paths: `Arc<Mutex<Cursor<Vec<u8>>>>`.
fn short(type_name: &str) -> String {
    let mut out = String::new();
    for (i, part) in type_name.split("::").enumerate() {
        // Keep from the last path segment of each generic level.
        if i > 0 {
            let keep = out.rfind(['<', ' ', ',']).map_or(0, |p| p + 1);
            out.truncate(keep);
        }
        out.push_str(part);
    }
    out
}

fn describe(f: Iproute2Fields) -> String {
    format!(
        "iproute2 id {}, pinning {}, inner_id {}, inner_idx {}",
        f.id, f.pinning, f.inner_id, f.inner_idx
    )
}

/// Runs `read` on every item, each on its own thread, all released at once:
/// every thread waits at a gate that opens when the last one has started.
fn on_threads_at_once<T: Sync, R: Send>(
    items: &[T],
    read: impl Fn(&T) -> Result<R, String> + Sync,
) -> Result<Vec<R>, String> {
    // A gate rather than a `Barrier`: if a thread cannot be started, the
    // gate still opens and the started ones finish.
    let gate = (Mutex::new(false), Condvar::new());
    let wait = || {
        let (open, cond) = &gate;
        let mut open = open.lock().unwrap_or_else(|e| e.into_inner());
        while !*open {
            open = cond.wait(open).unwrap_or_else(|e| e.into_inner());
        }
    };
    let release = || {
        let (open, cond) = &gate;
        *open.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cond.notify_all();
    };
    std::thread::scope(|s| {
        let mut handles = Vec::with_capacity(items.len());
        for item in items {
            let (wait, read) = (&wait, &read);
            let spawned = std::thread::Builder::new().spawn_scoped(s, move || {
                wait();
                read(item)
            });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    release();
                    return Err(format!("cannot start reader thread {}: {e}", handles.len()));
                }
            }
        }
        release();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| "a reader thread panicked".to_string())?
            })
            .collect()
    })
}
