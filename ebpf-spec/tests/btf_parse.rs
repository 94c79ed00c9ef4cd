//! `ebpf_spec::btf::Btf`: every kind through crafted blobs, lookups, sizes,
//! hostile input (truncations, bad offsets, huge counts, loops), and the
//! running kernel's vmlinux.

mod btf_support;

use btf_support::{BtfBuilder, info, kind, vmlinux};
use ebpf_spec::ByteOrder;
use ebpf_spec::btf::{Array, Btf, BtfError, Kind, Linkage, TypeData, VarSecInfo, essential_name};
use std::time::Instant;

/// One blob with every kind. Returns the builder and named ids.
fn every_kind() -> (BtfBuilder, Vec<(&'static str, u32)>) {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4, true); // 1
    let uchar = b.int_enc("unsigned char", 1, 2, 0, 8); // 2 (char)
    let long = b.int("long", 8, true); // 3
    let ptr = b.ptr(int); // 4
    let arr = b.array(int, int, 7); // 5
    let s = b.structure(
        "pair",
        16,
        &[("a", int, 0, 0), ("", arr, 32, 0), ("bits", int, 96, 3)],
    ); // 6
    let u = b.union("either", 8, &[("i", int, 0, 0), ("l", long, 0, 0)]); // 7
    let e = b.enumeration("color", 4, true, &[("RED", -1), ("GREEN", 7)]); // 8
    let e64 = b.enum64("big", 8, false, &[("HUGE", 0xffff_ffff_0000_0001)]); // 9
    let fwd = b.fwd("later", true); // 10
    let td = b.typedef("int_t", int); // 11
    let vol = b.volatile(td); // 12
    let cst = b.konst(vol); // 13
    let rst = b.restrict(ptr); // 14
    let proto = b.func_proto(int, &[("x", int), ("", 0)]); // 15
    let func = b.func("main", proto, 1); // 16
    let var = b.var("counter", int, 1); // 17
    let sec = b.datasec(".data", 4, &[(var, 0, 4)]); // 18
    let flt = b.float("double", 8); // 19
    let tag = b.decl_tag("tagged", s, 1); // 20
    let ttag = b.type_tag("user", int); // 21
    let signed32 = b.enumeration("s32", 4, false, &[("TOP", 0x8000_0000u32 as i64)]); // 22
    let names = vec![
        ("int", int),
        ("uchar", uchar),
        ("long", long),
        ("ptr", ptr),
        ("arr", arr),
        ("struct", s),
        ("union", u),
        ("enum", e),
        ("enum64", e64),
        ("fwd", fwd),
        ("typedef", td),
        ("volatile", vol),
        ("const", cst),
        ("restrict", rst),
        ("proto", proto),
        ("func", func),
        ("var", var),
        ("datasec", sec),
        ("float", flt),
        ("decl_tag", tag),
        ("type_tag", ttag),
        ("unsigned_enum", signed32),
    ];
    (b, names)
}

fn id(names: &[(&str, u32)], n: &str) -> u32 {
    names.iter().find(|(k, _)| *k == n).unwrap().1
}

#[test]
fn every_kind_parses_in_both_byte_orders() {
    let (b, names) = every_kind();
    for order in [ByteOrder::Little, ByteOrder::Big] {
        let btf = Btf::parse(&b.build(order), order).unwrap();
        assert_eq!(btf.byte_order(), order);
        assert_eq!(btf.type_count(), 22);
        assert_eq!(btf.ids(), 1..=22);
        assert_eq!(btf.pointer_size(), 8, "from the INT named long");
        let get = |n| btf.ty(id(&names, n)).unwrap();

        assert_eq!(btf.kind(0), Some(Kind::Void));
        assert!(matches!(btf.ty(0).unwrap().data(), TypeData::Void));
        assert_eq!(btf.kind(23), None);
        assert_eq!(btf.name(0), None);

        let TypeData::Int(i) = get("int").data() else {
            panic!()
        };
        assert_eq!((i.size, i.bits, i.offset, i.is_signed()), (4, 32, 0, true));
        let TypeData::Int(c) = get("uchar").data() else {
            panic!()
        };
        assert!(c.is_char() && !c.is_signed() && !c.is_bool());
        assert!(matches!(get("ptr").data(), TypeData::Ptr { target: 1 }));
        assert_eq!(get("ptr").target(), Some(1));
        let TypeData::Array(a) = get("arr").data() else {
            panic!()
        };
        assert_eq!(
            a,
            Array {
                elem: 1,
                index: 1,
                nelems: 7
            }
        );
        assert_eq!(get("arr").target(), Some(1));

        let s = get("struct");
        assert_eq!(
            (s.kind(), s.name(), s.vlen(), s.kind_flag()),
            (Kind::Struct, Some("pair"), 3, true)
        );
        let TypeData::Struct(m) = s.data() else {
            panic!()
        };
        let m: Vec<_> = m.iter().collect();
        assert_eq!(m.len(), 3);
        assert_eq!(
            (m[0].name, m[0].ty, m[0].bit_offset, m[0].bitfield_size),
            (Some("a"), 1, 0, 0)
        );
        assert_eq!((m[1].name, m[1].name_off, m[1].bit_offset), (None, 0, 32));
        assert_eq!(
            (m[2].name, m[2].bit_offset, m[2].bitfield_size),
            (Some("bits"), 96, 3)
        );
        let TypeData::Union(u) = get("union").data() else {
            panic!()
        };
        assert_eq!(u.len(), 2);
        assert_eq!(u.get(1).unwrap().name, Some("l"));
        assert!(u.get(2).is_none());

        let TypeData::Enum(e) = get("enum").data() else {
            panic!()
        };
        assert!(e.is_signed());
        let v: Vec<_> = e.iter().map(|v| (v.name.unwrap(), v.value)).collect();
        assert_eq!(v, [("RED", -1), ("GREEN", 7)]);
        let TypeData::Enum(e) = get("unsigned_enum").data() else {
            panic!()
        };
        assert_eq!(e.get(0).unwrap().value, 0x8000_0000);
        let TypeData::Enum64(e) = get("enum64").data() else {
            panic!()
        };
        assert_eq!(e.get(0).unwrap().value, 0xffff_ffff_0000_0001);
        assert!(matches!(get("fwd").data(), TypeData::Fwd { union: true }));
        assert!(matches!(
            get("typedef").data(),
            TypeData::Typedef { target: 1 }
        ));
        assert!(matches!(
            get("volatile").data(),
            TypeData::Volatile { target: 11 }
        ));
        assert!(matches!(
            get("const").data(),
            TypeData::Const { target: 12 }
        ));
        assert!(matches!(
            get("restrict").data(),
            TypeData::Restrict { target: 4 }
        ));
        let TypeData::FuncProto { ret, params } = get("proto").data() else {
            panic!()
        };
        assert_eq!(ret, 1);
        let p: Vec<_> = params.iter().map(|p| (p.name, p.ty)).collect();
        assert_eq!(p, [(Some("x"), 1), (None, 0)], "a variadic tail");
        assert!(matches!(
            get("func").data(),
            TypeData::Func {
                proto: 15,
                linkage: Linkage::Global
            }
        ));
        assert!(matches!(
            get("var").data(),
            TypeData::Var {
                ty: 1,
                linkage: Linkage::Global
            }
        ));
        let TypeData::Datasec { size, vars } = get("datasec").data() else {
            panic!()
        };
        assert_eq!(
            (size, vars),
            (
                4,
                &[VarSecInfo {
                    ty: 17,
                    offset: 0,
                    size: 4
                }][..]
            )
        );
        assert!(matches!(get("float").data(), TypeData::Float { size: 8 }));
        assert!(matches!(
            get("decl_tag").data(),
            TypeData::DeclTag {
                target: 6,
                component_idx: 1
            }
        ));
        assert!(matches!(
            get("type_tag").data(),
            TypeData::TypeTag { target: 1 }
        ));
        assert_eq!(btf.name(id(&names, "type_tag")), Some("user"));
        // Debug output of a view names it.
        assert!(format!("{:?}", get("struct")).contains("pair"));
    }
}

#[test]
fn names_lookups_and_strings() {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4, true);
    let s1 = b.structure("task", 4, &[("pid", int, 0, 0)]);
    let s2 = b.structure("task___v2", 8, &[("pid", int, 32, 0)]);
    let f = b.fwd("task", false);
    let t = b.typedef("task", s1);
    let data = b.build(ByteOrder::Little);
    let btf = Btf::parse(&data, ByteOrder::Little).unwrap();

    assert_eq!(btf.ids_by_name("task").collect::<Vec<_>>(), [s1, f, t]);
    assert_eq!(btf.ids_by_name("task___v2").collect::<Vec<_>>(), [s2]);
    assert_eq!(btf.ids_by_name("nope").count(), 0);
    assert_eq!(btf.find("task", Kind::Struct), Some(s1));
    assert_eq!(btf.find("task", Kind::Fwd), Some(f));
    assert_eq!(btf.find("task", Kind::Typedef), Some(t));
    assert_eq!(btf.find("task", Kind::Union), None);
    assert_eq!(btf.find("task___v2", Kind::Struct), Some(s2));
    assert_eq!(btf.find("", Kind::Struct), None);

    assert_eq!(btf.string_at(0), Some(""));
    assert_eq!(btf.string_at(1), Some("int"));
    assert_eq!(
        btf.string_at(2),
        Some("nt"),
        "any offset inside the section"
    );
    assert_eq!(btf.string_at(10_000), None);
    assert_eq!(essential_name("task___v2"), "task");
}

