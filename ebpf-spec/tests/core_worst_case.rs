//! Measurement (ignored; needs `/sys/kernel/btf/vmlinux`): the costliest
//! CO-RE relocation a crafted local BTF can ask for against the running
//! kernel, and what the step budget makes of many of them (HARDENING.md).
//!
//! `cargo test --release -p ebpf-spec --test core_worst_case -- --ignored --nocapture`
//!
//! A `TYPE_MATCHES` relocation compares every local member with the target's
//! until one matches by name, then recurses: a local struct holding many
//! copies of the target's member #i makes each copy scan i+1 members and
//! redo the whole match below it. The model below picks, among kernel
//! structs and unions with one candidate, the root and copy count that come
//! closest to the per-relocation cap (2^20 steps), builds that local type,
//! and times relocations of it.

mod btf_support;

use btf_support::BtfBuilder;
use ebpf_spec::btf::{
    Btf, CORE_STEP_BUDGET, CoreCandidateCache, CoreRelocation, CoreRelocationKind as K,
    CoreStepBudget, Kind, TypeData, relocate_within,
};
use ebpf_spec::{ByteOrder, Instruction};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const CAP: u64 = 1 << 20;

/// The steps `types_match` takes on the costliest local type matching
/// target `id`, and the member chosen to repeat.
struct Model<'a> {
    t: &'a Btf,
    memo: HashMap<(u32, bool), Option<(u64, usize)>>,
}

impl Model<'_> {
    fn w(&mut self, id: u32, behind: bool) -> Option<(u64, usize)> {
        let id = self.t.skip_mods_and_typedefs(id).ok()?;
        if let Some(&v) = self.memo.get(&(id, behind)) {
            return v;
        }
        self.memo.insert((id, behind), None); // a cycle is not followed
        let ty = self.t.ty(id)?;
        let r = match ty.data() {
            TypeData::Void | TypeData::Int(_) | TypeData::Fwd { .. } => Some((1, 0)),
            // As many local enumerators as the target's, all named as its last.
            TypeData::Enum(e) | TypeData::Enum64(e) => Some((1 + (e.len() * e.len()) as u64, 0)),
            TypeData::Struct(_) | TypeData::Union(_) if behind => Some((1, 0)),
            TypeData::Struct(m) | TypeData::Union(m) => {
                let ms: Vec<_> = m.iter().collect();
                let anon = ms.iter().position(|m| m.name.is_none());
                let mut best: Option<(u64, usize)> = None;
                for (i, m) in ms.iter().enumerate() {
                    if m.name.is_none() && Some(i) != anon {
                        continue;
                    }
                    if let Some((w, _)) = self.w(m.ty, false) {
                        let c = 1 + (ms.len() as u64).saturating_mul(i as u64 + 1 + w);
                        if best.is_none_or(|b| c > b.0) {
                            best = Some((c, i));
                        }
                    }
                }
                best
            }
            TypeData::Ptr { target } => self.w(target, true).map(|(w, _)| (1 + w, 0)),
            TypeData::Array(a) => self.w(a.elem, behind).map(|(w, _)| (1 + w, 0)),
            TypeData::FuncProto { ret, params } => {
                let mut s = 1u64;
                for p in params.iter() {
                    s = s.saturating_add(self.w(p.ty, behind)?.0);
                }
                Some((s.saturating_add(self.w(ret, behind)?.0), 0))
            }
            _ => None,
        };
        self.memo.insert((id, behind), r);
        r
    }
}

/// Builds the local types the model describes (`copies` at the root).
struct Builder<'a> {
    t: &'a Btf,
    b: BtfBuilder,
    memo: HashMap<(u32, bool), u32>,
    idx: u32,
}

impl Builder<'_> {
    fn build(&mut self, m: &mut Model<'_>, id: u32, behind: bool, copies: Option<usize>) -> u32 {
        let id = self.t.skip_mods_and_typedefs(id).unwrap();
        if copies.is_none()
            && let Some(&l) = self.memo.get(&(id, behind))
        {
            return l;
        }
        let ty = self.t.ty(id).unwrap();
        let (name, size) = (ty.name().unwrap_or(""), ty.size_or_type());
        let strukt = ty.kind() == Kind::Struct;
        let l = match ty.data() {
            TypeData::Void => 0,
            TypeData::Int(i) => {
                self.b
                    .int_enc(name, i.size, u32::from(i.encoding), 0, u32::from(i.bits))
            }
            TypeData::Fwd { union } => self.b.fwd(name, union),
            TypeData::Enum(e) | TypeData::Enum64(e) => {
                let last = e
                    .iter()
                    .last()
                    .and_then(|v| v.name)
                    .unwrap_or("")
                    .to_owned();
                if ty.kind() == Kind::Enum64 {
                    let v: Vec<_> = (0..e.len()).map(|i| (last.as_str(), i as u64)).collect();
                    self.b.enum64(name, size, false, &v)
                } else {
                    let v: Vec<_> = (0..e.len()).map(|i| (last.as_str(), i as i64)).collect();
                    self.b.enumeration(name, size, false, &v)
                }
            }
            TypeData::Struct(_) | TypeData::Union(_) if behind => {
                if strukt {
                    self.b.structure(name, size, &[])
                } else {
                    self.b.union(name, size, &[])
                }
            }
            TypeData::Struct(ms) | TypeData::Union(ms) => {
                let mem = ms.get(m.w(id, false).unwrap().1).unwrap();
                let sub = self.build(m, mem.ty, false, None);
                let mname = mem.name.unwrap_or("").to_owned();
                let list: Vec<_> = (0..copies.unwrap_or(ms.len()))
                    .map(|_| (mname.as_str(), sub, 0, 0))
                    .collect();
                if strukt {
                    self.b.structure(name, size, &list)
                } else {
                    self.b.union(name, size, &list)
                }
            }
            TypeData::Ptr { target } => {
                let s = self.build(m, target, true, None);
                self.b.ptr(s)
            }
            TypeData::Array(a) => {
                let s = self.build(m, a.elem, behind, None);
                self.b.array(s, self.idx, a.nelems)
            }
            TypeData::FuncProto { ret, params } => {
                let ps: Vec<u32> = params.iter().map(|p| p.ty).collect();
                let ls: Vec<u32> = ps
                    .into_iter()
                    .map(|p| self.build(m, p, behind, None))
                    .collect();
                let r = self.build(m, ret, behind, None);
                let list: Vec<_> = ls.iter().map(|&l| ("", l)).collect();
                self.b.func_proto(r, &list)
            }
            other => panic!("unmatchable {other:?}"),
        };
        if copies.is_none() {
            self.memo.insert((id, behind), l);
        }
        l
    }
}

