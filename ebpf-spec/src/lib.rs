//! Parse compiled eBPF objects into plain Rust spec values that copy deeply and
//! cheaply, with nothing shared between copies.
//!
//! [`CollectionSpec::from_elf`] reads an object as clang (`-target bpfel` or
//! `bpfeb`) or aya emits it: legacy `maps` definitions of any size (iproute2's
//! included), BTF-defined `.maps` with map-in-map and prog-array initialisers,
//! data sections and their variables, and programs with their relocations.
//! The result is plain data: edit any field, then [`CollectionSpec::copy`] it
//! once per instance. This crate makes no syscalls; `ebpf-loader` creates the
//! kernel objects.
//!
//! ```
//! use ebpf_spec::{CollectionSpec, DeepCopy, MapType};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let bytes = include_bytes!("../tests/fixtures/globals.bpfel.o");
//! let mut spec = CollectionSpec::from_elf(bytes)?;
//!
//! // Configure before loading: a `const volatile` in .rodata, and a map size.
//! spec.set_variable("sample_rate", &42u32.to_le_bytes())?;
//! spec.maps.get_mut("values").unwrap().max_entries = 1;
//! assert_eq!(spec.maps[".rodata"].map_type, MapType::Array);
//!
//! // One copy per tenant: each owns all its bytes.
//! let copies: Vec<CollectionSpec> = (0..8).map(|_| spec.copy()).collect();
//! ebpf_spec::deep_copy::assert_deep_copy(&spec, &copies[0]);
//! # Ok(()) }
//! ```
//!
//! The foundation is [`DeepCopy`]: a trait (and a derive of the same name) whose
//! copies are equal to their original and share no allocation, reference count,
//! lock, cell or cursor with it. The [`deep_copy`] module has the trait, its impls
//! for the standard library's types, and the proof helper
//! [`assert_deep_copy`](deep_copy::assert_deep_copy) that checks a copy at run time.
//!
//! ```
//! use ebpf_spec::DeepCopy;
//! use ebpf_spec::deep_copy::assert_deep_copy;
//! use std::borrow::Cow;
//! use std::sync::Arc;
//!
//! #[derive(DeepCopy, Debug, PartialEq)]
//! struct TenantConfig<'a> {
//!     name: Cow<'a, str>,
//!     // Trailing bytes of a map definition: shared by `Clone`, copied by `deep_copy`.
//!     extra: Arc<[u8]>,
//!     #[deep_copy(skip)] // the copy gets `Default::default()`
//!     cache_hits: u64,
//! }
//!
//! let original = TenantConfig { name: Cow::Borrowed("pod-a"), extra: Arc::from(&b"\x01\x02"[..]), cache_hits: 0 };
//! let copy = original.deep_copy();
//! assert!(matches!(copy.name, Cow::Owned(_)));
//! assert_deep_copy(&original, &copy);
//! ```
//!
//! # Features
//! - `bytes`: `DeepCopy` for `bytes::Bytes` and `bytes::BytesMut` (whose `Clone`
//!   shares the buffer; `deep_copy` does not).
//! - `serde`: `Serialize`/`Deserialize` for the spec types.
//!
//! # Unsafe code
//! The ELF, BTF and `.BTF.ext` readers and the CO-RE engine, which read
//! untrusted bytes, are safe Rust (`unsafe_code` is denied in the crate). The
//! only `unsafe` is in [`deep_copy`]: the slice copy that copies in place an
//! element owning nothing, and the impls that say which values own nothing.

// Allowed only where it is used: `deep_copy` and `Name`'s `DeepCopy`.
#![deny(unsafe_code)]

// The derive names `::ebpf_spec`; make that path work inside this crate too.
extern crate self as ebpf_spec;

/// BTF and `.BTF.ext` parsers, and CO-RE relocation against a target BTF.
pub mod btf;
#[allow(unsafe_code)]
pub mod deep_copy;
mod elf;
mod spec;

