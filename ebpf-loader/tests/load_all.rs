//! `Loader::load_all`: one collection per spec, each with settings of its
//! own, against the real kernel. Skips (with the reason) without bpf(2),
//! fails under CI.

mod common;

use aya::maps::{Array, ArrayOfMaps, MapData};
use common::{BpfFs, fixture, info, kernel, open_fds};
use ebpf_loader::{Collection, LoadError, Loader, Step, fault_injection};
use ebpf_spec::{CollectionSpec, Instruction, MapEntry, MapValue, Pinning};

const PACKET: [u8; 64] = [0; 64];

fn id(c: &Collection, name: &str) -> u32 {
    info(c.map_fd(name).unwrap()).0
}

/// Copies of one parsed spec, tenant `t` with `sample_rate` 100 + t and a
/// `values` map of t + 1 entries.
fn tenants(n: u32) -> Vec<CollectionSpec> {
    let base = fixture("globals.bpfel.o");
    (0..n)
        .map(|t| {
            let mut spec = base.copy();
            spec.set_variable("sample_rate", &(100 + t).to_ne_bytes())
                .unwrap();
            spec.maps.get_mut("values").unwrap().max_entries = t + 1;
            spec
        })
        .collect()
}

/// Gives `values` an initial entry at key 0.
fn set_key_0(spec: &mut CollectionSpec, value: MapValue) {
    let entry = MapEntry {
        key: 0u32.to_le_bytes().to_vec(),
        value,
    };
    spec.maps.get_mut("values").unwrap().contents.push(entry);
}

#[test]
fn each_spec_gets_its_own_settings_and_maps() {
    let Some(_serial) = kernel() else { return };
    let specs = tenants(6);
    let before = specs.clone();
    let fds = open_fds();
    for threads in [1, 2] {
        let colls = Loader::new().threads(threads).load_all(&specs).unwrap();
        assert_eq!(specs, before, "load_all never modifies the specs");
        assert_eq!(colls.len(), specs.len());
        let mut ids = Vec::new();
        for (t, c) in colls.iter().enumerate() {
            let run = c.test_run("get_rate", &PACKET, 1).unwrap().unwrap();
            assert_eq!(run.retval, 100 + t as u32, "tenant {t}'s own constant");
            let (map_id, _, _, _, max_entries, _, _) = info(c.map_fd("values").unwrap());
            assert_eq!(max_entries, t as u32 + 1, "tenant {t}'s own size");
            ids.push(map_id);
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), specs.len(), "no map is shared");
    }
    assert_eq!(open_fds(), fds, "no fd left behind");
    assert!(Loader::new().load_all(&[]).unwrap().is_empty());
}

/// The slot ids of `outer_arr` in `coll`, as (index, inner map id).
fn slots(coll: &mut Collection) -> Vec<(u32, u32)> {
    use aya::maps::IterableMap;
    let outer = coll.take_map("outer_arr").unwrap().unwrap();
    let outer: ArrayOfMaps<MapData, Array<MapData, u32>> = outer.try_into().unwrap();
    (0..4)
        .filter_map(|i| {
            let inner: Array<MapData, u32> = outer.get(&i, 0).ok()?;
            Some((i, inner.map().info().unwrap().id()))
        })
        .collect()
}

#[test]
fn map_in_map_slots_follow_each_collections_spec() {
    let Some(_serial) = kernel() else { return };
    let base = fixture("map_in_map.bpfel.o");
    // The second tenant: inner_b moved from slot 3 to slot 0.
    let mut moved = base.copy();
    let outer = moved.maps.get_mut("outer_arr").unwrap();
    let slot_b = outer
        .contents
        .iter_mut()
        .find(|e| e.value == MapValue::Map("inner_b".into()))
        .unwrap();
    slot_b.key = 0u32.to_le_bytes().to_vec();
    let specs = [base, moved];
    let fds = open_fds();
    let mut colls = Loader::new().load_all(&specs).unwrap();
    let own = |c: &Collection| (id(c, "inner_a"), id(c, "inner_b"));
    let (a0, b0) = own(&colls[0]);
    let (a1, b1) = own(&colls[1]);
    assert_eq!(slots(&mut colls[0]), [(1, a0), (3, b0)]);
    assert_eq!(slots(&mut colls[1]), [(0, b1), (1, a1)]);
    drop(colls);
    assert_eq!(open_fds(), fds);
}

#[test]
fn one_bad_spec_releases_every_collection_and_names_its_index() {
    let Some(_serial) = kernel() else { return };
    let fs = BpfFs::mount();
    let mut specs = tenants(4);
    for spec in &mut specs {
        let values = spec.maps.get_mut("values").unwrap();
        values.pinning = Pinning::ByName;
        values.max_entries = 1; // pins are shared: one size for all
    }
    let loader = Loader::new().threads(2).pin_path(fs.path());
    drop(loader.load_all(&specs).unwrap());
    std::fs::remove_file(fs.pin("values")).unwrap();
    let fds = open_fds();

    // The kernel refuses tenant 2: its get_rate returns without setting r0.
    let mut bad = specs.clone();
    let get_rate = bad[2].programs.get_mut("get_rate").unwrap();
    get_rate.instructions = vec![Instruction::new(0x95, 0, 0, 0, 0)]; // exit
    get_rate.relocations.clear();
    get_rate.func_info.clear();
    get_rate.line_info.clear();
    let e = loader.load_all(&bad).unwrap_err();
    assert!(matches!(e, LoadError::Instance { index: 2, .. }), "{e:?}");
    assert_eq!(e.program(), "get_rate");
    assert_eq!(e.step(), Some(Step::LoadProgram));
    assert!(
        e.to_string().starts_with("instance 2: program `get_rate`"),
        "{e}"
    );
    assert_eq!(open_fds(), fds, "every collection of the call is released");
    assert!(fs.pins().is_empty(), "the pin the call created is removed");

    // Tenant 1 is refused before any syscall, for every tenant.
    let mut bad = specs.clone();
    set_key_0(&mut bad[1], MapValue::Map("nowhere".into()));
    fault_injection::count_calls();
    let e = loader.load_all(&bad).unwrap_err();
    let calls = fault_injection::calls();
    fault_injection::disarm();
    assert!(matches!(e, LoadError::Instance { index: 1, .. }), "{e:?}");
    assert_eq!(e.map(), "values");
    assert!(e.to_string().contains("cannot hold map `nowhere`"), "{e}");
    assert_eq!(calls, 0, "refused before any bpf(2) call");
    assert_eq!(open_fds(), fds);
    assert!(fs.pins().is_empty());
}

