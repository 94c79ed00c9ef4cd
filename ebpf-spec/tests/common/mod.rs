//! Shared by `bad_input.rs` and `proptest_elf.rs`: the fixture objects, a map of
//! where things are in them (found with the `object` crate's low-level ELF API
//! and `offset_of!` on its `#[repr(C)]` structs, never hand-counted offsets),
//! patch helpers that write fields in the object's byte order, and an
//! allocator that records the allocations of the current thread.
#![allow(dead_code)]

pub mod craft;

use object::elf::{self, FileHeader64, Rel64, SectionHeader64, Sym64};
use object::read::elf::{FileHeader as _, SectionHeader as _, Sym as _};
use object::{Endian as _, Endianness};
use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::cell::Cell;
use std::mem::{offset_of, size_of};

pub type Fh = FileHeader64<Endianness>;
pub type Sh = SectionHeader64<Endianness>;
pub type St = Sym64<Endianness>;
pub type Rl = Rel64<Endianness>;

macro_rules! fixtures {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!("../fixtures/", $path)))),*]
    };
}

/// Every committed fixture object, by its path under `tests/fixtures/`.
pub const FIXTURES: &[(&str, &[u8])] = fixtures![
    "aya_legacy.bpfeb.o",
    "aya_legacy.bpfel.o",
    "btf_maps.bpfeb.o",
    "btf_maps.bpfel.o",
    "globals.bpfeb.o",
    "globals.bpfel.o",
    "iproute2.bpfeb.o",
    "iproute2.bpfel.o",
    "iproute2_kv.bpfeb.o",
    "iproute2_kv.bpfel.o",
    "legacy_extra.bpfeb.o",
    "legacy_extra.bpfel.o",
    "legacy_maps.bpfeb.o",
    "legacy_maps.bpfel.o",
    "map_in_map.bpfeb.o",
    "map_in_map.bpfel.o",
    "no_btf.bpfeb.o",
    "no_btf.bpfel.o",
    "programs.bpfeb.o",
    "programs.bpfel.o",
    "struct_ops/struct_ops.bpfeb.o",
    "struct_ops/struct_ops.bpfel.o",
    "libbpf_rules/libbpf_rules.bpfeb.o",
    "libbpf_rules/libbpf_rules.bpfel.o",
    "arena/arena.bpfeb.o",
    "arena/arena.bpfel.o",
    "btf_refused/btf_refused.bpfeb.o",
    "btf_refused/btf_refused.bpfel.o",
    "linked/linked.bpfel.o",
    "kconfig/kconfig.bpfeb.o",
    "kconfig/kconfig.bpfel.o",
    "alias/alias.bpfeb.o",
    "alias/alias.bpfel.o",
    "hidden/hidden.bpfeb.o",
    "hidden/hidden.bpfel.o",
    "hidden/hidden_static.bpfel.o",
    "libxdp/xdp-dispatcher.o",
    "libxdp/xdpdump_bpf.o",
    "libxdp/xdpdump_xdp.o",
    "libxdp/xdpfilt_alw_all.o",
    "libxdp/xdpfilt_alw_eth.o",
    "libxdp/xdpfilt_alw_ip.o",
    "libxdp/xdpfilt_alw_tcp.o",
    "libxdp/xdpfilt_alw_udp.o",
    "libxdp/xdpfilt_dny_all.o",
    "libxdp/xdpfilt_dny_eth.o",
    "libxdp/xdpfilt_dny_ip.o",
    "libxdp/xdpfilt_dny_tcp.o",
    "libxdp/xdpfilt_dny_udp.o",
    "libxdp/xsk_def_xdp_prog.o",
    "libxdp/xsk_def_xdp_prog_5.3.o",
];

/// A fresh, owned copy of a fixture.
pub fn fixture(name: &str) -> Vec<u8> {
    FIXTURES
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no fixture {name}"))
        .1
        .to_vec()
}

// ------------------------------------------------------------ ELF layout

/// A section header field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShField {
    Name,
    Type,
    Flags,
    Offset,
    Size,
    Link,
    Info,
}

impl ShField {
    pub const ALL: [ShField; 7] = [
        ShField::Name,
        ShField::Type,
        ShField::Flags,
        ShField::Offset,
        ShField::Size,
        ShField::Link,
        ShField::Info,
    ];

