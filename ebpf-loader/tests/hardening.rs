//! Under load and hostile specs: a soak of 10,000 collections, pins under
//! contention, and sizes and names refused before any bpf(2) call.

mod common;

use common::{BpfFs, fixture, info, kernel, open_fds};
use ebpf_loader::{LoadError, Loader, fault_injection};
use ebpf_spec::{ByteOrder, CollectionSpec, MapExtra, MapSpec, MapType, Pinning};
use std::sync::Barrier;

/// The process's resident memory in bytes (`/proc/self/statm`).
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

/// How many kernel maps this process holds an fd of (`/proc/self/fdinfo`
/// lists a `map_type` for each).
fn kernel_maps_held() -> usize {
    std::fs::read_dir("/proc/self/fdinfo")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter(|text| text.lines().any(|l| l.starts_with("map_type:")))
        .count()
}

#[test]
fn a_soak_of_ten_thousand_collections_returns_fds_memory_and_kernel_maps() {
    const PER_THREAD: usize = 5_000;
    let Some(_serial) = kernel() else { return };
    let spec = fixture("legacy_maps.bpfel.o");
    assert_eq!((spec.maps.len(), spec.programs.len()), (3, 1));
    let loader = Loader::new();
    let round = |n: usize| {
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..n {
                        let c = loader.load(&spec).unwrap();
                        assert_eq!(c.len(), 3);
                        drop(c);
                    }
                });
            }
        })
    };
    // Warm up the allocator's per-thread arenas and the loader's caches.
    round(500);
    let (fds, mem, maps) = (open_fds(), rss(), kernel_maps_held());
    assert_eq!(maps, 0, "no kernel map is held between loads");
    let start = std::time::Instant::now();
    round(PER_THREAD);
    let seconds = start.elapsed().as_secs_f64();
    let (fds_after, mem_after, maps_after) = (open_fds(), rss(), kernel_maps_held());
    eprintln!(
        "soak: {} collections on 2 threads in {seconds:.2} s; fds {fds} -> {fds_after}; \
         RSS {} KiB -> {} KiB; kernel maps held {maps} -> {maps_after}",
        2 * PER_THREAD,
        mem / 1024,
        mem_after / 1024
    );
    assert_eq!(fds_after, fds);
    assert_eq!(maps_after, 0);
    // RSS may move by what the allocator keeps cached, not by what
    // 10,000 collections would hold (each holds kilobytes).
    assert!(
        mem_after <= mem + 4 * 1024 * 1024,
        "RSS grew from {mem} to {mem_after} bytes"
    );
}

#[test]
fn eight_loaders_racing_for_the_same_pins_share_one_set_of_maps() {
    let Some(_serial) = kernel() else { return };
    let fs = BpfFs::mount();
    let spec = fixture("iproute2.bpfel.o");
    let pinned: Vec<&str> = spec
        .maps
        .values()
        .filter(|m| m.pinning == Pinning::ByName)
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(pinned, ["tc_global", "tc_object"]);
    for round in 0..20 {
        let barrier = Barrier::new(8);
        let colls: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        let loader = Loader::new().pin_path(fs.path());
                        barrier.wait();
                        loader.load(&spec)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let colls: Vec<_> = colls
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| panic!("round {round}: {e}")))
            .collect();
        assert_eq!(fs.pins(), pinned, "round {round}");
        for name in &pinned {
            let ids: std::collections::HashSet<u32> = colls
                .iter()
                .map(|c| info(c.map_fd(name).unwrap()).0)
                .collect();
            assert_eq!(ids.len(), 1, "round {round}: one `{name}` for all 8");
        }
        let created: usize = colls.iter().map(|c| c.pins_created().len()).sum();
        let reused: usize = colls.iter().map(|c| c.pins_reused().len()).sum();
        assert_eq!((created, reused), (2, 14), "round {round}");
        // The private map is every loader's own.
        let ids: std::collections::HashSet<u32> = colls
            .iter()
            .map(|c| info(c.map_fd("tc_private").unwrap()).0)
            .collect();
        assert_eq!(ids.len(), 8);
        drop(colls);
        for name in &pinned {
            std::fs::remove_file(fs.pin(name)).unwrap();
        }
    }
}

#[test]
fn absurd_sizes_and_escaping_names_are_refused_before_any_syscall() {
    let Some(_serial) = kernel() else { return };
    let fs = BpfFs::mount();
    let mut cases: Vec<(MapSpec, &str)> = vec![
        (
            MapSpec::new("huge_hash", MapType::Hash, 8, 8, u32::MAX),
            "more than this machine's",
        ),
        (
            MapSpec::new("huge_array", MapType::Array, 4, 1 << 30, 1 << 20),
            "more than this machine's",
        ),
        (
            MapSpec::new("percpu", MapType::PerCpuArray, 4, 1 << 20, 1 << 24),
            "more than this machine's",
        ),
        (
            // Sizes at u32::MAX (rounding them up to 8 overflowed a u32).
            MapSpec::new("max_value", MapType::Array, 4, u32::MAX, 1 << 16),
            "more than this machine's",
        ),
        (
            MapSpec::new("big_key", MapType::Hash, 4096, 8, 16),
            "key_size 4096 is larger than the 512 bytes",
        ),
    ];
    // iproute2's custom pinning namespaces (pinning > 2) cannot be honoured.
    let mut custom = MapSpec::new("custom_pin", MapType::Hash, 4, 4, 8);
    custom.extra = MapExtra::new(
        [0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ByteOrder::Little,
    );
    cases.push((custom, "iproute2 pinning value 3"));
    for name in ["../../etc/x", "a/b", "sixteen_bytes_xx", "tc.global"] {
        let mut m = MapSpec::new(name, MapType::Array, 4, 4, 1);
        m.pinning = Pinning::ByName;
        cases.push((m, "cannot be pinned"));
    }
    let fds = open_fds();
    for (m, why) in cases {
        let mut spec = CollectionSpec::default();
        spec.maps.insert(m.name.clone(), m.clone());
        fault_injection::count_calls();
        let e = Loader::new().pin_path(fs.path()).load(&spec).unwrap_err();
        assert_eq!(fault_injection::calls(), 0, "{}: {e}", m.name);
        assert!(matches!(e, LoadError::Invalid { .. }), "{e:?}");
        assert!(e.to_string().contains(why), "{e}");
        assert_eq!(e.map(), m.name);
        if m.pinning == Pinning::None {
            fault_injection::count_calls();
            assert!(Loader::new().create_map(&m).is_err());
            assert_eq!(fault_injection::calls(), 0, "create_map {}", m.name);
        }
    }
    assert_eq!(open_fds(), fds);
    assert!(fs.pins().is_empty());
}
