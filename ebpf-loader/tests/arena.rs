//! Arenas and `__arena` globals against the real kernel (fixture
//! `arena/arena.bpf.c`): the loader maps each arena it creates, writes the
//! globals (with the values set in the spec) where libbpf puts them, points
//! the programs' references at them, and the collection reads them, and the
//! pages a program allocates, in place. Skips (with the reason) without
//! bpf(2), fails under CI.

mod common;

use common::{BpfFs, fixture, kernel, open_fds};
use ebpf_loader::{ArenaError, LoadError, Loader, Step, fault_injection};
use ebpf_spec::{CollectionSpec, MapFlags, MapValue, Pinning};
use std::os::fd::AsFd;

/// The mappings of BPF maps this process holds (`/proc/self/maps`).
fn map_mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter(|l| l.contains("bpf-map"))
        .count()
}

fn read_u64(coll: &ebpf_loader::Collection, spec: &CollectionSpec, name: &str) -> u64 {
    let v = coll.variable(&spec.variables[name]).unwrap().unwrap();
    u64::from_ne_bytes(v.read().try_into().unwrap())
}

/// The arena fixture reduced to its arena, pinned by name at the fixed
/// address `addr`, with no globals and only the program that touches it.
fn pinned_fixed_arena(addr: u64) -> CollectionSpec {
    let mut spec = fixture("arena/arena.bpfel.o");
    let arena = spec.maps.get_mut("arena").unwrap();
    arena.contents.clear();
    arena.pinning = Pinning::ByName;
    arena.map_extra = addr;
    spec.variables.retain(|_, v| v.section != "arena");
    spec.programs.remove("bump");
    spec
}

#[test]
fn programs_and_this_process_share_the_arena_and_its_globals() {
    let Some(_serial) = kernel() else { return };
    let (fds, mappings) = (open_fds(), map_mappings());
    let spec = fixture("arena/arena.bpfel.o");
    let coll = Loader::new().load(&spec).unwrap();
    let arena = coll.arena("arena").expect("the arena is mapped");
    assert_eq!(arena.len(), 4 * 4096, "max_entries pages");
    let globals = arena.globals();
    assert_eq!(globals.len(), 40, "the section's bytes");
    // libbpf's placement: the last page when the verifier takes such
    // offsets, else the first. Either way the program must find them there.
    assert!(
        globals.start == 0 || globals.start == 3 * 4096,
        "{globals:?}"
    );

    // Before any run: the object's values, in the arena.
    assert_eq!(read_u64(&coll, &spec, "counter"), 5);
    let mut bytes = [0u8; 8];
    arena.read(globals.start, &mut bytes).unwrap();
    assert_eq!(u64::from_ne_bytes(bytes), 5, "counter is the first global");
    let tag = coll.variable(&spec.variables["tag"]).unwrap().unwrap();
    assert_eq!(tag.read(), b"tenant\0\0");

    // `bump`: counter += step; last = counter; one page allocated, 42 in it.
    let run = coll.test_run("bump", &[], 1).unwrap().unwrap();
    assert_eq!(
        run.retval,
        u32::from(b't'),
        "tag[0], read through the arena"
    );
    assert_eq!(read_u64(&coll, &spec, "counter"), 8);
    assert_eq!(read_u64(&coll, &spec, "last"), 8);
    assert_eq!(read_u64(&coll, &spec, "runs"), 1, ".bss is as before");
    let page = read_u64(&coll, &spec, "page");
    let at = arena
        .offset_of(page)
        .expect("the program's pointer is in our mapping");
    assert!(!globals.contains(&at), "the page is not the globals' page");
    arena.read(at, &mut bytes[..4]).unwrap();
    assert_eq!(u32::from_ne_bytes(bytes[..4].try_into().unwrap()), 42);

    // This process writes; the program reads it on its next run.
    let counter = coll.variable(&spec.variables["counter"]).unwrap().unwrap();
    counter.write(&100u64.to_ne_bytes()).unwrap();
    arena.write(at, &7u32.to_ne_bytes()).unwrap();
    coll.test_run("bump", &[], 1).unwrap().unwrap();
    assert_eq!(read_u64(&coll, &spec, "counter"), 103);
    assert_eq!(read_u64(&coll, &spec, "page"), page, "allocated once");
    arena.read(at, &mut bytes[..4]).unwrap();
    assert_eq!(u32::from_ne_bytes(bytes[..4].try_into().unwrap()), 7);

    // Bounds, and addresses outside the arena.
    assert!(matches!(
        arena.read(arena.len() - 2, &mut bytes[..4]),
        Err(ArenaError::Outside { .. })
    ));
    assert_eq!(arena.offset_of(0), None);
    assert_eq!(arena.offset_of(page + arena.len() as u64), None);

    // The handles keep the mapping (and the arena) after the collection.
    drop(coll);
    assert_eq!(counter.read(), 103u64.to_ne_bytes());
    drop((counter, tag));
    arena.read(at, &mut bytes[..4]).unwrap();
    drop(arena);
    assert_eq!(
        (open_fds(), map_mappings()),
        (fds, mappings),
        "nothing left"
    );
}

