//! The derive used the way zerocopy tests its own: with the runtime crate
//! renamed (`ebpf-spec` is a dev-dependency named `renamed_spec`, so
//! `::ebpf_spec` does not exist here) and without the prelude. Every path the
//! generated code uses must go through `#[deep_copy(crate = "...")]` or be
//! absolute, and the code must be warning-free under clippy.
#![no_implicit_prelude]
#![deny(warnings, clippy::all)]

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
    assert!(none.map(|n| n.deep_copy()).is_none());
}
