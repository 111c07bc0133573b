//! `nn import` against Keras itself: the fixtures in `keras/` were written by
//! `tests/keras/make_import_fixtures.py` (Keras 3, `.keras` and legacy `.h5`
//! of each model, Keras's predictions on fixed inputs, Keras's `summary()`).

use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn};
use nn_interop::keras::{import_file, Imported};
use nn_runtime::data::{Features, Targets};
use nn_runtime::{FitOptions, Inputs, Model};
use serde_json::Value;

const MODELS: &[&str] =
    &["mlp", "cnn", "two_inputs", "norms", "text", "seq_merge", "masked", "masked_functional", "conv_seq"];

/// Keras's summary of a Functional model with masks lists the operations
/// that compute them (`not_equal (NotEqual)`) as layers; nn's has layers only.
const SUMMARY_MODELS: &[&str] = &["mlp", "cnn", "two_inputs", "norms", "text", "seq_merge", "masked", "conv_seq"];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keras").join(name)
}

fn predictions() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("predictions.json")).unwrap()).unwrap()
}

fn array(v: &Value) -> ArrayD<f32> {
    fn walk(v: &Value, depth: usize, shape: &mut Vec<usize>, out: &mut Vec<f32>) {
        match v {
            Value::Array(items) => {
                if shape.len() == depth {
                    shape.push(items.len());
                }
                for i in items {
                    walk(i, depth + 1, shape, out);
                }
            }
            other => out.push(other.as_f64().unwrap() as f32),
        }
    }
    let (mut shape, mut data) = (Vec::new(), Vec::new());
    walk(v, 0, &mut shape, &mut data);
    ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap()
}

/// The imported model with its weights loaded through the written files.
fn load(imported: &Imported) -> (Model, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let nn = dir.path().join("model.nn");
    let weights = imported.write(&nn).unwrap();
    assert_eq!(weights, dir.path().join("model.safetensors"));
    let mut model = Model::from_file(&nn, None).unwrap();
    model.load_weights(&weights).unwrap();
    (model, dir)
}

fn inputs_of(case: &Value) -> Inputs {
    let mut inputs = Inputs::new();
    for (name, v) in case["inputs"].as_object().unwrap() {
        inputs = inputs.with(name, Features::F32(array(v)));
    }
    inputs
}

#[test]
fn imported_models_predict_what_keras_predicts() {
    let all = predictions();
    for name in MODELS {
        for ext in ["keras", "h5"] {
            let file = fixture(&format!("{name}.{ext}"));
            let imported = import_file(&file).unwrap_or_else(|e| panic!("{name}.{ext}: {e}"));
            let (mut model, _dir) = load(&imported);
            let case = &all[name];
            let got = model.predict_named(&inputs_of(case), 32).unwrap();
            assert_eq!(got.len(), 1, "{name}.{ext}");
            let want = array(&case["output"]);
            let got = &got[0].1;
            assert_eq!(got.shape(), want.shape(), "{name}.{ext}");
            for (g, w) in got.iter().zip(want.iter()) {
                assert!((g - w).abs() <= 1e-5, "{name}.{ext}: {g} vs Keras {w}\n{}", imported.source);
            }
        }
    }
}

#[test]
fn both_formats_import_to_the_same_model() {
    for name in MODELS {
        let a = import_file(&fixture(&format!("{name}.keras"))).unwrap();
        let b = import_file(&fixture(&format!("{name}.h5"))).unwrap();
        let body = |s: &str| s.lines().skip(1).collect::<Vec<_>>().join("\n");
        assert_eq!(body(&a.source), body(&b.source), "{name}");
        assert_eq!(a.weights, b.weights, "{name}");
    }
}

#[test]
fn imported_summary_equals_keras_summary_row_by_row() {
    for name in SUMMARY_MODELS {
        let imported = import_file(&fixture(&format!("{name}.keras"))).unwrap();
        let (model, _dir) = load(&imported);
        let keras = std::fs::read_to_string(fixture(&format!("{name}.summary"))).unwrap();
        let ours = model.summary();
        let keras: Vec<&str> = keras.lines().collect();
        for (i, (want, got)) in keras.iter().zip(ours.lines()).enumerate() {
            assert_eq!(got, *want, "{name}: line {}:\n{ours}", i + 1);
        }
        assert_eq!(ours.lines().count(), keras.len(), "{name}:\n{ours}");
    }
}

