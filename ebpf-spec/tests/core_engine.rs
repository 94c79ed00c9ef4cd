//! The CO-RE engine case by case, on crafted local and target BTF: type
//! matching, ambiguity, candidate pruning, enum64, memory-size adjustment,
//! flexible arrays, bitfields, instruction forms, and every error.

mod btf_support;

use btf_support::BtfBuilder;
use ebpf_spec::btf::{
    Btf, CoreCandidateCache, CoreError, CoreErrorReason as R, CoreRelocation,
    CoreRelocationKind as K, CoreReport, PoisonReason, relocate,
};
use ebpf_spec::{ByteOrder, Instruction};

const POISON: Instruction = Instruction {
    code: 0x85,
    regs: 0,
    off: 0,
    imm: 0x0bad_2310,
};

fn btf(b: &BtfBuilder) -> Btf {
    Btf::parse(&b.build(ByteOrder::Little), ByteOrder::Little).unwrap()
}

fn relo(instruction: usize, type_id: u32, access: &str, kind: K) -> CoreRelocation {
    CoreRelocation {
        instruction,
        type_id,
        access: access.into(),
        kind,
    }
}

/// `r1 = imm` (ALU64 MOV K).
fn mov(imm: i32) -> Instruction {
    Instruction::new(0xb7, 1, 0, 0, imm)
}

/// `r1 = *(size *)(r2 + off)`.
fn ldx(code: u8, off: i16) -> Instruction {
    Instruction::new(code, 1, 2, off, 0)
}

/// `r1 = imm64`: two slots.
fn ld_imm64(v: u64) -> [Instruction; 2] {
    [
        Instruction::new(0x18, 1, 0, 0, v as u32 as i32),
        Instruction::new(0, 0, 0, 0, (v >> 32) as u32 as i32),
    ]
}

fn run(
    insns: &[Instruction],
    relos: &[CoreRelocation],
    local: &Btf,
    target: &Btf,
) -> Result<(Vec<Instruction>, CoreReport), CoreError> {
    let mut out = insns.to_vec();
    let report = relocate(
        &mut out,
        relos,
        local,
        target,
        &mut CoreCandidateCache::new(),
    )?;
    Ok((out, report))
}

fn reason(r: Result<(Vec<Instruction>, CoreReport), CoreError>) -> R {
    r.expect_err("an error").reason
}

/// struct foo { int a; struct bar *p; }, enum e { A, B }: ids 1 int, 2 bar,
/// 3 ptr, 4 foo, 5 e.
fn local_types() -> Btf {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4, true);
    let bar = b.structure("bar", 4, &[("x", int, 0, 0)]);
    let p = b.ptr(bar);
    b.structure("foo", 16, &[("a", int, 0, 0), ("p", p, 64, 0)]);
    b.enumeration("e", 4, false, &[("A", 0), ("B", 1)]);
    btf(&b)
}

#[test]
fn type_matches_follows_libbpf() {
    let local = local_types();
    let insns = [mov(1)];
    let matches = |target: &Btf, kind: K, id: u32| {
        let (out, _) = run(&insns, &[relo(0, id, "0", kind)], &local, target).unwrap();
        out[0].imm
    };

    // Extra members, other offsets, and a forward declaration behind a pointer.
    let mut t = BtfBuilder::new();
    let long = t.int("long", 8, true);
    let int = t.int("int", 4, true);
    let bar = t.fwd("bar", false);
    let p = t.ptr(bar);
    t.structure(
        "foo",
        24,
        &[("x", long, 0, 0), ("a", int, 64, 0), ("p", p, 128, 0)],
    );
    t.enum64("e", 4, true, &[("C", 5), ("B", 9), ("A", 7)]);
    let good = btf(&t);
    assert_eq!(matches(&good, K::TypeMatches, 4), 1);
    assert_eq!(
        matches(&good, K::TypeMatches, 5),
        1,
        "enum vs enum64, names only"
    );

    // `a` unsigned: the types exist and are compatible, but do not match.
    let mut t = BtfBuilder::new();
    let uint = t.int("int", 4, false);
    let bar = t.structure("bar", 4, &[]);
    let p = t.ptr(bar);
    t.structure("foo", 16, &[("a", uint, 0, 0), ("p", p, 64, 0)]);
    t.enumeration("e", 8, false, &[("A", 0), ("B", 1)]);
    let unsigned = btf(&t);
    assert_eq!(matches(&unsigned, K::TypeMatches, 4), 0);
    assert_eq!(matches(&unsigned, K::TypeExists, 4), 1);
    assert_eq!(
        matches(&unsigned, K::TypeMatches, 5),
        0,
        "enum sizes differ"
    );
    assert_eq!(matches(&unsigned, K::TypeExists, 5), 1);

    // A union behind the pointer where the local has a struct.
    let mut t = BtfBuilder::new();
    let int = t.int("int", 4, true);
    let bar = t.union("bar", 4, &[]);
    let p = t.ptr(bar);
    t.structure("foo", 16, &[("a", int, 0, 0), ("p", p, 64, 0)]);
    t.enumeration("e", 4, false, &[("A", 0)]);
    let union = btf(&t);
    assert_eq!(matches(&union, K::TypeMatches, 4), 0);
    assert_eq!(matches(&union, K::TypeMatches, 5), 0, "B is missing");

    // No such type at all.
    let mut t = BtfBuilder::new();
    t.int("int", 4, true);
    let none = btf(&t);
    assert_eq!(matches(&none, K::TypeMatches, 4), 0);
    assert_eq!(matches(&none, K::TypeExists, 4), 0);
}

