use ebpf_spec::DeepCopy;

#[derive(DeepCopy)]
#[deep_copy(crate = "ebpf_spec", crate = ::ebpf_spec)]
struct Spec {
    name: String,
}

fn main() {}
