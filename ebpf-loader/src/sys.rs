//! The only place with `unsafe` syscalls: the few bpf(2) commands aya's public
//! API does not offer (creating a map with an inner map fd, BTF ids, NUMA node
//! or map_extra; batch updates; freezing), on aya-obj's generated `bpf_attr`.

use aya_obj::generated::{bpf_attr, bpf_cmd};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Calls bpf(2) with `attr`; the kernel reads (and may write) `attr`.
fn bpf(cmd: bpf_cmd, attr: &mut bpf_attr) -> io::Result<libc::c_long> {
    #[cfg(feature = "fault-injection")]
    if let Some(e) = crate::fault_injection::next_call(cmd as u32) {
        return Err(e);
    }
    // SAFETY: `attr` is a valid, fully initialised `bpf_attr` (callers start
    // from zeroed memory) that lives for the call, and its size is passed
    // along. Pointers inside it point at buffers borrowed for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            attr as *mut bpf_attr,
            std::mem::size_of::<bpf_attr>(),
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn zeroed() -> bpf_attr {
    // SAFETY: `bpf_attr` is a C union of integers and arrays of integers, for
    // which all-zero bytes are a valid value (and what the kernel expects in
    // unused fields).
    unsafe { std::mem::zeroed() }
}

/// The attributes of `BPF_MAP_CREATE`.
#[derive(Debug, Clone, Default)]
pub(crate) struct MapCreate<'a> {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub inner_map_fd: Option<BorrowedFd<'a>>,
    pub numa_node: u32,
    /// At most 15 bytes, checked by the caller.
    pub name: &'a str,
    pub map_extra: u64,
    /// The BTF object and the key and value type ids in it.
    pub btf: Option<(BorrowedFd<'a>, u32, u32)>,
    /// For a struct_ops map: its value type in the kernel's BTF.
    pub btf_vmlinux_value_type_id: u32,
}

/// `BPF_MAP_CREATE`.
pub(crate) fn map_create(a: &MapCreate<'_>) -> io::Result<OwnedFd> {
    let mut attr = zeroed();
    // SAFETY: writing plain integer fields of the zeroed union's map-create member.
    let u = unsafe { &mut attr.__bindgen_anon_1 };
    u.map_type = a.map_type;
    u.key_size = a.key_size;
    u.value_size = a.value_size;
    u.max_entries = a.max_entries;
    u.map_flags = a.map_flags;
    u.inner_map_fd = a.inner_map_fd.map_or(0, |fd| fd.as_raw_fd() as u32);
    u.numa_node = a.numa_node;
    u.map_extra = a.map_extra;
    if let Some((fd, key, value)) = a.btf {
        u.btf_fd = fd.as_raw_fd() as u32;
        u.btf_key_type_id = key;
        u.btf_value_type_id = value;
    }
    u.btf_vmlinux_value_type_id = a.btf_vmlinux_value_type_id;
    for (dst, src) in u.map_name.iter_mut().zip(a.name.bytes().take(15)) {
        *dst = src as libc::c_char;
    }
    let fd = bpf(bpf_cmd::BPF_MAP_CREATE, &mut attr)?;
    // SAFETY: on success BPF_MAP_CREATE returns a new fd that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// `BPF_MAP_UPDATE_ELEM` of one entry.
///
/// # Safety
/// The kernel reads the map's key size from `key` and its value size from
/// `value` (for a per-CPU map, one value per possible CPU, each rounded up
/// to 8 bytes), whatever their lengths: they must hold at least that much.
pub(crate) unsafe fn map_update_elem(
    fd: BorrowedFd<'_>,
    key: &[u8],
    value: &[u8],
) -> io::Result<()> {
    let mut attr = zeroed();
    // SAFETY: plain integer fields of the zeroed union's element member; the
    // key and value buffers outlive the call, as long as the map reads
    // (the caller's contract).
    let u = unsafe { &mut attr.__bindgen_anon_2 };
    u.map_fd = fd.as_raw_fd() as u32;
    u.key = key.as_ptr() as u64;
    u.__bindgen_anon_1.value = value.as_ptr() as u64;
    bpf(bpf_cmd::BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
}

/// `BPF_MAP_DELETE_ELEM` of one entry.
pub(crate) fn map_delete_elem(fd: BorrowedFd<'_>, key: &[u8]) -> io::Result<()> {
    let mut attr = zeroed();
    // SAFETY: plain integer fields of the zeroed union's element member; the
    // key buffer outlives the call.
    let u = unsafe { &mut attr.__bindgen_anon_2 };
    u.map_fd = fd.as_raw_fd() as u32;
    u.key = key.as_ptr() as u64;
    bpf(bpf_cmd::BPF_MAP_DELETE_ELEM, &mut attr).map(drop)
}

/// `BPF_LINK_CREATE` of a struct_ops map (attach type `BPF_STRUCT_OPS`):
/// the link registers the structure the map holds until it is closed.
pub(crate) fn struct_ops_link_create(map: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut attr = zeroed();
    // SAFETY: plain integer fields of the zeroed union's link-create member.
    let l = unsafe { &mut attr.link_create };
    l.__bindgen_anon_1.map_fd = map.as_raw_fd() as u32;
    l.attach_type = aya_obj::generated::bpf_attach_type::BPF_STRUCT_OPS as u32;
    let fd = bpf(bpf_cmd::BPF_LINK_CREATE, &mut attr)?;
    // SAFETY: on success BPF_LINK_CREATE returns a new fd that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// `BPF_LINK_UPDATE` of a struct_ops link to `new_map`, if it still holds
/// `old_map` (`BPF_F_REPLACE`).
pub(crate) fn struct_ops_link_update(
    link: BorrowedFd<'_>,
    new_map: BorrowedFd<'_>,
    old_map: BorrowedFd<'_>,
) -> io::Result<()> {
    let mut attr = zeroed();
    // SAFETY: plain integer fields of the zeroed union's link-update member.
    let u = unsafe { &mut attr.link_update };
    u.link_fd = link.as_raw_fd() as u32;
    u.__bindgen_anon_1.new_map_fd = new_map.as_raw_fd() as u32;
    u.flags = aya_obj::generated::BPF_F_REPLACE;
    u.__bindgen_anon_2.old_map_fd = old_map.as_raw_fd() as u32;
    bpf(bpf_cmd::BPF_LINK_UPDATE, &mut attr).map(drop)
}

/// `BPF_MAP_UPDATE_BATCH`: `keys` and `values` hold `count` entries back to
/// back. Returns how many the kernel wrote.
///
/// # Safety
/// As for [`map_update_elem`], for `count` entries: `keys` holds `count`
/// keys and `values` `count` values of the map's sizes.
pub(crate) unsafe fn map_update_batch(
    fd: BorrowedFd<'_>,
    keys: &[u8],
    values: &[u8],
    count: u32,
) -> io::Result<u32> {
    let mut attr = zeroed();
    // SAFETY: plain integer fields of the zeroed union's batch member; the
    // buffers outlive the call and hold `count` keys and values.
    let b = unsafe { &mut attr.batch };
    b.map_fd = fd.as_raw_fd() as u32;
    b.keys = keys.as_ptr() as u64;
    b.values = values.as_ptr() as u64;
    b.count = count;
    let res = bpf(bpf_cmd::BPF_MAP_UPDATE_BATCH, &mut attr);
    // SAFETY: as above; the kernel writes back how many entries it processed.
    let done = unsafe { attr.batch.count };
    res.map(|_| done)
}

/// `BPF_MAP_FREEZE`: user space can no longer write the map.
pub(crate) fn map_freeze(fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = zeroed();
    attr.__bindgen_anon_2.map_fd = fd.as_raw_fd() as u32;
    bpf(bpf_cmd::BPF_MAP_FREEZE, &mut attr).map(drop)
}

/// What `BPF_OBJ_GET_INFO_BY_FD` says about a map.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MapInfo {
    pub id: u32,
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub map_extra: u64,
}

/// `BPF_OBJ_GET_INFO_BY_FD`: fills `info` (a kernel `bpf_*_info` struct, with
/// any buffer pointers it carries already set) for object `fd`. The kernel
/// writes at most `size_of::<T>()` bytes into it.
///
/// # Safety
/// Any bytes are a valid `T` (a struct of integers), and each buffer pointer
/// set in it points at a writable buffer of the length set beside it.
unsafe fn obj_info<T>(fd: BorrowedFd<'_>, info: &mut T) -> io::Result<()> {
    let mut attr = zeroed();
    attr.info.bpf_fd = fd.as_raw_fd() as u32;
    attr.info.info_len = std::mem::size_of::<T>() as u32;
    attr.info.info = info as *mut T as u64;
    bpf(bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, &mut attr).map(drop)
}

/// `BPF_OBJ_GET_INFO_BY_FD` for a map.
pub(crate) fn map_info(fd: BorrowedFd<'_>) -> io::Result<MapInfo> {
    // SAFETY: `bpf_map_info` is a C struct of integers: all-zero is valid.
    let mut info: aya_obj::generated::bpf_map_info = unsafe { std::mem::zeroed() };
    // SAFETY: a struct of integers, with no buffer pointer set.
    unsafe { obj_info(fd, &mut info) }?;
    Ok(MapInfo {
        id: info.id,
        map_type: info.type_,
        key_size: info.key_size,
        value_size: info.value_size,
        max_entries: info.max_entries,
        map_flags: info.map_flags,
        map_extra: info.map_extra,
    })
}

/// What kind of bpf object `fd` is, as `/proc/self/fd` names its file
/// (`bpf-map`, `bpf-prog`, `bpf_link`, `btf`...), when that can be read.
/// `BPF_OBJ_GET_INFO_BY_FD` cannot tell: it fills the info of whatever the
/// fd holds into the caller's struct.
pub(crate) fn object_kind(fd: BorrowedFd<'_>) -> Option<String> {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
    let link = link.to_str()?;
    Some(link.strip_prefix("anon_inode:").unwrap_or(link).to_owned())
}

/// `BPF_OBJ_PIN`: pins `fd` at `path` (which must not exist yet).
pub(crate) fn obj_pin(fd: BorrowedFd<'_>, path: &std::ffi::CStr) -> io::Result<()> {
    let mut attr = zeroed();
    attr.__bindgen_anon_4.pathname = path.as_ptr() as u64;
    attr.__bindgen_anon_4.bpf_fd = fd.as_raw_fd() as u32;
    bpf(bpf_cmd::BPF_OBJ_PIN, &mut attr).map(drop)
}

/// `BPF_OBJ_GET`: opens the object pinned at `path`, with `file_flags`
/// (`BPF_F_RDONLY` or `BPF_F_WRONLY`: what user space may do through the new
/// fd; 0 for both).
pub(crate) fn obj_get(path: &std::ffi::CStr, file_flags: u32) -> io::Result<OwnedFd> {
    let mut attr = zeroed();
    attr.__bindgen_anon_4.pathname = path.as_ptr() as u64;
    attr.__bindgen_anon_4.file_flags = file_flags;
    let fd = bpf(bpf_cmd::BPF_OBJ_GET, &mut attr)?;
    // SAFETY: on success BPF_OBJ_GET returns a new fd that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// The bpffs magic number (`BPF_FS_MAGIC`).
const BPF_FS_MAGIC: u32 = 0xcafe_4a11;

/// Whether `path` is on a bpf filesystem.
pub(crate) fn is_bpffs(path: &std::ffi::CStr) -> io::Result<bool> {
    // SAFETY: `statfs` is a C struct of integers: all-zero is valid.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `st` is a valid out-pointer.
    if unsafe { libc::statfs(path.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // `f_type` is a signed word: 32 bits on some targets, where the magic
    // number reads negative. Its low 32 bits are the magic.
    Ok(st.f_type as u32 == BPF_FS_MAGIC)
}

/// `BPF_BTF_LOAD`. On failure, retries with a 1 MiB log and returns the
/// kernel's log with the error; a retry that succeeds (the failure did not
/// repeat: ENOMEM, say) is the load, as libbpf takes it.
pub(crate) fn btf_load(blob: &[u8]) -> Result<OwnedFd, (io::Error, String)> {
    let load = |log: &mut [u8]| {
        let mut attr = zeroed();
        // SAFETY: plain integer fields of the zeroed union's BTF member; the
        // blob and log buffers outlive the call.
        let b = unsafe { &mut attr.__bindgen_anon_7 };
        b.btf = blob.as_ptr() as u64;
        b.btf_size = blob.len() as u32;
        if !log.is_empty() {
            b.btf_log_buf = log.as_mut_ptr() as u64;
            b.btf_log_size = log.len() as u32;
            b.btf_log_level = 1;
        }
        bpf(bpf_cmd::BPF_BTF_LOAD, &mut attr)
    };
    match load(&mut []) {
        // SAFETY: on success BPF_BTF_LOAD returns a new fd nobody else owns.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) }),
        Err(first) => {
            let mut log = vec![0u8; 1 << 20];
            if let Ok(fd) = load(&mut log) {
                // SAFETY: as above.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) });
            }
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            Err((
                first,
                String::from_utf8_lossy(&log[..end]).trim().to_owned(),
            ))
        }
    }
}

/// The attributes of `BPF_PROG_LOAD`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProgLoad<'a> {
    pub prog_type: u32,
    pub expected_attach_type: u32,
    /// The instructions, in the host's byte order (8 bytes each).
    pub insns: &'a [u8],
    /// NUL-terminated.
    pub license: &'a std::ffi::CStr,
    pub kern_version: u32,
    pub prog_flags: u32,
    /// At most 15 bytes, checked by the caller.
    pub name: &'a str,
    /// The program's BTF, with its `bpf_func_info` and `bpf_line_info` records
    /// (record size, bytes).
    pub btf: Option<BorrowedFd<'a>>,
    pub func_info: (u32, &'a [u8]),
    pub line_info: (u32, &'a [u8]),
    pub attach_btf_id: u32,
    /// The BPF program a tracing or extension program attaches to (its
    /// `attach_btf_id` is then in that program's BTF).
    pub attach_prog_fd: Option<BorrowedFd<'a>>,
}

impl<'a> ProgLoad<'a> {
    /// A GPL program of `prog_type` with nothing else: what feature probes
    /// load.
    pub(crate) fn probe(prog_type: u32, insns: &'a [u8], name: &'a str) -> Self {
        ProgLoad {
            prog_type,
            expected_attach_type: 0,
            insns,
            license: c"GPL",
            kern_version: 0,
            prog_flags: 0,
            name,
            btf: None,
            func_info: (0, &[]),
            line_info: (0, &[]),
            attach_btf_id: 0,
            attach_prog_fd: None,
        }
    }
}

/// This process's `RLIMIT_NOFILE` (soft and hard), if it can be read.
pub(crate) fn open_file_limit() -> Option<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid out-pointer for the call.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0).then_some(limit)
}

/// Grows this process's fd table, at once, to hold `more` fds past the
/// lowest free one (within the soft `RLIMIT_NOFILE`). In a process with
/// threads the kernel waits for an RCU grace period (10-20 ms here) each
/// time the table outgrows itself, doubling: a `load_many` of a thousand
/// instances met several of those waits in the middle of its map creates.
/// Grown first, the table takes one. Best effort: any failure leaves the
/// table as it was, and the fds open as they were.
pub(crate) fn reserve_fds(more: usize) {
    let Some(limit) = open_file_limit() else {
        return;
    };
    // SAFETY: a NUL-terminated path; the fd returned is closed below.
    let low = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if low < 0 {
        return;
    }
    let most = usize::try_from(limit.rlim_cur)
        .unwrap_or(usize::MAX)
        .saturating_sub(1);
    let target = (low as usize).saturating_add(more).min(most);
    if target > low as usize {
        // SAFETY: duplicates an fd this function owns, at or past `target`
        // (which grows the table to fit it); the duplicate is closed at once.
        let high = unsafe { libc::fcntl(low, libc::F_DUPFD_CLOEXEC, target as libc::c_int) };
        if high >= 0 {
            // SAFETY: the duplicate made just above.
            unsafe { libc::close(high) };
        }
    }
    // SAFETY: the fd opened above.
    unsafe { libc::close(low) };
}

/// The size of a memory page (`sysconf(_SC_PAGESIZE)`).
pub(crate) fn page_size() -> u64 {
    // SAFETY: sysconf reads a constant of the system; no pointers.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

/// `BPF_PROG_LOAD` with `log` as the verifier's log buffer (empty: no log).
/// On failure the error comes with the size the kernel says the whole log
/// needs (`log_true_size`, 0 when the kernel does not say).
pub(crate) fn prog_load(
    a: &ProgLoad<'_>,
    log: &mut [u8],
    log_level: u32,
) -> Result<OwnedFd, (io::Error, u32)> {
    let mut attr = zeroed();
    // SAFETY: plain integer fields of the zeroed union's prog-load member;
    // every pointer stored points at a buffer borrowed for the call, with
    // its length or count beside it.
    let u = unsafe { &mut attr.__bindgen_anon_3 };
    u.prog_type = a.prog_type;
    u.expected_attach_type = a.expected_attach_type;
    u.insns = a.insns.as_ptr() as u64;
    u.insn_cnt = (a.insns.len() / 8) as u32;
    u.license = a.license.as_ptr() as u64;
    u.kern_version = a.kern_version;
    u.prog_flags = a.prog_flags;
    for (dst, src) in u.prog_name.iter_mut().zip(a.name.bytes().take(15)) {
        *dst = src as libc::c_char;
    }
    if let Some(btf) = a.btf {
        u.prog_btf_fd = btf.as_raw_fd() as u32;
        let (size, bytes) = a.func_info;
        if size > 0 && !bytes.is_empty() {
            u.func_info_rec_size = size;
            u.func_info = bytes.as_ptr() as u64;
            u.func_info_cnt = (bytes.len() / size as usize) as u32;
        }
        let (size, bytes) = a.line_info;
        if size > 0 && !bytes.is_empty() {
            u.line_info_rec_size = size;
            u.line_info = bytes.as_ptr() as u64;
            u.line_info_cnt = (bytes.len() / size as usize) as u32;
        }
    }
    u.attach_btf_id = a.attach_btf_id;
    if let Some(target) = a.attach_prog_fd {
        u.__bindgen_anon_1.attach_prog_fd = target.as_raw_fd() as u32;
    }
    if !log.is_empty() {
        u.log_level = log_level;
        u.log_buf = log.as_mut_ptr() as u64;
        u.log_size = log.len().min(u32::MAX as usize) as u32;
    }
    // The verifier gives up with EAGAIN when a signal is pending (a
    // profiler's SIGPROF, a timer): tried again, as libbpf tries
    // (`PROG_LOAD_ATTEMPTS`).
    let mut attempts = PROG_LOAD_ATTEMPTS;
    loop {
        match bpf(bpf_cmd::BPF_PROG_LOAD, &mut attr) {
            // SAFETY: on success BPF_PROG_LOAD returns a new fd nobody else owns.
            Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) }),
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) && attempts > 1 => attempts -= 1,
            // SAFETY: as above; the kernel writes back the log size it needed.
            Err(e) => return Err((e, unsafe { attr.__bindgen_anon_3.log_true_size })),
        }
    }
}

/// How many times `BPF_PROG_LOAD` is tried while it fails with EAGAIN.
const PROG_LOAD_ATTEMPTS: u32 = 5;

/// What `BPF_OBJ_GET_INFO_BY_FD` says about a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProgInfo {
    pub id: u32,
    pub prog_type: u32,
    pub tag: [u8; 8],
    pub xlated_len: u32,
    pub jited_len: u32,
    pub verified_insns: u32,
    pub btf_id: u32,
    pub attach_btf_id: u32,
}

/// `BPF_OBJ_GET_INFO_BY_FD` for a program; with `xlated`, also the
/// instructions as the verifier left them (`xlated_prog_insns`).
pub(crate) fn prog_info(fd: BorrowedFd<'_>, xlated: Option<&mut Vec<u8>>) -> io::Result<ProgInfo> {
    let get = |buf: Option<&mut [u8]>| -> io::Result<aya_obj::generated::bpf_prog_info> {
        // SAFETY: `bpf_prog_info` is a C struct of integers: all-zero is valid.
        let mut info: aya_obj::generated::bpf_prog_info = unsafe { std::mem::zeroed() };
        if let Some(buf) = buf {
            info.xlated_prog_len = buf.len() as u32;
            info.xlated_prog_insns = buf.as_mut_ptr() as u64;
        }
        // SAFETY: a struct of integers; the instruction buffer, when set,
        // is `buf`, with its length.
        unsafe { obj_info(fd, &mut info) }?;
        Ok(info)
    };
    let mut info = get(None)?;
    if let Some(out) = xlated {
        out.clear();
        out.resize(info.xlated_prog_len as usize, 0);
        info = get(Some(out))?;
        out.truncate(info.xlated_prog_len as usize);
    }
    Ok(ProgInfo {
        id: info.id,
        prog_type: info.type_,
        tag: info.tag,
        xlated_len: info.xlated_prog_len,
        jited_len: info.jited_prog_len,
        verified_insns: info.verified_insns,
        btf_id: info.btf_id,
        attach_btf_id: info.attach_btf_id,
    })
}

/// What `BPF_PROG_TEST_RUN` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TestRun {
    pub retval: u32,
    pub data_size_out: u32,
    pub duration_ns: u32,
}

