//! Loading collections of small maps, against the floor (the same
//! `BPF_MAP_CREATE` calls issued directly, fds closed in every iteration on
//! both sides) and against aya's `EbpfLoader`, in the same run; and an outer
//! map with 32 initialised slots against filling its slots one by one.
//!
//! Maps only (`Loader::maps_only(true)`): programs are `benches/programs.rs`'s.
//!
//! Needs root (or CAP_BPF): every case calls bpf(2).
//!
//! Run: `cargo bench -p ebpf-loader --bench load`.

use aya_obj::generated::{bpf_attr, bpf_cmd};
use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
    measurement::WallTime,
};
use ebpf_loader::Loader;
use ebpf_spec::{ByteOrder, CollectionSpec, MapEntry, MapSpec, MapType, MapValue};
use rayon::prelude::*;
use std::hint::black_box;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// Collections per `load_many` call.
const MANY: usize = 64;
/// Slots of the outer map.
const SLOTS: u32 = 32;

const LEGACY_MAPS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../ebpf-spec/tests/fixtures/legacy_maps.bpfel.o"
);

#[path = "../tests/common/bpf_raw.rs"]
mod sysraw;

/// The bpf(2) calls of the baselines, issued directly on prepared attributes.
mod raw {
    use super::*;

    use sysraw::{bpf, zeroed};

    /// The `BPF_MAP_CREATE` attributes of `m`, as the loader builds them for
    /// a map without contents, fix-ups or inner template.
    pub fn create_attr(m: &MapSpec) -> bpf_attr {
        assert!(
            m.contents.is_empty()
                && !m.freeze
                && m.inner_map.is_none()
                && m.map_type != MapType::PerfEventArray
                && !m.name.starts_with('.')
                && m.btf_value_type_id == 0,
            "the floor only covers plain maps: {}",
            m.name
        );
        let mut attr = zeroed();
        // SAFETY: writing plain integer fields of the zeroed union's
        // map-create member.
        let u = unsafe { &mut attr.__bindgen_anon_1 };
        u.map_type = m.map_type.raw();
        u.key_size = m.key_size;
        u.value_size = m.value_size;
        u.max_entries = m.max_entries;
        u.map_flags = m.flags.bits();
        u.numa_node = m.numa_node;
        u.map_extra = m.map_extra;
        for (dst, src) in u.map_name.iter_mut().zip(m.name.bytes().take(15)) {
            *dst = src as libc::c_char;
        }
        attr
    }

    /// The create attributes of every map of `spec`.
    pub fn create_attrs(spec: &CollectionSpec) -> Vec<bpf_attr> {
        spec.maps.values().map(create_attr).collect()
    }

    /// `BPF_MAP_CREATE` with prepared attributes; panics on failure.
    pub fn map_create(attr: &bpf_attr) -> OwnedFd {
        // The kernel does not write map-create attributes back; the copy keeps
        // the prepared value shared and the call site `&mut`-free.
        let mut attr = *attr;
        let fd = bpf(bpf_cmd::BPF_MAP_CREATE, &mut attr).expect("BPF_MAP_CREATE");
        // SAFETY: on success BPF_MAP_CREATE returns a new fd that nobody else
        // owns.
        unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) }
    }

    /// `BPF_MAP_CREATE` of a map-in-map with `inner` as its template.
    pub fn map_create_outer(attr: &bpf_attr, inner: &OwnedFd) -> OwnedFd {
        let mut attr = *attr;
        attr.__bindgen_anon_1.inner_map_fd = inner.as_raw_fd() as u32;
        map_create(&attr)
    }

    /// `BPF_MAP_UPDATE_ELEM` of one `u32` key and value; panics on failure.
    pub fn update_elem(map: &OwnedFd, key: u32, value: u32) {
        let mut attr = zeroed();
        // SAFETY: plain integer fields of the zeroed union's element member;
        // `key` and `value` live on this stack frame for the call.
        let u = unsafe { &mut attr.__bindgen_anon_2 };
        u.map_fd = map.as_raw_fd() as u32;
        u.key = &key as *const u32 as u64;
        u.__bindgen_anon_1.value = &value as *const u32 as u64;
        bpf(bpf_cmd::BPF_MAP_UPDATE_ELEM, &mut attr).expect("BPF_MAP_UPDATE_ELEM");
    }

    /// `BPF_MAP_UPDATE_BATCH` of `u32` keys and values; panics on failure or
    /// a short write.
    pub fn update_batch(map: &OwnedFd, keys: &[u32], values: &[u32]) {
        assert_eq!(keys.len(), values.len());
        let mut attr = zeroed();
        // SAFETY: plain integer fields of the zeroed union's batch member;
        // `keys` and `values` are borrowed for the call and hold `count`
        // entries each.
        let b = unsafe { &mut attr.batch };
        b.map_fd = map.as_raw_fd() as u32;
        b.keys = keys.as_ptr() as u64;
        b.values = values.as_ptr() as u64;
        b.count = keys.len() as u32;
        bpf(bpf_cmd::BPF_MAP_UPDATE_BATCH, &mut attr).expect("BPF_MAP_UPDATE_BATCH");
        // SAFETY: as above; the kernel wrote back how many entries it did.
        assert_eq!(unsafe { attr.batch.count } as usize, keys.len());
    }
}

