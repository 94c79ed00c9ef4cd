//! Every mistake in one struct is reported by one build, each on its own
//! token, and nothing else: the type still gets a (fallback) impl, so the uses
//! in `main` add no "does not implement `DeepCopy`" errors.
use ebpf_spec::DeepCopy;

#[derive(DeepCopy)]
#[deep_copy(crate = "ebpf_spec", bogus)]
#[repr(packed)]
struct Spec<'a, T> {
    #[deep_copy(skipp, with)]
    name: &'a str,
    #[deep_copy(skip, skip)]
    hits: u64,
    items: Vec<*const T>,
    #[deep_copy(with = "not a path")]
    id: u32,
}

fn needs_deep_copy<T: DeepCopy>(_: &T) {}

fn main() {
    let spec = Spec::<u8> {
        name: "x",
        hits: 0,
        items: Vec::new(),
        id: 1,
    };
    let copy = spec.deep_copy();
    needs_deep_copy(&copy);
}
