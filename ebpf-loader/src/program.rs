//! Programs: linking a `ProgramSpec` into the instructions the kernel loads
//! (once per spec, shared by every instance), then loading them with each
//! instance's map fds.

use crate::kernel;
use crate::sys;
use crate::{LoadError, Step};
use ebpf_spec::btf::{Btf, CoreCandidateCache, CoreStepBudget, Kind, Linkage, TypeData};
use ebpf_spec::{
    AttachType, CollectionSpec, Instruction, ProgramSpec, ProgramType, RelocationTarget,
};
use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use zerocopy::{Immutable, IntoBytes};

/// `src_reg` of an `ld_imm64` that loads a map by fd (`BPF_PSEUDO_MAP_FD`).
const PSEUDO_MAP_FD: u8 = 1;
/// `src_reg` of an `ld_imm64` that loads the address of a map value
/// (`BPF_PSEUDO_MAP_VALUE`): fd in the first `imm`, offset in the second.
const PSEUDO_MAP_VALUE: u8 = 2;
/// `src_reg` of a call to a kernel function by its BTF id
/// (`BPF_PSEUDO_KFUNC_CALL`).
const PSEUDO_KFUNC_CALL: u8 = 2;
/// `src_reg` of an `ld_imm64` of a kernel variable (or function) by its BTF
/// id (`BPF_PSEUDO_BTF_ID`).
const PSEUDO_BTF_ID: u8 = 3;
/// How the verifier names a call of a CO-RE-poisoned instruction
/// (`call 0xbad2310`).
const POISONED_CALL: &str = "unknown#195896080";
/// `BPF_F_SLEEPABLE`.
const F_SLEEPABLE: u32 = 1 << 4;
/// `BPF_F_XDP_HAS_FRAGS`.
const F_XDP_HAS_FRAGS: u32 = 1 << 5;
/// The verifier's log buffer for the retry after a failed load; the kernel
/// says how much it needed when this is too small, and the retry uses that.
const FIRST_LOG_SIZE: usize = 256 * 1024;
/// The most log the loader asks the kernel for.
const MAX_LOG_SIZE: usize = 64 * 1024 * 1024;

/// An instruction whose `imm` becomes a map's fd when an instance loads.
#[derive(Debug, Clone)]
struct FdSite {
    /// Index of the `ld_imm64`'s first slot.
    instruction: usize,
    /// The map, by name in the collection.
    map: String,
}

/// `struct bpf_func_info`, in the host's byte order.
#[derive(Debug, Clone, Copy, IntoBytes, Immutable)]
#[repr(C)]
struct BpfFuncInfo {
    insn_off: u32,
    type_id: u32,
}

/// `struct bpf_line_info`, in the host's byte order.
#[derive(Debug, Clone, Copy, IntoBytes, Immutable)]
#[repr(C)]
struct BpfLineInfo {
    insn_off: u32,
    file_name_off: u32,
    line_off: u32,
    line_col: u32,
}

/// What linking the programs of one spec shares: the object's BTF, parsed
/// once, and the CO-RE candidates found in the kernel's BTF.
pub(crate) struct LinkContext {
    local: Option<Btf>,
    /// The ids of the types `.ksyms` lists in `local` (the `__ksym` externs).
    ksyms: std::collections::HashSet<u32>,
    cache: CoreCandidateCache,
    /// What CO-RE type matching may still take, for all the programs of
    /// the spec.
    budget: CoreStepBudget,
    /// Each function's instructions after CO-RE, with its poisoned
    /// instructions, by the function's address in the spec: a function
    /// called by several programs is relocated once, as libbpf does.
    relocated: HashMap<usize, (Vec<Instruction>, Vec<String>)>,
    /// Whether a `__ksym` extern's declared type (local id) is compatible
    /// with the kernel's (vmlinux id), by the pair: compared once per spec.
    ksym_compat: HashMap<(u32, u32), bool>,
    /// Where the loader places each arena's `__arena` globals (offset in the
    /// arena), worked out once per load so that programs and the arena's
    /// bytes agree.
    pub(crate) arena_at: HashMap<String, u64>,
}

impl LinkContext {
    /// The object's BTF, if linking needed it parsed.
    pub(crate) fn local(&self) -> Option<&Btf> {
        self.local.as_ref()
    }

    /// For `spec`: parses its BTF when a program has CO-RE relocations or
    /// refers to `__ksym` externs (their declared types are in it).
    pub(crate) fn new(spec: &CollectionSpec, budget: CoreStepBudget) -> Result<Self, LoadError> {
        let needs = spec
            .programs
            .values()
            .chain(spec.functions.values())
            .find(|p| {
                !p.core_relocations.is_empty()
                    || p.relocations.iter().any(|r| is_ksym(spec, &r.target))
            });
        let local = match (&spec.btf, needs) {
            (Some(b), Some(p)) => Some(Btf::parse(&b.btf, spec.byte_order).map_err(|e| {
                link_err(
                    &p.name,
                    format!("the object's BTF cannot be read (for CO-RE and kernel symbols): {e}"),
                )
            })?),
            _ => None,
        };
        let ksyms = local
            .as_ref()
            .and_then(|btf| {
                let sec = btf.find(ebpf_spec::btf::KSYMS_SECTION, Kind::Datasec)?;
                match btf.ty(sec)?.data() {
                    TypeData::Datasec { vars, .. } => Some(vars.iter().map(|v| v.ty).collect()),
                    _ => None,
                }
            })
            .unwrap_or_default();
        Ok(LinkContext {
            local,
            ksyms,
            cache: CoreCandidateCache::new(),
            budget,
            relocated: HashMap::new(),
            ksym_compat: HashMap::new(),
            arena_at: HashMap::new(),
        })
    }
}

