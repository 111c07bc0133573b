//! `fit`, `evaluate`, `predict`, `train_on_batch` end to end on the
//! interpreter engine, with small synthetic data.

mod common;

use common::*;
use ndarray::Array1;
use nn_runtime::data::Targets;
use nn_runtime::{FitOptions, RuntimeError, ValidationData};

fn quiet(epochs: usize, batch_size: usize) -> FitOptions {
    FitOptions { epochs, batch_size, verbose: 0, ..FitOptions::default() }
}

#[test]
fn every_optimizer_learns_separable_blobs() {
    let (x, y) = blobs(200, 1);
    let optimizers = [
        "sgd(learning_rate = 0.1)",
        "sgd(learning_rate = 0.05, momentum = 0.9, nesterov = true)",
        "rmsprop(learning_rate = 0.01)",
        "adam(learning_rate = 0.01)",
        "adagrad(learning_rate = 0.1)",
        "adadelta(learning_rate = 1.0)",
    ];
    for engine in engines() {
        for opt in optimizers {
            let mut model = compiled_on(&blob_source(opt), 3, engine.clone());
            let history = model.fit(&x, &y, &quiet(8, 16)).unwrap();
            let acc = model.evaluate(&x, &y, 64).unwrap()["accuracy"];
            let name = engine.name();
            assert!(acc >= 0.95, "{name}/{opt}: accuracy {acc}, history {:?}", history.history);
            let loss = history.get("loss").unwrap();
            assert!(loss.last() < loss.first(), "{name}/{opt}: loss did not decrease: {loss:?}");
        }
    }
}

#[test]
fn validation_split_takes_the_last_samples_before_shuffling() {
    // 80 clean samples, then 20 with flipped labels: a model that learns the
    // first 80 gets the last 20 wrong, so val accuracy exposes which samples
    // were held out.
    let (x, y) = blobs(100, 2);
    let Targets::Classes(labels) = y else { unreachable!() };
    let flipped: Vec<i32> = labels.iter().enumerate().map(|(i, &l)| if i >= 80 { 1 - l } else { l }).collect();
    let y = Targets::Classes(Array1::from(flipped));
    let mut model = compiled(&blob_source("adam(learning_rate = 0.02)"), 5);
    let opts = FitOptions { validation: ValidationData::Split(0.2), ..quiet(10, 10) };
    let history = model.fit(&x, &y, &opts).unwrap();
    let acc = history.last("accuracy").unwrap();
    let val_acc = history.last("val_accuracy").unwrap();
    assert!(acc >= 0.95, "training accuracy {acc}");
    assert!(val_acc <= 0.05, "val accuracy {val_acc}: the held-out samples were not the last 20");
    // 80 training samples in batches of 10: 8 updates per epoch.
    assert_eq!(model.iterations(), 80);
}

#[test]
fn history_has_keras_keys_and_one_value_per_epoch() {
    let (x, y) = blobs(60, 3);
    let (vx, vy) = blobs(20, 4);
    let mut model = compiled(&blob_source("adam(learning_rate = 0.01)"), 1);
    let opts = FitOptions { validation: ValidationData::Data(vx.clone(), vy.clone()), ..quiet(4, 16) };
    let history = model.fit(&x, &y, &opts).unwrap();
    let keys: Vec<&str> = history.history.keys().map(String::as_str).collect();
    assert_eq!(keys, ["accuracy", "loss", "val_accuracy", "val_loss"]);
    assert_eq!(history.epochs, [0, 1, 2, 3]);
    for series in history.history.values() {
        assert_eq!(series.len(), 4);
        assert!(series.iter().all(|v| v.is_finite()));
    }
    // The last val_* values are an evaluation of the final weights.
    let eval = model.evaluate(&vx, &vy, 7).unwrap();
    assert!((eval["loss"] - history.last("val_loss").unwrap()).abs() < 1e-5);
    assert_eq!(eval["accuracy"], history.last("val_accuracy").unwrap());
    assert!(history.to_json().contains("\"val_accuracy\""));
}

