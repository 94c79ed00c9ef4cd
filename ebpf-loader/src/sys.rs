//! The only place with `unsafe` syscalls: the few bpf(2) commands aya's public
//! API does not offer (creating a map with an inner map fd, BTF ids, NUMA node
//! or map_extra; batch updates; freezing), on aya-obj's generated `bpf_attr`.

use aya_obj::generated::{bpf_attr, bpf_cmd};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Calls bpf(2) with `attr`; the kernel reads (and may write) `attr`.
fn bpf(cmd: bpf_cmd, attr: &mut bpf_attr) -> io::Result<libc::c_long> {
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
    for (dst, src) in u.map_name.iter_mut().zip(a.name.bytes().take(15)) {
        *dst = src as libc::c_char;
    }
    let fd = bpf(bpf_cmd::BPF_MAP_CREATE, &mut attr)?;
    // SAFETY: on success BPF_MAP_CREATE returns a new fd that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// `BPF_MAP_UPDATE_ELEM` of one entry.
pub(crate) fn map_update_elem(fd: BorrowedFd<'_>, key: &[u8], value: &[u8]) -> io::Result<()> {
    let mut attr = zeroed();
    // SAFETY: plain integer fields of the zeroed union's element member; the
    // key and value buffers outlive the call.
    let u = unsafe { &mut attr.__bindgen_anon_2 };
    u.map_fd = fd.as_raw_fd() as u32;
    u.key = key.as_ptr() as u64;
    u.__bindgen_anon_1.value = value.as_ptr() as u64;
    bpf(bpf_cmd::BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
}

/// `BPF_MAP_UPDATE_BATCH`: `keys` and `values` hold `count` entries back to
/// back. Returns how many the kernel wrote.
pub(crate) fn map_update_batch(
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

/// `BPF_OBJ_GET_INFO_BY_FD` for a map.
pub(crate) fn map_info(fd: BorrowedFd<'_>) -> io::Result<MapInfo> {
    // SAFETY: `bpf_map_info` is a C struct of integers: all-zero is valid.
    let mut info: aya_obj::generated::bpf_map_info = unsafe { std::mem::zeroed() };
    let mut attr = zeroed();
    attr.info.bpf_fd = fd.as_raw_fd() as u32;
    attr.info.info_len = std::mem::size_of_val(&info) as u32;
    attr.info.info = &mut info as *mut _ as u64;
    bpf(bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
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

/// `BPF_OBJ_PIN`: pins `fd` at `path` (which must not exist yet).
pub(crate) fn obj_pin(fd: BorrowedFd<'_>, path: &std::ffi::CStr) -> io::Result<()> {
    let mut attr = zeroed();
    attr.__bindgen_anon_4.pathname = path.as_ptr() as u64;
    attr.__bindgen_anon_4.bpf_fd = fd.as_raw_fd() as u32;
    bpf(bpf_cmd::BPF_OBJ_PIN, &mut attr).map(drop)
}

/// `BPF_OBJ_GET`: opens the object pinned at `path`.
pub(crate) fn obj_get(path: &std::ffi::CStr) -> io::Result<OwnedFd> {
    let mut attr = zeroed();
    attr.__bindgen_anon_4.pathname = path.as_ptr() as u64;
    let fd = bpf(bpf_cmd::BPF_OBJ_GET, &mut attr)?;
    // SAFETY: on success BPF_OBJ_GET returns a new fd that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// The bpffs magic number (`BPF_FS_MAGIC`).
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// Whether `path` is on a bpf filesystem.
pub(crate) fn is_bpffs(path: &std::ffi::CStr) -> io::Result<bool> {
    // SAFETY: `statfs` is a C struct of integers: all-zero is valid.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `st` is a valid out-pointer.
    if unsafe { libc::statfs(path.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_type as i64 == BPF_FS_MAGIC)
}

/// `BPF_BTF_LOAD`. On failure, retries with a 1 MiB log and returns the
/// kernel's log with the error.
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
            let _ = load(&mut log);
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            Err((
                first,
                String::from_utf8_lossy(&log[..end]).trim().to_owned(),
            ))
        }
    }
}
