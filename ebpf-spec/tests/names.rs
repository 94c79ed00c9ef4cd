//! `Name` and `NameMap`, the string and the map of the spec types: they behave
//! as `String` and `BTreeMap<String, V>` do (checked against them as models),
//! and copies of them share nothing.

use ebpf_spec::deep_copy::{assert_deep_copy, buffers};
use ebpf_spec::{CollectionSpec, DeepCopy, MapSpec, MapType, Name, NameMap};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, RandomState};

/// Names of every length around the inline limit (24 bytes), non-ASCII
/// included, from a small alphabet so that operations hit existing keys.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ab]{0,3}",
        "[abé]{20,30}",
        Just("x".repeat(24)),
        Just("x".repeat(25)),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Insert(String, u32),
    Remove(String),
    Retain(u32),
    Extend(Vec<(String, u32)>),
    Clear,
    Edit(String, u32),
    Upsert(String, u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (name(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
        2 => name().prop_map(Op::Remove),
        1 => (1..4u32).prop_map(Op::Retain),
        1 => prop::collection::vec((name(), any::<u32>()), 0..20).prop_map(Op::Extend),
        1 => Just(Op::Clear),
        2 => (name(), any::<u32>()).prop_map(|(k, v)| Op::Edit(k, v)),
        2 => (name(), any::<u32>()).prop_map(|(k, v)| Op::Upsert(k, v)),
    ]
}

fn same(map: &NameMap<u32>, model: &BTreeMap<String, u32>) {
    let got: Vec<(&str, u32)> = map.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let want: Vec<(&str, u32)> = model.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(got, want);
    assert_eq!(map.len(), model.len());
    assert_eq!(map.is_empty(), model.is_empty());
    assert!(
        map.keys()
            .map(Name::as_str)
            .eq(model.keys().map(String::as_str))
    );
    assert!(map.values().eq(model.values()));
    assert!(map.iter().rev().map(|(_, v)| v).eq(model.values().rev()));
}

proptest! {
    #[test]
    fn name_map_behaves_as_a_btree_map(
        start in prop::collection::vec((name(), any::<u32>()), 0..8),
        ops in prop::collection::vec(op(), 0..40),
        probes in prop::collection::vec(name(), 0..8),
    ) {
        // Built from entries with repeated names, the last wins in both.
        let mut map: NameMap<u32> = start.iter().cloned().collect();
        let mut model: BTreeMap<String, u32> = start.into_iter().collect();
        same(&map, &model);
        for op in ops {
            match op {
                Op::Insert(k, v) => {
                    prop_assert_eq!(map.insert(Name::from(k.as_str()), v), model.insert(k, v));
                }
                Op::Remove(k) => prop_assert_eq!(map.remove(&k), model.remove(&k)),
                Op::Retain(m) => {
                    map.retain(|_, v| *v % m == 0);
                    model.retain(|_, v| *v % m == 0);
                }
                Op::Extend(entries) => {
                    map.extend(entries.iter().cloned());
                    model.extend(entries);
                }
                Op::Clear => {
                    map.clear();
                    model.clear();
                }
                Op::Upsert(k, v) => {
                    *map.get_or_insert_with(Name::from(k.as_str()), || v) ^= 1;
                    *model.entry(k).or_insert_with(|| v) ^= 1;
                }
                Op::Edit(k, v) => {
                    if let Some(x) = map.get_mut(&k) {
                        *x = v;
                    }
                    if let Some(x) = model.get_mut(&k) {
                        *x = v;
                    }
                }
            }
            same(&map, &model);
        }
        for k in &probes {
            prop_assert_eq!(map.get(k), model.get(k));
            prop_assert_eq!(map.contains_key(k), model.contains_key(k));
            prop_assert_eq!(
                map.get_key_value(k).map(|(n, v)| (n.as_str(), *v)),
                model.get_key_value(k).map(|(n, v)| (n.as_str(), *v))
            );
        }
        for v in map.values_mut() {
            *v = v.wrapping_add(1);
        }
        for (_, v) in model.iter_mut() {
            *v = v.wrapping_add(1);
        }
        same(&map, &model);
        let copy = map.deep_copy();
        prop_assert_eq!(&copy, &map);
        assert_deep_copy(&map, &copy);
        let owned: Vec<(String, u32)> = map.into_iter().map(|(k, v)| (k.into(), v)).collect();
        prop_assert_eq!(owned, model.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn names_compare_order_and_hash_as_their_str(a in name(), b in name()) {
        let (na, nb) = (Name::from(a.as_str()), Name::from(b.clone()));
        prop_assert_eq!(na.cmp(&nb), a.cmp(&b));
        prop_assert_eq!(na == nb, a == b);
        // Both ways, with `&str` and `String`.
        prop_assert!(na == a.as_str());
        prop_assert!(a.as_str() == na);
        prop_assert!(na == a);
        prop_assert!(a == na);
        // `Borrow<str>` lookups find a `Name` by its `str`.
        let state = RandomState::new();
        prop_assert_eq!(state.hash_one(&na), state.hash_one(a.as_str()));
        let set: HashSet<Name> = [na.clone()].into_iter().collect();
        prop_assert!(set.contains(a.as_str()));
        prop_assert_eq!(na.to_string(), a.clone());
        prop_assert_eq!(format!("{na:?}"), format!("{a:?}"));
        prop_assert_eq!(String::from(na.clone()), a.clone());
        // Beyond 24 bytes a name is on the heap, and its copy gets its own.
        prop_assert_eq!(na.is_heap_allocated(), a.len() > 24);
        let copy = na.deep_copy();
        prop_assert_eq!(&copy, &na);
        assert_deep_copy(&na, &copy);
    }
}

#[test]
fn a_long_name_is_one_buffer_and_a_short_one_none() {
    let long = Name::from("a_map_name_longer_than_24_bytes");
    let short = Name::from("events");
    assert_eq!(buffers(&long).len(), 1);
    assert_eq!(buffers(&long)[0].len, long.len());
    assert!(buffers(&short).is_empty());
    // Inside a `Vec` the short name's bytes are the vector's: one buffer.
    let names = vec![short.clone(), long.clone()];
    assert_eq!(buffers(&names).len(), 2);
    assert_deep_copy(&names, &names.deep_copy());
}

#[test]
fn a_spec_with_long_names_copies_without_sharing() {
    let mut spec = CollectionSpec::default();
    for name in ["rb", "per_interface_packet_counters_by_protocol"] {
        spec.maps
            .insert(name.into(), MapSpec::new(name, MapType::Hash, 4, 8, 16));
    }
    let copy = spec.copy();
    assert_eq!(copy, spec);
    assert_deep_copy(&spec, &copy);
    assert_eq!(
        copy.maps.keys().collect::<Vec<_>>(),
        ["per_interface_packet_counters_by_protocol", "rb"]
    );
}

#[test]
#[should_panic(expected = "no entry named \"missing\"")]
fn indexing_a_missing_name_says_which() {
    let maps: NameMap<u32> = NameMap::new();
    let _ = maps["missing"];
}

#[test]
fn name_maps_serialize_as_objects_in_name_order() {
    let maps: NameMap<u32> = [("b", 2), ("a", 1)].into();
    assert_eq!(serde_json::to_string(&maps).unwrap(), r#"{"a":1,"b":2}"#);
    // Any order in; of repeated names, the last.
    let back: NameMap<u32> = serde_json::from_str(r#"{"b":2,"a":1,"b":3}"#).unwrap();
    assert_eq!(
        back.iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect::<Vec<_>>(),
        [("a", 1), ("b", 3)]
    );
    assert!(serde_json::from_str::<NameMap<u32>>(r#"["a"]"#).is_err());
    let name: Name = serde_json::from_str(r#""xdp_pass""#).unwrap();
    assert_eq!(name, "xdp_pass");
    assert_eq!(serde_json::to_string(&name).unwrap(), r#""xdp_pass""#);
}
