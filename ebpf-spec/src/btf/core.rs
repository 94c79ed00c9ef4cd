//! CO-RE: relocating a program's instructions from the types it was compiled
//! against (the object's BTF, "local") to the types of the kernel it runs on
//! ("target"), with the semantics of libbpf's `relo_core.c`.
//!
//! For each relocation: the local access string is parsed into a spec
//! (`bpf_core_parse_spec`); every target type with the same essential name
//! (`___flavor` suffixes ignored) and a compatible kind is a candidate; each
//! candidate is matched (`bpf_core_spec_match`: named members found through
//! anonymous structs and unions, array bounds checked, field types
//! compatible); all matching candidates must agree on the result; the
//! instruction is patched (`bpf_core_patch_insn`), or poisoned when the
//! target has no such field, type or enumerator and the relocation is not an
//! existence check.
//!
//! Deviations from libbpf, all on hostile or degenerate input only: walks
//! that libbpf leaves unbounded (modifier chains, array element chains, the
//! exhaustive member search) are bounded and give [`CoreError`]s; negative
//! indexes in access strings are refused; bit offsets are checked for
//! overflow; and the pruning of candidates that libbpf keeps for a whole
//! object is kept for one [`relocate`] call (one program).

use super::parse::{MAX_RESOLVE_DEPTH, essential_bytes};
use super::records::{CoreRelocation, CoreRelocationKind};
use super::{Btf, BtfError, Int, Kind, Type, TypeData};
use crate::{ByteOrder, Instruction};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// libbpf's `BPF_CORE_SPEC_MAX_LEN`: the deepest access string.
const SPEC_MAX_LEN: usize = 64;
/// The immediate of a poisoned instruction: `call 0xbad2310` ("bad relo").
pub(crate) const POISON_IMM: i32 = 0x0bad_2310;
/// How many steps of type matching one relocation may take.
const MAX_STEPS: u32 = 1 << 20;

/// How many steps of type matching the relocations sharing one
/// [`CoreStepBudget`] may take together, unless it says otherwise: about
/// 1.3 seconds of matching on this project's machine (36 ns a step), far
/// more than real objects use (the whole CO-RE work of the `core` fixture
/// against this machine's kernel takes about 2,200 steps).
pub const CORE_STEP_BUDGET: u64 = 1 << 25;

/// The type-matching work that [`relocate_within`] calls may still do
/// together.
///
/// One relocation may take up to 2^20 steps (38 ms here), and 1 MiB of
/// `.BTF.ext` holds 65,536 relocations: a hostile object could make a load
/// match types for 42 minutes (`tests/core_worst_case.rs` builds one). A budget
/// shared by all the relocations of one load bounds it; the loader keeps one
/// per spec it links. libbpf has no such bound.
///
/// ```
/// use ebpf_spec::btf::{CoreStepBudget, CORE_STEP_BUDGET};
///
/// let budget = CoreStepBudget::default();
/// assert_eq!(budget.remaining(), CORE_STEP_BUDGET);
/// assert_eq!(CoreStepBudget::new(1000).remaining(), 1000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreStepBudget {
    remaining: u64,
}

impl CoreStepBudget {
    /// A budget of `steps` steps.
    pub const fn new(steps: u64) -> Self {
        CoreStepBudget { remaining: steps }
    }

    /// The steps left.
    pub const fn remaining(&self) -> u64 {
        self.remaining
    }
}

impl Default for CoreStepBudget {
    /// [`CORE_STEP_BUDGET`] steps.
    fn default() -> Self {
        CoreStepBudget::new(CORE_STEP_BUDGET)
    }
}
/// libbpf's recursion level for `bpf_core_types_are_compat` and
/// `bpf_core_types_match`.
const MAX_LEVEL: i32 = 32;

const BPF_LD: u8 = 0x00;
const BPF_LDX: u8 = 0x01;
const BPF_ST: u8 = 0x02;
const BPF_STX: u8 = 0x03;
const BPF_ALU: u8 = 0x04;
const BPF_JMP: u8 = 0x05;
const BPF_ALU64: u8 = 0x07;
const BPF_X: u8 = 0x08;
const BPF_CALL: u8 = 0x80;

/// Candidate target types by essential name and kind, computed once per
/// target and reused by every [`relocate`] call given the same cache: keep
/// one per thread (or behind a lock) for all programs of all instances.
///
/// The cache remembers which [`Btf`] it was filled from and starts over
/// when given another. The name index it reads is built once inside the
/// target `Btf` itself, so even fresh caches share that work.
///
/// It also keeps libbpf's pruning, per local BTF: a relocation that matches
/// some of a local type's candidates and not others leaves the later
/// relocations of that type only the ones it matched (so a field that
/// exists in one candidate settles which layout a field found in several
/// has). libbpf prunes across a whole object, in the order of its
/// `.BTF.ext` records; here across consecutive calls given the same local
/// `Btf`, in the order of the calls (the loader's: see `Loader::load`), and a
/// call with another local `Btf` starts over. A call that fails leaves the
/// pruning as it found it.
#[derive(Debug, Default)]
pub struct CoreCandidateCache {
    target: u64,
    lists: HashMap<Box<[u8]>, Vec<(Kind, Candidates)>>,
    /// The local BTF `pruned` belongs to.
    local: u64,
    /// The candidates left for each local type id by the relocations so far.
    pruned: HashMap<u32, Vec<u32>>,
}

/// Candidate target type ids, in id order.
type Candidates = Arc<[u32]>;

impl CoreCandidateCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many candidate lists are cached.
    pub fn len(&self) -> usize {
        self.lists.values().map(Vec::len).sum()
    }

    /// No candidate list is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts over what belongs to another target or local BTF.
    fn enter(&mut self, local: &Btf, target: &Btf) {
        if self.target != target.instance() {
            self.lists.clear();
            self.pruned.clear();
            self.target = target.instance();
        }
        if self.local != local.instance() {
            self.pruned.clear();
            self.local = local.instance();
        }
    }

    /// The candidates left for local type `type_id` (all of them, the first
    /// time): target types whose essential name is `essential` and whose
    /// kind is compatible with `kind`, in id order.
    fn pruned(
        &mut self,
        target: &Btf,
        type_id: u32,
        essential: &[u8],
        kind: Kind,
    ) -> &mut Vec<u32> {
        if !self.pruned.contains_key(&type_id) {
            let all = self.candidates(target, essential, kind).to_vec();
            self.pruned.insert(type_id, all);
        }
        self.pruned.entry(type_id).or_default()
    }

    /// Target types whose essential name is `essential` and whose kind is
    /// compatible with `kind` (the same, or both enums), in id order.
    fn candidates(&mut self, target: &Btf, essential: &[u8], kind: Kind) -> Arc<[u32]> {
        let class = kind_class(kind);
        if let Some(list) = self
            .lists
            .get(essential)
            .and_then(|v| v.iter().find(|(k, _)| *k == class))
        {
            return list.1.clone();
        }
        let list: Arc<[u32]> = target
            .ids_by_essential_name(essential)
            .filter(|&id| target.kind(id).is_some_and(|k| kind_class(k) == class))
            .collect();
        self.lists
            .entry(essential.into())
            .or_default()
            .push((class, list.clone()));
        list
    }
}

fn kind_class(kind: Kind) -> Kind {
    if kind == Kind::Enum64 {
        Kind::Enum
    } else {
        kind
    }
}

