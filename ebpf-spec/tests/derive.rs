//! Run-time behaviour of `#[derive(DeepCopy)]`: derived copies are equal to
//! their originals and share no byte with them, `skip` and `with` do what they
//! say, and the walk names the path to every buffer.

use ebpf_spec::DeepCopy;
use ebpf_spec::deep_copy::{
    BufferRange, PathSegment, assert_deep_copy, assert_disjoint, buffers, check_deep_copy,
};
use std::borrow::Cow;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn field(container: &'static str, field: &'static str) -> PathSegment {
    PathSegment::Field { container, field }
}

fn variant(container: &'static str, variant: &'static str) -> PathSegment {
    PathSegment::Variant { container, variant }
}

/// The paths of all buffers of `value`, rendered from root `v`.
fn paths<T: DeepCopy>(value: &T) -> Vec<String> {
    buffers(value).iter().map(|b| b.display_path("v")).collect()
}

/// The buffers of `value` whose path starts with `prefix`.
fn under<T: DeepCopy>(value: &T, prefix: &[PathSegment]) -> Vec<BufferRange> {
    buffers(value)
        .into_iter()
        .filter(|b| b.path.starts_with(prefix))
        .collect()
}

// ------------------------------------------------------------------ structs

#[derive(DeepCopy, Debug, PartialEq)]
struct Owned {
    bytes: Vec<u8>,
    name: String,
    boxed: Box<u64>,
    shared: Arc<[u8]>,
    by_name: HashMap<String, Vec<u32>>,
    nested: Vec<String>,
}

fn owned() -> Owned {
    Owned {
        bytes: vec![1, 2, 3],
        name: "map".into(),
        boxed: Box::new(7),
        shared: Arc::from(&[4u8, 5][..]),
        by_name: HashMap::from([("a".to_string(), vec![1, 2]), ("b".to_string(), vec![3])]),
        nested: vec!["x".into(), "yz".into()],
    }
}

#[test]
fn named_struct_copy_is_equal_and_disjoint() {
    let original = owned();
    let copy = original.deep_copy();
    assert_eq!(copy, original);
    assert!(!Arc::ptr_eq(&copy.shared, &original.shared));
    assert_deep_copy(&original, &copy);
}

#[test]
fn named_struct_walk_reports_every_field() {
    let original = owned();
    let found = buffers(&original);
    for name in ["bytes", "name", "boxed", "shared", "nested"] {
        assert!(
            found
                .iter()
                .any(|b| b.path.first() == Some(&field("Owned", name))),
            "no buffer under `{name}`: {:?}",
            paths(&original)
        );
    }
    // Map entries, under an index: key and value where they sit in the map's
    // table, then the heap buffer each of them owns.
    let entries = under(&original, &[field("Owned", "by_name")]);
    assert_eq!(entries.len(), 8, "{entries:?}");
    assert!(
        entries
            .iter()
            .all(|b| matches!(b.path.get(1), Some(PathSegment::Index(_))))
    );
    let map_type = std::any::type_name::<HashMap<String, Vec<u32>>>();
    let in_table = entries.iter().filter(|b| b.owner == map_type).count();
    assert_eq!(in_table, 4, "{entries:?}");
    // Elements of a Vec<String>: the Vec's own buffer, then each string.
    let nested = paths(&original);
    assert!(nested.contains(&"v.nested".to_string()), "{nested:?}");
    assert!(nested.contains(&"v.nested[0]".to_string()), "{nested:?}");
    assert!(nested.contains(&"v.nested[1]".to_string()), "{nested:?}");
}

#[derive(DeepCopy, Debug, PartialEq)]
struct Pair(String, Vec<u8>);

#[derive(DeepCopy, Debug, PartialEq)]
struct Marker;

#[test]
fn tuple_and_unit_structs() {
    let pair = Pair("left".into(), vec![9; 3]);
    let copy = pair.deep_copy();
    assert_deep_copy(&pair, &copy);
    let found = buffers(&pair);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].path, [field("Pair", "0")]);
    assert_eq!(found[1].path, [field("Pair", "1")]);

    assert_eq!(Marker.deep_copy(), Marker);
    assert!(buffers(&Marker).is_empty());
}