/// A program linked once per spec: everything but the instance's map fds.
#[derive(Debug)]
pub(crate) struct Linked {
    /// The program's name in the collection.
    pub name: String,
    /// The name the kernel is given (at most 15 bytes of `[A-Za-z0-9_.]`).
    kernel_name: String,
    /// The program followed by every function it calls, calls fixed up.
    insns: Vec<Instruction>,
    /// `ld_imm64`s that take a map's fd.
    fd_sites: Vec<FdSite>,
    prog_type: ProgramType,
    expected_attach_type: Option<AttachType>,
    /// For a struct_ops program: the index of the member it implements,
    /// which the kernel takes as its expected attach type.
    struct_ops_member: Option<u32>,
    attach_btf_id: u32,
    prog_flags: u32,
    license: CString,
    kern_version: u32,
    /// `bpf_func_info` records of the program and the functions appended,
    /// when every one of them has its own.
    func_info: Vec<BpfFuncInfo>,
    /// `bpf_line_info` records, likewise.
    line_info: Vec<BpfLineInfo>,
    /// Instructions CO-RE poisoned (the target kernel lacks what they read):
    /// fine unless the verifier finds one reachable.
    poisoned: Vec<String>,
    /// Weak kfuncs the kernel lacks, by the index their poisoned calls carry
    /// (`POISON_KFUNC_BASE + index`).
    missing_kfuncs: Vec<String>,
}

impl Linked {
    /// How many 8-byte instruction slots the program has after linking.
    pub fn len(&self) -> usize {
        self.insns.len()
    }
}

/// Everything that makes a program unloadable, found before any syscall.
fn link_err(program: &str, what: impl Into<String>) -> LoadError {
    LoadError::Program {
        program: program.to_owned(),
        step: Step::Link,
        source: None,
        log: None,
        what: what.into(),
    }
}

