use ebpf_spec::DeepCopy;
use std::borrow::Cow;

// A `Cow` of a `Clone` type that is not `DeepCopy`: `Cow::Borrowed` would be
// turned into an owned value by `Clone`, which may share.
#[derive(Clone)]
struct Insns(Vec<u64>);

#[derive(DeepCopy)]
struct Program<'a> {
    insns: Cow<'a, Insns>,
}

fn main() {}
