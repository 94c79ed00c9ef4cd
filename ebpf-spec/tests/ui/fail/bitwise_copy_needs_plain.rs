//! The safe "yes" of `__bitwise` is for `PlainCopy` types only: a `Copy` type
//! whose `deep_copy` is not `*self` cannot claim its bits are its deep copy.
use ebpf_spec::DeepCopy;
use ebpf_spec::deep_copy::{Bitwise, Walker};

#[derive(Clone, Copy)]
struct StaticBuf(&'static [u8]);

impl DeepCopy for StaticBuf {
    fn deep_copy(&self) -> Self {
        StaticBuf(Box::leak(self.0.to_vec().into_boxed_slice()))
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        walker.buffer(self.0, "StaticBuf");
    }
    fn __bitwise(&self) -> Bitwise<Self> {
        Bitwise::COPY
    }
}

fn main() {}
