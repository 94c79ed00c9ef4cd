//! The spec types' own behaviour: kernel enums keep unknown values, map flags
//! keep unknown bits, `set_variable` is all or nothing, `compatible` tells an
//! inner map that is absent from one that is unknown, and `MapExtra` says what
//! a loader cannot honour.

use ebpf_spec::{
    ByteOrder, CollectionSpec, InnerMap, MapAttributes, MapExtra, MapFlags, MapSpec, MapType,
    MapValue, SetError, UnsupportedExtra,
};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

#[test]
fn map_type_unknown_and_arena_round_trip() {
    let arena = MapType::from_raw(33);
    assert_eq!(arena, MapType::Arena);
    assert_eq!(arena.raw(), 33);
    assert_eq!(arena.name(), "arena");
    assert_eq!(arena.to_string(), "arena");
    assert_eq!(MapType::ALL.last(), Some(&MapType::Arena));
    assert_eq!(MapType::ALL.len(), 34, "UNSPEC (0) through ARENA (33)");
    for (i, t) in MapType::ALL.iter().enumerate() {
        assert_eq!(t.raw() as usize, i);
        assert_eq!(MapType::from_raw(t.raw()), *t);
        assert_ne!(t.name(), "unknown");
    }

    // 34 (INSN_ARRAY) and beyond are newer than this library: kept as numbers.
    for raw in [34, 35, 1000, u32::MAX] {
        let t = MapType::from_raw(raw);
        assert_eq!(t, MapType::Unknown(raw));
        assert_eq!(t.raw(), raw);
        assert_eq!(t.name(), "unknown");
        assert_eq!(t.to_string(), format!("unknown({raw})"));
        assert!(!t.is_map_in_map());
    }
    assert!(MapType::Unknown(34) < MapType::Unknown(35));

    // An `Unknown` made by hand with a known number is that variant: equal,
    // hashed and ordered alike, and its predicates answer as the variant's.
    use std::hash::{BuildHasher, RandomState};
    let hashes = RandomState::new();
    assert_eq!(MapType::Unknown(1), MapType::Hash);
    assert_eq!(
        hashes.hash_one(MapType::Unknown(1)),
        hashes.hash_one(MapType::Hash)
    );
    assert_eq!(MapType::Unknown(12).canonical(), MapType::ArrayOfMaps);
    assert!(MapType::Unknown(12).is_map_in_map());
    assert!(MapType::Unknown(9).is_lru());
    assert!(MapType::Hash < MapType::Unknown(2));
    assert_eq!(MapType::Unknown(77).canonical(), MapType::Unknown(77));
    assert_eq!(MapType::Unknown(1).to_string(), "hash");
    assert_eq!(MapType::Unknown(1).name(), "hash");
}

#[test]
fn map_flags_keep_unknown_bits() {
    let raw = MapFlags::MMAPABLE.bits() | 1 << 31 | 1 << 19;
    let f = MapFlags::from_bits_retain(raw);
    assert_eq!(f.bits(), raw);
    assert!(f.contains(MapFlags::MMAPABLE));
    let unknown = f & !MapFlags::all();
    assert_eq!(
        unknown.bits(),
        0,
        "`all()` covers every bit: unknown ones are kept"
    );
    assert_eq!(
        f.iter_names().map(|(n, _)| n).collect::<Vec<_>>(),
        ["MMAPABLE"]
    );
    let mut spec = MapSpec::new("m", MapType::Array, 4, 4, 1);
    spec.flags = f;
    assert_eq!(spec.copy().flags.bits(), raw);
}

fn globals() -> CollectionSpec {
    CollectionSpec::from_file(format!("{DIR}/globals.bpfel.o")).unwrap()
}

/// A variable whose section no map holds (a data section renamed without
/// its variables) is refused, naming both: the value would be dropped.
#[test]
fn set_variable_refuses_a_section_no_map_holds() {
    let mut spec = globals();
    let mut rodata = spec.maps.remove(".rodata").unwrap();
    rodata.name = ".rodata.tenant1".into();
    spec.maps.insert(rodata.name.clone(), rodata);
    let before = spec.clone();
    let e = spec
        .set_variable("sample_rate", &99u32.to_ne_bytes())
        .unwrap_err();
    assert_eq!(
        e,
        SetError::NoSuchSection {
            name: "sample_rate".into(),
            section: ".rodata".into()
        }
    );
    assert!(
        e.to_string().contains("rename the variables' `section`"),
        "{e}"
    );
    assert_eq!(spec, before);
    // Renamed with it, the variable is set in the renamed map.
    spec.variables.get_mut("sample_rate").unwrap().section = ".rodata.tenant1".into();
    spec.set_variable("sample_rate", &99u32.to_ne_bytes())
        .unwrap();
    let MapValue::Bytes(bytes) = &spec.maps[".rodata.tenant1"].contents[0].value else {
        panic!("a data section holds bytes");
    };
    let at = spec.variables["sample_rate"].range();
    assert_eq!(bytes[at], 99u32.to_ne_bytes());
}

