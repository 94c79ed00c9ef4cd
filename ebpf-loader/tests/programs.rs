//! Programs against the real kernel: they load with their maps, data
//! sections and sub-programs, run (`BPF_PROG_TEST_RUN`) with the results the
//! spec says, attach through aya, fail with the verifier's log, and leave
//! nothing behind.

mod common;

use aya::maps::{Array, MapData};
use common::{BpfFs, fixture, kernel, open_fds, refused_program_types, trivial};
use ebpf_loader::{LoadError, Loader, Step};
use ebpf_spec::{CollectionSpec, Instruction, ProgramSpec, ProgramType};

/// A 64-byte packet: socket filters and XDP programs need at least an
/// Ethernet header.
const PACKET: [u8; 64] = [0xab; 64];

#[test]
fn a_rodata_constant_set_before_load_is_what_the_program_returns() {
    let Some(_serial) = kernel() else { return };
    let mut spec = fixture("globals.bpfel.o");
    let loader = Loader::new();

    let coll = loader.load(&spec).unwrap();
    let run = coll.test_run("get_rate", &PACKET, 1).unwrap().unwrap();
    assert_eq!(run.retval, 7, "the object's default");

    // `VariableSpec::set` alone is enough: the loader writes every
    // variable's value over its section's bytes.
    spec.variables
        .get_mut("sample_rate")
        .unwrap()
        .set(&13u32.to_ne_bytes())
        .unwrap();
    let before = spec.clone();
    let coll = loader.load(&spec).unwrap();
    assert_eq!(spec, before, "the loader never modifies the spec");
    let run = coll.test_run("get_rate", &PACKET, 1).unwrap().unwrap();
    assert_eq!(run.retval, 13);

    // And `CollectionSpec::set_variable`, per instance of load_many.
    spec.set_variable("sample_rate", &99u32.to_ne_bytes())
        .unwrap();
    for c in loader.load_many(&spec, 4).unwrap() {
        assert_eq!(
            c.test_run("get_rate", &PACKET, 3).unwrap().unwrap().retval,
            99
        );
    }
}

/// A legacy (iproute2) map annotated with `BPF_ANNOTATE_KV_PAIR` is created
/// with its BTF types: its value's `bpf_spin_lock` passes the verifier, which
/// refuses a spin lock in a map without BTF. And `stats`, whose annotated
/// enum key the kernel refuses for an array, is created without BTF, as
/// libbpf retries it (the load failed with EINVAL).
#[test]
fn an_iproute2_annotated_legacy_map_is_created_with_btf() {
    let Some(_serial) = kernel() else { return };
    let spec = fixture("iproute2_kv.bpfel.o");
    assert_ne!(spec.maps["stats"].btf_key_type_id, 0);
    let coll = Loader::new().load(&spec).unwrap();
    assert!(coll.map_fd("stats").is_some());
    // Not for a spin lock the map type cannot hold (EOPNOTSUPP): that is
    // the error, at the map, not a verifier complaint of missing BTF.
    let mut per_cpu = spec.clone();
    per_cpu.maps.get_mut("locked").unwrap().map_type = ebpf_spec::MapType::PerCpuArray;
    let e = Loader::new().load(&per_cpu).unwrap_err();
    assert_eq!(
        (e.map(), e.step(), e.errno()),
        ("locked", Some(Step::Create), Some(libc::EOPNOTSUPP)),
        "{e}"
    );
    for expected in 1..=3 {
        let run = coll.test_run("count", &PACKET, 1).unwrap().unwrap();
        assert_eq!(run.retval, expected, "the counter behind the lock");
    }
}

/// An `fsession/` program (libbpf 1.7) attaches to a kernel function as
/// fentry does: its target is found in the kernel's BTF before any syscall
/// (it was loaded without one, which every kernel refuses: "Tracing
/// programs must provide btf_id").
#[test]
fn an_fsession_program_gets_its_target_from_the_kernels_btf() {
    let Some(_serial) = kernel() else { return };
    let fsession = |target: &str| {
        let mut p = trivial("fs");
        p.section = format!("fsession/{target}").into();
        let (ty, attach, to) = ProgramSpec::classify_section(&p.section);
        (p.program_type, p.attach_type, p.attach_to) = (ty, attach, to);
        let mut spec = CollectionSpec::default();
        spec.programs.insert("fs".into(), p);
        spec
    };
    let e = Loader::new()
        .load(&fsession("no_such_function_xyz"))
        .unwrap_err();
    assert_eq!(e.step(), Some(Step::AttachTarget), "{e}");
    assert!(
        e.to_string()
            .contains("no function named `no_such_function_xyz`"),
        "{e}"
    );
    // A function the kernel has: whatever this kernel says of attach type 58,
    // the program reaches it with its target's id.
    match Loader::new().load(&fsession("do_unlinkat")) {
        Ok(_) => {}
        Err(e) => {
            assert_eq!(e.step(), Some(Step::LoadProgram), "{e}");
            assert!(!e.to_string().contains("must provide btf_id"), "{e}");
        }
    }
}

