//! `ProgramSpec`: one program's instructions and what they refer to.

use crate::DeepCopy;
use crate::btf::{CoreRelocation, FuncInfo, LineInfo};
use std::fmt;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::map::kernel_enum;
use super::name::Name;

kernel_enum! {
    /// The kernel's program types (`enum bpf_prog_type`).
    ProgramType, "BPF_PROG_TYPE_" {
        /// `BPF_PROG_TYPE_UNSPEC`
        Unspec = 0 => "unspec",
        /// `BPF_PROG_TYPE_SOCKET_FILTER`
        SocketFilter = 1 => "socket_filter",
        /// `BPF_PROG_TYPE_KPROBE`
        Kprobe = 2 => "kprobe",
        /// `BPF_PROG_TYPE_SCHED_CLS`
        SchedCls = 3 => "sched_cls",
        /// `BPF_PROG_TYPE_SCHED_ACT`
        SchedAct = 4 => "sched_act",
        /// `BPF_PROG_TYPE_TRACEPOINT`
        Tracepoint = 5 => "tracepoint",
        /// `BPF_PROG_TYPE_XDP`
        Xdp = 6 => "xdp",
        /// `BPF_PROG_TYPE_PERF_EVENT`
        PerfEvent = 7 => "perf_event",
        /// `BPF_PROG_TYPE_CGROUP_SKB`
        CgroupSkb = 8 => "cgroup_skb",
        /// `BPF_PROG_TYPE_CGROUP_SOCK`
        CgroupSock = 9 => "cgroup_sock",
        /// `BPF_PROG_TYPE_LWT_IN`
        LwtIn = 10 => "lwt_in",
        /// `BPF_PROG_TYPE_LWT_OUT`
        LwtOut = 11 => "lwt_out",
        /// `BPF_PROG_TYPE_LWT_XMIT`
        LwtXmit = 12 => "lwt_xmit",
        /// `BPF_PROG_TYPE_SOCK_OPS`
        SockOps = 13 => "sock_ops",
        /// `BPF_PROG_TYPE_SK_SKB`
        SkSkb = 14 => "sk_skb",
        /// `BPF_PROG_TYPE_CGROUP_DEVICE`
        CgroupDevice = 15 => "cgroup_device",
        /// `BPF_PROG_TYPE_SK_MSG`
        SkMsg = 16 => "sk_msg",
        /// `BPF_PROG_TYPE_RAW_TRACEPOINT`
        RawTracepoint = 17 => "raw_tracepoint",
        /// `BPF_PROG_TYPE_CGROUP_SOCK_ADDR`
        CgroupSockAddr = 18 => "cgroup_sock_addr",
        /// `BPF_PROG_TYPE_LWT_SEG6LOCAL`
        LwtSeg6Local = 19 => "lwt_seg6local",
        /// `BPF_PROG_TYPE_LIRC_MODE2`
        LircMode2 = 20 => "lirc_mode2",
        /// `BPF_PROG_TYPE_SK_REUSEPORT`
        SkReuseport = 21 => "sk_reuseport",
        /// `BPF_PROG_TYPE_FLOW_DISSECTOR`
        FlowDissector = 22 => "flow_dissector",
        /// `BPF_PROG_TYPE_CGROUP_SYSCTL`
        CgroupSysctl = 23 => "cgroup_sysctl",
        /// `BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE`
        RawTracepointWritable = 24 => "raw_tracepoint_writable",
        /// `BPF_PROG_TYPE_CGROUP_SOCKOPT`
        CgroupSockopt = 25 => "cgroup_sockopt",
        /// `BPF_PROG_TYPE_TRACING`
        Tracing = 26 => "tracing",
        /// `BPF_PROG_TYPE_STRUCT_OPS`
        StructOps = 27 => "struct_ops",
        /// `BPF_PROG_TYPE_EXT`
        Ext = 28 => "ext",
        /// `BPF_PROG_TYPE_LSM`
        Lsm = 29 => "lsm",
        /// `BPF_PROG_TYPE_SK_LOOKUP`
        SkLookup = 30 => "sk_lookup",
        /// `BPF_PROG_TYPE_SYSCALL`
        Syscall = 31 => "syscall",
        /// `BPF_PROG_TYPE_NETFILTER`
        Netfilter = 32 => "netfilter",
    }
}

