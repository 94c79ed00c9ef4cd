//! Arena maps (`BPF_MAP_TYPE_ARENA`): memory a program and this process
//! share, page by page, and the `__arena` globals libbpf places in it.
//!
//! The verifier loads a program that uses an arena only once the arena has
//! its address in user space, fixed by `map_extra` or by the first `mmap`.
//! So the loader maps every arena it creates, writes the object's `__arena`
//! globals (the arena map's contents) into it, and the collection keeps the
//! mapping: a pointer a program stores in the arena is an address in it.

use crate::sys::{self, Mapping};
use ebpf_spec::{MapFlags, MapSpec, MapType, MapValue};
use std::io;
use std::ops::Range;
use std::os::fd::BorrowedFd;
use std::sync::{Arc, Mutex, Weak};

/// An arena of a loaded collection, mapped into this process: from
/// [`Collection::arena`](crate::Collection::arena).
///
/// The programs and this process see the same bytes. An `__arena` pointer a
/// program stores is an address in this mapping
/// ([`offset_of`](Self::offset_of) turns it into an offset), and the
/// object's `__arena` globals lie at [`globals`](Self::globals) (read them
/// by name with [`Collection::variable`](crate::Collection::variable)).
/// Like [`Variable`](crate::Variable), reads and writes of 2, 4 or 8
/// aligned bytes are single atomic accesses; others go byte by byte. The
/// handle keeps the mapping (and so the arena) alive: it may outlive the
/// collection and be shared between threads.
///
/// Touching a page allocates it: the first read or write of a page no
/// program has allocated makes the kernel allocate a zero page there for
/// good, and `bpf_arena_alloc_pages` no longer hands it out (reading a
/// whole 4 GiB arena commits 4 GiB). Read and write where the globals are
/// and where the programs' pointers lead.
///
/// (Needs bpf(2): skipped without it, unless `CI` is set.)
/// ```
/// use ebpf_loader::Loader;
/// use ebpf_spec::CollectionSpec;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let probe = ebpf_spec::MapSpec::new("probe", ebpf_spec::MapType::Array, 4, 4, 1);
/// # if std::env::var_os("CI").is_none() && Loader::new().create_map(&probe).is_err() { return Ok(()) }
/// // `__arena u64 counter = 5; __arena int *page;` and a program that adds
/// // `step` to `counter` and once allocates a page, 42 in its first int.
/// let spec = CollectionSpec::from_elf(include_bytes!(
///     "../../ebpf-spec/tests/fixtures/arena/arena.bpfel.o"
/// ))?;
/// let coll = Loader::new().load(&spec)?;
/// coll.test_run("bump", &[], 1).unwrap()?;
/// let counter = coll.variable(&spec.variables["counter"]).unwrap()?;
/// assert_eq!(counter.read(), 8u64.to_ne_bytes());
/// // Follow the pointer the program left in `page`.
/// let arena = coll.arena("arena").expect("the object declares it");
/// let page = coll.variable(&spec.variables["page"]).unwrap()?;
/// let addr = u64::from_ne_bytes(page.read().try_into().unwrap());
/// let at = arena.offset_of(addr).expect("a pointer into the arena");
/// let mut value = [0u8; 4];
/// arena.read(at, &mut value)?;
/// assert_eq!(i32::from_ne_bytes(value), 42);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Arena {
    name: String,
    mapping: Arc<Mapping>,
    globals: Range<usize>,
    segv_on_fault: bool,
}

/// Why bytes of an [`Arena`] cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArenaError {
    /// The range lies outside the arena.
    #[error("{len} bytes at offset {offset} lie outside arena `{arena}` ({size} bytes)")]
    Outside {
        /// The arena map.
        arena: String,
        /// The offset asked for.
        offset: usize,
        /// The number of bytes asked for.
        len: usize,
        /// The arena's size.
        size: usize,
    },
    /// The arena has `BPF_F_SEGV_ON_FAULT`: touching a page no program has
    /// allocated kills this process with `SIGSEGV`, so this handle does not
    /// touch it (use [`Arena::as_ptr`], knowing which pages exist).
    #[error(
        "arena `{arena}` has BPF_F_SEGV_ON_FAULT: a page no program allocated would kill \
         the process, so it is not read or written through this handle"
    )]
    SegvOnFault {
        /// The arena map.
        arena: String,
    },
}

