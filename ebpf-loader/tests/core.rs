//! CO-RE against the kernel's own engine: each program of the CO-RE fixture
//! is loaded twice, once relocated by ebpf-spec's engine (through the
//! loader) and once unrelocated with its `bpf_core_relo` records handed to
//! the kernel, which relocates it with its copy of libbpf's `relo_core.c`.
//! The kernel's tag of a program is a hash of its instructions after
//! relocation: equal tags mean the same instructions.

mod common;

use common::bpf_raw::{bpf, bpf_fd, zeroed};

use aya_obj::generated::bpf_cmd;
use common::{kernel, open_fds};
use ebpf_loader::Loader;
use ebpf_spec::btf::{Btf, Kind};
use ebpf_spec::{ByteOrder, CollectionSpec, ProgramSpec, RelocationTarget};
use std::os::fd::AsRawFd;
use zerocopy::IntoBytes;

/// The offset of `s` in the BTF blob's string section.
fn string_offset(btf: &[u8], s: &str) -> u32 {
    let u32_at = |at: usize| u32::from_le_bytes(btf[at..at + 4].try_into().unwrap());
    let (hdr_len, str_off, str_len) =
        (u32_at(4) as usize, u32_at(16) as usize, u32_at(20) as usize);
    let strings = &btf[hdr_len + str_off..hdr_len + str_off + str_len];
    let mut at = 0;
    for part in strings.split(|&b| b == 0) {
        if part == s.as_bytes() {
            return at as u32;
        }
        at += part.len() + 1;
    }
    panic!("`{s}` is not in the BTF strings")
}

/// Loads `p` unrelocated, with its CO-RE records for the kernel to apply;
/// returns the kernel's tag.
fn kernel_relocated_tag(spec: &CollectionSpec, p: &ProgramSpec, vmlinux: &Btf) -> [u8; 8] {
    let blob = &spec.btf.as_ref().unwrap().btf;
    let mut attr = zeroed();
    attr.__bindgen_anon_7.btf = blob.as_ptr() as u64;
    attr.__bindgen_anon_7.btf_size = blob.len() as u32;
    let btf = bpf_fd(bpf_cmd::BPF_BTF_LOAD, &mut attr).unwrap();

    // The programs write their results to `.bss`: point them at a map, as
    // the loader does (the kernel's tag ignores which map).
    let bss = Loader::new().create_map(&spec.maps[".bss"]).unwrap();
    let bss_fd = std::os::fd::AsFd::as_fd(bss.fd()).as_raw_fd();
    let mut insns = p.instructions.clone();
    for r in &p.relocations {
        let RelocationTarget::Data { map, offset } = &r.target else {
            panic!("{}: {:?}", p.name, r.target)
        };
        assert_eq!(map, ".bss");
        let i = r.instruction;
        let dst = insns[i].dst_reg();
        insns[i].set_regs(dst, 2); // BPF_PSEUDO_MAP_VALUE
        insns[i + 1].imm = insns[i].imm + *offset as i32;
        insns[i].imm = bss_fd;
    }
    let func: Vec<[u32; 2]> = p
        .func_info
        .iter()
        .map(|f| [f.instruction as u32, f.type_id])
        .collect();
    let lines: Vec<[u32; 4]> = p
        .line_info
        .iter()
        .map(|l| {
            [
                l.instruction as u32,
                l.file_name_off,
                l.line_off,
                l.line_col,
            ]
        })
        .collect();
    let relos: Vec<[u32; 4]> = p
        .core_relocations
        .iter()
        .map(|r| {
            [
                r.instruction as u32 * 8,
                r.type_id,
                string_offset(blob, &r.access),
                r.kind.raw(),
            ]
        })
        .collect();
    let target = p.attach_to.as_deref().unwrap();
    let attach_btf_id = vmlinux
        .find(&format!("btf_trace_{target}"), Kind::Typedef)
        .unwrap();
    let license = c"GPL";
    let mut attr = zeroed();
    // SAFETY: plain fields of the prog-load member; every buffer pointed at
    // outlives the call, with its count beside it.
    let u = unsafe { &mut attr.__bindgen_anon_3 };
    u.prog_type = p.program_type.raw();
    u.expected_attach_type = p.attach_type.unwrap().raw();
    u.insns = insns.as_bytes().as_ptr() as u64;
    u.insn_cnt = insns.len() as u32;
    u.license = license.as_ptr() as u64;
    u.prog_btf_fd = btf.as_raw_fd() as u32;
    u.func_info_rec_size = 8;
    u.func_info = func.as_ptr() as u64;
    u.func_info_cnt = func.len() as u32;
    u.line_info_rec_size = 16;
    u.line_info = lines.as_ptr() as u64;
    u.line_info_cnt = lines.len() as u32;
    u.core_relo_rec_size = 16;
    u.core_relos = relos.as_ptr() as u64;
    u.core_relo_cnt = relos.len() as u32;
    u.attach_btf_id = attach_btf_id;
    let prog = bpf_fd(bpf_cmd::BPF_PROG_LOAD, &mut attr)
        .unwrap_or_else(|e| panic!("{}: the kernel's CO-RE load failed: {e}", p.name));

    // SAFETY: `bpf_prog_info` is plain integers: all-zero is valid.
    let mut info: aya_obj::generated::bpf_prog_info = unsafe { std::mem::zeroed() };
    let mut attr = zeroed();
    attr.info.bpf_fd = prog.as_raw_fd() as u32;
    attr.info.info_len = size_of_val(&info) as u32;
    attr.info.info = &mut info as *mut _ as u64;
    let ret = bpf(bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, &mut attr).unwrap();
    assert_eq!(ret, 0);
    info.tag
}

