//! Pinning by name under a bpffs directory.

use crate::{LoadError, Step, sys};
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

/// A directory on a bpffs where maps are pinned by name, for one call of the
/// loader (`load`, `load_many`, `load_all`).
///
/// The maps a call creates to pin are staged here, and pinned only when the
/// whole call has succeeded ([`publish`](Self::publish)): another loader
/// never sees, nor reuses, a map whose load may still fail and take its pin
/// away. Instances of the call that pin the same name share the staged map.
#[derive(Debug)]
pub(crate) struct PinDir {
    path: PathBuf,
    /// Maps created to pin, in creation order.
    staged: Mutex<Vec<Staged>>,
    /// This call's turn at pinned arenas with a fixed address, held to its
    /// end (see [`take_turn`](Self::take_turn)).
    turn: Mutex<Option<crate::arena::Turn>>,
    /// Set once a wait for the shared flock ran out in this call: later pin
    /// opens of the call wait [`DIR_LOCK_GRACE_SHARED`] only.
    shared_timed_out: AtomicBool,
}

/// A map a call created to pin, not pinned yet.
#[derive(Debug)]
struct Staged {
    name: String,
    path: PathBuf,
    c_path: CString,
    fd: OwnedFd,
}

impl Staged {
    /// Its path was taken: by another loader's pin (a race, and the call is
    /// made again to reuse it; or gone again since, and the call made again
    /// makes it), or by something that is no pin (a dangling link, a
    /// directory: making the call again would find it again).
    fn taken(&self) -> Publish {
        let err = |source: std::io::Error, hint: String| LoadError::Syscall {
            map: self.name.clone(),
            step: Step::Pin,
            source,
            hint: Some(hint),
        };
        match sys::obj_get(&self.c_path, 0) {
            // Something there that is no pin (pins are regular files): a
            // dangling link, a directory.
            Err(e)
                if self
                    .path
                    .symlink_metadata()
                    .is_ok_and(|m| !m.file_type().is_file()) =>
            {
                Publish::Failed(err(
                    e,
                    format!(
                        "`{}` exists, but is no pin this load can open (a dangling link, a \
                         directory?)",
                        self.path.display()
                    ),
                ))
            }
            _ => Publish::Race(err(
                std::io::Error::from_raw_os_error(libc::EEXIST),
                format!(
                    "another loader pinned `{}` while this load ran",
                    self.path.display()
                ),
            )),
        }
    }
}

/// Why [`PinDir::publish`] did not pin everything.
pub(crate) enum Publish {
    /// Another loader pinned a map of the same name since this call looked:
    /// its collections use maps of their own, and must be made again.
    Race(LoadError),
    /// Pinning failed.
    Failed(LoadError),
}

/// Written while a call of this process publishes its pins, whatever the
/// directory, and read while one opens an existing pin: threads take turns
/// even where the directory cannot be flocked. Always taken after the
/// directory's flock, never before.
static PUBLISHING: RwLock<()> = RwLock::new(());

/// How long a call waits for another process's exclusive flock on the pin
/// directory before it publishes without it.
const DIR_LOCK_WAIT: Duration = Duration::from_secs(2);

/// How long a load waits for the shared flock to open an existing pin: a
/// publish holds the exclusive one for as long as it takes to pin a few
/// maps.
const DIR_LOCK_WAIT_SHARED: Duration = Duration::from_millis(200);

/// How long later pin opens of a call wait for the shared flock once a wait
/// for it ran out in that call (a `flock DIR command` wrapper, a stopped
/// process): still long enough for another loader's publish.
const DIR_LOCK_GRACE_SHARED: Duration = Duration::from_millis(20);

/// A `flock` on a directory, released on drop; `None` where the directory
/// cannot be opened (it needs read permission) or stays locked for the wait
/// (a `flock DIR command` wrapper, a stopped process): the call then goes on
/// without it.
///
/// Exclusive while a call publishes its pins; shared while a call opens an
/// existing pin, so that it never opens one between another loader's first
/// pin and the removal of that pin when the other's publish fails.
struct DirLock {
    /// Closing it releases the lock.
    _dir: std::fs::File,
}

