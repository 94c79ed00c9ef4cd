//! Deep copies that provably share nothing with their original.
//!
//! [`DeepCopy`] is the trait every spec type implements, usually through
//! `#[derive(DeepCopy)]`. A deep copy is equal to its original and owns no
//! allocation, reference count, lock, cell or cursor in common with it, so copies
//! can be handed to different threads and mutated or consumed independently.
//!
//! The same derive generates a *buffer walk*: [`DeepCopy::walk_buffers`] reports
//! every heap buffer a value owns as a byte range. [`assert_deep_copy`] uses it to
//! prove, at run time, that no byte of a copy lives in its original's memory.
//!
//! # Why
//! In the Go library cilium/ebpf, `CollectionSpec.Copy` forgot to copy one field, a
//! byte reader with a read position. Every copy shared it, and concurrent map
//! creation from copies raced on the position. A hand-written copy method goes stale
//! the day someone adds a field; a derived one cannot, because every field type must
//! itself implement `DeepCopy`, which the compiler checks.
//!
//! # Example
//! ```
//! use ebpf_spec::DeepCopy;
//! use ebpf_spec::deep_copy::assert_deep_copy;
//! use std::sync::Arc;
//!
//! #[derive(DeepCopy, Debug, PartialEq)]
//! struct Config {
//!     name: String,
//!     extra: Arc<[u8]>,
//!     ports: Vec<u16>,
//! }
//!
//! let original = Config { name: "xdp".into(), extra: Arc::from(&[1u8, 2, 3][..]), ports: vec![80] };
//! let copy = original.deep_copy();
//! assert_eq!(copy, original);
//! // `Arc<[u8]>` got a new allocation: the copy shares no byte with the original.
//! assert!(!Arc::ptr_eq(&copy.extra, &original.extra));
//! assert_deep_copy(&original, &copy);
//! ```

mod check;
mod impls;
mod walk;

pub(crate) use impls::plain;

use std::marker::PhantomData;

pub use check::{
    Overlap, Report, assert_deep_copy, assert_disjoint, buffers, check_deep_copy, check_disjoint,
};
pub use walk::{BufferRange, PathSegment, SkippedField, Unwalked, Walker, WithField};

/// A value that can be copied deeply: the copy shares no memory with the original.
///
/// # Contract
/// For every value `v`, `v.deep_copy()`:
/// - is equal to `v` (where the type has a notion of equality);
/// - owns no heap allocation, reference count, lock, cell or cursor in common with
///   `v`: an `Arc<T>` is copied into a *new* allocation (never a count bump), a
///   `Cow` always becomes `Owned` (see [`DeepToOwned`]), a `Mutex` or `RefCell` becomes a new lock or cell
///   over a copied value, a `Cursor` gets its own buffer at the same position.
///
/// [`walk_buffers`](DeepCopy::walk_buffers) must report, through the [`Walker`],
/// every heap buffer the value owns (directly or through its fields) as a byte
/// range. [`assert_deep_copy`] relies on it to check the contract.
///
/// # Implementing
/// Derive it: `#[derive(DeepCopy)]` copies and walks every field, and requires
/// every field type to implement `DeepCopy` (the compiler checks it, so a field
/// added later cannot be forgotten). There is deliberately no blanket impl over
/// `Clone`: `Clone` on `Arc`, `Rc` or `bytes::Bytes` shares memory.
///
/// References, raw pointers, `Weak` and file descriptors (`OwnedFd`, `BorrowedFd`,
/// `File`) have no impl: they refer to memory or kernel objects the copy would
/// share, and using one as a field is a compile error that says so. A
/// [`RawFd`](std::os::fd::RawFd) is the exception: it is a type alias for
/// `i32`, so it *is* `DeepCopy` and is copied as the number it is, while the
/// descriptor it names is shared. Hold an `OwnedFd` to get the compile error,
/// or better keep descriptors out of values meant to be copied.
///
/// Hand-written impls must copy every owned buffer and report every owned buffer in
/// `walk_buffers`:
/// ```
/// use ebpf_spec::DeepCopy;
/// use ebpf_spec::deep_copy::Walker;
///
/// struct Blob(Vec<u8>);
///
/// impl DeepCopy for Blob {
///     fn deep_copy(&self) -> Self {
///         Blob(self.0.deep_copy())
///     }
///     fn walk_buffers(&self, walker: &mut Walker) {
///         walker.push_field("Blob", "0");
///         self.0.walk_buffers(walker);
///         walker.pop();
///     }
/// }
/// # let b = Blob(vec![1, 2]);
/// # ebpf_spec::deep_copy::assert_disjoint(&b, &b.deep_copy());
/// ```
///
/// # Limits
/// - **Sharing inside a value is not kept.** Two `Arc`s to one allocation in
///   the same value become two separate allocations in the copy (as with
///   serde's `rc` feature).
/// - **Reference cycles never end.** A cycle (`Rc<RefCell<Node>>` nodes
///   pointing at each other) makes both `deep_copy` and `walk_buffers` recurse
///   until the stack overflows (through a `Mutex`, `deep_copy` deadlocks on
///   the lock it already holds). Break cycles with indices, or with `Weak`
///   (which has no impl: copy such types by hand).
/// - **Locks are taken.** `deep_copy` of a `Mutex` or `RwLock` locks it to read
///   the value: it waits while another thread holds it and deadlocks if the
///   current thread does (as `Mutex::lock` would); `deep_copy` of a `RefCell`
///   panics if it is mutably borrowed. `walk_buffers` never blocks or panics on
///   them: it records them with [`Walker::not_walked`] and the proof helper
///   reports them as not checked.
/// - **Hashers are cloned, not walked.** A `HashMap`/`HashSet` copy keeps a
///   clone of the original's hasher, so it hashes the same way. `RandomState`
///   and `BuildHasherDefault` hold no heap data, but a custom hasher holding
///   shared state (an `Arc` of seeds or tables) is shared with the copy, and
///   the proof helper cannot see it. Requiring `S: DeepCopy` instead would
///   make every map with a foreign hasher uncopyable (a foreign type cannot
///   implement `DeepCopy`).
/// - **Equality is `PartialEq`.** The proof helper's equality check uses the
///   type's `PartialEq`, so a value holding a float NaN is reported not equal
///   to its (bit-identical) copy; use [`check_disjoint`] for such values.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be deep-copied: it does not implement `DeepCopy`",
    label = "`{Self}` does not implement `DeepCopy`",
    note = "references and raw pointers would make the copy share what they point at: own the \
            data (`T`, `Vec<T>`, `String`, `Box<T>`) or use `Cow<'_, T>` (deep_copy makes it `Owned`)",
    note = "`Weak<T>` shares its allocation: hold an `Arc<T>` or `Rc<T>` (deep_copy allocates \
            anew) or an index",
    note = "file descriptors (`OwnedFd`, `BorrowedFd`, `File`, sockets) are kernel objects a copy \
            would share: keep them out of the value and create them from the copy",
    note = "`Clone` is not enough (`Clone` of `Arc`, `Rc` or `Bytes` shares): derive `DeepCopy` \
            for your own types; for a foreign field type use `#[deep_copy(with = module)]` or \
            `#[deep_copy(skip)]`"
)]
pub trait DeepCopy: Sized {
    /// Returns a copy equal to `self` that shares no memory with it.
    fn deep_copy(&self) -> Self;

