//! [`Name`], the string type of every name in a spec, and [`NameMap`], the
//! map of specs by name.
//!
//! Both exist for [`CollectionSpec::copy`](crate::CollectionSpec::copy): a
//! spec of a few dozen maps and programs holds hundreds of names (of maps,
//! programs, sections, relocation targets, CO-RE access strings), and a copy
//! that allocates for each of them spends most of its time in the allocator.
//! A `Name` of up to 24 bytes lives inside its owner, so copying it is a
//! `memcpy`; a `NameMap` is one sorted vector, so copying it is one exact-size
//! allocation where a `BTreeMap` takes a node of eleven slots for a single
//! entry.

use crate::DeepCopy;
use crate::deep_copy::Walker;
use compact_str::CompactString;
use std::borrow::Borrow;
use std::fmt;
use std::ops::{Deref, Index, IndexMut};

/// A name (of a map, program, section, variable, symbol), stored inline up
/// to 24 bytes and on the heap beyond.
///
/// It reads as a `&str` (it derefs to one), compares with `str`, `&str` and
/// `String`, orders and hashes as its `str` does (so `Borrow<str>` lookups
/// work), and converts from and into `String`:
///
/// ```
/// use ebpf_spec::Name;
///
/// let name = Name::from("xdp_pass");
/// assert_eq!(name, "xdp_pass");
/// assert!(name.starts_with("xdp_"));
/// assert_eq!(name.len(), 8);
/// let s: String = name.clone().into();
/// assert_eq!(Name::from(s), name);
/// assert!(Name::from("a") < Name::from("b"));
/// ```
///
/// A copy ([`DeepCopy`]) shares nothing with the original: a short name is
/// copied with its owner's bytes, a long one gets its own allocation.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Name(CompactString);

impl Name {
    /// The empty name (no allocation).
    pub const fn new() -> Name {
        Name(CompactString::const_new(""))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Whether the bytes live on the heap (names over 24 bytes) rather than
    /// inside the `Name`.
    pub fn is_heap_allocated(&self) -> bool {
        self.0.is_heap_allocated()
    }
}

impl DeepCopy for Name {
    #[inline]
    fn deep_copy(&self) -> Self {
        // `CompactString::clone` copies inline bytes and allocates anew for
        // heap ones. It would share a `&'static str` it refers to, but no
        // constructor of `Name` makes one (`Name::new` is inline, being empty).
        debug_assert!(self.0.as_static_str().is_none());
        Name(self.0.clone())
    }

    fn walk_buffers(&self, walker: &mut Walker) {
        // Inline bytes are part of whatever owns the `Name`, which reports them.
        if self.0.is_heap_allocated() {
            walker.buffer(self.as_str().as_bytes(), "ebpf_spec::Name");
        }
    }