/// `BPF_PROG_TEST_RUN`: runs the program `repeat` times on `data` (a packet)
/// and/or `ctx`; the packet as the program left it goes to `data_out`.
pub(crate) fn prog_test_run(
    fd: BorrowedFd<'_>,
    data: &[u8],
    data_out: &mut [u8],
    ctx: &[u8],
    repeat: u32,
    flags: u32,
) -> io::Result<TestRun> {
    let mut attr = zeroed();
    // SAFETY: plain integer fields of the zeroed union's test member; the
    // buffers are borrowed for the call and their sizes given.
    let t = unsafe { &mut attr.test };
    t.prog_fd = fd.as_raw_fd() as u32;
    if !data.is_empty() {
        t.data_in = data.as_ptr() as u64;
        t.data_size_in = data.len() as u32;
    }
    if !data_out.is_empty() {
        t.data_out = data_out.as_mut_ptr() as u64;
        t.data_size_out = data_out.len() as u32;
    }
    if !ctx.is_empty() {
        t.ctx_in = ctx.as_ptr() as u64;
        t.ctx_size_in = ctx.len() as u32;
    }
    t.repeat = repeat;
    t.flags = flags;
    bpf(bpf_cmd::BPF_PROG_TEST_RUN, &mut attr)?;
    // SAFETY: as above; the kernel wrote the results back.
    let t = unsafe { attr.test };
    Ok(TestRun {
        retval: t.retval,
        data_size_out: t.data_size_out,
        duration_ns: t.duration,
    })
}

