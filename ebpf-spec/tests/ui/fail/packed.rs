use ebpf_spec::DeepCopy;

#[derive(DeepCopy)]
#[repr(packed)]
struct Header {
    kind: u8,
    name: String,
}

fn main() {}
