//! `Collection`: the kernel objects created from one `CollectionSpec`.

use crate::variable::{Variable, VariableError};
use aya::maps::{Map, MapData, MapError};
use std::collections::BTreeMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How much a packet may grow in [`Collection::test_run`]: an skb's largest
/// length (64 KiB) and a page.
const TEST_RUN_ROOM: usize = 64 * 1024 + 4096;

/// The maps created (or reused from pins) for one collection, by name.
///
/// Each map is an owned file descriptor; [`take_map`](Collection::take_map)
/// hands it out as an aya map, so the typed aya APIs apply. Programs are
/// held by fd with what the kernel said about them when they loaded.
/// (Needs bpf(2): skipped without it, unless `CI` is set.)
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let probe = ebpf_spec::MapSpec::new("probe", ebpf_spec::MapType::Array, 4, 4, 1);
/// # if std::env::var_os("CI").is_none() && ebpf_loader::Loader::new().create_map(&probe).is_err() { return Ok(()) }
/// let bytes = include_bytes!("../../ebpf-spec/tests/fixtures/globals.bpfel.o");
/// let spec = ebpf_spec::CollectionSpec::from_elf(bytes)?;
/// let mut coll = ebpf_loader::Loader::new().load(&spec)?;
///
/// let mut values: aya::maps::Array<_, u32> = coll.take_map("values").unwrap()?.try_into()?;
/// values.set(0, 1234, 0)?;
/// // `get_array` returns `values[0]`.
/// assert_eq!(coll.test_run("get_array", &[0; 64], 1).unwrap()?.retval, 1234);
///
/// let info = coll.program_info("get_array").unwrap();
/// println!("id {} tag {} ({} instructions)", info.id, info.tag_hex(), info.instructions);
/// # Ok(()) }
/// ```
/// Dropping a collection closes its maps and programs; pins stay.
#[derive(Debug)]
pub struct Collection {
    pub(crate) maps: BTreeMap<String, OwnedFd>,
    pub(crate) programs: BTreeMap<String, crate::program::Loaded>,
    pub(crate) pins_created: Vec<PathBuf>,
    pub(crate) pins_reused: Vec<PathBuf>,
    /// Maps reused from a pin or a replacement (their slots are left as found).
    pub(crate) reused: Vec<String>,
    /// Outer maps whose slots are filled already: an instance that makes
    /// pins others share fills the slots of those before the others run.
    pub(crate) slots_filled: Vec<String>,
    /// The loader's pin path (a bpffs), if it had one.
    pub(crate) bpffs: Option<PathBuf>,
    /// The struct_ops maps' values, ready for the kernel but for the
    /// programs' fds (see [`Collection::attach_struct_ops`]).
    pub(crate) struct_ops: BTreeMap<String, Arc<crate::struct_ops::Plan>>,
    /// The arenas this collection created, mapped (see [`Collection::arena`]).
    pub(crate) arenas: BTreeMap<String, crate::arena::Arena>,
    /// Why the kernel refused the object's BTF, if it did.
    pub(crate) btf_refused: Option<Arc<crate::BtfRefused>>,
}

impl Collection {
    /// Why the kernel refused the object's BTF, if it did: the collection
    /// was then loaded without it, as libbpf does when nothing in the object
    /// needs BTF (a struct_ops map or a local-storage map does, and then the
    /// load fails with [`LoadError::Btf`](crate::LoadError::Btf) instead).
    /// Its programs then have no func_info or line_info (verifier logs
    /// without source lines) and its maps no BTF key and value types.
    ///
    /// Only a refusal of the BTF's content is passed over: `EINVAL`, with
    /// the kernel's log, or `E2BIG` (over the kernel's 16 MiB). Any other
    /// error of `BPF_BTF_LOAD` (`EPERM`, `ENOMEM`) fails the load.
    pub fn btf_refused(&self) -> Option<&crate::BtfRefused> {
        self.btf_refused.as_deref()
    }

