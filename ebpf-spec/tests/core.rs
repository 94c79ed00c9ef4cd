//! CO-RE end to end, without the kernel: the compiled fixture
//! (`tests/fixtures/core/core.bpf.c`) relocated against a crafted target BTF
//! with another layout (every patched instruction asserted exactly), and
//! against the running kernel's BTF (every patched value checked against the
//! kernel's layout, found in the test by walking members by name).

mod btf_support;

use btf_support::{BtfBuilder, CORE_EB, CORE_EL, Function, functions, section, vmlinux};
use ebpf_spec::btf::{
    Btf, BtfExt, CORE_STEP_BUDGET, CoreCandidateCache, CoreRelocation, CoreRelocationKind as K,
    CoreStepBudget, Kind, PoisonReason, TypeData, essential_name, relocate, relocate_within,
};
use ebpf_spec::{ByteOrder, Instruction};
use std::collections::BTreeMap;

const POISON: Instruction = Instruction {
    code: 0x85,
    regs: 0,
    off: 0,
    imm: 0x0bad_2310,
};

struct Fixture {
    local: Btf,
    ext: BtfExt,
    functions: Vec<Function>,
}

fn fixture() -> Fixture {
    // The little-endian object; its instructions are in the host's order on
    // a little-endian host (the only kind this test relocates for).
    let local = Btf::parse(section(CORE_EL, ".BTF"), ByteOrder::Little).unwrap();
    let ext = BtfExt::parse(section(CORE_EL, ".BTF.ext"), ByteOrder::Little, &local).unwrap();
    Fixture {
        local,
        ext,
        functions: functions(CORE_EL),
    }
}

impl Fixture {
    fn relocations(&self, f: &Function) -> Vec<CoreRelocation> {
        self.ext
            .section(&f.section)
            .unwrap()
            .core_relocations(f.start..f.start + f.insns.len())
    }
}

/// The crafted target: the fixture's types, with other layouts, anonymous
/// nesting, an ENUM64 for the map types, and other sizes.
struct Target {
    btf: Btf,
    task_struct: u32,
}

fn crafted_target() -> Target {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4, true); // 1
    let uint = b.int("unsigned int", 4, false); // 2
    let long = b.int("long", 8, true); // 3
    let ulong = b.int("long unsigned int", 8, false); // 4
    let chr = b.int("char", 1, true); // 5
    let uchar = b.int("unsigned char", 1, false); // 6
    let comm = b.array(chr, int, 16); // 7
    let task_ptr = b.ptr(11); // 8
    let ids = b.structure("", 8, &[("pid", int, 0, 0), ("tgid", int, 32, 0)]); // 9
    let pad = b.union("", 8, &[("", ids, 0, 0), ("pad", long, 0, 0)]); // 10
    let task = b.structure(
        "task_struct",
        64,
        &[
            ("state", long, 0, 0),
            ("flags", ulong, 64, 0), // 8 bytes here, 4 in the fixture
            ("", pad, 128, 0),       // pid at 16, tgid at 20
            ("comm", comm, 320, 0),  // at 40
            ("sched_a", uint, 384, 1),
            ("sched_reset_on_fork", uint, 385, 1),
            ("real_parent", task_ptr, 448, 0), // at 56
        ],
    ); // 11
    assert_eq!(task, 11);
    let mark = b.union("", 4, &[("mark", uint, 0, 0), ("reserved", uint, 0, 0)]); // 12
    let bits = b.structure("", 2, &[("pad", uchar, 0, 0), ("pkt_type", uchar, 5, 3)]); // 13
    let headers = b.union("", 2, &[("", bits, 0, 0), ("headers", bits, 0, 0)]); // 14
    let skb_ptr = b.ptr(16); // 15
    b.structure(
        "sk_buff",
        24,
        &[
            ("next", skb_ptr, 0, 0),
            ("len", uint, 64, 0),  // at 8
            ("", mark, 96, 0),     // mark at 12
            ("", headers, 128, 0), // pkt_type at bit 133
        ],
    ); // 16
    b.enum64(
        "bpf_map_type",
        4,
        false,
        &[
            ("BPF_MAP_TYPE_UNSPEC", 0),
            ("BPF_MAP_TYPE_HASH", 1),
            ("BPF_MAP_TYPE_ARENA", 33),
        ],
    ); // 17
    Target {
        btf: Btf::parse(&b.build(ByteOrder::Little), ByteOrder::Little).unwrap(),
        task_struct: task,
    }
}

