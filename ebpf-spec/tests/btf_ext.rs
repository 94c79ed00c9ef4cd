//! `ebpf_spec::btf::BtfExt`: crafted `.BTF.ext` blobs (record sizes larger
//! than the records, hostile counts and offsets), the CO-RE fixture in both
//! byte orders, and the conversion to spec-level records.

mod btf_support;

use btf_support::{BtfBuilder, CORE_EB, CORE_EL, ExtBuilder, functions, order_of, section};
use ebpf_spec::btf::{
    Btf, BtfError, BtfExt, CoreRelocation, CoreRelocationKind, FuncInfo, LineInfo, TypeData,
};
use ebpf_spec::deep_copy::assert_deep_copy;
use ebpf_spec::{ByteOrder, DeepCopy};
use std::collections::BTreeSet;

fn strings_btf() -> (BtfBuilder, u32, u32, u32) {
    let mut b = BtfBuilder::new();
    let text = b.str(".text");
    let xdp = b.str("xdp");
    let access = b.str("0:1");
    b.int("int", 4, true);
    (b, text, xdp, access)
}

#[test]
fn records_with_larger_record_sizes_are_read_and_tails_skipped() {
    let (b, text, xdp, access) = strings_btf();
    for order in [ByteOrder::Little, ByteOrder::Big] {
        let btf = Btf::parse(&b.build(order), order).unwrap();
        for rec_sizes in [[8, 16, 16], [12, 24, 20], [64, 64, 64]] {
            let ext = ExtBuilder {
                func: vec![
                    (text, vec![vec![0, 1], vec![24, 2]]),
                    (xdp, vec![vec![0, 3]]),
                ],
                line: vec![(xdp, vec![vec![8, 1, 2, 5 << 10 | 3]])],
                core: vec![(text, vec![vec![16, 1, access, 0], vec![32, 1, access, 99]])],
                rec_sizes,
                with_core: true,
            }
            .build(order);
            let ext = BtfExt::parse(&ext, order, &btf).unwrap();
            let names: Vec<_> = ext.sections().map(|(n, _)| n).collect();
            assert_eq!(names, [".text", "xdp"]);
            let t = ext.section(".text").unwrap();
            assert_eq!(t.func_info.len(), 2);
            assert_eq!((t.func_info[1].insn_off, t.func_info[1].type_id), (24, 2));
            assert_eq!(t.core_relos.len(), 2);
            assert_eq!(&*t.core_relos[0].access, "0:1");
            assert_eq!(t.core_relos[0].kind, CoreRelocationKind::FieldByteOffset);
            assert_eq!(t.core_relos[1].kind, CoreRelocationKind::Unknown(99));
            let x = ext.section("xdp").unwrap();
            assert_eq!(x.line_info[0].line_col, 5 << 10 | 3);

            // Spec-level records, relative to a function starting at slot 2.
            assert_eq!(
                t.func_infos(2..10),
                [FuncInfo {
                    instruction: 1,
                    type_id: 2
                }]
            );
            assert_eq!(
                t.core_relocations(2..4),
                [CoreRelocation {
                    instruction: 0,
                    type_id: 1,
                    access: "0:1".into(),
                    kind: CoreRelocationKind::FieldByteOffset
                }]
            );
            let lines = x.line_infos(0..2);
            assert_eq!(
                lines,
                [LineInfo {
                    instruction: 1,
                    file_name_off: 1,
                    line_off: 2,
                    line_col: 5 << 10 | 3
                }]
            );
            assert_eq!((lines[0].line(), lines[0].column()), (5, 3));
            assert!(ext.section("nope").is_none());
        }
    }
}

#[test]
fn a_header_without_core_relos_is_read() {
    let (b, text, _, _) = strings_btf();
    let btf = Btf::parse(&b.build(ByteOrder::Little), ByteOrder::Little).unwrap();
    let ext = ExtBuilder {
        func: vec![(text, vec![vec![0, 1]])],
        with_core: false,
        ..ExtBuilder::default()
    }
    .build(ByteOrder::Little);
    let ext = BtfExt::parse(&ext, ByteOrder::Little, &btf).unwrap();
    let t = ext.section(".text").unwrap();
    assert_eq!(t.func_info.len(), 1);
    assert!(t.core_relos.is_empty());
}