/// Links `prog`: appends every function it calls (transitively, each once)
/// and points the calls at them, and records which instructions take which
/// map's fd. Data-section references get their offset now; their fd later.
pub(crate) fn link(
    spec: &CollectionSpec,
    prog: &ProgramSpec,
    ctx: &mut LinkContext,
    target: Option<&ProgramTarget>,
    struct_ops: Option<&crate::struct_ops::Attach>,
) -> Result<Linked, LoadError> {
    let err = |what: String| link_err(&prog.name, what);
    if prog.program_type == ProgramType::Unspec {
        return Err(err(format!(
            "section `{}` names no program type libbpf knows; set `program_type` in the spec",
            prog.section
        )));
    }
    if let ProgramType::Unknown(raw) = prog.program_type.canonical() {
        return Err(err(format!("unknown program type {raw}")));
    }
    let license = CString::new(prog.license.as_bytes())
        .map_err(|_| err("the license contains a NUL byte".into()))?;

    // Lay out the program and, breadth first, every function it reaches.
    let mut parts: Vec<&ProgramSpec> = vec![prog];
    let mut starts: HashMap<&str, usize> = HashMap::from([(prog.name.as_str(), 0)]);
    let mut len = prog.instructions.len();
    let mut next = 0;
    while let Some(&f) = parts.get(next) {
        next += 1;
        for callee in f.calls() {
            if starts.contains_key(callee) {
                continue;
            }
            let g = spec
                .functions
                .get(callee)
                .or_else(|| spec.programs.get(callee))
                .ok_or_else(|| {
                    err(format!(
                        "`{}` calls `{callee}`, which the collection does not have",
                        f.name
                    ))
                })?;
            starts.insert(&g.name, len);
            len = len.saturating_add(g.instructions.len());
            parts.push(g);
        }
    }
    if len > u32::MAX as usize / 8 {
        return Err(err(format!("{len} instructions is more than bpf(2) takes")));
    }

    let mut insns = Vec::with_capacity(len);
    for f in &parts {
        insns.extend_from_slice(&f.instructions);
    }

    // CO-RE first, on each function's own instructions: its records count
    // from its start.
    let mut poisoned = Vec::new();
    for f in &parts {
        if f.core_relocations.is_empty() {
            continue;
        }
        let base = starts[f.name.as_str()];
        let local = ctx.local.as_ref().ok_or_else(|| {
            err(format!(
                "`{}` has CO-RE relocations but the object has no BTF",
                f.name
            ))
        })?;
        let key = std::ptr::from_ref::<ProgramSpec>(f) as usize;
        if !ctx.relocated.contains_key(&key) {
            let target = kernel::vmlinux().map_err(|what| err(format!("CO-RE: {what}")))?;
            let mut code = f.instructions.clone();
            let report = ebpf_spec::btf::relocate_within(
                &mut code,
                &f.core_relocations,
                local,
                target,
                &mut ctx.cache,
                &mut ctx.budget,
            )
            .map_err(|e| err(format!("in `{}`: {e}", f.name)))?;
            let notes = report.poisoned.iter().map(|p| format!("`{}` {p}", f.name));
            ctx.relocated.insert(key, (code, notes.collect()));
        }
        let (code, notes) = &ctx.relocated[&key];
        insns[base..base + code.len()].copy_from_slice(code);
        poisoned.extend(notes.iter().cloned());
    }

    // func_info and line_info, when every function brings its own (the
    // kernel wants one func_info per function, and line info from each
    // function's first instruction).
    let mut func_info = Vec::new();
    let mut line_info = Vec::new();
    let complete = |records: &dyn Fn(&ProgramSpec) -> Option<usize>| {
        parts.iter().all(|f| records(f) == Some(0))
    };
    if complete(&|f| f.func_info.first().map(|r| r.instruction)) {
        for f in &parts {
            let base = starts[f.name.as_str()];
            func_info.extend(f.func_info.iter().map(|r| BpfFuncInfo {
                insn_off: (base + r.instruction) as u32,
                type_id: r.type_id,
            }));
        }
    }
    if complete(&|f| f.line_info.first().map(|r| r.instruction)) {
        for f in &parts {
            let base = starts[f.name.as_str()];
            line_info.extend(f.line_info.iter().map(|r| BpfLineInfo {
                insn_off: (base + r.instruction) as u32,
                file_name_off: r.file_name_off,
                line_off: r.line_off,
                line_col: r.line_col,
            }));
        }
    }
    let mut fd_sites = Vec::new();
    let mut missing_kfuncs = Vec::new();
    for f in &parts {
        let base = starts[f.name.as_str()];
        for r in &f.relocations {
            let at = |what: &str| {
                format!(
                    "relocation at instruction {} of `{}` ({what})",
                    r.instruction, f.name
                )
            };
            if r.instruction >= f.instructions.len() {
                return Err(err(at(&format!(
                    "past the end: the function has {} instructions",
                    f.instructions.len()
                ))));
            }
            let i = base + r.instruction;
            let wide = |insns: &[Instruction]| {
                if insns[i].is_ld_imm64() && r.instruction + 1 < f.instructions.len() {
                    Ok(())
                } else {
                    Err(err(at("expected a complete ld_imm64")))
                }
            };
            match &r.target {
                RelocationTarget::Call { function } => {
                    let target = starts[function.as_str()];
                    let rel = target as i64 - i as i64 - 1;
                    let imm = i32::try_from(rel).map_err(|_| err(at("call too far")))?;
                    if insns[i].is_ld_imm64() {
                        wide(&insns)?;
                        set_src(&mut insns[i], Instruction::PSEUDO_FUNC);
                        insns[i].imm = imm;
                        insns[i + 1].imm = 0;
                    } else if insns[i].code == Instruction::CALL {
                        insns[i].set_regs(0, Instruction::PSEUDO_CALL);
                        insns[i].imm = imm;
                    } else {
                        return Err(err(at(&format!(
                            "a function reference on opcode {:#04x}",
                            insns[i].code
                        ))));
                    }
                }
                RelocationTarget::Map { map } => {
                    wide(&insns)?;
                    match spec.maps.get(map) {
                        None => {
                            return Err(err(at(&format!(
                                "map `{map}`, which the collection does not have"
                            ))));
                        }
                        Some(m) if !m.autocreate => {
                            return Err(err(at(&format!(
                                "map `{map}`, which is not created (its autocreate is false)"
                            ))));
                        }
                        Some(_) => {}
                    }
                    set_src(&mut insns[i], PSEUDO_MAP_FD);
                    fd_sites.push(FdSite {
                        instruction: i,
                        map: map.to_string(),
                    });
                }
                RelocationTarget::Data { map, offset } => {
                    wide(&insns)?;
                    data_site(
                        spec,
                        &ctx.arena_at,
                        &mut insns,
                        &mut fd_sites,
                        i,
                        map,
                        *offset,
                    )
                    .map_err(|what| err(at(&what)))?;
                }
                RelocationTarget::Extern { name, weak } => {
                    if let Some(var) = kconfig_var(spec, name) {
                        // `__kconfig` externs live in `.kconfig`, which the
                        // loader fills from the running kernel.
                        wide(&insns)?;
                        data_site(
                            spec,
                            &ctx.arena_at,
                            &mut insns,
                            &mut fd_sites,
                            i,
                            ".kconfig",
                            var.offset,
                        )
                        .map_err(|what| err(at(&what)))?;
                    } else {
                        if insns[i].is_ld_imm64() {
                            wide(&insns)?;
                        }
                        ksym_site(ctx, &mut insns, i, name, *weak, &mut missing_kfuncs)
                            .map_err(|what| err(at(&what)))?;
                    }
                }
            }
        }
    }

    let attach_err = |what: String| LoadError::Program {
        program: prog.name.to_string(),
        step: Step::AttachTarget,
        source: None,
        log: None,
        what,
    };
    let traces_functions = matches!(
        (
            prog.program_type.canonical(),
            prog.attach_type.map(AttachType::canonical)
        ),
        (
            ProgramType::Tracing,
            Some(
                AttachType::TraceFentry
                    | AttachType::TraceFexit
                    | AttachType::ModifyReturn
                    | AttachType::TraceFsession
            )
        ) | (ProgramType::Ext, _)
    );
    let attach_btf_id = match (target, needs_attach_btf_id(prog)) {
        _ if prog.program_type == ProgramType::StructOps => match (struct_ops, target) {
            (_, Some(_)) => {
                return Err(attach_err(
                    "a struct_ops program attaches to the member of a struct_ops map, not \
                     to another program"
                        .into(),
                ));
            }
            (Some(a), None) => a.btf_id,
            (None, None) => {
                return Err(attach_err(
                    "no struct_ops map of the collection sets a member to this program, so it \
                     has nothing to attach to: set its autoload to false (or remove it from the \
                     spec) to load the rest"
                        .into(),
                ));
            }
        },
        (Some(t), _) if traces_functions => t.btf_id,
        (Some(_), _) => {
            return Err(attach_err(format!(
                "a {} program ({}) cannot attach to another program: only fentry, fexit, \
                 fmod_ret and freplace programs can",
                prog.program_type, prog.section
            )));
        }
        (None, _) if prog.program_type == ProgramType::Ext => {
            return Err(attach_err(format!(
                "freplace programs replace a function of another BPF program: name it with \
                 Loader::attach_to_program(\"{}\", program_fd, \"function\")",
                prog.name
            )));
        }
        (None, Some((name, kind))) => kernel::btf_id(&name, kind).map_err(|what| {
            if traces_functions {
                attach_err(format!(
                    "{what} (to trace a function of a BPF program instead, name the program \
                     with Loader::attach_to_program)"
                ))
            } else {
                attach_err(what)
            }
        })?,
        (None, None) => 0,
    };
    let mut prog_flags = 0;
    if prog.sleepable {
        prog_flags |= F_SLEEPABLE;
    }
    if prog.section.starts_with("xdp.frags") {
        prog_flags |= F_XDP_HAS_FRAGS;
    }
    Ok(Linked {
        name: prog.name.to_string(),
        kernel_name: crate::map::kernel_name(&prog.name),
        insns,
        fd_sites,
        prog_type: prog.program_type,
        expected_attach_type: prog.attach_type,
        struct_ops_member: struct_ops
            .filter(|_| prog.program_type == ProgramType::StructOps)
            .map(|a| a.member),
        attach_btf_id,
        prog_flags,
        license,
        kern_version: prog.kernel_version,
        func_info,
        line_info,
        poisoned,
        missing_kfuncs,
    })
}

