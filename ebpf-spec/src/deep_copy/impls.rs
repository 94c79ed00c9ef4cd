//! `DeepCopy` for the standard library's types (and `bytes`, behind a feature).

use super::{Bitwise, DeepCopy, DeepToOwned, PlainCopy, Walker};
use std::any::type_name;
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::ffi::{CStr, CString, OsStr, OsString};
use std::hash::{BuildHasher, Hash};
use std::io::Cursor;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError, RwLock, TryLockError};
use std::time::{Duration, Instant, SystemTime};

/// Types that own no heap memory: the copy is the value itself, slices copy
/// with one `memcpy`, there is nothing to walk, and the type is
/// [`PlainCopy`]. Used for the spec's own such types too (`MapFlags`, the
/// kernel enums, `Instruction`).
macro_rules! plain {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::deep_copy::DeepCopy for $t {
            #[inline]
            fn deep_copy(&self) -> Self {
                *self
            }
            #[inline]
            fn walk_buffers(&self, _walker: &mut $crate::deep_copy::Walker) {}
            #[inline]
            fn deep_copy_slice(src: &[Self]) -> ::std::vec::Vec<Self> {
                src.to_vec()
            }
            #[inline]
            fn walk_slice(_src: &[Self], _walker: &mut $crate::deep_copy::Walker) {}
            #[inline]
            fn __bitwise(&self) -> $crate::deep_copy::Bitwise<Self> {
                $crate::deep_copy::Bitwise::COPY
            }
        }

        impl $crate::deep_copy::PlainCopy for $t {}
    )*};
}
pub(crate) use plain;

plain!(
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    bool,
    char,
    (),
    Duration,
    Instant,
    SystemTime,
    std::num::NonZeroU8,
    std::num::NonZeroU16,
    std::num::NonZeroU32,
    std::num::NonZeroU64,
    std::num::NonZeroU128,
    std::num::NonZeroUsize,
    std::num::NonZeroI8,
    std::num::NonZeroI16,
    std::num::NonZeroI32,
    std::num::NonZeroI64,
    std::num::NonZeroI128,
    std::num::NonZeroIsize,
    std::net::Ipv4Addr,
    std::net::Ipv6Addr,
    std::net::IpAddr,
    std::net::SocketAddr,
    std::net::SocketAddrV4,
    std::net::SocketAddrV6,
    std::cmp::Ordering,
);

impl<T: ?Sized> DeepCopy for PhantomData<T> {
    #[inline]
    fn deep_copy(&self) -> Self {
        PhantomData
    }
    #[inline]
    fn walk_buffers(&self, _walker: &mut Walker) {}
    #[inline]
    fn __bitwise(&self) -> Bitwise<Self> {
        Bitwise::COPY
    }
}

impl<T: DeepCopy> DeepCopy for std::num::Wrapping<T> {
    fn deep_copy(&self) -> Self {
        std::num::Wrapping(self.0.deep_copy())
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        self.0.walk_buffers(walker);
    }
    #[inline]
    fn __bitwise(&self) -> Bitwise<Self> {
        // SAFETY: a `Wrapping` is its one field, copied by that field's
        // `deep_copy`: what holds for the field holds for it.
        unsafe { Bitwise::assume(self.0.__bitwise().holds()) }
    }
}

// ---------------------------------------------------------------- strings

impl DeepCopy for String {
    #[inline]
    fn deep_copy(&self) -> Self {
        self.as_str().to_owned()
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        walker.buffer(self.as_bytes(), "alloc::string::String");
    }
    #[inline]
    fn __bitwise(&self) -> Bitwise<Self> {
        // SAFETY: a `String` without capacity has no allocation (its
        // pointer is dangling and never freed), and its deep copy is an
        // equal empty `String`.
        unsafe { Bitwise::assume(self.capacity() == 0) }
    }
}

impl DeepCopy for Box<str> {
    fn deep_copy(&self) -> Self {
        Box::from(&**self)
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        walker.buffer(self.as_bytes(), "alloc::boxed::Box<str>");
    }
}

