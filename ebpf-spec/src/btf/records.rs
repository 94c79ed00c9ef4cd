//! Spec-level values from `.BTF.ext`: what a program keeps of its func_info,
//! line_info and CO-RE relocation records, with instruction indexes relative
//! to the program's first instruction.

use crate::DeepCopy;
use crate::Name;
use std::fmt;

/// One `bpf_func_info` record of a program: where a function starts and its
/// `FUNC` type in the object's BTF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, DeepCopy)]
#[deep_copy(plain)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FuncInfo {
    /// Index of the function's first 8-byte instruction slot in the program.
    pub instruction: usize,
    /// The `FUNC` type id in the object's BTF.
    pub type_id: u32,
}

/// One `bpf_line_info` record of a program: the source line of an instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, DeepCopy)]
#[deep_copy(plain)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LineInfo {
    /// Index of the 8-byte instruction slot in the program.
    pub instruction: usize,
    /// Offset of the source file's name in the object's BTF string section.
    pub file_name_off: u32,
    /// Offset of the source line's text in the object's BTF string section.
    pub line_off: u32,
    /// Line number (upper 22 bits) and column (lower 10 bits), as the kernel
    /// packs them: see [`line`](Self::line) and [`column`](Self::column).
    pub line_col: u32,
}

impl LineInfo {
    /// The line number (`BPF_LINE_INFO_LINE_NUM`).
    pub fn line(&self) -> u32 {
        self.line_col >> 10
    }

    /// The column (`BPF_LINE_INFO_LINE_COL`).
    pub fn column(&self) -> u32 {
        self.line_col & 0x3ff
    }
}

/// One CO-RE relocation of a program (`struct bpf_core_relo`), with its access
/// string resolved from the object's BTF.
#[derive(Debug, Clone, PartialEq, Eq, Hash, DeepCopy)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CoreRelocation {
    /// Index of the relocated 8-byte instruction slot in the program.
    pub instruction: usize,
    /// The local root type id in the object's BTF.
    pub type_id: u32,
    /// The access string (`"0:1:2"`: indexes of members and array elements
    /// from the root type; `"0"` for type-based relocations; the enumerator's
    /// index for enum-value relocations).
    pub access: Name,
    /// What is relocated.
    pub kind: CoreRelocationKind,
}

/// What a CO-RE relocation computes (`enum bpf_core_relo_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, DeepCopy)]
#[deep_copy(plain)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum CoreRelocationKind {
    /// `BPF_CORE_FIELD_BYTE_OFFSET` (0): the field's offset in bytes.
    FieldByteOffset,
    /// `BPF_CORE_FIELD_BYTE_SIZE` (1): the field's size in bytes.
    FieldByteSize,
    /// `BPF_CORE_FIELD_EXISTS` (2): 1 if the field exists in the target, else 0.
    FieldExists,
    /// `BPF_CORE_FIELD_SIGNED` (3): 1 if the field is a signed integer or enum.
    FieldSigned,
    /// `BPF_CORE_FIELD_LSHIFT_U64` (4): left shift to extract a bitfield.
    FieldLShiftU64,
    /// `BPF_CORE_FIELD_RSHIFT_U64` (5): right shift to extract a bitfield.
    FieldRShiftU64,
    /// `BPF_CORE_TYPE_ID_LOCAL` (6): the type's id in the object's BTF.
    TypeIdLocal,
    /// `BPF_CORE_TYPE_ID_TARGET` (7): the type's id in the target BTF.
    TypeIdTarget,
    /// `BPF_CORE_TYPE_EXISTS` (8): 1 if a compatible type exists in the target.
    TypeExists,
    /// `BPF_CORE_TYPE_SIZE` (9): the target type's size in bytes.
    TypeSize,
    /// `BPF_CORE_ENUMVAL_EXISTS` (10): 1 if the enumerator exists in the target.
    EnumvalExists,
    /// `BPF_CORE_ENUMVAL_VALUE` (11): the enumerator's value in the target.
    EnumvalValue,
    /// `BPF_CORE_TYPE_MATCHES` (12): 1 if a matching type exists in the target.
    TypeMatches,
    /// A kind this library does not know, kept as the kernel's number.
    Unknown(u32),
}

impl CoreRelocationKind {
    /// Every known kind, in the kernel's order.
    pub const ALL: &'static [Self] = &[
        Self::FieldByteOffset,
        Self::FieldByteSize,
        Self::FieldExists,
        Self::FieldSigned,
        Self::FieldLShiftU64,
        Self::FieldRShiftU64,
        Self::TypeIdLocal,
        Self::TypeIdTarget,
        Self::TypeExists,
        Self::TypeSize,
        Self::EnumvalExists,
        Self::EnumvalValue,
        Self::TypeMatches,
    ];

    /// From the kernel's number; unknown numbers are kept in `Unknown`.
    pub fn from_raw(raw: u32) -> Self {
        Self::ALL
            .get(raw as usize)
            .copied()
            .unwrap_or(Self::Unknown(raw))
    }

    /// The kernel's number.
    pub fn raw(self) -> u32 {
        match self {
            Self::Unknown(raw) => raw,
            known => Self::ALL
                .iter()
                .position(|k| *k == known)
                .map_or(u32::MAX, |i| i as u32),
        }
    }

    /// libbpf's name for the kind (`byte_off`, `field_exists`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::FieldByteOffset => "byte_off",
            Self::FieldByteSize => "byte_sz",
            Self::FieldExists => "field_exists",
            Self::FieldSigned => "signed",
            Self::FieldLShiftU64 => "lshift_u64",
            Self::FieldRShiftU64 => "rshift_u64",
            Self::TypeIdLocal => "local_type_id",
            Self::TypeIdTarget => "target_type_id",
            Self::TypeExists => "type_exists",
            Self::TypeSize => "type_size",
            Self::EnumvalExists => "enumval_exists",
            Self::EnumvalValue => "enumval_value",
            Self::TypeMatches => "type_matches",
            Self::Unknown(_) => "unknown",
        }
    }

    /// A relocation about a field (offset, size, existence, bitfield shifts).
    pub fn is_field_based(self) -> bool {
        matches!(
            self,
            Self::FieldByteOffset
                | Self::FieldByteSize
                | Self::FieldExists
                | Self::FieldSigned
                | Self::FieldLShiftU64
                | Self::FieldRShiftU64
        )
    }

    /// A relocation about a whole type (id, existence, size, match).
    pub fn is_type_based(self) -> bool {
        matches!(
            self,
            Self::TypeIdLocal
                | Self::TypeIdTarget
                | Self::TypeExists
                | Self::TypeSize
                | Self::TypeMatches
        )
    }

    /// A relocation about an enumerator (existence, value).
    pub fn is_enumval_based(self) -> bool {
        matches!(self, Self::EnumvalExists | Self::EnumvalValue)
    }
}

impl fmt::Display for CoreRelocationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(raw) => write!(f, "unknown({raw})"),
            known => f.write_str(known.name()),
        }
    }
}
