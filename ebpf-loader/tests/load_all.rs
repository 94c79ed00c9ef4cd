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

/// Specs of one call share a map pinned by name, so they must agree on it:
/// which spec created the pin would otherwise depend on thread timing (and
/// with it the pin's contents and which spec's error is reported).
#[test]
fn specs_that_pin_one_name_differently_are_refused_before_any_syscall() {
    let Some(_serial) = kernel() else { return };
    let fs = BpfFs::mount();
    let loader = Loader::new().threads(2).pin_path(fs.path());
    let fds = open_fds();
    let mut specs = tenants(3);
    for spec in &mut specs {
        let values = spec.maps.get_mut("values").unwrap();
        values.pinning = Pinning::ByName;
        values.max_entries = 4;
    }
    let refused = |specs: &[CollectionSpec], expect: &str| {
        fault_injection::count_calls();
        let e = loader.load_all(specs).unwrap_err();
        let calls = fault_injection::calls();
        fault_injection::disarm();
        assert!(matches!(e, LoadError::Instance { index: 2, .. }), "{e:?}");
        assert_eq!(e.map(), "values");
        assert!(e.to_string().contains(expect), "{e}");
        assert_eq!(calls, 0, "refused before any syscall");
        assert!(fs.pins().is_empty());
    };
    let mut sizes = specs.clone();
    sizes[2].maps.get_mut("values").unwrap().max_entries = 8;
    refused(
        &sizes,
        "pinned by name, as in spec 0, but it differs (max_entries 8 here, 4 there)",
    );
    let mut contents = specs.clone();
    set_key_0(
        &mut contents[2],
        MapValue::Bytes(7u32.to_le_bytes().to_vec()),
    );
    refused(&contents, "the same attributes but other contents or BTF");

    // Agreeing specs share the one pin.
    let colls = loader.load_all(&specs).unwrap();
    assert_eq!(fs.pins(), ["values"]);
    let ids: Vec<u32> = colls.iter().map(|c| id(c, "values")).collect();
    assert!(ids.iter().all(|&i| i == ids[0]), "{ids:?}");
    drop((colls, loader)); // the loader keeps the object's BTF fd
    std::fs::remove_file(fs.pin("values")).unwrap();
    assert_eq!(open_fds(), fds);
}
