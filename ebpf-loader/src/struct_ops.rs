//! `struct_ops` maps: a structure of callbacks the kernel calls
//! (`tcp_congestion_ops`, `sched_ext_ops` ...), made of BPF programs.
//!
//! As libbpf does it: the map's value is the kernel's `bpf_struct_ops_<name>`
//! wrapper, whose `data` member is the kernel's structure. Each member of the
//! object's structure is copied to the kernel's member of the same name (the
//! layouts may differ); function-pointer members get the fd of the program
//! the object set them to, and those programs are loaded with the kernel
//! structure's BTF id as `attach_btf_id` and the member's index as expected
//! attach type. Writing the value registers the structure (for a
//! `.struct_ops.link` map, a BPF link does): that is
//! [`Collection::attach_struct_ops`](crate::Collection::attach_struct_ops).

use crate::error::LoadError;
use ebpf_spec::btf::{Btf, Kind, Member, TypeData, essential_name};
use ebpf_spec::{MapSpec, StructOps};
use std::collections::HashMap;

/// A struct_ops map made ready for the running kernel.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The kernel's `bpf_struct_ops_<name>` (the map's value type) in vmlinux.
    pub value_type_id: u32,
    /// Its size: the map's value size.
    pub value_size: u32,
    /// The map's value with every member copied; function pointers are 0.
    pub value: Vec<u8>,
    /// The byte offset in `value` of each function pointer set to a program,
    /// and that program's name.
    pub slots: Vec<(usize, String)>,
    /// A `.struct_ops.link` map (`BPF_F_LINK`), registered through a link.
    /// The loader creates struct_ops maps itself (never from a pin or a
    /// replacement), so the spec's flags are the kernel's.
    pub link: bool,
}

/// Where a struct_ops program attaches: the kernel structure's BTF id and
/// the index of its member, and the map member that asked for it (for
/// errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attach {
    pub btf_id: u32,
    pub member: u32,
    pub by: String,
}

