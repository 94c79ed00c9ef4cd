//! The BTF parser: [`Btf`] and its typed views.
//!
//! The type section is read once through zerocopy (`U32<O>` words in the
//! blob's byte order) into native-order words; every record's start is
//! recorded, and every type id and string offset it holds is checked, so the
//! views below read validated words through native zerocopy structs and need
//! no further checks beyond `get`.

use super::BtfError;
use crate::spec::ByteOrder;
use std::fmt;
use std::ops::RangeInclusive;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use zerocopy::byteorder::{BigEndian, LittleEndian, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

const MAGIC: u16 = 0xeb9f;
/// The kernel's `MAX_RESOLVE_DEPTH`: how many links a walk along modifiers,
/// typedefs and arrays follows before giving up.
pub(crate) const MAX_RESOLVE_DEPTH: usize = 32;
/// The smallest header: magic to str_len.
const MIN_HEADER: usize = 24;

/// `struct btf_type`, in native order.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy)]
#[repr(C)]
pub(crate) struct RawType {
    pub name_off: u32,
    pub info: u32,
    pub size_or_type: u32,
}

impl RawType {
    fn vlen(&self) -> usize {
        (self.info & 0xffff) as usize
    }
    fn kind_raw(&self) -> u32 {
        (self.info >> 24) & 0x1f
    }
    fn kind_flag(&self) -> bool {
        self.info >> 31 == 1
    }
}

/// `struct btf_member` (and a DATASEC's `btf_var_secinfo`), native order.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy)]
#[repr(C)]
pub(crate) struct RawMember {
    name_off: u32,
    ty: u32,
    offset: u32,
}

/// `struct btf_enum` and `struct btf_param`, native order.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy)]
#[repr(C)]
pub(crate) struct RawPair {
    name_off: u32,
    value: u32,
}

/// `struct btf_enum64`, native order.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy)]
#[repr(C)]
pub(crate) struct RawEnum64 {
    name_off: u32,
    lo32: u32,
    hi32: u32,
}

/// `struct btf_array`, native order, and the public view of an ARRAY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct Array {
    /// The element type.
    pub elem: u32,
    /// The index type.
    pub index: u32,
    /// The number of elements (0 for a flexible array).
    pub nelems: u32,
}

/// A DATASEC entry (`struct btf_var_secinfo`): a variable in a data section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct VarSecInfo {
    /// The `VAR` (or `FUNC`, for `.ksyms`) type id.
    pub ty: u32,
    /// Offset of the variable in the section.
    pub offset: u32,
    /// Size of the variable.
    pub size: u32,
}

/// BTF kinds (`BTF_KIND_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `BTF_KIND_UNKN` (0): only type id 0, `void`.
    Void,
    /// `BTF_KIND_INT` (1).
    Int,
    /// `BTF_KIND_PTR` (2).
    Ptr,
    /// `BTF_KIND_ARRAY` (3).
    Array,
    /// `BTF_KIND_STRUCT` (4).
    Struct,
    /// `BTF_KIND_UNION` (5).
    Union,
    /// `BTF_KIND_ENUM` (6).
    Enum,
    /// `BTF_KIND_FWD` (7).
    Fwd,
    /// `BTF_KIND_TYPEDEF` (8).
    Typedef,
    /// `BTF_KIND_VOLATILE` (9).
    Volatile,
    /// `BTF_KIND_CONST` (10).
    Const,
    /// `BTF_KIND_RESTRICT` (11).
    Restrict,
    /// `BTF_KIND_FUNC` (12).
    Func,
    /// `BTF_KIND_FUNC_PROTO` (13).
    FuncProto,
    /// `BTF_KIND_VAR` (14).
    Var,
    /// `BTF_KIND_DATASEC` (15).
    Datasec,
    /// `BTF_KIND_FLOAT` (16).
    Float,
    /// `BTF_KIND_DECL_TAG` (17).
    DeclTag,
    /// `BTF_KIND_TYPE_TAG` (18).
    TypeTag,
    /// `BTF_KIND_ENUM64` (19).
    Enum64,
}

impl Kind {
    const ALL: [Kind; 20] = [
        Kind::Void,
        Kind::Int,
        Kind::Ptr,
        Kind::Array,
        Kind::Struct,
        Kind::Union,
        Kind::Enum,
        Kind::Fwd,
        Kind::Typedef,
        Kind::Volatile,
        Kind::Const,
        Kind::Restrict,
        Kind::Func,
        Kind::FuncProto,
        Kind::Var,
        Kind::Datasec,
        Kind::Float,
        Kind::DeclTag,
        Kind::TypeTag,
        Kind::Enum64,
    ];

    /// From the kernel's number (0..=19).
    pub fn from_raw(raw: u32) -> Option<Kind> {
        Self::ALL.get(raw as usize).copied()
    }

    /// The kernel's number.
    pub fn raw(self) -> u32 {
        self as u32
    }

