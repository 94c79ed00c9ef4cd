use ebpf_spec::DeepCopy;

#[derive(DeepCopy)]
struct Spec {
    #[deep_copy]
    a: u32,
    #[deep_copy = "skip"]
    b: u32,
}

fn main() {}