kernel_enum! {
    /// The kernel's attach types (`enum bpf_attach_type`).
    AttachType, "BPF_" {
        /// `BPF_CGROUP_INET_INGRESS`
        CgroupInetIngress = 0 => "cgroup_inet_ingress",
        /// `BPF_CGROUP_INET_EGRESS`
        CgroupInetEgress = 1 => "cgroup_inet_egress",
        /// `BPF_CGROUP_INET_SOCK_CREATE`
        CgroupInetSockCreate = 2 => "cgroup_inet_sock_create",
        /// `BPF_CGROUP_SOCK_OPS`
        CgroupSockOps = 3 => "cgroup_sock_ops",
        /// `BPF_SK_SKB_STREAM_PARSER`
        SkSkbStreamParser = 4 => "sk_skb_stream_parser",
        /// `BPF_SK_SKB_STREAM_VERDICT`
        SkSkbStreamVerdict = 5 => "sk_skb_stream_verdict",
        /// `BPF_CGROUP_DEVICE`
        CgroupDevice = 6 => "cgroup_device",
        /// `BPF_SK_MSG_VERDICT`
        SkMsgVerdict = 7 => "sk_msg_verdict",
        /// `BPF_CGROUP_INET4_BIND`
        CgroupInet4Bind = 8 => "cgroup_inet4_bind",
        /// `BPF_CGROUP_INET6_BIND`
        CgroupInet6Bind = 9 => "cgroup_inet6_bind",
        /// `BPF_CGROUP_INET4_CONNECT`
        CgroupInet4Connect = 10 => "cgroup_inet4_connect",
        /// `BPF_CGROUP_INET6_CONNECT`
        CgroupInet6Connect = 11 => "cgroup_inet6_connect",
        /// `BPF_CGROUP_INET4_POST_BIND`
        CgroupInet4PostBind = 12 => "cgroup_inet4_post_bind",
        /// `BPF_CGROUP_INET6_POST_BIND`
        CgroupInet6PostBind = 13 => "cgroup_inet6_post_bind",
        /// `BPF_CGROUP_UDP4_SENDMSG`
        CgroupUdp4Sendmsg = 14 => "cgroup_udp4_sendmsg",
        /// `BPF_CGROUP_UDP6_SENDMSG`
        CgroupUdp6Sendmsg = 15 => "cgroup_udp6_sendmsg",
        /// `BPF_LIRC_MODE2`
        LircMode2 = 16 => "lirc_mode2",
        /// `BPF_FLOW_DISSECTOR`
        FlowDissector = 17 => "flow_dissector",
        /// `BPF_CGROUP_SYSCTL`
        CgroupSysctl = 18 => "cgroup_sysctl",
        /// `BPF_CGROUP_UDP4_RECVMSG`
        CgroupUdp4Recvmsg = 19 => "cgroup_udp4_recvmsg",
        /// `BPF_CGROUP_UDP6_RECVMSG`
        CgroupUdp6Recvmsg = 20 => "cgroup_udp6_recvmsg",
        /// `BPF_CGROUP_GETSOCKOPT`
        CgroupGetsockopt = 21 => "cgroup_getsockopt",
        /// `BPF_CGROUP_SETSOCKOPT`
        CgroupSetsockopt = 22 => "cgroup_setsockopt",
        /// `BPF_TRACE_RAW_TP`
        TraceRawTp = 23 => "trace_raw_tp",
        /// `BPF_TRACE_FENTRY`
        TraceFentry = 24 => "trace_fentry",
        /// `BPF_TRACE_FEXIT`
        TraceFexit = 25 => "trace_fexit",
        /// `BPF_MODIFY_RETURN`
        ModifyReturn = 26 => "modify_return",
        /// `BPF_LSM_MAC`
        LsmMac = 27 => "lsm_mac",
        /// `BPF_TRACE_ITER`
        TraceIter = 28 => "trace_iter",
        /// `BPF_CGROUP_INET4_GETPEERNAME`
        CgroupInet4Getpeername = 29 => "cgroup_inet4_getpeername",
        /// `BPF_CGROUP_INET6_GETPEERNAME`
        CgroupInet6Getpeername = 30 => "cgroup_inet6_getpeername",
        /// `BPF_CGROUP_INET4_GETSOCKNAME`
        CgroupInet4Getsockname = 31 => "cgroup_inet4_getsockname",
        /// `BPF_CGROUP_INET6_GETSOCKNAME`
        CgroupInet6Getsockname = 32 => "cgroup_inet6_getsockname",
        /// `BPF_XDP_DEVMAP`
        XdpDevmap = 33 => "xdp_devmap",
        /// `BPF_CGROUP_INET_SOCK_RELEASE`
        CgroupInetSockRelease = 34 => "cgroup_inet_sock_release",
        /// `BPF_XDP_CPUMAP`
        XdpCpumap = 35 => "xdp_cpumap",
        /// `BPF_SK_LOOKUP`
        SkLookup = 36 => "sk_lookup",
        /// `BPF_XDP`
        Xdp = 37 => "xdp",
        /// `BPF_SK_SKB_VERDICT`
        SkSkbVerdict = 38 => "sk_skb_verdict",
        /// `BPF_SK_REUSEPORT_SELECT`
        SkReuseportSelect = 39 => "sk_reuseport_select",
        /// `BPF_SK_REUSEPORT_SELECT_OR_MIGRATE`
        SkReuseportSelectOrMigrate = 40 => "sk_reuseport_select_or_migrate",
        /// `BPF_PERF_EVENT`
        PerfEvent = 41 => "perf_event",
        /// `BPF_TRACE_KPROBE_MULTI`
        TraceKprobeMulti = 42 => "trace_kprobe_multi",
        /// `BPF_LSM_CGROUP`
        LsmCgroup = 43 => "lsm_cgroup",
        /// `BPF_STRUCT_OPS`
        StructOps = 44 => "struct_ops",
        /// `BPF_NETFILTER`
        Netfilter = 45 => "netfilter",
        /// `BPF_TCX_INGRESS`
        TcxIngress = 46 => "tcx_ingress",
        /// `BPF_TCX_EGRESS`
        TcxEgress = 47 => "tcx_egress",
        /// `BPF_TRACE_UPROBE_MULTI`
        TraceUprobeMulti = 48 => "trace_uprobe_multi",
        /// `BPF_CGROUP_UNIX_CONNECT`
        CgroupUnixConnect = 49 => "cgroup_unix_connect",
        /// `BPF_CGROUP_UNIX_SENDMSG`
        CgroupUnixSendmsg = 50 => "cgroup_unix_sendmsg",
        /// `BPF_CGROUP_UNIX_RECVMSG`
        CgroupUnixRecvmsg = 51 => "cgroup_unix_recvmsg",
        /// `BPF_CGROUP_UNIX_GETPEERNAME`
        CgroupUnixGetpeername = 52 => "cgroup_unix_getpeername",
        /// `BPF_CGROUP_UNIX_GETSOCKNAME`
        CgroupUnixGetsockname = 53 => "cgroup_unix_getsockname",
        /// `BPF_NETKIT_PRIMARY`
        NetkitPrimary = 54 => "netkit_primary",
        /// `BPF_NETKIT_PEER`
        NetkitPeer = 55 => "netkit_peer",
        /// `BPF_TRACE_KPROBE_SESSION`
        TraceKprobeSession = 56 => "trace_kprobe_session",
        /// `BPF_TRACE_UPROBE_SESSION`
        TraceUprobeSession = 57 => "trace_uprobe_session",
        /// `BPF_TRACE_FSESSION` (libbpf 1.7's `fsession/`)
        TraceFsession = 58 => "trace_fsession",
    }
}

