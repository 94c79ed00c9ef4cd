//! `__ksym` externs in the spec: the reader keeps their declared types and
//! whether they are weak, and `btf::ksyms_for_kernel` rewrites `.ksyms` as
//! libbpf does, in both byte orders, touching nothing else.

mod btf_support;

use ebpf_spec::btf::{Btf, Kind, Linkage, TypeData, ksyms_for_kernel, types_are_compat};
use ebpf_spec::{ByteOrder, CollectionSpec, RelocationTarget};

const OBJECTS: [(&str, ByteOrder); 2] = [
    ("ksyms.bpfel.o", ByteOrder::Little),
    ("ksyms.bpfeb.o", ByteOrder::Big),
];

fn spec(name: &str) -> CollectionSpec {
    CollectionSpec::from_file(format!(
        "{}/tests/fixtures/ksyms/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// The `.ksyms` entries of the fixture, as clang declares them: name, kind.
const KSYMS: [(&str, Kind); 8] = [
    ("bpf_rcu_read_lock", Kind::Func),
    ("bpf_rcu_read_unlock", Kind::Func),
    ("bpf_dynptr_from_xdp", Kind::Func),
    ("bpf_no_such_kfunc___ebpf_spec", Kind::Func),
    ("bpf_prog_put", Kind::Var),
    ("no_such_ksym___ebpf_spec", Kind::Var),
    ("runqueues", Kind::Var),
    ("dummy_ksym", Kind::Var),
];

#[test]
fn externs_keep_their_names_weakness_and_declared_types() {
    for (object, order) in OBJECTS {
        let spec = spec(object);
        assert_eq!(spec.byte_order, order);
        let mut externs: Vec<(String, bool)> = spec
            .programs
            .values()
            .flat_map(|p| &p.relocations)
            .filter_map(|r| match &r.target {
                RelocationTarget::Extern { name, weak } => Some((name.to_string(), *weak)),
                _ => None,
            })
            .collect();
        externs.sort();
        externs.dedup();
        let weak = |n: &str| n.contains("no_such");
        let expected: Vec<(String, bool)> = KSYMS[..7]
            .iter()
            .map(|(n, _)| (n.to_string(), weak(n)))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(externs, expected, "{object}");
        // The same, through `CollectionSpec::externs`.
        let listed: Vec<(String, bool)> = spec
            .externs()
            .iter()
            .map(|e| {
                assert_eq!(e.kind, ebpf_spec::ExternKind::Ksym, "{}", e.name);
                (e.name.to_owned(), e.weak)
            })
            .collect();
        assert_eq!(listed, expected, "{object}");

        // The spec's BTF keeps `.ksyms` as declared: extern linkage, and
        // the variables' own types (a typeless one is `const void`).
        let btf = Btf::parse(&spec.btf.as_ref().unwrap().btf, order).unwrap();
        for (name, kind) in &KSYMS[..7] {
            let id = btf.find(name, *kind).unwrap_or_else(|| panic!("{name}"));
            match btf.ty(id).unwrap().data() {
                TypeData::Func { linkage, .. } | TypeData::Var { linkage, .. } => {
                    assert_eq!(linkage, Linkage::Extern, "{name} in {object}")
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        let ty = |name| match btf.ty(btf.find(name, Kind::Var).unwrap()).unwrap().data() {
            TypeData::Var { ty, .. } => btf.skip_mods_and_typedefs(ty).unwrap(),
            _ => unreachable!(),
        };
        assert_eq!(ty("bpf_prog_put"), 0, "typeless");
        assert_eq!(btf.name(ty("runqueues")), Some("rq"));
    }
}

#[test]
fn ksyms_is_rewritten_as_libbpf_does_and_nothing_else_changes() {
    for (object, order) in OBJECTS {
        let spec = spec(object);
        let blob = &spec.btf.as_ref().unwrap().btf;
        let before = Btf::parse(blob, order).unwrap();
        let fixed = ksyms_for_kernel(&before, blob).unwrap().unwrap();
        let after = Btf::parse(&fixed, order).unwrap();

        // One type more: `dummy_ksym`, an allocated int, last.
        assert_eq!(after.type_count(), before.type_count() + 1, "{object}");
        let dummy = *after.ids().end();
        assert_eq!(after.name(dummy), Some("dummy_ksym"));
        let int = match after.ty(dummy).unwrap().data() {
            TypeData::Var { ty, linkage } => {
                assert_eq!(linkage, Linkage::Global);
                ty
            }
            other => panic!("{other:?}"),
        };
        assert!(matches!(after.ty(int).unwrap().data(), TypeData::Int(i) if i.bits == 32));

        // `.ksyms`: every entry a 4-byte int variable, 4 bytes apart; the
        // functions' entries point at `dummy_ksym`.
        let sec = after.find(".ksyms", Kind::Datasec).unwrap();
        let TypeData::Datasec { size, vars } = after.ty(sec).unwrap().data() else {
            unreachable!()
        };
        assert_eq!(vars.len(), 7);
        assert_eq!(size, 28);
        let mut names = Vec::new();
        for (i, v) in vars.iter().enumerate() {
            assert_eq!((v.offset, v.size), (4 * i as u32, 4), "{object}");
            let TypeData::Var { ty, linkage } = after.ty(v.ty).unwrap().data() else {
                panic!("entry {i} is not a variable")
            };
            assert_eq!((ty, linkage), (int, Linkage::Global), "entry {i}");
            names.push(after.name(v.ty).unwrap());
        }
        names.sort();
        assert_eq!(
            names,
            [
                "bpf_prog_put",
                "dummy_ksym",
                "dummy_ksym",
                "dummy_ksym",
                "dummy_ksym",
                "no_such_ksym___ebpf_spec",
                "runqueues"
            ]
        );

        // The kfuncs: global, each parameter named.
        for (name, _) in KSYMS[..4].iter() {
            let id = after.find(name, Kind::Func).unwrap();
            let TypeData::Func { proto, linkage } = after.ty(id).unwrap().data() else {
                unreachable!()
            };
            assert_eq!(linkage, Linkage::Global, "{name}");
            let TypeData::FuncProto { params, .. } = after.ty(proto).unwrap().data() else {
                unreachable!()
            };
            assert!(params.iter().all(|p| p.name.is_some()), "{name}");
        }

        // Everything else is as it was: every other type's whole record
        // (kind, name, members, parameters, offsets: all of what it says),
        // and every name (the string section is only appended to).
        let ksyms: Vec<u32> = KSYMS[..7]
            .iter()
            .map(|(n, k)| before.find(n, *k).unwrap())
            .collect();
        let protos: Vec<u32> = ksyms
            .iter()
            .filter_map(|&id| match before.ty(id).unwrap().data() {
                TypeData::Func { proto, .. } => Some(proto),
                _ => None,
            })
            .collect();
        for id in before.ids() {
            let (b, a) = (before.ty(id).unwrap(), after.ty(id).unwrap());
            assert_eq!((b.kind(), b.name()), (a.kind(), a.name()), "type {id}");
            if protos.contains(&id) {
                // Only unnamed parameters gain a name.
                let (
                    TypeData::FuncProto {
                        ret: r1,
                        params: p1,
                    },
                    TypeData::FuncProto {
                        ret: r2,
                        params: p2,
                    },
                ) = (b.data(), a.data())
                else {
                    unreachable!()
                };
                assert_eq!(r1, r2);
                for (x, y) in p1.iter().zip(p2.iter()) {
                    assert_eq!(x.ty, y.ty);
                    assert!(x.name == y.name || (x.name.is_none() && y.name == Some("dummy_ksym")));
                }
            } else if !ksyms.contains(&id) && id != sec {
                assert_eq!(
                    format!("{:?}", b.data()),
                    format!("{:?}", a.data()),
                    "type {id}"
                );
                assert_eq!(b.kind_flag(), a.kind_flag(), "type {id}");
            }
        }

        // A blob that is not the parsed one is refused, not written into.
        let other = self::spec("../globals.bpfel.o").btf.unwrap().btf;
        assert!(ksyms_for_kernel(&before, &other).is_err());
        // The rewrite is idempotent: a second one changes no byte.
        assert_eq!(ksyms_for_kernel(&after, &fixed).unwrap().unwrap(), fixed);
    }
}

#[test]
fn objects_without_ksyms_are_left_alone() {
    let spec = spec("../globals.bpfel.o");
    let blob = &spec.btf.as_ref().unwrap().btf;
    let btf = Btf::parse(blob, ByteOrder::Little).unwrap();
    assert_eq!(ksyms_for_kernel(&btf, blob).unwrap(), None);
}

#[test]
fn kfunc_prototypes_compare_as_libbpf_compares_them() {
    let spec = spec("ksyms.bpfel.o");
    let local = Btf::parse(&spec.btf.as_ref().unwrap().btf, ByteOrder::Little).unwrap();
    let proto = |btf: &Btf, name| match btf.ty(btf.find(name, Kind::Func).unwrap()).unwrap().data()
    {
        TypeData::Func { proto, .. } => proto,
        _ => unreachable!(),
    };
    // Within one BTF: a prototype matches itself, not one with another
    // number of parameters.
    let three = proto(&local, "bpf_dynptr_from_xdp");
    let none = proto(&local, "bpf_rcu_read_lock");
    assert!(types_are_compat(&local, three, &local, three).unwrap());
    assert!(!types_are_compat(&local, three, &local, none).unwrap());
    assert!(types_are_compat(&local, none, &local, proto(&local, "bpf_rcu_read_unlock")).unwrap());
    // Against the running kernel, where there is one.
    let Ok(bytes) = std::fs::read("/sys/kernel/btf/vmlinux") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI has /sys/kernel/btf/vmlinux"
        );
        eprintln!("skipping the vmlinux half: no /sys/kernel/btf/vmlinux");
        return;
    };
    let vmlinux = Btf::parse(&bytes, ByteOrder::NATIVE).unwrap();
    assert!(
        types_are_compat(
            &local,
            three,
            &vmlinux,
            proto(&vmlinux, "bpf_dynptr_from_xdp")
        )
        .unwrap()
    );
    assert!(
        !types_are_compat(
            &local,
            three,
            &vmlinux,
            proto(&vmlinux, "bpf_rcu_read_lock")
        )
        .unwrap()
    );
}

proptest::proptest! {
    /// Hostile BTF: any blob the parser accepts is rewritten or refused with
    /// an error, never a panic (mutations of the fixture's `.BTF`).
    #[test]
    fn the_rewrite_never_panics_on_mutated_btf(
        edits in proptest::collection::vec((0usize..4096, proptest::prelude::any::<u8>()), 1..8),
        big_endian in proptest::prelude::any::<bool>(),
    ) {
        let (object, order) = OBJECTS[usize::from(big_endian)];
        let mut blob = spec(object).btf.unwrap().btf;
        for (at, byte) in edits {
            let len = blob.len();
            blob[at % len] = byte;
        }
        if let Ok(btf) = Btf::parse(&blob, order)
            && let Ok(Some(fixed)) = ksyms_for_kernel(&btf, &blob)
        {
            // What comes out is BTF the parser reads back.
            proptest::prop_assert!(Btf::parse(&fixed, order).is_ok());
        }
    }
}

/// BTF names are offsets into the strings: a `.ksyms` DATASEC may be named
/// by the tail of a longer string (`x.ksyms` + 1). The loader's quick check
/// must see it, or the `.ksyms` rewrite is skipped and the kernel refuses
/// the BTF.
#[test]
fn a_ksyms_name_that_is_the_tail_of_another_string_is_seen() {
    use btf_support::{BtfBuilder, info, kind};
    use ebpf_spec::btf::mentions_ksyms;
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4, true);
    let proto = b.func_proto(int, &[("", int)]);
    let f = b.func("bpf_kfunc", proto, 2);
    let shared = b.str("x.ksyms");
    b.raw(shared + 1, info(kind::DATASEC, false, 1), 0, &[f, 0, 0]);
    let blob = b.build(ByteOrder::Little);
    let btf = Btf::parse(&blob, ByteOrder::Little).unwrap();
    assert!(btf.find(".ksyms", Kind::Datasec).is_some());
    assert!(ksyms_for_kernel(&btf, &blob).unwrap().is_some());
    assert!(mentions_ksyms(&blob, ByteOrder::Little));
}