fn with_off(i: Instruction, off: i16) -> Instruction {
    Instruction { off, ..i }
}

fn with_imm(i: Instruction, imm: i32) -> Instruction {
    Instruction { imm, ..i }
}

/// Every relocated instruction of the fixture, against the crafted target,
/// exactly; every other instruction unchanged.
#[test]
fn fixture_relocates_against_a_crafted_target() {
    if cfg!(target_endian = "big") {
        eprintln!("skipped: the bpfel fixture's instructions are relocated on little-endian hosts");
        return;
    }
    let fx = fixture();
    let target = crafted_target();
    let mut cache = CoreCandidateCache::new();
    let mut poisoned = BTreeMap::new();
    for f in &fx.functions {
        let relos = fx.relocations(f);
        let mut insns = f.insns.clone();
        let report = relocate(&mut insns, &relos, &fx.local, &target.btf, &mut cache)
            .unwrap_or_else(|e| panic!("{}: {e}", f.name));
        for p in &report.poisoned {
            assert_eq!(p.reason, PoisonReason::NotFound);
            poisoned.insert((f.name.clone(), p.instruction), p.type_name.clone());
        }
        assert_eq!(report.applied + report.poisoned.len(), relos.len());

        let o = &f.insns;
        let mut expected = o.clone();
        let mut set = |i: usize, insn: Instruction| expected[i] = insn;
        match f.name.as_str() {
            "fields" => {
                set(1, with_off(o[1], 16)); // pid: in an anonymous struct in an anonymous union
                set(7, with_off(o[7], 20)); // task_struct___flavor.tgid
                set(11, with_off(o[11], 42)); // comm[2]
                // flags: 8 unsigned bytes in the target, 4 in the fixture: the
                // load becomes a 64-bit load.
                assert_eq!(o[15].code, 0x61);
                set(
                    15,
                    Instruction {
                        code: 0x79,
                        ..with_off(o[15], 8)
                    },
                );
                set(17, o[17]); // pid exists: stays 1
                set(19, with_imm(o[19], 0)); // no_such_field_in_any_kernel
                set(22, POISON); // ... and its load
                set(26, o[26]); // sizeof(comm): 16 in both
                set(28, with_imm(o[28], 8)); // sizeof(flags)
            }
            "probed" => {
                let p = 32; // the function's first slot in the section
                assert_eq!(f.start, p);
                set(32 - p, with_imm(o[0], 56)); // real_parent
                set(40 - p, with_imm(o[40 - p], 20)); // tgid
                // sched_reset_on_fork: bit 385 of an unsigned int.
                set(55 - p, with_imm(o[55 - p], 48)); // byte offset
                set(59 - p, with_imm(o[59 - p], 4)); // byte size
                set(63 - p, with_imm(o[63 - p], 62)); // lshift: 64 - (385 + 1 - 384)
                set(64 - p, with_imm(o[64 - p], 0)); // unsigned
                set(66 - p, with_imm(o[66 - p], 63)); // rshift
                set(68 - p, with_imm(o[68 - p], 63));
            }
            "types" => {
                let p = 74;
                let ld = |i: Instruction, v: i32| with_imm(i, v);
                set(74 - p, o[0]); // task_struct exists
                set(78 - p, with_imm(o[78 - p], 0)); // no_such_type___core
                set(80 - p, with_imm(o[80 - p], 64)); // its size
                set(82 - p, ld(o[82 - p], target.task_struct as i32)); // target id
                set(85 - p, o[85 - p]); // local id: unchanged
                assert_eq!(o[85 - p].imm, 7);
                set(88 - p, o[88 - p]); // ARENA exists
                set(91 - p, ld(o[91 - p], 33)); // ARENA: 33 (an ENUM64 in the target)
                set(94 - p, ld(o[94 - p], 0)); // NO_SUCH_TYPE does not exist
                set(98 - p, POISON); // ... its value: both slots of the ld_imm64
                set(99 - p, POISON);
            }
            "skb" => {
                set(1, with_off(o[1], 8)); // len
                set(5, with_off(o[5], 12)); // mark, in an anonymous union
                // pkt_type: 3 bits at bit 133, in an anonymous struct in an
                // anonymous union; an unsigned char.
                set(7, with_imm(o[7], 16)); // byte offset
                set(9, with_imm(o[9], 1)); // byte size
                set(24, with_imm(o[24], 56)); // lshift: 64 - (133 + 3 - 128)
                set(25, o[25]); // unsigned
                set(27, with_imm(o[27], 61)); // rshift
                set(29, with_imm(o[29], 61));
            }
            other => panic!("unexpected function {other}"),
        }
        for (i, (got, want)) in insns.iter().zip(&expected).enumerate() {
            assert_eq!(got, want, "{} instruction {i} (was {:?})", f.name, o[i]);
        }
    }
    let poisoned: Vec<_> = poisoned.into_iter().collect();
    assert_eq!(
        poisoned,
        [
            (("fields".into(), 22), "task_struct___missing".into()),
            (("types".into(), 24), "bpf_map_type___core".into()),
        ]
    );
    assert!(!cache.is_empty());
}

