//! Every standard-library impl: the copy is equal to the original and disjoint
//! from it, and the proof helper catches what `Clone` shares.

use ebpf_spec::DeepCopy;
use ebpf_spec::deep_copy::{
    PathSegment, assert_deep_copy, assert_disjoint, buffers, check_deep_copy, check_disjoint,
};
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::ffi::{CString, OsString};
use std::hash::{BuildHasher, DefaultHasher, Hasher};
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::marker::PhantomData;
use std::num::NonZero;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Copy, then check equality and disjointness; also check the original owns at
/// least `min_buffers` non-empty buffers, so a walk that reports nothing can't pass.
fn roundtrip<T: DeepCopy + PartialEq + std::fmt::Debug>(value: T, min_buffers: usize) -> T {
    let copy = value.deep_copy();
    assert_eq!(copy, value);
    let report = check_deep_copy(&value, &copy);
    assert!(report.is_ok(), "{report}");
    assert!(
        report.original_buffers >= min_buffers,
        "{} reports {} buffers, expected at least {min_buffers}",
        std::any::type_name::<T>(),
        report.original_buffers
    );
    // (Counts may differ: a wrapped-around VecDeque copies into one slice.)
    assert!(report.copy_buffers >= min_buffers);
    copy
}

/// Every primitive number, at its extremes and in between, and every `NonZero`.
macro_rules! numbers {
    ($($t:ty),*) => {$(
        for v in [<$t>::MIN, <$t>::MAX, 0 as $t, 1 as $t] {
            roundtrip(v, 0);
            roundtrip(NonZero::<$t>::new(v).unwrap_or(NonZero::<$t>::MIN), 0);
        }
        // A plain value owns no buffer; slices of them copy in bulk.
        assert!(buffers(&<$t>::MAX).is_empty());
        roundtrip(vec![<$t>::MIN, <$t>::MAX], 1);
    )*};
}

#[test]
fn plain_values() {
    numbers!(
        u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize
    );
    for v in [f32::MIN, f32::MAX, -0.0, 1.5, f32::EPSILON, f32::INFINITY] {
        roundtrip(v, 0);
        assert_eq!(v.deep_copy().to_bits(), v.to_bits());
    }
    for v in [
        f64::MIN,
        f64::MAX,
        -0.0,
        1.5,
        f64::EPSILON,
        f64::NEG_INFINITY,
    ] {
        roundtrip(v, 0);
        assert_eq!(v.deep_copy().to_bits(), v.to_bits());
    }
    // NaN is not equal to itself: compare the bits.
    assert_eq!(f32::NAN.deep_copy().to_bits(), f32::NAN.to_bits());
    assert_eq!(f64::NAN.deep_copy().to_bits(), f64::NAN.to_bits());
    roundtrip(vec![1.5f32, -2.0], 1);
    roundtrip(true, 0);
    roundtrip('λ', 0);
    roundtrip((), 0);
    roundtrip(Duration::from_millis(3), 0);
    // A `RawFd` is an `i32`: copied as the number it is (the descriptor is not
    // duplicated; `OwnedFd` has no impl).
    let fd: std::os::fd::RawFd = 3;
    assert_eq!(fd.deep_copy(), 3);
    roundtrip(PhantomData::<Rc<u8>>, 0);
    roundtrip(std::net::Ipv4Addr::LOCALHOST, 0);
    roundtrip([1u32, 2, 3], 0);
    roundtrip(std::num::Wrapping(5u16), 0);
}

#[test]
fn strings_and_paths() {
    roundtrip(String::from("maps"), 1);
    roundtrip(Box::<str>::from("boxed"), 1);
    roundtrip(PathBuf::from("/sys/fs/bpf/tc/globals"), 1);
    roundtrip(OsString::from("os"), 1);
    roundtrip(CString::new("c").unwrap(), 1);
    // Empty buffers are not reported, and an empty copy is trivially disjoint.
    roundtrip(String::new(), 0);
}

#[test]
fn sequences() {
    roundtrip(vec![1u8, 2, 3], 1);
    roundtrip(vec![String::from("a"), String::from("b")], 3);
    roundtrip(Box::new(7u64), 1);
    roundtrip(Box::<[u16]>::from(&[1, 2][..]), 1);
    roundtrip(Box::<[String]>::from(vec!["x".to_string()]), 2);
    let mut dq: VecDeque<String> = VecDeque::with_capacity(4);
    dq.push_back("b".into());
    dq.push_front("a".into()); // wraps around: two slices
    roundtrip(dq, 3);
    roundtrip([vec![1u8], vec![2u8]], 2);
    roundtrip(Some(vec![1u8]), 1);
    roundtrip(None::<Vec<u8>>, 0);
    let _ = roundtrip(Ok::<_, String>(vec![1u8]), 1);
    let _ = roundtrip(Err::<Vec<u8>, _>(String::from("e")), 1);
}

