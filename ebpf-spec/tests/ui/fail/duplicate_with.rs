use ebpf_spec::DeepCopy;

mod codec {
    use ebpf_spec::deep_copy::Walker;
    pub fn deep_copy(v: &u32) -> u32 {
        *v
    }
    pub fn walk_buffers(_: &u32, _: &mut Walker) {}
}

#[derive(DeepCopy)]
struct Spec {
    #[deep_copy(with = codec)]
    #[deep_copy(with = "codec")]
    id: u32,
}

fn main() {}
