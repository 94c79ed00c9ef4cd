use ebpf_spec::DeepCopy;

#[derive(DeepCopy)]
struct Cache {
    name: String,
    parent: std::rc::Weak<u8>,
}

fn main() {}
