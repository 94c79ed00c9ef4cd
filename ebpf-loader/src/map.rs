//! Creating one map from its spec.

use crate::sys;
use crate::{LoadError, Loader, Step};
use aya::maps::MapData;
use ebpf_spec::{MapFlags, MapSpec, MapType, MapValue};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// `ENOTSUPP`, the kernel-internal "not supported" some map types return.
const ENOTSUPP: i32 = 524;

/// Checks what can be checked without the kernel. With `in_collection`,
/// contents may name other maps and programs (the collection resolves them).
pub(crate) fn validate(spec: &MapSpec, in_collection: bool) -> Result<(), LoadError> {
    let invalid = |what: String| LoadError::Invalid {
        map: spec.name.to_string(),
        what,
    };
    // Unknown non-zero extra bytes, or an iproute2 pinning namespace this
    // loader cannot honour: refused rather than half-done.
    if let Some(why) = spec.extra.unsupported() {
        return Err(invalid(why.to_string()));
    }
    if let Some(what) = absurd_size(spec) {
        return Err(invalid(what));
    }
    if spec.map_type == MapType::Arena {
        crate::arena::check_contents(spec).map_err(invalid)?;
    }
    let entries = if spec.map_type == MapType::Arena {
        &[][..]
    } else {
        &spec.contents[..]
    };
    for (i, e) in entries.iter().enumerate() {
        if e.key.len() != spec.key_size as usize {
            return Err(invalid(format!(
                "contents[{i}] has a {}-byte key, the map's keys are {} bytes",
                e.key.len(),
                spec.key_size
            )));
        }
        match &e.value {
            MapValue::Bytes(v) if v.len() != spec.value_size as usize => {
                return Err(invalid(format!(
                    "contents[{i}] has a {}-byte value, the map's values are {} bytes",
                    v.len(),
                    spec.value_size
                )));
            }
            MapValue::Bytes(_) => {}
            MapValue::Map(_) | MapValue::Program(_) if in_collection => {}
            MapValue::Map(name) | MapValue::Program(name) => {
                return Err(invalid(format!(
                    "contents[{i}] refers to `{name}`, which only a whole collection can resolve"
                )));
            }
            MapValue::StructOps(_) if spec.map_type != MapType::StructOps => {
                return Err(invalid(format!(
                    "contents[{i}] is a struct_ops value, but the map is a {}",
                    spec.map_type
                )));
            }
            MapValue::StructOps(_) if in_collection => {}
            MapValue::StructOps(ops) => {
                return Err(invalid(format!(
                    "contents[{i}] is a `{}` of programs, which only a whole collection can load",
                    ops.type_name
                )));
            }
        }
    }
    if let Some(what) = too_many_entries(spec, entries) {
        return Err(invalid(what));
    }
    match (&spec.inner_map, spec.map_type.is_map_in_map()) {
        (Some(inner), true) => validate(inner, false),
        (None, true) => Err(invalid(format!(
            "a {} needs an inner map template (inner_map)",
            spec.map_type
        ))),
        (_, false) => Ok(()),
    }
}

/// The map types whose keys are indexes below `max_entries` (4-byte keys).
fn indexed(map_type: MapType) -> bool {
    use MapType as T;
    matches!(
        map_type.canonical(),
        T::Array
            | T::PerCpuArray
            | T::ProgArray
            | T::CgroupArray
            | T::ArrayOfMaps
            | T::DevMap
            | T::CpuMap
            | T::XskMap
            | T::SockMap
            | T::ReuseportSockArray
    )
}

/// The map types that hold at most `max_entries` distinct keys.
fn keyed(map_type: MapType) -> bool {
    use MapType as T;
    matches!(
        map_type.canonical(),
        T::Hash
            | T::PerCpuHash
            | T::LruHash
            | T::LruPerCpuHash
            | T::HashOfMaps
            | T::LpmTrie
            | T::SockHash
            | T::DevMapHash
    )
}