#[test]
fn sizes_follow_libbpf() {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4, true); // 1
    let td = b.typedef("int_t", int); // 2
    let cst = b.konst(td); // 3
    let arr = b.array(cst, int, 10); // 4
    let arr2 = b.array(arr, int, 3); // 5
    let p = b.ptr(0); // 6
    let proto = b.func_proto(0, &[]); // 7
    let func = b.func("f", proto, 0); // 8
    let fwd = b.fwd("x", false); // 9
    let var = b.var("v", arr2, 1); // 10
    let huge = b.array(int, int, 0x4000_0000); // 11: 4 GiB
    let big = b.array(huge, int, 0x10000); // 12
    let flex = b.array(int, int, 0); // 13
    let e64 = b.enum64("e", 8, false, &[]); // 14
    let data = b.build(ByteOrder::Little);
    let btf = Btf::parse(&data, ByteOrder::Little).unwrap();

    assert_eq!(btf.size_of(int).unwrap(), 4);
    assert_eq!(btf.size_of(cst).unwrap(), 4);
    assert_eq!(btf.size_of(arr).unwrap(), 40);
    assert_eq!(btf.size_of(arr2).unwrap(), 120);
    assert_eq!(btf.size_of(p).unwrap(), 8);
    assert_eq!(btf.size_of(var).unwrap(), 120);
    assert_eq!(btf.size_of(flex).unwrap(), 0);
    assert_eq!(btf.size_of(e64).unwrap(), 8);
    assert_eq!(btf.skip_mods_and_typedefs(cst).unwrap(), int);
    for no_size in [0, proto, func, fwd] {
        assert!(
            matches!(btf.size_of(no_size), Err(BtfError::NoSize { .. })),
            "{no_size}"
        );
    }
    assert!(matches!(btf.size_of(huge), Err(BtfError::TooLarge { .. })));
    assert!(matches!(btf.size_of(big), Err(BtfError::TooLarge { .. })));
    assert!(matches!(
        btf.size_of(99),
        Err(BtfError::NoSuchType { id: 99, count: 14 })
    ));
}

