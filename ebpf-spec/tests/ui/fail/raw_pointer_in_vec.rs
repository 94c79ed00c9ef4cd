use ebpf_spec::DeepCopy;

// The derive sees the pointer inside the generic arguments.
#[derive(DeepCopy)]
struct Table {
    rows: Vec<*mut u8>,
}

fn main() {}