/// Why `entries` (keys already checked to be `key_size` long) do not fit in
/// the map, or `None`: an index at or past `max_entries` in an array-like
/// map, or more distinct keys (as the map tells them apart: an LPM trie by
/// prefix) than a hash-like one holds. The kernel would refuse the first
/// with E2BIG, and the second with E2BIG, or for an LRU map evict entries
/// without a word, which it does before `max_entries` when they come from
/// one CPU (see [`common_lru_room`]; with `BPF_F_NO_COMMON_LRU`, one CPU's
/// share): all are refused here, before any syscall, naming the entry. (A
/// perf event array's `max_entries` of 0 is the loader's to fix, and its
/// contents are not checked.)
fn too_many_entries(spec: &MapSpec, entries: &[ebpf_spec::MapEntry]) -> Option<String> {
    let max = spec.max_entries;
    if indexed(spec.map_type) && spec.key_size == 4 {
        let (i, index) = entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                (
                    i,
                    u32::from_ne_bytes(e.key[..4].try_into().unwrap_or_default()),
                )
            })
            .find(|&(_, index)| index >= max)?;
        return Some(format!(
            "contents[{i}] is at index {index}, past the map's max_entries of {max}"
        ));
    }
    if !keyed(spec.map_type) {
        return None;
    }
    let lru = spec.map_type.is_lru();
    let per_cpu_lru = lru && spec.flags.contains(MapFlags::NO_COMMON_LRU);
    let cpus = if lru {
        crate::kernel::possible_cpus().map_or(1, |n| n.max(1))
    } else {
        1
    };
    let room = if per_cpu_lru {
        // Per-CPU lists (`BPF_F_NO_COMMON_LRU`): the entries are split
        // evenly over the possible CPUs (`htab_map_alloc`), and an update
        // takes a free entry from its own CPU's list, else evicts one there:
        // the loader, writing from one CPU, can count on one CPU's share.
        max.div_ceil(cpus) as usize
    } else if lru {
        common_lru_room(max, cpus) as usize
    } else {
        max as usize
    };
    if entries.len() <= room {
        return None;
    }
    // An LRU map's contents are written once per key (`byte_entries`: an
    // update of a key it holds takes a free entry too, and may evict).
    let mut seen = std::collections::HashSet::with_capacity(room + 1);
    let (i, _) = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| seen.insert(distinct_key(spec, &e.key)))
        .nth(room)?;
    let why = if lru && room < max as usize && !per_cpu_lru {
        format!(
            "more than the {room} of its {max} entries an LRU map hands to the one CPU the \
             loader writes from, in batches, before it evicts ({cpus} possible CPUs): the \
             kernel would evict some without an error"
        )
    } else if per_cpu_lru {
        format!(
            "more than the {room} entries an LRU map with BPF_F_NO_COMMON_LRU keeps for one CPU \
             (max_entries {max} over {cpus} possible CPUs): the loader writes from one CPU, and \
             the kernel would evict some without an error"
        )
    } else if lru {
        format!(
            "more than the map's max_entries of {max} (an LRU map would evict some of them \
             without an error)"
        )
    } else {
        format!("more than the map's max_entries of {max}")
    };
    Some(format!(
        "contents[{i}] is key number {} of the contents, {why}",
        room as u64 + 1
    ))
}

/// How many entries a common LRU map of `max_entries` takes from one CPU
/// before it evicts any. A CPU takes free entries from the shared list in
/// batches (`bpf_lru_list_pop_free_to_local`) of `target_free` (128 in
/// older kernels; `clamp(max_entries / cpus / 2, 1, 128)` in newer ones,
/// as 6.18 here, measured: 256 of 257 entries kept, 896 of 1000);
/// when fewer are left than a batch, it evicts entries to make up the
/// difference. So the last partial batch is not usable: the room is
/// `max_entries` rounded down to a multiple of the batch, or all of it when
/// one batch holds it all. The smaller of the two kernels' rules.
fn common_lru_room(max: u32, cpus: u32) -> u32 {
    let room = |batch: u32| {
        if max <= batch || max.is_multiple_of(batch) {
            max
        } else {
            max - max % batch
        }
    };
    let dynamic = (max / cpus / 2).clamp(1, 128);
    room(dynamic).min(room(128))
}

/// `key` as the map tells keys apart: for an LPM trie, its prefix length
/// and the bits of its prefix (`trie_update_elem` replaces an entry whose
/// prefix is the same, whatever the bits past it); else the bytes.
fn distinct_key<'k>(spec: &MapSpec, key: &'k [u8]) -> std::borrow::Cow<'k, [u8]> {
    use std::borrow::Cow;
    if spec.map_type != MapType::LpmTrie || key.len() < 4 {
        return Cow::Borrowed(key);
    }
    let prefix = u32::from_ne_bytes([key[0], key[1], key[2], key[3]]) as usize;
    let data = &key[4..];
    if prefix >= data.len() * 8 {
        // Whole (or too long: the kernel refuses it when written).
        return Cow::Borrowed(key);
    }
    let mut masked = key.to_vec();
    let bits = &mut masked[4..];
    let (whole, rest) = (prefix / 8, prefix % 8);
    if rest > 0 {
        bits[whole] &= 0xffu8 << (8 - rest);
        bits[whole + 1..].fill(0);
    } else {
        bits[whole..].fill(0);
    }
    Cow::Owned(masked)
}

/// Whether `spec`'s contents name maps or programs, whose fds a collection
/// writes into its slots after it created them (so a frozen map is frozen
/// only after that).
pub(crate) fn has_fd_slots(spec: &MapSpec) -> bool {
    spec.contents
        .iter()
        .any(|e| matches!(e.value, MapValue::Map(_) | MapValue::Program(_)))
}