impl Arena {
    /// The arena map's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address of the arena's first byte in this process. Pages come
    /// into existence when a program allocates them
    /// (`bpf_arena_alloc_pages`) or, without `BPF_F_SEGV_ON_FAULT`, when
    /// this process first touches them (a zero page).
    ///
    /// The pointer is valid while the mapping lives: as long as this
    /// `Arena`, a clone of it, or a [`Variable`](crate::Variable) in it is
    /// alive (the collection itself may be gone). Accesses through it are
    /// yours to synchronise with the programs and with [`read`](Self::read)
    /// and [`write`](Self::write), which take the mapping's lock.
    pub fn as_ptr(&self) -> *mut u8 {
        self.mapping.addr()
    }

    /// Its size in bytes (`max_entries` pages).
    pub fn len(&self) -> usize {
        self.mapping.len()
    }

    /// Whether it has no bytes (never: the kernel refuses an empty arena).
    pub fn is_empty(&self) -> bool {
        self.mapping.len() == 0
    }

    /// Where the object's `__arena` globals lie, as offsets in the arena:
    /// at its end where the kernel allows it (as libbpf places them, so that
    /// the first pages can stay unallocated and a pointer into them is
    /// never mistaken for NULL), at its start otherwise. Empty when the
    /// object has none, and for an arena the collection reused (a pin, a
    /// replacement: those have no globals).
    pub fn globals(&self) -> Range<usize> {
        self.globals.clone()
    }

    /// The offset of address `addr` (an `__arena` pointer a program stored)
    /// in the arena, `None` if it points elsewhere (or is NULL).
    pub fn offset_of(&self, addr: u64) -> Option<usize> {
        let start = self.as_ptr() as usize as u64;
        let offset = addr.checked_sub(start)?;
        usize::try_from(offset).ok().filter(|&o| o < self.len())
    }

    /// Copies `buf.len()` bytes at `offset` into `buf`. A page no program
    /// allocated is allocated by this read (see [`Arena`]).
    ///
    /// # Errors
    /// [`ArenaError::Outside`] if the range is not in the arena,
    /// [`ArenaError::SegvOnFault`] if the arena has that flag.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), ArenaError> {
        self.check(offset, buf.len())?;
        self.mapping.load(offset, buf);
        Ok(())
    }

    /// Copies `data` to `offset`: the programs see it from then on. A page
    /// no program allocated is allocated by this write (see [`Arena`]).
    ///
    /// # Errors
    /// As [`read`](Self::read).
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<(), ArenaError> {
        self.check(offset, data.len())?;
        self.mapping.store(offset, data);
        Ok(())
    }

    fn check(&self, offset: usize, len: usize) -> Result<(), ArenaError> {
        if self.segv_on_fault {
            return Err(ArenaError::SegvOnFault {
                arena: self.name.clone(),
            });
        }
        if offset.checked_add(len).is_none_or(|end| end > self.len()) {
            return Err(ArenaError::Outside {
                arena: self.name.clone(),
                offset,
                len,
                size: self.len(),
            });
        }
        Ok(())
    }

    /// The mapping and the offset of `var`'s bytes in it, if they lie within
    /// the globals.
    pub(crate) fn variable(&self, offset: u32, size: u32) -> Option<(Arc<Mapping>, usize)> {
        let start = self.globals.start.checked_add(offset as usize)?;
        let end = start.checked_add(size as usize)?;
        (end <= self.globals.end).then(|| (self.mapping.clone(), start))
    }
}

/// The `__arena` globals of arena map `m`: its contents' one value (empty
/// when it has none).
pub(crate) fn globals(m: &MapSpec) -> &[u8] {
    match m.contents.first().map(|e| &e.value) {
        Some(MapValue::Bytes(b)) => b,
        _ => &[],
    }
}

