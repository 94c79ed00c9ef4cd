//! The `ebpf-examples` binary, run as a user runs it.

use assert_cmd::cargo::cargo_bin_cmd;
use ebpf_spec::{CollectionSpec, MapSpec, ProgramSpec};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Output;

// ------------------------------------------------------------------ helpers

const MAP_KEYS: [&str; 13] = [
    "name",
    "type",
    "type_id",
    "key_size",
    "value_size",
    "max_entries",
    "flags",
    "pinning",
    "numa_node",
    "map_extra",
    "inner_map",
    "contents",
    "extra",
];
const PROGRAM_KEYS: [&str; 6] = [
    "name",
    "section",
    "type",
    "attach_type",
    "license",
    "instructions",
];

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> PathBuf {
    manifest_dir()
        .join("../ebpf-spec/tests/fixtures")
        .join(name)
}

fn default_object() -> PathBuf {
    manifest_dir().join("bpf/default.bpfel.o")
}

/// Runs the binary from the package directory; backtraces on, so that a panic
/// would show one.
fn run(args: &[&str]) -> Output {
    cargo_bin_cmd!("ebpf-examples")
        .current_dir(manifest_dir())
        .env("RUST_BACKTRACE", "1")
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8")
}

/// Runs the binary and expects success.
fn run_ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}\n{}",
        out.status,
        stderr(&out)
    );
    stdout(&out)
}