    /// The kernel's name (`STRUCT`, `FUNC_PROTO`, ...), as bpftool prints it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Void => "UNKN",
            Kind::Int => "INT",
            Kind::Ptr => "PTR",
            Kind::Array => "ARRAY",
            Kind::Struct => "STRUCT",
            Kind::Union => "UNION",
            Kind::Enum => "ENUM",
            Kind::Fwd => "FWD",
            Kind::Typedef => "TYPEDEF",
            Kind::Volatile => "VOLATILE",
            Kind::Const => "CONST",
            Kind::Restrict => "RESTRICT",
            Kind::Func => "FUNC",
            Kind::FuncProto => "FUNC_PROTO",
            Kind::Var => "VAR",
            Kind::Datasec => "DATASEC",
            Kind::Float => "FLOAT",
            Kind::DeclTag => "DECL_TAG",
            Kind::TypeTag => "TYPE_TAG",
            Kind::Enum64 => "ENUM64",
        }
    }

    /// STRUCT or UNION.
    pub fn is_composite(self) -> bool {
        matches!(self, Kind::Struct | Kind::Union)
    }

    /// ENUM or ENUM64.
    pub fn is_any_enum(self) -> bool {
        matches!(self, Kind::Enum | Kind::Enum64)
    }

    /// CONST, VOLATILE, RESTRICT or TYPE_TAG (libbpf's `btf_is_mod`).
    pub fn is_modifier(self) -> bool {
        matches!(
            self,
            Kind::Const | Kind::Volatile | Kind::Restrict | Kind::TypeTag
        )
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Linkage of a FUNC or VAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Linkage {
    /// `BTF_FUNC_STATIC` / `BTF_VAR_STATIC` (0).
    Static,
    /// `BTF_FUNC_GLOBAL` / `BTF_VAR_GLOBAL_ALLOCATED` (1).
    Global,
    /// `BTF_FUNC_EXTERN` / `BTF_VAR_GLOBAL_EXTERN` (2).
    Extern,
    /// Any other value.
    Unknown(u32),
}

impl Linkage {
    fn from_raw(raw: u32) -> Linkage {
        match raw {
            0 => Linkage::Static,
            1 => Linkage::Global,
            2 => Linkage::Extern,
            other => Linkage::Unknown(other),
        }
    }
}

/// An INT: its size and encoding word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Int {
    /// Size in bytes.
    pub size: u32,
    /// `BTF_INT_ENCODING`: bit 0 signed, bit 1 char, bit 2 bool.
    pub encoding: u8,
    /// `BTF_INT_OFFSET`: bit offset of the value (0 but in legacy bitfields).
    pub offset: u8,
    /// `BTF_INT_BITS`: number of bits of the value.
    pub bits: u8,
}

impl Int {
    /// `BTF_INT_SIGNED`.
    pub const SIGNED: u8 = 1;
    /// `BTF_INT_CHAR`.
    pub const CHAR: u8 = 2;
    /// `BTF_INT_BOOL`.
    pub const BOOL: u8 = 4;

    fn from_word(size: u32, word: u32) -> Int {
        Int {
            size,
            encoding: ((word >> 24) & 0x0f) as u8,
            offset: (word >> 16) as u8,
            bits: word as u8,
        }
    }

    /// The signed bit of the encoding is set.
    pub fn is_signed(&self) -> bool {
        self.encoding & Self::SIGNED != 0
    }

    /// The char bit of the encoding is set.
    pub fn is_char(&self) -> bool {
        self.encoding & Self::CHAR != 0
    }

    /// The bool bit of the encoding is set.
    pub fn is_bool(&self) -> bool {
        self.encoding & Self::BOOL != 0
    }
}

/// A member of a STRUCT or UNION.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member<'a> {
    /// The member's name; `None` for an anonymous member (an embedded struct
    /// or union).
    pub name: Option<&'a str>,
    /// Offset of the name in the string section (0: anonymous).
    pub name_off: u32,
    /// The member's type.
    pub ty: u32,
    /// Offset of the member in bits from the start of the struct.
    pub bit_offset: u32,
    /// Size in bits of a bitfield member (0: not a bitfield). Only set when
    /// the struct's `kind_flag` is.
    pub bitfield_size: u32,
}

/// The members of a STRUCT or UNION.
#[derive(Clone, Copy)]
pub struct Members<'a> {
    btf: &'a Btf,
    raw: &'a [RawMember],
    kind_flag: bool,
}

impl<'a> Members<'a> {
    /// How many members.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// No members.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The member at `index`.
    pub fn get(&self, index: usize) -> Option<Member<'a>> {
        self.raw.get(index).map(|m| self.convert(m))
    }

    fn convert(&self, m: &RawMember) -> Member<'a> {
        let (bit_offset, bitfield_size) = if self.kind_flag {
            (m.offset & 0x00ff_ffff, m.offset >> 24)
        } else {
            (m.offset, 0)
        };
        Member {
            name: self.btf.nonempty_string(m.name_off),
            name_off: m.name_off,
            ty: m.ty,
            bit_offset,
            bitfield_size,
        }
    }

    /// Every member, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Member<'a>> + 'a {
        let this = *self;
        self.raw.iter().map(move |m| this.convert(m))
    }
}

impl fmt::Debug for Members<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// An enumerator of an ENUM or ENUM64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnumValue<'a> {
    /// The enumerator's name.
    pub name: Option<&'a str>,
    /// Offset of the name in the string section.
    pub name_off: u32,
    /// The value, read as signed or unsigned per the enum's `kind_flag`
    /// (an `i128` holds both an `i64` and a `u64`).
    pub value: i128,
}

#[derive(Clone, Copy)]
enum EnumRaw<'a> {
    E32(&'a [RawPair]),
    E64(&'a [RawEnum64]),
}

/// The enumerators of an ENUM or ENUM64.
#[derive(Clone, Copy)]
pub struct Enumerators<'a> {
    btf: &'a Btf,
    raw: EnumRaw<'a>,
    signed: bool,
}

impl<'a> Enumerators<'a> {
    /// How many enumerators.
    pub fn len(&self) -> usize {
        match self.raw {
            EnumRaw::E32(r) => r.len(),
            EnumRaw::E64(r) => r.len(),
        }
    }

    /// No enumerators.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values are signed (the enum's `kind_flag`).
    pub fn is_signed(&self) -> bool {
        self.signed
    }

    /// The enumerator at `index`.
    pub fn get(&self, index: usize) -> Option<EnumValue<'a>> {
        let (name_off, value) = match self.raw {
            EnumRaw::E32(r) => {
                let e = r.get(index)?;
                let v = if self.signed {
                    i128::from(e.value as i32)
                } else {
                    i128::from(e.value)
                };
                (e.name_off, v)
            }
            EnumRaw::E64(r) => {
                let e = r.get(index)?;
                let bits = u64::from(e.hi32) << 32 | u64::from(e.lo32);
                let v = if self.signed {
                    i128::from(bits as i64)
                } else {
                    i128::from(bits)
                };
                (e.name_off, v)
            }
        };
        Some(EnumValue {
            name: self.btf.nonempty_string(name_off),
            name_off,
            value,
        })
    }

    /// The raw 64 bits libbpf reads for CO-RE: ENUM values sign-extended from
    /// 32 bits (libbpf reads them as `__s32`), ENUM64 values as they are.
    pub(crate) fn libbpf_value(&self, index: usize) -> Option<u64> {
        match self.raw {
            EnumRaw::E32(r) => r.get(index).map(|e| e.value as i32 as i64 as u64),
            EnumRaw::E64(r) => r
                .get(index)
                .map(|e| u64::from(e.hi32) << 32 | u64::from(e.lo32)),
        }
    }

    pub(crate) fn name_off(&self, index: usize) -> Option<u32> {
        match self.raw {
            EnumRaw::E32(r) => r.get(index).map(|e| e.name_off),
            EnumRaw::E64(r) => r.get(index).map(|e| e.name_off),
        }
    }

    /// Every enumerator, in order.
    pub fn iter(&self) -> impl Iterator<Item = EnumValue<'a>> + 'a {
        let this = *self;
        (0..self.len()).filter_map(move |i| this.get(i))
    }
}

