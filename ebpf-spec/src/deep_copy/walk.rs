//! The buffer walk: collecting the heap byte ranges a value owns.

use std::fmt;

/// One step of the path from the walked value to a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PathSegment {
    /// A field of a struct or of an enum variant: `container` is the type (or
    /// `Enum::Variant`) declaring it, `field` its name or tuple index.
    Field {
        /// The type declaring the field, as written in its source.
        container: &'static str,
        /// The field's name, or its index for tuple fields.
        field: &'static str,
    },
    /// The variant an enum value holds.
    Variant {
        /// The enum type, as written in its source.
        container: &'static str,
        /// The variant's name.
        variant: &'static str,
    },
    /// The n-th element of a sequence or collection (in iteration order).
    Index(usize),
}

/// A heap buffer owned by a walked value, as a byte range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferRange {
    /// Address of the first byte.
    pub start: usize,
    /// Length in bytes.
    pub len: usize,
    /// The type owning the buffer, e.g. `alloc::vec::Vec<u8>`.
    pub owner: &'static str,
    /// Path from the walked value to the owner.
    pub path: Vec<PathSegment>,
}

impl BufferRange {
    /// One past the last byte.
    pub fn end(&self) -> usize {
        self.start.saturating_add(self.len)
    }

    /// Whether the two ranges share at least one byte.
    pub fn overlaps(&self, other: &BufferRange) -> bool {
        self.len > 0 && other.len > 0 && self.start < other.end() && other.start < self.end()
    }

    /// The path rendered like Rust syntax, starting with `root`
    /// (e.g. `CollectionSpec.maps[3].extra`).
    pub fn display_path(&self, root: &str) -> String {
        render_path(root, &self.path)
    }
}

fn render_path(root: &str, path: &[PathSegment]) -> String {
    use fmt::Write;
    let mut out = String::from(root);
    for seg in path {
        // Writing to a String cannot fail.
        let _ = match seg {
            PathSegment::Field { field, .. } => write!(out, ".{field}"),
            PathSegment::Variant { variant, .. } => write!(out, "::{variant}"),
            PathSegment::Index(i) => write!(out, "[{i}]"),
        };
    }
    out
}

/// A part of a walked value whose buffers could not be walked, so the proof
/// helper cannot vouch for it.
///
/// The walk never blocks and never panics on a lock or cell it cannot read: a
/// `Mutex` locked (by this thread or another), an `RwLock` locked for writing
/// or a `RefCell` borrowed mutably while the walk runs is recorded here
/// instead, and [`Report::is_ok`](super::Report::is_ok) is false.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unwalked {
    /// The type that could not be looked into, e.g. `std::sync::Mutex<Vec<u8>>`.
    pub owner: &'static str,
    /// Path from the walked value to it.
    pub path: Vec<PathSegment>,
    /// Why, e.g. "locked while the walk ran".
    pub reason: &'static str,
}

impl Unwalked {
    /// The path rendered like Rust syntax, starting with `root`.
    pub fn display_path(&self, root: &str) -> String {
        render_path(root, &self.path)
    }
}

/// A field copied by a `#[deep_copy(with = module)]` function instead of its
/// `DeepCopy` impl: the proof helper lists it, because it can only check what
/// `module::walk_buffers` reports (a `with` module that shares on purpose, and
/// reports nothing, shares silently otherwise).
///
/// The walk records each such field once per declaring type, field and module,
/// however many values hold it (a `Vec` of a million elements gives one entry
/// with `count` one million).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WithField {
    /// The module named by the attribute, as written (`share_arc`,
    /// `crate::codec::shared`).
    pub module: &'static str,
    /// Path from the walked value to the first such field met; its last
    /// segment is the field.
    pub path: Vec<PathSegment>,
    /// How many times the walk met the field.
    pub count: usize,
}

