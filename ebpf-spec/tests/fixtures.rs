//! Every committed fixture parses to exactly what its source and FIXTURES.md
//! say (facts from llvm-readelf, llvm-objdump and bpftool), in both byte orders.

use ebpf_spec::deep_copy::assert_deep_copy;
use ebpf_spec::{
    AttachType, ByteOrder, CollectionSpec, MapFlags, MapSpec, MapType, MapValue, Pinning,
    ProgramType, RelocationTarget,
};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn parse(name: &str) -> CollectionSpec {
    let spec = CollectionSpec::from_file(format!("{DIR}/{name}"))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    // Every parsed spec copies deeply.
    assert_deep_copy(&spec, &spec.copy());
    spec
}

/// Both byte orders of a fixture, with the order each should report.
fn both(stem: &str) -> [(CollectionSpec, ByteOrder); 2] {
    let el = parse(&format!("{stem}.bpfel.o"));
    let eb = parse(&format!("{stem}.bpfeb.o"));
    assert_eq!(el.byte_order, ByteOrder::Little);
    assert_eq!(eb.byte_order, ByteOrder::Big);
    // Instructions are converted to the host's order: programs are identical,
    // instruction by instruction, but for the immediates in ENDIAN_IMMS
    // (constants clang folds from endian-dependent memory layouts).
    for (a, b) in [(&el.programs, &eb.programs), (&el.functions, &eb.functions)] {
        assert_eq!(a.len(), b.len());
        for (pa, pb) in a.values().zip(b.values()) {
            let strip = |p: &ebpf_spec::ProgramSpec| {
                let mut p = p.clone();
                p.instructions.clear();
                p
            };
            assert_eq!(
                strip(pa),
                strip(pb),
                "{stem}: {} differs between bpfel and bpfeb",
                pa.name
            );
            assert_eq!(pa.instructions.len(), pb.instructions.len());
            for (i, (x, y)) in pa.instructions.iter().zip(&pb.instructions).enumerate() {
                let known = ENDIAN_IMMS
                    .iter()
                    .find(|e| (e.0, e.1, e.2) == (stem, pa.name.as_str(), i));
                match known {
                    Some(&(_, _, _, imm_el, imm_eb)) => {
                        assert_eq!((x.code, x.regs, x.off), (y.code, y.regs, y.off));
                        assert_eq!((x.imm, y.imm), (imm_el, imm_eb), "{stem} {} {i}", pa.name);
                    }
                    None => assert_eq!(x, y, "{stem}: {} instruction {i}", pa.name),
                }
            }
        }
    }
    assert_eq!(
        el.maps.keys().collect::<Vec<_>>(),
        eb.maps.keys().collect::<Vec<_>>()
    );
    [(el, ByteOrder::Little), (eb, ByteOrder::Big)]
}

/// The attributes every map has, in a compact row.
struct Row {
    name: &'static str,
    ty: MapType,
    key: u32,
    value: u32,
    max: u32,
    flags: u32,
    pinning: Pinning,
    numa: u32,
    map_extra: u64,
    btf_key: u32,
    btf_value: u32,
}

#[allow(clippy::too_many_arguments)]
const fn row(
    name: &'static str,
    ty: MapType,
    key: u32,
    value: u32,
    max: u32,
    flags: u32,
    pinning: Pinning,
    numa: u32,
    map_extra: u64,
    btf_key: u32,
    btf_value: u32,
) -> Row {
    Row {
        name,
        ty,
        key,
        value,
        max,
        flags,
        pinning,
        numa,
        map_extra,
        btf_key,
        btf_value,
    }
}

fn check_row(m: &MapSpec, r: &Row) {
    let n = r.name;
    assert_eq!(m.name, n);
    assert_eq!(m.map_type, r.ty, "{n}: type");
    assert_eq!(m.key_size, r.key, "{n}: key_size");
    assert_eq!(m.value_size, r.value, "{n}: value_size");
    assert_eq!(m.max_entries, r.max, "{n}: max_entries");
    assert_eq!(m.flags.bits(), r.flags, "{n}: flags");
    assert_eq!(m.pinning, r.pinning, "{n}: pinning");
    assert_eq!(m.numa_node, r.numa, "{n}: numa_node");
    assert_eq!(m.map_extra, r.map_extra, "{n}: map_extra");
    assert_eq!(m.btf_key_type_id, r.btf_key, "{n}: btf key id");
    assert_eq!(m.btf_value_type_id, r.btf_value, "{n}: btf value id");
}

fn check_rows(spec: &CollectionSpec, rows: &[Row]) {
    for r in rows {
        let m = spec
            .maps
            .get(r.name)
            .unwrap_or_else(|| panic!("no map {}", r.name));
        check_row(m, r);
    }
}

