//! The derive used the way zerocopy tests its own: with the runtime crate
//! renamed (`ebpf-spec` is a dev-dependency named `renamed_spec`, so
//! `::ebpf_spec` does not exist here) and without the prelude. Every path the
//! generated code uses must go through `#[deep_copy(crate = "...")]` or be
//! absolute.
//!
//! This is also where clippy sees the generated code (trybuild's `ui/pass`
//! files are compiled by rustc only): every supported shape and attribute is
//! derived here, under `deny(warnings, clippy::all, clippy::pedantic)`, which
//! `cargo clippy --all-targets` checks.
#![no_implicit_prelude]
#![deny(warnings, clippy::all, clippy::pedantic)]

// `no_implicit_prelude` also hides the extern prelude: a crate is reachable
// only as `::renamed_spec`, or by its bare name once declared at the root.
// `unused_extern_crates` (in `rust_2018_idioms`, on for the workspace) still
// calls the declaration unused, a false positive: without it every bare
// `renamed_spec` path below, `crate = "renamed_spec"` included, fails to
// resolve.
#[allow(unused_extern_crates)]
extern crate renamed_spec;

use ::std::borrow::Cow;
use ::std::boxed::Box;
use ::std::cmp::PartialEq;
use ::std::collections::HashMap;
use ::std::convert::From;
use ::std::fmt::Debug;
use ::std::iter::{IntoIterator, Iterator};
use ::std::option::Option::{self, None, Some};
use ::std::string::{String, ToString};
use ::std::sync::Arc;
use ::std::vec::Vec;
use ::std::{assert, assert_eq, vec};
use renamed_spec::DeepCopy as _;
use renamed_spec::deep_copy::{PathSegment, assert_deep_copy, buffers};

mod codec {
    use ::renamed_spec::deep_copy::Walker;
    use ::std::string::String;

    /// Upper-cases on copy, so the test can see this function ran. (The
    /// arguments are `&self.label`, a `&String`: deref coercion lets the
    /// functions take `&str`.)
    pub fn deep_copy(value: &str) -> String {
        value.to_uppercase()
    }

    pub fn walk_buffers(value: &str, walker: &mut Walker) {
        walker.buffer(value.as_bytes(), "codec");
    }
}

#[derive(renamed_spec::DeepCopy, Debug, PartialEq)]
#[deep_copy(crate = "renamed_spec")]
struct Named<'a, T> {
    name: Cow<'a, str>,
    extra: Arc<[u8]>,
    items: Vec<Box<T>>,
    by_name: HashMap<String, Vec<u8>>,
    #[deep_copy(skip)]
    hits: u64,
    #[deep_copy(with = codec)]
    label: String,
}

#[derive(::renamed_spec::DeepCopy, Debug, PartialEq)]
#[deep_copy(crate = ::renamed_spec)]
struct Tuple(String, u8);

#[derive(::renamed_spec::DeepCopy, Debug, PartialEq)]
#[deep_copy(crate = "::renamed_spec")]
struct Unit;

#[derive(::renamed_spec::DeepCopy, Debug, PartialEq)]
#[deep_copy(crate = "renamed_spec", bound = "T: ::renamed_spec::DeepCopy")]
enum Kind<T> {
    Unit,
    Tuple(T, #[deep_copy(skip)] u32),
    Struct {
        name: String,
        next: Option<Box<Kind<T>>>,
    },
}

#[derive(::renamed_spec::DeepCopy, Debug, PartialEq)]
#[deep_copy(crate = "renamed_spec")]
enum Single {
    Only(Vec<u8>),
}

/// Two variants, one with nothing to walk: the walk's `match` has an empty
/// arm, which clippy's `single_match` must not flag.
#[derive(::renamed_spec::DeepCopy, Debug, PartialEq)]
#[deep_copy(crate = "renamed_spec")]
enum Toggle {
    Off,
    On(Vec<u8>),
}

#[derive(::renamed_spec::DeepCopy)]
#[deep_copy(crate = "renamed_spec")]
enum Never {}

fn named() -> Named<'static, String> {
    Named {
        name: Cow::Borrowed("borrowed"),
        extra: Arc::from(&[1u8, 2, 3][..]),
        items: vec![Box::new("item".to_string())],
        by_name: ::std::iter::FromIterator::from_iter([("k".to_string(), vec![1u8, 2])]),
        hits: 42,
        label: "label".to_string(),
    }
}

