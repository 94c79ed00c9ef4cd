//! struct_ops maps against the real kernel: the fixture's two TCP congestion
//! controls (one registered by its map's value, one through a BPF link),
//! used by a real TCP connection, then unregistered.

mod common;

use common::{fixture, kernel, open_fds};
use ebpf_loader::{LoadError, Loader, Step};
use ebpf_spec::CollectionSpec;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};

/// The fixture without `unused_ssthresh`, the struct_ops program no map
/// refers to (which makes the load fail: see
/// `a_struct_ops_program_no_map_refers_to_is_refused_by_name`).
fn spec() -> CollectionSpec {
    let mut spec = fixture("struct_ops/struct_ops.bpfel.o");
    spec.programs.remove("unused_ssthresh").unwrap();
    spec
}

/// The congestion controls the kernel lists in `file`
/// (`tcp_available_congestion_control` or `tcp_allowed_congestion_control`).
fn listed(file: &str) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/sys/net/ipv4/{file}"))
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn available(name: &str) -> bool {
    listed("tcp_available_congestion_control")
        .iter()
        .any(|n| n == name)
}

/// Connects over loopback with congestion control `ca` set on the client
/// socket before it connects (the kernel then calls the structure's `init`),
/// sends a few bytes, and returns the congestion control the connected
/// socket reports.
fn connect_with(ca: &str) -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    // SAFETY: plain socket calls on a descriptor this function owns.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    assert!(fd >= 0);
    // SAFETY: `fd` is a new socket nobody else owns.
    let stream = unsafe { <TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // SAFETY: the option value is a live buffer of the length passed.
    let set = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            ca.as_ptr().cast(),
            ca.len() as libc::socklen_t,
        )
    };
    if set != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `sin` is a valid sockaddr_in of the length passed.
    let r = unsafe {
        libc::connect(
            fd,
            (&sin as *const libc::sockaddr_in).cast(),
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let (mut server, _) = listener.accept()?;
    let mut client = stream;
    client.write_all(b"ping")?;
    let mut buf = [0u8; 4];
    server.read_exact(&mut buf)?;
    assert_eq!(&buf, b"ping");
    let mut name = [0u8; 16];
    let mut len = name.len() as libc::socklen_t;
    // SAFETY: `name` is a live buffer of `len` bytes.
    let got = unsafe {
        libc::getsockopt(
            client.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            name.as_mut_ptr().cast(),
            &mut len,
        )
    };
    assert_eq!(got, 0, "{}", std::io::Error::last_os_error());
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    Ok(String::from_utf8_lossy(&name[..end]).into_owned())
}

#[test]
fn both_congestion_controls_register_carry_traffic_and_unregister() {
    let Some(_serial) = kernel() else { return };
    let spec = spec();
    assert!(
        !available("spec_ca") && !available("spec_ca_link"),
        "left over from a crash?"
    );
    let fds = open_fds();
    {
        let coll = Loader::new().load(&spec).unwrap();
        let programs: Vec<&str> = coll.program_names().collect();
        assert_eq!(
            programs,
            [
                "spec_cong_avoid",
                "spec_init",
                "spec_ssthresh",
                "spec_undo_cwnd",
                "static_ssthresh",
                "static_undo_cwnd"
            ]
        );
        // The optional map (`?.struct_ops.link`) is not created, nor is
        // `new_ssthresh`, which only it refers to.
        assert!(coll.map_fd("spec_ca_new").is_none());
        assert_eq!(coll.map_names().count(), 3);
        assert!(coll.attach_struct_ops("spec_ca_new").is_none());
        // Loading registers nothing.
        assert!(!available("spec_ca"));

        // `.struct_ops`: writing the value registers it.
        let ca = coll.attach_struct_ops("spec_ca").unwrap().unwrap();
        assert_eq!(ca.map_name(), "spec_ca");
        assert!(ca.link_fd().is_none());
        assert!(available("spec_ca"));
        // `flags` (TCP_CONG_NON_RESTRICTED) sits at another offset in the
        // kernel's struct than in the object's: copied by member name, it
        // makes the kernel allow the algorithm to every user.
        assert!(listed("tcp_allowed_congestion_control").contains(&"spec_ca".to_owned()));
        // A real connection runs on it.
        assert_eq!(connect_with("spec_ca").unwrap(), "spec_ca");

        // `.struct_ops.link`: registered through a link.
        let link = coll.attach_struct_ops("spec_ca_link").unwrap().unwrap();
        assert!(link.link_fd().is_some());
        assert!(available("spec_ca_link"));
        // Its flags are 0: restricted to CAP_NET_ADMIN (we are root).
        assert!(!listed("tcp_allowed_congestion_control").contains(&"spec_ca_link".to_owned()));
        assert_eq!(connect_with("spec_ca_link").unwrap(), "spec_ca_link");

        // A flavoured type (`tcp_congestion_ops___v2`) is the kernel's
        // `tcp_congestion_ops`; its `ssthresh` and `undo_cwnd` are static
        // programs of one section.
        let v2 = coll.attach_struct_ops("spec_ca_v2").unwrap().unwrap();
        assert!(available("spec_ca_v2"));
        assert_eq!(connect_with("spec_ca_v2").unwrap(), "spec_ca_v2");
        drop(v2);
        assert!(!available("spec_ca_v2"));

        // Not a struct_ops map, or no such map.
        assert!(coll.attach_struct_ops("spec_init").is_none());
        assert!(coll.attach_struct_ops("nope").is_none());

        drop(ca);
        assert!(!available("spec_ca"), "dropping the attachment unregisters");
        drop(link);
        assert!(!available("spec_ca_link"), "closing the link unregisters");

        // The kernel registers a `.struct_ops` map once in its life ...
        let e = coll.attach_struct_ops("spec_ca").unwrap().unwrap_err();
        assert_eq!(e.errno(), Some(libc::EBUSY), "{e}");
        assert!(e.to_string().contains("value is written once"), "{e}");
        assert!(!available("spec_ca"));
        // ... and a `.struct_ops.link` one as often as it is linked.
        let again = coll.attach_struct_ops("spec_ca_link").unwrap().unwrap();
        assert!(available("spec_ca_link"));
        drop(again);
        assert!(!available("spec_ca_link"));
    }
    assert_eq!(open_fds(), fds, "no fd left behind");
}

#[test]
fn a_second_registration_of_one_name_is_refused_with_the_kernels_errno() {
    let Some(_serial) = kernel() else { return };
    let spec = spec();
    let fds = open_fds();
    {
        let colls = Loader::new().load_many(&spec, 2).unwrap();
        let first = colls[0].attach_struct_ops("spec_ca").unwrap().unwrap();
        let e = colls[1].attach_struct_ops("spec_ca").unwrap().unwrap_err();
        let LoadError::Syscall {
            map, step, source, ..
        } = &e
        else {
            panic!("{e:?}")
        };
        assert_eq!(map, "spec_ca");
        assert_eq!(*step, Step::RegisterStructOps);
        assert_eq!(source.raw_os_error(), Some(libc::EEXIST), "{e}");
        assert!(e.to_string().contains("registering the struct_ops"), "{e}");
        assert!(e.to_string().contains("registered already"), "{e}");
        drop(first);
        // The name is free again: the second instance registers.
        let second = colls[1].attach_struct_ops("spec_ca").unwrap().unwrap();
        assert!(available("spec_ca"));
        drop(second);
        assert!(!available("spec_ca"));
    }
    assert_eq!(open_fds(), fds, "no fd left behind");
}

#[test]
fn each_instance_registers_under_a_name_of_its_own() {
    let Some(_serial) = kernel() else { return };
    let fds = open_fds();
    {
        // One copy of the spec per tenant, each with its own name.
        let specs: Vec<CollectionSpec> = (0..3)
            .map(|i| {
                let mut copy = spec().copy();
                let mut name = [0u8; 16];
                let tenant = format!("spec_tenant{i}");
                name[..tenant.len()].copy_from_slice(tenant.as_bytes());
                copy.set_struct_ops_member("spec_ca", "name", &name)
                    .unwrap();
                copy
            })
            .collect();
        let loader = Loader::new();
        let colls: Vec<_> = specs.iter().map(|s| loader.load(s).unwrap()).collect();
        let attached: Vec<_> = colls
            .iter()
            .map(|c| c.attach_struct_ops("spec_ca").unwrap().unwrap())
            .collect();
        for i in 0..3 {
            let name = format!("spec_tenant{i}");
            assert!(available(&name), "{name}");
            assert_eq!(connect_with(&name).unwrap(), name);
        }
        drop(attached);
        assert!((0..3).all(|i| !available(&format!("spec_tenant{i}"))));
    }
    assert_eq!(open_fds(), fds, "no fd left behind");
}

/// The id of the struct_ops map a BPF link holds, from the kernel.
fn linked_map_id(link: std::os::fd::BorrowedFd<'_>) -> u32 {
    use aya_obj::generated::{bpf_cmd, bpf_link_info};
    use common::bpf_raw::{bpf, zeroed};
    // SAFETY: bpf_link_info is plain integers; all-zero is a valid value.
    let mut info: bpf_link_info = unsafe { std::mem::zeroed() };
    let mut attr = zeroed();
    // SAFETY: plain fields of the zeroed union's info member; `info`
    // outlives the call and is as long as said.
    let i = unsafe { &mut attr.info };
    i.bpf_fd = link.as_raw_fd() as u32;
    i.info_len = size_of::<bpf_link_info>() as u32;
    i.info = (&mut info as *mut bpf_link_info) as u64;
    bpf(bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, &mut attr).unwrap();
    // SAFETY: the kernel filled the struct_ops member for a struct_ops link.
    unsafe { info.__bindgen_anon_1.struct_ops.map_id }
}

#[test]
fn a_link_moves_to_a_new_version_without_a_gap() {
    let Some(_serial) = kernel() else { return };
    let fds = open_fds();
    {
        let loader = Loader::new();
        let (old, new) = (loader.load(&spec()).unwrap(), loader.load(&spec()).unwrap());
        let mut attached = old.attach_struct_ops("spec_ca_link").unwrap().unwrap();
        let id = |c: &ebpf_loader::Collection| c.map_id("spec_ca_link").unwrap().unwrap();
        let link = || linked_map_id(attached.link_fd().unwrap());
        assert_eq!(link(), id(&old));

        attached.update(&new, "spec_ca_link").unwrap();
        assert_eq!(linked_map_id(attached.link_fd().unwrap()), id(&new));
        assert!(available("spec_ca_link"));
        // The old version can go: the link holds the new one.
        drop(old);
        assert_eq!(connect_with("spec_ca_link").unwrap(), "spec_ca_link");

        // A `.struct_ops` (not link) map is refused before its value is
        // written (which would register it), and changes nothing.
        let other = loader.load(&spec()).unwrap();
        let e = attached.update(&other, "spec_ca").unwrap_err();
        assert!(e.to_string().contains("only a .struct_ops.link map"), "{e}");
        assert!(!available("spec_ca"));
        assert_eq!(linked_map_id(attached.link_fd().unwrap()), id(&new));
        // The kernel's rule for TCP congestion controls: the same name.
        let e = attached.update(&other, "spec_ca_v2").unwrap_err();
        assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");
        assert!(!available("spec_ca_v2"));
        assert_eq!(linked_map_id(attached.link_fd().unwrap()), id(&new));
        let e = attached.update(&other, "nope").unwrap_err();
        assert!(e.to_string().contains("no such struct_ops map"), "{e}");
        attached.update(&other, "spec_ca_link").unwrap();
        assert_eq!(linked_map_id(attached.link_fd().unwrap()), id(&other));
        assert_eq!(attached.map_name(), "spec_ca_link");

        // A registration without a link does not move.
        let mut plain = other.attach_struct_ops("spec_ca").unwrap().unwrap();
        let e = plain.update(&new, "spec_ca").unwrap_err();
        assert!(e.to_string().contains("only a link moves"), "{e}");
        drop(plain);
        drop(attached);
        assert!(!available("spec_ca_link") && !available("spec_ca"));
    }
    assert_eq!(open_fds(), fds, "no fd left behind");
}

/// The struct_ops value of map `name` in `spec`, to edit.
fn ops<'s>(spec: &'s mut CollectionSpec, name: &str) -> &'s mut ebpf_spec::StructOps {
    spec.maps.get_mut(name).unwrap().struct_ops_mut().unwrap()
}

