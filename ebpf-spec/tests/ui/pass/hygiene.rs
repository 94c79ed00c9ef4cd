//! Names in user code that match names the generated code uses do not clash:
//! local `core`, `Default`, `DeepCopy`, `Walker` items, fields named like the
//! generated bindings, raw identifiers.
#![deny(warnings)]
#![allow(non_camel_case_types, dead_code)]

mod core {}
mod ebpf_spec_shadow {}

trait DeepCopy {}
trait Default {}
struct Walker;

#[derive(ebpf_spec::DeepCopy, Debug, PartialEq)]
struct Fields {
    r#type: String,
    walker: Vec<u8>,
    __walker: Vec<u8>,
    __self_0: u8,
    #[deep_copy(skip)]
    r#self_: u8,
}

#[derive(ebpf_spec::DeepCopy, Debug, PartialEq)]
enum r#enum {
    r#match { r#type: String, __self_0: u8 },
    r#struct(String, u8),
}

fn main() {
    use ebpf_spec::DeepCopy as _;
    let f = Fields {
        r#type: "t".into(),
        walker: vec![1],
        __walker: vec![2],
        __self_0: 3,
        r#self_: 4,
    };
    let copy = f.deep_copy();
    assert_eq!(copy.r#self_, 0);
    assert_eq!(copy.walker, f.walker);
    let paths: Vec<String> = ebpf_spec::deep_copy::buffers(&f)
        .iter()
        .map(|b| b.display_path("f"))
        .collect();
    assert_eq!(paths, ["f.type", "f.walker", "f.__walker"]);

    let e = r#enum::r#match {
        r#type: "m".into(),
        __self_0: 1,
    };
    assert_eq!(e.deep_copy(), e);
    let paths: Vec<String> = ebpf_spec::deep_copy::buffers(&e)
        .iter()
        .map(|b| b.display_path("e"))
        .collect();
    assert_eq!(paths, ["e::match.type"]);
    let e = r#enum::r#struct("s".into(), 2);
    assert_eq!(e.deep_copy(), e);
}