fn slot(order: ByteOrder, i: u32) -> Vec<u8> {
    order.u32_bytes(i).to_vec()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn calls(spec: &CollectionSpec, prog: &str) -> Vec<String> {
    let p = spec
        .programs
        .get(prog)
        .or_else(|| spec.functions.get(prog))
        .unwrap();
    p.calls().map(str::to_owned).collect()
}

fn map_refs(spec: &CollectionSpec, prog: &str) -> Vec<String> {
    let p = spec
        .programs
        .get(prog)
        .or_else(|| spec.functions.get(prog))
        .unwrap();
    p.relocations
        .iter()
        .filter_map(|r| match &r.target {
            RelocationTarget::Map { map } => Some(map.to_string()),
            RelocationTarget::Data { map, .. } => Some(map.to_string()),
            _ => None,
        })
        .collect()
}

const NONE: Pinning = Pinning::None;
const NO_PREALLOC: u32 = MapFlags::NO_PREALLOC.bits();

#[test]
fn legacy_maps() {
    for (spec, _) in both("legacy_maps") {
        assert_eq!(spec.maps.len(), 3);
        check_rows(
            &spec,
            &[
                row(
                    "legacy_hash",
                    MapType::Hash,
                    4,
                    8,
                    64,
                    NO_PREALLOC,
                    NONE,
                    0,
                    0,
                    0,
                    0,
                ),
                row(
                    "legacy_array",
                    MapType::Array,
                    4,
                    16,
                    4,
                    0,
                    NONE,
                    0,
                    0,
                    0,
                    0,
                ),
                row(
                    "legacy_percpu",
                    MapType::PerCpuArray,
                    4,
                    8,
                    2,
                    0,
                    NONE,
                    0,
                    0,
                    0,
                    0,
                ),
            ],
        );
        for m in spec.maps.values() {
            assert!(m.extra.is_empty() && m.contents.is_empty() && m.inner_map.is_none());
            assert!(!m.freeze);
        }
        let p = &spec.programs["legacy_prog"];
        assert_eq!(p.section, "socket");
        assert_eq!(p.program_type, ProgramType::SocketFilter);
        assert_eq!(p.instructions.len(), 28);
        assert_eq!(map_refs(&spec, "legacy_prog").len(), 3);
        assert!(spec.btf.is_some());
    }
}

#[test]
fn legacy_definitions_with_unknown_extra_bytes() {
    for (spec, order) in both("legacy_extra") {
        check_rows(
            &spec,
            &[
                row("extra_hash", MapType::Hash, 8, 4, 32, 0, NONE, 0, 0, 0, 0),
                row("extra_array", MapType::Array, 4, 4, 8, 0, NONE, 0, 0, 0, 0),
            ],
        );
        let (h, a) = match order {
            ByteOrder::Little => ("efbeadde04030201", "feca0000d0c0b0a0"),
            ByteOrder::Big => ("deadbeef01020304", "0000cafea0b0c0d0"),
        };
        // 24 extra bytes: iproute2's four fields (all 0), then 8 nobody knows.
        let zeros = "0".repeat(32);
        assert_eq!(
            spec.maps["extra_hash"].extra.bytes(),
            hex(&format!("{zeros}{h}"))
        );
        assert_eq!(
            spec.maps["extra_array"].extra.bytes(),
            hex(&format!("{zeros}{a}"))
        );
        assert_eq!(
            spec.maps["extra_hash"].extra.to_hex(),
            format!("{zeros}{h}")
        );
        for m in spec.maps.values() {
            assert_eq!(m.extra.interpreted_len(), 16);
            let f = m.extra.iproute2().unwrap();
            assert_eq!((f.id, f.pinning, f.inner_id, f.inner_idx), (0, 0, 0, 0));
            assert_eq!(m.extra.unknown().len(), 8);
            assert!(m.extra.has_unknown_nonzero(), "{}", m.name);
            assert_eq!(m.pinning, NONE);
        }
        assert_eq!(spec.programs["extra_prog"].instructions.len(), 24);
        assert_eq!(spec.programs["extra_prog"].program_type, ProgramType::Xdp);
    }
}

/// aya-ebpf's legacy `bpf_map_def`: 28 bytes, whose `id` and `pinning` sit
/// where iproute2's do; pinning 1 is by name.
#[test]
fn aya_legacy_definitions() {
    for (spec, order) in both("aya_legacy") {
        let by = Pinning::ByName;
        check_rows(
            &spec,
            &[
                row("AYA_PINNED", MapType::Hash, 4, 8, 1024, 0, by, 0, 0, 0, 0),
                row("AYA_PLAIN", MapType::Array, 4, 4, 4, 0, NONE, 0, 0, 0, 0),
            ],
        );
        let pinned = &spec.maps["AYA_PINNED"].extra;
        assert_eq!(pinned.bytes().len(), 8);
        assert_eq!(pinned.bytes()[4..], order.u32_bytes(1));
        assert_eq!(pinned.interpreted_len(), 8);
        let f = pinned.iproute2().unwrap();
        assert_eq!((f.id, f.pinning, f.inner_id, f.inner_idx), (0, 1, 0, 0));
        assert!(pinned.unknown().is_empty());
        assert!(
            !pinned.has_unknown_nonzero(),
            "aya's fields are interpreted, not unknown"
        );
        assert_eq!(spec.programs["aya_xdp"].program_type, ProgramType::Xdp);
        assert_eq!(spec.programs["aya_tc"].program_type, ProgramType::SchedCls);
        assert_eq!(map_refs(&spec, "aya_xdp"), ["AYA_PINNED"]);
        assert_eq!(map_refs(&spec, "aya_tc"), ["AYA_PLAIN"]);
    }
}

#[test]
fn iproute2_definitions() {
    for (spec, order) in both("iproute2") {
        let by = Pinning::ByName;
        check_rows(
            &spec,
            &[
                row("tc_global", MapType::Hash, 4, 8, 256, 0, by, 0, 0, 0, 0),
                row("tc_object", MapType::Array, 4, 4, 16, 0, by, 0, 0, 0, 0),
                row(
                    "tc_private",
                    MapType::PerCpuHash,
                    4,
                    4,
                    8,
                    NO_PREALLOC,
                    NONE,
                    0,
                    0,
                    0,
                    0,
                ),
                row("tc_inner", MapType::Array, 4, 4, 1, 0, NONE, 0, 0, 0, 0),
                row(
                    "tc_outer",
                    MapType::ArrayOfMaps,
                    4,
                    4,
                    4,
                    0,
                    NONE,
                    0,
                    0,
                    0,
                    0,
                ),
            ],
        );
        let fields = |n: &str| spec.maps[n].extra.iproute2().unwrap();
        assert_eq!(
            (fields("tc_global").id, fields("tc_global").pinning),
            (0, 2)
        );
        assert_eq!(fields("tc_object").pinning, 1);
        assert_eq!(
            (fields("tc_inner").id, fields("tc_inner").inner_idx),
            (42, 1)
        );
        assert_eq!(fields("tc_outer").inner_id, 42);
        for m in spec.maps.values() {
            assert_eq!(m.extra.bytes().len(), 16);
            assert!(
                !m.extra.has_unknown_nonzero(),
                "{}: iproute2 fields are interpreted",
                m.name
            );
        }
        // The outer map: the inner map is the template and sits in slot inner_idx.
        let outer = &spec.maps["tc_outer"];
        let inner = outer.inner_map.as_deref().unwrap();
        assert_eq!(
            (
                inner.map_type,
                inner.key_size,
                inner.value_size,
                inner.max_entries
            ),
            (MapType::Array, 4, 4, 1)
        );
        assert_eq!(outer.contents.len(), 1);
        assert_eq!(outer.contents[0].key, slot(order, 1));
        assert_eq!(outer.contents[0].value, MapValue::Map("tc_inner".into()));

        let progs: Vec<_> = spec.programs.keys().map(AsRef::<str>::as_ref).collect();
        assert_eq!(progs, ["tc_act", "tc_cls", "tc_xdp"]);
        assert_eq!(spec.programs["tc_cls"].program_type, ProgramType::SchedCls);
        assert_eq!(spec.programs["tc_act"].program_type, ProgramType::SchedAct);
        assert_eq!(spec.programs["tc_xdp"].attach_type, Some(AttachType::Xdp));
        assert_eq!(spec.programs["tc_cls"].instructions.len(), 31);
        assert_eq!(spec.programs["tc_act"].instructions.len(), 24);
        assert_eq!(spec.programs["tc_xdp"].instructions.len(), 14);
        assert_eq!(map_refs(&spec, "tc_cls"), ["tc_global", "tc_outer"]);
    }
}

/// iproute2's `BPF_ANNOTATE_KV_PAIR`: a legacy map gets the BTF key and value
/// types of its `____btf_map_<name>` struct when their sizes are the map's,
/// as iproute2 and libbpf 0.x create it.
#[test]
fn iproute2_kv_annotations_give_legacy_maps_btf_types() {
    for (spec, _) in both("iproute2_kv") {
        let btf =
            ebpf_spec::btf::Btf::parse(&spec.btf.as_ref().unwrap().btf, spec.byte_order).unwrap();
        let named = |id: u32| {
            let t = btf.ty(id).unwrap();
            (t.kind(), t.name().unwrap_or(""))
        };
        assert_eq!(
            spec.maps.keys().collect::<Vec<_>>(),
            ["locked", "mismatched", "plain", "stats"],
            "the `.maps.<name>` sections of the annotations are no maps"
        );
        // Sizes that match are enough, whatever the kernel will say of the
        // types (an enum key for an array: the loader retries without).
        let stats = &spec.maps["stats"];
        assert_eq!(
            named(stats.btf_key_type_id),
            (ebpf_spec::btf::Kind::Enum, "stat")
        );
        assert_eq!(
            named(stats.btf_value_type_id),
            (ebpf_spec::btf::Kind::Int, "unsigned long long")
        );
        let locked = &spec.maps["locked"];
        assert_eq!(
            (locked.map_type, locked.key_size, locked.value_size),
            (MapType::Array, 4, 16)
        );
        assert_eq!(
            named(locked.btf_key_type_id),
            (ebpf_spec::btf::Kind::Int, "unsigned int"),
            "{locked:?}"
        );
        assert_eq!(
            named(locked.btf_value_type_id),
            (ebpf_spec::btf::Kind::Struct, "counter")
        );
        for name in ["mismatched", "plain"] {
            let m = &spec.maps[name];
            assert_eq!((m.btf_key_type_id, m.btf_value_type_id), (0, 0), "{name}");
        }
        assert_eq!(spec.programs["count"].program_type, ProgramType::SchedCls);
    }
}

#[test]
fn btf_maps_every_attribute() {
    for (spec, _) in both("btf_maps") {
        let by = Pinning::ByName;
        let numa = MapFlags::NUMA_NODE.bits();
        let rdonly = MapFlags::RDONLY_PROG.bits();
        assert_eq!(spec.maps.len(), 13);
        check_rows(
            &spec,
            &[
                row("typed_hash", MapType::Hash, 4, 16, 128, 0, NONE, 0, 0, 6, 9),
                row(
                    "sized_array",
                    MapType::Array,
                    4,
                    12,
                    3,
                    rdonly,
                    NONE,
                    0,
                    0,
                    0,
                    0,
                ),
                row(
                    "pinned_hash",
                    MapType::Hash,
                    8,
                    4,
                    1024,
                    NO_PREALLOC,
                    by,
                    0,
                    0,
                    10,
                    6,
                ),
                row(
                    "numa0_hash",
                    MapType::Hash,
                    4,
                    4,
                    16,
                    numa,
                    NONE,
                    0,
                    0,
                    6,
                    6,
                ),
                row(
                    "bloom",
                    MapType::BloomFilter,
                    0,
                    4,
                    100,
                    0,
                    NONE,
                    0,
                    3,
                    0,
                    6,
                ),
                row("queue", MapType::Queue, 0, 4, 16, 0, NONE, 0, 0, 0, 6),
                row(
                    "events_rb",
                    MapType::RingBuf,
                    0,
                    0,
                    16384,
                    0,
                    NONE,
                    0,
                    0,
                    0,
                    0,
                ),
                row(
                    "task_store",
                    MapType::TaskStorage,
                    4,
                    4,
                    0,
                    NO_PREALLOC,
                    NONE,
                    0,
                    0,
                    2,
                    6,
                ),
                row(
                    "lpm",
                    MapType::LpmTrie,
                    8,
                    4,
                    64,
                    NO_PREALLOC,
                    NONE,
                    0,
                    0,
                    61,
                    6,
                ),
                row("stack", MapType::Stack, 0, 8, 8, 0, NONE, 0, 0, 0, 0),
                row(
                    "perf_events",
                    MapType::PerfEventArray,
                    4,
                    4,
                    0,
                    0,
                    NONE,
                    0,
                    0,
                    0,
                    0,
                ),
                row("numa1_array", MapType::Array, 4, 8, 2, 0, NONE, 1, 0, 6, 10),
                row(
                    "sk_store",
                    MapType::SkStorage,
                    4,
                    8,
                    0,
                    NO_PREALLOC,
                    NONE,
                    0,
                    0,
                    2,
                    10,
                ),
            ],
        );
        for m in spec.maps.values() {
            assert!(m.extra.is_empty() && m.contents.is_empty() && m.inner_map.is_none());
        }
        let sock = &spec.programs["btf_maps_sock"];
        assert_eq!(
            (sock.section.as_str(), sock.instructions.len()),
            ("socket", 64)
        );
        assert_eq!(
            map_refs(&spec, "btf_maps_sock")
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            7
        );
        let tp = &spec.programs["btf_maps_tp"];
        assert_eq!(tp.program_type, ProgramType::Tracing);
        assert_eq!(tp.attach_type, Some(AttachType::TraceRawTp));
        assert_eq!(tp.attach_to.as_deref(), Some("sys_enter"));
        assert_eq!(tp.instructions.len(), 42);
        assert_eq!(tp.license, "GPL");
        // .BTF.ext lives in the program's records, not as a second copy of bytes.
        assert!(spec.btf.is_some());
        assert_eq!(tp.func_info.len(), 1);
        assert!(!tp.line_info.is_empty());
    }
}

#[test]
fn map_in_map_and_prog_array_initialisers() {
    for (spec, order) in both("map_in_map") {
        check_rows(
            &spec,
            &[
                row("inner_a", MapType::Array, 4, 4, 2, 0, NONE, 0, 0, 6, 6),
                row("inner_b", MapType::Array, 4, 4, 2, 0, NONE, 0, 0, 6, 6),
                row(
                    "outer_arr",
                    MapType::ArrayOfMaps,
                    4,
                    4,
                    4,
                    0,
                    NONE,
                    0,
                    0,
                    6,
                    0,
                ),
                row(
                    "jmp_table",
                    MapType::ProgArray,
                    4,
                    4,
                    3,
                    0,
                    NONE,
                    0,
                    0,
                    0,
                    0,
                ),
                row(
                    "outer_hash",
                    MapType::HashOfMaps,
                    4,
                    4,
                    8,
                    0,
                    NONE,
                    0,
                    0,
                    6,
                    0,
                ),
            ],
        );
        let outer = &spec.maps["outer_arr"];
        let inner = outer.inner_map.as_deref().unwrap();
        check_row(
            inner,
            &row(
                "outer_arr.inner",
                MapType::Array,
                4,
                4,
                2,
                0,
                NONE,
                0,
                0,
                6,
                6,
            ),
        );
        let slots: Vec<_> = outer
            .contents
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect();
        assert_eq!(
            slots,
            [
                (slot(order, 1), MapValue::Map("inner_a".into())),
                (slot(order, 3), MapValue::Map("inner_b".into()))
            ]
        );
        let hash_inner = spec.maps["outer_hash"].inner_map.as_deref().unwrap();
        check_row(
            hash_inner,
            &row(
                "outer_hash.inner",
                MapType::Hash,
                4,
                8,
                16,
                0,
                NONE,
                0,
                0,
                6,
                29,
            ),
        );
        assert!(spec.maps["outer_hash"].contents.is_empty());
        let jmp: Vec<_> = spec.maps["jmp_table"]
            .contents
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect();
        assert_eq!(
            jmp,
            [
                (slot(order, 0), MapValue::Program("tail_x".into())),
                (slot(order, 2), MapValue::Program("tail_y".into()))
            ]
        );
        assert!(spec.maps["jmp_table"].inner_map.is_none());
        // Three programs share the `socket` section.
        let lens: Vec<_> = ["tail_x", "tail_y", "entry"]
            .iter()
            .map(|p| spec.programs[*p].instructions.len())
            .collect();
        assert_eq!(lens, [2, 2, 41]);
        assert_eq!(
            map_refs(&spec, "entry"),
            ["outer_arr", "outer_hash", "jmp_table"]
        );
    }
}

#[test]
fn data_sections_and_variables() {
    for (spec, order) in both("globals") {
        let le = order == ByteOrder::Little;
        let data = |m: &str| match &spec.maps[m].contents[..] {
            [e] => {
                assert_eq!(e.key, [0, 0, 0, 0]);
                match &e.value {
                    MapValue::Bytes(b) => b.clone(),
                    other => panic!("{m}: {other:?}"),
                }
            }
            other => panic!("{m}: {} entries", other.len()),
        };
        let rd = MapFlags::RDONLY_PROG.bits();
        check_rows(
            &spec,
            &[
                row(".data", MapType::Array, 4, 20, 1, 0, NONE, 0, 0, 0, 0),
                row(".rodata", MapType::Array, 4, 22, 1, rd, NONE, 0, 0, 0, 0),
                row(".data.custom", MapType::Array, 4, 4, 1, 0, NONE, 0, 0, 0, 0),
                row(
                    ".rodata.custom",
                    MapType::Array,
                    4,
                    2,
                    1,
                    rd,
                    NONE,
                    0,
                    0,
                    0,
                    0,
                ),
                row(".bss", MapType::Array, 4, 24, 1, 0, NONE, 0, 0, 0, 0),
                row(".kconfig", MapType::Array, 4, 8, 1, rd, NONE, 0, 0, 0, 0),
            ]
            .map(|mut r| {
                // Data maps carry the DATASEC's type id as their value type.
                r.btf_value = spec.maps[r.name].btf_value_type_id;
                r
            }),
        );
        assert!(
            spec.maps[".data"].btf_value_type_id > 0,
            "DATASEC id expected"
        );
        for (m, frozen) in [
            (".data", false),
            (".rodata", true),
            (".bss", false),
            (".kconfig", true),
            (".rodata.custom", true),
        ] {
            assert_eq!(spec.maps[m].freeze, frozen, "{m}");
        }
        let d = if le {
            "4433221100000000080706050403020155000000"
        } else {
            "1122334400000000010203040506070800000055"
        };
        assert_eq!(data(".data"), hex(d));
        let r = if le {
            "0700000000000000000000000000000068656c6c6f00"
        } else {
            "0000000700000000000000000000000068656c6c6f00"
        };
        assert_eq!(data(".rodata"), hex(r));
        assert_eq!(
            data(".data.custom"),
            hex(if le { "01efcdab" } else { "abcdef01" })
        );
        assert_eq!(data(".rodata.custom"), hex("4242"));
        assert!(
            spec.maps[".bss"].contents.is_empty(),
            ".bss is zeroed by the kernel"
        );
        assert!(spec.maps[".kconfig"].contents.is_empty());

        let vars: Vec<_> = spec
            .variables
            .values()
            .map(|v| {
                (
                    v.name.as_str(),
                    v.section.as_str(),
                    v.offset,
                    v.size,
                    v.constant,
                )
            })
            .collect();
        assert_eq!(
            vars,
            [
                ("CONFIG_BPF_SYSCALL", ".kconfig", 0, 1, true),
                ("LINUX_KERNEL_VERSION", ".kconfig", 4, 4, true),
                ("big_data", ".data", 8, 8, false),
                ("counter", ".data", 0, 4, false),
                ("custom_data", ".data.custom", 0, 4, false),
                ("custom_ro", ".rodata.custom", 0, 2, true),
                ("greeting", ".rodata", 16, 6, true),
                ("hits", ".bss", 0, 8, false),
                ("sample_rate", ".rodata", 0, 4, true),
                ("static_data", ".data", 16, 4, false),
                ("target_pid", ".rodata", 8, 8, true),
                ("zeroed_arr", ".bss", 8, 16, false),
            ]
        );
        assert_eq!(spec.variables["sample_rate"].value, order.u32_bytes(7));
        assert_eq!(spec.variables["greeting"].value, b"hello\0");
        assert_eq!(spec.variables["zeroed_arr"].value, [0; 16]);
        assert_eq!(
            spec.variables["counter"].value,
            order.u32_bytes(0x1122_3344)
        );

        // Programs: two in `socket`, one in `xdp` touching every section.
        assert_eq!(spec.programs["get_rate"].instructions.len(), 4);
        assert_eq!(spec.programs["get_array"].instructions.len(), 11);
        assert_eq!(spec.programs["touch_all"].instructions.len(), 51);
        assert_eq!(map_refs(&spec, "get_rate"), [".rodata"]);
        assert_eq!(map_refs(&spec, "get_array"), ["values"]);
        let touch = &spec.programs["touch_all"];
        let static_ref = touch
            .relocations
            .iter()
            .find_map(|r| match &r.target {
                RelocationTarget::Data { map, offset } if map == ".data" => {
                    Some((*offset, touch.instructions[r.instruction].imm))
                }
                _ => None,
            })
            .unwrap();
        // `static_data` through the section symbol: offset 0, imm 16.
        assert_eq!(static_ref.0 + static_ref.1 as u32, 16);
        let externs: Vec<_> = touch
            .relocations
            .iter()
            .filter_map(|r| match &r.target {
                RelocationTarget::Extern { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        assert!(externs.contains(&"LINUX_KERNEL_VERSION"), "{externs:?}");
    }
}

#[test]
fn setting_a_constant_updates_the_variable_and_its_section() {
    let mut spec = parse("globals.bpfel.o");
    spec.set_variable("sample_rate", &42u32.to_le_bytes())
        .unwrap();
    assert_eq!(spec.variables["sample_rate"].value, 42u32.to_le_bytes());
    let MapValue::Bytes(b) = &spec.maps[".rodata"].contents[0].value else {
        panic!()
    };
    assert_eq!(&b[0..4], 42u32.to_le_bytes());
    let err = spec.set_variable("sample_rate", &[1, 2]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "variable `sample_rate` is 4 bytes, but 2 bytes were given"
    );
    assert!(spec.set_variable("nope", &[]).is_err());
    // .bss gets an entry once a variable in it is set.
    spec.set_variable("hits", &5u64.to_le_bytes()).unwrap();
    let MapValue::Bytes(b) = &spec.maps[".bss"].contents[0].value else {
        panic!()
    };
    assert_eq!(b.len(), 24);
    assert_eq!(&b[0..8], 5u64.to_le_bytes());
}

#[test]
fn programs_sections_and_sub_programs() {
    for (spec, _) in both("programs") {
        use AttachType as A;
        use ProgramType as P;
        type Expect<'a> = (
            &'a str,
            &'a str,
            P,
            Option<A>,
            Option<&'a str>,
            usize,
            &'a [&'a str],
        );
        let expect: &[Expect<'_>] = &[
            (
                "prog_socket",
                "socket",
                P::SocketFilter,
                None,
                None,
                3,
                &["helper_mid"],
            ),
            (
                "prog_xdp",
                "xdp",
                P::Xdp,
                Some(A::Xdp),
                None,
                10,
                &["helper_leaf"],
            ),
            (
                "prog_tc",
                "tc",
                P::SchedCls,
                None,
                None,
                10,
                &["global_sub"],
            ),
            (
                "prog_kprobe",
                "kprobe/do_unlinkat",
                P::Kprobe,
                None,
                Some("do_unlinkat"),
                5,
                &["helper_mid"],
            ),
            (
                "prog_kretprobe",
                "kretprobe/do_unlinkat",
                P::Kprobe,
                None,
                Some("do_unlinkat"),
                4,
                &["helper_leaf"],
            ),
            (
                "prog_tracepoint",
                "tracepoint/syscalls/sys_enter_openat",
                P::Tracepoint,
                None,
                Some("syscalls/sys_enter_openat"),
                5,
                &["global_sub"],
            ),
            (
                "prog_raw_tp",
                "raw_tracepoint/sched_switch",
                P::RawTracepoint,
                None,
                Some("sched_switch"),
                4,
                &["global_sub"],
            ),
            (
                "prog_cgroup_skb",
                "cgroup_skb/ingress",
                P::CgroupSkb,
                Some(A::CgroupInetIngress),
                None,
                4,
                &["helper_mid"],
            ),
            (
                "prog_connect4",
                "cgroup/connect4",
                P::CgroupSockAddr,
                Some(A::CgroupInet4Connect),
                None,
                4,
                &["helper_leaf"],
            ),
            (
                "prog_sk_msg",
                "sk_msg",
                P::SkMsg,
                Some(A::SkMsgVerdict),
                None,
                2,
                &[],
            ),
            (
                "prog_stream_parser",
                "sk_skb/stream_parser",
                P::SkSkb,
                Some(A::SkSkbStreamParser),
                None,
                2,
                &[],
            ),
            (
                "prog_perf_event",
                "perf_event",
                P::PerfEvent,
                None,
                None,
                4,
                &["helper_leaf"],
            ),
            (
                "prog_fentry",
                "fentry/do_unlinkat",
                P::Tracing,
                Some(A::TraceFentry),
                Some("do_unlinkat"),
                5,
                &["helper_leaf"],
            ),
            (
                "prog_lsm",
                "lsm/file_open",
                P::Lsm,
                Some(A::LsmMac),
                Some("file_open"),
                2,
                &[],
            ),
            (
                "prog_iter_task",
                "iter/task",
                P::Tracing,
                Some(A::TraceIter),
                Some("task"),
                2,
                &[],
            ),
            (
                "prog_syscall",
                "syscall",
                P::Syscall,
                None,
                None,
                3,
                &["global_sub"],
            ),
        ];
        assert_eq!(spec.programs.len(), expect.len());
        for &(name, section, ty, attach, target, slots, callees) in expect {
            let p = &spec.programs[name];
            assert_eq!(p.section, section, "{name}");
            assert_eq!(p.program_type, ty, "{name}");
            assert_eq!(p.attach_type, attach, "{name}");
            assert_eq!(p.attach_to.as_deref(), target, "{name}");
            assert_eq!(p.instructions.len(), slots, "{name}");
            assert_eq!(calls(&spec, name), callees, "{name}");
            assert_eq!(p.license, "Dual BSD/GPL");
            assert_eq!(p.kernel_version, 0x060c00);
            // libbpf loads `syscall` programs sleepable.
            assert_eq!(p.sleepable, name == "prog_syscall", "{name}");
        }
        // Sub-programs in .text: one calls another without a relocation.
        let f: Vec<_> = spec
            .functions
            .iter()
            .map(|(n, p)| (n.as_str(), p.instructions.len()))
            .collect();
        assert_eq!(
            f,
            [("global_sub", 4), ("helper_leaf", 14), ("helper_mid", 5)]
        );
        assert_eq!(calls(&spec, "helper_mid"), ["helper_leaf"]);
        assert_eq!(map_refs(&spec, "helper_leaf"), ["prog_stats"]);
        assert_eq!(spec.kernel_version, 0x060c00);
        assert_eq!(spec.license, "Dual BSD/GPL");
    }
}

#[test]
fn objects_without_btf() {
    for (spec, order) in both("no_btf") {
        assert!(spec.btf.is_none());
        check_rows(
            &spec,
            &[
                row("nobtf_hash", MapType::Hash, 4, 4, 10, 0, NONE, 0, 0, 0, 0),
                row("nobtf_array", MapType::Array, 4, 8, 2, 0, NONE, 0, 0, 0, 0),
            ],
        );
        assert_eq!(spec.variables["nobtf_counter"].section, ".data");
        assert_eq!(spec.variables["nobtf_limit"].section, ".rodata");
        assert_eq!(spec.variables["nobtf_limit"].size, 4);
        assert!(spec.maps[".rodata"].freeze);
        let p = &spec.programs["nobtf_prog"];
        assert_eq!(p.instructions.len(), 32);
        let refs = map_refs(&spec, "nobtf_prog");
        assert_eq!(
            refs,
            [".data", "nobtf_hash", ".rodata", "nobtf_array", ".rodata"],
            "{order:?}"
        );
    }
}

/// One libxdp object: its maps (BTF-defined, then data sections as
/// (name, value size, read-only)) and programs (name, section, type, attach
/// type, slots), from FIXTURES.md (bpftool btf dump, llvm-readelf, libbpf's
/// `libbpf_prog_type_by_name`).
struct Libxdp {
    file: &'static str,
    maps: &'static [Row],
    data: &'static [(&'static str, u32, bool)],
    programs: &'static [(
        &'static str,
        &'static str,
        ProgramType,
        Option<AttachType>,
        usize,
    )],
}