impl DeepCopy for PathBuf {
    fn deep_copy(&self) -> Self {
        self.as_path().to_path_buf()
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        walker.buffer(self.as_os_str().as_encoded_bytes(), "std::path::PathBuf");
    }
}

impl DeepCopy for OsString {
    fn deep_copy(&self) -> Self {
        self.as_os_str().to_os_string()
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        walker.buffer(self.as_encoded_bytes(), "std::ffi::OsString");
    }
}

impl DeepCopy for CString {
    fn deep_copy(&self) -> Self {
        self.as_c_str().to_owned()
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        walker.buffer(self.as_bytes_with_nul(), "alloc::ffi::CString");
    }
}

// ---------------------------------------------------------------- sequences

impl<T: DeepCopy> DeepCopy for Vec<T> {
    #[inline]
    fn deep_copy(&self) -> Self {
        T::deep_copy_slice(self)
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        walker.buffer(self.as_slice(), type_name::<Self>());
        T::walk_slice(self, walker);
    }
    #[inline]
    fn __bitwise(&self) -> Bitwise<Self> {
        // SAFETY: a `Vec` of a sized element without capacity has no
        // allocation (its pointer is dangling and never freed) and no
        // element; its deep copy is an equal empty `Vec`. (A `Vec` of a
        // zero-sized type reports `usize::MAX` and is never taken.)
        unsafe { Bitwise::assume(self.capacity() == 0) }
    }
}

impl<T: DeepCopy> DeepCopy for Box<[T]> {
    fn deep_copy(&self) -> Self {
        T::deep_copy_slice(self).into_boxed_slice()
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        walker.buffer(&**self, type_name::<Self>());
        T::walk_slice(self, walker);
    }
    #[inline]
    fn __bitwise(&self) -> Bitwise<Self> {
        // SAFETY: an empty boxed slice of a sized, non-zero-sized element
        // has no allocation (a zero-sized layout is never allocated or
        // freed) and no element; its deep copy is an equal empty slice.
        unsafe { Bitwise::assume(self.is_empty() && size_of::<T>() != 0) }
    }
}

impl<T: DeepCopy> DeepCopy for VecDeque<T> {
    fn deep_copy(&self) -> Self {
        let (a, b) = self.as_slices();
        let mut out = VecDeque::with_capacity(self.len());
        out.extend(T::deep_copy_slice(a));
        out.extend(T::deep_copy_slice(b));
        out
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        let (a, b) = self.as_slices();
        walker.buffer(a, type_name::<Self>());
        walker.buffer(b, type_name::<Self>());
        for (i, item) in self.iter().enumerate() {
            walker.push_index(i);
            item.walk_buffers(walker);
            walker.pop();
        }
    }
}

impl<T: DeepCopy, const N: usize> DeepCopy for [T; N] {
    #[inline]
    fn deep_copy(&self) -> Self {
        self.each_ref().map(T::deep_copy)
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        T::walk_slice(self, walker);
    }
    #[inline]
    fn __bitwise(&self) -> Bitwise<Self> {
        let yes = self.iter().all(|v| v.__bitwise().holds());
        // SAFETY: an array is copied element by element with each
        // element's `deep_copy`, and every element's answer is in `yes`.
        unsafe { Bitwise::assume(yes) }
    }
}

// ---------------------------------------------------------------- collections
//
// The walk of a map or set reports, for each element, the bytes it occupies in
// the collection's own storage (hash table or tree node: `size_of` the key and
// of the value, zero-sized ones skipped) and then the buffers the element owns.
// Storage shared between two collections is thus seen like a shared `Vec`
// buffer. The ranges carry the collection's type as owner and the path
// `[i].key` / `[i].value` (or `[i]` for a set).

/// The entries of one B-tree node in the standard library (its `CAPACITY`).
/// Up to this many, copying by in-order inserts is cheaper than building from
/// an iterator, which stages every entry in a vector first (the copy of the
/// parsed fixtures went from 34.3 to 28.1 us: BENCHMARKS.md, parse and copy);
/// past it, the bulk build is kept: it packs the nodes full. Either way the
/// result is the same map; only the cost differs.
const ONE_BTREE_NODE: usize = 11;

