//! `__arena` globals (fixture `arena/arena.bpf.c`, both byte orders, built
//! with clang 19): the section `.addr_space.1` read as libbpf reads it. Its
//! bytes are the arena map's contents (one entry, empty key), its symbols
//! are variables of the arena map, and references to them are references
//! into the arena. Objects libbpf refuses (`arena/refused/`) are refused
//! naming the section.

mod common;

use common::{Layout, ShField, fixture};
use ebpf_spec::deep_copy::assert_deep_copy;
use ebpf_spec::{
    ByteOrder, CollectionSpec, MapFlags, MapType, MapValue, ParseError, RelocationTarget,
};

#[test]
fn arena_globals_are_the_arena_maps_contents_and_variables() {
    for name in ["arena/arena.bpfel.o", "arena/arena.bpfeb.o"] {
        let spec = CollectionSpec::from_elf(&fixture(name)).unwrap();
        assert_deep_copy(&spec, &spec.copy());
        let u64b = |v: u64| match spec.byte_order {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        };
        let u32b = |v: u32| match spec.byte_order {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        };
        // No map for the section itself: `.bss` (an ordinary global) and
        // the arena.
        assert_eq!(
            spec.maps.keys().collect::<Vec<_>>(),
            [".bss", "arena"],
            "{name}"
        );
        let arena = &spec.maps["arena"];
        assert_eq!(
            (
                arena.map_type,
                arena.key_size,
                arena.value_size,
                arena.max_entries,
                arena.flags,
                arena.freeze
            ),
            (MapType::Arena, 0, 0, 4, MapFlags::MMAPABLE, false),
            "{name}"
        );
        // The section's 40 bytes, as the object holds them.
        let mut image = Vec::new();
        image.extend(u64b(5)); // counter
        image.extend(u32b(3)); // step
        image.extend(*b"tenant\0\0"); // tag
        image.extend([0; 4]); // padding
        image.extend(u64b(0)); // last
        image.extend(u64b(0)); // page
        assert_eq!(arena.contents.len(), 1, "{name}");
        assert!(
            arena.contents[0].key.is_empty(),
            "{name}: arena keys are 0 bytes"
        );
        assert_eq!(
            arena.contents[0].value,
            MapValue::Bytes(image.clone()),
            "{name}"
        );

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
                ("counter", "arena", 0, 8, false),
                ("last", "arena", 24, 8, false),
                ("page", "arena", 32, 8, false),
                ("runs", ".bss", 0, 8, false),
                ("step", "arena", 8, 4, false),
                ("tag", "arena", 12, 8, false),
            ],
            "{name}"
        );
        for v in spec.variables.values().filter(|v| v.section == "arena") {
            assert_eq!(v.value, image[v.range()], "{name}: {}", v.name);
        }

        // Every reference to a global is one into its map: the arena's at
        // the global's offset among the globals.
        let prog = &spec.programs["bump"];
        let data: Vec<_> = prog
            .relocations
            .iter()
            .filter_map(|r| match &r.target {
                RelocationTarget::Data { map, offset } => Some((map.as_str(), *offset)),
                _ => None,
            })
            .collect();
        assert_eq!(
            data,
            [
                (".bss", 0),
                ("arena", 8),
                ("arena", 0),
                ("arena", 24),
                ("arena", 32),
                ("arena", 32),
                ("arena", 12),
            ],
            "{name}"
        );
        assert!(prog.relocations.iter().any(|r| matches!(
            &r.target,
            RelocationTarget::Map { map } if map == "arena"
        )));
        assert!(prog.relocations.iter().any(|r| matches!(
            &r.target,
            RelocationTarget::Extern { name, weak: true } if name == "bpf_arena_alloc_pages"
        )));
    }
}

#[test]
fn arena_globals_are_set_like_other_globals() {
    let mut spec = CollectionSpec::from_elf(&fixture("arena/arena.bpfel.o")).unwrap();
    let step = spec.variables.get_mut("step").unwrap();
    step.set(&10u32.to_le_bytes()).unwrap();
    assert!(step.set(&10u64.to_le_bytes()).is_err(), "4 bytes, not 8");
    assert_eq!(spec.variables["step"].value, 10u32.to_le_bytes());

    // `set_variable` writes the arena's globals too, within their bytes.
    spec.set_variable("tag", b"other\0\0\0").unwrap();
    let MapValue::Bytes(globals) = &spec.maps["arena"].contents[0].value else {
        panic!("bytes")
    };
    assert_eq!(globals.len(), 40);
    assert_eq!(&globals[12..20], b"other\0\0\0");
    assert_eq!(spec.variables["tag"].value, b"other\0\0\0");
    assert_eq!(spec.maps["arena"].contents.len(), 1);
    // Without the globals' bytes there is nowhere to write: refused, and
    // nothing changes (no entry is made up).
    let mut bare = spec.copy();
    bare.maps.get_mut("arena").unwrap().contents.clear();
    let e = bare
        .set_variable("counter", &1u64.to_le_bytes())
        .unwrap_err();
    assert!(
        matches!(e, ebpf_spec::SetError::OutsideSection { ref map, .. } if map == "arena"),
        "{e:?}"
    );
    assert!(bare.maps["arena"].contents.is_empty());
    assert_eq!(bare.variables["counter"].value, 5u64.to_le_bytes());
}

/// A second `.addr_space.1` (the fixture's `.bss` renamed: its header
/// pointed at the name of the first) is refused: the references to its
/// globals would otherwise land in the arena.
#[test]
fn a_second_arena_section_is_refused() {
    let mut bytes = fixture("arena/arena.bpfel.o");
    let layout = Layout::parse(&bytes);
    let (bss, arena) = (layout.section(".bss"), layout.section(".addr_space.1"));
    let (at, _) = layout.sh_field(arena.index, ShField::Name);
    let name = u64::from(common::get_u32(&bytes, at, layout.endian));
    layout.set_sh(&mut bytes, bss.index, ShField::Name, name);
    let err = CollectionSpec::from_elf(&bytes).unwrap_err();
    assert!(
        matches!(&err, ParseError::Section { section, .. } if section == ".addr_space.1"),
        "{err:?}"
    );
}
/// As libbpf: `__arena` globals need an arena map to hold them, and an
/// object has at most one (with or without globals: see also
/// `libbpf_rules.rs`, `two_arenas_without_globals`).
#[test]
fn globals_without_one_arena_map_to_hold_them_are_refused() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/arena/refused");
    let err = CollectionSpec::from_file(format!("{dir}/no_arena_map.bpfel.o")).unwrap_err();
    match &err {
        ParseError::Section { section, what } => assert_eq!(
            (section.as_str(), what.as_str()),
            (
                ".addr_space.1",
                "holds `__arena` globals, but `.maps` declares no arena map to hold them"
            )
        ),
        other => panic!("no_arena_map: {other:?}"),
    }
    let err = CollectionSpec::from_file(format!("{dir}/two_arenas.bpfel.o")).unwrap_err();
    match &err {
        ParseError::Map { map, what } => assert_eq!(
            (map.as_str(), what.as_str()),
            (
                "second",
                "`first` is an arena map too: an object has at most one (as libbpf allows)"
            )
        ),
        other => panic!("two_arenas: {other:?}"),
    }
}
