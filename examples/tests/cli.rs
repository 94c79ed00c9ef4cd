//! The `ebpf-examples` binary, run as a user runs it.

use assert_cmd::cargo::cargo_bin_cmd;
use ebpf_spec::{CollectionSpec, MapSpec, MapType, ProgramSpec};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Output;

// ------------------------------------------------------------------ bench

const BENCH_KEYS: [&str; 10] = [
    "object",
    "object_bytes",
    "maps",
    "programs",
    "debug_build",
    "iterations",
    "instances",
    "threads",
    "load_skipped",
    "steps",
];
const STEP_KEYS: [&str; 7] = [
    "name",
    "baseline",
    "runs_per_sample",
    "median_ns",
    "p90_ns",
    "min_ns",
    "ratio",
];
const SPEC_STEPS: [&str; 3] = ["clone", "parse", "copy"];
const ALL_STEPS: [&str; 7] = [
    "clone",
    "parse",
    "copy",
    "create_map",
    "load",
    "load_maps_only",
    "load_many",
];

fn float(json: &Json) -> f64 {
    match json {
        Json::Float(f) => *f,
        Json::Int(n) => *n as f64,
        other => panic!("not a number: {other:?}"),
    }
}

/// `bench ARGS --json`: one line of JSON with the schema's keys in order,
/// every step's keys in order and its figures consistent.
fn bench_json(args: &[&str]) -> Json {
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = run(&all);
    assert!(out.status.success(), "{all:?}: {}", stderr(&out));
    assert!(
        stderr(&out).is_empty(),
        "{all:?}: stderr: {:?}",
        stderr(&out)
    );
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{all:?}: not one line: {text:?}");
    let json: Json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(json.keys(), BENCH_KEYS, "{text}");
    assert!(matches!(json.get("debug_build"), Json::Bool(_)), "{text}");
    assert!(json.get("threads").int() >= 1);
    let steps = json.get("steps").array();
    for step in steps {
        assert_eq!(step.keys(), STEP_KEYS, "{text}");
        let (median, p90, min) = (
            float(step.get("median_ns")),
            float(step.get("p90_ns")),
            float(step.get("min_ns")),
        );
        assert!(
            min > 0.0 && min <= median && median <= p90 && p90.is_finite(),
            "{text}"
        );
        assert!(step.get("runs_per_sample").int() >= 1, "{text}");
        // The ratio is the median over the baseline's median.
        let baseline = step.get("baseline").str();
        let base = steps
            .iter()
            .find(|s| s.get("name").str() == baseline)
            .unwrap_or_else(|| panic!("baseline {baseline} is not a step: {text}"));
        let expected = median / float(base.get("median_ns"));
        let ratio = float(step.get("ratio"));
        assert!(
            (ratio - expected).abs() <= 1e-9 * expected.max(1.0),
            "{ratio} != {expected}: {text}"
        );
    }
    json
}

fn step_names(json: &Json) -> Vec<&str> {
    names(json.get("steps").array())
}

fn step<'a>(json: &'a Json, name: &str) -> &'a Json {
    json.get("steps")
        .array()
        .iter()
        .find(|s| s.get("name").str() == name)
        .unwrap_or_else(|| panic!("no step {name}"))
}

#[test]
fn bench_json_without_file_has_the_schema() {
    let json = bench_json(&["--iterations", "3"]);
    let bytes = std::fs::read(default_object()).expect("the default object");
    assert_eq!(
        json.get("object").str(),
        "the embedded default object (examples/bpf/default.bpf.c)"
    );
    assert_eq!(json.get("object_bytes").int(), bytes.len() as i128);
    assert_eq!(json.get("maps").int(), 12);
    assert_eq!(json.get("programs").int(), 5);
    assert_eq!(json.get("iterations").int(), 3);
    assert_eq!(json.get("instances").int(), 8);
    assert_eq!(
        json.get("debug_build"),
        &Json::Bool(cfg!(debug_assertions)),
        "the test binary and the tested one share a profile"
    );
    for (name, baseline) in [("clone", "clone"), ("parse", "clone"), ("copy", "clone")] {
        assert_eq!(step(&json, name).get("baseline").str(), baseline);
    }
    assert_eq!(float(step(&json, "clone").get("ratio")), 1.0);
    if kernel() {
        assert_eq!(json.get("load_skipped"), &Json::Null);
        assert_eq!(step_names(&json), ALL_STEPS);
        for name in ["create_map", "load", "load_maps_only", "load_many"] {
            assert_eq!(step(&json, name).get("baseline").str(), "create_map");
        }
        assert_eq!(float(step(&json, "create_map").get("ratio")), 1.0);
        for name in ["create_map", "load", "load_maps_only"] {
            assert_eq!(step(&json, name).get("runs_per_sample").int(), 1);
        }
        assert_eq!(step(&json, "load_many").get("runs_per_sample").int(), 8);
        // A collection of 12 maps costs more than one bare map.
        assert!(float(step(&json, "load_maps_only").get("ratio")) > 1.0);
    } else {
        assert_eq!(step_names(&json), SPEC_STEPS);
        assert!(json.get("load_skipped").str().contains("not permitted"));
    }
}

#[test]
fn bench_json_on_a_file_without_load() {
    let path = fixture("map_in_map.bpfel.o");
    let path = path.to_str().expect("UTF-8 path");
    let json = bench_json(&[
        path,
        "--no-load",
        "-n",
        "2",
        "--instances",
        "3",
        "--threads",
        "1",
    ]);
    let spec = spec_of(Path::new(path));
    assert_eq!(json.get("object").str(), path);
    assert_eq!(
        json.get("object_bytes").int(),
        std::fs::metadata(path).expect("fixture").len() as i128
    );
    assert_eq!(json.get("maps").int(), spec.maps.len() as i128);
    assert_eq!(json.get("programs").int(), spec.programs.len() as i128);
    assert_eq!(json.get("iterations").int(), 2);
    assert_eq!(json.get("instances").int(), 3);
    assert_eq!(json.get("threads").int(), 1);
    assert_eq!(json.get("load_skipped").str(), "--no-load");
    assert_eq!(step_names(&json), SPEC_STEPS);
}

