//! Objects crafted with the `object` crate's ELF writer (see
//! `common/craft.rs`) for what clang does not emit but a file may hold:
//! labels, aliases and static maps in the legacy `maps` section; thousands of
//! `.bss`-like sections; sections, functions and relocations that make the
//! reader copy the same bytes many times; data symbols without a size; map
//! flags with unknown bits. And iproute2's map-in-map rules on the iproute2
//! fixture with fields patched.

mod btf_support;
mod common;

use common::craft::{
    BtfBuilder, Craft, GLOBAL_FUNC, GLOBAL_NOTYPE, GLOBAL_OBJECT, LOCAL_NOTYPE, LOCAL_OBJECT,
    WEAK_OBJECT, insn, ld_map, legacy_def,
};
use common::{BpfElfMap, Counting, Layout, ShField, fixture, get_u32, measure, put};
use ebpf_spec::deep_copy::assert_deep_copy;
use ebpf_spec::{
    CollectionSpec, DeepCopy, MATERIALISED_PER_INPUT_BYTE, MAX_DATA_SECTION, MAX_MATERIALISED,
    MapFlags, MapType, MapValue, ParseError, RelocationTarget,
};
use object::{Endianness, SectionKind};
use std::mem::offset_of;

#[global_allocator]
static ALLOC: Counting = Counting;

const ORDERS: [Endianness; 2] = [Endianness::Little, Endianness::Big];

fn parse(data: &[u8]) -> Result<CollectionSpec, ParseError> {
    let spec = CollectionSpec::from_elf(data)?;
    assert_deep_copy(&spec, &spec.deep_copy());
    Ok(spec)
}

#[track_caller]
fn says(e: &ParseError, fragments: &[&str]) {
    let msg = e.to_string();
    for f in fragments {
        assert!(msg.contains(f), "message {msg:?} lacks {f:?} ({e:?})");
    }
}

fn budget(input: usize) -> u64 {
    MAX_MATERIALISED + MATERIALISED_PER_INPUT_BYTE * input as u64
}

// ------------------------------------------------------------ whole-file budget

/// 2000 `.data.bN` NOBITS sections of 64 MiB, each with one 64 MiB variable,
/// in a file of a few hundred KB: every section is within MAX_DATA_SECTION,
/// so only a whole-file budget stops 125 GiB of zeros.
#[test]
fn nobits_sections_share_one_whole_file_budget() {
    let mut c = Craft::new(Endianness::Little);
    c.license();
    for i in 0..2000 {
        let sec = c.nobits(&format!(".data.b{i}"), MAX_DATA_SECTION);
        c.symbol(&format!("v{i}"), sec, 0, MAX_DATA_SECTION, GLOBAL_OBJECT);
    }
    let data = c.write();
    assert!(data.len() < 400 << 10, "{} bytes", data.len());
    let (result, stats) = measure(|| CollectionSpec::from_elf(&data).map(|_| ()));
    let e = result.unwrap_err();
    // Four 64 MiB sections fit in 256 MiB (plus 4 bytes per input byte); the
    // fifth does not.
    assert!(
        matches!(&e, ParseError::TooLarge { section, limit, input }
            if section == ".data.b4" && *limit == budget(data.len()) && *input == data.len() as u64),
        "{e:?}"
    );
    says(&e, &["section `.data.b4`", "MAX_MATERIALISED"]);
    assert!(
        stats.total as u64 <= budget(data.len()) + (16 << 20),
        "{stats:?}"
    );
}

/// The same file with 4 sections is within the budget and parses.
#[test]
fn nobits_sections_within_the_budget_parse() {
    let mut c = Craft::new(Endianness::Little);
    c.license();
    for i in 0..3 {
        let sec = c.nobits(&format!(".data.b{i}"), MAX_DATA_SECTION);
        c.symbol(&format!("v{i}"), sec, 0, 8, GLOBAL_OBJECT);
    }
    let spec = CollectionSpec::from_elf(&c.write()).unwrap();
    assert_eq!(spec.maps[".data.b2"].value_size as u64, MAX_DATA_SECTION);
    assert_eq!(spec.variables["v2"].value, [0; 8]);
}

/// Data sections whose headers all point at the same 1 MiB of the file: each
/// would copy it again.
#[test]
fn data_sections_aliasing_the_same_bytes() {
    let mib = 1 << 20;
    let mut c = Craft::new(Endianness::Little);
    c.license();
    c.section(".data.big", SectionKind::Data, &vec![7u8; mib]);
    for i in 0..400 {
        c.section(&format!(".data.a{i}"), SectionKind::Data, &[0; 8]);
    }
    let mut data = c.write();
    let layout = Layout::parse(&data);
    let big = layout.section(".data.big").clone();
    for s in layout
        .sections
        .iter()
        .filter(|s| s.name.starts_with(".data.a"))
    {
        layout.set_sh(&mut data, s.index, ShField::Offset, big.offset);
        layout.set_sh(&mut data, s.index, ShField::Size, big.size);
    }
    let (result, stats) = measure(|| CollectionSpec::from_elf(&data).map(|_| ()));
    let e = result.unwrap_err();
    assert!(matches!(&e, ParseError::TooLarge { .. }), "{e:?}");
    says(&e, &["section `.data.a"]);
    assert!(
        stats.total as u64 <= budget(data.len()) + (16 << 20),
        "{stats:?}"
    );
}