impl fmt::Debug for Enumerators<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A parameter of a FUNC_PROTO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    /// The parameter's name, if it has one.
    pub name: Option<&'a str>,
    /// Offset of the name in the string section.
    pub name_off: u32,
    /// The parameter's type (0 with no name: the `...` of a variadic function).
    pub ty: u32,
}

/// The parameters of a FUNC_PROTO.
#[derive(Clone, Copy)]
pub struct Params<'a> {
    btf: &'a Btf,
    raw: &'a [RawPair],
}

impl<'a> Params<'a> {
    /// How many parameters.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// No parameters.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The parameter at `index`.
    pub fn get(&self, index: usize) -> Option<Param<'a>> {
        self.raw.get(index).map(|p| self.convert(p))
    }

    fn convert(&self, p: &RawPair) -> Param<'a> {
        Param {
            name: self.btf.nonempty_string(p.name_off),
            name_off: p.name_off,
            ty: p.value,
        }
    }

    /// Every parameter, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Param<'a>> + 'a {
        let this = *self;
        self.raw.iter().map(move |p| this.convert(p))
    }
}

impl fmt::Debug for Params<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// What a type is, by kind, with its kind-specific data.
#[derive(Debug, Clone, Copy)]
pub enum TypeData<'a> {
    /// Type id 0.
    Void,
    /// An integer.
    Int(Int),
    /// A pointer to `target`.
    Ptr {
        /// The pointee.
        target: u32,
    },
    /// An array.
    Array(Array),
    /// A struct and its members.
    Struct(Members<'a>),
    /// A union and its members.
    Union(Members<'a>),
    /// An enum with 32-bit values.
    Enum(Enumerators<'a>),
    /// A forward declaration.
    Fwd {
        /// Of a union (`kind_flag`), else of a struct.
        union: bool,
    },
    /// A typedef of `target`.
    Typedef {
        /// The aliased type.
        target: u32,
    },
    /// `volatile target`.
    Volatile {
        /// The qualified type.
        target: u32,
    },
    /// `const target`.
    Const {
        /// The qualified type.
        target: u32,
    },
    /// `restrict target`.
    Restrict {
        /// The qualified type.
        target: u32,
    },
    /// A function.
    Func {
        /// Its FUNC_PROTO.
        proto: u32,
        /// Static, global or extern.
        linkage: Linkage,
    },
    /// A function prototype.
    FuncProto {
        /// The return type (0: void).
        ret: u32,
        /// The parameters.
        params: Params<'a>,
    },
    /// A variable.
    Var {
        /// Its type.
        ty: u32,
        /// Static, global (allocated) or extern.
        linkage: Linkage,
    },
    /// A data section and its variables.
    Datasec {
        /// The section's size.
        size: u32,
        /// The variables.
        vars: &'a [VarSecInfo],
    },
    /// A floating-point type.
    Float {
        /// Size in bytes.
        size: u32,
    },
    /// A declaration tag.
    DeclTag {
        /// The tagged type.
        target: u32,
        /// -1: the type itself; else the index of the member or parameter.
        component_idx: i32,
    },
    /// A type tag of `target`.
    TypeTag {
        /// The tagged type.
        target: u32,
    },
    /// An enum with 64-bit values.
    Enum64(Enumerators<'a>),
}

/// A view of one type of a [`Btf`].
#[derive(Clone, Copy)]
pub struct Type<'a> {
    btf: &'a Btf,
    id: u32,
    kind: Kind,
    raw: RawType,
    extra: &'a [u32],
}

impl<'a> Type<'a> {
    /// The type's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The type's kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The type's name; `None` when anonymous.
    pub fn name(&self) -> Option<&'a str> {
        self.btf.nonempty_string(self.raw.name_off)
    }

    /// Offset of the name in the string section (0: anonymous).
    pub fn name_off(&self) -> u32 {
        self.raw.name_off
    }

    /// The `kind_flag` bit of the type's info.
    pub fn kind_flag(&self) -> bool {
        self.raw.kind_flag()
    }

    /// The `vlen` of the type's info (members, enumerators, parameters...).
    pub fn vlen(&self) -> usize {
        self.raw.vlen()
    }

    /// The raw `size`/`type` word of the record (its meaning depends on the kind).
    pub fn size_or_type(&self) -> u32 {
        self.raw.size_or_type
    }

    /// The type this one refers to: PTR, TYPEDEF, modifiers, TYPE_TAG, FUNC
    /// (its proto), VAR and DECL_TAG; the element type of an ARRAY.
    pub fn target(&self) -> Option<u32> {
        match self.kind {
            Kind::Ptr
            | Kind::Typedef
            | Kind::Volatile
            | Kind::Const
            | Kind::Restrict
            | Kind::TypeTag
            | Kind::Func
            | Kind::Var
            | Kind::DeclTag => Some(self.raw.size_or_type),
            Kind::Array => self.array().map(|a| a.elem),
            _ => None,
        }
    }

    fn array(&self) -> Option<Array> {
        Array::read_from_bytes(self.extra.get(..3)?.as_bytes()).ok()
    }

    fn members(&self) -> Members<'a> {
        Members {
            btf: self.btf,
            raw: <[RawMember]>::ref_from_bytes(self.extra.as_bytes()).unwrap_or(&[]),
            kind_flag: self.raw.kind_flag(),
        }
    }

    pub(crate) fn enumerators(&self) -> Option<Enumerators<'a>> {
        let raw = match self.kind {
            Kind::Enum => EnumRaw::E32(<[RawPair]>::ref_from_bytes(self.extra.as_bytes()).ok()?),
            Kind::Enum64 => {
                EnumRaw::E64(<[RawEnum64]>::ref_from_bytes(self.extra.as_bytes()).ok()?)
            }
            _ => return None,
        };
        Some(Enumerators {
            btf: self.btf,
            raw,
            signed: self.raw.kind_flag(),
        })
    }

    pub(crate) fn member_list(&self) -> Option<Members<'a>> {
        self.kind.is_composite().then(|| self.members())
    }

    pub(crate) fn int(&self) -> Option<Int> {
        (self.kind == Kind::Int).then(|| {
            Int::from_word(
                self.raw.size_or_type,
                self.extra.first().copied().unwrap_or(0),
            )
        })
    }

    /// The kind-specific data.
    pub fn data(&self) -> TypeData<'a> {
        let target = self.raw.size_or_type;
        let first = self.extra.first().copied().unwrap_or(0);
        match self.kind {
            Kind::Void => TypeData::Void,
            Kind::Int => TypeData::Int(Int::from_word(target, first)),
            Kind::Ptr => TypeData::Ptr { target },
            Kind::Array => TypeData::Array(self.array().unwrap_or(Array {
                elem: 0,
                index: 0,
                nelems: 0,
            })),
            Kind::Struct => TypeData::Struct(self.members()),
            Kind::Union => TypeData::Union(self.members()),
            Kind::Enum => match self.enumerators() {
                Some(e) => TypeData::Enum(e),
                None => TypeData::Void,
            },
            Kind::Enum64 => match self.enumerators() {
                Some(e) => TypeData::Enum64(e),
                None => TypeData::Void,
            },
            Kind::Fwd => TypeData::Fwd {
                union: self.raw.kind_flag(),
            },
            Kind::Typedef => TypeData::Typedef { target },
            Kind::Volatile => TypeData::Volatile { target },
            Kind::Const => TypeData::Const { target },
            Kind::Restrict => TypeData::Restrict { target },
            Kind::TypeTag => TypeData::TypeTag { target },
            Kind::Func => TypeData::Func {
                proto: target,
                linkage: Linkage::from_raw(self.raw.vlen() as u32),
            },
            Kind::FuncProto => TypeData::FuncProto {
                ret: target,
                params: Params {
                    btf: self.btf,
                    raw: <[RawPair]>::ref_from_bytes(self.extra.as_bytes()).unwrap_or(&[]),
                },
            },
            Kind::Var => TypeData::Var {
                ty: target,
                linkage: Linkage::from_raw(first),
            },
            Kind::Datasec => TypeData::Datasec {
                size: target,
                vars: <[VarSecInfo]>::ref_from_bytes(self.extra.as_bytes()).unwrap_or(&[]),
            },
            Kind::Float => TypeData::Float { size: target },
            Kind::DeclTag => TypeData::DeclTag {
                target,
                component_idx: first as i32,
            },
        }
    }
}

