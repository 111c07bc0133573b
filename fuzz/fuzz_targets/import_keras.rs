//! Fuzzes `nn import` on raw file bytes: the zip reader, the JSON config, the
//! HDF5 weights (Keras 3 and legacy layouts) and the config → `.nn`
//! conversion. Any input must end in an import or an error, never a panic,
//! and an import must never report a bug (a generated file that does not
//! compile). Seed it with the fixtures in `interop/tests/keras/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = nn_interop::keras::import_bytes("fuzz.keras", data.to_vec()) {
        assert!(!e.message.contains("bug in nn import"), "{e}");
    }
});
