//! struct_ops maps in the spec: `.struct_ops` and `.struct_ops.link`
//! variables read as maps whose one value is the structure of callbacks,
//! with its type's name, its bytes and the programs its function pointers
//! refer to, in both byte orders.

mod common;

use common::{Layout, fixture, put};
use ebpf_spec::btf::{Btf, Kind, TypeData};
use ebpf_spec::{
    ByteOrder, CollectionSpec, MapFlags, MapType, MapValue, ParseError, Pinning, ProgramType,
    StructOps,
};

const OBJECTS: [(&str, ByteOrder); 2] = [
    ("struct_ops/struct_ops.bpfel.o", ByteOrder::Little),
    ("struct_ops/struct_ops.bpfeb.o", ByteOrder::Big),
];

fn ops(spec: &CollectionSpec, map: &str) -> StructOps {
    match &spec.maps[map].contents[..] {
        [entry] => {
            assert_eq!(entry.key, [0; 4], "{map}: key 0");
            match &entry.value {
                MapValue::StructOps(ops) => ops.clone(),
                other => panic!("{map}: {other:?}"),
            }
        }
        other => panic!("{map}: {other:?}"),
    }
}

/// A struct_ops map as the fixture defines it: name, whether it is in
/// `.struct_ops.link`, its type, its flags and its programs by member.
type Expected = (
    &'static str,
    bool,
    &'static str,
    u32,
    &'static [(&'static str, &'static str)],
);

/// The byte offset of member `name` of struct `id` in the object's BTF.
fn member_offset(btf: &Btf, id: u32, name: &str) -> usize {
    let TypeData::Struct(members) = btf.ty(id).unwrap().data() else {
        panic!("type {id} is not a struct")
    };
    let m = members.iter().find(|m| m.name == Some(name)).unwrap();
    m.bit_offset as usize / 8
}

