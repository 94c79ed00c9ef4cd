//! `Loader::load` and `load_many` against the real kernel, with a private
//! bpffs for pinning. Skips (with the reason) without bpf(2), fails under CI.

mod common;

use aya::maps::{Array, ArrayOfMaps, MapData};
use common::{BpfFs, fixture, info, kernel, open_fds, refused_program_types};
use ebpf_loader::{Collection, LoadError, Loader, Step};
use ebpf_spec::{CollectionSpec, MapSpec, MapType, Pinning};
use std::os::fd::AsFd;

fn id(c: &Collection, name: &str) -> u32 {
    info(c.map_fd(name).unwrap()).0
}

#[test]
fn loader_and_collection_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Loader>();
    check::<Collection>();
    check::<LoadError>();
}

#[test]
fn map_in_map_slots_are_filled_and_the_spec_is_unchanged() {
    let Some(_serial) = kernel() else { return };
    let spec = fixture("map_in_map.bpfel.o");
    let before = spec.clone();
    let mut coll = Loader::new().load(&spec).unwrap();
    assert_eq!(spec, before, "load must not modify the spec");
    assert_eq!(
        coll.map_names().collect::<Vec<_>>(),
        ["inner_a", "inner_b", "jmp_table", "outer_arr", "outer_hash"]
    );

    let inner_a = id(&coll, "inner_a");
    let inner_b = id(&coll, "inner_b");
    let outer = coll.take_map("outer_arr").unwrap().unwrap();
    let outer: ArrayOfMaps<MapData, Array<MapData, u32>> = outer.try_into().unwrap();
    let slot = |i: u32| {
        outer
            .get(&i, 0)
            .ok()
            .map(|m: Array<MapData, u32>| info_of(&m))
    };
    assert_eq!(slot(1), Some(inner_a), "slot 1 holds inner_a");
    assert_eq!(slot(3), Some(inner_b), "slot 3 holds inner_b");
    assert_eq!(slot(0), None);
}

fn info_of(m: &Array<MapData, u32>) -> u32 {
    use aya::maps::IterableMap;
    m.map().info().unwrap().id()
}

#[test]
fn many_instances_share_nothing_and_leave_no_fd() {
    let Some(_serial) = kernel() else { return };
    let mut spec = fixture("globals.bpfel.o");
    spec.set_variable("sample_rate", &9u32.to_le_bytes())
        .unwrap();
    let before_fds = open_fds();
    for threads in [1, 2] {
        let loader = Loader::new().threads(threads);
        let instances = loader.load_many(&spec, 64).unwrap();
        assert_eq!(instances.len(), 64);
        let mut ids: Vec<u32> = instances.iter().map(|c| id(c, ".data")).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 64, "every instance has its own maps");
        for c in &instances {
            assert_eq!(c.len(), spec.maps.len());
            let (.., flags, _) = info(c.map_fd(".rodata").unwrap());
            assert_ne!(flags & ebpf_spec::MapFlags::MMAPABLE.bits(), 0);
        }
        let mut one = instances.into_iter().next().unwrap();
        let mut ro: Array<_, [u8; 22]> = one
            .take_map(".rodata")
            .unwrap()
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(ro.get(&0, 0).unwrap()[0..4], 9u32.to_le_bytes());
        assert!(ro.set(0, [0; 22], 0).is_err(), ".rodata is frozen");
    }
    assert_eq!(open_fds(), before_fds, "no fd left behind");
}

#[test]
fn pins_are_created_then_reused_and_mismatches_listed() {
    let Some(_serial) = kernel() else { return };
    let fs = BpfFs::mount();
    let spec = fixture("iproute2.bpfel.o");
    let loader = Loader::new().pin_path(fs.path());
    let first = loader.load(&spec).unwrap();
    assert_eq!(fs.pins(), ["tc_global", "tc_object"]);
    assert_eq!(
        first.pins_created(),
        [fs.pin("tc_global"), fs.pin("tc_object")]
    );

    let second = loader.load(&spec).unwrap();
    assert!(second.pins_created().is_empty());
    assert_eq!(second.pins_reused().len(), 2);
    assert_eq!(
        id(&first, "tc_global"),
        id(&second, "tc_global"),
        "the pin is shared"
    );
    assert_ne!(
        id(&first, "tc_private"),
        id(&second, "tc_private"),
        "unpinned maps are not"
    );

    let mut changed = spec.clone();
    changed.maps.get_mut("tc_global").unwrap().max_entries = 512;
    changed.maps.get_mut("tc_global").unwrap().value_size = 16;
    let fds = open_fds();
    let e = loader.load(&changed).unwrap_err();
    assert!(
        matches!(
            e,
            LoadError::Incompatible {
                step: Step::OpenPin,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "opening the existing pin: map `tc_global` is incompatible: value_size is 8 but 16 was \
         expected, max_entries is 256 but 512 was expected"
    );
    assert_eq!(open_fds(), fds);
    assert_eq!(fs.pins(), ["tc_global", "tc_object"], "existing pins stay");
}

#[test]
fn a_pinned_outer_map_is_reused_only_with_a_compatible_inner_map() {
    let Some(_serial) = kernel() else { return };
    let fs = BpfFs::mount();
    let outer_spec = |inner_value: u32, fill: bool| {
        let mut spec = CollectionSpec::default();
        let mut outer = MapSpec::new("outer", MapType::ArrayOfMaps, 4, 4, 4);
        outer.pinning = Pinning::ByName;
        outer.inner_map = Some(Box::new(MapSpec::new(
            "t",
            MapType::Array,
            4,
            inner_value,
            2,
        )));
        if fill {
            outer.contents.push(ebpf_spec::MapEntry::at_index(
                1,
                ebpf_spec::MapValue::Map("inner".into()),
                ebpf_spec::ByteOrder::NATIVE,
            ));
        }
        spec.maps.insert("outer".into(), outer);
        spec.maps.insert(
            "inner".into(),
            MapSpec::new("inner", MapType::Array, 4, inner_value, 2),
        );
        spec
    };
    let loader = Loader::new().pin_path(fs.path());
    // An empty pinned outer map: the kernel cannot tell its template, so
    // only the outer attributes are compared (any inner template passes).
    drop(loader.load(&outer_spec(4, false)).unwrap());
    drop(loader.load(&outer_spec(8, false)).unwrap());
    std::fs::remove_file(fs.pin("outer")).unwrap();

    // With a filled slot, the map in it tells the template.
    let first = loader.load(&outer_spec(4, true)).unwrap();
    assert_eq!(first.pins_created(), [fs.pin("outer")]);
    let again = loader.load(&outer_spec(4, true)).unwrap();
    assert_eq!(again.pins_reused(), [fs.pin("outer")]);
    let e = loader.load(&outer_spec(8, true)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "opening the existing pin: map `outer` is incompatible: inner_map.value_size is 4 but 8 \
         was expected"
    );
}

#[test]
fn a_pin_race_between_two_threads_yields_one_map() {
    let Some(_serial) = kernel() else { return };
    for _ in 0..20 {
        let fs = BpfFs::mount();
        let spec = fixture("iproute2.bpfel.o");
        let loader = Loader::new().pin_path(fs.path());
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| loader.load(&spec));
            let b = s.spawn(|| loader.load(&spec));
            (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
        });
        assert_eq!(id(&a, "tc_global"), id(&b, "tc_global"));
        assert_eq!(id(&a, "tc_object"), id(&b, "tc_object"));
        assert_eq!(a.pins_created().len() + b.pins_created().len(), 2);
        assert_eq!(fs.pins(), ["tc_global", "tc_object"]);
    }
}