#[test]
fn type_ids_sizes_and_typedef_roots() {
    let mut l = BtfBuilder::new();
    let int = l.int("int", 4, true);
    let s = l.structure("s", 4, &[("a", int, 0, 0)]);
    let td = l.typedef("s_t", s);
    let anon = l.structure("", 4, &[("a", int, 0, 0)]);
    let local = btf(&l);
    let mut t = BtfBuilder::new();
    t.int("pad", 1, false);
    let int = t.int("int", 4, true);
    let ts = t.structure("s", 12, &[("a", int, 64, 0)]);
    let ttd = t.typedef("s_t", ts);
    let target = btf(&t);

    let insns = [
        ld_imm64(u64::from(s)),
        [mov(4), mov(4)],
        ld_imm64(u64::from(td)),
    ]
    .concat();
    let relos = [
        relo(0, s, "0", K::TypeIdTarget),
        relo(2, s, "0", K::TypeSize),
        relo(3, td, "0", K::TypeSize),
        relo(4, td, "0", K::TypeIdLocal),
    ];
    let (out, report) = run(&insns, &relos, &local, &target).unwrap();
    assert_eq!(out[0].imm as u32, ts);
    assert_eq!(out[1].imm, 0);
    assert_eq!(out[2].imm, 12);
    assert_eq!(out[3].imm, 12, "through the typedef");
    assert_eq!(out[4].imm as u32, td, "local ids stay");
    assert_eq!(report.applied, 4);
    let _ = ttd;

    // TYPE_ID_LOCAL works for anonymous types; nothing else does.
    let (out, _) = run(
        &[mov(anon as i32)],
        &[relo(0, anon, "0", K::TypeIdLocal)],
        &local,
        &target,
    )
    .unwrap();
    assert_eq!(out[0].imm as u32, anon);
    assert_eq!(
        reason(run(
            &[mov(1)],
            &[relo(0, anon, "0", K::TypeExists)],
            &local,
            &target
        )),
        R::AnonymousType
    );
}

#[test]
fn candidates_that_disagree_are_ambiguous() {
    let mut l = BtfBuilder::new();
    let int = l.int("int", 4, true);
    let s = l.structure("s", 8, &[("a", int, 0, 0), ("b", int, 32, 0)]);
    let local = btf(&l);

    // Two flavors with `a` at the same offset, `b` at different ones.
    let mut t = BtfBuilder::new();
    let int = t.int("int", 4, true);
    t.structure("s", 8, &[("a", int, 0, 0), ("b", int, 32, 0)]);
    t.structure("s___2", 12, &[("a", int, 0, 0), ("b", int, 64, 0)]);
    let target = btf(&t);

    let (out, _) = run(
        &[ldx(0x61, 0)],
        &[relo(0, s, "0:0", K::FieldByteOffset)],
        &local,
        &target,
    )
    .unwrap();
    assert_eq!(out[0].off, 0, "both agree on a");
    let err = run(
        &[ldx(0x61, 4)],
        &[relo(0, s, "0:1", K::FieldByteOffset)],
        &local,
        &target,
    )
    .unwrap_err();
    assert!(matches!(err.reason, R::Ambiguous(_)), "{err}");
    assert!(err.to_string().contains("field offset"), "{err}");
    // Two matching types have two ids: a target id is ambiguous (as in libbpf).
    let err = run(
        &ld_imm64(1),
        &[relo(0, s, "0", K::TypeIdTarget)],
        &local,
        &target,
    )
    .unwrap_err();
    assert!(matches!(err.reason, R::Ambiguous(_)), "{err}");
    // Their sizes differ too.
    let err = run(&[mov(8)], &[relo(0, s, "0", K::TypeSize)], &local, &target).unwrap_err();
    assert!(matches!(err.reason, R::Ambiguous(_)), "{err}");
    // But they both exist.
    let (out, _) = run(
        &[mov(1)],
        &[relo(0, s, "0", K::TypeExists)],
        &local,
        &target,
    )
    .unwrap();
    assert_eq!(out[0].imm, 1);
}