    /// The file descriptor of map `name`.
    pub fn map_fd(&self, name: &str) -> Option<BorrowedFd<'_>> {
        self.maps.get(name).map(|fd| fd.as_fd())
    }

    /// The kernel's id of map `name` (`None` if there is no such map).
    pub fn map_id(&self, name: &str) -> Option<std::io::Result<u32>> {
        let fd = self.maps.get(name)?;
        Some(crate::sys::map_info(fd.as_fd()).map(|i| i.id))
    }

    /// Global variable `var` (of the spec this collection was loaded from)
    /// in this instance, mapped in place to be read and written while its
    /// programs run: see [`Variable`]. `None` if the collection no longer
    /// holds `var`'s section (taken with [`take_map`](Self::take_map)).
    ///
    /// One `mmap` per call: keep the handle to read a counter often.
    ///
    /// # Errors
    /// A [`VariableError`] if the section cannot be mapped or the variable
    /// does not lie in it.
    pub fn variable(
        &self,
        var: &ebpf_spec::VariableSpec,
    ) -> Option<Result<Variable, VariableError>> {
        if let Some(arena) = self.arenas.get(var.section.as_str()) {
            return Some(Variable::in_arena(arena, var));
        }
        let fd = self.maps.get(var.section.as_str())?;
        Some(Variable::map(fd.as_fd(), var))
    }

    /// Arena map `name` as this process sees it: the memory its programs
    /// share with it, where the `__arena` globals and the pages programs
    /// allocate lie. An arena the collection created is mapped by it; one
    /// it reused (a pin, a replacement) is seen through this process's
    /// mapping of it (the collection or
    /// [`create_arena`](crate::Loader::create_arena) that made or mapped
    /// it) or else mapped at its `map_extra`. `None` if there is no such
    /// arena, if it was mapped by another process where that process chose
    /// (an address nobody else can learn), or if mapping it failed
    /// (something else is mapped at its `map_extra`). The handle stays valid after the
    /// map is taken ([`take_map`](Self::take_map)) or the collection
    /// dropped.
    pub fn arena(&self, name: &str) -> Option<crate::Arena> {
        self.arenas.get(name).cloned()
    }

    /// The names of the maps still in the collection, sorted.
    pub fn map_names(&self) -> impl Iterator<Item = &str> {
        self.maps.keys().map(String::as_str)
    }

    /// How many maps the collection holds.
    pub fn len(&self) -> usize {
        self.maps.len()
    }

    /// True when the collection holds no map and no program.
    pub fn is_empty(&self) -> bool {
        self.maps.is_empty() && self.programs.is_empty()
    }

    /// Takes map `name` out of the collection as an aya map (`None` if there is
    /// no such map, or it was taken already). Convert it to a typed map with
    /// `TryFrom`: `aya::maps::HashMap::<_, K, V>::try_from(map)`.
    pub fn take_map(&mut self, name: &str) -> Option<Result<Map, MapError>> {
        let fd = self.maps.remove(name)?;
        Some(MapData::from_fd(fd).and_then(Map::from_map_data))
    }

    /// Registers the structure of callbacks of struct_ops map `name` with
    /// the kernel (a TCP congestion control, a sched_ext scheduler ...):
    /// writes the map's value, each function pointer the fd of its program.
    /// A `.struct_ops` map is registered by that write; a `.struct_ops.link`
    /// one (flag `BPF_F_LINK`) through a BPF link created here. Dropping the
    /// returned [`StructOpsAttachment`] unregisters it (deletes the value, or
    /// closes the link); the collection keeps the map and its programs.
    ///
    /// The kernel registers a `.struct_ops` map once in its life: after its
    /// attachment is dropped, attaching it again fails with `EBUSY` (load
    /// the collection again). A `.struct_ops.link` map can be linked again.
    ///
    /// `None` if the collection has no struct_ops map `name` (or it was
    /// taken with [`take_map`](Self::take_map)).
    ///
    /// (Needs bpf(2): skipped without it, unless `CI` is set.)
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let probe = ebpf_spec::MapSpec::new("probe", ebpf_spec::MapType::Array, 4, 4, 1);
    /// # if std::env::var_os("CI").is_none() && ebpf_loader::Loader::new().create_map(&probe).is_err() { return Ok(()) }
    /// let bytes = include_bytes!("../../ebpf-spec/tests/fixtures/struct_ops/struct_ops.bpfel.o");
    /// let mut spec = ebpf_spec::CollectionSpec::from_elf(bytes)?;
    /// // A struct_ops program no struct_ops map refers to cannot load.
    /// spec.programs.remove("unused_ssthresh");
    /// let coll = ebpf_loader::Loader::new().load(&spec)?;
    ///
    /// // A TCP congestion control named "spec_ca", made of the object's programs.
    /// let registered = coll.attach_struct_ops("spec_ca").unwrap()?;
    /// let available = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_congestion_control")?;
    /// assert!(available.split_whitespace().any(|ca| ca == "spec_ca"));
    /// drop(registered); // unregistered
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`LoadError::Syscall`](crate::LoadError::Syscall) at [`Step::RegisterStructOps`](crate::Step::RegisterStructOps)
    /// if the kernel refuses the value (the structure's own checks: a name
    /// already registered is `EEXIST`) or the link.
    pub fn attach_struct_ops(
        &self,
        name: &str,
    ) -> Option<Result<StructOpsAttachment, crate::LoadError>> {
        let plan = self.struct_ops.get(name)?;
        let fd = self.maps.get(name)?;
        Some(self.register_struct_ops(name, fd.as_fd(), plan))
    }

    fn register_struct_ops(
        &self,
        name: &str,
        fd: BorrowedFd<'_>,
        plan: &crate::struct_ops::Plan,
    ) -> Result<StructOpsAttachment, crate::LoadError> {
        let fail = |source| struct_ops_err(name, source);
        let map = fd.try_clone_to_owned().map_err(fail)?;
        self.write_struct_ops_value(name, fd, plan)?;
        let link = if plan.link {
            Some(crate::sys::struct_ops_link_create(fd).map_err(fail)?)
        } else {
            None
        };
        Ok(StructOpsAttachment {
            map_name: name.to_owned(),
            map,
            link,
        })
    }

    /// Writes struct_ops map `name`'s value (`fd`, as `plan` says, with the
    /// programs' fds). A `.struct_ops.link` map's value may have been
    /// written before (more links may follow): `EBUSY` is fine then.
    fn write_struct_ops_value(
        &self,
        name: &str,
        fd: BorrowedFd<'_>,
        plan: &crate::struct_ops::Plan,
    ) -> Result<(), crate::LoadError> {
        use std::os::fd::AsRawFd;
        let value = crate::struct_ops::value_with_fds(plan, |p| {
            self.programs.get(p).map(|p| p.fd.as_raw_fd())
        })
        .map_err(|what| crate::LoadError::Invalid {
            map: name.to_owned(),
            what,
        })?;
        // SAFETY: a struct_ops map has one entry, key 0 (4 bytes), and
        // `value_with_fds` gives a value of the kernel struct's size, the
        // map's value size.
        match unsafe { crate::sys::map_update_elem(fd, &[0; 4], &value) } {
            Err(e) if !(plan.link && e.raw_os_error() == Some(libc::EBUSY)) => {
                Err(struct_ops_err(name, e))
            }
            _ => Ok(()),
        }
    }

    /// The names of the programs still in the collection, sorted.
    pub fn program_names(&self) -> impl Iterator<Item = &str> {
        self.programs.keys().map(String::as_str)
    }

    /// The file descriptor of program `name`.
    pub fn program_fd(&self, name: &str) -> Option<BorrowedFd<'_>> {
        self.programs.get(name).map(|p| p.fd.as_fd())
    }

    /// What the kernel said about program `name` when it was loaded: its id,
    /// tag, type and instruction counts.
    pub fn program_info(&self, name: &str) -> Option<ProgramInfo> {
        self.programs.get(name).map(|p| ProgramInfo::from(p.info))
    }

    /// Takes program `name` out of the collection as its file descriptor
    /// (the program stays loaded while the fd, or an attachment, lives).
    pub fn take_program_fd(&mut self, name: &str) -> Option<OwnedFd> {
        self.programs.remove(name).map(|p| p.fd)
    }

    /// aya's [`ProgramInfo`](aya::programs::ProgramInfo) of program `name`,
    /// to attach it with aya: every aya program type has
    /// `from_program_info(info, name, ...)` (`Xdp`, `SchedClassifier`,
    /// `SocketFilter`, `CgroupSkb`, `TracePoint`, `RawTracePoint`, `Lsm`,
    /// `BtfTracePoint`, `FEntry`/`FExit` (unsafe), `KProbe`/`UProbe`
    /// (unsafe), `SkMsg`, `SkSkb`, `SockOps`, `SkLookup`, `CgroupDevice`,
    /// `CgroupSysctl`, `CgroupSockopt`, `PerfEvent`, `Iter`, ...), then
    /// `attach`.
    ///
    /// aya 0.14 builds a `ProgramInfo` only from a pin or by walking the
    /// kernel's list of every program on the host. When the loader had a
    /// pin path (a bpffs), the program is pinned there for a moment under a
    /// private name (`ebpf-loader-<pid>-<id>-<n>`), opened with aya and
    /// unpinned: a few syscalls. Without one, or where that pin cannot be
    /// made (a directory this process may not write into), the walk costs
    /// two syscalls per program loaded on the host: for many collections,
    /// give the loader a pin path it can write into.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let spec = ebpf_spec::CollectionSpec::default();
    /// use aya::programs::SocketFilter;
    /// let coll = ebpf_loader::Loader::new().load(&spec)?;
    /// let info = coll.aya_program_info("sock_main").unwrap()?;
    /// let filter = SocketFilter::from_program_info(info, "sock_main".into())?;
    /// let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// filter.attach(&socket)?;
    /// // aya does not detach a socket filter when `filter` is dropped: it
    /// // stays on the socket until detached or the socket is closed.
    /// SocketFilter::detach(&socket)?;
    /// # Ok(()) }
    /// ```
    ///
    /// Types aya's calls take that aya 0.14 does not re-export (such as
    /// `XdpAttachType` for `Xdp::from_program_info`) are in
    /// [`aya_obj`](crate::aya_obj), re-exported here in the version aya
    /// uses:
    ///
    /// ```no_run
    /// # fn xdp(coll: &ebpf_loader::Collection) -> Result<(), Box<dyn std::error::Error>> {
    /// use ebpf_loader::aya::programs::{Xdp, XdpMode};
    /// use ebpf_loader::aya_obj::programs::XdpAttachType;
    /// let info = coll.aya_program_info("xdp_main").unwrap()?;
    /// let mut xdp = Xdp::from_program_info(info, "xdp_main".into(), XdpAttachType::Interface)?;
    /// xdp.attach("lo", XdpMode::default())?;
    /// # Ok(()) }
    /// ```
    pub fn aya_program_info(
        &self,
        name: &str,
    ) -> Option<Result<aya::programs::ProgramInfo, aya::programs::ProgramError>> {
        let p = self.programs.get(name)?;
        // Through a pin for a moment: one lookup, not a walk of every
        // program. A pin directory this process may not write into (or any
        // other failure) falls back to the walk.
        if let Some(Ok(info)) = self.bpffs.as_deref().map(|dir| pinned_info(p, dir)) {
            return Some(Ok(info));
        }
        let id = p.info.id;
        // A walk of every program of the system: one that another process
        // unloads meanwhile (ENOENT) or that this one may not open is no
        // reason to fail, unless ours is not found.
        let mut last_err = None;
        for info in aya::programs::loaded_programs() {
            match info {
                Ok(info) if info.id() == id => return Some(Ok(info)),
                Ok(_) => {}
                Err(e) => last_err = Some(e),
            }
        }
        Some(Err(last_err.unwrap_or(
            aya::programs::ProgramError::UnexpectedProgramType,
        )))
    }

    /// Runs program `name` once per `repeat` on `data` (a packet, for the
    /// program types that take one) with `BPF_PROG_TEST_RUN`, and returns
    /// its return value, the packet as it left it, and the mean run time.
    /// `None` if there is no such program.
    ///
    /// A `syscall` program takes no packet (`data` must be empty) and the
    /// kernel runs it once per call: it is called `repeat` times, the last
    /// return value is returned, and the time is measured here.
    pub fn test_run(
        &self,
        name: &str,
        data: &[u8],
        repeat: u32,
    ) -> Option<std::io::Result<TestRunOutput>> {
        let p = self.programs.get(name)?;
        if p.info.prog_type == ebpf_spec::ProgramType::Syscall.raw() {
            let runs = repeat.max(1);
            let start = std::time::Instant::now();
            let mut retval = 0;
            for _ in 0..runs {
                match crate::sys::prog_test_run(p.fd.as_fd(), data, &mut [], &[], 0, 0) {
                    Ok(r) => retval = r.retval,
                    Err(e) => return Some(Err(e)),
                }
            }
            return Some(Ok(TestRunOutput {
                retval,
                data: Vec::new(),
                duration: start.elapsed() / runs,
            }));
        }
        // Room for programs that grow the packet: the kernel fails the run
        // (ENOSPC) when the packet no longer fits the buffer, losing its
        // result. An skb grows to 64 KiB at most (`bpf_skb_change_tail`), an
        // XDP frame within its page (`bpf_xdp_adjust_head`/`_tail`).
        let mut out = vec![0u8; data.len() + TEST_RUN_ROOM];
        let out_buf: &mut [u8] = if data.is_empty() { &mut [] } else { &mut out };
        Some(
            crate::sys::prog_test_run(p.fd.as_fd(), data, out_buf, &[], repeat, 0).map(|r| {
                out.truncate((r.data_size_out as usize).min(out.len()));
                if data.is_empty() {
                    out.clear();
                }
                TestRunOutput {
                    retval: r.retval,
                    data: out,
                    duration: std::time::Duration::from_nanos(r.duration_ns.into()),
                }
            }),
        )
    }

    /// Pins this load made (last, once everything else had succeeded; a
    /// failed load removes those it made).
    pub fn pins_created(&self) -> &[PathBuf] {
        &self.pins_created
    }

    /// Pins this collection uses but did not make, after a compatibility
    /// check: pins that existed, or, for the later instances of a
    /// `load_many` or `load_all`, the pins its first instance made.
    pub fn pins_reused(&self) -> &[PathBuf] {
        &self.pins_reused
    }

    /// Whether `path` is one of this collection's pins.
    pub fn is_pinned_at(&self, path: &Path) -> bool {
        self.pins_created
            .iter()
            .chain(&self.pins_reused)
            .any(|p| p == path)
    }
}

