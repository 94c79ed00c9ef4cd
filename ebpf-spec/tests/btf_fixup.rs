//! The `.BTF` a spec carries is fixed up as libbpf does before loading it:
//! every DATASEC's size is its ELF section's size, every variable's offset is
//! its ELF symbol's value, and `.kconfig` externs are allocated globals laid
//! out as the `.kconfig` map is. Read here with a small zerocopy reader of its
//! own (not the crate's), against the section and symbol tables of the file,
//! in both byte orders; every other byte is as clang wrote it.

mod common;

use common::{Layout, fixture};
use ebpf_spec::CollectionSpec;
use std::collections::{BTreeMap, BTreeSet};
use std::mem::{offset_of, size_of};
use zerocopy::byteorder::{BigEndian, LittleEndian, U16, U32};
use zerocopy::{ByteOrder, FromBytes, Immutable, KnownLayout, Unaligned};

#[derive(FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct Header<O: ByteOrder> {
    magic: U16<O>,
    version: u8,
    flags: u8,
    hdr_len: U32<O>,
    type_off: U32<O>,
    type_len: U32<O>,
    str_off: U32<O>,
    str_len: U32<O>,
}

#[derive(FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct BtfType<O: ByteOrder> {
    name_off: U32<O>,
    info: U32<O>,
    size_or_type: U32<O>,
}

#[derive(FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct VarSecinfo<O: ByteOrder> {
    ty: U32<O>,
    offset: U32<O>,
    size: U32<O>,
}

#[derive(Debug, Clone, PartialEq)]
struct Datasec {
    name: String,
    size: u32,
    /// (variable name, offset, size)
    entries: Vec<(String, u32, u32)>,
    /// Byte positions (in the blob) of the size and of each entry's offset.
    fields: Vec<usize>,
}

#[derive(Debug, Default)]
struct Parsed {
    datasecs: Vec<Datasec>,
    /// VAR name -> linkage, and the position of each linkage field.
    linkage: BTreeMap<String, u32>,
    linkage_fields: Vec<usize>,
    /// FUNC name -> linkage (the `vlen` bits of its `info`), and the
    /// position of each FUNC's `info`.
    func_linkage: BTreeMap<String, u32>,
    func_info_fields: Vec<usize>,
    /// Every VAR's name and linkage, in id order (names may repeat).
    vars: Vec<(String, u32)>,
}

fn parse<O: ByteOrder>(blob: &[u8]) -> Parsed {
    let (h, _) = Header::<O>::ref_from_prefix(blob).unwrap();
    assert_eq!(h.magic.get(), 0xeb9f);
    let types_at = h.hdr_len.get() as usize + h.type_off.get() as usize;
    let types_end = types_at + h.type_len.get() as usize;
    let strings = &blob[h.hdr_len.get() as usize + h.str_off.get() as usize..];
    let name = |off: u32| {
        let s = &strings[off as usize..];
        String::from_utf8(s[..s.iter().position(|&b| b == 0).unwrap()].to_vec()).unwrap()
    };
    // First pass: where every type is, and what it says.
    let mut records = Vec::new();
    let mut at = types_at;
    while at < types_end {
        let (t, _) = BtfType::<O>::ref_from_prefix(&blob[at..]).unwrap();
        let info = t.info.get();
        let (kind, vlen) = ((info >> 24) & 0x1f, (info & 0xffff) as usize);
        let tail = match kind {
            1 | 14 | 17 => 4,             // INT, VAR, DECL_TAG: one u32
            3 => 12,                      // ARRAY
            4 | 5 | 15 | 19 => 12 * vlen, // STRUCT, UNION, DATASEC, ENUM64
            6 | 13 => 8 * vlen,           // ENUM, FUNC_PROTO
            _ => 0,
        };
        records.push((at, kind, t.name_off.get(), t.size_or_type.get()));
        at += size_of::<BtfType<O>>() + tail;
    }
    assert_eq!(at, types_end);
    let mut out = Parsed::default();
    for &(at, kind, name_off, size) in &records {
        let body = at + size_of::<BtfType<O>>();
        match kind {
            12 => {
                let (t, _) = BtfType::<O>::ref_from_prefix(&blob[at..]).unwrap();
                out.func_linkage
                    .insert(name(name_off), t.info.get() & 0xffff);
                out.func_info_fields.push(at + offset_of!(BtfType<O>, info));
            }
            14 => {
                let (linkage, _) = U32::<O>::ref_from_prefix(&blob[body..]).unwrap();
                out.linkage.insert(name(name_off), linkage.get());
                out.vars.push((name(name_off), linkage.get()));
                out.linkage_fields.push(body);
            }
            15 => {
                let (_, vlen) = {
                    let (t, _) = BtfType::<O>::ref_from_prefix(&blob[at..]).unwrap();
                    ((), (t.info.get() & 0xffff) as usize)
                };
                let (entries, _) =
                    <[VarSecinfo<O>]>::ref_from_prefix_with_elems(&blob[body..], vlen).unwrap();
                let mut fields = vec![at + offset_of!(BtfType<O>, size_or_type)];
                let entries = entries
                    .iter()
                    .enumerate()
                    .map(|(i, e)| {
                        fields.push(
                            body + i * size_of::<VarSecinfo<O>>()
                                + offset_of!(VarSecinfo<O>, offset),
                        );
                        let var = records[e.ty.get() as usize - 1];
                        assert_eq!(var.1, 14, "a DATASEC entry is a VAR");
                        (name(var.2), e.offset.get(), e.size.get())
                    })
                    .collect();
                out.datasecs.push(Datasec {
                    name: name(name_off),
                    size,
                    entries,
                    fields,
                });
            }
            _ => {}
        }
    }
    out
}