/// As libbpf, candidates that do not match one relocation of a type are
/// dropped for the next relocations of that type (in one call).
#[test]
fn candidates_are_pruned_as_libbpf_does() {
    let mut l = BtfBuilder::new();
    let int = l.int("int", 4, true);
    let s = l.structure("s", 8, &[("b", int, 0, 0), ("c", int, 32, 0)]);
    let local = btf(&l);
    let mut t = BtfBuilder::new();
    let int = t.int("int", 4, true);
    t.structure("s", 8, &[("c", int, 0, 0)]);
    t.structure("s___2", 8, &[("b", int, 32, 0)]);
    let target = btf(&t);

    let insns = [ldx(0x61, 0), mov(1)];
    let b_then_c = [
        relo(0, s, "0:0", K::FieldByteOffset),
        relo(1, s, "0:1", K::FieldExists),
    ];
    let (out, _) = run(&insns, &b_then_c, &local, &target).unwrap();
    assert_eq!(out[0].off, 4, "only s___2 has b");
    assert_eq!(out[1].imm, 0, "s was pruned: c is not found in s___2");
    // Alone, c exists (in s).
    let (out, _) = run(&insns, &b_then_c[1..], &local, &target).unwrap();
    assert_eq!(out[1].imm, 1);
}

/// libbpf prunes across a whole object: a relocation in one program
/// settles the candidates for a relocation of the same type in another.
/// Here across the calls given one cache and one local `Btf` (the loader's
/// calls for one spec): `only1` exists only in `foo`, so `b` is then read
/// at `foo`'s offset, where alone it is ambiguous (4 in `foo`, 8 in
/// `foo___v2`). Another local `Btf` starts over.
#[test]
fn pruning_carries_over_calls_with_the_same_local_btf() {
    let mut l = BtfBuilder::new();
    let int = l.int("int", 4, true);
    let foo = l.structure(
        "foo",
        12,
        &[("a", int, 0, 0), ("b", int, 32, 0), ("only1", int, 64, 0)],
    );
    let local = btf(&l);
    let mut t = BtfBuilder::new();
    let int = t.int("int", 4, true);
    let long = t.int("long", 8, true);
    t.structure(
        "foo",
        12,
        &[("a", int, 0, 0), ("b", int, 32, 0), ("only1", int, 64, 0)],
    );
    t.structure(
        "foo___v2",
        16,
        &[("a", int, 0, 0), ("pad", long, 0, 0), ("b", int, 64, 0)],
    );
    let target = btf(&t);
    // Each load holds the local offset, as clang writes it.
    let read_only1 = ([ldx(0x61, 8)], [relo(0, foo, "0:2", K::FieldByteOffset)]);
    let read_b = ([ldx(0x61, 4)], [relo(0, foo, "0:1", K::FieldByteOffset)]);
    let call = |(insns, relos): &([Instruction; 1], [CoreRelocation; 1]),
                local: &Btf,
                cache: &mut CoreCandidateCache| {
        let mut out = insns.to_vec();
        relocate(&mut out, relos, local, &target, cache).map(|_| out[0].off)
    };

    let mut cache = CoreCandidateCache::new();
    assert_eq!(call(&read_only1, &local, &mut cache).unwrap(), 8);
    assert_eq!(
        call(&read_b, &local, &mut cache).unwrap(),
        4,
        "pruned to foo"
    );
    assert_eq!(cache.len(), 1);

    // Alone, or after a call with another local BTF: ambiguous.
    let alone = call(&read_b, &local, &mut CoreCandidateCache::new()).unwrap_err();
    assert!(alone.to_string().contains("ambiguous"), "{alone}");
    let mut cache = CoreCandidateCache::new();
    call(&read_only1, &local, &mut cache).unwrap();
    let other = btf(&l);
    let err = call(&read_b, &other, &mut cache).unwrap_err();
    assert!(err.to_string().contains("ambiguous"), "{err}");

    // A call that fails (here at its second relocation, of a type the local
    // BTF lacks) leaves the pruning as it found it, as its instructions.
    let mut cache = CoreCandidateCache::new();
    let failing = (
        [ldx(0x61, 8), ldx(0x61, 0)],
        [
            relo(0, foo, "0:2", K::FieldByteOffset),
            relo(1, 9999, "0:0", K::FieldByteOffset),
        ],
    );
    let mut out = failing.0.to_vec();
    relocate(&mut out, &failing.1, &local, &target, &mut cache).unwrap_err();
    assert_eq!(out, failing.0);
    let err = call(&read_b, &local, &mut cache).unwrap_err();
    assert!(err.to_string().contains("ambiguous"), "{err}");
}