/// The floor of one collection: its creates, then closing every fd.
fn floor_once(attrs: &[bpf_attr], fds: &mut Vec<OwnedFd>) {
    fds.extend(attrs.iter().map(raw::map_create));
    black_box(&*fds);
    fds.clear();
}

/// 16 small maps: ARRAY 4/8/16 and preallocated HASH 8/8/64, alternating.
fn synthetic16() -> CollectionSpec {
    let mut spec = CollectionSpec::default();
    for i in 0..16 {
        let m = if i % 2 == 0 {
            MapSpec::new(format!("array{i}"), MapType::Array, 4, 8, 16)
        } else {
            MapSpec::new(format!("hash{i}"), MapType::Hash, 8, 8, 64)
        };
        spec.maps.insert(m.name.clone(), m);
    }
    spec
}

/// One ARRAY_OF_MAPS of 32 slots (template ARRAY 4/4/1), every slot naming
/// one of 32 inner ARRAY 4/4/1 maps of the same collection.
fn outer32() -> CollectionSpec {
    let mut spec = CollectionSpec::default();
    let mut outer = MapSpec::new("outer", MapType::ArrayOfMaps, 4, 4, SLOTS);
    outer.inner_map = Some(Box::new(MapSpec::new("inner", MapType::Array, 4, 4, 1)));
    for i in 0..SLOTS {
        let name = format!("inner{i}");
        outer.contents.push(MapEntry::at_index(
            i,
            MapValue::Map(name.as_str().into()),
            ByteOrder::NATIVE,
        ));
        spec.maps.insert(
            name.as_str().into(),
            MapSpec::new(name, MapType::Array, 4, 4, 1),
        );
    }
    spec.maps.insert("outer".into(), outer);
    spec
}

/// Floor, `load` (global pool, on a pool worker, and a 1-thread loader) for
/// one collection.
fn single(g: &mut BenchmarkGroup<'_, WallTime>, spec: &CollectionSpec) {
    let attrs = raw::create_attrs(spec);
    let mut fds = Vec::with_capacity(attrs.len());
    g.bench_function("floor_raw_create", |b| {
        b.iter(|| floor_once(&attrs, &mut fds))
    });

    let loader = Loader::new().maps_only(true);
    assert_eq!(loader.load(spec).unwrap().len(), spec.maps.len());
    g.bench_function("load", |b| {
        b.iter(|| drop(black_box(loader.load(black_box(spec)).unwrap())))
    });

    // Diagnostic: `load` called on a rayon worker of a 1-thread pool, where
    // its parallel iterator runs inline: the loader's cost without the hop
    // to another thread.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    g.bench_function("load_on_pool_worker", |b| {
        b.iter_custom(|iters| {
            pool.install(|| {
                let start = Instant::now();
                for _ in 0..iters {
                    drop(black_box(loader.load(black_box(spec)).unwrap()));
                }
                start.elapsed()
            })
        })
    });

    let loader1 = Loader::new().threads(1).maps_only(true);
    assert_eq!(loader1.load(spec).unwrap().len(), spec.maps.len());
    g.bench_function("load_threads1", |b| {
        b.iter(|| drop(black_box(loader1.load(black_box(spec)).unwrap())))
    });
}