/// A relocation's expected result against a target, found by name.
#[derive(Debug, PartialEq)]
enum Expect {
    Value(u64),
    Poison,
}

/// Where the access path of a field relocation leads in a target: bit
/// offset, the last member's type and bitfield size (0 for array elements).
struct Place {
    bit_offset: u64,
    ty: u32,
    bitfield_size: u32,
}

/// Finds member `name` in struct/union `id` of `btf`, looking inside
/// anonymous members; returns its bit offset from `id`'s start.
fn member_by_name(btf: &Btf, id: u32, name: &str) -> Option<(u64, u32, u32)> {
    let id = btf.skip_mods_and_typedefs(id).ok()?;
    let (TypeData::Struct(ms) | TypeData::Union(ms)) = btf.ty(id)?.data() else {
        return None;
    };
    for m in ms.iter() {
        match m.name {
            Some(n) if n == name => return Some((u64::from(m.bit_offset), m.ty, m.bitfield_size)),
            None => {
                if let Some((off, ty, bits)) = member_by_name(btf, m.ty, name) {
                    return Some((u64::from(m.bit_offset) + off, ty, bits));
                }
            }
            _ => {}
        }
    }
    None
}

/// The local access path of a field relocation as names and indexes.
fn path(local: &Btf, r: &CoreRelocation) -> Vec<Result<String, u32>> {
    let idx: Vec<u32> = r.access.split(':').map(|s| s.parse().unwrap()).collect();
    assert_eq!(idx[0], 0, "the fixture accesses through pointers");
    let mut id = r.type_id;
    let mut out = Vec::new();
    for &i in &idx[1..] {
        let t = local.ty(local.skip_mods_and_typedefs(id).unwrap()).unwrap();
        match t.data() {
            TypeData::Struct(ms) | TypeData::Union(ms) => {
                let m = ms.get(i as usize).unwrap();
                out.push(Ok(m.name.expect("named local members").to_owned()));
                id = m.ty;
            }
            TypeData::Array(a) => {
                out.push(Err(i));
                id = a.elem;
            }
            other => panic!("{other:?}"),
        }
    }
    out
}

fn place(target: &Btf, root: u32, path: &[Result<String, u32>]) -> Option<Place> {
    let mut p = Place {
        bit_offset: 0,
        ty: root,
        bitfield_size: 0,
    };
    for step in path {
        match step {
            Ok(name) => {
                let (off, ty, bits) = member_by_name(target, p.ty, name)?;
                p = Place {
                    bit_offset: p.bit_offset + off,
                    ty,
                    bitfield_size: bits,
                };
            }
            Err(i) => {
                let arr = target.skip_mods_and_typedefs(p.ty).unwrap();
                let TypeData::Array(a) = target.ty(arr).unwrap().data() else {
                    return None;
                };
                if *i >= a.nelems {
                    return None;
                }
                let size = u64::from(target.size_of(a.elem).unwrap());
                p = Place {
                    bit_offset: p.bit_offset + u64::from(*i) * size * 8,
                    ty: a.elem,
                    bitfield_size: 0,
                };
            }
        }
    }
    Some(p)
}

/// The load a bitfield needs (libbpf's rule): byte offset and size.
fn bitfield_load(target: &Btf, p: &Place) -> (u64, u64) {
    let mut size = u64::from(target.size_of(p.ty).unwrap());
    let mut off = p.bit_offset / 8 / size * size;
    while p.bit_offset + u64::from(p.bitfield_size) - off * 8 > size * 8 {
        size *= 2;
        off = p.bit_offset / 8 / size * size;
    }
    (off, size)
}

