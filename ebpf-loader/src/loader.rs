//! `Loader`: whole collections, one or many at a time.

use crate::collection::Collection;
use crate::map::{update_batch, validate};
use crate::pin::{PinDir, Publish};
use crate::sys;
use crate::{LoadError, Step};
use ebpf_spec::btf::CoreStepBudget;
use ebpf_spec::{
    CollectionSpec, DeepCopy, InnerMap, MapAttributes, MapFlags, MapSpec, MapType, MapValue,
    Pinning,
};
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Creates kernel objects from specs: one map, one collection, or many
/// collections at once on all cores.
///
/// (Needs bpf(2): skipped without it, unless `CI` is set.)
/// ```
/// use ebpf_loader::Loader;
/// use ebpf_spec::CollectionSpec;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let probe = ebpf_spec::MapSpec::new("probe", ebpf_spec::MapType::Array, 4, 4, 1);
/// # if std::env::var_os("CI").is_none() && Loader::new().create_map(&probe).is_err() { return Ok(()) }
/// let spec = CollectionSpec::from_elf(include_bytes!("../../ebpf-spec/tests/fixtures/legacy_maps.bpfel.o"))?;
/// let loader = Loader::new().threads(2); // and .pin_path(dir) to pin on a bpffs
/// let tenants = loader.load_many(&spec, 64)?; // 64 independent collections
/// assert_eq!(tenants.len(), 64);
/// assert_eq!(tenants[63].map_names().count(), spec.maps.len());
/// # Ok(()) }
/// ```
///
/// A `Loader` is `Send + Sync`: share it between threads.
#[derive(Debug, Default)]
pub struct Loader {
    pin_path: Option<PathBuf>,
    replacements: HashMap<String, OwnedFd>,
    threads: Option<usize>,
    maps_only: bool,
    /// The CO-RE step budget of one spec's programs (`None`: the default).
    core_step_budget: Option<u64>,
    /// Programs that attach to a function of another BPF program.
    targets: HashMap<String, crate::program::ProgramTarget>,
    pool: OnceLock<Result<rayon::ThreadPool, String>>,
    /// Loaded BTF blobs by content, shared by every map and instance.
    btf_cache: ByBlob<KernelBtf>,
    /// The `.kconfig` externs' types by the object BTF they are read from
    /// (a BTF parse, kept for every later load of the object).
    kconfig_types: ByBlob<Arc<KconfigTypes>>,
}

/// What a loader works out once per BTF blob, kept by the blob's content
/// for the [`BY_BLOB_KEPT`] blobs used last: an agent that loads objects
/// built per pod or per version for days keeps a bounded number of BTF fds
/// and blobs, not one of each forever (the kernel keeps a BTF alive for as
/// long as a map or program of it lives, whatever the cache drops). Found by
/// a hash of the blob, then compared byte for byte.
#[derive(Debug)]
struct ByBlob<T>(Mutex<Kept<T>>);

/// The entries of a [`ByBlob`] and the clock that orders their uses.
#[derive(Debug)]
struct Kept<T> {
    /// (hash, blob, value, last use).
    entries: Vec<(u64, Vec<u8>, T, u64)>,
    clock: u64,
}

/// How many blobs a [`ByBlob`] keeps: past it, the one used longest ago is
/// dropped (its BTF fd closed), to be worked out again if it comes back.
const BY_BLOB_KEPT: usize = 64;

impl<T> Default for ByBlob<T> {
    fn default() -> Self {
        ByBlob(Mutex::new(Kept {
            entries: Vec::new(),
            clock: 0,
        }))
    }
}

impl<T: Clone> ByBlob<T> {
    /// The value kept for `blob`, else `make()`'s, kept (an error is not
    /// kept). The lock is held meanwhile: threads loading one object work
    /// it out once.
    fn get_or_try<E>(&self, blob: &[u8], make: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.clock += 1;
        let now = kept.clock;
        let hash = blob_hash(blob);
        if let Some((_, _, value, used)) = kept
            .entries
            .iter_mut()
            .find(|(h, b, _, _)| *h == hash && b.as_slice() == blob)
        {
            *used = now;
            return Ok(value.clone());
        }
        let value = make()?;
        if kept.entries.len() >= BY_BLOB_KEPT
            && let Some(oldest) = (0..kept.entries.len()).min_by_key(|&i| kept.entries[i].3)
        {
            kept.entries.swap_remove(oldest);
        }
        kept.entries.push((hash, blob.to_vec(), value.clone(), now));
        Ok(value)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entries
            .len()
    }
}

/// A cheap hash of a blob, eight bytes at a time (rustc's FxHash step: a
/// rotate, an xor and a multiply per word): it only narrows the byte
/// comparison down, so a collision costs a comparison, and it costs far
/// less than hashing with SipHash.
fn blob_hash(blob: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let step = |hash: u64, w: u64| (hash.rotate_left(5) ^ w).wrapping_mul(K);
    let mut hash = step(0, blob.len() as u64);
    let mut words = blob.chunks_exact(8);
    for word in &mut words {
        hash = step(
            hash,
            u64::from_le_bytes(word.try_into().unwrap_or_default()),
        );
    }
    for &b in words.remainder() {
        hash = step(hash, u64::from(b));
    }
    hash
}

/// From how many fds a `load_many` or `load_all` grows the fd table at once
/// (the table starts with 64 slots; below this a call meets a grace period
/// or two at most).
const RESERVE_FDS_FROM: usize = 256;

/// What each `.kconfig` extern's type can hold, by name.
type KconfigTypes = HashMap<String, crate::kernel::Kcfg>;

/// How a map of a collection came to be.
enum Origin {
    Created,
    /// Made by this call to pin: pinned when the whole call has succeeded
    /// ([`PinDir::publish`]).
    PinCreated(PathBuf),
    PinReused(PathBuf),
    Replaced,
}

/// A map opened for a collection (an arena with this process's mapping of
/// it, when there is one), or why it could not be.
type Opened = Result<(OwnedFd, Origin, Option<crate::arena::Arena>), LoadError>;

/// This process's view of arena `m` reused from a pin or a replacement (see
/// [`crate::arena::reused`]); `None` for other maps.
fn reused_arena(m: &MapSpec, fd: &OwnedFd) -> Result<Option<crate::arena::Arena>, LoadError> {
    if m.map_type != MapType::Arena {
        return Ok(None);
    }
    crate::arena::reused(fd.as_fd(), &m.name).map_err(|source| LoadError::Syscall {
        map: m.name.to_string(),
        step: Step::MapArena,
        source,
        hint: None,
    })
}

/// Two arenas whose fixed addresses overlap (`b` is the one refused).
fn overlap_err(
    a: (usize, &MapSpec, std::ops::Range<u64>),
    b: (usize, &MapSpec, std::ops::Range<u64>),
) -> LoadError {
    let spec = if a.0 == b.0 {
        String::new()
    } else {
        format!(" of spec {}", a.0)
    };
    LoadError::Invalid {
        map: b.1.name.to_string(),
        what: format!(
            "its fixed addresses ({:#x}..{:#x}, from map_extra) overlap those of arena `{}`{spec} \
             ({:#x}..{:#x}): only one can be mapped there",
            b.2.start, b.2.end, a.1.name, a.2.start, a.2.end
        ),
    }
}

/// Whether `m` is an arena with a fixed address (`map_extra`): one mapping
/// of it fits in a process.
fn at_fixed_address(m: &MapSpec) -> bool {
    m.map_type == MapType::Arena && m.map_extra != 0
}

/// How many times a call is made, at most, when other loaders keep pinning
/// names it was about to pin (see [`Loader::pinned_call`]). Each lost race
/// leaves one name fewer to make (the next attempt reuses that pin), so a
/// call that pins fewer names than this ends; more would need other loaders
/// to remove pins as fast as this one makes them.
const PIN_ATTEMPTS: usize = 16;

/// A map as the kernel reports it, with the inner map of one of its slots
/// when it is a map-in-map with a filled slot.
struct KernelMap(sys::MapInfo, Option<MapSpec>);

/// How many slots of an existing outer map are looked at, in key order, to
/// find one that holds a map (arrays report every index as a key, filled or
/// not), after the slots the spec itself fills.
const INNER_PROBES: usize = 64;

impl KernelMap {
    /// Reads `fd`'s attributes and, for a map-in-map, those of the map in a
    /// filled slot (one the spec `m` fills, else the first in key order
    /// among the first [`INNER_PROBES`]): the kernel does not report an outer map's template,
    /// but every map in its slots was checked against it. `template` is the
    /// spec's: the kernel compares an inner map's size with the template's
    /// for arrays only, and not when the template has `BPF_F_INNER_MAP`
    /// (`bpf_map_meta_equal`, `array_map_meta_equal`), so otherwise the
    /// slot's size says nothing of the template's and is not compared.
    fn read(fd: std::os::fd::BorrowedFd<'_>, m: &MapSpec) -> std::io::Result<Self> {
        let info = sys::map_info(fd)?;
        let inner = match m.inner_map.as_deref() {
            Some(t) if MapType::from_raw(info.map_type).is_map_in_map() => {
                Self::first_inner(fd, &info, m)?.map(|i| {
                    let mut spec = MapSpec::new(
                        t.name.clone(),
                        MapType::from_raw(i.map_type),
                        i.key_size,
                        i.value_size,
                        i.max_entries,
                    );
                    spec.flags = MapFlags::from_bits_retain(i.map_flags);
                    spec.map_extra = i.map_extra;
                    if !size_checked_against_template(t) {
                        spec.max_entries = t.max_entries;
                    }
                    spec
                })
            }
            _ => None,
        };
        Ok(KernelMap(info, inner))
    }

    /// The attributes of the map in a filled slot of outer map `fd`: one of
    /// those spec `m` fills (where a reused pin's maps most likely are),
    /// else the first filled one among the first [`INNER_PROBES`] keys.
    fn first_inner(
        fd: std::os::fd::BorrowedFd<'_>,
        info: &sys::MapInfo,
        m: &MapSpec,
    ) -> std::io::Result<Option<sys::MapInfo>> {
        let mut id = [0u8; 4];
        let own = m.contents.iter().filter(|e| {
            matches!(e.value, MapValue::Map(_)) && e.key.len() == info.key_size as usize
        });
        for e in own.take(INNER_PROBES) {
            // SAFETY: an outer map's value is a 4-byte id (`id`), and the
            // key is as long as the map's (filtered above).
            if unsafe { sys::map_lookup_elem(fd, &e.key, &mut id) }? {
                let inner = sys::map_get_fd_by_id(u32::from_ne_bytes(id))?;
                return sys::map_info(inner.as_fd()).map(Some);
            }
        }
        let mut key = vec![0u8; info.key_size as usize];
        let mut next = key.clone();
        let mut first = true;
        for _ in 0..INNER_PROBES {
            let prev = (!first).then_some(key.as_slice());
            // SAFETY: `key` and `next` are the map's key size.
            if !unsafe { sys::map_get_next_key(fd, prev, &mut next) }? {
                break;
            }
            first = false;
            std::mem::swap(&mut key, &mut next);
            // SAFETY: as above: a key of the map's size, a 4-byte id.
            if unsafe { sys::map_lookup_elem(fd, &key, &mut id) }? {
                let inner = sys::map_get_fd_by_id(u32::from_ne_bytes(id))?;
                return sys::map_info(inner.as_fd()).map(Some);
            }
        }
        Ok(None)
    }
}