/// Prepares struct_ops map `m` (whose value is `ops`, described by type
/// `m.btf_value_type_id` of the object's BTF `local`) for `kernel`, and
/// records in `attach` where each of its programs attaches.
pub(crate) fn plan(
    m: &MapSpec,
    ops: &StructOps,
    local: &Btf,
    kernel: &Btf,
    attach: &mut HashMap<String, Attach>,
) -> Result<Plan, LoadError> {
    let invalid = |what: String| LoadError::Invalid {
        map: m.name.to_string(),
        what,
    };
    // A flavour (`tcp_congestion_ops___v2`) names the same kernel struct.
    let name = essential_name(&ops.type_name);
    let kern_id = kernel.find(name, Kind::Struct).ok_or_else(|| {
        invalid(format!(
            "the kernel's BTF (vmlinux) has no struct `{name}`: this kernel has no such \
             struct_ops (those of kernel modules are not supported)"
        ))
    })?;
    let wrapper = format!("bpf_struct_ops_{name}");
    let value_type_id = kernel.find(&wrapper, Kind::Struct).ok_or_else(|| {
        invalid(format!(
            "the kernel's BTF has no struct `{wrapper}`: `{name}` cannot be made of BPF programs here"
        ))
    })?;
    let kernel_err = |e: ebpf_spec::btf::BtfError| invalid(format!("the kernel's BTF: {e}"));
    let value_size = kernel.size_of(value_type_id).map_err(kernel_err)?;
    let data_offset = members(kernel, value_type_id)
        .and_then(|ms| ms.into_iter().find(|m| m.name == Some("data")))
        .map(|m| m.bit_offset as usize / 8)
        .ok_or_else(|| invalid(format!("the kernel's `{wrapper}` has no member `data`")))?;
    let kern_members = members(kernel, kern_id)
        .ok_or_else(|| invalid(format!("the kernel's `{name}` is not a struct")))?;
    let local_members = members(local, m.btf_value_type_id).ok_or_else(|| {
        invalid(format!(
            "BTF type {} of the object is not the struct `{name}`",
            m.btf_value_type_id
        ))
    })?;
    if ops.data.len() != m.value_size as usize {
        return Err(invalid(format!(
            "its value holds {} bytes, its value_size is {}",
            ops.data.len(),
            m.value_size
        )));
    }
    // By name, once (structs may have thousands of members).
    let kern_index: HashMap<&str, usize> = kern_members
        .iter()
        .enumerate()
        .rev()
        .filter_map(|(k, m)| Some((m.name?, k)))
        .collect();
    let local_names: std::collections::HashSet<&str> =
        local_members.iter().filter_map(|m| m.name).collect();
    for member in ops.programs.keys() {
        if !local_names.contains(member.as_str()) {
            return Err(invalid(format!(
                "`{name}` of the object has no member `{member}` to set to program `{}`",
                ops.programs[member]
            )));
        }
    }

    let mut value = vec![0; value_size as usize];
    let mut slots = Vec::new();
    for &Member {
        name: member,
        ty,
        bit_offset: bits,
        bitfield_size: bitfield,
        ..
    } in &local_members
    {
        let at = bits as usize / 8;
        let size = local
            .size_of(ty)
            .map_err(|e| invalid(format!("member `{}`: {e}", member.unwrap_or(""))))?
            as usize;
        let bytes = ops.data.get(at..at + size).ok_or_else(|| {
            invalid(format!(
                "member `{}` ({size} bytes at {at}) lies outside the value",
                member.unwrap_or("")
            ))
        })?;
        // Members are matched by name: an anonymous one (an embedded union
        // or struct) matches nothing, and may only be left zero.
        let Some(member) = member else {
            if bytes.iter().any(|&b| b != 0) {
                return Err(invalid(format!(
                    "an anonymous member at byte {at} is set, and members are matched by name"
                )));
            }
            continue;
        };
        let program = ops.programs.get(member);
        // The index among all of the kernel struct's members, anonymous
        // ones included: the kernel checks it against the program's
        // expected attach type.
        let Some(&k) = kern_index.get(member) else {
            // libbpf's rule (bpf_map__init_kern_struct_ops): a member the
            // kernel lacks is left out while its bytes are zero, a callback
            // set to a program included: one object then runs on kernels
            // with and without that callback. The program is not loaded for
            // this map (no `attach` entry); only if another created map uses it.
            if bytes.iter().all(|&b| b == 0) {
                continue;
            }
            return Err(invalid(format!(
                "member `{member}` is set, but the kernel's `{name}` has no such member"
            )));
        };
        let Member {
            ty: kern_ty,
            bit_offset: kern_bits,
            bitfield_size: kern_bitfield,
            ..
        } = kern_members[k];
        if bitfield != 0 || kern_bitfield != 0 || bits % 8 != 0 || kern_bits % 8 != 0 {
            return Err(invalid(format!(
                "member `{member}` is a bitfield, which struct_ops maps cannot set"
            )));
        }
        let kern_at = data_offset + kern_bits as usize / 8;
        let kern_size = kernel.size_of(kern_ty).map_err(kernel_err)? as usize;
        if kern_at + kern_size > value.len() {
            return Err(invalid(format!(
                "the kernel's member `{member}` lies outside `{wrapper}`"
            )));
        }
        let local_fn = local.is_func_pointer(ty);
        let kern_fn = kernel.is_func_pointer(kern_ty);
        if local_fn != kern_fn {
            return Err(invalid(format!(
                "member `{member}` is {} in the object but {} in the kernel",
                if local_fn {
                    "a function pointer"
                } else {
                    "data"
                },
                if kern_fn {
                    "a function pointer"
                } else {
                    "data"
                },
            )));
        }
        if kern_fn {
            if kern_size != 8 {
                return Err(invalid(format!(
                    "the kernel's member `{member}` is a {kern_size}-byte pointer, not 8"
                )));
            }
            if program.is_none() && bytes.iter().any(|&b| b != 0) {
                return Err(invalid(format!(
                    "member `{member}` holds a value but no program: a function pointer \
                     of a struct_ops map is set to one of the object's programs or left 0"
                )));
            }
            if let Some(program) = program {
                let want = Attach {
                    btf_id: kern_id,
                    member: k as u32,
                    by: format!("{}.{member}", m.name),
                };
                match attach.get(program.as_str()) {
                    Some(a) if (a.btf_id, a.member) != (want.btf_id, want.member) => {
                        return Err(invalid(format!(
                            "program `{program}` is set as `{}` and as `{}`: a struct_ops \
                             program attaches to one member of one struct",
                            a.by, want.by
                        )));
                    }
                    Some(_) => {}
                    None => {
                        attach.insert(program.to_string(), want);
                    }
                }
                slots.push((kern_at, program.to_string()));
            }
            continue;
        }
        if size != kern_size {
            return Err(invalid(format!(
                "member `{member}` is {size} bytes in the object but {kern_size} in the kernel"
            )));
        }
        value[kern_at..kern_at + size].copy_from_slice(bytes);
    }
    Ok(Plan {
        value_type_id,
        value_size,
        value,
        slots,
        link: m.flags.contains(ebpf_spec::MapFlags::LINK),
    })
}

/// The members of struct `id`, in order (anonymous ones have no name:
/// libbpf matches members by name, and counts every member in the index
/// the kernel checks); `None` if it is not a struct.
fn members(btf: &Btf, id: u32) -> Option<Vec<Member<'_>>> {
    let resolved = btf.skip_mods_and_typedefs(id).ok()?;
    match btf.ty(resolved)?.data() {
        TypeData::Struct(ms) => Some(ms.iter().collect()),
        _ => None,
    }
}