#[test]
fn both_sections_become_struct_ops_maps_with_every_field() {
    for (object, order) in OBJECTS {
        let bytes = fixture(object);
        let spec = CollectionSpec::from_elf(&bytes).unwrap();
        assert_eq!(spec.byte_order, order);
        let btf = Btf::parse(&spec.btf.as_ref().unwrap().btf, order).unwrap();
        // The object's structs: 8-byte init, name[16], flags, padding, three
        // function pointers; and a flavour without init and flags.
        let local = btf.find("tcp_congestion_ops", Kind::Struct).unwrap();
        assert_eq!(btf.size_of(local).unwrap(), 56);
        let v2 = btf.find("tcp_congestion_ops___v2", Kind::Struct).unwrap();
        assert_eq!(btf.size_of(v2).unwrap(), 40);

        let maps: [Expected; 4] = [
            (
                "spec_ca",
                false,
                "tcp_congestion_ops",
                1,
                &[
                    ("cong_avoid", "spec_cong_avoid"),
                    ("init", "spec_init"),
                    ("ssthresh", "spec_ssthresh"),
                    ("undo_cwnd", "spec_undo_cwnd"),
                ],
            ),
            (
                "spec_ca_link",
                true,
                "tcp_congestion_ops",
                0,
                &[
                    ("cong_avoid", "spec_cong_avoid"),
                    ("ssthresh", "spec_ssthresh"),
                    ("undo_cwnd", "spec_undo_cwnd"),
                ],
            ),
            (
                "spec_ca_new",
                true,
                "tcp_congestion_ops___new",
                0,
                &[
                    ("cong_avoid", "spec_cong_avoid"),
                    ("ssthresh", "new_ssthresh"),
                    ("undo_cwnd", "spec_undo_cwnd"),
                ],
            ),
            (
                "spec_ca_v2",
                true,
                "tcp_congestion_ops___v2",
                0,
                &[
                    ("cong_avoid", "spec_cong_avoid"),
                    // Static programs of one section: relocated against it,
                    // the offset in the addend.
                    ("ssthresh", "static_ssthresh"),
                    ("undo_cwnd", "static_undo_cwnd"),
                ],
            ),
        ];
        assert_eq!(spec.maps.len(), maps.len(), "{object}");
        for (map, link, ty, flags, programs) in maps {
            let id = btf.find(ty, Kind::Struct).unwrap();
            let size = btf.size_of(id).unwrap();
            let m = &spec.maps[map];
            assert_eq!(m.name, map);
            assert_eq!(m.map_type, MapType::StructOps, "{object} {map}");
            assert_eq!((m.key_size, m.value_size, m.max_entries), (4, size, 1));
            let want = if link {
                MapFlags::LINK
            } else {
                MapFlags::empty()
            };
            assert_eq!(m.flags, want, "{object} {map}");
            assert_eq!(m.btf_value_type_id, id, "{object} {map}");
            assert_eq!(m.btf_key_type_id, 0);
            assert_eq!(m.pinning, Pinning::None);
            assert!(m.inner_map.is_none() && !m.freeze);
            assert_eq!((m.numa_node, m.map_extra), (0, 0));
            // Only the map of `?.struct_ops.link` waits to be asked for.
            assert_eq!(m.autocreate, map != "spec_ca_new", "{object} {map}");

            let ops = ops(&spec, map);
            assert_eq!(ops.type_name, ty);
            let got: Vec<(&str, &str)> = ops
                .programs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            assert_eq!(got, programs, "{object} {map}");
            assert_eq!(ops.data.len(), size as usize);
            // The plain members, in the object's layout and byte order.
            let at = member_offset(&btf, id, "name");
            let mut expected_name = [0u8; 16];
            expected_name[..map.len()].copy_from_slice(map.as_bytes());
            assert_eq!(ops.data[at..at + 16], expected_name, "{object} {map}");
            if id == local {
                let at = member_offset(&btf, id, "flags");
                assert_eq!(
                    ops.data[at..at + 4],
                    order.u32_bytes(flags),
                    "{object} {map}"
                );
            }
            // Function pointers are 0: `programs` says what they hold.
            for (member, _) in programs {
                let at = member_offset(&btf, id, member);
                assert_eq!(ops.data[at..at + 8], [0; 8], "{object} {map}.{member}");
            }
        }
        // Every struct_ops program is read, the one no map uses too.
        for (p, section) in [
            ("spec_init", "struct_ops/spec_init"),
            ("spec_ssthresh", "struct_ops/spec_ssthresh"),
            ("spec_undo_cwnd", "struct_ops/spec_undo_cwnd"),
            ("spec_cong_avoid", "struct_ops/spec_cong_avoid"),
            ("static_ssthresh", "struct_ops"),
            ("static_undo_cwnd", "struct_ops"),
            ("unused_ssthresh", "struct_ops/unused_ssthresh"),
            ("new_ssthresh", "struct_ops/new_ssthresh"),
        ] {
            assert_eq!(spec.programs[p].program_type, ProgramType::StructOps, "{p}");
            assert_eq!(spec.programs[p].section, section, "{p}");
        }
        // Copies are deep (the value's bytes and names included).
        let copy = spec.copy();
        ebpf_spec::deep_copy::assert_deep_copy(&spec, &copy);
    }
}

/// The fixture with the symbol of relocation `n` of `.rel.struct_ops`
/// replaced by symbol `sym`.
fn relocated_to(object: &str, n: usize, sym: &str) -> Vec<u8> {
    let mut data = fixture(object);
    let layout = Layout::parse(&data);
    let rel = layout.section(".rel.struct_ops");
    let sym_index = layout
        .symbols
        .iter()
        .position(|s| s.name == sym)
        .unwrap_or_else(|| panic!("no symbol {sym}"));
    // Elf64_Rel: r_offset (8), r_info (8: symbol << 32 | type).
    let at = rel.offset as usize + n * 16 + 8;
    let info = common::get_u64(&data, at, layout.endian);
    put(
        &mut data,
        at,
        8,
        (sym_index as u64) << 32 | (info & 0xffff_ffff),
        layout.endian,
    );
    data
}

#[test]
fn a_member_that_refers_to_no_struct_ops_program_is_refused_by_name() {
    for (object, _) in OBJECTS {
        // `spec_ca.init` made to refer to the license variable.
        let e = CollectionSpec::from_elf(&relocated_to(object, 0, "LICENSE")).unwrap_err();
        assert!(
            matches!(e, ParseError::Relocation { ref section, offset: 0, .. } if section == ".struct_ops"),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains(
                "member `init` of `spec_ca` refers to `LICENSE`, which is not a struct_ops program"
            ),
            "{msg}"
        );
    }
}