#[test]
fn each_instance_has_its_own_arena_with_the_globals_its_spec_sets() {
    let Some(_serial) = kernel() else { return };
    let (fds, mappings) = (open_fds(), map_mappings());
    let spec = fixture("arena/arena.bpfel.o");
    let specs: Vec<CollectionSpec> = (1..=3u32)
        .map(|step| {
            let mut s = spec.copy();
            s.variables
                .get_mut("step")
                .unwrap()
                .set(&(step * 10).to_ne_bytes())
                .unwrap();
            s
        })
        .collect();
    let colls = Loader::new().load_all(&specs).unwrap();
    for (i, coll) in colls.iter().enumerate() {
        coll.test_run("bump", &[], 1).unwrap().unwrap();
        coll.test_run("bump", &[], 1).unwrap().unwrap();
        assert_eq!(
            read_u64(coll, &specs[i], "counter"),
            5 + 2 * 10 * (i as u64 + 1),
            "instance {i}"
        );
    }
    let starts: std::collections::HashSet<usize> = colls
        .iter()
        .map(|c| c.arena("arena").unwrap().as_ptr() as usize)
        .collect();
    assert_eq!(starts.len(), 3, "three arenas, three mappings");
    drop(colls);

    let many = Loader::new().load_many(&spec, 4).unwrap();
    many[2].test_run("bump", &[], 1).unwrap().unwrap();
    let counters: Vec<u64> = many.iter().map(|c| read_u64(c, &spec, "counter")).collect();
    assert_eq!(counters, [5, 5, 8, 5]);
    drop(many);
    assert_eq!((open_fds(), map_mappings()), (fds, mappings));
}

