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

const TWO_HEADS: &str = "
model two_heads {
    input a: [3]
    h = dense(4, activation = tanh)(a)
    label = dense(1, activation = sigmoid)(h)
    value = dense(2)(h)
    output label, value
    train {
        optimizer = sgd(learning_rate = 0)
        loss = { label: binary_crossentropy, value: mse }
        loss_weights = { label: 1.0, value: 0.5 }
    }
}";

fn two_heads_data(n: usize) -> (nn_runtime::Inputs, nn_runtime::TargetSet) {
    let a: Vec<f32> = (0..n * 3).map(|i| ((i * 7 % 11) as f32 - 5.0) / 4.0).collect();
    let label: Vec<f32> = (0..n).map(|i| (i % 2) as f32).collect();
    let value: Vec<f32> = (0..n * 2).map(|i| ((i * 5 % 7) as f32 - 3.0) / 3.0).collect();
    let arr = |shape: &[usize], v: Vec<f32>| ArrayD::from_shape_vec(IxDyn(shape), v).unwrap();
    (
        nn_runtime::Inputs::new().with("a", arr(&[n, 3], a)),
        nn_runtime::TargetSet::new()
            .with("label", Targets::Dense(arr(&[n, 1], label)))
            .with("value", Targets::Dense(arr(&[n, 2], value))),
    )
}

/// Each output gets its own weights: weighting one output's samples by 2
/// doubles that output's loss and leaves the other's (learning rate 0, one
/// batch, so the History holds the losses at the initial weights).
#[test]
fn sample_weights_apply_per_output() {
    let (x, y) = two_heads_data(6);
    let n = 6;
    for engine in engines() {
        let run = |sw: Option<SampleWeight>| {
            let mut model = compiled_on(TWO_HEADS, 3, engine.clone());
            let opts = FitOptions { batch_size: n, verbose: 0, sample_weight: sw, ..FitOptions::default() };
            model.fit_named(&x, &y, &opts).unwrap().history
        };
        let plain = run(None);
        let doubled = run(Some(SampleWeight::Named(vec![("value".into(), vec![2.0; n])])));
        let first = |h: &BTreeMap<String, Vec<f64>>, k: &str| h[k][0];
        assert!(close(first(&doubled, "value_loss"), 2.0 * first(&plain, "value_loss")), "{}", engine.name());
        assert_eq!(first(&doubled, "label_loss"), first(&plain, "label_loss"));
        let total = first(&plain, "label_loss") + 0.5 * 2.0 * first(&plain, "value_loss");
        assert!(close(first(&doubled, "loss"), total), "{}", engine.name());
        // Zero weights on every sample of one output remove it from the total.
        let zero = run(Some(SampleWeight::Named(vec![("label".into(), vec![0.0; n])])));
        assert_eq!(first(&zero, "label_loss"), 0.0);
        assert!(close(first(&zero, "loss"), 0.5 * first(&plain, "value_loss")));
    }
}

/// Each weighting mistake through the Rust API, with its message (golden:
/// tests/sample_weights/errors.txt; NN_BLESS=1 rewrites it).
#[test]
fn weighting_errors_match_golden() {
    let f = fixture();
    let (x, y) = data(&f);
    let mut model = compiled(&source("sgd"), 1);
    let mut out = String::new();
    let mut case = |name: &str, model: &mut Model, x: &Features, y: &Targets, opts: FitOptions| {
        let message = match model.fit(x, y, &opts) {
            Ok(_) => panic!("{name}: expected an error"),
            Err(e) => e.to_string(),
        };
        out.push_str(&format!("== {name}\n{message}\n"));
    };
    let sw = |w: Vec<f32>| FitOptions { sample_weight: Some(SampleWeight::All(w)), ..one_epoch() };
    let cw = |c: ClassWeight| FitOptions { class_weight: Some(c), ..one_epoch() };
    case("too few weights", &mut model, &x, &y, sw(vec![1.0; 9]));
    let mut negative = vec![1.0; 10];
    negative[7] = -0.5;
    case("negative weight", &mut model, &x, &y, sw(negative));
    let mut nan = vec![1.0; 10];
    nan[4] = f32::NAN;
    case("NaN weight", &mut model, &x, &y, sw(nan));
    let named = SampleWeight::Named(vec![("outt".into(), vec![1.0; 10])]);
    case("unknown output", &mut model, &x, &y, FitOptions { sample_weight: Some(named), ..one_epoch() });
    case("class id out of range", &mut model, &x, &y, cw(ClassWeight::ids(&[(3, 2.0)])));
    case("negative class weight", &mut model, &x, &y, cw(ClassWeight::ids(&[(1, -1.0)])));
    case("duplicate class", &mut model, &x, &y, cw(ClassWeight::ids(&[(1, 1.0), (1, 2.0)])));
    case(
        "class name without names",
        &mut model,
        &x,
        &y,
        cw(ClassWeight::Map(vec![(ClassKey::Name("cat".into()), 2.0)])),
    );
    model.set_class_names(Some(vec!["ant".into(), "bee".into(), "cat".into()]));
    case("unknown class name", &mut model, &x, &y, cw(ClassWeight::Map(vec![(ClassKey::Name("dog".into()), 2.0)])));
    let both = FitOptions {
        class_weight: Some(ClassWeight::Balanced),
        sample_weight: Some(SampleWeight::All(vec![1.0; 10])),
        ..one_epoch()
    };
    case("class and sample weights", &mut model, &x, &y, both);
    let mut regression = compiled("model r { input x: [4] dense(2) train { loss = mse optimizer = sgd } }", 1);
    let dense = Targets::Dense(ArrayD::zeros(IxDyn(&[10, 2])));
    case("regression loss", &mut regression, &x, &dense, cw(ClassWeight::Balanced));
    let mut two = compiled(TWO_HEADS, 1);
    let (nx, ny) = two_heads_data(4);
    let message = two
        .fit_named(&nx, &ny, &cw(ClassWeight::Balanced))
        .map(|_| panic!("several outputs: expected an error"))
        .unwrap_err()
        .to_string();
    out.push_str(&format!("== several outputs\n{message}\n"));

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sample_weights/errors.txt");
    if std::env::var("NN_BLESS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &out).unwrap();
        return;
    }
    let golden = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden {} (run with NN_BLESS=1 to create it)", path.display()));
    assert_eq!(golden, out, "weighting errors changed; rerun with NN_BLESS=1 and review the diff");
}

