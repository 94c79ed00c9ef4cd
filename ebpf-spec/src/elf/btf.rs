//! The object's BTF as the ELF reader uses it: parsed once with
//! [`crate::btf::Btf`] and read through its typed views, with lookups that
//! fail in the reader's words, and the DATASEC fix-up that writes into the
//! blob the spec carries.
//!
//! The reader reads the types its maps and variables use, checking each as
//! it goes; the whole blob must be valid only for `.BTF.ext` (as it always
//! has been). The parser checks every count against the bytes present before
//! anything is allocated and bounds every walk along a chain of types, and
//! the views read through `get`: hostile input yields an error, never a
//! panic or a huge allocation.

use super::{ParseError, VarPlace};
use crate::btf::raw::{
    FUNC_GLOBAL, RawType, VAR_GLOBAL_ALLOCATED, VAR_GLOBAL_EXTERN, VAR_STATIC, VarRecord,
    VarSecinfo,
};
use crate::btf::{Btf, BtfError, Kind, Linkage, Type, TypeData, VarSecInfo};
use crate::spec::ByteOrder;
use std::collections::HashMap;
use zerocopy::FromBytes;
use zerocopy::byteorder::{BigEndian, LittleEndian};

/// The object's `.BTF`, parsed.
#[derive(Debug)]
pub(crate) struct ObjectBtf {
    btf: Btf,
    /// The first error of the checks the parser put off (a type id or string
    /// offset that does not exist...): `btf` is valid only without one.
    invalid: Option<BtfError>,
    /// The ids of the DATASECs: the reader looks them up by name, once per
    /// data section, and fixes each up.
    datasecs: Vec<u32>,
    /// The first DATASEC of each name, when there are too many to walk
    /// once per data section (an object may have thousands).
    datasec_index: Option<HashMap<Vec<u8>, u32>>,
}

/// How many DATASECs an object has before they are looked up in an index
/// rather than walked (a walk of a few costs less than building one).
const DATASEC_INDEX_FROM: usize = 64;

impl ObjectBtf {
    pub fn parse(data: &[u8], order: ByteOrder) -> Result<Self, ParseError> {
        let (btf, invalid) =
            Btf::parse_deferring_checks(data, order).map_err(|fault| btf_err(fault.terse()))?;
        let datasecs: Vec<u32> = btf
            .ids()
            .filter(|&id| btf.kind(id) == Some(Kind::Datasec))
            .collect();
        let datasec_index = (datasecs.len() > DATASEC_INDEX_FROM).then(|| {
            let mut index = HashMap::new();
            for &id in &datasecs {
                index.entry(btf.name_bytes(id).to_vec()).or_insert(id);
            }
            index
        });
        Ok(ObjectBtf {
            btf,
            invalid,
            datasecs,
            datasec_index,
        })
    }

    /// The parsed BTF, if all of it is valid (for the `.BTF.ext` parser).
    pub fn full(&self) -> Result<&Btf, ParseError> {
        match &self.invalid {
            Some(e) => Err(btf_err(e.to_string())),
            None => Ok(&self.btf),
        }
    }