impl<K: DeepCopy + Ord, V: DeepCopy> DeepCopy for BTreeMap<K, V> {
    fn deep_copy(&self) -> Self {
        if self.len() <= ONE_BTREE_NODE {
            // A small tree is one node: inserting in order fills it in place,
            // without the staging vector (and its moves of every value) that
            // building from an iterator makes.
            let mut out = BTreeMap::new();
            for (k, v) in self {
                out.insert(k.deep_copy(), v.deep_copy());
            }
            out
        } else {
            // Keys come out sorted: building from a sorted iterator is linear
            // and packs the nodes full.
            self.iter()
                .map(|(k, v)| (k.deep_copy(), v.deep_copy()))
                .collect()
        }
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        walk_entries(self.iter(), type_name::<Self>(), walker);
    }
}

impl<T: DeepCopy + Ord> DeepCopy for BTreeSet<T> {
    fn deep_copy(&self) -> Self {
        if self.len() <= ONE_BTREE_NODE {
            // As for `BTreeMap`: one node, filled in place.
            let mut out = BTreeSet::new();
            for item in self {
                out.insert(item.deep_copy());
            }
            out
        } else {
            self.iter().map(T::deep_copy).collect()
        }
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        walk_items(self.iter(), type_name::<Self>(), walker);
    }
}

/// The hasher is cloned, so the copy hashes exactly like the original. It is
/// not walked: `RandomState` and `BuildHasherDefault` hold keys, not buffers,
/// but a custom hasher holding shared state (an `Arc`) is shared by the copy,
/// unseen by the proof helper (see the trait's "Limits"). `S: DeepCopy` is not
/// required: custom hashers are usually foreign types, which could then never
/// be copied.
impl<K, V, S> DeepCopy for HashMap<K, V, S>
where
    K: DeepCopy + Eq + Hash,
    V: DeepCopy,
    S: BuildHasher + Clone,
{
    fn deep_copy(&self) -> Self {
        let mut out = HashMap::with_capacity_and_hasher(self.len(), self.hasher().clone());
        out.extend(self.iter().map(|(k, v)| (k.deep_copy(), v.deep_copy())));
        out
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        walk_entries(self.iter(), type_name::<Self>(), walker);
    }
}

/// The hasher is cloned (and not walked), as for `HashMap`.
impl<T, S> DeepCopy for HashSet<T, S>
where
    T: DeepCopy + Eq + Hash,
    S: BuildHasher + Clone,
{
    fn deep_copy(&self) -> Self {
        let mut out = HashSet::with_capacity_and_hasher(self.len(), self.hasher().clone());
        out.extend(self.iter().map(T::deep_copy));
        out
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        walk_items(self.iter(), type_name::<Self>(), walker);
    }
}

/// The walk of a set: each element where it lives in the set's storage, then
/// what it owns.
fn walk_items<'a, T: DeepCopy + 'a>(
    items: impl Iterator<Item = &'a T>,
    owner: &'static str,
    walker: &mut Walker,
) {
    for (i, item) in items.enumerate() {
        walker.push_index(i);
        walker.buffer(item, owner);
        item.walk_buffers(walker);
        walker.pop();
    }
}

/// The walk of a map: key and value of each entry where they live in the
/// map's storage, then what they own.
fn walk_entries<'a, K: DeepCopy + 'a, V: DeepCopy + 'a>(
    entries: impl Iterator<Item = (&'a K, &'a V)>,
    owner: &'static str,
    walker: &mut Walker,
) {
    for (i, (k, v)) in entries.enumerate() {
        walker.push_index(i);
        walker.push_field("map entry", "key");
        walker.buffer(k, owner);
        k.walk_buffers(walker);
        walker.pop();
        walker.push_field("map entry", "value");
        walker.buffer(v, owner);
        v.walk_buffers(walker);
        walker.pop();
        walker.pop();
    }
}

// ---------------------------------------------------------------- enums

