//! Parsing of `#[deep_copy(...)]` (and the parts of `#[repr(...)]` that matter).
//!
//! Parsing never stops at the first mistake: each bad key is recorded in
//! [`Errors`] and the parser skips to the next `,`, so one build lists every
//! mistake in every attribute.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
use syn::parse::ParseStream;
use syn::punctuated::Punctuated;
use syn::{Attribute, Error, Ident, LitStr, Meta, Path, Token, WherePredicate};

use crate::ctxt::Errors;

/// The keys accepted on a struct or enum, for error messages.
const CONTAINER_KEYS: &str = "`crate`, `bound` or `plain`";
/// The keys accepted on a field, for error messages.
const FIELD_KEYS: &str = "`skip` or `with`";

/// Attributes of the struct or enum the derive is applied to.
#[derive(Default)]
pub(crate) struct Container {
    /// `#[deep_copy(crate = "path")]`: where `DeepCopy` and `Walker` live.
    pub(crate) krate: Option<Path>,
    /// `#[deep_copy(bound = "...")]`: replaces the inferred where-clause predicates.
    pub(crate) bound: Option<Punctuated<WherePredicate, Token![,]>>,
    /// The `packed` / `packed(N)` inside a `#[repr(...)]`, if any.
    pub(crate) packed: Option<TokenStream>,
    /// `#[deep_copy(plain)]`: the keyword, for spans. The type is `Copy` and
    /// owns nothing, so slices of it are copied with one `memcpy`.
    pub(crate) plain: Option<Ident>,
}

/// Attributes of one field.
#[derive(Default)]
pub(crate) struct Field {
    /// `#[deep_copy(skip)]`: the keyword, for spans.
    pub(crate) skip: Option<Ident>,
    /// `#[deep_copy(with = path)]`: the module holding `deep_copy` and `walk_buffers`.
    pub(crate) with: Option<Path>,
}