/// The table's rows: step label -> the rest of its columns.
fn bench_rows(text: &str) -> Vec<(String, Vec<String>)> {
    let table = text
        .split("\n\n")
        .find(|s| s.trim_start().starts_with("STEP"))
        .unwrap_or_else(|| panic!("no table:\n{text}"));
    table
        .lines()
        .skip(1)
        .filter(|l| !l.trim_start().starts_with("load steps skipped"))
        .map(|l| {
            let l = l.trim_start();
            // The label may hold a space ("load --maps-only"); the median starts at a digit.
            let at = l
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or_else(|| panic!("no figures: {l}"));
            let cells = l[at..].split_whitespace().map(str::to_owned).collect();
            (l[..at].trim().to_owned(), cells)
        })
        .collect()
}

#[test]
fn bench_table_without_file() {
    let text = run_ok(&["bench", "--iterations", "3"]);
    assert!(
        text.starts_with(&format!(
            "object: the embedded default object (examples/bpf/default.bpf.c): {} bytes, 12 maps, 5 programs\n",
            std::fs::metadata(default_object()).expect("object").len()
        )),
        "{text}"
    );
    assert!(
        text.contains("3 timed samples per step after a warm-up"),
        "{text}"
    );
    assert!(
        text.contains("RATIO: the step's median over its baseline's"),
        "{text}"
    );
    let rows = bench_rows(&text);
    let labels: Vec<&str> = rows.iter().map(|(l, _)| l.as_str()).collect();
    let kernel = kernel();
    if kernel {
        assert_eq!(
            labels,
            [
                "clone",
                "parse",
                "copy",
                "create_map",
                "load",
                "load --maps-only",
                "load_many"
            ],
            "{text}"
        );
        assert!(!text.contains("load steps skipped"), "{text}");
        assert!(text.contains("Loader::load_many(&spec, 8) on "), "{text}");
        // The default object fills map-in-map slots: the note says why load is slow.
        assert!(
            text.contains("note: the slots of 2 map-in-map map(s)"),
            "{text}"
        );
    } else {
        assert_eq!(labels, SPEC_STEPS, "{text}");
        assert!(
            text.contains(
                "  load steps skipped: bpf(2) is not permitted here: run as root or grant CAP_BPF, \
                 CAP_NET_ADMIN and CAP_PERFMON"
            ),
            "{text}"
        );
    }
    for (label, cells) in &rows {
        // MEDIAN and P90 (number and unit each), RATIO, then WHAT.
        assert!(
            ["ns", "µs", "ms", "s"].contains(&cells[1].as_str()),
            "{label}: {cells:?}"
        );
        assert!(
            ["ns", "µs", "ms", "s"].contains(&cells[3].as_str()),
            "{label}: {cells:?}"
        );
        assert!(cells[4].ends_with('x'), "{label}: {cells:?}");
        if label == "clone" || label == "create_map" {
            assert_eq!(cells[4], "1.00x", "{label}");
            assert_eq!(cells[5], "baseline:", "{label}");
        }
    }
    assert_eq!(
        text.contains("note: this is a debug build"),
        cfg!(debug_assertions),
        "{text}"
    );
}

#[test]
fn bench_table_on_a_file_with_no_load() {
    let text = run_ok(&[
        "bench",
        "../ebpf-spec/tests/fixtures/globals.bpfel.o",
        "--no-load",
        "-n",
        "2",
    ]);
    assert!(
        text.starts_with("object: ../ebpf-spec/tests/fixtures/globals.bpfel.o: "),
        "{text}"
    );
    let labels: Vec<String> = bench_rows(&text).into_iter().map(|(l, _)| l).collect();
    assert_eq!(labels, SPEC_STEPS, "{text}");
    assert!(text.contains("  load steps skipped: --no-load\n"), "{text}");
    assert!(!text.contains("map-in-map"), "{text}");
}

#[test]
fn bench_iterations_and_instances_are_validated() {
    for n in ["0", "-1", "1000001", "many", "1.5", ""] {
        let flag = format!("--iterations={n}");
        assert_usage_error(&["bench", &flag], "for '--iterations <N>'");
        let flag = format!("-n={n}");
        assert_usage_error(&["bench", &flag, "--json"], "for '--iterations <N>'");
    }
    assert_usage_error(
        &["bench", "--iterations"],
        "a value is required for '--iterations <N>'",
    );
    assert_usage_error(&["bench", "--iterations", "0"], "0 is not in 1..=1000000");
    for n in ["0", "4097"] {
        assert_usage_error(&["bench", "--instances", n], "for '--instances <N>'");
    }
    assert_usage_error(&["bench", "--threads", "0"], "for '--threads <T>'");
}

#[test]
fn bench_file_errors_are_one_line() {
    assert_one_line_error(
        &["bench", "/nonexistent/object.o"],
        "cannot read /nonexistent/object.o",
    );
    assert_one_line_error(&["bench", "/nonexistent/object.o", "--json"], "cannot read");
    let toml = manifest_dir().join("Cargo.toml");
    let toml = toml.to_str().expect("UTF-8 path");
    assert_one_line_error(&["bench", toml], "not an ELF object");
    assert_one_line_error(&["bench", toml, "--json", "--no-load"], "not an ELF object");
    assert_one_line_error(&["bench", "/bin/true"], "not an eBPF object");
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path().to_str().expect("UTF-8 path");
    assert_one_line_error(&["bench", dir], "cannot read");
}

#[test]
fn bench_a_load_the_loader_refuses_is_one_line_with_a_way_out() {
    if !kernel() {
        return;
    }
    let path = "../ebpf-spec/tests/fixtures/legacy_extra.bpfel.o";
    assert_one_line_error(
        &["bench", path, "-n", "2"],
        "map `extra_array`: the legacy definition has 8 extra bytes",
    );
    assert_one_line_error(
        &["bench", path, "-n", "2", "--json"],
        "; use --no-load to time parse and copy only",
    );
    // The way out works.
    let json = bench_json(&[path, "-n", "2", "--no-load"]);
    assert_eq!(step_names(&json), SPEC_STEPS);
}

#[test]
fn bench_without_privilege_skips_the_load_steps_in_one_line() {
    let Some(out) = run_unprivileged(&["bench", "-n", "2"]) else {
        return;
    };
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    let text = stdout(&out);
    let skipped: Vec<&str> = text.lines().filter(|l| l.contains("skipped")).collect();
    assert_eq!(
        skipped,
        [
            "  load steps skipped: bpf(2) is not permitted here: run as root or grant CAP_BPF, \
             CAP_NET_ADMIN and CAP_PERFMON to time them"
        ],
        "{text}"
    );
    let labels: Vec<String> = bench_rows(&text).into_iter().map(|(l, _)| l).collect();
    assert_eq!(labels, SPEC_STEPS, "{text}");

    let Some(out) = run_unprivileged(&["bench", "-n", "2", "--json"]) else {
        return;
    };
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Json = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert!(
        json.get("load_skipped")
            .str()
            .starts_with("bpf(2) is not permitted here"),
        "{json:?}"
    );
    assert_eq!(step_names(&json), SPEC_STEPS);
}

