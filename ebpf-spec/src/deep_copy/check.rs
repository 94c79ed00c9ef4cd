//! The proof helper: is a copy equal to its original, and disjoint from it?

use super::walk::Walked;
use super::{BufferRange, DeepCopy, PathSegment, SkippedField, Unwalked, Walker, WithField};
use std::fmt;

/// Every heap buffer `value` owns, as reported by its [`DeepCopy::walk_buffers`].
///
/// Parts that could not be walked (a lock held while walking) are left out; use
/// a [`Walker`] and [`Walker::into_parts`] to see them.
///
/// ```
/// use ebpf_spec::deep_copy::buffers;
/// let v = vec![String::from("a"), String::new()];
/// // The Vec's own buffer and the non-empty String's buffer; empty buffers are skipped.
/// assert_eq!(buffers(&v).len(), 2);
/// ```
pub fn buffers<T: DeepCopy>(value: &T) -> Vec<BufferRange> {
    let mut walker = Walker::new();
    value.walk_buffers(&mut walker);
    walker.into_buffers()
}

/// Two buffers, one owned by each side, that share bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    /// The buffer as the original (first argument) owns it.
    pub original: BufferRange,
    /// The buffer as the copy (second argument) owns it.
    pub copy: BufferRange,
    /// How many bytes the two ranges have in common.
    pub shared_bytes: usize,
}

/// The outcome of [`check_deep_copy`] or [`check_disjoint`].
///
/// Its `Display` is one line saying whether the copy is sound, then one line per
/// problem (values not equal, each shared buffer, each part not walked) and
/// one line per field copied by a `#[deep_copy(with = module)]` function
/// ([`with_fields`](Report::with_fields)): those are checked only as far as the
/// module's walk reports, so they are always listed, even when the report is ok.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The checked type, as `std::any::type_name` spells it.
    pub type_name: &'static str,
    /// Whether the copy equals the original (by `PartialEq`); `None` when not
    /// checked: [`check_disjoint`] never compares, and [`check_deep_copy`] does
    /// not when a part could not be walked (see `equality_skipped`).
    pub equal: Option<bool>,
    /// True when [`check_deep_copy`] did not compare the values because a part
    /// of either could not be walked (a lock or cell held while the check ran):
    /// `PartialEq` would read that part, and panic (`RefCell`) or block on it.
    pub equality_skipped: bool,
    /// How many non-empty buffers the original owns.
    pub original_buffers: usize,
    /// How many non-empty buffers the copy owns.
    pub copy_buffers: usize,
    /// Every pair of buffers that share bytes.
    pub overlaps: Vec<Overlap>,
    /// Parts of the original that could not be walked (a lock held while the
    /// check ran, say): their buffers are unknown.
    pub original_unwalked: Vec<Unwalked>,
    /// Parts of the copy that could not be walked.
    pub copy_unwalked: Vec<Unwalked>,
    /// Fields copied by a `#[deep_copy(with = module)]` function rather than
    /// their `DeepCopy` impl (met in either value; paths as in the original
    /// where it has them). The check sees only what `module::walk_buffers`
    /// reports: a module that shares on purpose and reports nothing passes.
    /// These are listed, not refused: they do not make [`is_ok`](Report::is_ok)
    /// false; test `with_fields.is_empty()` to require that every field was
    /// copied through `DeepCopy`.
    pub with_fields: Vec<WithField>,
    /// Fields marked `#[deep_copy(skip)]` (met in either value): the copy
    /// holds `Default::default()` there, which is not walked, so a `Default`
    /// handing out shared state (a clone of a global `Arc`) is not seen.
    /// Listed, as `with` fields are, without making
    /// [`is_ok`](Report::is_ok) false. A skipped field that differs from its
    /// default also makes the copy unequal: use [`check_disjoint`] for such
    /// types.
    pub skipped_fields: Vec<SkippedField>,
}

