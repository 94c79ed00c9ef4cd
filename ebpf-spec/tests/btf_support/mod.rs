//! Test-only builders of BTF and `.BTF.ext` blobs, and helpers to read the
//! CO-RE fixture with the `object` crate.
#![allow(dead_code)]

use ebpf_spec::{ByteOrder, Instruction};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

pub const CORE_EL: &[u8] = include_bytes!("../fixtures/core/core.bpfel.o");
pub const CORE_EB: &[u8] = include_bytes!("../fixtures/core/core.bpfeb.o");

/// Kind numbers (`BTF_KIND_*`).
pub mod kind {
    pub const INT: u32 = 1;
    pub const PTR: u32 = 2;
    pub const ARRAY: u32 = 3;
    pub const STRUCT: u32 = 4;
    pub const UNION: u32 = 5;
    pub const ENUM: u32 = 6;
    pub const FWD: u32 = 7;
    pub const TYPEDEF: u32 = 8;
    pub const VOLATILE: u32 = 9;
    pub const CONST: u32 = 10;
    pub const RESTRICT: u32 = 11;
    pub const FUNC: u32 = 12;
    pub const FUNC_PROTO: u32 = 13;
    pub const VAR: u32 = 14;
    pub const DATASEC: u32 = 15;
    pub const FLOAT: u32 = 16;
    pub const DECL_TAG: u32 = 17;
    pub const TYPE_TAG: u32 = 18;
    pub const ENUM64: u32 = 19;
}

/// A member for [`BtfBuilder::structure`]: name, type, bit offset, bitfield size.
pub type M<'a> = (&'a str, u32, u32, u32);

/// Builds a BTF blob type by type; ids are returned in order from 1.
#[derive(Clone)]
pub struct BtfBuilder {
    strings: Vec<u8>,
    words: Vec<u32>,
    count: u32,
}

impl Default for BtfBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl BtfBuilder {
    pub fn new() -> Self {
        BtfBuilder {
            strings: vec![0],
            words: Vec::new(),
            count: 0,
        }
    }

    /// The offset of `s` in the string section (added once).
    pub fn str(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let needle: Vec<u8> = s.bytes().chain([0]).collect();
        if let Some(pos) = self
            .strings
            .windows(needle.len())
            .enumerate()
            .find(|&(i, w)| w == needle.as_slice() && self.strings[i - 1] == 0)
            .map(|(i, _)| i)
        {
            return pos as u32;
        }
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(&needle);
        off
    }

    /// Appends a raw record (header words then `extra`); returns its id.
    pub fn raw(&mut self, name_off: u32, info: u32, size_or_type: u32, extra: &[u32]) -> u32 {
        self.words
            .extend_from_slice(&[name_off, info, size_or_type]);
        self.words.extend_from_slice(extra);
        self.count += 1;
        self.count
    }

    fn push(
        &mut self,
        name: &str,
        kind: u32,
        kflag: bool,
        vlen: u32,
        st: u32,
        extra: &[u32],
    ) -> u32 {
        let off = self.str(name);
        self.raw(off, info(kind, kflag, vlen), st, extra)
    }

    pub fn int(&mut self, name: &str, size: u32, signed: bool) -> u32 {
        self.int_enc(name, size, u32::from(signed), 0, size * 8)
    }

    pub fn int_enc(&mut self, name: &str, size: u32, encoding: u32, offset: u32, bits: u32) -> u32 {
        self.push(
            name,
            kind::INT,
            false,
            0,
            size,
            &[encoding << 24 | offset << 16 | bits],
        )
    }

    pub fn ptr(&mut self, target: u32) -> u32 {
        self.push("", kind::PTR, false, 0, target, &[])
    }

    pub fn typedef(&mut self, name: &str, target: u32) -> u32 {
        self.push(name, kind::TYPEDEF, false, 0, target, &[])
    }

    pub fn konst(&mut self, target: u32) -> u32 {
        self.push("", kind::CONST, false, 0, target, &[])
    }

    pub fn volatile(&mut self, target: u32) -> u32 {
        self.push("", kind::VOLATILE, false, 0, target, &[])
    }

    pub fn restrict(&mut self, target: u32) -> u32 {
        self.push("", kind::RESTRICT, false, 0, target, &[])
    }

    pub fn type_tag(&mut self, name: &str, target: u32) -> u32 {
        self.push(name, kind::TYPE_TAG, false, 0, target, &[])
    }

    pub fn array(&mut self, elem: u32, index: u32, nelems: u32) -> u32 {
        self.push("", kind::ARRAY, false, 0, 0, &[elem, index, nelems])
    }

