//! Where-clause predicates for the generated impl, inferred the serde way.
//!
//! - `T: DeepCopy` for each type parameter `T` that appears in the type of a
//!   field copied through its `DeepCopy` impl (not `skip`, not `with`), looking
//!   through generic arguments (`Vec<Box<T>>`) but not into `PhantomData<...>`;
//!   `T::Assoc: DeepCopy` for associated types used that way, written either
//!   `T::Assoc` or as a qualified path (`<T as Trait>::Assoc`, bounded as a
//!   whole whenever a parameter appears anywhere in it).
//! - `FieldType: Default` for each skipped field whose type mentions a type
//!   parameter.
//! - Nothing for `with` fields: the functions of the `with` module carry their
//!   own bounds.
//!
//! `#[deep_copy(bound = "...")]` replaces the inferred predicates entirely.
//! Bounds written on the parameters or in the type's where-clause are always
//! kept. No bound is ever put on the type itself (`Tree<T>: DeepCopy`), so
//! recursive types work.

use std::collections::BTreeSet;

use quote::{ToTokens, quote};
use syn::visit::{self, Visit};
use syn::{Generics, Ident, Path, Type, TypePath, WherePredicate, parse_quote};

use crate::ast::Input;

/// The input's generics with the where-clause extended by the inferred (or
/// `bound = "..."`) predicates.
pub(crate) fn with_bounds(input: &Input<'_>, krate: &Path) -> Generics {
    let mut generics = input.generics.clone();
    let predicates: Vec<WherePredicate> = match &input.attrs.bound {
        Some(bound) => bound.iter().cloned().collect(),
        None => infer(input, krate),
    };
    if !predicates.is_empty() {
        generics.make_where_clause().predicates.extend(predicates);
    }
    generics
}