// ------------------------------------------------------------------ progress

/// Progress goes to stderr and only to a terminal: piped, stderr stays empty.
#[test]
fn no_progress_when_piped() {
    let mut commands: Vec<Vec<&str>> = vec![
        vec!["bench", "-n", "3"],
        vec!["bench", "-n", "3", "--json"],
        vec!["bench", "-n", "3", "--no-load"],
    ];
    if kernel() {
        commands.push(vec!["load", "--instances", "2"]);
        commands.push(vec!["load", "--instances", "2", "--json"]);
    }
    for args in commands {
        let out = run(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(out.stderr.is_empty(), "{args:?}: {:?}", stderr(&out));
        let text = stdout(&out);
        assert!(
            !text.contains('\r') && !text.contains('\u{1b}'),
            "{args:?}: control characters in {text:?}"
        );
    }
}

/// On a terminal (a pty from `script`), the bar and the spinner are drawn on
/// stderr, and stdout still holds only the output.
#[test]
fn progress_on_a_terminal() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipping: no `script` to run the binary on a pty");
        return;
    }
    let bin = env!("CARGO_BIN_EXE_ebpf-examples");
    let dir = tempfile::tempdir().expect("temp dir");
    let json_path = dir.path().join("out.json");
    let on_pty = |command: String| -> String {
        let out = std::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .current_dir(manifest_dir())
            .env("TERM", "xterm")
            .output()
            .expect("script runs");
        assert!(out.status.success(), "{command}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let screen = on_pty(format!(
        "{bin} bench -n 3 --no-load --json > {}",
        json_path.display()
    ));
    assert!(
        screen.contains("clone") && screen.contains(" samples, ETA "),
        "no progress bar on the terminal: {screen:?}"
    );
    let text = std::fs::read_to_string(&json_path).expect("the JSON");
    assert_eq!(text.lines().count(), 1, "{text:?}");
    serde_json::from_str::<serde_json::Value>(&text).expect("clean JSON on stdout");

    if !kernel() {
        return;
    }
    let screen = on_pty(format!(
        "{bin} load --instances 50 --json > {}",
        json_path.display()
    ));
    assert!(
        screen.contains("loading 50 instances (maps and programs) on "),
        "no spinner on the terminal: {screen:?}"
    );
    let text = std::fs::read_to_string(&json_path).expect("the JSON");
    serde_json::from_str::<serde_json::Value>(&text).expect("clean JSON on stdout");
}

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
    let section = if p.autoload {
        p.section.to_string()
    } else {
        format!("?{}", p.section)
    };
    assert_eq!(json.get("section").str(), section, "{ctx}");
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
fn inspect_lists_the_kernel_symbols_an_object_needs() {
    let text = run_ok(&["inspect", "../ebpf-spec/tests/fixtures/ksyms/ksyms.bpfel.o"]);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("kernel symbols it needs: "))
        .unwrap_or_else(|| panic!("no kernel symbols line:\n{text}"));
    assert_eq!(
        line,
        "bpf_dynptr_from_xdp (ksym), bpf_no_such_kfunc___ebpf_spec (ksym, weak), \
         bpf_prog_put (ksym), bpf_rcu_read_lock (ksym), bpf_rcu_read_unlock (ksym), \
         no_such_ksym___ebpf_spec (ksym, weak), runqueues (ksym)"
    );
    let text = run_ok(&["inspect", "../ebpf-spec/tests/fixtures/globals.bpfel.o"]);
    assert!(
        text.contains(
            "kernel symbols it needs: CONFIG_BPF_SYSCALL (kconfig, weak), LINUX_KERNEL_VERSION (kconfig)"
        ),
        "{text}"
    );
    let text = run_ok(&["inspect", "../ebpf-spec/tests/fixtures/map_in_map.bpfel.o"]);
    assert!(!text.contains("kernel symbols"), "none needed:\n{text}");
}

/// The rows of the `variables (N):` table, split on whitespace runs of two
/// or more (a cell may hold one space).
fn variable_rows(text: &str) -> Vec<Vec<String>> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with("variables ("));
    let title = lines
        .next()
        .unwrap_or_else(|| panic!("no variables table:\n{text}"));
    let n: usize = title
        .trim_start_matches("variables (")
        .trim_end_matches("):")
        .parse()
        .unwrap();
    let rows: Vec<Vec<String>> = lines
        .skip(1) // the header
        .take_while(|l| !l.is_empty())
        .map(|l| {
            l.trim()
                .split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), n, "{text}");
    rows
}

#[test]
fn inspect_shows_the_variables_a_user_can_set() {
    let text = run_ok(&["inspect", "../ebpf-spec/tests/fixtures/globals.bpfel.o"]);
    let rows = variable_rows(&text);
    assert_eq!(rows.len(), 12);
    let row = |name: &str| -> Vec<&str> {
        rows.iter()
            .find(|r| r[0] == name)
            .unwrap_or_else(|| panic!("no row for {name}:\n{text}"))
            .iter()
            .map(AsRef::<str>::as_ref)
            .collect()
    };
    assert_eq!(
        row("sample_rate"),
        ["sample_rate", ".rodata", "0", "4", "07000000 (constant)"]
    );
    assert_eq!(row("counter"), ["counter", ".data", "0", "4", "44332211"]);
    assert_eq!(row("hits"), ["hits", ".bss", "0", "8", "0000000000000000"]);
    assert_eq!(
        row("CONFIG_BPF_SYSCALL"),
        [
            "CONFIG_BPF_SYSCALL",
            ".kconfig",
            "0",
            "1",
            "(from the running kernel)"
        ]
    );
    // `__arena` globals: in their arena map.
    let text = run_ok(&["inspect", "../ebpf-spec/tests/fixtures/arena/arena.bpfel.o"]);
    let rows = variable_rows(&text);
    let tag = rows.iter().find(|r| r[0] == "tag").unwrap();
    assert_eq!(tag[1..], ["arena (__arena)", "12", "8", "74656e616e740000"]);
    // A long value is cut after 16 bytes, with its size.
    let text = run_ok(&[
        "inspect",
        "../ebpf-spec/tests/fixtures/libxdp/xdp-dispatcher.o",
    ]);
    let rows = variable_rows(&text);
    let conf = rows.iter().find(|r| r[0] == "conf").unwrap();
    assert_eq!(
        conf[4],
        format!("{}... (124 bytes) (constant)", "00".repeat(16))
    );
    // No globals: no table.
    let text = run_ok(&["inspect", "../ebpf-spec/tests/fixtures/map_in_map.bpfel.o"]);
    assert!(!text.contains("variables ("), "{text}");
}

