use ebpf_spec::DeepCopy;

#[derive(DeepCopy)]
struct Spec {
    #[deep_copy(with = "codec::<u32>")]
    id: u32,
}

fn main() {}
