//! Fault injection: every bpf(2) call a load makes is failed in turn, and
//! after each failure nothing the load created is left (fds, pins), pins
//! that existed before are untouched, the spec is unchanged, and the error
//! names the step.

mod common;

use common::{BpfFs, fixture, kernel, open_fds};
use ebpf_loader::{Collection, LoadError, Loader, fault_injection};
use ebpf_spec::CollectionSpec;

/// The errno injected: one no step of the loader treats as "try another way".
const EIO: i32 = libc::EIO;

/// Disarms the hook even when an assertion fails.
struct Disarm;

impl Drop for Disarm {
    fn drop(&mut self) {
        fault_injection::disarm();
    }
}

/// Fails every call of `load` in turn (k = 1 ..= the number of calls a
/// successful load makes) and checks what is left after each; returns how
/// many positions were tried.
fn every_position(spec: &CollectionSpec, loader: &Loader, fs: Option<&BpfFs>) -> u64 {
    let _disarm = Disarm;
    // Warm up: caches that live as long as the loader (the BTF fd) and the
    // process (kernel BTF, config) are filled once, outside the counting.
    drop(loader.load(spec).unwrap());
    let pins_before = fs.map(BpfFs::pins);
    let fds = open_fds();
    fault_injection::count_calls();
    drop(loader.load(spec).unwrap());
    let calls = fault_injection::calls();
    assert!(calls > 0);
    let before = spec.clone();
    for k in 1..=calls {
        fault_injection::fail_call_and_retries(k, EIO);
        let result = loader.load(spec);
        assert!(fault_injection::fired(), "call {k} of {calls} was made");
        let e = match result {
            Err(e) => e,
            Ok(_) => panic!("call {k} of {calls} failed, yet the load succeeded"),
        };
        assert!(e.step().is_some(), "call {k}: the error names no step: {e}");
        assert!(
            e.to_string().contains("Input/output error") || e.errno() == Some(EIO),
            "call {k}: {e}"
        );
        fault_injection::disarm();
        assert_eq!(open_fds(), fds, "call {k} ({e}): an fd was left open");
        if let Some(fs) = fs {
            assert_eq!(Some(fs.pins()), pins_before, "call {k} ({e}): pins changed");
        }
        assert_eq!(spec, &before, "call {k}: the spec changed");
    }
    calls
}

#[test]
fn every_call_of_a_load_fails_in_turn_and_nothing_is_left() {
    let Some(_serial) = kernel() else { return };
    let mut tried = 0;
    for name in [
        "programs.bpfel.o",
        "map_in_map.bpfel.o",
        "globals.bpfel.o",
        "btf_maps.bpfel.o",
        "struct_ops/struct_ops.bpfel.o",
    ] {
        let mut spec = fixture(name);
        for (p, _) in common::refused_program_types(&spec) {
            spec.programs.remove(&p);
        }
        // The struct_ops program no map refers to (refused, by design).
        spec.programs.remove("unused_ssthresh");
        let n = every_position(&spec, &Loader::new(), None);
        eprintln!("{name}: {n} positions");
        // At least one call per map and per program.
        assert!(
            n as usize >= spec.maps.len() + spec.programs.len(),
            "{name}: {n}"
        );
        tried += n;
    }
    // With pins: one pre-existing (reused), the others created by the load.
    let fs = BpfFs::mount();
    let spec = fixture("iproute2.bpfel.o");
    let mut pre = spec.clone();
    pre.maps.retain(|n, _| n == "tc_global");
    pre.programs.clear();
    drop(Loader::new().pin_path(fs.path()).load(&pre).unwrap());
    assert_eq!(fs.pins(), ["tc_global"]);
    let loader = Loader::new().pin_path(fs.path());
    // The warm-up load inside creates tc_object's pin; remove it so every
    // counted load creates it again.
    let n = {
        drop(loader.load(&spec).unwrap());
        std::fs::remove_file(fs.pin("tc_object")).unwrap();
        every_position_with_fresh_pins(&spec, &loader, &fs)
    };
    eprintln!("iproute2.bpfel.o with pins: {n} positions");
    tried += n;
    eprintln!("{tried} positions tried in all");
}