/// `load_many(spec, 64)` on 1 and 2 threads, and the floor of 64 collections
/// on rayon pools of 1 and 2 threads (how far the kernel itself scales). As
/// with `load_many`, the 64 collections are all created, then all closed by
/// the calling thread.
fn many(g: &mut BenchmarkGroup<'_, WallTime>, spec: &CollectionSpec) {
    g.throughput(Throughput::Elements(MANY as u64));
    let attrs = raw::create_attrs(spec);
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        g.bench_function(format!("floor_raw_create_{threads}_threads"), |b| {
            b.iter(|| {
                let all: Vec<Vec<OwnedFd>> = pool.install(|| {
                    (0..MANY)
                        .into_par_iter()
                        .map(|_| attrs.iter().map(raw::map_create).collect())
                        .collect()
                });
                drop(black_box(all))
            })
        });
    }
    for threads in [1, 2] {
        let loader = Loader::new().threads(threads).maps_only(true);
        assert_eq!(loader.load_many(spec, MANY).unwrap().len(), MANY);
        g.bench_function(format!("load_many_{threads}_threads"), |b| {
            b.iter(|| drop(black_box(loader.load_many(black_box(spec), MANY).unwrap())))
        });
    }
    // Creation alone, as when a service starts its tenants: the collections
    // are closed outside the timing, and the kernel is given time to free
    // them (it frees closed maps later, on its own workers, which otherwise
    // compete with the next iteration's creates for the same two cores).
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        g.bench_function(format!("create_only_floor_{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                timed_then_settled(iters, || {
                    pool.install(|| {
                        (0..MANY)
                            .into_par_iter()
                            .map(|_| attrs.iter().map(raw::map_create).collect::<Vec<_>>())
                            .collect::<Vec<_>>()
                    })
                })
            })
        });
        let loader = Loader::new().threads(threads).maps_only(true);
        g.bench_function(format!("create_only_load_many_{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                timed_then_settled(iters, || loader.load_many(spec, MANY).unwrap())
            })
        });
    }
}

/// Times `iters` calls of `make`, dropping each result outside the timing and
/// then sleeping long enough for the kernel's deferred frees to finish.
fn timed_then_settled<T>(iters: u64, mut make: impl FnMut() -> T) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        let made = black_box(make());
        total += start.elapsed();
        drop(made);
        std::thread::sleep(Duration::from_millis(20));
    }
    total
}

fn legacy3(c: &mut Criterion) {
    let bytes = std::fs::read(LEGACY_MAPS).unwrap();
    // aya wants 4-byte aligned object bytes; the allocator gives at least 8.
    assert_eq!(bytes.as_ptr() as usize % 4, 0);
    let spec = CollectionSpec::from_file(LEGACY_MAPS).unwrap();
    assert_eq!(spec.maps.len(), 3);

    let mut g = c.benchmark_group("legacy3");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    single(&mut g, &spec);

    let loader = Loader::new().maps_only(true);
    g.bench_function("parse_and_load", |b| {
        b.iter(|| {
            let spec = CollectionSpec::from_elf(black_box(&bytes)).unwrap();
            drop(black_box(loader.load(&spec).unwrap()))
        })
    });

    // aya at its best: one loader, the kernel's BTF parsed once, no verifier
    // log. Its `load` parses the object, loads the object's BTF into the
    // kernel (BPF_BTF_LOAD), applies CO-RE relocations against `btf`,
    // creates the maps, and relocates the program's map references; it does
    // not BPF_PROG_LOAD the program (that is `Program::load`, not called).
    let btf = aya::Btf::from_sys_fs().unwrap();
    let mut aya_loader = aya::EbpfLoader::new();
    aya_loader
        .btf(Some(&btf))
        .verifier_log_level(aya::VerifierLogLevel::DISABLE);
    let first = aya_loader.load(&bytes).unwrap(); // also runs aya's feature probes
    assert_eq!(first.maps().count(), 3);
    assert_eq!(first.programs().count(), 1);
    drop(first);
    g.bench_function("aya_ebpfloader", |b| {
        b.iter(|| drop(black_box(aya_loader.load(black_box(&bytes)).unwrap())))
    });
    g.finish();

    let mut g = c.benchmark_group("legacy3_x64");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    many(&mut g, &spec);
    g.finish();
}

