//! Per-sample loss weights: `sample_weight` and `class_weight` (a map and
//! `balanced`) train exactly as Keras 3 does (fixture from
//! tests/keras/make_sample_weight_fixture.py: the History of one epoch of
//! three steps and the weights after it), evaluation weighs the loss but not
//! the metrics, and every weighting mistake is a clear error.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use ndarray::{Array1, ArrayD, IxDyn};
use nn_runtime::data::{Features, Targets};
use nn_runtime::{ClassKey, ClassWeight, FitOptions, Model, SampleWeight};

fn source(optimizer: &str) -> String {
    format!(
        "model weighted {{
            input x: [4]
            h = dense(5, activation = tanh)(x)
            out = dense(3, activation = softmax)(h)
            output out
            train {{
                optimizer = {optimizer}
                loss = sparse_categorical_crossentropy
                metrics = [accuracy]
            }}
        }}"
    )
}

#[derive(serde::Deserialize)]
struct Case {
    history: BTreeMap<String, f64>,
    weights: BTreeMap<String, serde_json::Value>,
}

#[derive(serde::Deserialize)]
struct Fixture {
    keras_version: String,
    x: Vec<Vec<f32>>,
    y: Vec<i32>,
    sample_weight: Vec<f32>,
    balanced: BTreeMap<String, f64>,
    weights: BTreeMap<String, serde_json::Value>,
    cases: BTreeMap<String, Case>,
    evaluate_weighted: BTreeMap<String, f64>,
}

fn fixture() -> Fixture {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keras/sample_weights.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn flat(v: &serde_json::Value, out: &mut Vec<f32>, shape: &mut Vec<usize>, depth: usize) {
    match v {
        serde_json::Value::Array(items) => {
            if shape.len() == depth {
                shape.push(items.len());
            }
            for i in items {
                flat(i, out, shape, depth + 1);
            }
        }
        other => out.push(other.as_f64().unwrap() as f32),
    }
}

fn tensor(v: &serde_json::Value) -> ArrayD<f32> {
    let (mut data, mut shape) = (Vec::new(), Vec::new());
    flat(v, &mut data, &mut shape, 0);
    ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap()
}

fn data(f: &Fixture) -> (Features, Targets) {
    let x: Vec<f32> = f.x.iter().flatten().copied().collect();
    (features(x, &[f.x.len(), 4]), Targets::Classes(Array1::from(f.y.clone())))
}

/// Within 1e-6 of Keras, relative to the value's magnitude (at least 1).
fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-6 * want.abs().max(1.0)
}

fn model_with_keras_weights(f: &Fixture, optimizer: &str, engine: std::sync::Arc<dyn nn_runtime::Engine>) -> Model {
    let mut model = compiled_on(&source(optimizer), 1, engine);
    for (name, value) in &f.weights {
        model.set_weight(name, &tensor(value)).unwrap();
    }
    model
}

fn one_epoch() -> FitOptions {
    FitOptions { epochs: 1, batch_size: 4, shuffle: false, verbose: 0, ..FitOptions::default() }
}

fn check_case(f: &Fixture, case: &str, optimizer: &str, opts: FitOptions) {
    let want = &f.cases[case];
    let (x, y) = data(f);
    for engine in engines() {
        let mut model = model_with_keras_weights(f, optimizer, engine.clone());
        let history = model.fit(&x, &y, &opts).unwrap();
        for (key, &keras) in &want.history {
            let got = history.history[key][0];
            assert!(close(got, keras), "{case} {} {key}: {got} vs Keras {keras}", engine.name());
        }
        for (name, value) in &want.weights {
            let keras = tensor(value);
            let ours = model.weights().get(name).unwrap();
            for (i, (g, w)) in ours.data.iter().zip(keras.iter()).enumerate() {
                assert!(close(f64::from(*g), f64::from(*w)), "{case} {} {name}[{i}]: {g} vs Keras {w}", engine.name());
            }
        }
    }
}

#[test]
fn fixture_is_keras_3_and_weights_matter() {
    let f = fixture();
    assert!(f.keras_version.starts_with('3'), "{}", f.keras_version);
    // Every weighting moves the loss away from the unweighted run's.
    let plain = f.cases["unweighted_sgd"].history["loss"];
    for case in ["sample_weight_sgd", "class_weight_map_adam", "class_weight_balanced_sgd"] {
        assert!((f.cases[case].history["loss"] - plain).abs() > 1e-3, "{case}");
    }
}

#[test]
fn unweighted_training_matches_keras() {
    check_case(&fixture(), "unweighted_sgd", "sgd(learning_rate = 0.1)", one_epoch());
}

#[test]
fn sample_weight_matches_keras() {
    let f = fixture();
    let opts = FitOptions { sample_weight: Some(SampleWeight::All(f.sample_weight.clone())), ..one_epoch() };
    check_case(&f, "sample_weight_sgd", "sgd(learning_rate = 0.1)", opts);
}

#[test]
fn class_weight_map_matches_keras() {
    let opts = FitOptions { class_weight: Some(ClassWeight::ids(&[(0, 1.0), (1, 5.0)])), ..one_epoch() };
    check_case(&fixture(), "class_weight_map_adam", "adam(learning_rate = 0.05)", opts);
}

#[test]
fn class_weight_balanced_matches_keras() {
    let f = fixture();
    let opts = FitOptions { class_weight: Some(ClassWeight::Balanced), ..one_epoch() };
    check_case(&f, "class_weight_balanced_sgd", "sgd(learning_rate = 0.1)", opts);
    // The same run with the fixture's explicit balanced map (scikit-learn's formula).
    let map = f.balanced.iter().map(|(k, &w)| (ClassKey::Id(k.parse().unwrap()), w)).collect();
    let opts = FitOptions { class_weight: Some(ClassWeight::Map(map)), ..one_epoch() };
    check_case(&f, "class_weight_balanced_sgd", "sgd(learning_rate = 0.1)", opts);
}

#[test]
fn weighted_evaluate_matches_keras_and_leaves_metrics_unweighted() {
    let f = fixture();
    let (x, y) = data(&f);
    for engine in engines() {
        let mut model = model_with_keras_weights(&f, "sgd", engine.clone());
        let weighted = model.evaluate_weighted(&x, &y, &SampleWeight::All(f.sample_weight.clone()), 4).unwrap();
        for (key, &keras) in &f.evaluate_weighted {
            assert!(close(weighted[key], keras), "{} {key}: {} vs Keras {keras}", engine.name(), weighted[key]);
        }
        let plain = model.evaluate(&x, &y, 4).unwrap();
        assert_eq!(plain["accuracy"], weighted["accuracy"]);
        assert!((plain["loss"] - weighted["loss"]).abs() > 1e-3);
    }
}