/// One eBPF instruction (`struct bpf_insn`), in the host's byte order, ready to
/// hand to the kernel: a slice of them is the program's bytes
/// (`zerocopy::IntoBytes::as_bytes`).
///
/// The reader converts instructions of big- or little-endian objects to this
/// layout, including the order of the two register nibbles.
///
/// With the `serde` feature it is written as `code`, `dst_reg`, `src_reg`,
/// `off` and `imm`: the registers by number, not the host's nibble order,
/// so a spec written on one host reads the same on any other.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, PartialEq, Eq, Hash, Default,
)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(into = "PortableInstruction", try_from = "PortableInstruction")
)]
#[repr(C)]
pub struct Instruction {
    /// Opcode.
    pub code: u8,
    /// `dst_reg` and `src_reg`, 4 bits each, as the host's C compiler lays out
    /// the bitfields (use [`dst_reg`](Self::dst_reg) / [`src_reg`](Self::src_reg)).
    pub regs: u8,
    /// Signed offset.
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

/// An [`Instruction`] as serde writes it: its registers by number.
#[cfg(feature = "serde")]
#[derive(serde::Serialize, serde::Deserialize)]
struct PortableInstruction {
    code: u8,
    dst_reg: u8,
    src_reg: u8,
    off: i16,
    imm: i32,
}

#[cfg(feature = "serde")]
impl From<Instruction> for PortableInstruction {
    fn from(i: Instruction) -> Self {
        PortableInstruction {
            code: i.code,
            dst_reg: i.dst_reg(),
            src_reg: i.src_reg(),
            off: i.off,
            imm: i.imm,
        }
    }
}

#[cfg(feature = "serde")]
impl TryFrom<PortableInstruction> for Instruction {
    type Error = String;

    fn try_from(p: PortableInstruction) -> Result<Self, String> {
        if p.dst_reg > 15 || p.src_reg > 15 {
            return Err(format!(
                "registers are 4 bits: dst_reg {} and src_reg {} do not fit",
                p.dst_reg, p.src_reg
            ));
        }
        Ok(Instruction::new(p.code, p.dst_reg, p.src_reg, p.off, p.imm))
    }
}

impl Instruction {
    /// Size of one instruction slot in bytes.
    pub const SIZE: usize = 8;
    /// `BPF_LD | BPF_IMM | BPF_DW`: the first half of a 16-byte load.
    pub const LD_IMM64: u8 = 0x18;
    /// `BPF_JMP | BPF_CALL`.
    pub const CALL: u8 = 0x85;
    /// `src_reg` of a call to another BPF function (`BPF_PSEUDO_CALL`).
    pub const PSEUDO_CALL: u8 = 1;
    /// `src_reg` of an `ld_imm64` loading a function's address (`BPF_PSEUDO_FUNC`).
    pub const PSEUDO_FUNC: u8 = 4;

    /// An instruction from its parts.
    pub fn new(code: u8, dst_reg: u8, src_reg: u8, off: i16, imm: i32) -> Self {
        let mut insn = Instruction {
            code,
            regs: 0,
            off,
            imm,
        };
        insn.set_regs(dst_reg, src_reg);
        insn
    }

    /// The destination register.
    pub fn dst_reg(&self) -> u8 {
        if cfg!(target_endian = "little") {
            self.regs & 0xf
        } else {
            self.regs >> 4
        }
    }

    /// The source register.
    pub fn src_reg(&self) -> u8 {
        if cfg!(target_endian = "little") {
            self.regs >> 4
        } else {
            self.regs & 0xf
        }
    }

    /// Sets both registers (each 0..=15).
    pub fn set_regs(&mut self, dst: u8, src: u8) {
        let (dst, src) = (dst & 0xf, src & 0xf);
        self.regs = if cfg!(target_endian = "little") {
            dst | src << 4
        } else {
            dst << 4 | src
        };
    }

    /// True for the first slot of a 16-byte `ld_imm64`.
    pub fn is_ld_imm64(&self) -> bool {
        self.code == Self::LD_IMM64
    }

    /// True for a call to another BPF function (a bpf-to-bpf call).
    pub fn is_pseudo_call(&self) -> bool {
        self.code == Self::CALL && self.src_reg() == Self::PSEUDO_CALL
    }
}

impl fmt::Debug for Instruction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Insn {{ code: {:#04x}, dst: r{}, src: r{}, off: {}, imm: {} }}",
            self.code,
            self.dst_reg(),
            self.src_reg(),
            self.off,
            self.imm
        )
    }
}

crate::deep_copy::plain!(Instruction);

/// What an instruction refers to, to be fixed up by the loader.
#[derive(Debug, Clone, PartialEq, Eq, DeepCopy)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum RelocationTarget {
    /// An `ld_imm64` of a map: the loader puts the map's fd.
    Map {
        /// The map's name in the collection.
        map: Name,
    },
    /// An `ld_imm64` of an address in a data section (a global variable): the
    /// loader puts the data map's fd and the offset. For an `__arena` global,
    /// the map is the arena and the offset is among its globals (the loader
    /// adds where it placed them in the arena).
    Data {
        /// The data section's map (`.data`, `.rodata`, `.bss`, ...), or the
        /// arena map.
        map: Name,
        /// Offset of the symbol in the section; the instruction's `imm` adds to it.
        offset: u32,
    },
    /// A bpf-to-bpf call (or an `ld_imm64` of a callback function): the loader
    /// appends the function and fixes the offset.
    Call {
        /// The called function's name.
        function: Name,
    },
    /// A symbol the object does not define: a `__kconfig` variable, or a
    /// `__ksym` (a kernel function called as a kfunc, or a kernel variable
    /// whose address is taken) that the loader finds in the running kernel.
    Extern {
        /// The symbol's name.
        name: Name,
        /// Declared `__weak`: if the kernel does not have it, the loader
        /// resolves it to 0 (a call to it must then be guarded by
        /// `bpf_ksym_exists()`) instead of failing.
        #[cfg_attr(feature = "serde", serde(default))]
        weak: bool,
    },
}