/// `.kconfig` variable `name`, if the spec has one.
fn kconfig_var<'s>(spec: &'s CollectionSpec, name: &str) -> Option<&'s ebpf_spec::VariableSpec> {
    spec.variables.get(name).filter(|v| v.section == ".kconfig")
}

/// Whether `target` is a `__ksym` extern (an extern that is not `.kconfig`).
fn is_ksym(spec: &CollectionSpec, target: &RelocationTarget) -> bool {
    matches!(target, RelocationTarget::Extern { name, .. } if kconfig_var(spec, name).is_none())
}

/// What the object declares a `__ksym` extern as.
enum Ksym {
    /// A kernel function (kfunc): its FUNC_PROTO in the object's BTF.
    Func { proto: u32 },
    /// A kernel variable of this type (after modifiers and typedefs; 0 for
    /// a typeless `extern const void x __ksym`).
    Var { ty: u32 },
}

/// The immediate of a call to weak kfunc number `n` of a program that the
/// kernel lacks (libbpf's `POISON_CALL_KFUNC_BASE`): the verifier names it
/// `unknown#<imm>` if the call is reachable.
const POISON_KFUNC_BASE: i32 = 2_002_000_000;

/// Points instruction `i` at `__ksym` extern `name` in the running kernel,
/// as libbpf does: a call becomes a kfunc call by BTF id (flavours such as
/// `bpf_foo___v2` match `bpf_foo`); an `ld_imm64` takes a kernel variable
/// (or function) by BTF id, or, for a typeless variable, its address from
/// `/proc/kallsyms`. The declared type must be compatible with the
/// kernel's. A `weak` extern the kernel lacks (or, for a function, has with
/// an incompatible prototype) becomes 0, and a call to it a poisoned call
/// (fine where `bpf_ksym_exists()` guards it): its description is pushed on
/// `missing_kfuncs`, whose index the poison carries.
///
/// Functions and variables are looked up in vmlinux's BTF only, not in
/// kernel modules'.
fn ksym_site(
    ctx: &mut LinkContext,
    insns: &mut [Instruction],
    i: usize,
    name: &str,
    weak: bool,
    missing_kfuncs: &mut Vec<String>,
) -> Result<(), String> {
    let local = ctx.local.as_ref().ok_or_else(|| {
        format!("`__ksym` extern `{name}` needs the object's BTF, and the object has none")
    })?;
    let (decl_id, decl) = local
        .ids_by_name(name)
        .find_map(|id| match local.ty(id)?.data() {
            TypeData::Func {
                proto,
                linkage: Linkage::Extern,
            } => Some((id, Ksym::Func { proto })),
            TypeData::Var {
                ty,
                linkage: Linkage::Extern,
            } => Some((
                id,
                Ksym::Var {
                    ty: local.skip_mods_and_typedefs(ty).unwrap_or(ty),
                },
            )),
            _ => None,
        })
        .ok_or_else(|| {
            format!(
                "extern `{name}` is neither a `__kconfig` variable nor a `__ksym` the object's \
                 BTF declares"
            )
        })?;
    if !ctx.ksyms.contains(&decl_id) {
        return Err(format!(
            "extern `{name}` is not in `.ksyms` (not declared `__ksym`): a symbol another object \
             should define; link the objects first"
        ));
    }
    let is_call = insns[i].code == Instruction::CALL;
    if !is_call && !insns[i].is_ld_imm64() {
        return Err(format!(
            "`__ksym` `{name}` is used by opcode {:#04x}, neither a call nor an ld_imm64",
            insns[i].code
        ));
    }
    if is_call && !matches!(decl, Ksym::Func { .. }) {
        return Err(format!(
            "`{name}` is a kernel variable, called as a function"
        ));
    }
    // A weak extern the kernel lacks: 0, and a call to it poisoned.
    let mut missing = |what: String| -> Result<(), String> {
        if !weak {
            return Err(format!("{what}; declare it `__weak` to load without it"));
        }
        if is_call {
            let n = i32::try_from(missing_kfuncs.len()).unwrap_or(i32::MAX - POISON_KFUNC_BASE);
            insns[i].set_regs(0, 0);
            insns[i].off = 0;
            insns[i].imm = POISON_KFUNC_BASE.saturating_add(n);
            missing_kfuncs.push(format!("weak kfunc `{name}`: {what}"));
        } else {
            set_src(&mut insns[i], 0);
            insns[i].imm = 0;
            insns[i + 1].imm = 0;
        }
        Ok(())
    };
    let (kind, kernel_name, local_ty) = match decl {
        Ksym::Func { proto } => (Kind::Func, ebpf_spec::btf::essential_name(name), proto),
        Ksym::Var { ty: 0 } => {
            // Typeless: an address, from kallsyms.
            match kernel::kallsyms_address(name)? {
                Some(addr) => {
                    set_src(&mut insns[i], 0);
                    insns[i].imm = addr as u32 as i32;
                    insns[i + 1].imm = (addr >> 32) as u32 as i32;
                }
                None => missing(format!("/proc/kallsyms does not list `{name}`"))?,
            }
            return Ok(());
        }
        Ksym::Var { ty } => (Kind::Var, name, ty),
    };
    let what = if kind == Kind::Func {
        "function"
    } else {
        "variable"
    };
    let vmlinux = kernel::vmlinux()?;
    let Some(id) = vmlinux.find(kernel_name, kind) else {
        let flavour = if kernel_name == name {
            String::new()
        } else {
            format!(" (for `{name}`)")
        };
        return missing(format!(
            "the kernel's BTF (vmlinux) has no {what} `{kernel_name}`{flavour} (kernel modules \
             are not searched)"
        ));
    };
    // The kernel's own type: a FUNC's prototype, a VAR's type.
    let kernel_ty = match vmlinux.ty(id).map(|t| t.data()) {
        Some(TypeData::Func { proto, .. }) => proto,
        Some(TypeData::Var { ty, .. }) => vmlinux.skip_mods_and_typedefs(ty).unwrap_or(ty),
        _ => 0,
    };
    // Compared once per spec (each use of the extern, in every program that
    // reaches it, asks the same), as libbpf resolves an extern once.
    let compatible = match ctx.ksym_compat.get(&(local_ty, kernel_ty)) {
        Some(&known) => known,
        None => {
            let known = ebpf_spec::btf::types_are_compat_within(
                local,
                local_ty,
                vmlinux,
                kernel_ty,
                &mut ctx.budget,
            )
            .map_err(|e| format!("cannot compare `{name}` with the kernel's: {e}"))?;
            ctx.ksym_compat.insert((local_ty, kernel_ty), known);
            known
        }
    };
    if !compatible {
        let mismatch = format!(
            "the object declares `{name}` as {}, but the kernel's {what} `{kernel_name}` (BTF id \
             {id}) is {}",
            describe(local, local_ty),
            describe(vmlinux, kernel_ty)
        );
        // libbpf: an incompatible weak function is a missing one; a
        // variable must match.
        return if kind == Kind::Func {
            missing(mismatch)
        } else {
            Err(mismatch)
        };
    }
    let id =
        i32::try_from(id).map_err(|_| format!("kernel BTF id {id} of `{name}` is too large"))?;
    if is_call {
        insns[i].set_regs(0, PSEUDO_KFUNC_CALL);
        insns[i].off = 0;
        insns[i].imm = id;
    } else {
        set_src(&mut insns[i], PSEUDO_BTF_ID);
        insns[i].imm = id;
        insns[i + 1].imm = 0;
    }
    Ok(())
}

