//! Create kernel eBPF objects from [`ebpf_spec`] specs.
//!
//! This crate is the only one of the workspace that talks to the kernel. It
//! takes the plain values `ebpf-spec` parses ([`MapSpec`], and later whole
//! collections) and creates the kernel objects, handing them out as aya handles
//! so users keep aya's typed APIs. Raw bpf(2) calls live in one private module;
//! everything above it speaks in specs and handles.
//!
//! **Status (issue 4, in progress):** [`Loader::create_map`] creates one map;
//! [`Loader::load`] and [`Loader::load_many`] create whole collections' maps,
//! concurrently, with map-in-map slots filled by one batch update per map,
//! pinning by name on a bpffs (reuse after a compatibility check, pin races
//! resolved as reuses), replacements, and release of everything on failure.
//! A collection's BTF is loaded once per distinct content and shared by every
//! map and instance. Not yet: prog-array slots (they need programs), programs.
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

#[cfg(feature = "fault-injection")]
pub mod fault_injection;

mod collection;
mod error;
mod kernel;
mod loader;
mod map;
mod pin;
mod program;
mod sys;

pub use collection::{Collection, ProgramInfo, TestRunOutput};
pub use error::{LoadError, Step};
pub use loader::Loader;
pub use program::VerifierLog;

/// The README's Rust examples, compiled and run as doctests (here, where both
/// ebpf-spec and ebpf-loader are in scope).
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