#[test]
fn tuples_up_to_twelve() {
    roundtrip((String::from("a"),), 1);
    roundtrip((1u8, String::from("b"), vec![3u8]), 2);
    let twelve = (
        1u8,
        2u16,
        3u32,
        4u64,
        String::from("5"),
        vec![6u8],
        Box::new(7u8),
        Some(String::from("8")),
        9i8,
        'a',
        false,
        Arc::new(12u32),
    );
    roundtrip(twelve, 5);
}

/// The bytes every element occupies in the collection's own storage, so two
/// collections sharing one table would be seen: a collection compared with
/// itself shares each entry, even when no element owns a heap buffer.
#[test]
fn collection_storage_is_reported() {
    fn shares_every_entry<T: DeepCopy>(value: &T, ranges: usize) {
        let report = check_disjoint(value, value);
        assert!(!report.is_ok());
        assert_eq!(report.original_buffers, ranges, "{report}");
        assert_eq!(report.overlaps.len(), ranges, "{report}");
    }
    fn covers<T: DeepCopy, E>(value: &T, element: &E) {
        let at = std::ptr::from_ref(element) as usize;
        assert!(
            buffers(value)
                .iter()
                .any(|b| b.start <= at && at + size_of::<E>() <= b.end()),
            "no range holds the element at {at:#x}: {:?}",
            buffers(value)
        );
    }

    let hm: HashMap<u32, u64> = (0..10).map(|i| (i, u64::from(i) * 3)).collect();
    shares_every_entry(&hm, 20);
    covers(&hm, hm.get(&7).unwrap());
    covers(&hm, hm.get_key_value(&7).unwrap().0);
    roundtrip(hm, 20);

    let bt: BTreeMap<u16, [u8; 5]> = (0..10).map(|i| (i, [i as u8; 5])).collect();
    shares_every_entry(&bt, 20);
    covers(&bt, bt.get(&3).unwrap());
    roundtrip(bt, 20);

    let hs: HashSet<u64> = (0..10).collect();
    shares_every_entry(&hs, 10);
    covers(&hs, hs.get(&4).unwrap());
    roundtrip(hs, 10);

    let bs: BTreeSet<i32> = (0..10).collect();
    shares_every_entry(&bs, 10);
    covers(&bs, bs.first().unwrap());
    roundtrip(bs, 10);

    // Zero-sized keys or values occupy no byte and are not reported.
    let units: HashMap<u8, ()> = [(1, ()), (2, ())].into();
    shares_every_entry(&units, 2);
    let set_of_unit: BTreeSet<()> = [()].into();
    assert!(buffers(&set_of_unit).is_empty());

    // The path names the entry and whether the key or the value is shared.
    let one: BTreeMap<u8, u8> = [(1, 2)].into();
    let found = buffers(&one);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].display_path("m"), "m[0].key");
    assert_eq!(found[1].display_path("m"), "m[0].value");
    assert_eq!(found[1].owner, std::any::type_name::<BTreeMap<u8, u8>>());
    assert!(
        check_disjoint(&one, &one)
            .to_string()
            .contains("field `value` of `map entry`")
    );

    // VecDeque: both halves of a wrapped-around ring are reported.
    let mut dq: VecDeque<u32> = VecDeque::with_capacity(4);
    dq.extend([2, 3]);
    dq.push_front(1);
    assert!(!dq.as_slices().1.is_empty(), "not wrapped around");
    assert_eq!(buffers(&dq).len(), 2);
    covers(&dq, &dq[0]);
    covers(&dq, &dq[2]);
    assert_eq!(check_disjoint(&dq, &dq).overlaps.len(), 2);
}

/// The check sorts ranges: a big map is checked in O(n log n), not O(n^2)
/// (100,000 entries a side would be 1e10 range pairs).
#[test]
fn big_maps_are_checked_quickly() {
    let big: HashMap<u64, u64> = (0..100_000).map(|i| (i, i)).collect();
    let copy = big.deep_copy();
    assert_deep_copy(&big, &copy);
    // Every key and value shared: 200,000 overlaps, found in one sweep.
    assert_eq!(check_disjoint(&big, &big).overlaps.len(), 200_000);
}