const PIN: Pinning = Pinning::ByName;
const XDP: (ProgramType, Option<AttachType>) = (ProgramType::Xdp, Some(AttachType::Xdp));
const STATS: Row = row(
    "xdp_stats_map",
    MapType::PerCpuArray,
    4,
    16,
    5,
    0,
    PIN,
    0,
    0,
    8,
    11,
);
const PORTS: Row = row(
    "filter_ports",
    MapType::PerCpuArray,
    4,
    8,
    65536,
    0,
    PIN,
    0,
    0,
    8,
    13,
);
const IPV4: Row = row(
    "filter_ipv4",
    MapType::PerCpuHash,
    4,
    8,
    10000,
    0,
    PIN,
    0,
    0,
    8,
    13,
);
const fn ipv6(key_id: u32) -> Row {
    row(
        "filter_ipv6",
        MapType::PerCpuHash,
        16,
        8,
        10000,
        0,
        PIN,
        0,
        0,
        key_id,
        13,
    )
}
const fn eth(key_id: u32) -> Row {
    row(
        "filter_ethernet",
        MapType::PerCpuHash,
        6,
        8,
        10000,
        0,
        PIN,
        0,
        0,
        key_id,
        13,
    )
}
const PERF: Row = row(
    "xdpdump_perf_map",
    MapType::PerfEventArray,
    4,
    4,
    256,
    0,
    NONE,
    0,
    0,
    2,
    9,
);
const XSKS: Row = row("xsks_map", MapType::XskMap, 4, 4, 64, 0, NONE, 0, 0, 0, 0);

