//! Code generation for a valid input.
//!
//! Every path in the output is absolute (`::core::...`, `#krate::...`), so the
//! impl compiles under `#![no_implicit_prelude]` and next to user items named
//! like ours. Calls that need a field type to implement `DeepCopy` (or
//! `Default`) are written `<FieldType as DeepCopy>::deep_copy(..)`, so a missing
//! impl is reported once, on the field's type as the user wrote it.
//!
//! The impl is `#[allow(deprecated)]`, as the built-in derives are: copying a
//! deprecated field (or a field of a deprecated type) is not a new use of it;
//! the definition already warns where the user wrote it.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::Path;
use syn::spanned::Spanned;

use crate::ast::{Data, Field, Input, Style, Variant};
use crate::bound;

/// The `impl DeepCopy` for `input`.
pub(crate) fn derive(input: &Input<'_>) -> TokenStream {
    let krate = input.krate();
    let generics = bound::with_bounds(input, &krate);
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let ident = input.ident;
    let name = input.name();

    let (copy_body, walk_body, walks) = match &input.data {
        Data::Struct(style, fields) => struct_bodies(&krate, &name, *style, fields),
        Data::Enum(variants) => enum_bodies(&krate, &name, variants),
        // Rejected by validation; never expanded.
        Data::Union(_) => (quote!(::core::unimplemented!()), TokenStream::new(), false),
    };
    let walker = walker_ident(walks);
    let bitwise_fn = bitwise_fn(input, &krate);
    let (plain_bounds, plain_fns) = plain_parts(input, &krate);
    let predicates = where_clause
        .map(|w| w.predicates.iter().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    let where_clause = if predicates.is_empty() && plain_bounds.is_empty() {
        TokenStream::new()
    } else {
        quote!(where #(#predicates,)* #(#plain_bounds,)*)
    };
    let plain_impl = input.attrs.plain.as_ref().map(|_| {
        quote! {
            #[automatically_derived]
            #[allow(deprecated)]
            impl #impl_generics #krate::deep_copy::PlainCopy for #ident #ty_generics #where_clause {}
        }
    });

    quote! {
        #[automatically_derived]
        #[allow(deprecated)]
        impl #impl_generics #krate::DeepCopy for #ident #ty_generics #where_clause {
            #[inline]
            fn deep_copy(&self) -> Self {
                #copy_body
            }

            fn walk_buffers(&self, #walker: &mut #krate::deep_copy::Walker) {
                #walk_body
            }

            #plain_fns

            #bitwise_fn
        }

        #plain_impl
    }
}

/// `__bitwise`, the answer to "does this value own nothing, so that its bits
/// are its deep copy?" that lets a slice copy an element in place: for a
/// plain type always yes (it is `Copy`); otherwise yes when every field
/// answers yes (an enum: every field of the variant it holds), since the
/// derived `deep_copy` copies field by field with the fields' `deep_copy`.
/// Nothing (the trait's "no") when a field is skipped or copied `with` a
/// module: the copy of such a field is not its bits.
///
/// Everything here is spanned at the call site: the `unsafe` block is the
/// derive's, not the user's code (`#![forbid(unsafe_code)]` does not see
/// it, as with other derives that emit `unsafe`).
fn bitwise_fn(input: &Input<'_>, krate: &Path) -> TokenStream {
    let bitwise = quote!(#krate::deep_copy::Bitwise<Self>);
    if input.attrs.plain.is_some() {
        return quote! {
            #[inline]
            fn __bitwise(&self) -> #bitwise {
                #krate::deep_copy::Bitwise::COPY
            }
        };
    }
    if input
        .all_fields()
        .any(|field| field.attrs.skip.is_some() || field.attrs.with.is_some())
    {
        return TokenStream::new();
    }
    let answer = |ty: &syn::Type, value: TokenStream| quote!(<#ty as #krate::DeepCopy>::__bitwise(#value).holds());
    let yes = match &input.data {
        Data::Struct(_, fields) => {
            let answers = fields.iter().map(|field| {
                let member = &field.member;
                answer(field.ty, quote!(&self.#member))
            });
            quote!(true #(&& #answers)*)
        }
        Data::Enum(variants) if variants.is_empty() => {
            // No value to answer for (and `assume(match *self {})` would
            // be an unreachable call).
            return quote! {
                #[inline]
                fn __bitwise(&self) -> #bitwise {
                    match *self {}
                }
            };
        }
        Data::Enum(variants) => {
            let arms = variants.iter().map(|variant| {
                let (bindings, pattern) = bind_variant(variant);
                let answers = variant
                    .fields
                    .iter()
                    .zip(&bindings)
                    .map(|(field, binding)| answer(field.ty, quote!(#binding)));
                quote!(#pattern => true #(&& #answers)*,)
            });
            quote!(match self { #(#arms)* })
        }
        Data::Union(_) => return TokenStream::new(),
    };
    quote! {
        #[inline]
        fn __bitwise(&self) -> #bitwise {
            // SAFETY: the derived `deep_copy` builds the copy from each
            // field's `deep_copy` and nothing else (no field is skipped or
            // copied `with` a module), so when every field's bits are its
            // deep copy and own nothing, the value's bits are its deep copy
            // and own nothing.
            unsafe { #krate::deep_copy::Bitwise::assume(#yes) }
        }
    }
}

/// For `#[deep_copy(plain)]`: the predicates `Self: Copy` (spanned at
/// `plain`, so a type that is not `Copy` is reported there) and
/// `FieldType: PlainCopy` for every field (spanned at the field's type: a
/// `Copy` field whose `DeepCopy` does more than copy bits would be shared by
/// the bitwise slice copy), and the slice overrides: one `memcpy` to copy,
/// nothing to walk. One value is still copied and walked field by field.
fn plain_parts(input: &Input<'_>, krate: &Path) -> (Vec<TokenStream>, TokenStream) {
    let Some(plain) = &input.attrs.plain else {
        return (Vec::new(), TokenStream::new());
    };
    let mut bounds = vec![quote_spanned!(plain.span()=> Self: ::core::marker::Copy)];
    // A generic type's field types are bounded (the impls exist where the
    // arguments are plain). Without generics, each field type is asserted in
    // the body of `walk_slice` instead, so that an error points at it: there
    // `Self` is in scope (`[u8; Self::N]`), as it is where the field is
    // declared. Lifetime and const parameters make a type generic too: its
    // field types may name them.
    let generic = !input.generics.params.is_empty();
    let assertions: Vec<TokenStream> = input
        .all_fields()
        .map(|field| {
            let ty = field.ty;
            if generic {
                bounds.push(quote_spanned!(ty.span()=> #ty: #krate::deep_copy::PlainCopy));
                TokenStream::new()
            } else {
                quote_spanned!(ty.span()=> __plain::<#ty>();)
            }
        })
        .collect();
    let check = if generic {
        TokenStream::new()
    } else {
        quote! {
            fn __plain<T: ?::core::marker::Sized + #krate::deep_copy::PlainCopy>() {}
            #(#assertions)*
        }
    };
    let fns = quote! {
        #[inline]
        fn deep_copy_slice(src: &[Self]) -> #krate::__private::Vec<Self> {
            <[Self]>::to_vec(src)
        }

        #[inline]
        fn walk_slice(_src: &[Self], _walker: &mut #krate::deep_copy::Walker) {
            #check
        }
    };
    (bounds, fns)
}

/// `__walker` where the walk uses it, `_walker` where there is nothing to walk
/// (so no unused-variable warning).
///
/// Local names of the generated code (this one and the `__self_N` bindings)
/// are `mixed_site`, so they never meet a user's local variable. Items are
/// still visible to them (a unit struct named `__walker` would turn the
/// parameter into a pattern, as with the built-in derives' `__self_0`), hence
/// the unlikely names.
fn walker_ident(used: bool) -> Ident {
    let name = if used { "__walker" } else { "_walker" };
    Ident::new(name, Span::mixed_site())
}

/// `(deep_copy body, walk_buffers body, whether the walk uses the walker)`.
fn struct_bodies(
    krate: &Path,
    name: &str,
    style: Style,
    fields: &[Field<'_>],
) -> (TokenStream, TokenStream, bool) {
    let walker = walker_ident(true);
    let copies = fields.iter().map(|field| {
        let member = &field.member;
        copy_expr(krate, field, &quote!(&self.#member))
    });
    let copy = construct(&quote!(Self), style, fields, copies);

    let walks: Vec<TokenStream> = fields
        .iter()
        .map(|field| {
            let member = &field.member;
            let field_name = field.name();
            let walk = walk_expr(krate, field, &quote!(&self.#member), &walker);
            quote! {
                #walker.push_field(#name, #field_name);
                #walk;
                #walker.pop();
            }
        })
        .collect();
    let used = !walks.is_empty();
    (copy, quote!(#(#walks)*), used)
}

fn enum_bodies(
    krate: &Path,
    name: &str,
    variants: &[Variant<'_>],
) -> (TokenStream, TokenStream, bool) {
    if variants.is_empty() {
        return (quote!(match *self {}), quote!(match *self {}), false);
    }
    let walker = walker_ident(true);
    let mut copy_arms = Vec::new();
    let mut walk_arms = Vec::new();
    let mut used = false;
    for variant in variants {
        let variant_ident = variant.ident;
        let (bindings, pattern) = bind_variant(variant);

        let copies = variant
            .fields
            .iter()
            .zip(&bindings)
            .map(|(field, binding)| copy_expr(krate, field, &quote!(#binding)));
        let copy = construct(
            &quote!(Self::#variant_ident),
            variant.style,
            &variant.fields,
            copies,
        );
        copy_arms.push(quote!(#pattern => #copy,));

        let container = format!("{name}::{}", variant.name());
        let walks: Vec<TokenStream> = variant
            .fields
            .iter()
            .zip(&bindings)
            .map(|(field, binding)| {
                let field_name = field.name();
                let walk = walk_expr(krate, field, &quote!(#binding), &walker);
                quote! {
                    #walker.push_field(#container, #field_name);
                    #walk;
                    #walker.pop();
                }
            })
            .collect();
        if walks.is_empty() {
            walk_arms.push(quote!(Self::#variant_ident { .. } => {}));
        } else {
            used = true;
            let variant_name = variant.name();
            walk_arms.push(quote! {
                #pattern => {
                    #walker.push_variant(#name, #variant_name);
                    #(#walks)*
                    #walker.pop();
                }
            });
        }
    }
    let walk = if used {
        quote!(match self { #(#walk_arms)* })
    } else {
        TokenStream::new()
    };
    (quote!(match self { #(#copy_arms)* }), walk, used)
}

/// The bindings `__self_N` of a variant's fields (`mixed_site`), and the
/// pattern that binds them ([`bind_pattern`]).
fn bind_variant(variant: &Variant<'_>) -> (Vec<Ident>, TokenStream) {
    let bindings: Vec<Ident> = (0..variant.fields.len())
        .map(|i| format_ident!("__self_{}", i, span = Span::mixed_site()))
        .collect();
    let pattern = bind_pattern(variant, &bindings);
    (bindings, pattern)
}

/// `Self::V { a: __self_0, b: _ }`, `Self::V(__self_0, _)` or `Self::V`;
/// skipped fields are not bound.
fn bind_pattern(variant: &Variant<'_>, bindings: &[Ident]) -> TokenStream {
    let ident = variant.ident;
    let parts = variant.fields.iter().zip(bindings).map(|(field, binding)| {
        let member = &field.member;
        let bind = if field.is_walked() {
            quote!(#binding)
        } else {
            quote!(_)
        };
        match variant.style {
            Style::Named => quote!(#member: #bind),
            Style::Tuple | Style::Unit => bind,
        }
    });
    match variant.style {
        Style::Named => quote!(Self::#ident { #(#parts),* }),
        Style::Tuple => quote!(Self::#ident(#(#parts),*)),
        Style::Unit => quote!(Self::#ident),
    }
}

/// The constructor `path { a: .., b: .. }`, `path(.., ..)` or `path`.
fn construct(
    path: &TokenStream,
    style: Style,
    fields: &[Field<'_>],
    values: impl Iterator<Item = TokenStream>,
) -> TokenStream {
    match style {
        Style::Named => {
            let members = fields.iter().map(|field| &field.member);
            quote!(#path { #(#members: #values),* })
        }
        Style::Tuple => quote!(#path(#(#values),*)),
        Style::Unit => quote!(#path),
    }
}

/// The copy of one field, given an expression of type `&FieldType`.
fn copy_expr(krate: &Path, field: &Field<'_>, value: &TokenStream) -> TokenStream {
    let ty = field.ty;
    if field.attrs.skip.is_some() {
        quote_spanned!(ty.span()=> <#ty as ::core::default::Default>::default())
    } else if let Some(with) = &field.attrs.with {
        quote_spanned!(with.span()=> #with::deep_copy(#value))
    } else {
        quote_spanned!(ty.span()=> <#ty as #krate::DeepCopy>::deep_copy(#value))
    }
}

/// The walk of one field, given an expression of type `&FieldType`; for a
/// `with` field, preceded by `Walker::with_field`; for a skipped field, only
/// `Walker::skipped_field` (the field is not walked: its type need not be
/// `DeepCopy`). Statements, used followed by `;`.
fn walk_expr(krate: &Path, field: &Field<'_>, value: &TokenStream, walker: &Ident) -> TokenStream {
    if field.attrs.skip.is_some() {
        // Listed by the proof helper: the copy holds `Default::default()`,
        // which is not walked (sharing through a `Default` is never silent).
        quote!(#krate::deep_copy::Walker::skipped_field(#walker))
    } else if let Some(with) = &field.attrs.with {
        // Listed by the proof helper: the field is checked only as far as
        // `with::walk_buffers` reports (sharing on purpose is never silent).
        let module = quote!(#with).to_string().replace(' ', "");
        let walk = quote_spanned!(with.span()=> #with::walk_buffers(#value, #walker));
        quote! {
            #krate::deep_copy::Walker::with_field(#walker, #module);
            #walk
        }
    } else {
        let ty = field.ty;
        quote_spanned!(ty.span()=> <#ty as #krate::DeepCopy>::walk_buffers(#value, #walker))
    }
}