#[test]
fn validation_freq_skips_epochs() {
    let (x, y) = blobs(40, 3);
    let mut model = compiled(&blob_source("adam"), 1);
    let opts = FitOptions { validation: ValidationData::Split(0.25), validation_freq: 2, ..quiet(4, 10) };
    let history = model.fit(&x, &y, &opts).unwrap();
    let val = history.get("val_loss").unwrap();
    assert!(val[0].is_nan() && val[2].is_nan(), "{val:?}");
    assert!(val[1].is_finite() && val[3].is_finite(), "{val:?}");
}

#[test]
fn partial_last_batch_is_trained_and_weighted() {
    // 10 samples in batches of 4: steps of 4, 4 and 2.
    let (x, y) = blobs(10, 6);
    let mut model = compiled(&blob_source("sgd(learning_rate = 0.0)"), 2);
    let history = model.fit(&x, &y, &FitOptions { shuffle: false, ..quiet(1, 4) }).unwrap();
    assert_eq!(model.iterations(), 3);
    // With a zero learning rate the weights never move, so the epoch's
    // size-weighted running mean must equal the loss over all 10 samples.
    let eval = model.evaluate(&x, &y, 10).unwrap();
    let fit_loss = history.last("loss").unwrap();
    assert!((fit_loss - eval["loss"]).abs() < 1e-6, "fit {fit_loss} vs evaluate {}", eval["loss"]);
}

#[test]
fn predict_shapes_and_batching() {
    let (x, _) = blobs(7, 7);
    let mut model = compiled(&blob_source("adam"), 4);
    let p3 = model.predict(&x, 3).unwrap();
    assert_eq!(p3.shape(), [7, 2]);
    let p7 = model.predict(&x, 7).unwrap();
    for (a, b) in p3.iter().zip(p7.iter()) {
        assert!((a - b).abs() < 1e-6);
    }
    for row in p3.rows() {
        assert!((row.sum() - 1.0).abs() < 1e-5, "softmax rows sum to 1");
    }
}

#[test]
fn same_seed_same_run_and_other_seed_differs() {
    let (x, y) = blobs(50, 8);
    let run = |seed| {
        let mut model = compiled_on(&dropout_source("adam(learning_rate = 0.01)"), seed, engines().pop().unwrap());
        let history = model.fit(&x, &y, &FitOptions { validation: ValidationData::Split(0.2), ..quiet(3, 8) }).unwrap();
        (history, weights(&model))
    };
    let (h1, w1) = run(11);
    let (h2, w2) = run(11);
    let (h3, w3) = run(12);
    assert_eq!(h1, h2);
    assert_eq!(w1, w2);
    assert_ne!(w1, w3);
    assert_ne!(h1.get("loss"), h3.get("loss"));
}

#[test]
fn train_on_batch_returns_batch_logs() {
    let (x, y) = blobs(12, 9);
    let mut model = compiled(&blob_source("sgd(learning_rate = 0.1)"), 1);
    let before = model.evaluate(&x, &y, 12).unwrap();
    let logs = model.train_on_batch(&x, &y).unwrap();
    assert_eq!(logs.keys().collect::<Vec<_>>(), ["accuracy", "loss"]);
    assert!((logs["loss"] - before["loss"]).abs() < 1e-6, "loss is computed before the update");
    assert_eq!(model.iterations(), 1);
    assert!(model.evaluate(&x, &y, 12).unwrap()["loss"] < before["loss"]);
}