impl Report {
    /// True when the copy is equal (if checked), shares no byte with the
    /// original, and both were walked completely.
    ///
    /// Fields copied by a `with` module are checked only as far as the
    /// module's walk reports; they are listed in
    /// [`with_fields`](Report::with_fields) (and by `Display`), but do not make
    /// the report fail: `with` is the documented way to share on purpose.
    pub fn is_ok(&self) -> bool {
        self.equal != Some(false)
            && self.overlaps.is_empty()
            && self.original_unwalked.is_empty()
            && self.copy_unwalked.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let root = short_type_name(self.type_name);
        if self.is_ok() {
            write!(
                f,
                "deep copy of `{root}` is sound: {} and {} buffers, none shared{}",
                self.original_buffers,
                self.copy_buffers,
                if self.equal == Some(true) {
                    ", values equal"
                } else {
                    ""
                },
            )?;
            return self.fmt_with_fields(f, &root);
        }
        if self.equal == Some(false) || !self.overlaps.is_empty() {
            write!(f, "deep copy of `{root}` is not sound:")?;
        } else {
            write!(f, "deep copy of `{root}` could not be checked:")?;
        }
        if self.equal == Some(false) {
            write!(
                f,
                "\n  - the copy is not equal to the original (by its `PartialEq`, under which \
                 a float NaN is unequal even to a bit-identical copy)"
            )?;
        }
        if self.equality_skipped {
            write!(
                f,
                "\n  - equality not checked: `PartialEq` would read the part(s) below, which \
                 could not be read without blocking or panicking"
            )?;
        }
        if !self.overlaps.is_empty() {
            write!(
                f,
                "\n  - {} buffer(s) of the copy share memory with the original:",
                self.overlaps.len()
            )?;
        }
        for o in &self.overlaps {
            write!(
                f,
                "\n    * `{}` ({}{}) shares {} byte(s) with the original's `{}`: \
                 copy {:#x}+{}, original {:#x}+{}",
                o.copy.display_path(&root),
                short_type_name(o.copy.owner),
                field_note(&o.copy.path),
                o.shared_bytes,
                o.original.display_path(&root),
                o.copy.start,
                o.copy.len,
                o.original.start,
                o.original.len,
            )?;
        }
        for (side, u) in [
            ("original", &self.original_unwalked),
            ("copy", &self.copy_unwalked),
        ]
        .into_iter()
        .flat_map(|(side, list)| list.iter().map(move |u| (side, u)))
        {
            write!(
                f,
                "\n  - could not check `{}` ({}{}) of the {side}: {}",
                u.display_path(&root),
                short_type_name(u.owner),
                field_note(&u.path),
                u.reason,
            )?;
        }
        self.fmt_with_fields(f, &root)
    }
}

impl Report {
    /// One line per field copied by a `with` module, then per skipped field.
    fn fmt_with_fields(&self, f: &mut fmt::Formatter<'_>, root: &str) -> fmt::Result {
        for w in &self.with_fields {
            let module = w.module;
            let (container, field) = w.field().unwrap_or(("?", "?"));
            write!(
                f,
                "\n  - field `{field}` of `{container}` copied by `{module}::deep_copy`: \
                 only what `{module}::walk_buffers` reports is checked (at `{}`{})",
                w.display_path(root),
                and_more(w.count),
            )?;
        }
        for s in &self.skipped_fields {
            let (container, field) = s.field().unwrap_or(("?", "?"));
            write!(
                f,
                "\n  - field `{field}` of `{container}` skipped (`#[deep_copy(skip)]`): the \
                 copy holds `Default::default()`, which is not checked (at `{}`{})",
                s.display_path(root),
                and_more(s.count),
            )?;
        }
        Ok(())
    }
}

/// ", and N more" for a field met `count` times.
fn and_more(count: usize) -> String {
    if count > 1 {
        format!(", and {} more", count - 1)
    } else {
        String::new()
    }
}