impl MapAttributes for KernelMap {
    fn map_type(&self) -> MapType {
        MapType::from_raw(self.0.map_type)
    }
    fn key_size(&self) -> u32 {
        self.0.key_size
    }
    fn value_size(&self) -> u32 {
        self.0.value_size
    }
    fn max_entries(&self) -> u32 {
        self.0.max_entries
    }
    fn flags(&self) -> MapFlags {
        MapFlags::from_bits_retain(self.0.map_flags)
    }
    fn map_extra(&self) -> u64 {
        self.0.map_extra
    }
    fn inner_map(&self) -> InnerMap<'_> {
        self.1.as_ref().map_or(InnerMap::Unknown, InnerMap::Present)
    }
}

impl Loader {
    /// A loader with default settings: no pin path, no replacements, all cores.
    pub fn new() -> Self {
        Self::default()
    }

    /// Pins maps whose spec says `Pinning::ByName` under `dir`, which must be
    /// on a bpffs. An existing pin is reused if the map it holds is compatible
    /// with the spec (type, key and value size, max entries, flags,
    /// map_extra, and for a map-in-map its inner map, as far as the kernel
    /// tells it: through a filled slot, one the spec fills or else the first
    /// among the first 64 keys, since the kernel does not report an outer
    /// map's template; with no filled slot found, the inner map is not
    /// compared), else loading fails listing every
    /// mismatch. A reused map keeps its contents and slots. A map made for a
    /// pin is pinned when its whole load has succeeded (see
    /// [`load`](Self::load)). Without a pin path, `Pinning::ByName` is not
    /// acted on.
    pub fn pin_path(mut self, dir: impl Into<PathBuf>) -> Self {
        self.pin_path = Some(dir.into());
        self
    }

    /// Uses `map` (an existing map's fd) instead of creating map `name`, after
    /// the same compatibility check as for a pin. Each loaded collection gets
    /// its own duplicate of the fd. As a reused pin, it keeps its contents
    /// and slots (a prog array's too, unlike libbpf's `bpf_map__reuse_fd`,
    /// after which libbpf writes the load's programs into it).
    ///
    /// A load refuses, before any syscall, a replacement it would not use: a
    /// name its spec (for [`load_all`](Self::load_all), every spec of the
    /// call) has no map of, or only one with `autocreate` false. A
    /// misspelled name would otherwise create a private map where a shared
    /// one was meant.
    pub fn replace_map(mut self, name: impl Into<String>, map: OwnedFd) -> Self {
        self.replacements.insert(name.into(), map);
        self
    }

    /// Attaches program `program` (fentry, fexit, fmod_ret or freplace) to
    /// function `function` of the loaded BPF program `target` instead of a
    /// kernel function: its `attach_btf_id` is looked up in `target`'s BTF
    /// (so `target` must have been loaded with BTF), as libbpf's
    /// `bpf_program__set_attach_target` does. Tools such as xdpdump trace
    /// another XDP program this way; freplace programs always need one.
    ///
    /// # Errors
    /// The lookup happens here, once: if `target`'s BTF has no such
    /// function, or `target` has no BTF, the error names both.
    pub fn attach_to_program(
        mut self,
        program: impl Into<String>,
        target: OwnedFd,
        function: impl Into<String>,
    ) -> Result<Self, LoadError> {
        let program = program.into();
        let t = crate::program::ProgramTarget::resolve(&program, target, function.into())?;
        self.targets.insert(program, t);
        Ok(self)
    }

    /// Creates the maps only: programs are not loaded, and prog-array slots
    /// that name programs stay empty.
    pub fn maps_only(mut self, yes: bool) -> Self {
        self.maps_only = yes;
        self
    }

    /// How many steps of CO-RE type matching the programs of one spec may
    /// take together, per call ([`CORE_STEP_BUDGET`](ebpf_spec::btf::CORE_STEP_BUDGET)
    /// unless set: about 1.3 s, thousands of times what real objects
    /// take). Beyond it the load fails, naming the program: this bounds the
    /// time a hostile object can make a load spend matching types (libbpf
    /// has no such bound).
    pub fn core_step_budget(mut self, steps: u64) -> Self {
        self.core_step_budget = Some(steps);
        self
    }