#[test]
fn enum_values_enum64_and_sign_extension() {
    let mut l = BtfBuilder::new();
    let e = l.enumeration("e", 8, true, &[("NEG", -1), ("BIG", 1), ("GONE", 3)]);
    let local = btf(&l);
    let mut t = BtfBuilder::new();
    t.enum64(
        "e___kernel",
        8,
        false,
        &[("BIG", 0x1_0000_0002), ("NEG___x", 0xffff_ffff_ffff_fffe)],
    );
    let target = btf(&t);

    let insns = [
        ld_imm64(u64::MAX),
        ld_imm64(1),
        ld_imm64(3),
        [mov(1), mov(1)],
    ]
    .concat();
    let relos = [
        relo(0, e, "0", K::EnumvalValue),
        relo(2, e, "1", K::EnumvalValue),
        relo(4, e, "2", K::EnumvalValue),
        relo(6, e, "1", K::EnumvalExists),
        relo(7, e, "2", K::EnumvalExists),
    ];
    let (out, report) = run(&insns, &relos, &local, &target).unwrap();
    // -1 is held sign-extended to 64 bits, as libbpf reads enum values.
    assert_eq!(
        (out[0].imm as u32, out[1].imm as u32),
        (0xffff_fffe, 0xffff_ffff)
    );
    assert_eq!((out[2].imm, out[3].imm), (2, 1));
    assert_eq!((out[4], out[5]), (POISON, POISON));
    assert_eq!((out[6].imm, out[7].imm), (1, 0));
    assert_eq!(report.poisoned.len(), 1);
    assert_eq!(report.poisoned[0].instruction, 4);

    // A 32-bit value held without sign extension is not what the compiler
    // emits for NEG: refused.
    let err = run(&ld_imm64(0xffff_ffff), &relos[..1], &local, &target).unwrap_err();
    assert!(
        matches!(
            err.reason,
            R::UnexpectedValue {
                found: 0xffff_ffff,
                ..
            }
        ),
        "{err}"
    );

    // Out-of-range enumerator index, and an enum relocation on a struct.
    assert!(matches!(
        reason(run(
            &ld_imm64(0),
            &[relo(0, e, "3", K::EnumvalValue)],
            &local,
            &target
        )),
        R::InvalidAccess(_)
    ));
    assert!(matches!(
        reason(run(
            &ld_imm64(0),
            &[relo(0, e, "0:1", K::EnumvalValue)],
            &local,
            &target
        )),
        R::InvalidAccess(_)
    ));
}

#[test]
fn memory_sizes_are_adjusted_or_poisoned() {
    let mut l = BtfBuilder::new();
    let u32_ = l.int("unsigned int", 4, false);
    let long = l.int("long", 8, true);
    let void_p = l.ptr(0);
    let odd = l.int("unsigned short", 2, false);
    let s = l.structure(
        "s",
        32,
        &[
            ("a", u32_, 0, 0),
            ("b", long, 64, 0),
            ("p", void_p, 128, 0),
            ("o", odd, 192, 0),
        ],
    );
    let local = btf(&l);

    let mut t = BtfBuilder::new();
    t.int("long", 4, true); // a 32-bit kernel: pointers are 4 bytes
    let ulong = t.int("unsigned long long", 8, false);
    let int = t.int("int", 4, true);
    let void_p = t.ptr(0);
    let three = t.int("u24", 3, false);
    t.structure(
        "s",
        24,
        &[
            ("p", void_p, 0, 0),
            ("a", ulong, 32, 0),
            ("b", int, 96, 0),
            ("o", three, 128, 0),
        ],
    );
    let target = btf(&t);
    assert_eq!(target.pointer_size(), 4);

    let insns = [
        ldx(0x61, 0),
        ldx(0x79, 8),
        ldx(0x79, 16),
        Instruction::new(0x62, 2, 0, 0, 7),
    ];
    let relos = [
        relo(0, s, "0:0", K::FieldByteOffset),
        relo(1, s, "0:1", K::FieldByteOffset),
        relo(2, s, "0:2", K::FieldByteOffset),
        relo(3, s, "0:0", K::FieldByteOffset),
    ];
    let (out, report) = run(&insns, &relos, &local, &target).unwrap();
    assert_eq!(out[0], ldx(0x79, 4), "u32 -> u64: a 64-bit load");
    assert_eq!(out[1], POISON, "signed long -> int cannot be resized");
    assert_eq!(out[2], ldx(0x61, 0), "8-byte pointer -> 4-byte pointer");
    assert_eq!(
        out[3],
        Instruction::new(0x7a, 2, 0, 4, 7),
        "a store of an immediate too"
    );
    assert_eq!(report.poisoned.len(), 1);
    assert_eq!(report.poisoned[0].reason, PoisonReason::MemorySize);
    assert!(report.poisoned[0].to_string().contains("cannot be resized"));

    // The instruction's size must be the local field's.
    let err = run(&[ldx(0x71, 0)], &relos[..1], &local, &target).unwrap_err();
    assert_eq!(
        err.reason,
        R::MemorySizeMismatch {
            found: 1,
            expected: 4
        }
    );
    // A 3-byte target field cannot be loaded.
    let err = run(
        &[ldx(0x69, 24)],
        &[relo(0, s, "0:3", K::FieldByteOffset)],
        &local,
        &target,
    )
    .unwrap_err();
    assert_eq!(err.reason, R::InvalidMemorySize(3));
}