macro_rules! xdpfilt {
    ($file:literal, $prog:literal, $slots:literal, [$($map:expr),*]) => {
        Libxdp {
            file: $file,
            maps: &[$($map),*],
            data: &[],
            programs: &[($prog, "xdp", XDP.0, XDP.1, $slots)],
        }
    };
}

const LIBXDP: &[Libxdp] = &[
    Libxdp {
        file: "xdp-dispatcher.o",
        maps: &[],
        data: &[(".rodata", 124, true)],
        programs: &[
            ("xdp_dispatcher", "xdp", XDP.0, XDP.1, 148),
            ("xdp_pass", "xdp", XDP.0, XDP.1, 2),
        ],
    },
    Libxdp {
        file: "xdpdump_bpf.o",
        maps: &[PERF],
        data: &[(".data", 12, false)],
        programs: &[
            (
                "trace_on_entry",
                "fentry/func",
                ProgramType::Tracing,
                Some(AttachType::TraceFentry),
                44,
            ),
            (
                "trace_on_exit",
                "fexit/func",
                ProgramType::Tracing,
                Some(AttachType::TraceFexit),
                46,
            ),
        ],
    },
    Libxdp {
        file: "xdpdump_xdp.o",
        maps: &[PERF],
        data: &[(".data", 12, false)],
        programs: &[("xdpdump", "xdp", XDP.0, XDP.1, 35)],
    },
    xdpfilt!(
        "xdpfilt_alw_all.o",
        "xdpfilt_alw_all",
        437,
        [STATS, PORTS, IPV4, ipv6(30), eth(44)]
    ),
    xdpfilt!("xdpfilt_alw_eth.o", "xdpfilt_alw_eth", 85, [STATS, eth(23)]),
    xdpfilt!(
        "xdpfilt_alw_ip.o",
        "xdpfilt_alw_ip",
        299,
        [STATS, IPV4, ipv6(26)]
    ),
    xdpfilt!("xdpfilt_alw_tcp.o", "xdpfilt_alw_tcp", 278, [STATS, PORTS]),
    xdpfilt!("xdpfilt_alw_udp.o", "xdpfilt_alw_udp", 276, [STATS, PORTS]),
    xdpfilt!(
        "xdpfilt_dny_all.o",
        "xdpfilt_dny_all",
        437,
        [STATS, PORTS, IPV4, ipv6(30), eth(44)]
    ),
    xdpfilt!("xdpfilt_dny_eth.o", "xdpfilt_dny_eth", 85, [STATS, eth(23)]),
    xdpfilt!(
        "xdpfilt_dny_ip.o",
        "xdpfilt_dny_ip",
        299,
        [STATS, IPV4, ipv6(26)]
    ),
    xdpfilt!("xdpfilt_dny_tcp.o", "xdpfilt_dny_tcp", 278, [STATS, PORTS]),
    xdpfilt!("xdpfilt_dny_udp.o", "xdpfilt_dny_udp", 276, [STATS, PORTS]),
    Libxdp {
        file: "xsk_def_xdp_prog.o",
        maps: &[XSKS],
        data: &[(".data", 4, false)],
        programs: &[("xsk_def_prog", "xdp", XDP.0, XDP.1, 11)],
    },
    Libxdp {
        file: "xsk_def_xdp_prog_5.3.o",
        maps: &[XSKS],
        data: &[(".data", 4, false)],
        programs: &[("xsk_def_prog", "xdp", XDP.0, XDP.1, 23)],
    },
];