    /// Reports every heap buffer `self` owns, directly or through its fields, to
    /// `walker` as a byte range.
    ///
    /// Inline data (integers, arrays, the fields of a struct) is not reported: it
    /// lives inside whatever owns `self`, which reports it. So a type owning heap
    /// storage reports all of it, the bytes its elements occupy there included
    /// (a `Vec` its slice, a map each key and value in its table), then walks the
    /// elements. Buffers of length zero may be reported or not; they are ignored
    /// by the checks.
    ///
    /// The walk must not block or panic: a part it cannot read right now (a held
    /// lock) is recorded with [`Walker::not_walked`].
    fn walk_buffers(&self, walker: &mut Walker);

    /// Deep-copies a slice of values into a new `Vec`.
    ///
    /// The default copies element by element, and copies bitwise an element
    /// that owns nothing at the moment (see the [derive's
    /// docs](macro@crate::DeepCopy#elements-that-own-nothing)). Types without heap
    /// data override it with a bulk copy (a `memcpy`), which is how
    /// `Vec<u8>::deep_copy` runs at the speed of `Clone`. Overrides must still
    /// produce deep copies.
    #[inline]
    fn deep_copy_slice(src: &[Self]) -> Vec<Self> {
        let mut out: Vec<Self> = Vec::with_capacity(src.len());
        for item in src {
            let len = out.len();
            // SAFETY: `out` has room for `src.len()` elements and holds
            // `len < src.len()`, so slot `len` is in its allocation and
            // unused; it is written before `set_len` counts it (a panicking
            // `deep_copy` leaves it uncounted). A bitwise copy is made only
            // under `Bitwise::assume`'s contract, held by whoever made the
            // `Bitwise` that holds: `item` owns nothing, and its bitwise copy
            // is its deep copy, so `out` may own and drop the copy while
            // `src` owns and drops `item`.
            unsafe {
                let slot = out.as_mut_ptr().add(len);
                if item.__bitwise().holds() {
                    slot.copy_from_nonoverlapping(item, 1);
                } else {
                    slot.write(item.deep_copy());
                }
                out.set_len(len + 1);
            }
        }
        out
    }

    /// Whether `self`, as it is now, owns nothing and is deep-copied by
    /// copying its bits: for a `Vec` of a type that is not zero-sized, when
    /// it has no allocation; for a struct or enum deriving `DeepCopy`
    /// without `skip` or `with` fields, when each of its fields is.
    ///
    /// Not part of the public API: the derive implements it, and the
    /// default says "no", which is always correct. [`deep_copy_slice`]
    /// copies such elements in place rather than through `deep_copy`.
    ///
    /// [`deep_copy_slice`]: DeepCopy::deep_copy_slice
    #[doc(hidden)]
    #[inline]
    fn __bitwise(&self) -> Bitwise<Self> {
        Bitwise::NO
    }