#[derive(DeepCopy, Debug, PartialEq)]
struct Outer {
    inner: Inner,
    list: Vec<Inner>,
}

#[derive(DeepCopy, Debug, PartialEq)]
struct Inner {
    data: Vec<u8>,
}

#[test]
fn nested_derived_types_nest_paths() {
    let outer = Outer {
        inner: Inner { data: vec![1] },
        list: vec![Inner { data: vec![2] }, Inner { data: vec![3] }],
    };
    assert_deep_copy(&outer, &outer.deep_copy());
    let found = buffers(&outer);
    let data_of_second = found
        .iter()
        .find(|b| {
            b.path
                == [
                    field("Outer", "list"),
                    PathSegment::Index(1),
                    field("Inner", "data"),
                ]
        })
        .expect("list[1].data reported");
    assert_eq!(data_of_second.start, outer.list[1].data.as_ptr() as usize);
    assert_eq!(data_of_second.len, 1);
    assert_eq!(
        paths(&outer),
        ["v.inner.data", "v.list", "v.list[0].data", "v.list[1].data"]
    );
}

// ------------------------------------------------------------------ enums

#[derive(DeepCopy, Debug, PartialEq)]
enum Value {
    Empty,
    Bytes(Vec<u8>, String),
    Named { name: String, extra: Arc<Vec<u8>> },
    Nothing(),
}

#[test]
fn enum_every_variant_kind() {
    let values = [
        Value::Empty,
        Value::Bytes(vec![1, 2], "b".into()),
        Value::Named {
            name: "n".into(),
            extra: Arc::new(vec![3; 8]),
        },
        Value::Nothing(),
    ];
    for value in &values {
        let copy = value.deep_copy();
        assert_eq!(&copy, value);
        assert_deep_copy(value, &copy);
    }
}

#[test]
fn enum_walk_reports_variant_and_fields() {
    assert!(buffers(&Value::Empty).is_empty());
    assert!(buffers(&Value::Nothing()).is_empty());

    let bytes = Value::Bytes(vec![1, 2], "b".into());
    let found = buffers(&bytes);
    assert_eq!(found.len(), 2);
    assert_eq!(
        found[0].path,
        [variant("Value", "Bytes"), field("Value::Bytes", "0")]
    );
    assert_eq!(
        found[1].path,
        [variant("Value", "Bytes"), field("Value::Bytes", "1")]
    );

    let named = Value::Named {
        name: "n".into(),
        extra: Arc::new(vec![3; 8]),
    };
    let found = buffers(&named);
    assert!(
        found
            .iter()
            .any(|b| b.path == [variant("Value", "Named"), field("Value::Named", "name")])
    );
    // The Arc's allocation and the Vec's buffer inside it.
    let extra = under(
        &named,
        &[variant("Value", "Named"), field("Value::Named", "extra")],
    );
    assert_eq!(extra.len(), 2, "{extra:?}");
    assert_eq!(
        paths(&named),
        ["v::Named.name", "v::Named.extra", "v::Named.extra"]
    );
}

#[derive(DeepCopy, Debug, PartialEq)]
enum Single {
    Only { data: Vec<u8> },
}

#[derive(DeepCopy, Debug, PartialEq, Clone, Copy)]
enum Flag {
    On,
    Off,
}

#[derive(DeepCopy)]
enum Never {}

#[test]
fn single_variant_unit_only_and_empty_enums() {
    let single = Single::Only { data: vec![1] };
    assert_deep_copy(&single, &single.deep_copy());
    assert_eq!(paths(&single), ["v::Only.data"]);

    for flag in [Flag::On, Flag::Off] {
        assert_eq!(flag.deep_copy(), flag);
        assert!(buffers(&flag).is_empty());
    }

    fn copy_never(n: &Never) -> Never {
        n.deep_copy()
    }
    let _: fn(&Never) -> Never = copy_never;
}

// ------------------------------------------------------------------ recursive types

#[derive(DeepCopy, Debug, PartialEq)]
struct List {
    value: String,
    next: Option<Box<Self>>,
}

