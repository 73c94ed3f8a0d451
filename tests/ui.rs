//! Compile-time rules of SPEC §3.3: one failing case per diagnostic, with its `.stderr`
//! snapshot, plus cases that must compile. Regenerate snapshots with `TRYBUILD=overwrite`
//! and review every changed message.

#[test]
fn derive_diagnostics() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