/// Specs of one call share a map pinned by name. The first spec that pins it
/// makes the pin (it runs before the others), so what the pin holds, and
/// which spec's error comes back, never depend on thread timing.
#[test]
fn the_first_spec_that_pins_a_name_makes_the_pin() {
    let Some(_serial) = kernel() else { return };
    let fs = BpfFs::mount();
    let loader = Loader::new().threads(2).pin_path(fs.path());
    let fds = open_fds();
    let mut specs = tenants(3);
    for (t, spec) in specs.iter_mut().enumerate() {
        let values = spec.maps.get_mut("values").unwrap();
        values.pinning = Pinning::ByName;
        values.max_entries = 4;
        set_key_0(spec, MapValue::Bytes((7 + t as u32).to_le_bytes().to_vec()));
    }
    // Another object's map of that name, its BTF ids meaningless here:
    // compatible, so it shares the pin.
    let mut other = CollectionSpec::default();
    let mut values = ebpf_spec::MapSpec::new("values", ebpf_spec::MapType::Array, 4, 4, 4);
    values.pinning = Pinning::ByName;
    other.maps.insert("values".into(), values);
    specs.push(other);
    for round in 0..20 {
        let mut colls = loader.load_all(&specs).unwrap();
        let ids: Vec<u32> = colls.iter().map(|c| id(c, "values")).collect();
        assert!(ids.iter().all(|&i| i == ids[0]), "{ids:?}");
        let values: Array<MapData, u32> = colls[2]
            .take_map("values")
            .unwrap()
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(
            values.get(&0, 0).unwrap(),
            7,
            "round {round}: spec 0's contents"
        );
        drop((values, colls));
        std::fs::remove_file(fs.pin("values")).unwrap();
    }

    // An incompatible size in spec 2: its error, every time, and the pin
    // spec 0 made in the call is removed.
    let mut sizes = specs.clone();
    sizes[2].maps.get_mut("values").unwrap().max_entries = 8;
    for _ in 0..20 {
        let e = loader.load_all(&sizes).unwrap_err();
        assert!(matches!(e, LoadError::Instance { index: 2, .. }), "{e:?}");
        assert_eq!(e.map(), "values");
        assert!(e.to_string().contains("max_entries"), "{e}");
        assert!(fs.pins().is_empty());
    }

    // The slots of a pinned outer map are the first spec's.
    let base = fixture("map_in_map.bpfel.o");
    let mims: Vec<CollectionSpec> = (0..3u32)
        .map(|t| {
            let mut spec = base.copy();
            spec.maps.get_mut("outer_arr").unwrap().pinning = Pinning::ByName;
            spec.maps
                .get_mut("inner_a")
                .unwrap()
                .contents
                .push(MapEntry {
                    key: 0u32.to_le_bytes().to_vec(),
                    value: MapValue::Bytes(t.to_le_bytes().to_vec()),
                });
            spec
        })
        .collect();
    for round in 0..20 {
        let mut colls = loader.load_all(&mims).unwrap();
        let (a0, b0) = (id(&colls[0], "inner_a"), id(&colls[0], "inner_b"));
        assert_eq!(slots(&mut colls[2]), [(1, a0), (3, b0)], "round {round}");
        drop(colls);
        std::fs::remove_file(fs.pin("outer_arr")).unwrap();
    }
    // A later spec whose pinned outer map has another inner template is
    // refused as a later call would refuse it: the first spec's slots are
    // filled before the others run, so the pin is checked complete.
    let outer = |value_size| {
        let mut spec = CollectionSpec::default();
        let mut outer = ebpf_spec::MapSpec::new("outer", ebpf_spec::MapType::ArrayOfMaps, 4, 4, 4);
        outer.pinning = Pinning::ByName;
        outer.inner_map = Some(Box::new(ebpf_spec::MapSpec::new(
            "t",
            ebpf_spec::MapType::Array,
            4,
            value_size,
            2,
        )));
        outer.contents.push(MapEntry::at_index(
            1,
            MapValue::Map("inner".into()),
            ebpf_spec::ByteOrder::NATIVE,
        ));
        spec.maps.insert("outer".into(), outer);
        let inner = ebpf_spec::MapSpec::new("inner", ebpf_spec::MapType::Array, 4, value_size, 2);
        spec.maps.insert("inner".into(), inner);
        spec
    };
    for _ in 0..5 {
        let e = loader.load_all(&[outer(4), outer(8)]).unwrap_err();
        assert!(matches!(e, LoadError::Instance { index: 1, .. }), "{e:?}");
        assert!(e.to_string().contains("inner_map.value_size"), "{e}");
        assert!(fs.pins().is_empty());
    }
    drop(loader); // it keeps the objects' BTF fds
    assert_eq!(open_fds(), fds);
}