fn field_note(path: &[PathSegment]) -> String {
    path.iter()
        .rev()
        .find_map(|seg| match seg {
            PathSegment::Field { container, field } => {
                Some(format!(", field `{field}` of `{container}`"))
            }
            _ => None,
        })
        .unwrap_or_default()
}

/// Shortens `alloc::sync::Arc<alloc::vec::Vec<u8>>` to `Arc<Vec<u8>>`.
fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let last = word.rsplit("::").next().unwrap_or("");
        out.push_str(last);
        word.clear();
    };
    for c in full.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Every pair (a, b) with a from `original` and b from `copy` that share bytes.
/// A sweep over both sides sorted by start address: O((n + m) log(n + m) + k).
fn overlaps(original: &[BufferRange], copy: &[BufferRange]) -> Vec<Overlap> {
    // Empty ranges own no byte: they never overlap anything.
    let mut events: Vec<(usize, bool, usize)> = original
        .iter()
        .enumerate()
        .map(|(i, r)| (r, false, i))
        .chain(copy.iter().enumerate().map(|(i, r)| (r, true, i)))
        .filter(|(r, _, _)| r.len > 0)
        .map(|(r, is_copy, i)| (r.start, is_copy, i))
        .collect();
    events.sort_unstable();
    let range = |is_copy: bool, i: usize| if is_copy { &copy[i] } else { &original[i] };

    let mut active: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
    let mut found = Vec::new();
    for (start, is_copy, i) in events {
        let other = usize::from(!is_copy);
        active[other].retain(|&j| range(!is_copy, j).end() > start);
        for &j in &active[other] {
            let (o, c) = if is_copy {
                (&original[j], &copy[i])
            } else {
                (&original[i], &copy[j])
            };
            found.push(Overlap {
                original: o.clone(),
                copy: c.clone(),
                shared_bytes: o.end().min(c.end()) - o.start.max(c.start),
            });
        }
        active[usize::from(is_copy)].push(i);
    }
    found
}

fn walk<T: DeepCopy>(value: &T) -> Walked {
    let mut walker = Walker::new();
    value.walk_buffers(&mut walker);
    walker.into_all()
}

/// The skipped fields of both sides, as [`merge_with_fields`] merges.
fn merge_skipped_fields(
    mut original: Vec<SkippedField>,
    copy: Vec<SkippedField>,
) -> Vec<SkippedField> {
    for c in copy {
        if !original.iter().any(|o| o.path.last() == c.path.last()) {
            original.push(c);
        }
    }
    original
}

/// The `with` fields of both sides: the original's, then those only the copy
/// met (an enum holding another variant, say).
fn merge_with_fields(mut original: Vec<WithField>, copy: Vec<WithField>) -> Vec<WithField> {
    for c in copy {
        let known = original
            .iter()
            .any(|o| o.module == c.module && o.path.last() == c.path.last());
        if !known {
            original.push(c);
        }
    }
    original
}

/// Walks both values, then compares them with `eq` unless a part of either
/// could not be walked: the walk never panics or blocks on a held cell or lock,
/// but `PartialEq` would (`RefCell::eq` panics while it is mutably borrowed).
fn report<T: DeepCopy>(original: &T, copy: &T, eq: Option<fn(&T, &T) -> bool>) -> Report {
    let (original_walk, copy_walk) = (walk(original), walk(copy));
    let (original_unwalked, copy_unwalked) = (original_walk.unwalked, copy_walk.unwalked);
    let walked = original_unwalked.is_empty() && copy_unwalked.is_empty();
    let (equal, equality_skipped) = match eq {
        Some(eq) if walked => (Some(eq(original, copy)), false),
        Some(_) => (None, true),
        None => (None, false),
    };
    Report {
        type_name: std::any::type_name::<T>(),
        equal,
        equality_skipped,
        original_buffers: original_walk.buffers.len(),
        copy_buffers: copy_walk.buffers.len(),
        overlaps: overlaps(&original_walk.buffers, &copy_walk.buffers),
        original_unwalked,
        copy_unwalked,
        with_fields: merge_with_fields(original_walk.with_fields, copy_walk.with_fields),
        skipped_fields: merge_skipped_fields(
            original_walk.skipped_fields,
            copy_walk.skipped_fields,
        ),
    }
}