#[derive(DeepCopy, Debug, PartialEq)]
struct Tree<T> {
    value: T,
    children: Vec<Tree<T>>,
}

#[test]
fn recursive_types() {
    let list = List {
        value: "a".into(),
        next: Some(Box::new(List {
            value: "b".into(),
            next: None,
        })),
    };
    let copy = list.deep_copy();
    assert_deep_copy(&list, &copy);
    let found = buffers(&list);
    // "a", the Box, and "b" inside it.
    assert_eq!(found.len(), 3, "{:?}", paths(&list));
    let last = &found[2];
    assert_eq!(last.path.first(), Some(&field("List", "next")));
    assert_eq!(last.path.last(), Some(&field("List", "value")));

    let tree = Tree {
        value: vec![1u8],
        children: vec![Tree {
            value: vec![2u8],
            children: vec![],
        }],
    };
    assert_deep_copy(&tree, &tree.deep_copy());
    assert_eq!(
        paths(&tree),
        ["v.value", "v.children", "v.children[0].value"]
    );
}

// ------------------------------------------------------------------ skip

/// `Default` but not `DeepCopy`: a skipped field may hold it.
#[derive(Debug, Default, PartialEq)]
struct Stats {
    hits: Rc<u64>,
}

#[derive(DeepCopy, Debug, PartialEq)]
struct WithSkip {
    name: String,
    #[deep_copy(skip)]
    stats: Stats,
    #[deep_copy(skip)]
    cache: Vec<u8>,
}

#[derive(DeepCopy, Debug, PartialEq)]
enum SkipInVariant {
    Counted(String, #[deep_copy(skip)] u32),
}

#[test]
fn skip_yields_default_and_is_not_walked() {
    let original = WithSkip {
        name: "n".into(),
        stats: Stats { hits: Rc::new(3) },
        cache: vec![1, 2, 3],
    };
    let copy = original.deep_copy();
    assert_eq!(copy.name, original.name);
    assert_eq!(copy.stats, Stats::default());
    assert!(copy.cache.is_empty());
    // Only `name` is walked.
    let found = buffers(&original);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].path, [field("WithSkip", "name")]);
    assert_disjoint(&original, &copy);

    let counted = SkipInVariant::Counted("c".into(), 9);
    assert_eq!(counted.deep_copy(), SkipInVariant::Counted("c".into(), 0));
    assert_eq!(paths(&counted), ["v::Counted.0"]);
}

// ------------------------------------------------------------------ with

static COPIES: AtomicUsize = AtomicUsize::new(0);
static WALKS: AtomicUsize = AtomicUsize::new(0);

/// Deep-copies an `Rc<str>` into a new allocation, counting the calls.
mod counted_rc_str {
    use super::{COPIES, WALKS};
    use ebpf_spec::deep_copy::Walker;
    use std::rc::Rc;
    use std::sync::atomic::Ordering;

    pub fn deep_copy(value: &Rc<str>) -> Rc<str> {
        COPIES.fetch_add(1, Ordering::SeqCst);
        Rc::from(&**value)
    }

    pub fn walk_buffers(value: &Rc<str>, walker: &mut Walker) {
        WALKS.fetch_add(1, Ordering::SeqCst);
        walker.buffer(value.as_bytes(), "Rc<str>");
    }
}

/// A deliberately shallow `with`: sharing is never silent, the proof helper
/// finds it.
mod shallow {
    use ebpf_spec::deep_copy::Walker;
    use std::sync::Arc;

    pub fn deep_copy(value: &Arc<Vec<u8>>) -> Arc<Vec<u8>> {
        Arc::clone(value)
    }

    pub fn walk_buffers(value: &Arc<Vec<u8>>, walker: &mut Walker) {
        walker.buffer(value.as_slice(), "shared");
    }
}

#[derive(DeepCopy, Debug, PartialEq)]
struct WithFns {
    #[deep_copy(with = counted_rc_str)]
    label: Rc<str>,
    #[deep_copy(with = "self::counted_rc_str")]
    other: Rc<str>,
}

#[derive(DeepCopy, Debug, PartialEq)]
enum WithInVariant {
    Labelled {
        #[deep_copy(with = counted_rc_str)]
        label: Rc<str>,
    },
}

