//! `.BTF.ext` in the spec: every function of every fixture carries its
//! func_info, line_info and CO-RE relocations, relative to its own first
//! instruction.

use ebpf_spec::btf::{Btf, Kind};
use ebpf_spec::{ByteOrder, CollectionSpec, ProgramSpec};

fn fixture(name: &str) -> CollectionSpec {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    CollectionSpec::from_file(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn functions(spec: &CollectionSpec) -> impl Iterator<Item = &ProgramSpec> {
    spec.programs.values().chain(spec.functions.values())
}

#[test]
fn every_function_has_its_func_info_and_line_info() {
    for name in [
        "programs.bpfel.o",
        "globals.bpfel.o",
        "map_in_map.bpfel.o",
        "btf_maps.bpfel.o",
        "core/core.bpfel.o",
        "programs.bpfeb.o",
    ] {
        let spec = fixture(name);
        let order = spec.byte_order;
        let btf = Btf::parse(&spec.btf.as_ref().unwrap().btf, order).unwrap();
        for f in functions(&spec) {
            // Exactly one func_info, at the function's start, naming a FUNC
            // of the function's name.
            assert_eq!(f.func_info.len(), 1, "{name} {}", f.name);
            let fi = f.func_info[0];
            assert_eq!(fi.instruction, 0, "{name} {}", f.name);
            assert_eq!(btf.kind(fi.type_id), Some(Kind::Func), "{name} {}", f.name);
            assert_eq!(btf.name(fi.type_id), Some(f.name.as_str()), "{name}");
            // Line info: from the first instruction on, sorted, in range,
            // naming a source line of the fixture's C file.
            assert!(!f.line_info.is_empty(), "{name} {}", f.name);
            assert_eq!(f.line_info[0].instruction, 0, "{name} {}", f.name);
            assert!(
                f.line_info
                    .windows(2)
                    .all(|w| w[0].instruction <= w[1].instruction)
            );
            // (clang gives compiler-made instructions line 0.)
            assert!(
                f.line_info.iter().any(|li| li.line() > 0),
                "{name} {}",
                f.name
            );
            for li in &f.line_info {
                assert!(li.instruction < f.instructions.len(), "{name} {}", f.name);
                let file = btf.string_at(li.file_name_off).unwrap();
                assert!(file.ends_with(".bpf.c"), "{name}: {file}");
            }
        }
    }
}

#[test]
fn objects_without_btf_ext_have_none() {
    let spec = fixture("no_btf.bpfel.o");
    assert!(spec.btf.is_none());
    for f in functions(&spec) {
        assert!(f.func_info.is_empty() && f.line_info.is_empty());
        assert!(f.core_relocations.is_empty());
    }
}

#[test]
fn co_re_relocations_are_the_functions_own() {
    for (name, order) in [
        ("core/core.bpfel.o", ByteOrder::Little),
        ("core/core.bpfeb.o", ByteOrder::Big),
    ] {
        let spec = fixture(name);
        assert_eq!(spec.byte_order, order);
        let btf = Btf::parse(&spec.btf.as_ref().unwrap().btf, order).unwrap();
        let mut total = 0;
        for p in spec.programs.values() {
            for r in &p.core_relocations {
                assert!(r.instruction < p.instructions.len(), "{name} {}", p.name);
                assert!(btf.ty(r.type_id).is_some(), "{name} {}", p.name);
                assert!(!r.access.is_empty());
            }
            total += p.core_relocations.len();
        }
        assert!(total >= 10, "{name}: {total} CO-RE relocations");
        // Programs without CO-RE reads have none.
        let plain = fixture("programs.bpfel.o");
        assert!(functions(&plain).all(|f| f.core_relocations.is_empty()));
    }
    // The same kinds of relocation of the same fields in both byte orders
    // (as sets: clang reads one bitfield with two loads for bpfeb).
    let (el, eb) = (fixture("core/core.bpfel.o"), fixture("core/core.bpfeb.o"));
    for (n, p) in &el.programs {
        let kinds = |p: &ProgramSpec| {
            let mut k: Vec<_> = p
                .core_relocations
                .iter()
                .map(|r| (r.kind, r.access.clone()))
                .collect();
            k.sort_by_key(|(k, a)| (k.raw(), a.clone()));
            k.dedup();
            k
        };
        assert_eq!(kinds(p), kinds(&eb.programs[n]), "{n}");
    }
}

#[test]
fn copies_keep_the_records_and_share_nothing() {
    let spec = fixture("core/core.bpfel.o");
    let copy = spec.copy();
    ebpf_spec::deep_copy::assert_deep_copy(&spec, &copy);
}
