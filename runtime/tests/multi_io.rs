//! Models with several inputs and outputs through the named API:
//! `fit_named` / `evaluate_named` / `predict_named` learn a synthetic task,
//! History has Keras 3's keys, the numbers match a Keras-generated fixture,
//! and every binding error reads as its golden says.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use ndarray::{Array1, ArrayD, IxDyn};
use nn_compiler::ir::DType;
use nn_runtime::data::{Features, Targets};
use nn_runtime::{FitOptions, Inputs, IoSpec, Model, TargetSet, ValidationData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const TWO_HEADS: &str = "
model two_heads {
    input a: [3]
    input b: [3]
    shared = dense(4, activation = tanh)
    m = concatenate(shared(a), shared(b))
    label = dense(1, activation = sigmoid)(m)
    value = dense(2)(m)
    output label, value
    train {
        optimizer = adam(learning_rate = 0.02)
        loss = { label: binary_crossentropy, value: mse }
        loss_weights = { label: 1.0, value: 0.2 }
        metrics = { label: [accuracy], value: [mae] }
    }
}";

fn quiet(epochs: usize, batch_size: usize) -> FitOptions {
    FitOptions { epochs, batch_size, verbose: 0, ..FitOptions::default() }
}

fn array(shape: &[usize], data: Vec<f32>) -> ArrayD<f32> {
    ArrayD::from_shape_vec(IxDyn(shape), data).unwrap()
}

/// `label` = whether sum(a) > sum(b); `value` = (a0 + b0, a1 - b1).
fn task(n: usize, seed: u64) -> (Inputs, TargetSet) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut a = Vec::new();
    let mut b = Vec::new();
    let mut label = Vec::new();
    let mut value = Vec::new();
    for _ in 0..n {
        let xa: Vec<f32> = (0..3).map(|_| rng.random_range(-1.0..1.0)).collect();
        let xb: Vec<f32> = (0..3).map(|_| rng.random_range(-1.0..1.0)).collect();
        label.push(if xa.iter().sum::<f32>() > xb.iter().sum::<f32>() { 1.0 } else { 0.0 });
        value.extend([xa[0] + xb[0], xa[1] - xb[1]]);
        a.extend(xa);
        b.extend(xb);
    }
    (
        Inputs::new().with("a", array(&[n, 3], a)).with("b", array(&[n, 3], b)),
        TargetSet::new().with("label", array(&[n, 1], label)).with("value", array(&[n, 2], value)),
    )
}

#[test]
fn inputs_and_outputs_are_listed_by_name_with_shapes() {
    let model = Model::from_source(TWO_HEADS, None).unwrap();
    assert_eq!(model.input_names(), ["a", "b"]);
    assert_eq!(model.output_names(), ["label", "value"]);
    assert_eq!(
        model.outputs(),
        [
            IoSpec { name: "label".into(), shape: vec![1], dtype: DType::F32 },
            IoSpec { name: "value".into(), shape: vec![2], dtype: DType::F32 },
        ]
    );
    assert_eq!(model.inputs()[1], IoSpec { name: "b".into(), shape: vec![3], dtype: DType::F32 });
}

#[test]
fn two_input_two_output_model_learns_with_keras_history_keys() {
    let (x, y) = task(400, 1);
    let (vx, vy) = task(100, 2);
    for engine in engines() {
        let mut model = compiled_on(TWO_HEADS, 3, engine.clone());
        assert_eq!(model.metric_names(), ["loss", "label_loss", "value_loss", "label_accuracy", "value_mae"]);
        let opts = FitOptions { validation: ValidationData::Named(vx.clone(), vy.clone()), ..quiet(40, 16) };
        let history = model.fit_named(&x, &y, &opts).unwrap();
        // Keras 3.15 reports exactly these keys for this compile() (and the
        // fixture records them: see `history_keys_are_keras_s` below).
        let keys: BTreeSet<&str> = history.history.keys().map(String::as_str).collect();
        let want: BTreeSet<&str> = [
            "loss",
            "label_loss",
            "value_loss",
            "label_accuracy",
            "value_mae",
            "val_loss",
            "val_label_loss",
            "val_value_loss",
            "val_label_accuracy",
            "val_value_mae",
        ]
        .into();
        assert_eq!(keys, want, "{}", engine.name());
        let logs = model.evaluate_named(&vx, &vy, 32).unwrap();
        let name = engine.name();
        assert!(logs["label_accuracy"] >= 0.9, "{name}: {logs:?}");
        assert!(logs["value_mae"] <= 0.25, "{name}: {logs:?}");
        let total = logs["label_loss"] + 0.2 * logs["value_loss"];
        assert!((logs["loss"] - total).abs() <= 1e-5, "{name}: loss is not the weighted sum: {logs:?}");
        let first = *history.get("value_loss").unwrap().first().unwrap();
        assert!(logs["value_loss"] < 0.2 * first, "{name}: value loss {} from {first}", logs["value_loss"]);

        let predictions = model.predict_named(&vx, 64).unwrap();
        let names: Vec<&str> = predictions.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["label", "value"]);
        assert_eq!(predictions[0].1.shape(), [100, 1]);
        assert_eq!(predictions[1].1.shape(), [100, 2]);
        // Predictions agree with the evaluated accuracy.
        let Some(Targets::Dense(truth)) = vy.get("label") else { unreachable!() };
        let hits = predictions[0].1.iter().zip(truth.iter()).filter(|(p, t)| (**p > 0.5) == (**t == 1.0)).count();
        assert!((hits as f64 / 100.0 - logs["label_accuracy"]).abs() < 1e-9);
    }
}