    /// Runs [`load_many`](Loader::load_many) (and map creation inside a
    /// collection) on `n` threads instead of on all cores.
    ///
    /// The loader then keeps a pool of `n` threads of its own for as long as
    /// it lives (without `threads`, loads run on rayon's global pool). An
    /// agent serving many tenants is better served by one loader, whose
    /// BTF cache they share too, than by a loader with threads per tenant:
    /// 500 of those kept 1,000 threads.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n.max(1));
        self
    }

    fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> Result<R, LoadError> {
        let Some(n) = self.threads else {
            return Ok(f());
        };
        let pool = self.pool.get_or_init(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| e.to_string())
        });
        match pool {
            Ok(pool) => Ok(pool.install(f)),
            Err(e) => Err(LoadError::Threads {
                threads: n,
                what: e.clone(),
            }),
        }
    }

    /// Loads `spec`: its BTF, then its maps (created, or reused from a pin or
    /// a replacement; contents written, `.rodata`/`.kconfig` frozen), then
    /// its programs (linked, CO-RE relocated, verified), then the slots of
    /// its prog arrays and map-in-maps; and last, the pins of the maps it
    /// made that ask for one.
    ///
    /// Maps do not depend on each other (an outer map needs only its own
    /// template), so when the collection holds enough work (large
    /// preallocated maps: an estimate of a few hundred microseconds of kernel
    /// time) they are created on the loader's threads in parallel, as are
    /// programs with enough instructions to verify; a small collection is
    /// loaded on the calling thread, where that is faster than handing it to
    /// other threads. The object's BTF is loaded once per distinct content,
    /// for the life of the loader, and maps get their key and value type ids.
    ///
    /// # Pins
    /// A map pinned by name ([`pin_path`](Self::pin_path)) is reused when its
    /// pin exists, else made; the pins this load makes appear only once
    /// everything else has succeeded, so another loader does not reuse a
    /// map whose load may still fail (and take its pin away). If another loader
    /// pins one of those names meanwhile, the load is made again from the
    /// start, reusing that pin: the maps and programs of the first attempt
    /// are released. It looks for such pins before it makes any, and loads
    /// of this library publish one at a time (in a process, under a lock;
    /// across processes, under an flock on the pin directory, which needs
    /// read permission on it, and which a load waits for 2 s at most before
    /// it goes on without), so the pins a load made are removed again only
    /// when the pinning itself fails: an errno, or another tool pinning one
    /// of the names between the look and the pin.
    ///
    /// # BTF
    /// As libbpf, a map the kernel refuses with its BTF key and value types
    /// (EINVAL: an iproute2 annotation with a key type the map type does not
    /// take, say) is created again without them, but for the types that
    /// exist only with BTF (local storage). The kernel's refusal is not
    /// reported then: a value holding a spin lock or a timer whose BTF the
    /// kernel refused (for a `value_size` that is not its type's size, say)
    /// fails later, at the verifier, as a map without BTF.
    ///
    /// # CO-RE
    /// Each function is relocated once per spec, however many programs call
    /// it, against the running kernel's BTF. As libbpf, the candidates a
    /// relocation rules out (a field only one of the kernel's types of that
    /// name has settles which it is) are ruled out for the spec's later
    /// relocations of the same local type; later here is in the order the
    /// loader relocates, programs by name, each with the functions it calls,
    /// where libbpf goes in the object's order (which a spec does not keep).
    /// Where pruning settles a layout, the two can differ: a relocation
    /// ambiguous here may resolve under libbpf, or the other way round.
    ///
    /// # Errors
    /// Everything the call created is released: fds are closed, and the pins
    /// it made are removed (it makes them last: only a failure while pinning
    /// leaves some to remove); pins that existed before stay. Names that are
    /// not safe file names are refused before any syscall when they would be
    /// pinned.
    pub fn load(&self, spec: &CollectionSpec) -> Result<Collection, LoadError> {
        self.validate(spec)?;
        self.check_replacements_used(&[spec])?;
        let prepared = self.prepare(spec)?;
        let pin_dir = self.pin_path.as_deref().map(PinDir::new).transpose()?;
        let fixed = self.pinned_fixed_arena(spec);
        self.pinned_call(pin_dir.as_ref(), fixed, || {
            // Small collections are created on the calling thread: a hop to
            // the pool costs more than the maps (see `worth_parallel`).
            let coll = if self.worth_parallel(spec) {
                self.run(|| self.instance(spec, &prepared, pin_dir.as_ref(), true))??
            } else {
                self.instance(spec, &prepared, pin_dir.as_ref(), false)?
            };
            with_slots(spec, coll, None)
        })
    }

    /// Loads `n` independent instances of `spec`: each gets its own deep copy
    /// of the spec and its own maps (pinned maps are shared: instance 0 makes
    /// them, running before the others, and their pins appear when the whole
    /// call has succeeded, as with [`load`](Self::load)), created
    /// concurrently. For instances with settings of their
    /// own, see [`load_all`](Self::load_all).
    ///
    /// # Errors
    /// If one instance fails, every instance is released and the pins the call
    /// created are removed; the error names the instance.
    pub fn load_many(&self, spec: &CollectionSpec, n: usize) -> Result<Vec<Collection>, LoadError> {
        self.validate(spec)?;
        self.check_replacements_used(&[spec])?;
        if n > 1
            && let Some(m) = self.fixed_arenas(spec).next()
        {
            return Err(LoadError::Invalid {
                map: m.name.to_string(),
                what: format!(
                    "{n} instances of an arena with a fixed address (map_extra {:#x}): each \
                     instance maps its own arena, and only one fits at that address",
                    m.map_extra
                ),
            });
        }
        let prepared = self.prepare(spec)?;
        let pin_dir = self.pin_path.as_deref().map(PinDir::new).transpose()?;
        // Instance 0 makes the pins the others share (see `pinners_first`).
        let shared: HashSet<&str> = if n > 1 {
            self.pinned(spec).map(|m| m.name.as_str()).collect()
        } else {
            HashSet::new()
        };
        let first = if shared.is_empty() {
            Vec::new()
        } else {
            vec![0]
        };
        // With at least one instance per thread, the instances keep every
        // thread busy; splitting a collection's maps too only adds overhead.
        let order = Order {
            first: &first,
            shared: &shared,
        };
        let fixed = self.pinned_fixed_arena(spec);
        self.pinned_call(pin_dir.as_ref(), fixed, || {
            let results = self.run_instances(
                n,
                order,
                |_| spec,
                |index, alone, threads| {
                    let nested = (alone || n < threads) && self.worth_parallel(spec);
                    let copy = spec.deep_copy();
                    self.instance(&copy, &prepared, pin_dir.as_ref(), nested)
                        .map_err(in_instance(index))
                },
            )?;
            gather(results, &vec![spec; n], n > 1)
        })
    }

    /// Loads one collection from each of `specs`, concurrently, as
    /// [`load_many`](Self::load_many) loads many from one spec: for tenants,
    /// pods or interfaces that each get their own settings (a variable set,
    /// a map sized, a struct_ops name changed) in their own copy of one
    /// parsed spec.
    ///
    /// Each spec is validated, linked and loaded on the loader's threads; the
    /// BTF they share is loaded once (the loader keeps one fd per distinct
    /// BTF), and the map-in-map slots of all of them are filled at once, so
    /// their RCU grace periods overlap.
    ///
    /// (Needs bpf(2): skipped without it, unless `CI` is set.)
    /// ```
    /// use ebpf_loader::Loader;
    /// use ebpf_spec::CollectionSpec;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let probe = ebpf_spec::MapSpec::new("probe", ebpf_spec::MapType::Array, 4, 4, 1);
    /// # if std::env::var_os("CI").is_none() && Loader::new().create_map(&probe).is_err() { return Ok(()) }
    /// let base = CollectionSpec::from_elf(include_bytes!("../../ebpf-spec/tests/fixtures/globals.bpfel.o"))?;
    /// // One copy per tenant, each with its own setting.
    /// let specs = (0..4u32)
    ///     .map(|tenant| {
    ///         let mut spec = base.copy();
    ///         spec.set_variable("sample_rate", &(100 + tenant).to_ne_bytes())?;
    ///         Ok(spec)
    ///     })
    ///     .collect::<Result<Vec<_>, ebpf_spec::SetError>>()?;
    /// let tenants = Loader::new().load_all(&specs)?;
    /// for (tenant, coll) in tenants.iter().enumerate() {
    ///     let run = coll.test_run("get_rate", &[0u8; 64], 1).unwrap()?;
    ///     assert_eq!(run.retval, 100 + tenant as u32);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// All or nothing: if one spec is refused or fails to load, every
    /// collection of the call is released and the pins it created are
    /// removed; the error is [`LoadError::Instance`], with the index of the
    /// spec. What can be refused without the kernel is checked for every
    /// spec first, in order; after that, the error is the first in index
    /// order among the specs that ran (those that make shared pins run
    /// first, and if one of them fails the others do not run).
    ///
    /// # Pins
    /// Maps pinned by name are shared, as with `load_many`. The first spec
    /// of the slice that pins a name makes the map (when no pin exists yet):
    /// it runs before the others and fills the slots of the outer maps it
    /// pinned at once, so the map has its attributes, contents and slots,
    /// whatever the threads do; its pin appears when the whole call has
    /// succeeded (see [`load`](Self::load)). The later ones reuse it, checked
    /// compatible (inner map included) as a later call would check them, and
    /// their contents for it are not written, as for any reused pin. To keep
    /// tenants' pins apart, give each its own [`pin_path`](Self::pin_path)
    /// (one loader each).
    pub fn load_all(&self, specs: &[CollectionSpec]) -> Result<Vec<Collection>, LoadError> {
        for (index, spec) in specs.iter().enumerate() {
            self.validate(spec).map_err(in_instance(index))?;
        }
        if !specs.is_empty() {
            self.check_replacements_used(&specs.iter().collect::<Vec<_>>())?;
        }
        let fixed = specs
            .iter()
            .enumerate()
            .flat_map(|(i, spec)| self.fixed_arenas(spec).map(move |m| (i, m)));
        if let Some([a, b]) = crate::arena::overlapping(fixed) {
            return Err(in_instance(b.0)(overlap_err(a, b)));
        }
        let pin_dir = self.pin_path.as_deref().map(PinDir::new).transpose()?;
        let (first, shared) = self.pinners_first(specs);
        let order = Order {
            first: &first,
            shared: &shared,
        };
        let spec_of = |index: usize| &specs[index];
        let fixed = specs.iter().any(|s| self.pinned_fixed_arena(s));
        self.pinned_call(pin_dir.as_ref(), fixed, || {
            let results =
                self.run_instances(specs.len(), order, spec_of, |index, alone, threads| {
                    // As in load_many: a collection's maps are split over
                    // threads only when it runs alone or there are fewer
                    // collections than threads.
                    let spec = &specs[index];
                    let nested = (alone || specs.len() < threads) && self.worth_parallel(spec);
                    self.prepare(spec)
                        .and_then(|prepared| {
                            self.instance(spec, &prepared, pin_dir.as_ref(), nested)
                        })
                        .map_err(in_instance(index))
                })?;
            gather(results, &specs.iter().collect::<Vec<_>>(), true)
        })
    }

    /// Refuses a replacement ([`replace_map`](Self::replace_map)) that no spec
    /// of the call would use: no map of that name, or none that is created.
    fn check_replacements_used(&self, specs: &[&CollectionSpec]) -> Result<(), LoadError> {
        let created = |name: &str| {
            specs
                .iter()
                .any(|s| s.maps.get(name).is_some_and(|m| m.autocreate))
        };
        let Some(name) = self.replacements.keys().filter(|n| !created(n)).min() else {
            return Ok(());
        };
        let exists = specs.iter().any(|s| s.maps.contains_key(name));
        let why = match (specs.len() == 1, exists) {
            (true, false) => "the collection has no map of that name",
            (false, false) => "no spec of the call has a map of that name",
            (true, true) => "the collection does not create it (autocreate is false)",
            (false, true) => "no spec of the call creates it (autocreate is false)",
        };
        Err(LoadError::Invalid {
            map: name.clone(),
            what: format!("replace_map gives a map for it, but {why}: it would not be used"),
        })
    }

    /// The arenas of `spec` a load creates at a fixed address (`map_extra`):
    /// one instance of each fits in a process.
    fn fixed_arenas<'s>(&self, spec: &'s CollectionSpec) -> impl Iterator<Item = &'s MapSpec> {
        spec.maps.values().filter(move |m| {
            m.autocreate
                && at_fixed_address(m)
                && !self.replacements.contains_key(m.name.as_str())
                && !(m.pinning == Pinning::ByName && self.pin_path.is_some())
        })
    }

    /// Whether a load of `spec` makes or reuses a pinned arena with a fixed
    /// address (see [`PinDir::take_turn`]).
    fn pinned_fixed_arena(&self, spec: &CollectionSpec) -> bool {
        self.pinned(spec).any(at_fixed_address)
    }

    /// The maps of `spec` a load pins by name (not replaced, created).
    fn pinned<'s>(&self, spec: &'s CollectionSpec) -> impl Iterator<Item = &'s MapSpec> {
        let pin = self.pin_path.is_some();
        spec.maps.values().filter(move |m| {
            pin && m.autocreate
                && m.pinning == Pinning::ByName
                && !self.replacements.contains_key(m.name.as_str())
        })
    }

    /// The specs of one call that must run before the others, in order:
    /// for each name that several of them pin, the first of those. It makes
    /// the pin (when it does not exist yet), with its attributes, contents
    /// and slots, and the others reuse it, checked compatible, as a later
    /// call would: the result does not depend on which thread is faster.
    /// Also the names shared so.
    fn pinners_first<'s>(&self, specs: &'s [CollectionSpec]) -> (Vec<usize>, HashSet<&'s str>) {
        // Name -> (the first spec pinning it, whether another one does too).
        let mut first: HashMap<&str, (usize, bool)> = HashMap::new();
        for (index, spec) in specs.iter().enumerate() {
            for m in self.pinned(spec) {
                first
                    .entry(&m.name)
                    .and_modify(|(at, shared)| *shared |= *at != index)
                    .or_insert((index, false));
            }
        }
        let shared: HashMap<&str, usize> = first
            .into_iter()
            .filter(|&(_, (_, shared))| shared)
            .map(|(name, (at, _))| (name, at))
            .collect();
        let mut out: Vec<usize> = shared.values().copied().collect();
        out.sort_unstable();
        out.dedup();
        (out, shared.into_keys().collect())
    }

    /// Runs `one(i, alone, threads)` for instance `i` of a call (whose spec
    /// is `spec_of(i)`), for every `i` below `n`, on the loader's threads
    /// (`threads`: how many): first those in `order.first`, one after the
    /// other (`alone`), each then filling the slots of the outer maps it
    /// pinned under `order.shared` names, so those pins are complete before
    /// others reuse and check them; then the others concurrently. If one of
    /// the first fails, the others do not run. Each runs under [`caught`].
    /// The outcomes come back in instance order.
    fn run_instances<'s>(
        &self,
        n: usize,
        order: Order<'_>,
        spec_of: impl Fn(usize) -> &'s CollectionSpec + Sync,
        one: impl Fn(usize, bool, usize) -> Result<Collection, LoadError> + Sync,
    ) -> Result<Vec<Outcome>, LoadError> {
        // The fds the call will hold (one per map it creates or opens and per
        // program it loads, in each instance), made room for at once: see
        // `sys::reserve_fds`. A call of a few fds leaves the table alone.
        if n > 1 {
            let fds = (0..n).fold(0usize, |acc, i| {
                acc.saturating_add(self.fds_held(spec_of(i)))
            });
            if fds >= RESERVE_FDS_FROM {
                sys::reserve_fds(fds);
            }
        }
        self.run(|| {
            let threads = rayon::current_num_threads();
            let mut early = vec![false; n];
            let mut done: Vec<(usize, Outcome)> = Vec::with_capacity(n);
            for &i in order.first {
                early[i] = true;
                let outcome = caught(|| {
                    one(i, true, threads).and_then(|c| {
                        with_slots(spec_of(i), c, Some(order.shared)).map_err(in_instance(i))
                    })
                });
                let failed = !matches!(outcome, Ok(Ok(_)));
                done.push((i, outcome));
                if failed {
                    return in_order(done);
                }
            }
            let early = &early;
            // The lowest instance that failed so far: instances past it are
            // not started (the call fails, and would release them), those
            // before it still run, so the error is the lowest instance's
            // whatever the threads do.
            let failed_at = AtomicUsize::new(usize::MAX);
            let rest: Vec<(usize, Outcome)> = (0..n)
                .into_par_iter()
                .filter(|&i| !early[i])
                .filter_map(|i| {
                    if i > failed_at.load(Ordering::Relaxed) {
                        return None;
                    }
                    let outcome = caught(|| one(i, false, threads));
                    if !matches!(outcome, Ok(Ok(_))) {
                        failed_at.fetch_min(i, Ordering::Relaxed);
                    }
                    Some((i, outcome))
                })
                .collect();
            done.extend(rest);
            in_order(done)
        })
    }

    /// About how many fds a collection of `spec` holds: one per map the
    /// loader creates or opens (not those left out or replaced) and per
    /// program it loads (none with `maps_only`; those with autoload off
    /// left out; a struct_ops program no created map uses counted all the
    /// same).
    fn fds_held(&self, spec: &CollectionSpec) -> usize {
        let maps = spec
            .maps
            .values()
            .filter(|m| m.autocreate && !self.replacements.contains_key(m.name.as_str()))
            .count();
        let programs = if self.maps_only {
            0
        } else {
            spec.programs.values().filter(|p| p.autoload).count()
        };
        maps + programs
    }

    /// Whether creating `spec`'s maps on several threads pays: at least two
    /// maps, and more estimated kernel work than the cost of handing work to
    /// other threads and joining them (measured at 20-40 us on this kind of
    /// machine; `benches/load.rs`, `load` vs `load_on_pool_worker`).
    fn worth_parallel(&self, spec: &CollectionSpec) -> bool {
        /// Parallel creation pays off above this much estimated work.
        const THRESHOLD_NS: u64 = 200_000;
        if spec.maps.len() < 2 {
            return false;
        }
        let cpus = self.possible_cpus().unwrap_or(1);
        let total = spec.maps.values().fold(0u64, |acc, m| {
            acc.saturating_add(crate::map::estimated_create_ns(m, cpus))
        });
        total >= THRESHOLD_NS
    }

    /// Everything that can be refused without the kernel.
    fn validate(&self, spec: &CollectionSpec) -> Result<(), LoadError> {
        if spec.byte_order != ebpf_spec::ByteOrder::NATIVE {
            return Err(LoadError::ByteOrder {
                object: spec.byte_order,
                host: ebpf_spec::ByteOrder::NATIVE,
            });
        }
        // A map or program is found by its key in the spec (relocations,
        // slots, the collection) and made under its own name (the kernel's
        // name, the pin): the two must agree.
        if let Some((key, m)) = spec.maps.iter().find(|(k, m)| **k != m.name) {
            return Err(LoadError::Invalid {
                map: key.to_string(),
                what: format!(
                    "its spec is named `{}`: a map's name must be its key in `spec.maps` \
                     (to rename it, remove it and insert it under the new name, and \
                     rename what refers to it)",
                    m.name
                ),
            });
        }
        if let Some((key, p)) = spec
            .programs
            .iter()
            .chain(&spec.functions)
            .find(|(k, p)| **k != p.name)
        {
            return Err(LoadError::Program {
                program: key.to_string(),
                step: Step::Validate,
                source: None,
                what: format!(
                    "its spec is named `{}`: a program's name must be its key in \
                     `spec.programs` (or `spec.functions`)",
                    p.name
                ),
                log: None,
            });
        }
        // Built when a prog-array slot needs it.
        let mut autoload: Option<Autoload<'_>> = None;
        if let Some([a, b]) = crate::arena::overlapping(self.fixed_arenas(spec).map(|m| (0, m))) {
            return Err(overlap_err(a, b));
        }
        // Maps with autocreate false are not created: nothing to check.
        for m in spec.maps.values().filter(|m| m.autocreate) {
            validate(m, true)?;
            for e in &m.contents {
                if let MapValue::Map(target) = &e.value {
                    if !m.map_type.is_map_in_map() {
                        return Err(LoadError::Invalid {
                            map: m.name.to_string(),
                            what: format!("a {} cannot hold map `{target}`", m.map_type),
                        });
                    }
                    match spec.maps.get(target) {
                        None => {
                            return Err(LoadError::Invalid {
                                map: m.name.to_string(),
                                what: format!(
                                    "a slot refers to map `{target}`, which the collection does not have"
                                ),
                            });
                        }
                        Some(t) if !t.autocreate => {
                            return Err(LoadError::Invalid {
                                map: m.name.to_string(),
                                what: format!(
                                    "a slot refers to map `{target}`, which is not created (its \
                                     autocreate is false)"
                                ),
                            });
                        }
                        Some(t) => {
                            if let Some(template) = &m.inner_map
                                && let Some(why) = inner_mismatch(template, t)
                            {
                                return Err(LoadError::Invalid {
                                    map: m.name.to_string(),
                                    what: format!(
                                        "a slot refers to map `{target}`, which the kernel \
                                         would refuse for its inner-map template: {why}"
                                    ),
                                });
                            }
                        }
                    }
                }
            }
            for e in &m.contents {
                if let MapValue::Program(target) = &e.value {
                    if m.map_type != MapType::ProgArray {
                        return Err(LoadError::Invalid {
                            map: m.name.to_string(),
                            what: format!("a {} cannot hold program `{target}`", m.map_type),
                        });
                    }
                    if self.maps_only {
                        continue;
                    }
                    match spec.programs.get(target) {
                        None => {
                            return Err(LoadError::Invalid {
                                map: m.name.to_string(),
                                what: format!(
                                    "a slot refers to program `{target}`, which the collection \
                                     does not have"
                                ),
                            });
                        }
                        Some(p)
                            if !autoload.get_or_insert_with(|| Autoload::new(spec)).loads(p) =>
                        {
                            return Err(not_loaded(m, p));
                        }
                        Some(_) => {}
                    }
                }
            }
            if m.map_type == MapType::Arena
                && !crate::arena::globals(m).is_empty()
                && ((m.pinning == Pinning::ByName && self.pin_path.is_some())
                    || self.replacements.contains_key(m.name.as_str()))
            {
                return Err(LoadError::Invalid {
                    map: m.name.to_string(),
                    what: "an arena with `__arena` globals cannot be pinned by name or replaced: \
                           the globals are written into the arena this load creates"
                        .into(),
                });
            }
            if let Some(ops) = m.struct_ops() {
                if (m.pinning == Pinning::ByName && self.pin_path.is_some())
                    || self.replacements.contains_key(m.name.as_str())
                {
                    return Err(LoadError::Invalid {
                        map: m.name.to_string(),
                        what: "a struct_ops map cannot be pinned by name or replaced: its \
                               value holds the fds of this collection's programs"
                            .into(),
                    });
                }
                for (member, program) in &ops.programs {
                    if !self.maps_only && !spec.programs.contains_key(program) {
                        return Err(LoadError::Invalid {
                            map: m.name.to_string(),
                            what: format!(
                                "member `{member}` refers to program `{program}`, which the \
                                 collection does not have"
                            ),
                        });
                    }
                }
            }
            // A replaced map is used as given, never pinned.
            if m.pinning == Pinning::ByName
                && self.pin_path.is_some()
                && !self.replacements.contains_key(m.name.as_str())
            {
                crate::pin::check_pin_name(&m.name).map_err(|what| LoadError::Invalid {
                    map: m.name.to_string(),
                    what,
                })?;
            }
        }
        Ok(())
    }

    /// What every instance of `spec` shares, computed once per call: the
    /// bytes of data sections with their variables' values (and `.kconfig`'s
    /// from the running kernel), and the linked programs.
    fn prepare(&self, spec: &CollectionSpec) -> Result<Prepared, LoadError> {
        let mut ctx = None;
        if !self.maps_only {
            let budget = self
                .core_step_budget
                .map_or_else(CoreStepBudget::default, CoreStepBudget::new);
            ctx = Some(crate::program::LinkContext::new(spec, budget)?);
        }
        let kconfig = match spec.maps.get(".kconfig") {
            Some(m) if m.autocreate => {
                Some(self.kconfig_types(spec, ctx.as_ref().and_then(|c| c.local()))?)
            }
            _ => None,
        };
        let mut data = HashMap::new();
        for m in spec.maps.values() {
            if let Some(bytes) = section_bytes(spec, m, kconfig.as_deref())? {
                data.insert(m.name.to_string(), bytes);
            }
        }
        let arena_at = crate::arena::placements(spec, &data)?;
        if let Some(c) = ctx.as_mut() {
            c.arena_at.clone_from(&arena_at);
        }
        let (struct_ops, attach) = plan_struct_ops(spec, ctx.as_ref().and_then(|c| c.local()))?;
        // Which struct_ops programs a created map uses is known now, from
        // the plans: a callback the kernel lacks was left out.
        let loads = Autoload::attached(spec, attach.keys());
        if ctx.is_some() {
            // `validate` counted every callback of a created map as used; a
            // prog-array slot may name one whose only callback was left out.
            refuse_slots_of_unloaded(spec, &loads)?;
        }
        let programs = match ctx.as_mut() {
            None => Vec::new(),
            Some(ctx) => spec
                .programs
                .values()
                .filter(|p| loads.loads(p))
                .map(|p| {
                    let target = self.targets.get(p.name.as_str());
                    crate::program::link(spec, p, ctx, target, attach.get(p.name.as_str()))
                })
                .collect::<Result<_, _>>()?,
        };
        let parsed = ctx.as_ref().and_then(|c| c.local());
        let (btf, btf_refused) = match &spec.btf {
            None => (None, None),
            Some(b) => match self.btf_fd(&kernel_btf(spec, b, parsed)?)? {
                Ok(fd) => (Some(fd), None),
                // As libbpf: the collection loads without BTF, unless a map
                // cannot be made without it.
                Err(refused) if needs_btf(spec, &struct_ops, &self.replacements) => {
                    return Err(LoadError::Btf {
                        source: std::io::Error::from_raw_os_error(
                            refused.source.raw_os_error().unwrap_or(libc::EINVAL),
                        ),
                        log: refused.log.clone(),
                    });
                }
                Err(refused) => (None, Some(refused)),
            },
        };
        Ok(Prepared {
            btf,
            btf_refused,
            data,
            programs,
            struct_ops,
            arena_at,
        })
    }

    /// One instance: its maps, then its programs, then its prog-array slots
    /// (map-in-map slots are filled by the caller: [`with_slots`], and for
    /// many instances at once [`gather`]).
    fn instance(
        &self,
        spec: &CollectionSpec,
        prepared: &Prepared,
        pin_dir: Option<&PinDir>,
        parallel: bool,
    ) -> Result<Collection, LoadError> {
        let btf = prepared.btf.as_deref().map(|fd| fd.as_fd());
        let mut coll = self.create_maps(spec, btf, prepared, pin_dir, parallel)?;
        let load = |l: &crate::program::Linked| {
            let target = self.targets.get(&l.name).map(|t| t.fd.as_fd());
            crate::program::load(l, &coll.maps, btf, target).map(|p| (l.name.clone(), p))
        };
        let loaded: Vec<_> = if parallel && worth_parallel_programs(&prepared.programs) {
            prepared.programs.par_iter().map(load).collect()
        } else {
            prepared.programs.iter().map(load).collect()
        };
        for r in loaded {
            let (name, p) = r?;
            coll.programs.insert(name, p);
        }
        fill_program_slots(spec, &coll)?;
        Ok(coll)
    }

    /// The types of `spec`'s `.kconfig` externs, from its BTF (`parsed`, if
    /// the link parsed it): worked out once per loader and object BTF.
    fn kconfig_types(
        &self,
        spec: &CollectionSpec,
        parsed: Option<&ebpf_spec::btf::Btf>,
    ) -> Result<Arc<KconfigTypes>, LoadError> {
        let Some(b) = &spec.btf else {
            return Ok(Arc::default());
        };
        self.kconfig_types.get_or_try(&b.btf, || {
            let own;
            let btf = match parsed {
                Some(btf) => btf,
                None => {
                    own = ebpf_spec::btf::Btf::parse(&b.btf, spec.byte_order).map_err(|e| {
                        LoadError::Invalid {
                            map: ".kconfig".into(),
                            what: format!("the object's BTF: {e}"),
                        }
                    })?;
                    &own
                }
            };
            // Every extern the BTF's `.kconfig` lists: a function of the
            // BTF alone, as the key is.
            Ok(Arc::new(
                kconfig_vars(btf)
                    .filter_map(|var| {
                        let name = var.name()?.to_owned();
                        Some((name, crate::kernel::kcfg_type(btf, var.target()?)))
                    })
                    .collect(),
            ))
        })
    }

    /// The kernel's fd of BTF `blob`, or why the kernel refused its content
    /// (EINVAL, with its log, or E2BIG: over the kernel's 16 MiB): loaded once
    /// per distinct content and loader, and shared by every map, program and
    /// instance that needs it. Any other error (EPERM, ENOMEM) is the
    /// load's, and not kept.
    fn btf_fd(&self, blob: &[u8]) -> Result<KernelBtf, LoadError> {
        self.btf_cache
            .get_or_try(blob, || match sys::btf_load(blob) {
                Ok(fd) => Ok(Ok(Arc::new(fd))),
                Err((source, log))
                    if matches!(source.raw_os_error(), Some(libc::EINVAL | libc::E2BIG)) =>
                {
                    Ok(Err(Arc::new(crate::BtfRefused { source, log })))
                }
                Err((source, log)) => Err(LoadError::Btf { source, log }),
            })
    }

    /// Creates (or opens) every map of `spec`; slots that name maps are
    /// filled afterwards by [`fill_slots_concurrently`].
    fn create_maps(
        &self,
        spec: &CollectionSpec,
        btf: Option<std::os::fd::BorrowedFd<'_>>,
        prepared: &Prepared,
        pin_dir: Option<&PinDir>,
        parallel: bool,
    ) -> Result<Collection, LoadError> {
        let open = |m: &MapSpec| {
            if let Some(plan) = prepared.struct_ops.get(m.name.as_str()) {
                return create_struct_ops(m, plan, btf);
            }
            let value = prepared.data.get(m.name.as_str()).map(Vec::as_slice);
            let arena_at = prepared.arena_at.get(m.name.as_str()).copied();
            self.open_map(m, (value, arena_at), pin_dir, btf)
        };
        let opened: Vec<(&ebpf_spec::Name, Opened)> = if parallel {
            spec.maps
                .as_slice()
                .par_iter()
                .filter(|(_, m)| m.autocreate)
                .map(|(n, m)| (n, open(m)))
                .collect()
        } else {
            spec.maps
                .iter()
                .filter(|(_, m)| m.autocreate)
                .map(|(n, m)| (n, open(m)))
                .collect()
        };
        let mut maps = std::collections::BTreeMap::new();
        let (mut pins_created, mut pins_reused, mut reused) = (Vec::new(), Vec::new(), Vec::new());
        let mut arenas = std::collections::BTreeMap::new();
        let mut first_err = None;
        for (name, r) in opened {
            match r {
                Ok((fd, origin, arena)) => {
                    match origin {
                        Origin::PinCreated(p) => pins_created.push(p),
                        Origin::PinReused(p) => {
                            pins_reused.push(p);
                            reused.push(name.as_str());
                        }
                        Origin::Replaced => reused.push(name.as_str()),
                        Origin::Created => {}
                    }
                    if let Some(arena) = arena {
                        arenas.insert(name.to_string(), arena);
                    }
                    maps.insert(name.to_string(), fd);
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        let reused = reused.into_iter().map(str::to_owned).collect();
        Ok(Collection {
            maps,
            programs: std::collections::BTreeMap::new(),
            pins_created,
            pins_reused,
            reused,
            slots_filled: Vec::new(),
            bpffs: pin_dir.map(|d| d.path().to_owned()),
            struct_ops: prepared.struct_ops.clone(),
            arenas,
            btf_refused: prepared.btf_refused.clone(),
        })
    }

    fn open_map(
        &self,
        m: &MapSpec,
        (data, arena_at): (Option<&[u8]>, Option<u64>),
        pin_dir: Option<&PinDir>,
        btf: Option<std::os::fd::BorrowedFd<'_>>,
    ) -> Opened {
        let syscall = |step: Step, source: std::io::Error| LoadError::Syscall {
            map: m.name.to_string(),
            step,
            source,
            hint: None,
        };
        if let Some(fd) = self.replacements.get(m.name.as_str()) {
            let fd = fd.try_clone().map_err(|e| syscall(Step::Replace, e))?;
            self.check_compatible(m, &fd, Step::Replace)?;
            let arena = reused_arena(m, &fd)?;
            return Ok((fd, Origin::Replaced, arena));
        }
        let (Some(dir), Pinning::ByName) = (pin_dir, m.pinning) else {
            let (fd, arena) = self.create_fd(m, btf, data, arena_at)?;
            return Ok((fd, Origin::Created, arena));
        };
        let (path, c) = dir.pin_of(&m.name).map_err(|what| LoadError::Invalid {
            map: m.name.to_string(),
            what,
        })?;
        // A map read-only (or write-only) for user space stays so through
        // its pin: the kernel keeps that per fd, not in the map.
        let access = (m.flags & (MapFlags::RDONLY | MapFlags::WRONLY)).bits();
        let reuse = |fd: OwnedFd, origin: Origin| -> Opened {
            self.check_is_map(m, &fd, Step::OpenPin)?;
            // The check reads a map-in-map's slots, which a write-only fd
            // cannot: it reads them through a read-only fd of the same map
            // (by id: the pin may be replaced meanwhile, and its file may
            // be write-only).
            let reader = (m.flags.contains(MapFlags::WRONLY) && m.map_type.is_map_in_map())
                .then(|| {
                    let id = sys::map_info(fd.as_fd())?.id;
                    sys::map_get_fd_by_id_with(id, MapFlags::RDONLY.bits())
                })
                .transpose()
                .map_err(|e| syscall(Step::OpenPin, e))?;
            self.check_compatible(m, reader.as_ref().unwrap_or(&fd), Step::OpenPin)?;
            let arena = reused_arena(m, &fd)?;
            Ok((fd, origin, arena))
        };
        // Made by another instance of this call, to be pinned at its end.
        if let Some(id) = dir
            .staged_id(&path)
            .map_err(|e| syscall(Step::OpenPin, e))?
        {
            let fd =
                sys::map_get_fd_by_id_with(id, access).map_err(|e| syscall(Step::OpenPin, e))?;
            return reuse(fd, Origin::PinReused(path));
        }
        // A pinned arena at a fixed address: loads of this process that race
        // to make it take turns (to the end of their calls), or the losers,
        // mapping theirs where the winner's is, would fail before they found
        // its pin.
        if at_fixed_address(m) {
            dir.take_turn();
        }
        match dir.open_pin(&c, access) {
            Ok(fd) => return reuse(fd, Origin::PinReused(path)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(syscall(Step::OpenPin, e)),
        }
        let (fd, arena) = self.create_fd(m, btf, data, arena_at)?;
        dir.stage(&m.name, (path.clone(), c), &fd)
            .map_err(|e| syscall(Step::Pin, e))?;
        Ok((fd, Origin::PinCreated(path), arena))
    }

    /// Refuses an fd that holds no map: a pin (or an fd given to
    /// replace_map) may hold a program, a link or BTF, whose info would read
    /// as a map's nonsense attributes.
    fn check_is_map(&self, m: &MapSpec, fd: &OwnedFd, step: Step) -> Result<(), LoadError> {
        match sys::object_kind(fd.as_fd()) {
            Some(kind) if kind != "bpf-map" => {
                let what = match step {
                    Step::OpenPin => "the existing pin of that name",
                    _ => "the fd given to replace_map",
                };
                Err(LoadError::Invalid {
                    map: m.name.to_string(),
                    what: format!("{what} holds a `{kind}`, not a map"),
                })
            }
            _ => Ok(()),
        }
    }

    /// Runs `attempt`, one whole call (its collections made, their slots
    /// filled), then pins the maps it made to pin ([`PinDir::publish`]).
    /// When another loader pinned one of those names meanwhile, the
    /// collections hold maps of their own where that pin holds another: they
    /// are dropped, with any pins this publish made before it found the race
    /// (see [`PinDir::publish`]), and the call is made again from the start,
    /// reusing the other loader's pin, up to [`PIN_ATTEMPTS`] times. On an
    /// error or a panic, the pins the call made are removed.
    ///
    /// `fixed_arena`: whether the call makes or reuses a pinned arena with a
    /// fixed address. Its turn ([`PinDir::take_turn`]) is then taken here,
    /// on the calling thread, not on one of the loader's threads, which a
    /// call waiting for it would hold while the call holding it needs them.
    ///
    /// Called on a worker of a rayon pool, a call that takes the turn runs on
    /// a thread of its own, with a pool of its own unless the loader has one
    /// ([`threads`](Self::threads)): a worker that waits for other threads
    /// runs other jobs of its pool meanwhile, and another such call among
    /// them, on the same thread, would collide with this one's arena; and
    /// the workers of the caller's pool may all be waiting for such calls.
    fn pinned_call<T: Send>(
        &self,
        dir: Option<&PinDir>,
        fixed_arena: bool,
        attempt: impl Fn() -> Result<T, LoadError> + Sync,
    ) -> Result<T, LoadError> {
        let Some(dir) = dir else {
            return attempt();
        };
        if !(fixed_arena && rayon::current_thread_index().is_some()) {
            return self.pinned_call_here(dir, fixed_arena, &attempt);
        }
        let threads = self.threads.unwrap_or(0);
        let refused = |what: String| LoadError::Threads {
            threads: threads.max(1),
            what,
        };
        std::thread::scope(|s| {
            let own = std::thread::Builder::new()
                .name("ebpf-loader-arena".into())
                .spawn_scoped(s, || {
                    if self.threads.is_some() {
                        return self.pinned_call_here(dir, fixed_arena, &attempt);
                    }
                    // 0: rayon's default, one per core.
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .map_err(|e| refused(e.to_string()))?;
                    pool.install(|| self.pinned_call_here(dir, fixed_arena, &attempt))
                })
                .map_err(|e| refused(e.to_string()))?;
            own.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// [`pinned_call`](Self::pinned_call), on this thread.
    fn pinned_call_here<T>(
        &self,
        dir: &PinDir,
        fixed_arena: bool,
        attempt: &impl Fn() -> Result<T, LoadError>,
    ) -> Result<T, LoadError> {
        if fixed_arena {
            dir.take_turn();
        }
        // Pins are made last, by `publish`, which removes them itself when
        // it fails or panics: nothing to undo here.
        let mut tries = 0;
        loop {
            tries += 1;
            let out = attempt()?;
            match dir.publish() {
                Ok(()) => return Ok(out),
                Err(Publish::Race(e)) => {
                    // `publish` took the staged maps and removed any pins it
                    // made; `out` holds the rest.
                    drop(out);
                    if tries == PIN_ATTEMPTS {
                        return Err(e);
                    }
                }
                Err(Publish::Failed(e)) => return Err(e),
            }
        }
    }

    /// Compares an existing map with the attributes `m` would be created with.
    fn check_compatible(&self, m: &MapSpec, fd: &OwnedFd, step: Step) -> Result<(), LoadError> {
        self.check_is_map(m, fd, step)?;
        let kernel = KernelMap::read(fd.as_fd(), m).map_err(|source| LoadError::Syscall {
            map: m.name.to_string(),
            step: Step::Info,
            source,
            hint: None,
        })?;
        let (mut max_entries, flags) = self.fixups(m).map_err(|what| LoadError::Invalid {
            map: m.name.to_string(),
            what,
        })?;
        // The kernel rounds an LRU map with per-CPU lists up to a multiple
        // of the possible CPUs (`htab_map_alloc`), and reports that.
        if m.map_type.is_lru() && flags.contains(MapFlags::NO_COMMON_LRU) {
            let cpus = self.possible_cpus().map_or(1, |n| n.max(1));
            max_entries = match max_entries.checked_next_multiple_of(cpus) {
                Some(up) => up,
                None => max_entries - max_entries % cpus,
            };
        }
        let mut effective = MapSpec::new(
            m.name.clone(),
            m.map_type,
            m.key_size,
            m.value_size,
            max_entries,
        );
        effective.flags = kept_by_kernel(flags);
        effective.map_extra = m.map_extra;
        effective.inner_map = m.inner_map.as_ref().map(|t| {
            let mut t = t.clone();
            t.flags = kept_by_kernel(t.flags);
            t
        });
        effective
            .compatible(&kernel)
            .map_err(|source| LoadError::Incompatible { step, source })
    }

    /// `max_entries` and flags after the fix-ups that go into the create
    /// attributes (never into the caller's spec): perf event arrays with
    /// `max_entries` 0 get the number of possible CPUs, data-section arrays
    /// (`.kconfig` too) get `BPF_F_MMAPABLE`: their variables can be read
    /// and written in place ([`Collection::variable`]). libbpf sets it only
    /// on sections with a global that is neither static nor hidden.
    pub(crate) fn fixups(&self, m: &MapSpec) -> Result<(u32, MapFlags), String> {
        let mut max_entries = m.max_entries;
        if m.map_type == MapType::PerfEventArray && max_entries == 0 {
            max_entries = self.possible_cpus().map_err(String::clone)?;
        }
        Ok((max_entries, create_flags(m)))
    }
}

/// `flags` as the kernel keeps them: `BPF_F_RDONLY` and `BPF_F_WRONLY` belong
/// to the creating fd, not to the map, and map info never reports them
/// (`bpf_map_flags_retain_permanent`).
fn kept_by_kernel(flags: MapFlags) -> MapFlags {
    flags - (MapFlags::RDONLY | MapFlags::WRONLY)
}

/// Whether the kernel requires an inner map's `max_entries` to be the
/// template's: for arrays whose template lacks `BPF_F_INNER_MAP`, and for
/// XSKMAPs always (`array_map_meta_equal`, `xsk_map_meta_equal`; seen on
/// this kernel: other types of inner map may differ in size).
fn size_checked_against_template(template: &MapSpec) -> bool {
    match template.map_type.canonical() {
        MapType::Array => !template.flags.contains(MapFlags::INNER_MAP),
        MapType::XskMap => true,
        _ => false,
    }
}

/// The flags `m` is created with: every data-section array (`.kconfig` too)
/// gets `BPF_F_MMAPABLE`, so that each of its variables can be read and
/// written in place ([`Collection::variable`]). libbpf sets it only on
/// sections with a global that is neither static nor hidden; the programs
/// see no difference. See [`Loader::fixups`].
fn create_flags(m: &MapSpec) -> MapFlags {
    if m.is_global_data() {
        m.flags | MapFlags::MMAPABLE
    } else {
        m.flags
    }
}

/// An object's BTF as the kernel took it: its fd, or why it was refused.
type KernelBtf = Result<Arc<OwnedFd>, Arc<crate::BtfRefused>>;

/// Whether a map of `spec` the load may create cannot be made without the
/// object's BTF: a struct_ops map (its value type is found through it) or a
/// local-storage map (the kernel requires its BTF types). A replaced map is
/// not created; a pinned one may be.
fn needs_btf(
    spec: &CollectionSpec,
    struct_ops: &std::collections::BTreeMap<String, Arc<crate::struct_ops::Plan>>,
    replacements: &HashMap<String, OwnedFd>,
) -> bool {
    spec.maps
        .values()
        .filter(|m| m.autocreate && !replacements.contains_key(m.name.as_str()))
        .any(|m| {
            struct_ops.contains_key(m.name.as_str()) || crate::map::needs_btf_types(m.map_type)
        })
}

/// What every instance of a collection shares (see [`Loader::prepare`]).
struct Prepared {
    /// The object's BTF in the kernel (from the loader's cache).
    btf: Option<Arc<OwnedFd>>,
    /// Why the kernel refused the object's BTF, when the load goes on
    /// without it.
    btf_refused: Option<Arc<crate::BtfRefused>>,
    /// Data-section maps whose bytes differ from the spec's contents.
    data: HashMap<String, Vec<u8>>,
    /// The programs, linked.
    programs: Vec<crate::program::Linked>,
    /// The struct_ops maps, made ready for the running kernel, by name.
    struct_ops: std::collections::BTreeMap<String, Arc<crate::struct_ops::Plan>>,
    /// Where each arena's `__arena` globals go (the programs point there).
    arena_at: HashMap<String, u64>,
}

/// The struct_ops maps of `spec` made ready for the running kernel, and
/// where each of their programs attaches. `local` is the object's BTF if it
/// is already parsed.
#[allow(clippy::type_complexity)]
fn plan_struct_ops(
    spec: &CollectionSpec,
    local: Option<&ebpf_spec::btf::Btf>,
) -> Result<
    (
        std::collections::BTreeMap<String, Arc<crate::struct_ops::Plan>>,
        HashMap<String, crate::struct_ops::Attach>,
    ),
    LoadError,
> {
    let mut plans = std::collections::BTreeMap::new();
    let mut attach = HashMap::new();
    let mut parsed = None;
    for m in spec.maps.values().filter(|m| m.autocreate) {
        let Some(ops) = m.struct_ops() else {
            continue;
        };
        let invalid = |what: String| LoadError::Invalid {
            map: m.name.to_string(),
            what,
        };
        let local = match (local, &spec.btf) {
            (Some(btf), _) => btf,
            (None, Some(b)) => match &parsed {
                Some(btf) => btf,
                None => parsed.insert(
                    ebpf_spec::btf::Btf::parse(&b.btf, spec.byte_order)
                        .map_err(|e| invalid(format!("the object's BTF cannot be read: {e}")))?,
                ),
            },
            (None, None) => {
                return Err(invalid(
                    "a struct_ops map needs the object's BTF, and the spec has none".into(),
                ));
            }
        };
        if spec.byte_order != ebpf_spec::ByteOrder::NATIVE {
            return Err(invalid(format!(
                "the object is {:?}-endian, this machine is not",
                spec.byte_order
            )));
        }
        let kernel = crate::kernel::vmlinux().map_err(&invalid)?;
        let plan = crate::struct_ops::plan(m, ops, local, kernel, &mut attach)?;
        plans.insert(m.name.to_string(), Arc::new(plan));
    }
    Ok((plans, attach))
}

/// Creates struct_ops map `m` as `plan` says (its value is written when the
/// collection registers it: [`Collection::attach_struct_ops`]). The kernel
/// wants the object's BTF with it, though the value's type is the kernel's.
fn create_struct_ops(
    m: &MapSpec,
    plan: &crate::struct_ops::Plan,
    btf: Option<std::os::fd::BorrowedFd<'_>>,
) -> Opened {
    let btf = btf.ok_or_else(|| LoadError::Invalid {
        map: m.name.to_string(),
        what: "a struct_ops map needs the object's BTF, and the spec has none".into(),
    })?;
    let name = crate::map::kernel_name(&m.name);
    let attr = sys::MapCreate {
        map_type: MapType::StructOps.raw(),
        key_size: 4,
        value_size: plan.value_size,
        max_entries: 1,
        map_flags: m.flags.bits(),
        inner_map_fd: None,
        numa_node: 0,
        name: &name,
        map_extra: 0,
        btf: Some((btf, 0, 0)),
        btf_vmlinux_value_type_id: plan.value_type_id,
    };
    let fd = sys::map_create(&attr).map_err(|source| LoadError::Syscall {
        map: m.name.to_string(),
        step: Step::Create,
        source,
        hint: None,
    })?;
    Ok((fd, Origin::Created, None))
}

/// The VARs of the `.kconfig` DATASEC of `btf` (none if it has none). A walk
/// of the types, not [`Btf::find`](ebpf_spec::btf::Btf::find), whose name
/// index costs more to build.
fn kconfig_vars(btf: &ebpf_spec::btf::Btf) -> impl Iterator<Item = ebpf_spec::btf::Type<'_>> + '_ {
    let sec = btf
        .ids()
        .filter_map(|id| btf.ty(id))
        .find(|t| t.kind() == ebpf_spec::btf::Kind::Datasec && t.name() == Some(".kconfig"));
    let vars = match sec.map(|t| t.data()) {
        Some(ebpf_spec::btf::TypeData::Datasec { vars, .. }) => vars,
        _ => &[],
    };
    vars.iter().filter_map(|v| btf.ty(v.ty))
}

/// The bytes of data-section map `m` with the values of its variables (and,
/// for `.kconfig`, the running kernel's), or `None` when they are what the
/// spec's contents already hold.
fn section_bytes(
    spec: &CollectionSpec,
    m: &MapSpec,
    kconfig: Option<&KconfigTypes>,
) -> Result<Option<Vec<u8>>, LoadError> {
    let invalid = |what: String| LoadError::Invalid {
        map: m.name.to_string(),
        what,
    };
    let mut vars = spec
        .variables
        .values()
        .filter(|v| v.section == m.name)
        .peekable();
    if vars.peek().is_none() {
        return Ok(None);
    }
    let current = match m.contents.first().map(|e| &e.value) {
        Some(MapValue::Bytes(v)) => Some(v.as_slice()),
        _ => None,
    };
    let mut bytes = current.map_or_else(|| vec![0; m.value_size as usize], <[u8]>::to_vec);
    for v in vars {
        let range = v.range();
        let value = if m.name == ".kconfig" {
            // The extern's type decides which of the kernel's values it can
            // hold.
            let ty = kconfig
                .and_then(|types| types.get(v.name.as_str()).copied())
                .unwrap_or(crate::kernel::Kcfg::Unknown);
            crate::kernel::kconfig_value(&v.name, v.size as usize, ty, v.weak).map_err(&invalid)?
        } else {
            v.value.clone()
        };
        if range.end > bytes.len() || value.len() != range.len() {
            return Err(invalid(format!(
                "variable `{}` ({} bytes at offset {}) does not fit the section's {} bytes",
                v.name,
                value.len(),
                v.offset,
                bytes.len()
            )));
        }
        bytes[range].copy_from_slice(&value);
    }
    let unchanged = match current {
        Some(c) => c == bytes.as_slice(),
        None => bytes.iter().all(|&b| b == 0),
    };
    Ok((!unchanged).then_some(bytes))
}

/// Whether a collection's programs are worth verifying on several threads:
/// the verifier's work grows with the instructions (tens of microseconds
/// for a small program), and a hop to other threads costs about as much.
fn worth_parallel_programs(programs: &[crate::program::Linked]) -> bool {
    const THRESHOLD_INSNS: usize = 2_000;
    programs.len() > 1 && programs.iter().map(|p| p.len()).sum::<usize>() >= THRESHOLD_INSNS
}

/// Writes the fds of the programs named in prog-array contents, one batch
/// update per prog array (prog-array updates do not wait for a grace
/// period, unlike map-in-map ones).
fn fill_program_slots(spec: &CollectionSpec, coll: &Collection) -> Result<(), LoadError> {
    for m in spec.maps.values().filter(|m| m.autocreate) {
        if !coll.reused.iter().any(|n| *n == m.name) {
            write_fd_slots(m, &coll.maps, Step::FillProgramSlots, |value| match value {
                MapValue::Program(p) => coll.programs.get(p.as_str()).map(|p| p.fd.as_fd()),
                _ => None,
            })?;
        }
    }
    Ok(())
}

/// Writes into map `m` (by name in `maps`) the fd `fd_of` gives for each of
/// its contents' values that names a map or program, with one batch update
/// (a single update per slot where the kernel has no batch operation), then
/// freezes `m` if its spec asks for it (not before: a frozen map takes no
/// writes from user space). A failed write is retried slot by slot, so that
/// the error names the slot and what it was to hold.
fn write_fd_slots<'a>(
    m: &MapSpec,
    maps: &std::collections::BTreeMap<String, OwnedFd>,
    step: Step,
    fd_of: impl Fn(&MapValue) -> Option<std::os::fd::BorrowedFd<'a>>,
) -> Result<(), LoadError> {
    use std::os::fd::AsRawFd;
    let of_step = |v: &MapValue| match step {
        Step::FillProgramSlots => matches!(v, MapValue::Program(_)),
        _ => matches!(v, MapValue::Map(_)),
    };
    if !m.contents.iter().any(|e| of_step(&e.value)) {
        return Ok(());
    }
    let syscall = |source: std::io::Error, hint: Option<String>| LoadError::Syscall {
        map: m.name.to_string(),
        step,
        source,
        hint,
    };
    let own = crate::map::writer(m, maps[m.name.as_str()].as_fd()).map_err(|e| syscall(e, None))?;
    let fd = own
        .as_ref()
        .map_or(maps[m.name.as_str()].as_fd(), |o| o.as_fd());
    // (index in the contents, key, the fd's bytes)
    let slots: Vec<(usize, &[u8], [u8; 4])> = m
        .contents
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            Some((
                i,
                e.key.as_slice(),
                (fd_of(&e.value)?.as_raw_fd() as u32).to_ne_bytes(),
            ))
        })
        .collect();
    if !slots.is_empty() {
        let keys: Vec<u8> = slots
            .iter()
            .flat_map(|(_, k, _)| k.iter().copied())
            .collect();
        let values: Vec<u8> = slots.iter().flat_map(|(_, _, v)| *v).collect();
        // SAFETY: each key is the map's key size (`validate` checks the
        // contents against the spec, and a reused or replaced map is checked
        // against the spec), and each value a 4-byte fd, the value size the
        // kernel gives every prog array and outer map.
        let written = unsafe {
            update_batch(fd, &keys, &values, slots.len() as u32, || {
                slots.iter().map(|(_, k, v)| (*k, &v[..]))
            })
        };
        if let Err(batch) = written {
            // Which slot: the first one the kernel refuses on its own.
            for (i, key, value) in &slots {
                // SAFETY: as for the batch above, one slot.
                if let Err(source) = unsafe { sys::map_update_elem(fd, key, value) } {
                    return Err(syscall(source, Some(slot_hint(m, *i))));
                }
            }
            return Err(syscall(batch, None));
        }
    }
    if m.freeze {
        sys::map_freeze(fd).map_err(|source| LoadError::Syscall {
            map: m.name.to_string(),
            step: Step::Freeze,
            source,
            hint: None,
        })?;
    }
    Ok(())
}

/// What slot `m.contents[i]` is and what it was to hold, for an error.
fn slot_hint(m: &MapSpec, i: usize) -> String {
    let e = &m.contents[i];
    let slot = match <[u8; 4]>::try_from(e.key.as_slice()) {
        Ok(k) => format!("slot {}", u32::from_ne_bytes(k)),
        Err(_) => format!("the slot of contents[{i}]"),
    };
    match &e.value {
        MapValue::Program(p) if m.map_type == MapType::ProgArray => format!(
            "{slot} was to hold program `{p}`; a prog array takes programs of one type (that \
             of the first program put in it, or of the programs that use it), and the same \
             JIT and offload settings"
        ),
        MapValue::Program(p) => format!("{slot} was to hold program `{p}`"),
        MapValue::Map(t) => {
            format!("{slot} was to hold map `{t}`, which must match the inner-map template")
        }
        _ => slot,
    }
}

/// Which programs of a collection a load loads, as libbpf decides: a
/// struct_ops program that struct_ops maps refer to loads exactly when a
/// created one uses it (libbpf's bpf_object_adjust_struct_ops_autoload); any
/// other program when its `autoload` is set.
struct Autoload<'s> {
    /// Programs a created struct_ops map uses.
    created: HashSet<&'s str>,
    /// Programs any struct_ops map refers to.
    named: HashSet<&'s str>,
}

impl<'s> Autoload<'s> {
    /// From the spec alone (before the kernel's structs are known): every
    /// callback of a created map counts as used.
    fn new(spec: &'s CollectionSpec) -> Self {
        let created = spec.maps.values().filter(|m| m.autocreate);
        Self::attached(spec, created.flat_map(callbacks))
    }

    /// With the programs the created maps' plans use (`attached`): a
    /// callback the running kernel lacks was left out of its map, and its
    /// program loads only if another created map uses it.
    fn attached<T: AsRef<str> + ?Sized + 's>(
        spec: &'s CollectionSpec,
        attached: impl Iterator<Item = &'s T>,
    ) -> Self {
        Autoload {
            created: attached.map(AsRef::as_ref).collect(),
            named: spec
                .maps
                .values()
                .flat_map(callbacks)
                .map(|n| n.as_str())
                .collect(),
        }
    }

    fn loads(&self, p: &ebpf_spec::ProgramSpec) -> bool {
        let name = p.name.as_str();
        self.created.contains(name) || (p.autoload && !self.named.contains(name))
    }
}

/// Refuses a prog-array slot that names a program `loads` does not load:
/// the slot would otherwise be left empty without a word, where libbpf
/// fails the load.
fn refuse_slots_of_unloaded(spec: &CollectionSpec, loads: &Autoload<'_>) -> Result<(), LoadError> {
    for m in spec.maps.values().filter(|m| m.autocreate) {
        for e in &m.contents {
            if let MapValue::Program(target) = &e.value
                && let Some(p) = spec.programs.get(target)
                && !loads.loads(p)
            {
                return Err(not_loaded(m, p));
            }
        }
    }
    Ok(())
}

/// A slot of `m` names program `p`, which the load does not load.
fn not_loaded(m: &MapSpec, p: &ebpf_spec::ProgramSpec) -> LoadError {
    let why = if p.program_type == ebpf_spec::ProgramType::StructOps {
        "no created struct_ops map uses it: the maps naming it are not created, or the \
         running kernel lacks the callback, which is then left out"
    } else {
        "its autoload is false: a `?` section"
    };
    LoadError::Invalid {
        map: m.name.to_string(),
        what: format!(
            "a slot refers to program `{}`, which is not loaded ({why})",
            p.name
        ),
    }
}

/// The programs a struct_ops map's callbacks are set to (none for another
/// map).
fn callbacks(m: &MapSpec) -> impl Iterator<Item = &ebpf_spec::Name> {
    m.struct_ops()
        .into_iter()
        .flat_map(|ops| ops.programs.values())
}

/// Why the kernel refuses map `t` in a slot of an outer map whose inner-map
/// template is `template`, by its rule (`bpf_map_meta_equal`, and
/// `array_map_meta_equal` for arrays): the same type, key size, value size
/// and flags (as the kernel keeps them: data sections get `BPF_F_MMAPABLE`
/// from the loader, and the kernel drops `BPF_F_RDONLY` and `BPF_F_WRONLY`,
/// which only limit the fd, `bpf_map_flags_retain_permanent`), and for an
/// array the same `max_entries` unless the template has `BPF_F_INNER_MAP`.
/// (The kernel also compares special fields such as timers and spin locks,
/// from BTF; those it reports itself.)
fn inner_mismatch(template: &MapSpec, t: &MapSpec) -> Option<String> {
    let created = |m: &MapSpec| kept_by_kernel(create_flags(m));
    let differ = |what: &str, theirs: String, template: String| {
        Some(format!("its {what} is {theirs}, the template's {template}"))
    };
    if t.map_type != template.map_type {
        differ(
            "type",
            t.map_type.to_string(),
            template.map_type.to_string(),
        )
    } else if t.key_size != template.key_size {
        differ(
            "key_size",
            t.key_size.to_string(),
            template.key_size.to_string(),
        )
    } else if t.value_size != template.value_size {
        differ(
            "value_size",
            t.value_size.to_string(),
            template.value_size.to_string(),
        )
    } else if created(t) != created(template) {
        differ(
            "flags",
            format!("{:#x}", created(t).bits()),
            format!("{:#x}", created(template).bits()),
        )
    } else if size_checked_against_template(template) && t.max_entries != template.max_entries {
        Some(format!(
            "its max_entries is {}, the template's {} (an array's must match unless the \
             template has BPF_F_INNER_MAP, an XSKMAP's always)",
            t.max_entries, template.max_entries
        ))
    } else {
        None
    }
}

/// `e`, as the error of instance (or spec) `index` of a call.
fn in_instance(index: usize) -> impl Fn(LoadError) -> LoadError {
    move |e| LoadError::Instance {
        index,
        source: Box::new(e),
    }
}

/// `coll` with the slots of its outer maps filled now: all of them, or with
/// `shared`, only those it pinned under one of those names, for the other
/// instances of the call to reuse; on an error the pins it created are
/// removed.
fn with_slots(
    spec: &CollectionSpec,
    mut coll: Collection,
    shared: Option<&HashSet<&str>>,
) -> Result<Collection, LoadError> {
    let made_pin = |name: &str| {
        coll.pins_created
            .iter()
            .any(|p| p.file_name().is_some_and(|f| f == name))
    };
    let now: Vec<String> = outer_maps(spec, &coll)
        .into_iter()
        .filter(|m| shared.is_none_or(|names| names.contains(m.name.as_str()) && made_pin(&m.name)))
        .map(|m| m.name.to_string())
        .collect();
    fill_slots_concurrently(&[spec], std::slice::from_ref(&coll), false, &|_, m| {
        now.iter().any(|n| *n == m.name)
    })?;
    coll.slots_filled = now;
    Ok(coll)
}

/// The maps of `spec` whose slots a load fills in `coll`: created outer
/// maps with maps in their contents (a map reused from a pin or a
/// replacement keeps its slots).
fn outer_maps<'s>(spec: &'s CollectionSpec, coll: &Collection) -> Vec<&'s MapSpec> {
    spec.maps
        .values()
        .filter(|m| {
            m.autocreate
                && m.contents
                    .iter()
                    .any(|e| matches!(e.value, MapValue::Map(_)))
                && !coll.reused.iter().any(|n| *n == m.name)
        })
        .collect()
}