/// Checks that `copy` equals `original` and that no heap byte of one lies in a
/// buffer of the other.
///
/// Equality is the type's `PartialEq`: a value holding a float NaN is never
/// equal to its copy, although the copy is bit-for-bit identical, and the
/// report fails saying "not equal (by its `PartialEq`...)". Use
/// [`check_disjoint`] (no equality check) for such values, and compare the
/// fields you care about yourself (`f64::to_bits`).
/// Ranges are compared, not pointers: a sub-slice of a shared
/// buffer sits at an offset and is still caught. Empty buffers are ignored.
/// The cost is one walk of each value and a sort of the ranges found:
/// O(n log n) in the number of buffers (plus the overlaps found).
///
/// # What the range rule cannot see
/// The check sees the bytes each value's walk reports, nothing more:
/// - Two views of one allocation that do not overlap share the allocation
///   (and its reference count) without sharing a byte, and pass. With the
///   `bytes` feature, `whole.slice(0..8)` and `whole.slice(8..16)` of one
///   `bytes::Bytes` (or two `BytesMut` split from one buffer) are such views:
///   their API exposes the bytes in view, not the allocation behind them, so
///   the helper cannot prove they are unrelated. This does not weaken
///   `deep_copy` itself: `Bytes::deep_copy` and `BytesMut::deep_copy` always
///   copy into a new allocation.
/// - An `Arc` or `Rc` of a zero-sized value, or of an empty slice or `str`,
///   holds no byte: a shared count over nothing is not reported.
/// - A hasher is not walked: `HashMap`/`HashSet` copies clone theirs (so the
///   copy hashes like the original). `RandomState` and `BuildHasherDefault`
///   own no heap data, but a custom hasher holding an `Arc` (shared seeds or
///   tables) is shared by the copy, and the check passes. Requiring
///   `S: DeepCopy` would make maps with such hashers (foreign types, which
///   cannot implement `DeepCopy`) uncopyable; copy them by hand if it matters.
/// - Buffers a hand-written [`DeepCopy::walk_buffers`] (or a `with` module)
///   leaves out are not compared. A field copied by a
///   `#[deep_copy(with = module)]` function is the way to share on purpose;
///   it is never silent: the report lists every such field
///   ([`Report::with_fields`], one line each in its `Display`), whether or
///   not its walk reports anything, without failing the check.
///
/// Both values are walked first, then compared. A lock or cell that cannot be
/// read without blocking while the check runs (a `Mutex` held by any thread,
/// an `RwLock` held for writing, a `RefCell` borrowed mutably) is not waited
/// on: it is listed in the report as not checked, the values are *not*
/// compared (`PartialEq` would panic on the `RefCell` or block on the lock;
/// [`Report::equality_skipped`] says so), and the report is not ok. The helper
/// itself never panics or blocks on them. (A lock another thread takes after
/// the walk and before the comparison is still waited for, if the type's
/// `PartialEq` locks it.)
///
/// ```
/// use ebpf_spec::deep_copy::check_deep_copy;
/// use std::sync::Arc;
///
/// let original = Arc::new(vec![1u8, 2, 3]);
/// assert!(check_deep_copy(&original, &ebpf_spec::DeepCopy::deep_copy(&original)).is_ok());
///
/// let shallow = Arc::clone(&original);
/// let report = check_deep_copy(&original, &shallow);
/// assert!(!report.is_ok());
/// println!("{report}");
/// ```
pub fn check_deep_copy<T: DeepCopy + PartialEq>(original: &T, copy: &T) -> Report {
    report(original, copy, Some(<T as PartialEq>::eq))
}

