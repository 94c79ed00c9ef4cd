//! Raw bpf(2) for the tests and benches that issue calls on prepared
//! attributes (the benches' floors, the kernel's own CO-RE): the loader's
//! own `sys` module is private. Benches include this file by path.
#![allow(dead_code)]

use aya_obj::generated::{bpf_attr, bpf_cmd};
use std::os::fd::{FromRawFd, OwnedFd};

/// bpf(2) with `attr` (the whole union's size, as the loader passes it).
pub fn bpf(cmd: bpf_cmd, attr: &mut bpf_attr) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a fully initialised `bpf_attr` (built from zeroed
    // memory) that lives for the call, and its size is passed along; the
    // buffers it points at are borrowed by the callers for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            attr as *mut bpf_attr,
            size_of::<bpf_attr>(),
        )
    };
    if ret < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// An all-zero `bpf_attr`: what the kernel expects in unused fields.
pub fn zeroed() -> bpf_attr {
    // SAFETY: a C union of integers and arrays of integers: all-zero bytes
    // are a valid value.
    unsafe { std::mem::zeroed() }
}

/// The fd a successful create, load or get returned.
pub fn fd(ret: libc::c_long) -> OwnedFd {
    // SAFETY: such a call returns a new fd that nobody else owns.
    unsafe { OwnedFd::from_raw_fd(ret as libc::c_int) }
}

/// bpf(2) for a command that returns a new fd.
pub fn bpf_fd(cmd: bpf_cmd, attr: &mut bpf_attr) -> std::io::Result<OwnedFd> {
    bpf(cmd, attr).map(fd)
}
