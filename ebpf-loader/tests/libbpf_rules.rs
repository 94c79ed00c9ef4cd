//! libbpf conventions at load, against the real kernel (fixture
//! `libbpf_rules/libbpf_rules.bpf.c`): a `.bss.*` section's map the program
//! counts in, a bloom filter whose `map_extra` comes from `__ulong`, and
//! `SEC("?...")` programs, loaded only when their autoload is set. Skips
//! (with the reason) without bpf(2), fails under CI.

mod common;

use common::{fixture, kernel, open_fds};
use ebpf_loader::{LoadError, Loader, fault_injection};
use ebpf_spec::{MapEntry, MapSpec, MapType, MapValue};

const PACKET: [u8; 64] = [0; 64];

#[test]
fn optional_programs_load_only_when_asked_and_bss_sections_count() {
    let Some(_serial) = kernel() else { return };
    let fds = open_fds();
    let mut spec = fixture("libbpf_rules/libbpf_rules.bpfel.o");
    let coll = Loader::new().load(&spec).unwrap();
    assert_eq!(coll.program_names().collect::<Vec<_>>(), ["count"]);
    assert_eq!(
        coll.map_names().collect::<Vec<_>>(),
        [".bss.counters", "seen"]
    );
    // `packets++` in `.bss.counters`, mapped in place.
    for expect in 1..=2 {
        let run = coll.test_run("count", &PACKET, 1).unwrap().unwrap();
        assert_eq!(run.retval, expect);
    }
    let packets = coll.variable(&spec.variables["packets"]).unwrap().unwrap();
    assert_eq!(packets.read(), 2u64.to_ne_bytes());
    drop((packets, coll));

    spec.programs.get_mut("optional_xdp").unwrap().autoload = true;
    let coll = Loader::new().load(&spec).unwrap();
    assert_eq!(
        coll.program_names().collect::<Vec<_>>(),
        ["count", "optional_xdp"]
    );
    drop(coll);
    assert_eq!(open_fds(), fds);
}

#[test]
fn a_slot_holding_a_program_not_loaded_is_refused_before_any_syscall() {
    let Some(_serial) = kernel() else { return };
    let mut spec = fixture("libbpf_rules/libbpf_rules.bpfel.o");
    let mut jumps = MapSpec::new("jumps", MapType::ProgArray, 4, 4, 2);
    jumps.contents.push(MapEntry {
        key: 1u32.to_ne_bytes().to_vec(),
        value: MapValue::Program("optional_filter".into()),
    });
    spec.maps.insert("jumps".into(), jumps);

    fault_injection::count_calls();
    let e = Loader::new().load(&spec).unwrap_err();
    let calls = fault_injection::calls();
    fault_injection::disarm();
    assert!(matches!(e, LoadError::Invalid { .. }), "{e:?}");
    assert_eq!(e.map(), "jumps");
    assert!(
        e.to_string().contains(
            "a slot refers to program `optional_filter`, which is not loaded (its autoload is \
             false: a `?` section)"
        ),
        "{e}"
    );
    assert_eq!(calls, 0);

    spec.programs.get_mut("optional_filter").unwrap().autoload = true;
    let coll = Loader::new().load(&spec).unwrap();
    assert!(coll.program_fd("optional_filter").is_some());
}
