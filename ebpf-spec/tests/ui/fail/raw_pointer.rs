use ebpf_spec::DeepCopy;

#[derive(DeepCopy)]
struct Buffer {
    data: *const u8,
    len: usize,
}

fn main() {}