#[test]
fn inspect_says_what_each_struct_ops_map_is_made_of() {
    let text = run_ok(&[
        "inspect",
        "../ebpf-spec/tests/fixtures/struct_ops/struct_ops.bpfel.o",
    ]);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("struct_ops `"))
        .collect();
    assert_eq!(
        lines,
        [
            "struct_ops `spec_ca`: a tcp_congestion_ops of cong_avoid: spec_cong_avoid, \
             init: spec_init, ssthresh: spec_ssthresh, undo_cwnd: spec_undo_cwnd",
            "struct_ops `spec_ca_link`: a tcp_congestion_ops of cong_avoid: spec_cong_avoid, \
             ssthresh: spec_ssthresh, undo_cwnd: spec_undo_cwnd",
            "struct_ops `spec_ca_new` (optional: not created unless its autocreate is set): \
             a tcp_congestion_ops___new of cong_avoid: spec_cong_avoid, ssthresh: \
             new_ssthresh, undo_cwnd: spec_undo_cwnd",
            "struct_ops `spec_ca_v2`: a tcp_congestion_ops___v2 of cong_avoid: \
             spec_cong_avoid, ssthresh: static_ssthresh, undo_cwnd: static_undo_cwnd",
        ],
        "{text}"
    );
    // In the table too, as struct_ops maps of one entry (flags: BPF_F_LINK).
    let row = |name: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row {name}:\n{text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        row("spec_ca")[1..7],
        ["struct_ops", "4", "56", "1", "0x0", "none"]
    );
    assert_eq!(
        row("spec_ca_link")[1..7],
        ["struct_ops", "4", "56", "1", "0x2000", "none"]
    );
    assert_eq!(
        row("spec_ca_v2")[1..7],
        ["struct_ops", "4", "40", "1", "0x2000", "none"]
    );
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
            spec.maps
                .keys()
                .map(AsRef::<str>::as_ref)
                .collect::<Vec<_>>(),
            "{}",
            path.display()
        );
        assert_sorted(&names(maps));
        for m in maps {
            check_map(m, &spec.maps[m.get("name").str()]);
        }

        assert_eq!(
            names(programs),
            spec.programs
                .keys()
                .map(AsRef::<str>::as_ref)
                .collect::<Vec<_>>(),
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

/// A parse error names the file (a command run over many says which one is
/// wrong), and an empty file is said to be one, in every command that reads
/// a FILE.
#[test]
fn a_parse_error_names_the_file_and_an_empty_file_is_called_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty.o");
    std::fs::write(&empty, b"").expect("write");
    let object = std::fs::read(manifest_dir().join("../ebpf-spec/tests/fixtures/globals.bpfel.o"))
        .expect("fixture");
    let truncated = dir.path().join("truncated.o");
    std::fs::write(&truncated, &object[..object.len() / 2]).expect("write");
    let (empty, truncated) = (
        empty.to_str().expect("UTF-8 path"),
        truncated.to_str().expect("UTF-8 path"),
    );
    for command in ["inspect", "load", "bench"] {
        assert_one_line_error(
            &[command, empty],
            &format!("error: {empty}: an empty file, not an object"),
        );
        assert_one_line_error(&[command, truncated], &format!("error: {truncated}: "));
    }
}

/// A device that never ends is refused at the size limit, not read until
/// memory runs out (`load` and `bench` read files the same way).
#[test]
fn an_endless_file_is_one_line_on_stderr() {
    for command in ["inspect", "load", "bench"] {
        assert_one_line_error(
            &[command, "/dev/zero"],
            "cannot read /dev/zero: more than 268435456 bytes",
        );
    }
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
            err.starts_with("error: ")
                && (err.contains("ELF")
                    || err.contains("section")
                    || (len == 0 && err.contains("an empty file"))),
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
    for expected in [
        // cilium/ebpf's shape: each copy reads all its bytes, the original keeps its position.
        "1. cilium/ebpf's shape: `tc_ingress_map`, 16 extra bytes behind a reader",
        "read on 8 threads at once: 8/8 copies read all 16 bytes (per copy: [16, 16, 16, 16, 16, 16, 16, 16])",
        "original afterwards: unchanged (read position 0 of 16)",
        // The real MapSpec of the embedded object.
        "2. ebpf_spec::MapSpec `tc_outer` of the embedded object: 16 extra bytes \
         (iproute2 id 0, pinning 0, inner_id 7, inner_idx 0)",
        "extra.iproute2() on 8 threads at once: 8/8 copies read the original's fields and bytes",
        "verdict: OK: every copy read all its bytes, the originals are unchanged, and no buffer is shared",
    ] {
        assert!(text.contains(expected), "no {expected:?}:\n{text}");
    }
    // The proof helper, for every copy of both specs.
    let proofs = "8 copies by deep_copy; check_deep_copy (assert_deep_copy's check): \
                  8/8 equal, no buffer shared";
    assert_eq!(text.matches(proofs).count(), 2, "{text}");
    assert!(!text.contains("RACE"), "{text}");
    assert_eq!(text.matches("original afterwards: unchanged").count(), 2);
}

#[test]
fn race_with_shallow_copies_races() {
    let out = run(&["race", "--shallow"]);
    assert!(out.status.success(), "the race is the expected outcome");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        // One reader for all: one copy reads the 16 bytes, the others read nothing.
        "read on 8 threads at once: 1/8 copies read all 16 bytes",
        "original afterwards: drained (read position 16 of 16)",
        // The proof helper names the shared buffers.
        "8 copies by shallow Clone; check_deep_copy (assert_deep_copy's check): 0/8 sound: \
         each shares Arc<Mutex<Cursor<Vec<u8>>>> (40 bytes), Vec<u8> (16 bytes) with the original",
        // MapSpec holds bytes, not a reader: even its Clone shares nothing.
        "8 copies by shallow Clone; check_deep_copy (assert_deep_copy's check): 8/8 equal, no buffer shared",
        "verdict: RACE: shallow copies share one reader: 7 of 8 read short and the original is drained; \
         deep_copy (without --shallow) prevents it",
    ] {
        assert!(text.contains(expected), "no {expected:?}:\n{text}");
    }
    let per_copy = text
        .split("(per copy: [")
        .nth(1)
        .and_then(|t| t.split(']').next())
        .unwrap_or_else(|| panic!("no per-copy list:\n{text}"));
    let mut reads: Vec<&str> = per_copy.split(", ").collect();
    reads.sort_unstable();
    assert_eq!(reads, ["0", "0", "0", "0", "0", "0", "0", "16"], "{text}");
    assert!(!text.contains("verdict: OK"), "{text}");
}

