//! Fuzzes safetensors weight files: the reader, and loading into a model
//! (every variable, shapes, class names in the metadata).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

thread_local! {
    static MODEL: std::cell::RefCell<nn_runtime::Model> = std::cell::RefCell::new(common::model());
}

fuzz_target!(|data: &[u8]| {
    let path = common::file("fuzz.safetensors", data);
    let _ = nn_runtime::io::read_tensors(&path);
    MODEL.with(|m| {
        let _ = m.borrow_mut().load_weights(&path);
    });
});
