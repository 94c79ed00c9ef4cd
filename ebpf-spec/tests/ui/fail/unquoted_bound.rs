use ebpf_spec::DeepCopy;

// Unquoted predicates: one error, not a second one for `U: Copy` taken as a key.
#[derive(DeepCopy)]
#[deep_copy(bound = T: Clone, U: Copy)]
struct Spec<T, U> {
    value: T,
    other: U,
}

fn main() {}