#[test]
fn our_co_re_relocations_are_the_kernels() {
    let Some(_serial) = kernel() else { return };
    let path = format!(
        "{}/../ebpf-spec/tests/fixtures/core/core.bpfel.o",
        env!("CARGO_MANIFEST_DIR")
    );
    let spec = CollectionSpec::from_file(path).unwrap();
    let vmlinux = Btf::parse(
        &std::fs::read("/sys/kernel/btf/vmlinux").unwrap(),
        ByteOrder::NATIVE,
    )
    .unwrap();
    let fds = open_fds();
    let ours = Loader::new().load(&spec).unwrap();
    let (mut compared, mut changed_total) = (0, 0);
    for p in spec.programs.values() {
        assert!(!p.core_relocations.is_empty(), "{}", p.name);
        let tag = ours.program_info(&p.name).unwrap().tag;
        assert_eq!(
            tag,
            kernel_relocated_tag(&spec, p, &vmlinux),
            "{}: ebpf-spec's CO-RE and the kernel's differ",
            p.name
        );
        compared += p.core_relocations.len();
        // Not vacuous: against this kernel, CO-RE changes the program (the
        // fixture's local layouts differ from the kernel's).
        let local = Btf::parse(&spec.btf.as_ref().unwrap().btf, spec.byte_order).unwrap();
        let mut insns = p.instructions.clone();
        ebpf_spec::btf::relocate(
            &mut insns,
            &p.core_relocations,
            &local,
            &vmlinux,
            &mut Default::default(),
        )
        .unwrap();
        let changed = insns
            .iter()
            .zip(&p.instructions)
            .filter(|(a, b)| a != b)
            .count();
        assert!(changed > 0, "{}: CO-RE changed nothing", p.name);
        changed_total += changed;
    }
    eprintln!(
        "{compared} CO-RE relocations ({changed_total} instructions changed) in {} programs \
         agree with the kernel's",
        spec.programs.len()
    );
    drop(ours);
    assert_eq!(open_fds(), fds);
}

fn core_fixture() -> CollectionSpec {
    let path = format!(
        "{}/../ebpf-spec/tests/fixtures/core/core.bpfel.o",
        env!("CARGO_MANIFEST_DIR")
    );
    CollectionSpec::from_file(path).unwrap()
}

#[test]
fn an_unsupported_relocation_is_refused_before_any_syscall() {
    use ebpf_loader::{Step, fault_injection};
    let Some(_serial) = kernel() else { return };
    let mut spec = core_fixture();
    let p = spec.programs.get_mut("types").unwrap();
    p.core_relocations[2].kind = ebpf_spec::btf::CoreRelocationKind::Unknown(99);
    fault_injection::count_calls();
    let e = Loader::new().load(&spec).unwrap_err();
    assert_eq!(fault_injection::calls(), 0, "{e}");
    assert_eq!(e.program(), "types");
    assert_eq!(e.step(), Some(Step::Link));
    let msg = e.to_string();
    assert!(msg.contains("CO-RE relocation #2"), "{msg}");
    assert!(msg.contains("relocation kind 99 is not supported"), "{msg}");
}

#[test]
fn a_reachable_poisoned_instruction_is_named() {
    use ebpf_spec::btf::CoreRelocationKind;
    let Some(_serial) = kernel() else { return };
    let mut spec = core_fixture();
    let local = Btf::parse(&spec.btf.as_ref().unwrap().btf, spec.byte_order).unwrap();
    let missing = local.find("task_struct___missing", Kind::Struct).unwrap();
    // Without its existence checks relocated, clang's local answer (it
    // exists) stays, and the read of the missing field is reached.
    let p = spec.programs.get_mut("fields").unwrap();
    p.core_relocations
        .retain(|r| !(r.kind == CoreRelocationKind::FieldExists && r.type_id == missing));
    spec.programs.retain(|n, _| n == "fields");
    let e = Loader::new().load(&spec).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("unknown#195896080"), "{msg}");
    assert!(
        msg.contains("the kernel lacks what CO-RE relocated"),
        "{msg}"
    );
    assert!(msg.contains("task_struct___missing"), "{msg}");
}

