use ebpf_spec::DeepCopy;

#[derive(DeepCopy)]
#[repr(C, packed(2))]
struct Header {
    kind: u8,
    len: u32,
}

fn main() {}
