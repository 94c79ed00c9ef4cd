//! Global variables of a loaded collection, read and written in place
//! through a memory mapping of their data section's map.

use crate::sys::Mapping;
use ebpf_spec::VariableSpec;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;

/// A global variable of a loaded instance (`.data`, `.bss`, `.rodata`,
/// `.data.*`, `.rodata.*`, `.kconfig`), seen in place: a write is what the
/// program reads next, and a read sees what the program last wrote (a
/// counter it keeps, a setting it takes), with no syscall per access.
///
/// From [`Collection::variable`](crate::Collection::variable). The handle
/// maps its section on its own: it may outlive the [`Collection`](crate::Collection)
/// and be shared between threads. A naturally aligned variable of 2, 4 or 8
/// bytes is read and written in one atomic access (loads ordered by an
/// acquire fence, release stores), so a value the program writes with one
/// store of that width is never seen half-written; other sizes are copied
/// byte by byte. Reads and writes through one mapping (this handle's, or an
/// arena's, which its variables share) take a lock, shared by reads, so a
/// write never overlaps another access of another width there. A write is
/// not a read-modify-write: one racing with the program's `counter += 1`
/// may lose that increment. Bytes are in the object's byte order (the
/// host's, for a loaded object).
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let spec = ebpf_spec::CollectionSpec::default();
/// let coll = ebpf_loader::Loader::new().load(&spec)?;
/// let hits = coll.variable(&spec.variables["hits"]).unwrap()?;
/// let n = u64::from_ne_bytes(hits.read().try_into().unwrap());
/// println!("{} so far", n);
/// let counter = coll.variable(&spec.variables["counter"]).unwrap()?;
/// counter.write(&0u32.to_ne_bytes())?; // the program counts from 0 again
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Variable {
    name: String,
    section: String,
    offset: usize,
    size: usize,
    constant: bool,
    mapping: Arc<Mapping>,
}

