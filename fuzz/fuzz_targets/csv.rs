//! Fuzzes CSV tables through `load_file`: the sniffed delimiter, numeric and
//! string columns, labels and a sample-weight column when one is named `w`.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use nn_runtime::data::files::{load_file, FileOptions};

fuzz_target!(|data: &[u8]| {
    let path = common::file("fuzz.csv", data);
    let _ = load_file(&path, &FileOptions::default());
    let unlabeled = FileOptions { labels_required: false, ..FileOptions::default() };
    let _ = load_file(&path, &unlabeled);
    let weighted = FileOptions { sample_weight: Some("w".into()), label: Some("y".into()), ..FileOptions::default() };
    let _ = load_file(&path, &weighted);
    let _ = nn_runtime::data::csv::load_csv(&path, "y");
});
