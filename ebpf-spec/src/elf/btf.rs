//! A small, bounds-checked reader for the parts of BTF the ELF reader needs:
//! BTF-defined map definitions and data-section variables.
//!
//! Every record is read through zerocopy structs with the object's byte order;
//! every count is checked against the bytes that are actually there before
//! anything is allocated, and type chains are followed a bounded number of
//! steps, so hostile input yields an error, never a panic or a huge allocation.

use super::ParseError;
use crate::spec::ByteOrder;
use std::collections::HashMap;
use zerocopy::byteorder::{BigEndian, LittleEndian, U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

const MAGIC: u16 = 0xeb9f;
/// How many typedef/const/volatile/... links a lookup follows before giving up.
const MAX_CHAIN: usize = 32;

#[derive(FromBytes, KnownLayout, Immutable)]
#[repr(C)]
struct Header<O: zerocopy::ByteOrder> {
    magic: U16<O>,
    version: u8,
    flags: u8,
    hdr_len: U32<O>,
    type_off: U32<O>,
    type_len: U32<O>,
    str_off: U32<O>,
    str_len: U32<O>,
}

/// `struct btf_type`: the header of every type record.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawType<O: zerocopy::ByteOrder> {
    name_off: U32<O>,
    info: U32<O>,
    size_or_type: U32<O>,
}

/// A `BTF_KIND_VAR` record: `struct btf_type` then `struct btf_var`.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct VarRecord<O: zerocopy::ByteOrder> {
    header: RawType<O>,
    /// `struct btf_var`'s `linkage` (0 static, 1 global, 2 extern).
    linkage: U32<O>,
}

/// `struct btf_var_secinfo`: one entry of a `BTF_KIND_DATASEC`.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct VarSecinfo<O: zerocopy::ByteOrder> {
    ty: U32<O>,
    offset: U32<O>,
    size: U32<O>,
}

/// `btf_var`'s linkage values.
const VAR_GLOBAL_ALLOCATED: u32 = 1;
const VAR_GLOBAL_EXTERN: u32 = 2;

#[derive(FromBytes, KnownLayout, Immutable)]
#[repr(C)]
struct Triple<O: zerocopy::ByteOrder> {
    a: U32<O>,
    b: U32<O>,
    c: U32<O>,
}

#[derive(FromBytes, KnownLayout, Immutable)]
#[repr(C)]
struct Pair<O: zerocopy::ByteOrder> {
    a: U32<O>,
    b: U32<O>,
}

/// BTF kinds (`BTF_KIND_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Int,
    Ptr,
    Array,
    Struct,
    Union,
    Enum,
    Fwd,
    Typedef,
    Volatile,
    Const,
    Restrict,
    Func,
    FuncProto,
    Var,
    Datasec,
    Float,
    DeclTag,
    TypeTag,
    Enum64,
}

impl Kind {
    fn from_raw(k: u32) -> Option<Kind> {
        Some(match k {
            1 => Kind::Int,
            2 => Kind::Ptr,
            3 => Kind::Array,
            4 => Kind::Struct,
            5 => Kind::Union,
            6 => Kind::Enum,
            7 => Kind::Fwd,
            8 => Kind::Typedef,
            9 => Kind::Volatile,
            10 => Kind::Const,
            11 => Kind::Restrict,
            12 => Kind::Func,
            13 => Kind::FuncProto,
            14 => Kind::Var,
            15 => Kind::Datasec,
            16 => Kind::Float,
            17 => Kind::DeclTag,
            18 => Kind::TypeTag,
            19 => Kind::Enum64,
            _ => return None,
        })
    }
}

/// A member of a struct/union, a parameter, or a DATASEC entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Member {
    /// Name offset (struct members, params) or, for DATASEC, the var's type id.
    pub name_off: u32,
    /// The member's type id (DATASEC: the variable's offset).
    pub ty: u32,
    /// Bit offset (struct members) or, for DATASEC, the variable's size.
    pub offset: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Type {
    /// Byte offset of the record in the blob.
    pub at: usize,
    pub kind: Kind,
    pub name_off: u32,
    pub kind_flag: bool,
    /// `size` for INT/STRUCT/UNION/ENUM/DATASEC/FLOAT, else `type`.
    pub size_or_type: u32,
    /// ARRAY: (elem type, index type, nelems).
    pub array: Option<(u32, u32, u32)>,
    /// STRUCT/UNION members, FUNC_PROTO params, DATASEC entries.
    pub members: Vec<Member>,
}