/// Why a variable of a loaded collection cannot be mapped, read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VariableError {
    /// The value has the wrong size.
    #[error("variable `{name}` is {expected} bytes, but {got} bytes were given")]
    WrongSize {
        /// The variable.
        name: String,
        /// Its size.
        expected: usize,
        /// The size given.
        got: usize,
    },
    /// The variable is a constant (`.rodata*`, `.kconfig`: frozen when the
    /// collection was loaded), or its section's map is read-only to user
    /// space (a map reused from a pin, frozen by whoever made it).
    #[error(
        "variable `{name}` is read-only in `{section}` (a constant, or a frozen map): it cannot be written"
    )]
    Constant {
        /// The variable.
        name: String,
        /// Its section.
        section: String,
    },
    /// The variable does not lie within its section's map in the kernel
    /// (the spec is not the one this collection was loaded from).
    #[error(
        "variable `{name}` (offset {offset}, size {size}) lies outside `{section}`, \
         whose value is {value_size} bytes in the kernel"
    )]
    Outside {
        /// The variable.
        name: String,
        /// Its section.
        section: String,
        /// Its offset.
        offset: u32,
        /// Its size.
        size: u32,
        /// The size of the section's map value in the kernel.
        value_size: u32,
    },
    /// The section's map could not be asked about or mapped: it is not a
    /// single-entry array, not `BPF_F_MMAPABLE` (a map reused from a pin
    /// another loader made may not be), or it holds fields the kernel
    /// manages (a `bpf_spin_lock`, a timer, a kptr), which the kernel never
    /// maps.
    #[error("variable `{name}`: mapping `{section}` failed: {source}")]
    Map {
        /// The variable.
        name: String,
        /// Its section.
        section: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl Variable {
    /// Maps variable `var` of section map `fd`.
    pub(crate) fn map(fd: BorrowedFd<'_>, var: &VariableSpec) -> Result<Variable, VariableError> {
        let map_err = |source: io::Error| VariableError::Map {
            name: var.name.to_string(),
            section: var.section.to_string(),
            source,
        };
        let info = crate::sys::map_info(fd).map_err(map_err)?;
        if info.max_entries != 1 {
            return Err(map_err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "it has {} entries, not the one of a data section",
                    info.max_entries
                ),
            )));
        }
        let end = u64::from(var.offset) + u64::from(var.size);
        if end > u64::from(info.value_size) {
            return Err(VariableError::Outside {
                name: var.name.to_string(),
                section: var.section.to_string(),
                offset: var.offset,
                size: var.size,
                value_size: info.value_size,
            });
        }
        let len = info.value_size as usize;
        let mapping = match Mapping::map(fd, len, !var.constant) {
            // A frozen map refuses a writable mapping: read it read-only.
            Err(e) if !var.constant && e.raw_os_error() == Some(libc::EPERM) => {
                Mapping::map(fd, len, false)
            }
            // A map programs may only read (`BPF_F_RDONLY_PROG`) refuses a
            // writable mapping (EACCES), and an fd user space may only read
            // (`BPF_F_RDONLY`, a pin opened so) is shared by no mapping at
            // all (EACCES writable, EINVAL read-only): the same map read
            // only, through an fd of its own opened by id for both.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EINVAL)) => {
                Mapping::map(fd, len, false).or_else(|_| {
                    let own = crate::sys::map_get_fd_by_id_with(info.id, 0).map_err(|by_id| {
                        if by_id.raw_os_error() == Some(libc::EPERM) {
                            io::Error::new(
                                io::ErrorKind::PermissionDenied,
                                "the map's fd is read-only for user space, which the kernel \
                                 maps for no one, and opening the map again by id needs \
                                 CAP_SYS_ADMIN",
                            )
                        } else {
                            e
                        }
                    })?;
                    Mapping::map(own.as_fd(), len, false)
                })
            }
            other => other,
        }
        .map_err(|e| {
            // ENOTSUPP (kernel-internal, 524): fields the kernel manages.
            if e.raw_os_error() == Some(524) {
                map_err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "the kernel does not map a value with a bpf_spin_lock, timer or kptr (errno 524)",
                ))
            } else {
                map_err(e)
            }
        })?;
        Ok(Variable {
            name: var.name.to_string(),
            section: var.section.to_string(),
            offset: var.offset as usize,
            size: var.size as usize,
            constant: !mapping.is_writable(),
            mapping: Arc::new(mapping),
        })
    }

    /// Variable `var`, an `__arena` global of `arena`: in the collection's
    /// mapping of the arena (a second mapping of it would need the same
    /// address).
    pub(crate) fn in_arena(
        arena: &crate::Arena,
        var: &VariableSpec,
    ) -> Result<Variable, VariableError> {
        let (mapping, offset) =
            arena
                .variable(var.offset, var.size)
                .ok_or_else(|| VariableError::Outside {
                    name: var.name.to_string(),
                    section: var.section.to_string(),
                    offset: var.offset,
                    size: var.size,
                    value_size: arena.globals().len() as u32,
                })?;
        Ok(Variable {
            name: var.name.to_string(),
            section: var.section.to_string(),
            offset,
            size: var.size as usize,
            constant: false,
            mapping,
        })
    }

    /// The variable's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its size in bytes.
    pub fn len(&self) -> usize {
        self.size
    }

    /// Whether it has no bytes (an empty struct).
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Whether it is read-only: a constant (`.rodata*`, `.kconfig`), or in a
    /// map frozen by whoever made it.
    pub fn is_constant(&self) -> bool {
        self.constant
    }

    /// Its current value.
    pub fn read(&self) -> Vec<u8> {
        let mut buf = vec![0; self.size];
        self.mapping.load(self.offset, &mut buf);
        buf
    }

    /// Its current value, into `buf`, which must be exactly its size.
    ///
    /// # Errors
    /// [`VariableError::WrongSize`] if `buf` is not.
    pub fn read_into(&self, buf: &mut [u8]) -> Result<(), VariableError> {
        self.check(buf.len())?;
        self.mapping.load(self.offset, buf);
        Ok(())
    }

    /// Sets its value: the program sees it from its next run on.
    ///
    /// # Errors
    /// [`VariableError::WrongSize`] if `value` is not exactly its size;
    /// [`VariableError::Constant`] if it is read-only.
    pub fn write(&self, value: &[u8]) -> Result<(), VariableError> {
        self.check(value.len())?;
        if self.constant {
            return Err(VariableError::Constant {
                name: self.name.clone(),
                section: self.section.clone(),
            });
        }
        self.mapping.store(self.offset, value);
        Ok(())
    }

    fn check(&self, got: usize) -> Result<(), VariableError> {
        // (`map` checked that the variable lies in the mapping.)
        if got != self.size {
            return Err(VariableError::WrongSize {
                name: self.name.clone(),
                expected: self.size,
                got,
            });
        }
        Ok(())
    }
}