#[test]
fn named_struct_under_renamed_crate() {
    let original = named();
    let copy = original.deep_copy();
    assert!(::std::matches!(copy.name, Cow::Owned(_)));
    assert_eq!(copy.hits, 0);
    assert_eq!(copy.label, "LABEL");
    assert_eq!(copy.items, original.items);
    assert_eq!(copy.by_name, original.by_name);
    assert!(!Arc::ptr_eq(&copy.extra, &original.extra));

    // Undo what `skip` and `with` changed on purpose: the rest is equal, and
    // shares no byte with the original.
    let mut copy = copy;
    copy.hits = 42;
    copy.label = "label".to_string();
    assert_deep_copy(&original, &copy);
}

#[test]
fn walk_paths_under_renamed_crate() {
    let original = named();
    let paths: Vec<String> = buffers(&original)
        .iter()
        .map(|b| b.display_path("n"))
        .collect();
    assert!(paths.iter().any(|p| p == "n.extra"), "{paths:?}");
    assert!(paths.iter().any(|p| p == "n.items[0]"), "{paths:?}");
    assert!(paths.iter().any(|p| p == "n.label"), "{paths:?}");
    assert!(!paths.iter().any(|p| p.starts_with("n.hits")), "{paths:?}");
    let label = buffers(&original).into_iter().find(|b| b.owner == "codec");
    assert!(label.is_some_and(|b| b.path
        == [PathSegment::Field {
            container: "Named",
            field: "label"
        }]));
}

#[test]
fn other_shapes_under_renamed_crate() {
    assert_eq!(
        Tuple("t".to_string(), 1).deep_copy(),
        Tuple("t".to_string(), 1)
    );
    assert_eq!(Unit.deep_copy(), Unit);

    let kind = Kind::Struct {
        name: "s".to_string(),
        next: Some(Box::new(Kind::Tuple(vec![1u8], 7))),
    };
    let copy = kind.deep_copy();
    let expected = Kind::Struct {
        name: "s".to_string(),
        next: Some(Box::new(Kind::Tuple(vec![1u8], 0))),
    };
    assert_eq!(copy, expected);
    assert_eq!(Kind::<u8>::Unit.deep_copy(), Kind::Unit);
    let paths: Vec<String> = buffers(&kind).iter().map(|b| b.display_path("k")).collect();
    assert!(paths.iter().any(|p| p == "k::Struct.name"), "{paths:?}");
    // (`Option` reports its own `Some` step in between.)
    assert!(
        paths
            .iter()
            .any(|p| p.starts_with("k::Struct.next") && p.ends_with("::Tuple.0")),
        "{paths:?}"
    );

    let single = Single::Only(vec![1, 2]);
    assert_deep_copy(&single, &single.deep_copy());
    for toggle in [Toggle::Off, Toggle::On(vec![1])] {
        assert_deep_copy(&toggle, &toggle.deep_copy());
    }

    let none: Option<&Never> = None;
    assert!(none.map(renamed_spec::DeepCopy::deep_copy).is_none());
}

/// Every shape and attribute the derive supports, for clippy's eyes; the test
/// below only checks that each copies.
mod every_shape {
    use ::std::borrow::Cow;
    use ::std::boxed::Box;
    use ::std::clone::Clone;
    use ::std::cmp::PartialEq;
    use ::std::default::Default;
    use ::std::fmt::Debug;
    use ::std::iter::Iterator;
    use ::std::marker::PhantomData;
    use ::std::option::Option;
    use ::std::rc::Rc;
    use ::std::string::String;
    use ::std::vec::Vec;

    /// `with` functions for a field type without `DeepCopy` (and generic ones).
    pub mod codec {
        use ::renamed_spec::deep_copy::Walker;
        use ::std::clone::Clone;
        use ::std::convert::From;
        use ::std::rc::Rc;

        pub fn deep_copy(value: &Rc<str>) -> Rc<str> {
            Rc::from(&**value)
        }

