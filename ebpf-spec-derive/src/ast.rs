//! A typed view of the derive input, with attributes already parsed.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::{DeriveInput, Fields, Generics, Ident, Index, Member, Path, Type};

use crate::attr;
use crate::ctxt::Errors;

/// The item `#[derive(DeepCopy)]` is applied to.
pub(crate) struct Input<'a> {
    /// The type's name.
    pub(crate) ident: &'a Ident,
    /// The type's generics, as written.
    pub(crate) generics: &'a Generics,
    /// Container attributes.
    pub(crate) attrs: attr::Container,
    /// Fields or variants.
    pub(crate) data: Data<'a>,
}

/// The shape of the item.
pub(crate) enum Data<'a> {
    /// A struct of any style.
    Struct(Style, Vec<Field<'a>>),
    /// An enum (possibly without variants).
    Enum(Vec<Variant<'a>>),
    /// A union: always rejected; the span is the `union` keyword.
    Union(Span),
}

/// How the fields of a struct or variant are written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// `{ a: A }`
    Named,
    /// `(A)`
    Tuple,
    /// no fields
    Unit,
}

/// One variant of an enum.
pub(crate) struct Variant<'a> {
    /// The variant's name.
    pub(crate) ident: &'a Ident,
    /// How its fields are written.
    pub(crate) style: Style,
    /// Its fields.
    pub(crate) fields: Vec<Field<'a>>,
}

/// One field of a struct or variant.
pub(crate) struct Field<'a> {
    /// `self.<member>`: the name, or the index for tuple fields.
    pub(crate) member: Member,
    /// The field's type.
    pub(crate) ty: &'a Type,
    /// Field attributes.
    pub(crate) attrs: attr::Field,
}

impl<'a> Input<'a> {
    /// Builds the typed view, recording attribute errors in `errors`.
    pub(crate) fn from_syn(input: &'a DeriveInput, errors: &mut Errors) -> Self {
        let keyword = match &input.data {
            syn::Data::Struct(_) => "struct",
            syn::Data::Enum(_) => "enum",
            syn::Data::Union(_) => "union",
        };
        let attrs = attr::container(&input.attrs, keyword, errors);
        let data = match &input.data {
            syn::Data::Struct(data) => {
                let (style, fields) = fields_from_syn(&data.fields, errors);
                Data::Struct(style, fields)
            }
            syn::Data::Enum(data) => Data::Enum(
                data.variants
                    .iter()
                    .map(|variant| {
                        attr::variant(&variant.attrs, errors);
                        let (style, fields) = fields_from_syn(&variant.fields, errors);
                        Variant {
                            ident: &variant.ident,
                            style,
                            fields,
                        }
                    })
                    .collect(),
            ),
            syn::Data::Union(data) => Data::Union(data.union_token.span),
        };
        Input {
            ident: &input.ident,
            generics: &input.generics,
            attrs,
            data,
        }
    }

    /// Every field of the struct, or of every variant of the enum.
    pub(crate) fn all_fields(&self) -> impl Iterator<Item = &Field<'a>> {
        let (struct_fields, variants): (&[Field<'a>], &[Variant<'a>]) = match &self.data {
            Data::Struct(_, fields) => (fields, &[]),
            Data::Enum(variants) => (&[], variants),
            Data::Union(_) => (&[], &[]),
        };
        struct_fields
            .iter()
            .chain(variants.iter().flat_map(|variant| variant.fields.iter()))
    }

    /// The path of the `ebpf_spec` crate: `#[deep_copy(crate = ...)]` or
    /// `::ebpf_spec`.
    pub(crate) fn krate(&self) -> Path {
        krate_or_default(self.attrs.krate.as_ref())
    }

    /// The type's name as the walk reports it (without `r#`).
    pub(crate) fn name(&self) -> String {
        self.ident.unraw().to_string()
    }
}

impl Variant<'_> {
    /// The variant's name as the walk reports it (without `r#`).
    pub(crate) fn name(&self) -> String {
        self.ident.unraw().to_string()
    }
}

impl Field<'_> {
    /// The field's name (or tuple index) as the walk reports it.
    pub(crate) fn name(&self) -> String {
        match &self.member {
            Member::Named(ident) => ident.unraw().to_string(),
            Member::Unnamed(index) => index.index.to_string(),
        }
    }

    /// Whether the field is copied and walked through its type's `DeepCopy` impl
    /// (neither `skip` nor `with`).
    pub(crate) fn uses_trait(&self) -> bool {
        self.attrs.skip.is_none() && self.attrs.with.is_none()
    }

    /// Whether the walk visits this field at all.
    pub(crate) fn is_walked(&self) -> bool {
        self.attrs.skip.is_none()
    }
}

/// `path`, or `::ebpf_spec` when none was given.
pub(crate) fn krate_or_default(path: Option<&Path>) -> Path {
    match path {
        Some(path) => path.clone(),
        None => syn::parse_quote!(::ebpf_spec),
    }
}

fn fields_from_syn<'a>(fields: &'a Fields, errors: &mut Errors) -> (Style, Vec<Field<'a>>) {
    let style = match fields {
        Fields::Named(_) => Style::Named,
        Fields::Unnamed(_) => Style::Tuple,
        Fields::Unit => Style::Unit,
    };
    let fields = fields
        .iter()
        .enumerate()
        .map(|(i, field)| Field {
            member: match &field.ident {
                Some(ident) => Member::Named(ident.clone()),
                None => Member::Unnamed(Index {
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    span: Span::call_site(),
                }),
            },
            ty: &field.ty,
            attrs: attr::field(&field.attrs, errors),
        })
        .collect();
    (style, fields)
}
