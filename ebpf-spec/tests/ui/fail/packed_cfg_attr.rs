use ebpf_spec::DeepCopy;

// `repr(packed)` arriving through `cfg_attr` is rejected the same way: the
// compiler expands `cfg_attr` before the derive sees the item.
#[cfg_attr(all(), repr(packed))]
#[derive(DeepCopy)]
struct Before {
    kind: u8,
    len: u32,
}

#[derive(DeepCopy)]
#[cfg_attr(all(), repr(C, packed(2)))]
struct After {
    kind: u8,
    len: u32,
}

#[derive(DeepCopy)]
#[cfg_attr(all(), cfg_attr(all(), repr(C), repr(packed)))]
struct Nested {
    kind: u8,
    len: u32,
}

fn main() {}
