//! Lifetimes, const generics, where-clauses, parameter bounds, `Cow`,
//! `PhantomData` of a type without `DeepCopy`, and associated types.
#![deny(warnings)]

use ebpf_spec::DeepCopy;
use std::borrow::Cow;
use std::fmt::Debug;
use std::marker::PhantomData;

/// Not `DeepCopy`: only ever used inside `PhantomData`.
#[derive(Debug, PartialEq)]
struct Marker;

#[derive(DeepCopy, Debug, PartialEq)]
struct Tagged<'a, T: Debug, const N: usize, M>
where
    T: PartialEq,
{
    name: Cow<'a, str>,
    values: [T; N],
    nested: Vec<Box<Option<T>>>,
    marker: PhantomData<M>,
    borrowed_marker: PhantomData<&'a M>,
}

#[derive(DeepCopy, Debug, PartialEq)]
enum Either<L, R> {
    Left(L),
    Right { value: R },
}

/// `T: DeepCopy` is only required for parameters that are copied.
#[derive(DeepCopy)]
struct OnlyPhantom<T> {
    id: u32,
    _marker: PhantomData<T>,
}

/// Associated types get their own bound (`I::Item: DeepCopy`), not `I: DeepCopy`.
#[derive(DeepCopy)]
struct Peeked<I: Iterator> {
    item: Option<I::Item>,
    _iter: PhantomData<I>,
}

/// The same written as a qualified path: `<I as Iterator>::Item: DeepCopy`
/// is inferred, not `I: DeepCopy`.
#[derive(DeepCopy)]
struct QualifiedPeeked<I: Iterator> {
    item: Option<<I as Iterator>::Item>,
    rest: Vec<<I as IntoIterator>::Item>,
    _iter: PhantomData<I>,
}

fn assert_deep_copy<T: DeepCopy>() {}

fn main() {
    let tagged: Tagged<'_, u16, 2, Marker> = Tagged {
        name: Cow::Borrowed("borrowed"),
        values: [1, 2],
        nested: vec![Box::new(Some(3))],
        marker: PhantomData,
        borrowed_marker: PhantomData,
    };
    let copy = tagged.deep_copy();
    assert_eq!(copy, tagged);
    assert!(matches!(copy.name, Cow::Owned(_)));

    let e: Either<String, Vec<u8>> = Either::Right { value: vec![1] };
    assert_eq!(e.deep_copy(), e);

    // `Marker` and `std::rc::Rc<u8>` do not implement `DeepCopy`.
    assert_deep_copy::<OnlyPhantom<Marker>>();
    assert_deep_copy::<OnlyPhantom<std::rc::Rc<u8>>>();
    assert_deep_copy::<Peeked<std::vec::IntoIter<String>>>();
    assert_deep_copy::<QualifiedPeeked<std::vec::IntoIter<String>>>();
    let q: QualifiedPeeked<std::vec::IntoIter<String>> = QualifiedPeeked {
        item: Some("a".into()),
        rest: vec!["b".into()],
        _iter: PhantomData,
    };
    let copy = q.deep_copy();
    assert_eq!((copy.item, copy.rest), (q.item, q.rest));
    let p = OnlyPhantom::<Marker> {
        id: 4,
        _marker: PhantomData,
    };
    assert_eq!(p.deep_copy().id, 4);
}
