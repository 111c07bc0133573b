//! End to end on the embedded datasets: iris (softmax regression with SGD)
//! and digits (an MLP on u8 pixels, converted per batch).

use nn_runtime::data;
use nn_runtime::{confusion_matrix, predicted_classes, CompileOptions, FitOptions, Model, ValidationData};

const IRIS: &str = r#"
model iris {
    input x: [4]
    dense(3, activation = softmax)
    train {
        optimizer = sgd(learning_rate = 0.1)
        loss = sparse_categorical_crossentropy
        metrics = [accuracy]
    }
}
"#;

#[test]
fn iris_softmax_regression_reaches_ninety_percent() {
    let ds = data::load("iris", None).unwrap();
    let mut model = Model::from_source_seeded(IRIS, None, 7).unwrap();
    model.compile(CompileOptions::default()).unwrap();
    let opts = FitOptions {
        epochs: 100,
        batch_size: 16,
        verbose: 0,
        validation: ValidationData::Split(0.2),
        ..FitOptions::default()
    };
    let history = model.fit(&ds.train.x, &ds.train.y, &opts).unwrap();
    let val_acc = history.last("val_accuracy").unwrap();
    assert!(val_acc >= 0.9, "val accuracy {val_acc}");

    let test = ds.test.unwrap();
    let pred = predicted_classes(&model.predict(&test.x, 32).unwrap()).unwrap();
    let nn_runtime::data::Targets::Classes(truth) = &test.y else { unreachable!() };
    let m = confusion_matrix(truth.as_slice().unwrap(), &pred, 3).unwrap();
    assert_eq!(m.sum() as usize, test.x.len());
    let acc = (0..3).map(|i| m[[i, i]]).sum::<u64>() as f64 / test.x.len() as f64;
    // The graph averages in f32.
    let eval = model.evaluate(&test.x, &test.y, 32).unwrap();
    assert!((acc - eval["accuracy"]).abs() < 1e-6, "confusion diagonal {acc} vs evaluate {}", eval["accuracy"]);
}

const DIGITS: &str = r#"
model digits_mlp {
    input pixels: [64]
    dense(32, activation = relu)
    dense(10, activation = softmax)
    train {
        optimizer = adam(learning_rate = 0.01)
        loss = sparse_categorical_crossentropy
        metrics = [accuracy]
    }
}
"#;

#[test]
fn digits_mlp_on_u8_pixels() {
    let ds = data::load("digits", None).unwrap();
    assert!(matches!(ds.train.x, nn_runtime::data::Features::U8 { .. }), "digits stay u8 in memory");
    let mut model = Model::from_source_seeded(DIGITS, None, 3).unwrap();
    model.compile(CompileOptions::default()).unwrap();
    let opts = FitOptions { epochs: 5, batch_size: 32, verbose: 0, ..FitOptions::default() };
    model.fit(&ds.train.x, &ds.train.y, &opts).unwrap();
    let test = ds.test.unwrap();
    let acc = model.evaluate(&test.x, &test.y, 128).unwrap()["accuracy"];
    assert!(acc >= 0.9, "test accuracy {acc}");
}
