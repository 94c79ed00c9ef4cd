//! Load eBPF collections into the kernel from [`ebpf_spec`] specs: maps, then
//! programs, one collection or many at once on all cores, with nothing shared
//! between instances and nothing left behind on failure.
//!
//! [`Loader::load`] turns a [`CollectionSpec`](ebpf_spec::CollectionSpec)
//! into a [`Collection`]; [`Loader::load_many`] makes `n` independent
//! instances of it (each from its own deep copy of the spec); both never
//! modify the spec. In order, a load:
//!
//! 1. loads the object's BTF (once per distinct content for the life of the
//!    loader, shared by every map, program and instance; its `.ksyms`
//!    section rewritten as libbpf does);
//! 2. creates the maps (in parallel when they are large enough for it to
//!    pay): inner-map templates, contents with one batch update, data
//!    sections with their variables' values (`.kconfig` with the running
//!    kernel's), `.rodata`/`.kconfig` frozen, pins by name reused after a
//!    compatibility check;
//! 3. loads the programs, linked once per spec (sub-programs appended, calls
//!    fixed, CO-RE relocations resolved against the kernel's BTF, func_info
//!    and line_info, `attach_btf_id` of tracing and LSM programs, `__ksym`
//!    externs: kfunc calls and kernel variables by the kernel's BTF id,
//!    typeless ones by their `/proc/kallsyms` address, missing `__weak`
//!    ones as 0), with each instance's map fds;
//! 4. fills prog-array slots, then map-in-map slots (one batch update per
//!    map; for `load_many`, every instance's at once, since each waits for an
//!    RCU grace period).
//!
//! On any error, every fd the call opened is closed and every pin it created
//! removed; [`LoadError`] names the map or program, the [`Step`], the errno
//! with a hint, and for a refused program the verifier's log
//! ([`VerifierLog`]).
//!
//! ```
//! use ebpf_loader::Loader;
//! use ebpf_spec::CollectionSpec;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # // Needs bpf(2) (root or CAP_BPF): skipped without it, unless CI is set.
//! # let probe = ebpf_spec::MapSpec::new("probe", ebpf_spec::MapType::Array, 4, 4, 1);
//! # if std::env::var_os("CI").is_none() && Loader::new().create_map(&probe).is_err() { return Ok(()) }
//! let bytes = include_bytes!("../../ebpf-spec/tests/fixtures/globals.bpfel.o");
//! let mut spec = CollectionSpec::from_elf(bytes)?;
//! spec.set_variable("sample_rate", &42u32.to_ne_bytes())?; // a const volatile
//!
//! let tenants = Loader::new().load_many(&spec, 8)?; // 8 independent collections
//! for tenant in &tenants {
//!     // `get_rate` returns the constant: run it with BPF_PROG_TEST_RUN.
//!     let run = tenant.test_run("get_rate", &[0; 64], 1).unwrap()?;
//!     assert_eq!(run.retval, 42);
//! }
//! let mut first = tenants.into_iter().next().unwrap();
//! let values: aya::maps::Array<_, u32> = first.take_map("values").unwrap()?.try_into()?;
//! assert_eq!(values.get(&0, 0)?, 0); // aya's typed map API
//! # Ok(()) }
//! ```
//!
//! This crate is the only one of the workspace that talks to the kernel;
//! its raw bpf(2) calls live in one private module. Maps are handed out as
//! aya maps ([`Collection::take_map`]), programs can be attached with aya
//! ([`Collection::aya_program_info`]), and global variables are read and
//! written in place while the programs run ([`Collection::variable`]).
//!
//! # Features
//! - `fault-injection`: the `fault_injection` module makes the k-th bpf(2) call fail
//!   (for tests of the cleanup paths).

#[cfg(feature = "fault-injection")]
pub mod fault_injection;

mod arena;
mod collection;
mod error;
mod kernel;
mod loader;
mod map;
mod pin;
mod program;
mod struct_ops;
mod sys;
mod variable;

/// The aya this crate is built with (its maps and programs are aya's), for
/// code that needs the very same version.
pub use aya;
/// The aya-obj aya is built with: `aya_obj::programs::XdpAttachType`, which
/// `aya::programs::Xdp::from_program_info` takes and aya does not re-export.
pub use aya_obj;

pub use arena::{Arena, ArenaError};
pub use collection::{Collection, ProgramInfo, StructOpsAttachment, TestRunOutput};
pub use error::{BtfRefused, LoadError, Step};
pub use loader::Loader;
pub use program::VerifierLog;
pub use variable::{Variable, VariableError};

/// The README's Rust examples, compiled and run as doctests (here, where both
/// ebpf-spec and ebpf-loader are in scope).
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
