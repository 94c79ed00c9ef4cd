use ebpf_spec::DeepCopy;

// A `File` owns a descriptor: a copy would share the open file description.
#[derive(DeepCopy)]
struct Pinned {
    path: std::path::PathBuf,
    file: std::fs::File,
}

fn main() {}
