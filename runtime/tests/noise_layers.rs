//! Noise and activation layers through `fit`/`evaluate`/`predict` on every
//! engine: the model learns, training draws are replayed by seed, and
//! inference is deterministic (the noise layers are the identity there).

mod common;

use common::*;
use nn_runtime::FitOptions;

fn noisy_source(optimizer: &str) -> String {
    format!(
        "model noisy_blobs {{
            input x: [2]
            gaussian_noise(0.1)
            dense(16)
            prelu
            gaussian_dropout(0.2)
            dense(16)
            leaky_relu
            alpha_dropout(0.1)
            dense(2, activation = softmax)
            train {{
                optimizer = {optimizer}
                loss = sparse_categorical_crossentropy
                metrics = [accuracy]
            }}
        }}"
    )
}

fn quiet(epochs: usize, batch_size: usize) -> FitOptions {
    FitOptions { epochs, batch_size, verbose: 0, ..FitOptions::default() }
}

#[test]
fn noisy_model_learns_and_predicts_deterministically_on_every_engine() {
    let (x, y) = blobs(200, 4);
    let mut trained = Vec::new();
    for engine in engines() {
        let name = engine.name();
        let mut model = compiled_on(&noisy_source("adam(learning_rate = 0.01)"), 5, engine);
        let history = model.fit(&x, &y, &quiet(8, 16)).unwrap();
        let acc = model.evaluate(&x, &y, 64).unwrap()["accuracy"];
        assert!(acc >= 0.95, "{name}: accuracy {acc}, history {:?}", history.history);
        let p1 = model.predict(&x, 64).unwrap();
        let p2 = model.predict(&x, 7).unwrap();
        assert_eq!(p1, p2, "{name}: inference draws no noise");
        let alpha = model.get_weight("p_re_lu/alpha").unwrap();
        assert!(alpha.iter().any(|a| *a != 0.0), "{name}: PReLU's slope (initially 0) is trained");
        trained.push(weights(&model));
    }
    // The interpreter and the JIT draw the same noise, so they train alike
    // (up to f32 rounding of the arithmetic).
    for ((name, a), (_, b)) in trained[0].iter().zip(&trained[1]) {
        for (u, v) in a.iter().zip(b) {
            assert!((u - v).abs() <= 1e-3 * (1.0 + u.abs()), "{name}: interpreter {u}, jit {v}");
        }
    }
}

#[test]
fn same_seed_replays_the_noise() {
    let (x, y) = blobs(40, 6);
    let run = |seed| {
        let mut model = compiled_on(&noisy_source("sgd(learning_rate = 0.05)"), seed, engines().pop().unwrap());
        let history = model.fit(&x, &y, &quiet(2, 8)).unwrap();
        (history, weights(&model))
    };
    let (h1, w1) = run(21);
    let (h2, w2) = run(21);
    assert_eq!(h1, h2);
    assert_eq!(w1, w2);
}