    /// Walks the buffers of every element of a slice, reporting each element's
    /// index in the path.
    ///
    /// Types without heap data override it with a no-op.
    #[inline]
    fn walk_slice(src: &[Self], walker: &mut Walker) {
        for (i, item) in src.iter().enumerate() {
            walker.push_index(i);
            item.walk_buffers(walker);
            walker.pop();
        }
    }
}

/// Whether a value of `T` owns nothing and is deep-copied by copying its
/// bits: what [`DeepCopy::__bitwise`] answers (not part of the public API).
///
/// Only an `unsafe` constructor answers "yes" for a type that is not
/// [`PlainCopy`], because [`DeepCopy::deep_copy_slice`] then duplicates the value's
/// bits and drops both values: a wrong "yes" for a value owning an
/// allocation would free it twice.
#[doc(hidden)]
pub struct Bitwise<T>(bool, PhantomData<fn(T) -> T>);

impl<T> Bitwise<T> {
    /// No: copy the value with `deep_copy`.
    pub const NO: Self = Bitwise(false, PhantomData);

    /// Whether the answer is yes.
    #[inline]
    pub const fn holds(self) -> bool {
        self.0
    }

    /// `yes` as the answer for `T`.
    ///
    /// # Safety
    /// If `yes`, the value asked about owns nothing that dropping it
    /// releases or that a deep copy would duplicate (no allocation,
    /// reference count, lock, descriptor, ...), and a bitwise copy of it is
    /// a valid value of `T` equal to its `deep_copy`, so that the original
    /// and the bitwise copy may both be used and dropped.
    #[inline]
    pub const unsafe fn assume(yes: bool) -> Self {
        Bitwise(yes, PhantomData)
    }
}

impl<T: PlainCopy> Bitwise<T> {
    /// Yes, for a [`PlainCopy`] type: its `deep_copy` is `*self`, and the
    /// bitwise copy of a `Copy` value owns nothing (a `Copy` type has no
    /// `Drop`).
    pub const COPY: Self = Bitwise(true, PhantomData);
}

impl<T> Clone for Bitwise<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Bitwise<T> {}

/// A [`DeepCopy`] type whose deep copy is its bitwise copy: it is `Copy`,
/// owns no heap memory, shares nothing a deep copy would have to duplicate,
/// and its walk reports no buffer.
///
/// `#[deep_copy(plain)]` requires it of every field (and implements it for
/// the type), because a slice of a plain type is copied with one `memcpy`
/// and not walked: a `Copy` field whose own `DeepCopy` does more than copy
/// bits (a hand-written impl over a `&'static` buffer that copies it into a
/// new allocation, say) would be shared by that `memcpy` without the proof
/// helper seeing it.
///
/// Implemented for the integers, floats, `bool`, `char`, `()`, `Duration`,
/// `Instant`, `SystemTime`, the `NonZero*` types, `PhantomData`, and arrays,
/// tuples, `Option` and `Wrapping` of plain types. Implement it for your own
/// type only if the above holds (prefer deriving with `#[deep_copy(plain)]`,
/// which checks it field by field).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not plain: `#[deep_copy(plain)]` copies fields bitwise, which needs every field type to be `PlainCopy`",
    label = "not `PlainCopy`",
    note = "`PlainCopy` types are `Copy`, own no heap memory and are copied bitwise by their `DeepCopy`; \
            derive `#[deep_copy(plain)]` on the field's type, or drop `plain` from this one"
)]
pub trait PlainCopy: DeepCopy + Copy {}

/// The borrowed side of a [`Cow`](std::borrow::Cow): how `Cow::Borrowed(&b)` is
/// deep-copied into `Cow::Owned` and walked.
///
/// `DeepCopy for Cow<'_, B>` needs `B: DeepToOwned`. It is implemented for
/// `str`, `[T]`, `CStr`, `OsStr`, `Path` and every sized `T: DeepCopy + Clone`
/// (the types a `Cow` usually borrows); implement it for your own unsized
/// `ToOwned` types.
///
/// [`deep_to_owned`](DeepToOwned::deep_to_owned) must return an owned value
/// sharing no memory with `self` (not `ToOwned::to_owned`, which is `Clone`
/// for sized types and may share). [`walk_borrowed`](DeepToOwned::walk_borrowed)
/// must report `self` as an owned value would be reported: the bytes `self`
/// occupies (where it lives) and every heap buffer it owns.
#[diagnostic::on_unimplemented(
    message = "`Cow<'_, {Self}>` cannot be deep-copied: `{Self}` does not implement `DeepToOwned`",
    label = "`{Self}` does not implement `DeepToOwned`",
    note = "`DeepToOwned` is implemented for `str`, `[T]`, `CStr`, `OsStr`, `Path` and every \
            `T: DeepCopy + Clone`"
)]
pub trait DeepToOwned: ToOwned<Owned: DeepCopy> {
    /// An owned deep copy of the borrowed value.
    fn deep_to_owned(&self) -> Self::Owned;

    /// Reports the bytes `self` occupies and every heap buffer it owns.
    fn walk_borrowed(&self, walker: &mut Walker);
}