/// Which instances of a call run first, alone (see
/// [`Loader::pinners_first`]), and the pinned names they share with later
/// ones.
#[derive(Clone, Copy)]
struct Order<'a> {
    first: &'a [usize],
    shared: &'a HashSet<&'a str>,
}

/// The outcomes of [`Loader::run_instances`], by instance.
fn in_order(mut done: Vec<(usize, Outcome)>) -> Vec<Outcome> {
    done.sort_unstable_by_key(|&(i, _)| i);
    done.into_iter().map(|(_, outcome)| outcome).collect()
}

/// One instance of `load_many` or `load_all`: its collection, its error, or
/// the panic it raised.
type Outcome = std::thread::Result<Result<Collection, LoadError>>;

/// Runs one instance, catching a panic (a bug) so that [`gather`] can
/// release the other instances before passing it on.
fn caught(f: impl FnOnce() -> Result<Collection, LoadError>) -> Outcome {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
}

/// The end of `load_many` and `load_all`: the collections, or the first
/// error with every collection released and the pins the call created
/// removed; then the map-in-map slots of all of them (`specs[i]` is the spec
/// of collection `i`). `name_instance`: whether a slot error names its
/// instance. A panic in an instance is resumed here, after the others are
/// released the same way: all or nothing holds for bugs too.
///
/// A panic is passed on before an error. (An instance is not started once a
/// lower one has failed, so an instance that would panic after one that
/// failed may not run: the error is then what the caller gets.)
fn gather(
    results: Vec<Outcome>,
    specs: &[&CollectionSpec],
    name_instance: bool,
) -> Result<Vec<Collection>, LoadError> {
    let mut first = None;
    let mut panic = None;
    let mut colls = Vec::with_capacity(results.len());
    for r in results {
        match r {
            Ok(Ok(c)) => colls.push(c),
            Ok(Err(e)) => {
                first.get_or_insert(e);
            }
            Err(payload) => {
                panic.get_or_insert(payload);
            }
        }
    }
    if let Some(payload) = panic {
        drop(colls);
        std::panic::resume_unwind(payload);
    }
    if let Some(e) = first {
        return Err(e);
    }
    // Every instance's slots at once: each fill waits for an RCU grace
    // period, and the waits overlap instead of adding up.
    fill_slots_concurrently(specs, &colls, name_instance, &|c, m| {
        !c.slots_filled.iter().any(|n| *n == m.name)
    })?;
    Ok(colls)
}