impl fmt::Debug for Type<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Type")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("name", &self.name())
            .field("data", &self.data())
            .finish()
    }
}

/// Parsed BTF, owning its data: the kernel's `vmlinux` or an object's `.BTF`.
///
/// Parse once and share: `Btf` is `Send + Sync`, and its name index is built
/// once, on first use, for every thread. Type ids run from 1 to
/// [`type_count`](Self::type_count); id 0 is `void`. Split BTF (kernel
/// modules' BTF, which continues vmlinux's ids) is not supported.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use ebpf_spec::btf::{Btf, Kind};
/// use ebpf_spec::ByteOrder;
///
/// let Ok(bytes) = std::fs::read("/sys/kernel/btf/vmlinux") else { return Ok(()) };
/// let vmlinux = std::sync::Arc::new(Btf::parse(&bytes, ByteOrder::NATIVE)?);
/// let task = vmlinux.find("task_struct", Kind::Struct).expect("every kernel has it");
/// assert!(vmlinux.size_of(task)? > 1000);
/// # Ok(()) }
/// ```
pub struct Btf {
    /// The type section in native order.
    words: Box<[u32]>,
    /// `starts[i]`: index in `words` of type `i + 1`; one more at the end
    /// (`words.len()`).
    starts: Box<[u32]>,
    strings: Box<[u8]>,
    order: ByteOrder,
    ptr_size: u32,
    /// Where the type section starts in the parsed blob, in bytes.
    types_at: usize,
    /// Tells one parsed blob from another (for caches keyed on a target).
    instance: u64,
    index: OnceLock<NameIndex>,
}

/// Type ids sorted by a hash of their essential name (the name without a
/// `___flavor` suffix), then by id.
struct NameIndex {
    entries: Box<[(u64, u32)]>,
}

impl fmt::Debug for Btf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Btf")
            .field("types", &self.type_count())
            .field("strings", &self.strings.len())
            .field("byte_order", &self.order)
            .finish_non_exhaustive()
    }
}

impl Btf {
    /// Parses a BTF blob (a `.BTF` section, or `/sys/kernel/btf/vmlinux`) in
    /// the given byte order.
    ///
    /// # Errors
    /// If the header is bad or points outside `data`, the string section is
    /// not NUL-delimited, a type record is truncated or of an unknown kind, or
    /// a record refers to a type id or string offset that does not exist.
    pub fn parse(data: &[u8], order: ByteOrder) -> Result<Btf, BtfError> {
        Btf::parse_with(data, order, false)
            .map(|(btf, _)| btf)
            .map_err(BtfError::from)
    }

    /// Reads the header and the records as [`parse`](Self::parse) does, but
    /// keeps the checks of what the records point at (a header shorter than
    /// 24 bytes, a string section that is not NUL-delimited, every type id
    /// and string offset) for later: their first error comes back beside
    /// the `Btf` instead of in place of it.
    ///
    /// For the ELF reader, which reads the types its maps and variables use
    /// (checking each as it goes) before it needs the whole blob valid. A
    /// `Btf` that comes with an error must go nowhere else: every other use
    /// takes its ids and offsets as checked.
    pub(crate) fn parse_deferring_checks(
        data: &[u8],
        order: ByteOrder,
    ) -> Result<(Btf, Option<BtfError>), Fault> {
        Btf::parse_with(data, order, true)
    }