    fn composite(&mut self, k: u32, name: &str, size: u32, members: &[M<'_>]) -> u32 {
        let kflag = members.iter().any(|m| m.3 != 0);
        let mut extra = Vec::new();
        for &(n, ty, bit_off, bits) in members {
            let off = self.str(n);
            let offset = if kflag { bits << 24 | bit_off } else { bit_off };
            extra.extend_from_slice(&[off, ty, offset]);
        }
        self.push(name, k, kflag, members.len() as u32, size, &extra)
    }

    /// A struct; members are (name, type, bit offset, bitfield size). Any
    /// bitfield size sets the kind flag.
    pub fn structure(&mut self, name: &str, size: u32, members: &[M<'_>]) -> u32 {
        self.composite(kind::STRUCT, name, size, members)
    }

    pub fn union(&mut self, name: &str, size: u32, members: &[M<'_>]) -> u32 {
        self.composite(kind::UNION, name, size, members)
    }

    pub fn enumeration(
        &mut self,
        name: &str,
        size: u32,
        signed: bool,
        values: &[(&str, i64)],
    ) -> u32 {
        let mut extra = Vec::new();
        for &(n, v) in values {
            let off = self.str(n);
            extra.extend_from_slice(&[off, v as u32]);
        }
        self.push(name, kind::ENUM, signed, values.len() as u32, size, &extra)
    }

    pub fn enum64(&mut self, name: &str, size: u32, signed: bool, values: &[(&str, u64)]) -> u32 {
        let mut extra = Vec::new();
        for &(n, v) in values {
            let off = self.str(n);
            extra.extend_from_slice(&[off, v as u32, (v >> 32) as u32]);
        }
        self.push(
            name,
            kind::ENUM64,
            signed,
            values.len() as u32,
            size,
            &extra,
        )
    }

    pub fn fwd(&mut self, name: &str, union: bool) -> u32 {
        self.push(name, kind::FWD, union, 0, 0, &[])
    }

    pub fn func(&mut self, name: &str, proto: u32, linkage: u32) -> u32 {
        self.push(name, kind::FUNC, false, linkage, proto, &[])
    }

    pub fn func_proto(&mut self, ret: u32, params: &[(&str, u32)]) -> u32 {
        let mut extra = Vec::new();
        for &(n, ty) in params {
            let off = self.str(n);
            extra.extend_from_slice(&[off, ty]);
        }
        self.push(
            "",
            kind::FUNC_PROTO,
            false,
            params.len() as u32,
            ret,
            &extra,
        )
    }

    pub fn var(&mut self, name: &str, ty: u32, linkage: u32) -> u32 {
        self.push(name, kind::VAR, false, 0, ty, &[linkage])
    }

    pub fn datasec(&mut self, name: &str, size: u32, vars: &[(u32, u32, u32)]) -> u32 {
        let extra: Vec<u32> = vars.iter().flat_map(|&(t, o, s)| [t, o, s]).collect();
        self.push(name, kind::DATASEC, false, vars.len() as u32, size, &extra)
    }

    pub fn float(&mut self, name: &str, size: u32) -> u32 {
        self.push(name, kind::FLOAT, false, 0, size, &[])
    }

    pub fn decl_tag(&mut self, name: &str, target: u32, component_idx: i32) -> u32 {
        self.push(
            name,
            kind::DECL_TAG,
            false,
            0,
            target,
            &[component_idx as u32],
        )
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// The blob: header (24 bytes), types, strings.
    pub fn build(&self, order: ByteOrder) -> Vec<u8> {
        let type_len = 4 * self.words.len() as u32;
        let mut out = Vec::new();
        let put16 = |out: &mut Vec<u8>, v: u16| match order {
            ByteOrder::Little => out.extend_from_slice(&v.to_le_bytes()),
            ByteOrder::Big => out.extend_from_slice(&v.to_be_bytes()),
        };
        put16(&mut out, 0xeb9f);
        out.extend_from_slice(&[1, 0]);
        for w in [24, 0, type_len, type_len, self.strings.len() as u32] {
            out.extend_from_slice(&order.u32_bytes(w));
        }
        for &w in &self.words {
            out.extend_from_slice(&order.u32_bytes(w));
        }
        out.extend_from_slice(&self.strings);
        out
    }
}

pub fn info(kind: u32, kflag: bool, vlen: u32) -> u32 {
    u32::from(kflag) << 31 | kind << 24 | (vlen & 0xffff)
}

/// Builds a `.BTF.ext` blob.
pub struct ExtBuilder {
    pub func: Vec<(u32, Vec<Vec<u32>>)>,
    pub line: Vec<(u32, Vec<Vec<u32>>)>,
    pub core: Vec<(u32, Vec<Vec<u32>>)>,
    /// Record sizes (bytes) for func_info, line_info, core_relo.
    pub rec_sizes: [u32; 3],
    /// Write the core_relo part of the header (32-byte header).
    pub with_core: bool,
}

impl Default for ExtBuilder {
    fn default() -> Self {
        ExtBuilder {
            func: Vec::new(),
            line: Vec::new(),
            core: Vec::new(),
            rec_sizes: [8, 16, 16],
            with_core: true,
        }
    }
}

impl ExtBuilder {
    fn info(order: ByteOrder, rec_size: u32, secs: &[(u32, Vec<Vec<u32>>)]) -> Vec<u8> {
        if secs.is_empty() {
            return Vec::new();
        }
        let mut out = order.u32_bytes(rec_size).to_vec();
        for (name, recs) in secs {
            out.extend_from_slice(&order.u32_bytes(*name));
            out.extend_from_slice(&order.u32_bytes(recs.len() as u32));
            for r in recs {
                let mut bytes: Vec<u8> = r.iter().flat_map(|&w| order.u32_bytes(w)).collect();
                bytes.resize(rec_size as usize, 0xaa);
                out.extend_from_slice(&bytes);
            }
        }
        out
    }

    pub fn build(&self, order: ByteOrder) -> Vec<u8> {
        let func = Self::info(order, self.rec_sizes[0], &self.func);
        let line = Self::info(order, self.rec_sizes[1], &self.line);
        let core = Self::info(order, self.rec_sizes[2], &self.core);
        let hdr_len: u32 = if self.with_core { 32 } else { 24 };
        let mut out = Vec::new();
        match order {
            ByteOrder::Little => out.extend_from_slice(&0xeb9fu16.to_le_bytes()),
            ByteOrder::Big => out.extend_from_slice(&0xeb9fu16.to_be_bytes()),
        }
        out.extend_from_slice(&[1, 0]);
        let mut fields = vec![
            hdr_len,
            0,
            func.len() as u32,
            func.len() as u32,
            line.len() as u32,
        ];
        if self.with_core {
            fields.extend([(func.len() + line.len()) as u32, core.len() as u32]);
        }
        for w in fields {
            out.extend_from_slice(&order.u32_bytes(w));
        }
        out.extend_from_slice(&func);
        out.extend_from_slice(&line);
        if self.with_core {
            out.extend_from_slice(&core);
        }
        out
    }
}

/// A section's bytes.
pub fn section<'a>(object: &'a [u8], name: &str) -> &'a [u8] {
    let file = object::File::parse(object).expect("fixture parses");
    let section = file
        .section_by_name(name)
        .unwrap_or_else(|| panic!("no section {name}"));
    section.data().expect("section data")
}

/// The byte order of an object.
pub fn order_of(object: &[u8]) -> ByteOrder {
    let file = object::File::parse(object).expect("fixture parses");
    if file.is_little_endian() {
        ByteOrder::Little
    } else {
        ByteOrder::Big
    }
}

/// A function of the object: its section, instruction range in the section,
/// and instructions in the host's order.
#[derive(Debug, Clone)]
pub struct Function {
    pub name: String,
    pub section: String,
    pub start: usize,
    pub insns: Vec<Instruction>,
}

/// Every function symbol of the object with its instructions (converted to
/// the host's layout, register nibbles included).
pub fn functions(object: &[u8]) -> Vec<Function> {
    let file = object::File::parse(object).expect("fixture parses");
    let big = !file.is_little_endian();
    let mut out = Vec::new();
    for sym in file.symbols() {
        if sym.kind() != SymbolKind::Text || sym.size() == 0 {
            continue;
        }
        let Some(index) = sym.section_index() else {
            continue;
        };
        let section = file.section_by_index(index).unwrap();
        let data = section.data().unwrap();
        let start = sym.address() as usize;
        let bytes = &data[start..start + sym.size() as usize];
        let insns = bytes
            .chunks_exact(8)
            .map(|c| {
                let (off, imm) = if big {
                    (
                        i16::from_be_bytes([c[2], c[3]]),
                        i32::from_be_bytes([c[4], c[5], c[6], c[7]]),
                    )
                } else {
                    (
                        i16::from_le_bytes([c[2], c[3]]),
                        i32::from_le_bytes([c[4], c[5], c[6], c[7]]),
                    )
                };
                // bpfel: dst in the low nibble; bpfeb: dst in the high nibble.
                let (dst, src) = if big {
                    (c[1] >> 4, c[1] & 0xf)
                } else {
                    (c[1] & 0xf, c[1] >> 4)
                };
                Instruction::new(c[0], dst, src, off, imm)
            })
            .collect();
        out.push(Function {
            name: sym.name().unwrap().to_owned(),
            section: section.name().unwrap().to_owned(),
            start: start / 8,
            insns,
        });
    }
    out.sort_by(|a, b| (&a.section, a.start).cmp(&(&b.section, b.start)));
    out
}

/// /sys/kernel/btf/vmlinux, or `None` with a printed reason (a failure when
/// `CI` is set).
pub fn vmlinux() -> Option<Vec<u8>> {
    match std::fs::read("/sys/kernel/btf/vmlinux") {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but /sys/kernel/btf/vmlinux cannot be read: {e}"
            );
            eprintln!("skipped: /sys/kernel/btf/vmlinux cannot be read ({e})");
            None
        }
    }
}
