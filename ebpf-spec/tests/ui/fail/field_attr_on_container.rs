use ebpf_spec::DeepCopy;

#[derive(DeepCopy)]
#[deep_copy(skip)]
enum Kind {
    A,
    B(String),
}

fn main() {}
