//! Create kernel eBPF objects from [`ebpf_spec`] specs.
//!
//! This crate is the only one of the workspace that talks to the kernel. It
//! takes the plain values `ebpf-spec` parses ([`MapSpec`], and later whole
//! collections) and creates the kernel objects, handing them out as aya handles
//! so users keep aya's typed APIs. Raw bpf(2) calls live in one private module;
//! everything above it speaks in specs and handles.
//!
//! **Status:** [`Loader::create_map`] creates one map from its spec (with its
//! inner-map template, fix-ups, initial contents and freeze). Whole collections
//! (`Loader::load`, `load_many`), BTF, pinning and programs are not built yet.
//!
//! ```no_run
//! use aya::maps::{Array, Map};
//! use ebpf_loader::Loader;
//! use ebpf_spec::{MapSpec, MapType};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let spec = MapSpec::new("counters", MapType::Array, 4, 8, 16);
//! let map = Loader::new().create_map(&spec)?; // needs root or CAP_BPF
//! let mut counters: Array<_, u64> = Array::try_from(Map::Array(map))?;
//! counters.set(3, 42, 0)?;
//! assert_eq!(counters.get(&3, 0)?, 42);
//! # Ok(()) }
//! ```

mod sys;

use aya::maps::MapData;
use ebpf_spec::{MapFlags, MapSpec, MapType, MapValue};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::OnceLock;

/// The step of creating a map that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// Checking the spec, before any syscall.
    Validate,
    /// Creating the inner-map template of a map-in-map.
    CreateInnerTemplate,
    /// `BPF_MAP_CREATE`.
    Create,
    /// Writing the initial contents.
    WriteContents,
    /// `BPF_MAP_FREEZE`.
    Freeze,
    /// Wrapping the fd in an aya handle.
    Wrap,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Validate => "checking the spec",
            Step::CreateInnerTemplate => "creating the inner map template",
            Step::Create => "creating the map",
            Step::WriteContents => "writing the initial contents",
            Step::Freeze => "freezing",
            Step::Wrap => "opening the map with aya",
        })
    }
}

/// Why a map could not be created. Everything the failed call created has
/// been released by the time this is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The spec cannot be honoured; no syscall was made.
    #[error("map `{map}`: {what}")]
    Invalid {
        /// The map's name.
        map: String,
        /// What is wrong.
        what: String,
    },
    /// A bpf(2) call failed.
    #[error("map `{map}`: {step} failed: {source}{}", hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Syscall {
        /// The map's name.
        map: String,
        /// The step that failed.
        step: Step,
        /// The OS error, with its errno.
        #[source]
        source: io::Error,
        /// What the errno most likely means here.
        hint: Option<String>,
    },
    /// aya could not open the created map.
    #[error("map `{map}`: {step} failed: {source}")]
    Aya {
        /// The map's name.
        map: String,
        /// The step that failed.
        step: Step,
        /// aya's error.
        #[source]
        source: aya::maps::MapError,
    },
}