/// `.npz` data: a `sample_weight` array reaches `fit` through the workflow
/// (and trains exactly like the same weights passed to `fit`); a named one
/// (`sample_weight_<output>`) weighs that output of a model with several.
#[test]
fn npz_sample_weight_arrays_are_bound() {
    use ndarray_npy::NpzWriter;
    use nn_runtime::workflow::{self, DataSource, FitOverrides};
    let f = fixture();
    let dir = temp_dir("sample-weight-npz");
    let write = |name: &str, weights: &[(&str, Vec<f32>)]| {
        let path = dir.join(name);
        let mut npz = NpzWriter::new(std::fs::File::create(&path).unwrap());
        let x = ndarray::Array2::from_shape_fn((10, 4), |(i, j)| f.x[i][j]);
        npz.add_array("x", &x).unwrap();
        npz.add_array("y", &Array1::from(f.y.iter().map(|&v| i64::from(v)).collect::<Vec<_>>())).unwrap();
        for (n, w) in weights {
            npz.add_array(*n, &Array1::from(w.clone())).unwrap();
        }
        npz.finish().unwrap();
        path
    };
    let good = write("good.npz", &[("sample_weight", f.sample_weight.clone())]);
    let model = compiled(&source("sgd(learning_rate = 0.1)"), 1);
    let by_name = |p: &std::path::Path| DataSource { name: Some(p.display().to_string()), path: None };
    let source = by_name(&good);
    let data = workflow::load_for(&model, &source).unwrap();
    assert_eq!(data.train.sample_weight.as_deref(), Some(f.sample_weight.as_slice()));
    let quiet = FitOverrides { verbose: Some(0), epochs: Some(2), ..FitOverrides::default() };
    let opts = workflow::fit_options(&model, &data, &quiet).unwrap();
    assert_eq!(opts.sample_weight, Some(SampleWeight::All(f.sample_weight.clone())));
    let mut from_file = model.reinitialized().unwrap();
    from_file.fit(&data.train.x, &data.train.y, &opts).unwrap();
    let mut by_hand = model.reinitialized().unwrap();
    let mut plain = workflow::fit_options(&model, &data, &quiet).unwrap();
    plain.sample_weight = None;
    let mut unweighted = model.reinitialized().unwrap();
    unweighted.fit(&data.train.x, &data.train.y, &plain).unwrap();
    plain.sample_weight = Some(SampleWeight::All(f.sample_weight.clone()));
    by_hand.fit(&data.train.x, &data.train.y, &plain).unwrap();
    assert_eq!(weights(&from_file), weights(&by_hand));
    assert_ne!(weights(&from_file), weights(&unweighted));

    let short = write("short.npz", &[("sample_weight", vec![1.0; 9])]);
    let err = workflow::load_for(&model, &by_name(&short)).unwrap_err();
    assert!(err.to_string().contains("`x` holds 10 samples but `sample_weight` holds 9"), "{err}");
    let mut bad = vec![1.0; 10];
    bad[6] = -1.0;
    let negative = write("negative.npz", &[("sample_weight", bad)]);
    let err = workflow::load_for(&model, &by_name(&negative)).unwrap_err();
    assert!(err.to_string().contains("negative.npz: `sample_weight` has weight -1 at row 6"), "{err}");

    // Several outputs: the array named after one output weighs that output only.
    let two = compiled(TWO_HEADS, 1);
    let (x, y) = two_heads_data(5);
    let path = dir.join("two.npz");
    let mut npz = NpzWriter::new(std::fs::File::create(&path).unwrap());
    let column = |v: &Features| match v {
        Features::F32(a) => a.clone(),
        other => panic!("{other:?}"),
    };
    npz.add_array("a", &column(x.get("a").unwrap())).unwrap();
    for (name, t) in &y.0 {
        let Targets::Dense(values) = t else { panic!("dense targets") };
        npz.add_array(name.as_str(), values).unwrap();
    }
    npz.add_array("sample_weight_value", &Array1::from(vec![0.5f32, 1.0, 1.5, 2.0, 0.0])).unwrap();
    npz.finish().unwrap();
    let named = workflow::load_named_for(&two, &DataSource { name: None, path: Some(path) }).unwrap();
    let opts = workflow::fit_options_named(&two, &named, &FitOverrides::default()).unwrap();
    assert_eq!(opts.sample_weight, Some(SampleWeight::Named(vec![("value".into(), vec![0.5, 1.0, 1.5, 2.0, 0.0])])));
    let _ = std::fs::remove_dir_all(&dir);
}
