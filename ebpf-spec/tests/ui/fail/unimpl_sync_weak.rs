use ebpf_spec::DeepCopy;
use std::sync::Weak;

#[derive(DeepCopy)]
struct Child {
    name: String,
    parent: Weak<Vec<u8>>,
}

fn main() {}