/// A pin appears only once its load has succeeded. Before, it appeared as
/// soon as its map was made: a second loader reused it while the first was
/// still verifying its programs, then the first failed and removed the pin
/// under it, and a third loader made a map of its own: two "shared" maps.
#[test]
fn a_pin_appears_only_when_its_load_has_succeeded() {
    let Some(_serial) = kernel() else { return };
    let fs = BpfFs::mount();
    // A program the verifier walks for a while (300,000 instructions), then
    // refuses: its `exit` returns an unset r0.
    let mut failing = CollectionSpec::default();
    failing
        .maps
        .insert("shared".into(), common::pinned_hash("shared", 8));
    failing
        .programs
        .insert("slow".into(), common::slow("slow", 300_000, false));
    let mut plain = CollectionSpec::default();
    plain
        .maps
        .insert("shared".into(), common::pinned_hash("shared", 8));
    let loader = Loader::new().pin_path(fs.path());
    let fds = open_fds();

    let done = std::sync::atomic::AtomicBool::new(false);
    let start = std::time::Instant::now();
    let (failed, seen_while_loading, other) = std::thread::scope(|s| {
        let a = s.spawn(|| {
            let r = loader.load(&failing).map(drop);
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            r
        });
        // Its map is made in its first millisecond: watch for a pin for 20
        // ms, then load the same pinned name while it still verifies.
        let mut seen = false;
        while !done.load(std::sync::atomic::Ordering::SeqCst)
            && start.elapsed() < std::time::Duration::from_millis(20)
        {
            seen |= fs.pin("shared").exists();
            std::thread::yield_now();
        }
        let other =
            (!done.load(std::sync::atomic::Ordering::SeqCst)).then(|| loader.load(&plain).unwrap());
        let still_loading = !done.load(std::sync::atomic::Ordering::SeqCst);
        (a.join().unwrap(), seen, other.filter(|_| still_loading))
    });
    eprintln!("the failing load took {:?}", start.elapsed());
    let e = failed.unwrap_err();
    assert_eq!(e.step(), Some(Step::LoadProgram), "{e}");
    assert!(!seen_while_loading, "the failing load's pin was visible");
    let other = other.expect("the other load ran while the first verified");
    assert_eq!(other.pins_created(), [fs.pin("shared")]);
    // The failure took nothing away: the pin is the other load's, and the
    // next load shares its map.
    assert!(fs.pin("shared").exists());
    let next = loader.load(&plain).unwrap();
    assert_eq!(next.pins_reused(), [fs.pin("shared")]);
    assert_eq!(id(&next, "shared"), id(&other, "shared"));
    drop((other, next));
    // The loader's BTF cache holds no fd here (no BTF); nothing else stays.
    assert_eq!(open_fds(), fds);
}

/// A load that loses a pin race never takes back a pin another loader
/// reused. Load A makes `aa`, 40 more maps and `bb` to pin, and verifies a
/// program for a while; B pins `bb` meanwhile, so that A loses the race;
/// C loads `aa` as soon as its pin appears. A's pin of `aa`, made before it
/// found the race, used to be removed again: C then held a map that A (made
/// again) no longer shared (3 runs in 20).
#[test]
fn a_pin_another_loader_reused_is_never_taken_back() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some(_serial) = kernel() else { return };
    let fs = BpfFs::mount();
    let pinned = common::pinned_hash;
    let slow = common::slow("slow", 100_000, true);
    let mut a = CollectionSpec::default();
    a.maps.insert("aa".into(), pinned("aa", 11));
    for i in 0..40 {
        let name = format!("ab{i:02}");
        a.maps.insert(name.as_str().into(), pinned(&name, 12));
    }
    a.maps.insert("bb".into(), pinned("bb", 13));
    a.programs.insert("slow".into(), slow);
    let mut b = CollectionSpec::default();
    b.maps.insert("bb".into(), pinned("bb", 13));
    let mut c = CollectionSpec::default();
    c.maps.insert("aa".into(), pinned("aa", 11));
    // Whether A's `bb` (13 entries, made, not pinned yet) is open.
    let has_bb = || common::holds_map_of(13);
    for round in 0..8 {
        for pin in fs.pins() {
            std::fs::remove_file(fs.pin(&pin)).unwrap();
        }
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let watcher = s.spawn(|| {
                let loader = Loader::new().pin_path(fs.path());
                while !stop.load(Ordering::SeqCst) {
                    if fs.pin("aa").exists()
                        && let Ok(coll) = loader.load(&c)
                    {
                        return Some(coll);
                    }
                    std::thread::yield_now();
                }
                None
            });
            let first = s.spawn(|| Loader::new().pin_path(fs.path()).load(&a));
            while !has_bb() {
                std::thread::yield_now();
            }
            let other = Loader::new().pin_path(fs.path()).load(&b).unwrap();
            let first = first.join().unwrap().unwrap();
            stop.store(true, Ordering::SeqCst);
            if let Some(seen) = watcher.join().unwrap() {
                assert_eq!(id(&seen, "aa"), id(&first, "aa"), "round {round}");
            }
            assert_eq!(id(&other, "bb"), id(&first, "bb"), "round {round}");
        });
    }
}

/// Loaders of this library that pin the same names at the same moment
/// publish one at a time (an flock on the pin directory), so none finds a
/// race half-way through its pins and takes back a pin another has reused:
/// every loader, and a watcher that grabs the first pin as soon as it
/// appears, end up with the same maps.
#[test]
fn loaders_publishing_at_once_share_every_pin() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some(_serial) = kernel() else { return };
    let fs = BpfFs::mount();
    let mut spec = CollectionSpec::default();
    for i in 0..40 {
        let name = format!("m{i:02}");
        let mut m = MapSpec::new(name.as_str(), MapType::Hash, 4, 4, 8);
        m.pinning = Pinning::ByName;
        spec.maps.insert(name.as_str().into(), m);
    }
    let mut first = CollectionSpec::default();
    first.maps.insert("m00".into(), spec.maps["m00"].clone());
    for round in 0..10 {
        for pin in fs.pins() {
            std::fs::remove_file(fs.pin(&pin)).unwrap();
        }
        let stop = AtomicBool::new(false);
        let barrier = std::sync::Barrier::new(4);
        std::thread::scope(|s| {
            let watcher = s.spawn(|| {
                let loader = Loader::new().pin_path(fs.path());
                while !stop.load(Ordering::SeqCst) {
                    if fs.pin("m00").exists()
                        && let Ok(coll) = loader.load(&first)
                    {
                        return Some(coll);
                    }
                    std::thread::yield_now();
                }
                None
            });
            let loads: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        Loader::new().pin_path(fs.path()).load(&spec).unwrap()
                    })
                })
                .collect();
            let colls: Vec<_> = loads.into_iter().map(|h| h.join().unwrap()).collect();
            stop.store(true, Ordering::SeqCst);
            for name in spec.maps.keys() {
                let ids: std::collections::HashSet<_> = colls.iter().map(|c| id(c, name)).collect();
                assert_eq!(ids.len(), 1, "round {round}: `{name}` is one map");
            }
            if let Some(seen) = watcher.join().unwrap() {
                assert_eq!(id(&seen, "m00"), id(&colls[0], "m00"), "round {round}");
            }
        });
    }
}