#[test]
fn set_variable_is_all_or_nothing() {
    let mut spec = globals();
    let before = spec.clone();
    // `greeting` is 6 bytes at offset 16 of `.rodata` (22 bytes): make the
    // map too small for it, as an inconsistent edit would.
    spec.maps.get_mut(".rodata").unwrap().value_size = 20;
    let e = spec.set_variable("greeting", b"howdy\0").unwrap_err();
    assert_eq!(
        e,
        SetError::OutsideSection {
            name: "greeting".into(),
            map: ".rodata".into(),
            offset: 16,
            size: 6
        }
    );
    assert_eq!(
        spec.variables["greeting"], before.variables["greeting"],
        "the variable is unchanged when the section cannot be written"
    );
    assert_eq!(
        spec.maps[".rodata"].contents,
        before.maps[".rodata"].contents
    );

    // The section's bytes shorter than the variable: the same.
    let mut spec = globals();
    spec.maps.get_mut(".rodata").unwrap().contents[0].value = MapValue::Bytes(vec![0; 4]);
    assert!(spec.set_variable("greeting", b"howdy\0").is_err());
    assert_eq!(spec.variables["greeting"].value, b"hello\0");

    // A `__kconfig` extern's value is the running kernel's: setting one
    // (through the spec or the variable) is refused, not silently dropped.
    let mut spec = globals();
    for e in [
        spec.set_variable("LINUX_KERNEL_VERSION", &[1, 0, 0, 0])
            .unwrap_err(),
        spec.variables
            .get_mut("LINUX_KERNEL_VERSION")
            .unwrap()
            .set(&[1, 0, 0, 0])
            .unwrap_err(),
    ] {
        assert_eq!(
            e,
            SetError::FromKernel {
                name: "LINUX_KERNEL_VERSION".into()
            }
        );
    }
    assert_eq!(spec, globals());

    // A wrong size changes nothing either.
    let mut spec = globals();
    assert!(matches!(
        spec.set_variable("greeting", b"hi"),
        Err(SetError::WrongSize { .. })
    ));
    assert_eq!(spec, globals());

    // And a good value changes both.
    let mut spec = globals();
    spec.set_variable("greeting", b"howdy\0").unwrap();
    assert_eq!(spec.variables["greeting"].value, b"howdy\0");
    let MapValue::Bytes(b) = &spec.maps[".rodata"].contents[0].value else {
        panic!()
    };
    assert_eq!(&b[16..22], b"howdy\0");
}

/// A map as the kernel reports it: attributes only, no inner map template.
struct Kernel(MapSpec);

impl MapAttributes for Kernel {
    fn map_type(&self) -> MapType {
        self.0.map_type
    }
    fn key_size(&self) -> u32 {
        self.0.key_size
    }
    fn value_size(&self) -> u32 {
        self.0.value_size
    }
    fn max_entries(&self) -> u32 {
        self.0.max_entries
    }
    fn flags(&self) -> MapFlags {
        self.0.flags
    }
    fn map_extra(&self) -> u64 {
        self.0.map_extra
    }
}

#[test]
fn compatible_tells_an_absent_inner_map_from_an_unknown_one() {
    let mut outer = MapSpec::new("outer", MapType::ArrayOfMaps, 4, 4, 2);
    outer.inner_map = Some(Box::new(MapSpec::new("inner", MapType::Array, 4, 8, 1)));
    let mut bare = outer.copy();
    bare.inner_map = None;

    assert_eq!(
        outer.inner_map(),
        InnerMap::Present(&outer.inner_map.as_deref().unwrap().clone())
    );
    assert_eq!(bare.inner_map(), InnerMap::Absent);
    assert_eq!(Kernel(outer.copy()).inner_map(), InnerMap::Unknown);

    // Present here, absent there (and the reverse): one mismatch `inner_map`.
    let e = outer.compatible(&bare).unwrap_err();
    let m: Vec<_> = e
        .mismatches
        .iter()
        .map(|m| (m.attribute, m.expected, m.found))
        .collect();
    assert_eq!(m, [("inner_map", 1, 0)]);
    assert_eq!(
        e.to_string(),
        "map `outer` is incompatible: inner_map is 0 but 1 was expected"
    );
    let e = bare.compatible(&outer).unwrap_err();
    let m: Vec<_> = e
        .mismatches
        .iter()
        .map(|m| (m.attribute, m.expected, m.found))
        .collect();
    assert_eq!(m, [("inner_map", 0, 1)]);

    // Unknown (a kernel map): not compared, either way.
    assert!(outer.compatible(&Kernel(bare.copy())).is_ok());
    assert!(bare.compatible(&Kernel(outer.copy())).is_ok());
    // Both present: compared attribute by attribute.
    let mut other = outer.copy();
    other.inner_map.as_mut().unwrap().max_entries = 3;
    let e = outer.compatible(&other).unwrap_err();
    assert_eq!(e.mismatches[0].attribute, "inner_map.max_entries");
    assert!(bare.compatible(&bare.copy()).is_ok());
}