fn expect(local: &Btf, target: &Btf, r: &CoreRelocation) -> Expect {
    let local_name = local.name(r.type_id).unwrap();
    let local_kind = local.kind(r.type_id).unwrap();
    let essential = essential_name(local_name);
    let same_kind = |k: Kind| k == local_kind || (k.is_any_enum() && local_kind.is_any_enum());
    let root = target.ids().find(|&id| {
        target
            .name(id)
            .is_some_and(|n| essential_name(n) == essential)
            && same_kind(target.kind(id).unwrap())
    });
    let v = |x: u64| Expect::Value(x);
    match r.kind {
        K::TypeExists => v(u64::from(root.is_some())),
        K::TypeSize => v(u64::from(target.size_of(root.unwrap()).unwrap())),
        K::TypeIdTarget => v(u64::from(root.unwrap())),
        K::TypeIdLocal => v(u64::from(r.type_id)),
        K::EnumvalExists | K::EnumvalValue => {
            let TypeData::Enum(lv) = local.ty(r.type_id).unwrap().data() else {
                panic!()
            };
            let name = lv.get(r.access.parse().unwrap()).unwrap().name.unwrap();
            let value = root.and_then(|root| match target.ty(root).unwrap().data() {
                TypeData::Enum(e) | TypeData::Enum64(e) => {
                    e.iter().find(|x| x.name == Some(name)).map(|x| x.value)
                }
                _ => None,
            });
            match (r.kind, value) {
                (K::EnumvalExists, v) => Expect::Value(u64::from(v.is_some())),
                (_, Some(value)) => Expect::Value(value as u64),
                (_, None) => Expect::Poison,
            }
        }
        kind => {
            let found = root.and_then(|root| place(target, root, &path(local, r)));
            let Some(p) = found else {
                return if kind == K::FieldExists {
                    v(0)
                } else {
                    Expect::Poison
                };
            };
            let bits = u64::from(p.bitfield_size);
            let (byte_off, byte_sz) = if bits > 0 {
                bitfield_load(target, &p)
            } else {
                (p.bit_offset / 8, u64::from(target.size_of(p.ty).unwrap()))
            };
            let bit_sz = if bits > 0 { bits } else { byte_sz * 8 };
            match kind {
                K::FieldExists => v(1),
                K::FieldByteOffset => v(byte_off),
                K::FieldByteSize => v(byte_sz),
                K::FieldSigned => {
                    let t = target
                        .ty(target.skip_mods_and_typedefs(p.ty).unwrap())
                        .unwrap();
                    let signed = match t.data() {
                        TypeData::Int(i) => i.is_signed(),
                        TypeData::Enum(_) | TypeData::Enum64(_) => t.kind_flag(),
                        _ => false,
                    };
                    v(u64::from(signed))
                }
                // libbpf's two formulas, by the byte order of the machine
                // the program runs on: the target's.
                K::FieldLShiftU64 => match target.byte_order() {
                    ByteOrder::Little => v(64 - (p.bit_offset + bit_sz - byte_off * 8)),
                    ByteOrder::Big => v((8 - byte_sz) * 8 + (p.bit_offset - byte_off * 8)),
                },
                K::FieldRShiftU64 => v(64 - bit_sz),
                other => panic!("{other:?}"),
            }
        }
    }
}

/// What a relocated instruction holds.
fn value_of(insns: &[Instruction], i: usize) -> Expect {
    let insn = insns[i];
    if insn == POISON {
        return Expect::Poison;
    }
    Expect::Value(match insn.code & 7 {
        0 => u64::from(insn.imm as u32) | u64::from(insns[i + 1].imm as u32) << 32,
        1..=3 => insn.off as u64,
        4 | 7 => insn.imm as i64 as u64,
        c => panic!("class {c}"),
    })
}

/// The running kernel's BTF, to relocate the little-endian fixture against
/// (`None`, after saying why, on a big-endian host or without the BTF).
fn kernel_target() -> Option<Btf> {
    if cfg!(target_endian = "big") {
        eprintln!("skipped: the bpfel fixture's instructions are relocated on little-endian hosts");
        return None;
    }
    let bytes = vmlinux()?;
    Some(Btf::parse(&bytes, ByteOrder::NATIVE).unwrap())
}

