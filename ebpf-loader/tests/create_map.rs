//! `Loader::create_map` against the real kernel.
//!
//! Needs bpf(2) (root or CAP_BPF). Without it the tests print why and pass,
//! except when `CI` is set: CI has the kernel, so a skip there would hide a
//! broken test.

mod common;

use aya::maps::{Array, HashMap as AyaHash, Map, MapData};
use common::{kernel, open_fds};
use ebpf_loader::{LoadError, Loader, Step};
use ebpf_spec::{CollectionSpec, MapEntry, MapExtra, MapFlags, MapSpec, MapType, MapValue};

fn info(map: &MapData) -> (u32, u32, u32, u32, u32) {
    let i = map.info().unwrap();
    (
        i.map_type().map(|t| t as u32).unwrap_or(u32::MAX),
        i.key_size(),
        i.value_size(),
        i.max_entries(),
        i.map_flags(),
    )
}

fn spec(name: &str, ty: MapType, key: u32, value: u32, max: u32) -> MapSpec {
    MapSpec::new(name, ty, key, value, max)
}

#[test]
fn every_map_type_the_kernel_creates_without_btf() {
    let Some(_serial) = kernel() else { return };
    let loader = Loader::new();
    let cpus = loader.possible_cpus().unwrap();
    let inner = spec("inner", MapType::Array, 4, 4, 1);
    let with = |mut s: MapSpec, f: &dyn Fn(&mut MapSpec)| {
        f(&mut s);
        s
    };
    let cases = vec![
        spec("hash", MapType::Hash, 4, 8, 16),
        spec("array", MapType::Array, 4, 8, 16),
        spec("prog_array", MapType::ProgArray, 4, 4, 4),
        spec("perf", MapType::PerfEventArray, 4, 4, 0),
        spec("percpu_hash", MapType::PerCpuHash, 4, 8, 16),
        spec("percpu_array", MapType::PerCpuArray, 4, 8, 16),
        spec("stack_trace", MapType::StackTrace, 4, 8 * 127, 16),
        spec("cgroup_array", MapType::CgroupArray, 4, 4, 4),
        spec("lru_hash", MapType::LruHash, 4, 8, 16),
        spec("lru_percpu", MapType::LruPerCpuHash, 4, 8, 16),
        with(spec("lpm", MapType::LpmTrie, 8, 4, 16), &|s| {
            s.flags = MapFlags::NO_PREALLOC
        }),
        with(spec("aom", MapType::ArrayOfMaps, 4, 4, 4), &|s| {
            s.inner_map = Some(Box::new(inner.clone()))
        }),
        with(spec("hom", MapType::HashOfMaps, 4, 4, 4), &|s| {
            s.inner_map = Some(Box::new(inner.clone()))
        }),
        spec("devmap", MapType::DevMap, 4, 4, 4),
        spec("sockmap", MapType::SockMap, 4, 4, 4),
        spec("cpumap", MapType::CpuMap, 4, 4, 4),
        spec("xskmap", MapType::XskMap, 4, 4, 4),
        spec("sockhash", MapType::SockHash, 4, 4, 4),
        spec("reuseport", MapType::ReuseportSockArray, 4, 4, 4),
        spec("queue", MapType::Queue, 0, 4, 4),
        spec("stack", MapType::Stack, 0, 4, 4),
        spec("devmap_hash", MapType::DevMapHash, 4, 4, 4),
        spec("ringbuf", MapType::RingBuf, 0, 0, 4096),
        with(spec("bloom", MapType::BloomFilter, 0, 4, 16), &|s| {
            s.map_extra = 3
        }),
        spec("user_ringbuf", MapType::UserRingBuf, 0, 0, 4096),
        with(spec("arena", MapType::Arena, 0, 0, 1), &|s| {
            s.flags = MapFlags::MMAPABLE
        }),
    ];
    let before = open_fds();
    for s in &cases {
        let original = s.clone();
        // An arena comes with its mapping (tests/arena.rs).
        let map = if s.map_type == MapType::Arena {
            loader.create_arena(s).map(|(map, _arena)| map)
        } else {
            loader.create_map(s)
        }
        .unwrap_or_else(|e| panic!("{}: {e}", s.name));
        assert_eq!(s, &original, "the spec must not change");
        let (ty, key, value, max, _) = info(&map);
        assert_eq!(ty, s.map_type.raw(), "{}", s.name);
        assert_eq!((key, value), (s.key_size, s.value_size), "{}", s.name);
        let want_max = if s.map_type == MapType::PerfEventArray {
            cpus
        } else {
            s.max_entries
        };
        assert_eq!(max, want_max, "{}", s.name);
    }
    assert_eq!(open_fds(), before, "every fd is closed with its handle");
}