impl LoadError {
    /// The errno of a failed syscall, if that is what failed.
    pub fn errno(&self) -> Option<i32> {
        match self {
            LoadError::Syscall { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

/// Creates kernel objects from specs.
///
/// A `Loader` is cheap to create and can be shared between threads.
#[derive(Debug, Default)]
pub struct Loader {
    possible_cpus: OnceLock<Result<u32, String>>,
}

/// `ENOTSUPP`, the kernel-internal "not supported" some map types return.
const ENOTSUPP: i32 = 524;

impl Loader {
    /// A loader with default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates the map `spec` describes and writes its initial contents, then
    /// freezes it if the spec asks for it.
    ///
    /// The spec is never modified. Fix-ups go into the create attributes only:
    /// a perf event array with `max_entries` 0 gets the number of possible
    /// CPUs, and data-section arrays (`.data`, `.rodata`, `.bss` ...) get
    /// `BPF_F_MMAPABLE`. A map-in-map needs `inner_map`: the template is
    /// created, used, and closed. Contents that name other maps or programs
    /// need a whole collection, and are refused here.
    ///
    /// Maps are created without BTF for now, so the map types the kernel
    /// creates only with BTF (socket, inode, task and cgroup storage,
    /// struct_ops) fail with the kernel's error.
    ///
    /// # Errors
    /// [`LoadError::Invalid`] before any syscall (unknown non-zero bytes in a
    /// legacy definition, contents of the wrong size, a map-in-map without a
    /// template); [`LoadError::Syscall`] naming the step, with the errno and a
    /// hint. Nothing created by the call outlives an error.
    pub fn create_map(&self, spec: &MapSpec) -> Result<MapData, LoadError> {
        let fd = self.create_fd(spec)?;
        MapData::from_fd(fd).map_err(|source| LoadError::Aya {
            map: spec.name.clone(),
            step: Step::Wrap,
            source,
        })
    }

    fn create_fd(&self, spec: &MapSpec) -> Result<OwnedFd, LoadError> {
        let invalid = |what: String| LoadError::Invalid {
            map: spec.name.clone(),
            what,
        };
        if spec.extra.has_unknown_nonzero() {
            return Err(invalid(format!(
                "the legacy definition has {} extra bytes no loader understands ({}), and some are not zero",
                spec.extra.unknown().len(),
                spec.extra.to_hex()
            )));
        }
        for (i, e) in spec.contents.iter().enumerate() {
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
                MapValue::Map(name) | MapValue::Program(name) => {
                    return Err(invalid(format!(
                        "contents[{i}] refers to `{name}`, which only a whole collection can resolve"
                    )));
                }
            }
        }

        let inner = match (&spec.inner_map, spec.map_type.is_map_in_map()) {
            (Some(inner), true) => Some(self.create_fd(inner).map_err(|e| match e {
                LoadError::Syscall { source, hint, .. } => LoadError::Syscall {
                    map: spec.name.clone(),
                    step: Step::CreateInnerTemplate,
                    source,
                    hint,
                },
                other => other,
            })?),
            (None, true) => {
                return Err(invalid(format!(
                    "a {} needs an inner map template (inner_map)",
                    spec.map_type
                )));
            }
            (_, false) => None,
        };

        let mut max_entries = spec.max_entries;
        if spec.map_type == MapType::PerfEventArray && max_entries == 0 {
            max_entries = self.possible_cpus().map_err(|e| invalid(e.clone()))?;
        }
        let mut flags = spec.flags;
        if spec.map_type == MapType::Array && is_data_section(&spec.name) {
            flags |= MapFlags::MMAPABLE;
        }
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
        };
        let syscall = |step: Step, source: io::Error| {
            let hint = hint(spec, max_entries, &source);
            LoadError::Syscall {
                map: spec.name.clone(),
                step,
                source,
                hint,
            }
        };
        let fd = sys::map_create(&attr).map_err(|e| syscall(Step::Create, e))?;
        // The template is only needed for the create call.
        drop(inner);

        write_contents(spec, &fd).map_err(|e| syscall(Step::WriteContents, e))?;
        if spec.freeze {
            sys::map_freeze(fd.as_fd()).map_err(|e| syscall(Step::Freeze, e))?;
        }
        Ok(fd)
    }

    /// The number of possible CPUs (`/sys/devices/system/cpu/possible`), read once.
    pub fn possible_cpus(&self) -> Result<u32, &String> {
        self.possible_cpus
            .get_or_init(|| {
                let path = "/sys/devices/system/cpu/possible";
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {path}: {e}"))?;
                parse_cpu_list(&text).ok_or_else(|| format!("cannot parse {path}: {text:?}"))
            })
            .as_ref()
            .copied()
    }
}

/// Writes the byte contents: one batch update, or one update per entry where
/// the kernel has no batch operation for the map type.
fn write_contents(spec: &MapSpec, fd: &OwnedFd) -> io::Result<()> {
    if spec.contents.is_empty() {
        return Ok(());
    }
    let mut keys = Vec::with_capacity(spec.contents.len() * spec.key_size as usize);
    let mut values = Vec::with_capacity(spec.contents.len() * spec.value_size as usize);
    for e in &spec.contents {
        if let MapValue::Bytes(v) = &e.value {
            keys.extend_from_slice(&e.key);
            values.extend_from_slice(v);
        }
    }
    let count = spec.contents.len() as u32;
    match sys::map_update_batch(fd.as_fd(), &keys, &values, count) {
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
            for e in &spec.contents {
                if let MapValue::Bytes(v) = &e.value {
                    sys::map_update_elem(fd.as_fd(), &e.key, v)?;
                }
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn is_data_section(name: &str) -> bool {
    [".data", ".rodata", ".bss"].iter().any(|p| {
        name == *p
            || name
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// The name the kernel accepts: `[A-Za-z0-9_.]`, at most 15 bytes.
fn kernel_name(name: &str) -> String {
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
fn parse_cpu_list(text: &str) -> Option<u32> {
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
        libc::EINVAL | libc::E2BIG => format!(
            "the kernel rejects this combination: type {} key_size {} value_size {} max_entries {} flags {:#x} map_extra {}",
            spec.map_type,
            spec.key_size,
            spec.value_size,
            max_entries,
            spec.flags.bits(),
            spec.map_extra
        ),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-1\n"), Some(2));
        assert_eq!(parse_cpu_list("0\n"), Some(1));
        assert_eq!(parse_cpu_list("0-3,8-11"), Some(12));
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn names() {
        assert_eq!(kernel_name("a-very-long-map/name"), "a_very_long_map");
        assert_eq!(kernel_name(".rodata"), ".rodata");
        assert!(is_data_section(".rodata.custom"));
        assert!(is_data_section(".bss"));
        assert!(!is_data_section(".database"));
        assert!(!is_data_section("data"));
    }
}
