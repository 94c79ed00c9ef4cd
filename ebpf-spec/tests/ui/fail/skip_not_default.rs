use ebpf_spec::DeepCopy;

struct Handle(u32);

#[derive(DeepCopy)]
struct Spec {
    #[deep_copy(skip)]
    handle: Handle,
}

fn main() {}