#[test]
fn pointer_size_comes_from_long() {
    let mut b = BtfBuilder::new();
    b.int("long unsigned int", 4, false);
    let p = b.ptr(0);
    let btf = Btf::parse(&b.build(ByteOrder::Big), ByteOrder::Big).unwrap();
    assert_eq!(btf.pointer_size(), 4);
    assert_eq!(btf.size_of(p).unwrap(), 4);
}

#[test]
fn loops_are_errors_not_hangs() {
    let mut b = BtfBuilder::new();
    // typedef 1 -> 2 -> 1; const 3 -> 3; array 4 of 4.
    b.raw(0, info(kind::TYPEDEF, false, 0), 2, &[]);
    b.raw(0, info(kind::TYPEDEF, false, 0), 1, &[]);
    b.raw(0, info(kind::CONST, false, 0), 3, &[]);
    b.raw(0, info(kind::ARRAY, false, 0), 0, &[4, 4, 1]);
    b.raw(0, info(kind::VAR, false, 0), 5, &[0]);
    let btf = Btf::parse(&b.build(ByteOrder::Little), ByteOrder::Little).unwrap();
    for id in 1..=5 {
        assert!(
            matches!(btf.size_of(id), Err(BtfError::ChainTooLong { .. })),
            "{id}: {:?}",
            btf.size_of(id)
        );
    }
    assert!(btf.skip_mods_and_typedefs(1).is_err());
    assert!(btf.skip_mods_and_typedefs(3).is_err());
}