/// libbpf's `btf_kind_core_compat`.
fn kind_core_compat(a: Kind, b: Kind) -> bool {
    a == b || (a.is_any_enum() && b.is_any_enum())
}

/// What [`relocate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoreReport {
    /// How many relocations patched an instruction with a value.
    pub applied: usize,
    /// Instructions replaced by `call 0xbad2310`: the verifier rejects the
    /// program only if one of them is reachable (its log then says
    /// `invalid func unknown#195896080`).
    pub poisoned: Vec<PoisonedInstruction>,
}

/// An instruction [`relocate`] poisoned, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoisonedInstruction {
    /// Index of the relocation in the slice given to [`relocate`].
    pub relocation: usize,
    /// The poisoned instruction (for an `ld_imm64`, its first slot; the
    /// second is poisoned too).
    pub instruction: usize,
    /// The relocation's kind.
    pub kind: CoreRelocationKind,
    /// The local type's name.
    pub type_name: String,
    /// The access string.
    pub access: String,
    /// Why.
    pub reason: PoisonReason,
}

impl fmt::Display for PoisonedInstruction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "instruction {} poisoned by CO-RE relocation #{} ({} of {} access \"{}\"): {}",
            self.instruction, self.relocation, self.kind, self.type_name, self.access, self.reason
        )
    }
}

/// Why an instruction was poisoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoisonReason {
    /// The target has no matching field, type or enumerator.
    NotFound,
    /// The load or store would need another memory size, and the field is
    /// neither a pointer nor an unsigned integer in both BTFs.
    MemorySize,
}

impl fmt::Display for PoisonReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PoisonReason::NotFound => "the target has no matching field, type or enumerator",
            PoisonReason::MemorySize => {
                "the field's size differs in the target and the access cannot be resized \
                 (only pointers and unsigned integers can)"
            }
        })
    }
}

/// A CO-RE relocation that cannot be applied: which one, where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "CO-RE relocation #{index} ({kind} of [{type_id}] {type_name}, access \"{access}\") at instruction {instruction}: {reason}"
)]
pub struct CoreError {
    /// Index of the relocation in the slice given to [`relocate`].
    pub index: usize,
    /// The relocated instruction.
    pub instruction: usize,
    /// The relocation's kind.
    pub kind: CoreRelocationKind,
    /// The local root type id.
    pub type_id: u32,
    /// The local root type's name (`<anon>` when it has none).
    pub type_name: String,
    /// The access string.
    pub access: String,
    /// What went wrong.
    pub reason: CoreErrorReason,
}

/// What went wrong with a CO-RE relocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoreErrorReason {
    /// The relocation's instruction is past the end of the program.
    #[error("the program has only {len} instructions")]
    InstructionOutOfRange {
        /// The program's length.
        len: usize,
    },
    /// The local type id does not exist in the object's BTF.
    #[error("no such type in the object's BTF")]
    NoSuchLocalType,
    /// A relocation kind this library does not know.
    #[error("relocation kind {0} is not supported")]
    UnsupportedKind(u32),
    /// Only `TYPE_ID_LOCAL` can relocate an anonymous type (as in libbpf).
    #[error("relocations of anonymous types are not supported (only local type ids are)")]
    AnonymousType,
    /// The access string does not fit the local type.
    #[error("invalid access string: {0}")]
    InvalidAccess(String),
    /// A BTF lookup failed (a type without a size, a chain too long...).
    #[error("{0}")]
    Btf(#[from] BtfError),
    /// Nesting deeper than libbpf's limit, or too much work matching types
    /// (hostile BTF).
    #[error("too deep or too complex: {0}")]
    TooComplex(&'static str),
    /// The type matching sharing a [`CoreStepBudget`] (the CO-RE
    /// relocations and `__ksym` type checks of one load) used it up.
    #[error(
        "the CO-RE type matching of this load (relocations and `__ksym` type checks) used up \
         its step budget (CoreStepBudget; Loader::core_step_budget)"
    )]
    OutOfBudget,
    /// Candidates disagree on the offset or value.
    #[error("ambiguous: {0}")]
    Ambiguous(String),
    /// The bitfield cannot be read with one load of at most 8 bytes.
    #[error("bitfield cannot be read with a single load of at most 8 bytes")]
    BitfieldTooWide,
    /// Only offsets and sizes can be relocated for an array element access.
    #[error("this relocation kind cannot be applied to an array element access")]
    ArrayAccess,
    /// The instruction is not one CO-RE can patch (ALU with an immediate,
    /// LDX/ST/STX, or `ld_imm64` of a plain value).
    #[error("instruction {code:#04x} (off {off}, imm {imm}) cannot be relocated: {why}")]
    UnexpectedInstruction {
        /// The opcode.
        code: u8,
        /// The offset field.
        off: i16,
        /// The immediate field.
        imm: i32,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The instruction does not hold the value the local BTF gives, so it
    /// was not compiled for this relocation.
    #[error("the instruction holds {found}, but the local BTF gives {expected} (new value {new})")]
    UnexpectedValue {
        /// What the instruction holds.
        found: u64,
        /// What the local BTF computes.
        expected: u64,
        /// What the target BTF computes.
        new: u64,
    },
    /// A new offset does not fit an instruction's 16-bit offset.
    #[error("new offset {0} does not fit a 16-bit instruction offset")]
    OffsetTooLarge(u64),
    /// The load or store does not access the local field's size.
    #[error("the instruction accesses {found} bytes, the local field has {expected}")]
    MemorySizeMismatch {
        /// The instruction's access size in bytes.
        found: u32,
        /// The local field's size.
        expected: u32,
    },
    /// The target field's size is not one a load or store can have.
    #[error("the target field's size {0} is not 1, 2, 4 or 8")]
    InvalidMemorySize(u32),
}

/// Applies CO-RE `relocations` to one program's `instructions`, from the
/// types of `local` (the object's BTF) to those of `target` (usually the
/// running kernel's `/sys/kernel/btf/vmlinux`), as libbpf does.
///
/// Instructions whose field, type or enumerator does not exist in the target
/// are poisoned (unless the relocation is an existence check, which gets 0):
/// they are listed in the [`CoreReport`], and the verifier fails only if one
/// of them is reachable.
///
/// `cache` keeps candidate lists between calls: pass the same one for every
/// program of every instance relocated against the same target.
///
/// # Errors
/// A [`CoreError`] naming the relocation, its instruction, kind, local type
/// and access string, and why. On error, `instructions` is left unchanged.
///
/// ```
/// use ebpf_spec::btf::{relocate, Btf, BtfExt, CoreCandidateCache};
/// use ebpf_spec::{ByteOrder, Instruction};
/// use object::{Object, ObjectSection};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let object = include_bytes!("../../tests/fixtures/core/core.bpfel.o");
/// let file = object::File::parse(&object[..])?;
/// let section = |name| file.section_by_name(name).unwrap().data().unwrap();
/// let local = Btf::parse(section(".BTF"), ByteOrder::Little)?;
/// let ext = BtfExt::parse(section(".BTF.ext"), ByteOrder::Little, &local)?;
///
/// let Ok(vmlinux) = std::fs::read("/sys/kernel/btf/vmlinux") else { return Ok(()) };
/// let target = Btf::parse(&vmlinux, ByteOrder::NATIVE)?;
///
/// let code = section("tp_btf/kfree_skb");
/// let mut insns: Vec<Instruction> = code
///     .chunks_exact(8)
///     .map(|c| zerocopy::FromBytes::read_from_bytes(c).unwrap())
///     .collect();
/// let relos = ext.section("tp_btf/kfree_skb").unwrap().core_relocations(0..insns.len());
/// let mut cache = CoreCandidateCache::new();
/// let report = relocate(&mut insns, &relos, &local, &target, &mut cache)?;
/// assert!(report.poisoned.is_empty());
/// # Ok(()) }
/// ```
pub fn relocate(
    instructions: &mut [Instruction],
    relocations: &[CoreRelocation],
    local: &Btf,
    target: &Btf,
    cache: &mut CoreCandidateCache,
) -> Result<CoreReport, CoreError> {
    relocate_within(
        instructions,
        relocations,
        local,
        target,
        cache,
        &mut CoreStepBudget::default(),
    )
}

