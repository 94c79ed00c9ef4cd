//! Where-clause predicates for the generated impl, inferred the serde way.
//!
//! - `T: DeepCopy` for each type parameter `T` that appears in the type of a
//!   field copied through its `DeepCopy` impl (not `skip`, not `with`), looking
//!   through generic arguments (`Vec<Box<T>>`) but not into `PhantomData<...>`;
//!   `T::Assoc: DeepCopy` for associated types used that way, written either
//!   `T::Assoc` or as a qualified path (`<T as Trait>::Assoc`, bounded as a
//!   whole whenever a parameter appears anywhere in it).
//! - For a parameter declared `T: ?Sized` held directly by one of std's owning
//!   pointers (`Box<T>`, `Rc<T>`, `Arc<T>`, `Cow<'a, T>`), no `T: DeepCopy`
//!   (that would require `T: Sized`: `DeepCopy: Sized`) but the pointer
//!   bounded as a whole: `Box<T>: DeepCopy`, `Cow<'a, B>: DeepCopy`. The
//!   pointer's own impl then says what it needs of the pointee (`Box<str>`,
//!   `Arc<[T]>` and `Cow<'_, B: DeepToOwned>` all have impls), so `Holder<str>`
//!   works. Anywhere else (`Vec<Edge<T>>`) the parameter gets `T: DeepCopy` as
//!   any other: bounding a user's type as a whole would make mutually
//!   recursive types require each other.
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
use syn::{
    GenericArgument, Generics, Ident, Path, PathArguments, Type, TypeParamBound, TypePath,
    WherePredicate, parse_quote,
};

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
    let all: BTreeSet<&Ident> = input.generics.type_params().map(|p| &p.ident).collect();
    if all.is_empty() {
        return Vec::new();
    }
    let params = Params {
        maybe_unsized: maybe_unsized(input.generics),
        own: input.ident,
        all,
    };

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
        used.wholes
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

/// The type parameters of the item.
struct Params<'p> {
    /// All of them.
    all: BTreeSet<&'p Ident>,
    /// Those declared `?Sized` (on the parameter or in the where-clause).
    maybe_unsized: BTreeSet<&'p Ident>,
    /// The item's own name: `List<T>` inside `List<T>` is this impl, and
    /// needs no bound (a `T: ?Sized` would otherwise get `T: DeepCopy`).
    own: &'p Ident,
}

/// The parameters declared `T: ?Sized`, in the parameter list or the
/// where-clause.
fn maybe_unsized(generics: &Generics) -> BTreeSet<&Ident> {
    let is_maybe =
        |bound: &TypeParamBound| matches!(bound, TypeParamBound::Trait(t) if t.maybe.is_some());
    let mut out: BTreeSet<&Ident> = generics
        .type_params()
        .filter(|param| param.bounds.iter().any(is_maybe))
        .map(|param| &param.ident)
        .collect();
    let params: BTreeSet<&Ident> = generics.type_params().map(|p| &p.ident).collect();
    for predicate in generics.where_clause.iter().flat_map(|w| &w.predicates) {
        if let WherePredicate::Type(predicate) = predicate
            && predicate.bounds.iter().any(is_maybe)
            && let Type::Path(path) = &predicate.bounded_ty
            && path.qself.is_none()
            && let Some(ident) = path.path.get_ident()
            && let Some(param) = params.get(ident)
        {
            out.insert(param);
        }
    }
    out
}

/// Finds the type parameters (and their associated types) a type uses.
struct Usage<'p> {
    /// The item's type parameters.
    item: &'p Params<'p>,
    /// Parameters used directly (`T`, `Vec<T>`).
    params: BTreeSet<Ident>,
    /// Associated types of parameters (`T::Assoc`), deduplicated.
    associated: Vec<TypePath>,
    /// The token strings of `associated`, for deduplication.
    associated_seen: BTreeSet<String>,
    /// Types holding a `?Sized` parameter as a generic argument (`Box<T>`,
    /// `Cow<'a, B>`), bounded as a whole, deduplicated.
    wholes: Vec<TypePath>,
    /// The token strings of `wholes`, for deduplication.
    wholes_seen: BTreeSet<String>,
}

impl<'p> Usage<'p> {
    fn new(item: &'p Params<'p>) -> Self {
        Usage {
            item,
            params: BTreeSet::new(),
            associated: Vec::new(),
            associated_seen: BTreeSet::new(),
            wholes: Vec::new(),
            wholes_seen: BTreeSet::new(),
        }
    }

    fn mentions_params(&self) -> bool {
        !self.params.is_empty() || !self.associated.is_empty() || !self.wholes.is_empty()
    }