/// Parsed BTF: its types (id 1 is `types[0]`) and string section.
#[derive(Debug)]
pub(crate) struct Btf<'a> {
    types: Vec<Type>,
    strings: &'a [u8],
}

impl<'a> Btf<'a> {
    pub fn parse(data: &'a [u8], order: ByteOrder) -> Result<Self, ParseError> {
        match order {
            ByteOrder::Little => parse::<LittleEndian>(data),
            ByteOrder::Big => parse::<BigEndian>(data),
        }
    }

    pub fn ty(&self, id: u32) -> Result<&Type, ParseError> {
        id.checked_sub(1)
            .and_then(|i| self.types.get(i as usize))
            .ok_or_else(|| btf_err(format!("type id {id} does not exist")))
    }

    pub fn name(&self, off: u32) -> Result<&'a str, ParseError> {
        let rest = self
            .strings
            .get(off as usize..)
            .ok_or_else(|| btf_err(format!("string offset {off} is outside the string section")))?;
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| btf_err(format!("string at offset {off} is not NUL-terminated")))?;
        std::str::from_utf8(&rest[..end])
            .map_err(|_| btf_err(format!("string at offset {off} is not UTF-8")))
    }

    #[cfg(test)]
    pub fn type_name(&self, id: u32) -> Result<&'a str, ParseError> {
        self.name(self.ty(id)?.name_off)
    }

    /// Follows typedef, const, volatile, restrict and type tags to the type
    /// that has a shape.
    pub fn skip_mods(&self, mut id: u32) -> Result<u32, ParseError> {
        for _ in 0..MAX_CHAIN {
            let t = self.ty(id)?;
            match t.kind {
                Kind::Typedef | Kind::Volatile | Kind::Const | Kind::Restrict | Kind::TypeTag => {
                    id = t.size_or_type
                }
                _ => return Ok(id),
            }
        }
        Err(btf_err(format!(
            "type {id}: chain of modifiers longer than {MAX_CHAIN}"
        )))
    }

    /// The size in bytes of a type (as the kernel computes it).
    pub fn size_of(&self, id: u32) -> Result<u32, ParseError> {
        let mut id = id;
        let mut factor: u64 = 1;
        for _ in 0..MAX_CHAIN {
            id = self.skip_mods(id)?;
            let t = self.ty(id)?;
            let size = match t.kind {
                Kind::Int
                | Kind::Struct
                | Kind::Union
                | Kind::Enum
                | Kind::Enum64
                | Kind::Float
                | Kind::Datasec => u64::from(t.size_or_type),
                Kind::Ptr => 8,
                Kind::Array => {
                    let (elem, _, n) = t.array.unwrap_or((0, 0, 0));
                    factor = factor.saturating_mul(u64::from(n));
                    id = elem;
                    continue;
                }
                Kind::Var => {
                    id = t.size_or_type;
                    continue;
                }
                other => {
                    return Err(btf_err(format!("type {id} ({other:?}) has no size")));
                }
            };
            return u32::try_from(size.saturating_mul(factor))
                .map_err(|_| btf_err(format!("type {id} is larger than 4 GiB")));
        }
        Err(btf_err(format!(
            "type {id}: nested arrays deeper than {MAX_CHAIN}"
        )))
    }

    /// The DATASEC type with this name and its id, if any.
    pub fn datasec(&self, name: &str) -> Option<(u32, &Type)> {
        self.types
            .iter()
            .zip(1..)
            .find(|(t, _)| t.kind == Kind::Datasec && self.name(t.name_off).ok() == Some(name))
            .map(|(t, id)| (id, t))
    }

    /// Fills in what clang leaves to the loader, as libbpf does before
    /// `BPF_BTF_LOAD`: each DATASEC's size (`section_size` of its name) and
    /// its variables' offsets (`var_offset` of section and variable), and
    /// turns extern variables (`.kconfig`) into allocated globals. Writes into
    /// `blob`, the bytes this `Btf` was parsed from, through the same
    /// zerocopy records (`btf_type`, `btf_var_secinfo`, `btf_var`) in the
    /// blob's byte order.
    pub fn fixup_datasecs(
        &self,
        blob: &mut [u8],
        order: ByteOrder,
        section_size: impl Fn(&str) -> Option<u32>,
        var_offset: impl Fn(&str, &str) -> Option<u32>,
    ) -> Result<(), ParseError> {
        match order {
            ByteOrder::Little => self.fixup::<LittleEndian>(blob, section_size, var_offset),
            ByteOrder::Big => self.fixup::<BigEndian>(blob, section_size, var_offset),
        }
    }

    fn fixup<O: zerocopy::ByteOrder>(
        &self,
        blob: &mut [u8],
        section_size: impl Fn(&str) -> Option<u32>,
        var_offset: impl Fn(&str, &str) -> Option<u32>,
    ) -> Result<(), ParseError> {
        // The record of a type, from its start in `blob` (as `parse` found it).
        fn record<'b>(blob: &'b mut [u8], t: &Type) -> Result<&'b mut [u8], ParseError> {
            blob.get_mut(t.at..)
                .ok_or_else(|| btf_err(format!("type record at {} is outside the blob", t.at)))
        }
        let truncated = |t: &Type| btf_err(format!("{:?} record at {} is truncated", t.kind, t.at));
        for t in self.types.iter().filter(|t| t.kind == Kind::Datasec) {
            let sec = self.name(t.name_off)?;
            // Which entries get which offset: decided on the parsed types,
            // then written in one pass over the record.
            let mut offsets = Vec::with_capacity(t.members.len());
            for m in &t.members {
                // DATASEC entries: (var type id, offset, size).
                let var = self.ty(m.name_off)?;
                if var.kind != Kind::Var {
                    offsets.push(None);
                    continue;
                }
                offsets.push(var_offset(sec, self.name(var.name_off)?));
                let (rec, _) = VarRecord::<O>::mut_from_prefix(record(blob, var)?)
                    .map_err(|_| truncated(var))?;
                // The kernel accepts only static and allocated variables.
                if rec.linkage.get() == VAR_GLOBAL_EXTERN {
                    rec.linkage.set(VAR_GLOBAL_ALLOCATED);
                }
            }
            let (header, rest) =
                RawType::<O>::mut_from_prefix(record(blob, t)?).map_err(|_| truncated(t))?;
            if let Some(size) = section_size(sec) {
                header.size_or_type.set(size);
            }
            let (entries, _) = <[VarSecinfo<O>]>::mut_from_prefix_with_elems(rest, t.members.len())
                .map_err(|_| truncated(t))?;
            for (entry, offset) in entries.iter_mut().zip(offsets) {
                if let Some(offset) = offset {
                    entry.offset.set(offset);
                }
            }
        }
        Ok(())
    }

    /// The id of every VAR, by name (the first of a name wins).
    pub fn vars(&self) -> HashMap<&'a str, u32> {
        let mut out = HashMap::new();
        for (t, id) in self.types.iter().zip(1..) {
            if t.kind == Kind::Var
                && let Ok(name) = self.name(t.name_off)
            {
                out.entry(name).or_insert(id);
            }
        }
        out
    }
}