#[derive(DeepCopy, Debug, PartialEq)]
struct Shallow {
    #[deep_copy(with = shallow)]
    data: Arc<Vec<u8>>,
}

#[test]
fn with_functions_are_called_inside_the_field_path() {
    let before_copies = COPIES.load(Ordering::SeqCst);
    let before_walks = WALKS.load(Ordering::SeqCst);

    let original = WithFns {
        label: Rc::from("label"),
        other: Rc::from("other"),
    };
    let copy = original.deep_copy();
    assert_eq!(copy, original);
    assert!(!Rc::ptr_eq(&copy.label, &original.label));
    assert!(COPIES.load(Ordering::SeqCst) >= before_copies + 2);

    let found = buffers(&original);
    assert!(WALKS.load(Ordering::SeqCst) >= before_walks + 2);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].path, [field("WithFns", "label")]);
    assert_eq!(found[0].owner, "Rc<str>");
    assert_eq!(found[1].path, [field("WithFns", "other")]);
    assert_deep_copy(&original, &copy);

    let labelled = WithInVariant::Labelled {
        label: Rc::from("l"),
    };
    assert_deep_copy(&labelled, &labelled.deep_copy());
    assert_eq!(paths(&labelled), ["v::Labelled.label"]);
}

#[test]
fn a_sharing_with_function_is_reported_at_its_field() {
    let original = Shallow {
        data: Arc::new(vec![1, 2, 3]),
    };
    let copy = original.deep_copy();
    let report = check_deep_copy(&original, &copy);
    assert!(!report.is_ok());
    assert_eq!(report.overlaps.len(), 1);
    assert_eq!(report.overlaps[0].copy.path, [field("Shallow", "data")]);
    assert!(report.to_string().contains("data"), "{report}");
}

/// Shares on purpose and reports nothing: the range check cannot see it.
mod share_arc {
    use ebpf_spec::deep_copy::Walker;
    use std::sync::Arc;

    pub fn deep_copy(value: &Arc<Vec<u8>>) -> Arc<Vec<u8>> {
        Arc::clone(value)
    }

    pub fn walk_buffers(_: &Arc<Vec<u8>>, _: &mut Walker) {}
}

/// Keeps the reference (the `with` escape hatch also admits reference fields).
mod keep_ref {
    use ebpf_spec::deep_copy::Walker;

    pub fn deep_copy<'a>(value: &&'a [u8]) -> &'a [u8] {
        value
    }

    pub fn walk_buffers(_: &&[u8], _: &mut Walker) {}
}

#[derive(DeepCopy, Debug, PartialEq)]
struct Shares {
    #[deep_copy(with = share_arc)]
    data: Arc<Vec<u8>>,
    owned: Vec<u8>,
}

#[derive(DeepCopy, Debug, PartialEq)]
struct View<'a> {
    #[deep_copy(with = self::keep_ref)]
    bytes: &'a [u8],
}