/// The fixture against the running kernel: every relocation's new value is
/// what the kernel's BTF says, walking its members by name.
#[test]
fn fixture_relocates_against_vmlinux() {
    let Some(target) = kernel_target() else {
        return;
    };
    let fx = fixture();
    let mut cache = CoreCandidateCache::new();
    let mut seen = BTreeMap::new();
    for f in &fx.functions {
        let relos = fx.relocations(f);
        let mut insns = f.insns.clone();
        let report = relocate(&mut insns, &relos, &fx.local, &target, &mut cache)
            .unwrap_or_else(|e| panic!("{}: {e}", f.name));
        for r in &relos {
            let want = expect(&fx.local, &target, r);
            let got = value_of(&insns, r.instruction);
            assert_eq!(got, want, "{}: {r:?}", f.name);
            *seen.entry(r.kind).or_insert(0) += 1;
        }
        for p in &report.poisoned {
            println!("{}: {p}", f.name);
        }
        // The loads that are not bitfields keep their size: the kernel's
        // fields are as wide as the fixture's.
        for (i, (a, b)) in f.insns.iter().zip(&insns).enumerate() {
            if *b != POISON && a.code & 7 == 1 {
                assert_eq!(a.code, b.code, "{} {i}", f.name);
            }
        }
        let poisoned: Vec<_> = report
            .poisoned
            .iter()
            .map(|p| p.type_name.as_str())
            .collect();
        match f.name.as_str() {
            "fields" => assert_eq!(poisoned, ["task_struct___missing"]),
            "types" => assert_eq!(poisoned, ["bpf_map_type___core"]),
            _ => assert!(poisoned.is_empty(), "{}: {poisoned:?}", f.name),
        }
    }
    // Every kind clang 14 emits was checked.
    for kind in [
        K::FieldByteOffset,
        K::FieldByteSize,
        K::FieldExists,
        K::FieldSigned,
        K::FieldLShiftU64,
        K::FieldRShiftU64,
        K::TypeIdLocal,
        K::TypeIdTarget,
        K::TypeExists,
        K::TypeSize,
        K::EnumvalExists,
        K::EnumvalValue,
    ] {
        assert!(seen.contains_key(&kind), "{kind}");
    }
}

/// The same cache serves many relocations and other targets.
#[test]
fn one_cache_for_many_programs_and_targets() {
    if cfg!(target_endian = "big") {
        return;
    }
    let fx = fixture();
    let crafted = crafted_target();
    let mut cache = CoreCandidateCache::new();
    let mut first = Vec::new();
    for _ in 0..3 {
        let mut all = Vec::new();
        for f in &fx.functions {
            let mut insns = f.insns.clone();
            relocate(
                &mut insns,
                &fx.relocations(f),
                &fx.local,
                &crafted.btf,
                &mut cache,
            )
            .unwrap();
            all.push(insns);
        }
        if first.is_empty() {
            first = all;
        } else {
            assert_eq!(first, all);
        }
    }
    // Another target with the same names but other ids: the cache starts over.
    let mut b = BtfBuilder::new();
    b.int("pad", 4, false);
    let int = b.int("int", 4, true);
    b.structure("task_struct", 8, &[("pid", int, 32, 0)]);
    let other = Btf::parse(&b.build(ByteOrder::Little), ByteOrder::Little).unwrap();
    let f = fx.functions.iter().find(|f| f.name == "fields").unwrap();
    let mut insns = f.insns.clone();
    relocate(
        &mut insns,
        &fx.relocations(f),
        &fx.local,
        &other,
        &mut cache,
    )
    .unwrap();
    assert_eq!(insns[1].off, 4, "pid at 4 in the other target");
}

