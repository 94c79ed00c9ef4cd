//! Errors of the loader: they name the map and the step, keep the errno and
//! add a hint.

use std::fmt;
use std::io;

/// The step of a load (or of creating a map) that failed.
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
    /// Opening an existing pin.
    OpenPin,
    /// Reading a map's attributes from the kernel.
    Info,
    /// Checking the fd given to [`Loader::replace_map`](crate::Loader::replace_map)
    /// against the map's spec.
    Replace,
    /// Pinning the map.
    Pin,
    /// Writing map fds into the slots of a map-in-map.
    FillSlots,
    /// Linking a program: its calls, map and data references (no syscall).
    Link,
    /// Finding the kernel function or type a tracing or LSM program attaches
    /// to in the kernel's BTF.
    AttachTarget,
    /// `BPF_PROG_LOAD`.
    LoadProgram,
    /// Reading a program's id and tag from the kernel.
    ProgramInfo,
    /// Writing program fds into the slots of a prog array.
    FillProgramSlots,
    /// Registering a struct_ops map's structure (its value, or its link).
    RegisterStructOps,
    /// Mapping an arena into this process (`mmap`), which fixes its address
    /// for the programs.
    MapArena,
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
            Step::OpenPin => "opening the existing pin",
            Step::Info => "reading the map's attributes",
            Step::Replace => "checking the fd given to replace_map",
            Step::Pin => "pinning",
            Step::FillSlots => "filling the map-in-map slots",
            Step::Link => "linking",
            Step::AttachTarget => "finding the attach target",
            Step::LoadProgram => "loading the program",
            Step::ProgramInfo => "reading the program's info",
            Step::FillProgramSlots => "filling the prog-array slots",
            Step::RegisterStructOps => "registering the struct_ops",
            Step::MapArena => "mapping the arena",
        })
    }
}

