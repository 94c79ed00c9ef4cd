//! The spec model: plain values describing a collection of maps and programs.

pub(crate) mod map;
mod name;
pub(crate) mod program;
mod struct_ops;
mod variable;

pub use map::{
    Incompatible, InnerMap, Iproute2Fields, MapAttributes, MapEntry, MapExtra, MapFlags, MapSpec,
    MapType, MapValue, Mismatch, Pinning, StructOps, UnsupportedExtra,
};
// The reader's whole-file budget, at the crate root beside `MAX_DATA_SECTION`.
pub use crate::elf::{MATERIALISED_PER_INPUT_BYTE, MAX_MATERIALISED};
pub use name::{Iter as NameMapIter, IterMut as NameMapIterMut, Name, NameMap};
pub use program::{
    AttachType, Instruction, ProgramSpec, ProgramType, Relocation, RelocationTarget,
};
pub use struct_ops::StructOpsError;
pub use variable::{SetError, VariableSpec};

use crate::DeepCopy;
use std::collections::BTreeMap;

/// The byte order of an object (and of the bytes in its specs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, DeepCopy)]
#[deep_copy(plain)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum ByteOrder {
    /// Little-endian (`bpfel`).
    Little,
    /// Big-endian (`bpfeb`).
    Big,
}

/// The host's ([`ByteOrder::NATIVE`]): a spec built by hand is loadable on
/// the machine that builds it.
impl Default for ByteOrder {
    fn default() -> Self {
        ByteOrder::NATIVE
    }
}

impl std::fmt::Display for ByteOrder {
    /// `little-endian` or `big-endian`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ByteOrder::Little => "little-endian",
            ByteOrder::Big => "big-endian",
        })
    }
}

impl ByteOrder {
    /// The byte order of the machine this runs on.
    pub const NATIVE: ByteOrder = if cfg!(target_endian = "little") {
        ByteOrder::Little
    } else {
        ByteOrder::Big
    };

    /// `value` encoded in this byte order.
    pub fn u32_bytes(self, value: u32) -> [u8; 4] {
        match self {
            ByteOrder::Little => value.to_le_bytes(),
            ByteOrder::Big => value.to_be_bytes(),
        }
    }

    /// `value` encoded in this byte order.
    pub fn u64_bytes(self, value: u64) -> [u8; 8] {
        match self {
            ByteOrder::Little => value.to_le_bytes(),
            ByteOrder::Big => value.to_be_bytes(),
        }
    }
}

/// The object's BTF: its `.BTF` section.
///
/// `.BTF.ext` is not kept as bytes: its records belong to functions, and the
/// reader gives each [`ProgramSpec`](crate::ProgramSpec) its own
/// (`func_info`, `line_info`, `core_relocations`), so there is one place to
/// read or edit them and no second copy to go stale.
///
/// `.BTF` is fixed up as libbpf does before loading it: the sizes of data
/// sections (DATASEC) and the offsets of their variables, which clang leaves
/// 0, are filled in from the ELF section and symbol tables, `.kconfig`
/// externs become allocated globals, and hidden globals (libbpf's
/// `__hidden`, visibility hidden or internal) become static: a `.text`
/// function's FUNC, so that the verifier checks it in its caller's context,
/// and a variable's VAR. Everything else is as in the object,
/// `.ksyms` included: the `__ksym` externs keep their declared types, which
/// a loader resolves them by before it rewrites that section with
/// [`btf::ksyms_for_kernel`](crate::btf::ksyms_for_kernel).
///
/// Its `Debug` shows the blob's length, not its bytes (a kernel-sized BTF
/// printed as a list of numbers ran to megabytes).
#[derive(Clone, PartialEq, Eq, DeepCopy)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BtfSpec {
    /// The `.BTF` section, fixed up for the kernel.
    pub btf: Vec<u8>,
}

impl std::fmt::Debug for BtfSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BtfSpec")
            .field("btf", &format_args!("<{} bytes>", self.btf.len()))
            .finish()
    }
}

