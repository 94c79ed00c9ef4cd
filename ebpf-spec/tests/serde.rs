//! The `serde` feature: every fixture's spec survives a JSON round trip
//! unchanged, and values this library has no name for (map types, flag bits,
//! program and attach types) keep their numbers.
//!
//! `cargo test --workspace` runs this: ebpf-spec's dev-dependency on itself
//! turns the `serde` feature on for its tests.

use ebpf_spec::{
    AttachType, ByteOrder, CollectionSpec, MapExtra, MapFlags, MapSpec, MapType, ProgramType,
};
use std::path::Path;

fn fixtures() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files = Vec::new();
    for d in [
        dir.clone(),
        dir.join("libxdp"),
        dir.join("ksyms"),
        dir.join("core"),
        dir.join("struct_ops"),
        dir.join("libbpf_rules"),
        dir.join("arena"),
        dir.join("hidden"),
        dir.join("kconfig"),
        dir.join("alias"),
        dir.join("linked"),
        dir.join("btf_refused"),
    ] {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "o") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_fixture_round_trips_through_json() {
    let files = fixtures();
    assert_eq!(
        files.len(),
        20 + 15 + 5 * 2 + 3 + 2 * 3 + 1,
        "10 fixtures and ksyms, core, struct_ops, libbpf_rules and arena in 2 byte orders; \
         15 libxdp objects; hidden (3), kconfig, alias and btf_refused in 2 byte orders, \
         linked"
    );
    for path in files {
        let spec = CollectionSpec::from_file(&path).unwrap();
        let json = serde_json::to_string(&spec).unwrap();
        let back: CollectionSpec =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(back, spec, "{}", path.display());
        // And the round trip is stable.
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
    }
}

#[test]
fn unknown_values_keep_their_numbers() {
    let mut m = MapSpec::new("m", MapType::Unknown(77), 4, 4, 1);
    m.flags = MapFlags::from_bits_retain(MapFlags::NO_PREALLOC.bits() | 1 << 30);
    m.extra = MapExtra::new(vec![1, 2, 3], ByteOrder::Big);
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["map_type"], 77);
    assert_eq!(json["flags"], (1u64 << 30) | 1);
    let back: MapSpec = serde_json::from_value(json).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.flags.bits(), 1 << 30 | 1);
    assert_eq!(back.map_type, MapType::Unknown(77));

    let arena: MapType = serde_json::from_str("33").unwrap();
    assert_eq!(arena, MapType::Arena);
    assert_eq!(serde_json::to_string(&MapType::Arena).unwrap(), "33");
    let t: ProgramType = serde_json::from_str("4242").unwrap();
    assert_eq!(t, ProgramType::Unknown(4242));
    let a: AttachType = serde_json::from_str("999").unwrap();
    assert_eq!(serde_json::to_string(&a).unwrap(), "999");
}

/// An instruction is written with its registers by number, not as the
/// host's nibble order (a spec written on x86 read on s390x swapped them),
/// and registers that do not fit 4 bits are refused.
#[test]
fn instructions_are_written_with_their_registers_by_number() {
    let insn = ebpf_spec::Instruction::new(0xbf, 1, 2, -3, 7);
    let json = serde_json::to_string(&insn).unwrap();
    assert_eq!(
        json,
        r#"{"code":191,"dst_reg":1,"src_reg":2,"off":-3,"imm":7}"#
    );
    let back: ebpf_spec::Instruction = serde_json::from_str(&json).unwrap();
    assert_eq!((back.dst_reg(), back.src_reg()), (1, 2));
    assert_eq!(back, insn);
    let e = serde_json::from_str::<ebpf_spec::Instruction>(
        r#"{"code":191,"dst_reg":16,"src_reg":2,"off":0,"imm":0}"#,
    )
    .unwrap_err();
    assert!(e.to_string().contains("registers are 4 bits"), "{e}");
}