/// Why a load, or the creation of a map, failed. Everything the failed call
/// created has been released by the time this is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The spec cannot be honoured: found before any syscall, or, for an
    /// existing pin or a `replace_map` fd that holds no map, from what the
    /// kernel says the object is. [`step`](LoadError::step) says
    /// `Validate` either way.
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
    /// An existing map (a pin, or a replacement) differs from the spec.
    #[error("{step}: {source}")]
    Incompatible {
        /// The step that found it.
        step: Step,
        /// Every mismatching attribute.
        #[source]
        source: ebpf_spec::Incompatible,
    },
    /// The kernel refused the object's BTF.
    #[error("loading the object's BTF failed: {source}{}{}", last_lines(log), if source.raw_os_error() == Some(1) { " (needs root or CAP_BPF)" } else { "" })]
    Btf {
        /// The OS error.
        #[source]
        source: io::Error,
        /// The kernel's log.
        log: String,
    },
    /// The loader's threads could not be started.
    #[error("cannot start {threads} threads: {what}")]
    Threads {
        /// How many were asked for.
        threads: usize,
        /// Why they could not start.
        what: String,
    },
    /// The object was built for the other byte order (`-target bpfeb` on a
    /// little-endian machine, or the reverse): the kernel reads BTF, map
    /// contents and data sections (the values of globals) in its own byte
    /// order, and these are kept as the object has them. No syscall was
    /// made. (Before this check, such an object without BTF loaded with its
    /// globals' bytes swapped.)
    #[error(
        "the object is {object}, this machine is {host}: its BTF, map contents and globals \
         are in the wrong byte order for this kernel (rebuild it with `clang -target bpf`, \
         which picks the host's)"
    )]
    ByteOrder {
        /// The object's byte order.
        object: ebpf_spec::ByteOrder,
        /// This machine's.
        host: ebpf_spec::ByteOrder,
    },
    /// The pin path cannot be used.
    #[error("pin path {}: {what}", path.display())]
    PinPath {
        /// The path.
        path: std::path::PathBuf,
        /// What is wrong.
        what: String,
    },
    /// One instance of `load_many`, or one spec of `load_all`, failed (every
    /// collection of the call was released).
    #[error("instance {index}: {source}")]
    Instance {
        /// The instance, or the spec's index in `load_all`'s slice, from 0.
        index: usize,
        /// What failed in it.
        #[source]
        source: Box<LoadError>,
    },
    /// A program could not be linked or loaded.
    #[error("program `{program}`: {}", program_message(step, source.as_ref(), what, log.as_ref()))]
    Program {
        /// The program's name.
        program: String,
        /// The step that failed.
        step: Step,
        /// The OS error of the failed syscall (`None` when the program was
        /// refused before any syscall).
        #[source]
        source: Option<io::Error>,
        /// What is wrong, or what the errno most likely means.
        what: String,
        /// The verifier's log, when the kernel refused the program.
        log: Option<crate::VerifierLog>,
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
    /// The map the error is about (for errors of one instance of
    /// `load_many`, the map in that instance).
    pub fn map(&self) -> &str {
        match self {
            LoadError::Invalid { map, .. }
            | LoadError::Syscall { map, .. }
            | LoadError::Aya { map, .. } => map,
            LoadError::Incompatible { source, .. } => &source.map,
            LoadError::Instance { source, .. } => source.map(),
            LoadError::PinPath { .. }
            | LoadError::ByteOrder { .. }
            | LoadError::Btf { .. }
            | LoadError::Threads { .. }
            | LoadError::Program { .. } => "",
        }
    }

    /// The program the error is about (`""` for errors about maps).
    pub fn program(&self) -> &str {
        match self {
            LoadError::Program { program, .. } => program,
            LoadError::Instance { source, .. } => source.program(),
            _ => "",
        }
    }

    /// The step that failed, where the error is about one.
    pub fn step(&self) -> Option<Step> {
        match self {
            LoadError::Syscall { step, .. }
            | LoadError::Incompatible { step, .. }
            | LoadError::Aya { step, .. }
            | LoadError::Program { step, .. } => Some(*step),
            LoadError::Invalid { .. } | LoadError::ByteOrder { .. } => Some(Step::Validate),
            LoadError::Instance { source, .. } => source.step(),
            _ => None,
        }
    }

    /// The verifier's log, when the kernel refused a program.
    pub fn verifier_log(&self) -> Option<&crate::VerifierLog> {
        match self {
            LoadError::Program { log, .. } => log.as_ref(),
            LoadError::Instance { source, .. } => source.verifier_log(),
            _ => None,
        }
    }

    /// The errno of a failed syscall, if that is what failed.
    pub fn errno(&self) -> Option<i32> {
        match self {
            LoadError::Syscall { source, .. } | LoadError::Btf { source, .. } => {
                source.raw_os_error()
            }
            LoadError::Program { source, .. } => source.as_ref()?.raw_os_error(),
            LoadError::Instance { source, .. } => source.errno(),
            _ => None,
        }
    }
}

/// The kernel refused an object's BTF (`EINVAL` or `E2BIG` from `BPF_BTF_LOAD`), and
/// the collection was loaded without it, as libbpf does when nothing needs
/// it: see [`Collection::btf_refused`](crate::Collection::btf_refused).
#[derive(Debug, thiserror::Error)]
#[error(
    "the kernel refused the object's BTF ({source}{}); loaded without it: programs have no func_info or line_info, maps no BTF types",
    last_lines(log)
)]
pub struct BtfRefused {
    /// The error of `BPF_BTF_LOAD`.
    #[source]
    pub source: io::Error,
    /// The kernel's log: why it refused the BTF.
    pub log: String,
}

/// The last lines of a kernel log, for a one-line error.
fn last_lines(log: &str) -> String {
    let lines: Vec<&str> = log.lines().map(str::trim).collect();
    let tail = &lines[lines.len().saturating_sub(3)..];
    if tail.is_empty() {
        String::new()
    } else {
        format!(": {}", tail.join(" | "))
    }
}

/// The message of a program error: the step, the errno, what it means, and
/// where the verifier stopped.
fn program_message(
    step: &Step,
    source: Option<&io::Error>,
    what: &str,
    log: Option<&crate::VerifierLog>,
) -> String {
    let mut msg = match source {
        Some(e) => format!("{step} failed: {e}"),
        None => format!("{step} failed"),
    };
    if !what.is_empty() {
        msg.push_str(if source.is_some() { " (" } else { ": " });
        msg.push_str(what);
        if source.is_some() {
            msg.push(')');
        }
    }
    if let Some(log) = log.filter(|l| !l.text().is_empty()) {
        msg.push_str("; verifier: ");
        msg.push_str(&log.to_string());
    }
    msg
}