/// Checks an arena's contents: at most one entry, with an empty key (arena
/// keys are 0 bytes) and bytes for its value: the `__arena` globals.
pub(crate) fn check_contents(m: &MapSpec) -> Result<(), String> {
    match m.contents.as_slice() {
        [] => Ok(()),
        [e] if e.key.is_empty() && matches!(e.value, MapValue::Bytes(_)) => {
            let len = globals(m).len();
            room(m.max_entries, sys::page_size(), len)?;
            if len != 0 && m.flags.contains(MapFlags::SEGV_ON_FAULT) {
                return Err(
                    "its `__arena` globals cannot be written: with BPF_F_SEGV_ON_FAULT, this \
                     process would be killed touching a page no program allocated"
                        .into(),
                );
            }
            Ok(())
        }
        [_] => Err(
            "an arena's contents are its `__arena` globals: one entry, with an empty key and \
             bytes for its value"
                .into(),
        ),
        _ => Err(format!(
            "an arena's contents are its `__arena` globals, one entry; it has {}",
            m.contents.len()
        )),
    }
}

/// The addresses arena `m` takes in this process when its `map_extra` fixes
/// them (else `None`).
pub(crate) fn fixed_range(m: &MapSpec) -> Option<Range<u64>> {
    let len = u64::from(m.max_entries).saturating_mul(sys::page_size());
    (m.map_extra != 0).then(|| m.map_extra..m.map_extra.saturating_add(len))
}

/// The first two of `arenas` (each with the index of its spec) whose fixed
/// addresses overlap: only one of them can be mapped.
pub(crate) fn overlapping<'s>(
    arenas: impl Iterator<Item = (usize, &'s MapSpec)>,
) -> Option<[(usize, &'s MapSpec, Range<u64>); 2]> {
    let mut ranges: Vec<_> = arenas
        .filter_map(|(i, m)| Some((i, m, fixed_range(m)?)))
        .collect();
    ranges.sort_by_key(|(_, _, r)| (r.start, r.end));
    // Sorted by start, a range that overlaps a later one overlaps the next.
    ranges
        .windows(2)
        .find(|w| w[1].2.start < w[0].2.end)
        .map(|w| [w[0].clone(), w[1].clone()])
}

/// Where in arena `m` its `len` bytes of globals go, as libbpf places them:
/// in the last pages when the verifier takes such large offsets, else at the
/// start.
pub(crate) fn globals_offset(m: &MapSpec, len: usize) -> Result<u64, String> {
    placement(m.max_entries, sys::page_size(), len, || {
        #[cfg(feature = "fault-injection")]
        if let Some(at_end) = crate::fault_injection::arena_globals_at_end() {
            return Ok(at_end);
        }
        Ok(crate::kernel::ldimm64_full_range_offsets())
    })
}

/// [`globals_offset`] for an arena of `pages` pages of `page` bytes, with
/// `at_end` saying whether the kernel takes offsets that far (asked only
/// when there are globals).
fn placement(
    pages: u32,
    page: u64,
    len: usize,
    at_end: impl FnOnce() -> Result<bool, String>,
) -> Result<u64, String> {
    let (size, need) = room(pages, page, len)?;
    if len == 0 || !at_end()? {
        return Ok(0);
    }
    Ok(size - need)
}

/// The arena's size and the whole pages `len` bytes of globals take, or why
/// they do not fit in an arena of `pages` pages of `page` bytes.
fn room(pages: u32, page: u64, len: usize) -> Result<(u64, u64), String> {
    let size = u64::from(pages) * page;
    let need = (len as u64).next_multiple_of(page);
    if need > size {
        return Err(format!(
            "the arena ({pages} pages of {page} bytes) is too small for its {len} bytes of \
             `__arena` globals"
        ));
    }
    Ok((size, need))
}

/// The offset of each arena's globals in `spec` (see [`globals_offset`]),
/// worked out once per load: the programs' references and the bytes written
/// use the same. `data` holds the globals with the variables' values where
/// they differ from the contents.
pub(crate) fn placements(
    spec: &ebpf_spec::CollectionSpec,
    data: &std::collections::HashMap<String, Vec<u8>>,
) -> Result<std::collections::HashMap<String, u64>, crate::LoadError> {
    spec.maps
        .values()
        .filter(|m| m.autocreate && m.map_type == MapType::Arena)
        .map(|m| {
            let len = data.get(m.name.as_str()).map_or(globals(m).len(), Vec::len);
            let at = globals_offset(m, len).map_err(|what| crate::LoadError::Invalid {
                map: m.name.to_string(),
                what,
            })?;
            Ok((m.name.to_string(), at))
        })
        .collect()
}

/// Which thread holds the turn at pinned arenas with a fixed address (see
/// `PinDir::take_turn`), and how many times, and the condition its waiters
/// wait on.
static FIXED_PIN_TURN: (
    Mutex<Option<(std::thread::ThreadId, usize)>>,
    std::sync::Condvar,
) = (Mutex::new(None), std::sync::Condvar::new());

/// A call's turn at pinned arenas with a fixed address: one thread at a time
/// in this process, from when a call looks for the pin until it has pinned
/// its own (or failed). Released on drop, from any thread. A thread that
/// holds it takes it again at once: a call made on a rayon worker may, while
/// it waits for the loader's threads, run another call of its own pool on
/// the same thread, which must not wait for the turn held below it.
#[derive(Debug)]
pub(crate) struct Turn(());

impl Turn {
    /// Waits for the turn, unless this thread holds it.
    pub(crate) fn take() -> Turn {
        let me = std::thread::current().id();
        let (held, free) = &FIXED_PIN_TURN;
        let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match held.as_mut() {
                None => {
                    *held = Some((me, 1));
                    return Turn(());
                }
                Some((owner, count)) if *owner == me => {
                    *count += 1;
                    return Turn(());
                }
                Some(_) => held = free.wait(held).unwrap_or_else(|e| e.into_inner()),
            }
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let (held, free) = &FIXED_PIN_TURN;
        let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, count)) = held.as_mut() {
            *count -= 1;
            if *count == 0 {
                *held = None;
                free.notify_one();
            }
        }
    }
}