        pub fn walk_buffers(value: &Rc<str>, walker: &mut Walker) {
            walker.buffer(&**value, "Rc<str>");
        }

        pub mod shared {
            use ::renamed_spec::deep_copy::Walker;
            use ::std::clone::Clone;

            pub fn deep_copy<T: Clone>(value: &T) -> T {
                value.clone()
            }

            pub fn walk_buffers<T>(_: &T, _: &mut Walker) {}
        }

        pub fn unused<T: Clone>(value: &T) -> T {
            value.clone()
        }
    }

    /// Not `DeepCopy`: appears only in `PhantomData` and skipped fields.
    #[derive(Debug, Default, PartialEq, Clone, Copy)]
    pub struct Opaque;

    #[derive(::renamed_spec::DeepCopy, Debug, PartialEq)]
    #[deep_copy(crate = "::renamed_spec")]
    pub struct Named<'a, T: Debug, const N: usize, M>
    where
        T: PartialEq,
    {
        pub name: Cow<'a, str>,
        pub bytes: Cow<'a, [u8]>,
        pub values: [T; N],
        pub nested: Vec<Box<Option<T>>>,
        pub marker: PhantomData<M>,
        pub borrowed_marker: PhantomData<&'a M>,
        #[deep_copy(skip)]
        pub cache: Option<T>,
        #[deep_copy(skip)]
        pub opaque: Opaque,
        #[deep_copy(with = codec)]
        pub label: Rc<str>,
        #[deep_copy(with = "self::codec")]
        pub other: Rc<str>,
        pub r#type: u8,
    }

    #[derive(::renamed_spec::DeepCopy, Debug, PartialEq)]
    #[deep_copy(crate = ::renamed_spec)]
    pub struct Tuple<T>(pub T, #[deep_copy(skip)] pub u8, pub (u8, String));

    #[derive(::renamed_spec::DeepCopy, Debug, PartialEq)]
    #[deep_copy(crate = "::renamed_spec")]
    pub struct EmptyNamed {}

    #[derive(::renamed_spec::DeepCopy, Debug, PartialEq)]
    #[deep_copy(crate = "::renamed_spec")]
    pub struct EmptyTuple();

    #[derive(::renamed_spec::DeepCopy, Debug, PartialEq)]
    #[deep_copy(crate = "::renamed_spec")]
    pub struct OnlySkipped {
        #[deep_copy(skip)]
        pub a: u8,
    }

    /// Unit, tuple and struct variants; several with nothing to walk (the
    /// walk's match arms that do nothing must not trip `match_same_arms`).
    #[derive(::renamed_spec::DeepCopy, Debug, PartialEq)]
    #[deep_copy(crate = "::renamed_spec")]
    pub enum Every<L, R> {
        Unit,
        Other,
        Empty(),
        EmptyNamed {},
        Plain(u8),
        Flag {
            on: bool,
        },
        Left(L),
        Right {
            value: R,
            #[deep_copy(skip)]
            hits: u32,
        },
        Labelled(#[deep_copy(with = codec)] Rc<str>),
        Recursive(Box<Self>),
        List {
            items: Vec<Every<L, R>>,
        },
    }

    /// Only unit variants: nothing to walk at all.
    #[derive(::renamed_spec::DeepCopy, Debug, PartialEq, Clone, Copy)]
    #[deep_copy(crate = "::renamed_spec")]
    pub enum Flags {
        A,
        B,
    }

    #[derive(::renamed_spec::DeepCopy)]
    #[deep_copy(crate = "::renamed_spec")]
    pub enum Empty {}

    /// Associated types get their own bound.
    #[derive(::renamed_spec::DeepCopy)]
    #[deep_copy(crate = "::renamed_spec")]
    pub struct Peeked<I: Iterator> {
        pub item: Option<I::Item>,
        pub iter: PhantomData<I>,
    }

    /// `bound` replaces the inferred bounds; `with` functions carry their own.
    #[derive(::renamed_spec::DeepCopy)]
    #[deep_copy(crate = "::renamed_spec", bound = "")]
    pub struct Unbounded<T> {
        #[deep_copy(with = codec::shared)]
        pub value: Rc<T>,
    }

    #[derive(::renamed_spec::DeepCopy, Debug, PartialEq)]
    #[deep_copy(
        bound = "T: ::renamed_spec::DeepCopy + Clone",
        crate = "::renamed_spec"
    )]
    pub struct Bounded<T> {
        pub value: T,
    }