#[test]
fn validation_split_and_train_on_batch_work_with_named_arrays() {
    let (x, y) = task(50, 4);
    let mut model = compiled(TWO_HEADS, 5);
    let opts = FitOptions { validation: ValidationData::Split(0.2), ..quiet(2, 8) };
    let history = model.fit_named(&x, &y, &opts).unwrap();
    assert!(history.last("val_value_mae").is_some());
    // 40 training samples in batches of 8.
    assert_eq!(model.iterations(), 10);
    let logs = model.train_on_batch_named(&x, &y).unwrap();
    assert_eq!(logs.keys().count(), 5);
    assert_eq!(model.iterations(), 11);
    // The custom loop sees the same weighted total as evaluate (no dropout here).
    let (loss, grads) = model.compute_gradients_named(&x, &y).unwrap();
    let logs = model.evaluate_named(&x, &y, 50).unwrap();
    assert!((loss - logs["loss"]).abs() < 1e-5, "{loss} vs {}", logs["loss"]);
    assert_eq!(grads.len(), 6);
}

/// Reordered names bind to the same inputs: order of the given arrays does not matter.
#[test]
fn arrays_bind_by_name_not_by_position() {
    let (x, y) = task(20, 6);
    let mut model = compiled(TWO_HEADS, 7);
    let a = model.evaluate_named(&x, &y, 8).unwrap();
    let x_rev = Inputs(x.0.iter().rev().cloned().collect());
    let y_rev = TargetSet(y.0.iter().rev().cloned().collect());
    assert_eq!(a, model.evaluate_named(&x_rev, &y_rev, 8).unwrap());
}

#[derive(serde::Deserialize)]
struct Fixture {
    keras_version: String,
    history_keys: Vec<String>,
    weights: std::collections::BTreeMap<String, serde_json::Value>,
    x: std::collections::BTreeMap<String, Vec<Vec<f32>>>,
    y: std::collections::BTreeMap<String, Vec<Vec<f32>>>,
    evaluate: std::collections::BTreeMap<String, f64>,
    predict: std::collections::BTreeMap<String, Vec<Vec<f32>>>,
}