/// [`relocate`], drawing its type-matching steps from `budget`, which other
/// calls share: give every call of one load the same budget to bound the
/// load's whole CO-RE work (a fresh one per call bounds only that call).
///
/// # Errors
/// As [`relocate`]; when the budget runs out, the relocation being resolved
/// fails with [`CoreErrorReason::OutOfBudget`] and the instructions are left
/// as they were. Every relocation costs at least one step.
pub fn relocate_within(
    instructions: &mut [Instruction],
    relocations: &[CoreRelocation],
    local: &Btf,
    target: &Btf,
    cache: &mut CoreCandidateCache,
    budget: &mut CoreStepBudget,
) -> Result<CoreReport, CoreError> {
    let mut work = instructions.to_vec();
    cache.enter(local, target);
    // A call that fails leaves the cache's pruning as it found it, as it
    // leaves the instructions.
    let pruned_before = cache.pruned.clone();
    let result = relocate_all(&mut work, relocations, local, target, cache, budget);
    if result.is_err() {
        cache.pruned = pruned_before;
    } else {
        instructions.copy_from_slice(&work);
    }
    result
}

/// The body of [`relocate_within`], on the copy `work` of the instructions.
fn relocate_all(
    work: &mut [Instruction],
    relocations: &[CoreRelocation],
    local: &Btf,
    target: &Btf,
    cache: &mut CoreCandidateCache,
    budget: &mut CoreStepBudget,
) -> Result<CoreReport, CoreError> {
    let mut report = CoreReport::default();
    for (index, relo) in relocations.iter().enumerate() {
        let type_name = || local.name(relo.type_id).unwrap_or("<anon>").to_owned();
        let fail = |reason: CoreErrorReason| CoreError {
            index,
            instruction: relo.instruction,
            kind: relo.kind,
            type_id: relo.type_id,
            type_name: type_name(),
            access: relo.access.to_string(),
            reason,
        };
        if relo.instruction >= work.len() {
            return Err(fail(CoreErrorReason::InstructionOutOfRange {
                len: work.len(),
            }));
        }
        let mut ctx = Ctx::within(local, target, budget);
        let res = ctx.resolve(relo, cache);
        ctx.charge(budget);
        let res = res.map_err(fail)?;
        match patch(work, relo.instruction, &res).map_err(fail)? {
            None => report.applied += 1,
            Some(reason) => report.poisoned.push(PoisonedInstruction {
                relocation: index,
                instruction: relo.instruction,
                kind: relo.kind,
                type_name: type_name(),
                access: relo.access.to_string(),
                reason,
            }),
        }
    }
    Ok(report)
}

/// libbpf's `bpf_core_types_are_compat`: whether type `local_id` of `local`
/// and type `target_id` of `target` are compatible the way CO-RE type
/// relocations and `__ksym` externs require. Modifiers and typedefs are
/// skipped; the kinds must agree (both enums of either width count); ints
/// must not be bitfields; pointers and arrays compare what they point at;
/// function prototypes need as many parameters, each compatible, and a
/// compatible return type. Names of structs, unions and enums are not
/// compared (a `struct rq { int cpu; }` declared by a program is compatible
/// with the kernel's).
///
/// # Errors
/// If a type id does not exist or the types nest too deep to compare.
pub fn types_are_compat(
    local: &Btf,
    local_id: u32,
    target: &Btf,
    target_id: u32,
) -> Result<bool, CoreErrorReason> {
    types_are_compat_within(
        local,
        local_id,
        target,
        target_id,
        &mut CoreStepBudget::default(),
    )
}

/// [`types_are_compat`], drawing its steps (at least one) from `budget`, as
/// [`relocate_within`] does: a loader comparing a `__ksym` extern at each
/// of its uses bounds them all with the load's budget.
///
/// # Errors
/// As [`types_are_compat`], and [`CoreErrorReason::OutOfBudget`].
pub fn types_are_compat_within(
    local: &Btf,
    local_id: u32,
    target: &Btf,
    target_id: u32,
    budget: &mut CoreStepBudget,
) -> Result<bool, CoreErrorReason> {
    let mut ctx = Ctx::within(local, target, budget);
    let res = ctx
        .step()
        .and_then(|()| ctx.types_are_compat(local_id, target_id, MAX_LEVEL));
    ctx.charge(budget);
    res
}

type Reason = CoreErrorReason;

/// One step of a spec: a named member (`name` set), an array element or the
/// root (`name` unset); for enum relocations, the enumerator.
#[derive(Debug, Clone, Copy)]
struct Accessor<'a> {
    type_id: u32,
    idx: u32,
    name: Option<&'a [u8]>,
}

/// libbpf's `struct bpf_core_spec`.
#[derive(Debug, Clone)]
struct Spec<'a> {
    btf: &'a Btf,
    root_type_id: u32,
    kind: CoreRelocationKind,
    /// High-level accessors: named members and array indexes.
    acc: Vec<Accessor<'a>>,
    /// Low-level accessors: every index of the access string.
    raw: Vec<u32>,
    bit_offset: u64,
}

impl<'a> Spec<'a> {
    fn new(btf: &'a Btf, root_type_id: u32, kind: CoreRelocationKind) -> Self {
        Spec {
            btf,
            root_type_id,
            kind,
            acc: Vec::new(),
            raw: Vec::new(),
            bit_offset: 0,
        }
    }

    fn add_bits(&mut self, bits: u64) -> Result<(), Reason> {
        self.bit_offset = self
            .bit_offset
            .checked_add(bits)
            .filter(|&b| b <= u64::from(u32::MAX))
            .ok_or(Reason::TooComplex("bit offset overflows 32 bits"))?;
        Ok(())
    }

    /// Moves on by `index` elements of `size` bytes (an index from the
    /// access string, unbounded for a flexible array).
    fn add_elements(&mut self, index: u32, size: u32) -> Result<(), Reason> {
        let bits = u64::from(index)
            .checked_mul(u64::from(size))
            .and_then(|b| b.checked_mul(8))
            .ok_or(Reason::TooComplex("bit offset overflows 32 bits"))?;
        self.add_bits(bits)
    }
}

/// libbpf's `struct bpf_core_relo_res`.
#[derive(Debug, Clone, Copy, Default)]
struct RelRes {
    orig_val: u64,
    new_val: u64,
    poison: bool,
    validate: bool,
    fail_memsz_adjust: bool,
    orig_sz: u32,
    new_sz: u32,
    orig_type_id: u32,
    new_type_id: u32,
}