impl<T: DeepCopy> DeepCopy for Option<T> {
    #[inline]
    fn deep_copy(&self) -> Self {
        self.as_ref().map(T::deep_copy)
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        if let Some(v) = self {
            walker.push_variant("Option", "Some");
            v.walk_buffers(walker);
            walker.pop();
        }
    }
    #[inline]
    fn __bitwise(&self) -> Bitwise<Self> {
        let yes = match self {
            None => true,
            Some(v) => v.__bitwise().holds(),
        };
        // SAFETY: `None` holds nothing; `Some` is its value, copied by the
        // value's `deep_copy`: what holds for the value holds for it.
        unsafe { Bitwise::assume(yes) }
    }
}

impl<T: DeepCopy, E: DeepCopy> DeepCopy for Result<T, E> {
    fn deep_copy(&self) -> Self {
        match self {
            Ok(v) => Ok(v.deep_copy()),
            Err(e) => Err(e.deep_copy()),
        }
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        match self {
            Ok(v) => {
                walker.push_variant("Result", "Ok");
                v.walk_buffers(walker);
            }
            Err(e) => {
                walker.push_variant("Result", "Err");
                e.walk_buffers(walker);
            }
        }
        walker.pop();
    }
    #[inline]
    fn __bitwise(&self) -> Bitwise<Self> {
        let yes = match self {
            Ok(v) => v.__bitwise().holds(),
            Err(e) => e.__bitwise().holds(),
        };
        // SAFETY: each variant is its value, copied by the value's
        // `deep_copy`: what holds for the value holds for it.
        unsafe { Bitwise::assume(yes) }
    }
}

// ---------------------------------------------------------------- tuples

macro_rules! tuple {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: PlainCopy),+> PlainCopy for ($($name,)+) {}

        impl<$($name: DeepCopy),+> DeepCopy for ($($name,)+) {
            #[inline]
            fn deep_copy(&self) -> Self {
                ($(self.$idx.deep_copy(),)+)
            }
            fn walk_buffers(&self, walker: &mut Walker) {
                $(
                    walker.push_field("tuple", stringify!($idx));
                    self.$idx.walk_buffers(walker);
                    walker.pop();
                )+
            }
            #[inline]
            fn __bitwise(&self) -> Bitwise<Self> {
                let yes = $(self.$idx.__bitwise().holds())&&+;
                // SAFETY: a tuple is copied field by field with each
                // field's `deep_copy`, and every field's answer is in `yes`.
                unsafe { Bitwise::assume(yes) }
            }
        }
    };
}

impl<T: ?Sized> PlainCopy for PhantomData<T> {}
impl<T: PlainCopy> PlainCopy for std::num::Wrapping<T> {}
impl<T: PlainCopy, const N: usize> PlainCopy for [T; N] {}
impl<T: PlainCopy> PlainCopy for Option<T> {}

tuple!(A 0);
tuple!(A 0, B 1);
tuple!(A 0, B 1, C 2);
tuple!(A 0, B 1, C 2, D 3);
tuple!(A 0, B 1, C 2, D 3, E 4);
tuple!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);

// ---------------------------------------------------------------- owning pointers

impl<T: DeepCopy> DeepCopy for Box<T> {
    #[inline]
    fn deep_copy(&self) -> Self {
        Box::new((**self).deep_copy())
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        walker.buffer(&**self, type_name::<Self>());
        (**self).walk_buffers(walker);
    }
}

/// Reports the value inside an `Arc`/`Rc` allocation (its `size_of_val` bytes;
/// the counts beside it are private to std).
///
/// A zero-sized value or an empty slice or `str` holds no byte and is not
/// reported: its address may be one past the end of the allocation, or a
/// static shared by every empty `Arc<[T]>`, so a one-byte range there could
/// overlap memory that is not the allocation at all. A count shared over
/// nothing is the one sharing the range check cannot see.
fn walk_shared<T: ?Sized>(value: &T, owner: &'static str, walker: &mut Walker) {
    walker.buffer(value, owner);
}