/// Trees are copied two ways (in-order inserts up to one node, a bulk build
/// past it): both give an equal, disjoint tree at every size around the switch.
#[test]
fn btree_copies_at_every_size_around_one_node() {
    for n in [0usize, 1, 2, 10, 11, 12, 13, 23, 24, 200] {
        let bt: BTreeMap<String, Vec<u8>> = (0..n)
            .map(|i| (format!("k{i:04}"), vec![i as u8; i % 5 + 1]))
            .collect();
        let copy = roundtrip(bt.clone(), 2 * n);
        assert_eq!(copy.len(), n);
        assert!(
            copy.keys().zip(bt.keys()).all(|(a, b)| a == b),
            "order at {n}"
        );
        let bs: BTreeSet<String> = (0..n).map(|i| format!("s{i:04}")).collect();
        let copy = roundtrip(bs.clone(), n);
        assert!(copy.iter().eq(bs.iter()), "set order at {n}");
    }
}

#[test]
fn collections() {
    let bt: BTreeMap<String, Vec<u8>> = [("a".into(), vec![1]), ("b".into(), vec![2, 3])].into();
    roundtrip(bt, 4);
    let bs: BTreeSet<String> = ["x".to_string(), "y".to_string()].into();
    roundtrip(bs, 2);
    let hm: HashMap<String, String> = [("k".to_string(), "v".to_string())].into();
    roundtrip(hm, 2);
    let hs: HashSet<Vec<u8>> = [vec![1u8], vec![2u8]].into();
    roundtrip(hs, 2);
}

/// A hasher with a seed, to prove the copy keeps the original's hasher.
#[derive(Clone, Debug)]
struct Seeded(u64);
impl BuildHasher for Seeded {
    type Hasher = DefaultHasher;
    fn build_hasher(&self) -> DefaultHasher {
        let mut h = DefaultHasher::new();
        h.write_u64(self.0);
        h
    }
}

#[test]
fn hash_collections_keep_their_hasher() {
    let mut m = HashMap::with_hasher(Seeded(0xfeed));
    m.insert(String::from("key"), 1u32);
    let copy = m.deep_copy();
    assert_eq!(copy.hasher().0, 0xfeed);
    assert_eq!(copy.get("key"), Some(&1));
    assert_disjoint(&m, &copy);

    let mut s = HashSet::with_hasher(Seeded(77));
    s.insert(String::from("member"));
    let copy = s.deep_copy();
    assert_eq!(copy.hasher().0, 77);
    assert!(copy.contains("member"));
    assert_disjoint(&s, &copy);
}

#[test]
fn arc_and_rc_get_new_allocations() {
    let a = Arc::new(vec![1u8, 2]);
    let c = a.deep_copy();
    assert_eq!(
        Arc::strong_count(&a),
        1,
        "deep_copy must not bump the count"
    );
    assert_eq!(Arc::strong_count(&c), 1);
    assert!(!Arc::ptr_eq(&a, &c));
    roundtrip(a, 2);

    let bytes: Arc<[u8]> = Arc::from(&b"extra"[..]);
    let c = roundtrip(bytes.clone(), 1);
    assert!(!Arc::ptr_eq(&bytes, &c));

    let s: Arc<str> = Arc::from("pin");
    let c = roundtrip(s.clone(), 1);
    assert!(!Arc::ptr_eq(&s, &c));

    let strings: Arc<[String]> = Arc::from(vec![String::from("a")]);
    roundtrip(strings, 2);

    let r = Rc::new(String::from("rc"));
    let c = roundtrip(r.clone(), 2);
    assert!(!Rc::ptr_eq(&r, &c));
    let r: Rc<[u8]> = Rc::from(&[9u8][..]);
    roundtrip(r, 1);
    let r: Rc<str> = Rc::from("s");
    roundtrip(r, 1);

    // An Arc of a zero-sized value or of an empty slice holds no byte: nothing
    // is reported (its address may be past the allocation's end, or a static
    // shared by every empty `Arc<[T]>`), so independent ones never look shared.
    // A clone shares only a count over nothing, which the check cannot see.
    let unit = Arc::new(());
    assert!(buffers(&unit).is_empty());
    roundtrip(unit, 0);
    for (a, b) in [
        (Arc::<[u8]>::default(), Arc::<[u8]>::default()),
        (Arc::from(Vec::new()), Arc::from(&[][..])),
    ] {
        assert!(buffers(&a).is_empty());
        assert!(check_deep_copy(&a, &b).is_ok());
        assert!(check_deep_copy(&a, &a.deep_copy()).is_ok());
    }
    let empty: Rc<str> = Rc::from("");
    assert!(buffers(&empty).is_empty());
}