fn synthetic(c: &mut Criterion) {
    let spec = synthetic16();
    let mut g = c.benchmark_group("synthetic16");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    single(&mut g, &spec);
    g.finish();

    let mut g = c.benchmark_group("synthetic16_x64");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    many(&mut g, &spec);
    g.finish();
}

/// What `load` of [`outer32`] creates, done by hand: the template, the outer
/// map (template closed after), the 32 inner maps; then the slots are filled
/// by `fill`; every fd is closed at the end.
struct ByHand {
    template: bpf_attr,
    outer: bpf_attr,
    inner: bpf_attr,
    keys: Vec<u32>,
}

impl ByHand {
    fn run(&self, fill: impl Fn(&OwnedFd, &[u32], &[u32])) {
        let tmpl = raw::map_create(&self.template);
        let outer = raw::map_create_outer(&self.outer, &tmpl);
        drop(tmpl);
        let inners: Vec<OwnedFd> = self
            .keys
            .iter()
            .map(|_| raw::map_create(&self.inner))
            .collect();
        let values: Vec<u32> = inners.iter().map(|fd| fd.as_raw_fd() as u32).collect();
        fill(&outer, &self.keys, &values);
        drop(black_box((outer, inners)));
    }
}

fn outer(c: &mut Criterion) {
    let spec = outer32();
    let template = raw::create_attr(spec.maps["outer"].inner_map.as_deref().unwrap());
    let outer_attr = {
        let mut m = spec.maps["outer"].copy();
        m.contents.clear();
        m.inner_map = None;
        raw::create_attr(&m)
    };
    let inner_attr = raw::create_attr(&spec.maps["inner0"]);

    let by_hand = ByHand {
        template,
        outer: outer_attr,
        inner: inner_attr,
        keys: (0..SLOTS).collect(),
    };

    let mut g = c.benchmark_group("outer32");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));

    let loader = Loader::new().maps_only(true);
    assert_eq!(loader.load(&spec).unwrap().len(), SLOTS as usize + 1);
    g.bench_function("load", |b| {
        b.iter(|| drop(black_box(loader.load(black_box(&spec)).unwrap())))
    });
    g.bench_function("raw_create_and_one_batch_update", |b| {
        b.iter(|| by_hand.run(raw::update_batch))
    });
    g.bench_function("raw_create_and_32_single_updates", |b| {
        b.iter(|| {
            by_hand.run(|outer, k, v| {
                for (k, v) in k.iter().zip(v) {
                    raw::update_elem(outer, *k, *v);
                }
            })
        })
    });
    // One grace period: a single UPDATE_ELEM of one outer-map slot, timed
    // alone (the maps are made and closed outside the timing).
    g.bench_function("one_slot_update_only", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let tmpl = raw::map_create(&by_hand.template);
                let outer = raw::map_create_outer(&by_hand.outer, &tmpl);
                let inner = raw::map_create(&by_hand.inner);
                let start = Instant::now();
                raw::update_elem(&outer, 0, inner.as_raw_fd() as u32);
                total += start.elapsed();
                drop((tmpl, outer, inner));
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, legacy3, synthetic, outer);
criterion_main!(benches);
