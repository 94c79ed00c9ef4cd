use ebpf_spec::DeepCopy;

#[derive(DeepCopy)]
struct Loaded {
    name: String,
    fd: std::os::fd::OwnedFd,
}

fn main() {}