/// DESIGN.md: "Sharing on purpose is never silent: ... the proof helper lists
/// it". A `with` field whose walk reports nothing is listed by name and module
/// (listed, not refused: the report stays ok).
#[test]
fn with_fields_are_listed_by_the_proof_helper() {
    let a = Shares {
        data: Arc::new(vec![1; 64]),
        owned: vec![2; 8],
    };
    let b = a.deep_copy();
    assert!(Arc::ptr_eq(&a.data, &b.data));
    let report = check_deep_copy(&a, &b);
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.with_fields.len(), 1, "{report}");
    assert_eq!(report.with_fields[0].module, "share_arc");
    assert_eq!(report.with_fields[0].path, [field("Shares", "data")]);
    assert_eq!(report.with_fields[0].count, 1);
    let msg = report.to_string();
    assert!(
        msg.contains(
            "field `data` of `Shares` copied by `share_arc::deep_copy`: only what \
             `share_arc::walk_buffers` reports is checked (at `Shares.data`)"
        ),
        "{msg}"
    );

    // A reference field through `with`: listed too.
    let backing = vec![7u8; 32];
    let a = View { bytes: &backing };
    let b = a.deep_copy();
    assert!(std::ptr::eq(a.bytes, b.bytes));
    let report = check_deep_copy(&a, &b);
    assert_eq!(report.with_fields.len(), 1, "{report}");
    assert_eq!(report.with_fields[0].module, "self::keep_ref");
    assert!(
        report
            .to_string()
            .contains("field `bytes` of `View` copied by `self::keep_ref::deep_copy`"),
        "{report}"
    );

    // Many values holding the field: one entry, counted; a failing report
    // lists it as well.
    let many: Vec<Shares> = (0..3)
        .map(|i| Shares {
            data: Arc::new(vec![i; 4]),
            owned: vec![i],
        })
        .collect();
    let copy = many.deep_copy();
    let report = check_deep_copy(&many, &copy);
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.with_fields.len(), 1);
    assert_eq!(report.with_fields[0].count, 3);
    assert_eq!(
        report.with_fields[0].path,
        [PathSegment::Index(0), field("Shares", "data")]
    );
    assert!(report.to_string().contains("and 2 more"), "{report}");
    let failing = check_deep_copy(
        &many[0],
        &Shares {
            data: Arc::clone(&many[0].data),
            owned: vec![9],
        },
    );
    assert!(!failing.is_ok());
    assert!(
        failing
            .to_string()
            .contains("copied by `share_arc::deep_copy`"),
        "{failing}"
    );

    // Types without `with` fields list nothing.
    let plain = owned();
    assert!(
        check_deep_copy(&plain, &plain.deep_copy())
            .with_fields
            .is_empty()
    );
}

// ------------------------------------------------------------------ generics and bounds

/// Neither `DeepCopy` nor `Default`.
#[derive(Debug, PartialEq)]
struct Opaque;

#[derive(DeepCopy, Debug, PartialEq)]
struct Generic<'a, T, U, const N: usize>
where
    T: std::fmt::Debug,
{
    items: [Vec<T>; N],
    name: Cow<'a, str>,
    _marker: PhantomData<U>,
}

#[derive(DeepCopy)]
#[deep_copy(bound = "")]
struct ExplicitlyUnbounded<T> {
    #[deep_copy(with = rc_handle)]
    handle: Rc<T>,
}

/// Copies the handle (shares on purpose; this test is about bounds only).
mod rc_handle {
    use ebpf_spec::deep_copy::Walker;
    use std::rc::Rc;

    pub fn deep_copy<T>(value: &Rc<T>) -> Rc<T> {
        Rc::clone(value)
    }

    pub fn walk_buffers<T>(_: &Rc<T>, _: &mut Walker) {}
}

fn requires_deep_copy<T: DeepCopy>(value: &T) -> T {
    value.deep_copy()
}

#[test]
fn generic_bounds_only_where_used() {
    // `U = Opaque` has no `DeepCopy` impl: it only appears in `PhantomData`.
    let original: Generic<'_, String, Opaque, 2> = Generic {
        items: [vec!["a".into()], vec![]],
        name: Cow::Borrowed("borrowed"),
        _marker: PhantomData,
    };
    let copy = requires_deep_copy(&original);
    assert_eq!(copy, original);
    assert!(matches!(copy.name, Cow::Owned(_)));
    assert_deep_copy(&original, &copy);
    // `items[0]`: a Vec element of an array, reported with its index.
    assert!(
        buffers(&original)
            .iter()
            .any(|b| b.path == [field("Generic", "items"), PathSegment::Index(0)]),
        "{:?}",
        paths(&original)
    );

    // `bound = ""`: `Opaque` needs no impl at all.
    let unbounded = ExplicitlyUnbounded {
        handle: Rc::new(Opaque),
    };
    let copy = requires_deep_copy(&unbounded);
    assert_eq!(*copy.handle, Opaque);
}

// ------------------------------------------------------- `?Sized` parameters

#[derive(DeepCopy, Debug, PartialEq)]
struct UnsizedHolder<T: ?Sized> {
    boxed: Box<T>,
    shared: Arc<T>,
}

/// (No `Debug`/`PartialEq` derive: std's derives would need
/// `<B as ToOwned>::Owned: Debug`.)
#[derive(DeepCopy)]
struct UnsizedNamed<'a, B: ?Sized + ToOwned> {
    name: Cow<'a, B>,
}

