//! Fuzzes `.npz` archives (zip, stored or deflated members, each a `.npy`):
//! the archive reader, every member's conversions, and `load_file`.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use nn_runtime::data::npy;

fuzz_target!(|data: &[u8]| {
    let path = common::file("fuzz.npz", data);
    if let Ok(mut archive) = npy::read_npz(&path) {
        let names = archive.names().to_vec();
        for name in names {
            if let Ok((array, origin)) = archive.take(&name) {
                let _ = array.clone().into_f32(&origin);
                let _ = array.clone().into_labels(&origin);
                let _ = array.into_sequences(&origin);
            }
        }
    }
    let _ = nn_runtime::data::files::load_file(&path, &Default::default());
});