#[test]
fn arrays_flexible_arrays_and_root_indexes() {
    let mut l = BtfBuilder::new();
    let int = l.int("int", 4, true);
    let flex = l.array(int, int, 0);
    let s = l.structure("s", 4, &[("n", int, 0, 0), ("data", flex, 32, 0)]);
    let local = btf(&l);
    let mut t = BtfBuilder::new();
    let long = t.int("long", 8, true);
    let int = t.int("int", 4, true);
    let flex = t.array(int, int, 0);
    t.structure(
        "s",
        16,
        &[
            ("pad", long, 0, 0),
            ("n", int, 64, 0),
            ("data", flex, 96, 0),
        ],
    );
    let target = btf(&t);
    let mut t2 = BtfBuilder::new();
    let int = t2.int("int", 4, true);
    let two = t2.array(int, int, 2);
    t2.structure("s", 12, &[("n", int, 0, 0), ("data", two, 32, 0)]);
    let fixed = btf(&t2);

    // data[3] (offset 4 + 12 = 16 locally), and s[2].n (root index).
    let insns = [ldx(0x61, 16), mov(4), ldx(0x61, 8)];
    let relos = [
        relo(0, s, "0:1:3", K::FieldByteOffset),
        relo(1, s, "0:1:3", K::FieldByteSize),
        relo(2, s, "2:0", K::FieldByteOffset),
    ];
    let (out, _) = run(&insns, &relos, &local, &target).unwrap();
    assert_eq!(out[0].off, 12 + 12);
    assert_eq!(out[1].imm, 4);
    assert_eq!(out[2].off, 2 * 16 + 8, "two target structs, then n");
    // A fixed array of 2 has no element 3: poisoned.
    let (out, report) = run(&insns, &relos, &local, &fixed).unwrap();
    assert_eq!((out[0], out[1]), (POISON, POISON));
    assert_eq!(out[2].off, 24);
    assert_eq!(report.poisoned.len(), 2);
    // Signedness of an array element is not a thing.
    assert_eq!(
        reason(run(
            &[mov(1)],
            &[relo(0, s, "0:1:3", K::FieldSigned)],
            &local,
            &target
        )),
        R::ArrayAccess
    );
}