/// A `T: ?Sized` parameter is not bounded `T: DeepCopy` (which implies
/// `Sized`): `Box<T>` and `Arc<T>` are, so `str` and `[u8]` work, and the
/// copies get new allocations.
#[test]
fn unsized_parameters_behind_pointers() {
    let h: UnsizedHolder<str> = UnsizedHolder {
        boxed: "a".into(),
        shared: Arc::from("shared"),
    };
    let copy = requires_deep_copy(&h);
    assert_eq!(copy, h);
    assert!(!Arc::ptr_eq(&copy.shared, &h.shared));
    assert_deep_copy(&h, &copy);

    let bytes: UnsizedHolder<[u8]> = UnsizedHolder {
        boxed: vec![1u8, 2].into(),
        shared: Arc::from(&[3u8, 4][..]),
    };
    assert_deep_copy(&bytes, &requires_deep_copy(&bytes));

    let backing = String::from("borrowed");
    let named: UnsizedNamed<'_, str> = UnsizedNamed {
        name: Cow::Borrowed(&backing),
    };
    let copy = requires_deep_copy(&named);
    assert!(matches!(copy.name, Cow::Owned(_)));
    assert_eq!(copy.name, named.name);
    assert_disjoint(&named, &copy);
    let named: UnsizedNamed<'_, [u8]> = UnsizedNamed {
        name: Cow::Borrowed(&[5u8, 6][..]),
    };
    let copy = requires_deep_copy(&named);
    assert_eq!(copy.name, named.name);
    assert_disjoint(&named, &copy);
}

/// `#[deep_copy(plain)]`: a vector of records copies as one buffer, equal
/// and disjoint, and a single record is still copied field by field.
#[test]
fn plain_records_copy_as_one_buffer() {
    #[derive(Debug, Clone, Copy, PartialEq, DeepCopy)]
    #[deep_copy(plain)]
    struct Record {
        at: u32,
        kind: Kind,
        pair: (u16, i64),
    }
    #[derive(Debug, Clone, Copy, PartialEq, DeepCopy)]
    #[deep_copy(plain)]
    enum Kind {
        Line { col: u16 },
        Func,
    }
    let records: Vec<Record> = (0..1000)
        .map(|i| Record {
            at: i,
            kind: if i % 2 == 0 {
                Kind::Func
            } else {
                Kind::Line { col: i as u16 }
            },
            pair: (i as u16, -(i as i64)),
        })
        .collect();
    let copy = records.deep_copy();
    assert_eq!(copy, records);
    ebpf_spec::deep_copy::assert_deep_copy(&records, &copy);
    assert_eq!(ebpf_spec::deep_copy::buffers(&records).len(), 1);
    assert_eq!(records[3].deep_copy(), records[3]);
}

// ------------------------------------------------- skipped fields are listed

static GLOBAL_CACHE: std::sync::LazyLock<Arc<std::sync::Mutex<Vec<u8>>>> =
    std::sync::LazyLock::new(|| Arc::new(std::sync::Mutex::new(vec![0; 16])));

/// A `Default` that hands out shared state: what `skip` puts in the copy.
#[derive(Debug)]
struct SharedCache(Arc<std::sync::Mutex<Vec<u8>>>);

impl Default for SharedCache {
    fn default() -> Self {
        SharedCache(Arc::clone(&GLOBAL_CACHE))
    }
}

#[derive(DeepCopy, Debug)]
struct Cached {
    name: String,
    #[deep_copy(skip)]
    cache: SharedCache,
}