#[test]
fn what_the_kernel_cannot_take_is_refused_before_any_syscall_naming_it() {
    let Some(_serial) = kernel() else { return };
    let fds = open_fds();
    let invalid = |spec: &CollectionSpec| match Loader::new().load(spec).unwrap_err() {
        LoadError::Invalid { map, what } => (map, what),
        e => panic!("{e:?}"),
    };

    let mut spec = spec();
    ops(&mut spec, "spec_ca").type_name = "no_such_ops".into();
    let (map, what) = invalid(&spec);
    assert_eq!(map, "spec_ca");
    assert!(what.contains("no struct `no_such_ops`"), "{what}");

    let mut spec = self::spec();
    ops(&mut spec, "spec_ca")
        .programs
        .insert("no_such_member".into(), "spec_init".into());
    let (map, what) = invalid(&spec);
    assert_eq!(map, "spec_ca");
    assert!(what.contains("no member `no_such_member`"), "{what}");

    // One program for two members of the kernel's struct.
    let mut spec = self::spec();
    ops(&mut spec, "spec_ca")
        .programs
        .insert("undo_cwnd".into(), "spec_ssthresh".into());
    let (_, what) = invalid(&spec);
    assert!(
        what.contains("spec_ca.ssthresh") && what.contains("spec_ca.undo_cwnd"),
        "{what}"
    );

    let mut spec = self::spec();
    ops(&mut spec, "spec_ca")
        .programs
        .insert("init".into(), "no_such_program".into());
    let (_, what) = invalid(&spec);
    assert!(what.contains("program `no_such_program`"), "{what}");

    // A function pointer holding bytes but no program (`init` is at 0 in
    // the object's struct).
    let mut spec = self::spec();
    let ops = ops(&mut spec, "spec_ca");
    ops.programs.remove("init");
    ops.data[..8].copy_from_slice(&0x1234u64.to_ne_bytes());
    let (_, what) = invalid(&spec);
    assert!(
        what.contains("member `init` holds a value but no program"),
        "{what}"
    );

    // Pinning by name is refused where it would be acted on: with a pin
    // path. Without one, `Pinning::ByName` means nothing, as for any map.
    let mut spec = self::spec();
    spec.maps.get_mut("spec_ca").unwrap().pinning = ebpf_spec::Pinning::ByName;
    let fs = common::BpfFs::mount();
    match Loader::new().pin_path(fs.path()).load(&spec).unwrap_err() {
        LoadError::Invalid { map, what } => {
            assert_eq!(map, "spec_ca");
            assert!(what.contains("cannot be pinned"), "{what}");
        }
        e => panic!("{e:?}"),
    }
    assert!(fs.pins().is_empty());
    let coll = Loader::new().load(&spec).unwrap();
    assert!(coll.map_fd("spec_ca").is_some());
    drop(coll);

    let other = Loader::new().create_map(&ebpf_spec::MapSpec::new(
        "other",
        ebpf_spec::MapType::Array,
        4,
        4,
        1,
    ));
    let fd = other.unwrap().fd().as_fd().try_clone_to_owned().unwrap();
    let loader = Loader::new().replace_map("spec_ca", fd);
    match loader.load(&self::spec()).unwrap_err() {
        LoadError::Invalid { map, what } => {
            assert_eq!(map, "spec_ca");
            assert!(what.contains("or replaced"), "{what}");
        }
        e => panic!("{e:?}"),
    }
    drop(loader);

    // A struct_ops program told to attach to another BPF program.
    let coll = Loader::new().load(&self::spec()).unwrap();
    let target = coll
        .program_fd("spec_init")
        .unwrap()
        .try_clone_to_owned()
        .unwrap();
    let loader = Loader::new()
        .attach_to_program("spec_init", target, "spec_init")
        .unwrap();
    match loader.load(&self::spec()).unwrap_err() {
        LoadError::Program { program, what, .. } => {
            assert_eq!(program, "spec_init");
            assert!(what.contains("not to another program"), "{what}");
        }
        e => panic!("{e:?}"),
    }
    drop((loader, coll));

    // Asked for, the optional map is one this kernel cannot take.
    let mut spec = self::spec();
    spec.maps.get_mut("spec_ca_new").unwrap().autocreate = true;
    let (map, what) = invalid(&spec);
    assert_eq!(map, "spec_ca_new");
    assert!(
        what.contains("member `does_not_exist` is set, but the kernel's `tcp_congestion_ops` has no such member"),
        "{what}"
    );

    // A struct_ops map on its own has nothing to take its programs from.
    let e = Loader::new()
        .create_map(&spec.maps["spec_ca_link"])
        .unwrap_err();
    assert!(e.to_string().contains("whole collection"), "{e}");
    assert_eq!(open_fds(), fds, "no fd left behind");
}