/// Every way a header or record can be wrong gives a typed error.
#[test]
fn hostile_headers_and_records() {
    let (b, _) = every_kind();
    let good = b.build(ByteOrder::Little);
    let parse = |d: &[u8]| Btf::parse(d, ByteOrder::Little);
    let with = |at: usize, v: u32| {
        let mut d = good.clone();
        d[at..at + 4].copy_from_slice(&v.to_le_bytes());
        d
    };
    assert!(matches!(parse(&good[..10]), Err(BtfError::Header { .. })));
    assert!(matches!(
        Btf::parse(&good, ByteOrder::Big),
        Err(BtfError::Header { .. })
    ));
    let mut v2 = good.clone();
    v2[2] = 2;
    assert!(matches!(parse(&v2), Err(BtfError::Header { .. })));
    assert!(
        matches!(parse(&with(4, 8)), Err(BtfError::Header { .. })),
        "hdr_len < 24"
    );
    assert!(matches!(
        parse(&with(4, u32::MAX)),
        Err(BtfError::Header { .. })
    ));
    assert!(
        matches!(parse(&with(12, u32::MAX)), Err(BtfError::Header { .. })),
        "type_len"
    );
    assert!(
        matches!(parse(&with(8, u32::MAX)), Err(BtfError::Header { .. })),
        "type_off"
    );
    assert!(
        matches!(parse(&with(20, u32::MAX)), Err(BtfError::Header { .. })),
        "str_len"
    );
    assert!(
        matches!(parse(&with(16, u32::MAX - 2)), Err(BtfError::Header { .. })),
        "str_off overflow"
    );
    assert!(matches!(parse(&with(20, 0)), Err(BtfError::Strings { .. })));
    let type_len = u32::from_le_bytes(good[12..16].try_into().unwrap());
    assert!(
        matches!(parse(&with(12, type_len - 2)), Err(BtfError::Header { .. })),
        "not a multiple of 4"
    );
    // A string section that does not end with a NUL.
    let mut d = good.clone();
    *d.last_mut().unwrap() = b'x';
    assert!(matches!(parse(&d), Err(BtfError::Strings { .. })));

    // Records: the first type starts at 24.
    let rec = |words: &[u32]| {
        let mut b = BtfBuilder::new();
        b.int("int", 4, true);
        let name = words[0];
        b.raw(name, words[1], words[2], &words[3..]);
        Btf::parse(&b.build(ByteOrder::Little), ByteOrder::Little)
    };
    let err = rec(&[0, info(0, false, 0), 0]).unwrap_err();
    assert!(matches!(err, BtfError::Type { id: 2, .. }), "kind 0: {err}");
    assert!(matches!(
        rec(&[0, info(20, false, 0), 0]),
        Err(BtfError::Type { id: 2, .. })
    ));
    assert!(matches!(
        rec(&[0, info(31, false, 0), 0]),
        Err(BtfError::Type { id: 2, .. })
    ));
    assert!(
        matches!(
            rec(&[9999, info(kind::PTR, false, 0), 1]),
            Err(BtfError::Type { id: 2, .. })
        ),
        "name offset"
    );
    assert!(
        matches!(
            rec(&[0, info(kind::PTR, false, 0), 3]),
            Err(BtfError::Type { id: 2, .. })
        ),
        "dangling pointer"
    );
    assert!(
        rec(&[0, info(kind::PTR, false, 0), 2]).is_ok(),
        "a pointer to itself is valid BTF"
    );
    assert!(
        matches!(
            rec(&[0, info(kind::ARRAY, false, 0), 0, 1, 7, 1]),
            Err(BtfError::Type { .. })
        ),
        "array index type"
    );
    assert!(
        matches!(
            rec(&[0, info(kind::STRUCT, false, 1), 4, 0, 5, 0]),
            Err(BtfError::Type { .. })
        ),
        "member type"
    );
    assert!(
        matches!(
            rec(&[0, info(kind::STRUCT, false, 1), 4, 777, 1, 0]),
            Err(BtfError::Type { .. })
        ),
        "member name"
    );
    assert!(
        matches!(
            rec(&[0, info(kind::ENUM, false, 1), 4, 777, 1]),
            Err(BtfError::Type { .. })
        ),
        "enumerator name"
    );
    assert!(
        matches!(
            rec(&[0, info(kind::FUNC_PROTO, false, 1), 0, 0, 9]),
            Err(BtfError::Type { .. })
        ),
        "param type"
    );
    assert!(
        matches!(
            rec(&[0, info(kind::FUNC_PROTO, false, 0), 9]),
            Err(BtfError::Type { .. })
        ),
        "return type"
    );
    assert!(
        matches!(
            rec(&[0, info(kind::DATASEC, false, 1), 0, 9, 0, 0]),
            Err(BtfError::Type { .. })
        ),
        "secinfo type"
    );
    assert!(
        matches!(
            rec(&[0, info(kind::VAR, false, 0), 9, 0]),
            Err(BtfError::Type { .. })
        ),
        "var type"
    );
    assert!(
        matches!(
            rec(&[0, info(kind::FUNC, false, 0), 9]),
            Err(BtfError::Type { .. })
        ),
        "func proto"
    );
    // A huge vlen with few bytes: an error before anything is allocated.
    let err = rec(&[0, info(kind::STRUCT, false, 0xffff), 4]).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    assert!(matches!(
        rec(&[0, info(kind::ENUM64, false, 0xffff), 8]),
        Err(BtfError::Type { id: 2, .. })
    ));
    assert!(
        matches!(
            rec(&[0, info(kind::INT, false, 0), 4]),
            Err(BtfError::Type { id: 2, .. })
        ),
        "INT without its word"
    );
}