/// Fills the map-in-map slots of every collection (outer maps reused from a
/// pin or a replacement keep theirs), of the outer maps `keep` accepts;
/// `specs[i]` is collection `i`'s spec.
/// Each fill is one batch update that waits
/// for an RCU grace period in the kernel, so the fills run on threads of
/// their own, all at once: the waits overlap instead of adding up. (They
/// sleep, so they do not compete for the loader's compute threads.) Returns
/// the first error, in collection and name order, naming the collection when
/// `name_instance` is set.
fn fill_slots_concurrently(
    specs: &[&CollectionSpec],
    colls: &[Collection],
    name_instance: bool,
    keep: &(dyn Fn(&Collection, &MapSpec) -> bool + Sync),
) -> Result<(), LoadError> {
    let jobs: Vec<(usize, &MapSpec)> = colls
        .iter()
        .zip(specs)
        .enumerate()
        .flat_map(|(i, (c, spec))| {
            outer_maps(spec, c)
                .into_iter()
                .filter(move |m| keep(c, m))
                .map(move |m| (i, m))
        })
        .collect();
    let fill = |&(i, m): &(usize, &MapSpec)| {
        fill_map_slots(m, &colls[i].maps)
            .map_err(|e| if name_instance { in_instance(i)(e) } else { e })
    };
    if jobs.len() <= 1 {
        return jobs.iter().try_for_each(fill);
    }
    const MAX_WAITERS: usize = 256;
    for chunk in jobs.chunks(MAX_WAITERS) {
        let results: Vec<Result<(), LoadError>> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk.iter().map(|job| s.spawn(move || fill(job))).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        results.into_iter().collect::<Result<(), LoadError>>()?;
    }
    Ok(())
}