#[test]
fn cow_always_becomes_owned() {
    let text = String::from("borrowed");
    let cow: Cow<'_, str> = Cow::Borrowed(&text);
    let copy = cow.deep_copy();
    assert!(matches!(copy, Cow::Owned(_)));
    assert_eq!(copy, cow);
    assert_disjoint(&cow, &copy);

    let owned: Cow<'_, [u8]> = Cow::Owned(vec![1, 2]);
    let copy = roundtrip(owned, 1);
    assert!(matches!(copy, Cow::Owned(_)));

    // A borrowed slice of Arcs: `to_owned` alone would share the Arcs.
    let arcs = [Arc::new(5u32)];
    let cow: Cow<'_, [Arc<u32>]> = Cow::Borrowed(&arcs);
    let copy = cow.deep_copy();
    assert!(!Arc::ptr_eq(&arcs[0], &copy[0]));
    assert_eq!(Arc::strong_count(&arcs[0]), 1);
    roundtrip(cow, 2);

    let c = CString::new("c").unwrap();
    let copy = roundtrip(Cow::Borrowed(c.as_c_str()), 1);
    assert!(matches!(copy, Cow::Owned(_)));
    roundtrip(Cow::Borrowed(std::ffi::OsStr::new("os")), 1);
    roundtrip(Cow::Borrowed(std::path::Path::new("/sys/fs/bpf")), 1);
}

/// `Cow::Borrowed` is walked as the owned value would be: the bytes it
/// occupies where it lives, and every buffer it owns.
#[test]
fn borrowed_cow_is_walked_like_an_owned_value() {
    let a = Arc::new(vec![7u8; 32]);
    let original: Cow<'_, Arc<Vec<u8>>> = Cow::Borrowed(&a);
    // `Owned(a.clone())` shares the Arc with the borrowed value: caught.
    let shallow: Cow<'_, Arc<Vec<u8>>> = Cow::Owned(a.clone());
    let report = check_deep_copy(&original, &shallow);
    assert!(!report.is_ok());
    // The Arc's allocation (holding the Vec) and the Vec's 32 bytes.
    assert_eq!(report.overlaps.len(), 2, "{report}");
    assert!(report.overlaps.iter().any(|o| o.shared_bytes == 32));
    // The borrowed handle itself, then the Arc allocation and the Vec buffer.
    let found = buffers(&original);
    assert_eq!(found.len(), 3);
    assert_eq!(found[0].start, std::ptr::from_ref(&a) as usize);
    assert_eq!(found[0].owner, std::any::type_name::<&Arc<Vec<u8>>>());
    assert_eq!(found[0].display_path("c"), "c::Borrowed");
    // Two borrows of one value share it.
    assert!(!check_deep_copy(&original, &Cow::Borrowed(&a)).is_ok());
    // The deep copy shares nothing.
    // (The copy's handle lives inside the `Cow`: it owns two buffers.)
    let copy = roundtrip(original, 2);
    assert!(matches!(copy, Cow::Owned(_)));

    let arcs = [a.clone(), Arc::new(vec![1u8; 8])];
    let original: Cow<'_, [Arc<Vec<u8>>]> = Cow::Borrowed(&arcs);
    let shallow: Cow<'_, [Arc<Vec<u8>>]> = Cow::Owned(arcs.to_vec());
    let report = check_deep_copy(&original, &shallow);
    assert!(!report.is_ok());
    assert!(
        report.overlaps.iter().any(|o| o.shared_bytes == 32),
        "{report}"
    );
    assert!(
        report.overlaps.iter().any(|o| o.shared_bytes == 8),
        "{report}"
    );
    // The borrowed slice, then each element's allocation and buffer, by index.
    let paths: Vec<_> = buffers(&original)
        .iter()
        .map(|b| b.display_path("c"))
        .collect();
    assert_eq!(
        paths,
        [
            "c::Borrowed",
            "c::Borrowed[0]",
            "c::Borrowed[0]",
            "c::Borrowed[1]",
            "c::Borrowed[1]"
        ]
    );
    roundtrip(original, 5);

    // A borrowed str is its bytes.
    let text = String::from("pinned");
    let cow: Cow<'_, str> = Cow::Borrowed(&text);
    let tail: Cow<'_, str> = Cow::Borrowed(&text[2..]);
    assert_eq!(check_disjoint(&cow, &tail).overlaps[0].shared_bytes, 4);
    assert_eq!(buffers(&cow)[0].start, text.as_ptr() as usize);
}