    /// Offset in `Elf64_Shdr` and width in bytes.
    fn place(self) -> (usize, usize) {
        match self {
            ShField::Name => (offset_of!(Sh, sh_name), 4),
            ShField::Type => (offset_of!(Sh, sh_type), 4),
            ShField::Flags => (offset_of!(Sh, sh_flags), 8),
            ShField::Offset => (offset_of!(Sh, sh_offset), 8),
            ShField::Size => (offset_of!(Sh, sh_size), 8),
            ShField::Link => (offset_of!(Sh, sh_link), 4),
            ShField::Info => (offset_of!(Sh, sh_info), 4),
        }
    }
}

/// A symbol table entry field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymField {
    Name,
    Info,
    Shndx,
    Value,
    Size,
}

impl SymField {
    pub const ALL: [SymField; 5] = [
        SymField::Name,
        SymField::Info,
        SymField::Shndx,
        SymField::Value,
        SymField::Size,
    ];

    /// Offset in `Elf64_Sym` and width in bytes.
    fn place(self) -> (usize, usize) {
        match self {
            SymField::Name => (offset_of!(St, st_name), 4),
            SymField::Info => (offset_of!(St, st_info), 1),
            SymField::Shndx => (offset_of!(St, st_shndx), 2),
            SymField::Value => (offset_of!(St, st_value), 8),
            SymField::Size => (offset_of!(St, st_size), 8),
        }
    }
}

/// One section header, where it is and what it says.
#[derive(Debug, Clone)]
pub struct Section {
    pub index: usize,
    pub name: String,
    /// File offset of the `Elf64_Shdr`.
    pub header: usize,
    pub sh_type: u32,
    pub flags: u64,
    pub offset: u64,
    pub size: u64,
    pub link: u32,
    pub info: u32,
}

/// One symbol, where its entry is and what it says.
#[derive(Debug, Clone)]
pub struct Symbol {
    pub index: usize,
    pub name: String,
    /// File offset of the `Elf64_Sym`.
    pub entry: usize,
    pub shndx: u16,
    pub value: u64,
    pub size: u64,
    pub st_type: u8,
}

/// One `Elf64_Rel` entry.
#[derive(Debug, Clone)]
pub struct Reloc {
    /// Index of the SHT_REL section holding it.
    pub table: usize,
    /// The section it applies to (the table's sh_info).
    pub target: usize,
    /// File offset of the entry.
    pub entry: usize,
    pub offset: u64,
    pub sym: u32,
    pub r_type: u32,
}

/// Where everything is in one ELF file.
#[derive(Debug, Clone)]
pub struct Layout {
    pub endian: Endianness,
    pub len: usize,
    /// File offset of `e_machine`, `e_ident[EI_CLASS]`.
    pub e_machine: usize,
    pub ei_class: usize,
    /// End of the section header table.
    pub sh_table_end: usize,
    /// Index of the section-name string table.
    pub shstrndx: usize,
    pub sections: Vec<Section>,
    pub symbols: Vec<Symbol>,
    pub relocs: Vec<Reloc>,
}

fn offset_in(data: &[u8], item: &impl Sized) -> usize {
    (item as *const _ as usize) - data.as_ptr() as usize
}