/// A load whose pin directory another process keeps flocked (a `flock DIR
/// command` wrapper, a stopped loader) publishes without the lock after a
/// short wait, instead of waiting for ever.
#[test]
fn a_load_does_not_wait_for_ever_for_a_locked_pin_directory() {
    use std::os::fd::AsRawFd;
    let Some(_serial) = kernel() else { return };
    let fs = BpfFs::mount();
    let dir = std::fs::File::open(fs.path()).unwrap();
    // SAFETY: flock on a file this test owns; released when it is closed.
    assert_eq!(unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX) }, 0);
    let mut spec = CollectionSpec::default();
    let mut m = MapSpec::new("held", MapType::Hash, 4, 4, 8);
    m.pinning = Pinning::ByName;
    spec.maps.insert("held".into(), m);
    let (tx, rx) = std::sync::mpsc::channel();
    let path = fs.path().to_owned();
    std::thread::spawn(move || {
        let result = Loader::new()
            .pin_path(path)
            .load(&spec)
            .map(|c| c.pins_created().len());
        tx.send(result.map_err(|e| e.to_string())).unwrap();
    });
    let created = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the load waited for the lock");
    assert_eq!(created, Ok(1));
    assert_eq!(fs.pins(), ["held"]);

    // The next load into that directory waits again, and pins too.
    let mut again = CollectionSpec::default();
    again
        .maps
        .insert("again".into(), common::pinned_hash("again", 8));
    drop(Loader::new().pin_path(fs.path()).load(&again).unwrap());
    assert_eq!(fs.pins(), ["again", "held"]);

    // While a load waits for a directory's lock, a load into another
    // directory does not wait behind it.
    let locked = BpfFs::mount();
    let locked_dir = std::fs::File::open(locked.path()).unwrap();
    // SAFETY: as above.
    assert_eq!(
        unsafe { libc::flock(locked_dir.as_raw_fd(), libc::LOCK_EX) },
        0
    );
    let other = BpfFs::mount();
    let mut spec = CollectionSpec::default();
    spec.maps
        .insert("later".into(), common::pinned_hash("later", 8));
    let (tx, rx) = std::sync::mpsc::channel();
    let (path, waiting) = (locked.path().to_owned(), spec.clone());
    std::thread::spawn(move || {
        tx.send(Loader::new().pin_path(path).load(&waiting).is_ok())
            .unwrap();
    });
    std::thread::sleep(std::time::Duration::from_millis(100));
    drop(Loader::new().pin_path(other.path()).load(&spec).unwrap());
    assert!(
        rx.try_recv().is_err(),
        "the other directory's load ended after the waiting one"
    );
    assert!(rx.recv_timeout(std::time::Duration::from_secs(60)).unwrap());
    drop((dir, locked_dir));
}

/// A pin that moves away and back while loads pin its name is never taken
/// for something that is no pin: the look saw it, the open missed it, and
/// the load failed at once (a reviewer's run: within 7 ms).
#[test]
fn a_pin_moving_away_and_back_is_not_taken_for_a_stranger() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some(_serial) = kernel() else { return };
    let fs = BpfFs::mount();
    let mut spec = CollectionSpec::default();
    spec.maps
        .insert("ghost".into(), common::pinned_hash("ghost", 8));
    drop(Loader::new().pin_path(fs.path()).load(&spec).unwrap());
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::SeqCst) {
                let _ = std::fs::rename(fs.pin("ghost"), fs.pin("spare"));
                let _ = std::fs::rename(fs.pin("spare"), fs.pin("ghost"));
            }
        });
        let loader = Loader::new().pin_path(fs.path());
        let start = std::time::Instant::now();
        let mut strangers = Vec::new();
        while start.elapsed() < std::time::Duration::from_secs(1) {
            if let Err(e) = loader.load(&spec)
                && e.to_string().contains("is no pin")
            {
                strangers.push(e.to_string());
            }
        }
        stop.store(true, Ordering::SeqCst);
        assert!(strangers.is_empty(), "{strangers:#?}");
    });
}

/// A name that exists in the pin directory but is no pin (a dangling
/// symlink) fails the load at once, naming it: it was taken for another
/// loader's pin, and the load was made again 16 times.
#[test]
fn a_dangling_link_at_a_pin_name_fails_at_once() {
    let Some(_serial) = kernel() else { return };
    let fs = BpfFs::mount();
    std::os::unix::fs::symlink(fs.pin("nowhere"), fs.pin("ghost")).unwrap();
    let mut spec = CollectionSpec::default();
    spec.maps
        .insert("ghost".into(), common::pinned_hash("ghost", 8));
    let fds = open_fds();
    let e = Loader::new().pin_path(fs.path()).load(&spec).unwrap_err();
    assert_eq!((e.map(), e.step()), ("ghost", Some(Step::Pin)), "{e}");
    assert!(
        e.to_string().contains("is no pin this load can open"),
        "{e}"
    );
    assert_eq!(open_fds(), fds);
}

/// A map or program whose name is not its key in the spec is refused before
/// any syscall: the loader finds maps by key and makes them under their
/// name. A renamed outer map used to panic ("no entry found for key") when
/// its slots were filled.
#[test]
fn a_name_that_is_not_its_key_is_refused_before_any_syscall() {
    let Some(_serial) = kernel() else { return };
    let fds = open_fds();
    let mut spec = fixture("map_in_map.bpfel.o");
    spec.maps.get_mut("outer_arr").unwrap().name = "outer_t1".into();
    let e = Loader::new().load(&spec).unwrap_err();
    assert!(
        matches!(&e, LoadError::Invalid { map, what } if map == "outer_arr"
            && what.starts_with("its spec is named `outer_t1`")),
        "{e:?}"
    );
    let mut spec = fixture("map_in_map.bpfel.o");
    let p = spec.programs.keys().next().unwrap().clone();
    spec.programs.get_mut(&p).unwrap().name = "other".into();
    let e = Loader::new().load_many(&spec, 2).unwrap_err();
    assert_eq!(
        (e.program(), e.step()),
        (p.as_str(), Some(Step::Validate)),
        "{e}"
    );
    assert!(e.to_string().contains("its spec is named `other`"), "{e}");
    assert_eq!(open_fds(), fds, "refused before any syscall");
}

#[test]
fn failures_release_everything_the_call_created() {
    let Some(_serial) = kernel() else { return };
    let fs = BpfFs::mount();
    let mut spec = fixture("iproute2.bpfel.o");
    // A map the kernel refuses, in the middle (by name) of the collection.
    spec.maps.insert(
        "tc_m_bad".into(),
        MapSpec::new("tc_m_bad", MapType::Hash, 4, 0, 8),
    );
    // Maps only: `good` below keeps one map, which the programs cannot link
    // with (programs.rs tests failures among programs).
    let loader = Loader::new().pin_path(fs.path()).maps_only(true);
    let fds = open_fds();

    let e = loader.load(&spec).unwrap_err();
    assert!(
        matches!(&e, LoadError::Syscall { step: Step::Create, map, .. } if map == "tc_m_bad"),
        "{e:?}"
    );
    assert_eq!(e.errno(), Some(22));
    // Only the loader's BTF cache keeps an fd (the object's BTF, for the next load).
    assert_eq!(open_fds(), fds + 1);
    let fds = fds + 1;
    assert!(fs.pins().is_empty(), "pins this call created are removed");

    // With a pin that existed before: it stays.
    let mut good = fixture("iproute2.bpfel.o");
    good.maps.retain(|n, _| n == "tc_global");
    drop(loader.load(&good).unwrap());
    assert_eq!(fs.pins(), ["tc_global"]);
    assert!(loader.load(&spec).is_err());
    assert_eq!(
        fs.pins(),
        ["tc_global"],
        "tc_object's new pin is removed, tc_global's stays"
    );

    // One bad instance among 8: all are released, and the error names it.
    let e = loader.load_many(&spec, 8).unwrap_err();
    assert!(matches!(e, LoadError::Instance { .. }), "{e:?}");
    assert_eq!(e.map(), "tc_m_bad");
    assert_eq!(open_fds(), fds);
    assert_eq!(fs.pins(), ["tc_global"]);
}

