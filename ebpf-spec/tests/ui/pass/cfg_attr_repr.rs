//! `repr` through `cfg_attr`: a false predicate leaves no `packed` to reject,
//! and other reprs are accepted.
#![deny(warnings)]

use ebpf_spec::DeepCopy;

#[derive(DeepCopy, Debug, PartialEq)]
#[cfg_attr(any(), repr(packed))]
#[cfg_attr(all(), repr(C, align(8)))]
struct Header {
    kind: u8,
    len: u32,
}

fn main() {
    let h = Header { kind: 1, len: 2 };
    assert_eq!(h.deep_copy(), h);
}
