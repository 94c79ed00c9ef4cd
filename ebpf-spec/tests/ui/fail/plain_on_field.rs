use ebpf_spec::DeepCopy;

#[derive(Clone, Copy, DeepCopy)]
struct Record {
    #[deep_copy(plain)]
    id: u32,
}

fn main() {}