fn parse_in(order: ebpf_spec::ByteOrder, blob: &[u8]) -> Parsed {
    match order {
        ebpf_spec::ByteOrder::Little => parse::<LittleEndian>(blob),
        ebpf_spec::ByteOrder::Big => parse::<BigEndian>(blob),
    }
}

/// A fixture's spec, its `.BTF` as in the file and as the spec carries it,
/// each read by the reader above.
struct FixedUp {
    layout: Layout,
    spec: CollectionSpec,
    raw: Vec<u8>,
    before: Parsed,
    after: Parsed,
}

fn fixed_up(name: &str) -> FixedUp {
    let file = fixture(name);
    let layout = Layout::parse(&file);
    let spec = CollectionSpec::from_elf(&file).unwrap();
    let btf = layout.section(".BTF");
    let raw = file[btf.offset as usize..(btf.offset + btf.size) as usize].to_vec();
    let fixed = &spec.btf.as_ref().unwrap().btf;
    assert_eq!(fixed.len(), raw.len(), "{name}");
    let before = parse_in(spec.byte_order, &raw);
    let after = parse_in(spec.byte_order, fixed);
    FixedUp {
        layout,
        spec,
        raw,
        before,
        after,
    }
}

impl FixedUp {
    /// Asserts that no byte changed but those of the 4-byte `fields`.
    fn unchanged_but<'a>(&self, name: &str, fields: impl Iterator<Item = &'a usize>) {
        let mut allowed: BTreeSet<usize> = BTreeSet::new();
        for field in fields {
            allowed.extend(*field..*field + 4);
        }
        let fixed = &self.spec.btf.as_ref().unwrap().btf;
        for (i, (x, y)) in self.raw.iter().zip(fixed.iter()).enumerate() {
            assert!(x == y || allowed.contains(&i), "{name}: byte {i} changed");
        }
    }
}

#[test]
fn globals_btf_is_fixed_up_from_the_section_and_symbol_tables() {
    for name in ["globals.bpfel.o", "globals.bpfeb.o"] {
        let f = fixed_up(name);
        let (layout, spec, before, after) = (&f.layout, &f.spec, &f.before, &f.after);
        let names: BTreeSet<_> = after.datasecs.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            BTreeSet::from([
                ".bss",
                ".data",
                ".data.custom",
                ".kconfig",
                ".maps",
                ".rodata",
                ".rodata.custom",
                "license"
            ]),
            "{name}"
        );
        // What clang left for the loader: sizes 0, and (but for the first
        // variable of each section) offsets 0 too.
        assert!(before.datasecs.iter().all(|d| d.size == 0), "{name}");
        assert_eq!(before.linkage["LINUX_KERNEL_VERSION"], 2, "extern");
        assert_eq!(before.linkage["CONFIG_BPF_SYSCALL"], 2, "extern");

        for (b, a) in before.datasecs.iter().zip(&after.datasecs) {
            assert_eq!((&b.name, b.entries.len()), (&a.name, a.entries.len()));
            if a.name == ".kconfig" {
                // No ELF section: laid out as the `.kconfig` map's value.
                assert_eq!(a.size, spec.maps[".kconfig"].value_size, "{name}");
                for (var, offset, size) in &a.entries {
                    let v = &spec.variables[var];
                    assert_eq!(
                        (v.section.as_str(), v.offset, v.size),
                        (".kconfig", *offset, *size)
                    );
                }
                assert_eq!(
                    a.entries,
                    [
                        ("CONFIG_BPF_SYSCALL".to_string(), 0, 1),
                        ("LINUX_KERNEL_VERSION".to_string(), 4, 4)
                    ],
                    "{name}"
                );
                continue;
            }
            // The ELF section's size and each symbol's value.
            let sec = layout.section(&a.name);
            assert_eq!(u64::from(a.size), sec.size, "{name} {}", a.name);
            for ((var, offset, size), (_, _, raw_size)) in a.entries.iter().zip(&b.entries) {
                let sym = layout
                    .symbols
                    .iter()
                    .find(|s| &s.name == var && usize::from(s.shndx) == sec.index)
                    .unwrap_or_else(|| panic!("{name}: no symbol {var} in {}", a.name));
                assert_eq!(u64::from(*offset), sym.value, "{name} {var}");
                assert_eq!(size, raw_size, "{name} {var}: sizes are clang's");
                if a.name != ".maps" && a.name != "license" {
                    assert_eq!(spec.variables[var].offset, *offset, "{name} {var}");
                }
            }
        }
        // Every extern became an allocated global; nothing else changed linkage.
        for (var, linkage) in &after.linkage {
            let was = before.linkage[var];
            let expected = if was == 2 { 1 } else { was };
            assert_eq!(*linkage, expected, "{name} {var}");
        }
        // Every other byte is as in the file.
        f.unchanged_but(
            name,
            after
                .datasecs
                .iter()
                .flat_map(|d| d.fields.iter())
                .chain(&after.linkage_fields),
        );
    }
}