/// Globals of size 0 (`btf_refused/`: `struct empty {} empty_var;` and
/// `int arr0[0];`): variables of size 0 at the end of `.bss`, where clang
/// put them (their DATASEC entries make the kernel refuse the BTF; the
/// loader's tests load the object without it).
#[test]
fn globals_of_size_zero() {
    for (spec, order) in both("btf_refused/btf_refused") {
        let at = |n: &str| {
            let v = &spec.variables[n];
            (v.section.as_str(), v.offset, v.size, v.value.clone())
        };
        assert_eq!(at("packets"), (".bss", 0, 8, vec![0; 8]));
        assert_eq!(at("empty_var"), (".bss", 8, 0, vec![]));
        assert_eq!(at("arr0"), (".bss", 8, 0, vec![]));
        let three = match order {
            ByteOrder::Little => 3u32.to_le_bytes(),
            ByteOrder::Big => 3u32.to_be_bytes(),
        };
        assert_eq!(at("rate"), (".rodata", 0, 4, three.to_vec()));
        assert!(spec.variables["rate"].constant);
        assert_eq!(spec.variables.len(), 4);
        let maps: Vec<_> = spec
            .maps
            .values()
            .map(|m| (m.name.as_str(), m.map_type, m.value_size, m.freeze))
            .collect();
        assert_eq!(
            maps,
            [
                (".bss", MapType::Array, 8, false),
                (".rodata", MapType::Array, 4, true)
            ]
        );
        assert_eq!(spec.programs.keys().collect::<Vec<_>>(), ["count"]);
        assert_eq!(
            spec.programs["count"].program_type,
            ProgramType::SocketFilter
        );
        assert_eq!(spec.license, "Dual BSD/GPL");
    }
}

