//! The `.ksyms` DATASEC as the kernel accepts it.
//!
//! clang lists every `__ksym` extern of an object (kernel functions called as
//! kfuncs, kernel variables) in a DATASEC named `.ksyms`, with extern
//! linkage, a size of 0 and functions among its entries: the kernel refuses
//! all three when the object's BTF is loaded. libbpf rewrites it before
//! loading; [`ksyms_for_kernel`] does the same rewrite.

use super::raw::{
    FUNC_GLOBAL, Header, ParamRecord, RawType, VAR_GLOBAL_ALLOCATED, VarRecord, VarSecinfo,
};
use super::{Btf, BtfError, Kind, TypeData};
use crate::spec::ByteOrder;
use zerocopy::FromBytes;
use zerocopy::byteorder::{BigEndian, LittleEndian};

/// The DATASEC clang puts `__ksym` externs in.
pub const KSYMS_SECTION: &str = ".ksyms";

/// The variable every function entry of `.ksyms` is pointed at (libbpf's
/// name), and the name given to unnamed parameters of those functions.
const DUMMY_KSYM: &[u8] = b"dummy_ksym\0";

/// The bytes of a `BTF_KIND_VAR` record: `struct btf_type` and `struct btf_var`.
const VAR_RECORD_LEN: usize = 16;

/// Whether BTF `blob`'s string section holds the name `.ksyms`: a check,
/// without parsing, of whether [`ksyms_for_kernel`] may have anything to do
/// (a loader runs it on every object's BTF before loading it). `false` for a
/// blob whose header cannot be read. A name is an offset into the strings,
/// so `.ksyms` may be the tail of a longer string (`x.ksyms`): any string
/// that ends with it counts.
///
/// ```
/// use ebpf_spec::btf::mentions_ksyms;
/// let spec = ebpf_spec::CollectionSpec::from_elf(include_bytes!(
///     "../../tests/fixtures/ksyms/ksyms.bpfel.o"
/// )).unwrap();
/// assert!(mentions_ksyms(&spec.btf.unwrap().btf, spec.byte_order));
/// ```
pub fn mentions_ksyms(blob: &[u8], order: ByteOrder) -> bool {
    fn strings<O: zerocopy::ByteOrder>(blob: &[u8]) -> Option<&[u8]> {
        let (h, _) = Header::<O>::ref_from_prefix(blob).ok()?;
        let start = (h.hdr_len.get() as usize).checked_add(h.str_off.get() as usize)?;
        blob.get(start..start.checked_add(h.str_len.get() as usize)?)
    }
    let strings = match order {
        ByteOrder::Little => strings::<LittleEndian>(blob),
        ByteOrder::Big => strings::<BigEndian>(blob),
    };
    strings.is_some_and(|s| {
        s.split(|&b| b == 0)
            .any(|name| name.ends_with(KSYMS_SECTION.as_bytes()))
    })
}