/// [`every_position`] for a loader that pins: after each failed load the
/// pins are what they were before it; after the counting load, the pins it
/// created are removed again so each position starts from the same state.
fn every_position_with_fresh_pins(spec: &CollectionSpec, loader: &Loader, fs: &BpfFs) -> u64 {
    let _disarm = Disarm;
    let pins_before = fs.pins();
    let fds = open_fds();
    fault_injection::count_calls();
    let coll = loader.load(spec).unwrap();
    let calls = fault_injection::calls();
    for p in coll.pins_created() {
        std::fs::remove_file(p).unwrap();
    }
    drop(coll);
    assert_eq!(fs.pins(), pins_before);
    for k in 1..=calls {
        fault_injection::fail_call_and_retries(k, EIO);
        let e = loader
            .load(spec)
            .err()
            .unwrap_or_else(|| panic!("call {k} of {calls} failed, yet the load succeeded"));
        fault_injection::disarm();
        assert!(e.step().is_some(), "call {k}: {e}");
        assert_eq!(open_fds(), fds, "call {k} ({e}): an fd was left open");
        assert_eq!(fs.pins(), pins_before, "call {k} ({e}): pins changed");
    }
    calls
}

#[test]
fn a_failure_in_one_of_eight_instances_releases_all_of_them() {
    let Some(_serial) = kernel() else { return };
    let _disarm = Disarm;
    let mut spec = fixture("programs.bpfel.o");
    for (p, _) in common::refused_program_types(&spec) {
        spec.programs.remove(&p);
    }
    let loader = Loader::new();
    drop(loader.load_many(&spec, 8).unwrap());
    let fds = open_fds();
    fault_injection::count_calls();
    drop(loader.load_many(&spec, 8).unwrap());
    let calls = fault_injection::calls();
    // A sample of positions across the whole call (instances interleave
    // on the loader's threads, so a position lands in any of them).
    let mut tried = 0;
    for k in (1..=calls).step_by((calls as usize / 25).max(1)) {
        fault_injection::fail_call_and_retries(k, EIO);
        let e = loader
            .load_many(&spec, 8)
            .err()
            .unwrap_or_else(|| panic!("call {k} of {calls} failed, yet load_many succeeded"));
        fault_injection::disarm();
        assert!(e.step().is_some(), "call {k}: {e}");
        assert_eq!(open_fds(), fds, "call {k} ({e}): an fd was left open");
        tried += 1;
    }
    eprintln!("load_many of 8: {tried} of {calls} positions tried");
    assert!(tried >= 20);
}

#[test]
fn a_failure_anywhere_in_load_all_releases_every_collection() {
    let Some(_serial) = kernel() else { return };
    let _disarm = Disarm;
    // Three specs that differ (slots, sizes): each is linked and loaded on
    // its own, and the slots of all are filled at the end.
    let base = fixture("map_in_map.bpfel.o");
    let specs: Vec<CollectionSpec> = (0..3u32)
        .map(|t| {
            let mut spec = base.copy();
            spec.maps.get_mut("outer_hash").unwrap().max_entries = 4 + t;
            spec.maps
                .get_mut("outer_arr")
                .unwrap()
                .contents
                .retain(|e| t == 0 || e.key != 3u32.to_le_bytes());
            spec
        })
        .collect();
    let before = specs.clone();
    let loader = Loader::new().threads(2);
    drop(loader.load_all(&specs).unwrap());
    let fds = open_fds();
    fault_injection::count_calls();
    drop(loader.load_all(&specs).unwrap());
    let calls = fault_injection::calls();
    for k in 1..=calls {
        fault_injection::fail_call_and_retries(k, EIO);
        let e = loader
            .load_all(&specs)
            .err()
            .unwrap_or_else(|| panic!("call {k} of {calls} failed, yet load_all succeeded"));
        fault_injection::disarm();
        assert!(
            matches!(e, ebpf_loader::LoadError::Instance { index, .. } if index < 3),
            "call {k}: {e}"
        );
        assert!(e.step().is_some(), "call {k}: {e}");
        assert_eq!(open_fds(), fds, "call {k} ({e}): an fd was left open");
        assert_eq!(specs, before, "call {k}: the specs are unchanged");
    }
    eprintln!("load_all of 3 specs: {calls} positions tried");
}