/// One instruction that refers to a map, a data section, a function or an
/// external symbol.
#[derive(Debug, Clone, PartialEq, Eq, DeepCopy)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Relocation {
    /// Index of the instruction slot in the program (8-byte units).
    pub instruction: usize,
    /// What the instruction refers to.
    pub target: RelocationTarget,
}

/// One program (or sub-program): its instructions and everything the loader
/// needs to know about them.
///
/// ```
/// use ebpf_spec::{ProgramSpec, ProgramType, AttachType};
/// let (ty, attach, target) = ProgramSpec::classify_section("cgroup_skb/ingress");
/// assert_eq!(ty, ProgramType::CgroupSkb);
/// assert_eq!(attach, Some(AttachType::CgroupInetIngress));
/// assert_eq!(target, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, DeepCopy)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ProgramSpec {
    /// The function's name.
    pub name: Name,
    /// The ELF section it came from (`xdp`, `kprobe/do_unlinkat`, `.text`),
    /// without libbpf's `?` prefix (see [`autoload`](Self::autoload)).
    pub section: Name,
    /// The program type, from the section name as libbpf derives it.
    pub program_type: ProgramType,
    /// The expected attach type, where the section name implies one.
    pub attach_type: Option<AttachType>,
    /// What to attach to, from the section name (a kernel function, a
    /// tracepoint `category/name`, an LSM hook ...).
    pub attach_to: Option<Name>,
    /// Sleepable: a `.s` section where libbpf has one (`lsm.s/`, `fentry.s/`,
    /// `uprobe.s/` ...), and `syscall`, which libbpf always loads sleepable.
    pub sleepable: bool,
    /// The instructions, in the host's byte order.
    pub instructions: Vec<Instruction>,
    /// The license (from the object's `license` section).
    pub license: Name,
    /// The kernel version (from the object's `version` section, 0 when absent).
    pub kernel_version: u32,
    /// Instructions that refer to maps, data, functions or externs.
    pub relocations: Vec<Relocation>,
    /// The function's `.BTF.ext` func_info: its `FUNC` type in the object's
    /// BTF (empty for an object without `.BTF.ext`). With it the kernel
    /// checks functions by their BTF prototypes (global functions are
    /// verified on their own).
    pub func_info: Vec<FuncInfo>,
    /// The function's `.BTF.ext` line_info: the source line of its
    /// instructions, so the verifier's messages name them.
    pub line_info: Vec<LineInfo>,
    /// The function's `.BTF.ext` CO-RE relocations: field offsets and sizes,
    /// type and enum facts the loader resolves against the running kernel's
    /// BTF.
    pub core_relocations: Vec<CoreRelocation>,
    /// Whether a loader loads this program (libbpf's `autoload`). `true` but
    /// for programs of a section named with libbpf's `?` prefix
    /// (`SEC("?xdp")`: a fallback that is loaded only when asked), whose
    /// [`section`](Self::section) is the name without it. As in libbpf, a
    /// struct_ops program that a struct_ops map refers to loads exactly when
    /// one of those maps is created, whatever this says.
    #[cfg_attr(feature = "serde", serde(default = "crate::spec::map::yes"))]
    pub autoload: bool,
}

impl ProgramSpec {
    /// A program of section `section`, typed from its name as the reader
    /// types it ([`classify_section`](Self::classify_section), sleepable
    /// `.s` forms included; a leading `?` is stripped and makes
    /// [`autoload`](Self::autoload) false), with `instructions` and `license`;
    /// no relocations or BTF records, kernel version 0.
    ///
    /// ```
    /// use ebpf_spec::{AttachType, Instruction, ProgramSpec, ProgramType};
    ///
    /// let exit = vec![
    ///     Instruction::new(0xb7, 0, 0, 0, 2), // r0 = XDP_PASS
    ///     Instruction::new(0x95, 0, 0, 0, 0), // exit
    /// ];
    /// let p = ProgramSpec::new("pass", "xdp", exit.clone(), "GPL");
    /// assert_eq!((p.program_type, p.attach_type), (ProgramType::Xdp, Some(AttachType::Xdp)));
    /// assert!(p.autoload);
    ///
    /// let optional = ProgramSpec::new("fallback", "?xdp", exit, "GPL");
    /// assert_eq!((optional.section.as_str(), optional.autoload), ("xdp", false));
    /// ```
    pub fn new(
        name: impl Into<Name>,
        section: &str,
        instructions: Vec<Instruction>,
        license: impl Into<Name>,
    ) -> Self {
        let (section, autoload) = match section.strip_prefix('?') {
            Some(rest) => (rest, false),
            None => (section, true),
        };
        let (program_type, attach_type, attach_to, sleepable) = classify(section);
        ProgramSpec {
            name: name.into(),
            section: section.into(),
            program_type,
            attach_type,
            attach_to,
            sleepable,
            instructions,
            license: license.into(),
            kernel_version: 0,
            relocations: Vec::new(),
            func_info: Vec::new(),
            line_info: Vec::new(),
            core_relocations: Vec::new(),
            autoload,
        }
    }

    /// `self.deep_copy()`.
    pub fn copy(&self) -> Self {
        self.deep_copy()
    }

    /// Names of the functions this program calls directly.
    pub fn calls(&self) -> impl Iterator<Item = &str> {
        self.relocations.iter().filter_map(|r| match &r.target {
            RelocationTarget::Call { function } => Some(function.as_str()),
            _ => None,
        })
    }