    #[inline]
    #[allow(unsafe_code)]
    fn __bitwise(&self) -> crate::deep_copy::Bitwise<Self> {
        // SAFETY: a name not on the heap is its inline bytes (or a
        // `&'static str`, which no constructor makes): it owns nothing, and
        // `CompactString::clone` copies its bits, as `deep_copy` does.
        unsafe { crate::deep_copy::Bitwise::assume(!self.0.is_heap_allocated()) }
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Name {
    fn as_ref(&self) -> &[u8] {
        self.as_str().as_bytes()
    }
}

impl AsRef<std::ffi::OsStr> for Name {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.as_str().as_ref()
    }
}

impl AsRef<std::path::Path> for Name {
    fn as_ref(&self) -> &std::path::Path {
        self.as_str().as_ref()
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Name {
        Name(CompactString::new(s))
    }
}

impl From<&String> for Name {
    fn from(s: &String) -> Name {
        Name::from(s.as_str())
    }
}

impl From<String> for Name {
    /// Reuses the `String`'s allocation for a long name.
    fn from(s: String) -> Name {
        Name(CompactString::from(s))
    }
}

impl From<Box<str>> for Name {
    fn from(s: Box<str>) -> Name {
        Name(CompactString::from(s))
    }
}

impl From<&Name> for Name {
    fn from(s: &Name) -> Name {
        s.clone()
    }
}

impl From<Name> for String {
    fn from(n: Name) -> String {
        n.0.into_string()
    }
}

impl std::str::FromStr for Name {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Name, Self::Err> {
        Ok(Name::from(s))
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Name> for str {
    fn eq(&self, other: &Name) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Name> for &str {
    fn eq(&self, other: &Name) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Name> for String {
    fn eq(&self, other: &Name) -> bool {
        self.as_str() == other.as_str()
    }
}

/// Specs by name, in name order: what [`CollectionSpec`](crate::CollectionSpec)
/// keeps its maps, programs, functions and variables in.
///
/// It has the methods of a `BTreeMap<Name, V>` that a spec needs (`get`,
/// `get_mut`, `insert`, `remove`, `retain`, `iter`, `keys`, `values`,
/// indexing), looked up by anything that reads as a `str` (`&str`, `&String`,
/// `&Name`), and iterates in the same order, but it is one vector
/// sorted by name: lookups are binary searches, an insert or a removal moves
/// the entries after it (specs have tens of entries, not millions: to add
/// thousands, `collect` or `extend` them at once, which sorts once), and a
/// copy is a single allocation of exactly the entries.
///
/// ```
/// use ebpf_spec::{MapSpec, MapType, NameMap};
///
/// let mut maps = NameMap::new();
/// maps.insert("b".into(), MapSpec::new("b", MapType::Array, 4, 8, 1));
/// maps.insert("a".into(), MapSpec::new("a", MapType::Hash, 4, 4, 64));
/// assert_eq!(maps.keys().collect::<Vec<_>>(), ["a", "b"]);
/// maps.get_mut("a").unwrap().max_entries = 128;
/// let key = String::from("b");
/// assert!(maps.contains_key(&key));
/// assert_eq!(maps["a"].max_entries, 128);
/// assert!(maps.remove("b").is_some());
/// assert_eq!(maps.len(), 1);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, DeepCopy)]
pub struct NameMap<V> {
    /// Sorted by name, names unique.
    entries: Vec<(Name, V)>,
}

impl<V> Default for NameMap<V> {
    fn default() -> Self {
        NameMap::new()
    }
}

impl<V: fmt::Debug> fmt::Debug for NameMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V> NameMap<V> {
    /// An empty map (no allocation).
    pub const fn new() -> Self {
        NameMap {
            entries: Vec::new(),
        }
    }

    /// An empty map with room for `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        NameMap {
            entries: Vec::with_capacity(capacity),
        }
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.as_str().cmp(name))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value named `name`.
    pub fn get<Q: AsRef<str> + ?Sized>(&self, name: &Q) -> Option<&V> {
        self.find(name.as_ref()).ok().map(|i| &self.entries[i].1)
    }

    /// The value named `name`, to edit.
    pub fn get_mut<Q: AsRef<str> + ?Sized>(&mut self, name: &Q) -> Option<&mut V> {
        self.find(name.as_ref())
            .ok()
            .map(|i| &mut self.entries[i].1)
    }

    /// The stored name and value for `name`.
    pub fn get_key_value<Q: AsRef<str> + ?Sized>(&self, name: &Q) -> Option<(&Name, &V)> {
        self.find(name.as_ref()).ok().map(|i| {
            let (k, v) = &self.entries[i];
            (k, v)
        })
    }

    /// Whether a value is named `name`.
    pub fn contains_key<Q: AsRef<str> + ?Sized>(&self, name: &Q) -> bool {
        self.find(name.as_ref()).is_ok()
    }

    /// Adds `value` under `name`, returning the value it replaces (the
    /// stored name is kept then, as `BTreeMap::insert` does).
    pub fn insert(&mut self, name: Name, value: V) -> Option<V> {
        match self.find(&name) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (name, value));
                None
            }
        }
    }

    /// The value named `name`, inserted from `make` first if there is none
    /// (`BTreeMap`'s `entry(name).or_insert_with(make)`).
    ///
    /// ```
    /// use ebpf_spec::NameMap;
    ///
    /// let mut hits: NameMap<u32> = NameMap::new();
    /// *hits.get_or_insert_with("xdp".into(), || 0) += 1;
    /// *hits.get_or_insert_with("xdp".into(), || 0) += 1;
    /// assert_eq!(hits["xdp"], 2);
    /// ```
    pub fn get_or_insert_with(&mut self, name: Name, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(&name) {
            Ok(i) => i,
            Err(i) => {
                self.entries.insert(i, (name, make()));
                i
            }
        };
        &mut self.entries[i].1
    }

    /// Removes the value named `name` and returns it.
    pub fn remove<Q: AsRef<str> + ?Sized>(&mut self, name: &Q) -> Option<V> {
        self.remove_entry(name).map(|(_, v)| v)
    }

    /// Removes the value named `name` and returns it with its name.
    pub fn remove_entry<Q: AsRef<str> + ?Sized>(&mut self, name: &Q) -> Option<(Name, V)> {
        self.find(name.as_ref())
            .ok()
            .map(|i| self.entries.remove(i))
    }

    /// Keeps only the entries for which `keep` returns `true`, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&Name, &mut V) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }

    /// Removes every entry, keeping the allocation.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// The entries in name order.
    pub fn iter(&self) -> Iter<'_, V> {
        Iter(self.entries.iter())
    }

    /// The entries in name order, values editable.
    pub fn iter_mut(&mut self) -> IterMut<'_, V> {
        IterMut(self.entries.iter_mut())
    }