/// Two files linked by `bpftool gen object` (`linked/`), each with a `static
/// int cnt` in `.data`: the linker keeps both, at offsets 0 and 8, with one
/// name. Neither is a variable (the name does not say which); the global
/// `step` between them is, and the BTF keeps the statics' offsets.
#[test]
fn statics_of_one_name_from_linked_files() {
    let spec = parse("linked/linked.bpfel.o");
    assert_eq!(spec.variables.keys().collect::<Vec<_>>(), ["step"]);
    let step = &spec.variables["step"];
    assert_eq!(
        (step.section.as_str(), step.offset, step.size),
        (".data", 4, 4)
    );
    let data = &spec.maps[".data"];
    assert_eq!(data.value_size, 12);
    let words: Vec<i32> = [1, 3, 7].to_vec();
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    assert_eq!(data.contents[0].value, MapValue::Bytes(bytes));
    assert_eq!(
        spec.programs.keys().collect::<Vec<_>>(),
        ["prog_a", "prog_b"]
    );
    assert_eq!(
        spec.functions.keys().collect::<Vec<_>>(),
        ["bump_a", "bump_b"]
    );
    // Each file's function refers to its own static, by offset (the
    // symbol's, plus the instruction's immediate).
    let data_refs = |f: &str| -> Vec<i64> {
        let f = &spec.functions[f];
        f.relocations
            .iter()
            .filter_map(|r| match &r.target {
                RelocationTarget::Data { map, offset } if map == ".data" => {
                    Some(i64::from(*offset) + i64::from(f.instructions[r.instruction].imm))
                }
                _ => None,
            })
            .collect()
    };
    assert_eq!(data_refs("bump_a"), [0], "cnt of linked_a.bpf.c");
    assert_eq!(
        data_refs("bump_b"),
        [4, 8],
        "step, and cnt of linked_b.bpf.c"
    );
    // The DATASEC keeps the statics where the linker put them.
    let btf =
        ebpf_spec::btf::Btf::parse(&spec.btf.as_ref().unwrap().btf, ByteOrder::Little).unwrap();
    let id = btf.find(".data", ebpf_spec::btf::Kind::Datasec).unwrap();
    let ebpf_spec::btf::TypeData::Datasec { vars, .. } = btf.ty(id).unwrap().data() else {
        panic!("not a DATASEC")
    };
    let entries: Vec<(Option<&str>, u32)> =
        vars.iter().map(|v| (btf.name(v.ty), v.offset)).collect();
    assert_eq!(
        entries,
        [(Some("cnt"), 0), (Some("step"), 4), (Some("cnt"), 8)]
    );
}

/// Every object of Debian's libxdp1 (copied, see libxdp/README.md): every
/// map's attributes, every data section, every program; relocations are in
/// `RELOCATIONS`.
#[test]
fn libxdp_objects() {
    let mut files: Vec<_> = std::fs::read_dir(format!("{DIR}/libxdp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".o"))
        .collect();
    files.sort();
    let listed: Vec<_> = LIBXDP.iter().map(|o| o.file).collect();
    assert_eq!(files, listed, "every libxdp object is described");
    for o in LIBXDP {
        let spec = parse(&format!("libxdp/{}", o.file));
        let f = o.file;
        assert_eq!(spec.byte_order, ByteOrder::Little);
        assert_eq!(
            (spec.license.as_str(), spec.kernel_version),
            ("GPL", 0),
            "{f}"
        );
        let mut names: Vec<_> = o.maps.iter().map(|r| r.name).collect();
        names.extend(o.data.iter().map(|d| d.0));
        names.sort();
        assert_eq!(spec.maps.keys().collect::<Vec<_>>(), names, "{f}");
        for r in o.maps {
            let m = &spec.maps[r.name];
            check_row(m, r);
            assert!(m.contents.is_empty() && m.inner_map.is_none() && m.extra.is_empty());
            assert!(!m.freeze, "{f} {}", r.name);
        }
        for &(name, size, read_only) in o.data {
            let m = &spec.maps[name];
            let flags = if read_only {
                MapFlags::RDONLY_PROG.bits()
            } else {
                0
            };
            let id = spec.maps[name].btf_value_type_id;
            assert!(id > 0, "{f} {name}: its DATASEC");
            check_row(
                m,
                &row(name, MapType::Array, 4, size, 1, flags, NONE, 0, 0, 0, id),
            );
            assert_eq!(m.freeze, read_only);
            let [entry] = &m.contents[..] else {
                panic!("{f} {name}")
            };
            assert!(matches!(&entry.value, MapValue::Bytes(b) if b.len() == size as usize));
        }
        let progs: Vec<_> = spec
            .programs
            .values()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.section.as_str(),
                    p.program_type,
                    p.attach_type,
                    p.instructions.len(),
                )
            })
            .collect();
        assert_eq!(progs, o.programs, "{f}");
        for p in spec.programs.values() {
            assert_eq!(p.license, "GPL");
            assert!(!p.sleepable);
            let target = p.section.split_once('/').map(|(_, t)| t);
            assert_eq!(p.attach_to.as_deref(), target, "{f} {}", p.name);
        }
    }
}