#[test]
fn a_program_reads_the_map_user_space_wrote() {
    let Some(_serial) = kernel() else { return };
    let spec = fixture("globals.bpfel.o");
    let mut a = Loader::new().load(&spec).unwrap();
    let b = Loader::new().load(&spec).unwrap();
    assert_eq!(
        a.test_run("get_array", &PACKET, 1).unwrap().unwrap().retval,
        0
    );

    let mut values: Array<MapData, u32> =
        a.take_map("values").unwrap().unwrap().try_into().unwrap();
    values.set(0, 4242, 0).unwrap();
    assert_eq!(
        a.test_run("get_array", &PACKET, 1).unwrap().unwrap().retval,
        4242
    );
    // The other collection has its own map.
    assert_eq!(
        b.test_run("get_array", &PACKET, 1).unwrap().unwrap().retval,
        0
    );
}

#[test]
fn prog_array_slots_and_map_in_map_slots_are_filled() {
    let Some(_serial) = kernel() else { return };
    let spec = fixture("map_in_map.bpfel.o");
    let mut coll = Loader::new().load(&spec).unwrap();
    // entry: inner_a[0] is 0, outer_hash is empty, so it tail-calls
    // jmp_table[mark & 3] = jmp_table[0] = tail_x, which returns 11.
    assert_eq!(
        coll.test_run("entry", &PACKET, 1).unwrap().unwrap().retval,
        11
    );

    // outer_arr[1] is inner_a (a static initialiser): a value written to
    // inner_a is what entry returns.
    let mut inner: Array<MapData, u32> = coll
        .take_map("inner_a")
        .unwrap()
        .unwrap()
        .try_into()
        .unwrap();
    inner.set(0, 5, 0).unwrap();
    assert_eq!(
        coll.test_run("entry", &PACKET, 1).unwrap().unwrap().retval,
        5
    );

    // Maps only: the prog array stays empty, the tail call falls through.
    let coll = Loader::new().maps_only(true).load(&spec).unwrap();
    assert_eq!(coll.program_names().count(), 0);
}

#[test]
fn every_program_of_the_programs_fixture_loads_with_its_info() {
    let Some(_serial) = kernel() else { return };
    let mut spec = fixture("programs.bpfel.o");
    for (p, why) in refused_program_types(&spec) {
        eprintln!("not loading `{p}`: {why}");
        spec.programs.remove(&p);
    }
    let coll = Loader::new().load(&spec).unwrap();
    for p in spec.programs.values() {
        let info = coll.program_info(&p.name).unwrap();
        assert_eq!(info.program_type, p.program_type, "{}", p.name);
        assert!(info.id > 0);
        assert!(info.verified_instructions > 0, "{}", p.name);
        assert_eq!(info.tag_hex().len(), 16);
        // Sub-programs were appended: at least the program's own slots.
        assert!(
            info.instructions as usize >= p.instructions.len() - 1,
            "{}",
            p.name
        );
    }
    // The tracing programs got their kernel BTF ids.
    let iter = coll.program_info("prog_iter_task").unwrap();
    assert!(iter.attach_btf_id > 0);
    // `.text` functions are linked into programs, not loaded alone.
    assert!(coll.program_fd("helper_leaf").is_none());
}

#[test]
fn instances_get_their_own_programs_and_leave_no_fd() {
    let Some(_serial) = kernel() else { return };
    let mut spec = fixture("programs.bpfel.o");
    for (p, _) in refused_program_types(&spec) {
        spec.programs.remove(&p);
    }
    let loader = Loader::new();
    drop(loader.load(&spec).unwrap()); // the BTF cache's fd, once
    let fds = open_fds();
    let all = loader.load_many(&spec, 64).unwrap();
    assert_eq!(
        open_fds(),
        fds + 64 * (spec.maps.len() + spec.programs.len())
    );
    let ids: std::collections::HashSet<u32> = all
        .iter()
        .map(|c| c.program_info("prog_xdp").unwrap().id)
        .collect();
    assert_eq!(ids.len(), 64, "every instance has its own program");
    let tags: std::collections::HashSet<[u8; 8]> = all
        .iter()
        .map(|c| c.program_info("prog_xdp").unwrap().tag)
        .collect();
    assert_eq!(tags.len(), 1, "the same instructions in every instance");
    drop(all);
    assert_eq!(open_fds(), fds);
}

