//! libbpf conventions the reader follows (fixture
//! `libbpf_rules/libbpf_rules.bpf.c`, both byte orders): `.bss.*` sections,
//! `__ulong(map_extra, v)`, and `SEC("?...")` programs with autoload off;
//! and definitions libbpf refuses, refused here too with an error naming the
//! map (`libbpf_rules/refused/*.bpf.c`, one refusal each).

mod common;

use common::fixture;
use ebpf_spec::deep_copy::assert_deep_copy;
use ebpf_spec::{AttachType, CollectionSpec, MapType, ParseError, ProgramType};

#[test]
fn bss_sections_ulong_map_extra_and_optional_programs() {
    for name in [
        "libbpf_rules/libbpf_rules.bpfel.o",
        "libbpf_rules/libbpf_rules.bpfeb.o",
    ] {
        let spec = CollectionSpec::from_elf(&fixture(name)).unwrap();
        assert_deep_copy(&spec, &spec.copy());
        assert_eq!(
            spec.maps.keys().collect::<Vec<_>>(),
            [".bss.counters", "seen"],
            "{name}"
        );

        // `.bss.counters`: a zero-filled data section of its own.
        let bss = &spec.maps[".bss.counters"];
        assert_eq!(
            (bss.map_type, bss.key_size, bss.value_size, bss.max_entries),
            (MapType::Array, 4, 24, 1),
            "{name}"
        );
        assert!(bss.is_global_data() && !bss.freeze, "{name}");
        assert!(bss.contents.is_empty(), "{name}: zeroed by the kernel");
        let vars: Vec<_> = spec
            .variables
            .values()
            .map(|v| (v.name.as_str(), v.section.as_str(), v.offset, v.size))
            .collect();
        assert_eq!(
            vars,
            [
                ("lengths", ".bss.counters", 8, 16),
                ("packets", ".bss.counters", 0, 8)
            ],
            "{name}"
        );
        assert!(
            spec.variables
                .values()
                .all(|v| v.value.iter().all(|&b| b == 0))
        );

        // `__ulong(map_extra, 3)`: the enum form libbpf reads since 1.4.
        let seen = &spec.maps["seen"];
        assert_eq!(
            (
                seen.map_type,
                seen.key_size,
                seen.value_size,
                seen.max_entries
            ),
            (MapType::BloomFilter, 0, 4, 16),
            "{name}"
        );
        assert_eq!(seen.map_extra, 3, "{name}");

        // `SEC("?socket")`, `SEC("?xdp")`: autoload off, section without `?`.
        let programs: Vec<_> = spec
            .programs
            .values()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.section.as_str(),
                    p.program_type,
                    p.attach_type,
                    p.autoload,
                )
            })
            .collect();
        assert_eq!(
            programs,
            [
                ("count", "socket", ProgramType::SocketFilter, None, true),
                (
                    "optional_filter",
                    "socket",
                    ProgramType::SocketFilter,
                    None,
                    false
                ),
                (
                    "optional_xdp",
                    "xdp",
                    ProgramType::Xdp,
                    Some(AttachType::Xdp),
                    false
                ),
            ],
            "{name}"
        );
    }
}

/// Every other fixture's programs keep autoload on.
#[test]
fn programs_of_plain_sections_autoload() {
    for (name, bytes) in common::FIXTURES {
        let Ok(spec) = CollectionSpec::from_elf(bytes) else {
            continue;
        };
        if name.starts_with("libbpf_rules/") {
            continue;
        }
        for p in spec.programs.values().chain(spec.functions.values()) {
            assert!(p.autoload, "{name}: {}", p.name);
            assert!(!p.section.starts_with('?'), "{name}: {}", p.section);
        }
    }
}

/// Each refused object: the error variant, what it names, and why.
#[test]
fn definitions_libbpf_refuses_are_refused_naming_the_map() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "hash_with_values",
            "map `outer`",
            "`values` is for map-in-map and prog_array maps, not a hash",
        ),
        (
            "prog_array_of_structs",
            "map `jumps`",
            "the `values` of a prog_array must point to functions, not to a STRUCT",
        ),
        (
            "map_in_map_of_functions",
            "map `outer`",
            "the `values` of a map of type array_of_maps must point to the inner map's \
             definition (a struct), not to a FUNC_PROTO",
        ),
        (
            "no_type",
            "map `outer`",
            "no map type: the definition needs `__uint(type, BPF_MAP_TYPE_...)`",
        ),
        (
            "pinned_inner",
            "map `outer.inner`",
            "an inner map definition cannot be pinned",
        ),
        (
            "values_with_length",
            "map `outer`",
            "`values` must be a zero-length array (`__array(values, ...)`), not one of 2",
        ),
        (
            "hash_of_maps_u64_keys",
            "relocation in `.maps`",
            "`outer` has key_size 8: a map initialised by `.values` is keyed by a 4-byte index",
        ),
        (
            "prog_array_of_a_function",
            "relocation in `.maps`",
            "slot 1 of `jumps` holds `helper`, a function of .text (called by programs), not \
             a program",
        ),
        (
            "static_map_in_values",
            "relocation in `.maps`",
            "slot 1 of `outer` refers to a static map (through the symbol of section \
             `.maps`): as in libbpf, what `.values` holds must not be `static`",
        ),
        (
            "static_program_in_values",
            "relocation in `.maps`",
            "slot 0 of `jumps` refers to a static program (through the symbol of section \
             `socket`): as in libbpf, what `.values` holds must not be `static`",
        ),
        (
            "common_symbol",
            "relocation in `socket`",
            "refers to `counter`, a common symbol (SHN_COMMON: a global without an \
             initialiser, built with -fcommon): build with -fno-common or initialise it \
             (0xfff2); libbpf refuses it too",
        ),
        (
            "two_arenas_without_globals",
            "map `second`",
            "`first` is an arena map too: an object has at most one (as libbpf allows)",
        ),
        (
            "call_into_another_program",
            "relocation in `xdp` at offset 0",
            "`prog` refers to `other` in section `tc`, another program's section: functions \
             that programs call or pass as callbacks must be in .text",
        ),
        (
            "callback_in_another_program",
            "relocation in `xdp` at offset 8",
            "`prog` refers to `step` in section `tc`, another program's section: functions \
             that programs call or pass as callbacks must be in .text",
        ),
    ];
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/libbpf_rules/refused"
    );
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".bpfel.o"))
        .collect();
    files.sort();
    assert_eq!(files.len(), cases.len(), "one case per refused object");
    for (name, names, why) in cases {
        let err = CollectionSpec::from_file(format!("{dir}/{name}.bpfel.o")).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, ParseError::Map { .. } | ParseError::Relocation { .. }),
            "{name}: {err:?}"
        );
        assert!(text.starts_with(names), "{name}: {text}");
        assert!(text.ends_with(why), "{name}: {text}");
    }
}