#[test]
fn race_copies_sets_the_thread_count() {
    let text = run_ok(&["race", "--copies", "2"]);
    assert!(
        text.contains("2/2 copies read all 16 bytes (per copy: [16, 16])"),
        "{text}"
    );
    assert!(text.contains("verdict: OK"), "{text}");
    // Many copies: a count per size instead of the list.
    let text = run_ok(&["race", "--copies", "64"]);
    assert!(
        text.contains("64/64 copies read all 16 bytes (64 read 16)"),
        "{text}"
    );
    assert!(text.contains("64/64 equal, no buffer shared"), "{text}");
    let text = run_ok(&["race", "--copies", "64", "--shallow"]);
    assert!(
        text.contains("1/64 copies read all 16 bytes (1 read 16, 63 read 0)"),
        "{text}"
    );
    assert!(text.contains("verdict: RACE"), "{text}");
}

#[test]
fn race_copies_out_of_range_is_a_usage_error() {
    for n in ["0", "1", "1025", "many"] {
        assert_usage_error(&["race", "--copies", n], "for '--copies <N>'");
    }
}

/// A usage error: exit code 2, nothing on stdout, one `error: ` line.
fn assert_usage_error(args: &[&str], expect: &str) {
    let out = run(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(stdout(&out).is_empty(), "{args:?}: {}", stdout(&out));
    assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err:?}");
    assert!(err.starts_with("error: "), "{args:?}: {err:?}");
    assert!(err.contains(expect), "{args:?}: {err:?} lacks {expect:?}");
    assert!(!err.to_lowercase().contains("panicked"), "{err:?}");
}

#[test]
fn usage_errors_are_one_line_with_clap_s_tip() {
    assert_usage_error(
        &["bench", "--iteration", "3"],
        "unexpected argument '--iteration' found; tip: a similar argument exists: '--iterations'; \
         for more information, try '--help'",
    );
    assert_usage_error(&["bogus"], "unrecognized subcommand 'bogus'");
    assert_usage_error(
        &["inspect", "a.o", "b.o"],
        "unexpected argument 'b.o' found",
    );
    assert_usage_error(&["load", "--pin"], "a value is required for '--pin <DIR>'");
}

// ------------------------------------------------------------------ load

const LOAD_KEYS: [&str; 8] = [
    "instances",
    "threads",
    "maps_per_instance",
    "kernel_maps",
    "seconds",
    "maps_per_second",
    "us_per_instance",
    "programs_per_instance",
];

/// Whether bpf(2) works here (the loader creates a one-entry array). Without
/// it the kernel tests print why and pass, except under `CI`, which has the
/// kernel: a skip there would hide a broken test.
fn kernel() -> bool {
    let probe = MapSpec::new("probe", MapType::Array, 4, 4, 1);
    match ebpf_loader::Loader::new().create_map(&probe) {
        Ok(_) => true,
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("CI is set but bpf(2) does not work here: {e}")
        }
        Err(e) => {
            eprintln!("skipping: bpf(2) is not permitted here ({e}); run as root or grant CAP_BPF");
            false
        }
    }
}

/// `load ARGS --json`: one line of JSON with exactly the schema's keys, in order.
fn load_json(args: &[&str]) -> Json {
    let mut all = vec!["load"];
    all.extend_from_slice(args);
    all.push("--json");
    let text = run_ok(&all);
    assert_eq!(text.lines().count(), 1, "{all:?}: not one line: {text:?}");
    let json: Json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(json.keys(), LOAD_KEYS, "{text}");
    for key in ["seconds", "maps_per_second", "us_per_instance"] {
        match json.get(key) {
            Json::Float(f) => assert!(f.is_finite() && *f > 0.0, "{key}: {text}"),
            other => panic!("{key} is not a float: {other:?}"),
        }
    }
    json
}

/// A private bpffs mounted on a temp dir, unmounted on drop.
struct BpfFs {
    dir: tempfile::TempDir,
}

