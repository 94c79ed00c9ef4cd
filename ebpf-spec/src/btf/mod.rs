//! BTF: the type information of eBPF objects and of the kernel.
//!
//! - [`Btf`](crate::btf::Btf) parses a `.BTF` section or the kernel's `/sys/kernel/btf/vmlinux`
//!   (about 150 000 types) into an owned, `Send + Sync` value with typed views
//!   of every kind, name lookups and [`size_of`](crate::btf::Btf::size_of).
//! - [`BtfExt`](crate::btf::BtfExt) parses a `.BTF.ext` section: per ELF section, the func_info,
//!   line_info and CO-RE relocation records.
//! - [`FuncInfo`](crate::btf::FuncInfo), [`LineInfo`](crate::btf::LineInfo) and [`CoreRelocation`](crate::btf::CoreRelocation) are the spec-level
//!   values a program keeps (instruction indexes within the program).
//! - [`relocate`](crate::btf::relocate) applies CO-RE relocations to a program's instructions, with
//!   libbpf's semantics (`relo_core.c`), against a target BTF (usually the
//!   running kernel's).
//!
//! Everything here is pure data: no file is read and no syscall is made. A
//! loader reads `/sys/kernel/btf/vmlinux` once, parses it once, and shares the
//! [`Btf`](crate::btf::Btf) (in an `Arc`) between threads and instances.
//!
//! Hostile input gives a [`BtfError`](crate::btf::BtfError), never a panic: every count is checked
//! against the bytes present before anything is allocated, every type id and
//! string offset is checked when the blob is parsed, and every walk along
//! a chain of types is bounded.
//!
//! ```
//! use ebpf_spec::btf::{Btf, Kind, TypeData};
//! use ebpf_spec::ByteOrder;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A BTF blob with `int` (id 1) and `struct pair { int a; int b; }` (id 2).
//! let mut types = Vec::new();
//! for w in [1u32, 1 << 24, 4, 1 << 24 | 32, // INT "int", 4 bytes, signed, 32 bits
//!           5, 4 << 24 | 2, 8,            // STRUCT "pair", 2 members, 8 bytes
//!           10, 1, 0, 12, 1, 32] {        // "a": int at bit 0, "b": int at bit 32
//!     types.extend_from_slice(&w.to_le_bytes());
//! }
//! let strings = b"\0int\0pair\0a\0b\0";
//! let mut blob = Vec::new();
//! for w in [0x0001_eb9f_u32, 24, 0, types.len() as u32, types.len() as u32, strings.len() as u32] {
//!     blob.extend_from_slice(&w.to_le_bytes());
//! }
//! blob.extend_from_slice(&types);
//! blob.extend_from_slice(strings);
//!
//! let btf = Btf::parse(&blob, ByteOrder::Little)?;
//! let id = btf.find("pair", Kind::Struct).unwrap();
//! assert_eq!(btf.size_of(id)?, 8);
//! let TypeData::Struct(members) = btf.ty(id).unwrap().data() else { unreachable!() };
//! let b = members.iter().find(|m| m.name == Some("b")).unwrap();
//! assert_eq!((b.bit_offset, b.ty), (32, 1));
//! # Ok(()) }
//! ```

mod core;
mod ext;
mod ksyms;
mod parse;
pub(crate) mod raw;
mod records;

pub use self::core::{
    CORE_STEP_BUDGET, CoreCandidateCache, CoreError, CoreErrorReason, CoreReport, CoreStepBudget,
    PoisonReason, PoisonedInstruction, relocate, relocate_within, types_are_compat,
    types_are_compat_within,
};
pub(crate) use ext::IndexedExt;
pub use ext::{BtfExt, CoreReloRecord, ExtSection, FuncInfoRecord, LineInfoRecord};
pub use ksyms::{KSYMS_SECTION, ksyms_for_kernel, mentions_ksyms};
pub use parse::{
    Array, Btf, EnumValue, Enumerators, Int, Kind, Linkage, Member, Members, Param, Params, Type,
    TypeData, VarSecInfo, essential_name,
};
pub use records::{CoreRelocation, CoreRelocationKind, FuncInfo, LineInfo};

/// Why a BTF or `.BTF.ext` blob could not be parsed, or a type has no answer
/// (no size, a chain too long).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BtfError {
    /// The header is missing, has a bad magic or version, or points outside
    /// the blob.
    #[error("BTF header: {what}")]
    Header {
        /// What is wrong.
        what: String,
    },
    /// The string section is empty or does not start and end with a NUL.
    #[error("BTF string section: {what}")]
    Strings {
        /// What is wrong.
        what: String,
    },
    /// A type record is truncated, of an unknown kind, or refers to a type or
    /// string that does not exist.
    #[error("BTF type {id}: {what}")]
    Type {
        /// The type's id.
        id: u32,
        /// What is wrong.
        what: String,
    },
    /// A type id that is not in the blob.
    #[error("BTF type id {id} does not exist (the blob has {count} types)")]
    NoSuchType {
        /// The id asked for.
        id: u32,
        /// How many types the blob has.
        count: u32,
    },
    /// The type has no size (void, a function, a forward declaration...).
    #[error("BTF type {id} ({kind}) has no size")]
    NoSize {
        /// The type without a size.
        id: u32,
        /// Its kind.
        kind: Kind,
    },
    /// The type's size does not fit in 32 bits.
    #[error("BTF type {id} is larger than 4 GiB")]
    TooLarge {
        /// The type.
        id: u32,
    },
    /// A chain of modifiers, typedefs or arrays is longer than the kernel
    /// allows (or loops).
    #[error("BTF type {id}: chain of modifiers, typedefs or arrays longer than {max} (a loop?)")]
    ChainTooLong {
        /// Where the chain started.
        id: u32,
        /// The limit.
        max: usize,
    },
    /// The `.BTF.ext` section is malformed.
    #[error(".BTF.ext: {what}")]
    Ext {
        /// What is wrong.
        what: String,
    },
}