impl WithField {
    /// The field: its declaring type and name, from the last path segment.
    pub fn field(&self) -> Option<(&'static str, &'static str)> {
        last_field(&self.path)
    }

    /// The path rendered like Rust syntax, starting with `root`.
    pub fn display_path(&self, root: &str) -> String {
        render_path(root, &self.path)
    }
}

/// A field marked `#[deep_copy(skip)]`: the copy holds its type's
/// `Default::default()`, which is not walked (the field's type need not be
/// `DeepCopy`). The proof helper lists it, because a `Default` that hands out
/// shared state (a clone of a global `Arc`) would share silently otherwise.
///
/// Recorded once per declaring type and field, however many values hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SkippedField {
    /// Path from the walked value to the first such field met; its last
    /// segment is the field.
    pub path: Vec<PathSegment>,
    /// How many times the walk met the field.
    pub count: usize,
}

impl SkippedField {
    /// The field: its declaring type and name, from the last path segment.
    pub fn field(&self) -> Option<(&'static str, &'static str)> {
        last_field(&self.path)
    }

    /// The path rendered like Rust syntax, starting with `root`.
    pub fn display_path(&self, root: &str) -> String {
        render_path(root, &self.path)
    }
}

/// The last field segment of a path: its declaring type and name.
fn last_field(path: &[PathSegment]) -> Option<(&'static str, &'static str)> {
    path.iter().rev().find_map(|seg| match seg {
        PathSegment::Field { container, field } => Some((*container, *field)),
        _ => None,
    })
}

/// Collects the heap buffers a value owns, with the path that leads to each.
///
/// [`DeepCopy::walk_buffers`](super::DeepCopy::walk_buffers) implementations call
/// [`buffer`](Walker::buffer) (or [`raw`](Walker::raw)) for each heap buffer they own
/// and bracket the walk of a field with [`push_field`](Walker::push_field) /
/// [`pop`](Walker::pop) so reports can name where a buffer sits. A part that
/// cannot be read without blocking is recorded with
/// [`not_walked`](Walker::not_walked).
#[derive(Debug, Default)]
pub struct Walker {
    path: Vec<PathSegment>,
    buffers: Vec<BufferRange>,
    unwalked: Vec<Unwalked>,
    with_fields: Vec<WithField>,
    skipped_fields: Vec<SkippedField>,
}

impl Walker {
    /// A walker with no buffers recorded.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the memory `value` occupies (`size_of_val(value)` bytes at its
    /// address) as a heap buffer owned by `owner` (usually a `type_name`).
    ///
    /// Pass a reference to the heap data itself, e.g. `vec.as_slice()` or
    /// `&**boxed`, not to the handle that points at it.
    pub fn buffer<T: ?Sized>(&mut self, value: &T, owner: &'static str) {
        let start = (value as *const T).cast::<u8>() as usize;
        self.raw(start, std::mem::size_of_val(value), owner);
    }

    /// Records `len` bytes at address `start` as a heap buffer owned by `owner`.
    ///
    /// Empty buffers (`len == 0`, including zero-sized values) are ignored:
    /// they hold no byte a copy could share.
    pub fn raw(&mut self, start: usize, len: usize, owner: &'static str) {
        if len == 0 {
            return;
        }
        self.buffers.push(BufferRange {
            start,
            len,
            owner,
            path: self.path.clone(),
        });
    }

    /// Records that the value at the current path (of type `owner`) could not
    /// be walked, and why; the checks then fail instead of vouching for it.
    ///
    /// Use it where reading the value would block or panic (a lock held
    /// elsewhere, a cell borrowed mutably).
    pub fn not_walked(&mut self, owner: &'static str, reason: &'static str) {
        self.unwalked.push(Unwalked {
            owner,
            path: self.path.clone(),
            reason,
        });
    }