#[test]
fn a_program_the_verifier_rejects_comes_back_with_its_log() {
    let Some(_serial) = kernel() else { return };
    let mut spec = fixture("globals.bpfel.o");
    let mut bad = trivial("bad_read");
    // r0 = *(u64 *)(r2 + 0): r2 was never written.
    bad.instructions
        .insert(0, Instruction::new(0x79, 0, 2, 0, 0));
    spec.programs.insert(bad.name.clone(), bad);
    let fds = open_fds();
    let e = Loader::new().load(&spec).unwrap_err();
    assert_eq!(e.program(), "bad_read");
    assert_eq!(e.step(), Some(Step::LoadProgram));
    assert_eq!(e.errno(), Some(libc::EACCES));
    let log = e.verifier_log().unwrap();
    let (index, line) = log.failing_instruction().unwrap();
    assert_eq!(index, 0);
    assert!(line.contains("r0 = *(u64 *)(r2 +0)"), "{line}");
    assert!(
        log.last_lines(3).iter().any(|l| l.contains("R2 !read_ok")),
        "{log:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.starts_with("program `bad_read`: loading the program failed"),
        "{msg}"
    );
    assert!(msg.contains("R2 !read_ok"), "{msg}");
    // The maps and the programs loaded before it are released (and the
    // loader, a temporary, took its BTF cache with it).
    assert_eq!(open_fds(), fds);
}

