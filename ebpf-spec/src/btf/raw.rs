//! BTF's fixed records in a blob's own byte order (zerocopy, no manual
//! offsets): what the reader's fix-ups and [`ksyms_for_kernel`](super::ksyms_for_kernel)
//! write through.

use zerocopy::byteorder::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// `struct btf_header`.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(crate) struct Header<O: zerocopy::ByteOrder> {
    pub magic: U16<O>,
    pub version: u8,
    pub flags: u8,
    pub hdr_len: U32<O>,
    pub type_off: U32<O>,
    pub type_len: U32<O>,
    pub str_off: U32<O>,
    pub str_len: U32<O>,
}

/// `struct btf_type` in the blob's byte order: the header of every record.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(crate) struct RawType<O: zerocopy::ByteOrder> {
    pub name_off: U32<O>,
    pub info: U32<O>,
    pub size_or_type: U32<O>,
}

/// A `BTF_KIND_VAR` record in the blob's byte order: `struct btf_type` then
/// `struct btf_var`.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(crate) struct VarRecord<O: zerocopy::ByteOrder> {
    pub header: RawType<O>,
    /// `struct btf_var`'s `linkage` (0 static, 1 global, 2 extern).
    pub linkage: U32<O>,
}

/// `struct btf_var_secinfo` in the blob's byte order: one entry of a
/// `BTF_KIND_DATASEC`.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(crate) struct VarSecinfo<O: zerocopy::ByteOrder> {
    pub ty: U32<O>,
    pub offset: U32<O>,
    pub size: U32<O>,
}

/// `btf_var`'s linkage values.
pub(crate) const VAR_STATIC: u32 = 0;
pub(crate) const VAR_GLOBAL_ALLOCATED: u32 = 1;
pub(crate) const VAR_GLOBAL_EXTERN: u32 = 2;

/// `struct btf_param` in the blob's byte order: one parameter of a
/// `BTF_KIND_FUNC_PROTO`.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(crate) struct ParamRecord<O: zerocopy::ByteOrder> {
    pub name_off: U32<O>,
    pub ty: U32<O>,
}

/// `BTF_FUNC_GLOBAL`: a FUNC's linkage (in the `vlen` bits of its `info`).
pub(crate) const FUNC_GLOBAL: u32 = 1;