    /// Program type, attach type and attach target for an ELF section name, as
    /// libbpf derives them. Unknown sections give `ProgramType::Unspec`.
    ///
    /// One deliberate difference: a name libbpf 1.x knows only exactly
    /// (`xdp`, `socket`, `sk_msg` ...) is typed here with a `/suffix` too
    /// (`xdp/my_prog`, as objects written for libbpf 0.x name them), where
    /// libbpf 1.x calls it unrecognized. A leading `?` (libbpf's autoload
    /// off) is not part of the name: the reader strips it first (see
    /// [`ProgramSpec::autoload`]).
    pub fn classify_section(section: &str) -> (ProgramType, Option<AttachType>, Option<Name>) {
        let (ty, attach, target, _) = classify(section);
        (ty, attach, target)
    }
}

/// Program type, attach type, target and sleepable flag for a section name.
pub(crate) fn classify(section: &str) -> (ProgramType, Option<AttachType>, Option<Name>, bool) {
    use AttachType as A;
    use ProgramType as P;
    let (prefix, rest) = match section.split_once('/') {
        Some((p, r)) => (p, Some(r)),
        None => (section, None),
    };
    let sleepable = prefix.ends_with(".s");
    let base = prefix.strip_suffix(".s").unwrap_or(prefix);
    // libbpf's section_defs have a sleepable `.s` form for these only.
    const SLEEPABLE: &[&str] = &[
        "tracepoint",
        "tp",
        "raw_tracepoint",
        "raw_tp",
        "tp_btf",
        "fsession",
        "uprobe",
        "uretprobe",
        "uprobe.multi",
        "uretprobe.multi",
        "uprobe.session",
        "usdt",
        "fentry",
        "fmod_ret",
        "fexit",
        "lsm",
        "iter",
        "struct_ops",
    ];
    if sleepable && !SLEEPABLE.contains(&base) {
        return (P::Unspec, None, None, false);
    }
    let target = rest.filter(|r| !r.is_empty()).map(Name::from);
    let t = |ty: ProgramType, a: Option<AttachType>| (ty, a, target.clone(), sleepable);
    let none = |ty: ProgramType| (ty, None, None, sleepable);
    match base {
        "socket" => none(P::SocketFilter),
        "sk_reuseport" => match rest {
            Some("migrate") => none(P::SkReuseport).with_attach(A::SkReuseportSelectOrMigrate),
            _ => none(P::SkReuseport).with_attach(A::SkReuseportSelect),
        },
        "kprobe" | "kretprobe" | "uprobe" | "uretprobe" | "ksyscall" | "kretsyscall" | "usdt" => {
            t(P::Kprobe, None)
        }
        "kprobe.multi" | "kretprobe.multi" => t(P::Kprobe, Some(A::TraceKprobeMulti)),
        "uprobe.multi" | "uretprobe.multi" => t(P::Kprobe, Some(A::TraceUprobeMulti)),
        "kprobe.session" => t(P::Kprobe, Some(A::TraceKprobeSession)),
        "uprobe.session" => t(P::Kprobe, Some(A::TraceUprobeSession)),
        // libbpf: `tc/ingress` and `tc/egress` are aliases of `tcx/...`.
        "tc" | "tcx" if rest == Some("ingress") => none(P::SchedCls).with_attach(A::TcxIngress),
        "tc" | "tcx" if rest == Some("egress") => none(P::SchedCls).with_attach(A::TcxEgress),
        "tc" | "classifier" => none(P::SchedCls),
        "netkit" if rest == Some("primary") => none(P::SchedCls).with_attach(A::NetkitPrimary),
        "netkit" if rest == Some("peer") => none(P::SchedCls).with_attach(A::NetkitPeer),
        "action" => none(P::SchedAct),
        "tracepoint" | "tp" => t(P::Tracepoint, None),
        "raw_tracepoint" | "raw_tp" => t(P::RawTracepoint, None),
        "raw_tracepoint.w" | "raw_tp.w" => t(P::RawTracepointWritable, None),
        "tp_btf" => t(P::Tracing, Some(A::TraceRawTp)),
        "fentry" => t(P::Tracing, Some(A::TraceFentry)),
        "fmod_ret" => t(P::Tracing, Some(A::ModifyReturn)),
        "fexit" => t(P::Tracing, Some(A::TraceFexit)),
        "fsession" => t(P::Tracing, Some(A::TraceFsession)),
        "freplace" => t(P::Ext, None),
        "lsm" => t(P::Lsm, Some(A::LsmMac)),
        "lsm_cgroup" => t(P::Lsm, Some(A::LsmCgroup)),
        "iter" => t(P::Tracing, Some(A::TraceIter)),
        // libbpf loads `syscall` programs sleepable (SEC_SLEEPABLE).
        "syscall" => (P::Syscall, None, None, true),
        "xdp" | "xdp.frags" => match rest {
            Some("devmap") => none(P::Xdp).with_attach(A::XdpDevmap),
            Some("cpumap") => none(P::Xdp).with_attach(A::XdpCpumap),
            _ => none(P::Xdp).with_attach(A::Xdp),
        },
        "perf_event" => none(P::PerfEvent),
        "lwt_in" => none(P::LwtIn),
        "lwt_out" => none(P::LwtOut),
        "lwt_xmit" => none(P::LwtXmit),
        "lwt_seg6local" => none(P::LwtSeg6Local),
        "sockops" => none(P::SockOps).with_attach(A::CgroupSockOps),
        "sk_skb" => match rest {
            Some("stream_parser") => none(P::SkSkb).with_attach(A::SkSkbStreamParser),
            Some("stream_verdict") => none(P::SkSkb).with_attach(A::SkSkbStreamVerdict),
            Some("verdict") => none(P::SkSkb).with_attach(A::SkSkbVerdict),
            _ => none(P::SkSkb),
        },
        "sk_msg" => none(P::SkMsg).with_attach(A::SkMsgVerdict),
        "lirc_mode2" => none(P::LircMode2).with_attach(A::LircMode2),
        "flow_dissector" => none(P::FlowDissector).with_attach(A::FlowDissector),
        // libbpf knows these two exactly (a bare `cgroup_skb` is unknown
        // to it; `cgroup/skb` is the untyped form).
        "cgroup_skb" => match rest {
            Some("ingress") => none(P::CgroupSkb).with_attach(A::CgroupInetIngress),
            Some("egress") => none(P::CgroupSkb).with_attach(A::CgroupInetEgress),
            _ => (P::Unspec, None, None, false),
        },
        "cgroup" => classify_cgroup(rest.unwrap_or("")),
        "struct_ops" => t(P::StructOps, None),
        "sk_lookup" => none(P::SkLookup).with_attach(A::SkLookup),
        "netfilter" => none(P::Netfilter).with_attach(A::Netfilter),
        _ => (P::Unspec, None, None, false),
    }
}