#[test]
fn bad_inputs_are_errors_that_say_what_to_do() {
    let (x, y) = blobs(10, 1);
    let mut model = nn_runtime::Model::from_source(&blob_source("adam"), None).unwrap();
    let err = model.fit(&x, &y, &quiet(1, 4)).unwrap_err();
    assert!(matches!(err, RuntimeError::NotCompiled(_)), "{err}");
    model.compile(Default::default()).unwrap();

    let wrong = features(vec![0.0; 30], &[10, 3]);
    let err = model.fit(&wrong, &y, &quiet(1, 4)).unwrap_err().to_string();
    assert!(err.contains("per-sample shape [3]") && err.contains("[2]"), "{err}");

    let bad_labels = Targets::Classes(Array1::from(vec![0, 1, 2, 0, 1, 0, 1, 0, 1, 0]));
    let err = model.fit(&x, &bad_labels, &quiet(1, 4)).unwrap_err().to_string();
    assert!(err.contains("class id 2") && err.contains("2 classes"), "{err}");

    let short = Targets::Classes(Array1::from(vec![0, 1]));
    let err = model.evaluate(&x, &short, 4).unwrap_err().to_string();
    assert!(err.contains("10 samples") && err.contains("has 2"), "{err}");

    let err = model.fit(&x, &y, &FitOptions { validation: ValidationData::Split(1.5), ..quiet(1, 4) }).unwrap_err();
    assert!(err.to_string().contains("(0, 1)"), "{err}");
    assert!(model.predict(&x, 0).unwrap_err().to_string().contains("batch_size"));
}

#[test]
fn compile_without_loss_is_an_error() {
    let src = "model m { input x: [2] dense(2) }";
    let mut model = nn_runtime::Model::from_source(src, None).unwrap();
    let err = model.compile(Default::default()).unwrap_err().to_string();
    assert!(err.contains("no loss"), "{err}");
}

#[test]
fn source_errors_render_with_the_file_name() {
    let err = match nn_runtime::Model::from_source("model m { input x: [2] dense(2, activation = relux) }", None) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a misspelled activation must not compile"),
    };
    assert!(err.contains("relux") && err.contains("<source>"), "{err}");
}

#[test]
fn schedules_feed_the_learning_rate() {
    use nn_runtime::optim::Schedule;
    let (x, y) = blobs(20, 10);
    // lr * (1 - epoch) / 1: full rate in epoch 1, zero afterwards.
    let schedule = Schedule::LinearEpochDecay { total_epochs: 1 };
    let mut model = compiled(&blob_source("sgd(learning_rate = 0.1)"), 1);
    let start = weights(&model);
    model.fit(&x, &y, &FitOptions { schedule: Some(schedule.clone()), ..quiet(1, 5) }).unwrap();
    let after_one = weights(&model);
    assert_ne!(after_one, start);
    model.fit(&x, &y, &FitOptions { schedule: Some(schedule), initial_epoch: 1, ..quiet(3, 5) }).unwrap();
    assert_eq!(weights(&model), after_one, "epochs 2 and 3 run at rate 0");
    assert_eq!(model.iterations(), 12);

    // The train block's lr_schedule is picked up by compile.
    let src = blob_source("sgd(learning_rate = 0.1)")
        .replace("metrics = [accuracy]", "metrics = [accuracy]\n lr_schedule = linear_epoch_decay(total_epochs = 1)");
    let mut from_block = compiled(&src, 1);
    assert_eq!(from_block.schedule(), Some(&Schedule::LinearEpochDecay { total_epochs: 1 }));
    from_block.fit(&x, &y, &quiet(1, 5)).unwrap();
    assert_eq!(weights(&from_block), after_one);
}

#[test]
fn fit_options_follow_the_train_block() {
    let src = "model m { input x: [2] dense(2, activation = softmax)
        train { loss = sparse_categorical_crossentropy batch_size = 7 epochs = 3 shuffle = false validation_split = 0.25 seed = 5 } }";
    let model = nn_runtime::Model::from_source(src, None).unwrap();
    assert_eq!(model.seed(), 5);
    let o = FitOptions::from_train_config(model.train_config());
    assert_eq!((o.batch_size, o.epochs, o.shuffle, o.seed), (7, 3, false, Some(5)));
    assert_eq!(o.validation, ValidationData::Split(0.25));
}