fn fixture() -> Fixture {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keras/two_heads.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The keys Keras's History has after `fit(..., validation_data=...)` with
/// these per-output losses and metrics.
#[test]
fn history_keys_are_keras_s() {
    let (x, y) = task(20, 9);
    let mut model = compiled(TWO_HEADS, 2);
    let opts = FitOptions { validation: ValidationData::Named(x.clone(), y.clone()), ..quiet(1, 20) };
    let history = model.fit_named(&x, &y, &opts).unwrap();
    let ours: Vec<&String> = history.history.keys().collect();
    let keras = fixture().history_keys;
    assert_eq!(ours, keras.iter().collect::<Vec<_>>());
}

fn rows(r: &[Vec<f32>]) -> ArrayD<f32> {
    array(&[r.len(), r[0].len()], r.iter().flatten().copied().collect())
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

/// Keras 3 evaluates this model with these weights and data to the
/// fixture's numbers (generated by tests/keras/make_multi_output_fixture.py).
#[test]
fn per_output_losses_and_weighted_total_match_keras() {
    let fixture = fixture();
    assert!(fixture.keras_version.starts_with('3'), "{}", fixture.keras_version);
    for engine in engines() {
        let mut model = compiled_on(TWO_HEADS, 1, engine.clone());
        for (name, value) in &fixture.weights {
            let (mut data, mut shape) = (Vec::new(), Vec::new());
            flat(value, &mut data, &mut shape, 0);
            model.set_weight(name, &array(&shape, data)).unwrap();
        }
        let x = Inputs(fixture.x.iter().map(|(n, r)| (n.clone(), Features::F32(rows(r)))).collect());
        let y = TargetSet(fixture.y.iter().map(|(n, r)| (n.clone(), Targets::Dense(rows(r)))).collect());
        let logs = model.evaluate_named(&x, &y, 6).unwrap();
        assert_eq!(logs.keys().collect::<Vec<_>>(), fixture.evaluate.keys().collect::<Vec<_>>());
        for (key, want) in &fixture.evaluate {
            let got = logs[key];
            assert!((got - want).abs() <= 1e-6, "{} {key}: {got} vs Keras {want}", engine.name());
        }
        for (name, got) in model.predict_named(&x, 6).unwrap() {
            let want = rows(&fixture.predict[&name]);
            for (g, w) in got.iter().zip(want.iter()) {
                assert!((g - w).abs() <= 1e-6, "{} predict {name}: {g} vs Keras {w}", engine.name());
            }
        }
    }
}

#[test]
fn labels_are_encoded_per_output_loss() {
    let source = TWO_HEADS
        .replace("label = dense(1, activation = sigmoid)(m)", "label = dense(3, activation = softmax)(m)")
        .replace("label: binary_crossentropy", "label: categorical_crossentropy");
    let model = compiled(&source, 1);
    let y = TargetSet::new()
        .with("label", Targets::Classes(Array1::from(vec![2, 0])))
        .with("value", Targets::Classes(Array1::from(vec![5, 7])));
    let encoded = model.encode_targets(y).unwrap();
    assert_eq!(encoded.get("label"), Some(&Targets::Dense(array(&[2, 3], vec![0., 0., 1., 1., 0., 0.]))));
    assert_eq!(encoded.get("value"), Some(&Targets::Dense(array(&[2, 1], vec![5., 7.]))));
}

/// Each binding mistake, with the message it produces (golden:
/// tests/multi_io/errors.txt; NN_BLESS=1 rewrites it).
#[test]
fn binding_errors_match_golden() {
    let (x, y) = task(10, 8);
    let (short_x, _) = task(9, 8);
    let mut model = compiled(TWO_HEADS, 1);
    let mut out = String::new();
    let mut case = |name: &str, result: Result<String, nn_runtime::RuntimeError>| {
        let message = match result {
            Ok(what) => panic!("{name}: expected an error, got {what}"),
            Err(e) => e.to_string(),
        };
        out.push_str(&format!("== {name}\n{message}\n"));
    };
    let a = || x.get("a").unwrap().clone();
    let only_a = Inputs::new().with("a", a());
    case("missing input", model.evaluate_named(&only_a, &y, 4).map(|l| format!("{l:?}")));
    let only_label = TargetSet::new().with("label", y.get("label").unwrap().clone());
    case("missing target", model.evaluate_named(&x, &only_label, 4).map(|l| format!("{l:?}")));
    let extra = Inputs(x.0.iter().cloned().chain([("c".to_string(), a())]).collect());
    case("unknown input", model.predict_named(&extra, 4).map(|p| format!("{}", p.len())));
    let twice = Inputs(x.0.iter().cloned().chain([("a".to_string(), a())]).collect());
    case("input given twice", model.predict_named(&twice, 4).map(|p| format!("{}", p.len())));
    let mixed = Inputs::new().with("a", a()).with("b", short_x.get("b").unwrap().clone());
    case("input sample counts differ", model.predict_named(&mixed, 4).map(|p| format!("{}", p.len())));
    let (_, short_y) = task(9, 8);
    case("target sample count differs", model.evaluate_named(&x, &short_y, 4).map(|l| format!("{l:?}")));
    let wide = Inputs::new().with("a", a()).with("b", array(&[10, 4], vec![0.0; 40]));
    case("input shape", model.predict_named(&wide, 4).map(|p| format!("{}", p.len())));
    let bad_value =
        TargetSet::new().with("label", y.get("label").unwrap().clone()).with("value", array(&[10, 3], vec![0.0; 30]));
    case("target shape", model.evaluate_named(&x, &bad_value, 4).map(|l| format!("{l:?}")));
    case(
        "single-array fit on two inputs",
        model.fit(&a(), y.get("label").unwrap(), &quiet(1, 4)).map(|h| format!("{h:?}")),
    );
    case(
        "validation arrays",
        model
            .fit_named(
                &x,
                &y,
                &FitOptions { validation: ValidationData::Named(only_a.clone(), y.clone()), ..quiet(1, 4) },
            )
            .map(|h| format!("{h:?}")),
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/multi_io/errors.txt");
    if std::env::var("NN_BLESS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &out).unwrap();
        return;
    }
    let golden = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden {} (run with NN_BLESS=1 to create it)", path.display()));
    assert_eq!(golden, out, "binding errors changed; rerun with NN_BLESS=1 and review the diff");
}
