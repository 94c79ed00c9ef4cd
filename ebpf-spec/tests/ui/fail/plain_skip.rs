use ebpf_spec::DeepCopy;

// Slices of a plain type are copied bitwise: a skipped field would not be
// reset there, so `plain` and `skip` are refused together.
#[derive(Clone, Copy, DeepCopy)]
#[deep_copy(plain)]
struct Record {
    id: u32,
    #[deep_copy(skip)]
    hits: u64,
}

fn main() {}