fn spec_of(path: &Path) -> CollectionSpec {
    CollectionSpec::from_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A JSON value that keeps the order of object keys (serde_json's `Value`
/// sorts them unless its `preserve_order` feature is on).
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Json;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
                Ok(Json::Bool(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
                Ok(Json::Int(v.into()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
                Ok(Json::Int(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
                Ok(Json::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Json, E> {
                Ok(Json::Str(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Json::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Json>()? {
                    entries.push(entry);
                }
                Ok(Json::Object(entries))
            }
        }
        d.deserialize_any(V)
    }
}

impl Json {
    fn keys(&self) -> Vec<&str> {
        match self {
            Json::Object(entries) => entries.iter().map(|(k, _)| k.as_str()).collect(),
            other => panic!("not an object: {other:?}"),
        }
    }
    fn get(&self, key: &str) -> &Json {
        match self {
            Json::Object(entries) => entries
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("no key {key}")),
            other => panic!("not an object: {other:?}"),
        }
    }
    fn array(&self) -> &[Json] {
        match self {
            Json::Array(items) => items,
            other => panic!("not an array: {other:?}"),
        }
    }
    fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }
    fn int(&self) -> i128 {
        match self {
            Json::Int(n) => *n,
            other => panic!("not an integer: {other:?}"),
        }
    }
}

/// `inspect --json FILE`: the raw text and its parse.
fn inspect_json(path: &Path) -> (String, Json) {
    let text = run_ok(&["inspect", path.to_str().expect("UTF-8 path"), "--json"]);
    let mut de = serde_json::Deserializer::from_str(&text);
    let json = Json::deserialize(&mut de).unwrap_or_else(|e| panic!("invalid JSON: {e}\n{text}"));
    de.end().expect("nothing after the JSON value");
    // serde_json's own parser accepts it too.
    serde_json::from_str::<serde_json::Value>(&text).expect("serde_json parses the output");
    (text, json)
}

/// The object keys of raw JSON text, in the order they appear (a key is a
/// string followed by `:`).
fn raw_keys(text: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut s = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    s.push(c);
                    s.extend(chars.next());
                }
                '"' => break,
                c => s.push(c),
            }
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek() == Some(&':') {
            keys.push(s);
        }
    }
    keys
}

/// The keys `inspect --json` must print for `spec`, in order.
fn expected_raw_keys(spec: &CollectionSpec) -> Vec<String> {
    fn map_keys(m: &MapSpec, keys: &mut Vec<String>) {
        for k in MAP_KEYS {
            keys.push(k.to_owned());
            if k == "inner_map"
                && let Some(inner) = &m.inner_map
            {
                map_keys(inner, keys);
            }
        }
    }
    let mut keys = vec!["maps".to_owned()];
    for m in spec.maps.values() {
        map_keys(m, &mut keys);
    }
    keys.push("programs".to_owned());
    for _ in spec.programs.values() {
        keys.extend(PROGRAM_KEYS.map(str::to_owned));
    }
    keys
}

/// Checks one JSON map object against its spec, field by field.
fn check_map(json: &Json, m: &MapSpec) {
    assert_eq!(json.keys(), MAP_KEYS, "keys of map {}", m.name);
    let ctx = &m.name;
    assert_eq!(json.get("name").str(), m.name);
    assert_eq!(json.get("type").str(), m.map_type.name(), "{ctx}");
    assert_eq!(json.get("type_id").int(), m.map_type.raw().into(), "{ctx}");
    assert_eq!(json.get("key_size").int(), m.key_size.into(), "{ctx}");
    assert_eq!(json.get("value_size").int(), m.value_size.into(), "{ctx}");
    assert_eq!(json.get("max_entries").int(), m.max_entries.into(), "{ctx}");
    assert_eq!(json.get("flags").int(), m.flags.bits().into(), "{ctx}");
    assert_eq!(json.get("pinning").str(), m.pinning.name(), "{ctx}");
    assert!(matches!(json.get("pinning").str(), "none" | "by_name"));
    assert_eq!(json.get("numa_node").int(), m.numa_node.into(), "{ctx}");
    assert_eq!(json.get("map_extra").int(), m.map_extra.into(), "{ctx}");
    match (&m.inner_map, json.get("inner_map")) {
        (None, Json::Null) => {}
        (Some(inner), obj @ Json::Object(_)) => check_map(obj, inner),
        (spec, json) => panic!("{ctx}: inner_map {json:?} but the spec has {spec:?}"),
    }
    assert_eq!(
        json.get("contents").int(),
        m.contents.len() as i128,
        "{ctx}"
    );
    let extra = json.get("extra").str();
    assert_eq!(extra, m.extra.to_hex(), "{ctx}");
    assert!(
        extra
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{ctx}: extra is lowercase hex: {extra}"
    );
}

fn check_program(json: &Json, p: &ProgramSpec) {
    assert_eq!(json.keys(), PROGRAM_KEYS, "keys of program {}", p.name);
    let ctx = &p.name;
    assert_eq!(json.get("name").str(), p.name);
    assert_eq!(json.get("section").str(), p.section, "{ctx}");
    assert_eq!(json.get("type").str(), p.program_type.name(), "{ctx}");
    match (p.attach_type, json.get("attach_type")) {
        (None, Json::Null) => {}
        (Some(a), Json::Str(s)) => assert_eq!(s, a.name(), "{ctx}"),
        (spec, json) => panic!("{ctx}: attach_type {json:?} but the spec has {spec:?}"),
    }
    assert_eq!(json.get("license").str(), p.license, "{ctx}");
    assert_eq!(
        json.get("instructions").int(),
        p.instructions.len() as i128,
        "{ctx}"
    );
}

fn names(items: &[Json]) -> Vec<&str> {
    items.iter().map(|i| i.get("name").str()).collect()
}

fn assert_sorted(names: &[&str]) {
    let mut sorted = names.to_vec();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "sorted by name");
}

/// Every failure: non-zero exit, nothing on stdout, one `error: ` line on stderr.
fn assert_one_line_error(args: &[&str], expect: &str) {
    let out = run(args);
    let err = stderr(&out);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(
        stdout(&out).is_empty(),
        "{args:?} printed: {}",
        stdout(&out)
    );
    assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err:?}");
    assert!(err.starts_with("error: "), "{args:?}: {err:?}");
    assert!(err.contains(expect), "{args:?}: {err:?} lacks {expect:?}");
    let lower = err.to_lowercase();
    assert!(
        !lower.contains("panicked") && !lower.contains("backtrace"),
        "{args:?}: {err:?}"
    );
}

// ------------------------------------------------------------------ inspect: tables

#[test]
fn inspect_without_file_shows_every_map_and_program_of_the_default_object() {
    let text = run_ok(&["inspect"]);
    let spec = spec_of(&default_object());
    assert!(text.contains("embedded default object"), "{text}");
    assert_eq!(spec.maps.len(), 12, "the default object has 12 maps");
    for name in spec.maps.keys().chain(spec.programs.keys()) {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().next() == Some(name)),
            "no row for {name}:\n{text}"
        );
    }
    for expected in [
        "maps (12):",
        "programs (5):",
        "array_of_maps",
        "ringbuf",
        "prog_array",
        "by_name",
        "0x80",
        "00000000020000000000000000000000", // tc_pinned: pinning PIN_GLOBAL_NS
        "sub-programs in .text: account",
    ] {
        assert!(text.contains(expected), "no {expected:?}:\n{text}");
    }
    // tc_outer's inner map is the legacy map it names; outer's has no name of its own.
    let row = |name: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row {name}"))
            .to_owned()
    };
    assert!(
        row("tc_outer").contains(" tc_inner "),
        "{}",
        row("tc_outer")
    );
    assert!(row("outer").contains("array 4/4 max 4"), "{}", row("outer"));
}