/// `map_extra` fixes the arena's address in user space: the loader maps it
/// there, and never over something already mapped.
#[test]
fn an_arena_with_a_fixed_address_is_mapped_there_once_per_process() {
    let Some(_serial) = kernel() else { return };
    let (fds, mappings) = (open_fds(), map_mappings());
    let mut spec = fixture("arena/arena.bpfel.o");
    let addr: u64 = 0x1000_0000_0000;
    spec.maps.get_mut("arena").unwrap().map_extra = addr;
    let coll = Loader::new().load(&spec).unwrap();
    let arena = coll.arena("arena").unwrap();
    assert_eq!(arena.as_ptr() as usize as u64, addr);
    coll.test_run("bump", &[], 1).unwrap().unwrap();
    assert_eq!(read_u64(&coll, &spec, "counter"), 8);

    // A second instance would go where the first is: refused up front for
    // `load_many`, and by the kernel (EEXIST) for a second load, which
    // releases what it created.
    fault_injection::count_calls();
    let e = Loader::new().load_many(&spec, 2).unwrap_err();
    assert_eq!(fault_injection::calls(), 0, "refused before any syscall");
    fault_injection::disarm();
    assert!(
        matches!(&e, LoadError::Invalid { map, .. } if map == "arena"),
        "{e:?}"
    );
    let e = Loader::new().load(&spec).unwrap_err();
    match &e {
        LoadError::Syscall {
            map,
            step: Step::MapArena,
            source,
            hint: Some(hint),
        } => {
            assert_eq!(map, "arena");
            assert_eq!(source.raw_os_error(), Some(libc::EEXIST));
            assert!(hint.contains("once per process"), "{hint}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        read_u64(&coll, &spec, "counter"),
        8,
        "the first is untouched"
    );
    drop((arena, coll));

    // `load_all`: two specs at one address are refused before any syscall
    // (naming the second); at two addresses, each arena is where it asked.
    let mut other = spec.copy();
    fault_injection::count_calls();
    let e = Loader::new()
        .load_all(&[spec.copy(), other.copy()])
        .unwrap_err();
    let calls = fault_injection::calls();
    fault_injection::disarm();
    match &e {
        LoadError::Instance { index: 1, source } => {
            assert!(
                source
                    .to_string()
                    .contains("overlap those of arena `arena` of spec 0"),
                "{source}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(calls, 0);
    // Overlapping, not equal: refused alike, in one spec as across specs.
    other.maps.get_mut("arena").unwrap().map_extra = addr + 3 * 4096;
    let e = Loader::new()
        .load_all(&[spec.copy(), other.copy()])
        .unwrap_err();
    assert!(matches!(e, LoadError::Instance { index: 1, .. }), "{e:?}");
    let mut two = spec.copy();
    let mut near = two.maps["arena"].clone();
    near.name = "near".into();
    near.contents.clear();
    near.map_extra = addr + 3 * 4096;
    two.maps.insert("near".into(), near.clone());
    fault_injection::count_calls();
    let e = Loader::new().load(&two).unwrap_err();
    let calls = fault_injection::calls();
    fault_injection::disarm();
    assert_eq!(calls, 0);
    assert!(
        e.to_string().contains("overlap those of arena `arena` (0x"),
        "{e}"
    );
    // Adjacent is fine: 4 pages from `addr` end where `near` starts.
    two.maps.get_mut("near").unwrap().map_extra = addr + 4 * 4096;
    drop(Loader::new().load(&two).unwrap());
    let second: u64 = 0x2000_0000_0000;
    other.maps.get_mut("arena").unwrap().map_extra = second;
    let both = Loader::new().load_all(&[spec.copy(), other]).unwrap();
    let at: Vec<u64> = both
        .iter()
        .map(|c| c.arena("arena").unwrap().as_ptr() as usize as u64)
        .collect();
    assert_eq!(at, [addr, second]);
    drop(both);
    let again = Loader::new().load(&spec).unwrap();
    assert_eq!(read_u64(&again, &spec, "counter"), 5);
    drop(again);
    assert_eq!((open_fds(), map_mappings()), (fds, mappings));
}

#[test]
fn what_cannot_hold_arena_globals_is_refused_before_any_syscall() {
    let Some(_serial) = kernel() else { return };
    let base = fixture("arena/arena.bpfel.o");
    let fs = BpfFs::mount();
    let other = Loader::new()
        .create_map(&base.maps[".bss"])
        .unwrap()
        .fd()
        .as_fd()
        .try_clone_to_owned()
        .unwrap();
    let mut cases: Vec<(&str, Loader, CollectionSpec, &str)> = Vec::new();

    let mut spec = base.copy();
    spec.maps.get_mut("arena").unwrap().pinning = Pinning::ByName;
    cases.push((
        "pinned",
        Loader::new().pin_path(fs.path()),
        spec,
        "cannot be pinned by name or replaced",
    ));
    cases.push((
        "replaced",
        Loader::new().replace_map("arena", other),
        base.copy(),
        "cannot be pinned by name or replaced",
    ));
    let mut spec = base.copy();
    spec.maps.get_mut("arena").unwrap().flags |= MapFlags::SEGV_ON_FAULT;
    cases.push(("segv on fault", Loader::new(), spec, "BPF_F_SEGV_ON_FAULT"));
    let mut spec = base.copy();
    let arena = spec.maps.get_mut("arena").unwrap();
    arena.contents.push(arena.contents[0].clone());
    cases.push(("two entries", Loader::new(), spec, "one entry; it has 2"));
    let mut spec = base.copy();
    spec.maps.get_mut("arena").unwrap().contents[0].value = MapValue::Program("bump".into());
    cases.push(("not bytes", Loader::new(), spec, "bytes for its value"));
    let mut spec = base.copy();
    spec.maps.get_mut("arena").unwrap().max_entries = 0;
    cases.push((
        "no pages",
        Loader::new(),
        spec.copy(),
        "too small for its 40 bytes",
    ));
    cases.push((
        "no pages, maps only",
        Loader::new().maps_only(true),
        spec.copy(),
        "too small for its 40 bytes",
    ));
    let e = Loader::new().create_arena(&spec.maps["arena"]).unwrap_err();
    assert!(
        matches!(&e, LoadError::Invalid { what, .. } if what.contains("too small")),
        "{e:?}"
    );

    for (case, loader, spec, why) in cases {
        fault_injection::count_calls();
        let e = loader.load(&spec).unwrap_err();
        let calls = fault_injection::calls();
        fault_injection::disarm();
        assert!(e.to_string().contains(why), "{case}: {e}");
        // All refused while checking the spec, before the placement probe.
        assert_eq!(calls, 0, "{case}: {calls} bpf(2) calls");
    }
    assert!(fs.pins().is_empty());
}

/// Without `__arena` globals an arena may be shared: pinned, or handed over
/// with `replace_map`; the programs then use the existing arena.
#[test]
fn an_arena_without_globals_can_be_shared_and_segv_on_fault_is_respected() {
    let Some(_serial) = kernel() else { return };
    let fds = open_fds();
    let mut spec = fixture("arena/arena.bpfel.o");
    spec.maps.get_mut("arena").unwrap().flags |= MapFlags::SEGV_ON_FAULT;
    spec.maps.get_mut("arena").unwrap().contents.clear();
    spec.variables.retain(|_, v| v.section != "arena");
    // `touch` uses the arena, not the globals.
    spec.programs.remove("bump");
    let mut first = Loader::new().load(&spec).unwrap();
    let arena = first.arena("arena").unwrap();
    assert!(arena.globals().is_empty());
    assert!(matches!(
        arena.read(0, &mut [0u8; 4]),
        Err(ArenaError::SegvOnFault { .. })
    ));
    let shared = match first.take_map("arena").unwrap().unwrap() {
        aya::maps::Map::Unsupported(m) => m,
        other => panic!("{other:?}"),
    };
    let fd = shared.fd().as_fd().try_clone_to_owned().unwrap();
    // Its address was fixed by the first mapping: the second collection's
    // programs load on it,
    // and it sees the arena through the first one's mapping.
    let second = Loader::new().replace_map("arena", fd).load(&spec).unwrap();
    let again = second.arena("arena").expect("this process maps it");
    assert_eq!(again.as_ptr(), arena.as_ptr());
    assert!(again.globals().is_empty());
    assert!(matches!(
        again.read(0, &mut [0u8; 4]),
        Err(ArenaError::SegvOnFault { .. })
    ));
    drop(again);
    for coll in [&first, &second] {
        assert_eq!(coll.test_run("touch", &[], 2).unwrap().unwrap().retval, 0);
    }
    drop((first, second, shared, arena));

    // One arena made alone, for several collections: `create_arena` keeps
    // it mapped (`create_map` would lose the mapping, so it refuses).
    let alone = &spec.maps["arena"];
    let e = Loader::new().create_map(alone).unwrap_err();
    assert!(e.to_string().contains("Loader::create_arena"), "{e}");
    let mut plain = spec.copy();
    plain
        .maps
        .get_mut("arena")
        .unwrap()
        .flags
        .remove(MapFlags::SEGV_ON_FAULT);
    let (map, shared_arena) = Loader::new().create_arena(&plain.maps["arena"]).unwrap();
    assert_eq!(
        (shared_arena.len(), shared_arena.globals()),
        (4 * 4096, 0..0)
    );
    shared_arena.write(4096, &77u32.to_ne_bytes()).unwrap();
    let mut back = [0u8; 4];
    shared_arena.read(4096, &mut back).unwrap();
    assert_eq!(u32::from_ne_bytes(back), 77);
    let tenants: Vec<_> = (0..2)
        .map(|_| {
            let fd = map.fd().as_fd().try_clone_to_owned().unwrap();
            Loader::new().replace_map("arena", fd).load(&plain).unwrap()
        })
        .collect();
    for coll in &tenants {
        assert_eq!(coll.test_run("touch", &[], 1).unwrap().unwrap().retval, 0);
        // Each sees what was written through `create_arena`'s mapping.
        let view = coll.arena("arena").unwrap();
        assert_eq!(view.as_ptr(), shared_arena.as_ptr());
        view.read(4096, &mut back).unwrap();
        assert_eq!(u32::from_ne_bytes(back), 77);
    }
    let e = Loader::new().create_arena(&spec.maps[".bss"]).unwrap_err();
    assert!(e.to_string().contains("not an arena"), "{e}");
    drop((tenants, map, shared_arena));

    // Pinned: the load that makes the pin maps the arena; one that reuses
    // the pin in this process shares that mapping.
    let fs = BpfFs::mount();
    spec.maps.get_mut("arena").unwrap().pinning = Pinning::ByName;
    let maker = Loader::new().pin_path(fs.path()).load(&spec).unwrap();
    let user = Loader::new().pin_path(fs.path()).load(&spec).unwrap();
    assert_eq!(
        maker.arena("arena").unwrap().as_ptr(),
        user.arena("arena").unwrap().as_ptr()
    );
    assert_eq!(
        (maker.pins_created().len(), user.pins_reused().len()),
        (1, 1)
    );
    for coll in [&maker, &user] {
        assert_eq!(coll.test_run("touch", &[], 1).unwrap().unwrap().retval, 0);
    }
    drop((maker, user));
    // Once no mapping of it is left in this process (as for another
    // process), a reuse cannot learn where it was mapped: no view, but
    // its programs still load on it.
    let late = Loader::new().pin_path(fs.path()).load(&spec).unwrap();
    assert!(late.arena("arena").is_none());
    assert_eq!(late.test_run("touch", &[], 1).unwrap().unwrap().retval, 0);
    drop(late);
    std::fs::remove_file(fs.pin("arena")).unwrap();

    // With map_extra, a reuse maps it there itself.
    let addr: u64 = 0x3000_0000_0000;
    spec.maps.get_mut("arena").unwrap().map_extra = addr;
    drop(Loader::new().pin_path(fs.path()).load(&spec).unwrap());
    let mappings = map_mappings();
    let late = Loader::new().pin_path(fs.path()).load(&spec).unwrap();
    assert_eq!(late.pins_reused().len(), 1);
    let view = late.arena("arena").expect("mapped at its map_extra");
    assert_eq!(view.as_ptr() as usize as u64, addr);
    assert!(matches!(
        view.read(0, &mut [0u8; 4]),
        Err(ArenaError::SegvOnFault { .. })
    ));
    assert_eq!(map_mappings(), mappings + 1);
    assert_eq!(late.test_run("touch", &[], 1).unwrap().unwrap().retval, 0);
    drop((view, late));
    assert_eq!(map_mappings(), mappings);
    std::fs::remove_file(fs.pin("arena")).unwrap();
    assert_eq!(open_fds(), fds);
}

/// Every bpf(2) call of a `load_many` of 3 arena instances fails in turn:
/// nothing is left, neither fds nor the arenas' mappings.
#[test]
fn every_call_of_an_arena_load_fails_in_turn_and_no_mapping_is_left() {
    let Some(_serial) = kernel() else { return };
    let spec = fixture("arena/arena.bpfel.o");
    let loader = Loader::new().threads(2);
    // Warm up: the placement probe and the BTF fd are made once.
    drop(loader.load_many(&spec, 3).unwrap());
    let (fds, mappings) = (open_fds(), map_mappings());
    fault_injection::count_calls();
    drop(loader.load_many(&spec, 3).unwrap());
    let calls = fault_injection::calls();
    fault_injection::disarm();
    assert!(
        calls >= 3 * 4,
        "3 instances of 2 maps and 2 programs: {calls}"
    );
    for k in 1..=calls {
        fault_injection::fail_call_and_retries(k, libc::EIO);
        let result = loader.load_many(&spec, 3);
        let fired = fault_injection::fired();
        fault_injection::disarm();
        assert!(fired, "call {k} of {calls} was made");
        let e = result
            .err()
            .unwrap_or_else(|| panic!("call {k} failed, yet the load succeeded"));
        assert!(
            e.to_string().contains("Input/output error") || e.errno() == Some(libc::EIO),
            "call {k}: {e}"
        );
        assert_eq!(
            (open_fds(), map_mappings()),
            (fds, mappings),
            "call {k} ({e}): something was left"
        );
    }
    eprintln!("{calls} positions: nothing left");
}

/// Puts the placement back to the probe's even when an assertion fails.
struct ProbedPlacement;

impl Drop for ProbedPlacement {
    fn drop(&mut self) {
        fault_injection::place_arena_globals_at_end(None);
    }
}

/// Both of libbpf's placements, forced (this kernel takes the small offsets
/// of a 4-page arena, whatever the probe says): the programs' references,
/// the loader's writes and the collection's reads agree on each.
#[test]
fn globals_work_at_the_start_and_in_the_last_page_alike() {
    let Some(_serial) = kernel() else { return };
    let _reset = ProbedPlacement;
    let spec = fixture("arena/arena.bpfel.o");
    for (at_end, start) in [(true, 3 * 4096), (false, 0)] {
        fault_injection::place_arena_globals_at_end(Some(at_end));
        let coll = Loader::new().load(&spec).unwrap();
        let arena = coll.arena("arena").unwrap();
        assert_eq!(arena.globals(), start..start + 40, "at_end {at_end}");
        let mut bytes = [0u8; 8];
        arena.read(start, &mut bytes).unwrap();
        assert_eq!(u64::from_ne_bytes(bytes), 5, "at_end {at_end}: counter");
        let run = coll.test_run("bump", &[], 1).unwrap().unwrap();
        assert_eq!(run.retval, u32::from(b't'), "at_end {at_end}: tag[0]");
        arena.read(start, &mut bytes).unwrap();
        assert_eq!(u64::from_ne_bytes(bytes), 8, "at_end {at_end}: counter");
        arena.read(start + 24, &mut bytes).unwrap();
        assert_eq!(u64::from_ne_bytes(bytes), 8, "at_end {at_end}: last");
        assert_eq!(read_u64(&coll, &spec, "counter"), 8, "at_end {at_end}");
        let page = arena.offset_of(read_u64(&coll, &spec, "page")).unwrap();
        assert!(!arena.globals().contains(&page), "at_end {at_end}: {page}");
        arena.read(page, &mut bytes[..4]).unwrap();
        assert_eq!(&bytes[..4], 42i32.to_ne_bytes(), "at_end {at_end}");
    }
}

/// The placement is decided once per load, before linking: changed
/// meanwhile (here by another thread, as fast as it can), the programs and
/// the globals they read still agree. Before, link and creation each asked,
/// and about one load in four read zeros.
#[test]
fn one_placement_per_load_whatever_changes_meanwhile() {
    let Some(_serial) = kernel() else { return };
    let _reset = ProbedPlacement;
    let spec = fixture("arena/arena.bpfel.o");
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut at_end = false;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                at_end = !at_end;
                fault_injection::place_arena_globals_at_end(Some(at_end));
            }
        });
        let mut ends = 0;
        for i in 0..200 {
            let coll = Loader::new().load(&spec).unwrap();
            let run = coll.test_run("bump", &[], 1).unwrap().unwrap();
            assert_eq!(run.retval, u32::from(b't'), "load {i}: tag[0]");
            assert_eq!(read_u64(&coll, &spec, "counter"), 8, "load {i}");
            ends += usize::from(coll.arena("arena").unwrap().globals().start != 0);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        eprintln!("{ends} of 200 loads placed the globals at the end");
    });
}

/// Loads on several threads that reuse (or make) one pinned arena with a
/// fixed address, none of this process mapping it yet: the first maps it
/// there, the others share that mapping (mapping it again there would
/// fail, and failed before the loads took turns with such an arena).
#[test]
fn loads_racing_to_reuse_one_fixed_arena_share_one_mapping() {
    let Some(_serial) = kernel() else { return };
    let fs = BpfFs::mount();
    let spec = pinned_fixed_arena(0x4000_0000_0000);
    for round in 0..20 {
        // Even rounds: made and left pinned, unmapped, as another process
        // leaves it. Odd rounds: no pin yet, the racers make it.
        if round % 2 == 0 {
            drop(Loader::new().pin_path(fs.path()).load(&spec).unwrap());
        }
        let mappings = map_mappings();
        let barrier = std::sync::Barrier::new(4);
        let colls: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        Loader::new().pin_path(fs.path()).load(&spec)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let colls: Vec<_> = colls
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| panic!("round {round}: {e}")))
            .collect();
        let at: std::collections::HashSet<_> = colls
            .iter()
            .map(|c| c.arena("arena").unwrap().as_ptr() as usize)
            .collect();
        assert_eq!(at.len(), 1, "round {round}: one mapping");
        assert_eq!(map_mappings(), mappings + 1, "round {round}");
        drop(colls);
        std::fs::remove_file(fs.pin("arena")).unwrap();
    }
}