#[test]
fn generated_text_is_idiomatic_nn() {
    let mlp = import_file(&fixture("mlp.keras")).unwrap();
    let want = "model mlp {
    input features: [8]
    dense(16, activation = relu, kernel_regularizer = l2(0.001))
    dropout(0.2)
    dense(3, activation = softmax)
    train {
        optimizer = adam
        loss = sparse_categorical_crossentropy
        metrics = [accuracy]
    }
}
";
    assert!(mlp.source.ends_with(want), "{}", mlp.source);
    let two = import_file(&fixture("two_inputs.keras")).unwrap();
    assert!(two.source.contains("dense_layer = dense(5, activation = tanh)  // shared by 2 calls"), "{}", two.source);
    assert!(two.source.contains("optimizer = rmsprop\n"), "{}", two.source);
    let cnn = import_file(&fixture("cnn.keras")).unwrap();
    assert!(cnn.source.contains("average_pooling2d(strides = 1)"), "{}", cnn.source);
    assert!(cnn.source.contains("loss = sparse_categorical_crossentropy(from_logits = true)"), "{}", cnn.source);
    assert!(cnn.source.contains("optimizer = sgd(momentum = 0.9)"), "{}", cnn.source);
}

#[test]
fn imported_model_fine_tunes() {
    let imported = import_file(&fixture("mlp.keras")).unwrap();
    let (mut model, _dir) = load(&imported);
    model.compile(Default::default()).unwrap();
    let n = 32;
    let x: Vec<f32> = (0..n * 8).map(|i| ((i * 37 % 17) as f32 - 8.0) / 4.0).collect();
    let y: Vec<i32> = (0..n).map(|i| (i % 3) as i32).collect();
    let before = model.get_weight("dense/kernel").unwrap();
    let opts = FitOptions { epochs: 2, batch_size: 8, verbose: 0, ..FitOptions::default() };
    let x = Features::F32(ArrayD::from_shape_vec(IxDyn(&[n, 8]), x).unwrap());
    let history = model.fit(&x, &Targets::Classes(ndarray::Array1::from(y)), &opts).unwrap();
    let losses = history.get("loss").unwrap();
    assert_eq!(losses.len(), 2);
    assert!(losses.iter().all(|l| l.is_finite()));
    assert_ne!(model.get_weight("dense/kernel").unwrap(), before, "fit must change the imported weights");
}

#[test]
fn sequence_layers_import_as_idiomatic_nn() {
    let text = import_file(&fixture("text.keras")).unwrap().source;
    let want = "model text {
    input ids: [20] int
    embedding(50, 8, mask_zero = true)
    conv1d(6, 3, padding = same, activation = relu)
    max_pooling1d
    bidirectional(lstm(5, return_sequences = true))
    gru(4)
    dense(1, activation = sigmoid)
";
    assert!(text.contains(want), "{text}");
    let masked = import_file(&fixture("masked.h5")).unwrap().source;
    for line in [
        "bidirectional(simple_rnn(4, return_sequences = true), merge_mode = ave)",
        "gru(3, reset_after = false, return_sequences = true, go_backwards = true)",
        "time_distributed(dense(4, activation = relu))",
        "global_average_pooling1d",
    ] {
        assert!(masked.contains(line), "{line}\n{masked}");
    }
    let merge = import_file(&fixture("seq_merge.keras")).unwrap().source;
    for line in [
        "time_distributed_out = time_distributed(dense(5, activation = tanh))(embedding_out)",
        "multiply_out = multiply(simple_rnn_out, time_distributed_out)",
        "subtract_out = subtract(simple_rnn_out, time_distributed_out)",
        "average_out = average(multiply_out, subtract_out, simple_rnn_out)",
        "maximum_out = maximum([simple_rnn_out, time_distributed_out])",
        "minimum_out = minimum([multiply_out, subtract_out])",
        "dot_out = dot(global_average_pooling1d_out, global_max_pooling1d_out, axes = 1)",
    ] {
        assert!(merge.contains(line), "{line}\n{merge}");
    }
    let conv = import_file(&fixture("conv_seq.keras")).unwrap().source;
    for line in [
        "conv1d(6, 3, padding = causal, dilation_rate = 2, activation = relu)",
        "average_pooling1d(pool_size = 3, padding = same, strides = 2)",
        "conv1d(4, 2, strides = 2, use_bias = false)",
        "global_max_pooling2d",
    ] {
        assert!(conv.contains(line), "{line}\n{conv}");
    }
    let functional = import_file(&fixture("masked_functional.keras")).unwrap().source;
    assert!(!functional.contains("not_equal"), "{functional}");
}