#[test]
fn inspect_file_reads_a_fixture() {
    let text = run_ok(&["inspect", "../ebpf-spec/tests/fixtures/map_in_map.bpfel.o"]);
    assert!(
        text.starts_with("object: ../ebpf-spec/tests/fixtures/map_in_map.bpfel.o\n"),
        "{text}"
    );
    for name in [
        "inner_a",
        "inner_b",
        "outer_arr",
        "outer_hash",
        "jmp_table",
        "entry",
        "tail_x",
        "tail_y",
    ] {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().next() == Some(name)),
            "no row for {name}:\n{text}"
        );
    }
    assert!(!text.contains("embedded default object"));
}

#[test]
fn table_rows_are_sorted_by_name() {
    let text = run_ok(&["inspect"]);
    let section = |title: &str| -> Vec<String> {
        text.split("\n\n")
            .find(|s| s.starts_with(title))
            .unwrap_or_else(|| panic!("no {title}"))
            .lines()
            .skip(2) // title, header
            .map(|l| l.split_whitespace().next().unwrap_or_default().to_owned())
            .collect()
    };
    for title in ["maps", "programs"] {
        let rows = section(title);
        let mut sorted = rows.clone();
        sorted.sort();
        assert_eq!(rows, sorted, "{title}");
        assert!(!rows.is_empty());
    }
}

// ------------------------------------------------------------------ inspect --json

#[test]
fn json_has_exactly_the_schema_keys_in_order() {
    for path in [
        default_object(),
        fixture("map_in_map.bpfel.o"),
        fixture("iproute2.bpfel.o"),
    ] {
        let (text, json) = inspect_json(&path);
        assert_eq!(json.keys(), ["maps", "programs"], "{}", path.display());
        for m in json.get("maps").array() {
            assert_eq!(m.keys(), MAP_KEYS);
            if let inner @ Json::Object(_) = m.get("inner_map") {
                assert_eq!(inner.keys(), MAP_KEYS);
            }
        }
        for p in json.get("programs").array() {
            assert_eq!(p.keys(), PROGRAM_KEYS);
        }
        // The raw text, independent of any parser: every key in order.
        assert_eq!(
            raw_keys(&text),
            expected_raw_keys(&spec_of(&path)),
            "{}",
            path.display()
        );
    }
}

#[test]
fn json_values_match_the_spec_and_are_sorted_by_name() {
    let mut paths = vec![default_object()];
    for name in [
        "map_in_map",
        "iproute2",
        "btf_maps",
        "globals",
        "legacy_maps",
        "legacy_extra",
        "no_btf",
        "programs",
    ] {
        paths.push(fixture(&format!("{name}.bpfel.o")));
        paths.push(fixture(&format!("{name}.bpfeb.o")));
    }
    for path in paths {
        let spec = spec_of(&path);
        let (_, json) = inspect_json(&path);
        let maps = json.get("maps").array();
        let programs = json.get("programs").array();

        assert_eq!(
            names(maps),
            spec.maps.keys().map(String::as_str).collect::<Vec<_>>(),
            "{}",
            path.display()
        );
        assert_sorted(&names(maps));
        for m in maps {
            check_map(m, &spec.maps[m.get("name").str()]);
        }

        assert_eq!(
            names(programs),
            spec.programs.keys().map(String::as_str).collect::<Vec<_>>(),
            "{}",
            path.display()
        );
        assert_sorted(&names(programs));
        for p in programs {
            check_program(p, &spec.programs[p.get("name").str()]);
        }
    }
}

