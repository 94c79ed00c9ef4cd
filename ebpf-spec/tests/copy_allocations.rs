//! What `CollectionSpec::copy` allocates: exactly one allocation for each
//! heap buffer the copy owns (each non-empty `Vec`, boxed value and name
//! longer than 24 bytes), as its own walk reports them, and nothing else:
//! no tree nodes, no staging, no allocation per short name.
//!
//! `cargo test -p ebpf-spec --test copy_allocations -- --nocapture` prints the
//! totals over the objects the parse bench uses (BENCHMARKS.md).

#[path = "../benches/common/mod.rs"]
mod bench;
mod common;

use bench::parse_bench_objects;
use common::{Counting, FIXTURES, measure};
use ebpf_spec::CollectionSpec;
use ebpf_spec::deep_copy::buffers;

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn a_copy_allocates_once_per_buffer_it_owns() {
    let (mut allocations, mut bytes, mut objects) = (0, 0, 0);
    for (path, data) in FIXTURES {
        let Ok(spec) = CollectionSpec::from_elf(data) else {
            continue; // the refused fixtures
        };
        let (copy, stats) = measure(|| spec.copy());
        let owned = buffers(&copy);
        assert_eq!(
            stats.count,
            owned.len(),
            "{path}: copy() made {} allocations for {} buffers",
            stats.count,
            owned.len()
        );
        // Vectors are allocated at their length; a name on the heap (over 24
        // bytes) has room for at least 32.
        let reported = owned.iter().map(|b| b.len).sum::<usize>();
        let heap_names = owned
            .iter()
            .filter(|b| b.owner == "ebpf_spec::Name")
            .count();
        assert!(
            (reported..=reported + 8 * heap_names).contains(&stats.total),
            "{path}: copy() allocated {} bytes for {reported} bytes of buffers",
            stats.total
        );
        assert_eq!(copy, spec);
        allocations += stats.count;
        bytes += stats.total;
        objects += 1;
    }
    assert!(objects >= 20, "only {objects} fixtures parsed");
    println!("{objects} objects: copy() made {allocations} allocations, {bytes} bytes");

    // The same count over the parse bench's objects: the figures
    // BENCHMARKS.md quotes (each of them is among the fixtures checked above).
    let (mut bench_allocations, mut bench_bytes) = (0, 0);
    let bench = parse_bench_objects();
    for (_, data) in &bench {
        let spec = CollectionSpec::from_elf(data).unwrap();
        let (_copy, stats) = measure(|| spec.copy());
        bench_allocations += stats.count;
        bench_bytes += stats.total;
    }
    println!(
        "the parse bench's {} objects: {bench_allocations} allocations, {bench_bytes} bytes",
        bench.len()
    );
}