impl Layout {
    /// Parses a well-formed object (a fixture); panics on a broken one.
    pub fn parse(data: &[u8]) -> Layout {
        let header = Fh::parse(data).expect("ELF header");
        let endian = header.endian().expect("endianness");
        let table = header.sections(endian, data).expect("section table");
        let mut sections = Vec::new();
        let mut relocs = Vec::new();
        for (index, sh) in table.enumerate() {
            let name = String::from_utf8(table.section_name(endian, sh).unwrap().to_vec()).unwrap();
            if sh.sh_type(endian) == elf::SHT_REL {
                let (rels, _) = sh.rel(endian, data).unwrap().unwrap();
                for r in rels {
                    relocs.push(Reloc {
                        table: index.0,
                        target: sh.sh_info(endian) as usize,
                        entry: offset_in(data, r),
                        offset: r.r_offset.get(endian),
                        sym: r.r_sym(endian),
                        r_type: r.r_type(endian).0,
                    });
                }
            }
            sections.push(Section {
                index: index.0,
                name,
                header: offset_in(data, sh),
                sh_type: sh.sh_type(endian).0,
                flags: sh.sh_flags(endian).0,
                offset: sh.sh_offset(endian),
                size: sh.sh_size(endian),
                link: sh.sh_link(endian),
                info: sh.sh_info(endian),
            });
        }
        let symtab = table
            .symbols(endian, data, elf::SHT_SYMTAB)
            .expect("symbol table");
        let symbols = symtab
            .enumerate()
            .map(|(index, sym)| Symbol {
                index: index.0,
                name: String::from_utf8(symtab.symbol_name(endian, sym).unwrap().to_vec()).unwrap(),
                entry: offset_in(data, sym),
                shndx: sym.st_shndx(endian).0,
                value: sym.st_value(endian),
                size: sym.st_size(endian),
                st_type: sym.st_type().0,
            })
            .collect();
        let sh_table_end =
            header.e_shoff(endian) as usize + table.len() * usize::from(header.e_shentsize(endian));
        let shstrndx = header.shstrndx(endian, data).expect("e_shstrndx") as usize;
        Layout {
            endian,
            len: data.len(),
            shstrndx,
            e_machine: offset_of!(Fh, e_machine),
            ei_class: offset_of!(Fh, e_ident) + offset_of!(elf::Ident, class),
            sh_table_end,
            sections,
            symbols,
            relocs,
        }
    }

    pub fn section(&self, name: &str) -> &Section {
        self.sections
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no section {name}"))
    }

    pub fn symbol(&self, name: &str) -> &Symbol {
        self.symbols
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no symbol {name}"))
    }

    /// The relocations that apply to section `name`.
    pub fn relocs_for(&self, name: &str) -> Vec<&Reloc> {
        let target = self.section(name).index;
        self.relocs.iter().filter(|r| r.target == target).collect()
    }

    /// File offset of `field` in the header of section `index`.
    pub fn sh_field(&self, index: usize, field: ShField) -> (usize, usize) {
        let (off, width) = field.place();
        (self.sections[index].header + off, width)
    }

    /// File offset of `field` in the entry of symbol `index`.
    pub fn sym_field(&self, index: usize, field: SymField) -> (usize, usize) {
        let (off, width) = field.place();
        (self.symbols[index].entry + off, width)
    }

    /// Writes `value` (truncated to the field's width) to section `index`'s header.
    pub fn set_sh(&self, data: &mut [u8], index: usize, field: ShField, value: u64) {
        let (at, width) = self.sh_field(index, field);
        put(data, at, width, value, self.endian);
    }

    /// Writes `value` (truncated to the field's width) to symbol `index`'s entry.
    pub fn set_sym(&self, data: &mut [u8], index: usize, field: SymField, value: u64) {
        let (at, width) = self.sym_field(index, field);
        put(data, at, width, value, self.endian);
    }

    pub fn set_rel_offset(&self, data: &mut [u8], rel: &Reloc, offset: u64) {
        put(
            data,
            rel.entry + offset_of!(Rl, r_offset),
            8,
            offset,
            self.endian,
        );
    }

    pub fn set_rel_info(&self, data: &mut [u8], rel: &Reloc, sym: u32, r_type: u32) {
        let info = Rl::r_info(self.endian, sym, elf::RelocationType(r_type)).get(self.endian);
        put(
            data,
            rel.entry + offset_of!(Rl, r_info),
            8,
            info,
            self.endian,
        );
    }

    /// File offset of byte `at` of section `name`'s data.
    pub fn at(&self, name: &str, at: u64) -> usize {
        let s = self.section(name);
        assert!(at <= s.size, "{at} is beyond {name} ({} bytes)", s.size);
        (s.offset + at) as usize
    }

    /// The symbol index of the STT_SECTION symbol of section `name`.
    pub fn section_symbol(&self, name: &str) -> &Symbol {
        let index = self.section(name).index;
        self.symbols
            .iter()
            .find(|s| s.st_type == elf::STT_SECTION.0 && usize::from(s.shndx) == index)
            .unwrap_or_else(|| panic!("no section symbol for {name}"))
    }
}