/// EINVAL from a verifier that ran (here: a GPL-only helper under another
/// license) is the verifier's refusal, with its log, not a complaint about
/// the load attributes; EINVAL without a log is.
#[test]
fn einval_says_whether_the_verifier_or_the_attributes_refused() {
    let Some(_serial) = kernel() else { return };
    let mut gpl_only = trivial("gpl_only");
    gpl_only.program_type = ProgramType::Kprobe;
    gpl_only.section = "kprobe/x".into();
    gpl_only.func_info.clear();
    gpl_only.line_info.clear();
    gpl_only.license = "Proprietary".into();
    // r1 = r10 - 8; r2 = 8; r3 = 0; call bpf_probe_read_kernel; r0 = 0; exit
    gpl_only.instructions = vec![
        Instruction::new(0xbf, 1, 10, 0, 0),
        Instruction::new(0x07, 1, 0, 0, -8),
        Instruction::new(0xb7, 2, 0, 0, 8),
        Instruction::new(0xb7, 3, 0, 0, 0),
        Instruction::new(0x85, 0, 0, 0, 113),
        Instruction::new(0xb7, 0, 0, 0, 0),
        Instruction::new(0x95, 0, 0, 0, 0),
    ];
    let mut spec = CollectionSpec::default();
    spec.programs.insert("gpl_only".into(), gpl_only.clone());
    let e = Loader::new().load(&spec).unwrap_err();
    let LoadError::Program { what, log, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");
    assert!(
        log.as_ref().unwrap().text().contains("GPL"),
        "{:?}",
        log.as_ref().map(|l| l.last_lines(3))
    );
    assert!(what.contains("the verifier rejected the program"), "{what}");
    assert!(!what.contains("load attributes"), "{what}");

    // The same under GPL loads.
    gpl_only.license = "GPL".into();
    spec.programs.insert("gpl_only".into(), gpl_only);
    Loader::new().load(&spec).unwrap();

    // An attach type this program type cannot have: refused before the
    // verifier runs, without a log.
    let mut wrong = trivial("wrong");
    wrong.program_type = ProgramType::CgroupSockAddr;
    wrong.attach_type = Some(ebpf_spec::AttachType::XdpDevmap);
    wrong.func_info.clear();
    wrong.line_info.clear();
    let mut spec = CollectionSpec::default();
    spec.programs.insert("wrong".into(), wrong);
    let e = Loader::new().load(&spec).unwrap_err();
    assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");
    assert!(e.to_string().contains("load attributes"), "{e}");
}

#[test]
fn a_log_longer_than_the_first_buffer_is_fetched_whole() {
    let Some(_serial) = kernel() else { return };
    let mut spec = CollectionSpec::default();
    let mut long = trivial("long_log");
    // 20,000 `r0 += 1` then a read through an unset register: the log
    // lists every instruction, more than the first 256 KiB buffer holds.
    let mut insns = vec![Instruction::new(0xb7, 0, 0, 0, 0)];
    insns.extend(std::iter::repeat_n(
        Instruction::new(0x07, 0, 0, 0, 1),
        20_000,
    ));
    insns.push(Instruction::new(0x79, 0, 3, 0, 0));
    insns.push(Instruction::new(0x95, 0, 0, 0, 0));
    long.instructions = insns;
    spec.programs.insert(long.name.clone(), long);
    let e = Loader::new().load(&spec).unwrap_err();
    let log = e.verifier_log().unwrap();
    assert!(log.text().len() > 256 * 1024, "{} bytes", log.text().len());
    assert!(!log.is_truncated());
    assert!(
        log.text().starts_with("func#0") || log.text().starts_with("0:"),
        "{}",
        &log.text()[..80]
    );
    assert_eq!(log.failing_instruction().unwrap().0, 20_001);
}

#[test]
fn errors_before_any_syscall_name_the_program() {
    let Some(_serial) = kernel() else { return };
    let fds = open_fds();
    let mut spec = fixture("programs.bpfel.o");
    spec.functions.remove("helper_leaf");
    let e = Loader::new().load(&spec).unwrap_err();
    assert_eq!(e.step(), Some(Step::Link));
    assert!(
        e.to_string()
            .contains("calls `helper_leaf`, which the collection does not have"),
        "{e}"
    );

    let mut spec = fixture("globals.bpfel.o");
    spec.programs.get_mut("get_rate").unwrap().program_type = ProgramType::Unspec;
    let e = Loader::new().load(&spec).unwrap_err();
    assert!(
        matches!(e, LoadError::Program { ref program, .. } if program == "get_rate"),
        "{e:?}"
    );
    assert!(e.to_string().contains("set `program_type`"), "{e}");

    let mut spec = fixture("map_in_map.bpfel.o");
    spec.programs.remove("tail_y");
    let e = Loader::new().load(&spec).unwrap_err();
    assert!(e.to_string().contains("refers to program `tail_y`"), "{e}");
    assert_eq!(open_fds(), fds);
}

#[test]
fn a_socket_filter_attaches_through_aya_and_trims_datagrams() {
    use aya::programs::SocketFilter;
    use std::net::UdpSocket;
    let Some(_serial) = kernel() else { return };
    // A socket filter returns how many bytes of each packet to keep; get_rate
    // returns `sample_rate`, so the constant decides how much arrives.
    let fs = BpfFs::mount();
    let received = |rate: u32, pin: bool| -> usize {
        let mut spec = fixture("globals.bpfel.o");
        spec.set_variable("sample_rate", &rate.to_ne_bytes())
            .unwrap();
        let loader = if pin {
            // With a pin path, aya's info comes through a private pin.
            Loader::new().pin_path(fs.path())
        } else {
            Loader::new()
        };
        let coll = loader.load(&spec).unwrap();
        let info = coll.aya_program_info("get_rate").unwrap().unwrap();
        let filter = SocketFilter::from_program_info(info, "get_rate".into()).unwrap();
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        filter.attach(&rx).unwrap();
        tx.send_to(&[7u8; 100], rx.local_addr().unwrap()).unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 128];
        rx.recv(&mut buf).unwrap()
    };
    for pin in [false, true] {
        let (a, b) = (received(40, pin), received(60, pin));
        assert!(a < 100 && b < 100, "{a} {b}: the filter trimmed both");
        assert_eq!(b - a, 20, "20 more bytes kept for a rate 20 higher");
    }
    assert!(
        fs.pins().is_empty(),
        "the private pins are gone: {:?}",
        fs.pins()
    );
}

/// A pin path this process cannot pin into (here a bpffs remounted
/// read-only after the load) does not make `aya_program_info` fail: it
/// falls back to the walk of the kernel's programs.
#[test]
fn aya_program_info_walks_where_it_cannot_pin() {
    let Some(_serial) = kernel() else { return };
    let fs = BpfFs::mount();
    let coll = Loader::new()
        .pin_path(fs.path())
        .load(&fixture("globals.bpfel.o"))
        .unwrap();
    let status = std::process::Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(fs.path())
        .status()
        .unwrap();
    assert!(status.success(), "remount read-only");
    let info = coll.aya_program_info("get_rate").unwrap().unwrap();
    assert_eq!(info.id(), coll.program_info("get_rate").unwrap().id);
    assert!(fs.pins().is_empty(), "{:?}", fs.pins());
}