fn classify_cgroup(rest: &str) -> (ProgramType, Option<AttachType>, Option<Name>, bool) {
    use AttachType as A;
    use ProgramType as P;
    let (ty, attach) = match rest {
        "skb" => (P::CgroupSkb, None),
        "sock_create" | "sock" => (P::CgroupSock, Some(A::CgroupInetSockCreate)),
        "sock_release" => (P::CgroupSock, Some(A::CgroupInetSockRelease)),
        "post_bind4" => (P::CgroupSock, Some(A::CgroupInet4PostBind)),
        "post_bind6" => (P::CgroupSock, Some(A::CgroupInet6PostBind)),
        "dev" => (P::CgroupDevice, Some(A::CgroupDevice)),
        "bind4" => (P::CgroupSockAddr, Some(A::CgroupInet4Bind)),
        "bind6" => (P::CgroupSockAddr, Some(A::CgroupInet6Bind)),
        "connect4" => (P::CgroupSockAddr, Some(A::CgroupInet4Connect)),
        "connect6" => (P::CgroupSockAddr, Some(A::CgroupInet6Connect)),
        "connect_unix" => (P::CgroupSockAddr, Some(A::CgroupUnixConnect)),
        "sendmsg4" => (P::CgroupSockAddr, Some(A::CgroupUdp4Sendmsg)),
        "sendmsg6" => (P::CgroupSockAddr, Some(A::CgroupUdp6Sendmsg)),
        "sendmsg_unix" => (P::CgroupSockAddr, Some(A::CgroupUnixSendmsg)),
        "recvmsg4" => (P::CgroupSockAddr, Some(A::CgroupUdp4Recvmsg)),
        "recvmsg6" => (P::CgroupSockAddr, Some(A::CgroupUdp6Recvmsg)),
        "recvmsg_unix" => (P::CgroupSockAddr, Some(A::CgroupUnixRecvmsg)),
        "getpeername4" => (P::CgroupSockAddr, Some(A::CgroupInet4Getpeername)),
        "getpeername6" => (P::CgroupSockAddr, Some(A::CgroupInet6Getpeername)),
        "getpeername_unix" => (P::CgroupSockAddr, Some(A::CgroupUnixGetpeername)),
        "getsockname4" => (P::CgroupSockAddr, Some(A::CgroupInet4Getsockname)),
        "getsockname6" => (P::CgroupSockAddr, Some(A::CgroupInet6Getsockname)),
        "getsockname_unix" => (P::CgroupSockAddr, Some(A::CgroupUnixGetsockname)),
        "sysctl" => (P::CgroupSysctl, Some(A::CgroupSysctl)),
        "getsockopt" => (P::CgroupSockopt, Some(A::CgroupGetsockopt)),
        "setsockopt" => (P::CgroupSockopt, Some(A::CgroupSetsockopt)),
        _ => (P::Unspec, None),
    };
    (ty, attach, None, false)
}

trait WithAttach {
    fn with_attach(self, a: AttachType) -> Self;
}