/// `blob` (the bytes `btf` was parsed from) with its `.ksyms` DATASEC
/// rewritten as the kernel accepts it, or `None` if it has no `.ksyms`.
///
/// As libbpf does before `BPF_BTF_LOAD`: every variable of `.ksyms` becomes
/// an allocated global of the blob's first 32-bit `int`; every function gets
/// global linkage, a name for each unnamed parameter, and its entry points
/// at one variable `dummy_ksym` appended as the last type; entries are 4
/// bytes apart and the section is 4 bytes per entry. Every other type keeps
/// its id and its bytes, so func_info, line_info and map type ids still
/// hold.
///
/// The externs' declared types are what a loader resolves them by (a typed
/// variable, a typeless one, a function prototype): read them from `btf`,
/// which this does not change, and load the returned blob.
///
/// # Errors
/// A [`BtfError`] if `.ksyms` lists something other than variables and
/// functions, if the blob has no 32-bit integer type to stand for the
/// variables, or if `blob` is not the one `btf` was parsed from.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use ebpf_spec::btf::{ksyms_for_kernel, Btf, Kind, TypeData};
///
/// let spec = ebpf_spec::CollectionSpec::from_elf(include_bytes!(
///     "../../tests/fixtures/ksyms/ksyms.bpfel.o"
/// ))?;
/// let blob = &spec.btf.as_ref().unwrap().btf;
/// let btf = Btf::parse(blob, spec.byte_order)?;
/// let fixed = Btf::parse(&ksyms_for_kernel(&btf, blob)?.unwrap(), spec.byte_order)?;
/// let id = fixed.find(".ksyms", Kind::Datasec).unwrap();
/// let TypeData::Datasec { size, vars } = fixed.ty(id).unwrap().data() else { unreachable!() };
/// assert_eq!(size as usize, 4 * vars.len());
/// # Ok(()) }
/// ```
pub fn ksyms_for_kernel(btf: &Btf, blob: &[u8]) -> Result<Option<Vec<u8>>, BtfError> {
    let Some(sec) = btf.find(KSYMS_SECTION, Kind::Datasec) else {
        return Ok(None);
    };
    match btf.byte_order() {
        ByteOrder::Little => rewrite::<LittleEndian>(btf, blob, sec),
        ByteOrder::Big => rewrite::<BigEndian>(btf, blob, sec),
    }
    .map(Some)
}