    /// The names in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Name> + ExactSizeIterator {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values in name order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The values in name order, editable.
    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + ExactSizeIterator {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    /// The values in name order, by value.
    pub fn into_values(self) -> impl DoubleEndedIterator<Item = V> + ExactSizeIterator {
        self.entries.into_iter().map(|(_, v)| v)
    }

    /// The entries as a slice in name order (for `rayon`'s `par_iter`, or
    /// indexing by position).
    pub fn as_slice(&self) -> &[(Name, V)] {
        &self.entries
    }

    /// Builds the map from entries in any order; of entries with one name,
    /// the last wins (as when inserting them one by one).
    fn from_entries(mut entries: Vec<(Name, V)>) -> Self {
        // Stable: entries of one name stay in input order, the last kept.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(Name, V)> = Vec::with_capacity(entries.len());
        for entry in entries {
            match out.last_mut() {
                Some(last) if last.0 == entry.0 => last.1 = entry.1,
                _ => out.push(entry),
            }
        }
        NameMap { entries: out }
    }
}

impl<V, Q: AsRef<str> + ?Sized> Index<&Q> for NameMap<V> {
    type Output = V;
    /// # Panics
    /// If no value is named `name` (as `BTreeMap`'s indexing does).
    fn index(&self, name: &Q) -> &V {
        let name = name.as_ref();
        match self.get(name) {
            Some(v) => v,
            None => panic!("no entry named {name:?}"),
        }
    }
}

impl<V, Q: AsRef<str> + ?Sized> IndexMut<&Q> for NameMap<V> {
    /// # Panics
    /// If no value is named `name`.
    fn index_mut(&mut self, name: &Q) -> &mut V {
        let name = name.as_ref();
        match self.find(name) {
            Ok(i) => &mut self.entries[i].1,
            Err(_) => panic!("no entry named {name:?}"),
        }
    }
}

impl<K: Into<Name>, V> FromIterator<(K, V)> for NameMap<V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        NameMap::from_entries(iter.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

impl<K: Into<Name>, V, const N: usize> From<[(K, V); N]> for NameMap<V> {
    fn from(entries: [(K, V); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl<K: Into<Name>, V> Extend<(K, V)> for NameMap<V> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        let mut added: Vec<(Name, V)> = iter.into_iter().map(|(k, v)| (k.into(), v)).collect();
        // A few: insert each (a move of the entries after it). More: one
        // sort of everything, so that extending n times by one stays linear
        // per call and extending once by many is not quadratic.
        if added.len() <= 8 {
            for (k, v) in added {
                self.insert(k, v);
            }
            return;
        }
        let mut all = std::mem::take(&mut self.entries);
        all.append(&mut added);
        *self = NameMap::from_entries(all);
    }
}

/// The entries of a [`NameMap`] in name order.
#[derive(Clone, Debug)]
pub struct Iter<'a, V>(std::slice::Iter<'a, (Name, V)>);

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (&'a Name, &'a V);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k, v))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl<V> DoubleEndedIterator for Iter<'_, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(k, v)| (k, v))
    }
}

impl<V> ExactSizeIterator for Iter<'_, V> {}

/// The entries of a [`NameMap`] in name order, values editable.
#[derive(Debug)]
pub struct IterMut<'a, V>(std::slice::IterMut<'a, (Name, V)>);

impl<'a, V> Iterator for IterMut<'a, V> {
    type Item = (&'a Name, &'a mut V);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (&*k, v))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl<V> DoubleEndedIterator for IterMut<'_, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(k, v)| (&*k, v))
    }
}

impl<V> ExactSizeIterator for IterMut<'_, V> {}

impl<'a, V> IntoIterator for &'a NameMap<V> {
    type Item = (&'a Name, &'a V);
    type IntoIter = Iter<'a, V>;
    fn into_iter(self) -> Iter<'a, V> {
        self.iter()
    }
}

impl<'a, V> IntoIterator for &'a mut NameMap<V> {
    type Item = (&'a Name, &'a mut V);
    type IntoIter = IterMut<'a, V>;
    fn into_iter(self) -> IterMut<'a, V> {
        self.iter_mut()
    }
}

impl<V> IntoIterator for NameMap<V> {
    type Item = (Name, V);
    type IntoIter = std::vec::IntoIter<(Name, V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

#[cfg(feature = "serde")]
impl<V: serde::Serialize> serde::Serialize for NameMap<V> {
    /// As a map from names to values, in name order.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

#[cfg(feature = "serde")]
impl<'de, V: serde::Deserialize<'de>> serde::Deserialize<'de> for NameMap<V> {
    /// From a map from names to values, in any order (of repeated names, the
    /// last wins).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit<V>(std::marker::PhantomData<V>);
        impl<'de, V: serde::Deserialize<'de>> serde::de::Visitor<'de> for Visit<V> {
            type Value = NameMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map from names to values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> Result<Self::Value, A::Error> {
                // No capacity from the input's size hint: it is untrusted.
                let mut entries = Vec::new();
                while let Some((k, v)) = access.next_entry::<Name, V>()? {
                    entries.push((k, v));
                }
                Ok(NameMap::from_entries(entries))
            }
        }
        deserializer.deserialize_map(Visit(std::marker::PhantomData))
    }
}