macro_rules! shared_pointer {
    ($ptr:ident) => {
        /// A new allocation holding a deep copy of the value: never a count bump.
        impl<T: DeepCopy> DeepCopy for $ptr<T> {
            fn deep_copy(&self) -> Self {
                $ptr::new((**self).deep_copy())
            }
            fn walk_buffers(&self, walker: &mut Walker) {
                walk_shared(&**self, type_name::<Self>(), walker);
                (**self).walk_buffers(walker);
            }
        }

        /// A new allocation holding deep copies of the elements: never a count bump.
        impl<T: DeepCopy> DeepCopy for $ptr<[T]> {
            fn deep_copy(&self) -> Self {
                $ptr::from(T::deep_copy_slice(self))
            }
            fn walk_buffers(&self, walker: &mut Walker) {
                walk_shared(&**self, type_name::<Self>(), walker);
                T::walk_slice(self, walker);
            }
        }

        /// A new allocation holding a copy of the string: never a count bump.
        impl DeepCopy for $ptr<str> {
            fn deep_copy(&self) -> Self {
                $ptr::from(&**self)
            }
            fn walk_buffers(&self, walker: &mut Walker) {
                walk_shared(&**self, type_name::<Self>(), walker);
            }
        }
    };
}

shared_pointer!(Arc);
shared_pointer!(Rc);

/// `Box`, `Arc` and `Rc` over the unsized byte-string types: a new allocation
/// holding a copy of the bytes (never a count bump).
macro_rules! owned_unsized {
    ($($ptr:ident<$t:ty> => |$w:ident| $bytes:expr;)*) => {$(
        impl DeepCopy for $ptr<$t> {
            fn deep_copy(&self) -> Self {
                $ptr::from(&**self)
            }
            fn walk_buffers(&self, walker: &mut Walker) {
                let $w: &$t = self;
                walker.buffer($bytes, type_name::<Self>());
            }
        }
    )*};
}

owned_unsized! {
    Box<Path> => |p| p.as_os_str().as_encoded_bytes();
    Box<OsStr> => |s| s.as_encoded_bytes();
    Box<CStr> => |s| s.to_bytes_with_nul();
    Arc<Path> => |p| p.as_os_str().as_encoded_bytes();
    Arc<OsStr> => |s| s.as_encoded_bytes();
    Arc<CStr> => |s| s.to_bytes_with_nul();
    Rc<Path> => |p| p.as_os_str().as_encoded_bytes();
    Rc<OsStr> => |s| s.as_encoded_bytes();
    Rc<CStr> => |s| s.to_bytes_with_nul();
}

/// Always becomes `Cow::Owned`, through [`DeepToOwned::deep_to_owned`] for a
/// borrowed value (never `ToOwned::to_owned`, which is `Clone` for most types,
/// and `Clone` may share: an `Arc` element, say).
///
/// The walk of `Cow::Borrowed` reports the borrowed value as an owned one would
/// be: the bytes it occupies where it lives, then every buffer it owns. The
/// borrowed memory is not the `Cow`'s, but a copy must not share it either.
impl<B: ?Sized + DeepToOwned> DeepCopy for Cow<'_, B> {
    fn deep_copy(&self) -> Self {
        match self {
            Cow::Borrowed(b) => Cow::Owned(b.deep_to_owned()),
            Cow::Owned(o) => Cow::Owned(o.deep_copy()),
        }
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        match self {
            Cow::Borrowed(b) => {
                walker.push_variant("Cow", "Borrowed");
                b.walk_borrowed(walker);
                walker.pop();
            }
            Cow::Owned(o) => {
                walker.push_variant("Cow", "Owned");
                o.walk_buffers(walker);
                walker.pop();
            }
        }
    }
}

/// A sized value: its deep copy; walked as its bytes plus what it owns.
impl<T: DeepCopy + Clone> DeepToOwned for T {
    #[inline]
    fn deep_to_owned(&self) -> T {
        self.deep_copy()
    }
    fn walk_borrowed(&self, walker: &mut Walker) {
        walker.buffer(self, type_name::<&T>());
        self.walk_buffers(walker);
    }
}

