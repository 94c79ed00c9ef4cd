//! The cilium/ebpf bug, in Rust: a spec whose `extra` is a reader with a position.
//!
//! cilium/ebpf's `CollectionSpec.Copy` did not copy `MapSpec.Extra` (a
//! `*bytes.Reader`). Copies shared the reader; concurrent map creation from the
//! copies raced on its position: one copy read the trailing bytes, the others
//! hit EOF, and the original came back drained. `deep_copy` makes that
//! impossible; a shallow `Clone` reproduces it, and the proof helper flags it.

use ebpf_spec::DeepCopy;
use ebpf_spec::deep_copy::check_disjoint;
use std::io::{Cursor, Read};
use std::sync::{Arc, Barrier, Mutex};

/// A spec-like struct in the shape of the Go one: `extra` is a stateful reader.
#[derive(DeepCopy, Clone)]
struct LegacyMapSpec {
    name: String,
    extra: Arc<Mutex<Cursor<Vec<u8>>>>,
}

const EXTRA: &[u8] = b"\x01\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00";
const COPIES: usize = 8;
/// Where the original's cursor starts: not at zero, so a copy that restarted
/// from the beginning (or an original rewound) would show.
const START: u64 = 4;

fn spec() -> LegacyMapSpec {
    let mut extra = Cursor::new(EXTRA.to_vec());
    extra.set_position(START);
    LegacyMapSpec {
        name: "tc_map".into(),
        extra: Arc::new(Mutex::new(extra)),
    }
}

/// The bytes a reader at `START` has left.
fn remaining() -> &'static [u8] {
    &EXTRA[START as usize..]
}

/// What map creation does with `extra`: read it to the end. Returns the bytes
/// each copy read, with all copies reading at once.
fn read_concurrently(copies: Vec<LegacyMapSpec>) -> Vec<Vec<u8>> {
    let barrier = Arc::new(Barrier::new(copies.len()));
    let handles: Vec<_> = copies
        .into_iter()
        .map(|copy| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let mut out = Vec::new();
                copy.extra.lock().unwrap().read_to_end(&mut out).unwrap();
                out
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn position(spec: &LegacyMapSpec) -> u64 {
    spec.extra.lock().unwrap().position()
}

#[test]
fn deep_copies_each_read_all_their_bytes() {
    let original = spec();
    let copies: Vec<_> = (0..COPIES).map(|_| original.deep_copy()).collect();
    for copy in &copies {
        let report = check_disjoint(&original, copy);
        assert!(report.is_ok(), "{report}");
        assert_eq!(copy.name, original.name);
        assert_eq!(position(copy), START, "a copy lost the read position");
    }
    let reads = read_concurrently(copies);
    assert_eq!(reads.len(), COPIES);
    for read in &reads {
        assert_eq!(read.as_slice(), remaining(), "a deep copy read short");
    }
    assert_eq!(position(&original), START, "the original's position moved");
    let mut rest = Vec::new();
    original
        .extra
        .lock()
        .unwrap()
        .read_to_end(&mut rest)
        .unwrap();
    assert_eq!(rest, remaining(), "the original was drained");
}

#[test]
fn shallow_clones_share_the_cursor_and_read_short() {
    let original = spec();
    let clones: Vec<_> = (0..COPIES).map(|_| original.clone()).collect();
    // The helper names the shared buffers.
    let report = check_disjoint(&original, &clones[0]);
    assert!(!report.is_ok());
    let msg = report.to_string();
    assert!(msg.contains("LegacyMapSpec.extra"), "{msg}");
    assert!(msg.contains("field `extra` of `LegacyMapSpec`"), "{msg}");

    let reads = read_concurrently(clones);
    // One position for everyone: the remaining bytes are read exactly once in
    // total, whatever the interleaving, so at most one clone saw them all.
    let left = remaining().len();
    let total: usize = reads.iter().map(Vec::len).sum();
    assert_eq!(total, left);
    let full = reads.iter().filter(|r| r.len() == left).count();
    assert!(full <= 1);
    assert!(reads.iter().filter(|r| r.len() < left).count() >= COPIES - 1);
    assert_eq!(
        position(&original),
        EXTRA.len() as u64,
        "the original came back drained"
    );
}