    /// Type `id`; id 0 (void) is an error, as the reader always had it.
    pub fn ty(&self, id: u32) -> Result<Type<'_>, ParseError> {
        self.btf
            .ty(id)
            .filter(|_| id != 0)
            .ok_or_else(|| btf_err(format!("type id {id} does not exist")))
    }

    /// The string at `off` in the string section.
    pub fn name(&self, off: u32) -> Result<&str, ParseError> {
        let bytes = self.btf.string_bytes(off).ok_or_else(|| {
            btf_err(if off as usize >= self.btf.strings_len() {
                format!("string offset {off} is outside the string section")
            } else {
                format!("string at offset {off} is not NUL-terminated")
            })
        })?;
        std::str::from_utf8(bytes)
            .map_err(|_| btf_err(format!("string at offset {off} is not UTF-8")))
    }

    #[cfg(test)]
    pub fn type_name(&self, id: u32) -> Result<&str, ParseError> {
        self.name(self.ty(id)?.name_off())
    }

    /// The type at the end of typedef, const, volatile, restrict and type
    /// tag links from `id`: the one that has a shape.
    pub fn resolve(&self, id: u32) -> Result<Type<'_>, ParseError> {
        let t = self.btf.skip_mods(id).map_err(reader_err)?;
        self.ty(t.id())
    }

    /// Whether type `id` is a pointer to a function prototype
    /// ([`Btf::is_func_pointer`]).
    pub fn is_func_pointer(&self, id: u32) -> bool {
        self.btf.is_func_pointer(id)
    }

    /// The size in bytes of a type.
    pub fn size_of(&self, id: u32) -> Result<u32, ParseError> {
        self.btf.size_of(id).map_err(reader_err)
    }

    /// The DATASEC with this name, its id and variables, if any.
    pub fn datasec(&self, name: &str) -> Option<(u32, &[VarSecInfo])> {
        let id = match &self.datasec_index {
            Some(index) => *index.get(name.as_bytes())?,
            None => *self
                .datasecs
                .iter()
                .find(|&&id| self.btf.name_bytes(id) == name.as_bytes())?,
        };
        match self.btf.ty(id)?.data() {
            TypeData::Datasec { vars, .. } => Some((id, vars)),
            _ => None,
        }
    }

    /// The key and value type ids iproute2's `BPF_ANNOTATE_KV_PAIR(map, K,
    /// V)` gives legacy map `map`: the two members of the struct
    /// `____btf_map_<map>` it declares, if they are as large as the map's
    /// key and value. As iproute2 (`bpf_btf_find_kv`) and libbpf 0.x
    /// (`btf__get_map_kv_tids`), anything else (no such struct, another
    /// shape, other sizes) leaves the map without BTF types.
    pub fn legacy_kv(&self, map: &str, key_size: u32, value_size: u32) -> Option<(u32, u32)> {
        let id = self.btf.find(&format!("____btf_map_{map}"), Kind::Struct)?;
        let TypeData::Struct(members) = self.btf.ty(id)?.data() else {
            return None;
        };
        if members.len() != 2 {
            return None;
        }
        let (key, value) = (members.get(0)?.ty, members.get(1)?.ty);
        let fits = |ty: u32, size: u32| ty != 0 && self.btf.size_of(ty).ok() == Some(size);
        (fits(key, key_size) && fits(value, value_size)).then_some((key, value))
    }

    /// The id of the first VAR named `name`.
    pub fn var(&self, name: &str) -> Option<u32> {
        self.btf.find(name, Kind::Var)
    }

    /// Fills in what clang leaves to the loader, as libbpf does before
    /// `BPF_BTF_LOAD`: each DATASEC's size (`section_size` of its name) and
    /// its variables' offsets (`var_offset` of section and variable), and
    /// turns extern variables (`.kconfig`) into allocated globals; `.ksyms` is
    /// left as clang wrote it (see [`crate::btf::ksyms_for_kernel`]). Writes into
    /// `blob`, the bytes this BTF was parsed from, through zerocopy records
    /// (`btf_type`, `btf_var_secinfo`, `btf_var`) in the blob's byte order,
    /// at the offsets the parser found the records at.
    pub fn fixup_datasecs(
        &self,
        blob: &mut [u8],
        section_size: impl Fn(&str) -> Option<u32>,
        var_place: impl Fn(&str, &str) -> VarPlace,
    ) -> Result<(), ParseError> {
        match self.btf.byte_order() {
            ByteOrder::Little => self.fixup::<LittleEndian>(blob, section_size, var_place),
            ByteOrder::Big => self.fixup::<BigEndian>(blob, section_size, var_place),
        }
    }

    /// Marks static the first global FUNC of each name in `names` (hidden
    /// global sub-programs), as libbpf does before `BPF_BTF_LOAD`: the
    /// verifier then checks each call of it in its caller's context, as for
    /// a `static` function, instead of once on its own.
    pub fn mark_functions_static(&self, blob: &mut [u8], names: &[&str]) -> Result<(), ParseError> {
        if names.is_empty() {
            return Ok(());
        }
        let mut left: Vec<&str> = names.to_vec();
        for id in self.btf.ids() {
            let Some(t) = self.btf.ty(id) else { continue };
            let TypeData::Func {
                linkage: Linkage::Global,
                ..
            } = t.data()
            else {
                continue;
            };
            let Some(at) = left
                .iter()
                .position(|n| n.as_bytes() == self.btf.name_bytes(id))
            else {
                continue;
            };
            left.swap_remove(at);
            let record = self.record(blob, &t)?;
            match self.btf.byte_order() {
                ByteOrder::Little => set_func_static::<LittleEndian>(record, &t)?,
                ByteOrder::Big => set_func_static::<BigEndian>(record, &t)?,
            }
            if left.is_empty() {
                break;
            }
        }
        Ok(())
    }

    fn fixup<O: zerocopy::ByteOrder>(
        &self,
        blob: &mut [u8],
        section_size: impl Fn(&str) -> Option<u32>,
        var_place: impl Fn(&str, &str) -> VarPlace,
    ) -> Result<(), ParseError> {
        for &id in &self.datasecs {
            let Some(t) = self.btf.ty(id) else { continue };
            let TypeData::Datasec { vars, .. } = t.data() else {
                continue;
            };
            let sec = self.name(t.name_off())?;
            if sec == crate::btf::KSYMS_SECTION {
                // Left as declared: a loader resolves `__ksym` externs by
                // these types, then rewrites the section for the kernel
                // (`btf::ksyms_for_kernel`).
                continue;
            }
            // Which entries get which offset: decided on the parsed types,
            // then written in one pass over the record.
            let mut offsets = Vec::with_capacity(vars.len());
            for v in vars {
                let var = self.ty(v.ty)?;
                if var.kind() != Kind::Var {
                    offsets.push(None);
                    continue;
                }
                let (rec, _) = VarRecord::<O>::mut_from_prefix(self.record(blob, &var)?)
                    .map_err(|_| truncated(&var))?;
                // Statics keep the offsets clang or the linker gave them, as
                // libbpf keeps them: their names need not be unique (each
                // file linked into the object may have a `static int cnt`).
                if rec.linkage.get() == VAR_STATIC {
                    offsets.push(None);
                    continue;
                }
                let place = var_place(sec, self.name(var.name_off())?);
                offsets.push(place.offset);
                // The kernel accepts only static and allocated variables.
                if rec.linkage.get() == VAR_GLOBAL_EXTERN {
                    rec.linkage.set(VAR_GLOBAL_ALLOCATED);
                } else if place.hidden {
                    // A hidden global is the object's own, as a static is
                    // (libbpf's `btf_fixup_datasec`).
                    rec.linkage.set(VAR_STATIC);
                }
            }
            let (header, rest) =
                RawType::<O>::mut_from_prefix(self.record(blob, &t)?).map_err(|_| truncated(&t))?;
            if let Some(size) = section_size(sec) {
                header.size_or_type.set(size);
            }
            let (entries, _) = <[VarSecinfo<O>]>::mut_from_prefix_with_elems(rest, vars.len())
                .map_err(|_| truncated(&t))?;
            for (entry, offset) in entries.iter_mut().zip(offsets) {
                if let Some(offset) = offset {
                    entry.offset.set(offset);
                }
            }
            // The kernel wants a DATASEC's entries in offset order ("Invalid
            // offset" otherwise); the offsets come from the symbol table, not
            // the order clang listed the variables in. libbpf sorts too
            // (btf_fixup_datasec). Stable: equal offsets keep clang's order.
            entries.sort_by_key(|e| e.offset.get());
        }
        Ok(())
    }

    /// The record of type `t`, from its start in `blob`.
    fn record<'b>(&self, blob: &'b mut [u8], t: &Type<'_>) -> Result<&'b mut [u8], ParseError> {
        self.btf
            .record_offset(t.id())
            .and_then(|at| blob.get_mut(at..))
            .ok_or_else(|| truncated(t))
    }
}