/// Writes the low `width` bytes of `value` at `at` in `endian`'s order.
pub fn put(data: &mut [u8], at: usize, width: usize, value: u64, endian: Endianness) {
    match width {
        1 => data[at] = value as u8,
        2 => data[at..at + 2].copy_from_slice(&endian.write_u16(value as u16)),
        4 => data[at..at + 4].copy_from_slice(&endian.write_u32(value as u32)),
        8 => data[at..at + 8].copy_from_slice(&endian.write_u64(value)),
        _ => panic!("width {width}"),
    }
}

/// Reads a u64 at `at` in `endian`'s order.
pub fn get_u64(data: &[u8], at: usize, endian: Endianness) -> u64 {
    endian.read_u64(data[at..at + 8].try_into().unwrap())
}

/// Reads a u32 at `at` in `endian`'s order.
pub fn get_u32(data: &[u8], at: usize, endian: Endianness) -> u32 {
    endian.read_u32(data[at..at + 4].try_into().unwrap())
}

// ------------------------------------------------------------ BPF layouts

/// `struct bpf_insn`.
#[repr(C)]
pub struct BpfInsn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

/// iproute2's `struct bpf_elf_map` (`include/bpf_elf.h`).
#[repr(C)]
pub struct BpfElfMap {
    pub map_type: u32,
    pub size_key: u32,
    pub size_value: u32,
    pub max_elem: u32,
    pub flags: u32,
    pub id: u32,
    pub pinning: u32,
    pub inner_id: u32,
    pub inner_idx: u32,
}

/// `struct btf_header`.
#[repr(C)]
pub struct BtfHeader {
    pub magic: u16,
    pub version: u8,
    pub flags: u8,
    pub hdr_len: u32,
    pub type_off: u32,
    pub type_len: u32,
    pub str_off: u32,
    pub str_len: u32,
}

/// `struct btf_type`.
#[repr(C)]
pub struct BtfType {
    pub name_off: u32,
    pub info: u32,
    pub size_or_type: u32,
}

/// The records that follow a `btf_type`, by kind (`include/uapi/linux/btf.h`).
#[repr(C)]
struct BtfArray(u32, u32, u32);
#[repr(C)]
struct BtfMember(u32, u32, u32);
#[repr(C)]
struct BtfEnum(u32, u32);
#[repr(C)]
struct BtfParam(u32, u32);
#[repr(C)]
struct BtfVar(u32);
#[repr(C)]
struct BtfVarSecinfo(u32, u32, u32);
#[repr(C)]
struct BtfDeclTag(u32);
#[repr(C)]
struct BtfEnum64(u32, u32, u32);

pub const BTF_KIND_INT: u32 = 1;
pub const BTF_KIND_ARRAY: u32 = 3;
pub const BTF_KIND_STRUCT: u32 = 4;
pub const BTF_KIND_UNION: u32 = 5;
pub const BTF_KIND_ENUM: u32 = 6;
pub const BTF_KIND_FUNC_PROTO: u32 = 13;
pub const BTF_KIND_VAR: u32 = 14;
pub const BTF_KIND_DATASEC: u32 = 15;
pub const BTF_KIND_DECL_TAG: u32 = 17;
pub const BTF_KIND_ENUM64: u32 = 19;

/// One BTF type record.
#[derive(Debug, Clone)]
pub struct BtfRecord {
    pub id: u32,
    /// File offset of the `btf_type`.
    pub at: usize,
    pub kind: u32,
    pub vlen: u32,
    pub name_off: u32,
    pub size_or_type: u32,
    /// File offset of the record after it.
    pub end: usize,
}

/// Where the `.BTF` section's header fields and types are.
#[derive(Debug, Clone)]
pub struct BtfLayout {
    /// File offset of the `.BTF` data.
    pub start: usize,
    pub hdr_len: u32,
    pub type_off: u32,
    pub type_len: u32,
    pub str_off: u32,
    pub str_len: u32,
    pub types: Vec<BtfRecord>,
}