    /// Whether `ty` is one of std's owning pointers (`Box`, `Rc`, `Arc`)
    /// with a `?Sized` parameter as its own generic argument (`Box<T>`), or a
    /// `Cow` of any parameter (`Cow<'a, B>`): those are bounded as a whole.
    /// (A `Cow` needs `B: DeepToOwned`, which for a sized `B` is
    /// `B: DeepCopy + Clone`: a bound `B: DeepCopy` would not do.) Only these:
    /// bounding a user's type as a whole (`Edge<T>` inside `Node<T>`) makes
    /// mutually recursive types require each other, which rustc cannot
    /// prove, so anything else keeps the plain `T: DeepCopy` (as serde never
    /// bounds a user's type as a whole either).
    fn holds_unsized_param(&self, ty: &TypePath) -> bool {
        let Some(last) = ty.path.segments.last() else {
            return false;
        };
        let cow = last.ident == "Cow";
        if !cow && !["Box", "Rc", "Arc"].iter().any(|p| last.ident == p) {
            return false;
        }
        let PathArguments::AngleBracketed(args) = &last.arguments else {
            return false;
        };
        args.args.iter().any(|arg| {
            matches!(arg, GenericArgument::Type(Type::Path(p))
            if p.qself.is_none()
                && p.path.get_ident().is_some_and(|i| {
                    if cow {
                        self.item.all.contains(i)
                    } else {
                        self.item.maybe_unsized.contains(i)
                    }
                }))
        })
    }
}

impl Usage<'_> {
    /// Whether `path` names the item being derived: its name alone, or after
    /// `self::`. Any longer path (`super::Spec<T>`, `crate::v1::Spec<T>`) may
    /// name another module's type of the same name (a `v2::Spec<T>` wrapping
    /// the `Spec<T>` above it), so it is visited as any other type: its
    /// parameters get their bounds, which the item itself would not need but
    /// which hold for it too.
    fn is_own(&self, path: &Path) -> bool {
        let segments = &path.segments;
        segments.last().is_some_and(|s| s.ident == *self.item.own)
            && (segments.len() == 1 || (segments.len() == 2 && segments[0].ident == "self"))
    }

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
        // The item itself (`Box<List<T>>` in `List<T>`, also as
        // `self::List<T>`): this impl, which needs no bound to copy it.
        if ty.qself.is_none() && self.is_own(&ty.path) {
            return;
        }
        // `<I as Iterator>::Item`, like `I::Item`, is some other type than `I`:
        // it is bounded itself (`I` may not be `DeepCopy` at all, and a bound on
        // `I` says nothing about its `Item`). A parameter anywhere in the
        // qualified path (the self type or the trait's arguments) makes it one.
        if ty.qself.is_some() {
            let mut inner = Usage::new(self.item);
            visit::visit_type_path(&mut inner, ty);
            if inner.mentions_params() {
                self.associated_type(ty);
            }
            return;
        }
        // `Box<T>` for a `T: ?Sized`: a bound `T: DeepCopy` would require
        // `T: Sized` (`DeepCopy: Sized`), ruling out `str` and `[u8]`, and
        // `Cow<'a, B>` needs `B: DeepToOwned`, not `B: DeepCopy`. What the
        // field needs is that the pointer itself is `DeepCopy`, whatever its
        // impl asks of the pointee: bound `Box<T>: DeepCopy`. (Not the item
        // itself: `List<T>` inside `List<T>` is this impl.)
        if self.holds_unsized_param(ty) {
            if self.wholes_seen.insert(quote!(#ty).to_string()) {
                self.wholes.push(ty.clone());
            }
            return;
        }
        if ty.path.leading_colon.is_none()
            && let Some(first) = ty.path.segments.first()
            && self.item.all.contains(&first.ident)
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
    fn unsized_params_bound_the_types_holding_them() {
        let input = parse_quote! {
            struct Holder<'a, T: ?Sized, B, U>
            where
                B: ?Sized + ToOwned,
            {
                boxed: Box<T>,
                shared: Option<std::sync::Arc<T>>,
                again: Box<T>,
                name: std::borrow::Cow<'a, B>,
                u: Vec<U>,
                next: Option<Box<Holder<'a, T, B, U>>>,
                #[deep_copy(skip)]
                cache: Option<Box<T>>,
                _p: std::marker::PhantomData<T>,
            }
        };
        assert_eq!(
            where_clause(input),
            "where B : ? Sized + ToOwned , U : :: ebpf_spec :: DeepCopy , \
             Box < T > : :: ebpf_spec :: DeepCopy , \
             std :: sync :: Arc < T > : :: ebpf_spec :: DeepCopy , \
             std :: borrow :: Cow < 'a , B > : :: ebpf_spec :: DeepCopy , \
             Option < Box < T > > : :: core :: default :: Default"
        );
    }

    #[test]
    fn user_types_holding_an_unsized_param_are_not_bounded_as_a_whole() {
        // Bounding `Edge<T>` would make `Node<T>` and `Edge<T>` require each
        // other; `self::Node<T>` is the item itself.
        let input = parse_quote! {
            struct Node<T: ?Sized> {
                label: Box<T>,
                edges: Vec<Edge<T>>,
                parent: Option<Box<self::Node<T>>>,
            }
        };
        assert_eq!(
            where_clause(input),
            "where T : :: ebpf_spec :: DeepCopy , Box < T > : :: ebpf_spec :: DeepCopy"
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