/// Tenants: `load_many` instances of the README's default object, each socket
/// filter attached (through aya) to its own socket, count only their own
/// socket's datagrams, in their own `.bss`, while they all run at once.
#[test]
fn instances_attached_to_their_own_sockets_count_only_their_own_traffic() {
    use aya::programs::SocketFilter;
    use std::net::UdpSocket;
    let Some(_serial) = kernel() else { return };
    let spec =
        CollectionSpec::from_elf(include_bytes!("../../examples/bpf/default.bpfel.o")).unwrap();
    let total = &spec.variables["total_packets"];
    let instances = Loader::new().load_many(&spec, 4).unwrap();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut attached = Vec::new();
    for coll in &instances {
        let info = coll.aya_program_info("sock_main").unwrap().unwrap();
        let filter = SocketFilter::from_program_info(info, "sock_main".into()).unwrap();
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        filter.attach(&rx).unwrap();
        attached.push((filter, rx));
    }
    // Instance i gets 3i + 1 datagrams, sent interleaved with the others'.
    let sends = |i: usize| 3 * i + 1;
    for round in 0..sends(instances.len() - 1) {
        for (i, (_, rx)) in attached.iter().enumerate() {
            if round < sends(i) {
                tx.send_to(&[round as u8; 64], rx.local_addr().unwrap())
                    .unwrap();
            }
        }
    }
    let mut buf = [0u8; 128];
    for (i, (_, rx)) in attached.iter().enumerate() {
        for _ in 0..sends(i) {
            // The filter keeps the whole datagram (it returns skb->len).
            assert_eq!(rx.recv(&mut buf).unwrap(), 64);
        }
    }
    for (i, coll) in instances.iter().enumerate() {
        let bytes = coll.variable(total).unwrap().unwrap().read();
        let counted = u64::from_ne_bytes(bytes.try_into().unwrap());
        assert_eq!(counted, sends(i) as u64, "instance {i} counted its own");
    }
}

/// A program that grows the packet by more than a little still gets its
/// result and packet back (the kernel fails the run with ENOSPC when the
/// packet outgrows the buffer given for it).
#[test]
fn test_run_returns_a_packet_the_program_grew() {
    let Some(_serial) = kernel() else { return };
    let mut grow = trivial("grow");
    grow.program_type = ProgramType::Xdp;
    grow.section = "xdp".into();
    grow.func_info.clear();
    grow.line_info.clear();
    // r2 = 1024; call bpf_xdp_adjust_tail(ctx, 1024); r0 = XDP_PASS; exit
    grow.instructions = vec![
        Instruction::new(0xb7, 2, 0, 0, 1024),
        Instruction::new(0x85, 0, 0, 0, 65),
        Instruction::new(0xb7, 0, 0, 0, 2),
        Instruction::new(0x95, 0, 0, 0, 0),
    ];
    let mut spec = CollectionSpec::default();
    spec.programs.insert("grow".into(), grow);
    let coll = Loader::new().load(&spec).unwrap();
    let run = coll.test_run("grow", &PACKET, 1).unwrap().unwrap();
    assert_eq!(run.retval, 2);
    assert_eq!(run.data.len(), PACKET.len() + 1024);
    assert_eq!(run.data[..PACKET.len()], PACKET);
}

/// Without a pin path, `aya_program_info` walks every program of the
/// system: programs another thread loads and unloads meanwhile (one of them
/// may vanish between the kernel listing its id and the walk opening it) are
/// no reason to fail.
#[test]
fn aya_program_info_is_found_while_other_programs_come_and_go() {
    let Some(_serial) = kernel() else { return };
    let spec = fixture("globals.bpfel.o");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let started = std::sync::Barrier::new(3);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut churn = CollectionSpec::default();
                churn.programs.insert("churn".into(), trivial("churn"));
                let loader = Loader::new();
                started.wait();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let many = loader.load_many(&churn, 64).unwrap();
                    drop(many);
                }
            });
        }
        started.wait();
        // Loaded while the others churn: programs with lower ids, which the
        // walk passes on its way to this one, vanish during the walks.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let coll = Loader::new().load(&spec).unwrap();
        let result = (0..1000).try_for_each(|i| {
            coll.aya_program_info("get_rate")
                .unwrap()
                .map(drop)
                .map_err(|e| format!("walk {i}: {e}"))
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        result.unwrap();
    });
}