impl BtfLayout {
    pub fn parse(data: &[u8], layout: &Layout) -> BtfLayout {
        let e = layout.endian;
        let start = layout.section(".BTF").offset as usize;
        let h = |off: usize| get_u32(data, start + off, e);
        let hdr_len = h(offset_of!(BtfHeader, hdr_len));
        let type_off = h(offset_of!(BtfHeader, type_off));
        let type_len = h(offset_of!(BtfHeader, type_len));
        let str_off = h(offset_of!(BtfHeader, str_off));
        let str_len = h(offset_of!(BtfHeader, str_len));
        let mut at = start + (hdr_len + type_off) as usize;
        let end = at + type_len as usize;
        let mut types = Vec::new();
        while at < end {
            let name_off = get_u32(data, at + offset_of!(BtfType, name_off), e);
            let info = get_u32(data, at + offset_of!(BtfType, info), e);
            let size_or_type = get_u32(data, at + offset_of!(BtfType, size_or_type), e);
            let kind = (info >> 24) & 0x1f;
            let vlen = info & 0xffff;
            let n = vlen as usize;
            let tail = match kind {
                BTF_KIND_INT => size_of::<u32>(),
                BTF_KIND_ARRAY => size_of::<BtfArray>(),
                BTF_KIND_STRUCT | BTF_KIND_UNION => n * size_of::<BtfMember>(),
                BTF_KIND_ENUM => n * size_of::<BtfEnum>(),
                BTF_KIND_FUNC_PROTO => n * size_of::<BtfParam>(),
                BTF_KIND_VAR => size_of::<BtfVar>(),
                BTF_KIND_DATASEC => n * size_of::<BtfVarSecinfo>(),
                BTF_KIND_DECL_TAG => size_of::<BtfDeclTag>(),
                BTF_KIND_ENUM64 => n * size_of::<BtfEnum64>(),
                _ => 0,
            };
            let next = at + size_of::<BtfType>() + tail;
            types.push(BtfRecord {
                id: types.len() as u32 + 1,
                at,
                kind,
                vlen,
                name_off,
                size_or_type,
                end: next,
            });
            at = next;
        }
        assert_eq!(at, end, "BTF types end exactly at type_len");
        BtfLayout {
            start,
            hdr_len,
            type_off,
            type_len,
            str_off,
            str_len,
            types,
        }
    }

    /// File offset of a `btf_header` field (pass `offset_of!(BtfHeader, ...)`).
    pub fn header_field(&self, offset: usize) -> usize {
        self.start + offset
    }

    /// File offset of the `info` word of type `id`.
    pub fn info_at(&self, id: u32) -> usize {
        self.types[id as usize - 1].at + offset_of!(BtfType, info)
    }

    /// The name of a type, read from the string section.
    pub fn name<'d>(&self, data: &'d [u8], name_off: u32) -> &'d str {
        let s = self.start + (self.hdr_len + self.str_off + name_off) as usize;
        let end = data[s..].iter().position(|&b| b == 0).unwrap();
        std::str::from_utf8(&data[s..s + end]).unwrap()
    }
}

// ------------------------------------------------------------ allocations

/// The global allocator of the test binaries: `System`, recording the largest
/// single allocation (and the sum of all) made by the current thread.
pub struct Counting;

thread_local! {
    static STATS: Cell<(usize, usize, usize)> = const { Cell::new((0, 0, 0)) };
}

fn note(size: usize) {
    let _ = STATS.try_with(|s| {
        let (max, total, count) = s.get();
        s.set((max.max(size), total.saturating_add(size), count + 1));
    });
}

// SAFETY: forwards every call to `System` unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: AllocLayout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: AllocLayout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// What a closure allocated on this thread.
#[derive(Debug, Clone, Copy)]
pub struct AllocStats {
    /// The largest single allocation, in bytes.
    pub largest: usize,
    /// All allocations added up (frees not subtracted), in bytes.
    pub total: usize,
    /// How many allocations (and reallocations) there were.
    pub count: usize,
}

/// Runs `f`, returning what it allocated (needs `Counting` as the global allocator).
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, AllocStats) {
    STATS.with(|s| s.set((0, 0, 0)));
    let r = f();
    let (largest, total, count) = STATS.with(|s| s.get());
    (
        r,
        AllocStats {
            largest,
            total,
            count,
        },
    )
}

// ------------------------------------------------------------ rewriting objects