/// Like [`check_deep_copy`] without the equality check, for types that have no
/// `PartialEq` (a struct holding a `Mutex`, say). The same limits apply.
pub fn check_disjoint<T: DeepCopy>(a: &T, b: &T) -> Report {
    report(a, b, None)
}

/// Asserts that `copy` is a sound deep copy of `original`: equal, and sharing no
/// byte of heap memory with it. See [`check_deep_copy`] for what the check can
/// and cannot see.
///
/// # Panics
/// With a message naming every shared buffer (its path from the root value, the
/// owning type and field, and the addresses), saying the values differ, or
/// naming a lock or cell that could not be read during the check.
///
/// ```should_panic
/// use ebpf_spec::deep_copy::assert_deep_copy;
/// use std::sync::Arc;
///
/// #[derive(ebpf_spec::DeepCopy, PartialEq, Clone)]
/// struct Spec { extra: Arc<Vec<u8>> }
///
/// let spec = Spec { extra: Arc::new(vec![0; 16]) };
/// assert_deep_copy(&spec, &spec.clone()); // Clone bumps the count: panics
/// ```
#[track_caller]
pub fn assert_deep_copy<T: DeepCopy + PartialEq>(original: &T, copy: &T) {
    let report = check_deep_copy(original, copy);
    if !report.is_ok() {
        panic!("{report}");
    }
}

/// Asserts that `a` and `b` share no byte of heap memory (no equality check).
/// See [`check_deep_copy`] for what the check can and cannot see.
///
/// # Panics
/// With a message naming every shared buffer, or a lock or cell that could not
/// be read during the check.
#[track_caller]
pub fn assert_disjoint<T: DeepCopy>(a: &T, b: &T) {
    let report = check_disjoint(a, b);
    if !report.is_ok() {
        panic!("{report}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: usize, len: usize) -> BufferRange {
        BufferRange {
            start,
            len,
            owner: "t",
            path: Vec::new(),
        }
    }

    #[test]
    fn sweep_finds_exactly_the_overlapping_pairs() {
        let a = [r(0, 10), r(100, 5), r(200, 50)];
        let b = [r(10, 5), r(104, 1), r(150, 60), r(260, 1)];
        let found = overlaps(&a, &b);
        let pairs: Vec<_> = found
            .iter()
            .map(|o| (o.original.start, o.copy.start, o.shared_bytes))
            .collect();
        assert_eq!(pairs, vec![(100, 104, 1), (200, 150, 10)]);
    }

    #[test]
    fn sweep_matches_brute_force() {
        // Deterministic pseudo-random ranges, checked against the O(n*m) answer.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..200 {
            let a: Vec<_> = (0..20)
                .map(|_| r((next() % 500) as usize, (next() % 40) as usize))
                .collect();
            let b: Vec<_> = (0..20)
                .map(|_| r((next() % 500) as usize, (next() % 40) as usize))
                .collect();
            let mut fast: Vec<_> = overlaps(&a, &b)
                .iter()
                .map(|o| (o.original.start, o.original.len, o.copy.start, o.copy.len))
                .collect();
            let mut slow: Vec<_> = a
                .iter()
                .flat_map(|x| {
                    b.iter()
                        .filter(|y| x.overlaps(y))
                        .map(move |y| (x.start, x.len, y.start, y.len))
                })
                .collect();
            fast.sort_unstable();
            slow.sort_unstable();
            assert_eq!(fast, slow);
        }
    }

    #[test]
    fn short_names() {
        assert_eq!(
            short_type_name("alloc::sync::Arc<alloc::vec::Vec<u8>>"),
            "Arc<Vec<u8>>"
        );
        assert_eq!(
            short_type_name("(u8, alloc::string::String)"),
            "(u8, String)"
        );
        assert_eq!(short_type_name("[u8]"), "[u8]");
    }
}