#[test]
fn hostile_ext_blobs_are_errors() {
    let (b, text, _, access) = strings_btf();
    let order = ByteOrder::Little;
    let btf = Btf::parse(&b.build(order), order).unwrap();
    let good = ExtBuilder {
        func: vec![(text, vec![vec![0, 1]])],
        line: vec![(text, vec![vec![0, 1, 1, 1]])],
        core: vec![(text, vec![vec![0, 1, access, 0]])],
        ..ExtBuilder::default()
    };
    let parse = |d: &[u8]| BtfExt::parse(d, order, &btf);
    let ext_err = |r: Result<BtfExt, BtfError>| matches!(r, Err(BtfError::Ext { .. }));
    let bytes = good.build(order);
    assert!(parse(&bytes).is_ok());
    assert!(
        ext_err(BtfExt::parse(&bytes, ByteOrder::Big, &btf)),
        "byte order"
    );
    let with = |at: usize, v: u32| {
        let mut d = bytes.clone();
        d[at..at + 4].copy_from_slice(&v.to_le_bytes());
        d
    };
    let mut flags = bytes.clone();
    flags[3] = 1;
    assert!(ext_err(parse(&flags)));
    let mut version = bytes.clone();
    version[2] = 2;
    assert!(ext_err(parse(&version)));
    assert!(ext_err(parse(&with(4, 16))), "hdr_len < 24");
    assert!(ext_err(parse(&with(4, 100_000))), "hdr_len past the end");
    assert!(ext_err(parse(&with(8, 2))), "misaligned func_info");
    assert!(ext_err(parse(&with(12, 100_000))), "func_info past the end");
    assert!(ext_err(parse(&with(8, u32::MAX - 3))), "offset overflow");
    assert!(ext_err(parse(&with(28, u32::MAX))), "core_relo length");
    // The func_info region starts at 32: record size, then the section.
    assert!(
        ext_err(parse(&with(32, 4))),
        "record size smaller than the record"
    );
    assert!(
        ext_err(parse(&with(32, 10))),
        "record size not a multiple of 4"
    );
    assert!(ext_err(parse(&with(32, 0xffff_fffc))), "huge record size");
    assert!(ext_err(parse(&with(36, 9999))), "section name offset");
    assert!(ext_err(parse(&with(36, 0))), "empty section name");
    assert!(ext_err(parse(&with(40, 0))), "no records");
    assert!(ext_err(parse(&with(40, u32::MAX))), "huge count");
    assert!(
        ext_err(parse(&with(44, 3))),
        "misaligned instruction offset"
    );
    // core_relo: record size at 32 + 20 + 28 = 80, then name, count, record.
    let core_at = 32 + 20 + 28;
    assert_eq!(
        u32::from_le_bytes(bytes[core_at..core_at + 4].try_into().unwrap()),
        16
    );
    assert!(
        ext_err(parse(&with(core_at + 12 + 8, 9999))),
        "access string offset"
    );
    for len in 0..bytes.len() {
        // Truncations are errors (the header's regions point past the end).
        assert!(parse(&bytes[..len]).is_err(), "prefix {len}");
    }
    for at in 0..bytes.len() {
        for bit in 0..8 {
            let mut d = bytes.clone();
            d[at] ^= 1 << bit;
            let _ = parse(&d);
        }
    }
}

/// The fixture's `.BTF.ext`: per program section, the func_info of each
/// function names that function's FUNC, and the CO-RE relocations name the
/// local types the source reads.
#[test]
fn the_core_fixture_has_the_expected_records() {
    let order = order_of(CORE_EL);
    let btf = Btf::parse(section(CORE_EL, ".BTF"), order).unwrap();
    let ext = BtfExt::parse(section(CORE_EL, ".BTF.ext"), order, &btf).unwrap();
    let names: Vec<_> = ext.sections().map(|(n, _)| n).collect();
    assert_eq!(names, ["tp_btf/kfree_skb", "tp_btf/sched_process_exec"]);
    for f in functions(CORE_EL) {
        let sec = ext.section(&f.section).unwrap();
        let range = f.start..f.start + f.insns.len();
        let funcs = sec.func_infos(range.clone());
        assert_eq!(funcs.len(), 1, "{}", f.name);
        assert_eq!(funcs[0].instruction, 0);
        assert_eq!(btf.name(funcs[0].type_id), Some(f.name.as_str()));
        let lines = sec.line_infos(range.clone());
        assert!(!lines.is_empty());
        assert!(lines.iter().all(|l| l.instruction < f.insns.len()));
        assert!(lines.iter().any(|l| l.line() > 0));
        let file = btf.string_at(lines[0].file_name_off).unwrap();
        assert!(file.ends_with("core.bpf.c"), "{file}");
        let relos = sec.core_relocations(range);
        assert!(relos.iter().all(|r| r.instruction < f.insns.len()));
        // Spec values: deep copies share nothing with the original.
        assert_deep_copy(&relos, &relos.deep_copy());
        assert_deep_copy(&lines, &lines.deep_copy());
        assert_deep_copy(&funcs, &funcs.deep_copy());
        let types: BTreeSet<_> = relos.iter().map(|r| btf.name(r.type_id).unwrap()).collect();
        let expected: &[&str] = match f.name.as_str() {
            "fields" => &[
                "task_struct",
                "task_struct___flavor",
                "task_struct___missing",
            ],
            "probed" => &["task_struct"],
            "types" => &["bpf_map_type___core", "no_such_type___core", "task_struct"],
            "skb" => &["sk_buff"],
            other => panic!("unexpected function {other}"),
        };
        assert_eq!(
            types.into_iter().collect::<Vec<_>>(),
            expected,
            "{}",
            f.name
        );
    }
}

