use ebpf_spec::DeepCopy;

#[derive(DeepCopy)]
struct Spec<T> {
    #[deep_copy(crate = "ebpf_spec")]
    name: String,
    #[deep_copy(bound = "T: Clone")]
    value: T,
}

fn main() {}