/// For a map created `BPF_F_RDONLY` (whose creating fd, as every fd of its
/// pin, is read-only for user space): a new fd of the same map, opened by id
/// for writing, through which the loader writes its contents and slots and
/// freezes it, then closes. `None` for any other map: its own fd writes.
pub(crate) fn writer(spec: &MapSpec, fd: BorrowedFd<'_>) -> io::Result<Option<OwnedFd>> {
    if !spec.flags.contains(MapFlags::RDONLY) {
        return Ok(None);
    }
    let id = sys::map_info(fd)?.id;
    sys::map_get_fd_by_id_with(id, 0).map(Some)
}

impl Loader {
    /// Creates the map `spec` describes and writes its initial contents, then
    /// freezes it if the spec asks for it. A map created `BPF_F_RDONLY`
    /// (read-only for user space) gets its contents through a second,
    /// writable fd of the same map, closed at once: the handle returned stays
    /// read-only.
    ///
    /// The spec is never modified. Fix-ups go into the create attributes only:
    /// a perf event array with `max_entries` 0 gets the number of possible
    /// CPUs, and data-section arrays (`.data`, `.rodata`, `.bss` ...) get
    /// `BPF_F_MMAPABLE`. A map-in-map needs `inner_map`: the template is
    /// created, used, and closed. Contents that name other maps or programs
    /// need a whole collection ([`Loader::load`]), and are refused here.
    /// Pinning is [`Loader::load`]'s job too. An arena is created with
    /// [`create_arena`](Self::create_arena), which keeps it mapped.
    ///
    /// A map alone has no BTF to refer to, so the map types the kernel creates
    /// only with BTF (socket, inode, task and cgroup storage) fail here with
    /// the kernel's error; [`Loader::load`] creates them with the collection's
    /// BTF.
    ///
    /// # Errors
    /// [`LoadError::Invalid`] before any syscall (unknown non-zero bytes in a
    /// legacy definition, contents of the wrong size, contents that do not
    /// fit in `max_entries`, a map-in-map without a template); [`LoadError::Syscall`] naming the step, with the errno and a
    /// hint. Nothing created by the call outlives an error.
    pub fn create_map(&self, spec: &MapSpec) -> Result<MapData, LoadError> {
        if spec.map_type == MapType::Arena {
            return Err(LoadError::Invalid {
                map: spec.name.to_string(),
                what: "an arena is created with Loader::create_arena, which returns its \
                       mapping: its user address is fixed by the first mapping, and without a \
                       map_extra nobody could learn it to map it again"
                    .into(),
            });
        }
        validate(spec, false)?;
        let (fd, _) = self.create_fd(spec, None, None, None)?;
        self.wrap(spec, fd)
    }

    /// Creates arena `spec` (`BPF_MAP_TYPE_ARENA`) on its own, mapped into
    /// this process (at its `map_extra` when set), with its contents (the
    /// `__arena` globals of an object, if any) written in place: the map and
    /// the mapping. One arena shared by several collections is made this way
    /// and handed to each load with [`replace_map`](Self::replace_map) (the
    /// objects must then have no `__arena` globals: those are written into
    /// the arena a load creates).
    ///
    /// # Errors
    /// As [`create_map`](Self::create_map); [`LoadError::Invalid`] if `spec`
    /// is not an arena, [`LoadError::Syscall`] at [`Step::MapArena`] if the
    /// mapping fails (`EEXIST`: something is mapped at its `map_extra`).
    pub fn create_arena(&self, spec: &MapSpec) -> Result<(MapData, crate::Arena), LoadError> {
        if spec.map_type != MapType::Arena {
            return Err(LoadError::Invalid {
                map: spec.name.to_string(),
                what: format!(
                    "a {} is not an arena: use Loader::create_map",
                    spec.map_type
                ),
            });
        }
        validate(spec, false)?;
        let (fd, arena) = self.create_fd(spec, None, None, None)?;
        let arena = arena.ok_or_else(|| LoadError::Invalid {
            map: spec.name.to_string(),
            what: "the arena was created but not mapped".into(),
        })?;
        Ok((self.wrap(spec, fd)?, arena))
    }

    fn wrap(&self, spec: &MapSpec, fd: OwnedFd) -> Result<MapData, LoadError> {
        MapData::from_fd(fd).map_err(|source| LoadError::Aya {
            map: spec.name.to_string(),
            step: Step::Wrap,
            source,
        })
    }