pub use deep_copy::DeepCopy;
/// Derives [`DeepCopy`](trait@DeepCopy) field by field.
///
/// Every field type must implement `DeepCopy`; the compiler checks it, so a field
/// added later is never forgotten by the copy. Bounds on type parameters are
/// inferred as serde does (`T: DeepCopy` for parameters used in copied fields,
/// ignoring `PhantomData`; `T::Item: DeepCopy` and `<T as Trait>::Item: DeepCopy`
/// for associated types). A parameter declared `T: ?Sized` that std's owning
/// pointers hold is not bounded itself (`DeepCopy` requires `Sized`): the
/// pointers are (`Box<T>: DeepCopy`, `Arc<T>`, `Rc<T>`, `Cow<'a, T>`), so
/// `Holder<str>` and `Holder<[u8]>` are `DeepCopy`; held by another type
/// (`Vec<Edge<T>>`), it is bounded as any parameter, so mutually recursive
/// types stay derivable. The item itself (`Box<Self>`, `Box<List<T>>` in
/// `List<T>`) needs no bound.
///
/// # Attributes
/// - `#[deep_copy(skip)]` on a field: the copy gets `Default::default()` and the
///   field is not walked. For caches, counters, statistics: state that belongs
///   to one instance, not to the spec.
/// - `#[deep_copy(with = path::to::module)]` on a field: copies with
///   `module::deep_copy(&field)` and walks with `module::walk_buffers(&field, walker)`,
///   for a foreign type that has no `DeepCopy` impl (or a field that must share).
///   The proof helper lists every such field in its report
///   ([`Report::with_fields`](deep_copy::Report::with_fields)).
/// - `#[deep_copy(plain)]` on the container: the type is `Copy` and owns no
///   heap memory (a record of numbers), so a `Vec` or slice of it is copied
///   with one `memcpy`, as `Clone` copies a `Vec` of a `Copy` type, instead
///   of value by value; the type also implements
///   [`PlainCopy`](deep_copy::PlainCopy). Every field type must be
///   `PlainCopy` (a `Copy` type whose own `DeepCopy` does more than copy bits
///   would otherwise be shared by that `memcpy`); a type that is not `Copy`
///   is refused at the attribute, and so is a `skip` or `with` field.
/// - `#[deep_copy(bound = "T: Trait")]` on the container: replaces the inferred bounds.
/// - `#[deep_copy(crate = "path")]` on the container: where to find `ebpf_spec`
///   when it is renamed or re-exported.
///
/// Unions, `#[repr(packed)]` types and fields of reference type are refused with a
/// compile error pointing at the offending item.
///
/// # Elements that own nothing
/// A `Vec` or slice of a derived type copies an element that owns nothing at
/// that moment by copying its bits in place, which is what the field-by-field
/// copy would produce, rather than through `deep_copy` and a temporary. An
/// element owns nothing when each of its fields does: a
/// [`PlainCopy`](deep_copy::PlainCopy) value (numbers, `bool`, `char`, a
/// `#[deep_copy(plain)]` type, ...); a `String`, `Vec` (of a type that is
/// not zero-sized), `Name` or boxed slice without an allocation; an `Option`
/// or `Result`, tuple or array of such values; a derived type that owns
/// nothing. A type with a `skip` or `with` field, and any type holding one,
/// is always copied field by field (its copy is not its bits), and so is a
/// type holding a `Box`, `Arc`, `Rc`, map, set, lock or cell, or a type
/// whose `DeepCopy` you wrote by hand. For this, the generated code holds one `unsafe`
/// block; it is the derive's, so a crate with `#![forbid(unsafe_code)]`
/// still derives `DeepCopy`.
///
/// ```
/// use ebpf_spec::DeepCopy;
///
/// mod via_string {
///     use ebpf_spec::deep_copy::Walker;
///     pub fn deep_copy(v: &std::num::NonZeroU32) -> std::num::NonZeroU32 { *v }
///     pub fn walk_buffers(_: &std::num::NonZeroU32, _: &mut Walker) {}
/// }
///
/// #[derive(DeepCopy, Debug, PartialEq)]
/// enum Value<T> {
///     Bytes(Vec<u8>),
///     Named { name: String, inner: Box<Value<T>> },
///     Custom(T),
///     Empty,
/// }
///
/// #[derive(DeepCopy)]
/// struct Slot {
///     #[deep_copy(with = via_string)]
///     id: std::num::NonZeroU32,
///     value: Value<u64>,
/// }
/// ```
pub use ebpf_spec_derive::DeepCopy;

/// Paths the derive's generated code names, so that it compiles in a
/// `#![no_std]` crate and honours `#[deep_copy(crate = "...")]`. Not API.
#[doc(hidden)]
pub mod __private {
    pub use std::vec::Vec;
}
pub use elf::{MAX_DATA_SECTION, MAX_OBJECT_FILE, ParseError, read_object_file};
pub use spec::*;
