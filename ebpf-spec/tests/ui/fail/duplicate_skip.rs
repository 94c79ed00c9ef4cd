use ebpf_spec::DeepCopy;

#[derive(DeepCopy)]
struct Spec {
    #[deep_copy(skip, skip)]
    hits: u64,
}

fn main() {}
