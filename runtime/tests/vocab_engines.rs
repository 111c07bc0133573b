//! The JIT runs the new losses, optimizers (with weight decay and clipping)
//! and stateful metrics like the reference interpreter: the same model
//! trained for two epochs on each engine ends with the same weights and
//! History (within f32 summation-order noise).

mod common;

use common::{compiled_on, weights};
use ndarray::{ArrayD, IxDyn};
use nn_runtime::data::{Features, Targets};
use nn_runtime::{FitOptions, InterpEngine, JitEngine};
use std::sync::Arc;

fn task(n: usize) -> (Features, Targets) {
    let xs: Vec<f32> = (0..n * 3).map(|i| ((i * 53 % 29) as f32 / 14.0) - 1.0).collect();
    let ys: Vec<f32> = (0..n).map(|i| f32::from(xs[3 * i] - xs[3 * i + 2] > 0.1)).collect();
    (
        Features::F32(ArrayD::from_shape_vec(IxDyn(&[n, 3]), xs).unwrap()),
        Targets::Dense(ArrayD::from_shape_vec(IxDyn(&[n, 1]), ys).unwrap()),
    )
}

#[test]
fn jit_matches_interpreter_on_the_new_vocabulary() {
    let configs = [
        ("huber(delta = 0.5)", "nadam(learning_rate = 0.01, clipnorm = 0.5)"),
        ("log_cosh", "adamw(learning_rate = 0.01, global_clipnorm = 1.0)"),
        (
            "binary_focal_crossentropy(apply_class_balancing = true, label_smoothing = 0.1)",
            "lion(learning_rate = 0.001)",
        ),
        ("squared_hinge", "adamax(learning_rate = 0.01, clipvalue = 0.05)"),
        ("binary_crossentropy(label_smoothing = 0.2)", "sgd(learning_rate = 0.1, momentum = 0.9, weight_decay = 0.01)"),
        ("poisson", "adam(learning_rate = 0.01, weight_decay = 0.004)"),
        ("msle", "rmsprop(learning_rate = 0.01)"),
    ];
    let (x, y) = task(50);
    for (loss, optimizer) in configs {
        let src = format!(
            "model m {{ input x: [3] dense(4, activation = tanh) dense(1, activation = sigmoid)
               train {{ loss = {loss} optimizer = {optimizer} metrics = [auc, precision, root_mean_squared_error] }} }}"
        );
        let opts = || FitOptions { epochs: 2, batch_size: 8, shuffle: false, verbose: 0, ..FitOptions::default() };
        let mut interp = compiled_on(&src, 5, Arc::new(InterpEngine));
        let mut jit = compiled_on(&src, 5, Arc::new(JitEngine::default()));
        let h1 = interp.fit(&x, &y, &opts()).unwrap();
        let h2 = jit.fit(&x, &y, &opts()).unwrap();
        for ((name, a), (_, b)) in weights(&interp).iter().zip(weights(&jit)) {
            for (p, q) in a.iter().zip(&b) {
                assert!((p - q).abs() <= 1e-4 * p.abs().max(1.0), "{loss} / {optimizer}: {name} {p} vs {q}");
            }
        }
        for key in ["loss", "auc", "precision", "root_mean_squared_error"] {
            let (a, b) = (h1.get(key).unwrap(), h2.get(key).unwrap());
            for (p, q) in a.iter().zip(b) {
                assert!((p - q).abs() <= 1e-4 * p.abs().max(1.0), "{loss} / {optimizer}: {key} {p} vs {q}");
            }
        }
    }
}