#[test]
fn cursor_gets_its_own_buffer_at_the_same_position() {
    let mut original = Cursor::new(vec![10u8, 20, 30, 40]);
    original.seek(SeekFrom::Start(1)).unwrap();
    let mut copy = roundtrip_cursor(&original);
    assert_eq!(copy.position(), 1);
    let mut rest = Vec::new();
    copy.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, [20, 30, 40]);
    assert_eq!(
        original.position(),
        1,
        "reading the copy must not move the original"
    );
}

fn roundtrip_cursor(c: &Cursor<Vec<u8>>) -> Cursor<Vec<u8>> {
    let copy = c.deep_copy();
    assert_eq!(copy.get_ref(), c.get_ref());
    assert_disjoint(c, &copy);
    assert_eq!(buffers(c).len(), 1);
    copy
}

#[test]
fn locks_and_cells_are_new() {
    let m = Mutex::new(vec![1u8, 2]);
    let guard = m.lock().unwrap();
    drop(guard);
    let copy = m.deep_copy();
    assert_eq!(*copy.lock().unwrap(), [1, 2]);
    {
        let _held = m.lock().unwrap();
        // The copy has its own lock: taking it while the original is held works.
        let mut g = copy.try_lock().expect("copy shares the original's lock");
        g.push(3);
    }
    assert_eq!(*m.lock().unwrap(), [1, 2]);
    assert_disjoint(&m, &copy);
    assert_eq!(buffers(&m).len(), 1);

    let rw = RwLock::new(String::from("rw"));
    let copy = rw.deep_copy();
    assert_eq!(*copy.read().unwrap(), "rw");
    {
        let _w = rw.write().unwrap();
        copy.try_write()
            .expect("copy shares the original's lock")
            .push('!');
    }
    assert_eq!(*rw.read().unwrap(), "rw");
    assert_disjoint(&rw, &copy);

    let cell = Cell::new(5u32);
    let copy = cell.deep_copy();
    assert_eq!(copy.get(), 5);
    copy.set(6);
    assert_eq!(cell.get(), 5);

    let rc = RefCell::new(vec![String::from("x")]);
    let copy = rc.deep_copy();
    assert_eq!(*copy.borrow(), *rc.borrow());
    {
        let _b = rc.borrow_mut();
        copy.borrow_mut().push(String::from("y"));
    }
    assert_eq!(rc.borrow().len(), 1);
    assert_disjoint(&rc, &copy);
    assert_eq!(buffers(&rc).len(), 2);
}

#[test]
fn poisoned_mutex_is_copied_unpoisoned() {
    let m = Arc::new(Mutex::new(vec![1u8]));
    let m2 = m.clone();
    let _ = std::thread::spawn(move || {
        let _g = m2.lock().unwrap();
        panic!("poison it");
    })
    .join();
    assert!(m.is_poisoned());
    let copy = m.deep_copy();
    assert!(!copy.is_poisoned());
    assert_eq!(*copy.lock().unwrap(), [1]);
    // A poisoned lock is still walked.
    assert_eq!(buffers(&m).len(), 2);
    assert!(check_disjoint(&m, &copy).is_ok());
}