#[test]
fn spec_types_are_plain_shareable_values() {
    fn check<T: Send + Sync + Clone + PartialEq + std::fmt::Debug + ebpf_spec::DeepCopy>() {}
    check::<CollectionSpec>();
    check::<MapSpec>();
    check::<ebpf_spec::ProgramSpec>();
    check::<ebpf_spec::VariableSpec>();
    check::<ebpf_spec::MapExtra>();
    check::<ebpf_spec::Instruction>();
    check::<ebpf_spec::BtfSpec>();
    // Iteration order is deterministic: by name.
    let spec = parse("btf_maps.bpfel.o");
    let names: Vec<_> = spec.maps.keys().cloned().collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[test]
fn compatible_lists_every_mismatch() {
    let spec = parse("map_in_map.bpfel.o");
    let outer = &spec.maps["outer_arr"];
    let mut other = outer.copy();
    assert!(outer.compatible(&other).is_ok());
    other.max_entries = 9;
    other.flags = MapFlags::NO_PREALLOC;
    other.inner_map.as_mut().unwrap().value_size = 8;
    let err = outer.compatible(&other).unwrap_err();
    let attrs: Vec<_> = err.mismatches.iter().map(|m| m.attribute).collect();
    assert_eq!(attrs, ["max_entries", "flags", "inner_map.value_size"]);
    assert_eq!(
        err.to_string(),
        "map `outer_arr` is incompatible: max_entries is 9 but 4 was expected, flags is 0x1 but \
         0x0 was expected, inner_map.value_size is 8 but 4 was expected"
    );
    // Types are named, with their numbers.
    let mut other = outer.copy();
    other.map_type = ebpf_spec::MapType::HashOfMaps;
    other.inner_map.as_mut().unwrap().map_type = ebpf_spec::MapType::Hash;
    assert_eq!(
        outer.compatible(&other).unwrap_err().to_string(),
        "map `outer_arr` is incompatible: type is hash_of_maps (13) but array_of_maps (12) was \
         expected, inner_map.type is hash (1) but array (2) was expected"
    );
}

/// Instructions whose immediates differ between the bpfel and bpfeb objects
/// (found by `relocations.py` from llvm-objdump): (fixture, function, slot,
/// bpfel imm, bpfeb imm). Every other instruction is identical in both.
const ENDIAN_IMMS: &[(&str, &str, usize, i32, i32)] = &[
    // r1 = 0x0100000a_00000020 ll: clang folds a 64-bit constant built from
    // two 32-bit stores, whose halves swap with the byte order.
    ("btf_maps", "btf_maps_tp", 2, 32, 167772161),
    ("btf_maps", "btf_maps_tp", 3, 16777226, 32),
];

/// What a relocation refers to, in the tables below.
#[derive(Debug, Clone, Copy)]
enum T {
    /// A map.
    M(&'static str),
    /// A data section and the symbol's offset in it.
    D(&'static str, u32),
    /// A function (bpf-to-bpf call).
    C(&'static str),
    /// An undefined symbol.
    X(&'static str),
    /// An undefined symbol declared `__weak`.
    W(&'static str),
}
use T::{C, D, M, W, X};

impl T {
    fn target(self) -> RelocationTarget {
        match self {
            M(map) => RelocationTarget::Map { map: map.into() },
            D(map, offset) => RelocationTarget::Data {
                map: map.into(),
                offset,
            },
            C(function) => RelocationTarget::Call {
                function: function.into(),
            },
            X(name) => RelocationTarget::Extern {
                name: name.into(),
                weak: false,
            },
            W(name) => RelocationTarget::Extern {
                name: name.into(),
                weak: true,
            },
        }
    }
}

/// Per object, per function (programs and `.text` functions): every
/// relocated or calling instruction as (slot in the function, opcode,
/// src_reg, target). Read from llvm-readelf and llvm-objdump -dr of the bpfel
/// objects by `fixtures/relocations.py`, which also checks that the bpfeb
/// objects say the same.
#[allow(clippy::type_complexity)]
const RELOCATIONS: &[(&str, &[(&str, &[(usize, u8, u8, T)])])] = &[
    (
        "aya_legacy.bpfel.o",
        &[
            ("aya_tc", &[(4, 0x18, 0, M("AYA_PLAIN"))]),
            ("aya_xdp", &[(4, 0x18, 0, M("AYA_PINNED"))]),
        ],
    ),
    (
        "btf_maps.bpfel.o",
        &[
            (
                "btf_maps_sock",
                &[
                    (8, 0x18, 0, M("typed_hash")),
                    (15, 0x18, 0, M("sized_array")),
                    (24, 0x18, 0, M("pinned_hash")),
                    (33, 0x18, 0, M("numa0_hash")),
                    (42, 0x18, 0, M("bloom")),
                    (47, 0x18, 0, M("queue")),
                    (52, 0x18, 0, M("events_rb")),
                ],
            ),
            (
                "btf_maps_tp",
                &[
                    (7, 0x18, 0, M("task_store")),
                    (19, 0x18, 0, M("lpm")),
                    (27, 0x18, 0, M("stack")),
                    (33, 0x18, 0, M("perf_events")),
                ],
            ),
        ],
    ),
    (
        "globals.bpfel.o",
        &[
            ("get_array", &[(4, 0x18, 0, M("values"))]),
            ("get_rate", &[(0, 0x18, 0, D(".rodata", 0))]),
            (
                "touch_all",
                &[
                    (0, 0x18, 0, D(".data", 0)),
                    (5, 0x18, 0, D(".data", 8)),
                    (8, 0x18, 0, D(".bss", 8)),
                    (11, 0x18, 0, D(".data", 0)),
                    (16, 0x18, 0, D(".bss", 0)),
                    (21, 0x18, 0, D(".data.custom", 0)),
                    (27, 0x18, 0, D(".rodata", 8)),
                    (33, 0x18, 0, W("CONFIG_BPF_SYSCALL")),
                    (38, 0x18, 0, X("LINUX_KERNEL_VERSION")),
                    (41, 0x18, 0, D(".rodata.custom", 0)),
                ],
            ),
        ],
    ),
    (
        "iproute2.bpfel.o",
        &[
            (
                "tc_act",
                &[(4, 0x18, 0, M("tc_object")), (14, 0x18, 0, M("tc_private"))],
            ),
            (
                "tc_cls",
                &[(6, 0x18, 0, M("tc_global")), (16, 0x18, 0, M("tc_outer"))],
            ),
            ("tc_xdp", &[(4, 0x18, 0, M("tc_object"))]),
        ],
    ),
    (
        "legacy_extra.bpfel.o",
        &[(
            "extra_prog",
            &[
                (6, 0x18, 0, M("extra_hash")),
                (15, 0x18, 0, M("extra_array")),
            ],
        )],
    ),
    (
        "legacy_maps.bpfel.o",
        &[(
            "legacy_prog",
            &[
                (4, 0x18, 0, M("legacy_hash")),
                (11, 0x18, 0, M("legacy_array")),
                (20, 0x18, 0, M("legacy_percpu")),
            ],
        )],
    ),
    (
        "map_in_map.bpfel.o",
        &[
            (
                "entry",
                &[
                    (7, 0x18, 0, M("outer_arr")),
                    (20, 0x18, 0, M("outer_hash")),
                    (36, 0x18, 0, M("jmp_table")),
                ],
            ),
            ("tail_x", &[]),
            ("tail_y", &[]),
        ],
    ),
    (
        "no_btf.bpfel.o",
        &[(
            "nobtf_prog",
            &[
                (0, 0x18, 0, D(".data", 0)),
                (9, 0x18, 0, M("nobtf_hash")),
                (14, 0x18, 0, D(".rodata", 0)),
                (21, 0x18, 0, M("nobtf_array")),
                (27, 0x18, 0, D(".rodata", 0)),
            ],
        )],
    ),
    (
        "programs.bpfel.o",
        &[
            ("global_sub", &[]),
            ("helper_leaf", &[(3, 0x18, 0, M("prog_stats"))]),
            ("helper_mid", &[(2, 0x85, 1, C("helper_leaf"))]),
            ("prog_cgroup_skb", &[(1, 0x85, 1, C("helper_mid"))]),
            ("prog_connect4", &[(1, 0x85, 1, C("helper_leaf"))]),
            ("prog_fentry", &[(2, 0x85, 1, C("helper_leaf"))]),
            ("prog_iter_task", &[]),
            ("prog_kprobe", &[(2, 0x85, 1, C("helper_mid"))]),
            ("prog_kretprobe", &[(1, 0x85, 1, C("helper_leaf"))]),
            ("prog_lsm", &[]),
            ("prog_perf_event", &[(1, 0x85, 1, C("helper_leaf"))]),
            ("prog_raw_tp", &[(1, 0x85, 1, C("global_sub"))]),
            ("prog_sk_msg", &[]),
            ("prog_socket", &[(1, 0x85, 1, C("helper_mid"))]),
            ("prog_stream_parser", &[]),
            ("prog_syscall", &[(1, 0x85, 1, C("global_sub"))]),
            ("prog_tc", &[(1, 0x85, 1, C("global_sub"))]),
            ("prog_tracepoint", &[(2, 0x85, 1, C("global_sub"))]),
            ("prog_xdp", &[(2, 0x85, 1, C("helper_leaf"))]),
        ],
    ),
    (
        "libxdp/xdp-dispatcher.o",
        &[
            ("compat_test", &[]),
            ("prog0", &[]),
            ("prog1", &[]),
            ("prog2", &[]),
            ("prog3", &[]),
            ("prog4", &[]),
            ("prog5", &[]),
            ("prog6", &[]),
            ("prog7", &[]),
            ("prog8", &[]),
            ("prog9", &[]),
            (
                "xdp_dispatcher",
                &[
                    (2, 0x18, 0, D(".rodata", 0)),
                    (7, 0x85, 1, C("prog0")),
                    (19, 0x85, 1, C("prog1")),
                    (20, 0x18, 0, D(".rodata", 0)),
                    (33, 0x85, 1, C("prog2")),
                    (34, 0x18, 0, D(".rodata", 0)),
                    (47, 0x85, 1, C("prog3")),
                    (48, 0x18, 0, D(".rodata", 0)),
                    (61, 0x85, 1, C("prog4")),
                    (62, 0x18, 0, D(".rodata", 0)),
                    (75, 0x85, 1, C("prog5")),
                    (76, 0x18, 0, D(".rodata", 0)),
                    (89, 0x85, 1, C("prog6")),
                    (90, 0x18, 0, D(".rodata", 0)),
                    (103, 0x85, 1, C("prog7")),
                    (104, 0x18, 0, D(".rodata", 0)),
                    (117, 0x85, 1, C("prog8")),
                    (118, 0x18, 0, D(".rodata", 0)),
                    (131, 0x85, 1, C("prog9")),
                    (132, 0x18, 0, D(".rodata", 0)),
                    (145, 0x85, 1, C("compat_test")),
                ],
            ),
            ("xdp_pass", &[]),
        ],
    ),
    (
        "libxdp/xdpdump_bpf.o",
        &[
            (
                "trace_on_entry",
                &[
                    (7, 0x18, 0, D(".data", 0)),
                    (38, 0x18, 0, M("xdpdump_perf_map")),
                ],
            ),
            (
                "trace_on_exit",
                &[
                    (8, 0x18, 0, D(".data", 0)),
                    (40, 0x18, 0, M("xdpdump_perf_map")),
                ],
            ),
        ],
    ),
    (
        "libxdp/xdpdump_xdp.o",
        &[(
            "xdpdump",
            &[
                (3, 0x18, 0, D(".data", 0)),
                (29, 0x18, 0, M("xdpdump_perf_map")),
            ],
        )],
    ),
    (
        "libxdp/xdpfilt_alw_all.o",
        &[(
            "xdpfilt_alw_all",
            &[
                (97, 0x18, 0, M("filter_ethernet")),
                (123, 0x18, 0, M("filter_ethernet")),
                (137, 0x18, 0, M("xdp_stats_map")),
                (176, 0x18, 0, M("filter_ipv4")),
                (188, 0x18, 0, M("filter_ipv4")),
                (332, 0x18, 0, M("filter_ipv6")),
                (352, 0x18, 0, M("filter_ipv6")),
                (377, 0x18, 0, M("filter_ports")),
                (389, 0x18, 0, M("filter_ports")),
                (413, 0x18, 0, M("filter_ports")),
                (425, 0x18, 0, M("filter_ports")),
            ],
        )],
    ),
    (
        "libxdp/xdpfilt_alw_eth.o",
        &[(
            "xdpfilt_alw_eth",
            &[
                (26, 0x18, 0, M("filter_ethernet")),
                (52, 0x18, 0, M("filter_ethernet")),
                (67, 0x18, 0, M("xdp_stats_map")),
            ],
        )],
    ),
    (
        "libxdp/xdpfilt_alw_ip.o",
        &[(
            "xdpfilt_alw_ip",
            &[
                (97, 0x18, 0, M("filter_ipv4")),
                (109, 0x18, 0, M("filter_ipv4")),
                (246, 0x18, 0, M("filter_ipv6")),
                (266, 0x18, 0, M("filter_ipv6")),
                (281, 0x18, 0, M("xdp_stats_map")),
            ],
        )],
    ),
    (
        "libxdp/xdpfilt_alw_tcp.o",
        &[(
            "xdpfilt_alw_tcp",
            &[
                (110, 0x18, 0, M("filter_ports")),
                (122, 0x18, 0, M("filter_ports")),
                (137, 0x18, 0, M("xdp_stats_map")),
            ],
        )],
    ),
    (
        "libxdp/xdpfilt_alw_udp.o",
        &[(
            "xdpfilt_alw_udp",
            &[
                (108, 0x18, 0, M("filter_ports")),
                (120, 0x18, 0, M("filter_ports")),
                (135, 0x18, 0, M("xdp_stats_map")),
            ],
        )],
    ),
    (
        "libxdp/xdpfilt_dny_all.o",
        &[(
            "xdpfilt_dny_all",
            &[
                (97, 0x18, 0, M("filter_ethernet")),
                (123, 0x18, 0, M("filter_ethernet")),
                (137, 0x18, 0, M("xdp_stats_map")),
                (176, 0x18, 0, M("filter_ipv4")),
                (188, 0x18, 0, M("filter_ipv4")),
                (332, 0x18, 0, M("filter_ipv6")),
                (352, 0x18, 0, M("filter_ipv6")),
                (377, 0x18, 0, M("filter_ports")),
                (389, 0x18, 0, M("filter_ports")),
                (413, 0x18, 0, M("filter_ports")),
                (425, 0x18, 0, M("filter_ports")),
            ],
        )],
    ),
    (
        "libxdp/xdpfilt_dny_eth.o",
        &[(
            "xdpfilt_dny_eth",
            &[
                (26, 0x18, 0, M("filter_ethernet")),
                (52, 0x18, 0, M("filter_ethernet")),
                (67, 0x18, 0, M("xdp_stats_map")),
            ],
        )],
    ),
    (
        "libxdp/xdpfilt_dny_ip.o",
        &[(
            "xdpfilt_dny_ip",
            &[
                (97, 0x18, 0, M("filter_ipv4")),
                (109, 0x18, 0, M("filter_ipv4")),
                (246, 0x18, 0, M("filter_ipv6")),
                (266, 0x18, 0, M("filter_ipv6")),
                (281, 0x18, 0, M("xdp_stats_map")),
            ],
        )],
    ),
    (
        "libxdp/xdpfilt_dny_tcp.o",
        &[(
            "xdpfilt_dny_tcp",
            &[
                (110, 0x18, 0, M("filter_ports")),
                (122, 0x18, 0, M("filter_ports")),
                (137, 0x18, 0, M("xdp_stats_map")),
            ],
        )],
    ),
    (
        "libxdp/xdpfilt_dny_udp.o",
        &[(
            "xdpfilt_dny_udp",
            &[
                (108, 0x18, 0, M("filter_ports")),
                (120, 0x18, 0, M("filter_ports")),
                (135, 0x18, 0, M("xdp_stats_map")),
            ],
        )],
    ),
    (
        "libxdp/xsk_def_xdp_prog.o",
        &[(
            "xsk_def_prog",
            &[(1, 0x18, 0, D(".data", 0)), (6, 0x18, 0, M("xsks_map"))],
        )],
    ),
    (
        "libxdp/xsk_def_xdp_prog_5.3.o",
        &[(
            "xsk_def_prog",
            &[
                (3, 0x18, 0, D(".data", 0)),
                (9, 0x18, 0, M("xsks_map")),
                (16, 0x18, 0, M("xsks_map")),
            ],
        )],
    ),
];

#[test]
fn relocations_with_their_instructions() {
    for &(object, functions) in RELOCATIONS {
        let mut paths = vec![object.to_string()];
        if let Some(stem) = object.strip_suffix(".bpfel.o") {
            paths.push(format!("{stem}.bpfeb.o"));
        }
        for path in paths {
            let spec = parse(&path);
            let all: Vec<_> = spec
                .programs
                .values()
                .chain(spec.functions.values())
                .collect();
            let mut names: Vec<_> = all.iter().map(|p| p.name.as_str()).collect();
            names.sort();
            let expected: Vec<_> = functions.iter().map(|(n, _)| *n).collect();
            assert_eq!(names, expected, "{path}: functions");
            for &(name, rows) in functions {
                let p = all.iter().find(|p| p.name == name).unwrap();
                let got: Vec<_> = p
                    .relocations
                    .iter()
                    .map(|r| {
                        let insn = &p.instructions[r.instruction];
                        (r.instruction, insn.code, insn.src_reg(), r.target.clone())
                    })
                    .collect();
                let want: Vec<_> = rows
                    .iter()
                    .map(|&(slot, code, src, t)| (slot, code, src, t.target()))
                    .collect();
                assert_eq!(got, want, "{path}: {name}");
                for r in &p.relocations {
                    let insn = &p.instructions[r.instruction];
                    match &r.target {
                        // A 16-byte load: its second half is an empty slot.
                        RelocationTarget::Map { .. }
                        | RelocationTarget::Data { .. }
                        | RelocationTarget::Extern { .. } => {
                            assert!(insn.is_ld_imm64(), "{path}: {name} {}", r.instruction);
                            let hi = &p.instructions[r.instruction + 1];
                            assert_eq!((hi.code, hi.regs, hi.off), (0, 0, 0));
                        }
                        RelocationTarget::Call { .. } => {
                            assert!(insn.is_pseudo_call(), "{path}: {name} {}", r.instruction)
                        }
                    }
                }
            }
        }
    }
}