/// A comparable summary of a BTF: every type's kind, name and data, with
/// names instead of string offsets.
fn summary(btf: &Btf) -> Vec<String> {
    btf.ids()
        .map(|id| {
            let t = btf.ty(id).unwrap();
            let data = match t.data() {
                TypeData::Struct(m) | TypeData::Union(m) => m
                    .iter()
                    .map(|m| format!("{:?}:{}@{}/{}", m.name, m.ty, m.bit_offset, m.bitfield_size))
                    .collect::<Vec<_>>()
                    .join(","),
                TypeData::Enum(e) | TypeData::Enum64(e) => e
                    .iter()
                    .map(|v| format!("{:?}={}", v.name, v.value))
                    .collect::<Vec<_>>()
                    .join(","),
                TypeData::FuncProto { ret, params } => format!(
                    "{ret}({})",
                    params
                        .iter()
                        .map(|p| format!("{:?}:{}", p.name, p.ty))
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                other => format!("{other:?}"),
            };
            format!("{id} {} {:?} {data}", t.kind(), t.name())
        })
        .collect()
}

/// The big-endian object's BTF parses to the same types, and its
/// `.BTF.ext` to the same records where the code is the same (clang
/// generates different code for bitfields on bpfeb, so the `probed` and
/// `types` functions sit at other offsets).
#[test]
fn big_and_little_endian_objects_parse_to_the_same_records() {
    let el = Btf::parse(section(CORE_EL, ".BTF"), ByteOrder::Little).unwrap();
    let eb = Btf::parse(section(CORE_EB, ".BTF"), ByteOrder::Big).unwrap();
    assert_eq!(order_of(CORE_EB), ByteOrder::Big);
    assert_eq!(summary(&el), summary(&eb));
    assert!(Btf::parse(section(CORE_EB, ".BTF"), ByteOrder::Little).is_err());

    let ext_el = BtfExt::parse(section(CORE_EL, ".BTF.ext"), ByteOrder::Little, &el).unwrap();
    let ext_eb = BtfExt::parse(section(CORE_EB, ".BTF.ext"), ByteOrder::Big, &eb).unwrap();
    let fel = functions(CORE_EL);
    let feb = functions(CORE_EB);
    assert_eq!(fel.len(), feb.len());
    for (a, b) in fel.iter().zip(&feb) {
        assert_eq!((&a.name, &a.section), (&b.name, &b.section));
        let (sa, sb) = (
            ext_el.section(&a.section).unwrap(),
            ext_eb.section(&b.section).unwrap(),
        );
        let (ra, rb) = (
            a.start..a.start + a.insns.len(),
            b.start..b.start + b.insns.len(),
        );
        assert_eq!(
            sa.func_infos(ra.clone()),
            sb.func_infos(rb.clone()),
            "{}",
            a.name
        );
        let (ca, cb) = (
            sa.core_relocations(ra.clone()),
            sb.core_relocations(rb.clone()),
        );
        if a.name == "fields" || a.name == "skb" {
            assert_eq!(ca, cb, "{}", a.name);
            assert_eq!(sa.line_infos(ra), sb.line_infos(rb), "{}", a.name);
        } else {
            let set = |c: &[CoreRelocation]| {
                c.iter()
                    .map(|r| (r.type_id, r.access.clone(), r.kind.raw()))
                    .collect::<BTreeSet<_>>()
            };
            assert_eq!(set(&ca), set(&cb), "{}", a.name);
        }
    }
}

/// Section names are offsets into the BTF's strings, so every suffix of one
/// long string names a section of its own: copied each, 4,000 suffixes of a
/// 4,000-byte string come to 8 MB (the square of the input). Past twice the
/// string section, new names are refused; a name met again is not copied
/// again, however many records and sections use it.
#[test]
fn section_names_overlapping_past_twice_the_strings_are_refused() {
    let mut b = BtfBuilder::new();
    let long = b.str(&"s".repeat(4000));
    b.int("int", 4, true);
    let order = ByteOrder::Little;
    let btf = Btf::parse(&b.build(order), order).unwrap();
    let ext = |names: Vec<u32>| {
        ExtBuilder {
            func: names.into_iter().map(|n| (n, vec![vec![0, 1]])).collect(),
            ..ExtBuilder::default()
        }
        .build(order)
    };
    let suffixes = ext((0..4000).map(|i| long + i).collect());
    match BtfExt::parse(&suffixes, order, &btf) {
        Err(BtfError::Ext { what }) => {
            assert!(what.contains("section names, overlapping"), "{what}")
        }
        other => panic!("4,000 overlapping names: {other:?}"),
    }
    // A few suffixes are fine, and one name used by 4,000 section headers
    // is one section.
    let few = BtfExt::parse(&ext((0..3).map(|i| long + i).collect()), order, &btf).unwrap();
    assert_eq!(few.sections().count(), 3);
    let same = BtfExt::parse(&ext(vec![long; 4000]), order, &btf).unwrap();
    assert_eq!(same.sections().count(), 1);
    assert_eq!(same.sections().next().unwrap().1.func_info.len(), 4000);
}
