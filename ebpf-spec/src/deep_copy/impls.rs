//! `DeepCopy` for the standard library's types (and `bytes`, behind a feature).

use super::{DeepCopy, Walker};
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::ffi::{CString, OsString};
use std::hash::{BuildHasher, Hash};
use std::io::Cursor;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

/// Types that own no heap memory: the copy is the value itself, slices copy
/// with one `memcpy`, and there is nothing to walk.
macro_rules! plain {
    ($($t:ty),* $(,)?) => {$(
        impl DeepCopy for $t {
            #[inline]
            fn deep_copy(&self) -> Self {
                *self
            }
            #[inline]
            fn walk_buffers(&self, _walker: &mut Walker) {}
            #[inline]
            fn deep_copy_slice(src: &[Self]) -> Vec<Self> {
                src.to_vec()
            }
            #[inline]
            fn walk_slice(_src: &[Self], _walker: &mut Walker) {}
        }
    )*};
}

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
}

impl<T: DeepCopy> DeepCopy for std::num::Wrapping<T> {
    fn deep_copy(&self) -> Self {
        std::num::Wrapping(self.0.deep_copy())
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        self.0.walk_buffers(walker);
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
        walker.buffer(self.as_slice(), std::any::type_name::<Self>());
        T::walk_slice(self, walker);
    }
}

impl<T: DeepCopy> DeepCopy for Box<[T]> {
    fn deep_copy(&self) -> Self {
        T::deep_copy_slice(self).into_boxed_slice()
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        walker.buffer(&**self, std::any::type_name::<Self>());
        T::walk_slice(self, walker);
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
        walker.buffer(a, std::any::type_name::<Self>());
        walker.buffer(b, std::any::type_name::<Self>());
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
}

// ---------------------------------------------------------------- collections

impl<K: DeepCopy + Ord, V: DeepCopy> DeepCopy for BTreeMap<K, V> {
    fn deep_copy(&self) -> Self {
        // Keys come out sorted: building from a sorted iterator is linear.
        self.iter()
            .map(|(k, v)| (k.deep_copy(), v.deep_copy()))
            .collect()
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        walk_entries(self.iter(), walker);
    }
}

impl<T: DeepCopy + Ord> DeepCopy for BTreeSet<T> {
    fn deep_copy(&self) -> Self {
        self.iter().map(T::deep_copy).collect()
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        walk_items(self.iter(), walker);
    }
}

/// The hasher is cloned (a `BuildHasher` holds keys, not buffers), so the copy
/// hashes exactly like the original.
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
        walk_entries(self.iter(), walker);
    }
}

/// The hasher is cloned, as for `HashMap`.
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
        walk_items(self.iter(), walker);
    }
}

fn walk_items<'a, T: DeepCopy + 'a>(items: impl Iterator<Item = &'a T>, walker: &mut Walker) {
    for (i, item) in items.enumerate() {
        walker.push_index(i);
        item.walk_buffers(walker);
        walker.pop();
    }
}

fn walk_entries<'a, K: DeepCopy + 'a, V: DeepCopy + 'a>(
    entries: impl Iterator<Item = (&'a K, &'a V)>,
    walker: &mut Walker,
) {
    for (i, (k, v)) in entries.enumerate() {
        walker.push_index(i);
        walker.push_field("(key, value)", "key");
        k.walk_buffers(walker);
        walker.pop();
        walker.push_field("(key, value)", "value");
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
}

// ---------------------------------------------------------------- tuples

macro_rules! tuple {
    ($($name:ident $idx:tt),+) => {
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
        }
    };
}

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
        walker.buffer(&**self, std::any::type_name::<Self>());
        (**self).walk_buffers(walker);
    }
}

/// Reports the shared allocation of an `Arc`/`Rc`: its value, and at least one
/// byte even for zero-sized values, because the allocation (with its counts)
/// always exists and sharing it is exactly what a deep copy must not do.
fn walk_shared<T: ?Sized>(value: &T, owner: &'static str, walker: &mut Walker) {
    let start = (value as *const T).cast::<u8>() as usize;
    walker.raw(start, std::mem::size_of_val(value).max(1), owner);
}