#[test]
fn kconfig_externs_get_the_running_kernels_values() {
    let Some(_serial) = kernel() else { return };
    let spec = fixture("globals.bpfel.o");
    let kconfig = &spec.maps[".kconfig"];
    assert_eq!(kconfig.value_size, 8, "two 4-byte-aligned externs");
    let mut coll = Loader::new().load(&spec).unwrap();
    let map: Array<MapData, [u8; 8]> = coll
        .take_map(".kconfig")
        .unwrap()
        .unwrap()
        .try_into()
        .unwrap();
    let bytes = map.get(&0, 0).unwrap();
    let at = |name: &str| spec.variables[name].range();

    // LINUX_KERNEL_VERSION: KERNEL_VERSION(major, minor, patch) of uname -r.
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let nums: Vec<u32> = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(3)
        .map(|s| s.parse().unwrap())
        .collect();
    let code = (nums[0] << 16) | (nums[1] << 8) | nums[2].min(255);
    assert_eq!(bytes[at("LINUX_KERNEL_VERSION")], code.to_ne_bytes());
    // CONFIG_BPF_SYSCALL=y is 1 (bpf(2) works here, so it is set).
    assert_eq!(bytes[at("CONFIG_BPF_SYSCALL")], [1]);
    // The spec still holds zeros: the loader filled the kernel's values in
    // the create attributes only.
    assert!(
        spec.variables["LINUX_KERNEL_VERSION"]
            .value
            .iter()
            .all(|&b| b == 0)
    );
}

/// Whether `/proc/config.gz` is there to compare with; without it the test
/// prints why and passes, except under `CI`, whose kernel has it.
fn has_config_gz() -> bool {
    if std::fs::metadata("/proc/config.gz").is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but /proc/config.gz is missing"
    );
    eprintln!("skipping: no /proc/config.gz to compare with");
    false
}

/// The running kernel's configuration, as its file says it (`CONFIG_X` to
/// `y`, a number, a quoted string).
fn kernel_config() -> std::collections::HashMap<String, String> {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open("/proc/config.gz").unwrap())
        .read_to_string(&mut text)
        .unwrap();
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `.kconfig` externs get what libbpf gives them, by their type: `y` as the
/// character in a char, 1 in an `enum libbpf_tristate` or a bool, numbers
/// and strings as the configuration has them, 0 for weak externs the kernel
/// lacks (a `CONFIG_` option or a `LINUX_` value libbpf does not know), and
/// libbpf's own `LINUX_HAS_BPF_COOKIE` and `LINUX_HAS_SYSCALL_WRAPPER`
/// (which `BPF_KSYSCALL` and USDT programs declare; the wrapper answer is
/// read from kallsyms, where libbpf opens a kprobe: on a kernel without
/// kprobes, like this project's test machine, libbpf says 0).
#[test]
fn kconfig_externs_hold_what_libbpf_gives_them_by_type() {
    let Some(_serial) = kernel() else { return };
    if !has_config_gz() {
        return;
    }
    let config = kernel_config();
    let spec = fixture("kconfig/kconfig.bpfel.o");
    assert!(spec.variables["CONFIG_NO_SUCH_OPTION_X"].weak);
    assert!(!spec.variables["CONFIG_HZ"].weak);
    let coll = Loader::new().load(&spec).unwrap();
    let run = |p: &str| coll.test_run(p, &PACKET, 1).unwrap().unwrap().retval;
    assert_eq!(config["CONFIG_BPF_SYSCALL"], "y");
    assert_eq!(run("kc_char"), u32::from(b'y'));
    assert_eq!(
        run("kc_tristate"),
        u32::from(config["CONFIG_BPF_JIT"] == "y")
    );
    assert_eq!(run("kc_bool"), 1);
    assert_eq!(run("kc_int"), config["CONFIG_HZ"].parse::<u32>().unwrap());
    let localversion = config["CONFIG_LOCALVERSION"]
        .trim_matches('"')
        .as_bytes()
        .to_vec();
    assert_eq!(
        run("kc_string"),
        u32::from(*localversion.get(1).unwrap_or(&0))
    );
    assert_eq!(run("kc_weak_unset"), 3);
    assert_eq!(run("kc_weak_linux"), 5);
    // This kernel (6.18) has bpf_get_attach_cookie, and x86-64 syscall
    // wrappers where it has syscalls in kallsyms.
    assert_eq!(run("kc_cookie"), 1);
    let kallsyms = std::fs::read_to_string("/proc/kallsyms").unwrap();
    let wrapper = kallsyms
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some("__x64_sys_bpf"));
    if cfg!(target_arch = "x86_64") {
        assert_eq!(run("kc_wrapper"), u32::from(wrapper));
    }
}

