//! Property tests: the CO-RE fixture's real `.BTF` and `.BTF.ext`, mutated at
//! random (bytes overwritten, bits flipped, 32-bit words set to boundary
//! values, the blob truncated), must parse to `Ok` or an error, never a
//! panic; whatever parses is read through every view, and used as the local
//! or the target BTF of a CO-RE relocation of the fixture's programs, which
//! must end in `Ok` or a `CoreError`.
//!
//! Bounded to a few seconds; raise `PROPTEST_CASES` to search longer.

mod btf_support;

use btf_support::{CORE_EB, CORE_EL, Function, functions, order_of, section};
use ebpf_spec::ByteOrder;
use ebpf_spec::btf::{Btf, BtfExt, CoreCandidateCache, TypeData, relocate};
use proptest::prelude::*;
use std::sync::OnceLock;

struct Object {
    order: ByteOrder,
    btf: Vec<u8>,
    ext: Vec<u8>,
    functions: Vec<Function>,
}

fn objects() -> &'static [Object] {
    static OBJECTS: OnceLock<Vec<Object>> = OnceLock::new();
    OBJECTS.get_or_init(|| {
        [CORE_EL, CORE_EB]
            .iter()
            .map(|o| Object {
                order: order_of(o),
                btf: section(o, ".BTF").to_vec(),
                ext: section(o, ".BTF.ext").to_vec(),
                functions: functions(o),
            })
            .collect()
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    /// Overwrite a byte.
    Byte(prop::sample::Index, u8),
    /// Flip a bit.
    Flip(prop::sample::Index, u8),
    /// Set an aligned 32-bit word to a boundary value.
    Word(prop::sample::Index, u32),
    /// Cut the blob.
    Truncate(prop::sample::Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let boundary = prop_oneof![
        Just(0u32),
        Just(1),
        Just(0xffff),
        Just(0x1_0000),
        Just(u32::MAX),
        Just(u32::MAX - 1),
        Just(0x8000_0000),
        Just(0x7fff_ffff),
        any::<u32>(),
        (0u32..40),
        // A kind word: kind, kind flag and vlen.
        (0u32..32, any::<bool>(), 0u32..6).prop_map(|(k, f, v)| u32::from(f) << 31 | k << 24 | v),
    ];
    prop_oneof![
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Byte(i, b)),
        (any::<prop::sample::Index>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<prop::sample::Index>(), boundary).prop_map(|(i, w)| Mutation::Word(i, w)),
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
    ]
}

fn apply(data: &mut Vec<u8>, m: &Mutation, order: ByteOrder) {
    if data.is_empty() {
        return;
    }
    match m {
        Mutation::Byte(i, b) => {
            let at = i.index(data.len());
            data[at] = *b;
        }
        Mutation::Flip(i, bit) => {
            let at = i.index(data.len());
            data[at] ^= 1 << bit;
        }
        Mutation::Word(i, w) => {
            if data.len() < 4 {
                return;
            }
            let at = i.index(data.len() / 4) * 4;
            {
                data[at..at + 4].copy_from_slice(&order.u32_bytes(*w));
            }
        }
        Mutation::Truncate(i) => {
            let len = i.index(data.len());
            data.truncate(len);
        }
    }
}

/// Reads every view of every type.
fn exercise(btf: &Btf) {
    for id in 0..=btf.type_count() + 1 {
        let _ = btf.size_of(id);
        let _ = btf.skip_mods_and_typedefs(id);
        let Some(t) = btf.ty(id) else { continue };
        match t.data() {
            TypeData::Struct(m) | TypeData::Union(m) => {
                for m in m.iter() {
                    let _ = (m.name, btf.kind(m.ty));
                }
            }
            TypeData::Enum(e) | TypeData::Enum64(e) => {
                let _ = e.iter().count();
            }
            TypeData::FuncProto { params, .. } => {
                let _ = params.iter().count();
            }
            other => {
                let _ = format!("{other:?}");
            }
        }
        if let Some(n) = t.name() {
            assert!(btf.ids_by_name(n).any(|i| i == id), "{n} not found by name");
        }
    }
}

/// Relocates every function of the object whose records parse, from `local`
/// to `target`: `Ok` or an error, nothing else.
fn relocate_all(obj: &Object, local: &Btf, ext: Option<&BtfExt>, target: &Btf) {
    let Some(ext) = ext else { return };
    let mut cache = CoreCandidateCache::new();
    for f in &obj.functions {
        let Some(sec) = ext.section(&f.section) else {
            continue;
        };
        let relos = sec.core_relocations(f.start..f.start + f.insns.len());
        let mut insns = f.insns.clone();
        let before = insns.clone();
        if relocate(&mut insns, &relos, local, target, &mut cache).is_err() {
            assert_eq!(
                insns, before,
                "an error leaves the instructions as they were"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(512),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// A mutated `.BTF`: parses or errs; as the local BTF (with the real
    /// `.BTF.ext`) and as the target, relocation ends.
    #[test]
    fn mutated_btf(which in 0usize..2, ms in prop::collection::vec(mutation(), 1..4)) {
        let obj = &objects()[which];
        let mut data = obj.btf.clone();
        for m in &ms {
            apply(&mut data, m, obj.order);
        }
        let good = Btf::parse(&obj.btf, obj.order).unwrap();
        if let Ok(btf) = Btf::parse(&data, obj.order) {
            exercise(&btf);
            let ext = BtfExt::parse(&obj.ext, obj.order, &btf).ok();
            relocate_all(obj, &btf, ext.as_ref(), &good);
            let good_ext = BtfExt::parse(&obj.ext, obj.order, &good).unwrap();
            relocate_all(obj, &good, Some(&good_ext), &btf);
        }
    }

    /// A mutated `.BTF.ext`: parses or errs; its relocations apply or err.
    #[test]
    fn mutated_ext(which in 0usize..2, ms in prop::collection::vec(mutation(), 1..4)) {
        let obj = &objects()[which];
        let btf = Btf::parse(&obj.btf, obj.order).unwrap();
        let mut data = obj.ext.clone();
        for m in &ms {
            apply(&mut data, m, obj.order);
        }
        if let Ok(ext) = BtfExt::parse(&data, obj.order, &btf) {
            for (_, sec) in ext.sections() {
                let _ = sec.func_infos(0..usize::MAX);
                let _ = sec.line_infos(0..usize::MAX);
            }
            relocate_all(obj, &btf, Some(&ext), &btf);
        }
    }
}

/// The unmutated fixture relocated against itself. `sk_buff` has one
/// definition: nothing changes but the bitfield values, which libbpf
/// computes its own way. `task_struct` has flavors, all candidates for each
/// other: `fields` reads `tgid` through a flavor, where it is at another
/// offset, and `types` asks for a size they disagree on: each relocated
/// alone (a cache of its own), ambiguous, as in libbpf. `probed` first
/// reads `real_parent`, which only `task_struct` has: the other candidates
/// are pruned, and its `tgid` is not ambiguous. Relocated in the object's
/// order with one cache (as libbpf prunes, per object), `fields` comes
/// before `probed` and is ambiguous still, but `types` comes after `probed`
/// has pruned `task_struct`'s flavors, and is not.
#[test]
fn the_fixture_relocates_against_itself() {
    for obj in objects() {
        let btf = Btf::parse(&obj.btf, obj.order).unwrap();
        let ext = BtfExt::parse(&obj.ext, obj.order, &btf).unwrap();
        if obj.order != ByteOrder::NATIVE {
            continue;
        }
        let names: Vec<&str> = obj.functions.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["skb", "fields", "probed", "types"]);
        let mut shared = CoreCandidateCache::new();
        let mut ambiguous = Vec::new();
        for f in &obj.functions {
            let relos = ext
                .section(&f.section)
                .unwrap()
                .core_relocations(f.start..f.start + f.insns.len());
            let mut insns = f.insns.clone();
            match relocate(&mut insns, &relos, &btf, &btf, &mut shared) {
                Ok(report) => assert!(report.poisoned.is_empty(), "{}", f.name),
                Err(e) => {
                    assert!(e.to_string().contains("ambiguous"), "{}: {e}", f.name);
                    ambiguous.push(f.name.as_str());
                }
            }
        }
        assert_eq!(ambiguous, ["fields"], "in the object's order, one cache");
        for f in &obj.functions {
            let mut cache = CoreCandidateCache::new();
            let relos = ext
                .section(&f.section)
                .unwrap()
                .core_relocations(f.start..f.start + f.insns.len());
            let mut insns = f.insns.clone();
            let result = relocate(&mut insns, &relos, &btf, &btf, &mut cache);
            if f.name == "fields" || f.name == "types" {
                let err = result.unwrap_err();
                assert!(err.to_string().contains("ambiguous"), "{err}");
                assert_eq!(insns, f.insns);
                continue;
            }
            let report = result.unwrap();
            assert!(report.poisoned.is_empty());
            let bitfield_access = if f.name == "skb" { "0:1" } else { "0:4" };
            let bitfield: Vec<usize> = relos
                .iter()
                .filter(|r| r.access == bitfield_access)
                .map(|r| r.instruction)
                .collect();
            for (i, (a, b)) in f.insns.iter().zip(&insns).enumerate() {
                if !bitfield.contains(&i) {
                    assert_eq!(a, b, "{} {i}", f.name);
                }
            }
        }
    }
}
