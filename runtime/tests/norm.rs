//! Normalization layers in the runtime: `adapt` against Keras's adapted
//! statistics (`compiler/tests/keras/norm.json`), fit adapting automatically
//! to the training rows only, the error for an unadapted model, statistics
//! in the weights file, batch normalization's moving statistics moved by
//! training and left alone by evaluate and predict, and Keras's summaries.

use ndarray::{Array1, ArrayD, IxDyn};
use nn_runtime::data::{Features, Targets};
use nn_runtime::{CompileOptions, FitOptions, Model, ValidationData};

fn fixture_case(name: &str) -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../compiler/tests/keras/norm.json");
    let fx: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    fx["cases"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone()
}

fn array(j: &serde_json::Value) -> ArrayD<f32> {
    let shape: Vec<usize> = j["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
    let data: Vec<f32> = j["data"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap()
}

fn close(what: &str, got: &[f32], want: &[f32], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        let err = (*a as f64 - *b as f64).abs() / (*b as f64).abs().max(1.0);
        assert!(err <= tol, "{what}[{i}]: {a} vs Keras {b} (error {err:e})");
    }
}

fn weight(model: &Model, name: &str) -> Vec<f32> {
    model.weights().get(name).unwrap_or_else(|| panic!("no weight {name}")).data.clone()
}

#[test]
fn adapt_matches_keras() {
    let c = fixture_case("normalization");
    let mut model = Model::from_source(c["source"].as_str().unwrap(), None).unwrap();
    let data = array(&c["adapt"]);
    model.adapt(&Features::F32(data.clone())).unwrap();
    close(
        "mean",
        &weight(&model, "normalization/mean"),
        &array(&c["weights"]["normalization/mean"]).into_raw_vec_and_offset().0,
        1e-6,
    );
    close(
        "variance",
        &weight(&model, "normalization/variance"),
        &array(&c["weights"]["normalization/variance"]).into_raw_vec_and_offset().0,
        1e-6,
    );
    assert_eq!(weight(&model, "normalization/count"), [40.0], "count holds the samples adapted to");
    let y = model.predict(&Features::F32(array(&c["input"])), 32).unwrap();
    close("output", y.as_slice().unwrap(), array(&c["infer"]).as_slice().unwrap(), 1e-6);

    // Batching does not change the statistics: adapting in pieces of the
    // probe batch gives the same result as one pass (here: the data twice
    // over gives the same mean and variance).
    let twice = ndarray::concatenate(ndarray::Axis(0), &[data.view(), data.view()]).unwrap();
    let mut again = Model::from_source(c["source"].as_str().unwrap(), None).unwrap();
    again.adapt(&Features::F32(twice)).unwrap();
    close("mean (twice)", &weight(&again, "normalization/mean"), &weight(&model, "normalization/mean"), 1e-6);
    close(
        "variance (twice)",
        &weight(&again, "normalization/variance"),
        &weight(&model, "normalization/variance"),
        1e-6,
    );
}

#[test]
fn a_normalization_after_other_layers_adapts_to_what_it_receives() {
    // Per channel of [2, 2] images: the statistics over samples and height,
    // of the rescaled values.
    let src = "model m { input x: [2, 2] rescaling(2, offset = 1) normalization(axis = 1) }";
    let mut model = Model::from_source(src, None).unwrap();
    let x: Vec<f32> = (0..12).map(|i| (i * i % 7) as f32).collect();
    model.adapt(&Features::F32(ArrayD::from_shape_vec(IxDyn(&[3, 2, 2]), x.clone()).unwrap())).unwrap();
    let mut want_mean = [0.0f64; 2];
    let mut want_var = [0.0f64; 2];
    for axis1 in 0..2 {
        let vals: Vec<f64> = (0..3)
            .flat_map(|n| (0..2).map(move |w| (n, w)))
            .map(|(n, w)| 2.0 * x[n * 4 + axis1 * 2 + w] as f64 + 1.0)
            .collect();
        let m = vals.iter().sum::<f64>() / 6.0;
        want_mean[axis1] = m;
        want_var[axis1] = vals.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / 6.0;
    }
    let f = |a: [f64; 2]| a.map(|v| v as f32);
    close("mean", &weight(&model, "normalization/mean"), &f(want_mean), 1e-6);
    close("variance", &weight(&model, "normalization/variance"), &f(want_var), 1e-6);
    assert_eq!(weight(&model, "normalization/count"), [3.0]);
}

const REGRESSION: &str = "
model reg {
    input x: [3]
    normalization
    dense(4, activation = relu)
    dense(1)
    train { loss = mse, optimizer = sgd(learning_rate = 0.01) }
}";

fn regression_data(n: usize) -> (Features, Targets) {
    let x: Vec<f32> = (0..n * 3).map(|i| ((i * 37 % 101) as f32) * 0.5 + (i % 3) as f32 * 10.0).collect();
    let y: Vec<f32> = (0..n).map(|i| x[3 * i] * 0.1 - x[3 * i + 2] * 0.05).collect();
    (
        Features::F32(ArrayD::from_shape_vec(IxDyn(&[n, 3]), x).unwrap()),
        Targets::Dense(ArrayD::from_shape_vec(IxDyn(&[n, 1]), y).unwrap()),
    )
}

#[test]
fn unadapted_normalization_cannot_predict() {
    let mut model = Model::from_source(REGRESSION, None).unwrap();
    let (x, _) = regression_data(4);
    let err = model.predict(&x, 4).unwrap_err().to_string();
    assert!(err.contains("normalization layer `normalization`") && err.contains("never adapted"), "{err}");
    assert!(err.contains("Model::adapt"), "{err}");
}

#[test]
fn adapting_to_no_samples_is_an_error() {
    let mut model = Model::from_source(REGRESSION, None).unwrap();
    let empty = Features::F32(ArrayD::zeros(IxDyn(&[0, 3])));
    let err = model.adapt(&empty).unwrap_err().to_string();
    assert!(err.contains("empty") && err.contains("`normalization`"), "{err}");
}

#[test]
fn fit_adapts_to_the_training_rows_once() {
    let (x, y) = regression_data(40);
    let mut model = Model::from_source(REGRESSION, None).unwrap();
    model.compile(CompileOptions::default()).unwrap();
    let opts = FitOptions { epochs: 1, verbose: 0, validation: ValidationData::Split(0.25), ..FitOptions::default() };
    model.fit(&x, &y, &opts).unwrap();
    // Keras's validation split takes the last 25%: 30 rows are trained on.
    assert_eq!(weight(&model, "normalization/count"), [30.0]);
    let Features::F32(all) = &x else { unreachable!() };
    let first: Vec<f32> = all.iter().take(90).copied().collect();
    let mean0 = (0..30).map(|i| first[3 * i] as f64).sum::<f64>() / 30.0;
    close("mean of the training rows", &weight(&model, "normalization/mean")[..1], &[mean0 as f32], 1e-6);

    // A second fit keeps the statistics (they are not trained, and the layer is adapted).
    let before = weight(&model, "normalization/mean");
    let opts = FitOptions { epochs: 1, verbose: 0, ..FitOptions::default() };
    model.fit(&x, &y, &opts).unwrap();
    assert_eq!(weight(&model, "normalization/mean"), before);
    assert_eq!(weight(&model, "normalization/count"), [30.0]);

    // The statistics travel with the weights file.
    let dir = std::env::temp_dir().join(format!("nn-norm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("reg.safetensors");
    model.save_weights(&path).unwrap();
    let mut loaded = Model::from_source(REGRESSION, None).unwrap();
    loaded.load_weights(&path).unwrap();
    assert_eq!(weight(&loaded, "normalization/variance"), weight(&model, "normalization/variance"));
    assert_eq!(loaded.predict(&x, 8).unwrap(), model.predict(&x, 8).unwrap());
    std::fs::remove_dir_all(&dir).ok();
}

const BN: &str = "
model bn {
    input x: [4, 4, 2]
    conv2d(3, 3)
    batch_normalization(momentum = 0.5)
    activation(relu)
    flatten
    dense(2, activation = softmax)
    train { loss = sparse_categorical_crossentropy, optimizer = adam }
}";

#[test]
fn batch_normalization_statistics_move_in_training_only() {
    let n = 16;
    let x = Features::F32(ArrayD::from_shape_fn(IxDyn(&[n, 4, 4, 2]), |i| {
        ((i[0] * 7 + i[1] * 3 + i[2] * 5 + i[3]) % 11) as f32 * 0.4 + 2.0
    }));
    let y = Targets::Classes(Array1::from_iter((0..n).map(|i| (i % 2) as i32)));
    let mut model = Model::from_source(BN, None).unwrap();
    model.compile(CompileOptions::default()).unwrap();
    assert_eq!(weight(&model, "batch_normalization/moving_mean"), [0.0; 3]);
    assert_eq!(weight(&model, "batch_normalization/moving_variance"), [1.0; 3]);
    let prediction = model.predict(&x, 8).unwrap();
    model.evaluate(&x, &y, 8).unwrap();
    assert_eq!(weight(&model, "batch_normalization/moving_mean"), [0.0; 3], "evaluate and predict update nothing");
    assert_eq!(model.predict(&x, 8).unwrap(), prediction);

    let opts = FitOptions { epochs: 1, batch_size: 8, verbose: 0, shuffle: false, ..FitOptions::default() };
    model.fit(&x, &y, &opts).unwrap();
    let mean = weight(&model, "batch_normalization/moving_mean");
    let var = weight(&model, "batch_normalization/moving_variance");
    assert!(mean.iter().all(|m| *m != 0.0), "two steps moved the moving mean: {mean:?}");
    assert!(var.iter().all(|v| *v != 1.0 && *v > 0.0), "two steps moved the moving variance: {var:?}");
    model.evaluate(&x, &y, 8).unwrap();
    model.predict(&x, 8).unwrap();
    assert_eq!(weight(&model, "batch_normalization/moving_mean"), mean);
    assert_eq!(weight(&model, "batch_normalization/moving_variance"), var);
}

fn summary_golden(file: &str) -> String {
    let path = format!("{}/tests/keras/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn cnn_with_batch_normalization_summary_matches_keras() {
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/fashion_cnn_bn.nn")).unwrap();
    let model = Model::from_source(&source, None).unwrap();
    let want = summary_golden("fashion_cnn_bn.summary");
    assert_eq!(model.summary(), want, "\n{}", model.summary());
}

#[test]
fn normalization_layers_summary_matches_keras() {
    let source = "model norms {
        input x: [4, 6]
        rescaling(0.5, offset = 1.0)
        normalization
        layer_normalization
        group_normalization(groups = 3)
        unit_normalization
    }";
    let model = Model::from_source(source, None).unwrap();
    let want = summary_golden("norms.summary");
    assert_eq!(model.summary(), want, "\n{}", model.summary());
}