    /// Records that the field at the current path (entered with
    /// [`push_field`](Walker::push_field)) is copied by `module::deep_copy`, a
    /// `#[deep_copy(with = module)]` function, not by its `DeepCopy` impl. The
    /// derive calls it before `module::walk_buffers`; the proof helper lists
    /// such fields (see [`Report::with_fields`](super::Report::with_fields)).
    ///
    /// Cheap: the first time a field (declaring type, name and module) is met
    /// its path is kept; after that only its count grows.
    pub fn with_field(&mut self, module: &'static str) {
        let field = self.path.last();
        if let Some(seen) = self
            .with_fields
            .iter_mut()
            .find(|seen| seen.module == module && seen.path.last() == field)
        {
            seen.count += 1;
            return;
        }
        self.with_fields.push(WithField {
            module,
            path: self.path.clone(),
            count: 1,
        });
    }

    /// Records that the field at the current path (entered with
    /// [`push_field`](Walker::push_field)) is `#[deep_copy(skip)]`: the copy
    /// holds `Default::default()`, and the field is not walked. The derive
    /// calls it; the proof helper lists such fields (see
    /// [`Report::skipped_fields`](super::Report::skipped_fields)).
    ///
    /// Cheap, as [`with_field`](Walker::with_field) is.
    pub fn skipped_field(&mut self) {
        let field = self.path.last();
        if let Some(seen) = self
            .skipped_fields
            .iter_mut()
            .find(|seen| seen.path.last() == field)
        {
            seen.count += 1;
            return;
        }
        self.skipped_fields.push(SkippedField {
            path: self.path.clone(),
            count: 1,
        });
    }

    /// Enters field `field` of type `container`.
    pub fn push_field(&mut self, container: &'static str, field: &'static str) {
        self.path.push(PathSegment::Field { container, field });
    }

    /// Enters variant `variant` of enum `container`.
    pub fn push_variant(&mut self, container: &'static str, variant: &'static str) {
        self.path.push(PathSegment::Variant { container, variant });
    }

    /// Enters the `index`-th element of a sequence.
    pub fn push_index(&mut self, index: usize) {
        self.path.push(PathSegment::Index(index));
    }

    /// Leaves the innermost field, variant or index.
    pub fn pop(&mut self) {
        self.path.pop();
    }

    /// The buffers recorded so far.
    pub fn buffers(&self) -> &[BufferRange] {
        &self.buffers
    }

    /// The parts recorded so far that could not be walked.
    pub fn unwalked(&self) -> &[Unwalked] {
        &self.unwalked
    }

    /// The `with` fields recorded so far (see [`with_field`](Walker::with_field)).
    pub fn with_fields(&self) -> &[WithField] {
        &self.with_fields
    }

    /// The skipped fields recorded so far (see
    /// [`skipped_field`](Walker::skipped_field)).
    pub fn skipped_fields(&self) -> &[SkippedField] {
        &self.skipped_fields
    }

    /// Consumes the walker, returning the recorded buffers (and dropping the
    /// record of parts that could not be walked: see
    /// [`into_parts`](Walker::into_parts)).
    pub fn into_buffers(self) -> Vec<BufferRange> {
        self.buffers
    }

    /// Consumes the walker, returning the recorded buffers and the parts that
    /// could not be walked.
    pub fn into_parts(self) -> (Vec<BufferRange>, Vec<Unwalked>) {
        (self.buffers, self.unwalked)
    }

    /// Everything recorded: buffers, parts not walked, `with` and skipped
    /// fields.
    pub(super) fn into_all(self) -> Walked {
        Walked {
            buffers: self.buffers,
            unwalked: self.unwalked,
            with_fields: self.with_fields,
            skipped_fields: self.skipped_fields,
        }
    }
}

/// What a [`Walker`] recorded, for the proof helper.
pub(super) struct Walked {
    pub(super) buffers: Vec<BufferRange>,
    pub(super) unwalked: Vec<Unwalked>,
    pub(super) with_fields: Vec<WithField>,
    pub(super) skipped_fields: Vec<SkippedField>,
}