#[test]
fn a_struct_ops_program_no_map_refers_to_is_refused_by_name() {
    let Some(_serial) = kernel() else { return };
    let fds = open_fds();
    // As libbpf: it would have nothing to attach to.
    let e = Loader::new()
        .load(&fixture("struct_ops/struct_ops.bpfel.o"))
        .unwrap_err();
    let LoadError::Program {
        program,
        step,
        what,
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(program, "unused_ssthresh");
    assert_eq!(*step, Step::AttachTarget);
    assert!(
        what.contains("no struct_ops map of the collection sets a member"),
        "{what}"
    );
    assert!(what.contains("set its autoload to false"), "{what}");
    assert_eq!(open_fds(), fds, "no fd left behind");
}

/// libbpf's rule: a struct_ops program that maps refer to loads exactly when
/// one of them is created, whatever its own autoload; any other loads when
/// its autoload is set (`SEC("?struct_ops/...")` clears it).
#[test]
fn a_struct_ops_programs_maps_decide_whether_it_loads() {
    let Some(_serial) = kernel() else { return };
    let fds = open_fds();
    let mut spec = fixture("struct_ops/struct_ops.bpfel.o");
    spec.programs.get_mut("unused_ssthresh").unwrap().autoload = false;
    spec.programs.get_mut("spec_init").unwrap().autoload = false;
    let coll = Loader::new().load(&spec).unwrap();
    let loaded: Vec<_> = coll.program_names().collect();
    assert!(!loaded.contains(&"unused_ssthresh"), "{loaded:?}");
    assert!(
        loaded.contains(&"spec_init"),
        "spec_ca, a created map, refers to it: {loaded:?}"
    );
    assert!(
        !loaded.contains(&"new_ssthresh"),
        "only spec_ca_new, not created, refers to it: {loaded:?}"
    );
    drop(coll);
    assert_eq!(open_fds(), fds);
}

/// The fixture with `spec_ca_new` created and its `does_not_exist` member
/// zeroed and set to `unused_ssthresh`: a callback this kernel lacks, whose
/// program nothing else uses.
fn with_left_out_callback() -> CollectionSpec {
    let mut spec = fixture("struct_ops/struct_ops.bpfel.o");
    spec.maps.get_mut("spec_ca_new").unwrap().autocreate = true;
    spec.set_struct_ops_member("spec_ca_new", "does_not_exist", &[0; 4])
        .unwrap();
    ops(&mut spec, "spec_ca_new")
        .programs
        .insert("does_not_exist".into(), "unused_ssthresh".into());
    spec
}

/// libbpf's rule for a callback the running kernel lacks: left out of the
/// map while its bytes are zero, program and all, so one object runs on
/// kernels with and without it. Its program loads only if another created
/// map uses it. (Here `spec_ca_new`'s `does_not_exist`, zeroed and given a
/// program, stands for such a callback.)
#[test]
fn a_callback_the_kernel_lacks_is_left_out_with_its_program() {
    let Some(_serial) = kernel() else { return };
    let fds = open_fds();
    let mut spec = with_left_out_callback();
    let coll = Loader::new().load(&spec).unwrap();
    let loaded: Vec<_> = coll.program_names().collect();
    assert!(
        !loaded.contains(&"unused_ssthresh"),
        "only the left-out callback uses it: {loaded:?}"
    );
    assert!(loaded.contains(&"new_ssthresh"), "{loaded:?}");
    {
        let link = coll.attach_struct_ops("spec_ca_new").unwrap().unwrap();
        assert!(available("spec_ca_new"));
        assert_eq!(connect_with("spec_ca_new").unwrap(), "spec_ca_new");
        drop(link);
    }
    assert!(!available("spec_ca_new"));
    drop(coll);

    // Also set in spec_ca, a created map whose kernel struct has the member
    // (`ssthresh`): then it loads.
    ops(&mut spec, "spec_ca")
        .programs
        .insert("ssthresh".into(), "unused_ssthresh".into());
    let coll = Loader::new().load(&spec).unwrap();
    assert!(coll.program_fd("unused_ssthresh").is_some());
    drop(coll);
    assert_eq!(open_fds(), fds);
}

/// A prog-array slot naming a struct_ops program whose only callback was
/// left out (the kernel lacks the member) is refused, as for a `?` program,
/// rather than left empty.
#[test]
fn a_slot_naming_a_program_whose_callback_was_left_out_is_refused() {
    use ebpf_spec::{MapEntry, MapSpec, MapType, MapValue};
    let Some(_serial) = kernel() else { return };
    let fds = open_fds();
    let mut spec = with_left_out_callback();
    let mut jumps = MapSpec::new("jumps", MapType::ProgArray, 4, 4, 2);
    jumps.contents.push(MapEntry {
        key: 0u32.to_ne_bytes().to_vec(),
        value: MapValue::Program("unused_ssthresh".into()),
    });
    spec.maps.insert("jumps".into(), jumps);
    let e = Loader::new().load(&spec).unwrap_err();
    assert!(matches!(e, LoadError::Invalid { .. }), "{e:?}");
    assert_eq!(e.map(), "jumps");
    assert!(
        e.to_string().contains(
            "a slot refers to program `unused_ssthresh`, which is not loaded (no created \
             struct_ops map uses it: the maps naming it are not created, or the running \
             kernel lacks the callback, which is then left out)"
        ),
        "{e}"
    );
    assert_eq!(open_fds(), fds);
}
