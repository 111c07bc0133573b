//! Fuzzes the IDX readers (plain and gzip-compressed, images and labels)
//! through files, as `fit` reads them: never a panic, never an allocation
//! beyond what the bytes can hold.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use nn_runtime::data::idx;

fuzz_target!(|data: &[u8]| {
    let path = common::file("data-idx3-ubyte", data);
    let _ = idx::read_images(&path);
    let _ = idx::read_labels(&path);
    // The folder loader pairs images with labels and checks their counts.
    let dir = common::folder("idx");
    let half = data.len() / 2;
    std::fs::write(dir.join("train-images-idx3-ubyte"), &data[..half]).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), &data[half..]).unwrap();
    let _ = nn_runtime::data::files::load_file(&dir, &Default::default());
});