impl BpfFs {
    fn mount() -> BpfFs {
        let dir = tempfile::tempdir().expect("temp dir");
        let status = std::process::Command::new("mount")
            .args(["-t", "bpf", "bpf"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "mount -t bpf bpf {}",
            dir.path().display()
        );
        BpfFs { dir }
    }

    fn path(&self) -> &str {
        self.dir.path().to_str().expect("UTF-8 path")
    }

    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .expect("read the bpffs")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for BpfFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn load_json_on_the_default_object() {
    if !kernel() {
        return;
    }
    let bytes = std::fs::read(default_object()).expect("the default object");
    let maps = CollectionSpec::from_elf(&bytes)
        .expect("default object parses")
        .maps
        .len() as i128;
    let json = load_json(&["--instances", "4"]);
    assert_eq!(json.get("instances").int(), 4);
    assert_eq!(json.get("maps_per_instance").int(), maps);
    assert_eq!(json.get("kernel_maps").int(), 4 * maps);
    assert!(json.get("threads").int() >= 1);
    let programs = CollectionSpec::from_elf(&bytes).unwrap().programs.len() as i128;
    assert_eq!(json.get("programs_per_instance").int(), programs);
    // --maps-only creates the same maps and no program.
    let json = load_json(&["--instances", "4", "--maps-only"]);
    assert_eq!(json.get("kernel_maps").int(), 4 * maps);
    assert_eq!(json.get("programs_per_instance").int(), 0);
}

/// An object whose BTF the kernel refuses loads without it (as libbpf
/// does), and `load` says so: a line of the report, a warning on stderr
/// beside `--json` (whose schema stays as it is).
#[test]
fn load_says_when_the_kernel_refused_the_btf() {
    if !kernel() {
        return;
    }
    let object = "../ebpf-spec/tests/fixtures/btf_refused/btf_refused.bpfel.o";
    let text = run_ok(&["load", "--instances", "2", object]);
    let line = text
        .lines()
        .find(|l| l.starts_with("BTF: "))
        .unwrap_or_else(|| panic!("no BTF line: {text}"));
    assert!(line.contains("Invalid offset"), "{line}");
    assert!(line.contains("loaded without it"), "{line}");
    assert!(!line.contains('\t'), "{line:?}");

    let out = run(&["load", "--instances", "2", "--json", object]);
    assert!(out.status.success());
    assert_eq!(stdout(&out).lines().count(), 1);
    let err = stderr(&out);
    assert!(
        err.starts_with("warning: the kernel refused the object's BTF"),
        "{err}"
    );

    // An object whose BTF is accepted has no such line.
    let text = run_ok(&["load", "--instances", "2"]);
    assert!(!text.contains("BTF: "), "{text}");
}

#[test]
fn load_of_struct_ops_names_the_program_no_map_refers_to() {
    if !kernel() {
        return;
    }
    // The fixture has a struct_ops program no struct_ops map refers to:
    // it cannot load (libbpf refuses it too), and the error says so.
    let out = run(&[
        "load",
        "../ebpf-spec/tests/fixtures/struct_ops/struct_ops.bpfel.o",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("unused_ssthresh"), "{err}");
    assert!(err.contains("remove it from the spec"), "{err}");
}

#[test]
fn load_prints_a_row_with_a_kernel_id_for_every_map() {
    if !kernel() {
        return;
    }
    let path = "../ebpf-spec/tests/fixtures/legacy_maps.bpfel.o";
    let spec = spec_of(Path::new(path));
    for extra in [&[][..], &["--maps-only"][..]] {
        let mut args = vec!["load", path, "--instances", "3"];
        args.extend_from_slice(extra);
        let text = run_ok(&args);
        assert!(text.starts_with(&format!("object: {path}\n")), "{text}");
        let maps_only = !extra.is_empty();
        assert_eq!(
            text.contains("programs: not loaded (--maps-only)"),
            maps_only,
            "{text}"
        );
        assert_eq!(
            text.contains(&format!(
                "programs of instance 0 ({}):",
                spec.programs.len()
            )),
            !maps_only,
            "{text}"
        );
        if !maps_only {
            for p in spec.programs.values() {
                let row: Vec<&str> = text
                    .lines()
                    .find(|l| l.split_whitespace().next() == Some(p.name.as_str()))
                    .unwrap_or_else(|| panic!("no row for {}:\n{text}", p.name))
                    .split_whitespace()
                    .collect();
                assert_eq!(row[1], p.program_type.to_string(), "{text}");
                assert_eq!(row[2].len(), 16, "a 16-digit tag: {text}");
                let insns: usize = row[3].parse().unwrap();
                assert!(insns >= p.instructions.len() - 1, "{text}");
            }
        }
        assert!(
            text.contains(&format!("maps of instance 0 ({}):", spec.maps.len())),
            "{text}"
        );
        let mut ids = Vec::new();
        for m in spec.maps.values() {
            let row: Vec<&str> = text
                .lines()
                .find(|l| l.split_whitespace().next() == Some(m.name.as_str()))
                .unwrap_or_else(|| panic!("no row for {}:\n{text}", m.name))
                .split_whitespace()
                .collect();
            let expected = [
                m.name.to_string(),
                m.map_type.to_string(),
                m.key_size.to_string(),
                m.value_size.to_string(),
                m.max_entries.to_string(),
            ];
            assert_eq!(row[..5], expected, "{text}");
            let id: u32 = row[5].parse().unwrap_or_else(|_| panic!("no id: {row:?}"));
            assert!(id > 0);
            ids.push(id);
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), spec.maps.len(), "distinct ids: {text}");
        let n = spec.maps.len();
        let p = if maps_only { 0 } else { spec.programs.len() };
        assert!(
            text.contains(&format!(
                "3 instances on {} threads: {n} maps and {p} programs per instance, {} kernel maps in total, loaded in ",
                available_threads(),
                3 * n
            )),
            "{text}"
        );
        assert!(text.contains("maps/s") && text.contains("µs per instance"));
    }
}

fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[test]
fn load_on_one_and_two_threads() {
    if !kernel() {
        return;
    }
    for threads in [1, 2] {
        let t = threads.to_string();
        let json = load_json(&["--instances", "8", "--threads", &t]);
        assert_eq!(json.get("threads").int(), threads);
        assert_eq!(json.get("instances").int(), 8);
        assert_eq!(
            json.get("kernel_maps").int(),
            8 * json.get("maps_per_instance").int()
        );
    }
}

#[test]
fn load_pins_by_name_on_a_bpffs() {
    if !kernel() {
        return;
    }
    let fs = BpfFs::mount();
    let path = "../ebpf-spec/tests/fixtures/iproute2.bpfel.o";
    let text = run_ok(&["load", path, "--instances", "4", "--pin", fs.path()]);
    assert_eq!(
        fs.entries(),
        ["maps.debug", "progs.debug", "tc_global", "tc_object"]
    );
    for name in ["tc_global", "tc_object"] {
        assert!(
            matches!(pin_column_of(&text, name).as_str(), "created" | "reused"),
            "{text}"
        );
    }
    assert_eq!(pin_column_of(&text, "tc_private"), "-");
    assert!(
        text.contains(&format!("pins under {}: 2 created, 6 reused", fs.path())),
        "{text}"
    );
    // Two pinned maps are shared by the 4 instances: 4 x 3 + 2 kernel maps.
    assert!(text.contains("14 kernel maps in total"), "{text}");

    // A second run reuses the pins.
    let json = load_json(&[path, "--instances", "4", "--pin", fs.path()]);
    assert_eq!(json.get("kernel_maps").int(), 14);
    let text = run_ok(&["load", path, "--instances", "2", "--pin", fs.path()]);
    assert!(text.contains("0 created, 4 reused"), "{text}");
    assert_eq!(pin_column_of(&text, "tc_global"), "reused");
}

fn pin_column_of(text: &str, name: &str) -> String {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("no row {name}:\n{text}"))
        .to_owned()
}

#[test]
fn load_pin_on_a_directory_that_is_not_a_bpffs_is_one_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().to_str().expect("UTF-8 path");
    assert_one_line_error(
        &[
            "load",
            "../ebpf-spec/tests/fixtures/iproute2.bpfel.o",
            "--pin",
            path,
        ],
        "is not on a bpf filesystem",
    );
    assert_one_line_error(&["load", "--pin", path, "--json"], path);
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
}

#[test]
fn load_refuses_unknown_extra_bytes_naming_the_map() {
    assert_one_line_error(
        &["load", "../ebpf-spec/tests/fixtures/legacy_extra.bpfel.o"],
        "map `extra_array`: the legacy definition has 8 extra bytes",
    );
    assert_one_line_error(
        &[
            "load",
            "../ebpf-spec/tests/fixtures/legacy_extra.bpfel.o",
            "--json",
        ],
        "extra_array",
    );
}

