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
//! // Count the calls of one load, then fail each one in turn (with the
//! // retries the loader makes of it: a program load is tried again with
//! // the verifier's log on).
//! fault_injection::count_calls();
//! drop(ebpf_loader::Loader::new().load(&spec));
//! let n = fault_injection::calls();
//! for k in 1..=n {
//!     fault_injection::fail_call_and_retries(k, libc::EIO);
//!     assert!(ebpf_loader::Loader::new().load(&spec).is_err());
//! }
//! fault_injection::disarm();
//! # }
//! ```

use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

/// Calls made since [`count_calls`] or [`fail_call`].
static CALLS: AtomicU64 = AtomicU64::new(0);
/// The call that fails (1-based); 0: none.
static FAIL_AT: AtomicU64 = AtomicU64::new(0);
/// The errno it fails with.
static ERRNO: AtomicI32 = AtomicI32::new(0);
/// Whether the retries of the failed call fail too ([`fail_call_and_retries`]).
static STICKY: AtomicBool = AtomicBool::new(false);

/// Bumped each time calls are armed or disarmed: a thread's [`RETRIES`]
/// count only while it is the one they were set in.
static ARMING: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// On the thread whose call was failed by [`fail_call_and_retries`]:
    /// the arming, and the command and errno its retries fail with.
    static RETRIES: Cell<Option<(u64, u32, i32)>> = const { Cell::new(None) };
}

/// The commands (`bpf_cmd`) of the calls made since [`count_calls`], in
/// the order they were made: recorded only from `count_calls` to the next
/// [`fail_call`], [`fail_call_and_retries`] or [`disarm`] (a process of
/// this feature's loads records nothing otherwise).
static COMMANDS: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());
/// Whether calls are being counted ([`count_calls`]).
static COUNTING: AtomicBool = AtomicBool::new(false);

/// Starts counting bpf(2) calls from 0, failing none.
pub fn count_calls() {
    FAIL_AT.store(0, Ordering::SeqCst);
    CALLS.store(0, Ordering::SeqCst);
    commands_list().clear();
    COUNTING.store(true, Ordering::SeqCst);
}

/// The command (`bpf_cmd`: 0 `BPF_MAP_CREATE`, 5 `BPF_PROG_LOAD`, 18
/// `BPF_BTF_LOAD`...) of each call made since [`count_calls`], in the order
/// they were made (calls of several threads interleave).
pub fn commands() -> Vec<u32> {
    commands_list().clone()
}

fn commands_list() -> std::sync::MutexGuard<'static, Vec<u32>> {
    COMMANDS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Makes the `k`-th bpf(2) call from now (1-based) fail with `errno`,
/// without reaching the kernel; the calls after it succeed again (so a
/// failure the loader retries, as it retries a program load with the
/// verifier's log on, may be overcome: a transient failure).
pub fn fail_call(k: u64, errno: i32) {
    STICKY.store(false, Ordering::SeqCst);
    arm(k, errno);
}

/// As [`fail_call`], and the retries of that call fail the same way: the
/// calls of the same command that the same thread makes next, until it makes
/// another (a failure that persists).
pub fn fail_call_and_retries(k: u64, errno: i32) {
    STICKY.store(true, Ordering::SeqCst);
    arm(k, errno);
}

fn arm(k: u64, errno: i32) {
    COUNTING.store(false, Ordering::SeqCst);
    ARMING.fetch_add(1, Ordering::SeqCst);
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
    STICKY.store(false, Ordering::SeqCst);
    COUNTING.store(false, Ordering::SeqCst);
    ARMING.fetch_add(1, Ordering::SeqCst);
}

/// Counts one call of command `cmd`; the error to return instead of calling
/// the kernel when it is the armed one (or a retry of it).
pub(crate) fn next_call(cmd: u32) -> Option<io::Error> {
    let n = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    if COUNTING.load(Ordering::SeqCst) {
        commands_list().push(cmd);
    }
    let arming = ARMING.load(Ordering::SeqCst);
    let retry = RETRIES.with(|r| match r.get() {
        Some((a, c, errno)) if a == arming && c == cmd && STICKY.load(Ordering::SeqCst) => {
            Some(errno)
        }
        _ => {
            r.set(None);
            None
        }
    });
    if let Some(errno) = retry {
        return Some(io::Error::from_raw_os_error(errno));
    }
    if n != FAIL_AT.load(Ordering::SeqCst) {
        return None;
    }
    match ERRNO.load(Ordering::SeqCst) {
        PANIC => panic!("fault injection: bpf(2) call {n} panics"),
        errno => {
            RETRIES.with(|r| r.set(Some((arming, cmd, errno))));
            Some(io::Error::from_raw_os_error(errno))
        }
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
