//! The derive's compile-time rules: one failing case per diagnostic, with its `.stderr`
//! snapshot, plus cases that must compile (hygiene, every attribute, paths). Regenerate the
//! snapshots with `TRYBUILD=overwrite cargo test -p event-ui-tests` and review every changed
//! message.

#[test]
fn derive_diagnostics() {
    let t = trybuild::TestCases::new();
    t.compile_fail("fail/*.rs");
    t.pass("pass/*.rs");
}