/// What a `#[deep_copy]` attribute is attached to.
#[derive(Clone, Copy)]
pub(crate) enum Position {
    /// A struct, enum or union; the string is the item keyword.
    Container(&'static str),
    /// A field of a struct or of an enum variant.
    Field,
    /// An enum variant.
    Variant,
}

/// Parses the container attributes (`#[deep_copy]` and `#[repr]`) of an item.
pub(crate) fn container(
    attrs: &[Attribute],
    keyword: &'static str,
    errors: &mut Errors,
) -> Container {
    let mut out = Container::default();
    for attr in attrs {
        if attr.path().is_ident("repr") {
            if out.packed.is_none() {
                out.packed = find_packed(attr);
            }
            continue;
        }
        if !attr.path().is_ident("deep_copy") {
            continue;
        }
        parse_each(attr, errors, |meta| {
            let key = key_name(&meta.path);
            match key.as_str() {
                "crate" => {
                    let path = parse_path_value(meta, "crate", "crate = \"my_crate::ebpf_spec\"")?;
                    expect_end(meta)?;
                    if out.krate.is_some() {
                        return Err(duplicate(meta));
                    }
                    out.krate = Some(path);
                    Ok(())
                }
                "plain" => {
                    if !meta.input.is_empty() && !meta.input.peek(Token![,]) {
                        return Err(
                            meta.error("`plain` takes no value: write `#[deep_copy(plain)]`")
                        );
                    }
                    if out.plain.is_some() {
                        return Err(duplicate(meta));
                    }
                    out.plain = Some(path_ident(&meta.path));
                    Ok(())
                }
                "bound" => {
                    let bound = parse_bound_value(meta)?;
                    expect_end(meta)?;
                    if out.bound.is_some() {
                        return Err(duplicate(meta));
                    }
                    out.bound = Some(bound);
                    Ok(())
                }
                _ => Err(misplaced_or_unknown(
                    meta,
                    &key,
                    Position::Container(keyword),
                )),
            }
        });
    }
    out
}

/// Parses the `#[deep_copy]` attributes of a field.
pub(crate) fn field(attrs: &[Attribute], errors: &mut Errors) -> Field {
    let mut out = Field::default();
    for attr in attrs {
        if !attr.path().is_ident("deep_copy") {
            continue;
        }
        parse_each(attr, errors, |meta| {
            let key = key_name(&meta.path);
            match key.as_str() {
                "skip" => {
                    if !meta.input.is_empty() && !meta.input.peek(Token![,]) {
                        return Err(meta.error("`skip` takes no value: write `#[deep_copy(skip)]`"));
                    }
                    if out.skip.is_some() {
                        return Err(duplicate(meta));
                    }
                    if out.with.is_some() {
                        return Err(skip_with_conflict(meta));
                    }
                    out.skip = Some(path_ident(&meta.path));
                    Ok(())
                }
                "with" => {
                    let path = parse_path_value(meta, "with", "with = my_codec")?;
                    expect_end(meta)?;
                    if out.with.is_some() {
                        return Err(duplicate(meta));
                    }
                    if out.skip.is_some() {
                        return Err(skip_with_conflict(meta));
                    }
                    out.with = Some(path);
                    Ok(())
                }
                _ => Err(misplaced_or_unknown(meta, &key, Position::Field)),
            }
        });
    }
    out
}

/// Rejects every `#[deep_copy]` key on an enum variant (none is supported there).
pub(crate) fn variant(attrs: &[Attribute], errors: &mut Errors) {
    for attr in attrs {
        if attr.path().is_ident("deep_copy") {
            parse_each(attr, errors, |meta| {
                let key = key_name(&meta.path);
                Err(misplaced_or_unknown(meta, &key, Position::Variant))
            });
        }
    }
}

/// Runs `handle` on every `key ...` item of `attr`, recording errors and
/// skipping to the next `,` after a bad item so the following items are still
/// checked.
fn parse_each(
    attr: &Attribute,
    errors: &mut Errors,
    mut handle: impl FnMut(&ParseNestedMeta<'_>) -> syn::Result<()>,
) {
    let result = attr.parse_nested_meta(|meta| {
        if let Err(error) = handle(&meta) {
            errors.push(error);
            skip_to_comma(meta.input)?;
        }
        Ok(())
    });
    errors.record(result);
}

/// Consumes tokens up to (not including) the next top-level `,`.
fn skip_to_comma(input: ParseStream<'_>) -> syn::Result<()> {
    while !input.is_empty() && !input.peek(Token![,]) {
        input.parse::<TokenTree>()?;
    }
    Ok(())
}

/// Fails unless the item's value ended (at a `,` or the closing parenthesis).
fn expect_end(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.is_empty() || meta.input.peek(Token![,]) {
        Ok(())
    } else {
        Err(meta.input.error("expected `,` or `)` after the value"))
    }
}

/// The key as written, e.g. `skip` or `a::b`.
fn key_name(path: &Path) -> String {
    let mut out = String::new();
    if path.leading_colon.is_some() {
        out.push_str("::");
    }
    for (i, segment) in path.segments.iter().enumerate() {
        if i > 0 {
            out.push_str("::");
        }
        out.push_str(&segment.ident.unraw().to_string());
    }
    out
}

/// The first identifier of a key path (keys we accept are single identifiers).
fn path_ident(path: &Path) -> Ident {
    match path.segments.first() {
        Some(segment) => segment.ident.clone(),
        None => Ident::new("deep_copy", Span::call_site()),
    }
}

fn duplicate(meta: &ParseNestedMeta<'_>) -> Error {
    Error::new_spanned(
        &meta.path,
        format!("duplicate deep_copy attribute `{}`", key_name(&meta.path)),
    )
}

fn skip_with_conflict(meta: &ParseNestedMeta<'_>) -> Error {
    Error::new_spanned(
        &meta.path,
        "`skip` and `with` cannot be combined: a skipped field is neither copied nor \
         walked; keep one of them",
    )
}

/// The error for a key that is not valid at `position`: a known key in the
/// wrong place gets a hint where it belongs, anything else is unknown.
fn misplaced_or_unknown(meta: &ParseNestedMeta<'_>, key: &str, position: Position) -> Error {
    let message = match (key, position) {
        ("crate" | "bound" | "plain", Position::Field) => format!(
            "`{key}` is a container attribute: put it on the struct or enum, not on a field"
        ),
        ("crate" | "bound" | "plain", Position::Variant) => {
            format!("`{key}` is a container attribute: put it on the enum, not on a variant")
        }
        ("skip" | "with", Position::Container(keyword)) => {
            format!("`{key}` is a field attribute: put it on a field, not on the {keyword}")
        }
        ("skip" | "with", Position::Variant) => format!(
            "`{key}` is a field attribute: put it on the fields of the variant; \
             enum variants take no deep_copy attributes"
        ),
        (_, Position::Container(_)) => {
            format!("unknown deep_copy attribute `{key}`; expected {CONTAINER_KEYS}")
        }
        (_, Position::Field) => {
            format!("unknown deep_copy attribute `{key}`; expected {FIELD_KEYS}")
        }
        (_, Position::Variant) => format!(
            "unknown deep_copy attribute `{key}`; enum variants take no deep_copy attributes \
             (on fields: {FIELD_KEYS}; on the enum: {CONTAINER_KEYS})"
        ),
    };
    Error::new_spanned(&meta.path, message)
}

/// Parses `= path` or `= "path"` after `key`.
fn parse_path_value(meta: &ParseNestedMeta<'_>, key: &str, example: &str) -> syn::Result<Path> {
    if !meta.input.peek(Token![=]) {
        return Err(meta.error(format!("expected `{key} = path`, e.g. `{example}`")));
    }
    let input = meta.value()?;
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        return lit.parse_with(Path::parse_mod_style).map_err(|_| {
            Error::new(
                lit.span(),
                format!(
                    "`{key}` expects a module path, e.g. `{example}`, but {:?} is not one",
                    lit.value()
                ),
            )
        });
    }
    if input.peek(Token![::]) || input.peek(Ident::peek_any) {
        return input.call(Path::parse_mod_style);
    }
    match input.parse::<TokenTree>() {
        Ok(token) => Err(Error::new_spanned(
            &token,
            format!(
                "expected a path or a string literal holding a path, e.g. `{example}`, \
                 found `{token}`"
            ),
        )),
        Err(_) => Err(meta.error(format!("expected a path after `{key} =`, e.g. `{example}`"))),
    }
}

/// Parses `= "T: Trait, U: Other"` after `bound`.
fn parse_bound_value(
    meta: &ParseNestedMeta<'_>,
) -> syn::Result<Punctuated<WherePredicate, Token![,]>> {
    const EXAMPLE: &str = "bound = \"T: ebpf_spec::DeepCopy\"";
    if !meta.input.peek(Token![=]) {
        return Err(meta.error(format!(
            "expected `bound = \"...\"` holding where-clause predicates, e.g. `{EXAMPLE}`"
        )));
    }
    let input = meta.value()?;
    if !input.peek(LitStr) {
        let token: TokenTree = input.parse()?;
        // Unquoted predicates (`bound = T: Clone, U: Copy`) run on past the
        // next comma: skip the rest of the attribute, or `U: Copy` would be
        // reported again as an unknown key.
        while !input.is_empty() {
            input.parse::<TokenTree>()?;
        }
        return Err(Error::new_spanned(
            &token,
            format!("expected a string literal holding where-clause predicates, e.g. `{EXAMPLE}`"),
        ));
    }
    let lit: LitStr = input.parse()?;
    lit.parse_with(Punctuated::parse_terminated).map_err(|error| {
        Error::new(
            lit.span(),
            format!("invalid `bound` {:?}: {error}; expected where-clause predicates, e.g. `{EXAMPLE}`", lit.value()),
        )
    })
}

/// Finds `packed` or `packed(N)` in a `#[repr(...)]`. Malformed reprs are left
/// to the compiler.
///
/// `#[cfg_attr(pred, repr(packed))]` needs no parsing here: the compiler
/// expands `cfg_attr` on a derive's input before the derive runs, so a true
/// predicate arrives as a plain `#[repr(packed)]` (with the span of the
/// `packed` inside the `cfg_attr`) and a false one leaves nothing. Looking
/// inside a `cfg_attr` ourselves would be wrong: a proc macro cannot evaluate
/// the predicate. (`tests/ui/fail/packed_cfg_attr.rs` holds this.)
fn find_packed(attr: &Attribute) -> Option<TokenStream> {
    let metas = attr
        .parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
        .ok()?;
    metas
        .into_iter()
        .find(|meta| meta.path().is_ident("packed"))
        .map(|meta| meta.into_token_stream())
}