/// A new `Vec` of deep copies (one `memcpy` for plain elements).
impl<T: DeepCopy + Clone> DeepToOwned for [T] {
    #[inline]
    fn deep_to_owned(&self) -> Vec<T> {
        T::deep_copy_slice(self)
    }
    fn walk_borrowed(&self, walker: &mut Walker) {
        walker.buffer(self, type_name::<&Self>());
        T::walk_slice(self, walker);
    }
}

macro_rules! borrowed_bytes {
    ($($t:ty => $owned:ty, |$v:ident| $copy:expr, |$w:ident| $bytes:expr;)*) => {$(
        /// A new buffer holding a copy of the bytes.
        impl DeepToOwned for $t {
            #[inline]
            fn deep_to_owned(&self) -> $owned {
                let $v = self;
                $copy
            }
            fn walk_borrowed(&self, walker: &mut Walker) {
                let $w = self;
                walker.buffer($bytes, type_name::<&Self>());
            }
        }
    )*};
}

borrowed_bytes! {
    str => String, |s| s.to_owned(), |s| s.as_bytes();
    CStr => CString, |s| s.to_owned(), |s| s.to_bytes_with_nul();
    OsStr => OsString, |s| s.to_os_string(), |s| s.as_encoded_bytes();
    Path => PathBuf, |p| p.to_path_buf(), |p| p.as_os_str().as_encoded_bytes();
}

// ---------------------------------------------------------------- cursors, locks, cells

/// Its own copy of the buffer, at the same position.
impl<T: DeepCopy> DeepCopy for Cursor<T> {
    fn deep_copy(&self) -> Self {
        let mut out = Cursor::new(self.get_ref().deep_copy());
        out.set_position(self.position());
        out
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        self.get_ref().walk_buffers(walker);
    }
}

/// A new, unlocked mutex over a deep copy of the value. A poisoned mutex is
/// copied all the same (the copy is not poisoned): the value is what it is.
///
/// `deep_copy` locks the mutex to read the value, as any reader must: it waits
/// while another thread holds the lock, and deadlocks (or panics, as
/// `Mutex::lock` may) if the current thread holds it.
///
/// The walk never waits: it uses `try_lock`, and a mutex that is locked while
/// the walk runs (by any thread) is recorded with [`Walker::not_walked`], so
/// the proof helper reports it as not checked instead of hanging.
///
/// A panic in the value's own `deep_copy` is passed on, and leaves the
/// original unpoisoned: the copy only read it (the guard is released before
/// the panic resumes, not while it unwinds).
impl<T: DeepCopy> DeepCopy for Mutex<T> {
    fn deep_copy(&self) -> Self {
        let guard = self.lock().unwrap_or_else(PoisonError::into_inner);
        let copy = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| guard.deep_copy()));
        drop(guard);
        match copy {
            Ok(value) => Mutex::new(value),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        match self.try_lock() {
            Ok(guard) => guard.walk_buffers(walker),
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner().walk_buffers(walker),
            Err(TryLockError::WouldBlock) => walker.not_walked(
                type_name::<Self>(),
                "the mutex was locked (by this thread or another) while the walk ran; \
                 release it before checking",
            ),
        }
    }
}

/// A new, unlocked lock over a deep copy of the value (poisoning as for `Mutex`).
///
/// `deep_copy` takes a read lock: it waits while a writer holds the lock, and
/// may deadlock if the current thread holds the write lock. The walk uses
/// `try_read` and records a lock it cannot take with [`Walker::not_walked`],
/// as for `Mutex`.
impl<T: DeepCopy> DeepCopy for RwLock<T> {
    fn deep_copy(&self) -> Self {
        let guard = self.read().unwrap_or_else(PoisonError::into_inner);
        RwLock::new(guard.deep_copy())
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        match self.try_read() {
            Ok(guard) => guard.walk_buffers(walker),
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner().walk_buffers(walker),
            Err(TryLockError::WouldBlock) => walker.not_walked(
                type_name::<Self>(),
                "the lock was held for writing (by this thread or another) while the walk \
                 ran; release it before checking",
            ),
        }
    }
}