    /// Creates a validated map and writes its byte contents (references to
    /// other maps and programs are the collection's to write), then freezes
    /// it. An arena is mapped, with its globals (`data`, else its contents)
    /// written at `arena_at` (for a collection: where its programs point),
    /// else where [`crate::arena::globals_offset`] says.
    pub(crate) fn create_fd(
        &self,
        spec: &MapSpec,
        btf: Option<BorrowedFd<'_>>,
        data: Option<&[u8]>,
        arena_at: Option<u64>,
    ) -> Result<(OwnedFd, Option<crate::arena::Arena>), LoadError> {
        let invalid = |what: String| LoadError::Invalid {
            map: spec.name.to_string(),
            what,
        };
        let inner = match &spec.inner_map {
            Some(inner) if spec.map_type.is_map_in_map() => Some(
                self.create_fd(inner, btf, None, None)
                    .map(|(fd, _)| fd)
                    .map_err(|e| match e {
                        LoadError::Syscall { source, hint, .. } => LoadError::Syscall {
                            map: spec.name.to_string(),
                            step: Step::CreateInnerTemplate,
                            source,
                            hint,
                        },
                        other => other,
                    })?,
            ),
            _ => None,
        };

        let (max_entries, flags) = self.fixups(spec).map_err(invalid)?;
        let name = kernel_name(&spec.name);
        let attr = sys::MapCreate {
            map_type: spec.map_type.raw(),
            key_size: spec.key_size,
            value_size: spec.value_size,
            max_entries,
            map_flags: flags.bits(),
            inner_map_fd: inner.as_ref().map(|fd| fd.as_fd()),
            numa_node: spec.numa_node,
            name: &name,
            map_extra: spec.map_extra,
            btf: btf
                .filter(|_| takes_btf(spec))
                .map(|fd| (fd, spec.btf_key_type_id, spec.btf_value_type_id)),
            btf_vmlinux_value_type_id: 0,
        };
        let syscall = |step: Step, source: io::Error| {
            // The hints read the create attributes (and an arena's address):
            // other steps' errors are about something else.
            let hint = match step {
                Step::Create | Step::MapArena => hint(spec, max_entries, &source),
                _ => None,
            };
            LoadError::Syscall {
                map: spec.name.to_string(),
                step,
                source,
                hint,
            }
        };
        let fd = match sys::map_create(&attr) {
            Ok(fd) => fd,
            // As libbpf ("Retrying without BTF"): a map the kernel refuses
            // with its BTF key and value types (EINVAL: an iproute2
            // annotation with a key type the map type does not take, say) is
            // created without them, unless its type exists only with BTF.
            // Not for EOPNOTSUPP: that is a special field (a spin lock, a
            // timer) the map type cannot hold, which the user must hear of
            // here, not as a verifier error about missing BTF.
            Err(e)
                if attr.btf.is_some()
                    && !needs_btf_types(spec.map_type)
                    && e.raw_os_error() == Some(libc::EINVAL) =>
            {
                let without = sys::MapCreate { btf: None, ..attr };
                sys::map_create(&without).map_err(|e| syscall(Step::Create, e))?
            }
            Err(e) => return Err(syscall(Step::Create, e)),
        };
        // The template is only needed for the create call.
        drop(inner);

        if spec.map_type == MapType::Arena {
            let image = data.unwrap_or_else(|| crate::arena::globals(spec));
            let at = match arena_at {
                Some(at) => at,
                None => crate::arena::globals_offset(spec, image.len()).map_err(invalid)?,
            };
            let arena = crate::arena::map(fd.as_fd(), spec, image, at)
                .map_err(|e| syscall(Step::MapArena, e))?;
            return Ok((fd, Some(arena)));
        }
        // Contents, slots (written later by the collection) and a freeze
        // need an fd user space may write through.
        let writes = data.is_some() || !spec.contents.is_empty() || spec.freeze;
        let own = if writes {
            writer(spec, fd.as_fd()).map_err(|e| syscall(Step::WriteContents, e))?
        } else {
            None
        };
        let w = own.as_ref().map_or(fd.as_fd(), |o| o.as_fd());
        match data {
            // A data section with its variables' values: its one entry, key 0.
            // SAFETY: a data section's array has 4-byte keys, and its value
            // is the section (`data` is `value_size` bytes: checked at
            // create).
            Some(value) => unsafe { sys::map_update_elem(w, &[0; 4], value) },
            None => write_contents(spec, w),
        }
        .map_err(|e| syscall(Step::WriteContents, e))?;
        // A map whose slots the collection fills is frozen after them.
        if spec.freeze && !has_fd_slots(spec) {
            sys::map_freeze(w).map_err(|e| syscall(Step::Freeze, e))?;
        }
        Ok((fd, None))
    }

    /// The number of possible CPUs (`/sys/devices/system/cpu/possible`), read
    /// once per process.
    pub fn possible_cpus(&self) -> Result<u32, &String> {
        crate::kernel::possible_cpus()
    }
}