fn btf_err(what: String) -> ParseError {
    ParseError::Btf { what }
}

fn parse<O: zerocopy::ByteOrder>(data: &[u8]) -> Result<Btf<'_>, ParseError> {
    let (hdr, _) = Header::<O>::ref_from_prefix(data).map_err(|_| {
        btf_err(format!(
            "{} bytes is too short for a BTF header",
            data.len()
        ))
    })?;
    if hdr.magic.get() != MAGIC {
        return Err(btf_err(format!("bad magic {:#06x}", hdr.magic.get())));
    }
    if hdr.version != 1 {
        return Err(btf_err(format!("unsupported version {}", hdr.version)));
    }
    let _ = hdr.flags;
    let hdr_len = hdr.hdr_len.get() as usize;
    let region = |off: u32, len: u32, what: &str| -> Result<&[u8], ParseError> {
        hdr_len
            .checked_add(off as usize)
            .and_then(|start| Some(start..start.checked_add(len as usize)?))
            .and_then(|r| data.get(r))
            .ok_or_else(|| btf_err(format!("{what} section ({off}+{len}) is outside the blob")))
    };
    let mut raw = region(hdr.type_off.get(), hdr.type_len.get(), "type")?;
    let strings = region(hdr.str_off.get(), hdr.str_len.get(), "string")?;

    let mut types = Vec::new();
    while !raw.is_empty() {
        let id = types.len() + 1;
        let at = raw.as_ptr() as usize - data.as_ptr() as usize;
        let (t, rest) = RawType::<O>::ref_from_prefix(raw)
            .map_err(|_| btf_err(format!("type {id} is truncated")))?;
        raw = rest;
        let info = t.info.get();
        let vlen = (info & 0xffff) as usize;
        let kind = Kind::from_raw((info >> 24) & 0x1f).ok_or_else(|| {
            btf_err(format!(
                "type {id} has unknown kind {}",
                (info >> 24) & 0x1f
            ))
        })?;
        let mut ty = Type {
            at,
            kind,
            name_off: t.name_off.get(),
            kind_flag: info >> 31 == 1,
            size_or_type: t.size_or_type.get(),
            array: None,
            members: Vec::new(),
        };
        let truncated = || btf_err(format!("type {id} ({kind:?}) is truncated"));
        match kind {
            Kind::Int | Kind::Var | Kind::DeclTag => {
                let (_, rest) = U32::<O>::ref_from_prefix(raw).map_err(|_| truncated())?;
                raw = rest;
            }
            Kind::Array => {
                let (a, rest) = Triple::<O>::ref_from_prefix(raw).map_err(|_| truncated())?;
                ty.array = Some((a.a.get(), a.b.get(), a.c.get()));
                raw = rest;
            }
            Kind::Struct | Kind::Union | Kind::Datasec => {
                let (ms, rest) = <[Triple<O>]>::ref_from_prefix_with_elems(raw, vlen)
                    .map_err(|_| truncated())?;
                ty.members = ms
                    .iter()
                    .map(|m| Member {
                        name_off: m.a.get(),
                        ty: m.b.get(),
                        offset: m.c.get(),
                    })
                    .collect();
                raw = rest;
            }
            Kind::Enum | Kind::FuncProto => {
                let (ps, rest) =
                    <[Pair<O>]>::ref_from_prefix_with_elems(raw, vlen).map_err(|_| truncated())?;
                if kind == Kind::FuncProto {
                    ty.members = ps
                        .iter()
                        .map(|p| Member {
                            name_off: p.a.get(),
                            ty: p.b.get(),
                            offset: 0,
                        })
                        .collect();
                }
                raw = rest;
            }
            Kind::Enum64 => {
                let (_, rest) = <[Triple<O>]>::ref_from_prefix_with_elems(raw, vlen)
                    .map_err(|_| truncated())?;
                raw = rest;
            }
            Kind::Ptr
            | Kind::Fwd
            | Kind::Typedef
            | Kind::Volatile
            | Kind::Const
            | Kind::Restrict
            | Kind::Func
            | Kind::Float
            | Kind::TypeTag => {}
        }
        types.push(ty);
    }
    Ok(Btf { types, strings })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a little BTF blob: `int` (id 1), `int *` (id 2), `int[4]` (id 3),
    /// a typedef loop (ids 4 and 5).
    fn blob() -> Vec<u8> {
        let strings = b"\0int\0loop\0".to_vec();
        let mut types = Vec::new();
        let mut push = |words: &[u32]| {
            for w in words {
                types.extend_from_slice(&w.to_le_bytes());
            }
        };
        push(&[1, 1 << 24, 4, 32]); // INT "int" size 4, encoding word
        push(&[0, 2 << 24, 1]); // PTR -> 1
        push(&[0, 3 << 24, 0, 1, 1, 4]); // ARRAY of 1, index 1, 4 elems
        push(&[5, 8 << 24, 5]); // TYPEDEF loop -> 5
        push(&[5, 8 << 24, 4]); // TYPEDEF loop -> 4
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.push(1);
        out.push(0);
        out.extend_from_slice(&24u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(types.len() as u32).to_le_bytes());
        out.extend_from_slice(&(types.len() as u32).to_le_bytes());
        out.extend_from_slice(&(strings.len() as u32).to_le_bytes());
        out.extend_from_slice(&types);
        out.extend_from_slice(&strings);
        out
    }

    #[test]
    fn sizes_names_and_loops() {
        let data = blob();
        let btf = Btf::parse(&data, ByteOrder::Little).unwrap();
        assert_eq!(btf.type_name(1).unwrap(), "int");
        assert_eq!(btf.size_of(1).unwrap(), 4);
        assert_eq!(btf.size_of(2).unwrap(), 8);
        assert_eq!(btf.size_of(3).unwrap(), 16);
        assert!(
            btf.size_of(4)
                .unwrap_err()
                .to_string()
                .contains("chain of modifiers")
        );
        assert!(btf.ty(99).is_err());
        assert!(btf.name(9999).is_err());
    }

    #[test]
    fn every_truncation_is_an_error() {
        let data = blob();
        for len in 0..data.len() {
            // Must not panic; most prefixes are errors.
            let _ = Btf::parse(&data[..len], ByteOrder::Little);
        }
        assert!(Btf::parse(&data[..10], ByteOrder::Little).is_err());
        assert!(
            Btf::parse(&data, ByteOrder::Big).is_err(),
            "wrong byte order reads a bad magic"
        );
    }
}
