use ebpf_spec::DeepCopy;

#[derive(DeepCopy)]
struct Spec {
    #[deep_copy(skipp)]
    cache: Vec<u8>,
}

fn main() {}
