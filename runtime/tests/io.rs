//! Weights files and checkpoints: round trips, exact resume, and errors.

mod common;

use common::*;
use nn_runtime::{FitOptions, RuntimeError, ValidationData};

fn quiet(epochs: usize) -> FitOptions {
    FitOptions { epochs, batch_size: 8, verbose: 0, ..FitOptions::default() }
}

#[test]
fn weights_round_trip_through_safetensors() {
    let dir = temp_dir("weights");
    let path = dir.join("w.safetensors");
    let (x, y) = blobs(30, 1);
    let mut model = compiled(&blob_source("adam"), 1);
    model.fit(&x, &y, &quiet(2)).unwrap();
    model.save_weights(&path).unwrap();
    let mut other = compiled(&blob_source("adam"), 2);
    assert_ne!(weights(&other), weights(&model));
    other.load_weights(&path).unwrap();
    assert_eq!(weights(&other), weights(&model));
    assert_eq!(other.predict(&x, 30).unwrap(), model.predict(&x, 30).unwrap());
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, [std::ffi::OsString::from("w.safetensors")], "no temporary files remain");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn loading_weights_of_another_model_fails_with_names() {
    let dir = temp_dir("weights-mismatch");
    let path = dir.join("w.safetensors");
    compiled(&dropout_source("adam"), 1).save_weights(&path).unwrap();
    let mut model = compiled(&blob_source("adam"), 1);
    let before = weights(&model);
    let err = model.load_weights(&path).unwrap_err();
    assert!(matches!(err, RuntimeError::Format { .. }), "{err}");
    assert!(err.to_string().contains("dense/kernel"), "{err}");
    assert_eq!(weights(&model), before, "a failed load changes nothing");

    std::fs::write(&path, b"not safetensors").unwrap();
    assert!(model.load_weights(&path).unwrap_err().to_string().contains("not a safetensors file"));
    assert!(matches!(model.load_weights(dir.join("missing")).unwrap_err(), RuntimeError::Io { .. }));
    std::fs::remove_dir_all(dir).unwrap();
}

/// Two epochs straight equal one epoch, a checkpoint, a fresh process-like
/// model restored from it, and one more epoch: bit for bit, with dropout,
/// shuffling and Adam state all in play.
#[test]
fn checkpoint_resume_is_exact() {
    let dir = temp_dir("resume");
    let path = dir.join("ckpt.safetensors");
    let (x, y) = blobs(50, 3);
    let opts = |epochs, initial_epoch| FitOptions {
        epochs,
        initial_epoch,
        validation: ValidationData::Split(0.2),
        ..quiet(epochs)
    };
    let src = dropout_source("adam(learning_rate = 0.01)");

    for engine in engines() {
        let mut straight = compiled_on(&src, 21, engine.clone());
        let h_straight = straight.fit(&x, &y, &opts(2, 0)).unwrap();

        let mut first = compiled_on(&src, 21, engine.clone());
        first.fit(&x, &y, &opts(1, 0)).unwrap();
        first.save_checkpoint(&path, 1).unwrap();

        // A different seed: weights, slots and seeds must all come from the file.
        let mut resumed = compiled_on(&src, 999, engine.clone());
        let epoch = resumed.load_checkpoint(&path).unwrap();
        assert_eq!(epoch, 1);
        let h_resumed = resumed.fit(&x, &y, &opts(2, epoch)).unwrap();

        assert_eq!(weights(&resumed), weights(&straight));
        // Slots are bound by name; compare them as a name-keyed map.
        let slots = |m: &nn_runtime::Model| {
            m.optimizer_slots()
                .iter()
                .map(|v| (v.name.clone(), v.data.clone()))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        assert_eq!(slots(&straight).len(), 8, "Adam keeps momentum and velocity per variable");
        assert_eq!(slots(&resumed), slots(&straight));
        assert_eq!(resumed.iterations(), straight.iterations());
        assert_eq!(h_resumed.epochs, [1]);
        assert_eq!(h_resumed.get("loss").unwrap()[0], h_straight.get("loss").unwrap()[1]);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn checkpoint_of_another_optimizer_is_rejected() {
    let dir = temp_dir("ckpt-opt");
    let path = dir.join("c.safetensors");
    let (x, y) = blobs(16, 1);
    let mut adam = compiled(&blob_source("adam"), 1);
    adam.fit(&x, &y, &quiet(1)).unwrap();
    adam.save_checkpoint(&path, 1).unwrap();
    let mut sgd = compiled(&blob_source("sgd(momentum = 0.9)"), 1);
    let err = sgd.load_checkpoint(&path).unwrap_err().to_string();
    assert!(err.contains("`adam`") && err.contains("`sgd`"), "{err}");
    // A plain weights file is not a checkpoint.
    adam.save_weights(&path).unwrap();
    assert!(sgd.load_checkpoint(&path).unwrap_err().to_string().contains("load_weights"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn checkpoint_with_missing_or_foreign_optimizer_state_is_rejected() {
    use nn_runtime::io::Checkpoint;
    use nn_runtime::vars::VarStore;
    let dir = temp_dir("ckpt-slots");
    let path = dir.join("c.safetensors");
    let (x, y) = blobs(16, 1);
    let mut adam = compiled(&blob_source("adam"), 1);
    adam.fit(&x, &y, &quiet(1)).unwrap();
    adam.save_checkpoint(&path, 1).unwrap();
    let full = Checkpoint::load(&path).unwrap();
    assert!(full.slots.len() >= 2, "adam keeps slots: {:?}", full.slots.names());

    let mut missing = full.clone();
    missing.slots = VarStore::new();
    for v in full.slots.iter().skip(1) {
        missing.slots.insert(v.clone()).unwrap();
    }
    missing.save(&path).unwrap();
    let mut fresh = compiled(&blob_source("adam"), 1);
    let err = fresh.load_checkpoint(&path).unwrap_err().to_string();
    let first = full.slots.iter().next().unwrap().name.clone();
    assert!(err.contains(&format!("`{first}` is missing")) && err.contains("c.safetensors"), "{err}");

    let mut foreign = full.clone();
    let mut extra = full.slots.iter().next().unwrap().clone();
    extra.name = "dense_9/kernel/m".into();
    foreign.slots.insert(extra).unwrap();
    foreign.save(&path).unwrap();
    let err = fresh.load_checkpoint(&path).unwrap_err().to_string();
    assert!(err.contains("`dense_9/kernel/m`") && err.contains("another model"), "{err}");

    full.save(&path).unwrap();
    assert_eq!(fresh.load_checkpoint(&path).unwrap(), 1);
    std::fs::remove_dir_all(dir).unwrap();
}