/// Writes the byte contents: one batch update, or one update per entry where
/// the kernel has no batch operation for the map type.
fn write_contents(spec: &MapSpec, fd: BorrowedFd<'_>) -> io::Result<()> {
    let entries = byte_entries(spec);
    if entries.is_empty() {
        return Ok(());
    }
    if spec.map_type.is_per_cpu() {
        return write_per_cpu_contents(spec, &entries, fd);
    }
    let mut keys = Vec::with_capacity(entries.len() * spec.key_size as usize);
    let mut values = Vec::with_capacity(entries.len() * spec.value_size as usize);
    for (k, v) in &entries {
        keys.extend_from_slice(k);
        values.extend_from_slice(v);
    }
    // SAFETY: the map was made from `spec`, and every entry's key and value
    // is of the spec's sizes (`validate` checks the contents).
    unsafe {
        update_batch(fd, &keys, &values, entries.len() as u32, || {
            entries.iter().copied()
        })
    }
}

/// The contents with bytes for values, as written: for an LRU map, once per
/// key, at its last place with its last value (what writing them all leaves:
/// the same values, and the same order of use, which the map evicts by),
/// since the kernel may evict for an update of a key it holds already
/// (`too_many_entries` counts distinct keys).
fn byte_entries(spec: &MapSpec) -> Vec<(&[u8], &[u8])> {
    let all = spec.contents.iter().filter_map(|e| match &e.value {
        MapValue::Bytes(v) => Some((e.key.as_slice(), v.as_slice())),
        _ => None,
    });
    if !spec.map_type.is_lru() {
        return all.collect();
    }
    let all: Vec<_> = all.collect();
    let mut seen = std::collections::HashSet::with_capacity(all.len());
    let mut out: Vec<(&[u8], &[u8])> = all
        .into_iter()
        .rev()
        .filter(|(k, _)| seen.insert(*k))
        .collect();
    out.reverse();
    out
}

/// Writes the byte contents of a per-CPU map, whose every update takes a
/// value per possible CPU, each rounded up to 8 bytes: the spec's value goes
/// to every CPU. One update per entry, through one buffer of one entry's
/// values (the values of every entry at once would be entries x CPUs long).
fn write_per_cpu_contents(
    spec: &MapSpec,
    entries: &[(&[u8], &[u8])],
    fd: BorrowedFd<'_>,
) -> io::Result<()> {
    let cpus = crate::kernel::possible_cpus().map_err(|e| io::Error::other(e.clone()))?;
    let stride = (spec.value_size as usize).next_multiple_of(8);
    let mut values = vec![0u8; stride * cpus as usize];
    for (key, v) in entries {
        for slot in values.chunks_exact_mut(stride) {
            slot[..v.len()].copy_from_slice(v);
        }
        // SAFETY: keys are the map's key size (`validate`), and `values`
        // holds one value per possible CPU, each rounded up to 8 bytes.
        unsafe { sys::map_update_elem(fd, key, &values) }?;
    }
    Ok(())
}

