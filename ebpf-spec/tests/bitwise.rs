//! The in-place copy of slice elements that own nothing (`DeepCopy::__bitwise`,
//! used by the default `deep_copy_slice`): it is taken only where a value's
//! bits are its deep copy, and the copies it makes are equal, disjoint and
//! dropped exactly once.

use ebpf_spec::deep_copy::{Walker, assert_deep_copy};
use ebpf_spec::{CollectionSpec, DeepCopy, Name, RelocationTarget};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The derive's answer for `value`.
fn bitwise<T: DeepCopy>(value: &T) -> bool {
    value.__bitwise().holds()
}

#[derive(DeepCopy, Debug, PartialEq)]
struct Item {
    name: String,
    values: Vec<u32>,
    port: u16,
}

#[derive(DeepCopy, Debug, PartialEq)]
enum Target {
    Map { map: String },
    Offset(u32),
    Nothing,
}

#[derive(DeepCopy, Clone, Copy, Debug, PartialEq)]
#[deep_copy(plain)]
struct Plain {
    a: u32,
    b: u8,
}

#[test]
fn answers_follow_what_each_value_owns() {
    let empty = Item {
        name: String::new(),
        values: Vec::new(),
        port: 1,
    };
    assert!(bitwise(&empty));
    let named = Item {
        name: "x".into(),
        values: Vec::new(),
        port: 1,
    };
    assert!(!bitwise(&named));
    // No element, but an allocation: copying its bits would free it twice.
    let reserved = Item {
        name: String::new(),
        values: Vec::with_capacity(8),
        port: 1,
    };
    assert!(!bitwise(&reserved));

    assert!(bitwise(&Target::Nothing));
    assert!(bitwise(&Target::Offset(3)));
    assert!(bitwise(&Target::Map { map: String::new() }));
    assert!(!bitwise(&Target::Map { map: "m".into() }));
    assert!(bitwise(&Plain { a: 1, b: 2 }));

    assert!(bitwise(&Name::from("short")));
    assert!(!bitwise(&Name::from(
        "a name longer than twenty-four bytes"
    )));
    assert!(bitwise(&None::<Vec<u8>>));
    assert!(!bitwise(&Some(vec![1u8])));
    assert!(bitwise(&(1u32, Name::from("a"))));
    assert!(!bitwise(&(1u32, String::from("a"))));
    assert!(bitwise(&Box::<[u32]>::from(Vec::new())));
    assert!(!bitwise(&Box::<[u32]>::from(vec![1])));
    assert!(!bitwise(&Box::new(1u32)));
    // A `Vec` of a zero-sized type reports unbounded capacity: never taken.
    assert!(!bitwise(&Vec::<()>::new()));
}

#[test]
fn mixed_slices_copy_equal_and_disjoint() {
    let items: Vec<Item> = (0..40)
        .map(|i| Item {
            name: if i % 3 == 0 {
                format!("item {i}")
            } else {
                String::new()
            },
            values: match i % 4 {
                0 => vec![i; 3],
                1 => Vec::with_capacity(2),
                _ => Vec::new(),
            },
            port: i as u16,
        })
        .collect();
    assert!(items.iter().any(bitwise));
    assert!(items.iter().any(|i| !bitwise(i)));
    let copy = items.deep_copy();
    assert_eq!(copy, items);
    assert_deep_copy(&items, &copy);

    let targets = vec![
        Target::Map { map: "m".into() },
        Target::Offset(7),
        Target::Nothing,
        Target::Map { map: String::new() },
    ];
    let copy = targets.deep_copy();
    assert_eq!(copy, targets);
    assert_deep_copy(&targets, &copy);
}

static DROPS: AtomicUsize = AtomicUsize::new(0);

/// Owns nothing, but counts its drops.
#[derive(DeepCopy, Debug, PartialEq)]
struct Counted {
    id: u32,
}

impl Drop for Counted {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn in_place_copies_are_dropped_once_each() {
    let originals: Vec<Counted> = (0..10).map(|id| Counted { id }).collect();
    assert!(bitwise(&originals[0]));
    let before = DROPS.load(Ordering::SeqCst);
    let copy = originals.deep_copy();
    assert_eq!(copy, originals);
    assert_eq!(
        DROPS.load(Ordering::SeqCst),
        before,
        "copying dropped nothing"
    );
    drop(copy);
    assert_eq!(DROPS.load(Ordering::SeqCst), before + 10);
    drop(originals);
    assert_eq!(DROPS.load(Ordering::SeqCst), before + 20);
}

#[derive(DeepCopy, Debug, PartialEq)]
struct WithSkip {
    id: u32,
    #[deep_copy(skip)]
    cache: u32,
}

static WITH_CALLS: AtomicUsize = AtomicUsize::new(0);

mod counted {
    use super::*;

    pub fn deep_copy(value: &u32) -> u32 {
        WITH_CALLS.fetch_add(1, Ordering::SeqCst);
        *value
    }

    pub fn walk_buffers(_value: &u32, _walker: &mut Walker) {}
}

#[derive(DeepCopy, Debug, PartialEq)]
struct WithFn {
    #[deep_copy(with = counted)]
    id: u32,
}

#[test]
fn skip_and_with_fields_are_never_copied_bitwise() {
    // A skipped field is reset to its default: its bits are not its copy.
    let cached = vec![WithSkip { id: 1, cache: 7 }, WithSkip { id: 2, cache: 9 }];
    assert!(!bitwise(&cached[0]));
    let copy = cached.deep_copy();
    assert_eq!(
        copy.iter().map(|w| (w.id, w.cache)).collect::<Vec<_>>(),
        [(1, 0), (2, 0)]
    );

    // A `with` function runs for every element.
    let with = vec![WithFn { id: 1 }, WithFn { id: 2 }, WithFn { id: 3 }];
    assert!(!bitwise(&with[0]));
    let before = WITH_CALLS.load(Ordering::SeqCst);
    assert_eq!(with.deep_copy(), with);
    assert_eq!(WITH_CALLS.load(Ordering::SeqCst), before + 3);
}

#[test]
fn relocations_to_long_names_get_their_own_allocation() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/globals.bpfel.o"
    ))
    .unwrap();
    let mut spec = CollectionSpec::from_elf(&bytes).unwrap();
    let prog = spec
        .programs
        .values_mut()
        .find(|p| p.relocations.len() >= 2)
        .expect("a program with two relocations");
    // One target on the heap among inline ones.
    match &mut prog.relocations[0].target {
        RelocationTarget::Map { map } | RelocationTarget::Data { map, .. } => {
            *map = Name::from("a map name well past twenty-four bytes")
        }
        RelocationTarget::Call { function } => {
            *function = Name::from("a function name well past twenty-four bytes")
        }
        RelocationTarget::Extern { name, .. } => {
            *name = Name::from("an extern name well past twenty-four bytes")
        }
    }
    assert!(!bitwise(&prog.relocations[0]));
    assert!(prog.relocations[1..].iter().any(bitwise));
    let copy = spec.copy();
    assert_eq!(copy, spec);
    assert_deep_copy(&spec, &copy);
}
