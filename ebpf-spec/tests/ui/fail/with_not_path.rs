use ebpf_spec::DeepCopy;

#[derive(DeepCopy)]
struct Spec {
    #[deep_copy(with = 5)]
    id: u32,
}

fn main() {}