/// Appends `more` to the explanation `what`.
fn also(what: &mut String, more: String) {
    if !what.is_empty() {
        what.push_str("; ");
    }
    what.push_str(&more);
}

/// A BTF type in a few words, for errors: `struct rq`, `a prototype with 3
/// parameters`.
fn describe(btf: &Btf, id: u32) -> String {
    let Some(t) = btf.ty(id) else {
        return format!("type {id}");
    };
    match t.data() {
        TypeData::Void => "void".into(),
        TypeData::FuncProto { params, .. } => {
            format!("a prototype with {} parameters", params.len())
        }
        _ => format!("{} `{}`", t.kind().name(), t.name().unwrap_or("<anon>")),
    }
}

/// Sets an instruction's source register, keeping its destination.
fn set_src(insn: &mut Instruction, src: u8) {
    let dst = insn.dst_reg();
    insn.set_regs(dst, src);
}

/// Points the `ld_imm64` at `i` at byte `offset` (plus its own `imm`) of
/// data map `map`.
#[allow(clippy::too_many_arguments)]
fn data_site(
    spec: &CollectionSpec,
    arena_at: &HashMap<String, u64>,
    insns: &mut [Instruction],
    fd_sites: &mut Vec<FdSite>,
    i: usize,
    map: &str,
    offset: u32,
) -> Result<(), String> {
    let m = spec
        .maps
        .get(map)
        .ok_or_else(|| format!("data section `{map}`, which the collection has no map for"))?;
    let off = i64::from(insns[i].imm) + i64::from(offset);
    let imm = if m.map_type == ebpf_spec::MapType::Arena {
        // An `__arena` global: at its offset among the globals, which lie
        // where the loader writes them in the arena.
        let len = crate::arena::globals(m).len();
        if off < 0 || off >= len.max(1) as i64 {
            return Err(format!(
                "offset {off} lies outside the {len} bytes of `__arena` globals of arena `{map}`"
            ));
        }
        let base = match arena_at.get(map) {
            Some(&at) => at,
            None => crate::arena::globals_offset(m, len)?,
        };
        // The kernel reads the second `imm` as an unsigned 32-bit offset.
        u32::try_from(base + off as u64)
            .map_err(|_| format!("offset {off} in arena `{map}` does not fit 32 bits"))?
            as i32
    } else {
        if off < 0 || off >= i64::from(m.value_size.max(1)) {
            return Err(format!(
                "offset {off} lies outside data section `{map}` ({} bytes)",
                m.value_size
            ));
        }
        off as i32
    };
    set_src(&mut insns[i], PSEUDO_MAP_VALUE);
    insns[i + 1].imm = imm;
    fd_sites.push(FdSite {
        instruction: i,
        map: map.to_owned(),
    });
    Ok(())
}