impl WithAttach for (ProgramType, Option<AttachType>, Option<Name>, bool) {
    fn with_attach(self, a: AttachType) -> Self {
        (self.0, Some(a), self.2, self.3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Case = (
        &'static str,
        ProgramType,
        Option<AttachType>,
        Option<&'static str>,
        bool,
    );

    #[test]
    fn sections_classify_like_libbpf() {
        let cases: &[Case] = &[
            ("socket", ProgramType::SocketFilter, None, None, false),
            ("xdp", ProgramType::Xdp, Some(AttachType::Xdp), None, false),
            (
                "xdp.frags",
                ProgramType::Xdp,
                Some(AttachType::Xdp),
                None,
                false,
            ),
            (
                "xdp/devmap",
                ProgramType::Xdp,
                Some(AttachType::XdpDevmap),
                None,
                false,
            ),
            ("tc", ProgramType::SchedCls, None, None, false),
            ("classifier", ProgramType::SchedCls, None, None, false),
            (
                "tcx/ingress",
                ProgramType::SchedCls,
                Some(AttachType::TcxIngress),
                None,
                false,
            ),
            (
                "kprobe/do_unlinkat",
                ProgramType::Kprobe,
                None,
                Some("do_unlinkat"),
                false,
            ),
            (
                "kretprobe/do_unlinkat",
                ProgramType::Kprobe,
                None,
                Some("do_unlinkat"),
                false,
            ),
            (
                "uprobe/libc.so.6:malloc",
                ProgramType::Kprobe,
                None,
                Some("libc.so.6:malloc"),
                false,
            ),
            ("uprobe.s/x", ProgramType::Kprobe, None, Some("x"), true),
            (
                "tracepoint/syscalls/sys_enter_openat",
                ProgramType::Tracepoint,
                None,
                Some("syscalls/sys_enter_openat"),
                false,
            ),
            (
                "raw_tracepoint/sched_switch",
                ProgramType::RawTracepoint,
                None,
                Some("sched_switch"),
                false,
            ),
            (
                "raw_tp.w/x",
                ProgramType::RawTracepointWritable,
                None,
                Some("x"),
                false,
            ),
            (
                "tp_btf/sched_switch",
                ProgramType::Tracing,
                Some(AttachType::TraceRawTp),
                Some("sched_switch"),
                false,
            ),
            ("perf_event", ProgramType::PerfEvent, None, None, false),
            (
                "cgroup_skb/ingress",
                ProgramType::CgroupSkb,
                Some(AttachType::CgroupInetIngress),
                None,
                false,
            ),
            (
                "cgroup_skb/egress",
                ProgramType::CgroupSkb,
                Some(AttachType::CgroupInetEgress),
                None,
                false,
            ),
            (
                "cgroup/connect4",
                ProgramType::CgroupSockAddr,
                Some(AttachType::CgroupInet4Connect),
                None,
                false,
            ),
            (
                "cgroup/sock_create",
                ProgramType::CgroupSock,
                Some(AttachType::CgroupInetSockCreate),
                None,
                false,
            ),
            (
                "cgroup/dev",
                ProgramType::CgroupDevice,
                Some(AttachType::CgroupDevice),
                None,
                false,
            ),
            (
                "cgroup/sysctl",
                ProgramType::CgroupSysctl,
                Some(AttachType::CgroupSysctl),
                None,
                false,
            ),
            (
                "cgroup/getsockopt",
                ProgramType::CgroupSockopt,
                Some(AttachType::CgroupGetsockopt),
                None,
                false,
            ),
            (
                "sk_msg",
                ProgramType::SkMsg,
                Some(AttachType::SkMsgVerdict),
                None,
                false,
            ),
            (
                "sk_skb/stream_parser",
                ProgramType::SkSkb,
                Some(AttachType::SkSkbStreamParser),
                None,
                false,
            ),
            (
                "sk_skb/stream_verdict",
                ProgramType::SkSkb,
                Some(AttachType::SkSkbStreamVerdict),
                None,
                false,
            ),
            (
                "sockops",
                ProgramType::SockOps,
                Some(AttachType::CgroupSockOps),
                None,
                false,
            ),
            (
                "lsm/file_open",
                ProgramType::Lsm,
                Some(AttachType::LsmMac),
                Some("file_open"),
                false,
            ),
            (
                "lsm.s/file_open",
                ProgramType::Lsm,
                Some(AttachType::LsmMac),
                Some("file_open"),
                true,
            ),
            (
                "fentry/do_unlinkat",
                ProgramType::Tracing,
                Some(AttachType::TraceFentry),
                Some("do_unlinkat"),
                false,
            ),
            (
                "fexit/do_unlinkat",
                ProgramType::Tracing,
                Some(AttachType::TraceFexit),
                Some("do_unlinkat"),
                false,
            ),
            (
                "fmod_ret/x",
                ProgramType::Tracing,
                Some(AttachType::ModifyReturn),
                Some("x"),
                false,
            ),
            (
                "fentry.s/x",
                ProgramType::Tracing,
                Some(AttachType::TraceFentry),
                Some("x"),
                true,
            ),
            ("freplace/x", ProgramType::Ext, None, Some("x"), false),
            (
                "iter/task",
                ProgramType::Tracing,
                Some(AttachType::TraceIter),
                Some("task"),
                false,
            ),
            (
                "struct_ops/dctcp_init",
                ProgramType::StructOps,
                None,
                Some("dctcp_init"),
                false,
            ),
            ("syscall", ProgramType::Syscall, None, None, true),
            (
                "sk_lookup",
                ProgramType::SkLookup,
                Some(AttachType::SkLookup),
                None,
                false,
            ),
            (
                "flow_dissector",
                ProgramType::FlowDissector,
                Some(AttachType::FlowDissector),
                None,
                false,
            ),
            (
                "sk_reuseport/migrate",
                ProgramType::SkReuseport,
                Some(AttachType::SkReuseportSelectOrMigrate),
                None,
                false,
            ),
            (
                "netfilter",
                ProgramType::Netfilter,
                Some(AttachType::Netfilter),
                None,
                false,
            ),
            ("action", ProgramType::SchedAct, None, None, false),
            (".text", ProgramType::Unspec, None, None, false),
            ("prog", ProgramType::Unspec, None, None, false),
            // libbpf's `tc/ingress` and `tc/egress` are aliases of tcx.
            (
                "tc/ingress",
                ProgramType::SchedCls,
                Some(AttachType::TcxIngress),
                None,
                false,
            ),
            (
                "tc/egress",
                ProgramType::SchedCls,
                Some(AttachType::TcxEgress),
                None,
                false,
            ),
            (
                "tcx/egress",
                ProgramType::SchedCls,
                Some(AttachType::TcxEgress),
                None,
                false,
            ),
            // Other `tc/...` names (aya's, iproute2's) stay plain classifiers.
            ("tc/my_filter", ProgramType::SchedCls, None, None, false),
            ("classifier/x", ProgramType::SchedCls, None, None, false),
            // libbpf defines only tcx/ingress|egress and netkit/primary|peer.
            ("tcx", ProgramType::Unspec, None, None, false),
            ("tcx/other", ProgramType::Unspec, None, None, false),
            ("netkit", ProgramType::Unspec, None, None, false),
            (
                "netkit/primary",
                ProgramType::SchedCls,
                Some(AttachType::NetkitPrimary),
                None,
                false,
            ),
            (
                "netkit/peer",
                ProgramType::SchedCls,
                Some(AttachType::NetkitPeer),
                None,
                false,
            ),
            (
                "sk_skb/verdict",
                ProgramType::SkSkb,
                Some(AttachType::SkSkbVerdict),
                None,
                false,
            ),
            ("sk_skb", ProgramType::SkSkb, None, None, false),
            (
                "cgroup/setsockopt",
                ProgramType::CgroupSockopt,
                Some(AttachType::CgroupSetsockopt),
                None,
                false,
            ),
            (
                "cgroup/sock_release",
                ProgramType::CgroupSock,
                Some(AttachType::CgroupInetSockRelease),
                None,
                false,
            ),
            (
                "cgroup/recvmsg_unix",
                ProgramType::CgroupSockAddr,
                Some(AttachType::CgroupUnixRecvmsg),
                None,
                false,
            ),
            ("cgroup/skb", ProgramType::CgroupSkb, None, None, false),
            // libbpf's name for sock_ops programs is `sockops`.
            ("cgroup/sock_ops", ProgramType::Unspec, None, None, false),
            (
                "struct_ops.s/x",
                ProgramType::StructOps,
                None,
                Some("x"),
                true,
            ),
            ("uretprobe.s/x", ProgramType::Kprobe, None, Some("x"), true),
            (
                "usdt/l:p:n",
                ProgramType::Kprobe,
                None,
                Some("l:p:n"),
                false,
            ),
            (
                "usdt.s/l:p:n",
                ProgramType::Kprobe,
                None,
                Some("l:p:n"),
                true,
            ),
            (
                "ksyscall/openat",
                ProgramType::Kprobe,
                None,
                Some("openat"),
                false,
            ),
            (
                "kprobe.multi/do_*",
                ProgramType::Kprobe,
                Some(AttachType::TraceKprobeMulti),
                Some("do_*"),
                false,
            ),
            (
                "uprobe.multi.s/x",
                ProgramType::Kprobe,
                Some(AttachType::TraceUprobeMulti),
                Some("x"),
                true,
            ),
            (
                "fmod_ret.s/x",
                ProgramType::Tracing,
                Some(AttachType::ModifyReturn),
                Some("x"),
                true,
            ),
            (
                "fexit.s/x",
                ProgramType::Tracing,
                Some(AttachType::TraceFexit),
                Some("x"),
                true,
            ),
            (
                "iter.s/task",
                ProgramType::Tracing,
                Some(AttachType::TraceIter),
                Some("task"),
                true,
            ),
            (
                "lsm_cgroup/x",
                ProgramType::Lsm,
                Some(AttachType::LsmCgroup),
                Some("x"),
                false,
            ),
            (
                "raw_tracepoint.w/x",
                ProgramType::RawTracepointWritable,
                None,
                Some("x"),
                false,
            ),
            ("tp/a/b", ProgramType::Tracepoint, None, Some("a/b"), false),
            (
                "xdp.frags/devmap",
                ProgramType::Xdp,
                Some(AttachType::XdpDevmap),
                None,
                false,
            ),
            (
                "xdp/cpumap",
                ProgramType::Xdp,
                Some(AttachType::XdpCpumap),
                None,
                false,
            ),
            (
                "xdp.frags/cpumap",
                ProgramType::Xdp,
                Some(AttachType::XdpCpumap),
                None,
                false,
            ),
            (
                "sk_reuseport",
                ProgramType::SkReuseport,
                Some(AttachType::SkReuseportSelect),
                None,
                false,
            ),
            (
                "lirc_mode2",
                ProgramType::LircMode2,
                Some(AttachType::LircMode2),
                None,
                false,
            ),
            ("lwt_xmit", ProgramType::LwtXmit, None, None, false),
            // libbpf 1.7: `fsession`, sleepable or not; the sleepable
            // tracepoint forms of libbpf master.
            (
                "fsession/do_unlinkat",
                ProgramType::Tracing,
                Some(AttachType::TraceFsession),
                Some("do_unlinkat"),
                false,
            ),
            (
                "fsession.s/do_unlinkat",
                ProgramType::Tracing,
                Some(AttachType::TraceFsession),
                Some("do_unlinkat"),
                true,
            ),
            (
                "tp_btf.s/x",
                ProgramType::Tracing,
                Some(AttachType::TraceRawTp),
                Some("x"),
                true,
            ),
            (
                "tp.s/syscalls/sys_enter_openat",
                ProgramType::Tracepoint,
                None,
                Some("syscalls/sys_enter_openat"),
                true,
            ),
            (
                "tracepoint.s/a/b",
                ProgramType::Tracepoint,
                None,
                Some("a/b"),
                true,
            ),
            (
                "raw_tp.s/x",
                ProgramType::RawTracepoint,
                None,
                Some("x"),
                true,
            ),
            (
                "raw_tracepoint.s/x",
                ProgramType::RawTracepoint,
                None,
                Some("x"),
                true,
            ),
            // libbpf knows `cgroup_skb/ingress` and `/egress` only.
            ("cgroup_skb", ProgramType::Unspec, None, None, false),
            ("cgroup_skb/other", ProgramType::Unspec, None, None, false),
            // No sleepable form in libbpf: unknown, not silently sleepable.
            ("kprobe.s/x", ProgramType::Unspec, None, None, false),
            ("raw_tp.w.s/x", ProgramType::Unspec, None, None, false),
            ("cgroup.s/connect4", ProgramType::Unspec, None, None, false),
            ("xdp.s", ProgramType::Unspec, None, None, false),
        ];
        for &(section, ty, attach, target, sleepable) in cases {
            let got = classify(section);
            assert_eq!(
                got,
                (ty, attach, target.map(Name::from), sleepable),
                "section {section}"
            );
        }
    }

    #[test]
    fn registers_round_trip() {
        let i = Instruction::new(Instruction::CALL, 3, Instruction::PSEUDO_CALL, -2, 7);
        assert_eq!((i.dst_reg(), i.src_reg()), (3, 1));
        assert!(i.is_pseudo_call());
        assert_eq!(zerocopy::IntoBytes::as_bytes(&i).len(), Instruction::SIZE);
    }

    #[test]
    fn enums_keep_unknown_values() {
        assert_eq!(ProgramType::from_raw(999), ProgramType::Unknown(999));
        assert_eq!(ProgramType::from_raw(999).raw(), 999);
        for (i, t) in ProgramType::ALL.iter().enumerate() {
            assert_eq!(t.raw() as usize, i);
            assert_eq!(ProgramType::from_raw(t.raw()), *t);
        }
        for (i, t) in AttachType::ALL.iter().enumerate() {
            assert_eq!(t.raw() as usize, i);
        }
    }
}
