use ebpf_spec::DeepCopy;

// `plain` promises a bitwise slice copy: a type that is not `Copy` (it owns
// a heap buffer) is refused at the attribute.
#[derive(Clone, DeepCopy)]
#[deep_copy(plain)]
struct Record {
    id: u32,
    name: String,
}

fn main() {}