/// What the kernel says about a loaded program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProgramInfo {
    /// The kernel's id of the program.
    pub id: u32,
    /// The program's tag: a hash of its instructions (what `bpftool prog`
    /// shows); equal for every instance of the same program.
    pub tag: [u8; 8],
    /// The program type, as the kernel reports it.
    pub program_type: ebpf_spec::ProgramType,
    /// Instructions after the verifier's rewrites (8-byte slots).
    pub instructions: u32,
    /// Instructions the verifier processed (0 when the kernel does not say).
    pub verified_instructions: u32,
    /// The kernel BTF type it attaches to (tracing and LSM programs), or 0.
    pub attach_btf_id: u32,
    /// The id of the BTF object the kernel keeps for the program (its
    /// func_info and line_info were accepted), or 0 when it has none.
    pub btf_id: u32,
}

impl ProgramInfo {
    /// The tag as 16 lowercase hex digits.
    pub fn tag_hex(&self) -> String {
        self.tag.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl From<crate::sys::ProgInfo> for ProgramInfo {
    fn from(i: crate::sys::ProgInfo) -> Self {
        ProgramInfo {
            id: i.id,
            tag: i.tag,
            program_type: ebpf_spec::ProgramType::from_raw(i.prog_type),
            instructions: i.xlated_len / 8,
            verified_instructions: i.verified_insns,
            attach_btf_id: i.attach_btf_id,
            btf_id: i.btf_id,
        }
    }
}

/// The result of [`Collection::test_run`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TestRunOutput {
    /// The program's return value (`XDP_PASS`, a socket filter's length ...).
    pub retval: u32,
    /// The packet as the program left it.
    pub data: Vec<u8>,
    /// The mean time of one run, as the kernel measured it.
    pub duration: std::time::Duration,
}

/// aya's info of `p`, through a pin under `dir` that lives for the call.
fn pinned_info(
    p: &crate::program::Loaded,
    dir: &Path,
) -> Result<aya::programs::ProgramInfo, aya::programs::ProgramError> {
    use std::os::unix::ffi::OsStrExt;
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let path = dir.join(format!(
        "ebpf-loader-{}-{}-{}",
        std::process::id(),
        p.info.id,
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    crate::sys::obj_pin(p.fd.as_fd(), &c)?;
    let info = aya::programs::ProgramInfo::from_pin(&path);
    let _ = std::fs::remove_file(&path);
    info
}

/// A struct_ops map's structure registered with the kernel by
/// [`Collection::attach_struct_ops`]. Dropping it unregisters the structure:
/// closes the BPF link of a `.struct_ops.link` map, or deletes the value of
/// a `.struct_ops` one (such a structure stays registered, beyond this
/// process, until its value is deleted: `std::mem::forget` the attachment to
/// keep it, `bpftool struct_ops unregister` to remove it then; a link goes
/// with its last fd, which is why `.struct_ops.link` is the safer section).
#[derive(Debug)]
pub struct StructOpsAttachment {
    map_name: String,
    map: OwnedFd,
    link: Option<OwnedFd>,
}

impl StructOpsAttachment {
    /// The struct_ops map's name in the collection.
    pub fn map_name(&self) -> &str {
        &self.map_name
    }

    /// Moves this registration to struct_ops map `name` of `coll`: a new
    /// version of the structure (from a collection loaded from an updated
    /// object, say) replaces the old one in one step, with no moment where
    /// neither is registered (`BPF_LINK_UPDATE`, as libbpf's
    /// `bpf_link__update_map`; for a TCP congestion control the kernel
    /// wants the same name). Only for `.struct_ops.link` maps, on both
    /// sides. On an error the registration is unchanged.
    ///
    /// # Errors
    /// [`LoadError::Invalid`](crate::LoadError::Invalid) if this is not a
    /// link, or `coll` has no `.struct_ops.link` map `name`;
    /// [`LoadError::Syscall`](crate::LoadError::Syscall) at
    /// [`Step::RegisterStructOps`](crate::Step::RegisterStructOps) if the
    /// kernel refuses the new value or the update (`EINVAL` when the new
    /// map is of another struct).
    pub fn update(&mut self, coll: &Collection, name: &str) -> Result<(), crate::LoadError> {
        let invalid = |what: String| crate::LoadError::Invalid {
            map: name.to_owned(),
            what,
        };
        let Some(link) = &self.link else {
            return Err(invalid(format!(
                "`{}` is registered without a link (a .struct_ops map): only a link moves",
                self.map_name
            )));
        };
        let (Some(plan), Some(fd)) = (coll.struct_ops.get(name), coll.maps.get(name)) else {
            return Err(invalid("the collection has no such struct_ops map".into()));
        };
        let fd = fd.as_fd();
        // Checked before the value is written: writing a `.struct_ops`
        // map's value would register it.
        if !plan.link {
            return Err(invalid(
                "it is a .struct_ops map, registered by its value: only a .struct_ops.link \
                 map can take a link's place"
                    .into(),
            ));
        }
        let map = fd
            .try_clone_to_owned()
            .map_err(|e| struct_ops_err(name, e))?;
        coll.write_struct_ops_value(name, fd, plan)?;
        crate::sys::struct_ops_link_update(link.as_fd(), fd, self.map.as_fd())
            .map_err(|e| struct_ops_err(name, e))?;
        self.map = map;
        self.map_name = name.to_owned();
        Ok(())
    }

    /// The BPF link that registers the structure (`.struct_ops.link` maps
    /// only): pin it to keep the structure registered after this process.
    pub fn link_fd(&self) -> Option<BorrowedFd<'_>> {
        self.link.as_ref().map(|fd| fd.as_fd())
    }
}

impl Drop for StructOpsAttachment {
    fn drop(&mut self) {
        match self.link.take() {
            // Closing the link unregisters the structure.
            Some(link) => drop(link),
            // Deleting the value does (closing the map would not: a
            // registered `.struct_ops` map outlives its fds, and this
            // process, until its value is deleted). In practice the
            // kernel's delete fails only when there is nothing to
            // unregister.
            None => {
                let _ = crate::sys::map_delete_elem(self.map.as_fd(), &[0; 4]);
            }
        }
    }
}

/// A failed step of registering struct_ops map `name`, with a hint for the
/// errnos that have one.
fn struct_ops_err(name: &str, source: std::io::Error) -> crate::LoadError {
    crate::LoadError::Syscall {
        map: name.to_owned(),
        step: crate::Step::RegisterStructOps,
        hint: match source.raw_os_error() {
            Some(libc::EBUSY) => Some(
                "a .struct_ops map's value is written once: it is registered, or was \
                 (load the collection again to register it anew)"
                    .into(),
            ),
            Some(libc::EEXIST) => Some("a structure of this name is registered already".into()),
            _ => None,
        },
        source,
    }
}
