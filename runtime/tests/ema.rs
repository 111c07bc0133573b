//! Keras's `use_ema` end to end: the moving averages live in optimizer slots
//! updated by the compiled step, `ema_overwrite_frequency` overwrites the
//! weights inside the step, and `fit` ends with the weights set to their
//! averages (Keras's `finalize_variable_values`), on every engine. The
//! formulas themselves are checked against Keras in the compiler's
//! `optimizers_keras` test.

mod common;

use common::*;
use nn_runtime::{FitOptions, Model};

fn quiet(epochs: usize, batch_size: usize) -> FitOptions {
    FitOptions { epochs, batch_size, verbose: 0, ..FitOptions::default() }
}

/// Each trainable weight against its `…/average` slot.
fn matches_averages(model: &Model) -> bool {
    model.weights().iter().filter(|v| v.trainable).all(|v| {
        let avg = model.optimizer_slots().get(&format!("{}/average", v.name)).expect("an average slot per weight");
        avg.data == v.data
    })
}

#[test]
fn fit_ends_with_the_moving_averages() {
    let (x, y) = blobs(64, 2);
    let mut per_engine = Vec::new();
    for engine in engines() {
        let mut ema = compiled_on(&blob_source("adam(learning_rate = 0.01, use_ema = true)"), 4, engine.clone());
        ema.fit(&x, &y, &quiet(2, 16)).unwrap();
        assert!(matches_averages(&ema), "fit ends with the averages");
        let mut plain = compiled_on(&blob_source("adam(learning_rate = 0.01)"), 4, engine);
        plain.fit(&x, &y, &quiet(2, 16)).unwrap();
        assert_ne!(weights(&ema), weights(&plain), "the averages differ from the last weights");
        per_engine.push(weights(&ema));
    }
    for (a, b) in per_engine[0].iter().zip(&per_engine[1]) {
        for (p, q) in a.1.iter().zip(&b.1) {
            assert!((p - q).abs() <= 1e-4 * (1.0 + p.abs()), "{}: interpreter {p}, JIT {q}", a.0);
        }
    }
}

#[test]
fn ema_overwrite_frequency_overwrites_inside_the_step() {
    let (x, y) = blobs(16, 5);
    for engine in engines() {
        let source =
            blob_source("sgd(learning_rate = 0.1, use_ema = true, ema_momentum = 0.5, ema_overwrite_frequency = 2)");
        let mut model = compiled_on(&source, 1, engine);
        // Step 1: the average starts as the updated weights (Keras's first step).
        model.train_on_batch(&x, &y).unwrap();
        assert!(matches_averages(&model), "first step: average = weights");
        model.train_on_batch(&x, &y).unwrap();
        assert!(matches_averages(&model), "step 2 overwrites");
        model.train_on_batch(&x, &y).unwrap();
        assert!(!matches_averages(&model), "step 3 keeps the updated weights");
        model.train_on_batch(&x, &y).unwrap();
        assert!(matches_averages(&model), "step 4 overwrites");
    }
}

#[test]
fn ftrl_trains_alike_on_every_engine() {
    let (x, y) = blobs(64, 7);
    let source = blob_source(
        "ftrl(learning_rate = 0.2, l1_regularization_strength = 0.001, l2_regularization_strength = 0.01, \
         beta = 0.1, use_ema = true, ema_overwrite_frequency = 3)",
    );
    let runs: Vec<_> = engines()
        .into_iter()
        .map(|engine| {
            let mut model = compiled_on(&source, 2, engine);
            let history = model.fit(&x, &y, &quiet(3, 16)).unwrap();
            (weights(&model), history.to_json())
        })
        .collect();
    for (a, b) in runs[0].0.iter().zip(&runs[1].0) {
        for (p, q) in a.1.iter().zip(&b.1) {
            assert!((p - q).abs() <= 1e-4 * (1.0 + p.abs()), "{}: interpreter {p}, JIT {q}", a.0);
        }
    }
}
