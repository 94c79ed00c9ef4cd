//! `VariableSpec`: a global variable in a data section.

use super::{MapSpec, MapValue, Name};
use crate::DeepCopy;

/// A global variable in `.data`, `.rodata`, `.bss`, `.data.*`, `.rodata.*` or
/// `.kconfig`: where it lives and its current value.
///
/// Setting a `const volatile` in `.rodata` before loading is how a program
/// takes configuration. The loader writes every variable's value over its
/// section's bytes, so [`set`](VariableSpec::set) on the variable is enough;
/// [`CollectionSpec::set_variable`](super::CollectionSpec::set_variable) also
/// updates the section's map contents right away. The variable is the source
/// for its bytes: an edit of the section's contents alone, within a
/// variable's range, is written over by the variable's value at load (bytes
/// no variable covers keep such edits).
///
/// ```
/// use ebpf_spec::VariableSpec;
/// let mut v = VariableSpec {
///     name: "sample_rate".into(), section: ".rodata".into(), offset: 0, size: 4,
///     value: vec![7, 0, 0, 0], constant: true, weak: false,
/// };
/// v.set(&13u32.to_le_bytes()).unwrap();
/// assert_eq!(v.value, [13, 0, 0, 0]);
/// assert!(v.set(&[1, 2]).is_err()); // 2 bytes for a 4-byte variable
/// ```
#[derive(Debug, Clone, PartialEq, Eq, DeepCopy)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct VariableSpec {
    /// The symbol's name.
    pub name: Name,
    /// The data section (and the name of its map): `.rodata`, `.data.custom`
    /// ... For an `__arena` global (section `.addr_space.1`), the name of
    /// the arena map that holds it, as libbpf reads it: the offset is then
    /// among the arena's globals, wherever the loader places them.
    pub section: Name,
    /// Offset in the section (or among the `__arena` globals), in bytes.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
    /// The current value (`size` bytes, in the object's byte order; zeros for
    /// `.bss` and `.kconfig`, whose values the loader provides).
    pub value: Vec<u8>,
    /// In a read-only section (`.rodata*`, `.kconfig`): frozen after load.
    pub constant: bool,
    /// Declared `__weak`. For a `.kconfig` extern this decides what a
    /// loader does when the kernel has no value for it, as libbpf does: a
    /// weak one reads 0, a strong one is refused.
    #[cfg_attr(feature = "serde", serde(default))]
    pub weak: bool,
}

/// Why a variable could not be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetError {
    /// The value has the wrong size.
    #[error("variable `{name}` is {expected} bytes, but {got} bytes were given")]
    WrongSize {
        /// The variable.
        name: String,
        /// Its size.
        expected: u32,
        /// The size of the given value.
        got: usize,
    },
    /// No variable has this name.
    #[error("no variable named `{name}` in the collection")]
    NoSuchVariable {
        /// The name asked for.
        name: String,
    },
    /// The variable does not fit in its section's map (the spec was edited
    /// inconsistently).
    #[error("variable `{name}` (offset {offset}, size {size}) lies outside map `{map}`")]
    OutsideSection {
        /// The variable.
        name: String,
        /// The data section's map.
        map: String,
        /// The variable's offset.
        offset: u32,
        /// The variable's size.
        size: u32,
    },
    /// No map holds the variable's section (renamed or removed): a loader
    /// would not use the value, so it is not set.
    #[error(
        "variable `{name}` belongs to section `{section}`, which no map of the collection holds \
         (a renamed or removed data section: rename the variables' `section` with it)"
    )]
    NoSuchSection {
        /// The variable.
        name: String,
        /// Its section, the name of the map that should hold it.
        section: String,
    },
    /// The variable is a `__kconfig` extern (section `.kconfig`): a loader
    /// takes its value from the running kernel's configuration, so a value
    /// set here would be ignored.
    #[error(
        "variable `{name}` is a `__kconfig` extern: its value comes from the running kernel's \
         configuration when the object is loaded, and cannot be set"
    )]
    FromKernel {
        /// The variable.
        name: String,
    },
}

impl VariableSpec {
    /// Replaces the value; `value` must be exactly `size` bytes, and the
    /// variable not a `__kconfig` extern ([`SetError::FromKernel`]).
    pub fn set(&mut self, value: &[u8]) -> Result<(), SetError> {
        self.check(value)?;
        self.value.clear();
        self.value.extend_from_slice(value);
        Ok(())
    }

    /// Whether `value` may be set: exactly `size` bytes, and not `.kconfig`.
    pub(crate) fn check(&self, value: &[u8]) -> Result<(), SetError> {
        if self.section == ".kconfig" {
            return Err(SetError::FromKernel {
                name: self.name.to_string(),
            });
        }
        if value.len() != self.size as usize {
            return Err(SetError::WrongSize {
                name: self.name.to_string(),
                expected: self.size,
                got: value.len(),
            });
        }
        Ok(())
    }

    /// The byte range of the variable in its section.
    pub fn range(&self) -> std::ops::Range<usize> {
        let start = self.offset as usize;
        start..start.saturating_add(self.size as usize)
    }
}

/// Writes `value` (`var.size` bytes) at `var`'s place in the single entry of
/// its data section's map, creating the entry (zero-filled) if the section had
/// none (`.bss`). An arena's entry holds its `__arena` globals, and bounds
/// them: it is never created here. Checks everything before changing
/// anything: on an error the map is as it was.
pub(crate) fn write_into_section(
    map: &mut MapSpec,
    var: &VariableSpec,
    value: &[u8],
) -> Result<(), SetError> {
    let range = var.range();
    let outside = |map: &MapSpec| SetError::OutsideSection {
        name: var.name.to_string(),
        map: map.name.to_string(),
        offset: var.offset,
        size: var.size,
    };
    debug_assert_eq!(value.len(), range.len());
    let capacity = if map.map_type == super::MapType::Arena {
        match map.contents.first().map(|e| &e.value) {
            Some(MapValue::Bytes(globals)) => globals.len(),
            _ => 0,
        }
    } else {
        map.value_size as usize
    };
    if range.end > capacity {
        return Err(outside(map));
    }
    match map.contents.first() {
        None => {}
        Some(super::MapEntry {
            value: MapValue::Bytes(bytes),
            ..
        }) if bytes.len() >= range.end => {}
        Some(_) => return Err(outside(map)),
    }
    if map.contents.is_empty() {
        map.contents.push(super::MapEntry {
            key: vec![0; 4],
            value: MapValue::Bytes(vec![0; map.value_size as usize]),
        });
    }
    if let MapValue::Bytes(bytes) = &mut map.contents[0].value {
        bytes[range].copy_from_slice(value);
    }
    Ok(())
}