/// A copy of `data` with the section header table and the section-name table
/// moved to just after the ELF header, every other section's data shifted
/// after them: truncating this cuts section data while the headers and names
/// survive.
pub fn headers_first(data: &[u8]) -> Vec<u8> {
    let layout = Layout::parse(data);
    let e = layout.endian;
    let ehsize = size_of::<Fh>();
    let shentsize = size_of::<Sh>();
    let table_len = layout.sections.len() * shentsize;
    let table_start = layout.sections[0].header;
    let names = &layout.sections[layout.shstrndx];
    let names_range = names.offset as usize..(names.offset + names.size) as usize;
    let shift = (table_len + names_range.len()) as u64;
    let mut out = Vec::with_capacity(data.len() + shift as usize);
    out.extend_from_slice(&data[..ehsize]);
    out.extend_from_slice(&data[table_start..table_start + table_len]);
    out.extend_from_slice(&data[names_range]);
    out.extend_from_slice(&data[ehsize..]);
    put(&mut out, offset_of!(Fh, e_shoff), 8, ehsize as u64, e);
    for s in &layout.sections {
        if s.index == 0 || s.sh_type == elf::SHT_NOBITS.0 {
            continue;
        }
        let offset = if s.index == layout.shstrndx {
            (ehsize + table_len) as u64
        } else {
            s.offset + shift
        };
        let (field, _) = layout.sh_field(s.index, ShField::Offset);
        put(&mut out, field - table_start + ehsize, 8, offset, e);
    }
    out
}

/// A copy of `data` with `names.len()` more OBJECT symbols, all defined in
/// section `section` at `value` with `size`. The string and symbol tables are
/// rewritten at the end of the file (the old ones stay, unused). When `blob` is
/// given, `section`'s data is replaced by that many bytes appended to the file.
pub fn with_extra_symbols(
    data: &[u8],
    section: &str,
    names: &[String],
    value: u64,
    size: u64,
    blob: Option<usize>,
) -> Vec<u8> {
    let layout = Layout::parse(data);
    let e = layout.endian;
    let mut out = data.to_vec();
    let target = layout.section(section).index;
    if let Some(len) = blob {
        let at = out.len() as u64;
        out.extend((0..len).map(|i| (i % 251) as u8));
        layout.set_sh(&mut out, target, ShField::Offset, at);
        layout.set_sh(&mut out, target, ShField::Size, len as u64);
        layout.set_sh(
            &mut out,
            target,
            ShField::Type,
            u64::from(elf::SHT_PROGBITS.0),
        );
    }
    let symtab = layout.section(".symtab").clone();
    let strtab = layout.sections[symtab.link as usize].clone();

    let mut strings = data[strtab.offset as usize..(strtab.offset + strtab.size) as usize].to_vec();
    let mut name_offsets = Vec::with_capacity(names.len());
    for n in names {
        name_offsets.push(strings.len() as u64);
        strings.extend_from_slice(n.as_bytes());
        strings.push(0);
    }
    let strings_at = out.len() as u64;
    out.extend_from_slice(&strings);
    out.resize(out.len().next_multiple_of(8), 0);

    let entry = size_of::<St>();
    let symbols_at = out.len();
    out.extend_from_slice(&data[symtab.offset as usize..(symtab.offset + symtab.size) as usize]);
    let info = (elf::STB_GLOBAL.0 << 4) | elf::STT_OBJECT.0;
    for name_off in name_offsets {
        let at = out.len();
        out.resize(at + entry, 0);
        put(&mut out, at + offset_of!(St, st_name), 4, name_off, e);
        out[at + offset_of!(St, st_info)] = info;
        put(&mut out, at + offset_of!(St, st_shndx), 2, target as u64, e);
        put(&mut out, at + offset_of!(St, st_value), 8, value, e);
        put(&mut out, at + offset_of!(St, st_size), 8, size, e);
    }
    let symbols_len = (out.len() - symbols_at) as u64;
    layout.set_sh(&mut out, strtab.index, ShField::Offset, strings_at);
    layout.set_sh(&mut out, strtab.index, ShField::Size, strings.len() as u64);
    layout.set_sh(&mut out, symtab.index, ShField::Offset, symbols_at as u64);
    layout.set_sh(&mut out, symtab.index, ShField::Size, symbols_len);
    out
}
