//! Fuzzes the pickle interpreter behind Keras's ragged `.npz` arrays: any
//! opcode stream, including deep nesting, must end in a value or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nn_runtime::data::pickle;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = pickle::parse(data) {
        let _ = value.kind();
        if let Ok((_, items)) = pickle::ndarray_items(&value) {
            for item in &items {
                let _ = pickle::int_list(item);
            }
        }
        let _ = pickle::int_list(&value);
    }
});
