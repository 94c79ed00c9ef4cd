//! `bytes::Bytes` and `BytesMut` (feature `bytes`): `Clone` shares, `deep_copy` does not.
//!
//! `cargo test --workspace` enables the feature (the examples binary uses it).
#![cfg(feature = "bytes")]

use ebpf_spec::DeepCopy;
use ebpf_spec::deep_copy::{assert_deep_copy, check_deep_copy, check_disjoint};

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

/// A struct holding `Bytes`: `Clone` shares the buffer and is caught at the
/// field; `deep_copy` passes.
#[derive(DeepCopy, Debug, Clone, PartialEq)]
struct WithBytes {
    name: String,
    extra: bytes::Bytes,
}

#[test]
fn helper_catches_a_shallow_clone_of_a_struct_holding_bytes() {
    let spec = WithBytes {
        name: "map".into(),
        extra: bytes::Bytes::from(vec![3u8; 20]),
    };
    let report = check_deep_copy(&spec, &spec.clone());
    assert!(!report.is_ok());
    assert_eq!(report.overlaps.len(), 1, "{report}");
    assert_eq!(report.overlaps[0].shared_bytes, 20);
    assert!(
        report.to_string().contains("field `extra` of `WithBytes`"),
        "{report}"
    );
    let copy = spec.deep_copy();
    assert_deep_copy(&spec, &copy);
    assert_ne!(copy.extra.as_ptr(), spec.extra.as_ptr());
}

/// What the range rule sees of `Bytes` views, and what it cannot see.
///
/// Overlapping views of one buffer share bytes and are caught, even at an
/// offset (different pointers). Views that do not overlap share the
/// allocation and its reference count but no byte, and `Bytes` does not
/// expose the allocation behind a view: they pass. That is a documented limit
/// of the helper (see `check_deep_copy`), not a property wanted of copies;
/// `deep_copy` itself always allocates anew.
#[test]
fn helper_sees_overlapping_views_but_not_a_shared_allocation() {
    let whole = bytes::Bytes::from(vec![0u8; 64]);
    let original = whole.slice(0..40);
    let copy = whole.slice(32..64); // different pointer, overlapping range
    assert_ne!(original.as_ptr(), copy.as_ptr());
    let report = check_disjoint(&original, &copy);
    assert_eq!(report.overlaps.len(), 1);
    assert_eq!(report.overlaps[0].shared_bytes, 8);

    // The limit: adjacent views of one allocation pass, though they share it.
    assert!(check_disjoint(&whole.slice(0..32), &whole.slice(32..64)).is_ok());
    let mut buf = bytes::BytesMut::from(&[1u8; 16][..]);
    let tail = buf.split_off(8);
    assert!(check_disjoint(&buf, &tail).is_ok());
    // A deep copy of either view is a new allocation all the same.
    let view = whole.slice(0..32);
    assert_ne!(view.deep_copy().as_ptr(), view.as_ptr());
}
