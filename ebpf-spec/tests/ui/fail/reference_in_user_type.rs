//! A reference as the type argument of a user's type that owns it: the
//! derive does not look into the type (it may be a tag), the trait bound
//! refuses it, with the same advice.
use ebpf_spec::DeepCopy;

#[derive(DeepCopy)]
struct Wrapper<T>(T);

#[derive(DeepCopy)]
struct Holder {
    name: Wrapper<&'static str>,
}

fn main() {}