    fn parse_with(
        data: &[u8],
        order: ByteOrder,
        defer: bool,
    ) -> Result<(Btf, Option<BtfError>), Fault> {
        match order {
            ByteOrder::Little => parse::<LittleEndian>(data, order, defer),
            ByteOrder::Big => parse::<BigEndian>(data, order, defer),
        }
    }

    /// Where type `id`'s record starts in the blob it was parsed from, in
    /// bytes.
    pub(crate) fn record_offset(&self, id: u32) -> Option<usize> {
        let word = *self.starts.get(id.checked_sub(1)? as usize)? as usize;
        self.types_at.checked_add(word.checked_mul(4)?)
    }

    /// Where the type section starts in the blob this was parsed from.
    pub(crate) fn types_at(&self) -> usize {
        self.types_at
    }

    /// The length of the string section, in bytes.
    pub(crate) fn strings_len(&self) -> usize {
        self.strings.len()
    }

    /// The byte order the blob was in.
    pub fn byte_order(&self) -> ByteOrder {
        self.order
    }

    /// How many types the blob has: valid ids are `0..=type_count()` (0 is
    /// `void`).
    pub fn type_count(&self) -> u32 {
        (self.starts.len() - 1) as u32
    }

    /// The ids of every type (1..=[`type_count`](Self::type_count)).
    pub fn ids(&self) -> RangeInclusive<u32> {
        1..=self.type_count()
    }

    /// The size of a pointer: the size of the INT named `long` (or one of its
    /// spellings), as libbpf determines it; 8 when there is none.
    pub fn pointer_size(&self) -> u32 {
        self.ptr_size
    }

    pub(crate) fn instance(&self) -> u64 {
        self.instance
    }

    /// A view of type `id`; id 0 is `void`. `None` for ids past the last type.
    pub fn ty(&self, id: u32) -> Option<Type<'_>> {
        if id == 0 {
            return Some(Type {
                btf: self,
                id,
                kind: Kind::Void,
                raw: RawType {
                    name_off: 0,
                    info: 0,
                    size_or_type: 0,
                },
                extra: &[],
            });
        }
        let i = id as usize - 1;
        let start = *self.starts.get(i)? as usize;
        let end = *self.starts.get(i + 1)? as usize;
        let words = self.words.get(start..end)?;
        let (head, extra) = words.split_at_checked(3)?;
        let raw = RawType::read_from_bytes(head.as_bytes()).ok()?;
        let kind = Kind::from_raw(raw.kind_raw())?;
        Some(Type {
            btf: self,
            id,
            kind,
            raw,
            extra,
        })
    }

    /// A view of type `id`, or an error naming the id.
    pub(crate) fn ty_or_err(&self, id: u32) -> Result<Type<'_>, BtfError> {
        self.ty(id).ok_or(BtfError::NoSuchType {
            id,
            count: self.type_count(),
        })
    }

    /// The kind of type `id` (`Void` for 0); `None` for ids past the last type.
    pub fn kind(&self, id: u32) -> Option<Kind> {
        self.ty(id).map(|t| t.kind)
    }

    /// The name of type `id`; `None` if it is anonymous or does not exist.
    pub fn name(&self, id: u32) -> Option<&str> {
        self.ty(id)?.name()
    }

    /// The NUL-terminated string at `offset` in the string section; `None` if
    /// the offset is outside it or the string is not UTF-8.
    pub fn string_at(&self, offset: u32) -> Option<&str> {
        std::str::from_utf8(self.string_bytes(offset)?).ok()
    }

    /// Like [`string_at`](Self::string_at), but `None` for the empty string.
    fn nonempty_string(&self, offset: u32) -> Option<&str> {
        self.string_at(offset).filter(|s| !s.is_empty())
    }

    /// The bytes of the NUL-terminated string at `offset`.
    pub(crate) fn string_bytes(&self, offset: u32) -> Option<&[u8]> {
        let rest = self.strings.get(offset as usize..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        Some(&rest[..end])
    }

    /// The bytes of type `id`'s name (empty when anonymous or invalid).
    pub(crate) fn name_bytes(&self, id: u32) -> &[u8] {
        self.ty(id)
            .and_then(|t| self.string_bytes(t.raw.name_off))
            .unwrap_or(&[])
    }

    fn index(&self) -> &NameIndex {
        self.index.get_or_init(|| {
            let mut entries: Vec<(u64, u32)> = Vec::with_capacity(self.starts.len());
            for id in self.ids() {
                let name = self.name_bytes(id);
                if !name.is_empty() {
                    entries.push((hash(essential_bytes(name)), id));
                }
            }
            entries.sort_unstable();
            NameIndex {
                entries: entries.into_boxed_slice(),
            }
        })
    }

    /// Ids whose essential name (the name up to a `___flavor` suffix) is
    /// `essential`, in increasing order.
    pub(crate) fn ids_by_essential_name<'a>(
        &'a self,
        essential: &'a [u8],
    ) -> impl Iterator<Item = u32> + 'a {
        let h = hash(essential);
        let entries = &self.index().entries;
        let start = entries.partition_point(|&(eh, _)| eh < h);
        entries[start..]
            .iter()
            .take_while(move |&&(eh, _)| eh == h)
            .map(|&(_, id)| id)
            .filter(move |&id| essential_bytes(self.name_bytes(id)) == essential)
    }

    /// The ids of every type named `name` (any kind), in increasing order.
    /// The first call builds an index of all names (a few milliseconds for
    /// vmlinux); later calls, from any thread, are hash lookups.
    pub fn ids_by_name<'a>(&'a self, name: &'a str) -> impl Iterator<Item = u32> + 'a {
        let name = name.as_bytes();
        self.ids_by_essential_name(essential_bytes(name))
            .filter(move |&id| self.name_bytes(id) == name)
    }

    /// The first type named `name` of kind `kind`.
    pub fn find(&self, name: &str, kind: Kind) -> Option<u32> {
        self.ids_by_name(name)
            .find(|&id| self.kind(id) == Some(kind))
    }

    /// Follows typedefs and modifiers (const, volatile, restrict, type tags)
    /// from `id` to the first other type, and returns its id.
    ///
    /// # Errors
    /// If a type on the way does not exist, or the chain is longer than 32.
    pub fn skip_mods_and_typedefs(&self, id: u32) -> Result<u32, BtfError> {
        self.skip_mods(id).map(|t| t.id)
    }

    /// Whether type `id` is a pointer to a function prototype (typedefs and
    /// modifiers skipped on both sides): a callback member of a struct_ops
    /// struct. `false` for a type that does not exist.
    pub fn is_func_pointer(&self, id: u32) -> bool {
        let Ok(ptr) = self.skip_mods(id) else {
            return false;
        };
        match ptr.data() {
            TypeData::Ptr { target } => self
                .skip_mods(target)
                .is_ok_and(|t| t.kind() == Kind::FuncProto),
            _ => false,
        }
    }

    pub(crate) fn skip_mods(&self, id: u32) -> Result<Type<'_>, BtfError> {
        let mut cur = id;
        for _ in 0..=MAX_RESOLVE_DEPTH {
            let t = self.ty_or_err(cur)?;
            if t.kind.is_modifier() || t.kind == Kind::Typedef {
                cur = t.raw.size_or_type;
            } else {
                return Ok(t);
            }
        }
        Err(BtfError::ChainTooLong {
            id,
            max: MAX_RESOLVE_DEPTH,
        })
    }

    /// The size in bytes of type `id`, as libbpf's `btf__resolve_size`
    /// computes it: typedefs, modifiers, VARs and tags are followed, arrays
    /// multiply, pointers have [`pointer_size`](Self::pointer_size).
    ///
    /// # Errors
    /// For types without a size (void, FUNC, FUNC_PROTO, FWD), chains longer
    /// than 32, and sizes that do not fit in 32 bits.
    pub fn size_of(&self, id: u32) -> Result<u32, BtfError> {
        let mut cur = id;
        let mut nelems: u32 = 1;
        for _ in 0..MAX_RESOLVE_DEPTH {
            let t = self.ty_or_err(cur)?;
            let size = match t.kind {
                Kind::Int
                | Kind::Struct
                | Kind::Union
                | Kind::Enum
                | Kind::Enum64
                | Kind::Datasec
                | Kind::Float => t.raw.size_or_type,
                Kind::Ptr => self.ptr_size,
                Kind::Typedef
                | Kind::Volatile
                | Kind::Const
                | Kind::Restrict
                | Kind::Var
                | Kind::DeclTag
                | Kind::TypeTag => {
                    cur = t.raw.size_or_type;
                    continue;
                }
                Kind::Array => {
                    let a = t.array().ok_or(BtfError::NoSize {
                        id: cur,
                        kind: t.kind,
                    })?;
                    nelems = nelems
                        .checked_mul(a.nelems)
                        .ok_or(BtfError::TooLarge { id })?;
                    cur = a.elem;
                    continue;
                }
                Kind::Void | Kind::Fwd | Kind::Func | Kind::FuncProto => {
                    return Err(BtfError::NoSize {
                        id: cur,
                        kind: t.kind,
                    });
                }
            };
            return size.checked_mul(nelems).ok_or(BtfError::TooLarge { id });
        }
        Err(BtfError::ChainTooLong {
            id,
            max: MAX_RESOLVE_DEPTH,
        })
    }
}