impl DirLock {
    /// `how`: `LOCK_EX` or `LOCK_SH`, waited for up to `wait`; `None` when
    /// the wait runs out.
    fn take(dir: &Path, how: libc::c_int, wait: Duration) -> Option<DirLock> {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open(dir).ok()?;
        let start = Instant::now();
        let mut pause = Duration::from_micros(100);
        loop {
            // SAFETY: flock on an fd this function owns; no memory is passed.
            if unsafe { libc::flock(file.as_raw_fd(), how | libc::LOCK_NB) } == 0 {
                return Some(DirLock { _dir: file });
            }
            let busy = std::io::Error::last_os_error().raw_os_error() == Some(libc::EWOULDBLOCK);
            if !busy || start.elapsed() >= wait {
                return None;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PinDir {
    /// Checks that `path` is a directory on a bpffs.
    pub(crate) fn new(path: &Path) -> Result<PinDir, LoadError> {
        let err = |what: String| LoadError::PinPath {
            path: path.to_owned(),
            what,
        };
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| err("contains a NUL byte".into()))?;
        match sys::is_bpffs(&c) {
            Ok(true) if !path.is_dir() => Err(err(
                "is a file on a bpf filesystem, not a directory (pins go in a directory)".into(),
            )),
            Ok(true) => Ok(PinDir {
                path: path.to_owned(),
                staged: Mutex::new(Vec::new()),
                turn: Mutex::new(None),
                shared_timed_out: AtomicBool::new(false),
            }),
            Ok(false) => Err(err(
                "is not on a bpf filesystem (mount one with `mount -t bpf bpf DIR`)".into(),
            )),
            Err(e) => Err(err(e.to_string())),
        }
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The pin of map `name`: `name` must be a safe file name.
    pub(crate) fn pin_of(&self, name: &str) -> Result<(PathBuf, CString), String> {
        check_pin_name(name)?;
        let path = self.path.join(name);
        let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| "contains a NUL byte")?;
        Ok((path, c))
    }

    /// Opens the existing pin `c` (BPF_OBJ_GET) under a shared flock of the
    /// directory: never while another loader of this library publishes, so
    /// never a pin that its failed publish is about to remove.
    pub(crate) fn open_pin(&self, c: &std::ffi::CStr, access: u32) -> std::io::Result<OwnedFd> {
        let wait = if self.shared_timed_out.load(Ordering::Relaxed) {
            DIR_LOCK_GRACE_SHARED
        } else {
            DIR_LOCK_WAIT_SHARED
        };
        let shared = DirLock::take(&self.path, libc::LOCK_SH, wait);
        if shared.is_none() {
            self.shared_timed_out.store(true, Ordering::Relaxed);
        }
        let _in_process = PUBLISHING.read().unwrap_or_else(|e| e.into_inner());
        sys::obj_get(c, access)
    }

    /// The kernel id of the map this call staged for `path`, if any (asked
    /// of the kernel only here: only later instances of a call that share a
    /// pin need it).
    pub(crate) fn staged_id(&self, path: &Path) -> std::io::Result<Option<u32>> {
        let staged = lock(&self.staged);
        staged
            .iter()
            .find(|s| s.path == path)
            .map(|s| sys::map_info(s.fd.as_fd()).map(|i| i.id))
            .transpose()
    }

    /// Stages map `fd` (of map `name`) to be pinned at `path` when the call
    /// succeeds.
    pub(crate) fn stage(
        &self,
        name: &str,
        (path, c_path): (PathBuf, CString),
        fd: &OwnedFd,
    ) -> std::io::Result<()> {
        let fd = fd.try_clone()?;
        lock(&self.staged).push(Staged {
            name: name.to_owned(),
            path,
            c_path,
            fd,
        });
        Ok(())
    }

    /// Takes this call's turn at pinned arenas with a fixed address (once:
    /// it is held until the call ends). A load that makes such an arena maps
    /// it at its address before the pin exists; another load of this process
    /// that looked for the pin meanwhile would make its own, and fail to map
    /// it there. Loads that need the turn run their pinned fixed arenas one
    /// call after the other.
    pub(crate) fn take_turn(&self) {
        let mut turn = lock(&self.turn);
        if turn.is_none() {
            *turn = Some(crate::arena::Turn::take());
        }
    }

    /// Pins every staged map, in the order they were made. A pin that exists
    /// already (another loader made it since this call looked) is a
    /// [`Publish::Race`]: looked for before the first pin is made, so that
    /// the call usually pins nothing; found only while pinning (another
    /// tool pinned the name in those microseconds), the pins made before it
    /// are removed, as they are when pinning fails. They cannot be kept for
    /// the next attempt: a prog array or outer map among them holds the
    /// programs and maps of the attempt that is dropped. They are removed
    /// here, before the locks are released: loaders of this library open
    /// pins under a shared flock ([`open_pin`](Self::open_pin)), so none of
    /// them reuses a pin that is taken back.
    pub(crate) fn publish(&self) -> Result<(), Publish> {
        let staged = std::mem::take(&mut *lock(&self.staged));
        if staged.is_empty() {
            return Ok(());
        }
        // Loaders of this library publish one at a time (across processes,
        // an flock on the directory; in this process, a lock; both held to
        // the last pin): the look and the pins are one step for them, so
        // only another tool pinning a name meanwhile can make a race found
        // while pinning. The flock first (it may wait), so that a wait for
        // one directory does not hold up the others.
        let _publishing = DirLock::take(&self.path, libc::LOCK_EX, DIR_LOCK_WAIT);
        let _in_process = PUBLISHING.write().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = staged.iter().find(|s| s.path.symlink_metadata().is_ok()) {
            return Err(s.taken());
        }
        // Dropped before the locks: on an error, or a panic, the pins made
        // are removed while no other loader may open them.
        let mut made = Made(Vec::with_capacity(staged.len()));
        for s in &staged {
            let err = |source: std::io::Error, hint: Option<String>| LoadError::Syscall {
                map: s.name.clone(),
                step: Step::Pin,
                source,
                hint,
            };
            let failed = match sys::obj_pin(s.fd.as_fd(), &s.c_path) {
                Ok(()) => {
                    made.0.push(&s.path);
                    continue;
                }
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => s.taken(),
                Err(e) => Publish::Failed(err(e, None)),
            };
            return Err(failed);
        }
        // Every pin made stays.
        made.0.clear();
        Ok(())
    }
}

/// The pins a [`PinDir::publish`] has made so far: removed when it is
/// dropped (on an error or a panic, before the publish's locks are
/// released), unless the publish empties it on success.
struct Made<'p>(Vec<&'p Path>);

impl Drop for Made<'_> {
    fn drop(&mut self) {
        for p in self.0.drain(..) {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A map name that is safe as a file name in the pin directory: not empty,
/// no `/` or NUL, no `.` (a bpffs refuses names with dots: they are reserved
/// for its own files, so `.` and `..` cannot escape either), at most 15 bytes
/// (the kernel's limit on map names, so the pin and the map carry the same
/// name).
pub(crate) fn check_pin_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(format!("`{name}` cannot be pinned: it is not a file name"));
    }
    if name.contains('.') {
        return Err(format!(
            "`{}` cannot be pinned: a bpffs refuses names with a '.'",
            name.escape_debug()
        ));
    }
    if name.contains('/') || name.contains('\0') {
        return Err(format!(
            "`{}` cannot be pinned: it contains '/' or NUL",
            name.escape_debug()
        ));
    }
    if name.len() > 15 {
        return Err(format!(
            "`{name}` cannot be pinned: {} bytes, at most 15",
            name.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_pin_names_are_refused() {
        for bad in [
            "",
            ".",
            "..",
            "../etc",
            "a/b",
            "nul\0x",
            "sixteen_bytes_xx",
            ".rodata",
        ] {
            assert!(check_pin_name(bad).is_err(), "{bad:?}");
        }
        for good in ["flows", "tc_global", "fifteen_bytes_x"] {
            assert!(check_pin_name(good).is_ok(), "{good:?}");
        }
    }
}
