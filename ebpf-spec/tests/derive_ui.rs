//! Compile-time behaviour of `#[derive(DeepCopy)]`: every error the derive
//! reports (with its span and message, in `tests/ui/fail/*.stderr`), the
//! `DeepCopy` bound's own message for field types without an impl, and every
//! supported shape and attribute compiling cleanly (`tests/ui/pass`).
//!
//! Regenerate the snapshots with
//! `TRYBUILD=overwrite cargo test -p ebpf-spec --test derive_ui`, then read them.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