/// A panic (a bug) at any bpf(2) call of a `load_all`, `load_many` or `load`
/// with pins: it reaches the caller, after every collection of the call is
/// released and every pin the call created removed.
#[test]
fn a_panic_in_one_instance_releases_every_collection_and_pin() {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    let Some(_serial) = kernel() else { return };
    let _disarm = Disarm;
    let fs = BpfFs::mount();
    let mut spec = fixture("globals.bpfel.o");
    spec.maps.get_mut("values").unwrap().pinning = ebpf_spec::Pinning::ByName;
    // A map created after the pinned one (by name): a panic there must
    // release the pin already made.
    spec.maps.insert(
        "zz".into(),
        ebpf_spec::MapSpec::new("zz", ebpf_spec::MapType::Array, 4, 4, 1),
    );
    let specs: Vec<CollectionSpec> = (0..3u32)
        .map(|t| {
            let mut s = spec.copy();
            s.set_variable("sample_rate", &t.to_ne_bytes()).unwrap();
            s
        })
        .collect();
    let loader = Loader::new().threads(2).pin_path(fs.path());
    drop(loader.load_all(&specs).unwrap());
    std::fs::remove_file(fs.pin("values")).unwrap();
    let fds = open_fds();
    fault_injection::count_calls();
    drop(loader.load_all(&specs).unwrap());
    let calls = fault_injection::calls();
    std::fs::remove_file(fs.pin("values")).unwrap();
    // The panics are expected: keep their messages out of the test output.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = Vec::new();
    let mut fired = 0;
    // `load` makes fewer calls than the loads of 3 counted here: a position
    // past the end of a shorter load does not fire, and is not counted.
    let mut at = |k: u64, what: &str, run: &dyn Fn() -> Result<Vec<Collection>, LoadError>| {
        fault_injection::panic_at_call(k);
        let result = catch_unwind(AssertUnwindSafe(run));
        let panicked = fault_injection::fired();
        fault_injection::disarm();
        match (panicked, result) {
            (true, Err(_)) => fired += 1,
            (true, Ok(_)) => {
                failures.push(format!("{what}, call {k}: no panic reached the caller"))
            }
            (false, result) => {
                drop(result);
                let _ = std::fs::remove_file(fs.pin("values"));
            }
        }
        if open_fds() != fds || !fs.pins().is_empty() {
            failures.push(format!(
                "{what}, call {k}: fds {} (before {fds}), pins {:?}",
                open_fds(),
                fs.pins()
            ));
        }
    };
    for k in 1..=calls {
        at(k, "load_all", &|| loader.load_all(&specs));
        at(k, "load_many", &|| loader.load_many(&specs[0], 3));
        at(k, "load", &|| loader.load(&specs[0]).map(|c| vec![c]));
    }
    std::panic::set_hook(hook);
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(fired as u64 >= calls, "{fired} of {calls} positions fired");
    eprintln!(
        "a panic at {fired} positions of load_all, load_many and load ({calls} calls): nothing left"
    );
}

/// `BPF_MAP_DELETE_ELEM` of key 0, without the loader.
fn delete_key_zero(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<()> {
    use common::bpf_raw::{bpf, zeroed};
    use std::os::fd::AsRawFd;
    let key = [0u8; 4];
    let mut attr = zeroed();
    // SAFETY: plain fields of the zeroed union's element member; the key
    // outlives the call.
    let u = unsafe { &mut attr.__bindgen_anon_2 };
    u.map_fd = fd.as_raw_fd() as u32;
    u.key = key.as_ptr() as u64;
    bpf(aya_obj::generated::bpf_cmd::BPF_MAP_DELETE_ELEM, &mut attr).map(drop)
}

/// Whether the kernel lists TCP congestion control `name`.
fn congestion_control(name: &str) -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_congestion_control")
        .unwrap()
        .split_whitespace()
        .any(|n| n == name)
}

#[test]
fn every_call_of_a_struct_ops_registration_fails_in_turn_and_nothing_is_left() {
    let Some(_serial) = kernel() else { return };
    let _disarm = Disarm;
    let mut spec = fixture("struct_ops/struct_ops.bpfel.o");
    spec.programs.remove("unused_ssthresh");
    // A `.struct_ops` map registers once in its life (the kernel refuses
    // its value again after it is unregistered): a fresh collection for
    // every attempt.
    let load = || Loader::new().load(&spec).unwrap();
    for map in ["spec_ca", "spec_ca_link"] {
        let coll = load();
        fault_injection::count_calls();
        drop(coll.attach_struct_ops(map).unwrap().unwrap());
        let calls = fault_injection::calls();
        // Writing the value, then creating the link (link map) or deleting
        // the value on drop (`.struct_ops` map).
        assert_eq!(calls, 2, "{map}: {calls} calls");
        drop(coll);
        for k in 1..=calls {
            let coll = load();
            let fds = open_fds();
            fault_injection::fail_call_and_retries(k, EIO);
            match coll.attach_struct_ops(map).unwrap() {
                Err(e) => {
                    assert!(fault_injection::fired(), "{map}: call {k} of {calls}: {e}");
                    assert_eq!(e.step(), Some(ebpf_loader::Step::RegisterStructOps), "{e}");
                    assert_eq!(e.errno(), Some(EIO), "{e}");
                    assert!(!congestion_control(map), "{map}: call {k}: registered");
                }
                // The call that fails is the unregistering one, on drop:
                // nothing to report then, and (as the kernel has it) the
                // structure stays registered, even once its map is closed,
                // until its value is deleted: done here by hand.
                Ok(attached) => {
                    drop(attached);
                    assert!(fault_injection::fired(), "{map}: call {k} of {calls}");
                    fault_injection::disarm();
                    assert!(congestion_control(map), "{map}: call {k}");
                    let fd = coll.map_fd(map).unwrap();
                    delete_key_zero(fd).unwrap();
                }
            }
            fault_injection::disarm();
            assert_eq!(open_fds(), fds, "{map}: call {k}: an fd was left open");
            drop(coll);
            assert!(!congestion_control(map), "{map}: call {k}: left registered");
        }
    }
}

