//! A recurrent model through `fit`/`evaluate`/`predict` on the default
//! engine: the JIT does not compile loops yet, so the default engine runs the
//! graphs in the interpreter, and the model learns. Keras's initial weights:
//! orthogonal recurrent kernels and the LSTM's forget-gate bias of ones.

mod common;

use common::*;
use nn_runtime::data::Targets;
use nn_runtime::{CompileOptions, FitOptions, Model};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const STEPS: usize = 8;

/// Sequences of one feature; the class is whether their sum is positive.
fn sums(n: usize, seed: u64) -> (nn_runtime::data::Features, Targets) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut x = Vec::with_capacity(n * STEPS);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let seq: Vec<f32> = (0..STEPS).map(|_| rng.random_range(-1.0..1.0)).collect();
        y.push(i32::from(seq.iter().sum::<f32>() > 0.0));
        x.extend(seq);
    }
    (features(x, &[n, STEPS, 1]), Targets::Classes(ndarray::Array1::from(y)))
}

fn source(layer: &str) -> String {
    format!(
        "model sums {{
            input x: [{STEPS}, 1]
            {layer}
            dense(2, activation = softmax)
            train {{
                optimizer = adam(learning_rate = 0.02)
                loss = sparse_categorical_crossentropy
                metrics = [accuracy]
            }}
        }}"
    )
}

#[test]
fn recurrent_models_learn_on_the_default_engine() {
    let (x, y) = sums(256, 1);
    let (xt, yt) = sums(128, 2);
    for layer in ["lstm(8)", "gru(8, dropout = 0.1)", "bidirectional(simple_rnn(6))"] {
        let mut model = Model::from_source_seeded(&source(layer), None, 3).unwrap();
        model.compile(CompileOptions::default()).unwrap();
        let opts = FitOptions { epochs: 12, batch_size: 32, verbose: 0, ..FitOptions::default() };
        let history = model.fit(&x, &y, &opts).unwrap();
        let acc = model.evaluate(&xt, &yt, 64).unwrap()["accuracy"];
        assert!(acc >= 0.85, "{layer}: test accuracy {acc}, history {:?}", history.history);
        assert_eq!(model.predict(&xt, 64).unwrap(), model.predict(&xt, 5).unwrap(), "{layer}");
    }
}

#[test]
fn initial_weights_follow_keras() {
    let model = compiled(&source("lstm(8)"), 4);
    let u: Vec<f32> = model.get_weight("lstm/recurrent_kernel").unwrap().iter().copied().collect();
    assert_eq!(u.len(), 8 * 32);
    // [8, 32] is wide: its rows are orthonormal.
    for p in 0..8 {
        for q in 0..8 {
            let dot: f32 = (0..32).map(|j| u[p * 32 + j] * u[q * 32 + j]).sum();
            let want = if p == q { 1.0 } else { 0.0 };
            assert!((dot - want).abs() < 1e-4, "rows {p}, {q}: {dot}");
        }
    }
    let b: Vec<f32> = model.get_weight("lstm/bias").unwrap().iter().copied().collect();
    assert!(
        b[..8].iter().all(|v| *v == 0.0) && b[8..16].iter().all(|v| *v == 1.0) && b[16..].iter().all(|v| *v == 0.0)
    );
}