#[test]
fn json_instructions_count_8_byte_slots() {
    // FIXTURES.md: "slots = 8-byte instruction slots (a ld_imm64 takes 2)".
    for (object, expected) in [
        (
            "btf_maps.bpfel.o",
            [("btf_maps_sock", 64), ("btf_maps_tp", 42)].as_slice(),
        ),
        ("legacy_extra.bpfeb.o", &[("extra_prog", 24)]),
        (
            "globals.bpfel.o",
            &[("get_array", 11), ("get_rate", 4), ("touch_all", 51)],
        ),
    ] {
        let (_, json) = inspect_json(&fixture(object));
        let counts: Vec<(&str, i128)> = json
            .get("programs")
            .array()
            .iter()
            .map(|p| (p.get("name").str(), p.get("instructions").int()))
            .collect();
        assert_eq!(counts, expected, "{object}");
    }
}

#[test]
fn json_without_file_is_the_default_object() {
    let without = run_ok(&["inspect", "--json"]);
    let with = run_ok(&[
        "inspect",
        default_object().to_str().expect("UTF-8 path"),
        "--json",
    ]);
    assert_eq!(without, with);
}

#[test]
fn json_nests_the_inner_map_of_an_outer_map() {
    let (_, json) = inspect_json(&fixture("map_in_map.bpfel.o"));
    let map = |name: &str| -> Json {
        json.get("maps")
            .array()
            .iter()
            .find(|m| m.get("name").str() == name)
            .unwrap_or_else(|| panic!("no map {name}"))
            .clone()
    };

    let outer = map("outer_arr");
    assert_eq!(outer.get("type").str(), "array_of_maps");
    assert_eq!(outer.get("type_id").int(), 12);
    assert_eq!(outer.get("contents").int(), 2); // [1] = &inner_a, [3] = &inner_b
    let inner = outer.get("inner_map");
    assert_eq!(inner.keys(), MAP_KEYS);
    assert_eq!(inner.get("type").str(), "array");
    assert_eq!(inner.get("type_id").int(), 2);
    assert_eq!(
        (
            inner.get("key_size").int(),
            inner.get("value_size").int(),
            inner.get("max_entries").int()
        ),
        (4, 4, 2)
    );
    assert_eq!(inner.get("inner_map"), &Json::Null);

    let inner = map("outer_hash").get("inner_map").clone();
    assert_eq!(inner.get("type").str(), "hash");
    assert_eq!(
        (
            inner.get("value_size").int(),
            inner.get("max_entries").int()
        ),
        (8, 16)
    );

    let jumps = map("jmp_table");
    assert_eq!(jumps.get("type").str(), "prog_array");
    assert_eq!(jumps.get("contents").int(), 2);
    assert_eq!(jumps.get("inner_map"), &Json::Null);

    // iproute2's map-in-map: the inner map is the legacy map with the matching id.
    let (_, json) = inspect_json(&default_object());
    let tc_outer = json
        .get("maps")
        .array()
        .iter()
        .find(|m| m.get("name").str() == "tc_outer")
        .expect("tc_outer")
        .clone();
    assert_eq!(tc_outer.get("inner_map").get("name").str(), "tc_inner");
    assert_eq!(tc_outer.get("contents").int(), 1);
}