/// The kernel BTF type a tracing or LSM program attaches to, by name and
/// kind, as libbpf derives it from the section name.
fn needs_attach_btf_id(prog: &ProgramSpec) -> Option<(String, kernel::BtfKind)> {
    use AttachType as A;
    let target = prog.attach_to.as_deref().unwrap_or("");
    match (prog.program_type, prog.attach_type?) {
        (ProgramType::Tracing, A::TraceRawTp) => {
            Some((format!("btf_trace_{target}"), kernel::BtfKind::Typedef))
        }
        (
            ProgramType::Tracing,
            A::TraceFentry | A::TraceFexit | A::ModifyReturn | A::TraceFsession,
        ) => Some((target.to_owned(), kernel::BtfKind::Func)),
        (ProgramType::Tracing, A::TraceIter) => {
            Some((format!("bpf_iter_{target}"), kernel::BtfKind::Func))
        }
        (ProgramType::Lsm, A::LsmMac | A::LsmCgroup) => {
            Some((format!("bpf_lsm_{target}"), kernel::BtfKind::Func))
        }
        _ => None,
    }
}

/// A BPF program that a tracing or extension program attaches to, and the
/// function of it, resolved to its BTF id in that program's BTF.
#[derive(Debug)]
pub(crate) struct ProgramTarget {
    pub fd: OwnedFd,
    pub btf_id: u32,
}

impl ProgramTarget {
    /// Finds `function` in the BTF of the loaded program `fd` (which must
    /// have been loaded with BTF).
    pub(crate) fn resolve(program: &str, fd: OwnedFd, function: String) -> Result<Self, LoadError> {
        let fail = |what: String, source: Option<io::Error>| LoadError::Program {
            program: program.to_owned(),
            step: Step::AttachTarget,
            source,
            log: None,
            what,
        };
        let info = sys::prog_info(fd.as_fd(), None)
            .map_err(|e| fail("reading the target program's info".into(), Some(e)))?;
        if info.btf_id == 0 {
            return Err(fail(
                format!(
                    "the target program (id {}) was loaded without BTF, so its functions cannot be named",
                    info.id
                ),
                None,
            ));
        }
        let btf = sys::btf_get_fd_by_id(info.btf_id)
            .and_then(|b| sys::btf_data(b.as_fd()))
            .map_err(|e| {
                fail(
                    format!("reading the BTF of program id {}", info.id),
                    Some(e),
                )
            })?;
        let btf = Btf::parse(&btf, ebpf_spec::ByteOrder::NATIVE).map_err(|e| {
            fail(
                format!("the BTF of program id {} cannot be read: {e}", info.id),
                None,
            )
        })?;
        let btf_id = btf
            .find(&function, ebpf_spec::btf::Kind::Func)
            .ok_or_else(|| {
                fail(
                    format!(
                        "the target program (id {}) has no function `{function}` in its BTF",
                        info.id
                    ),
                    None,
                )
            })?;
        Ok(ProgramTarget { fd, btf_id })
    }
}

/// A program loaded into the kernel.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub fd: OwnedFd,
    pub info: sys::ProgInfo,
}

/// Loads `linked` with `maps` (by name) for its map references.
pub(crate) fn load(
    linked: &Linked,
    maps: &BTreeMap<String, OwnedFd>,
    btf: Option<BorrowedFd<'_>>,
    target: Option<BorrowedFd<'_>>,
) -> Result<Loaded, LoadError> {
    use std::os::fd::AsRawFd;
    let mut insns = linked.insns.clone();
    for site in &linked.fd_sites {
        let fd = maps
            .get(&site.map)
            .ok_or_else(|| link_err(&linked.name, format!("map `{}` was not created", site.map)))?;
        insns[site.instruction].imm = fd.as_raw_fd();
    }
    let attr = sys::ProgLoad {
        prog_type: linked.prog_type.raw(),
        expected_attach_type: linked
            .struct_ops_member
            .unwrap_or_else(|| linked.expected_attach_type.map_or(0, AttachType::raw)),
        insns: insns.as_bytes(),
        license: &linked.license,
        kern_version: linked.kern_version,
        prog_flags: linked.prog_flags,
        name: &linked.kernel_name,
        btf,
        func_info: (
            size_of::<BpfFuncInfo>() as u32,
            linked.func_info.as_slice().as_bytes(),
        ),
        line_info: (
            size_of::<BpfLineInfo>() as u32,
            linked.line_info.as_slice().as_bytes(),
        ),
        attach_btf_id: linked.attach_btf_id,
        attach_prog_fd: target,
    };
    let fail = |source: io::Error, log: Option<VerifierLog>| {
        // A call of a weak kfunc the kernel lacks was reachable: say which.
        let text = log.as_ref().map_or("", |l| l.text());
        let mut what = hint(linked, &source, !text.trim().is_empty());
        let reached: Vec<&str> = linked
            .missing_kfuncs
            .iter()
            .enumerate()
            .filter(|(n, _)| {
                let imm = i64::from(POISON_KFUNC_BASE) + *n as i64;
                text.contains(&format!("unknown#{imm}"))
            })
            .map(|(_, what)| what.as_str())
            .collect();
        if !reached.is_empty() {
            also(
                &mut what,
                format!(
                    "a call the verifier reached goes to a kfunc the kernel lacks (guard it with \
                     bpf_ksym_exists()): {}",
                    reached.join("; ")
                ),
            );
        }
        // An ld_imm64 by BTF id: the verifier looks the symbol's address up
        // in kallsyms, which lists variables only with CONFIG_KALLSYMS_ALL.
        const NO_ADDRESS: &str = "failed to find the address for kernel symbol '";
        if let Some(at) = text.find(NO_ADDRESS) {
            let rest = &text[at + NO_ADDRESS.len()..];
            let symbol = rest.split('\'').next().unwrap_or(rest);
            also(
                &mut what,
                format!(
                    "the kernel cannot find the address of `{symbol}`: kallsyms lists variables \
                     only in kernels built with CONFIG_KALLSYMS_ALL"
                ),
            );
        }
        // The verifier reached an instruction CO-RE poisoned: say which.
        if log
            .as_ref()
            .is_some_and(|l| l.text().contains(POISONED_CALL))
            && !linked.poisoned.is_empty()
        {
            also(
                &mut what,
                format!(
                    "the kernel lacks what CO-RE relocated: {}",
                    linked.poisoned.join("; ")
                ),
            );
        }
        LoadError::Program {
            program: linked.name.clone(),
            step: Step::LoadProgram,
            what,
            source: Some(source),
            log,
        }
    };
    let fd = match sys::prog_load(&attr, &mut [], 0) {
        Ok(fd) => fd,
        // Out of fds: loading it again (with the log on) cannot help.
        Err((first, _)) if matches!(first.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
            return Err(fail(first, None));
        }
        Err((first, _)) => match verifier_log(&attr) {
            Retried::Loaded(fd) => fd,
            Retried::Refused(log) => return Err(fail(first, Some(log))),
        },
    };
    let info = sys::prog_info(fd.as_fd(), None).map_err(|source| LoadError::Program {
        program: linked.name.clone(),
        step: Step::ProgramInfo,
        what: String::new(),
        source: Some(source),
        log: None,
    })?;
    Ok(Loaded { fd, info })
}