/// A lost pin race, made deterministic: the call's last bpf(2) call (the
/// pin of the second map it publishes) fails with EEXIST, as when another
/// loader pinned that name in the microseconds after the call looked for
/// it. The call removes the pin it had just made and is made again from
/// the start: its retry makes fresh maps, fills and freezes the prog array
/// once (a retry that reused its own frozen pin failed with EPERM, and one
/// that kept it left it calling the dropped attempt's programs), and in a
/// `load_many` exactly one instance makes each pin, the others reusing it.
#[test]
fn a_lost_pin_race_is_made_again_from_the_start() {
    use ebpf_spec::{ByteOrder, MapEntry, MapSpec, MapType, MapValue, Pinning};
    let Some(_serial) = kernel() else { return };
    let _disarm = Disarm;
    let fs = BpfFs::mount();
    let mut spec = CollectionSpec::default();
    spec.programs.insert("p".into(), common::trivial("p"));
    let mut jumps = MapSpec::new("aa", MapType::ProgArray, 4, 4, 2);
    jumps.contents = vec![MapEntry::at_index(
        0,
        MapValue::Program("p".into()),
        ByteOrder::NATIVE,
    )];
    jumps.pinning = Pinning::ByName;
    jumps.freeze = true;
    spec.maps.insert("aa".into(), jumps);
    let mut bb = MapSpec::new("bb", MapType::Hash, 4, 4, 13);
    bb.pinning = Pinning::ByName;
    spec.maps.insert("bb".into(), bb);
    let loader = Loader::new().pin_path(fs.path());
    let clear = || {
        for p in fs.pins() {
            std::fs::remove_file(fs.pin(&p)).unwrap();
        }
    };
    let slot0 = |c: &Collection| {
        let mut key = 0u32.to_ne_bytes();
        let mut value = [0u8; 4];
        let mut attr = common::bpf_raw::zeroed();
        // SAFETY: the map-element member of the union, as the kernel reads it.
        let elem = unsafe { &mut attr.__bindgen_anon_2 };
        elem.map_fd = std::os::fd::AsRawFd::as_raw_fd(&c.map_fd("aa").unwrap()) as u32;
        elem.key = key.as_mut_ptr() as u64;
        elem.__bindgen_anon_1.value = value.as_mut_ptr() as u64;
        common::bpf_raw::bpf(aya_obj::generated::bpf_cmd::BPF_MAP_LOOKUP_ELEM, &mut attr).unwrap();
        u32::from_ne_bytes(value)
    };
    drop(loader.load(&spec).unwrap());
    clear();
    let fds = open_fds();
    for n in [1, 3] {
        // The calls of a whole call: its last is the second pin.
        fault_injection::count_calls();
        drop(loader.load_many(&spec, n).unwrap());
        let calls = fault_injection::calls();
        clear();

        fault_injection::fail_call(calls, libc::EEXIST);
        let colls = loader.load_many(&spec, n).unwrap();
        assert!(fault_injection::fired(), "{n}: the last call was the pin");
        fault_injection::disarm();
        assert_eq!(fs.pins(), ["aa", "bb"], "{n}");
        let names = |paths: &[std::path::PathBuf]| -> Vec<String> {
            paths
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        for (i, c) in colls.iter().enumerate() {
            let (created, reused) = if i == 0 {
                (vec!["aa", "bb"], vec![])
            } else {
                (vec![], vec!["aa", "bb"])
            };
            assert_eq!(names(c.pins_created()), created, "{n}: instance {i}");
            assert_eq!(names(c.pins_reused()), reused, "{n}: instance {i}");
        }
        // The shared prog array holds the program of the attempt that
        // succeeded (instance 0's), for every instance, and is frozen.
        let first = colls[0].program_info("p").unwrap().id;
        assert!(colls.iter().all(|c| slot0(c) == first), "{n}");
        let fdinfo = std::fs::read_to_string(format!(
            "/proc/self/fdinfo/{}",
            std::os::fd::AsRawFd::as_raw_fd(&colls[0].map_fd("aa").unwrap())
        ))
        .unwrap();
        assert!(fdinfo.contains("frozen:\t1"), "{n}: {fdinfo}");
        drop(colls);
        clear();
    }
    assert_eq!(open_fds(), fds, "the lost attempts left no fd");
}

/// `bpf_cmd` numbers.
const BPF_PROG_LOAD: u32 = 5;
const BPF_BTF_LOAD: u32 = 18;

/// A program load that fails once (ENOMEM; EAGAIN, which the verifier
/// returns when a signal is pending) is tried again, as libbpf tries it:
/// the load succeeds and the program runs. One that keeps failing fails
/// the load, and nothing is left. The same for the object's BTF, whose
/// retry (with a log) was left open when it succeeded.
#[test]
fn a_load_that_fails_once_is_tried_again() {
    let Some(_serial) = kernel() else { return };
    let _disarm = Disarm;
    let spec = fixture("globals.bpfel.o");
    let fresh = || Loader::new().threads(1);
    let rate = |coll: &Collection| {
        coll.test_run("get_rate", &[0u8; 64], 1)
            .unwrap()
            .unwrap()
            .retval
    };
    let expected = rate(&fresh().load(&spec).unwrap());
    let fds = open_fds();
    fault_injection::count_calls();
    drop(fresh().load(&spec).unwrap());
    let commands = fault_injection::commands();
    let at = |cmd: u32| 1 + commands.iter().position(|&c| c == cmd).unwrap() as u64;
    let (prog, btf) = (at(BPF_PROG_LOAD), at(BPF_BTF_LOAD));
    for (k, errno) in [
        (prog, libc::ENOMEM),
        (prog, libc::EAGAIN),
        (btf, libc::ENOMEM),
    ] {
        fault_injection::fail_call(k, errno);
        let coll = fresh()
            .load(&spec)
            .unwrap_or_else(|e| panic!("call {k} failed once with {errno}: {e}"));
        assert!(fault_injection::fired());
        fault_injection::disarm();
        assert!(coll.btf_refused().is_none());
        assert_eq!(rate(&coll), expected);
        drop(coll);
        assert_eq!(
            open_fds(),
            fds,
            "call {k}, errno {errno}: an fd was left open"
        );
    }
    // EAGAIN every time: given up after libbpf's five attempts (and five
    // more with the log on; the programs after it fail the same way).
    fault_injection::fail_call_and_retries(prog, libc::EAGAIN);
    let e = fresh().load(&spec).unwrap_err();
    let calls = fault_injection::calls();
    fault_injection::disarm();
    assert_eq!(e.errno(), Some(libc::EAGAIN), "{e}");
    assert!(calls >= prog + 9, "{calls} calls: {e}");
    assert_eq!(open_fds(), fds);
}

/// `bpf_cmd` of a map create.
const BPF_MAP_CREATE: u32 = 0;

/// Out of fds (EMFILE): the error names the open-file limit, a program is
/// not loaded again for its log (which cannot help), and a `load_many`
/// that fails at an early instance does not start the instances after it
/// (each started one was loaded, then released: 4,000 of them when the
/// first had already failed).
#[test]
fn running_out_of_fds_names_the_limit_and_stops_early() {
    let Some(_serial) = kernel() else { return };
    let _disarm = Disarm;
    let spec = fixture("globals.bpfel.o");
    let loader = Loader::new().threads(1);
    drop(loader.load(&spec).unwrap());
    fault_injection::count_calls();
    drop(loader.load(&spec).unwrap());
    let commands = fault_injection::commands();
    let per_instance = commands.len() as u64;
    let at = |cmd: u32| 1 + commands.iter().position(|&c| c == cmd).unwrap() as u64;

    fault_injection::fail_call(at(BPF_MAP_CREATE), libc::EMFILE);
    let e = loader.load(&spec).unwrap_err();
    assert!(e.to_string().contains("RLIMIT_NOFILE"), "{e}");

    fault_injection::fail_call(at(BPF_PROG_LOAD), libc::EMFILE);
    let e = loader.load(&spec).unwrap_err();
    let calls = fault_injection::calls();
    fault_injection::disarm();
    assert!(e.to_string().contains("RLIMIT_NOFILE"), "{e}");
    assert_eq!(e.errno(), Some(libc::EMFILE), "{e}");
    // No retry with the log: the calls after it are the other programs'
    // loads of this instance at most, not a second verification of it.
    assert!(calls < per_instance, "{calls} calls of {per_instance}: {e}");

    // load_many of 64 on one thread, failing in the first instance: the
    // others are not started.
    let n = 64;
    fault_injection::fail_call(2, libc::EMFILE);
    let e = loader.load_many(&spec, n).unwrap_err();
    let calls = fault_injection::calls();
    fault_injection::disarm();
    assert!(e.to_string().contains("instance 0"), "{e}");
    assert!(
        calls < 4 * per_instance,
        "{calls} calls for a load_many of {n} failing in its first instance ({per_instance} per instance)"
    );
}

/// BPF_OBJ_GET of `path` as a loader of this library opens a pin: under a
/// shared flock of its directory.
fn open_pin_as_a_loader(
    dir: &std::path::Path,
    path: &std::path::Path,
) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    let lock = std::fs::File::open(dir).unwrap();
    // SAFETY: flock on an fd this function owns; no memory is passed.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_SH) }, 0);
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let mut attr = common::bpf_raw::zeroed();
    // The path outlives the call.
    attr.__bindgen_anon_4.pathname = c.as_ptr() as u64;
    common::bpf_raw::bpf_fd(aya_obj::generated::bpf_cmd::BPF_OBJ_GET, &mut attr).ok()
}