#[test]
fn bitfields_signedness_and_shifts() {
    let mut l = BtfBuilder::new();
    let uint = l.int("unsigned int", 4, false);
    let e = l.enumeration("mode", 4, true, &[("X", -1)]);
    let s = l.structure("s", 8, &[("f", uint, 3, 5), ("m", e, 32, 0)]);
    let local = btf(&l);
    let mut t = BtfBuilder::new();
    let ulong = t.int("unsigned long", 8, false);
    let uchar = t.int("unsigned char", 1, false);
    let e = t.enumeration("mode", 4, true, &[("X", -1)]);
    // f: 5 bits at bit 70 of an unsigned char: crosses a byte boundary, so a
    // 2-byte load at byte 8. g: 60 bits at bit 8 of a u64: no load holds it.
    t.structure(
        "s",
        24,
        &[("g", ulong, 8, 60), ("f", uchar, 70, 5), ("m", e, 128, 0)],
    );
    let target = btf(&t);

    // Locally: bit 3, 5 bits, in a 4-byte unit at 0.
    let insns = [mov(0), mov(4), mov(56), mov(59), mov(0), mov(1)];
    let relos = [
        relo(0, s, "0:0", K::FieldByteOffset),
        relo(1, s, "0:0", K::FieldByteSize),
        relo(2, s, "0:0", K::FieldLShiftU64),
        relo(3, s, "0:0", K::FieldRShiftU64),
        relo(4, s, "0:0", K::FieldSigned),
        relo(5, s, "0:1", K::FieldSigned),
    ];
    let (out, _) = run(&insns, &relos, &local, &target).unwrap();
    let imms: Vec<i32> = out.iter().map(|i| i.imm).collect();
    // lshift: 64 - (70 + 5 - 64) = 53; rshift: 64 - 5 = 59.
    assert_eq!(imms, [8, 2, 53, 59, 0, 1]);

    // The right shift is validated even for bitfields.
    let rshift = relo(0, s, "0:0", K::FieldRShiftU64);
    let err = run(&[mov(60)], &[rshift], &local, &target).unwrap_err();
    assert!(matches!(
        err.reason,
        R::UnexpectedValue {
            found: 60,
            expected: 59,
            new: 59
        }
    ));

    let mut l = BtfBuilder::new();
    let ulong = l.int("unsigned long", 8, false);
    let g = l.structure("s", 8, &[("g", ulong, 0, 60)]);
    let local = btf(&l);
    assert_eq!(
        reason(run(
            &[mov(0)],
            &[relo(0, g, "0:0", K::FieldByteOffset)],
            &local,
            &target
        )),
        R::BitfieldTooWide
    );
}

#[test]
fn incompatible_fields_do_not_match() {
    let mut l = BtfBuilder::new();
    let int = l.int("int", 4, true);
    let e = l.enumeration("color", 4, false, &[("R", 0)]);
    let s = l.structure("s", 8, &[("a", int, 0, 0), ("c", e, 32, 0)]);
    let local = btf(&l);
    let mut t = BtfBuilder::new();
    let int = t.int("int", 4, true);
    let inner = t.structure("inner", 4, &[("x", int, 0, 0)]);
    let e = t.enumeration("shade", 4, false, &[("R", 0)]);
    t.structure("s", 8, &[("a", inner, 0, 0), ("c", e, 32, 0)]);
    let target = btf(&t);
    let insns = [ldx(0x61, 0), ldx(0x61, 4), mov(1)];
    let relos = [
        relo(0, s, "0:0", K::FieldByteOffset),
        relo(1, s, "0:1", K::FieldByteOffset),
        relo(2, s, "0:0", K::FieldExists),
    ];
    let (out, report) = run(&insns, &relos, &local, &target).unwrap();
    assert_eq!((out[0], out[1], out[2].imm), (POISON, POISON, 0));
    assert_eq!(report.poisoned.len(), 2);
}

#[test]
fn access_strings_are_checked() {
    let local = local_types();
    let target = local_types();
    let bad = |access: &str, kind: K| {
        let r = run(&[mov(0)], &[relo(0, 4, access, kind)], &local, &target);
        assert!(
            matches!(reason(r), R::InvalidAccess(_) | R::TooComplex(_)),
            "{access:?}"
        );
    };
    for access in [
        "", ":0", "0:", "0::1", "0:a", "-1", "0:-1", "0:9", "0:0:0", " 0", "0:1:0:0",
    ] {
        bad(access, K::FieldByteOffset);
    }
    bad(&vec!["0"; 65].join(":"), K::FieldByteOffset);
    bad("1", K::TypeExists);
    bad("0:0", K::TypeSize);
    let r = run(
        &[mov(0)],
        &[relo(0, 99, "0:0", K::FieldByteOffset)],
        &local,
        &target,
    );
    assert_eq!(reason(r), R::NoSuchLocalType);
    let r = run(
        &[mov(0)],
        &[relo(0, 4, "0:0", K::Unknown(13))],
        &local,
        &target,
    );
    assert_eq!(reason(r), R::UnsupportedKind(13));
}

