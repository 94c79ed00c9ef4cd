use ebpf_spec::DeepCopy;

#[derive(DeepCopy)]
union Bits {
    word: u32,
    bytes: [u8; 4],
}

fn needs_deep_copy<T: DeepCopy>() {}

fn main() {
    // No cascade: the fallback impl keeps this line quiet.
    needs_deep_copy::<Bits>();
}
