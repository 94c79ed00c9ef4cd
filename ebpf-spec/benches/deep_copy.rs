//! `deep_copy` against `Clone` and a plain `copy_from_slice`, in the same run.
//!
//! (a) one 64 MiB `Vec<u8>`; (b) a struct holding 10,000 small buffers.
//! Run: `cargo bench -p ebpf-spec --bench deep_copy`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ebpf_spec::DeepCopy;
use std::hint::black_box;

const BIG: usize = 64 << 20;

fn big_buffer(c: &mut Criterion) {
    let src: Vec<u8> = (0..BIG).map(|i| (i * 31) as u8).collect();
    let mut g = c.benchmark_group("vec_u8_64MiB");
    g.throughput(Throughput::Bytes(BIG as u64));
    g.sample_size(20);
    g.bench_function("deep_copy", |b| b.iter(|| black_box(&src).deep_copy()));
    g.bench_function("clone", |b| b.iter(|| black_box(&src).clone()));
    g.bench_function("copy_from_slice", |b| {
        b.iter(|| {
            let src = black_box(&src);
            let mut dst = vec![0u8; src.len()];
            dst.copy_from_slice(src);
            dst
        })
    });
    g.finish();
}

/// A map-spec-like entry: a name and small key/value buffers.
#[derive(DeepCopy, Clone, PartialEq, Debug)]
struct Entry {
    key: Vec<u8>,
    value: Vec<u8>,
}

#[derive(DeepCopy, Clone, PartialEq, Debug)]
struct Table {
    name: String,
    entries: Vec<Entry>,
}

fn many_small(c: &mut Criterion) {
    // 1 name + 4,999 entries x 2 buffers + the entries Vec itself = 10,000 buffers.
    let table = Table {
        name: "connections".into(),
        entries: (0..4_999u32)
            .map(|i| Entry {
                key: i.to_le_bytes().to_vec(),
                value: vec![i as u8; 16],
            })
            .collect(),
    };
    assert_eq!(ebpf_spec::deep_copy::buffers(&table).len(), 10_000);
    let mut g = c.benchmark_group("struct_10k_small_buffers");
    g.bench_function("deep_copy", |b| b.iter(|| black_box(&table).deep_copy()));
    g.bench_function("clone", |b| b.iter(|| black_box(&table).clone()));
    g.finish();
}

criterion_group!(benches, big_buffer, many_small);
criterion_main!(benches);