/// A field, type or enum computation: a value, or a request to poison.
enum Calc {
    Poison,
    Fail(Reason),
}

impl From<Reason> for Calc {
    fn from(r: Reason) -> Self {
        Calc::Fail(r)
    }
}

impl From<BtfError> for Calc {
    fn from(e: BtfError) -> Self {
        Calc::Fail(Reason::Btf(e))
    }
}

struct FieldVal {
    val: u64,
    field_sz: u32,
    type_id: u32,
    validate: bool,
}

struct Ctx<'l, 't> {
    local: &'l Btf,
    target: &'t Btf,
    steps: u32,
    /// `MAX_STEPS`, or less when the load's budget has less left.
    limit: u32,
    /// Whether `limit` is the budget's (then running out of steps is
    /// [`Reason::OutOfBudget`]).
    budget_bound: bool,
}

/// Two FUNC_PROTOs with as many parameters: their return types and the
/// pairs of their parameters' types, which both libbpf comparisons walk.
/// `None` if either is not a prototype or the counts differ.
fn proto_pair<'l, 't>(
    l: &Type<'l>,
    t: &Type<'t>,
) -> Option<(u32, u32, impl Iterator<Item = (u32, u32)> + use<'l, 't>)> {
    match (l.data(), t.data()) {
        (
            TypeData::FuncProto {
                ret: lret,
                params: lp,
            },
            TypeData::FuncProto {
                ret: tret,
                params: tp,
            },
        ) if lp.len() == tp.len() => Some((
            lret,
            tret,
            (0..lp.len()).filter_map(move |i| Some((lp.get(i)?.ty, tp.get(i)?.ty))),
        )),
        _ => None,
    }
}

fn names_equal_essential(a: &[u8], b: &[u8]) -> bool {
    essential_bytes(a) == essential_bytes(b)
}

/// libbpf's `is_flex_arr`: an array of 0 elements that is the last member of
/// the struct the previous accessor named.
fn is_flex_arr(btf: &Btf, prev: Option<&Accessor<'_>>, nelems: u32) -> bool {
    let Some(prev) = prev else { return false };
    if prev.name.is_none() || nelems > 0 {
        return false;
    }
    btf.ty(prev.type_id)
        .is_some_and(|t| i64::from(prev.idx) == t.vlen() as i64 - 1)
}

impl<'l, 't> Ctx<'l, 't> {
    /// A context for one relocation (or comparison): at most `MAX_STEPS`,
    /// and at most what `budget` has left.
    fn within(local: &'l Btf, target: &'t Btf, budget: &CoreStepBudget) -> Self {
        Ctx {
            local,
            target,
            steps: 0,
            limit: u32::try_from(budget.remaining).map_or(MAX_STEPS, |left| left.min(MAX_STEPS)),
            budget_bound: budget.remaining <= u64::from(MAX_STEPS),
        }
    }

    /// Takes the steps this context used from `budget`.
    fn charge(&self, budget: &mut CoreStepBudget) {
        budget.remaining = budget.remaining.saturating_sub(u64::from(self.steps));
    }

    fn step(&mut self) -> Result<(), Reason> {
        self.steps += 1;
        if self.steps <= self.limit {
            Ok(())
        } else if self.budget_bound {
            Err(Reason::OutOfBudget)
        } else {
            Err(Reason::TooComplex("type matching takes too many steps"))
        }
    }