/// What loading a refused program again, with the verifier's log on, gave.
enum Retried {
    /// It loaded this time (the failure did not repeat: ENOMEM, a signal
    /// past the attempts): that is the program, as libbpf takes it.
    Loaded(OwnedFd),
    /// Refused again: why.
    Refused(VerifierLog),
}

/// Loads the program again with the verifier's log on, to say why it was
/// refused: first with a 256 KiB buffer, then with the size the kernel says
/// the whole log needs (the kernel keeps the end of the log when the buffer
/// is too small, so even the first try ends with the error).
fn verifier_log(attr: &sys::ProgLoad<'_>) -> Retried {
    let mut size = FIRST_LOG_SIZE;
    loop {
        let mut buf = vec![0u8; size];
        let needed = match sys::prog_load(attr, &mut buf, 1) {
            Ok(fd) => return Retried::Loaded(fd),
            Err((_, needed)) => needed as usize,
        };
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        let truncated = needed > size;
        if truncated && needed <= MAX_LOG_SIZE && size < needed {
            size = needed;
            continue;
        }
        return Retried::Refused(VerifierLog::new(
            String::from_utf8_lossy(&buf[..end]).into_owned(),
            truncated,
        ));
    }
}

/// What EPERM from `BPF_PROG_LOAD` of a program of type `prog_type` means,
/// for a process with capabilities `caps` (`None`: unknown). The capabilities
/// the kernel asks of that type and the process lacks are named (as
/// `bpf_prog_load` checks them); a process that lacks none is told that the
/// kernel refuses the program itself.
fn eperm_hint(prog_type: ProgramType, caps: Option<crate::kernel::Capabilities>) -> String {
    let Some(caps) = caps else {
        return "needs root, or CAP_BPF with CAP_NET_ADMIN (networking programs) and \
                CAP_PERFMON (tracing programs)"
            .into();
    };
    if !caps.initial_namespace {
        return "needs root in the initial user namespace: capabilities in a user namespace \
                of its own count for nothing with bpf(2)"
            .into();
    }
    let mut missing = Vec::new();
    if !caps.bpf {
        missing.push("CAP_BPF");
    }
    if needs_net_admin(prog_type) && !caps.net_admin {
        missing.push("CAP_NET_ADMIN");
    }
    if needs_perfmon(prog_type) && !caps.perfmon {
        missing.push("CAP_PERFMON");
    }
    if missing.is_empty() {
        return "no capability the kernel asks of this program type is missing: the kernel \
                refuses this program itself; some kernels refuse tracing programs (fentry, \
                fexit, fmod_ret, lsm) to everyone"
            .into();
    }
    format!(
        "needs root or {} (a {} program)",
        missing.join(" and "),
        prog_type.name()
    )
}

/// The program types the kernel loads only with CAP_NET_ADMIN
/// (`is_net_admin_prog_type`).
fn needs_net_admin(t: ProgramType) -> bool {
    use ProgramType as T;
    matches!(
        t.canonical(),
        T::SchedCls
            | T::SchedAct
            | T::Xdp
            | T::LwtIn
            | T::LwtOut
            | T::LwtXmit
            | T::LwtSeg6Local
            | T::SkSkb
            | T::SkMsg
            | T::FlowDissector
            | T::CgroupDevice
            | T::CgroupSock
            | T::CgroupSockAddr
            | T::CgroupSockopt
            | T::CgroupSysctl
            | T::SockOps
            | T::Ext
            | T::Netfilter
    )
}

/// The program types the kernel loads only with CAP_PERFMON
/// (`is_perfmon_prog_type`).
fn needs_perfmon(t: ProgramType) -> bool {
    use ProgramType as T;
    matches!(
        t.canonical(),
        T::Kprobe
            | T::Tracepoint
            | T::PerfEvent
            | T::RawTracepoint
            | T::RawTracepointWritable
            | T::Tracing
            | T::Lsm
            | T::StructOps
            | T::Ext
    )
}