/// `Loader::core_step_budget` bounds the CO-RE work of one spec's programs
/// together: far too small a budget fails at the link step, before any
/// syscall, naming the budget; a budget the fixture fits loads.
#[test]
fn the_core_step_budget_bounds_a_load() {
    use ebpf_loader::{Step, fault_injection};
    let Some(_serial) = kernel() else { return };
    let spec = core_fixture();
    fault_injection::count_calls();
    let e = Loader::new().core_step_budget(50).load(&spec).unwrap_err();
    assert_eq!(fault_injection::calls(), 0, "{e}");
    assert_eq!(e.step(), Some(Step::Link));
    let msg = e.to_string();
    assert!(msg.contains("step budget"), "{msg}");
    // The fixture takes about 2,200 steps against this machine's kernel.
    Loader::new().core_step_budget(1 << 20).load(&spec).unwrap();
}

/// A function with CO-RE relocations called by two programs is relocated
/// once per load, as libbpf does, not once per caller: a step budget that
/// holds its relocations once, but not twice, links both callers.
#[test]
fn a_function_two_programs_call_is_relocated_once() {
    use ebpf_spec::btf::{CORE_STEP_BUDGET, CoreCandidateCache, CoreStepBudget, relocate_within};
    let Some(_serial) = kernel() else { return };
    let mut spec = core_fixture();
    let mut shared = spec.programs.remove("types").unwrap();
    assert!(!shared.core_relocations.is_empty());

    // What its relocations take, once.
    let vmlinux = Btf::parse(
        &std::fs::read("/sys/kernel/btf/vmlinux").unwrap(),
        ByteOrder::NATIVE,
    )
    .unwrap();
    let local = Btf::parse(&spec.btf.as_ref().unwrap().btf, spec.byte_order).unwrap();
    let mut budget = CoreStepBudget::default();
    relocate_within(
        &mut shared.instructions.clone(),
        &shared.core_relocations,
        &local,
        &vmlinux,
        &mut CoreCandidateCache::new(),
        &mut budget,
    )
    .unwrap();
    let once = CORE_STEP_BUDGET - budget.remaining();

    // `shared` becomes a function that two programs call (`call shared;
    // exit`), the fixture's other programs gone.
    shared.name = "shared".into();
    spec.functions.insert("shared".into(), shared);
    spec.programs.clear();
    for name in ["caller_a", "caller_b"] {
        let p = common::caller(
            name,
            "tp_btf/sched_process_exec",
            common::call_and_exit(),
            0,
            "shared",
        );
        spec.programs.insert(name.into(), p);
    }

    // Relocated once, the callers get past the link step (the verifier
    // may still have its say on this hand-made pair).
    if let Err(e) = Loader::new().core_step_budget(once + once / 2).load(&spec) {
        assert!(!e.to_string().contains("step budget"), "{e}");
    }
    // And the budget is really what is spent: under `once`, linking fails.
    let e = Loader::new()
        .core_step_budget(once - 1)
        .load(&spec)
        .unwrap_err();
    assert!(e.to_string().contains("step budget"), "{e}");
}

/// Relocated once, a function's poisoned instructions are still reported for
/// each program that reaches them: of two callers of one function whose
/// field check was removed (so a read of a field the kernel lacks is
/// poisoned), the one that makes the call is refused, naming the field's
/// type; the one that jumps over it is not the one named.
#[test]
fn poisoned_instructions_of_a_shared_function_reach_its_callers() {
    use ebpf_spec::Instruction;
    use ebpf_spec::btf::CoreRelocationKind;
    let Some(_serial) = kernel() else { return };
    let mut spec = core_fixture();
    let local = Btf::parse(&spec.btf.as_ref().unwrap().btf, spec.byte_order).unwrap();
    let missing = local.find("task_struct___missing", Kind::Struct).unwrap();
    let mut shared = spec.programs.remove("fields").unwrap();
    shared
        .core_relocations
        .retain(|r| !(r.kind == CoreRelocationKind::FieldExists && r.type_id == missing));
    shared.name = "shared".into();
    shared.func_info.clear();
    shared.line_info.clear();
    spec.functions.insert("shared".into(), shared);
    spec.programs.clear();
    // caller_a jumps over its call (r0 = 0; if r0 == 0 goto +1; call; r0 =
    // 0; exit), caller_b makes it.
    let mov = Instruction::new(0xb7, 0, 0, 0, 0);
    let jeq = Instruction::new(0x15, 0, 0, 1, 0);
    let call = Instruction::new(0x85, 0, 1, 0, -1);
    let exit = Instruction::new(0x95, 0, 0, 0, 0);
    for (name, code, at) in [
        ("caller_a", vec![mov, jeq, call, mov, exit], 2),
        ("caller_b", vec![call, exit], 0),
    ] {
        let p = common::caller(name, "tp_btf/sched_process_exec", code, at, "shared");
        spec.programs.insert(name.into(), p);
    }
    let e = Loader::new().load(&spec).unwrap_err();
    let msg = e.to_string();
    assert_eq!(e.program(), "caller_b", "{msg}");
    assert!(msg.contains("task_struct___missing"), "{msg}");
}
