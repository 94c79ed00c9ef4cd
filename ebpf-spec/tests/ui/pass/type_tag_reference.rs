//! A reference used only as a type argument of a user's type (a typed id
//! that copies as a number) is not refused by the derive's syntactic check:
//! the type's own `DeepCopy` impl decides.
#![deny(warnings)]

use ebpf_spec::DeepCopy;
use ebpf_spec::deep_copy::Walker;
use std::marker::PhantomData;

/// An index into a table of `T`s, copied as its number.
#[derive(Debug, PartialEq)]
struct Id<T>(u32, PhantomData<T>);

impl<T> DeepCopy for Id<T> {
    fn deep_copy(&self) -> Self {
        Id(self.0, PhantomData)
    }
    fn walk_buffers(&self, _: &mut Walker) {}
}

#[derive(DeepCopy, Debug, PartialEq)]
struct Edge {
    from: Id<&'static str>,
    to: Vec<Id<&'static str>>,
}

fn main() {
    let e = Edge {
        from: Id(1, PhantomData),
        to: vec![Id(2, PhantomData)],
    };
    assert_eq!(e.deep_copy(), e);
}