/// The map's value with the programs' fds in their slots (`fd_of` gives
/// the fd of a program by name).
pub(crate) fn value_with_fds(
    plan: &Plan,
    fd_of: impl Fn(&str) -> Option<i32>,
) -> Result<Vec<u8>, String> {
    let mut value = plan.value.clone();
    for (at, program) in &plan.slots {
        let fd = fd_of(program).ok_or_else(|| format!("program `{program}` was not loaded"))?;
        value[*at..*at + 8].copy_from_slice(&u64::from(fd as u32).to_ne_bytes());
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebpf_spec::{ByteOrder, MapType, Name};

    /// A little-endian BTF blob of `types` (raw `u32` words) and `strings`.
    fn blob(types: &[u32], strings: &[u8]) -> Vec<u8> {
        let types: Vec<u8> = types.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut out = Vec::new();
        out.extend_from_slice(&0xeb9fu16.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        for word in [
            24,
            0,
            types.len() as u32,
            types.len() as u32,
            strings.len() as u32,
        ] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&types);
        out.extend_from_slice(strings);
        out
    }

    const STRINGS: &[u8] = b"\0int\0a\0demo_ops\0cb\0bpf_struct_ops_demo_ops\0data\0";
    const INT: u32 = 1;
    const A: u32 = 5;
    const DEMO_OPS: u32 = 7;
    const CB: u32 = 16;
    const WRAPPER: u32 = 19;
    const DATA: u32 = 43;

    fn info(kind: u32, vlen: u32) -> u32 {
        (kind << 24) | vlen
    }

    /// For the kernel: `struct demo_ops { union { int a; }; void
    /// (*cb)(void); }` (16 bytes) and its `bpf_struct_ops_demo_ops` wrapper
    /// (`data` at byte 16). For the object: `struct demo_ops { void
    /// (*cb)(void); }` (8 bytes, no anonymous member), or the kernel's
    /// struct (`anonymous`).
    fn btf(kernel: bool, anonymous: bool) -> Btf {
        let mut types = Vec::new();
        types.extend([0, info(1, 0), 4, 32]); // [1] int
        types.extend([0, info(13, 0), 0]); // [2] void (*)(void)
        types.extend([0, info(2, 0), 2]); // [3] pointer to [2]
        types.extend([0, info(5, 1), 4, A, 1, 0]); // [4] union { int a; }
        if kernel || anonymous {
            types.extend([DEMO_OPS, info(4, 2), 16, 0, 4, 0, CB, 3, 64]); // [5]
        } else {
            types.extend([DEMO_OPS, info(4, 1), 8, CB, 3, 0]); // [5]
        }
        if kernel {
            types.extend([WRAPPER, info(4, 1), 32, DATA, 5, 128]); // [6]
        }
        assert_eq!(STRINGS[INT as usize..INT as usize + 4], *b"int\0");
        Btf::parse(&blob(&types, STRINGS), ByteOrder::Little).unwrap()
    }

    fn spec(type_name: &str, data: Vec<u8>) -> (MapSpec, StructOps) {
        let size = data.len() as u32;
        let mut m = MapSpec::new("demo", MapType::StructOps, 4, size, 1);
        m.btf_value_type_id = 5;
        let ops = StructOps {
            type_name: type_name.into(),
            data,
            programs: [("cb", Name::from("prog"))].into(),
        };
        (m, ops)
    }

    #[test]
    fn the_member_index_counts_anonymous_members_and_flavours_are_stripped() {
        // The object's struct has no anonymous member: the index is the
        // kernel's, not the object's.
        let (kernel, local) = (btf(true, false), btf(false, false));
        for name in ["demo_ops", "demo_ops___v2"] {
            let (m, ops) = spec(name, vec![0; 8]);
            let mut attach = HashMap::new();
            let plan = plan(&m, &ops, &local, &kernel, &mut attach).unwrap();
            assert_eq!((plan.value_type_id, plan.value_size), (6, 32));
            // `cb` is the kernel struct's member 1 (the union is member 0).
            let a = &attach["prog"];
            assert_eq!((a.btf_id, a.member), (5, 1), "{name}");
            assert_eq!(a.by, "demo.cb");
            assert_eq!(plan.slots, [(16 + 8, "prog".to_owned())]);
        }
    }

    #[test]
    fn a_set_anonymous_member_is_refused() {
        let (kernel, local) = (btf(true, false), btf(false, true));
        let mut data = vec![0; 16];
        data[0] = 1; // the union's `a`
        let (m, ops) = spec("demo_ops", data);
        let e = plan(&m, &ops, &local, &kernel, &mut HashMap::new()).unwrap_err();
        assert!(
            e.to_string()
                .contains("an anonymous member at byte 0 is set"),
            "{e}"
        );
    }
}