/// Writes `count` entries held back to back in `keys` and `values` with one
/// batch update, or one update per entry (from `each`) where the kernel has no
/// batch operation for the map type.
///
/// # Safety
/// `keys` and `values` hold `count` keys and values of the map's sizes, and
/// `each` gives entries of those sizes (see [`sys::map_update_elem`]).
pub(crate) unsafe fn update_batch<'a, I: Iterator<Item = (&'a [u8], &'a [u8])>>(
    fd: BorrowedFd<'_>,
    keys: &[u8],
    values: &[u8],
    count: u32,
    each: impl FnOnce() -> I,
) -> io::Result<()> {
    // SAFETY: this function's contract.
    match unsafe { sys::map_update_batch(fd, keys, values, count) } {
        Ok(done) if done == count => Ok(()),
        Ok(_) => Err(io::Error::other(
            "the batch update wrote fewer entries than given",
        )),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EINVAL | libc::EOPNOTSUPP | ENOTSUPP)
            ) =>
        {
            for (k, v) in each() {
                // SAFETY: this function's contract, for one entry.
                unsafe { sys::map_update_elem(fd.as_fd(), k, v) }?;
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The map types the kernel creates only with BTF key and value types
/// (local storage).
pub(crate) fn needs_btf_types(map_type: MapType) -> bool {
    matches!(
        map_type,
        MapType::SkStorage | MapType::InodeStorage | MapType::TaskStorage | MapType::CgrpStorage
    )
}

/// Whether the map is created with its BTF type ids: it has a value type, and
/// its type accepts them.
fn takes_btf(spec: &MapSpec) -> bool {
    spec.btf_value_type_id != 0 && spec.map_type.accepts_btf_types()
}

/// The kernel's largest key for hash-like maps (`MAX_BPF_STACK`): a key must
/// fit on a BPF program's stack.
const MAX_KEY_SIZE: u32 = 512;

/// Why `spec` asks for a size no kernel grants, or `None`: keys larger than
/// a program's stack for the types that copy keys there, and more memory up
/// front than the machine has (`MemTotal`). Checked before any syscall, so a
/// hostile or mistyped definition never reaches the kernel's allocator.
fn absurd_size(spec: &MapSpec) -> Option<String> {
    use MapType as T;
    let stack_keys = matches!(
        spec.map_type,
        T::Hash | T::PerCpuHash | T::LruHash | T::LruPerCpuHash | T::HashOfMaps | T::LpmTrie
    );
    if stack_keys && spec.key_size > MAX_KEY_SIZE {
        return Some(format!(
            "key_size {} is larger than the {MAX_KEY_SIZE} bytes a program's stack can hold",
            spec.key_size
        ));
    }
    let bytes = upfront_bytes(spec, crate::kernel::possible_cpus().unwrap_or(1));
    let total = crate::kernel::mem_total()?;
    (bytes > u128::from(total)).then(|| {
        format!(
            "{} entries of {} + {} bytes need about {bytes} bytes up front, more than this \
             machine's {total} bytes of memory",
            spec.max_entries, spec.key_size, spec.value_size
        )
    })
}

/// The memory the kernel allocates when it creates `spec` (preallocated
/// elements, array values, ring buffer pages), per CPU where the type is.
fn upfront_bytes(spec: &MapSpec, cpus: u32) -> u128 {
    use MapType as T;
    let entries = u128::from(spec.max_entries);
    // Rounded in u128: a u32 size near u32::MAX would overflow rounding up.
    let value = u128::from(spec.value_size).next_multiple_of(8);
    let key = u128::from(spec.key_size).next_multiple_of(8);
    let cpus = u128::from(cpus.max(1));
    let prealloc = !spec.flags.contains(MapFlags::NO_PREALLOC);
    match spec.map_type.canonical() {
        T::Array | T::CgroupArray | T::ProgArray | T::ArrayOfMaps => entries * value,
        T::PerCpuArray => entries * value * cpus,
        T::Hash | T::LruHash if prealloc => entries * (key + value + 48),
        T::PerCpuHash | T::LruPerCpuHash if prealloc => entries * (key + 48 + value * cpus),
        T::RingBuf | T::UserRingBuf => entries,
        T::StackTrace => entries * (value + 16),
        T::Queue | T::Stack if prealloc => entries * value,
        _ => 0,
    }
}

/// A rough estimate of what creating `spec` costs the kernel, in nanoseconds
/// (KERNEL-NOTES.md, measured on Linux 6.18): about 1.5 us for any map, plus
/// ~30 ns per preallocated hash element, plus zeroing the memory of arrays and
/// ring buffers, plus ~200 ns per initial entry. The loader uses it to decide
/// whether creating a collection's maps on several threads pays for the hop
/// to another thread (tens of microseconds): for a collection of small maps it
/// does not.
pub(crate) fn estimated_create_ns(spec: &MapSpec, cpus: u32) -> u64 {
    const BASE: u64 = 1_500;
    let entries = u64::from(spec.max_entries);
    let hash = matches!(
        spec.map_type,
        MapType::Hash | MapType::PerCpuHash | MapType::LruHash | MapType::LruPerCpuHash
    );
    // Per hash element: ~30 ns to preallocate it, ~8 ns for its bucket
    // otherwise; then ~0.1 ns per byte of memory the kernel zeroes up front.
    let elements = match (hash, spec.flags.contains(MapFlags::NO_PREALLOC)) {
        (true, false) => entries.saturating_mul(30),
        (true, true) => entries.saturating_mul(8),
        (false, _) => 0,
    };
    let memory = u64::try_from(upfront_bytes(spec, cpus) / 10).unwrap_or(u64::MAX);
    let contents = (spec.contents.len() as u64).saturating_mul(200);
    let inner = spec
        .inner_map
        .as_deref()
        .map_or(0, |m| estimated_create_ns(m, cpus));
    BASE.saturating_add(elements)
        .saturating_add(memory)
        .saturating_add(contents)
        .saturating_add(inner)
}

/// The name the kernel accepts: `[A-Za-z0-9_.]`, at most 15 bytes.
pub(crate) fn kernel_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(15)
        .collect()
}

/// Parses a CPU list such as `0-3,8-11` into the number of CPUs it names
/// (the highest index + 1, as the kernel sizes per-CPU arrays).
pub(crate) fn parse_cpu_list(text: &str) -> Option<u32> {
    let mut max = None;
    for part in text.trim().split(',') {
        let last = part.rsplit('-').next()?.parse::<u32>().ok()?;
        max = max.max(Some(last));
    }
    max.map(|m| m + 1)
}

fn hint(spec: &MapSpec, max_entries: u32, e: &io::Error) -> Option<String> {
    Some(match e.raw_os_error()? {
        libc::EPERM => "needs root or CAP_BPF".into(),
        libc::EMFILE | libc::ENFILE => crate::kernel::open_files_hint(),
        libc::EEXIST if spec.map_type == MapType::Arena => format!(
            "something is mapped at the arena's address already ({:#x}, its map_extra): an \
             arena with a fixed address can be loaded once per process",
            spec.map_extra
        ),
        libc::EINVAL | libc::E2BIG => match broken_rule(spec, max_entries) {
            Some(rule) => format!("the kernel's rule for a {}: {rule}", spec.map_type),
            None => format!(
                "the kernel rejects this combination: type {} key_size {} value_size {} max_entries {} flags {:#x} map_extra {}",
                spec.map_type,
                spec.key_size,
                spec.value_size,
                max_entries,
                spec.flags.bits(),
                spec.map_extra
            ),
        },
        libc::ENOMEM => format!(
            "asked for about {} bytes ({max_entries} entries of {} + {} bytes)",
            u64::from(max_entries) * (u64::from(spec.key_size) + u64::from(spec.value_size)),
            spec.key_size,
            spec.value_size
        ),
        ENOTSUPP => format!(
            "the kernel does not support these attributes for a {}",
            spec.map_type
        ),
        _ => return None,
    })
}

/// The first of the kernel's attribute rules (KERNEL-NOTES.md, checked on
/// Linux 6.18) that `spec` breaks, to say which attribute an EINVAL or E2BIG
/// is about. `None` when none of the known rules is broken.
fn broken_rule(spec: &MapSpec, max_entries: u32) -> Option<String> {
    use MapType as T;
    let (k, v, f) = (spec.key_size, spec.value_size, spec.flags);
    let fd_array = matches!(
        spec.map_type.canonical(),
        T::ProgArray | T::CgroupArray | T::PerfEventArray | T::ArrayOfMaps | T::HashOfMaps
    );
    let rule = match spec.map_type.canonical() {
        _ if fd_array && v != 4 => format!("value_size must be 4 (an fd), not {v}"),
        T::Array
        | T::PerCpuArray
        | T::ProgArray
        | T::CgroupArray
        | T::PerfEventArray
        | T::ArrayOfMaps
            if k != 4 =>
        {
            format!("key_size must be 4, not {k}")
        }
        T::Array | T::PerCpuArray if f.contains(MapFlags::NO_PREALLOC) => {
            "BPF_F_NO_PREALLOC is not allowed".into()
        }
        T::Array if f.contains(MapFlags::RDONLY_PROG | MapFlags::WRONLY_PROG) => {
            "BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG together are not allowed".into()
        }
        T::PerCpuArray if f.contains(MapFlags::MMAPABLE) => "BPF_F_MMAPABLE is not allowed".into(),
        T::StackTrace if k != 4 || v == 0 || !v.is_multiple_of(8) => {
            format!("key_size must be 4 and value_size a non-zero multiple of 8 (got {k}/{v})")
        }
        T::LpmTrie if !f.contains(MapFlags::NO_PREALLOC) => "BPF_F_NO_PREALLOC is required".into(),
        T::LpmTrie if !(5..=260).contains(&k) => {
            format!("key_size must be 4 (prefix length) + 1..256 bytes, not {k}")
        }
        T::Queue | T::Stack | T::BloomFilter if k != 0 => format!("key_size must be 0, not {k}"),
        T::SkStorage | T::InodeStorage | T::TaskStorage | T::CgrpStorage
            if spec.btf_key_type_id == 0 || spec.btf_value_type_id == 0 =>
        {
            "BTF key and value types are required (load the map with its collection's BTF)".into()
        }
        T::SkStorage | T::InodeStorage | T::TaskStorage | T::CgrpStorage if max_entries != 0 => {
            format!("max_entries must be 0, not {max_entries}")
        }
        T::RingBuf | T::UserRingBuf if k != 0 || v != 0 => {
            format!("key_size and value_size must be 0 (got {k}/{v})")
        }
        T::RingBuf | T::UserRingBuf
            if max_entries == 0
                || !max_entries.is_power_of_two()
                || !max_entries.is_multiple_of(4096) =>
        {
            format!(
                "max_entries must be a power-of-two multiple of the page size, not {max_entries}"
            )
        }
        T::Arena if !f.contains(MapFlags::MMAPABLE) => "BPF_F_MMAPABLE is required".into(),
        T::StructOps => {
            "a struct_ops map needs its value type in the kernel's BTF: load it with its \
             collection (Loader::load), which finds it"
                .into()
        }
        _ if spec.map_extra != 0
            && !matches!(spec.map_type.canonical(), T::BloomFilter | T::Arena) =>
        {
            format!(
                "map_extra is only for bloom filters and arenas, not {}",
                spec.map_extra
            )
        }
        _ if matches!(
            spec.map_type,
            T::Hash | T::Array | T::PerCpuHash | T::PerCpuArray | T::LruHash | T::LruPerCpuHash
        ) && (v == 0 || max_entries == 0) =>
        {
            format!("value_size and max_entries must not be 0 (got {v}/{max_entries})")
        }
        _ if matches!(
            spec.map_type,
            T::Hash | T::PerCpuHash | T::LruHash | T::LruPerCpuHash
        ) && k == 0 =>
        {
            "key_size must not be 0".into()
        }
        _ => return None,
    };
    Some(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_rules_name_the_attribute() {
        let rule = |s: &MapSpec| broken_rule(s, s.max_entries);
        let m = |t, k, v, max| MapSpec::new("m", t, k, v, max);
        assert_eq!(
            rule(&m(MapType::Hash, 4, 0, 8)).unwrap(),
            "value_size and max_entries must not be 0 (got 0/8)"
        );
        assert_eq!(
            rule(&m(MapType::Array, 8, 4, 1)).unwrap(),
            "key_size must be 4, not 8"
        );
        assert_eq!(
            rule(&m(MapType::ProgArray, 4, 8, 1)).unwrap(),
            "value_size must be 4 (an fd), not 8"
        );
        assert_eq!(
            rule(&m(MapType::LpmTrie, 8, 4, 1)).unwrap(),
            "BPF_F_NO_PREALLOC is required"
        );
        assert_eq!(
            rule(&m(MapType::Queue, 4, 4, 1)).unwrap(),
            "key_size must be 0, not 4"
        );
        assert!(
            rule(&m(MapType::RingBuf, 0, 0, 5000))
                .unwrap()
                .contains("power-of-two multiple")
        );
        assert!(
            rule(&m(MapType::TaskStorage, 4, 4, 0))
                .unwrap()
                .contains("BTF key and value types are required")
        );
        assert_eq!(rule(&m(MapType::Hash, 4, 8, 16)), None);
    }

    #[test]
    fn creation_cost_estimates_follow_the_measured_costs() {
        let m = |t, k, v, max| MapSpec::new("m", t, k, v, max);
        let small = estimated_create_ns(&m(MapType::Array, 4, 8, 1), 2);
        assert!((1_000..3_000).contains(&small), "{small}");
        // KERNEL-NOTES: HASH 4/8/1024 preallocated ~30 us, NO_PREALLOC ~10 us,
        // 1M preallocated ~33 ms.
        let hash = estimated_create_ns(&m(MapType::Hash, 4, 8, 1024), 2);
        assert!((20_000..45_000).contains(&hash), "{hash}");
        let mut lazy = m(MapType::Hash, 4, 8, 1024);
        lazy.flags = MapFlags::NO_PREALLOC;
        let lazy = estimated_create_ns(&lazy, 2);
        assert!((5_000..15_000).contains(&lazy), "{lazy}");
        let big = estimated_create_ns(&m(MapType::Hash, 4, 8, 1 << 20), 2);
        assert!((20_000_000..50_000_000).contains(&big), "{big}");
        // Per-CPU memory grows with the CPU count; nothing overflows.
        let percpu = |cpus| estimated_create_ns(&m(MapType::PerCpuArray, 4, 4096, 1024), cpus);
        assert!(percpu(64) > percpu(2));
        assert!(
            estimated_create_ns(
                &m(MapType::PerCpuHash, u32::MAX, u32::MAX, u32::MAX),
                u32::MAX
            ) > 0
        );
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-1\n"), Some(2));
        assert_eq!(parse_cpu_list("0\n"), Some(1));
        assert_eq!(parse_cpu_list("0-3,8-11"), Some(12));
        assert_eq!(parse_cpu_list("x"), None);
    }

    /// An LRU map's contents are written once per key, at the key's last
    /// place with its last value: the values and the order of use (which
    /// the map evicts by) are those of writing them all. Other maps get
    /// every entry, in order.
    #[test]
    fn lru_contents_keep_each_keys_last_place_and_value() {
        use ebpf_spec::MapEntry;
        let entry = |k: u8, v: u8| MapEntry {
            key: vec![k],
            value: MapValue::Bytes(vec![v]),
        };
        let contents = vec![
            entry(0, 1),
            entry(1, 2),
            entry(2, 3),
            entry(0, 7),
            entry(3, 4),
        ];
        let mut lru = MapSpec::new("lru", MapType::LruHash, 1, 1, 8);
        lru.contents = contents.clone();
        let written: Vec<(u8, u8)> = byte_entries(&lru)
            .iter()
            .map(|(k, v)| (k[0], v[0]))
            .collect();
        assert_eq!(written, [(1, 2), (2, 3), (0, 7), (3, 4)]);
        let mut hash = MapSpec::new("h", MapType::Hash, 1, 1, 8);
        hash.contents = contents;
        assert_eq!(byte_entries(&hash).len(), 5);
    }

    #[test]
    fn names() {
        assert_eq!(kernel_name("a-very-long-map/name"), "a_very_long_map");
        assert_eq!(kernel_name(".rodata"), ".rodata");
    }
}