/// A thousand function symbols over the same 512 KiB of instructions: each
/// would be a program with its own copy.
#[test]
fn functions_overlapping_the_same_instructions() {
    let e = Endianness::Little;
    let mut c = Craft::new(e);
    c.license();
    let slots = 64 << 10;
    let mut code: Vec<u8> = (0..slots - 1)
        .flat_map(|_| insn(e, 0xb7, 0, 0, 0, 0)) // r0 = 0
        .collect();
    code.extend_from_slice(&insn(e, 0x95, 0, 0, 0, 0));
    let sec = c.section("socket", SectionKind::Text, &code);
    for i in 0..1000 {
        c.symbol(
            &format!("f{i}"),
            sec,
            0,
            code.len() as u64,
            common::craft::GLOBAL_FUNC,
        );
    }
    let data = c.write();
    let (result, stats) = measure(|| CollectionSpec::from_elf(&data).map(|_| ()));
    let err = result.unwrap_err();
    assert!(
        matches!(&err, ParseError::TooLarge { section, .. } if section == "socket"),
        "{err:?}"
    );
    assert!(
        stats.total as u64 <= budget(data.len()) + (16 << 20),
        "{stats:?}"
    );
}

/// Thousands of relocations against one extern with a 100 KB name: each
/// relocation holds the name.
#[test]
fn relocations_repeating_a_long_name() {
    let e = Endianness::Little;
    let mut c = Craft::new(e);
    c.license();
    let n = 4000;
    let insns: Vec<[u8; 8]> = (0..n).flat_map(|_| ld_map(e)).collect();
    let sec = c.program("prog", &insns);
    let name = "k".repeat(100_000);
    let ext = c.undefined(&name);
    for i in 0..n {
        c.reloc(sec, 16 * i as u64, ext);
    }
    let data = c.write();
    let (result, stats) = measure(|| CollectionSpec::from_elf(&data).map(|_| ()));
    let err = result.unwrap_err();
    assert!(
        matches!(&err, ParseError::TooLarge { section, .. } if section == "socket"),
        "{err:?}"
    );
    assert!(
        stats.total as u64 <= budget(data.len()) + (16 << 20),
        "{stats:?}"
    );

    // A handful of them is fine.
    let mut c = Craft::new(e);
    c.license();
    let sec = c.program("prog", &ld_map(e));
    let ext = c.undefined("some_ksym");
    c.reloc(sec, 0, ext);
    let spec = parse(&c.write()).unwrap();
    assert_eq!(
        spec.programs["prog"].relocations[0].target,
        RelocationTarget::Extern {
            name: "some_ksym".into(),
            weak: false,
        }
    );
}

/// As libbpf (`bpf_program__record_reloc`): a relocation lands on a call or
/// an `ld_imm64`, whatever it refers to, and a call of a function is a
/// bpf-to-bpf call. Both were accepted for externs and functions, and the
/// spec then held a relocation on an instruction that cannot take it.
#[test]
fn relocations_land_only_on_calls_and_ld_imm64() {
    for e in ORDERS {
        // An extern on `r0 = 0`.
        let mut c = Craft::new(e);
        c.license();
        let sec = c.program("prog", &[insn(e, 0xb7, 0, 0, 0, 0)]);
        let ext = c.undefined("some_ksym");
        c.reloc(sec, 0, ext);
        let err = parse(&c.write()).unwrap_err();
        assert!(matches!(err, ParseError::Relocation { .. }), "{err:?}");
        says(
            &err,
            &[
                "extern `some_ksym`",
                "opcode 0xb7",
                "only calls and ld_imm64",
            ],
        );

        // A function of .text, called with src_reg 0 (a helper call's), then
        // with src_reg 1: a bpf-to-bpf call.
        let calling = |src_reg: u8| {
            let mut c = Craft::new(e);
            c.license();
            let text = c.section(
                ".text",
                SectionKind::Text,
                &[insn(e, 0xb7, 0, 0, 0, 0), insn(e, 0x95, 0, 0, 0, 0)].concat(),
            );
            let helper = c.symbol("helper", text, 0, 16, GLOBAL_FUNC);
            let sec = c.program("prog", &[insn(e, 0x85, 0, src_reg, 0, -1)]);
            c.reloc(sec, 0, helper);
            parse(&c.write())
        };
        let err = calling(0).unwrap_err();
        says(&err, &["calls `helper`", "src_reg 0", "BPF_PSEUDO_CALL"]);
        let spec = calling(1).unwrap();
        assert_eq!(
            spec.programs["prog"].relocations[0].target,
            RelocationTarget::Call {
                function: "helper".into()
            }
        );
    }
}