    fn resolve(
        &mut self,
        relo: &CoreRelocation,
        cache: &mut CoreCandidateCache,
    ) -> Result<RelRes, Reason> {
        // Every relocation costs at least a step, whether or not it matches
        // types (a `type_id_local`, a type the kernel lacks): the budget
        // bounds their number too.
        self.step()?;
        if let CoreRelocationKind::Unknown(raw) = relo.kind {
            return Err(Reason::UnsupportedKind(raw));
        }
        let local_type = self.local.ty(relo.type_id).ok_or(Reason::NoSuchLocalType)?;
        let local_name = self
            .local
            .string_bytes(local_type.name_off())
            .unwrap_or(&[]);
        let local_spec = parse_spec(self.local, relo)?;

        if relo.kind == CoreRelocationKind::TypeIdLocal {
            // The id may change when objects are linked: not validated.
            return Ok(RelRes {
                validate: false,
                orig_val: u64::from(local_spec.root_type_id),
                new_val: u64::from(local_spec.root_type_id),
                ..RelRes::default()
            });
        }
        if local_name.is_empty() {
            return Err(Reason::AnonymousType);
        }

        let cands = cache.pruned(
            self.target,
            relo.type_id,
            essential_bytes(local_name),
            local_type.kind(),
        );
        let mut chosen: Option<(RelRes, Spec<'t>)> = None;
        let mut kept = Vec::new();
        for &cand in cands.iter() {
            let Some(cand_spec) = self.spec_match(&local_spec, cand)? else {
                continue;
            };
            let cand_res = self.calc_relo(relo.kind, &local_spec, Some(&cand_spec))?;
            match &chosen {
                None => chosen = Some((cand_res, cand_spec)),
                Some((res, spec)) => {
                    if cand_spec.bit_offset != spec.bit_offset {
                        return Err(Reason::Ambiguous(format!(
                            "field offset: target types [{}] and [{}] give bit offsets {} and {}",
                            spec.root_type_id,
                            cand_spec.root_type_id,
                            spec.bit_offset,
                            cand_spec.bit_offset
                        )));
                    }
                    if cand_res.poison != res.poison || cand_res.new_val != res.new_val {
                        return Err(Reason::Ambiguous(format!(
                            "relocation decision: target types [{}] and [{}] give {} and {}",
                            spec.root_type_id,
                            cand_spec.root_type_id,
                            describe(res),
                            describe(&cand_res)
                        )));
                    }
                }
            }
            kept.push(cand);
        }
        if !kept.is_empty() {
            *cands = kept;
        }
        match chosen {
            Some((res, _)) => Ok(res),
            None => self.calc_relo(relo.kind, &local_spec, None),
        }
    }

    // ------------------------------------------------------------ matching

    /// libbpf's `bpf_core_spec_match`: `None` when the candidate does not match.
    fn spec_match(&mut self, local_spec: &Spec<'l>, cand: u32) -> Result<Option<Spec<'t>>, Reason> {
        let target = self.target;
        let kind = local_spec.kind;
        let mut ts = Spec::new(target, cand, kind);
        if kind.is_type_based() {
            let ok = if kind == CoreRelocationKind::TypeMatches {
                self.types_match(local_spec.root_type_id, cand, false, MAX_LEVEL)?
            } else {
                self.types_are_compat(local_spec.root_type_id, cand, MAX_LEVEL)?
            };
            return Ok(ok.then_some(ts));
        }

        let Some(local_acc) = local_spec.acc.first() else {
            return Err(Reason::InvalidAccess("empty spec".into()));
        };
        if kind.is_enumval_based() {
            let t = target.skip_mods(cand)?;
            let Some(values) = t.enumerators() else {
                return Ok(None);
            };
            let local_name = local_acc.name.unwrap_or(&[]);
            for i in 0..values.len() {
                self.step()?;
                let name = values
                    .name_off(i)
                    .and_then(|off| target.string_bytes(off))
                    .unwrap_or(&[]);
                if names_equal_essential(local_name, name) {
                    ts.acc.push(Accessor {
                        type_id: t.id(),
                        idx: i as u32,
                        name: Some(name),
                    });
                    ts.raw.push(i as u32);
                    return Ok(Some(ts));
                }
            }
            return Ok(None);
        }

        let mut targ_id = cand;
        for (i, la) in local_spec.acc.iter().enumerate() {
            let t = target.skip_mods(targ_id)?;
            targ_id = t.id();
            if la.name.is_some() {
                let mut next = targ_id;
                if !self.match_member(la, targ_id, &mut ts, &mut next)? {
                    return Ok(None);
                }
                targ_id = next;
            } else {
                if i > 0 {
                    let TypeData::Array(a) = t.data() else {
                        return Ok(None);
                    };
                    let flex = is_flex_arr(target, ts.acc.get(i - 1), a.nelems);
                    if !flex && la.idx >= a.nelems {
                        return Ok(None);
                    }
                    targ_id = target.skip_mods(a.elem)?.id();
                }
                if ts.raw.len() == SPEC_MAX_LEN {
                    return Err(Reason::TooComplex("access deeper than 64"));
                }
                ts.acc.push(Accessor {
                    type_id: targ_id,
                    idx: la.idx,
                    name: None,
                });
                ts.raw.push(la.idx);
                let sz = target.size_of(targ_id)?;
                ts.add_elements(la.idx, sz)?;
            }
        }
        Ok(Some(ts))
    }

    /// libbpf's `bpf_core_match_member`: finds the local accessor's member by
    /// name in target type `targ_id`, through anonymous members.
    fn match_member(
        &mut self,
        local_acc: &Accessor<'l>,
        targ_id: u32,
        spec: &mut Spec<'t>,
        next_targ_id: &mut u32,
    ) -> Result<bool, Reason> {
        let target = self.target;
        let tt = target.skip_mods(targ_id)?;
        let Some(members) = tt.member_list() else {
            return Ok(false);
        };
        let local_member = self
            .local
            .ty(local_acc.type_id)
            .and_then(|t| t.member_list())
            .and_then(|m| m.get(local_acc.idx as usize))
            .ok_or_else(|| Reason::InvalidAccess("local member vanished".into()))?;
        let local_name = local_acc.name.unwrap_or(&[]);

        for (i, m) in members.iter().enumerate() {
            self.step()?;
            if spec.raw.len() == SPEC_MAX_LEN {
                return Err(Reason::TooComplex(
                    "struct/union/array nesting deeper than 64",
                ));
            }
            let saved = (spec.bit_offset, spec.raw.len(), spec.acc.len());
            spec.add_bits(u64::from(m.bit_offset))?;
            spec.raw.push(i as u32);
            let targ_name = target.string_bytes(m.name_off).unwrap_or(&[]);
            if targ_name.is_empty() {
                // An embedded struct/union: look inside.
                if self.match_member(local_acc, m.ty, spec, next_targ_id)? {
                    return Ok(true);
                }
            } else if targ_name == local_name {
                spec.acc.push(Accessor {
                    type_id: tt.id(),
                    idx: i as u32,
                    name: Some(targ_name),
                });
                *next_targ_id = m.ty;
                let compat = self.fields_are_compat(local_member.ty, m.ty)?;
                if !compat {
                    spec.acc.pop();
                }
                return Ok(compat);
            }
            // Not this member: undo.
            spec.bit_offset = saved.0;
            spec.raw.truncate(saved.1);
            spec.acc.truncate(saved.2);
        }
        Ok(false)
    }

    /// libbpf's `bpf_core_fields_are_compat`.
    fn fields_are_compat(&mut self, local_id: u32, targ_id: u32) -> Result<bool, Reason> {
        let (mut lid, mut tid) = (local_id, targ_id);
        for _ in 0..=MAX_RESOLVE_DEPTH {
            self.step()?;
            let lt = self.local.skip_mods(lid)?;
            let tt = self.target.skip_mods(tid)?;
            if lt.kind().is_composite() && tt.kind().is_composite() {
                return Ok(true);
            }
            if !kind_core_compat(lt.kind(), tt.kind()) {
                return Ok(false);
            }
            match lt.kind() {
                Kind::Ptr | Kind::Float => return Ok(true),
                Kind::Fwd | Kind::Enum | Kind::Enum64 => {
                    let ln = essential_bytes(self.local.string_bytes(lt.name_off()).unwrap_or(&[]));
                    let tn =
                        essential_bytes(self.target.string_bytes(tt.name_off()).unwrap_or(&[]));
                    return Ok(ln.is_empty() || tn.is_empty() || ln == tn);
                }
                Kind::Int => {
                    return Ok(lt.int().is_some_and(|i| i.offset == 0)
                        && tt.int().is_some_and(|i| i.offset == 0));
                }
                Kind::Array => {
                    lid = lt.target().unwrap_or(0);
                    tid = tt.target().unwrap_or(0);
                }
                _ => return Ok(false),
            }
        }
        Err(Reason::Btf(BtfError::ChainTooLong {
            id: local_id,
            max: MAX_RESOLVE_DEPTH,
        }))
    }

    /// libbpf's `__bpf_core_types_are_compat` (type-based relocations).
    fn types_are_compat(
        &mut self,
        local_id: u32,
        targ_id: u32,
        level: i32,
    ) -> Result<bool, Reason> {
        let (lt, tt) = (
            self.local.ty(local_id).ok_or(Reason::NoSuchLocalType)?,
            self.target.ty_or_err(targ_id)?,
        );
        if !kind_core_compat(lt.kind(), tt.kind()) {
            return Ok(false);
        }
        let (mut lid, mut tid) = (local_id, targ_id);
        for _ in 0..MAX_RESOLVE_DEPTH {
            self.step()?;
            let lt = self.local.skip_mods(lid)?;
            let tt = self.target.skip_mods(tid)?;
            if !kind_core_compat(lt.kind(), tt.kind()) {
                return Ok(false);
            }
            match lt.kind() {
                Kind::Void | Kind::Struct | Kind::Union | Kind::Enum | Kind::Fwd | Kind::Enum64 => {
                    return Ok(true);
                }
                Kind::Int => {
                    return Ok(lt.int().is_some_and(|i| i.offset == 0)
                        && tt.int().is_some_and(|i| i.offset == 0));
                }
                Kind::Ptr | Kind::Array => {
                    lid = lt.target().unwrap_or(0);
                    tid = tt.target().unwrap_or(0);
                }
                Kind::FuncProto => {
                    let Some((lret, tret, params)) = proto_pair(&lt, &tt) else {
                        return Ok(false);
                    };
                    for (l, t) in params {
                        if level <= 0 {
                            return Err(Reason::TooComplex("function prototypes nested too deep"));
                        }
                        let l = self.local.skip_mods(l)?.id();
                        let t = self.target.skip_mods(t)?.id();
                        if !self.types_are_compat(l, t, level - 1)? {
                            return Ok(false);
                        }
                    }
                    lid = self.local.skip_mods(lret)?.id();
                    tid = self.target.skip_mods(tret)?.id();
                }
                _ => return Ok(false),
            }
        }
        Err(Reason::TooComplex("type chain deeper than 32"))
    }

    /// libbpf's `bpf_core_names_match`.
    fn names_match(&self, local_off: u32, targ_off: u32) -> bool {
        let ln = self.local.string_bytes(local_off).unwrap_or(&[]);
        let tn = self.target.string_bytes(targ_off).unwrap_or(&[]);
        if tn.is_empty() {
            return ln.is_empty();
        }
        names_equal_essential(ln, tn)
    }

    /// libbpf's `__bpf_core_types_match` (`TYPE_MATCHES` relocations).
    fn types_match(
        &mut self,
        local_id: u32,
        targ_id: u32,
        mut behind_ptr: bool,
        level: i32,
    ) -> Result<bool, Reason> {
        if level <= 0 {
            return Err(Reason::TooComplex("types nested too deep to match"));
        }
        let (mut lid, mut tid) = (local_id, targ_id);
        for _ in 0..MAX_RESOLVE_DEPTH {
            self.step()?;
            let lt = self.local.skip_mods(lid)?;
            let tt = self.target.skip_mods(tid)?;
            if !self.names_match(lt.name_off(), tt.name_off()) {
                return Ok(false);
            }
            let (lk, tk) = (lt.kind(), tt.kind());
            match lk {
                Kind::Void => return Ok(lk == tk),
                Kind::Fwd => {
                    let lf = lt.kind_flag();
                    if behind_ptr {
                        if lk == tk {
                            return Ok(lf == tt.kind_flag());
                        }
                        return Ok((tk == Kind::Struct && !lf) || (tk == Kind::Union && lf));
                    }
                    return Ok(lk == tk && lf == tt.kind_flag());
                }
                Kind::Enum | Kind::Enum64 => {
                    if !tk.is_any_enum() {
                        return Ok(false);
                    }
                    return self.enums_match(lt, tt);
                }
                Kind::Struct | Kind::Union => {
                    if behind_ptr {
                        if lk == tk {
                            return Ok(true);
                        }
                        if tk != Kind::Fwd {
                            return Ok(false);
                        }
                        return Ok((lk == Kind::Union) == tt.kind_flag());
                    }
                    if lk != tk {
                        return Ok(false);
                    }
                    return self.composites_match(lt, tt, behind_ptr, level);
                }
                Kind::Int => {
                    if lk != tk {
                        return Ok(false);
                    }
                    let (Some(li), Some(ti)) = (lt.int(), tt.int()) else {
                        return Ok(false);
                    };
                    return Ok(li.size == ti.size && li.is_signed() == ti.is_signed());
                }
                Kind::Ptr => {
                    if lk != tk {
                        return Ok(false);
                    }
                    behind_ptr = true;
                    lid = lt.size_or_type();
                    tid = tt.size_or_type();
                }
                Kind::Array => {
                    let (TypeData::Array(la), TypeData::Array(ta)) = (lt.data(), tt.data()) else {
                        return Ok(false);
                    };
                    if la.nelems != ta.nelems {
                        return Ok(false);
                    }
                    lid = la.elem;
                    tid = ta.elem;
                }
                Kind::FuncProto => {
                    let Some((lret, tret, params)) = proto_pair(&lt, &tt) else {
                        return Ok(false);
                    };
                    for (l, t) in params {
                        if !self.types_match(l, t, behind_ptr, level - 1)? {
                            return Ok(false);
                        }
                    }
                    lid = lret;
                    tid = tret;
                }
                _ => return Ok(false),
            }
        }
        Err(Reason::TooComplex("type chain deeper than 32"))
    }

    /// libbpf's `bpf_core_enums_match`.
    fn enums_match(&mut self, lt: Type<'l>, tt: Type<'t>) -> Result<bool, Reason> {
        if lt.size_or_type() != tt.size_or_type() {
            return Ok(false);
        }
        let (Some(lv), Some(tv)) = (lt.enumerators(), tt.enumerators()) else {
            return Ok(false);
        };
        if lv.len() > tv.len() {
            return Ok(false);
        }
        for i in 0..lv.len() {
            let ln = lv.name_off(i).unwrap_or(0);
            let mut matched = false;
            for j in 0..tv.len() {
                self.step()?;
                if self.names_match(ln, tv.name_off(j).unwrap_or(0)) {
                    matched = true;
                    break;
                }
            }
            if !matched {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// libbpf's `bpf_core_composites_match`.
    fn composites_match(
        &mut self,
        lt: Type<'l>,
        tt: Type<'t>,
        behind_ptr: bool,
        level: i32,
    ) -> Result<bool, Reason> {
        let (Some(lm), Some(tm)) = (lt.member_list(), tt.member_list()) else {
            return Ok(false);
        };
        if lm.len() > tm.len() {
            return Ok(false);
        }
        for l in lm.iter() {
            let mut matched = false;
            for t in tm.iter() {
                self.step()?;
                if !self.names_match(l.name_off, t.name_off) {
                    continue;
                }
                if self.types_match(l.ty, t.ty, behind_ptr, level - 1)? {
                    matched = true;
                    break;
                }
            }
            if !matched {
                return Ok(false);
            }
        }
        Ok(true)
    }

    // ------------------------------------------------------------ values

    /// libbpf's `bpf_core_calc_relo`.
    fn calc_relo(
        &mut self,
        kind: CoreRelocationKind,
        local_spec: &Spec<'l>,
        targ_spec: Option<&Spec<'t>>,
    ) -> Result<RelRes, Reason> {
        let mut res = RelRes {
            validate: true,
            ..RelRes::default()
        };
        if kind.is_field_based() {
            let local = match calc_field(kind, Some(local_spec)) {
                Ok(v) => v,
                Err(Calc::Fail(r)) => return Err(r),
                Err(Calc::Poison) => {
                    res.poison = true;
                    return Ok(res);
                }
            };
            res.orig_val = local.val;
            res.orig_sz = local.field_sz;
            res.orig_type_id = local.type_id;
            res.validate = local.validate;
            let targ = match calc_field(kind, targ_spec) {
                Ok(v) => v,
                Err(Calc::Fail(r)) => return Err(r),
                Err(Calc::Poison) => {
                    res.poison = true;
                    return Ok(res);
                }
            };
            res.new_val = targ.val;
            res.new_sz = targ.field_sz;
            res.new_type_id = targ.type_id;
            if res.orig_sz != res.new_sz {
                let orig_t = self.local.ty(res.orig_type_id);
                let new_t = self.target.ty(res.new_type_id);
                let both = |k: Kind| {
                    orig_t.is_some_and(|t| t.kind() == k) && new_t.is_some_and(|t| t.kind() == k)
                };
                let unsigned = |t: Option<Type<'_>>| {
                    t.and_then(|t| t.int())
                        .is_some_and(|i| i.encoding != Int::SIGNED)
                };
                // Safe to resize: a pointer (a 32-bit kernel's, zero-extended),
                // or unsigned integers (zero-extended too).
                let safe = both(Kind::Ptr) || (unsigned(orig_t) && unsigned(new_t));
                res.fail_memsz_adjust = !safe;
            }
        } else if kind.is_type_based() {
            let (orig, validate) = calc_type(kind, Some(local_spec))?;
            let (new, _) = calc_type(kind, targ_spec)?;
            res.orig_val = orig;
            res.new_val = new;
            res.validate = validate;
        } else if kind.is_enumval_based() {
            match calc_enumval(kind, Some(local_spec)) {
                Ok(v) => res.orig_val = v,
                Err(Calc::Fail(r)) => return Err(r),
                Err(Calc::Poison) => {
                    res.poison = true;
                    return Ok(res);
                }
            }
            match calc_enumval(kind, targ_spec) {
                Ok(v) => res.new_val = v,
                Err(Calc::Fail(r)) => return Err(r),
                Err(Calc::Poison) => res.poison = true,
            }
        } else {
            return Err(Reason::UnsupportedKind(kind.raw()));
        }
        Ok(res)
    }
}

fn describe(res: &RelRes) -> String {
    if res.poison {
        "failure (poison)".into()
    } else {
        format!("success ({})", res.new_val)
    }
}

/// libbpf's `bpf_core_parse_spec`.
fn parse_spec<'a>(btf: &'a Btf, relo: &CoreRelocation) -> Result<Spec<'a>, Reason> {
    let access = relo.access.as_str();
    let invalid = |why: String| Reason::InvalidAccess(why);
    if access.is_empty() || access.starts_with(':') {
        return Err(invalid("empty, or starts with ':'".into()));
    }
    let mut spec = Spec::new(btf, relo.type_id, relo.kind);
    if relo.kind.is_type_based() {
        if access != "0" {
            return Err(invalid(
                "a type-based relocation's access string must be \"0\"".into(),
            ));
        }
        return Ok(spec);
    }
    for part in access.split(':') {
        let idx: u32 = part
            .parse()
            .map_err(|_| invalid(format!("{part:?} is not an index")))?;
        if spec.raw.len() == SPEC_MAX_LEN {
            return Err(Reason::TooComplex("access string longer than 64"));
        }
        spec.raw.push(idx);
    }
    let root = btf.skip_mods(relo.type_id)?;
    let mut id = root.id();
    let first = spec.raw[0];
    spec.acc.push(Accessor {
        type_id: id,
        idx: first,
        name: None,
    });

    if relo.kind.is_enumval_based() {
        let Some(values) = root.enumerators() else {
            return Err(invalid(format!(
                "type [{id}] is a {}, not an enum",
                root.kind()
            )));
        };
        if spec.raw.len() > 1 || first as usize >= values.len() {
            return Err(invalid(format!(
                "enum [{id}] has {} enumerators",
                values.len()
            )));
        }
        let name = values
            .name_off(first as usize)
            .and_then(|off| btf.string_bytes(off));
        spec.acc[0].name = name;
        return Ok(spec);
    }
    if !relo.kind.is_field_based() {
        return Err(Reason::UnsupportedKind(relo.kind.raw()));
    }

    let sz = btf.size_of(id)?;
    spec.add_elements(first, sz)?;
    for i in 1..spec.raw.len() {
        let t = btf.skip_mods(id)?;
        id = t.id();
        let idx = spec.raw[i];
        if let Some(members) = t.member_list() {
            let m = members.get(idx as usize).ok_or_else(|| {
                invalid(format!(
                    "index {idx} at position {i}: [{id}] has {} members",
                    members.len()
                ))
            })?;
            spec.add_bits(u64::from(m.bit_offset))?;
            if m.name_off != 0 {
                let name = btf
                    .string_bytes(m.name_off)
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| invalid(format!("member {idx} of [{id}] has a bad name")))?;
                spec.acc.push(Accessor {
                    type_id: id,
                    idx,
                    name: Some(name),
                });
            }
            id = m.ty;
        } else if let TypeData::Array(a) = t.data() {
            let elem = btf.skip_mods(a.elem)?;
            id = elem.id();
            let flex = is_flex_arr(btf, spec.acc.last(), a.nelems);
            if !flex && idx >= a.nelems {
                return Err(invalid(format!(
                    "index {idx} at position {i}: array [{}] has {} elements",
                    t.id(),
                    a.nelems
                )));
            }
            spec.acc.push(Accessor {
                type_id: id,
                idx,
                name: None,
            });
            let sz = btf.size_of(id)?;
            spec.add_elements(idx, sz)?;
        } else {
            return Err(invalid(format!(
                "index {idx} at position {i}: [{id}] is a {}, neither a struct, union nor array",
                t.kind()
            )));
        }
    }
    Ok(spec)
}

/// The size a load or store of field type `id` moves: of one element for an
/// array (of arrays), as libbpf has it ("for arrays we care about individual
/// element sizes, not the overall array size"), so that an array of another
/// length is no reason to refuse, and elements of another size are.
fn element_size(btf: &Btf, id: u32) -> Result<u32, Reason> {
    let mut t = btf.skip_mods(id)?;
    for _ in 0..MAX_RESOLVE_DEPTH {
        let TypeData::Array(a) = t.data() else {
            return Ok(btf.size_of(t.id())?);
        };
        t = btf.skip_mods(a.elem)?;
    }
    Err(Reason::Btf(BtfError::ChainTooLong {
        id,
        max: MAX_RESOLVE_DEPTH,
    }))
}

/// libbpf's `bpf_core_calc_field_relo`.
fn calc_field(kind: CoreRelocationKind, spec: Option<&Spec<'_>>) -> Result<FieldVal, Calc> {
    use CoreRelocationKind as K;
    if kind == K::FieldExists {
        return Ok(FieldVal {
            val: u64::from(spec.is_some()),
            field_sz: 0,
            type_id: 0,
            validate: true,
        });
    }
    let spec = spec.ok_or(Calc::Poison)?;
    let btf = spec.btf;
    let acc = spec
        .acc
        .last()
        .ok_or_else(|| Reason::InvalidAccess("empty spec".into()))?;
    let bit_offset = spec.bit_offset as u32;

    if acc.name.is_none() {
        // An array element (or the root).
        let sz = btf.size_of(acc.type_id)?;
        return match kind {
            K::FieldByteOffset => Ok(FieldVal {
                val: u64::from(bit_offset / 8),
                field_sz: element_size(btf, acc.type_id)?,
                type_id: acc.type_id,
                validate: true,
            }),
            K::FieldByteSize => Ok(FieldVal {
                val: u64::from(sz),
                field_sz: 0,
                type_id: 0,
                validate: true,
            }),
            _ => Err(Calc::Fail(Reason::ArrayAccess)),
        };
    }

    let m = btf
        .ty(acc.type_id)
        .and_then(|t| t.member_list())
        .and_then(|ms| ms.get(acc.idx as usize))
        .ok_or_else(|| Reason::InvalidAccess("member vanished".into()))?;
    let mt = btf.skip_mods(m.ty)?;
    let field_type_id = mt.id();
    let mut bit_sz = m.bitfield_size;
    let bitfield = bit_sz > 0;
    let (byte_off, byte_sz) = if bitfield {
        let mut byte_sz = mt.size_or_type();
        if byte_sz == 0 {
            return Err(Calc::Fail(Reason::InvalidAccess(format!(
                "bitfield of type [{field_type_id}] of size 0"
            ))));
        }
        let mut byte_off = bit_offset / 8 / byte_sz * byte_sz;
        // The smallest load that holds the whole bitfield.
        while u64::from(bit_offset) + u64::from(bit_sz) - u64::from(byte_off) * 8
            > u64::from(byte_sz) * 8
        {
            if byte_sz >= 8 {
                return Err(Calc::Fail(Reason::BitfieldTooWide));
            }
            byte_sz *= 2;
            byte_off = bit_offset / 8 / byte_sz * byte_sz;
        }
        (byte_off, byte_sz)
    } else {
        let byte_sz = btf.size_of(field_type_id)?;
        bit_sz = byte_sz.wrapping_mul(8);
        (bit_offset / 8, byte_sz)
    };

    // Bitfields: the compiler's values may differ from ours; only
    // signedness and the right shift are checked.
    let mut validate = !bitfield;
    let mut out = FieldVal {
        val: 0,
        field_sz: 0,
        type_id: 0,
        validate,
    };
    out.val = match kind {
        K::FieldByteOffset => {
            if !bitfield {
                out.field_sz = element_size(btf, field_type_id)?;
                out.type_id = field_type_id;
            }
            u64::from(byte_off)
        }
        K::FieldByteSize => u64::from(byte_sz),
        K::FieldSigned => {
            validate = true;
            let signed = (mt.kind().is_any_enum() && mt.kind_flag())
                || mt.int().is_some_and(|i| i.is_signed());
            u64::from(signed)
        }
        K::FieldLShiftU64 => {
            // libbpf computes this for the byte order of the machine it runs
            // on, which is always its objects'; here an object of either
            // order is relocated on any host: the BTF's order decides.
            let v = if btf.byte_order() == ByteOrder::Little {
                64u32.wrapping_sub(
                    bit_offset
                        .wrapping_add(bit_sz)
                        .wrapping_sub(byte_off.wrapping_mul(8)),
                )
            } else {
                8u32.wrapping_sub(byte_sz)
                    .wrapping_mul(8)
                    .wrapping_add(bit_offset.wrapping_sub(byte_off.wrapping_mul(8)))
            };
            u64::from(v)
        }
        K::FieldRShiftU64 => {
            validate = true;
            u64::from(64u32.wrapping_sub(bit_sz))
        }
        _ => return Err(Calc::Fail(Reason::UnsupportedKind(kind.raw()))),
    };
    out.validate = validate;
    Ok(out)
}

/// libbpf's `bpf_core_calc_type_relo`: the value and whether to validate.
fn calc_type(kind: CoreRelocationKind, spec: Option<&Spec<'_>>) -> Result<(u64, bool), Reason> {
    use CoreRelocationKind as K;
    let Some(spec) = spec else {
        return Ok((0, true));
    };
    match kind {
        K::TypeIdTarget => Ok((u64::from(spec.root_type_id), false)),
        K::TypeExists | K::TypeMatches => Ok((1, true)),
        K::TypeSize => Ok((u64::from(spec.btf.size_of(spec.root_type_id)?), true)),
        _ => Err(Reason::UnsupportedKind(kind.raw())),
    }
}

/// libbpf's `bpf_core_calc_enumval_relo`.
fn calc_enumval(kind: CoreRelocationKind, spec: Option<&Spec<'_>>) -> Result<u64, Calc> {
    match kind {
        CoreRelocationKind::EnumvalExists => Ok(u64::from(spec.is_some())),
        CoreRelocationKind::EnumvalValue => {
            let spec = spec.ok_or(Calc::Poison)?;
            let acc = spec
                .acc
                .first()
                .ok_or_else(|| Reason::InvalidAccess("empty spec".into()))?;
            spec.btf
                .ty(acc.type_id)
                .and_then(|t| t.enumerators())
                .and_then(|e| e.libbpf_value(acc.idx as usize))
                .ok_or_else(|| Calc::Fail(Reason::InvalidAccess("enumerator vanished".into())))
        }
        _ => Err(Calc::Fail(Reason::UnsupportedKind(kind.raw()))),
    }
}

/// The poisoned instruction: `call 0xbad2310`.
fn poison_insn() -> Instruction {
    Instruction::new(BPF_JMP | BPF_CALL, 0, 0, 0, POISON_IMM)
}

fn poison(work: &mut [Instruction], idx: usize) {
    if work[idx].is_ld_imm64()
        && let Some(second) = work.get_mut(idx + 1)
    {
        // So that the verifier does not complain about "unknown opcode 00".
        *second = poison_insn();
    }
    work[idx] = poison_insn();
}

fn size_bytes(code: u8) -> u32 {
    match code & 0x18 {
        0x18 => 8,
        0x00 => 4,
        0x08 => 2,
        _ => 1,
    }
}

fn size_code(bytes: u32) -> Option<u8> {
    match bytes {
        8 => Some(0x18),
        4 => Some(0x00),
        2 => Some(0x08),
        1 => Some(0x10),
        _ => None,
    }
}

/// libbpf's `bpf_core_patch_insn`: `Some(reason)` when poisoned.
fn patch(
    work: &mut [Instruction],
    idx: usize,
    res: &RelRes,
) -> Result<Option<PoisonReason>, Reason> {
    if res.poison {
        poison(work, idx);
        return Ok(Some(PoisonReason::NotFound));
    }
    let insn = work[idx];
    let unexpected = |why: &'static str| Reason::UnexpectedInstruction {
        code: insn.code,
        off: insn.off,
        imm: insn.imm,
        why,
    };
    let (orig, new) = (res.orig_val, res.new_val);
    match insn.code & 0x07 {
        BPF_ALU | BPF_ALU64 => {
            if insn.code & BPF_X != 0 {
                return Err(unexpected("an ALU instruction with a register source"));
            }
            let found = insn.imm as i64 as u64;
            if res.validate && found != orig {
                return Err(Reason::UnexpectedValue {
                    found,
                    expected: orig,
                    new,
                });
            }
            work[idx].imm = new as u32 as i32;
        }
        BPF_LDX | BPF_ST | BPF_STX => {
            let found = insn.off as i64 as u64;
            if res.validate && found != orig {
                return Err(Reason::UnexpectedValue {
                    found,
                    expected: orig,
                    new,
                });
            }
            if new > i16::MAX as u64 {
                return Err(Reason::OffsetTooLarge(new));
            }
            if res.fail_memsz_adjust {
                poison(work, idx);
                return Ok(Some(PoisonReason::MemorySize));
            }
            work[idx].off = new as i16;
            if res.new_sz != res.orig_sz {
                let found = size_bytes(insn.code);
                if found != res.orig_sz {
                    return Err(Reason::MemorySizeMismatch {
                        found,
                        expected: res.orig_sz,
                    });
                }
                let size = size_code(res.new_sz).ok_or(Reason::InvalidMemorySize(res.new_sz))?;
                work[idx].code = (insn.code & 0xe0) | size | (insn.code & 0x07);
            }
        }
        BPF_LD => {
            let second = work.get(idx + 1).copied();
            let Some(second) = second.filter(|s| {
                insn.is_ld_imm64()
                    && insn.src_reg() == 0
                    && insn.off == 0
                    && s.code == 0
                    && s.dst_reg() == 0
                    && s.src_reg() == 0
                    && s.off == 0
            }) else {
                return Err(unexpected("not an ld_imm64 of a plain 64-bit value"));
            };
            let found = u64::from(insn.imm as u32) | u64::from(second.imm as u32) << 32;
            if res.validate && found != orig {
                return Err(Reason::UnexpectedValue {
                    found,
                    expected: orig,
                    new,
                });
            }
            work[idx].imm = new as u32 as i32;
            work[idx + 1].imm = (new >> 32) as u32 as i32;
        }
        _ => {
            return Err(unexpected(
                "not an ALU, LDX, ST, STX or ld_imm64 instruction",
            ));
        }
    }
    Ok(None)
}
