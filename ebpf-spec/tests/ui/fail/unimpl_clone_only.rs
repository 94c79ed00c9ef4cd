use ebpf_spec::DeepCopy;

// `Clone` does not make a type `DeepCopy`: there is no blanket impl, because
// `Clone` of `Arc`, `Rc` or `Bytes` shares memory.
#[derive(Clone)]
struct Insns(Vec<u64>);

#[derive(DeepCopy)]
struct Program {
    insns: Insns,
}

fn copy<T: DeepCopy>(value: &T) -> T {
    value.deep_copy()
}

fn main() {
    copy(&Insns(vec![1]));
}