#[test]
fn json_extra_is_the_hex_fixtures_md_documents() {
    // FIXTURES.md, legacy_extra: "bytes beyond 20 (hex)": iproute2's 16 (zero), then 8 unknown.
    for (object, hash, array) in [
        (
            "legacy_extra.bpfel.o",
            "00000000000000000000000000000000efbeadde04030201",
            "00000000000000000000000000000000feca0000d0c0b0a0",
        ),
        (
            "legacy_extra.bpfeb.o",
            "00000000000000000000000000000000deadbeef01020304",
            "000000000000000000000000000000000000cafea0b0c0d0",
        ),
    ] {
        let (_, json) = inspect_json(&fixture(object));
        let extra: Vec<(&str, &str)> = json
            .get("maps")
            .array()
            .iter()
            .map(|m| (m.get("name").str(), m.get("extra").str()))
            .collect();
        assert_eq!(
            extra,
            [("extra_array", array), ("extra_hash", hash)],
            "{object}"
        );
    }
    // Maps without extra bytes: "".
    let (_, json) = inspect_json(&fixture("map_in_map.bpfel.o"));
    for m in json.get("maps").array() {
        assert_eq!(m.get("extra").str(), "");
    }
}

// ------------------------------------------------------------------ errors

#[test]
fn a_missing_file_is_one_line_on_stderr() {
    assert_one_line_error(
        &["inspect", "/nonexistent/object.o"],
        "cannot read /nonexistent/object.o",
    );
    assert_one_line_error(
        &["inspect", "/nonexistent/object.o", "--json"],
        "cannot read",
    );
}

#[test]
fn a_text_file_is_one_line_on_stderr() {
    let path = manifest_dir().join("Cargo.toml");
    assert_one_line_error(
        &["inspect", path.to_str().expect("UTF-8 path")],
        "not an ELF object",
    );
}

#[test]
fn an_elf_file_for_another_machine_is_one_line_on_stderr() {
    assert_one_line_error(&["inspect", "/bin/true"], "not an eBPF object");
    assert_one_line_error(&["inspect", "--json", "/bin/true"], "not an eBPF object");
}

#[test]
fn a_truncated_object_is_one_line_on_stderr() {
    let bytes = std::fs::read(fixture("map_in_map.bpfel.o")).expect("fixture");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    for len in [0, 16, 63, 64, 1000, bytes.len() / 2, bytes.len() - 1] {
        let path = dir.join(format!("truncated-{}-{len}.o", std::process::id()));
        std::fs::write(&path, &bytes[..len]).expect("write truncated copy");
        let out = run(&["inspect", path.to_str().expect("UTF-8 path")]);
        std::fs::remove_file(&path).ok();
        let err = stderr(&out);
        assert!(!out.status.success(), "{len} bytes: succeeded");
        assert_eq!(err.lines().count(), 1, "{len} bytes: {err:?}");
        assert!(
            err.starts_with("error: ") && (err.contains("ELF") || err.contains("section")),
            "{len} bytes: {err:?}"
        );
        assert!(!err.to_lowercase().contains("panicked"), "{err:?}");
        assert!(!err.to_lowercase().contains("backtrace"), "{err:?}");
    }
}

// ------------------------------------------------------------------ race

#[test]
fn race_with_deep_copies_is_ok() {
    let text = run_ok(&["race"]);
    assert!(text.contains("verdict: OK"), "{text}");
    assert!(!text.contains("verdict: RACE"), "{text}");
}

#[test]
fn race_with_shallow_copies_races() {
    let text = run_ok(&["race", "--shallow"]);
    assert!(text.contains("verdict: RACE"), "{text}");
    assert!(!text.contains("verdict: OK"), "{text}");
}

// ------------------------------------------------------------------ help

#[test]
fn every_help_has_an_example() {
    let top = run_ok(&["--help"]);
    assert!(top.contains("Example:"), "{top}");
    let commands: Vec<String> = top
        .split("Commands:")
        .nth(1)
        .expect("a Commands section")
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect();
    assert!(
        commands.iter().any(|c| c == "inspect") && commands.iter().any(|c| c == "race"),
        "{commands:?}"
    );
    for command in &commands {
        for flag in ["--help", "-h"] {
            let help = run_ok(&[command, flag]);
            assert!(
                help.contains("Example: ebpf-examples"),
                "{command} {flag}:\n{help}"
            );
        }
    }
}
