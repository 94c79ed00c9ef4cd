use ebpf_spec::DeepCopy;

mod codec {
    pub fn deep_copy(v: &u32) -> u32 {
        *v
    }
}

#[derive(DeepCopy)]
struct Spec {
    #[deep_copy(with = codec)]
    id: u32,
}

fn main() {}
