use ebpf_spec::DeepCopy;
use ebpf_spec::deep_copy::Walker;

/// `Copy`, but its `DeepCopy` does more than copy bits: it copies the bytes
/// it points at into a new (leaked) allocation and reports them.
#[derive(Clone, Copy)]
struct Leaky(&'static [u8]);

impl DeepCopy for Leaky {
    fn deep_copy(&self) -> Self {
        Leaky(Vec::leak(self.0.to_vec()))
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        walker.buffer(self.0, "Leaky");
    }
}

// A bitwise slice copy of `Record` would share `Leaky`'s bytes unseen: the
// field type must be `PlainCopy`.
#[derive(Clone, Copy, DeepCopy)]
#[deep_copy(plain)]
struct Record {
    id: u32,
    bytes: Leaky,
}

fn main() {}
