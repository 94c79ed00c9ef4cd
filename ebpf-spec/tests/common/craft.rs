//! Crafting small eBPF objects with the `object` crate's ELF writer (and tiny
//! BTF blobs), for inputs clang does not emit: labels and aliases in `maps`,
//! thousands of `.bss`-like sections, zero-size data symbols.

use object::elf;
use object::write::{
    Object, Relocation as WRelocation, SectionId, Symbol as WSymbol, SymbolId, SymbolSection,
};
use object::{
    Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags, SymbolKind,
    SymbolScope,
};

/// `R_BPF_64_64`: the relocation of an `ld_imm64` (map or data address).
pub const R_BPF_64_64: u32 = 1;

/// How a symbol is bound and what it is (`st_info`).
#[derive(Debug, Clone, Copy)]
pub struct Info {
    pub bind: u8,
    pub kind: u8,
}

pub const GLOBAL_OBJECT: Info = Info {
    bind: elf::STB_GLOBAL.0,
    kind: elf::STT_OBJECT.0,
};
pub const LOCAL_OBJECT: Info = Info {
    bind: elf::STB_LOCAL.0,
    kind: elf::STT_OBJECT.0,
};
pub const GLOBAL_NOTYPE: Info = Info {
    bind: elf::STB_GLOBAL.0,
    kind: elf::STT_NOTYPE.0,
};
pub const LOCAL_NOTYPE: Info = Info {
    bind: elf::STB_LOCAL.0,
    kind: elf::STT_NOTYPE.0,
};
pub const WEAK_OBJECT: Info = Info {
    bind: elf::STB_WEAK.0,
    kind: elf::STT_OBJECT.0,
};
pub const GLOBAL_FUNC: Info = Info {
    bind: elf::STB_GLOBAL.0,
    kind: elf::STT_FUNC.0,
};

/// An object under construction.
pub struct Craft {
    obj: Object<'static>,
    pub endian: Endianness,
}

impl Craft {
    pub fn new(endian: Endianness) -> Craft {
        Craft {
            obj: Object::new(BinaryFormat::Elf, Architecture::Bpf, endian),
            endian,
        }
    }

    /// A PROGBITS section: `Text` (AX), `Data` (WA), `ReadOnlyData` (A) or
    /// `Other` (no flags).
    pub fn section(&mut self, name: &str, kind: SectionKind, data: &[u8]) -> SectionId {
        let id = self
            .obj
            .add_section(Vec::new(), name.as_bytes().to_vec(), kind);
        self.obj.append_section_data(id, data, 8);
        id
    }

    /// A NOBITS (`.bss`-like) section of `size` bytes.
    pub fn nobits(&mut self, name: &str, size: u64) -> SectionId {
        let id = self.obj.add_section(
            Vec::new(),
            name.as_bytes().to_vec(),
            SectionKind::UninitializedData,
        );
        self.obj.append_section_bss(id, size, 8);
        id
    }

    /// A symbol in `section` with exactly this binding and type.
    pub fn symbol(
        &mut self,
        name: &str,
        section: SectionId,
        value: u64,
        size: u64,
        info: Info,
    ) -> SymbolId {
        self.obj.add_symbol(WSymbol {
            name: name.as_bytes().to_vec(),
            value,
            size,
            kind: match info.kind {
                k if k == elf::STT_FUNC.0 => SymbolKind::Text,
                k if k == elf::STT_OBJECT.0 => SymbolKind::Data,
                _ => SymbolKind::Label,
            },
            scope: if info.bind == elf::STB_LOCAL.0 {
                SymbolScope::Compilation
            } else {
                SymbolScope::Linkage
            },
            weak: info.bind == elf::STB_WEAK.0,
            section: SymbolSection::Section(section),
            flags: SymbolFlags::Elf {
                st_info: elf::SymbolInfo((info.bind << 4) | info.kind),
                st_other: elf::SymbolOther(0),
            },
        })
    }

    /// An undefined global symbol (an extern: a `__ksym` or `__kconfig`).
    pub fn undefined(&mut self, name: &str) -> SymbolId {
        self.obj.add_symbol(WSymbol {
            name: name.as_bytes().to_vec(),
            value: 0,
            size: 0,
            kind: SymbolKind::Unknown,
            scope: SymbolScope::Linkage,
            weak: false,
            section: SymbolSection::Undefined,
            flags: SymbolFlags::Elf {
                st_info: elf::SymbolInfo((elf::STB_GLOBAL.0 << 4) | elf::STT_NOTYPE.0),
                st_other: elf::SymbolOther(0),
            },
        })
    }

    /// An `ld_imm64` relocation at byte `offset` of `section` against `symbol`.
    pub fn reloc(&mut self, section: SectionId, offset: u64, symbol: SymbolId) {
        self.obj
            .add_relocation(
                section,
                WRelocation {
                    offset,
                    symbol,
                    addend: 0,
                    flags: RelocationFlags::Elf {
                        r_type: elf::RelocationType(R_BPF_64_64),
                    },
                },
            )
            .unwrap();
    }

    /// A `license` section holding "GPL".
    pub fn license(&mut self) {
        self.section("license", SectionKind::Data, b"GPL\0");
    }