fn local_for(t: &Btf, m: &mut Model<'_>, root: u32, copies: usize) -> (Btf, u32, usize) {
    let mut b = BtfBuilder::new();
    let idx = b.int("__idx", 4, false);
    let mut bl = Builder {
        t,
        b,
        memo: HashMap::new(),
        idx,
    };
    let lroot = bl.build(m, root, false, Some(copies));
    let blob = bl.b.build(ByteOrder::Little);
    (
        Btf::parse(&blob, ByteOrder::Little).unwrap(),
        lroot,
        blob.len(),
    )
}

/// `n` TYPE_MATCHES relocations of `root`, on one budget.
fn time_relos(
    local: &Btf,
    t: &Btf,
    root: u32,
    n: usize,
    budget: &mut CoreStepBudget,
) -> (Duration, Result<(), String>) {
    let relos: Vec<_> = (0..n)
        .map(|_| CoreRelocation {
            instruction: 0,
            type_id: root,
            access: "0".into(),
            kind: K::TypeMatches,
        })
        .collect();
    let mut insns = [Instruction::new(0xb7, 1, 0, 0, 1)]; // r1 = 1
    let start = Instant::now();
    let r = relocate_within(
        &mut insns,
        &relos,
        local,
        t,
        &mut CoreCandidateCache::new(),
        budget,
    );
    (start.elapsed(), r.map(|_| ()).map_err(|e| e.to_string()))
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture, release build"]
fn costliest_type_matches_against_the_kernel() {
    let t = Btf::parse(
        &std::fs::read("/sys/kernel/btf/vmlinux").unwrap(),
        ByteOrder::NATIVE,
    )
    .unwrap();
    let mut m = Model {
        t: &t,
        memo: HashMap::new(),
    };
    let (mut root, mut copies, mut steps) = (0, 0, 0);
    for id in t.ids() {
        let ty = t.ty(id).unwrap();
        let Some(name) = ty
            .name()
            .filter(|n| !n.is_empty() && ty.kind().is_composite())
        else {
            continue;
        };
        let same_name = t
            .ids_by_name(name)
            .filter(|&i| t.kind(i).is_some_and(Kind::is_composite))
            .count();
        if same_name != 1 {
            continue;
        }
        let Some((_, i)) = m.w(id, false) else {
            continue;
        };
        let (TypeData::Struct(ms) | TypeData::Union(ms)) = ty.data() else {
            unreachable!()
        };
        let per = i as u64 + 1 + m.w(ms.get(i).unwrap().ty, false).unwrap().0;
        let n = ((CAP - 1) / per).min(ty.vlen() as u64);
        if n > 0 && 1 + n * per > steps {
            (root, copies, steps) = (id, n as usize, 1 + n * per);
        }
    }
    let (local, lroot, size) = local_for(&t, &mut m, root, copies);
    println!(
        "root {:?}: {copies} copies, {steps} steps predicted; local .BTF {size} bytes",
        t.name(root)
    );
    for n in [1usize, 10, 50] {
        let mut unlimited = CoreStepBudget::new(u64::MAX);
        let (d, r) = time_relos(&local, &t, lroot, n, &mut unlimited);
        let used = u64::MAX - unlimited.remaining();
        println!(
            "{n} relocation(s), no budget: {d:?} ({:?} each, {used} steps, {:.1} ns a step) -> {r:?}",
            d / n as u32,
            d.as_nanos() as f64 / used as f64
        );
        assert!(r.is_ok());
    }
    // The same relocations, as many as 1 MiB of `.BTF.ext` holds (16 bytes
    // each), on the default budget: stopped after CORE_STEP_BUDGET steps.
    let n = (1 << 20) / 16;
    let mut budget = CoreStepBudget::default();
    let (d, r) = time_relos(&local, &t, lroot, n, &mut budget);
    println!(
        "{n} relocations on the default budget ({CORE_STEP_BUDGET} steps): stopped after {d:?}: {r:?}"
    );
    assert!(r.unwrap_err().contains("step budget"));
}
