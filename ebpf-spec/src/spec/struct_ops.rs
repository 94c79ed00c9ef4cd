//! Editing a struct_ops map's value by member name.

use super::CollectionSpec;
use crate::btf::{Btf, TypeData};

/// Why a member of a struct_ops map's value could not be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StructOpsError {
    /// The collection has no struct_ops map of this name.
    #[error("no struct_ops map named `{map}` in the collection")]
    NoSuchMap {
        /// The name asked for.
        map: String,
    },
    /// The value's struct has no member of this name.
    #[error("`{type_name}` of struct_ops map `{map}` has no member `{member}`")]
    NoSuchMember {
        /// The map.
        map: String,
        /// Its struct.
        type_name: String,
        /// The member asked for.
        member: String,
    },
    /// The member is a function pointer: those hold programs, set in
    /// [`StructOps::programs`](crate::StructOps::programs).
    #[error(
        "member `{member}` of `{map}` is a function pointer: set the program in its `programs`"
    )]
    FunctionPointer {
        /// The map.
        map: String,
        /// The member.
        member: String,
    },
    /// The value has the wrong size for the member.
    #[error("member `{member}` of `{map}` is {expected} bytes, but {got} bytes were given")]
    WrongSize {
        /// The map.
        map: String,
        /// The member.
        member: String,
        /// Its size.
        expected: usize,
        /// The size of the given value.
        got: usize,
    },
    /// The struct cannot be read from the collection's BTF (no BTF, a type
    /// that is not the struct, a bitfield member, a member outside the
    /// value).
    #[error("struct_ops map `{map}`: {what}")]
    Btf {
        /// The map.
        map: String,
        /// What is wrong.
        what: String,
    },
}

impl CollectionSpec {
    /// Sets member `member` of struct_ops map `map`'s value (a
    /// `tcp_congestion_ops`'s `name`, a `sched_ext_ops`'s `timeout_ms` ...),
    /// found by name in the collection's BTF: how a user configures a
    /// struct_ops map before loading, e.g. a name of its own per instance.
    /// `value` is in the object's layout and byte order, exactly the
    /// member's size.
    ///
    /// ```
    /// use ebpf_spec::CollectionSpec;
    ///
    /// let mut spec = CollectionSpec::from_file("tests/fixtures/struct_ops/struct_ops.bpfel.o")?;
    /// let mut name = [0u8; 16];
    /// name[..9].copy_from_slice(b"tenant_42");
    /// spec.set_struct_ops_member("spec_ca", "name", &name)?;
    /// let ops = spec.maps["spec_ca"].struct_ops().unwrap();
    /// assert!(ops.data.windows(9).any(|w| w == b"tenant_42"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// A [`StructOpsError`] if there is no such map or member, the member
    /// is a function pointer (set [`StructOps::programs`](crate::StructOps::programs)
    /// instead), `value` is not its size, or the collection's BTF does not
    /// describe the value. Nothing changes on an error.
    pub fn set_struct_ops_member(
        &mut self,
        map: &str,
        member: &str,
        value: &[u8],
    ) -> Result<(), StructOpsError> {
        let btf_err = |what: String| StructOpsError::Btf {
            map: map.to_owned(),
            what,
        };
        let m = self
            .maps
            .get_mut(map)
            .ok_or_else(|| StructOpsError::NoSuchMap {
                map: map.to_owned(),
            })?;
        let type_id = m.btf_value_type_id;
        let Some(ops) = m.struct_ops_mut() else {
            return Err(StructOpsError::NoSuchMap {
                map: map.to_owned(),
            });
        };
        let blob = self
            .btf
            .as_ref()
            .ok_or_else(|| btf_err("the collection has no BTF".into()))?;
        let btf = Btf::parse(&blob.btf, self.byte_order).map_err(|e| btf_err(e.to_string()))?;
        let members = match btf.ty(type_id).map(|t| t.data()) {
            Some(TypeData::Struct(members)) => members,
            _ => {
                return Err(btf_err(format!(
                    "its btf_value_type_id {type_id} is not a struct"
                )));
            }
        };
        let found = members
            .iter()
            .find(|m| m.name == Some(member))
            .ok_or_else(|| StructOpsError::NoSuchMember {
                map: map.to_owned(),
                type_name: ops.type_name.to_string(),
                member: member.to_owned(),
            })?;
        if found.bitfield_size != 0 || found.bit_offset % 8 != 0 {
            return Err(btf_err(format!("member `{member}` is a bitfield")));
        }
        if btf.is_func_pointer(found.ty) {
            return Err(StructOpsError::FunctionPointer {
                map: map.to_owned(),
                member: member.to_owned(),
            });
        }
        let size = btf.size_of(found.ty).map_err(|e| btf_err(e.to_string()))? as usize;
        if value.len() != size {
            return Err(StructOpsError::WrongSize {
                map: map.to_owned(),
                member: member.to_owned(),
                expected: size,
                got: value.len(),
            });
        }
        let at = found.bit_offset as usize / 8;
        let bytes = at
            .checked_add(size)
            .and_then(|end| ops.data.get_mut(at..end))
            .ok_or_else(|| btf_err(format!("member `{member}` lies outside the value")))?;
        bytes.copy_from_slice(value);
        Ok(())
    }
}
