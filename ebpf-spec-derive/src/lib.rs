//! `#[derive(DeepCopy)]` for the `ebpf-spec` crate.
//!
//! Use it through `ebpf_spec`, which re-exports it next to the trait of the same
//! name (the serde way): `use ebpf_spec::DeepCopy;` brings both. The examples
//! below are not run here (a proc-macro crate cannot use its own derive in a
//! doctest); `ebpf_spec::deep_copy` has the same examples as doctests.
//!
//! # What it generates
//! For a struct or enum, an `impl DeepCopy` whose
//! - `deep_copy` builds a new value from `DeepCopy::deep_copy` of every field,
//!   so every field type must implement `DeepCopy` (a field added later cannot be
//!   forgotten: the build fails until its type implements it);
//! - `walk_buffers` walks every field, telling the walker where it is: each
//!   field is bracketed by `push_field("Type", "field")` / `pop()` (tuple fields
//!   are named `"0"`, `"1"`, ...), each enum variant by
//!   `push_variant("Enum", "Variant")` / `pop()`, and the fields of a variant are
//!   named by `"Enum::Variant"`.
//!
//! ```ignore
//! use ebpf_spec::DeepCopy;
//! use std::sync::Arc;
//!
//! #[derive(DeepCopy, Debug, PartialEq)]
//! struct MapSpec {
//!     name: String,
//!     extra: Arc<[u8]>,
//!     #[deep_copy(skip)]
//!     cache: Option<u64>, // the copy starts with `None`
//!     #[deep_copy(with = keep_reader)]
//!     reader: Reader, // copied by `keep_reader::deep_copy`
//! }
//!
//! #[derive(DeepCopy)]
//! enum Value<T> {
//!     Empty,
//!     One(T),
//!     Many { items: Vec<T> },
//! }
//!
//! mod keep_reader {
//!     use super::Reader;
//!     use ebpf_spec::deep_copy::Walker;
//!
//!     pub fn deep_copy(reader: &Reader) -> Reader { /* ... */ }
//!     pub fn walk_buffers(reader: &Reader, walker: &mut Walker) { /* ... */ }
//! }
//! ```
//!
//! # Field attributes
//! - `#[deep_copy(skip)]`: the copy gets `Default::default()` for this field,
//!   and the walk does not look into it (the field's type need not be
//!   `DeepCopy`). Only for fields that are caches or other state a copy
//!   should not carry. The generated walk calls `Walker::skipped_field()`, so
//!   the proof helper's report lists every skipped field (a `Default` that
//!   hands out shared state is never silent). A skipped field that differs
//!   from its default makes the copy unequal to the original: check such
//!   types with `check_disjoint`, not `check_deep_copy`.
//! - `#[deep_copy(with = path::to::module)]` (or `with = "path::to::module"`):
//!   copy the field with `module::deep_copy(&field)` and walk it with
//!   `module::walk_buffers(&field, walker)` (inside the field's
//!   `push_field`/`pop`). For field types of foreign crates that cannot implement
//!   `DeepCopy`. The signatures are
//!   `fn deep_copy(&FieldType) -> FieldType` and
//!   `fn walk_buffers(&FieldType, &mut ebpf_spec::deep_copy::Walker)`; the
//!   argument coerces as in any call, so a `String` field may use `&str`. The
//!   functions may be generic; their bounds are not inferred (write them on the
//!   type's parameters or in `bound = "..."`). The walk function must report
//!   every heap buffer the field owns, or the proof helper cannot see them.
//!   The generated walk calls `Walker::with_field("module")` first, so the
//!   proof helper's report lists every `with` field by name and module (a
//!   module that shares on purpose is never silent). Fields of reference type
//!   are accepted here: the module decides what the copy holds.
//!
//! # Container attributes
//! - `#[deep_copy(crate = "path")]` (or `crate = path`): the path of the
//!   `ebpf_spec` crate, when it is renamed or re-exported; `::ebpf_spec` by
//!   default.
//! - `#[deep_copy(bound = "T: DeepCopy, U: Other")]`: the where-clause
//!   predicates of the impl, replacing the inferred ones (an empty string means
//!   none). Bounds written on the type's own parameters and where-clause are
//!   always kept.
//! - `#[deep_copy(plain)]`: the type is `Copy` and owns no heap memory, so a
//!   slice of it (a `Vec`'s elements) is copied with one `memcpy`, as `Clone`
//!   does, and not walked; it also implements `PlainCopy`. Every field type
//!   must be `PlainCopy` (numbers, `bool`, `char`, arrays, tuples and
//!   `Option`s of them, other `plain` types), each checked where the field is
//!   declared (bounded in the where-clause of a generic type); refused on a
//!   type that is not `Copy` and with `skip` or `with` fields.
//!
//! # Inferred bounds
//! Like serde: `T: DeepCopy` for each type parameter `T` used in the type of a
//! field that is neither `skip` nor `with` (`Vec<Box<T>>` counts,
//! `PhantomData<T>` does not), and `FieldType: Default` for skipped fields whose
//! type uses a type parameter. Associated types are bounded themselves
//! (`I::Item: DeepCopy`, `<I as Iterator>::Item: DeepCopy`), not `I`. A
//! parameter declared `T: ?Sized` (on the parameter or in the where-clause)
//! held by std's owning pointers is not bounded `T: DeepCopy`, which would
//! imply `T: Sized`: the pointer is bounded as a whole (`Box<T>: DeepCopy`,
//! `Arc<T>`, `Rc<T>`), so the impl holds for `str` and `[u8]` wherever the
//! pointer's own impl does. A `Cow<'a, B>` of any parameter is bounded as a
//! whole too (it needs `B: DeepToOwned`, which for a sized `B` is
//! `DeepCopy + Clone`). Held by one of your own types, a parameter is bounded
//! as any other (`T: DeepCopy`), so mutually recursive types stay derivable.
//! The type itself, named alone or as `self::Name<..>`, needs no bound
//! (`Option<Box<Self>>`, `Vec<Tree<T>>` in `Tree<T>`); a longer path
//! (`super::Name<T>`) may be another type of the same name, and is bounded
//! as one.
//!
//! # Rejected at compile time
//! Unions, `#[repr(packed)]` types (also `packed(N)`, and through a
//! `cfg_attr` whose predicate holds), fields whose type is (or contains, as in
//! `Option<&T>`) a reference or raw pointer, unknown, duplicate, misplaced or
//! malformed `deep_copy` attributes, and `skip` together with `with`. All
//! mistakes are reported in one build, each on the field or attribute at fault;
//! other types (`Weak`, file descriptors, your own types without the derive) fail
//! through the `DeepCopy` bound, whose message says what to do.

mod ast;
mod attr;
mod bound;
mod ctxt;
mod expand;
mod fallback;
mod valid;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives `ebpf_spec::DeepCopy`: a copy that shares no memory with the
/// original, and a walk that reports every heap buffer the value owns.
///
/// See the [crate documentation](crate) for the attributes
/// (`#[deep_copy(skip)]`, `#[deep_copy(with = module)]`,
/// `#[deep_copy(crate = "path")]`, `#[deep_copy(bound = "...")]`,
/// `#[deep_copy(plain)]`) and the inferred bounds.
#[proc_macro_derive(DeepCopy, attributes(deep_copy))]
pub fn derive_deep_copy(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    derive(&input).into()
}

fn derive(input: &DeriveInput) -> proc_macro2::TokenStream {
    let mut errors = ctxt::Errors::default();
    let ast = ast::Input::from_syn(input, &mut errors);
    valid::check(&ast, &mut errors);
    match errors.finish() {
        Ok(()) => expand::derive(&ast),
        Err(error) => {
            let mut tokens = error.into_compile_error();
            tokens.extend(fallback::derive(input, &ast.krate()));
            tokens
        }
    }
}