#[test]
fn load_a_missing_file_is_one_line() {
    assert_one_line_error(
        &["load", "/nonexistent/object.o"],
        "cannot read /nonexistent/object.o",
    );
    assert_one_line_error(&["load", "/nonexistent/object.o", "--json"], "cannot read");
}

#[test]
fn load_zero_instances_is_a_usage_error() {
    for args in [
        &["load", "--instances", "0"][..],
        &["load", "--instances", "0", "--json"],
        &["load", "--threads", "0"],
    ] {
        let out = run(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(stdout(&out).is_empty(), "{args:?}");
        assert!(
            err.starts_with("error: invalid value '0' for '--") && err.contains("0 is not in 1.."),
            "{args:?}: {err}"
        );
        assert!(!err.to_lowercase().contains("panicked"), "{err}");
    }
}

/// Runs the binary without the privilege bpf(2) needs: as it is if this
/// process has none, else under `setpriv` with every capability dropped (uid
/// stays 0; bpf(2) then needs the unprivileged BPF the kernel has disabled).
/// `None` (with the reason printed) when neither is possible here.
fn run_unprivileged(args: &[&str]) -> Option<Output> {
    let probe = MapSpec::new("probe", MapType::Array, 4, 4, 1);
    let privileged = match ebpf_loader::Loader::new().create_map(&probe) {
        Ok(_) => true,
        Err(e) if e.errno() == Some(1) => false,
        Err(e) => {
            eprintln!("skipping: bpf(2) fails here with something else than EPERM: {e}");
            return None;
        }
    };
    if !privileged {
        return Some(run(args));
    }
    let disabled =
        std::fs::read_to_string("/proc/sys/kernel/unprivileged_bpf_disabled").unwrap_or_default();
    if disabled.trim() == "0" {
        eprintln!("skipping: unprivileged bpf(2) is enabled here");
        return None;
    }
    let bin = env!("CARGO_BIN_EXE_ebpf-examples");
    match std::process::Command::new("setpriv")
        .args(["--bounding-set=-all", "--inh-caps=-all", bin])
        .args(args)
        .current_dir(manifest_dir())
        .env("RUST_BACKTRACE", "1")
        .output()
    {
        Ok(out) if out.status.code() != Some(127) && !stderr(&out).starts_with("setpriv") => {
            Some(out)
        }
        other => {
            eprintln!("skipping: cannot drop capabilities with setpriv: {other:?}");
            None
        }
    }
}

#[test]
fn load_without_privilege_is_one_line() {
    let Some(out) = run_unprivileged(&["load"]) else {
        return;
    };
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(
        err.starts_with(
            "error: loading needs bpf(2): run as root or grant CAP_BPF, CAP_NET_ADMIN and \
             CAP_PERFMON ("
        ),
        "{err:?}"
    );
    assert!(err.contains("Operation not permitted"), "{err:?}");
}

/// Runs `sh -c "ulimit ARGS; exec BIN load ..."`.
fn load_with_ulimit(ulimit: &str, args: &str) -> Output {
    let bin = env!("CARGO_BIN_EXE_ebpf-examples");
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit {ulimit} && exec \"$0\" load {args}"))
        .arg(bin)
        .current_dir(manifest_dir())
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("sh runs")
}

#[test]
fn load_raises_the_soft_fd_limit_or_says_it_cannot() {
    // The hard limit too small: one line, before any bpf(2) call.
    let out = load_with_ulimit("-n 256", "--instances 64 --json");
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(stdout(&out).is_empty());
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(
        err.starts_with("error: 64 instances of 12 maps and 5 programs need about ")
            && err
                .contains(" file descriptors, but the hard open-file limit (RLIMIT_NOFILE) is 256"),
        "{err:?}"
    );

    if !kernel() {
        return;
    }
    // Soft limit too small, hard limit large enough: raised, with a note.
    let hard = std::process::Command::new("sh")
        .args(["-c", "ulimit -Hn"])
        .output()
        .expect("sh runs");
    let hard = String::from_utf8_lossy(&hard.stdout).trim().to_owned();
    if hard != "unlimited" && hard.parse::<u64>().unwrap_or(0) < 2000 {
        eprintln!("skipping the raise: the hard fd limit is only {hard}");
        return;
    }
    let out = load_with_ulimit("-Sn 256", "--instances 64 --json");
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.starts_with("note: raised the soft open-file limit (RLIMIT_NOFILE) from 256 to "),
        "{err:?}"
    );
    let json: Json = serde_json::from_str(&stdout(&out)).expect("JSON on stdout");
    assert_eq!(json.get("kernel_maps").int(), 64 * 12);
    // Enough already: no note.
    let out = load_with_ulimit("-Sn 256", "--instances 2 --json");
    assert!(out.status.success());
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

// ------------------------------------------------------------------ help

#[test]
fn every_help_has_an_example() {
    let top = run_ok(&["--help"]);
    let examples: Vec<&str> = top
        .split("Examples:\n")
        .nth(1)
        .expect("an Examples section")
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .collect();
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
    assert_eq!(commands, ["inspect", "race", "load", "bench"], "{top}");
    for command in &commands {
        // The top-level help has an example line for every command.
        assert!(
            examples
                .iter()
                .any(|l| l.trim().starts_with(&format!("ebpf-examples {command}"))),
            "no example of {command}:\n{top}"
        );
        for help in [
            run_ok(&[command, "--help"]),
            run_ok(&[command, "-h"]),
            run_ok(&["help", command]),
        ] {
            assert!(
                help.contains(&format!("Example: ebpf-examples {command}")),
                "{command}:\n{help}"
            );
        }
    }
}

#[test]
fn load_help_has_an_example() {
    for flag in ["--help", "-h"] {
        let help = run_ok(&["load", flag]);
        assert!(help.contains("Example: ebpf-examples load"), "{help}");
        for option in ["--instances", "--threads", "--pin", "--maps-only", "--json"] {
            assert!(help.contains(option), "{option}: {help}");
        }
    }
}

