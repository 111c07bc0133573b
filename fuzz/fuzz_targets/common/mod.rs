//! Shared by the file-format targets: a private scratch folder (in memory
//! when `/dev/shm` exists) where each input is written before the runtime's
//! loaders read it, and a small compiled model for weights and checkpoints.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use nn_runtime::{CompileOptions, InterpEngine, Model};

/// This process's scratch folder, created once.
pub fn scratch() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
        let dir = base.join(format!("nn-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch folder");
        dir
    })
}

/// Writes `bytes` to `name` inside the scratch folder and returns its path.
pub fn file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch().join(name);
    std::fs::write(&path, bytes).expect("write scratch file");
    path
}

/// A fresh, empty folder `name` inside the scratch folder.
pub fn folder(name: &str) -> PathBuf {
    let dir = scratch().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// Dense layers with a normalization's non-trainable statistics and Adam's
/// slots: every kind of tensor a weights file or checkpoint holds.
pub const MODEL: &str = "model fuzz {
    input x: [4]
    dense(3, activation = relu)
    batch_normalization
    dense(3, activation = softmax)
    train {
        optimizer = adam
        loss = sparse_categorical_crossentropy
        metrics = [accuracy]
    }
}";

/// A compiled copy of [`MODEL`] on the interpreter (no JIT in the fuzzer).
pub fn model() -> Model {
    let mut model = Model::from_source_seeded(MODEL, None, 7).expect("fuzz model parses");
    model.set_engine(std::sync::Arc::new(InterpEngine));
    model.compile(CompileOptions::default()).expect("fuzz model compiles");
    model
}
