use ebpf_spec::DeepCopy;

// Behind an alias the derive cannot see the pointer: the `DeepCopy` bound
// catches it, with the trait's own message.
type RawHandle = *mut std::ffi::c_void;

#[derive(DeepCopy)]
struct Table {
    rows: Vec<RawHandle>,
}

fn main() {}