/// `LINUX_HAS_SYSCALL_WRAPPER` needs only the names `/proc/kallsyms` lists,
/// which a process without CAP_SYSLOG still sees (with every address 0):
/// the kconfig fixture loads in such a process, with the same answer. The
/// test runs itself again under `setpriv` without CAP_SYSLOG.
#[test]
fn the_syscall_wrapper_extern_needs_no_cap_syslog() {
    let Some(_serial) = kernel() else { return };
    let spec = fixture("kconfig/kconfig.bpfel.o");
    let wrapper = |coll: &ebpf_loader::Collection| {
        coll.test_run("kc_wrapper", &PACKET, 1)
            .unwrap()
            .unwrap()
            .retval
    };
    if std::env::var_os("NO_SYSLOG_CHILD").is_some() {
        let coll = Loader::new().load(&spec).unwrap();
        println!("wrapper={}", wrapper(&coll));
        return;
    }
    let expected = wrapper(&Loader::new().load(&spec).unwrap());
    let out = std::process::Command::new("setpriv")
        .args(["--bounding-set=-syslog", "--inh-caps=-syslog"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "the_syscall_wrapper_extern_needs_no_cap_syslog",
            "--exact",
            "--nocapture",
        ])
        .env("NO_SYSLOG_CHILD", "1")
        .output()
        .expect("setpriv (util-linux) runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("wrapper={expected}")), "{stdout}");
}

/// What libbpf refuses to fill, the loader refuses before any program is
/// loaded, naming the extern: a strong extern of an option the kernel does
/// not set, a value that does not fit its type, `y` into an int, a string
/// into an integer, a strong `LINUX_` extern libbpf does not provide.
#[test]
fn kconfig_externs_libbpf_refuses_are_refused_naming_them() {
    let Some(_serial) = kernel() else { return };
    if !has_config_gz() {
        return;
    }
    let cases = [
        (
            "strong_unset",
            "CONFIG_NO_SUCH_OPTION_X",
            "not set in the running kernel",
        ),
        ("out_of_range", "CONFIG_HZ", "does not fit in 1 bytes"),
        (
            "y_into_int",
            "CONFIG_BPF_SYSCALL",
            "needs a bool, tristate or char type",
        ),
        (
            "string_into_int",
            "CONFIG_LOCALVERSION",
            "needs a char array type",
        ),
        (
            "unknown_linux",
            "LINUX_HAS_SOMETHING_NEW",
            "no value libbpf provides",
        ),
    ];
    let fds = open_fds();
    for (object, name, why) in cases {
        let spec = fixture(&format!("kconfig/refused/{object}.bpfel.o"));
        let e = Loader::new().load(&spec).unwrap_err();
        assert!(
            matches!(&e, LoadError::Invalid { map, .. } if map == ".kconfig"),
            "{object}: {e:?}"
        );
        let text = e.to_string();
        assert!(
            text.contains(&format!("`{name}`")) && text.contains(why),
            "{object}: {text}"
        );
    }
    assert_eq!(open_fds(), fds);
}

#[test]
fn func_info_and_line_info_reach_the_kernel() {
    let Some(_serial) = kernel() else { return };
    let mut spec = fixture("programs.bpfel.o");
    for (p, _) in refused_program_types(&spec) {
        spec.programs.remove(&p);
    }
    let coll = Loader::new().load(&spec).unwrap();
    for p in spec.programs.values() {
        assert!(!p.func_info.is_empty());
        assert_ne!(coll.program_info(&p.name).unwrap().btf_id, 0, "{}", p.name);
    }
    let coll = Loader::new().load(&fixture("no_btf.bpfel.o")).unwrap();
    for name in coll.program_names() {
        assert_eq!(coll.program_info(name).unwrap().btf_id, 0);
    }

    // With line info, the verifier's log quotes the source.
    let mut spec = fixture("globals.bpfel.o");
    let p = spec.programs.get_mut("get_array").unwrap();
    // Read the 4-byte value at offset 4 instead of 0: past its end.
    let read = p
        .instructions
        .iter()
        .position(|i| i.code == 0x61 && i.off == 0)
        .expect("a 4-byte load of the map value");
    p.instructions[read].off = 4;
    let e = Loader::new().load(&spec).unwrap_err();
    let log = e.verifier_log().unwrap();
    assert!(
        log.text().contains("invalid access to map value"),
        "{}",
        log.text()
    );
    assert!(log.text().contains("@ globals.bpf.c:"), "{}", log.text());
    assert!(
        log.text().contains("bpf_map_lookup_elem(&values, &key)"),
        "{}",
        log.text()
    );
}

#[test]
fn a_tracing_program_attaches_to_a_function_of_another_bpf_program() {
    let Some(_serial) = kernel() else { return };
    // The target: libxdp's xdpdump XDP program, loaded with its BTF.
    let target = Loader::new()
        .load(&fixture("libxdp/xdpdump_xdp.o"))
        .unwrap();
    let fd = || {
        target
            .program_fd("xdpdump")
            .unwrap()
            .try_clone_to_owned()
            .unwrap()
    };

    // What cannot work is refused when the target is named.
    let e = Loader::new()
        .attach_to_program("trace_on_entry", fd(), "no_such_function")
        .unwrap_err();
    assert_eq!(e.step(), Some(Step::AttachTarget));
    assert!(
        e.to_string().contains("has no function `no_such_function`"),
        "{e}"
    );
    let plain = Loader::new().load(&fixture("no_btf.bpfel.o")).unwrap();
    let e = Loader::new()
        .attach_to_program(
            "trace_on_entry",
            plain
                .program_fd("nobtf_prog")
                .unwrap()
                .try_clone_to_owned()
                .unwrap(),
            "f",
        )
        .unwrap_err();
    assert!(e.to_string().contains("was loaded without BTF"), "{e}");
    let e = Loader::new()
        .attach_to_program("get_rate", fd(), "xdpdump")
        .unwrap()
        .load(&fixture("globals.bpfel.o"))
        .unwrap_err();
    assert!(
        e.to_string().contains("cannot attach to another program"),
        "{e}"
    );

    // xdpdump's tracers (fentry/func, fexit/func): without a target, the
    // error says how to name one; with it, they load where the kernel
    // allows BPF trampolines.
    let mut spec = fixture("libxdp/xdpdump_bpf.o");
    let e = Loader::new().load(&spec).unwrap_err();
    assert!(e.to_string().contains("Loader::attach_to_program"), "{e}");
    let loader = Loader::new()
        .attach_to_program("trace_on_entry", fd(), "xdpdump")
        .unwrap()
        .attach_to_program("trace_on_exit", fd(), "xdpdump")
        .unwrap();
    // Whether this kernel loads fentry programs at all (a kernel function
    // target, as the probe needs none of ours).
    let refused: Vec<_> = refused_program_types(&fixture("programs.bpfel.o"))
        .into_iter()
        .filter(|(p, _)| p == "prog_fentry")
        .collect();
    match loader.load(&spec) {
        Ok(c) => {
            for p in ["trace_on_entry", "trace_on_exit"] {
                assert!(c.program_info(p).unwrap().attach_btf_id > 0);
            }
        }
        Err(e) => {
            // This kernel refuses every fentry/fexit program before
            // verifying it (see refused_program_types): the same EPERM.
            assert!(!refused.is_empty(), "{e}");
            assert_eq!(e.errno(), Some(libc::EPERM), "{e}");
            assert_eq!(e.step(), Some(Step::LoadProgram));
            eprintln!("xdpdump's tracers: {}", refused[0].1);
        }
    }
    spec.programs.clear();
    assert!(loader.load(&spec).is_ok(), "the maps alone load");
}

/// A hidden global sub-program (libbpf's `__hidden`) is verified in its
/// caller's context, as libbpf has it (its BTF FUNC is made static): there
/// its pointer argument is a stack slot. Verified on its own, as a global
/// function is, the read through a pointer that may be NULL was refused
/// ("R1 invalid mem access"). The hidden global variable works as any.
#[test]
fn a_hidden_global_function_is_verified_in_its_callers_context() {
    let Some(_serial) = kernel() else { return };
    let spec = fixture("hidden/hidden.bpfel.o");
    let coll = Loader::new().load(&spec).unwrap();
    // `read_it(&len) + add_one(0)` for a 64-byte packet, whose `skb->len`
    // is 50 once the kernel has pulled its 14-byte Ethernet header.
    let run = coll
        .test_run("hidden_caller", &[0u8; 64], 2)
        .unwrap()
        .unwrap();
    assert_eq!(run.retval, 51);
    let mut count = [0u8; 4];
    coll.variable(&spec.variables["hidden_counter"])
        .unwrap()
        .unwrap()
        .read_into(&mut count)
        .unwrap();
    assert_eq!(u32::from_ne_bytes(count), 2);
}

/// A kernel enum made by hand as `Unknown(n)` with a number the library
/// knows is that variant to the loader too (it equals it): the programs
/// load, and a map's refusal names the kernel's rule for its type.
#[test]
fn hand_made_unknown_types_are_their_variants() {
    let Some(_serial) = kernel() else { return };
    let mut spec = fixture("globals.bpfel.o");
    for p in spec.programs.values_mut() {
        p.program_type = ebpf_spec::ProgramType::Unknown(p.program_type.raw());
    }
    let coll = Loader::new().load(&spec).unwrap();
    assert!(coll.test_run("get_rate", &[0u8; 64], 1).unwrap().is_ok());
    let map = ebpf_spec::MapSpec::new("m", ebpf_spec::MapType::Unknown(2), 8, 4, 1);
    let e = Loader::new().create_map(&map).unwrap_err();
    assert!(
        e.to_string()
            .contains("the kernel's rule for a array: key_size must be 4"),
        "{e}"
    );
}