#[test]
fn every_truncation_and_bit_flip_is_handled() {
    let (b, _) = every_kind();
    for order in [ByteOrder::Little, ByteOrder::Big] {
        let good = b.build(order);
        for len in 0..good.len() {
            let mut d = good[..len].to_vec();
            // Keep the header's lengths: the blob is just short.
            assert!(Btf::parse(&d, order).is_err(), "prefix {len} parsed");
            d.clear();
        }
        for at in 0..good.len() {
            for bit in 0..8 {
                let mut d = good.clone();
                d[at] ^= 1 << bit;
                if let Ok(btf) = Btf::parse(&d, order) {
                    exercise(&btf);
                }
            }
        }
    }
}

/// Calls every accessor on every type: none may panic.
fn exercise(btf: &Btf) {
    for id in 0..=btf.type_count() + 1 {
        let _ = btf.size_of(id);
        let _ = btf.skip_mods_and_typedefs(id);
        let _ = btf.name(id);
        if let Some(t) = btf.ty(id) {
            let _ = format!("{t:?}");
            if let Some(n) = t.name() {
                assert!(btf.ids_by_name(n).any(|i| i == id));
            }
        }
    }
}

#[test]
fn btf_is_shared_across_threads() {
    let (b, _) = every_kind();
    let btf =
        std::sync::Arc::new(Btf::parse(&b.build(ByteOrder::Little), ByteOrder::Little).unwrap());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let btf = btf.clone();
            std::thread::spawn(move || btf.find("pair", Kind::Struct))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), Some(6));
    }
}

