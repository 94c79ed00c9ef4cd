//! `plain`: structs, enums and generic types that are `Copy`; a generic
//! type is `DeepCopy` where its arguments make it `Copy`.
#![deny(warnings)]

use ebpf_spec::DeepCopy;

#[derive(Clone, Copy, PartialEq, Debug, DeepCopy)]
#[deep_copy(plain)]
struct Record {
    offset: u32,
    kind: Kind,
    pair: (u16, i8),
    bytes: [u8; 3],
}

#[derive(Clone, Copy, PartialEq, Debug, DeepCopy)]
#[deep_copy(plain)]
enum Kind {
    A,
    B(u64),
    C { at: usize },
}

#[derive(Clone, Copy, PartialEq, Debug, DeepCopy)]
#[deep_copy(plain, crate = "ebpf_spec")]
struct Pair<T>(T, T);

/// A field type naming `Self` (an associated constant): checked where
/// `Self` is in scope, as the field is declared.
#[derive(Clone, Copy, PartialEq, Debug, DeepCopy)]
#[deep_copy(plain)]
struct WithSelf {
    a: [u8; Self::N],
}

impl WithSelf {
    const N: usize = 4;
}

fn main() {
    assert_eq!(vec![WithSelf { a: [1; 4] }].deep_copy()[0].a, [1; 4]);
    let records = vec![
        Record { offset: 1, kind: Kind::A, pair: (2, -3), bytes: [4, 5, 6] },
        Record { offset: 7, kind: Kind::B(8), pair: (9, 10), bytes: [0; 3] },
        Record { offset: 11, kind: Kind::C { at: 12 }, pair: (0, 0), bytes: [1; 3] },
    ];
    assert_eq!(records.deep_copy(), records);
    let pairs = vec![Pair(1u8, 2), Pair(3, 4)];
    assert_eq!(pairs.deep_copy(), pairs);
}

/// A public plain type over a private one: the `PlainCopy` bound on the
/// private field type raises no lint.
pub mod public {
    #[derive(Clone, Copy, ebpf_spec::DeepCopy)]
    #[deep_copy(plain)]
    struct Private(u8);

    #[derive(Clone, Copy, ebpf_spec::DeepCopy)]
    #[deep_copy(plain)]
    pub struct Public {
        inner: Private,
        pub count: Option<u32>,
        pub marker: std::marker::PhantomData<String>,
    }
}

/// Lifetime and const parameters, which the field types name.
pub mod params {
    #[derive(Clone, Copy, ebpf_spec::DeepCopy)]
    #[deep_copy(plain)]
    pub struct Arr<const N: usize> {
        pub a: [u8; N],
    }

    #[derive(Clone, Copy, ebpf_spec::DeepCopy)]
    #[deep_copy(plain)]
    pub struct Tagged<'a> {
        pub x: u32,
        pub tag: std::marker::PhantomData<&'a ()>,
    }

    pub fn copies() {
        use ebpf_spec::DeepCopy;
        let _ = vec![Arr { a: [1u8; 4] }].deep_copy();
        let _ = vec![Tagged { x: 1, tag: std::marker::PhantomData }].deep_copy();
    }
}
