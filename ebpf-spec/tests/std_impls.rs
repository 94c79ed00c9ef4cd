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
use std::num::{NonZeroU32, NonZeroU64};
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

#[test]
fn plain_values() {
    roundtrip(42u8, 0);
    roundtrip(-7i128, 0);
    roundtrip(usize::MAX, 0);
    roundtrip(1.5f64, 0);
    roundtrip(true, 0);
    roundtrip('λ', 0);
    roundtrip((), 0);
    roundtrip(Duration::from_millis(3), 0);
    roundtrip(NonZeroU32::new(9).unwrap(), 0);
    roundtrip(NonZeroU64::MAX, 0);
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

    // Even an Arc of a zero-sized value owns an allocation (its counts).
    let unit = Arc::new(());
    assert!(!check_deep_copy(&unit, &unit.clone()).is_ok());
    roundtrip(unit, 1);
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
    copy.set(6);
    assert_eq!(cell.get(), 5);

    let rc = RefCell::new(vec![String::from("x")]);
    let copy = rc.deep_copy();
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