/// `BPF_MAP_LOOKUP_ELEM`: the value of `key` into `value`; `Ok(false)` when
/// there is none (ENOENT). From user space, a map-in-map slot's value is the
/// inner map's id.
///
/// # Safety
/// The kernel reads the map's key size from `key` and writes its value size
/// into `value` (one value per possible CPU, each rounded up to 8 bytes, for
/// a per-CPU map), whatever their lengths: they must hold at least that.
pub(crate) unsafe fn map_lookup_elem(
    fd: BorrowedFd<'_>,
    key: &[u8],
    value: &mut [u8],
) -> io::Result<bool> {
    let mut attr = zeroed();
    // SAFETY: plain integer fields of the zeroed union's element member; the
    // key and value buffers outlive the call, and are as long as the map
    // reads and writes (the caller's contract).
    let u = unsafe { &mut attr.__bindgen_anon_2 };
    u.map_fd = fd.as_raw_fd() as u32;
    u.key = key.as_ptr() as u64;
    u.__bindgen_anon_1.value = value.as_mut_ptr() as u64;
    match bpf(bpf_cmd::BPF_MAP_LOOKUP_ELEM, &mut attr) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `BPF_MAP_GET_NEXT_KEY`: the key after `key` (the first key for `None`)
/// into `next`; `Ok(false)` at the end.
///
/// # Safety
/// `key` (when given) and `next` hold at least the map's key size: the
/// kernel reads and writes that many bytes.
pub(crate) unsafe fn map_get_next_key(
    fd: BorrowedFd<'_>,
    key: Option<&[u8]>,
    next: &mut [u8],
) -> io::Result<bool> {
    let mut attr = zeroed();
    // SAFETY: as for `map_lookup_elem`; a null key asks for the first key.
    let u = unsafe { &mut attr.__bindgen_anon_2 };
    u.map_fd = fd.as_raw_fd() as u32;
    u.key = key.map_or(0, |k| k.as_ptr() as u64);
    u.__bindgen_anon_1.next_key = next.as_mut_ptr() as u64;
    match bpf(bpf_cmd::BPF_MAP_GET_NEXT_KEY, &mut attr) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `BPF_MAP_GET_FD_BY_ID`.
pub(crate) fn map_get_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    map_get_fd_by_id_with(id, 0)
}

/// `BPF_MAP_GET_FD_BY_ID` with `open_flags` (`BPF_F_RDONLY` or
/// `BPF_F_WRONLY`: what user space may do through the new fd).
pub(crate) fn map_get_fd_by_id_with(id: u32, open_flags: u32) -> io::Result<OwnedFd> {
    let mut attr = zeroed();
    attr.__bindgen_anon_6.__bindgen_anon_1.map_id = id;
    attr.__bindgen_anon_6.open_flags = open_flags;
    let fd = bpf(bpf_cmd::BPF_MAP_GET_FD_BY_ID, &mut attr)?;
    // SAFETY: on success BPF_MAP_GET_FD_BY_ID returns a new fd nobody owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// `BPF_BTF_GET_FD_BY_ID`.
pub(crate) fn btf_get_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = zeroed();
    attr.__bindgen_anon_6.__bindgen_anon_1.btf_id = id;
    let fd = bpf(bpf_cmd::BPF_BTF_GET_FD_BY_ID, &mut attr)?;
    // SAFETY: on success BPF_BTF_GET_FD_BY_ID returns a new fd nobody owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// The raw BTF blob of a BTF object (`BPF_OBJ_GET_INFO_BY_FD` on its fd,
/// once for the size, once for the bytes).
pub(crate) fn btf_data(fd: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
    let get = |buf: &mut [u8]| -> io::Result<u32> {
        // SAFETY: `bpf_btf_info` is a C struct of integers: all-zero is valid.
        let mut info: aya_obj::generated::bpf_btf_info = unsafe { std::mem::zeroed() };
        info.btf = buf.as_mut_ptr() as u64;
        info.btf_size = buf.len() as u32;
        // SAFETY: a struct of integers; its buffer is `buf`, with its length.
        unsafe { obj_info(fd, &mut info) }?;
        Ok(info.btf_size)
    };
    let size = get(&mut [])? as usize;
    let mut data = vec![0u8; size];
    let written = get(&mut data)? as usize;
    data.truncate(written.min(size));
    Ok(data)
}

/// A shared memory mapping of a `BPF_F_MMAPABLE` array map's values: what
/// the program reads and writes, seen in place. Unmapped when dropped; the
/// mapping keeps the map alive on its own (the map's fd may be closed).
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
    writable: bool,
    /// Taken shared by every load and exclusively by every store: accesses
    /// of different widths to the same bytes (an 8-byte variable, a 4-byte
    /// arena read over it) never overlap in time, as Rust's memory model
    /// requires of atomics that are not all reads. The program's accesses,
    /// in the kernel, are outside that model.
    lock: std::sync::RwLock<()>,
}

// SAFETY: the mapping is plain shared memory owned by this value; every
// access goes through atomics (see `load` and `store`), the stores under an
// exclusive lock, so it may be used from any thread, and from several at
// once.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps the first `len` bytes of map `fd`'s values, shared with the
    /// kernel: read-only unless `writable` (a frozen map refuses a writable
    /// mapping).
    pub(crate) fn map(fd: BorrowedFd<'_>, len: usize, writable: bool) -> io::Result<Mapping> {
        Self::map_at(fd, len, writable, 0)
    }

    /// As [`map`](Self::map), at address `at` when it is not 0 (an arena's
    /// `map_extra`): never over an existing mapping (`MAP_FIXED_NOREPLACE`,
    /// `EEXIST` if the range is taken).
    pub(crate) fn map_at(
        fd: BorrowedFd<'_>,
        len: usize,
        writable: bool,
        at: u64,
    ) -> io::Result<Mapping> {
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "nothing to map: 0 bytes",
            ));
        }
        let prot = libc::PROT_READ | if writable { libc::PROT_WRITE } else { 0 };
        // SAFETY: a new mapping of a valid fd, where the kernel chooses (`at`
        // 0) or at `at`; the result is checked before use.
        let flags = libc::MAP_SHARED
            | if at == 0 {
                0
            } else {
                libc::MAP_FIXED_NOREPLACE
            };
        // SAFETY (with an address): MAP_FIXED_NOREPLACE never replaces an
        // existing mapping; the kernel fails instead.
        let ptr = unsafe {
            libc::mmap(
                at as usize as *mut libc::c_void,
                len,
                prot,
                flags,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        if at != 0 && ptr as usize as u64 != at {
            // A kernel older than MAP_FIXED_NOREPLACE (4.17) took it as a hint.
            // SAFETY: the mapping just made, unmapped once.
            unsafe { libc::munmap(ptr, len) };
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("the kernel mapped it at {ptr:p}, not at {at:#x}"),
            ));
        }
        let ptr = std::ptr::NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| io::Error::other("mmap returned a null mapping"))?;
        Ok(Mapping {
            ptr,
            len,
            writable,
            lock: std::sync::RwLock::new(()),
        })
    }

    /// The address of the mapping's first byte.
    pub(crate) fn addr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Its length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether stores are allowed (the mapping was made writable).
    pub(crate) fn is_writable(&self) -> bool {
        self.writable
    }

    /// Copies `buf.len()` bytes from `offset` into `buf`. An access of 2, 4
    /// or 8 bytes at an address aligned for the atomic of that width is one
    /// atomic load; others are copied byte by byte. Each load is relaxed,
    /// then an acquire fence orders them (what the program wrote before is
    /// visible too): relaxed loads of at most 8 bytes are the atomic
    /// accesses Rust allows on read-only memory (a constant's mapping).
    /// Panics if the range is not within the mapping (callers check it
    /// first).
    pub(crate) fn load(&self, offset: usize, buf: &mut [u8]) {
        let at = self.at(offset, buf.len());
        let _shared = self
            .lock
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // SAFETY: `at` is in the mapping (checked), aligned for the width
        // used, and the memory lives as long as `self`. Atomics make the
        // kernel's concurrent accesses well defined, and the lock keeps
        // this process's stores (of any width) from overlapping the loads.
        unsafe {
            use std::sync::atomic::Ordering::Relaxed;
            use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32};
            match buf.len() {
                2 if at.cast::<AtomicU16>().is_aligned() => {
                    buf.copy_from_slice(&AtomicU16::from_ptr(at.cast()).load(Relaxed).to_ne_bytes())
                }
                4 if at.cast::<AtomicU32>().is_aligned() => {
                    buf.copy_from_slice(&AtomicU32::from_ptr(at.cast()).load(Relaxed).to_ne_bytes())
                }
                #[cfg(target_has_atomic = "64")]
                8 if at.cast::<std::sync::atomic::AtomicU64>().is_aligned() => buf.copy_from_slice(
                    &std::sync::atomic::AtomicU64::from_ptr(at.cast())
                        .load(Relaxed)
                        .to_ne_bytes(),
                ),
                _ => {
                    for (i, b) in buf.iter_mut().enumerate() {
                        *b = AtomicU8::from_ptr(at.add(i)).load(Relaxed);
                    }
                }
            }
        }
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
    }

    /// Copies `data` to `offset`, atomically as [`load`](Self::load) reads
    /// (release: what was written before is visible to a program that sees
    /// this). Panics if the range is not within the mapping (callers check
    /// it first) or if the mapping is read-only.
    pub(crate) fn store(&self, offset: usize, data: &[u8]) {
        assert!(self.writable, "a store into a read-only mapping");
        let at = self.at(offset, data.len());
        let _exclusive = self
            .lock
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // SAFETY: as in `load`; the mapping is writable (asserted above),
        // and no load or store of this process overlaps (the lock).
        unsafe {
            use std::sync::atomic::Ordering::Release;
            use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32};
            match data.len() {
                2 if at.cast::<AtomicU16>().is_aligned() => AtomicU16::from_ptr(at.cast())
                    .store(u16::from_ne_bytes([data[0], data[1]]), Release),
                4 if at.cast::<AtomicU32>().is_aligned() => AtomicU32::from_ptr(at.cast()).store(
                    u32::from_ne_bytes(data.try_into().unwrap_or_default()),
                    Release,
                ),
                #[cfg(target_has_atomic = "64")]
                8 if at.cast::<std::sync::atomic::AtomicU64>().is_aligned() => {
                    std::sync::atomic::AtomicU64::from_ptr(at.cast()).store(
                        u64::from_ne_bytes(data.try_into().unwrap_or_default()),
                        Release,
                    )
                }
                _ => {
                    for (i, b) in data.iter().enumerate() {
                        AtomicU8::from_ptr(at.add(i)).store(*b, Release);
                    }
                }
            }
        }
    }

    /// The address of `offset`, after checking that `len` bytes from there
    /// lie in the mapping.
    fn at(&self, offset: usize, len: usize) -> *mut u8 {
        assert!(
            offset.checked_add(len).is_some_and(|end| end <= self.len),
            "{len} bytes at {offset} are outside a {}-byte mapping",
            self.len
        );
        // SAFETY: in bounds, just checked.
        unsafe { self.ptr.as_ptr().add(offset) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping this value made, unmapped once.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

#[cfg(test)]
mod reserve_tests {
    /// `FDSize` of `/proc/self/status`: the fd table's size.
    fn fd_table_size() -> usize {
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("FDSize:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// The table grows at once to hold the fds asked for (within the soft
    /// limit), and no fd is left open.
    #[test]
    fn reserving_fds_grows_the_table_at_once() {
        let limit = super::open_file_limit().expect("RLIMIT_NOFILE");
        let size = fd_table_size();
        // Past the table's size (when the limit allows it), so that it must
        // grow: another test of this process may have grown it already.
        let want = (limit.rlim_cur as usize)
            .saturating_sub(1)
            .min(4 * size + 64);
        if want <= size {
            eprintln!(
                "skipped: RLIMIT_NOFILE {} leaves no room past {size}",
                limit.rlim_cur
            );
            return;
        }
        let open = || std::fs::read_dir("/proc/self/fd").unwrap().count();
        let before = open();
        super::reserve_fds(want);
        let grown = fd_table_size();
        assert!(
            grown > size && grown >= want,
            "FDSize {size} before, {grown} after, for {want}"
        );
        assert_eq!(open(), before);
    }
}