/// The essential part of a name, as CO-RE compares names: everything before
/// the last `___` that has a character other than `_` on both sides
/// (`task_struct___v2` is `task_struct`; `a____b` and `___x` stay whole).
pub fn essential_name(name: &str) -> &str {
    let len = essential_bytes(name.as_bytes()).len();
    // `___` is ASCII: `len` is on a char boundary.
    name.get(..len).unwrap_or(name)
}

/// libbpf's `bpf_core_essential_name_len`.
pub(crate) fn essential_bytes(name: &[u8]) -> &[u8] {
    let n = name.len();
    if n >= 5 {
        for i in (0..=n - 5).rev() {
            let s = &name[i..i + 5];
            if s[0] != b'_' && s[1] == b'_' && s[2] == b'_' && s[3] == b'_' && s[4] != b'_' {
                return &name[..=i];
            }
        }
    }
    name
}

/// A fast, non-cryptographic hash of a name (FxHash-style).
fn hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h: u64 = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    for &b in chunks.remainder() {
        h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
    }
    h
}

static INSTANCES: AtomicU64 = AtomicU64::new(1);

/// Spellings of `long` libbpf looks for to tell the pointer size.
const LONG_NAMES: &[&[u8]] = &[
    b"long",
    b"long int",
    b"int long",
    b"unsigned long",
    b"long unsigned",
    b"unsigned long int",
    b"unsigned int long",
    b"long unsigned int",
    b"long int unsigned",
    b"int unsigned long",
    b"int long unsigned",
];

/// Why a blob did not parse, as data: [`Btf::parse`] words it as a
/// [`BtfError`], the ELF reader in its own words (see [`Fault::terse`]).
#[derive(Debug)]
pub(crate) enum Fault {
    /// Fewer bytes than a header.
    Short { len: usize },
    /// Not `0xeb9f` in the blob's byte order.
    Magic(u16),
    /// Not version 1.
    Version(u8),
    /// `hdr_len` is below the smallest header or past the blob's end.
    HeaderLen {
        hdr_len: usize,
        len: usize,
        /// The header's `type_off` and `type_len`.
        types: (u32, u32),
    },
    /// The type (`what`) or string section lies outside the `body` bytes
    /// after the header.
    Region {
        what: &'static str,
        off: u32,
        len: u32,
        body: usize,
    },
    /// The type section is not a multiple of 4 bytes long. `whole` is what
    /// reading its whole words found: how many records they hold, or the
    /// first record that is cut or of an unknown kind.
    Unaligned {
        type_len: usize,
        whole: Result<u32, Box<Fault>>,
    },
    /// Type `id`'s 12-byte `btf_type` is cut: `left` words remain.
    CutHeader { id: u32, left: usize },
    /// Type `id` has kind `raw`, which is no `BTF_KIND_*`.
    UnknownKind { id: u32, raw: u32 },
    /// Type `id` needs `needs` bytes, `left` remain.
    CutRecord {
        id: u32,
        kind: Kind,
        needs: usize,
        left: usize,
    },
    /// Anything else, already worded.
    Other(BtfError),
}