// ------------------------------------------------------------ legacy `maps` symbols

/// `maps` with two 20-byte definitions (`map_a` HASH at 0, `map_b` ARRAY at
/// 20), more symbols from `extra`, and a program loading `reference`.
fn legacy_object(
    e: Endianness,
    b_info: common::craft::Info,
    extra: &[(&str, u64, u64, common::craft::Info)],
    reference: &str,
) -> Vec<u8> {
    let mut c = Craft::new(e);
    c.license();
    let mut defs = legacy_def(e, &[1, 4, 8, 16, 0]);
    defs.extend(legacy_def(e, &[2, 4, 4, 2, 0]));
    let maps = c.section("maps", SectionKind::Data, &defs);
    let mut syms = vec![("map_a", c.symbol("map_a", maps, 0, 20, GLOBAL_OBJECT))];
    syms.push(("map_b", c.symbol("map_b", maps, 20, 20, b_info)));
    for &(name, value, size, info) in extra {
        syms.push((name, c.symbol(name, maps, value, size, info)));
    }
    let prog = c.program("prog", &ld_map(e));
    let target = syms.iter().find(|(n, _)| *n == reference).unwrap().1;
    c.reloc(prog, 0, target);
    c.write()
}

fn check_two_maps(spec: &CollectionSpec, e: Endianness) {
    let names: Vec<_> = spec.maps.keys().map(AsRef::<str>::as_ref).collect();
    assert_eq!(names, ["map_a", "map_b"], "{e:?}");
    let a = &spec.maps["map_a"];
    assert_eq!(
        (a.map_type, a.key_size, a.value_size, a.max_entries),
        (MapType::Hash, 4, 8, 16)
    );
    let b = &spec.maps["map_b"];
    assert_eq!(
        (b.map_type, b.key_size, b.value_size, b.max_entries),
        (MapType::Array, 4, 4, 2)
    );
    assert!(
        a.extra.is_empty() && b.extra.is_empty(),
        "20-byte definitions"
    );
}

