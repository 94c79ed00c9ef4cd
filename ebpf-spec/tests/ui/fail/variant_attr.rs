use ebpf_spec::DeepCopy;

#[derive(DeepCopy)]
enum Kind {
    #[deep_copy(skip)]
    A(String),
    #[deep_copy(bound = "")]
    B,
}

fn main() {}