/// Writes linkage `BTF_FUNC_STATIC` (0) into a global FUNC's record.
fn set_func_static<O: zerocopy::ByteOrder>(
    record: &mut [u8],
    t: &Type<'_>,
) -> Result<(), ParseError> {
    let (header, _) = RawType::<O>::mut_from_prefix(record).map_err(|_| truncated(t))?;
    let info = header.info.get();
    debug_assert_eq!(info & 0xffff, FUNC_GLOBAL);
    header.info.set(info & !0xffff);
    Ok(())
}

fn truncated(t: &Type<'_>) -> ParseError {
    btf_err(format!(
        "{:?} record of type {} is truncated",
        t.kind(),
        t.id()
    ))
}

fn btf_err(what: String) -> ParseError {
    ParseError::Btf { what }
}

/// A lookup's error in the reader's words.
fn reader_err(e: BtfError) -> ParseError {
    btf_err(match e {
        // Reached through a link to type 0: void, which the reader never
        // looks into.
        BtfError::NoSize {
            id,
            kind: Kind::Void,
        }
        | BtfError::NoSuchType { id, .. } => format!("type id {id} does not exist"),
        BtfError::NoSize { id, kind } => format!("type {id} ({kind:?}) has no size"),
        BtfError::TooLarge { id } => format!("type {id} is larger than 4 GiB"),
        BtfError::ChainTooLong { id, max } => {
            format!("type {id}: chain of modifiers longer than {max}")
        }
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAGIC: u16 = 0xeb9f;

    /// Builds a little BTF blob: `int` (id 1), `int *` (id 2), `int[4]` (id 3),
    /// a typedef loop (ids 4 and 5).
    fn blob() -> Vec<u8> {
        let strings = b"\0int\0loop\0".to_vec();
        let mut types = Vec::new();
        let mut push = |words: &[u32]| {
            for w in words {
                types.extend_from_slice(&w.to_le_bytes());
            }
        };
        push(&[1, 1 << 24, 4, 32]); // INT "int" size 4, encoding word
        push(&[0, 2 << 24, 1]); // PTR -> 1
        push(&[0, 3 << 24, 0, 1, 1, 4]); // ARRAY of 1, index 1, 4 elems
        push(&[5, 8 << 24, 5]); // TYPEDEF loop -> 5
        push(&[5, 8 << 24, 4]); // TYPEDEF loop -> 4
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.push(1);
        out.push(0);
        out.extend_from_slice(&24u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(types.len() as u32).to_le_bytes());
        out.extend_from_slice(&(types.len() as u32).to_le_bytes());
        out.extend_from_slice(&(strings.len() as u32).to_le_bytes());
        out.extend_from_slice(&types);
        out.extend_from_slice(&strings);
        out
    }

    #[test]
    fn sizes_names_and_loops() {
        let data = blob();
        let btf = ObjectBtf::parse(&data, ByteOrder::Little).unwrap();
        assert_eq!(btf.type_name(1).unwrap(), "int");
        assert_eq!(btf.size_of(1).unwrap(), 4);
        assert_eq!(btf.size_of(2).unwrap(), 8);
        assert_eq!(btf.size_of(3).unwrap(), 16);
        assert!(
            btf.size_of(4)
                .unwrap_err()
                .to_string()
                .contains("chain of modifiers")
        );
        assert!(btf.ty(99).is_err());
        assert!(btf.name(9999).is_err());
    }

    #[test]
    fn every_truncation_is_an_error() {
        let data = blob();
        for len in 0..data.len() {
            // Must not panic; most prefixes are errors.
            let _ = ObjectBtf::parse(&data[..len], ByteOrder::Little);
        }
        assert!(ObjectBtf::parse(&data[..10], ByteOrder::Little).is_err());
        assert!(
            ObjectBtf::parse(&data, ByteOrder::Big).is_err(),
            "wrong byte order reads a bad magic"
        );
    }
}