impl From<Fault> for BtfError {
    fn from(fault: Fault) -> BtfError {
        let header = |what: String| BtfError::Header { what };
        match fault {
            Fault::Short { len } => header(format!(
                "{len} bytes is too short for a BTF header ({MIN_HEADER} bytes)"
            )),
            Fault::Magic(magic) => header(format!(
                "bad magic {magic:#06x} (expected {MAGIC:#06x}: wrong byte order?)"
            )),
            Fault::Version(version) => header(format!("unsupported version {version}")),
            Fault::HeaderLen { hdr_len, len, .. } => header(format!(
                "header length {hdr_len} is not within {MIN_HEADER}..={len}"
            )),
            Fault::Region {
                what,
                off,
                len,
                body,
            } => header(format!(
                "{what} section ({off}+{len}) is outside the {body} bytes after the header"
            )),
            Fault::Unaligned { type_len, .. } => header(format!(
                "type section length {type_len} is not a multiple of 4"
            )),
            Fault::CutHeader { id, left } => BtfError::Type {
                id,
                what: format!("record truncated: {left} words left, 3 needed"),
            },
            Fault::UnknownKind { id, raw } => BtfError::Type {
                id,
                what: format!("unknown kind {raw}"),
            },
            Fault::CutRecord {
                id,
                kind,
                needs,
                left,
            } => BtfError::Type {
                id,
                what: format!("{kind} record truncated: needs {needs} bytes, {left} left"),
            },
            Fault::Other(e) => e,
        }
    }
}

impl Fault {
    /// The fault in the words of the ELF reader's `ParseError::Btf`, which
    /// predate this parser (`type 3 (Struct) is truncated`, `type section
    /// (0+96) is outside the blob`); a fault that reader did not look for
    /// keeps the [`BtfError`]'s words.
    pub(crate) fn terse(self) -> String {
        match self {
            Fault::Short { len } => format!("{len} bytes is too short for a BTF header"),
            Fault::Magic(magic) => format!("bad magic {magic:#06x}"),
            Fault::Version(version) => format!("unsupported version {version}"),
            // Past the end: the type section cannot be inside the blob.
            Fault::HeaderLen {
                hdr_len,
                len,
                types: (off, type_len),
            } if hdr_len > len => format!("type section ({off}+{type_len}) is outside the blob"),
            Fault::Region { what, off, len, .. } => {
                format!("{what} section ({off}+{len}) is outside the blob")
            }
            Fault::Unaligned {
                whole: Err(first), ..
            } => first.terse(),
            // The bytes after the last whole record are a cut header.
            Fault::Unaligned { whole: Ok(n), .. } => format!("type {} is truncated", n + 1),
            Fault::CutHeader { id, .. } => format!("type {id} is truncated"),
            Fault::UnknownKind { id, raw } => format!("type {id} has unknown kind {raw}"),
            Fault::CutRecord { id, kind, .. } => format!("type {id} ({kind:?}) is truncated"),
            other => BtfError::from(other).to_string(),
        }
    }
}

/// Parses a blob; with `defer`, the checks [`Btf::parse_deferring_checks`]
/// lists give their first error beside the `Btf`, else in place of it.
fn parse<O: zerocopy::ByteOrder>(
    data: &[u8],
    order: ByteOrder,
    defer: bool,
) -> Result<(Btf, Option<BtfError>), Fault> {
    let mut deferred = None;
    let mut check = |e: BtfError| {
        if defer {
            deferred.get_or_insert(e);
            Ok(())
        } else {
            Err(Fault::Other(e))
        }
    };
    let (hdr, _) = super::raw::Header::<O>::ref_from_prefix(data)
        .map_err(|_| Fault::Short { len: data.len() })?;
    if hdr.magic.get() != MAGIC {
        return Err(Fault::Magic(hdr.magic.get()));
    }
    if hdr.version != 1 {
        return Err(Fault::Version(hdr.version));
    }
    let hdr_len = hdr.hdr_len.get() as usize;
    if hdr_len < MIN_HEADER || hdr_len > data.len() {
        let fault = Fault::HeaderLen {
            hdr_len,
            len: data.len(),
            types: (hdr.type_off.get(), hdr.type_len.get()),
        };
        if hdr_len > data.len() {
            return Err(fault);
        }
        check(fault.into())?;
    }
    let body = &data[hdr_len..];
    let region = |off: u32, len: u32, what: &'static str| -> Result<&[u8], Fault> {
        (off as usize)
            .checked_add(len as usize)
            .and_then(|end| body.get(off as usize..end))
            .ok_or(Fault::Region {
                what,
                off,
                len,
                body: body.len(),
            })
    };
    let type_bytes = region(hdr.type_off.get(), hdr.type_len.get(), "type")?;
    let strings = region(hdr.str_off.get(), hdr.str_len.get(), "string")?;

    // One pass in the blob's byte order into native words. Whole words: a
    // section that is not a multiple of 4 is an error, below.
    let type_len = type_bytes.len();
    let unreadable = |_| {
        Fault::Other(BtfError::Header {
            what: format!("type section length {type_len} is not a multiple of 4"),
        })
    };
    let (raw_words, _) =
        <[U32<O>]>::ref_from_prefix_with_elems(type_bytes, type_len / 4).map_err(unreadable)?;
    let words: Box<[u32]> = raw_words.iter().map(|w| w.get()).collect();
    if !type_len.is_multiple_of(4) {
        return Err(Fault::Unaligned {
            type_len,
            whole: record_starts(&words)
                .map(|starts| (starts.len() - 1) as u32)
                .map_err(Box::new),
        });
    }
    match (strings.first(), strings.last()) {
        (Some(0), Some(0)) => {}
        (None, _) => check(BtfError::Strings {
            what: "empty".into(),
        })?,
        _ => check(BtfError::Strings {
            what: "does not start and end with a NUL".into(),
        })?,
    }
    let starts = record_starts(&words)?;

    let mut btf = Btf {
        words,
        starts: starts.into_boxed_slice(),
        strings: strings.into(),
        order,
        ptr_size: 0,
        types_at: hdr_len + hdr.type_off.get() as usize,
        instance: INSTANCES.fetch_add(1, Ordering::Relaxed),
        index: OnceLock::new(),
    };
    btf.ptr_size = match validate(&btf) {
        Ok(ptr_size) => ptr_size,
        Err(e) => {
            check(e)?;
            pointer_size(&btf)
        }
    };
    Ok((btf, deferred))
}