/// The running kernel's BTF, checked against facts every kernel with BTF
/// has, each found by walking the types by name.
#[test]
fn vmlinux_parses_and_has_known_types() {
    let Some(bytes) = vmlinux() else { return };
    let start = Instant::now();
    let btf = Btf::parse(&bytes, ByteOrder::NATIVE).unwrap();
    let parsed = start.elapsed();
    let start = Instant::now();
    let task = btf.find("task_struct", Kind::Struct).expect("task_struct");
    let indexed = start.elapsed();
    println!(
        "vmlinux: {} bytes, {} types, parsed in {parsed:?}, name index in {indexed:?} ({} build)",
        bytes.len(),
        btf.type_count(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    assert!(btf.type_count() > 10_000);
    assert_eq!(btf.pointer_size(), 8);

    // task_struct.pid: an int-like of 4 bytes (pid_t -> __kernel_pid_t -> int).
    let TypeData::Struct(members) = btf.ty(task).unwrap().data() else {
        panic!()
    };
    let pid = members.iter().find(|m| m.name == Some("pid")).expect("pid");
    assert_eq!(btf.size_of(pid.ty).unwrap(), 4);
    let int = btf.skip_mods_and_typedefs(pid.ty).unwrap();
    let TypeData::Int(i) = btf.ty(int).unwrap().data() else {
        panic!("pid is not an int")
    };
    assert!(i.is_signed());
    assert!(btf.size_of(task).unwrap() > 1000);

    // enum bpf_map_type: BPF_MAP_TYPE_ARENA is 33 in every kernel that has it.
    let map_type = btf.find("bpf_map_type", Kind::Enum).expect("bpf_map_type");
    let TypeData::Enum(values) = btf.ty(map_type).unwrap().data() else {
        panic!()
    };
    let get = |n: &str| values.iter().find(|v| v.name == Some(n)).map(|v| v.value);
    assert_eq!(get("BPF_MAP_TYPE_HASH"), Some(1));
    if let Some(arena) = get("BPF_MAP_TYPE_ARENA") {
        assert_eq!(arena, 33);
    } else {
        println!("this kernel has no BPF_MAP_TYPE_ARENA");
    }

    // An LSM hook, for attach_btf_id, when the kernel has BPF LSM.
    match btf.find("bpf_lsm_file_open", Kind::Func) {
        Some(f) => {
            let TypeData::Func { proto, .. } = btf.ty(f).unwrap().data() else {
                panic!()
            };
            let TypeData::FuncProto { params, .. } = btf.ty(proto).unwrap().data() else {
                panic!()
            };
            assert_eq!(params.len(), 1, "file_open(struct file *)");
        }
        None => println!("skipped bpf_lsm_file_open: no CONFIG_BPF_LSM"),
    }

    // Every type's name is found by name lookup, and every view reads.
    for id in btf.ids() {
        let t = btf.ty(id).unwrap();
        let _ = t.data();
        if let Some(n) = t.name()
            && id % 97 == 0
        {
            assert!(btf.ids_by_name(n).any(|i| i == id), "{n}");
        }
    }
}