#[test]
fn instruction_forms_and_errors() {
    let local = local_types();
    let mut t = BtfBuilder::new();
    let int = t.int("int", 4, true);
    let bar = t.structure("bar", 4, &[]);
    let p = t.ptr(bar);
    t.structure("foo", 40_000, &[("a", int, 8 * 36_000, 0), ("p", p, 64, 0)]);
    let target = btf(&t);
    let a = relo(0, 4, "0:0", K::FieldByteOffset);

    // ALU with an immediate: patched; with a register source: refused.
    let (out, _) = run(&[mov(0)], std::slice::from_ref(&a), &local, &target).unwrap();
    assert_eq!(out[0].imm, 36_000);
    let add_x = Instruction::new(0x0f, 1, 2, 0, 0);
    assert!(matches!(
        reason(run(&[add_x], std::slice::from_ref(&a), &local, &target)),
        R::UnexpectedInstruction { code: 0x0f, .. }
    ));
    let exit = Instruction::new(0x95, 0, 0, 0, 0);
    assert!(matches!(
        reason(run(&[exit], std::slice::from_ref(&a), &local, &target)),
        R::UnexpectedInstruction { code: 0x95, .. }
    ));
    // An offset past 16 bits.
    assert_eq!(
        reason(run(
            &[ldx(0x61, 0)],
            std::slice::from_ref(&a),
            &local,
            &target
        )),
        R::OffsetTooLarge(36_000)
    );
    // The value in the instruction must be the local one.
    let err = run(&[mov(3)], std::slice::from_ref(&a), &local, &target).unwrap_err();
    assert_eq!(
        err.reason,
        R::UnexpectedValue {
            found: 3,
            expected: 0,
            new: 36_000
        }
    );
    // ld_imm64: both slots, of the plain form only.
    let (out, _) = run(&ld_imm64(0), std::slice::from_ref(&a), &local, &target).unwrap();
    assert_eq!((out[0].imm, out[1].imm), (36_000, 0));
    let mut map_fd = ld_imm64(0);
    map_fd[0] = Instruction::new(0x18, 1, 1, 0, 0);
    assert!(matches!(
        reason(run(&map_fd, std::slice::from_ref(&a), &local, &target)),
        R::UnexpectedInstruction { .. }
    ));
    assert!(
        matches!(
            reason(run(
                &ld_imm64(0)[..1],
                std::slice::from_ref(&a),
                &local,
                &target
            )),
            R::UnexpectedInstruction { .. }
        ),
        "no second slot"
    );
    // A relocation past the end of the program.
    let far = relo(5, 4, "0:0", K::FieldByteOffset);
    assert_eq!(
        reason(run(&[mov(0)], &[far], &local, &target)),
        R::InstructionOutOfRange { len: 1 }
    );

    // On error nothing is changed, even what earlier relocations patched.
    let mut insns = vec![mov(0), mov(3)];
    let relos = [a.clone(), relo(1, 4, "0:0", K::FieldByteOffset)];
    let err = relocate(
        &mut insns,
        &relos,
        &local,
        &target,
        &mut CoreCandidateCache::new(),
    )
    .unwrap_err();
    assert_eq!(insns, [mov(0), mov(3)]);
    assert_eq!((err.index, err.instruction, err.type_id), (1, 1, 4));
    let msg = err.to_string();
    for part in [
        "#1",
        "byte_off",
        "foo",
        "\"0:0\"",
        "instruction 1",
        "holds 3",
    ] {
        assert!(msg.contains(part), "{part} in {msg}");
    }
}

/// Hostile target BTF: an anonymous member that contains itself, and a
/// lattice of anonymous members with 2^40 paths. Errors, not hangs.
#[test]
fn hostile_targets_end_with_errors() {
    let mut l = BtfBuilder::new();
    let int = l.int("int", 4, true);
    let s = l.structure("s", 4, &[("x", int, 0, 0)]);
    let local = btf(&l);

    let mut t = BtfBuilder::new();
    t.int("int", 4, true);
    // id 2: struct s { struct s; } (anonymous member of its own type).
    let own = t.str("s");
    t.raw(
        own,
        btf_support::info(btf_support::kind::STRUCT, false, 1),
        4,
        &[0, 2, 0],
    );
    let target = btf(&t);
    let r = run(
        &[mov(0)],
        &[relo(0, s, "0:0", K::FieldByteOffset)],
        &local,
        &target,
    );
    assert!(matches!(reason(r), R::TooComplex(_)));

    let mut t = BtfBuilder::new();
    let int = t.int("int", 4, true);
    let mut next = t.structure("", 4, &[("y", int, 0, 0)]);
    for _ in 0..40 {
        next = t.structure("", 4, &[("", next, 0, 0), ("", next, 0, 0)]);
    }
    t.structure("s", 4, &[("", next, 0, 0)]);
    let target = btf(&t);
    let start = std::time::Instant::now();
    let r = run(
        &[mov(0)],
        &[relo(0, s, "0:0", K::FieldByteOffset)],
        &local,
        &target,
    );
    assert!(matches!(reason(r), R::TooComplex(_)));
    assert!(start.elapsed().as_secs() < 30);

    // A typedef loop as the local root.
    let mut l = BtfBuilder::new();
    let a = l.typedef("a", 2);
    l.typedef("b", a);
    let local = btf(&l);
    let r = run(&[mov(0)], &[relo(0, a, "0", K::TypeSize)], &local, &local);
    assert!(matches!(reason(r), R::Btf(_)), "a chain error");
}

