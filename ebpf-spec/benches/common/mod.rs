//! The objects of the parse bench: every little-endian fixture in
//! `tests/fixtures/` and `tests/fixtures/libxdp/` that aya-obj also accepts
//! (aya-obj parses only the host's byte order). Shared, by path, with the
//! `copy_profile` example and the `copy_allocations` test, whose figures
//! BENCHMARKS.md quotes for the same objects.

/// `(file name, bytes)` of each, in path order.
pub fn parse_bench_objects() -> Vec<(String, Vec<u8>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut out = Vec::new();
    for sub in ["", "/libxdp"] {
        let mut paths: Vec<_> = std::fs::read_dir(format!("{dir}{sub}"))
            .expect("the fixtures directory")
            .map(|e| e.expect("a fixture entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "o"))
            .filter(|p| !p.to_string_lossy().ends_with(".bpfeb.o"))
            .collect();
        paths.sort();
        for p in paths {
            let bytes = std::fs::read(&p).expect("a fixture");
            if aya_obj::Object::parse(&bytes).is_ok() {
                let name = p.file_name().expect("a file name").to_string_lossy();
                out.push((name.into_owned(), bytes));
            }
        }
    }
    out
}
