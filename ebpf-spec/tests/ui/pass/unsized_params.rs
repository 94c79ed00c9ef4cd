//! `?Sized` parameters: the types holding them are bounded (`Box<T>: DeepCopy`,
//! `Cow<'a, B>: DeepCopy`), not the parameter (`T: DeepCopy` implies `Sized`),
//! so the derived impl holds for `str` and `[u8]`.
#![deny(warnings)]

use ebpf_spec::DeepCopy;
use std::borrow::Cow;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

#[derive(DeepCopy, Debug, PartialEq)]
struct Holder<T: ?Sized> {
    boxed: Box<T>,
    shared: Arc<T>,
    counted: Option<Rc<T>>,
    _marker: PhantomData<T>,
}

#[derive(DeepCopy)]
struct Named<'a, B: ?Sized + ToOwned> {
    name: Cow<'a, B>,
}

/// `?Sized` in the where-clause; recursive (no bound on `Chain<T>` itself).
#[derive(DeepCopy, Debug, PartialEq)]
enum Chain<T>
where
    T: ?Sized,
{
    End,
    Link(Box<T>, Box<Chain<T>>),
}

/// Mutually recursive with a `?Sized` parameter: `Edge<T>` is not bounded as
/// a whole (that would make `Node<T>` and `Edge<T>` require each other), so
/// `T: DeepCopy` is inferred from it, as before `?Sized` was looked at.
#[derive(DeepCopy, Debug, PartialEq)]
struct Node<T: ?Sized> {
    label: Box<T>,
    edges: Vec<Edge<T>>,
    parent: Option<Box<self::Node<T>>>,
}

#[derive(DeepCopy, Debug, PartialEq)]
struct Edge<T: ?Sized> {
    to: Option<Box<Node<T>>>,
}

fn assert_deep_copy<T: DeepCopy>() {}

fn main() {
    assert_deep_copy::<Holder<str>>();
    assert_deep_copy::<Holder<[u8]>>();
    assert_deep_copy::<Holder<String>>();
    assert_deep_copy::<Named<'static, str>>();
    assert_deep_copy::<Named<'static, [u8]>>();
    assert_deep_copy::<Chain<str>>();

    let h: Holder<str> = Holder {
        boxed: "a".into(),
        shared: Arc::from("b"),
        counted: Some(Rc::from("c")),
        _marker: PhantomData,
    };
    assert_eq!(h.deep_copy(), h);

    let n: Named<'_, [u8]> = Named {
        name: Cow::Borrowed(&[1, 2][..]),
    };
    let copy = n.deep_copy();
    assert!(matches!(copy.name, Cow::Owned(_)));
    assert_eq!(copy.name, n.name);

    let c: Chain<str> = Chain::Link("x".into(), Box::new(Chain::End));
    assert_eq!(c.deep_copy(), c);

    let leaf: Node<u32> = Node {
        label: Box::new(2),
        edges: vec![],
        parent: None,
    };
    let n: Node<u32> = Node {
        label: Box::new(1),
        edges: vec![Edge {
            to: Some(Box::new(leaf)),
        }],
        parent: None,
    };
    assert_eq!(n.deep_copy(), n);
}
