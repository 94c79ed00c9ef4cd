use ebpf_spec::DeepCopy;

// `T: DeepCopy` is inferred; using the type with a `T` that has no impl fails
// where it is used.
#[derive(DeepCopy)]
struct Slot<T> {
    value: T,
}

fn needs_deep_copy<T: DeepCopy>(_: &T) {}

fn main() {
    let slot = Slot {
        value: std::rc::Rc::downgrade(&std::rc::Rc::new(1u8)),
    };
    needs_deep_copy(&slot);
}
