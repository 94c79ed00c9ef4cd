//! Test support (feature `fault-injection`): make the k-th bpf(2) call the
//! loader makes fail, to prove that every step of a load cleans up after
//! itself; and force where `__arena` globals go
//! ([`place_arena_globals_at_end`]), to test both placements on any kernel.
//!
//! The counter is process-wide (a load uses several threads), so tests that
//! arm it must not run loads concurrently with each other.
//!
//! ```no_run
//! # #[cfg(feature = "fault-injection")] {
//! use ebpf_loader::fault_injection;
//! # let spec = ebpf_spec::CollectionSpec::default();
//! // Count the calls of one load, then fail each one in turn.
//! fault_injection::count_calls();
//! drop(ebpf_loader::Loader::new().load(&spec));
//! let n = fault_injection::calls();
//! for k in 1..=n {
//!     fault_injection::fail_call(k, libc::EIO);
//!     assert!(ebpf_loader::Loader::new().load(&spec).is_err());
//! }
//! fault_injection::disarm();
//! # }
//! ```

use std::io;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// Calls made since [`count_calls`] or [`fail_call`].
static CALLS: AtomicU64 = AtomicU64::new(0);
/// The call that fails (1-based); 0: none.
static FAIL_AT: AtomicU64 = AtomicU64::new(0);
/// The errno it fails with.
static ERRNO: AtomicI32 = AtomicI32::new(0);

/// Starts counting bpf(2) calls from 0, failing none.
pub fn count_calls() {
    FAIL_AT.store(0, Ordering::SeqCst);
    CALLS.store(0, Ordering::SeqCst);
}

/// Makes the `k`-th bpf(2) call from now (1-based) fail with `errno`,
/// without reaching the kernel; the calls after it succeed again.
pub fn fail_call(k: u64, errno: i32) {
    ERRNO.store(errno, Ordering::SeqCst);
    CALLS.store(0, Ordering::SeqCst);
    FAIL_AT.store(k, Ordering::SeqCst);
}

/// Makes the `k`-th bpf(2) call from now (1-based) panic instead of calling
/// the kernel: what a bug in the loader would do at that point. The calls
/// after it succeed again.
pub fn panic_at_call(k: u64) {
    fail_call(k, PANIC);
}

/// The `ERRNO` that means "panic" ([`panic_at_call`]).
const PANIC: i32 = i32::MIN;

/// How many bpf(2) calls were made since [`count_calls`] or [`fail_call`].
pub fn calls() -> u64 {
    CALLS.load(Ordering::SeqCst)
}

/// Whether the armed call has come (it was failed).
pub fn fired() -> bool {
    let at = FAIL_AT.load(Ordering::SeqCst);
    at != 0 && CALLS.load(Ordering::SeqCst) >= at
}

/// Stops failing calls.
pub fn disarm() {
    FAIL_AT.store(0, Ordering::SeqCst);
}

/// Counts one call; the error to return instead of calling the kernel when
/// it is the armed one.
pub(crate) fn next_call() -> Option<io::Error> {
    let n = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    if n != FAIL_AT.load(Ordering::SeqCst) {
        return None;
    }
    match ERRNO.load(Ordering::SeqCst) {
        PANIC => panic!("fault injection: bpf(2) call {n} panics"),
        errno => Some(io::Error::from_raw_os_error(errno)),
    }
}

/// Where loads place `__arena` globals from now on, whatever the kernel
/// probe says: `Some(true)` in the arena's last pages, `Some(false)` at its
/// start, `None` as the probe says (the default). Lets a kernel that takes
/// only small offsets test the end placement with a small arena. A load
/// reads it once, before it links the programs: the programs and the
/// arenas of one call agree whatever it is set to meanwhile.
pub fn place_arena_globals_at_end(at_end: Option<bool>) {
    PLACEMENT.store(
        match at_end {
            None => 0,
            Some(false) => 1,
            Some(true) => 2,
        },
        Ordering::SeqCst,
    );
}

/// See [`place_arena_globals_at_end`]: 0 none, 1 start, 2 end.
static PLACEMENT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// The placement forced by [`place_arena_globals_at_end`], if any.
pub(crate) fn arena_globals_at_end() -> Option<bool> {
    match PLACEMENT.load(Ordering::SeqCst) {
        1 => Some(false),
        2 => Some(true),
        _ => None,
    }
}
