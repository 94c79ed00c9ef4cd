use ebpf_spec::DeepCopy;

// A reference passed where `T: DeepCopy` is required (not through the derive,
// which rejects reference fields with its own error).
fn keep<T: DeepCopy>(value: T) -> T {
    value.deep_copy()
}

fn main() {
    let byte = 5u8;
    keep(&byte);
}
