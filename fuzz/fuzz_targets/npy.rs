//! Fuzzes `.npy` parsing: from bytes (`parse_npy`, every conversion) and as
//! a memory-mapped file through `load_file`.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use nn_runtime::data::npy;

fuzz_target!(|data: &[u8]| {
    let origin = npy::Origin { path: "fuzz.npy".into(), member: "x".into() };
    if let Ok(array) = npy::parse_npy(data, &origin) {
        let _ = array.clone().into_u8(&origin);
        let _ = array.clone().into_f32(&origin);
        let _ = array.clone().into_labels(&origin);
        let _ = array.into_sequences(&origin);
    }
    let path = common::file("fuzz.npy", data);
    let _ = nn_runtime::data::files::load_file(&path, &Default::default());
});