/// The arenas this process has mapped, by kernel map id, so that a
/// collection that reuses one (a pin, a replacement) sees it through the
/// same mapping: an arena has one user address, fixed by its first mapping
/// (or its `map_extra`), and a second mapping at that address in one
/// process would collide with the first. A mapping keeps its arena alive,
/// so an id whose mapping lives is still that arena.
static MAPPED: Mutex<Vec<(u32, Weak<Mapping>)>> = Mutex::new(Vec::new());

fn register(mapped: &mut Vec<(u32, Weak<Mapping>)>, id: u32, mapping: &Arc<Mapping>) {
    mapped.retain(|(_, m)| m.strong_count() > 0);
    mapped.push((id, Arc::downgrade(mapping)));
}

/// This process's view of an existing arena `fd` (reused from a pin or
/// given with `replace_map`): the mapping of the collection or
/// `create_arena` call of this process that made or mapped it, else a new
/// one at the arena's `map_extra`; `None` when neither exists (an arena
/// another process mapped where it chose: no other process can learn
/// where), or when something else is mapped there or the fd is read-only:
/// the view is optional, the programs load either way (other mapping
/// errors, such as no memory, are the load's). Its globals, if any, are its
/// maker's: none are shown.
pub(crate) fn reused(fd: BorrowedFd<'_>, name: &str) -> io::Result<Option<Arena>> {
    let info = sys::map_info(fd)?;
    let segv_on_fault =
        MapFlags::from_bits_retain(info.map_flags).contains(MapFlags::SEGV_ON_FAULT);
    let arena = |mapping| Arena {
        name: name.to_owned(),
        mapping,
        globals: 0..0,
        segv_on_fault,
    };
    // Held while mapping: instances reusing one arena at once map it once.
    let mut mapped = MAPPED.lock().unwrap_or_else(|e| e.into_inner());
    let live = mapped
        .iter()
        .find(|(i, _)| *i == info.id)
        .and_then(|(_, m)| m.upgrade());
    if let Some(mapping) = live {
        return Ok(Some(arena(mapping)));
    }
    if info.map_extra == 0 {
        return Ok(None);
    }
    let len = u64::from(info.max_entries) * sys::page_size();
    let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
    let mapping = match Mapping::map_at(fd, len, true, info.map_extra) {
        Ok(mapping) => Arc::new(mapping),
        // Something else is there, or the fd is read-only: no view.
        Err(e)
            if e.kind() == io::ErrorKind::AddrInUse
                || matches!(
                    e.raw_os_error(),
                    Some(libc::EEXIST | libc::EACCES | libc::EPERM)
                ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    register(&mut mapped, info.id, &mapping);
    Ok(Some(arena(mapping)))
}

/// Maps arena `m` (fd `fd`, just created) into this process, at its
/// `map_extra` when set, and writes its globals (`image`: with the
/// variables' values) at offset `at` (from [`placements`]).
pub(crate) fn map(fd: BorrowedFd<'_>, m: &MapSpec, image: &[u8], at: u64) -> io::Result<Arena> {
    debug_assert_eq!(m.map_type, MapType::Arena);
    let len = u64::from(m.max_entries) * sys::page_size();
    let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
    let end = at
        .checked_add(image.len() as u64)
        .filter(|&e| e <= len as u64);
    let at = usize::try_from(at)
        .ok()
        .filter(|_| end.is_some())
        .ok_or_else(|| {
            io::Error::other(format!(
                "{} bytes of globals at offset {at} lie outside the {len}-byte arena",
                image.len()
            ))
        })?;
    let mapping = Arc::new(Mapping::map_at(fd, len, true, m.map_extra)?);
    let id = sys::map_info(fd)?.id;
    register(
        &mut MAPPED.lock().unwrap_or_else(|e| e.into_inner()),
        id,
        &mapping,
    );
    if !image.is_empty() {
        // No program uses the arena yet: these stores are the first touch
        // of the globals' pages, which the kernel allocates on the fault.
        mapping.store(at, image);
    }
    Ok(Arena {
        name: m.name.to_string(),
        mapping,
        globals: at..at + image.len(),
        segv_on_fault: m.flags.contains(MapFlags::SEGV_ON_FAULT),
    })
}

#[cfg(test)]
mod tests {
    use super::placement;

    #[test]
    fn globals_go_in_the_last_pages_when_the_kernel_allows_it() {
        let yes = || Ok(true);
        let no = || Ok(false);
        // 40 bytes: one page, the last of 4.
        assert_eq!(placement(4, 4096, 40, yes), Ok(3 * 4096));
        assert_eq!(placement(4, 4096, 40, no), Ok(0));
        // Exactly two pages, and one byte more: three.
        assert_eq!(placement(4, 4096, 8192, yes), Ok(2 * 4096));
        assert_eq!(placement(4, 4096, 8193, yes), Ok(4096));
        // All of it.
        assert_eq!(placement(1, 4096, 4096, yes), Ok(0));
        // No globals: nothing to place, the kernel is not asked.
        assert_eq!(placement(4, 4096, 0, || panic!("asked")), Ok(0));
        // Too small, whatever the kernel.
        let e = placement(1, 4096, 4097, yes).unwrap_err();
        assert!(
            e.contains("1 pages of 4096 bytes) is too small for its 4097 bytes"),
            "{e}"
        );
        assert!(placement(0, 4096, 1, no).is_err());
        // A failed probe is the load's error.
        assert_eq!(
            placement(4, 4096, 40, || Err("no bpf".into())),
            Err("no bpf".into())
        );
        // Large arenas: 4 GiB of 4 KiB pages.
        assert_eq!(placement(1 << 20, 4096, 40, yes), Ok((1u64 << 32) - 4096));
    }
}