/// A new cell holding a deep copy of the value. `Cell` hands out values, not
/// references, so this needs `T: Copy`.
///
/// The walk reports what the value reports. A `Copy` value usually owns no
/// heap memory, but one may point at some (a `&'static [u8]` behind a
/// `DeepCopy` that copies it): the bitwise copy `get` returns points at the
/// same memory, so walking it reports the cell's own.
impl<T: DeepCopy + Copy> DeepCopy for Cell<T> {
    fn deep_copy(&self) -> Self {
        Cell::new(self.get().deep_copy())
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        self.get().walk_buffers(walker);
    }
}

/// A new cell over a deep copy of the value.
///
/// # Panics
/// `deep_copy` panics like `RefCell::clone` if the value is mutably borrowed at
/// the time. The walk does not: it records the cell with
/// [`Walker::not_walked`], and the proof helper reports it as not checked.
impl<T: DeepCopy> DeepCopy for RefCell<T> {
    fn deep_copy(&self) -> Self {
        RefCell::new(self.borrow().deep_copy())
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        match self.try_borrow() {
            Ok(value) => value.walk_buffers(walker),
            Err(_) => walker.not_walked(
                type_name::<Self>(),
                "the cell was mutably borrowed while the walk ran; end the borrow before checking",
            ),
        }
    }
}

/// A new atomic holding the value loaded from this one (`SeqCst`): a copy
/// of a counter starts from the count it had, and counts on its own.
macro_rules! atomic {
    ($($(#[$cfg:meta])* $t:ident;)*) => {$(
        $(#[$cfg])*
        impl DeepCopy for std::sync::atomic::$t {
            fn deep_copy(&self) -> Self {
                Self::new(self.load(std::sync::atomic::Ordering::SeqCst))
            }
            fn walk_buffers(&self, _walker: &mut Walker) {}
        }
    )*};
}

atomic! {
    #[cfg(target_has_atomic = "8")] AtomicBool;
    #[cfg(target_has_atomic = "8")] AtomicU8;
    #[cfg(target_has_atomic = "8")] AtomicI8;
    #[cfg(target_has_atomic = "16")] AtomicU16;
    #[cfg(target_has_atomic = "16")] AtomicI16;
    #[cfg(target_has_atomic = "32")] AtomicU32;
    #[cfg(target_has_atomic = "32")] AtomicI32;
    #[cfg(target_has_atomic = "64")] AtomicU64;
    #[cfg(target_has_atomic = "64")] AtomicI64;
    #[cfg(target_has_atomic = "ptr")] AtomicUsize;
    #[cfg(target_has_atomic = "ptr")] AtomicIsize;
}

// ---------------------------------------------------------------- bytes

/// `Bytes::clone` shares the buffer; `deep_copy` always copies the bytes in view
/// into a new allocation, so a copy never shares memory or a reference count
/// with the original.
///
/// The walk reports the bytes in view. Two *different* views of one allocation
/// (`b.slice(0..8)` and `b.slice(8..16)`) share the allocation and its count
/// without sharing a byte, and `Bytes` exposes no way to see the allocation
/// behind a view: the proof helper passes them. It catches views that overlap,
/// and a clone (the same view). See
/// [`check_deep_copy`](super::check_deep_copy#what-the-range-rule-cannot-see).
#[cfg(feature = "bytes")]
impl DeepCopy for bytes::Bytes {
    fn deep_copy(&self) -> Self {
        bytes::Bytes::copy_from_slice(self)
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        walker.buffer(&**self, "bytes::Bytes");
    }
}

/// A new buffer with the same contents (`BytesMut` may share its allocation with
/// `Bytes` or `BytesMut` split off it; the copy never does).
///
/// The walk reports the bytes in view, with the same limit as for `Bytes`:
/// disjoint views split from one buffer pass the proof helper.
#[cfg(feature = "bytes")]
impl DeepCopy for bytes::BytesMut {
    fn deep_copy(&self) -> Self {
        bytes::BytesMut::from(&self[..])
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        walker.buffer(&**self, "bytes::BytesMut");
    }
}
