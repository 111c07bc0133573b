//! Compile-time checking of `model!` / `include_model!` (trybuild): every
//! case in tests/ui/fail must fail with exactly the checked-in compiler
//! output (where the caret points is the feature), and every case in
//! tests/ui/pass must build and run.

use std::path::Path;

#[test]
fn ui() {
    // trybuild builds the cases in a generated crate under target/, so
    // point include_model! at this crate's root explicitly.
    std::env::set_var("NN_MODEL_ROOT", env!("CARGO_MANIFEST_DIR"));
    // The generated crate builds in the dev profile and links the whole
    // runtime; with full debug info each pass case was ~190 MB and its
    // dependencies 3 GB of disk. The diagnostics do not depend on it.
    std::env::set_var("CARGO_PROFILE_DEV_DEBUG", "0");
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}

/// Each examples/*.nn file must be included by a pass case, so a new example
/// that the macro cannot take fails here rather than in a user's build.
#[test]
fn every_example_has_a_pass_case() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pass_text = String::new();
    for entry in std::fs::read_dir(root.join("tests/ui/pass")).expect("tests/ui/pass exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            pass_text.push_str(&std::fs::read_to_string(&path).expect("readable pass case"));
        }
    }
    let mut missing = Vec::new();
    let mut count = 0;
    for entry in std::fs::read_dir(root.join("examples")).expect("examples/ exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().is_some_and(|e| e == "nn") {
            count += 1;
            let name = path.file_name().and_then(|n| n.to_str()).expect("UTF-8 file name");
            if !pass_text.contains(&format!("include_model!(\"examples/{name}\")")) {
                missing.push(name.to_string());
            }
        }
    }
    assert!(count > 0, "no examples/*.nn found");
    assert!(missing.is_empty(), "examples without an include_model! pass case in tests/ui/pass: {missing:?}");
}
