//! `bytes::Bytes` and `BytesMut` (feature `bytes`): `Clone` shares, `deep_copy` does not.
//!
//! `cargo test --workspace` enables the feature (the examples binary uses it).
#![cfg(feature = "bytes")]

use ebpf_spec::DeepCopy;
use ebpf_spec::deep_copy::{check_deep_copy, check_disjoint};

fn roundtrip<T: DeepCopy + PartialEq + std::fmt::Debug>(value: T, min_buffers: usize) -> T {
    let copy = value.deep_copy();
    let report = check_deep_copy(&value, &copy);
    assert!(report.is_ok(), "{report}");
    assert!(report.original_buffers >= min_buffers);
    copy
}

#[test]
fn bytes_deep_copy_never_shares() {
    let b = bytes::Bytes::from(vec![1u8, 2, 3, 4]);
    let copy = roundtrip(b.clone(), 1);
    assert_ne!(copy.as_ptr(), b.as_ptr());
    let bm = bytes::BytesMut::from(&b"abc"[..]);
    roundtrip(bm, 1);
}

#[test]
fn helper_catches_a_sub_slice_of_shared_bytes() {
    let whole = bytes::Bytes::from(vec![0u8; 64]);
    let original = whole.slice(0..40);
    let copy = whole.slice(32..64); // different pointer, overlapping range
    assert_ne!(original.as_ptr(), copy.as_ptr());
    let report = check_disjoint(&original, &copy);
    assert_eq!(report.overlaps.len(), 1);
    assert_eq!(report.overlaps[0].shared_bytes, 8);
    // Adjacent, non-overlapping slices of the same buffer are disjoint.
    assert!(check_disjoint(&whole.slice(0..32), &whole.slice(32..64)).is_ok());
}