#[test]
fn refusals_before_any_syscall() {
    let Some(_serial) = kernel() else { return };
    let fs = BpfFs::mount();
    let fds = open_fds();
    for bad in ["../escape", "a/b", "sixteen_bytes_xx"] {
        let mut spec = CollectionSpec::default();
        let mut m = MapSpec::new(bad, MapType::Array, 4, 4, 1);
        m.pinning = Pinning::ByName;
        spec.maps.insert(bad.into(), m);
        let e = Loader::new().pin_path(fs.path()).load(&spec).unwrap_err();
        assert!(matches!(e, LoadError::Invalid { .. }), "{e:?}");
        assert!(e.to_string().contains("cannot be pinned"), "{e}");
    }
    assert!(fs.pins().is_empty());
    assert_eq!(open_fds(), fds);

    let not_bpffs = tempfile::tempdir().unwrap();
    let e = Loader::new()
        .pin_path(not_bpffs.path())
        .load(&fixture("iproute2.bpfel.o"))
        .unwrap_err();
    assert!(e.to_string().contains("is not on a bpf filesystem"), "{e}");

    // A pin on the bpffs given as the directory: refused before any syscall
    // of the load (it failed at the first pin, with ENOTDIR).
    drop(
        Loader::new()
            .pin_path(fs.path())
            .load(&fixture("iproute2.bpfel.o"))
            .unwrap(),
    );
    let e = Loader::new()
        .pin_path(fs.pin("tc_global"))
        .load(&fixture("iproute2.bpfel.o"))
        .unwrap_err();
    assert!(matches!(e, LoadError::PinPath { .. }), "{e:?}");
    assert!(e.to_string().contains("not a directory"), "{e}");
    for pin in fs.pins() {
        std::fs::remove_file(fs.pin(&pin)).unwrap();
    }

    let mut dangling = fixture("map_in_map.bpfel.o");
    dangling.maps.remove("inner_a");
    let e = Loader::new().load(&dangling).unwrap_err();
    assert!(
        e.to_string()
            .contains("refers to map `inner_a`, which the collection does not have"),
        "{e}"
    );

    let e = Loader::new()
        .load(&fixture("legacy_extra.bpfel.o"))
        .unwrap_err();
    assert!(
        e.to_string().contains("extra bytes no loader understands"),
        "{e}"
    );

    // A map left out (autocreate false) that a slot or an instruction
    // refers to.
    let mut off = fixture("map_in_map.bpfel.o");
    off.maps.get_mut("inner_a").unwrap().autocreate = false;
    let e = Loader::new().load(&off).unwrap_err();
    assert!(
        e.to_string()
            .contains("refers to map `inner_a`, which is not created (its autocreate is false)"),
        "{e}"
    );
    let mut off = fixture("globals.bpfel.o");
    off.maps.get_mut("values").unwrap().autocreate = false;
    let e = Loader::new().load(&off).unwrap_err();
    assert!(matches!(e, LoadError::Program { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("map `values`, which is not created (its autocreate is false)"),
        "{e}"
    );
    assert_eq!(open_fds(), fds);
}

#[test]
fn a_map_left_out_is_not_created_and_the_rest_loads() {
    let Some(_serial) = kernel() else { return };
    let mut spec = fixture("map_in_map.bpfel.o");
    // Nothing refers to outer_hash's slots from elsewhere.
    spec.maps.get_mut("outer_hash").unwrap().autocreate = false;
    let coll = Loader::new().maps_only(true).load(&spec).unwrap();
    assert_eq!(
        coll.map_names().collect::<Vec<_>>(),
        ["inner_a", "inner_b", "jmp_table", "outer_arr"]
    );
}

#[test]
fn replacements_are_used_after_a_compatibility_check() {
    let Some(_serial) = kernel() else { return };
    let spec = fixture("legacy_maps.bpfel.o");
    let existing = Loader::new().create_map(&spec.maps["legacy_hash"]).unwrap();
    let fd = existing.fd().as_fd().try_clone_to_owned().unwrap();
    let existing_id = existing.info().unwrap().id();
    let coll = Loader::new()
        .replace_map("legacy_hash", fd)
        .load(&spec)
        .unwrap();
    assert_eq!(id(&coll, "legacy_hash"), existing_id);

    let wrong = Loader::new()
        .create_map(&MapSpec::new("w", MapType::Hash, 4, 4, 64))
        .unwrap();
    let fd = wrong.fd().as_fd().try_clone_to_owned().unwrap();
    let e = Loader::new()
        .replace_map("legacy_hash", fd)
        .load(&spec)
        .unwrap_err();
    assert!(
        e.to_string().contains("value_size is 4 but 8 was expected"),
        "{e}"
    );
}

#[test]
fn a_replacement_the_load_would_not_use_is_refused_before_any_syscall() {
    use ebpf_loader::fault_injection;
    let Some(_serial) = kernel() else { return };
    let spec = fixture("legacy_maps.bpfel.o");
    let existing = Loader::new().create_map(&spec.maps["legacy_hash"]).unwrap();
    let fds = open_fds();
    let fd = || existing.fd().as_fd().try_clone_to_owned().unwrap();
    let mut not_created = spec.clone();
    not_created.maps.get_mut("legacy_hash").unwrap().autocreate = false;
    fault_injection::count_calls();
    let errors = [
        // A misspelled name would have created a private map silently.
        Loader::new()
            .replace_map("legacy_hsah", fd())
            .load(&spec)
            .map(drop),
        Loader::new()
            .replace_map("legacy_hsah", fd())
            .load_many(&spec, 2)
            .map(drop),
        Loader::new()
            .replace_map("legacy_hash", fd())
            .load(&not_created)
            .map(drop),
        Loader::new()
            .replace_map("legacy_hsah", fd())
            .load_all(&[spec.clone(), not_created.clone()])
            .map(drop),
    ]
    .map(|r| r.unwrap_err().to_string());
    assert_eq!(fault_injection::calls(), 0, "{errors:?}");
    fault_injection::disarm();
    assert_eq!(
        errors[0],
        "map `legacy_hsah`: replace_map gives a map for it, but the collection has no map of \
         that name: it would not be used"
    );
    assert_eq!(errors[1], errors[0]);
    assert_eq!(
        errors[2],
        "map `legacy_hash`: replace_map gives a map for it, but the collection does not create \
         it (autocreate is false): it would not be used"
    );
    assert!(
        errors[3].contains("no spec of the call has a map of that name"),
        "{}",
        errors[3]
    );
    assert_eq!(open_fds(), fds);
    // Used by one spec of a load_all is used (maps only: the programs of
    // the other spec need the map it does not create).
    let both = Loader::new()
        .maps_only(true)
        .replace_map("legacy_hash", fd())
        .load_all(&[spec.clone(), not_created])
        .unwrap();
    assert_eq!(id(&both[0], "legacy_hash"), existing.info().unwrap().id());
    assert!(both[1].map_fd("legacy_hash").is_none());
}

/// What the kernel keeps of a map is what a reuse compares: a pinned map
/// made read-only for user space (`BPF_F_RDONLY`, which the kernel does not
/// keep) and a pinned outer map whose slot holds a hash of another size than
/// its template (the kernel compares sizes for array inner maps only) are
/// reused by the spec that made them, also by `load_many`.
#[test]
fn pins_are_reused_as_the_kernel_keeps_them() {
    use ebpf_spec::{MapEntry, MapFlags, MapValue};
    let Some(_serial) = kernel() else { return };
    let fs = BpfFs::mount();
    let fds = open_fds();
    let mut spec = CollectionSpec::default();
    let mut ro = MapSpec::new("ro", MapType::Hash, 4, 8, 16);
    ro.flags = MapFlags::RDONLY;
    ro.pinning = Pinning::ByName;
    spec.maps.insert("ro".into(), ro);
    let mut outer = MapSpec::new("outer", MapType::ArrayOfMaps, 4, 4, 4);
    outer.pinning = Pinning::ByName;
    let mut template = MapSpec::new("t", MapType::Hash, 4, 4, 8);
    template.flags = MapFlags::WRONLY;
    outer.inner_map = Some(Box::new(template));
    outer.contents.push(MapEntry::at_index(
        0,
        MapValue::Map("big".into()),
        ebpf_spec::ByteOrder::NATIVE,
    ));
    spec.maps.insert("outer".into(), outer);
    let mut big = MapSpec::new("big", MapType::Hash, 4, 4, 16);
    big.flags = MapFlags::WRONLY;
    spec.maps.insert("big".into(), big);

    let loader = Loader::new().pin_path(fs.path());
    let many = loader.load_many(&spec, 3).unwrap();
    assert_eq!(many[0].pins_created().len(), 2);
    assert_eq!(many[2].pins_reused().len(), 2);
    let again = loader.load(&spec).unwrap();
    assert_eq!(id(&again, "ro"), id(&many[0], "ro"));
    assert_eq!(id(&again, "outer"), id(&many[0], "outer"));

    // A real difference is still found.
    let mut other = spec.clone();
    other.maps.get_mut("ro").unwrap().max_entries = 32;
    let e = loader.load(&other).unwrap_err();
    assert!(
        e.to_string()
            .contains("max_entries is 16 but 32 was expected"),
        "{e}"
    );
    drop((many, again));
    assert_eq!(open_fds(), fds);
}

/// The kernel compares an XSKMAP inner map's size with its template's, as
/// an array's: a pinned outer map whose XSKMAPs have 8 entries is not reused
/// by a spec whose template has 4 (the kernel would refuse its XSKMAPs in
/// it). A hash inner map's size is not compared.
#[test]
fn a_pinned_outer_map_of_xskmaps_is_reused_only_with_their_size() {
    use ebpf_spec::{MapEntry, MapValue};
    let Some(_serial) = kernel() else { return };
    let fs = BpfFs::mount();
    let spec_of = |ty: MapType, size: u32| {
        let mut spec = CollectionSpec::default();
        let mut outer = MapSpec::new("outer", MapType::ArrayOfMaps, 4, 4, 2);
        outer.pinning = Pinning::ByName;
        outer.inner_map = Some(Box::new(MapSpec::new("t", ty, 4, 4, size)));
        outer.contents.push(MapEntry::at_index(
            0,
            MapValue::Map("inner".into()),
            ebpf_spec::ByteOrder::NATIVE,
        ));
        spec.maps.insert("outer".into(), outer);
        spec.maps
            .insert("inner".into(), MapSpec::new("inner", ty, 4, 4, size));
        spec
    };
    let loader = Loader::new().pin_path(fs.path());
    drop(loader.load(&spec_of(MapType::XskMap, 8)).unwrap());
    let e = loader.load(&spec_of(MapType::XskMap, 4)).unwrap_err();
    assert!(
        e.to_string()
            .contains("inner_map.max_entries is 8 but 4 was expected"),
        "{e}"
    );
    std::fs::remove_file(fs.pin("outer")).unwrap();
    drop(loader.load(&spec_of(MapType::Hash, 8)).unwrap());
    drop(loader.load(&spec_of(MapType::Hash, 4)).unwrap());
}

/// A map read-only for user space (`BPF_F_RDONLY`) stays so through its
/// pin: every instance of a `load_many`, the one that made the pin and
/// those that reused it, is refused a write.
#[test]
fn a_read_only_map_stays_read_only_through_its_pin() {
    use ebpf_spec::MapFlags;
    let Some(_serial) = kernel() else { return };
    let fs = BpfFs::mount();
    let mut spec = CollectionSpec::default();
    let mut ro = MapSpec::new("ro", MapType::Hash, 4, 8, 16);
    ro.flags = MapFlags::RDONLY;
    ro.pinning = Pinning::ByName;
    spec.maps.insert("ro".into(), ro);
    let many = Loader::new()
        .pin_path(fs.path())
        .load_many(&spec, 3)
        .unwrap();
    assert_eq!(many[1].pins_reused(), [fs.pin("ro")]);
    for (i, coll) in many.iter().enumerate() {
        let fd = coll.map_fd("ro").unwrap().try_clone_to_owned().unwrap();
        let mut map: aya::maps::HashMap<_, u32, u64> =
            aya::maps::Map::HashMap(MapData::from_fd(fd).unwrap())
                .try_into()
                .unwrap();
        assert!(map.insert(1, 7, 0).is_err(), "instance {i} wrote");
    }
}

/// A write-only outer map (`BPF_F_WRONLY`) is reused through its pin: the
/// compatibility check reads its slots through a read-only fd, and the
/// collection's fd stays write-only.
#[test]
fn a_write_only_pinned_outer_map_is_reused() {
    use ebpf_spec::{MapEntry, MapFlags, MapValue};
    let Some(_serial) = kernel() else { return };
    let fs = BpfFs::mount();
    let mut spec = CollectionSpec::default();
    let mut outer = MapSpec::new("outer", MapType::ArrayOfMaps, 4, 4, 4);
    outer.flags = MapFlags::WRONLY;
    outer.pinning = Pinning::ByName;
    outer.inner_map = Some(Box::new(MapSpec::new("t", MapType::Hash, 4, 4, 8)));
    outer.contents.push(MapEntry::at_index(
        0,
        MapValue::Map("inner".into()),
        ebpf_spec::ByteOrder::NATIVE,
    ));
    spec.maps.insert("outer".into(), outer);
    spec.maps.insert(
        "inner".into(),
        MapSpec::new("inner", MapType::Hash, 4, 4, 8),
    );
    let loader = Loader::new().pin_path(fs.path());
    let first = loader.load(&spec).unwrap();
    assert_eq!(first.pins_created(), [fs.pin("outer")]);
    let again = loader.load(&spec).unwrap();
    assert_eq!(again.pins_reused(), [fs.pin("outer")]);
    assert_eq!(id(&again, "outer"), id(&first, "outer"));
    // Its fd is write-only: a lookup is refused.
    let fd = again.map_fd("outer").unwrap().try_clone_to_owned().unwrap();
    let outer = aya::maps::ArrayOfMaps::<MapData>::try_from(aya::maps::Map::ArrayOfMaps(
        MapData::from_fd(fd).unwrap(),
    ))
    .unwrap();
    assert!(outer.get(&0, 0).is_err());
}

/// A storage map given with `replace_map` is not created, so it does not
/// need the object's BTF: an object whose BTF the kernel refuses loads.
#[test]
fn a_replaced_storage_map_does_not_need_a_refused_btf() {
    let Some(_serial) = kernel() else { return };
    let storage = fixture("btf_maps.bpfel.o");
    let existing = Loader::new().maps_only(true).load(&storage).unwrap();
    let fd = existing
        .map_fd("task_store")
        .unwrap()
        .try_clone_to_owned()
        .unwrap();
    let mut spec = fixture("btf_refused/btf_refused.bpfel.o");
    let mut m = storage.maps["task_store"].clone();
    m.btf_key_type_id = 0;
    m.btf_value_type_id = 0;
    spec.maps.insert("task_store".into(), m);
    let coll = Loader::new()
        .replace_map("task_store", fd)
        .load(&spec)
        .unwrap();
    assert!(coll.btf_refused().is_some());
    assert_eq!(id(&coll, "task_store"), id(&existing, "task_store"));
}

#[test]
fn btf_is_loaded_once_and_gives_storage_maps_their_types() {
    let Some(_serial) = kernel() else { return };
    let spec = fixture("btf_maps.bpfel.o");
    let loader = Loader::new();
    let fds = open_fds();
    let instances = loader.load_many(&spec, 8).unwrap();
    // 13 maps and 2 programs per instance, and one BTF object shared by all
    // of them.
    assert_eq!((spec.maps.len(), spec.programs.len()), (13, 2));
    assert_eq!(open_fds(), fds + 8 * (13 + 2) + 1);
    for c in &instances {
        let (_, ty, key, value, ..) = info(c.map_fd("task_store").unwrap());
        assert_eq!((ty, key, value), (MapType::TaskStorage.raw(), 4, 4));
        assert!(c.map_fd("sk_store").is_some());
    }
    drop(instances);
    // The cache keeps the BTF fd for the next load of the same content.
    assert_eq!(open_fds(), fds + 1);
    drop(loader);
    assert_eq!(open_fds(), fds);

    // Data sections with .kconfig externs: the fixed-up DATASECs load.
    let coll = Loader::new().load(&fixture("globals.bpfel.o")).unwrap();
    assert!(coll.map_fd(".kconfig").is_some());
}

/// The kernel refuses some BTF clang makes from plain C: globals of size 0
/// leave a DATASEC entry of size 0 at the end of `.bss` ("Invalid offset").
/// As libbpf does, the loader goes on without BTF when no map needs it, and
/// says so on every collection; the BTF is tried once per loader. A spec
/// with a map that cannot be made without BTF fails with the kernel's log.
#[test]
fn an_object_whose_btf_the_kernel_refuses_loads_without_it() {
    let Some(_serial) = kernel() else { return };
    let spec = fixture("btf_refused/btf_refused.bpfel.o");
    let fds = open_fds();
    let loader = Loader::new();
    let coll = loader.load(&spec).unwrap();
    let refused = coll.btf_refused().expect("the kernel refused the BTF");
    assert_eq!(refused.source.raw_os_error(), Some(libc::EINVAL));
    assert!(refused.log.contains("Invalid offset"), "{}", refused.log);
    assert!(
        refused.to_string().contains("loaded without it"),
        "{refused}"
    );
    let run = coll.test_run("count", &[0u8; 64], 5).unwrap().unwrap();
    assert_eq!(run.retval, 3, "the .rodata constant");
    let packets = coll
        .variable(&spec.variables["packets"])
        .unwrap()
        .unwrap()
        .read();
    assert_eq!(u64::from_ne_bytes(packets.try_into().unwrap()), 5);
    assert_eq!(coll.program_info("count").unwrap().btf_id, 0, "no BTF");

    let many = loader.load_many(&spec, 4).unwrap();
    assert!(many.iter().all(|c| c.btf_refused().is_some()));
    drop((coll, many));
    // A loader's second load of an object makes fewer bpf(2) calls than its
    // first, by the BTF it keeps: one BPF_BTF_LOAD for an accepted BTF, two
    // for a refused one (the second asks for the kernel's log).
    let saved = |spec: &CollectionSpec| {
        let calls = |loader: &Loader| {
            ebpf_loader::fault_injection::count_calls();
            drop(loader.load(spec).unwrap());
            let calls = ebpf_loader::fault_injection::calls();
            ebpf_loader::fault_injection::disarm();
            calls
        };
        let loader = Loader::new();
        let first = calls(&loader);
        first - calls(&loader)
    };
    assert_eq!(saved(&fixture("globals.bpfel.o")), 1);
    assert_eq!(saved(&spec), 2, "the refused BTF is tried once per loader");

    // A map that needs BTF: the load fails, with the kernel's reason.
    let mut needs = spec.clone();
    needs.maps.insert(
        "storage".into(),
        MapSpec::new("storage", MapType::SkStorage, 4, 8, 0),
    );
    let e = Loader::new().load(&needs).unwrap_err();
    assert!(
        matches!(&e, LoadError::Btf { log, .. } if log.contains("Invalid offset")),
        "{e:?}"
    );
    assert_eq!(open_fds(), fds);
}

/// An object linked from two files, each with a `static int cnt`: the
/// kernel takes its BTF (the statics keep their offsets), and each file's
/// function counts in its own static, with the global `step` set by name.
#[test]
fn statics_of_one_name_from_linked_files_each_keep_their_own() {
    let Some(_serial) = kernel() else { return };
    let mut spec = fixture("linked/linked.bpfel.o");
    assert!(
        spec.set_variable("cnt", &[0; 4]).is_err(),
        "no variable `cnt`"
    );
    spec.set_variable("step", &5i32.to_ne_bytes()).unwrap();
    let coll = Loader::new().load(&spec).unwrap();
    assert!(coll.btf_refused().is_none(), "{:?}", coll.btf_refused());
    let run = |p: &str| coll.test_run(p, &[0u8; 64], 1).unwrap().unwrap().retval;
    // cnt of linked_a starts at 1 and steps by 1; cnt of linked_b starts at
    // 7 and steps by `step`.
    assert_eq!([run("prog_a"), run("prog_a")], [2, 3]);
    assert_eq!([run("prog_b"), run("prog_b")], [12, 17]);
    assert_eq!(run("prog_a"), 4);
}

#[test]
fn a_btf_blob_the_kernel_refuses_is_reported_with_its_log() {
    let Some(_serial) = kernel() else { return };
    let mut spec = fixture("btf_maps.bpfel.o");
    let btf = spec.btf.as_mut().unwrap();
    // Type section length one byte short: the kernel's BTF verifier refuses it.
    let at = 12;
    let len = u32::from_le_bytes(btf.btf[at..at + 4].try_into().unwrap());
    btf.btf[at..at + 4].copy_from_slice(&(len - 1).to_le_bytes());
    let fds = open_fds();
    let e = Loader::new().load(&spec).unwrap_err();
    assert!(
        matches!(&e, LoadError::Btf { log, .. } if !log.is_empty()),
        "{e:?}"
    );
    assert!(
        e.to_string().starts_with("loading the object's BTF failed"),
        "{e}"
    );
    assert_eq!(open_fds(), fds);
}

/// Every committed fixture and libxdp object loads, maps and programs, but
/// for `legacy_extra`, whose unknown extra bytes are refused by design, and
/// programs of a type this kernel refuses to load at all (see
/// `common::refused_program_types`).
#[test]
fn every_fixture_and_libxdp_object_loads() {
    let Some(_serial) = kernel() else { return };
    let dir = format!("{}/../ebpf-spec/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let fds = open_fds();
    let loader = Loader::new();
    let mut loaded = 0;
    for sub in ["", "/libxdp"] {
        for entry in std::fs::read_dir(format!("{dir}{sub}")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".o") || name.ends_with(".bpfeb.o") {
                continue;
            }
            let mut spec = CollectionSpec::from_file(&path).unwrap();
            for (program, why) in refused_program_types(&spec) {
                eprintln!("{name}: not loading `{program}`: {why}");
                spec.programs.remove(&program);
            }
            if name == "xdpdump_bpf.o" {
                // fentry/fexit programs whose target (`func`) is a BPF
                // program xdpdump picks at run time: the loader says so.
                for p in ["trace_on_entry", "trace_on_exit"] {
                    let mut one = spec.clone();
                    one.programs.retain(|n, _| n == p);
                    let e = loader.load(&one).unwrap_err();
                    assert_eq!(e.step(), Some(Step::AttachTarget), "{e}");
                    assert!(e.to_string().contains("no function named `func`"), "{e}");
                    spec.programs.remove(p);
                }
            }
            match loader.load(&spec) {
                Ok(c) => {
                    assert_eq!(c.len(), spec.maps.len(), "{name}");
                    assert_eq!(
                        c.program_names().collect::<Vec<_>>(),
                        spec.programs
                            .keys()
                            .map(AsRef::<str>::as_ref)
                            .collect::<Vec<_>>(),
                        "{name}"
                    );
                    for p in spec.programs.values() {
                        let info = c.program_info(&p.name).unwrap();
                        assert_eq!(info.program_type, p.program_type, "{name} {}", p.name);
                        assert!(info.instructions > 0);
                    }
                    loaded += 1;
                }
                Err(e) if name == "legacy_extra.bpfel.o" => {
                    assert!(
                        e.to_string().contains("extra bytes no loader understands"),
                        "{e}"
                    )
                }
                Err(e) => panic!("{name}: {e}"),
            }
        }
    }
    assert_eq!(loaded, 9 + 15);
    drop(loader);
    assert_eq!(open_fds(), fds);
}

#[test]
fn maps_of_many_types_are_written_and_read_back_through_aya() {
    use aya::maps::{
        BloomFilter, HashMap, LpmTrie, PerCpuArray, PerCpuValues, Queue, Stack, lpm_trie::Key,
    };
    let Some(_serial) = kernel() else { return };
    let mut spec = CollectionSpec::default();
    let mut add = |m: MapSpec| {
        spec.maps.insert(m.name.clone(), m);
    };
    add(MapSpec::new("lru", MapType::LruHash, 4, 8, 8));
    add(MapSpec::new("percpu", MapType::PerCpuArray, 4, 8, 2));
    add(MapSpec::new("queue", MapType::Queue, 0, 4, 4));
    add(MapSpec::new("stack", MapType::Stack, 0, 4, 4));
    let mut bloom = MapSpec::new("bloom", MapType::BloomFilter, 0, 4, 64);
    bloom.map_extra = 3;
    add(bloom);
    let mut lpm = MapSpec::new("lpm", MapType::LpmTrie, 8, 4, 16);
    lpm.flags = ebpf_spec::MapFlags::NO_PREALLOC;
    add(lpm);
    let mut c = Loader::new().load(&spec).unwrap();

    let mut lru: HashMap<_, u32, u64> = c.take_map("lru").unwrap().unwrap().try_into().unwrap();
    lru.insert(1, 10, 0).unwrap();
    assert_eq!(lru.get(&1, 0).unwrap(), 10);

    let mut percpu: PerCpuArray<_, u64> =
        c.take_map("percpu").unwrap().unwrap().try_into().unwrap();
    let cpus = aya::util::nr_cpus().unwrap();
    percpu
        .set(1, PerCpuValues::try_from(vec![7u64; cpus]).unwrap(), 0)
        .unwrap();
    assert!(percpu.get(&1, 0).unwrap().iter().all(|v| *v == 7));

    let mut queue: Queue<_, u32> = c.take_map("queue").unwrap().unwrap().try_into().unwrap();
    queue.push(1, 0).unwrap();
    queue.push(2, 0).unwrap();
    assert_eq!(queue.pop(0).unwrap(), 1, "first in, first out");

    let mut stack: Stack<_, u32> = c.take_map("stack").unwrap().unwrap().try_into().unwrap();
    stack.push(1, 0).unwrap();
    stack.push(2, 0).unwrap();
    assert_eq!(stack.pop(0).unwrap(), 2, "last in, first out");

    let mut bloom: BloomFilter<_, u32> = c.take_map("bloom").unwrap().unwrap().try_into().unwrap();
    bloom.insert(42, 0).unwrap();
    assert!(bloom.contains(42, 0).is_ok());
    assert!(
        bloom.contains(7, 0).is_err(),
        "not inserted (no false positive at this size)"
    );

    let mut lpm: LpmTrie<_, [u8; 4], u32> = c.take_map("lpm").unwrap().unwrap().try_into().unwrap();
    lpm.insert(&Key::new(16, [10, 1, 0, 0]), 5, 0).unwrap();
    assert_eq!(
        lpm.get(&Key::new(32, [10, 1, 2, 3]), 0).unwrap(),
        5,
        "longest prefix match"
    );
    assert!(c.is_empty());
}

#[test]
fn slots_of_every_instance_point_at_that_instances_maps() {
    let Some(_serial) = kernel() else { return };
    let spec = fixture("map_in_map.bpfel.o");
    let fds = open_fds();
    let instances = Loader::new().threads(2).load_many(&spec, 8).unwrap();
    for mut c in instances {
        let inner_a = c.map_id("inner_a").unwrap().unwrap();
        assert_eq!(inner_a, id(&c, "inner_a"), "map_id is the kernel's id");
        let inner_b = c.map_id("inner_b").unwrap().unwrap();
        let outer: ArrayOfMaps<MapData, Array<MapData, u32>> = c
            .take_map("outer_arr")
            .unwrap()
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(outer.get(&1, 0).map(|m| info_of(&m)).unwrap(), inner_a);
        assert_eq!(outer.get(&3, 0).map(|m| info_of(&m)).unwrap(), inner_b);
    }
    assert!(Loader::new().load(&spec).unwrap().map_id("nope").is_none());
    assert_eq!(open_fds(), fds);
}

/// A map that does not fit an outer map's inner-map template is refused
/// before any syscall, naming both and the attribute; what the kernel allows
/// (an array of another size under `BPF_F_INNER_MAP`, a hash of another
/// size) loads.
#[test]
fn slots_follow_the_kernels_inner_map_rule() {
    use ebpf_loader::fault_injection;
    use ebpf_spec::{MapEntry, MapFlags, MapValue};
    let Some(_serial) = kernel() else { return };
    let fds = open_fds();
    let refused = |spec: &CollectionSpec, expect: &str| {
        fault_injection::count_calls();
        let e = Loader::new().load(spec).unwrap_err();
        let calls = fault_injection::calls();
        fault_injection::disarm();
        assert!(matches!(e, LoadError::Invalid { .. }), "{e:?}");
        assert_eq!(e.map(), "outer_arr");
        let text = e.to_string();
        assert!(
            text.contains("map `inner_a`") && text.contains(expect),
            "{text}"
        );
        assert_eq!(calls, 0, "refused before any syscall: {text}");
    };
    let base = fixture("map_in_map.bpfel.o");

    let mut spec = base.clone();
    spec.maps.get_mut("inner_a").unwrap().max_entries = 5;
    refused(
        &spec,
        "its max_entries is 5, the template's 2 (an array's must match unless the template has BPF_F_INNER_MAP, an XSKMAP's always)",
    );
    let mut spec = base.clone();
    spec.maps.get_mut("inner_a").unwrap().value_size = 8;
    refused(&spec, "its value_size is 8, the template's 4");
    let mut spec = base.clone();
    spec.maps.get_mut("inner_a").unwrap().flags = MapFlags::RDONLY_PROG;
    refused(&spec, "its flags is 0x80, the template's 0x0");
    let mut spec = base.clone();
    spec.maps.get_mut("inner_a").unwrap().map_type = MapType::PerCpuArray;
    refused(&spec, "its type is percpu_array, the template's array");

    // BPF_F_RDONLY and BPF_F_WRONLY limit the fd only: the kernel does not
    // keep them in the map's flags, so they do not count against the template.
    let mut spec = base.clone();
    spec.maps.get_mut("inner_a").unwrap().flags = MapFlags::RDONLY;
    spec.maps.get_mut("inner_b").unwrap().flags = MapFlags::WRONLY;
    spec.programs.clear();
    spec.maps.get_mut("jmp_table").unwrap().contents.clear();
    drop(Loader::new().load(&spec).unwrap());

    // BPF_F_INNER_MAP on the template and the maps: sizes may differ.
    let mut spec = base.clone();
    spec.maps
        .get_mut("outer_arr")
        .unwrap()
        .inner_map
        .as_mut()
        .unwrap()
        .flags = MapFlags::INNER_MAP;
    for name in ["inner_a", "inner_b"] {
        spec.maps.get_mut(name).unwrap().flags = MapFlags::INNER_MAP;
    }
    spec.maps.get_mut("inner_a").unwrap().max_entries = 5;
    spec.maps.retain(|n, _| n != "outer_hash");
    spec.programs.clear();
    spec.maps.get_mut("jmp_table").unwrap().contents.clear();
    let coll = Loader::new().load(&spec).unwrap();
    assert_eq!(info(coll.map_fd("inner_a").unwrap()).4, 5);
    drop(coll);

    // A hash's max_entries is not compared by the kernel.
    let mut spec = CollectionSpec::default();
    let mut outer = MapSpec::new("outer", MapType::ArrayOfMaps, 4, 4, 2);
    outer.inner_map = Some(Box::new(MapSpec::new("t", MapType::Hash, 4, 4, 8)));
    outer.contents.push(MapEntry {
        key: 0u32.to_ne_bytes().to_vec(),
        value: MapValue::Map("big".into()),
    });
    spec.maps.insert("outer".into(), outer);
    spec.maps
        .insert("big".into(), MapSpec::new("big", MapType::Hash, 4, 4, 64));
    drop(Loader::new().load(&spec).unwrap());
    assert_eq!(open_fds(), fds);
}

/// An object built for the other byte order is refused before any syscall,
/// saying so: before, its BTF reached the kernel, which answered with a
/// bare "btf_header not found".
#[test]
fn an_object_of_the_other_byte_order_is_refused_before_any_syscall() {
    let Some(_serial) = kernel() else { return };
    let other = if cfg!(target_endian = "little") {
        "globals.bpfeb.o"
    } else {
        "globals.bpfel.o"
    };
    let spec = fixture(other);
    ebpf_loader::fault_injection::count_calls();
    let errors = [
        Loader::new().load(&spec).unwrap_err(),
        Loader::new().maps_only(true).load(&spec).unwrap_err(),
        Loader::new().load_many(&spec, 2).unwrap_err(),
    ];
    assert_eq!(ebpf_loader::fault_injection::calls(), 0);
    for e in errors {
        assert!(matches!(e, LoadError::ByteOrder { .. }), "{e:?}");
        assert_eq!(e.step(), Some(Step::Validate));
        assert!(
            e.to_string().contains("this machine is little-endian")
                || e.to_string().contains("this machine is big-endian"),
            "{e}"
        );
    }
    let e = Loader::new()
        .load_all(&[fixture("globals.bpfel.o"), spec])
        .unwrap_err();
    assert!(
        matches!(&e, LoadError::Instance { index: 1, source } if matches!(**source, LoadError::ByteOrder { .. })),
        "{e:?}"
    );
}

/// A BTF over the kernel's size limit (16 MiB: E2BIG) is refused for its
/// content as an invalid one is: the load goes on without it, as libbpf's
/// does, and says why.
#[test]
fn a_btf_over_the_kernels_size_limit_loads_without_it() {
    let Some(_serial) = kernel() else { return };
    let mut spec = fixture("btf_refused/btf_refused.bpfel.o");
    spec.btf.as_mut().unwrap().btf = vec![0; (16 << 20) + 1];
    let fds = open_fds();
    {
        let coll = Loader::new().load(&spec).unwrap();
        let refused = coll.btf_refused().expect("the kernel refused the BTF");
        assert_eq!(
            refused.source.raw_os_error(),
            Some(libc::E2BIG),
            "{refused}"
        );
        let run = coll.test_run("count", &[0u8; 64], 1).unwrap().unwrap();
        assert_eq!(run.retval, 3, "the .rodata constant");
    }
    // A map that needs BTF: the load fails with the kernel's errno.
    spec.maps.insert(
        "storage".into(),
        MapSpec::new("storage", MapType::SkStorage, 4, 8, 0),
    );
    let e = Loader::new().load(&spec).unwrap_err();
    assert!(
        matches!(&e, LoadError::Btf { source, .. } if source.raw_os_error() == Some(libc::E2BIG)),
        "{e:?}"
    );
    assert_eq!(open_fds(), fds);
}

/// A replaced map is used as given and never pinned: a pin path does not
/// hold its name to the pin-name rules (libbpf and aya pin by names longer
/// than the 15 bytes this loader pins under).
#[test]
fn a_replaced_map_is_not_held_to_pin_name_rules() {
    let Some(_serial) = kernel() else { return };
    let fs = BpfFs::mount();
    let name = "events_ringbuf_v2";
    let mut spec = CollectionSpec::default();
    spec.maps.insert(name.into(), common::pinned_hash(name, 4));
    let existing = Loader::new()
        .create_map(&MapSpec::new("existing", MapType::Hash, 4, 4, 4))
        .unwrap();
    let loaded = Loader::new()
        .pin_path(fs.path())
        .replace_map(name, existing.fd().as_fd().try_clone_to_owned().unwrap())
        .load(&spec)
        .unwrap();
    assert_eq!(
        info(loaded.map_fd(name).unwrap()).0,
        info(existing.fd().as_fd()).0,
        "the replacement is used"
    );
    assert!(fs.pins().is_empty(), "nothing pinned: {:?}", fs.pins());
    // Without the replacement, the name is refused before any syscall.
    let err = Loader::new()
        .pin_path(fs.path())
        .load(&spec)
        .map(drop)
        .unwrap_err();
    assert!(matches!(err, LoadError::Invalid { .. }), "{err}");
}

/// An incompatible `replace_map` fd is reported at its own step, which the
/// message names.
#[test]
fn an_incompatible_replacement_names_replace_map() {
    let Some(_serial) = kernel() else { return };
    let wrong = Loader::new()
        .create_map(&MapSpec::new("w", MapType::Hash, 4, 4, 64))
        .unwrap();
    let mut spec = CollectionSpec::default();
    spec.maps
        .insert("h".into(), MapSpec::new("h", MapType::Hash, 4, 8, 64));
    let err = Loader::new()
        .replace_map("h", wrong.fd().as_fd().try_clone_to_owned().unwrap())
        .load(&spec)
        .map(drop)
        .unwrap_err();
    assert_eq!(err.step(), Some(Step::Replace), "{err}");
    let message = err.to_string();
    assert!(message.contains("replace_map"), "{message}");
    assert!(message.contains("value_size"), "{message}");
}

/// A measurement, not a check (`cargo test -p ebpf-loader --test load --
/// --ignored --nocapture`): loads that only reuse pins, while another
/// process holds the pin directory's flock (a `flock DIR agent` wrapper).
/// Each call waits for the shared flock 200 ms at most, then 20 ms for each
/// later pin it opens.
#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn reuse_only_loads_under_a_held_flock() {
    use std::os::fd::AsRawFd;
    let Some(_serial) = kernel() else { return };
    let fs = BpfFs::mount();
    let mut spec = CollectionSpec::default();
    spec.maps.insert("aa".into(), common::pinned_hash("aa", 5));
    spec.maps.insert("bb".into(), common::pinned_hash("bb", 5));
    let loader = Loader::new().pin_path(fs.path());
    drop(loader.load(&spec).unwrap());
    let start = std::time::Instant::now();
    drop(loader.load(&spec).unwrap());
    eprintln!("a reuse-only load, no flock held: {:?}", start.elapsed());
    let dir = std::fs::File::open(fs.path()).unwrap();
    // SAFETY: flock on an fd this test owns; no memory is passed.
    assert_eq!(unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX) }, 0);
    for i in 0..3 {
        let start = std::time::Instant::now();
        let coll = loader.load(&spec).unwrap();
        assert_eq!(coll.pins_reused().len(), 2);
        eprintln!(
            "reuse-only load {i} under a held flock: {:?}",
            start.elapsed()
        );
    }
}
