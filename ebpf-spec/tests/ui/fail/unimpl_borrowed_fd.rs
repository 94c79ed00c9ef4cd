use ebpf_spec::DeepCopy;
use std::os::fd::BorrowedFd;

// A borrowed descriptor is a kernel object the copy would share.
#[derive(DeepCopy)]
struct Attached<'fd> {
    name: String,
    fd: BorrowedFd<'fd>,
}

fn main() {}
