//! Every shape the derive supports: named, tuple and unit structs; enums with
//! unit, tuple and struct variants; a one-variant enum; an empty enum.
#![deny(warnings)]

use ebpf_spec::DeepCopy;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(DeepCopy, Debug, PartialEq)]
struct Named {
    name: String,
    extra: Arc<[u8]>,
    by_name: HashMap<String, Vec<u32>>,
}

#[derive(DeepCopy, Debug, PartialEq)]
struct Tuple(String, u64, Box<[u8]>);

#[derive(DeepCopy, Debug, PartialEq)]
struct Unit;

#[derive(DeepCopy, Debug, PartialEq)]
struct EmptyNamed {}

#[derive(DeepCopy, Debug, PartialEq)]
struct EmptyTuple();

#[derive(DeepCopy, Debug, PartialEq)]
enum Kind {
    Unit,
    Tuple(String, u8),
    Struct { name: String, values: Vec<u16> },
    EmptyTuple(),
    EmptyStruct {},
}

#[derive(DeepCopy, Debug, PartialEq)]
enum OnlyUnits {
    A,
    B,
}

#[derive(DeepCopy, Debug, PartialEq)]
enum One {
    Only(Vec<u8>),
}

#[derive(DeepCopy)]
enum Never {}

#[derive(DeepCopy, Debug, PartialEq)]
#[repr(C)]
struct Aligned {
    a: u32,
    b: [u8; 4],
}

fn round_trip<T: DeepCopy + PartialEq + std::fmt::Debug>(value: T) {
    assert_eq!(value.deep_copy(), value);
}

fn main() {
    round_trip(Named {
        name: "m".into(),
        extra: Arc::from(&[1u8][..]),
        by_name: HashMap::from([("k".to_string(), vec![1, 2])]),
    });
    round_trip(Tuple("t".into(), 7, Box::from(&[9u8][..])));
    round_trip(Unit);
    round_trip(EmptyNamed {});
    round_trip(EmptyTuple());
    round_trip(Kind::Unit);
    round_trip(Kind::Tuple("x".into(), 1));
    round_trip(Kind::Struct {
        name: "s".into(),
        values: vec![3],
    });
    round_trip(Kind::EmptyTuple());
    round_trip(Kind::EmptyStruct {});
    round_trip(OnlyUnits::B);
    round_trip(One::Only(vec![1]));
    round_trip(Aligned { a: 1, b: [2; 4] });
    fn _never(n: &Never) -> Never {
        n.deep_copy()
    }
}
