//! Every metric against Keras 3 over several batches (`keras/metrics.json`,
//! from `tests/keras/make_metric_fixtures.py`): a model whose output is its
//! input is evaluated on Keras's predictions in batches of 4 (10 samples, so
//! the last batch is partial), on every engine. Stateful metrics must give
//! Keras's epoch value, which differs from the mean of per-batch values.

mod common;

use common::engines;
use ndarray::{Array1, ArrayD, IxDyn};
use nn_runtime::data::{Features, Targets};
use nn_runtime::{CompileOptions, FitOptions, Model, ValidationData};
use serde_json::Value as Json;

fn fixture() -> Json {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keras/metrics.json"))
        .expect("runtime/tests/keras/metrics.json (run tests/keras/make_metric_fixtures.py)");
    serde_json::from_str(&text).unwrap()
}

fn rows(v: &Json) -> (Vec<usize>, Vec<f32>) {
    let rows = v.as_array().unwrap();
    if rows[0].is_number() {
        return (vec![rows.len()], rows.iter().map(|x| x.as_f64().unwrap() as f32).collect());
    }
    let data: Vec<f32> =
        rows.iter().flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32)).collect();
    (vec![rows.len(), data.len() / rows.len()], data)
}

/// A model whose output is its input, so metrics see Keras's predictions.
fn passthrough(width: usize, loss: &str, metric: &str) -> String {
    format!("model m {{ input x: [{width}] output x train {{ loss = {loss} metrics = [{metric}] }} }}")
}

#[test]
fn metrics_accumulate_over_batches_like_keras() {
    let fx = fixture();
    let cases = fx["cases"].as_array().unwrap();
    for engine in engines() {
        let mut stateful_differs = 0;
        for case in cases {
            let metric = case["metric"].as_str().unwrap();
            let loss = case["loss"].as_str().unwrap();
            let (shape, pred) = rows(&case["y_pred"]);
            let (yshape, truth) = rows(&case["y_true"]);
            let mut model = Model::from_source(&passthrough(shape[1], loss, metric), None).unwrap();
            model.set_engine(engine.clone());
            model.compile(CompileOptions::default()).unwrap();
            let x = Features::F32(ArrayD::from_shape_vec(IxDyn(&shape), pred).unwrap());
            let y = if yshape.len() == 1 {
                Targets::Classes(Array1::from_vec(truth.iter().map(|&v| v as i32).collect()))
            } else {
                Targets::Dense(ArrayD::from_shape_vec(IxDyn(&yshape), truth).unwrap())
            };
            let batch = case["batch_size"].as_u64().unwrap() as usize;
            let logs = model.evaluate(&x, &y, batch).unwrap();
            let key = model.metric_names()[1].clone();
            let got = logs[&key];
            let want = case["value"].as_f64().unwrap();
            assert!(
                (got - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{metric} on {}: {got} vs Keras {want}",
                engine.name()
            );
            let batches: Vec<f64> =
                case["batch_values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            let mean_of_batches = batches.iter().sum::<f64>() / batches.len() as f64;
            if (mean_of_batches - want).abs() > 1e-3 {
                stateful_differs += 1;
            }
        }
        assert!(stateful_differs >= 5, "the fixture must tell epoch statistics from batch means");
    }
}

#[test]
fn history_keys_are_keras_names() {
    let fx = fixture();
    let mut keys = Vec::new();
    for case in fx["cases"].as_array().unwrap() {
        let (shape, _) = rows(&case["y_pred"]);
        let model = {
            let src = passthrough(shape[1], case["loss"].as_str().unwrap(), case["metric"].as_str().unwrap());
            let mut m = Model::from_source(&src, None).unwrap();
            m.compile(CompileOptions::default()).unwrap();
            m
        };
        keys.push(model.metric_names()[1].clone());
    }
    for key in [
        "precision",
        "recall",
        "auc",
        "root_mean_squared_error",
        "mape",
        "r2_score",
        "top_k_categorical_accuracy",
        "sparse_top_k_categorical_accuracy",
        "f1_score",
    ] {
        assert!(keys.iter().any(|k| k == key), "no case reports `{key}`: {keys:?}");
    }
}

/// A stateful metric through the training step and validation: History gets
/// `auc` and `val_auc`, each a value of the epoch, and `train_on_batch`
/// reports the batch's own value.
#[test]
fn stateful_metrics_in_fit_and_validation() {
    let src = "model m {
        input x: [2]
        dense(1, activation = sigmoid)
        train {
            optimizer = adam(learning_rate = 0.05)
            loss = binary_crossentropy
            metrics = [auc, precision, recall, accuracy]
        }
    }";
    let n = 64;
    let xs: Vec<f32> = (0..n * 2).map(|i| ((i * 37 % 23) as f32 / 11.0) - 1.0).collect();
    let ys: Vec<f32> = (0..n).map(|i| f32::from(xs[2 * i] + 0.5 * xs[2 * i + 1] > 0.0)).collect();
    let x = Features::F32(ArrayD::from_shape_vec(IxDyn(&[n, 2]), xs).unwrap());
    let y = Targets::Dense(ArrayD::from_shape_vec(IxDyn(&[n, 1]), ys).unwrap());
    for engine in engines() {
        let mut model = Model::from_source_seeded(src, None, 3).unwrap();
        model.set_engine(engine.clone());
        model.compile(CompileOptions::default()).unwrap();
        let opts = FitOptions {
            epochs: 8,
            batch_size: 10,
            verbose: 0,
            validation: ValidationData::Split(0.25),
            ..FitOptions::default()
        };
        let history = model.fit(&x, &y, &opts).unwrap();
        for key in ["auc", "val_auc", "precision", "val_precision", "recall", "val_recall"] {
            let series = history.get(key).unwrap_or_else(|| panic!("History has no {key}"));
            assert!(series.iter().all(|v| (-1e-9..=1.0 + 1e-9).contains(v)), "{key}: {series:?}");
        }
        let auc = history.get("auc").unwrap();
        assert!(auc.last().unwrap() > &0.9, "a separable task reaches a high AUC: {auc:?}");
        let logs = model.evaluate(&x, &y, 7).unwrap();
        let whole = model.evaluate(&x, &y, n).unwrap();
        assert!(
            (logs["auc"] - whole["auc"]).abs() < 1e-6,
            "{} vs {}: batching must not change auc",
            logs["auc"],
            whole["auc"]
        );
        let batch = model.train_on_batch(&x, &y).unwrap();
        assert!((0.0..=1.0).contains(&batch["auc"]), "{batch:?}");
    }
}