/// What an errno from `BPF_PROG_LOAD` most likely means.
/// What the errno of a refused load means. `logged`: the verifier wrote a
/// log, so it ran and refused the program (EINVAL then comes from the
/// verifier, e.g. a GPL-only helper called under another license, not from
/// the load attributes).
fn hint(linked: &Linked, e: &io::Error, logged: bool) -> String {
    match e.raw_os_error() {
        Some(libc::EPERM) => eperm_hint(
            linked.prog_type,
            crate::kernel::Capabilities::of_this_process(),
        ),
        Some(libc::EACCES)
            if crate::kernel::Capabilities::of_this_process().is_some_and(|c| !c.perfmon) =>
        {
            "the verifier rejected the program; without CAP_PERFMON it also refuses pointer \
             arithmetic and comparisons that any program with it may do"
                .into()
        }
        Some(libc::EACCES) => "the verifier rejected the program".into(),
        Some(libc::EINVAL) if logged => "the verifier rejected the program".into(),
        Some(libc::EINVAL) => format!(
            "the kernel rejects the load attributes (type {}, expected attach type {}, attach_btf_id {})",
            linked.prog_type,
            match (linked.struct_ops_member, linked.expected_attach_type) {
                (Some(member), _) => format!("struct_ops member {member}"),
                (None, Some(a)) => a.to_string(),
                (None, None) => "none".to_owned(),
            },
            linked.attach_btf_id
        ),
        Some(libc::E2BIG) => format!("{} instructions are too many", linked.insns.len()),
        Some(libc::EMFILE | libc::ENFILE) => crate::kernel::open_files_hint(),
        _ => String::new(),
    }
}

/// The verifier's log of a refused program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierLog {
    text: String,
    truncated: bool,
}

impl VerifierLog {
    pub(crate) fn new(text: String, truncated: bool) -> Self {
        VerifierLog { text, truncated }
    }

    /// The whole log, as the kernel wrote it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// True when the log was longer than the largest buffer the loader asks
    /// for (64 MiB), so its beginning is missing.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// The last `n` non-empty lines: where the verifier says what is wrong.
    pub fn last_lines(&self, n: usize) -> Vec<&str> {
        let lines: Vec<&str> = self
            .text
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .collect();
        lines[lines.len().saturating_sub(n)..].to_vec()
    }

    /// The instruction the verifier stopped at: its index and the log's line
    /// for it (`12: (79) r1 = *(u64 *)(r2 +0)`), the last such line.
    pub fn failing_instruction(&self) -> Option<(usize, &str)> {
        self.text.lines().rev().find_map(|line| {
            let (index, rest) = line.split_once(": (")?;
            let index: usize = index.trim().parse().ok()?;
            rest.contains(')').then_some((index, line.trim_end()))
        })
    }
}

impl std::fmt::Display for VerifierLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some((_, line)) = self.failing_instruction() {
            write!(f, "at `{line}`: ")?;
        }
        f.write_str(&self.last_lines(3).join(" | "))
    }
}

#[cfg(test)]
mod tests {
    /// The hint names the capabilities the program's type needs and the
    /// process lacks (CAP_BPF alone was once said to be enough, and a
    /// process with it was told to get it).
    #[test]
    fn eperm_names_the_missing_capabilities() {
        use super::eperm_hint;
        use crate::kernel::Capabilities;
        use ebpf_spec::ProgramType as T;
        const NET_ADMIN: u64 = 1 << 12;
        const SYS_ADMIN: u64 = 1 << 21;
        const PERFMON: u64 = 1 << 38;
        const BPF: u64 = 1 << 39;
        let caps = |bits: u64| Some(Capabilities::from_effective(bits, true));
        assert_eq!(
            eperm_hint(T::SchedCls, caps(BPF)),
            "needs root or CAP_NET_ADMIN (a sched_cls program)"
        );
        assert_eq!(
            eperm_hint(T::Kprobe, caps(NET_ADMIN)),
            "needs root or CAP_BPF and CAP_PERFMON (a kprobe program)"
        );
        let none_missing = "no capability the kernel asks of this program type is missing: \
                            the kernel refuses this program itself; some kernels refuse tracing \
                            programs (fentry, fexit, fmod_ret, lsm) to everyone";
        assert_eq!(eperm_hint(T::Xdp, caps(BPF | NET_ADMIN)), none_missing);
        assert_eq!(eperm_hint(T::SocketFilter, caps(BPF)), none_missing);
        assert_eq!(eperm_hint(T::Tracing, caps(SYS_ADMIN)), none_missing);
        assert_eq!(eperm_hint(T::Tracing, caps(BPF | PERFMON)), none_missing);
        // Root of a user namespace of its own.
        let in_namespace = Some(Capabilities::from_effective(u64::MAX, false));
        assert_eq!(
            eperm_hint(T::Xdp, in_namespace),
            "needs root in the initial user namespace: capabilities in a user namespace of its \
             own count for nothing with bpf(2)"
        );
        assert_eq!(
            eperm_hint(T::Xdp, None),
            "needs root, or CAP_BPF with CAP_NET_ADMIN (networking programs) and CAP_PERFMON \
             (tracing programs)"
        );
    }

    use super::*;

    #[test]
    fn the_verifier_log_names_the_failing_instruction() {
        let log = VerifierLog::new(
            "func#0 @0\n0: R1=ctx() R10=fp0\n0: (b7) r0 = 0                        ; R0_w=0\n\
             1: (79) r1 = *(u64 *)(r2 +0)\nR2 !read_ok\nprocessed 2 insns (limit 1000000)\n"
                .into(),
            false,
        );
        assert_eq!(
            log.failing_instruction(),
            Some((1, "1: (79) r1 = *(u64 *)(r2 +0)"))
        );
        assert_eq!(
            log.last_lines(2),
            ["R2 !read_ok", "processed 2 insns (limit 1000000)"]
        );
        assert!(log.to_string().starts_with("at `1: (79)"));
        assert_eq!(
            VerifierLog::new(String::new(), false).failing_instruction(),
            None
        );
    }
}
