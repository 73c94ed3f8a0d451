//! The derive's compile-time rules: one failing case per diagnostic, with its `.stderr`
//! snapshot. Regenerate the snapshots with `TRYBUILD=overwrite cargo test -p event-ui-tests`
//! and review every changed message. The cases that must compile (hygiene, every attribute,
//! paths) in `pass/` are test targets of their own; see `Cargo.toml`.

#[test]
fn derive_diagnostics() {
    let t = trybuild::TestCases::new();
    t.compile_fail("fail/*.rs");
}