macro_rules! shared_pointer {
    ($ptr:ident) => {
        /// A new allocation holding a deep copy of the value: never a count bump.
        impl<T: DeepCopy> DeepCopy for $ptr<T> {
            fn deep_copy(&self) -> Self {
                $ptr::new((**self).deep_copy())
            }
            fn walk_buffers(&self, walker: &mut Walker) {
                walk_shared(&**self, std::any::type_name::<Self>(), walker);
                (**self).walk_buffers(walker);
            }
        }

        /// A new allocation holding deep copies of the elements: never a count bump.
        impl<T: DeepCopy> DeepCopy for $ptr<[T]> {
            fn deep_copy(&self) -> Self {
                $ptr::from(T::deep_copy_slice(self))
            }
            fn walk_buffers(&self, walker: &mut Walker) {
                walk_shared(&**self, std::any::type_name::<Self>(), walker);
                T::walk_slice(self, walker);
            }
        }

        /// A new allocation holding a copy of the string: never a count bump.
        impl DeepCopy for $ptr<str> {
            fn deep_copy(&self) -> Self {
                $ptr::from(&**self)
            }
            fn walk_buffers(&self, walker: &mut Walker) {
                walk_shared(&**self, std::any::type_name::<Self>(), walker);
            }
        }
    };
}

shared_pointer!(Arc);
shared_pointer!(Rc);

/// Always becomes `Cow::Owned`. A borrowed value is first turned into its owned
/// form and then deep-copied, because `ToOwned` is `Clone` for most types, and
/// `Clone` may share (an `Arc` element, say).
impl<B> DeepCopy for Cow<'_, B>
where
    B: ?Sized + ToOwned,
    B::Owned: DeepCopy,
{
    fn deep_copy(&self) -> Self {
        match self {
            Cow::Borrowed(b) => Cow::Owned((*b).to_owned().deep_copy()),
            Cow::Owned(o) => Cow::Owned(o.deep_copy()),
        }
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        match self {
            Cow::Borrowed(b) => {
                walker.push_variant("Cow", "Borrowed");
                walker.buffer(*b, std::any::type_name::<Self>());
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
impl<T: DeepCopy> DeepCopy for Mutex<T> {
    fn deep_copy(&self) -> Self {
        let guard = self.lock().unwrap_or_else(PoisonError::into_inner);
        Mutex::new(guard.deep_copy())
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        let guard = self.lock().unwrap_or_else(PoisonError::into_inner);
        guard.walk_buffers(walker);
    }
}

/// A new, unlocked lock over a deep copy of the value (poisoning as for `Mutex`).
impl<T: DeepCopy> DeepCopy for RwLock<T> {
    fn deep_copy(&self) -> Self {
        let guard = self.read().unwrap_or_else(PoisonError::into_inner);
        RwLock::new(guard.deep_copy())
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        let guard = self.read().unwrap_or_else(PoisonError::into_inner);
        guard.walk_buffers(walker);
    }
}

/// A new cell holding a copy of the value. `Cell` hands out values, not
/// references, so this needs `T: Copy` (and a `Copy` type owns no heap memory).
impl<T: DeepCopy + Copy> DeepCopy for Cell<T> {
    fn deep_copy(&self) -> Self {
        Cell::new(self.get().deep_copy())
    }
    fn walk_buffers(&self, _walker: &mut Walker) {}
}

/// A new cell over a deep copy of the value.
///
/// # Panics
/// Like `RefCell::clone`, if the value is mutably borrowed at the time.
impl<T: DeepCopy> DeepCopy for RefCell<T> {
    fn deep_copy(&self) -> Self {
        RefCell::new(self.borrow().deep_copy())
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        self.borrow().walk_buffers(walker);
    }
}

// ---------------------------------------------------------------- bytes

/// `Bytes::clone` shares the buffer; this copies it into a new one.
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
/// `Bytes` split off it).
#[cfg(feature = "bytes")]
impl DeepCopy for bytes::BytesMut {
    fn deep_copy(&self) -> Self {
        bytes::BytesMut::from(&self[..])
    }
    fn walk_buffers(&self, walker: &mut Walker) {
        walker.buffer(&**self, "bytes::BytesMut");
    }
}
