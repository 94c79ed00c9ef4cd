//! Parse every fixture and `copy()` the result, against aya-obj's
//! `Object::parse` of the same bytes, in the same run.
//!
//! `payload_floor` is what any deep copy must at least do: duplicate every
//! byte buffer the specs own (BTF, instructions, func/line info, relocation
//! offsets, map contents, variable values), with no names, tree nodes or
//! per-entry structure. It bounds how cheap `copy()` can get while specs stay
//! plain values that share nothing. `names` duplicates every `Name` the
//! specs own (names, sections, licences, the names relocations and map slots
//! refer to, CO-RE access strings): since names are inline up to 24 bytes,
//! what is left of it is the copying of those 24-byte values and the
//! allocations of longer names.
//!
//! The `*_call` cases time the calls alone: each result is dropped after
//! the clock stops (into a vector reused from pass to pass, so memory is
//! recycled as in the other cases). The other cases time each call with the
//! drop of its result, as a loop that makes and discards specs pays it.
//!
//! Run: `cargo bench -p ebpf-spec --bench parse`.

use criterion::{Criterion, criterion_group, criterion_main};
use ebpf_spec::{CollectionSpec, MapValue, Name, RelocationTarget};
use std::hint::black_box;
use std::time::{Duration, Instant};

mod common;

/// The byte buffers of one spec, duplicated (see the module docs).
struct Payload {
    bytes: Vec<Vec<u8>>,
    instructions: Vec<Vec<ebpf_spec::Instruction>>,
    func_info: Vec<Vec<ebpf_spec::btf::FuncInfo>>,
    line_info: Vec<Vec<ebpf_spec::btf::LineInfo>>,
    relocations: Vec<Vec<usize>>,
}

fn payload_floor(spec: &CollectionSpec) -> Payload {
    let mut p = Payload {
        bytes: Vec::with_capacity(64),
        instructions: Vec::with_capacity(16),
        func_info: Vec::with_capacity(16),
        line_info: Vec::with_capacity(16),
        relocations: Vec::with_capacity(16),
    };
    if let Some(btf) = &spec.btf {
        p.bytes.push(btf.btf.clone());
    }
    for prog in spec.programs.values().chain(spec.functions.values()) {
        p.instructions.push(prog.instructions.clone());
        p.func_info.push(prog.func_info.clone());
        p.line_info.push(prog.line_info.clone());
        p.relocations
            .push(prog.relocations.iter().map(|r| r.instruction).collect());
    }
    for map in spec.maps.values() {
        for entry in &map.contents {
            p.bytes.push(entry.key.clone());
            if let MapValue::Bytes(v) = &entry.value {
                p.bytes.push(v.clone());
            }
        }
    }
    for var in spec.variables.values() {
        p.bytes.push(var.value.clone());
    }
    p
}

/// Every `Name` of one spec, duplicated (see the module docs).
fn names(spec: &CollectionSpec) -> Vec<Name> {
    let mut out = Vec::with_capacity(256);
    out.push(spec.license.clone());
    for (key, map) in &spec.maps {
        out.extend([key.clone(), map.name.clone()]);
        for entry in &map.contents {
            if let MapValue::Map(name) | MapValue::Program(name) = &entry.value {
                out.push(name.clone());
            }
        }
    }
    for (key, prog) in spec.programs.iter().chain(&spec.functions) {
        out.extend([key.clone(), prog.name.clone(), prog.section.clone()]);
        out.push(prog.license.clone());
        out.extend(prog.attach_to.clone());
        for r in &prog.relocations {
            out.push(match &r.target {
                RelocationTarget::Map { map } | RelocationTarget::Data { map, .. } => map.clone(),
                RelocationTarget::Call { function } => function.clone(),
                RelocationTarget::Extern { name, .. } => name.clone(),
            });
        }
        out.extend(prog.core_relocations.iter().map(|c| c.access.clone()));
    }
    for (key, var) in &spec.variables {
        out.extend([key.clone(), var.name.clone(), var.section.clone()]);
    }
    out
}

/// Times `iters` passes of `call` over `inputs`, each result dropped after
/// the clock stops.
fn time_calls<I>(iters: u64, inputs: &[I], call: impl Fn(&I) -> CollectionSpec) -> Duration {
    let mut results = Vec::with_capacity(inputs.len());
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        for input in inputs {
            results.push(call(black_box(input)));
        }
        total += start.elapsed();
        black_box(&results);
        results.clear();
    }
    total
}

fn parse(c: &mut Criterion) {
    let objects = common::parse_bench_objects();
    assert!(
        objects.len() >= 10,
        "too few fixtures parse with aya-obj: {}",
        objects.len()
    );
    let specs: Vec<_> = objects
        .iter()
        .map(|(_, b)| CollectionSpec::from_elf(b).unwrap())
        .collect();
    let mut g = c.benchmark_group(format!("all_{}_fixtures", objects.len()));
    g.bench_function("ebpf_spec_from_elf", |b| {
        b.iter(|| {
            for (_, bytes) in &objects {
                black_box(CollectionSpec::from_elf(black_box(bytes)).unwrap());
            }
        })
    });
    g.bench_function("aya_obj_parse", |b| {
        b.iter(|| {
            for (_, bytes) in &objects {
                black_box(aya_obj::Object::parse(black_box(bytes)).unwrap());
            }
        })
    });
    g.bench_function("ebpf_spec_copy", |b| {
        b.iter(|| {
            for spec in &specs {
                black_box(black_box(spec).copy());
            }
        })
    });
    g.bench_function("ebpf_spec_from_elf_call", |b| {
        b.iter_custom(|iters| {
            time_calls(iters, &objects, |(_, bytes)| {
                CollectionSpec::from_elf(bytes).unwrap()
            })
        })
    });
    g.bench_function("ebpf_spec_copy_call", |b| {
        b.iter_custom(|iters| time_calls(iters, &specs, CollectionSpec::copy))
    });
    g.bench_function("payload_floor", |b| {
        b.iter(|| {
            for spec in &specs {
                black_box(payload_floor(black_box(spec)));
            }
        })
    });
    g.bench_function("names", |b| {
        b.iter(|| {
            for spec in &specs {
                black_box(names(black_box(spec)));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
