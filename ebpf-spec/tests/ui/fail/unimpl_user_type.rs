use ebpf_spec::DeepCopy;

struct Program {
    insns: Vec<u64>,
}

#[derive(DeepCopy)]
struct Collection {
    programs: Vec<Program>,
}

fn main() {}