#[derive(DeepCopy, Debug)]
enum CachedVariant {
    Plain,
    Cached(String, #[deep_copy(skip)] SharedCache),
}

/// A skipped field is not walked (its type need not be `DeepCopy`), so a
/// `Default` sharing a global is invisible to the range check; the proof
/// helper lists the field instead, as it lists `with` fields (DESIGN.md:
/// sharing on purpose is never silent).
#[test]
fn skipped_fields_are_listed_by_the_proof_helper() {
    use ebpf_spec::deep_copy::check_disjoint;
    let a = Cached {
        name: "n".into(),
        cache: SharedCache::default(),
    };
    let b = a.deep_copy();
    assert!(Arc::ptr_eq(&a.cache.0, &b.cache.0), "the Default shares");
    let report = check_disjoint(&a, &b);
    assert!(report.is_ok(), "{report}");
    assert!(report.with_fields.is_empty());
    assert_eq!(report.skipped_fields.len(), 1, "{report}");
    assert_eq!(report.skipped_fields[0].path, [field("Cached", "cache")]);
    assert_eq!(report.skipped_fields[0].field(), Some(("Cached", "cache")));
    let msg = report.to_string();
    assert!(
        msg.contains(
            "field `cache` of `Cached` skipped (`#[deep_copy(skip)]`): the copy holds \
             `Default::default()`, which is not checked (at `Cached.cache`)"
        ),
        "{msg}"
    );

    // In an enum variant, and counted over many values; a value in another
    // variant lists nothing.
    let many = vec![
        CachedVariant::Cached("a".into(), SharedCache::default()),
        CachedVariant::Plain,
        CachedVariant::Cached("b".into(), SharedCache::default()),
    ];
    let copy = many.deep_copy();
    let (CachedVariant::Cached(_, a), CachedVariant::Cached(_, b)) = (&many[0], &copy[0]) else {
        panic!("variant changed by the copy: {copy:?}");
    };
    assert!(Arc::ptr_eq(&a.0, &b.0), "the Default shares");
    let report = check_disjoint(&many, &copy);
    assert_eq!(report.skipped_fields.len(), 1, "{report}");
    assert_eq!(report.skipped_fields[0].count, 2);
    assert_eq!(
        report.skipped_fields[0].path,
        [
            PathSegment::Index(0),
            variant("CachedVariant", "Cached"),
            field("CachedVariant::Cached", "1")
        ]
    );
    assert!(report.to_string().contains("and 1 more"), "{report}");
    let report = check_disjoint(&CachedVariant::Plain, &CachedVariant::Plain.deep_copy());
    assert!(report.skipped_fields.is_empty());
    // Types without skipped fields list nothing.
    assert!(
        check_deep_copy(&owned(), &owned().deep_copy())
            .skipped_fields
            .is_empty()
    );
}

// ------------------------------------- another module's type of the same name

#[derive(DeepCopy, Debug, PartialEq)]
struct Versioned<T> {
    items: Vec<T>,
}

mod v2 {
    use ebpf_spec::DeepCopy;

    /// Wraps the `Versioned<T>` above under the same name: `super::Versioned`
    /// is another type, whose `T` needs its bound.
    #[derive(DeepCopy, Debug, PartialEq)]
    pub(super) struct Versioned<T> {
        pub(super) inner: super::Versioned<T>,
        pub(super) note: String,
    }

    /// The same through `crate::`.
    #[derive(DeepCopy, Debug, PartialEq)]
    pub(super) struct Spec<T> {
        pub(super) inner: crate::Versioned<T>,
    }
}

/// A `Cow` of a sized parameter needs `T: DeepToOwned` (`DeepCopy + Clone`),
/// not `T: DeepCopy`: the derive bounds the `Cow` as a whole.
#[derive(DeepCopy)]
struct SizedCow<'a, T: Clone> {
    value: Cow<'a, T>,
}

#[test]
fn paths_to_another_type_of_the_same_name_are_bounded() {
    let v = v2::Versioned {
        inner: Versioned {
            items: vec![String::from("a")],
        },
        note: "n".into(),
    };
    assert_deep_copy(&v, &requires_deep_copy(&v));
    let s = v2::Spec {
        inner: Versioned {
            items: vec![vec![1u8]],
        },
    };
    assert_deep_copy(&s, &requires_deep_copy(&s));

    let backing = vec![String::from("tenant")];
    let c = SizedCow {
        value: Cow::Borrowed(&backing),
    };
    let copy = requires_deep_copy(&c);
    assert!(matches!(copy.value, Cow::Owned(_)));
    assert_eq!(*copy.value, backing);
    assert_disjoint(&c, &copy);
}
