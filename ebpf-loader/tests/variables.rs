//! Global variables of loaded collections, read and written in place while
//! their programs run (`Collection::variable`), against the real kernel.

mod common;

use common::{fixture, kernel, open_fds};
use ebpf_loader::{Loader, VariableError};

/// An XDP test packet.
const PACKET: [u8; 64] = [0; 64];

fn u32_of(bytes: Vec<u8>) -> u32 {
    u32::from_ne_bytes(bytes.try_into().unwrap())
}

fn u64_of(bytes: Vec<u8>) -> u64 {
    u64::from_ne_bytes(bytes.try_into().unwrap())
}

#[test]
fn a_program_and_its_caller_see_each_others_writes() {
    let Some(_serial) = kernel() else { return };
    let spec = fixture("globals.bpfel.o");
    let fds = open_fds();
    {
        let coll = Loader::new().load(&spec).unwrap();
        let var = |name: &str| coll.variable(&spec.variables[name]).unwrap().unwrap();
        let (counter, hits, big, arr) = (
            var("counter"),
            var("hits"),
            var("big_data"),
            var("zeroed_arr"),
        );
        // The values the object was compiled with.
        assert_eq!(u32_of(counter.read()), 0x1122_3344);
        assert_eq!(u64_of(hits.read()), 0);
        assert_eq!(u64_of(big.read()), 0x0102_0304_0506_0708);

        // touch_all: counter += 1, hits += 1, zeroed_arr[1] = (u32)big_data.
        coll.test_run("touch_all", &PACKET, 5).unwrap().unwrap();
        assert_eq!(u32_of(counter.read()), 0x1122_3344 + 5);
        assert_eq!(u64_of(hits.read()), 5);

        // Written here, read by the program at its next run.
        counter.write(&100u32.to_ne_bytes()).unwrap();
        big.write(&0xaabb_ccdd_0000_0042u64.to_ne_bytes()).unwrap();
        coll.test_run("touch_all", &PACKET, 1).unwrap().unwrap();
        assert_eq!(u32_of(counter.read()), 101);
        let mut words = [0u8; 16];
        arr.read_into(&mut words).unwrap();
        assert_eq!(u32::from_ne_bytes(words[4..8].try_into().unwrap()), 0x42);

        // A handle keeps working after the collection is gone (its mapping
        // holds the map).
        drop(coll);
        assert_eq!(u64_of(hits.read()), 6);
    }
    assert_eq!(open_fds(), fds, "no fd left behind");
}

#[test]
fn constants_read_but_refuse_writes_and_sizes_are_checked() {
    let Some(_serial) = kernel() else { return };
    let mut spec = fixture("globals.bpfel.o");
    spec.set_variable("sample_rate", &13u32.to_ne_bytes())
        .unwrap();
    let coll = Loader::new().load(&spec).unwrap();

    let rate = coll
        .variable(&spec.variables["sample_rate"])
        .unwrap()
        .unwrap();
    assert!(rate.is_constant());
    assert_eq!((rate.name(), rate.len()), ("sample_rate", 4));
    assert_eq!(u32_of(rate.read()), 13, "the value set in the spec");
    let e = rate.write(&1u32.to_ne_bytes()).unwrap_err();
    assert!(matches!(e, VariableError::Constant { .. }), "{e}");
    assert!(e.to_string().contains("`sample_rate`"), "{e}");
    assert_eq!(u32_of(rate.read()), 13);
    assert_eq!(
        coll.test_run("get_rate", &PACKET, 1)
            .unwrap()
            .unwrap()
            .retval,
        13
    );

    // A spec that says "not constant" for a frozen map (a hand-edited spec,
    // a pin frozen by another loader): the kernel's word wins, read-only.
    let mut edited = spec.variables["sample_rate"].clone();
    edited.constant = false;
    let rate = coll.variable(&edited).unwrap().unwrap();
    assert!(rate.is_constant());
    assert_eq!(u32_of(rate.read()), 13);
    assert!(matches!(
        rate.write(&1u32.to_ne_bytes()),
        Err(VariableError::Constant { .. })
    ));

    let greeting = coll.variable(&spec.variables["greeting"]).unwrap().unwrap();
    assert_eq!(greeting.read(), b"hello\0");

    // .kconfig: what the loader filled in from the running kernel.
    let syscall = coll
        .variable(&spec.variables["CONFIG_BPF_SYSCALL"])
        .unwrap()
        .unwrap();
    assert_eq!(
        syscall.read(),
        [1],
        "bpf(2) works here, so CONFIG_BPF_SYSCALL=y"
    );

    let counter = coll.variable(&spec.variables["counter"]).unwrap().unwrap();
    let e = counter.write(&[1, 2]).unwrap_err();
    assert!(
        matches!(
            e,
            VariableError::WrongSize {
                expected: 4,
                got: 2,
                ..
            }
        ),
        "{e}"
    );
    assert!(counter.read_into(&mut [0u8; 8]).is_err());
}