fn rewrite<O: zerocopy::ByteOrder>(btf: &Btf, blob: &[u8], sec: u32) -> Result<Vec<u8>, BtfError> {
    let header_err = |what: &str| BtfError::Header { what: what.into() };
    let sec_ty = btf.ty_or_err(sec)?;
    let TypeData::Datasec { vars, .. } = sec_ty.data() else {
        return Err(type_err(sec, "is not a DATASEC"));
    };
    let int_id = btf
        .ids()
        .find(|&id| matches!(btf.ty(id).map(|t| t.data()), Some(TypeData::Int(i)) if i.bits == 32))
        .ok_or_else(|| {
            type_err(
                sec,
                "`.ksyms` needs a 32-bit integer type in the BTF to stand for its variables",
            )
        })?;
    let mut has_func = false;
    for v in vars {
        match btf.ty_or_err(v.ty)?.kind() {
            Kind::Var => {}
            Kind::Func => has_func = true,
            other => {
                return Err(type_err(
                    v.ty,
                    &format!(
                        "is listed in `.ksyms` but is a {}, neither a variable nor a function",
                        other.name()
                    ),
                ));
            }
        }
    }

    // The new layout: header, types (plus `dummy_ksym`), strings (plus its
    // name). Records keep their place relative to the start of the types.
    let (h, _) = Header::<O>::ref_from_prefix(blob).map_err(|_| header_err("truncated"))?;
    let hdr_len = h.hdr_len.get() as usize;
    let range = |off: u32, len: u32| {
        let start = hdr_len.checked_add(off as usize)?;
        blob.get(start..start.checked_add(len as usize)?)
    };
    let types = range(h.type_off.get(), h.type_len.get())
        .ok_or_else(|| header_err("type section outside the blob"))?;
    let strings = range(h.str_off.get(), h.str_len.get())
        .ok_or_else(|| header_err("string section outside the blob"))?;
    let types_start = hdr_len + h.type_off.get() as usize;
    // `btf` says where each record is: it must be this blob's parse.
    if hdr_len < size_of::<Header<O>>()
        || types_start != btf.types_at()
        || strings.len() != btf.strings_len()
    {
        return Err(header_err(
            "the blob is not the one the BTF was parsed from (its sections lie elsewhere)",
        ));
    }
    let dummy_id = btf.ids().end().saturating_add(1);
    let dummy_name_off =
        u32::try_from(strings.len()).map_err(|_| header_err("string section too large"))?;

    let mut out = Vec::with_capacity(blob.len() + VAR_RECORD_LEN + DUMMY_KSYM.len());
    out.extend_from_slice(blob.get(..hdr_len).unwrap_or_default());
    out.extend_from_slice(types);
    if has_func {
        let var = VarRecord::<O> {
            header: RawType {
                name_off: dummy_name_off.into(),
                info: (Kind::Var.raw() << 24).into(),
                size_or_type: int_id.into(),
            },
            linkage: VAR_GLOBAL_ALLOCATED.into(),
        };
        out.extend_from_slice(zerocopy::IntoBytes::as_bytes(&var));
    }
    let new_type_len = out.len() - hdr_len;
    out.extend_from_slice(strings);
    if has_func {
        out.extend_from_slice(DUMMY_KSYM);
    }
    let new_str_len = out.len() - hdr_len - new_type_len;
    {
        let (h, _) = Header::<O>::mut_from_prefix(&mut out).map_err(|_| header_err("truncated"))?;
        let len = |n: usize| u32::try_from(n).map_err(|_| header_err("BTF too large"));
        h.type_off.set(0);
        h.type_len.set(len(new_type_len)?);
        h.str_off.set(len(new_type_len)?);
        h.str_len.set(len(new_str_len)?);
    }

    // Where type `id`'s record now starts.
    let at = |id: u32| {
        btf.record_offset(id)
            .and_then(|o| o.checked_sub(types_start))
            .map(|o| o + hdr_len)
            .ok_or_else(|| type_err(id, "has no record where the BTF says"))
    };
    let truncated = |id: u32| type_err(id, "record is truncated");
    for v in vars {
        let t = btf.ty_or_err(v.ty)?;
        let rec = out.get_mut(at(v.ty)?..).ok_or_else(|| truncated(v.ty))?;
        match t.data() {
            TypeData::Var { .. } => {
                let (var, _) = VarRecord::<O>::mut_from_prefix(rec).map_err(|_| truncated(v.ty))?;
                var.linkage.set(VAR_GLOBAL_ALLOCATED);
                var.header.size_or_type.set(int_id);
            }
            TypeData::Func { proto, .. } => {
                let (func, _) = RawType::<O>::mut_from_prefix(rec).map_err(|_| truncated(v.ty))?;
                func.info.set((func.info.get() & !0xffff) | FUNC_GLOBAL);
                let proto_ty = btf.ty_or_err(proto)?;
                if proto_ty.kind() != Kind::FuncProto {
                    return Err(type_err(v.ty, "is a function without a FUNC_PROTO"));
                }
                let params = out
                    .get_mut(at(proto)? + size_of::<RawType<O>>()..)
                    .ok_or_else(|| truncated(proto))?;
                let (params, _) =
                    <[ParamRecord<O>]>::mut_from_prefix_with_elems(params, proto_ty.vlen())
                        .map_err(|_| truncated(proto))?;
                for p in params {
                    if p.ty.get() != 0 && p.name_off.get() == 0 {
                        p.name_off.set(dummy_name_off);
                    }
                }
            }
            _ => return Err(type_err(v.ty, "is neither a variable nor a function")),
        }
    }
    let rec = out.get_mut(at(sec)?..).ok_or_else(|| truncated(sec))?;
    let (head, rest) = RawType::<O>::mut_from_prefix(rec).map_err(|_| truncated(sec))?;
    head.size_or_type.set(4 * vars.len() as u32);
    let (entries, _) = <[VarSecinfo<O>]>::mut_from_prefix_with_elems(rest, vars.len())
        .map_err(|_| truncated(sec))?;
    for (i, (entry, v)) in entries.iter_mut().zip(vars).enumerate() {
        if btf.kind(v.ty) == Some(Kind::Func) {
            entry.ty.set(dummy_id);
        }
        entry.offset.set(4 * i as u32);
        entry.size.set(4);
    }
    Ok(out)
}

fn type_err(id: u32, what: &str) -> BtfError {
    BtfError::Type {
        id,
        what: what.into(),
    }
}