/// `struct s { u32 arr[4]; }` locally, `struct s { int pad; u32 arr[8]; }`
/// in the target.
fn array_member_types(target_len: u32, target_elem: (&str, u32)) -> (Btf, Btf, u32) {
    let mut l = BtfBuilder::new();
    let u32_ = l.int("unsigned int", 4, false);
    let int = l.int("int", 4, true);
    let arr = l.array(u32_, int, 4);
    let s = l.structure("s", 16, &[("arr", arr, 0, 0)]);
    let mut t = BtfBuilder::new();
    let elem = t.int(target_elem.0, target_elem.1, false);
    let int = t.int("int", 4, true);
    let arr = t.array(elem, int, target_len);
    t.structure(
        "s",
        4 + target_len * target_elem.1,
        &[("pad", int, 0, 0), ("arr", arr, 32, 0)],
    );
    (btf(&l), btf(&t), s)
}

/// A load from an array field moves one element: what must match is the
/// element's size, not the array's (libbpf's `bpf_core_calc_field_relo`).
/// A longer array in the target is relocated; an element of another size
/// is poisoned (a 4-byte load of a u64 would read half of it).
#[test]
fn loads_from_array_fields_compare_element_sizes() {
    let relo_arr = |s| [relo(0, s, "0:0", K::FieldByteOffset)];
    let (local, target, s) = array_member_types(8, ("unsigned int", 4));
    let (out, report) = run(&[ldx(0x61, 0)], &relo_arr(s), &local, &target).unwrap();
    assert!(report.poisoned.is_empty(), "{:?}", report.poisoned);
    assert_eq!(
        out[0],
        ldx(0x61, 4),
        "a 4-byte load at the field's new offset"
    );
    // An element of the array, by index: the same rule.
    let (out, report) = run(
        &[ldx(0x61, 8)],
        &[relo(0, s, "0:0:2", K::FieldByteOffset)],
        &local,
        &target,
    )
    .unwrap();
    assert!(report.poisoned.is_empty(), "{:?}", report.poisoned);
    assert_eq!(out[0], ldx(0x61, 12));

    // Two u64 where there were four u32: the array is as large, but a
    // load of one element is not.
    let (local, target, s) = array_member_types(2, ("unsigned long long", 8));
    let (out, report) = run(&[ldx(0x61, 0)], &relo_arr(s), &local, &target).unwrap();
    assert_eq!(out[0], POISON, "{:?}", out[0]);
    assert_eq!(report.poisoned[0].reason, PoisonReason::MemorySize);
}

/// A row of an array of arrays: `int m[2][3]` locally, `int m[2][5]` in the
/// target, a load of `m[1][0]` moves from offset 12 to 20 and stays 4 bytes.
#[test]
fn loads_from_a_row_of_an_array_of_arrays_keep_the_element_size() {
    let build = |cols: u32| {
        let mut b = BtfBuilder::new();
        let int = b.int("int", 4, true);
        let row = b.array(int, int, cols);
        let m = b.array(row, int, 2);
        let s = b.structure("s", 8 * cols, &[("m", m, 0, 0)]);
        (btf(&b), s)
    };
    let ((local, s), (target, _)) = (build(3), build(5));
    let (out, report) = run(
        &[ldx(0x61, 12)],
        &[relo(0, s, "0:0:1", K::FieldByteOffset)],
        &local,
        &target,
    )
    .unwrap();
    assert!(report.poisoned.is_empty(), "{:?}", report.poisoned);
    assert_eq!(out[0], ldx(0x61, 20));
}

/// An access string's index times a large type's size overflows 64 bits
/// (2^31 elements of 2^30 bytes, in bits): a typed error, never a panic nor
/// a wrapped offset (libbpf computes it in 32 bits and wraps). At the root
/// and in a flexible array, whose index has no bound.
#[test]
fn an_index_whose_offset_overflows_is_a_typed_error() {
    let mut l = BtfBuilder::new();
    let int = l.int("int", 4, true);
    let big = l.structure("big", 1 << 30, &[("a", int, 0, 0)]);
    let flex = l.array(big, int, 0);
    let s = l.structure("s", 8, &[("n", int, 0, 0), ("data", flex, 64, 0)]);
    let local = btf(&l);
    for (ty, access) in [(big, "2147483648:0"), (s, "0:1:2147483648")] {
        let r = run(
            &[mov(0)],
            &[relo(0, ty, access, K::FieldByteOffset)],
            &local,
            &local,
        );
        assert!(
            matches!(reason(r), R::TooComplex(_)),
            "{access}: a typed error"
        );
    }
}
