use ebpf_spec::DeepCopy;

#[derive(DeepCopy)]
#[deep_copy(bound = "T: ebpf_spec::DeepCopy")]
#[deep_copy(bound = "")]
struct Spec<T> {
    value: T,
}

fn main() {}