/// The kernel refuses a DATASEC whose entries are not in offset order
/// ("Invalid offset"); clang lists variables in its own order and the offsets
/// come from the symbol table, so the fix-up sorts them, as libbpf's
/// btf_fixup_datasec does. Here `.data`'s first two entries are swapped in
/// the file.
#[test]
fn datasec_entries_come_out_in_offset_order() {
    let mut file = fixture("globals.bpfel.o");
    let layout = Layout::parse(&file);
    let btf = layout.section(".BTF");
    let at = btf.offset as usize;
    let raw = parse::<LittleEndian>(&file[at..at + btf.size as usize]);
    let data = raw.datasecs.iter().find(|d| d.name == ".data").unwrap();
    assert!(data.entries.len() >= 2);
    // `fields[1]` is the first entry's offset field, 4 bytes into it.
    let first = at + data.fields[1] - 4;
    let record = size_of::<VarSecinfo<LittleEndian>>();
    let (a, b) = file[first..first + 2 * record].split_at_mut(record);
    a.swap_with_slice(b);
    let swapped = parse::<LittleEndian>(&file[at..at + btf.size as usize]);
    let unsorted = &swapped.datasecs.iter().find(|d| d.name == ".data").unwrap();
    assert_eq!(unsorted.entries[0], data.entries[1], "the file is patched");

    let spec = CollectionSpec::from_elf(&file).unwrap();
    let fixed = parse::<LittleEndian>(&spec.btf.as_ref().unwrap().btf);
    let sorted = fixed.datasecs.iter().find(|d| d.name == ".data").unwrap();
    let offsets: Vec<u32> = sorted.entries.iter().map(|e| e.1).collect();
    assert!(offsets.is_sorted(), "{:?}", sorted.entries);
    let mut expected = unsorted.entries.clone();
    for e in &mut expected {
        e.1 = spec.variables[&e.0].offset;
    }
    expected.sort_by_key(|e| e.1);
    assert_eq!(sorted.entries, expected);
}

/// libbpf's `__hidden` (visibility "hidden"): a hidden global sub-program's
/// FUNC and a hidden global variable's VAR are made static before loading,
/// as libbpf makes them (`mark_btf_static`, `btf_fixup_datasec`); the
/// verifier then checks the function in its caller's context. Everything
/// else global stays global, and no other byte changes.
#[test]
fn hidden_globals_are_static_in_the_btf() {
    for name in ["hidden/hidden.bpfel.o", "hidden/hidden.bpfeb.o"] {
        let f = fixed_up(name);
        let (spec, before, after) = (&f.spec, &f.before, &f.after);
        for func in ["read_it", "add_one", "hidden_caller"] {
            assert_eq!(
                before.func_linkage[func], 1,
                "{name}: clang wrote {func} global"
            );
        }
        assert_eq!(before.linkage["hidden_counter"], 1, "{name}");
        assert_eq!(
            after.func_linkage,
            BTreeMap::from([
                ("add_one".to_string(), 1),
                ("hidden_caller".to_string(), 1),
                ("read_it".to_string(), 0),
            ]),
            "{name}"
        );
        assert_eq!(after.linkage["hidden_counter"], 0, "{name}");
        assert_eq!(after.linkage["shared_counter"], 1, "{name}");
        // The spec's own view of them is unchanged.
        assert!(spec.functions.contains_key("read_it"), "{name}");
        assert_eq!(spec.variables["hidden_counter"].section, ".bss", "{name}");

        f.unchanged_but(
            name,
            after
                .datasecs
                .iter()
                .flat_map(|d| d.fields.iter())
                .chain(&after.linkage_fields)
                .chain(&after.func_info_fields),
        );
    }
}

/// A `static int cnt` and a hidden global `cnt`, from two files linked into
/// one object: the global's VAR is made static, whichever symbol comes
/// first (libbpf looks at global symbols only); the static stays static.
#[test]
fn a_hidden_global_is_found_past_a_static_of_its_name() {
    let name = "hidden/hidden_static.bpfel.o";
    let f = fixed_up(name);
    let cnt = |p: &Parsed| -> Vec<u32> {
        p.vars
            .iter()
            .filter(|(n, _)| n == "cnt")
            .map(|&(_, l)| l)
            .collect()
    };
    assert_eq!(cnt(&f.before), [0, 1], "{name}: a static, then the global");
    assert_eq!(cnt(&f.after), [0, 0], "{name}");
    assert_eq!(f.after.linkage["LICENSE"], 1);
}
