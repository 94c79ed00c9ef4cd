use ebpf_spec::DeepCopy;

#[derive(DeepCopy)]
#[deep_copy(rename = "Other")]
struct Spec {
    name: String,
}

fn main() {}