/// A reused arena whose view cannot be made still loads: something else
/// (here an anonymous mapping) holds its `map_extra`, so there is no view.
/// And a load that loses the race to pin a fixed arena drops its own arena
/// and mapping before it maps the winner's (it collided with its own).
#[test]
fn a_reused_arena_loads_without_a_view_and_a_lost_pin_race_maps_the_winner() {
    let Some(_serial) = kernel() else { return };
    let fds = open_fds();
    let fs = BpfFs::mount();
    let addr: u64 = 0x5000_0000_0000;
    let spec = pinned_fixed_arena(addr);
    drop(Loader::new().pin_path(fs.path()).load(&spec).unwrap());

    // Something else at the address.
    let len = 4 * 4096;
    // SAFETY: a new anonymous mapping at a free address, unmapped below.
    let other = unsafe {
        libc::mmap(
            addr as usize as *mut libc::c_void,
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    assert_eq!(other as usize as u64, addr);
    let coll = Loader::new().pin_path(fs.path()).load(&spec).unwrap();
    assert!(coll.arena("arena").is_none());
    assert_eq!(coll.test_run("touch", &[], 1).unwrap().unwrap().retval, 0);
    drop(coll);
    // SAFETY: the mapping made above, unmapped once.
    assert_eq!(unsafe { libc::munmap(other, len) }, 0);

    // The pin exists, but opening it fails (ENOENT injected at each call in
    // turn): the load creates its own arena at the address, loses the race
    // to pin it, and reuses the pin. It never collides with itself.
    let loader = Loader::new().pin_path(fs.path());
    fault_injection::count_calls();
    drop(loader.load(&spec).unwrap());
    let calls = fault_injection::calls();
    let mut raced = 0;
    for k in 1..=calls {
        fault_injection::fail_call(k, libc::ENOENT);
        let result = loader.load(&spec);
        fault_injection::disarm();
        match result {
            Ok(coll) => {
                assert_eq!(coll.pins_reused().len(), 1, "call {k}");
                let view = coll.arena("arena").expect("the winner's, mapped");
                assert_eq!(view.as_ptr() as usize as u64, addr, "call {k}");
                raced += 1;
            }
            Err(e) => assert!(!e.to_string().contains("File exists"), "call {k}: {e}"),
        }
    }
    // The opening of the pin is one of them (an ENOENT elsewhere may be
    // taken as an empty answer too).
    assert!(raced >= 1, "{raced}");
    std::fs::remove_file(fs.pin("arena")).unwrap();
    drop(loader); // its BTF fd
    assert_eq!(open_fds(), fds);
}

/// Two calls on one loader with a single thread, both with a pinned arena
/// at a fixed address: the first loses a pin race and is made again while
/// the second waits for its turn at that arena. The second waits on its
/// own thread: when it waited on the loader's only thread, the first
/// call's retry could never run there, and both hung for good.
#[test]
fn a_call_waiting_for_a_fixed_arena_does_not_hold_the_loaders_threads() {
    let Some(_serial) = kernel() else { return };
    let fs = BpfFs::mount();
    let arena_only = pinned_fixed_arena(0x6000_0000_0000);
    // The first call: the arena, a map another loader pins while it runs
    // (so that it loses the race), and a program the verifier takes a while
    // to accept.
    let mut racing = arena_only.clone();
    let bb = common::pinned_hash("bb", 13);
    racing.maps.insert("bb".into(), bb.clone());
    racing
        .programs
        .insert("slow".into(), common::slow("slow", 300_000, true));

    let loader = std::sync::Arc::new(Loader::new().threads(1).pin_path(fs.path()));
    let (tx, rx) = std::sync::mpsc::channel();
    let first = {
        let (loader, tx) = (loader.clone(), tx.clone());
        std::thread::spawn(move || {
            let result = loader
                .load_all(&[racing])
                .map(drop)
                .map_err(|e| e.to_string());
            tx.send(("first", result))
        })
    };
    // Once its `bb` exists (staged, not pinned), another loader pins one.
    let start = std::time::Instant::now();
    while !common::holds_map_of(13) {
        assert!(
            start.elapsed().as_secs() < 30,
            "the first call made no `bb`"
        );
        std::thread::yield_now();
    }
    let mut only_bb = CollectionSpec::default();
    only_bb.maps.insert("bb".into(), bb);
    let other = Loader::new().pin_path(fs.path()).load(&only_bb).unwrap();
    let second = {
        let loader = loader.clone();
        std::thread::spawn(move || {
            let result = loader
                .load_all(&[arena_only])
                .map(drop)
                .map_err(|e| e.to_string());
            tx.send(("second", result))
        })
    };
    for _ in 0..2 {
        let (which, result) = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("a call hung");
        result.unwrap_or_else(|e| panic!("{which}: {e}"));
    }
    first.join().unwrap().ok();
    second.join().unwrap().ok();
    drop(other);
}

/// Loads of a pinned fixed-address arena made from the workers of a rayon
/// pool: a worker waiting for the loader's threads may run another of those
/// loads itself, which takes the turn its own thread holds below it (it
/// waited for it for ever); and with no threads of its own, a loader whose
/// callers fill rayon's global pool had no worker left for its instances.
#[test]
fn loads_of_a_fixed_arena_from_rayon_workers_do_not_deadlock() {
    use rayon::prelude::*;
    let Some(_serial) = kernel() else { return };
    let fs = BpfFs::mount();
    for (own_threads, instances) in [(true, 1), (false, 2)] {
        let spec = pinned_fixed_arena(0x6100_0000_0000);
        let mut loader = Loader::new().pin_path(fs.path());
        if own_threads {
            loader = loader.threads(1);
        }
        let (tx, rx) = std::sync::mpsc::channel();
        // A detached thread: if the loads hang, the test fails instead of
        // waiting for them.
        std::thread::spawn(move || {
            let load = || -> Vec<_> {
                (0..8)
                    .into_par_iter()
                    .map(|_| {
                        loader
                            .load_many(&spec, instances)
                            .map(|c| c.len())
                            .map_err(|e| e.to_string())
                    })
                    .collect()
            };
            let loaded = if own_threads {
                // In a pool of the test's, the loader's one thread apart.
                rayon::ThreadPoolBuilder::new()
                    .num_threads(2)
                    .build()
                    .unwrap()
                    .install(load)
            } else {
                // In rayon's global pool, which the loader would use too.
                load()
            };
            tx.send(loaded).unwrap();
        });
        let loaded = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the loads hung (loader threads: {own_threads})"));
        for r in loaded {
            assert_eq!(r, Ok(instances), "loader threads: {own_threads}");
        }
        std::fs::remove_file(fs.pin("arena")).unwrap();
    }
}
