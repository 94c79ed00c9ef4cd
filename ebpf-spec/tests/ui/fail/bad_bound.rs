use ebpf_spec::DeepCopy;

#[derive(DeepCopy)]
#[deep_copy(bound = "T DeepCopy")]
struct Spec<T> {
    value: T,
}

fn main() {}
