//! Fuzzes training checkpoints: the reader, and restoring into a compiled
//! model (format, metadata, optimizer, every slot, the training state).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

thread_local! {
    static MODEL: std::cell::RefCell<nn_runtime::Model> = std::cell::RefCell::new(common::model());
}

fuzz_target!(|data: &[u8]| {
    let path = common::file("fuzz.ckpt", data);
    let _ = nn_runtime::io::Checkpoint::load(&path);
    MODEL.with(|m| {
        let _ = m.borrow_mut().load_checkpoint(&path);
    });
});
