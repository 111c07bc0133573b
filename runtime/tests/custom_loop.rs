//! The custom-loop API against `train_on_batch`.

mod common;

use common::*;
use nn_runtime::RuntimeError;

#[test]
fn compute_and_apply_gradients_equals_train_on_batch() {
    let (x, y) = blobs(16, 1);
    let src = blob_source("adam(learning_rate = 0.01)");
    for engine in engines() {
        let mut fit_model = compiled_on(&src, 4, engine.clone());
        let mut loop_model = compiled_on(&src, 4, engine.clone());
        for _ in 0..3 {
            let logs = fit_model.train_on_batch(&x, &y).unwrap();
            let (loss, grads) = loop_model.compute_gradients(&x, &y).unwrap();
            assert!((loss - logs["loss"]).abs() < 1e-6, "{loss} vs {}", logs["loss"]);
            let names: Vec<&str> = grads.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"]);
            loop_model.apply_gradients(&grads, 0.01).unwrap();
        }
        for ((name, a), (_, b)) in weights(&fit_model).iter().zip(weights(&loop_model)) {
            for (p, q) in a.iter().zip(&b) {
                assert!((p - q).abs() <= 1e-6 * (1.0 + p.abs()), "{name}: {p} vs {q}");
            }
        }
        assert_eq!(loop_model.iterations(), 3);
    }
}

#[test]
fn modified_gradients_are_what_gets_applied() {
    let (x, y) = blobs(8, 2);
    let mut model = compiled(&blob_source("sgd"), 1);
    let before = weights(&model);
    let (_, grads) = model.compute_gradients(&x, &y).unwrap();
    assert_eq!(weights(&model), before, "computing gradients changes nothing");
    let zeroed: Vec<_> = grads.iter().map(|(n, g)| (n.clone(), g.mapv(|_| 0.0))).collect();
    model.apply_gradients(&zeroed, 0.5).unwrap();
    assert_eq!(weights(&model), before);
    // Plain SGD: w -= lr * g.
    model.apply_gradients(&grads, 0.5).unwrap();
    let after = model.get_weight("dense_1/bias").unwrap();
    let g = &grads.iter().find(|(n, _)| n == "dense_1/bias").unwrap().1;
    let b0 = &before.iter().find(|(n, _)| n == "dense_1/bias").unwrap().1;
    for ((a, g), b) in after.iter().zip(g.iter()).zip(b0) {
        assert!((a - (b - 0.5 * g)).abs() < 1e-6);
    }
}

#[test]
fn apply_gradients_checks_names_and_shapes() {
    let (x, y) = blobs(8, 2);
    let mut model = compiled(&blob_source("sgd"), 1);
    let (_, mut grads) = model.compute_gradients(&x, &y).unwrap();
    let last = grads.pop().unwrap();
    let err = model.apply_gradients(&grads, 0.1).unwrap_err();
    assert!(err.to_string().contains(&last.0), "{err}");
    grads.push((last.0.clone(), ndarray::ArrayD::zeros(ndarray::IxDyn(&[3]))));
    let err = model.apply_gradients(&grads, 0.1).unwrap_err();
    assert!(matches!(err, RuntimeError::InvalidArgument(_)) && err.to_string().contains("shape"), "{err}");
}