/// The walk never blocks or panics on a lock or cell it cannot read: it records
/// it, and the check fails naming it (a lock held by the current thread would
/// otherwise deadlock the check).
#[test]
fn walking_a_held_lock_reports_it_instead_of_blocking() {
    let m = Mutex::new(vec![1u8, 2]);
    let copy = m.deep_copy();
    {
        let _held = m.lock().unwrap();
        let report = check_disjoint(&m, &copy);
        assert!(!report.is_ok());
        assert!(report.overlaps.is_empty());
        assert_eq!(report.original_unwalked.len(), 1);
        assert!(report.copy_unwalked.is_empty());
        let msg = report.to_string();
        assert!(msg.contains("could not be checked"), "{msg}");
        assert!(
            msg.contains("could not check `Mutex<Vec<u8>>` (Mutex<Vec<u8>>) of the original"),
            "{msg}"
        );
        assert!(msg.contains("was locked"), "{msg}");
    }
    assert!(check_disjoint(&m, &copy).is_ok());

    let rw = RwLock::new(vec![String::from("a")]);
    let copy = rw.deep_copy();
    {
        let _w = copy.write().unwrap();
        let report = check_disjoint(&rw, &copy);
        assert_eq!(report.copy_unwalked.len(), 1, "{report}");
        assert!(report.to_string().contains("held for writing"), "{report}");
    }
    {
        // Readers do not stop the walk.
        let _r = rw.read().unwrap();
        assert!(check_disjoint(&rw, &copy).is_ok());
    }

    // The path says where the lock sits.
    let nested = vec![RefCell::new(vec![1u8]), RefCell::new(vec![2u8])];
    let copy = nested.deep_copy();
    {
        let _b = nested[1].borrow_mut();
        let report = check_disjoint(&nested, &copy);
        assert_eq!(report.original_unwalked.len(), 1, "{report}");
        assert_eq!(report.original_unwalked[0].path, [PathSegment::Index(1)]);
        assert!(report.to_string().contains("mutably borrowed"), "{report}");
    }
    assert!(check_disjoint(&nested, &copy).is_ok());
}

#[test]
#[should_panic(expected = "could not be checked")]
fn asserting_with_a_held_lock_panics_instead_of_deadlocking() {
    let m = Mutex::new(vec![1u8]);
    let copy = m.deep_copy();
    let _held = m.lock().unwrap();
    assert_disjoint(&m, &copy);
}

/// `check_deep_copy` walks before it compares: a `RefCell` borrowed mutably
/// while it runs is reported as not checked, and the values are not compared
/// (`RefCell::eq` would panic with "already mutably borrowed").
#[test]
fn check_deep_copy_with_a_held_cell_reports_it_instead_of_panicking() {
    #[derive(DeepCopy, Debug, PartialEq)]
    struct WithCell {
        cell: RefCell<Vec<u8>>,
    }
    let a = WithCell {
        cell: RefCell::new(vec![1, 2]),
    };
    let b = a.deep_copy();
    {
        let _held = a.cell.borrow_mut();
        let report = check_deep_copy(&a, &b);
        assert!(!report.is_ok());
        assert_eq!(report.equal, None);
        assert!(report.equality_skipped);
        assert_eq!(report.original_unwalked.len(), 1, "{report}");
        let msg = report.to_string();
        assert!(msg.contains("could not be checked"), "{msg}");
        assert!(msg.contains("equality not checked"), "{msg}");
        assert!(msg.contains("mutably borrowed"), "{msg}");

        // The same through an `Rc`, on the copy's side.
        let shared = Rc::new(RefCell::new(String::from("x")));
        let copy = shared.deep_copy();
        let _held = copy.borrow_mut();
        let report = check_deep_copy(&shared, &copy);
        assert!(report.equality_skipped && !report.is_ok(), "{report}");
        assert_eq!(report.copy_unwalked.len(), 1, "{report}");
    }
    let report = check_deep_copy(&a, &b);
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.equal, Some(true));
    assert!(!report.equality_skipped);
    // `check_disjoint` never compares, and does not call that skipping.
    assert!(!check_disjoint(&a, &b).equality_skipped);
}

#[test]
#[should_panic(expected = "equality not checked")]
fn asserting_a_deep_copy_with_a_held_cell_panics_with_the_report() {
    let a = RefCell::new(vec![1u8]);
    let b = a.deep_copy();
    let _held = a.borrow_mut();
    assert_deep_copy(&a, &b);
}

// ------------------------------------------------------------ the proof helper

#[test]
fn helper_catches_a_shallow_arc_vec() {
    let a = Arc::new(vec![7u8; 32]);
    let report = check_deep_copy(&a, &a.clone());
    assert!(!report.is_ok());
    // The Arc's allocation and the Vec's buffer inside it are both shared.
    assert_eq!(report.overlaps.len(), 2);
    assert!(report.overlaps.iter().any(|o| o.shared_bytes == 32));
    let msg = report.to_string();
    assert!(msg.contains("Arc<Vec<u8>>"), "{msg}");
    assert!(msg.contains("shares 32 byte(s)"), "{msg}");
}