/// Record boundaries: where each type starts in `words`, and one more entry,
/// the end. At least 3 words a type: the count is bounded by the bytes
/// present before anything is reserved.
fn record_starts(words: &[u32]) -> Result<Vec<u32>, Fault> {
    let mut starts: Vec<u32> = Vec::with_capacity(words.len() / 3 + 1);
    let mut at = 0usize;
    while at < words.len() {
        let id = starts.len() as u32 + 1;
        let head = words.get(at..at + 3).ok_or(Fault::CutHeader {
            id,
            left: words.len() - at,
        })?;
        let raw = RawType::read_from_bytes(head.as_bytes()).map_err(|_| {
            Fault::Other(BtfError::Type {
                id,
                what: "unreadable record".into(),
            })
        })?;
        let kind = match Kind::from_raw(raw.kind_raw()) {
            Some(Kind::Void) | None => {
                return Err(Fault::UnknownKind {
                    id,
                    raw: raw.kind_raw(),
                });
            }
            Some(k) => k,
        };
        let vlen = raw.vlen();
        let extra = match kind {
            Kind::Int | Kind::Var | Kind::DeclTag => 1,
            Kind::Array => 3,
            Kind::Struct | Kind::Union | Kind::Datasec | Kind::Enum64 => 3 * vlen,
            Kind::Enum | Kind::FuncProto => 2 * vlen,
            _ => 0,
        };
        let end = at + 3 + extra;
        if end > words.len() {
            return Err(Fault::CutRecord {
                id,
                kind,
                needs: 4 * (3 + extra),
                left: 4 * (words.len() - at),
            });
        }
        starts.push(at as u32);
        at = end;
    }
    starts.push(at as u32);
    Ok(starts)
}

/// The pointer size, as [`validate`] finds it, of a blob that did not pass
/// it.
fn pointer_size(btf: &Btf) -> u32 {
    btf.ids()
        .find_map(|id| btf.ty(id)?.int().filter(|int| is_long(btf, id, int)))
        .map_or(8, |int| int.size)
}

/// Type `id`, the INT `int`, is a `long` (in one of its spellings) of 4 or 8
/// bytes.
fn is_long(btf: &Btf, id: u32, int: &Int) -> bool {
    (int.size == 4 || int.size == 8) && LONG_NAMES.contains(&btf.name_bytes(id))
}

/// Checks every type id and string offset the records hold; returns the
/// pointer size.
fn validate(btf: &Btf) -> Result<u32, BtfError> {
    let count = btf.type_count();
    let str_len = btf.strings.len();
    let mut ptr_size = None;
    for id in btf.ids() {
        let t = btf.ty_or_err(id)?;
        let bad = |what: String| BtfError::Type { id, what };
        let name = |off: u32, whose: &str| -> Result<(), BtfError> {
            if (off as usize) < str_len {
                Ok(())
            } else {
                Err(bad(format!(
                    "{whose} name offset {off} is outside the string section ({str_len} bytes)"
                )))
            }
        };
        let ty = |ref_id: u32, whose: &str| -> Result<(), BtfError> {
            if ref_id <= count {
                Ok(())
            } else {
                Err(bad(format!(
                    "{whose} refers to type {ref_id}, past the last type ({count})"
                )))
            }
        };
        name(t.raw.name_off, "the")?;
        match t.data() {
            TypeData::Void | TypeData::Fwd { .. } | TypeData::Float { .. } => {}
            TypeData::Int(int) => {
                if ptr_size.is_none() && is_long(btf, id, &int) {
                    ptr_size = Some(int.size);
                }
            }
            TypeData::Ptr { target }
            | TypeData::Typedef { target }
            | TypeData::Volatile { target }
            | TypeData::Const { target }
            | TypeData::Restrict { target }
            | TypeData::TypeTag { target }
            | TypeData::DeclTag { target, .. } => ty(target, "the record")?,
            TypeData::Func { proto, .. } => ty(proto, "the function")?,
            TypeData::Var { ty: var_ty, .. } => ty(var_ty, "the variable")?,
            TypeData::Array(a) => {
                ty(a.elem, "the element type")?;
                ty(a.index, "the index type")?;
            }
            TypeData::Struct(members) | TypeData::Union(members) => {
                for m in members.raw {
                    name(m.name_off, "a member's")?;
                    ty(m.ty, "a member")?;
                }
            }
            TypeData::Enum(e) | TypeData::Enum64(e) => {
                for i in 0..e.len() {
                    name(e.name_off(i).unwrap_or(0), "an enumerator's")?;
                }
            }
            TypeData::FuncProto { ret, params } => {
                ty(ret, "the return type")?;
                for p in params.raw {
                    name(p.name_off, "a parameter's")?;
                    ty(p.value, "a parameter")?;
                }
            }
            TypeData::Datasec { vars, .. } => {
                for v in vars {
                    ty(v.ty, "a section variable")?;
                }
            }
        }
    }
    Ok(ptr_size.unwrap_or(8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn essential_names_follow_libbpf() {
        for (name, essential) in [
            ("task_struct", "task_struct"),
            ("task_struct___v2", "task_struct"),
            ("a___b___c", "a___b"),
            ("a____b", "a____b"),
            ("___x", "___x"),
            ("x___", "x___"),
            ("x___y", "x"),
            ("ab___", "ab___"),
            ("", ""),
            ("BPF_MAP_TYPE_ARENA", "BPF_MAP_TYPE_ARENA"),
        ] {
            assert_eq!(essential_name(name), essential, "{name}");
        }
    }

    #[test]
    fn btf_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Btf>();
    }
}
