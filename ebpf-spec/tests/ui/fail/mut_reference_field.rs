use ebpf_spec::DeepCopy;

#[derive(DeepCopy)]
struct Cursor<'a>(&'a mut Vec<u8>, usize);

fn main() {}