/// A struct holding `Arc<Vec<u8>>`: `Clone` bumps the count and is caught at
/// the field; `deep_copy` passes.
#[derive(DeepCopy, Debug, Clone, PartialEq)]
struct WithSharedExtra {
    name: String,
    extra: Arc<Vec<u8>>,
}

#[test]
fn helper_catches_a_shallow_clone_of_a_struct_holding_arc_vec() {
    let spec = WithSharedExtra {
        name: "map".into(),
        extra: Arc::new(vec![1u8; 24]),
    };
    let shallow = spec.clone();
    let report = check_deep_copy(&spec, &shallow);
    assert!(!report.is_ok());
    assert_eq!(report.equal, Some(true));
    assert_eq!(report.overlaps.len(), 2, "{report}");
    assert!(
        report
            .overlaps
            .iter()
            .all(|o| o.copy.display_path("s") == "s.extra")
    );
    assert!(
        report
            .to_string()
            .contains("field `extra` of `WithSharedExtra`"),
        "{report}"
    );
    let result = std::panic::catch_unwind(|| assert_deep_copy(&spec, &shallow));
    assert!(result.is_err());
    drop(shallow);

    let copy = spec.deep_copy();
    assert_deep_copy(&spec, &copy);
    assert_eq!(Arc::strong_count(&spec.extra), 1);
}

#[test]
fn helper_catches_a_shared_cursor_behind_a_mutex() {
    let extra = Arc::new(Mutex::new(Cursor::new(vec![1u8; 16])));
    let report = check_disjoint(&extra, &extra.clone());
    assert!(!report.is_ok());
    assert!(
        report.to_string().contains("Mutex<Cursor<Vec<u8>>>"),
        "{report}"
    );
    assert!(check_disjoint(&extra, &extra.deep_copy()).is_ok());
}

#[test]
#[should_panic(expected = "the copy is not equal to the original")]
fn helper_checks_equality() {
    assert_deep_copy(&vec![1u8], &vec![2u8]);
}

/// Equality is `PartialEq`: a NaN makes a bit-identical copy "not equal", and
/// the message says which equality failed.
#[test]
fn helper_equality_is_partial_eq_and_says_so() {
    #[derive(DeepCopy, Debug, PartialEq)]
    struct F {
        x: f64,
        name: String,
    }
    let a = F {
        x: f64::NAN,
        name: "nan".into(),
    };
    let b = a.deep_copy();
    assert_eq!(a.x.to_bits(), b.x.to_bits());
    let report = check_deep_copy(&a, &b);
    assert_eq!(report.equal, Some(false));
    let msg = report.to_string();
    assert!(
        msg.contains("the copy is not equal to the original (by its `PartialEq`"),
        "{msg}"
    );
    assert!(msg.contains("NaN"), "{msg}");
    // Disjointness alone holds.
    assert!(check_disjoint(&a, &b).is_ok());
}

/// Documented limit: the hasher is cloned and not walked, so a hasher holding
/// an `Arc` is shared by the copy and the check cannot see it.
#[test]
fn a_hasher_holding_shared_state_is_shared_unseen() {
    #[derive(Clone, Default)]
    struct SharedHasher(Arc<std::hash::RandomState>);
    impl BuildHasher for SharedHasher {
        type Hasher = DefaultHasher;
        fn build_hasher(&self) -> DefaultHasher {
            self.0.build_hasher()
        }
    }
    let mut a: HashMap<u32, String, SharedHasher> = HashMap::default();
    a.insert(1, "one".into());
    let b = a.deep_copy();
    assert_eq!(a, b);
    assert!(Arc::ptr_eq(&a.hasher().0, &b.hasher().0));
    assert!(check_deep_copy(&a, &b).is_ok());
}

#[test]
fn helper_names_the_path_of_a_shared_buffer() {
    let shared = Arc::new(String::from("shared"));
    let original = vec![
        (String::from("a"), Arc::new(String::from("b"))),
        (String::from("c"), shared.clone()),
    ];
    let mut copy = original.deep_copy();
    copy[1].1 = shared; // one shallow element in an otherwise deep copy
    let report = check_deep_copy(&original, &copy);
    assert_eq!(report.overlaps.len(), 2, "{report}");
    let o = &report.overlaps[0];
    assert_eq!(
        o.copy.path,
        vec![
            PathSegment::Index(1),
            PathSegment::Field {
                container: "tuple",
                field: "1"
            }
        ]
    );
    assert!(report.to_string().contains("[1].1"), "{report}");
}