#[test]
fn bench_help_explains_the_baselines_and_the_json_schema() {
    let short = run_ok(&["bench", "-h"]);
    for option in [
        "[FILE]",
        "--iterations <N>",
        "--instances <N>",
        "--threads <T>",
        "--no-load",
        "--json",
        "[default: 100]",
    ] {
        assert!(short.contains(option), "{option}: {short}");
    }
    assert!(short.contains("Example: ebpf-examples bench"), "{short}");
    let long = run_ok(&["bench", "--help"]);
    for text in [
        "baseline of parse and copy: a clone of the object's bytes (Vec of u8)",
        "baseline of the load steps: one 1-entry ARRAY map created with",
        "Loader::load_many(&spec, --instances), per collection",
        "--json prints one line with these keys, in this order:",
    ] {
        assert!(long.contains(text), "{text}: {long}");
    }
    // The schema in the help names every key, in order.
    let schema = long.split("in this order:").nth(1).expect("the schema");
    let mut at = 0;
    for key in BENCH_KEYS.iter().chain(STEP_KEYS.iter()) {
        let found = schema[at..]
            .find(&format!("\"{key}\":"))
            .unwrap_or_else(|| panic!("{key} missing or out of order in {schema}"));
        at += found;
    }
}

#[test]
fn help_without_a_command_goes_to_stderr_with_exit_2() {
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).is_empty());
    assert!(stderr(&out).contains("Commands:"), "{}", stderr(&out));
}

/// libbpf's `SEC("?...")` programs: the table shows the `?` as written and
/// says what it means; the JSON's `section` keeps it too (the schema has no
/// other field that says a program is not loaded).
#[test]
fn inspect_marks_programs_with_autoload_off() {
    let path = fixture("libbpf_rules/libbpf_rules.bpfel.o");
    let text = run_ok(&["inspect", path.to_str().expect("UTF-8 path")]);
    let row = |name: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row {name}: {text}"))
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned()
    };
    assert_eq!(row("count"), "socket");
    assert_eq!(row("optional_filter"), "?socket");
    assert_eq!(row("optional_xdp"), "?xdp");
    assert!(text.contains("(`?`: autoload off"), "{text}");

    let (_, json) = inspect_json(&path);
    let sections: Vec<_> = json
        .get("programs")
        .array()
        .iter()
        .map(|p| p.get("section").str().to_owned())
        .collect();
    assert_eq!(sections, ["socket", "?socket", "?xdp"]);

    // A plain object has no such note.
    let plain = run_ok(&["inspect"]);
    assert!(!plain.contains("autoload off"), "{plain}");
}

/// `load` counts what an instance holds: `SEC("?...")` programs (autoload
/// off) are not loaded and not counted.
#[test]
fn load_counts_only_the_programs_it_loads() {
    if !kernel() {
        return;
    }
    let path = fixture("libbpf_rules/libbpf_rules.bpfel.o");
    let path = path.to_str().expect("UTF-8 path");
    let json = load_json(&[path, "--instances", "2"]);
    assert_eq!(json.get("maps_per_instance").int(), 2);
    assert_eq!(json.get("kernel_maps").int(), 4);
    assert_eq!(json.get("programs_per_instance").int(), 1, "count only");
    let text = run_ok(&["load", path, "--instances", "2"]);
    assert!(text.contains("programs of instance 0 (1)"), "{text}");
    assert!(
        text.contains("2 maps and 1 programs per instance"),
        "{text}"
    );
}

// ------------------------------------------------------------ broken pipe

/// `ebpf-examples inspect --json | head -c 10`: the reader is gone before
/// the output is written. The program ends as `cat` would (SIGPIPE), with
/// nothing on stderr, where it used to panic ("failed printing to stdout").
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::process::ExitStatusExt;
    let mut fds = [0; 2];
    // SAFETY: pipe(2) writes two new fds into the array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both fds are new and owned here, once each.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    for args in [&["inspect", "--json"][..], &["inspect"][..]] {
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin!("ebpf-examples"))
            .args(args)
            .stdout(write.try_clone().unwrap())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGPIPE),
            "{args:?}: {:?}",
            out.status
        );
    }
}

/// Output that cannot be written (`> /dev/full`) is one error line and a
/// failing exit, where `println!` panicked.
#[test]
fn output_that_cannot_be_written_is_one_error_line() {
    let commands: [&[&str]; 7] = [
        &["inspect"],
        &["inspect", "--json"],
        &["race"],
        &["bench", "--no-load", "--iterations", "3"],
        &["--help"],
        &["--version"],
        &["inspect", "--help"],
    ];
    for args in commands {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin!("ebpf-examples"))
            .args(args)
            .stdout(full)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(
            stderr.lines().filter(|l| !l.is_empty()).collect::<Vec<_>>(),
            ["error: writing the output: No space left on device (os error 28)"],
            "{args:?}"
        );
    }
}

/// `bench` of an object of the other byte order times parse and copy and
/// says why the load steps are skipped, where it used to fail.
#[test]
fn bench_of_the_other_byte_order_skips_the_load_steps() {
    let other = if cfg!(target_endian = "little") {
        "../ebpf-spec/tests/fixtures/globals.bpfeb.o"
    } else {
        "../ebpf-spec/tests/fixtures/globals.bpfel.o"
    };
    let text = run_ok(&["bench", other, "--iterations", "3"]);
    assert!(
        text.lines().any(|l| l
            .trim_start()
            .starts_with("load steps skipped: the object is")
            && l.ends_with("it cannot be loaded here")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("parse ")),
        "{text}"
    );
}

/// `load` of an object with an arena says where instance 0 sees it and where
/// its `__arena` globals lie; an object without one says nothing of arenas.
#[test]
fn load_shows_where_an_arena_is_mapped() {
    if !kernel() {
        return;
    }
    let text = run_ok(&[
        "load",
        "../ebpf-spec/tests/fixtures/arena/arena.bpfel.o",
        "--instances",
        "2",
    ]);
    let line = text
        .lines()
        .find(|l| l.starts_with("arena `arena` of instance 0: "))
        .unwrap_or_else(|| panic!("no arena line:\n{text}"));
    let rest = line
        .strip_prefix("arena `arena` of instance 0: 16384 bytes mapped at 0x")
        .unwrap_or_else(|| panic!("{line}"));
    let (addr, globals) = rest.split_once(", ").unwrap();
    assert!(u64::from_str_radix(addr, 16).unwrap() != 0, "{line}");
    // Offset 0 or the last page, as the kernel allows (tests/arena.rs).
    assert!(
        [
            "__arena globals at offsets 0..40",
            "__arena globals at offsets 12288..12328"
        ]
        .contains(&globals),
        "{line}"
    );
    let text = run_ok(&["load", "--instances", "1"]);
    assert!(!text.contains("arena `"), "{text}");
}
