//! BTF: parse the running kernel's vmlinux BTF, build its name index, and
//! relocate the CO-RE fixture's programs against it (with a warm candidate
//! cache, as a loader does for every instance after the first).
//!
//! Run: `cargo bench -p ebpf-spec --bench btf`. Without a readable
//! `/sys/kernel/btf/vmlinux` only the fixture's own BTF is parsed.

use criterion::{Criterion, criterion_group, criterion_main};
use ebpf_spec::btf::{Btf, BtfExt, CoreCandidateCache, CoreRelocation, Kind, relocate};
use ebpf_spec::{ByteOrder, Instruction};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};
use std::hint::black_box;

const CORE_EL: &[u8] = include_bytes!("../tests/fixtures/core/core.bpfel.o");

/// Every function of the fixture: instructions and CO-RE relocations.
fn programs(local: &Btf) -> Vec<(Vec<Instruction>, Vec<CoreRelocation>)> {
    let file = object::File::parse(CORE_EL).unwrap();
    let ext = file.section_by_name(".BTF.ext").unwrap().data().unwrap();
    let ext = BtfExt::parse(ext, ByteOrder::Little, local).unwrap();
    let mut out = Vec::new();
    for sym in file.symbols() {
        if sym.kind() != SymbolKind::Text || sym.size() == 0 {
            continue;
        }
        let section = file.section_by_index(sym.section_index().unwrap()).unwrap();
        let start = sym.address() as usize;
        let bytes = &section.data().unwrap()[start..start + sym.size() as usize];
        let insns: Vec<Instruction> = bytes
            .chunks_exact(8)
            .map(|c| zerocopy::FromBytes::read_from_bytes(c).unwrap())
            .collect();
        let relos = ext
            .section(section.name().unwrap())
            .unwrap()
            .core_relocations(start / 8..start / 8 + insns.len());
        out.push((insns, relos));
    }
    out
}

fn btf(c: &mut Criterion) {
    let file = object::File::parse(CORE_EL).unwrap();
    let local_bytes = file.section_by_name(".BTF").unwrap().data().unwrap();
    c.bench_function("btf/parse fixture .BTF", |b| {
        b.iter(|| Btf::parse(black_box(local_bytes), ByteOrder::Little).unwrap())
    });

    let Ok(vmlinux) = std::fs::read("/sys/kernel/btf/vmlinux") else {
        eprintln!("skipped vmlinux benches: /sys/kernel/btf/vmlinux cannot be read");
        return;
    };
    c.bench_function("btf/parse vmlinux", |b| {
        b.iter(|| Btf::parse(black_box(&vmlinux), ByteOrder::NATIVE).unwrap())
    });
    c.bench_function("btf/parse vmlinux + first name lookup", |b| {
        b.iter(|| {
            let btf = Btf::parse(black_box(&vmlinux), ByteOrder::NATIVE).unwrap();
            btf.find("task_struct", Kind::Struct).unwrap()
        })
    });

    let target = Btf::parse(&vmlinux, ByteOrder::NATIVE).unwrap();
    let local = Btf::parse(local_bytes, ByteOrder::Little).unwrap();
    let programs = programs(&local);
    let mut cache = CoreCandidateCache::new();
    c.bench_function("btf/relocate fixture against vmlinux (warm cache)", |b| {
        b.iter(|| {
            for (insns, relos) in &programs {
                let mut insns = insns.clone();
                relocate(&mut insns, relos, &local, &target, &mut cache).unwrap();
                black_box(insns);
            }
        })
    });
}

criterion_group!(benches, btf);
criterion_main!(benches);