#[test]
fn a_variable_outside_its_section_or_a_taken_section_is_refused() {
    let Some(_serial) = kernel() else { return };
    let spec = fixture("globals.bpfel.o");
    let mut coll = Loader::new().load(&spec).unwrap();

    let mut stray = spec.variables["counter"].clone();
    stray.offset = spec.maps[".data"].value_size;
    let e = coll.variable(&stray).unwrap().unwrap_err();
    assert!(matches!(e, VariableError::Outside { .. }), "{e}");
    assert!(e.to_string().contains("lies outside `.data`"), "{e}");

    drop(coll.take_map(".bss"));
    assert!(coll.variable(&spec.variables["hits"]).is_none());
}

/// A handle may move to, and be shared with, other threads (a metrics
/// thread reading counters while the main one writes settings).
#[test]
fn a_variable_handle_is_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<ebpf_loader::Variable>();
    let Some(_serial) = kernel() else { return };
    let spec = fixture("globals.bpfel.o");
    let coll = Loader::new().load(&spec).unwrap();
    let counter = coll.variable(&spec.variables["counter"]).unwrap().unwrap();
    std::thread::scope(|s| {
        for i in 0..4u32 {
            let counter = &counter;
            s.spawn(move || {
                for _ in 0..1000 {
                    counter.write(&(i * 1000).to_ne_bytes()).unwrap();
                    // Aligned 4 bytes: one atomic access, never torn.
                    assert_eq!(u32_of(counter.read()) % 1000, 0);
                }
            });
        }
    });
}

/// An alias (`extern int value_alias __attribute__((alias("value")))`) is
/// another name for `value`: one variable, which the program reads through
/// the alias, and setting it is what the program sees.
#[test]
fn an_alias_is_another_name_for_its_variable() {
    let Some(_serial) = kernel() else { return };
    let mut spec = fixture("alias/alias.bpfel.o");
    assert_eq!(spec.variables.keys().collect::<Vec<_>>(), ["value"]);
    let coll = Loader::new().load(&spec).unwrap();
    let run = |c: &ebpf_loader::Collection| {
        c.test_run("read_alias", &[0u8; 64], 1)
            .unwrap()
            .unwrap()
            .retval
    };
    assert_eq!(run(&coll), 42);
    spec.set_variable("value", &99i32.to_ne_bytes()).unwrap();
    assert_eq!(run(&Loader::new().load(&spec).unwrap()), 100);
}

/// A data section user space may only read (`BPF_F_RDONLY`: the kernel
/// refuses a writable mapping of it with EACCES, where a frozen map gives
/// EPERM) is mapped read-only: its variables read, and refuse writes as
/// constants do. So is one programs may only read (`BPF_F_RDONLY_PROG`).
#[test]
fn a_section_user_space_may_only_read_is_mapped_read_only() {
    let Some(_serial) = kernel() else { return };
    for flag in [
        ebpf_spec::MapFlags::RDONLY,
        ebpf_spec::MapFlags::RDONLY_PROG,
    ] {
        let mut spec = fixture("globals.bpfel.o");
        spec.maps.get_mut(".data").unwrap().flags |= flag;
        if flag == ebpf_spec::MapFlags::RDONLY_PROG {
            // Which the verifier holds to: no program may write it.
            spec.programs.retain(|_, _| false);
        }
        let coll = Loader::new().load(&spec).unwrap();
        let counter = coll
            .variable(&spec.variables["counter"])
            .unwrap()
            .unwrap_or_else(|e| panic!("{flag:?}: {e}"));
        assert!(counter.is_constant(), "{flag:?}");
        assert_eq!(u32_of(counter.read()), 0x1122_3344, "{flag:?}");
        let e = counter.write(&1u32.to_ne_bytes()).unwrap_err();
        assert!(matches!(e, VariableError::Constant { .. }), "{flag:?}: {e}");
    }
}