/// A whole object: its maps, programs and global variables, by name.
///
/// Parse it once with [`from_elf`](CollectionSpec::from_elf), edit it, and
/// [`copy`](CollectionSpec::copy) it once per instance: copies share nothing.
///
/// ```
/// use ebpf_spec::{CollectionSpec, MapSpec, MapType};
///
/// let mut spec = CollectionSpec::default();
/// spec.maps.insert("events".into(), MapSpec::new("events", MapType::RingBuf, 0, 0, 4096));
/// let copy = spec.copy();
/// ebpf_spec::deep_copy::assert_deep_copy(&spec, &copy);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, DeepCopy)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CollectionSpec {
    /// Maps by name (legacy, BTF-defined, and one per data section).
    pub maps: NameMap<MapSpec>,
    /// Programs by function name (the entry points).
    pub programs: NameMap<ProgramSpec>,
    /// Functions of `.text` that programs call (bpf-to-bpf), by name.
    pub functions: NameMap<ProgramSpec>,
    /// Global variables of the data sections, by name. Statics are
    /// variables too, but for statics that share a name (an object linked
    /// from several files, each with its `static int cnt`): the name does
    /// not say which, so none of them is one, and a global of that name is
    /// (their bytes stay in their sections).
    pub variables: NameMap<VariableSpec>,
    /// The object's BTF, if it has any.
    pub btf: Option<BtfSpec>,
    /// The object's byte order.
    pub byte_order: ByteOrder,
    /// The `license` section (empty when absent).
    pub license: Name,
    /// The `version` section (0 when absent).
    pub kernel_version: u32,
}

/// A symbol the programs of a collection use but the object does not define:
/// the running kernel provides it at load (see [`CollectionSpec::externs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extern<'a> {
    /// The symbol's name.
    pub name: &'a str,
    /// What provides it.
    pub kind: ExternKind,
    /// Declared `__weak`: the collection loads without it (as 0).
    pub weak: bool,
}

/// What kind of extern an [`Extern`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExternKind {
    /// A `__kconfig` variable: a value of the kernel's configuration, in
    /// `.kconfig`.
    Kconfig,
    /// A `__ksym`: a kernel function called as a kfunc, or a kernel variable
    /// whose address the program takes.
    Ksym,
}

/// `kconfig` or `ksym`.
impl std::fmt::Display for ExternKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ExternKind::Kconfig => "kconfig",
            ExternKind::Ksym => "ksym",
        })
    }
}

impl CollectionSpec {
    /// A deep copy: equal to `self`, sharing no memory with it. Same as
    /// [`DeepCopy::deep_copy`].
    pub fn copy(&self) -> Self {
        self.deep_copy()
    }

    /// The externs the programs and functions refer to, each once, sorted by
    /// name: what the object needs from the kernel it is loaded into. An
    /// extern referred to both weakly and not counts as not weak.
    ///
    /// ```
    /// use ebpf_spec::{CollectionSpec, ExternKind};
    ///
    /// let spec = CollectionSpec::from_elf(include_bytes!(
    ///     "../../tests/fixtures/globals.bpfel.o"
    /// ))?;
    /// let externs: Vec<_> = spec.externs().iter().map(|e| (e.name, e.kind, e.weak)).collect();
    /// assert_eq!(externs, [
    ///     ("CONFIG_BPF_SYSCALL", ExternKind::Kconfig, true),
    ///     ("LINUX_KERNEL_VERSION", ExternKind::Kconfig, false),
    /// ]);
    /// # Ok::<(), ebpf_spec::ParseError>(())
    /// ```
    pub fn externs(&self) -> Vec<Extern<'_>> {
        let mut seen: BTreeMap<&str, bool> = BTreeMap::new();
        for p in self.programs.values().chain(self.functions.values()) {
            for r in &p.relocations {
                if let RelocationTarget::Extern { name, weak } = &r.target {
                    let w = seen.entry(name).or_insert(*weak);
                    *w &= *weak;
                }
            }
        }
        seen.into_iter()
            .map(|(name, weak)| Extern {
                name,
                kind: if self
                    .variables
                    .get(name)
                    .is_some_and(|v| v.section == ".kconfig")
                {
                    ExternKind::Kconfig
                } else {
                    ExternKind::Ksym
                },
                weak,
            })
            .collect()
    }

    /// Sets a global variable's value (a `const volatile` in `.rodata` is how
    /// a program takes configuration): updates the variable and the bytes of
    /// its data section's map.
    ///
    /// All or nothing: on an error neither the variable nor the section
    /// changes.
    ///
    /// # Errors
    /// If there is no such variable, `value` is not exactly its size, no map
    /// holds its section ([`SetError::NoSuchSection`]: a data section renamed
    /// without its variables), the variable lies outside its section's map,
    /// or it is a `__kconfig` extern, whose value a loader takes from the
    /// kernel ([`SetError::FromKernel`]).
    pub fn set_variable(&mut self, name: &str, value: &[u8]) -> Result<(), SetError> {
        let var = self
            .variables
            .get_mut(name)
            .ok_or_else(|| SetError::NoSuchVariable {
                name: name.to_owned(),
            })?;
        var.check(value)?;
        let map = self
            .maps
            .get_mut(&var.section)
            .ok_or_else(|| SetError::NoSuchSection {
                name: var.name.to_string(),
                section: var.section.to_string(),
            })?;
        variable::write_into_section(map, var, value)?;
        var.set(value)
    }
}