/// A publish that fails at its second pin removes the first before another
/// loader (which opens pins under a shared flock of the directory) can
/// reuse it: such a loader would otherwise hold a map no pin names any
/// more, and the next load of the name would make a second one.
#[test]
fn a_failed_publish_takes_back_no_pin_another_loader_reused() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some(_serial) = kernel() else { return };
    let _disarm = Disarm;
    let fs = BpfFs::mount();
    let mut spec = CollectionSpec::default();
    spec.maps.insert("xa".into(), common::pinned_hash("xa", 21));
    spec.maps.insert("yb".into(), common::pinned_hash("yb", 22));
    let loader = Loader::new().pin_path(fs.path());
    fault_injection::count_calls();
    drop(loader.load(&spec).unwrap());
    let commands = fault_injection::commands();
    fault_injection::disarm();
    for p in fs.pins() {
        std::fs::remove_file(fs.pin(&p)).unwrap();
    }
    let pin = aya_obj::generated::bpf_cmd::BPF_OBJ_PIN as u32;
    let second_pin = commands
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == pin)
        .nth(1)
        .expect("two pins")
        .0 as u64
        + 1;
    // A failed pin (an errno), then a panic there (a bug): either way the
    // first pin is gone before another loader may open it.
    for panics in [false, true] {
        for round in 0..100 {
            let stop = AtomicBool::new(false);
            let (result, reused) = std::thread::scope(|s| {
                let other = s.spawn(|| {
                    while !stop.load(Ordering::Relaxed) {
                        if let Some(fd) = open_pin_as_a_loader(fs.path(), &fs.pin("xa")) {
                            return Some(fd);
                        }
                    }
                    None
                });
                if panics {
                    fault_injection::panic_at_call(second_pin);
                } else {
                    fault_injection::fail_call_and_retries(second_pin, libc::ENOMEM);
                }
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    loader.load(&spec).map(drop)
                }));
                fault_injection::disarm();
                stop.store(true, Ordering::Relaxed);
                (result, other.join().unwrap())
            });
            let what = match result {
                Ok(result) => {
                    assert!(!panics, "round {round}: the pin's call panics");
                    let err = result.expect_err("the second pin fails");
                    assert_eq!(err.errno(), Some(libc::ENOMEM), "{err}");
                    err.to_string()
                }
                Err(_) => {
                    assert!(panics, "round {round}: only the injected panic");
                    "a panic".to_owned()
                }
            };
            assert!(
                fs.pins().is_empty(),
                "round {round}: pins left: {:?}",
                fs.pins()
            );
            assert!(
                reused.is_none(),
                "round {round}: another loader reused pin `xa` of a load that failed ({what}) \
                 and then removed it"
            );
        }
    }
}
