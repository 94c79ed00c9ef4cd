//! The validation pass: shapes and field types `DeepCopy` cannot be derived for.
//!
//! Everything found is recorded; nothing stops at the first mistake.

use syn::{Error, GenericArgument, PathArguments, Type};

use crate::ast::{Data, Input};
use crate::ctxt::Errors;

/// Checks `input`, recording every problem in `errors`.
pub(crate) fn check(input: &Input<'_>, errors: &mut Errors) {
    if let Data::Union(union_token) = &input.data {
        errors.push(Error::new(
            *union_token,
            "DeepCopy cannot be derived for unions: which field is live is not known, so the \
             union can be neither copied nor walked; use an enum",
        ));
    }
    if let Some(packed) = &input.attrs.packed {
        errors.push(Error::new_spanned(
            packed,
            "DeepCopy cannot be derived for `#[repr(packed)]` types: fields of packed structs \
             cannot be borrowed, and deep_copy copies every field through a reference",
        ));
    }
    if let Some(plain) = &input.attrs.plain {
        // Slices of a plain type are copied bitwise, which a skipped field
        // (reset to its default) or a `with` field (copied by a function)
        // would contradict.
        for field in input.all_fields() {
            if let Some(key) = field.attrs.skip.as_ref().map(|_| "skip").or(field
                .attrs
                .with
                .as_ref()
                .map(|_| "with"))
            {
                errors.push(Error::new(
                    plain.span(),
                    format!(
                        "`plain` cannot be combined with a `{key}` field: slices of a plain \
                         type are copied bitwise, which would not {}",
                        if key == "skip" {
                            "reset the skipped field"
                        } else {
                            "call the field's `with` function"
                        }
                    ),
                ));
                break;
            }
        }
    }
    for field in input.all_fields() {
        // `skip` and `with` fields are not copied through `DeepCopy`: the user
        // said how to handle them.
        if field.uses_trait() {
            check_type(field.ty, errors);
        }
    }
}

/// Reports references and raw pointers in `ty`, at top level or inside the
/// generic arguments, tuples, arrays and slices it is built from.
///
/// `PhantomData<...>` is not looked into (it owns nothing); neither are trait
/// objects, `impl Trait`, function pointers, associated types and macros (the
/// trait bound decides those).
///
/// Any other type's arguments are looked into, a user's included: a
/// reference there is refused even when the type only uses it as a tag
/// (`Id<&'static str>` copied as a number). That false positive is kept on
/// purpose: a user's impl that does not require `T: DeepCopy` would let a
/// `Handle<&'a [u8]>` that holds the reference compile and share it, with
/// nothing for the proof helper to see. A tag type can take `Id<str>` or
/// `#[deep_copy(with = ...)]`.
fn check_type(ty: &Type, errors: &mut Errors) {
    match ty {
        Type::Reference(reference) => {
            let kind = if reference.mutability.is_some() {
                "&mut T"
            } else {
                "&T"
            };
            errors.push(Error::new_spanned(
                reference,
                format!(
                    "a field of type `{kind}` cannot be deep-copied: the copy would share the \
                     data it points at; own the data (`Vec<T>`, `String`, `Box<T>`) or use \
                     `Cow<'_, T>`, which deep_copy turns into `Cow::Owned`"
                ),
            ));
        }
        Type::Ptr(pointer) => errors.push(Error::new_spanned(
            pointer,
            "raw pointers cannot be deep-copied: the copy would share the memory they point at; \
             own the data (`Vec<T>`, `Box<T>`) instead",
        )),
        Type::Array(array) => check_type(&array.elem, errors),
        Type::Slice(slice) => check_type(&slice.elem, errors),
        Type::Group(group) => check_type(&group.elem, errors),
        Type::Paren(paren) => check_type(&paren.elem, errors),
        Type::Tuple(tuple) => {
            for elem in &tuple.elems {
                check_type(elem, errors);
            }
        }
        Type::Path(path) => {
            // `<A as Trait>::Out` is some other type: the trait bound decides.
            if path.qself.is_some() {
                return;
            }
            let Some(last) = path.path.segments.last() else {
                return;
            };
            if last.ident == "PhantomData" {
                return;
            }
            for segment in &path.path.segments {
                if let PathArguments::AngleBracketed(args) = &segment.arguments {
                    for arg in &args.args {
                        if let GenericArgument::Type(ty) = arg {
                            check_type(ty, errors);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}