fn map_ref(spec: &CollectionSpec) -> &str {
    match &spec.programs["prog"].relocations[..] {
        [r] => match &r.target {
            RelocationTarget::Map { map } => {
                assert_eq!(r.instruction, 0);
                map
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn legacy_maps_ignore_a_trailing_label() {
    for e in ORDERS {
        // A local `maps_end` marker (and a global one) at the end of the section.
        for info in [LOCAL_NOTYPE, GLOBAL_NOTYPE] {
            let data = legacy_object(e, GLOBAL_OBJECT, &[("maps_end", 40, 0, info)], "map_b");
            let spec = parse(&data).unwrap();
            check_two_maps(&spec, e);
            assert_eq!(map_ref(&spec), "map_b");
        }
    }
}

#[test]
fn legacy_maps_ignore_a_label_at_offset_0() {
    for e in ORDERS {
        for info in [LOCAL_NOTYPE, GLOBAL_NOTYPE] {
            let data = legacy_object(e, GLOBAL_OBJECT, &[("maps_start", 0, 0, info)], "map_a");
            let spec = parse(&data).unwrap();
            check_two_maps(&spec, e);
            // A reference through the label is a reference to the map there.
            let data = legacy_object(
                e,
                GLOBAL_OBJECT,
                &[("maps_start", 0, 0, info)],
                "maps_start",
            );
            assert_eq!(map_ref(&parse(&data).unwrap()), "map_a");
        }
    }
}

#[test]
fn legacy_maps_merge_an_alias() {
    for e in ORDERS {
        // `alias_b` is a second name for the definition at 20, before or
        // after `map_b` in the symbol table; `map_b` keeps its name (the
        // first global object with a size).
        for info in [GLOBAL_OBJECT, WEAK_OBJECT, LOCAL_OBJECT] {
            let data = legacy_object(e, GLOBAL_OBJECT, &[("alias_b", 20, 20, info)], "alias_b");
            let spec = parse(&data).unwrap();
            check_two_maps(&spec, e);
            assert_eq!(map_ref(&spec), "map_b", "{info:?}");
        }
    }
}

#[test]
fn legacy_maps_keep_a_static_map() {
    for e in ORDERS {
        // `static struct bpf_map_def SEC("maps") map_b`: a local object with a size.
        let data = legacy_object(e, LOCAL_OBJECT, &[], "map_b");
        let spec = parse(&data).unwrap();
        check_two_maps(&spec, e);
        assert_eq!(map_ref(&spec), "map_b");
    }
}

#[test]
fn a_reference_to_a_label_where_no_map_is_defined() {
    let data = legacy_object(
        Endianness::Little,
        GLOBAL_OBJECT,
        &[("maps_end", 40, 0, LOCAL_NOTYPE)],
        "maps_end",
    );
    let e = parse(&data).unwrap_err();
    assert!(matches!(e, ParseError::Relocation { .. }), "{e:?}");
    says(
        &e,
        &["`maps_end` is at offset 40 of `maps`, where no map is defined"],
    );
}

#[test]
fn two_sections_named_maps() {
    let mut c = Craft::new(Endianness::Little);
    c.license();
    let e = Endianness::Little;
    for name in ["a", "b"] {
        let sec = c.section("maps", SectionKind::Data, &legacy_def(e, &[2, 4, 4, 1, 0]));
        c.symbol(name, sec, 0, 20, GLOBAL_OBJECT);
    }
    let err = parse(&c.write()).unwrap_err();
    assert!(matches!(err, ParseError::Section { .. }), "{err:?}");
    says(&err, &["a second section named `maps`"]);
}

/// Map flags keep bits this library has no name for, through the reader.
#[test]
fn unknown_map_flag_bits_survive_parsing() {
    for e in ORDERS {
        let mut c = Craft::new(e);
        c.license();
        let flags = MapFlags::NO_PREALLOC.bits() | (1 << 30) | (1 << 25);
        let maps = c.section(
            "maps",
            SectionKind::Data,
            &legacy_def(e, &[1, 4, 4, 8, flags]),
        );
        c.symbol("flagged", maps, 0, 20, GLOBAL_OBJECT);
        let spec = parse(&c.write()).unwrap();
        let m = &spec.maps["flagged"];
        assert_eq!(m.flags.bits(), flags, "{e:?}");
        assert!(m.flags.contains(MapFlags::NO_PREALLOC));
        assert_eq!(m.flags.iter_names().count(), 1, "one named bit");
        assert_eq!(m.flags & !MapFlags::all(), MapFlags::empty());
        assert_eq!(m.copy().flags.bits(), flags);
    }
}

// ------------------------------------------------------------ data symbols without a size

/// `.data` of 16 bytes: `a` at 0, `b` at 8, `c` at 12, all with st_size 0.
/// `a` has a BTF VAR (an `int`): 4 bytes, not the 8 up to the next symbol.
/// `b` has none: up to the next symbol (4). `c`: up to the section's end (4).
#[test]
fn data_symbols_without_a_size() {
    for e in ORDERS {
        for with_btf in [true, false] {
            let mut c = Craft::new(e);
            c.license();
            let bytes: Vec<u8> = (1..=16).collect();
            let sec = c.section(".data", SectionKind::Data, &bytes);
            for (name, at) in [("a", 0), ("b", 8), ("c", 12)] {
                c.symbol(name, sec, at, 0, GLOBAL_OBJECT);
            }
            if with_btf {
                let mut btf = BtfBuilder::new(e);
                let int = btf.int("int", 4);
                let a = btf.var("a", int, 1);
                btf.datasec(".data", 0, &[(a, 0, 4)]);
                c.section(".BTF", SectionKind::Other, &btf.build());
            }
            let spec = parse(&c.write()).unwrap();
            let v = |n: &str| {
                let v = &spec.variables[n];
                (v.offset, v.size, v.value.clone())
            };
            let a_size = if with_btf { 4 } else { 8 };
            assert_eq!(
                v("a"),
                (0, a_size, bytes[..a_size as usize].to_vec()),
                "{e:?} btf {with_btf}"
            );
            assert_eq!(v("b"), (8, 4, bytes[8..12].to_vec()));
            assert_eq!(v("c"), (12, 4, bytes[12..16].to_vec()));
        }
    }
}

// ------------------------------------------------------------ iproute2 map-in-map

/// File offset of `field` of legacy map `map` in the iproute2 fixture.
fn iproute2_field(layout: &Layout, map: &str, field: usize) -> usize {
    layout.at("maps", layout.symbol(map).value) + field
}

fn patched(name: &str, patches: &[(&str, usize, u32)]) -> Vec<u8> {
    let mut data = fixture(name);
    let layout = Layout::parse(&data);
    for &(map, field, value) in patches {
        let at = iproute2_field(&layout, map, field);
        put(&mut data, at, 4, u64::from(value), layout.endian);
    }
    data
}

const IPROUTE2: [&str; 2] = ["iproute2.bpfel.o", "iproute2.bpfeb.o"];

#[test]
fn iproute2_inner_idx_minus_one_is_a_template_only() {
    for name in IPROUTE2 {
        let layout = Layout::parse(&fixture(name));
        let at = iproute2_field(&layout, "tc_inner", offset_of!(BpfElfMap, inner_idx));
        assert_eq!(get_u32(&fixture(name), at, layout.endian), 1, "FIXTURES.md");
        let data = patched(
            name,
            &[("tc_inner", offset_of!(BpfElfMap, inner_idx), u32::MAX)],
        );
        let spec = parse(&data).unwrap();
        let outer = &spec.maps["tc_outer"];
        let inner = outer.inner_map.as_deref().unwrap();
        assert_eq!(
            (inner.name.as_str(), inner.map_type, inner.max_entries),
            ("tc_inner", MapType::Array, 1)
        );
        assert!(outer.contents.is_empty(), "{name}: {:?}", outer.contents);
    }
}

#[test]
fn iproute2_slot_beyond_max_entries() {
    for name in IPROUTE2 {
        // tc_outer is an ARRAY_OF_MAPS of 4 slots.
        let data = patched(name, &[("tc_inner", offset_of!(BpfElfMap, inner_idx), 4)]);
        let e = parse(&data).unwrap_err();
        assert!(
            matches!(&e, ParseError::Map { map, .. } if map == "tc_outer"),
            "{e:?}"
        );
        says(
            &e,
            &[
                "map `tc_outer`",
                "inner map `tc_inner` asks for slot 4 (inner_idx), beyond max_entries 4",
            ],
        );
        // Slot 3 is the last one.
        let data = patched(name, &[("tc_inner", offset_of!(BpfElfMap, inner_idx), 3)]);
        let spec = parse(&data).unwrap();
        let order = spec.byte_order;
        assert_eq!(spec.maps["tc_outer"].contents[0].key, order.u32_bytes(3));
    }
}

#[test]
fn iproute2_hash_of_maps_keys_have_the_outer_key_size() {
    for name in IPROUTE2 {
        let data = patched(
            name,
            &[
                ("tc_outer", offset_of!(BpfElfMap, map_type), 13), // HASH_OF_MAPS
                ("tc_outer", offset_of!(BpfElfMap, size_key), 8),
                ("tc_inner", offset_of!(BpfElfMap, inner_idx), 0x0102_0304),
            ],
        );
        let spec = parse(&data).unwrap();
        let outer = &spec.maps["tc_outer"];
        assert_eq!(outer.map_type, MapType::HashOfMaps);
        assert_eq!(outer.contents.len(), 1);
        let key = &outer.contents[0].key;
        assert_eq!(key.len(), 8, "key_size bytes");
        // The index zero-extended to 8 bytes in the object's byte order.
        let expected: Vec<u8> = match spec.byte_order {
            ebpf_spec::ByteOrder::Little => 0x0102_0304u64.to_le_bytes().to_vec(),
            ebpf_spec::ByteOrder::Big => 0x0102_0304u64.to_be_bytes().to_vec(),
        };
        assert_eq!(key, &expected, "{name}");
        assert_eq!(outer.contents[0].value, MapValue::Map("tc_inner".into()));

        // A key too small for a 4-byte index is refused.
        let data = patched(
            name,
            &[
                ("tc_outer", offset_of!(BpfElfMap, map_type), 13),
                ("tc_outer", offset_of!(BpfElfMap, size_key), 2),
            ],
        );
        let e = parse(&data).unwrap_err();
        assert!(
            matches!(&e, ParseError::Map { map, .. } if map == "tc_outer"),
            "{e:?}"
        );
        says(
            &e,
            &["key_size 2 cannot hold the 4-byte slot index of its inner maps"],
        );

        // A key_size the reader would have to allocate per slot is bounded
        // (found by tests/proptest_elf.rs: one flipped bit asked for 128 MiB).
        for (size, ok) in [(512, true), (513, false), (1 << 27, false)] {
            let data = patched(
                name,
                &[
                    ("tc_outer", offset_of!(BpfElfMap, map_type), 13),
                    ("tc_outer", offset_of!(BpfElfMap, size_key), size),
                ],
            );
            match parse(&data) {
                Ok(spec) => {
                    assert!(ok, "{name}: key_size {size} accepted");
                    assert_eq!(spec.maps["tc_outer"].contents[0].key.len(), 512);
                }
                Err(e) => {
                    assert!(!ok, "{name}: key_size {size} refused: {e}");
                    assert!(
                        matches!(&e, ParseError::Map { map, .. } if map == "tc_outer"),
                        "{e:?}"
                    );
                    says(
                        &e,
                        &[
                            &format!("key_size {size} is too large for the slot keys"),
                            "512",
                        ],
                    );
                }
            }
        }
    }
}

#[test]
fn iproute2_two_inner_maps_in_one_slot() {
    for name in IPROUTE2 {
        // tc_object becomes a second map with id 42 asking for slot 1.
        let data = patched(
            name,
            &[
                ("tc_object", offset_of!(BpfElfMap, id), 42),
                ("tc_object", offset_of!(BpfElfMap, inner_idx), 1),
            ],
        );
        let e = parse(&data).unwrap_err();
        says(
            &e,
            &[
                "map `tc_outer`",
                "inner maps `tc_object` and `tc_inner` both ask for slot 1",
            ],
        );
        // In slot 2 it is fine; the template is the first map with id 42.
        let data = patched(
            name,
            &[
                ("tc_object", offset_of!(BpfElfMap, id), 42),
                ("tc_object", offset_of!(BpfElfMap, inner_idx), 2),
            ],
        );
        let spec = parse(&data).unwrap();
        let outer = &spec.maps["tc_outer"];
        assert_eq!(outer.inner_map.as_deref().unwrap().name, "tc_object");
        let order = spec.byte_order;
        let slots: Vec<_> = outer
            .contents
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect();
        let mut expected = vec![
            (
                order.u32_bytes(1).to_vec(),
                MapValue::Map("tc_inner".into()),
            ),
            (
                order.u32_bytes(2).to_vec(),
                MapValue::Map("tc_object".into()),
            ),
        ];
        expected.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(slots, expected);
    }
}

// ------------------------------------------------------------ .BTF.ext strings

/// A `.BTF` with one long string, and a `.BTF.ext` whose `n` CO-RE records
/// (of section `socket`, at `insn_off`) all name it as their access string.
fn shared_access_string(long: usize, n: usize, insn_off: u32) -> (Vec<u8>, Vec<u8>) {
    use btf_support::{BtfBuilder as Tb, ExtBuilder};
    let mut b = Tb::new();
    b.int("int", 4, true);
    let sec = b.str("socket");
    let s = b.str(&"0".repeat(long));
    let blob = b.build(ebpf_spec::ByteOrder::Little);
    let ext = ExtBuilder {
        core: vec![(sec, (0..n).map(|_| vec![insn_off, 1, s, 0]).collect())],
        ..Default::default()
    };
    (blob, ext.build(ebpf_spec::ByteOrder::Little))
}

/// 600 CO-RE records naming one 512 KiB access string: a copy per record
/// was 300 MiB from half a MiB of input, before anything was charged. The
/// records share the string, and the spec's copies are charged before they
/// are made: within the budget whether the records fall in a function (the
/// spec would copy them: refused) or not.
#[test]
fn records_that_share_an_access_string_do_not_multiply_it() {
    use ebpf_spec::btf::{Btf, BtfExt};
    let (blob, ext) = shared_access_string(512 << 10, 600, 0);
    let ((), stats) = measure(|| {
        let btf = Btf::parse(&blob, ebpf_spec::ByteOrder::Little).unwrap();
        let parsed = BtfExt::parse(&ext, ebpf_spec::ByteOrder::Little, &btf).unwrap();
        assert_eq!(parsed.section("socket").unwrap().core_relos.len(), 600);
    });
    assert!(
        (stats.total as u64) < 8 << 20,
        "{} bytes allocated to parse {} bytes",
        stats.total,
        blob.len() + ext.len()
    );
    // Records naming tails of the string (offsets s, s + 1, ...): each tail
    // is a string of its own, and copies of them are refused past twice the
    // string section, with an error naming the section.
    {
        use btf_support::{BtfBuilder as Tb, ExtBuilder};
        let mut b = Tb::new();
        b.int("int", 4, true);
        let sec = b.str("socket");
        let s = b.str(&"0".repeat(512 << 10));
        let blob = b.build(ebpf_spec::ByteOrder::Little);
        let ext = ExtBuilder {
            core: vec![(sec, (0..600).map(|i| vec![0, 1, s + i, 0]).collect())],
            ..Default::default()
        }
        .build(ebpf_spec::ByteOrder::Little);
        let (r, stats) = measure(|| {
            let btf = Btf::parse(&blob, ebpf_spec::ByteOrder::Little).unwrap();
            BtfExt::parse(&ext, ebpf_spec::ByteOrder::Little, &btf).map(drop)
        });
        let e = r.unwrap_err();
        assert!(e.to_string().contains("socket"), "{e}");
        assert!(
            (stats.total as u64) < 8 << 20,
            "{} bytes allocated to parse {} bytes",
            stats.total,
            blob.len() + ext.len()
        );
    }
    for insn_off in [0, 8000] {
        let (blob, ext) = shared_access_string(512 << 10, 600, insn_off);
        let mut c = Craft::new(Endianness::Little);
        c.license();
        let sec = c.section(
            "socket",
            SectionKind::Text,
            &insn(Endianness::Little, 0x95, 0, 0, 0, 0),
        );
        c.symbol("prog", sec, 0, 8, common::craft::GLOBAL_FUNC);
        c.section(".BTF", SectionKind::Other, &blob);
        c.section(".BTF.ext", SectionKind::Other, &ext);
        let data = c.write();
        let (r, stats) = measure(|| CollectionSpec::from_elf(&data).map(drop));
        assert!(
            (stats.total as u64) <= budget(data.len()),
            "records at {insn_off}: {} bytes allocated, budget {}; {r:?}",
            stats.total,
            budget(data.len())
        );
        if insn_off == 0 {
            let e = r.unwrap_err();
            assert!(matches!(e, ParseError::TooLarge { .. }), "{e}");
        } else {
            r.unwrap();
        }
    }
}

// ------------------------------------------------------------ variable names

/// A name is one variable. Statics of one name (objects linked from several
/// files) are none, whichever sections they are in; a global of that name
/// is the variable, before or after them; two globals are refused, naming
/// the symbol.
#[test]
fn variables_of_one_name() {
    let object = |symbols: &[(&str, u64, common::craft::Info)]| {
        let mut c = Craft::new(Endianness::Little);
        c.license();
        let data = c.section(".data", SectionKind::Data, &[1, 0, 0, 0, 2, 0, 0, 0]);
        let bss = c.nobits(".bss", 8);
        for &(section, value, info) in symbols {
            let sec = if section == ".data" { data } else { bss };
            c.symbol("cnt", sec, value, 4, info);
        }
        CollectionSpec::from_elf(&c.write())
    };
    let statics = object(&[(".data", 0, LOCAL_OBJECT), (".bss", 4, LOCAL_OBJECT)]).unwrap();
    assert!(statics.variables.is_empty(), "{:?}", statics.variables);
    assert_eq!(
        statics.maps[".data"].contents[0].value,
        MapValue::Bytes(vec![1, 0, 0, 0, 2, 0, 0, 0]),
        "their bytes stay"
    );
    for order in [
        [(".data", 4, GLOBAL_OBJECT), (".data", 0, LOCAL_OBJECT)],
        [(".data", 0, LOCAL_OBJECT), (".data", 4, GLOBAL_OBJECT)],
    ] {
        let spec = object(&[order[0], order[1], (".bss", 0, LOCAL_OBJECT)]).unwrap();
        let v = &spec.variables["cnt"];
        assert_eq!(
            (v.section.as_str(), v.offset, v.value.as_slice()),
            (".data", 4, &[2, 0, 0, 0][..])
        );
    }
    let e = object(&[(".data", 0, GLOBAL_OBJECT), (".bss", 0, GLOBAL_OBJECT)]).unwrap_err();
    assert!(
        matches!(&e, ParseError::Symbol { symbol, what } if symbol.contains("cnt") && what == "defined twice"),
        "{e:?}"
    );
}

/// Two symbols at one offset of one size (`alias("value")`) are one
/// variable, by the first name; their sizes are counted once (the overlap
/// check refused such objects). Overlapping symbols of other sizes are
/// still refused.
#[test]
fn an_alias_is_one_variable() {
    let object = |second: (u64, u64)| {
        let mut c = Craft::new(Endianness::Little);
        c.license();
        let data = c.section(".data", SectionKind::Data, &[41, 0, 0, 0]);
        c.symbol("value", data, 0, 4, GLOBAL_OBJECT);
        c.symbol("value_alias", data, second.0, second.1, GLOBAL_OBJECT);
        CollectionSpec::from_elf(&c.write())
    };
    let spec = object((0, 4)).unwrap();
    assert_eq!(spec.variables.keys().collect::<Vec<_>>(), ["value"]);
    assert_eq!(spec.variables["value"].value, [41, 0, 0, 0]);
    let e = object((0, 2)).unwrap_err();
    assert!(e.to_string().contains("overlap"), "{e}");
}

/// Of an alias's names, the variable is named as the section's DATASEC
/// names it (as libbpf names it), else by its global name: not by symbol
/// order (ELF lists a `static` alias first).
#[test]
fn an_alias_is_named_as_btf_names_it_else_by_its_global() {
    for (alias, local) in [(LOCAL_OBJECT, true), (GLOBAL_OBJECT, false)] {
        for with_btf in [true, false] {
            let mut c = Craft::new(Endianness::Little);
            c.license();
            let data = c.section(".data", SectionKind::Data, &[41, 0, 0, 0]);
            c.symbol("value_alias", data, 0, 4, alias);
            c.symbol("value", data, 0, 4, GLOBAL_OBJECT);
            if with_btf {
                let mut btf = BtfBuilder::new(Endianness::Little);
                let int = btf.int("int", 4);
                let v = btf.var("value", int, 1);
                btf.datasec(".data", 4, &[(v, 0, 4)]);
                c.section(".BTF", SectionKind::Other, &btf.build());
            }
            let mut spec = parse(&c.write()).unwrap();
            let expect = if with_btf || local {
                "value"
            } else {
                // Both global, no BTF: the first.
                "value_alias"
            };
            assert_eq!(
                spec.variables.keys().collect::<Vec<_>>(),
                [expect],
                "static alias {local}, BTF {with_btf}"
            );
            spec.set_variable(expect, &[1, 0, 0, 0]).unwrap();
        }
    }
}

/// A static alias of a global does not take the global's place, so a
/// static of the global's name from another linked file does not become
/// the variable either.
#[test]
fn a_static_alias_does_not_hand_the_name_to_another_files_static() {
    let mut c = Craft::new(Endianness::Little);
    c.license();
    let data = c.section(".data", SectionKind::Data, &[41, 0, 0, 0, 7, 0, 0, 0]);
    c.symbol("value_static_alias", data, 0, 4, LOCAL_OBJECT);
    c.symbol("value", data, 4, 4, LOCAL_OBJECT);
    c.symbol("value", data, 0, 4, GLOBAL_OBJECT);
    let spec = parse(&c.write()).unwrap();
    let v = &spec.variables["value"];
    assert_eq!((v.offset, v.value.clone()), (0, vec![41, 0, 0, 0]));
    assert!(!spec.variables.contains_key("value_static_alias"));
}

/// `static int v = 41; int g __attribute__((alias("v")));` in one file and
/// `static int v = 7;` in another, linked: `g` is the variable (its name is
/// the only global one), and `v`, the name of two statics, is none, with
/// or without the BTF clang writes (which lists both statics, not `g`).
#[test]
fn a_global_alias_of_a_static_is_the_variable_and_the_static_name_stays_ambiguous() {
    for with_btf in [false, true] {
        let mut c = Craft::new(Endianness::Little);
        c.license();
        let data = c.section(".data", SectionKind::Data, &[41, 0, 0, 0, 7, 0, 0, 0]);
        c.symbol("v", data, 0, 4, LOCAL_OBJECT);
        c.symbol("v", data, 4, 4, LOCAL_OBJECT);
        c.symbol("g", data, 0, 4, GLOBAL_OBJECT);
        if with_btf {
            let mut btf = BtfBuilder::new(Endianness::Little);
            let int = btf.int("int", 4);
            let a = btf.var("v", int, 0);
            let b = btf.var("v", int, 0);
            btf.datasec(".data", 8, &[(a, 0, 4), (b, 4, 4)]);
            c.section(".BTF", SectionKind::Other, &btf.build());
        }
        let spec = parse(&c.write()).unwrap();
        assert_eq!(
            spec.variables.keys().collect::<Vec<_>>(),
            ["g"],
            "BTF {with_btf}"
        );
        assert_eq!(spec.variables["g"].value, [41, 0, 0, 0]);
    }
}

// ------------------------------------------------------------ scale

/// `n` one-variable data sections `.data.bI`, each with its DATASEC.
fn many_data_sections(n: usize) -> Vec<u8> {
    let mut c = Craft::new(Endianness::Little);
    c.license();
    let mut btf = BtfBuilder::new(Endianness::Little);
    let int = btf.int("int", 4);
    for i in 0..n {
        let sec = c.section(&format!(".data.b{i}"), SectionKind::Data, &[1, 2, 3, 4]);
        c.symbol(&format!("v{i}"), sec, 0, 4, GLOBAL_OBJECT);
        let v = btf.var(&format!("v{i}"), int, 1);
        btf.datasec(&format!(".data.b{i}"), 0, &[(v, 0, 4)]);
    }
    c.section(".BTF", SectionKind::Other, &btf.build());
    c.write()
}

/// The figure BENCHMARKS.md records for thousands of data sections (the
/// BTF fix-up and the DATASEC lookups must stay linear): prints the parse
/// time of 4,000 and 16,000, and checks what they parse to. Run it in
/// release: `cargo test --release -p ebpf-spec --test crafted -- --ignored
/// thousands_of_data_sections --nocapture`.
#[test]
#[ignore = "a measurement: run in release, see BENCHMARKS.md"]
fn thousands_of_data_sections() {
    for n in [4_000, 16_000] {
        let data = many_data_sections(n);
        let start = std::time::Instant::now();
        let spec = CollectionSpec::from_elf(&data).unwrap();
        let took = start.elapsed();
        println!("{n} data sections ({} bytes): {took:?}", data.len());
        assert_eq!(spec.maps.len(), n);
        assert_eq!(spec.variables.len(), n);
        assert_eq!(spec.variables[&format!("v{}", n - 1)].value, [1, 2, 3, 4]);
    }
}