/// A panic in the copy of a mutex's value is passed on, and the original is
/// left unpoisoned: the copy only read it.
#[test]
fn a_panic_copying_a_mutex_value_does_not_poison_the_original() {
    let cell = Rc::new(RefCell::new(1u8));
    let m = Mutex::new(Rc::clone(&cell));
    let held = cell.borrow_mut(); // the inner copy (`RefCell::borrow`) panics
    let copied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.deep_copy()));
    assert!(copied.is_err(), "the inner panic must reach the caller");
    assert!(!m.is_poisoned(), "a failed copy poisoned the original");
    drop(held);
    let copy = m.deep_copy();
    assert_eq!(**copy.lock().unwrap(), RefCell::new(1));
}

/// A `Copy` type may point at heap memory its `DeepCopy` copies (the
/// `Leaky` of the `plain_field_not_plain` UI test): a `Cell` of it reports
/// that memory, so a bitwise clone of the cell is caught.
#[test]
fn a_cell_reports_what_its_value_points_at() {
    #[derive(Clone, Copy, PartialEq, Debug)]
    struct Leaky(&'static [u8]);
    impl DeepCopy for Leaky {
        fn deep_copy(&self) -> Self {
            Leaky(Vec::leak(self.0.to_vec()))
        }
        fn walk_buffers(&self, walker: &mut ebpf_spec::deep_copy::Walker) {
            walker.buffer(self.0, "Leaky");
        }
    }
    let cell = Cell::new(Leaky(Vec::leak(vec![1, 2, 3])));
    assert_eq!(buffers(&cell).len(), 1);
    let report = check_disjoint(&cell, &cell.clone());
    assert!(!report.is_ok(), "a shared cell passed: {report}");
    assert!(check_deep_copy(&cell, &cell.deep_copy()).is_ok());
}

#[test]
fn owning_pointers_over_paths_and_c_strings_get_new_allocations() {
    use std::ffi::{CStr, OsStr};
    use std::path::Path;
    let path: Box<Path> = Box::from(Path::new("/sys/fs/bpf/pod-a"));
    roundtrip(path, 1);
    let os: Box<OsStr> = Box::from(OsStr::new("eth0"));
    roundtrip(os, 1);
    let c: Box<CStr> = Box::from(c"GPL");
    roundtrip(c, 1);

    let path: Arc<Path> = Arc::from(Path::new("/sys/fs/bpf"));
    let copy = roundtrip(path.clone(), 1);
    assert!(!Arc::ptr_eq(&path, &copy));
    assert!(!check_disjoint(&path, &path.clone()).is_ok());
    let os: Arc<OsStr> = Arc::from(OsStr::new("lo"));
    assert!(!check_disjoint(&os, &os.clone()).is_ok());
    roundtrip(os, 1);
    let c: Arc<CStr> = Arc::from(c"x");
    assert!(!check_disjoint(&c, &c.clone()).is_ok());
    roundtrip(c, 1);

    let path: Rc<Path> = Rc::from(Path::new("/tmp"));
    let copy = roundtrip(path.clone(), 1);
    assert!(!Rc::ptr_eq(&path, &copy));
    roundtrip(Rc::<OsStr>::from(OsStr::new("a")), 1);
    roundtrip(Rc::<CStr>::from(c"b"), 1);
}

/// An atomic counter is copied as a new atomic with the value loaded: the
/// copy counts on its own.
#[test]
fn atomics_are_new_atomics_with_the_value() {
    use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicUsize, Ordering};
    let hits = AtomicU32::new(7);
    let copy = hits.deep_copy();
    copy.fetch_add(1, Ordering::Relaxed);
    assert_eq!(hits.load(Ordering::Relaxed), 7);
    assert_eq!(copy.load(Ordering::Relaxed), 8);
    assert_eq!(AtomicI64::new(-3).deep_copy().into_inner(), -3);
    assert!(AtomicBool::new(true).deep_copy().into_inner());
    assert_eq!(
        AtomicUsize::new(usize::MAX).deep_copy().into_inner(),
        usize::MAX
    );
    // Inline, like the integers: nothing to walk, and a Vec of them is walked
    // as its one buffer.
    assert!(buffers(&hits).is_empty());
    let counters = vec![AtomicU32::new(1), AtomicU32::new(2)];
    let copy = counters.deep_copy();
    assert_eq!(copy[1].load(Ordering::Relaxed), 2);
    assert_disjoint(&counters, &copy);
}