#[test]
fn a_relocation_outside_every_function_pointer_is_refused() {
    for (object, _) in OBJECTS {
        let mut data = fixture(object);
        let layout = Layout::parse(&data);
        let rel = layout.section(".rel.struct_ops");
        // Relocation 0 (spec_ca.init at 0) moved to byte 8: inside `name`.
        put(&mut data, rel.offset as usize, 8, 8, layout.endian);
        let e = CollectionSpec::from_elf(&data).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("member `name` of `spec_ca` is not a function pointer"),
            "{msg}"
        );
        // ... and to byte 4: no member starts there.
        put(&mut data, rel.offset as usize, 8, 4, layout.endian);
        let msg = CollectionSpec::from_elf(&data).unwrap_err().to_string();
        assert!(
            msg.contains("no member of `spec_ca` starts at byte 4"),
            "{msg}"
        );
        // ... and past the variables.
        put(&mut data, rel.offset as usize, 8, 4096, layout.endian);
        let msg = CollectionSpec::from_elf(&data).unwrap_err().to_string();
        assert!(msg.contains("points at no struct_ops variable"), "{msg}");
    }
}

#[test]
fn members_are_set_by_name_and_everything_else_is_refused_unchanged() {
    use ebpf_spec::StructOpsError;
    for (object, order) in OBJECTS {
        let mut spec = CollectionSpec::from_elf(&fixture(object)).unwrap();
        let btf = Btf::parse(&spec.btf.as_ref().unwrap().btf, order).unwrap();
        let local = btf.find("tcp_congestion_ops", Kind::Struct).unwrap();
        let v2 = btf.find("tcp_congestion_ops___v2", Kind::Struct).unwrap();

        let mut name = [0u8; 16];
        name[..9].copy_from_slice(b"tenant_42");
        spec.set_struct_ops_member("spec_ca", "name", &name)
            .unwrap();
        // A value whose bytes differ in the two byte orders, written as is.
        let flags = order.u32_bytes(0x0102_0304);
        spec.set_struct_ops_member("spec_ca", "flags", &flags)
            .unwrap();
        spec.set_struct_ops_member("spec_ca_v2", "name", &name)
            .unwrap();
        let data = ops(&spec, "spec_ca").data;
        let at = member_offset(&btf, local, "name");
        assert_eq!(data[at..at + 16], name, "{object}");
        let at = member_offset(&btf, local, "flags");
        assert_eq!(data[at..at + 4], flags, "{object}");
        let at = member_offset(&btf, v2, "name");
        assert_eq!(ops(&spec, "spec_ca_v2").data[at..at + 16], name, "{object}");

        let before = spec.clone();
        let err = |map: &str, member: &str, value: &[u8]| {
            let mut s = before.clone();
            let e = s.set_struct_ops_member(map, member, value).unwrap_err();
            assert_eq!(s, before, "{object}: {e}: the spec changed");
            e
        };
        assert!(matches!(
            err("nope", "name", &name),
            StructOpsError::NoSuchMap { ref map } if map == "nope"
        ));
        // The flavour has no `flags`.
        let e = err("spec_ca_v2", "flags", &[0; 4]);
        assert_eq!(
            e.to_string(),
            "`tcp_congestion_ops___v2` of struct_ops map `spec_ca_v2` has no member `flags`"
        );
        let e = err("spec_ca", "init", &[0; 8]);
        assert!(matches!(e, StructOpsError::FunctionPointer { .. }), "{e}");
        assert!(
            e.to_string().contains("set the program in its `programs`"),
            "{e}"
        );
        // Not a struct_ops map (its programs' sections are not maps) ...
        assert!(matches!(
            err("spec_init", "name", &name),
            StructOpsError::NoSuchMap { .. }
        ));
        // ... and a struct the BTF does not describe.
        let mut broken = before.clone();
        broken.maps.get_mut("spec_ca").unwrap().btf_value_type_id = 1;
        let e = broken
            .set_struct_ops_member("spec_ca", "name", &name)
            .unwrap_err();
        assert!(matches!(e, StructOpsError::Btf { .. }), "{e}");
        assert!(e.to_string().contains("is not a struct"), "{e}");
        let e = err("spec_ca", "name", b"short");
        assert_eq!(
            e,
            StructOpsError::WrongSize {
                map: "spec_ca".into(),
                member: "name".into(),
                expected: 16,
                got: 5
            }
        );
    }
}
