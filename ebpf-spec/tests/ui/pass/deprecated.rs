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

/// `plain` too: its `PlainCopy` impl and field checks use the deprecated
/// type without a warning (here, `deny(warnings)` would make it an error).
#[deprecated = "use `NewId`"]
#[derive(Clone, Copy, DeepCopy)]
#[deep_copy(plain)]
pub struct OldId(pub u32);

#[allow(deprecated)]
#[derive(Clone, Copy, DeepCopy)]
#[deep_copy(plain)]
pub struct Record {
    pub id: OldId,
}

#[allow(deprecated)]
#[derive(Clone, Copy, DeepCopy)]
#[deep_copy(plain)]
pub struct GenericRecord<T> {
    pub id: OldId,
    pub value: T,
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
