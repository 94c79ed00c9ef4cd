//! Parse every fixture and `copy()` the result, against aya-obj's
//! `Object::parse` of the same bytes, in the same run.
//!
//! Run: `cargo bench -p ebpf-spec --bench parse`.

use criterion::{Criterion, criterion_group, criterion_main};
use ebpf_spec::CollectionSpec;
use std::hint::black_box;

/// Little-endian fixtures (aya-obj parses only the host's byte order) that
/// aya-obj also accepts.
fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut out = Vec::new();
    for sub in ["", "/libxdp"] {
        let mut paths: Vec<_> = std::fs::read_dir(format!("{dir}{sub}"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "o"))
            .filter(|p| !p.to_string_lossy().ends_with(".bpfeb.o"))
            .collect();
        paths.sort();
        for p in paths {
            let bytes = std::fs::read(&p).unwrap();
            if aya_obj::Object::parse(&bytes).is_ok() {
                out.push((p.file_name().unwrap().to_string_lossy().into_owned(), bytes));
            }
        }
    }
    out
}

fn parse(c: &mut Criterion) {
    let objects = fixtures();
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
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
