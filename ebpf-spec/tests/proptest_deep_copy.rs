//! Property tests: for generated nested values, `deep_copy` equals the original,
//! the proof helper holds, and mutating a copy never changes the original.

use ebpf_spec::DeepCopy;
use ebpf_spec::deep_copy::{assert_deep_copy, assert_disjoint, buffers};
use proptest::prelude::*;
use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::sync::{Arc, Mutex};

#[derive(DeepCopy, Debug, Clone, PartialEq)]
enum Node {
    Leaf(Vec<u8>),
    Text(Cow<'static, str>),
    Boxed(Box<Node>),
    Shared(Arc<Vec<u8>>),
    SharedBytes(Arc<[u8]>),
    Map(HashMap<String, Node>),
    List(Vec<Node>),
    Record {
        name: String,
        reader: Cursor<Vec<u8>>,
        tag: Option<u32>,
    },
    Unit,
}

/// Holds the interior-mutable fields, which have no `PartialEq` of their own.
#[derive(DeepCopy, Debug)]
struct Holder {
    node: Node,
    lock: Mutex<Vec<u8>>,
    cell: Cell<u32>,
    reader: Arc<Mutex<Cursor<Vec<u8>>>>,
}

fn leaf() -> impl Strategy<Value = Node> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Node::Leaf),
        "[a-z]{0,12}".prop_map(|s| Node::Text(Cow::Owned(s))),
        Just(Node::Text(Cow::Borrowed("static text"))),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|v| Node::Shared(Arc::new(v))),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|v| Node::SharedBytes(v.into())),
        (
            "[a-z]{1,8}",
            prop::collection::vec(any::<u8>(), 0..16),
            0..16u64,
            any::<Option<u32>>()
        )
            .prop_map(|(name, bytes, pos, tag)| {
                let mut reader = Cursor::new(bytes);
                reader.set_position(pos);
                Node::Record { name, reader, tag }
            }),
        Just(Node::Unit),
    ]
}

fn node() -> impl Strategy<Value = Node> {
    leaf().prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            inner.clone().prop_map(|n| Node::Boxed(Box::new(n))),
            prop::collection::hash_map("[a-z]{1,6}", inner.clone(), 0..5).prop_map(Node::Map),
            prop::collection::vec(inner, 0..6).prop_map(Node::List),
        ]
    })
}

fn holder() -> impl Strategy<Value = Holder> {
    (
        node(),
        prop::collection::vec(any::<u8>(), 0..32),
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 1..32),
    )
        .prop_map(|(node, lock, cell, reader)| Holder {
            node,
            lock: Mutex::new(lock),
            cell: Cell::new(cell),
            reader: Arc::new(Mutex::new(Cursor::new(reader))),
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn copies_are_equal_and_disjoint(n in node()) {
        let copy = n.deep_copy();
        prop_assert_eq!(&copy, &n);
        assert_deep_copy(&n, &copy);
        prop_assert_eq!(buffers(&n).len(), buffers(&copy).len());
        // A copy of a copy is just as sound.
        assert_deep_copy(&copy, &copy.deep_copy());
    }

    #[test]
    fn a_shallow_clone_with_a_buffer_is_caught(n in node()) {
        // `Clone` shares the Arcs and borrowed text; the helper must notice exactly then.
        let clone = n.clone();
        let shares = clone_shares(&n);
        prop_assert_eq!(ebpf_spec::deep_copy::check_disjoint(&n, &clone).is_ok(), !shares);
    }

    #[test]
    fn mutating_a_copy_never_changes_the_original(h in holder()) {
        let before_lock = h.lock.lock().unwrap().clone();
        let before_cell = h.cell.get();
        let before_pos = h.reader.lock().unwrap().position();
        let before_node = h.node.clone();

        let mut copy = h.deep_copy();
        assert_disjoint(&h, &copy);
        copy.lock.lock().unwrap().push(0xff);
        copy.cell.set(before_cell.wrapping_add(1));
        let mut sink = Vec::new();
        copy.reader.lock().unwrap().read_to_end(&mut sink).unwrap();
        prop_assert!(!sink.is_empty());
        // Mutate the copy's own tree in place (its Arcs must be its own).
        mutate(&mut copy.node);
        if has_mutable_content(&before_node) {
            prop_assert_ne!(&copy.node, &before_node);
        }

        prop_assert_eq!(&*h.lock.lock().unwrap(), &before_lock);
        prop_assert_eq!(h.cell.get(), before_cell);
        prop_assert_eq!(h.reader.lock().unwrap().position(), before_pos);
        prop_assert_eq!(&h.node, &before_node);
    }
}

/// Whether `Clone` of `n` shares memory: an Arc holding bytes, or borrowed
/// non-empty text.
fn clone_shares(n: &Node) -> bool {
    match n {
        Node::Text(Cow::Borrowed(s)) => !s.is_empty(),
        // An `Arc<Vec<u8>>` holds the Vec's handle even when it is empty; an
        // empty `Arc<[u8]>` holds no byte, and the check ignores it.
        Node::Shared(_) => true,
        Node::SharedBytes(b) => !b.is_empty(),
        Node::Boxed(b) => clone_shares(b),
        Node::Map(m) => m.values().any(clone_shares),
        Node::List(l) => l.iter().any(clone_shares),
        _ => false,
    }
}

/// Whether `mutate` changes `n` (it has a leaf, text, Arc or record somewhere).
fn has_mutable_content(n: &Node) -> bool {
    match n {
        Node::Unit => false,
        Node::Boxed(b) => has_mutable_content(b),
        Node::Map(m) => m.values().any(has_mutable_content),
        Node::List(l) => l.iter().any(has_mutable_content),
        Node::Leaf(v) => !v.is_empty(),
        Node::SharedBytes(b) => !b.is_empty(),
        Node::Text(_) | Node::Shared(_) | Node::Record { .. } => true,
    }
}

/// Changes every mutable byte, position and string of a deep copy in place.
///
/// # Panics
/// If an `Arc` is shared: a deep copy owns every allocation it holds.
fn mutate(n: &mut Node) {
    match n {
        Node::Leaf(v) => v.iter_mut().for_each(|b| *b = !*b),
        Node::Text(t) => t.to_mut().push('!'),
        Node::Boxed(b) => mutate(b),
        Node::Shared(a) => Arc::get_mut(a)
            .expect("a deep copy shares an Arc<Vec<u8>>")
            .push(1),
        Node::SharedBytes(a) => Arc::get_mut(a)
            .expect("a deep copy shares an Arc<[u8]>")
            .iter_mut()
            .for_each(|b| *b = !*b),
        Node::Unit => {}
        Node::Map(m) => m.values_mut().for_each(mutate),
        Node::List(l) => l.iter_mut().for_each(mutate),
        Node::Record { name, reader, .. } => {
            name.push('x');
            reader.set_position(reader.position() + 1);
            reader.get_mut().push(0);
        }
    }
}