fn infer(input: &Input<'_>, krate: &Path) -> Vec<WherePredicate> {
    let params: BTreeSet<&Ident> = input.generics.type_params().map(|p| &p.ident).collect();
    if params.is_empty() {
        return Vec::new();
    }

    let mut used = Usage::new(&params);
    let mut defaults: Vec<&Type> = Vec::new();
    let mut seen_defaults = BTreeSet::new();
    for field in input.all_fields() {
        if field.uses_trait() {
            used.visit_type(field.ty);
        } else if field.attrs.skip.is_some() {
            let mut usage = Usage::new(&params);
            usage.visit_type(field.ty);
            if usage.mentions_params()
                && seen_defaults.insert(field.ty.to_token_stream().to_string())
            {
                defaults.push(field.ty);
            }
        }
    }

    let mut predicates: Vec<WherePredicate> = input
        .generics
        .type_params()
        .filter(|param| used.params.contains(&param.ident))
        .map(|param| {
            let ident = &param.ident;
            parse_quote!(#ident: #krate::DeepCopy)
        })
        .collect();
    predicates.extend(
        used.associated
            .iter()
            .map(|ty| -> WherePredicate { parse_quote!(#ty: #krate::DeepCopy) }),
    );
    predicates.extend(
        defaults
            .into_iter()
            .map(|ty| -> WherePredicate { parse_quote!(#ty: ::core::default::Default) }),
    );
    predicates
}

/// Finds the type parameters (and their associated types) a type uses.
struct Usage<'p> {
    /// All type parameters of the item.
    all: &'p BTreeSet<&'p Ident>,
    /// Parameters used directly (`T`, `Vec<T>`).
    params: BTreeSet<Ident>,
    /// Associated types of parameters (`T::Assoc`), deduplicated.
    associated: Vec<TypePath>,
    /// The token strings of `associated`, for deduplication.
    associated_seen: BTreeSet<String>,
}

impl<'p> Usage<'p> {
    fn new(all: &'p BTreeSet<&'p Ident>) -> Self {
        Usage {
            all,
            params: BTreeSet::new(),
            associated: Vec::new(),
            associated_seen: BTreeSet::new(),
        }
    }

    fn mentions_params(&self) -> bool {
        !self.params.is_empty() || !self.associated.is_empty()
    }
}

impl Usage<'_> {
    /// Records an associated type (`T::Assoc`, `<I as Iterator>::Item`) to be
    /// bounded as a whole.
    fn associated_type(&mut self, ty: &TypePath) {
        if self.associated_seen.insert(quote!(#ty).to_string()) {
            self.associated.push(ty.clone());
        }
    }
}

impl<'ast> Visit<'ast> for Usage<'_> {
    fn visit_type_path(&mut self, ty: &'ast TypePath) {
        if let Some(last) = ty.path.segments.last() {
            // `PhantomData<T>` owns no `T`: it needs no bound.
            if last.ident == "PhantomData" {
                return;
            }
        }
        // `<I as Iterator>::Item`, like `I::Item`, is some other type than `I`:
        // it is bounded itself (`I` may not be `DeepCopy` at all, and a bound on
        // `I` says nothing about its `Item`). A parameter anywhere in the
        // qualified path (the self type or the trait's arguments) makes it one.
        if ty.qself.is_some() {
            let mut inner = Usage::new(self.all);
            visit::visit_type_path(&mut inner, ty);
            if inner.mentions_params() {
                self.associated_type(ty);
            }
            return;
        }
        if ty.path.leading_colon.is_none()
            && let Some(first) = ty.path.segments.first()
            && self.all.contains(&first.ident)
        {
            if ty.path.segments.len() == 1 {
                self.params.insert(first.ident.clone());
            } else {
                self.associated_type(ty);
            }
        }
        visit::visit_type_path(self, ty);
    }
}

#[cfg(test)]
mod tests {
    use quote::ToTokens;
    use syn::{DeriveInput, parse_quote};

    use crate::ast::Input;
    use crate::ctxt::Errors;

    /// The where-clause of the generated impl, as a token string.
    fn where_clause(input: DeriveInput) -> String {
        let mut errors = Errors::default();
        let ast = Input::from_syn(&input, &mut errors);
        assert!(errors.finish().is_ok());
        let generics = super::with_bounds(&ast, &ast.krate());
        generics
            .where_clause
            .map(|w| w.to_token_stream().to_string())
            .unwrap_or_default()
    }

    #[test]
    fn bounds_params_used_in_copied_fields_only() {
        let input = parse_quote! {
            struct S<'a, A, B, C, D, E, const N: usize> where E: Copy {
                a: Vec<Box<A>>,
                b: std::marker::PhantomData<B>,
                #[deep_copy(with = m)]
                c: C,
                #[deep_copy(skip)]
                d: Option<D>,
                e: [u8; N],
                f: std::borrow::Cow<'a, str>,
            }
        };
        assert_eq!(
            where_clause(input),
            "where E : Copy , A : :: ebpf_spec :: DeepCopy , \
             Option < D > : :: core :: default :: Default"
        );
    }

    #[test]
    fn no_bound_on_recursive_types_or_self() {
        let input = parse_quote! {
            enum Tree<T> { Leaf(T), Node { children: Vec<Tree<T>>, next: Option<Box<Self>> } }
        };
        assert_eq!(where_clause(input), "where T : :: ebpf_spec :: DeepCopy");
    }

    #[test]
    fn associated_types_are_bounded_themselves() {
        let input = parse_quote! {
            struct P<I: Iterator> { item: Option<I::Item>, iter: std::marker::PhantomData<I> }
        };
        assert_eq!(
            where_clause(input),
            "where I :: Item : :: ebpf_spec :: DeepCopy"
        );
    }

    #[test]
    fn qualified_paths_are_bounded_as_a_whole() {
        let input = parse_quote! {
            struct P<I: Iterator, T, U> {
                item: Option<<I as Iterator>::Item>,
                again: Vec<<I as Iterator>::Item>,
                out: <u8 as std::ops::Add<T>>::Output,
                plain: <u8 as std::ops::Add<u8>>::Output,
                u: U,
            }
        };
        assert_eq!(
            where_clause(input),
            "where U : :: ebpf_spec :: DeepCopy , \
             < I as Iterator > :: Item : :: ebpf_spec :: DeepCopy , \
             < u8 as std :: ops :: Add < T > > :: Output : :: ebpf_spec :: DeepCopy"
        );
    }

    #[test]
    fn bound_attribute_replaces_inferred_bounds() {
        let input = parse_quote! {
            #[deep_copy(bound = "T: Clone", crate = "renamed")]
            struct S<T, U> where U: Copy { t: T, u: U }
        };
        assert_eq!(where_clause(input), "where U : Copy , T : Clone");

        let input = parse_quote! {
            #[deep_copy(bound = "")]
            struct S<T> { t: T }
        };
        assert_eq!(where_clause(input), "");
    }

    #[test]
    fn crate_path_is_used_in_bounds() {
        let input = parse_quote! {
            #[deep_copy(crate = "renamed::inner")]
            struct S<T> { t: T }
        };
        assert_eq!(
            where_clause(input),
            "where T : renamed :: inner :: DeepCopy"
        );
    }
}