#[test]
fn map_extra_says_what_a_loader_cannot_honour() {
    let le = ByteOrder::Little;
    let words = |w: &[u32]| -> Vec<u8> { w.iter().flat_map(|w| w.to_le_bytes()).collect() };
    // iproute2 pinning 0, 1, 2: fine; 3 and up: a custom namespace.
    for p in 0..=2 {
        assert_eq!(MapExtra::new(words(&[0, p, 0, 0]), le).unsupported(), None);
    }
    for p in [3, 7, u32::MAX] {
        let extra = MapExtra::new(words(&[9, p, 0, 0]), le);
        assert_eq!(
            extra.unsupported(),
            Some(UnsupportedExtra::CustomPinning(p))
        );
        assert!(!extra.has_unknown_nonzero());
        assert!(
            extra
                .unsupported()
                .unwrap()
                .to_string()
                .starts_with(&format!(
                    "iproute2 pinning value {p} (a custom pinning namespace"
                ))
        );
    }
    // Big-endian fields are read in their order.
    let be: Vec<u8> = [0u32, 3, 0, 0]
        .iter()
        .flat_map(|w| w.to_be_bytes())
        .collect();
    assert_eq!(
        MapExtra::new(be, ByteOrder::Big).unsupported(),
        Some(UnsupportedExtra::CustomPinning(3))
    );
    // Unknown non-zero bytes after the 16 iproute2 bytes come first.
    let extra = MapExtra::new(words(&[0, 5, 0, 0, 1]), le);
    assert_eq!(
        extra.unsupported(),
        Some(UnsupportedExtra::UnknownBytes {
            len: 4,
            hex: extra.to_hex()
        })
    );
    assert_eq!(
        MapExtra::new(words(&[0, 0, 0, 0, 0]), le).unsupported(),
        None
    );
    assert_eq!(MapExtra::default().unsupported(), None);
}

#[test]
fn data_section_maps_and_btf_capable_types() {
    let data = |name: &str| MapSpec::new(name, MapType::Array, 4, 8, 1).is_global_data();
    assert!(data(".rodata.custom"));
    assert!(data(".bss"));
    assert!(data(".data"));
    assert!(data(".kconfig"));
    assert!(!data(".database"));
    assert!(!data("data"));
    assert!(!MapSpec::new(".bss", MapType::Hash, 4, 8, 1).is_global_data());

    assert!(MapType::Hash.accepts_btf_types());
    assert!(MapType::Array.accepts_btf_types());
    assert!(!MapType::RingBuf.accepts_btf_types());
    assert!(!MapType::ArrayOfMaps.accepts_btf_types());
    assert!(!MapType::PerfEventArray.accepts_btf_types());
}

/// A spec built by hand is in the host's byte order: loadable where it is
/// built.
#[test]
fn the_default_byte_order_is_the_hosts() {
    assert_eq!(ByteOrder::default(), ByteOrder::NATIVE);
    assert_eq!(CollectionSpec::default().byte_order, ByteOrder::NATIVE);
    assert_eq!(ByteOrder::Little.to_string(), "little-endian");
    assert_eq!(ByteOrder::Big.to_string(), "big-endian");
}

/// A spec's `Debug` shows its BTF's length, not the bytes: a kernel-sized
/// BTF printed as numbers ran to megabytes.
#[test]
fn debug_shows_the_btf_length_not_its_bytes() {
    let spec = globals();
    let btf = spec.btf.as_ref().unwrap();
    assert_eq!(
        format!("{btf:?}"),
        format!("BtfSpec {{ btf: <{} bytes> }}", btf.btf.len())
    );
    let whole = format!("{spec:?}");
    assert!(whole.contains("btf: <"), "{whole}");
    assert!(!whole.contains("btf: ["), "{whole}");
}