/// One `CoreStepBudget` bounds the type matching of every relocation that
/// shares it: the fixture's whole CO-RE work fits the default with room to
/// spare, a budget one step short of it fails on the relocation that runs
/// out, naming the budget, and leaves that function's instructions as they
/// were, and the steps of earlier calls count against later ones.
#[test]
fn one_step_budget_bounds_the_relocations_sharing_it() {
    let Some(target) = kernel_target() else {
        return;
    };
    let fx = fixture();
    let run = |budget: &mut CoreStepBudget| -> Result<(), (String, bool)> {
        let mut cache = CoreCandidateCache::new();
        for f in &fx.functions {
            let mut insns = f.insns.clone();
            relocate_within(
                &mut insns,
                &fx.relocations(f),
                &fx.local,
                &target,
                &mut cache,
                budget,
            )
            .map_err(|e| (e.to_string(), insns == f.insns))?;
        }
        Ok(())
    };
    let mut budget = CoreStepBudget::default();
    run(&mut budget).unwrap();
    let used = CORE_STEP_BUDGET - budget.remaining();
    println!("the fixture's CO-RE relocations took {used} steps");
    assert!(used > 0 && used < 10_000, "{used} steps");

    // Exactly enough, then one step short.
    run(&mut CoreStepBudget::new(used)).unwrap();
    let (error, untouched) = run(&mut CoreStepBudget::new(used - 1)).unwrap_err();
    assert!(error.contains("step budget"), "{error}");
    assert!(untouched, "a failed relocate changed the instructions");

    // Shared: a second pass of the same work over one budget fails.
    let mut shared = CoreStepBudget::new(used + used / 2);
    run(&mut shared).unwrap();
    assert_eq!(shared.remaining(), used / 2);
    assert!(run(&mut shared).unwrap_err().0.contains("step budget"));
}

/// Relocations that match no types (a type the kernel lacks) still cost a
/// step each, so the budget bounds how many of them one load resolves; the
/// error is `OutOfBudget`, told apart from the per-relocation cap.
#[test]
fn every_relocation_costs_a_step() {
    use ebpf_spec::btf::CoreErrorReason;
    let Some(target) = kernel_target() else {
        return;
    };
    let fx = fixture();
    let (f, missing) = fx
        .functions
        .iter()
        .find_map(|f| {
            let relos = fx.relocations(f);
            let r = relos.into_iter().find(|r| {
                r.kind == K::TypeExists && fx.local.name(r.type_id) == Some("no_such_type___core")
            })?;
            Some((f, r))
        })
        .expect("the fixture checks a type the kernel lacks");
    // A thousand copies of its instruction, each relocated on its own.
    let relos: Vec<CoreRelocation> = (0..1000)
        .map(|i| CoreRelocation {
            instruction: i,
            ..missing.clone()
        })
        .collect();
    let run = |budget: &mut CoreStepBudget| {
        let mut insns = vec![f.insns[missing.instruction]; 1000];
        relocate_within(
            &mut insns,
            &relos,
            &fx.local,
            &target,
            &mut CoreCandidateCache::new(),
            budget,
        )
    };
    let mut budget = CoreStepBudget::default();
    run(&mut budget).unwrap();
    let used = CORE_STEP_BUDGET - budget.remaining();
    assert!(used >= 1000, "1000 relocations took {used} steps");
    let e = run(&mut CoreStepBudget::new(used - 1)).unwrap_err();
    assert_eq!(e.reason, CoreErrorReason::OutOfBudget, "{e}");
    assert_eq!(e.index, 999);
}

/// A big-endian object relocated (on any host) against its own BTF: every
/// value is what libbpf computes on a big-endian machine. The left shift of
/// a bitfield depends on the byte order: it was computed for the host's.
#[test]
fn a_big_endian_object_relocates_by_its_own_byte_order() {
    let local = Btf::parse(section(CORE_EB, ".BTF"), ByteOrder::Big).unwrap();
    let ext = BtfExt::parse(section(CORE_EB, ".BTF.ext"), ByteOrder::Big, &local).unwrap();
    let (mut lshifts, mut ambiguous) = (0, Vec::new());
    for f in functions(CORE_EB) {
        // A cache each: no pruning carried from one function to the next.
        let mut cache = CoreCandidateCache::new();
        let relos = ext
            .section(&f.section)
            .unwrap()
            .core_relocations(f.start..f.start + f.insns.len());
        let mut insns = f.insns.clone();
        if let Err(e) = relocate(&mut insns, &relos, &local, &local, &mut cache) {
            // Its own BTF holds `task_struct___flavor` and `task_struct`,
            // with other layouts: two candidates for one local type.
            assert!(e.to_string().contains("ambiguous"), "{}: {e}", f.name);
            ambiguous.push(f.name.clone());
            continue;
        }
        for r in &relos {
            assert_eq!(
                value_of(&insns, r.instruction),
                expect(&local, &local, r),
                "{}: {r:?}",
                f.name
            );
            lshifts += usize::from(r.kind == K::FieldLShiftU64);
        }
    }
    assert!(lshifts > 0, "the fixture reads a bitfield");
    assert_eq!(ambiguous, ["fields", "types"]);
}