#[test]
fn storage_maps_need_btf_and_say_so() {
    let Some(_serial) = kernel() else { return };
    let mut s = spec("task_store", MapType::TaskStorage, 4, 4, 0);
    s.flags = MapFlags::NO_PREALLOC;
    let before = open_fds();
    let e = Loader::new().create_map(&s).unwrap_err();
    assert!(
        matches!(
            e,
            LoadError::Syscall {
                step: Step::Create,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.errno(), Some(22), "EINVAL");
    let msg = e.to_string();
    assert!(
        msg.starts_with("map `task_store`: creating the map failed"),
        "{msg}"
    );
    assert!(
        msg.contains("the kernel's rule for a task_storage: BTF key and value types are required"),
        "{msg}"
    );
    assert_eq!(open_fds(), before);
}

#[test]
fn contents_are_written_and_read_back_through_aya() {
    let Some(_serial) = kernel() else { return };
    let loader = Loader::new();
    let mut hash = spec("flows", MapType::Hash, 4, 8, 16);
    for k in 0..5u32 {
        hash.contents.push(MapEntry {
            key: k.to_ne_bytes().to_vec(),
            value: MapValue::Bytes((u64::from(k) * 10).to_ne_bytes().to_vec()),
        });
    }
    let map: AyaHash<_, u32, u64> =
        AyaHash::try_from(Map::HashMap(loader.create_map(&hash).unwrap())).unwrap();
    for k in 0..5u32 {
        assert_eq!(map.get(&k, 0).unwrap(), u64::from(k) * 10);
    }
    assert!(map.get(&9, 0).is_err());

    let mut arr = spec("cfg", MapType::Array, 4, 4, 4);
    arr.contents.push(MapEntry::at_index(
        2,
        MapValue::Bytes(7u32.to_ne_bytes().to_vec()),
        ebpf_spec::ByteOrder::NATIVE,
    ));
    let mut a: Array<_, u32> =
        Array::try_from(Map::Array(loader.create_map(&arr).unwrap())).unwrap();
    assert_eq!(a.get(&2, 0).unwrap(), 7);
    assert_eq!(a.get(&1, 0).unwrap(), 0);
    a.set(1, 5, 0).unwrap();
    assert_eq!(a.get(&1, 0).unwrap(), 5);
}

/// A per-CPU map's update takes a value per possible CPU: the spec's value
/// goes to every CPU of its own key (it once went to the next CPU of the key
/// before, and the last keys got bytes from past the end of the buffer).
#[test]
fn per_cpu_contents_give_every_cpu_the_value() {
    use aya::maps::{PerCpuArray, PerCpuHashMap};
    let Some(_serial) = kernel() else { return };
    let loader = Loader::new();
    let cpus = loader.possible_cpus().unwrap() as usize;
    let value = |i: u8| vec![0x10 + i; 12];
    let with_contents = |ty: MapType| {
        let mut m = spec("pcpu", ty, 4, 12, 8);
        for i in 0..3u8 {
            m.contents.push(MapEntry::at_index(
                u32::from(i) * 2,
                MapValue::Bytes(value(i)),
                ebpf_spec::ByteOrder::NATIVE,
            ));
        }
        m
    };
    let array: PerCpuArray<_, [u8; 12]> = Map::PerCpuArray(
        loader
            .create_map(&with_contents(MapType::PerCpuArray))
            .unwrap(),
    )
    .try_into()
    .unwrap();
    for key in 0..8u32 {
        let per_cpu = array.get(&key, 0).unwrap();
        assert_eq!(per_cpu.len(), cpus);
        let expect = if key % 2 == 0 && key < 6 {
            value(key as u8 / 2)
        } else {
            vec![0; 12]
        };
        for (cpu, v) in per_cpu.iter().enumerate() {
            assert_eq!(v.to_vec(), expect, "key {key}, cpu {cpu}");
        }
    }
    for ty in [MapType::PerCpuHash, MapType::LruPerCpuHash] {
        let map = loader.create_map(&with_contents(ty)).unwrap();
        let map = if ty == MapType::PerCpuHash {
            Map::PerCpuHashMap(map)
        } else {
            Map::PerCpuLruHashMap(map)
        };
        let hash: PerCpuHashMap<_, u32, [u8; 12]> = map.try_into().unwrap();
        assert_eq!(hash.keys().count(), 3, "{ty}");
        for i in 0..3u8 {
            let per_cpu = hash.get(&(u32::from(i) * 2), 0).unwrap();
            assert_eq!(per_cpu.len(), cpus);
            assert!(
                per_cpu.iter().all(|v| v.to_vec() == value(i)),
                "{ty}: key {}",
                i * 2
            );
        }
    }
}

#[test]
fn data_sections_are_written_frozen_and_mmapable() {
    let Some(_serial) = kernel() else { return };
    let bytes = include_bytes!("../../ebpf-spec/tests/fixtures/globals.bpfel.o");
    let mut spec = CollectionSpec::from_elf(bytes).unwrap();
    spec.set_variable("sample_rate", &42u32.to_le_bytes())
        .unwrap();
    let loader = Loader::new();

    let rodata = loader.create_map(&spec.maps[".rodata"]).unwrap();
    let (_, _, value, _, flags) = info(&rodata);
    assert_eq!(value, 22);
    assert_ne!(
        flags & MapFlags::MMAPABLE.bits(),
        0,
        "data sections are mmapable"
    );
    assert_ne!(flags & MapFlags::RDONLY_PROG.bits(), 0);
    let mut ro: Array<_, [u8; 22]> = Array::try_from(Map::Array(rodata)).unwrap();
    let v = ro.get(&0, 0).unwrap();
    assert_eq!(
        &v[0..4],
        42u32.to_le_bytes(),
        "the edited constant was written"
    );
    assert_eq!(&v[16..22], b"hello\0");
    // A write after freeze fails with EPERM.
    match ro.set(0, [0u8; 22], 0) {
        Err(aya::maps::MapError::SyscallError(e)) => {
            assert_eq!(e.io_error.raw_os_error(), Some(1), "{e:?}")
        }
        other => panic!("a write after freeze must fail with EPERM: {other:?}"),
    }

    // .bss: no contents, zeroed by the kernel, not frozen.
    let bss = loader.create_map(&spec.maps[".bss"]).unwrap();
    let mut bss: Array<_, [u8; 24]> = Array::try_from(Map::Array(bss)).unwrap();
    assert_eq!(bss.get(&0, 0).unwrap(), [0; 24]);
    bss.set(0, [1; 24], 0).unwrap();
}

#[test]
fn legacy_fixture_maps_and_map_in_map_templates() {
    let Some(_serial) = kernel() else { return };
    let loader = Loader::new();
    for (object, names) in [
        (
            &include_bytes!("../../ebpf-spec/tests/fixtures/legacy_maps.bpfel.o")[..],
            &["legacy_hash", "legacy_array", "legacy_percpu"][..],
        ),
        (
            &include_bytes!("../../ebpf-spec/tests/fixtures/aya_legacy.bpfel.o")[..],
            &["AYA_PINNED", "AYA_PLAIN"][..],
        ),
        (
            &include_bytes!("../../ebpf-spec/tests/fixtures/map_in_map.bpfel.o")[..],
            &["inner_a", "inner_b", "outer_hash"][..],
        ),
    ] {
        let spec = CollectionSpec::from_elf(object).unwrap();
        for n in names {
            let m = &spec.maps[*n];
            let map = loader.create_map(m).unwrap_or_else(|e| panic!("{n}: {e}"));
            let (ty, key, value, max, _) = info(&map);
            assert_eq!(
                (ty, key, value, max),
                (m.map_type.raw(), m.key_size, m.value_size, m.max_entries),
                "{n}"
            );
        }
    }
}

#[test]
fn refusals_happen_before_any_syscall_and_leak_nothing() {
    let Some(_serial) = kernel() else { return };
    let loader = Loader::new();
    let before = open_fds();

    let mut extra = spec("legacy", MapType::Hash, 4, 4, 4);
    extra.extra = MapExtra::new(
        vec![0; 16]
            .into_iter()
            .chain([1, 2, 3, 4])
            .collect::<Vec<u8>>(),
        ebpf_spec::ByteOrder::NATIVE,
    );
    let e = loader.create_map(&extra).unwrap_err();
    assert!(matches!(e, LoadError::Invalid { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("4 extra bytes no loader understands"),
        "{e}"
    );

    // iproute2's fields alone are understood.
    extra.extra = MapExtra::new(vec![0, 0, 0, 0, 2, 0, 0, 0], ebpf_spec::ByteOrder::NATIVE);
    drop(loader.create_map(&extra).unwrap());

    let mut refs = spec("outer", MapType::ArrayOfMaps, 4, 4, 2);
    refs.inner_map = Some(Box::new(spec("inner", MapType::Array, 4, 4, 1)));
    refs.contents.push(MapEntry::at_index(
        0,
        MapValue::Map("inner".into()),
        ebpf_spec::ByteOrder::NATIVE,
    ));
    let e = loader.create_map(&refs).unwrap_err();
    assert!(
        e.to_string()
            .contains("refers to `inner`, which only a whole collection can resolve"),
        "{e}"
    );

    let no_template = spec("outer", MapType::HashOfMaps, 4, 4, 2);
    assert!(
        loader
            .create_map(&no_template)
            .unwrap_err()
            .to_string()
            .contains("needs an inner map template")
    );

    let mut short = spec("short", MapType::Array, 4, 8, 2);
    short.contents.push(MapEntry::at_index(
        0,
        MapValue::Bytes(vec![1, 2]),
        ebpf_spec::ByteOrder::NATIVE,
    ));
    assert!(
        loader
            .create_map(&short)
            .unwrap_err()
            .to_string()
            .contains("has a 2-byte value, the map's values are 8 bytes")
    );

    // A template the kernel refuses: the error names the outer map and the step.
    let mut bad_inner = spec("outer2", MapType::ArrayOfMaps, 4, 4, 2);
    bad_inner.inner_map = Some(Box::new(spec("bad", MapType::Hash, 4, 0, 1)));
    let e = loader.create_map(&bad_inner).unwrap_err();
    assert!(
        matches!(e, LoadError::Syscall { step: Step::CreateInnerTemplate, ref map, .. } if map == "outer2"),
        "{e:?}"
    );

    // A kernel refusal after the template was created: nothing stays open.
    let mut bad_outer = spec("outer3", MapType::ArrayOfMaps, 4, 8, 2);
    bad_outer.inner_map = Some(Box::new(spec("inner", MapType::Array, 4, 4, 1)));
    let e = loader.create_map(&bad_outer).unwrap_err();
    assert!(
        matches!(
            e,
            LoadError::Syscall {
                step: Step::Create,
                ..
            }
        ),
        "{e:?}"
    );

    // A write the kernel refuses after creation (a prefix of 64 bits in a
    // trie of 32-bit keys): the map is closed again.
    let mut bad_write = spec("badwrite", MapType::LpmTrie, 8, 4, 2);
    bad_write.flags = ebpf_spec::MapFlags::NO_PREALLOC;
    let mut key = 64u32.to_ne_bytes().to_vec();
    key.extend([10, 0, 0, 1]);
    bad_write.contents.push(MapEntry {
        key,
        value: MapValue::Bytes(vec![0; 4]),
    });
    let e = loader.create_map(&bad_write).unwrap_err();
    assert!(
        matches!(
            e,
            LoadError::Syscall {
                step: Step::WriteContents,
                ..
            }
        ),
        "{e:?}"
    );

    assert_eq!(open_fds(), before, "no fd left behind by any failure");
}
