//! Deprecated fields, variants and field types: the derived impl uses them
//! without tripping `deny(warnings)` (as the built-in derives do).
#![deny(warnings)]

use ebpf_spec::DeepCopy;

#[deprecated = "use `New`"]
#[derive(DeepCopy, Debug, PartialEq)]
pub struct Old(pub Vec<u8>);

#[derive(DeepCopy)]
pub struct Spec {
    #[deprecated = "use `name`"]
    pub legacy_name: String,
    pub name: String,
    #[allow(deprecated)]
    pub old: Old,
}

#[derive(DeepCopy)]
pub enum Kind {
    #[deprecated = "use `B`"]
    A(String),
    B {
        #[deprecated]
        value: String,
    },
}

fn main() {
    #[allow(deprecated)]
    let spec = Spec {
        legacy_name: "l".into(),
        name: "n".into(),
        old: Old(vec![1]),
    };
    let _ = spec.deep_copy().name;
}