    /// A `socket` program named `name`: `insns` (8 bytes each, in this
    /// object's byte order) then `exit`.
    pub fn program(&mut self, name: &str, insns: &[[u8; 8]]) -> SectionId {
        let mut code: Vec<u8> = insns.concat();
        code.extend_from_slice(&insn(self.endian, 0x95, 0, 0, 0, 0));
        let sec = self.section("socket", SectionKind::Text, &code);
        self.symbol(name, sec, 0, code.len() as u64, GLOBAL_FUNC);
        sec
    }

    pub fn write(self) -> Vec<u8> {
        self.obj.write().unwrap()
    }
}

/// One instruction in `endian`'s layout (the register nibbles follow the
/// bitfield order of the byte order, as clang writes them).
pub fn insn(endian: Endianness, code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[0] = code;
    match endian {
        Endianness::Little => {
            out[1] = dst | (src << 4);
            out[2..4].copy_from_slice(&off.to_le_bytes());
            out[4..8].copy_from_slice(&imm.to_le_bytes());
        }
        Endianness::Big => {
            out[1] = (dst << 4) | src;
            out[2..4].copy_from_slice(&off.to_be_bytes());
            out[4..8].copy_from_slice(&imm.to_be_bytes());
        }
    }
    out
}

/// The two slots of `r1 = <map> ll` (`ld_imm64` with `src_reg` 0, as clang
/// writes it: the loader sets `BPF_PSEUDO_MAP_FD`).
pub fn ld_map(endian: Endianness) -> [[u8; 8]; 2] {
    [insn(endian, 0x18, 1, 0, 0, 0), insn(endian, 0, 0, 0, 0, 0)]
}

/// A legacy `struct bpf_map_def` (20 bytes) followed by `extra` u32 words.
pub fn legacy_def(endian: Endianness, words: &[u32]) -> Vec<u8> {
    words
        .iter()
        .flat_map(|w| match endian {
            Endianness::Little => w.to_le_bytes(),
            Endianness::Big => w.to_be_bytes(),
        })
        .collect()
}

// ------------------------------------------------------------ BTF

/// A tiny BTF blob, one type record after another (ids from 1).
pub struct BtfBuilder {
    endian: Endianness,
    types: Vec<u8>,
    strings: Vec<u8>,
    next_id: u32,
}

impl BtfBuilder {
    pub fn new(endian: Endianness) -> BtfBuilder {
        BtfBuilder {
            endian,
            types: Vec::new(),
            strings: vec![0],
            next_id: 1,
        }
    }

    fn word(&mut self, w: u32) {
        let b = match self.endian {
            Endianness::Little => w.to_le_bytes(),
            Endianness::Big => w.to_be_bytes(),
        };
        self.types.extend_from_slice(&b);
    }

    fn string(&mut self, s: &str) -> u32 {
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    /// `struct btf_type`: name, info (kind, vlen), size or type. Returns the id.
    fn header(&mut self, name: &str, kind: u32, vlen: u32, size_or_type: u32) -> u32 {
        let name_off = if name.is_empty() {
            0
        } else {
            self.string(name)
        };
        self.word(name_off);
        self.word((kind << 24) | vlen);
        self.word(size_or_type);
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// `BTF_KIND_INT`, signed, `size` bytes.
    pub fn int(&mut self, name: &str, size: u32) -> u32 {
        let id = self.header(name, 1, 0, size);
        self.word((1 << 24) | (size * 8)); // BTF_INT_SIGNED, bits
        id
    }

    /// `BTF_KIND_ARRAY` of `n` elements of `elem`, indexed by `index`.
    pub fn array(&mut self, elem: u32, index: u32, n: u32) -> u32 {
        let id = self.header("", 3, 0, 0);
        self.word(elem);
        self.word(index);
        self.word(n);
        id
    }

    /// `BTF_KIND_VAR` with `linkage` (0 static, 1 global, 2 extern).
    pub fn var(&mut self, name: &str, ty: u32, linkage: u32) -> u32 {
        let id = self.header(name, 14, 0, ty);
        self.word(linkage);
        id
    }

    /// `BTF_KIND_DATASEC` with (var id, offset, size) entries.
    pub fn datasec(&mut self, name: &str, size: u32, entries: &[(u32, u32, u32)]) -> u32 {
        let id = self.header(name, 15, entries.len() as u32, size);
        for &(var, offset, size) in entries {
            self.word(var);
            self.word(offset);
            self.word(size);
        }
        id
    }

    /// The blob: `struct btf_header` (24 bytes), types, strings.
    pub fn build(self) -> Vec<u8> {
        let mut out = Vec::new();
        let w = |out: &mut Vec<u8>, v: u32| match self.endian {
            Endianness::Little => out.extend_from_slice(&v.to_le_bytes()),
            Endianness::Big => out.extend_from_slice(&v.to_be_bytes()),
        };
        match self.endian {
            Endianness::Little => out.extend_from_slice(&0xeb9fu16.to_le_bytes()),
            Endianness::Big => out.extend_from_slice(&0xeb9fu16.to_be_bytes()),
        }
        out.push(1); // version
        out.push(0); // flags
        w(&mut out, 24); // hdr_len
        w(&mut out, 0); // type_off
        w(&mut out, self.types.len() as u32);
        w(&mut out, self.types.len() as u32); // str_off
        w(&mut out, self.strings.len() as u32);
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}
