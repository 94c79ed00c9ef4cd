use ebpf_spec::DeepCopy;

#[derive(DeepCopy)]
struct Spec {
    #[deep_copy(with)]
    id: u32,
}

fn main() {}