    /// Deprecated fields and types are copied without warnings.
    #[deprecated = "test"]
    #[derive(::renamed_spec::DeepCopy, Debug, PartialEq)]
    #[deep_copy(crate = "::renamed_spec")]
    pub struct Old {
        #[deprecated = "test"]
        pub field: String,
    }

    #[derive(::renamed_spec::DeepCopy, Debug, PartialEq)]
    #[deep_copy(crate = "::renamed_spec")]
    #[repr(C)]
    pub struct ReprC {
        pub a: u8,
        pub b: u32,
    }
}

#[test]
#[allow(deprecated)]
fn every_shape_copies() {
    use ::renamed_spec::DeepCopy;
    use ::std::borrow::Cow;
    use ::std::boxed::Box;
    use ::std::convert::From;
    use ::std::marker::PhantomData;
    use ::std::rc::Rc;
    use every_shape::{
        Bounded, EmptyNamed, EmptyTuple, Every, Flags, Named, Old, OnlySkipped, Opaque, Peeked,
        ReprC, Tuple, Unbounded,
    };

    let named: Named<'_, u16, 2, Opaque> = Named {
        name: Cow::Borrowed("n"),
        bytes: Cow::Owned(vec![1, 2]),
        values: [1, 2],
        nested: vec![Box::new(Some(3))],
        marker: PhantomData,
        borrowed_marker: PhantomData,
        cache: Some(4),
        opaque: Opaque,
        label: Rc::from("l"),
        other: Rc::from("o"),
        r#type: 5,
    };
    let copy = named.deep_copy();
    assert_eq!(copy.cache, None);
    assert_eq!(copy.values, named.values);
    assert!(!Rc::ptr_eq(&copy.label, &named.label));

    let tuple = Tuple(vec![1u8], 9, (2, "s".to_string()));
    assert_eq!(tuple.deep_copy(), Tuple(vec![1u8], 0, (2, "s".to_string())));
    assert_eq!(EmptyNamed {}.deep_copy(), EmptyNamed {});
    assert_eq!(EmptyTuple().deep_copy(), EmptyTuple());
    assert_eq!(OnlySkipped { a: 1 }.deep_copy(), OnlySkipped { a: 0 });

    let every: Every<String, Vec<u8>> = Every::List {
        items: vec![
            Every::Unit,
            Every::Other,
            Every::Empty(),
            Every::EmptyNamed {},
            Every::Plain(1),
            Every::Flag { on: true },
            Every::Left("l".to_string()),
            Every::Right {
                value: vec![1],
                hits: 0,
            },
            Every::Labelled(Rc::from("x")),
            Every::Recursive(Box::new(Every::Unit)),
        ],
    };
    assert_deep_copy(&every, &every.deep_copy());
    assert_eq!(Flags::A.deep_copy(), Flags::A);
    assert_eq!(Flags::B.deep_copy(), Flags::B);

    let peeked: Peeked<::std::vec::IntoIter<String>> = Peeked {
        item: Some("p".to_string()),
        iter: PhantomData,
    };
    assert_eq!(peeked.deep_copy().item, peeked.item);
    let unbounded = Unbounded {
        value: Rc::new(Opaque),
    };
    assert!(Rc::ptr_eq(&unbounded.deep_copy().value, &unbounded.value));
    assert_eq!(Bounded { value: 3u8 }.deep_copy().value, 3);
    let old = Old {
        field: "f".to_string(),
    };
    assert_eq!(old.deep_copy(), old);
    let repr = ReprC { a: 1, b: 2 };
    assert_eq!(repr.deep_copy(), repr);
    let none: ::std::option::Option<&every_shape::Empty> = ::std::option::Option::None;
    assert!(none.map(DeepCopy::deep_copy).is_none());
    assert_eq!(every_shape::codec::unused(&1u8), 1);
}
