use ebpf_spec::DeepCopy;

#[derive(DeepCopy)]
struct Borrowed<'a> {
    name: &'a str,
}

fn main() {}