/// Writes the fds of the maps named in `m`'s contents into its slots, with
/// one batch update (each single update of an outer-map slot waits for an RCU
/// grace period).
fn fill_map_slots(
    m: &MapSpec,
    maps: &std::collections::BTreeMap<String, OwnedFd>,
) -> Result<(), LoadError> {
    write_fd_slots(m, maps, Step::FillSlots, |value| match value {
        MapValue::Map(target) => maps.get(target.as_str()).map(|fd| fd.as_fd()),
        _ => None,
    })
}

/// The object's BTF as the kernel loads it: with its `.ksyms` DATASEC (the
/// `__ksym` externs) rewritten as libbpf does, when it has one. The spec's
/// blob keeps the externs' declared types, which linking resolves them by.
/// `parsed` is `b` already parsed, when linking the programs needed it.
fn kernel_btf<'b>(
    spec: &CollectionSpec,
    b: &'b ebpf_spec::BtfSpec,
    parsed: Option<&ebpf_spec::btf::Btf>,
) -> Result<std::borrow::Cow<'b, [u8]>, LoadError> {
    if !ebpf_spec::btf::mentions_ksyms(&b.btf, spec.byte_order) {
        return Ok(std::borrow::Cow::Borrowed(&b.btf));
    }
    let invalid = |what: String| LoadError::Btf {
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, what),
        log: String::new(),
    };
    let parsed_here;
    let btf = match parsed {
        Some(btf) => btf,
        None => {
            parsed_here = ebpf_spec::btf::Btf::parse(&b.btf, spec.byte_order)
                .map_err(|e| invalid(format!("the object's BTF cannot be read: {e}")))?;
            &parsed_here
        }
    };
    match ebpf_spec::btf::ksyms_for_kernel(btf, &b.btf) {
        Ok(Some(fixed)) => Ok(std::borrow::Cow::Owned(fixed)),
        Ok(None) => Ok(std::borrow::Cow::Borrowed(&b.btf)),
        Err(e) => Err(invalid(format!(
            "its `.ksyms` cannot be made loadable: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::{BY_BLOB_KEPT, ByBlob, blob_hash};
    use std::cell::Cell;

    /// The cache keeps the blobs used last, at most `BY_BLOB_KEPT` of them:
    /// a loader that sees a new BTF per pod for days keeps a bounded number
    /// of BTF fds (it kept every one: 5,000 loads, 5,000 fds).
    #[test]
    fn the_blob_cache_keeps_the_blobs_used_last() {
        let cache: ByBlob<usize> = ByBlob::default();
        let made = Cell::new(0);
        let get = |blob: &[u8], v: usize| {
            cache
                .get_or_try(blob, || {
                    made.set(made.get() + 1);
                    Ok::<_, ()>(v)
                })
                .unwrap()
        };
        let blob = |i: usize| {
            let mut b = vec![0u8; 4096];
            b[4000..4008].copy_from_slice(&(i as u64).to_le_bytes());
            b
        };
        for i in 0..BY_BLOB_KEPT {
            assert_eq!(get(&blob(i), i), i);
        }
        assert_eq!(made.get(), BY_BLOB_KEPT);
        // Blob 0 used again: found, not made again, and now the newest.
        assert_eq!(get(&blob(0), 999), 0);
        assert_eq!(made.get(), BY_BLOB_KEPT);
        // A new blob drops the one used longest ago: blob 1.
        assert_eq!(get(&blob(1000), 1000), 1000);
        assert_eq!(cache.len(), BY_BLOB_KEPT);
        assert_eq!(get(&blob(0), 999), 0, "kept");
        assert_eq!(get(&blob(1), 1), 1);
        assert_eq!(made.get(), BY_BLOB_KEPT + 2, "blob 1 was made again");
        assert_eq!(cache.len(), BY_BLOB_KEPT);
        // An error is not kept.
        assert!(
            cache
                .get_or_try(&blob(7777), || Err::<usize, _>(()))
                .is_err()
        );
        assert_eq!(cache.len(), BY_BLOB_KEPT);
    }

    #[test]
    fn blob_hashes_see_every_byte_and_the_length() {
        let a = vec![1u8; 35];
        let mut b = a.clone();
        b[34] = 2; // in the tail past the last whole word
        let mut c = a.clone();
        c[3] = 0;
        assert_ne!(blob_hash(&a), blob_hash(&b));
        assert_ne!(blob_hash(&a), blob_hash(&c));
        assert_ne!(blob_hash(&a), blob_hash(&a[..34]));
        assert_eq!(blob_hash(&a), blob_hash(&a.clone()));
        // The top bit of two words does not cancel out (it did with FNV's
        // multiply alone).
        let zero = [0u8; 16];
        let mut tops = [0u8; 16];
        tops[7] = 0x80;
        tops[15] = 0x80;
        assert_ne!(blob_hash(&zero), blob_hash(&tops));
    }
}
