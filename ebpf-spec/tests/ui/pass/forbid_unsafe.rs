//! The derive emits an `unsafe` block (its `__bitwise` answer), spanned at
//! the derive: a crate that forbids `unsafe_code` still derives `DeepCopy`.
#![forbid(unsafe_code)]

use ebpf_spec::DeepCopy;

#[derive(DeepCopy, Debug, PartialEq)]
struct Named {
    name: String,
    port: u16,
}

#[derive(DeepCopy, Debug, PartialEq)]
struct Tuple(Vec<u8>, u32);

#[derive(DeepCopy, Debug, PartialEq)]
enum Target {
    Map { map: String },
    Offset(u32),
    Nothing,
}

#[derive(DeepCopy, Clone, Copy, Debug, PartialEq)]
#[deep_copy(plain)]
struct Plain {
    a: u32,
}

#[derive(DeepCopy, Debug, PartialEq)]
enum Never {}

fn main() {
    let v = vec![Named { name: String::new(), port: 1 }];
    assert_eq!(v.deep_copy(), v);
    let t = vec![Tuple(Vec::new(), 2)];
    assert_eq!(t.deep_copy(), t);
    let e = vec![Target::Map { map: "m".into() }, Target::Offset(3), Target::Nothing];
    assert_eq!(e.deep_copy(), e);
    let p = vec![Plain { a: 4 }];
    assert_eq!(p.deep_copy(), p);
    let n: Vec<Never> = Vec::new();
    assert!(n.deep_copy().is_empty());
}
