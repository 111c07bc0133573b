//! Recurrent models through `fit`/`evaluate`/`predict` on the default
//! engine, which compiles their loops (no fallback to the interpreter), and
//! learn. Every recurrent layer on the JIT predicts and takes a training
//! step like the interpreter. Keras's initial weights: orthogonal recurrent
//! kernels and the LSTM's forget-gate bias of ones.

mod common;

use common::*;
use nn_runtime::data::{Features, Targets};
use nn_runtime::{CompileOptions, FitOptions, InterpEngine, JitEngine, Model};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

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

/// Sequences of word ids, padded with zeros at the end to random lengths
/// (at least one real step); the class is whether id 1 occurs.
fn padded_ids(n: usize, steps: usize, vocab: usize, seed: u64) -> (Features, Targets) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut x = vec![0.0f32; n * steps];
    let mut y = Vec::with_capacity(n);
    for row in x.chunks_mut(steps) {
        let len = rng.random_range(1..=steps);
        for v in &mut row[..len] {
            *v = rng.random_range(1..vocab) as f32;
        }
        y.push(i32::from(row.contains(&1.0)));
    }
    (features(x, &[n, steps]), Targets::Classes(ndarray::Array1::from(y)))
}

fn assert_close(what: &str, a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (p, q)) in a.iter().zip(b).enumerate() {
        assert!((p - q).abs() <= 1e-5 * p.abs().max(1.0), "{what}[{i}]: interpreter {p}, jit {q}");
    }
}

/// Every recurrent layer (both GRU variants, directions, sequences out,
/// dropout, bidirectional merges, masks from `mask_zero`) predicts on the
/// JIT what it predicts in the interpreter, and one SGD step moves every
/// weight the same way.
#[test]
fn every_recurrent_layer_matches_the_interpreter_on_the_jit() {
    let train = "train { optimizer = sgd(learning_rate = 0.5) loss = sparse_categorical_crossentropy }";
    let mut cases: Vec<(String, Features, Targets)> = Vec::new();
    let (x, y) = sums(48, 5);
    for layer in [
        "lstm(8)",
        "lstm(6, return_sequences = true) flatten",
        "gru(8)",
        "gru(8, reset_after = false)",
        "simple_rnn(6)",
        "gru(5, go_backwards = true, return_sequences = true) flatten",
        "lstm(5, go_backwards = true)",
        "lstm(6, dropout = 0.2, recurrent_dropout = 0.3)",
        "bidirectional(lstm(4))",
        "bidirectional(gru(4, return_sequences = true), merge_mode = ave) flatten",
        "bidirectional(simple_rnn(3, go_backwards = true), merge_mode = sum)",
    ] {
        let src = format!("model r {{ input x: [{STEPS}, 1] {layer} dense(2, activation = softmax) {train} }}");
        cases.push((src, x.clone(), y.clone()));
    }
    let (ids, labels) = padded_ids(48, 10, 12, 6);
    for layer in [
        "lstm(6)",
        "gru(5, return_sequences = true) global_average_pooling1d",
        "bidirectional(gru(4, reset_after = false))",
        "simple_rnn(4, go_backwards = true)",
    ] {
        let src = format!(
            "model r {{ input ids: [10] int embedding(12, 4, mask_zero = true) {layer} dense(2, activation = softmax) {train} }}"
        );
        cases.push((src, ids.clone(), labels.clone()));
    }
    for (src, x, y) in &cases {
        let mut interp = compiled_on(src, 7, Arc::new(InterpEngine));
        let mut jit = compiled_on(src, 7, Arc::new(JitEngine::default()));
        let (p, q) = (interp.predict(x, 16).unwrap(), jit.predict(x, 16).unwrap());
        assert_close(&format!("{src}: predictions"), p.as_slice().unwrap(), q.as_slice().unwrap());
        interp.train_on_batch(x, y).unwrap();
        jit.train_on_batch(x, y).unwrap();
        for ((name, a), (_, b)) in weights(&interp).iter().zip(weights(&jit)) {
            assert_close(&format!("{src}: {name} after one step"), a, &b);
        }
        assert!(jit.backends().iter().all(|(_, b)| *b == "jit"), "{src}: {:?}", jit.backends());
    }
}

/// The default engine compiles an LSTM model's graphs (training step,
/// evaluation, inference) instead of falling back to the interpreter.
#[test]
fn an_lstm_model_runs_on_the_jit_by_default() {
    let (x, y) = sums(64, 8);
    let mut model = compiled(&source("lstm(8)"), 2);
    model.set_engine(Arc::new(nn_runtime::AutoEngine::default()));
    let opts = FitOptions { epochs: 1, batch_size: 16, verbose: 0, ..FitOptions::default() };
    model.fit(&x, &y, &opts).unwrap();
    model.evaluate(&x, &y, 32).unwrap();
    model.predict(&x, 32).unwrap();
    let backends = model.backends();
    let kinds: Vec<&str> = backends.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["evaluate", "predict", "train_step"], "{backends:?}");
    assert!(backends.iter().all(|(_, b)| *b == "jit"), "{backends:?}");
    // The query tells the engines apart.
    model.set_engine(Arc::new(InterpEngine));
    model.predict(&x, 32).unwrap();
    assert_eq!(model.backends(), [("predict".to_string(), "interp")]);
}

/// One epoch of an IMDB-sized LSTM (embedding 10000×32, lstm(32), dense 1
/// sigmoid; 2,048 sequences of 200 ids, batch 128, RMSprop) on each engine,
/// timed and printed; no assertion on time. Run with `--ignored --nocapture`.
#[test]
#[ignore = "a measurement: prints one epoch's time on each engine"]
fn imdb_sized_lstm_epoch_on_each_engine() {
    let (n, steps) = (2048, 200);
    let mut rng = StdRng::seed_from_u64(11);
    let ids: Vec<f32> = (0..n * steps).map(|_| rng.random_range(1..10000) as f32).collect();
    let labels: Vec<f32> = (0..n).map(|_| f32::from(rng.random_bool(0.5))).collect();
    let x = features(ids, &[n, steps]);
    let y = Targets::Dense(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[n, 1]), labels).unwrap());
    let src = "model imdb { input ids: [200] int embedding(10000, 32) lstm(32) dense(1, activation = sigmoid)
        train { optimizer = rmsprop loss = binary_crossentropy metrics = [accuracy] } }";
    let opts = FitOptions { epochs: 1, batch_size: 128, verbose: 0, ..FitOptions::default() };
    let mut results = Vec::new();
    for (name, engine) in [
        ("interpreter", Arc::new(InterpEngine) as Arc<dyn nn_runtime::Engine>),
        ("jit", Arc::new(JitEngine::default())),
    ] {
        let mut model = compiled_on(src, 3, engine);
        let started = std::time::Instant::now();
        let history = model.fit(&x, &y, &opts).unwrap();
        let took = started.elapsed();
        println!("{name}: one epoch of {n} sequences in {took:.2?}, loss {:?}", history.get("loss").unwrap());
        results.push((name, took, weights(&model)));
    }
    let speedup = results[0].1.as_secs_f64() / results[1].1.as_secs_f64();
    println!("jit speedup: {speedup:.1}x");
    for ((name, a), (_, b)) in results[0].2.iter().zip(&results[1].2) {
        let worst = a.iter().zip(b).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
        println!("{name}: largest weight difference after the epoch {worst:e}");
    }
}

/// Digits 1..=DIGITS reversed by an encoder-decoder (Keras's seq2seq
/// tutorial): the encoder's final states start the decoder, which reads the
/// reversed sequence shifted right behind a start token (teacher forcing)
/// and predicts each reversed digit.
const DIGITS: usize = 6;
const LEN: usize = 4;
const SEQ2SEQ: &str = "model reverse {
    input enc_in: [4] int
    input dec_in: [4] int
    enc = embedding(8, 8)(enc_in)
    dec = embedding(8, 8)(dec_in)
    _, h, c = lstm(32, return_state = true)(enc)
    seq = lstm(32, return_sequences = true)(dec, initial_state = [h, c])
    probs = time_distributed(dense(8, activation = softmax))(seq)
    output probs
    train {
        optimizer = adam(learning_rate = 0.02)
        loss = categorical_crossentropy
        metrics = [accuracy]
    }
}";

fn reversals(n: usize, seed: u64) -> (nn_runtime::Inputs, nn_runtime::TargetSet) {
    let start = (DIGITS + 1) as f32;
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut enc, mut dec, mut onehot) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let digits: Vec<usize> = (0..LEN).map(|_| rng.random_range(1..=DIGITS)).collect();
        let reversed: Vec<usize> = digits.iter().rev().copied().collect();
        enc.extend(digits.iter().map(|&d| d as f32));
        dec.push(start);
        dec.extend(reversed[..LEN - 1].iter().map(|&d| d as f32));
        for &d in &reversed {
            onehot.extend((0..DIGITS + 2).map(|k| if k == d { 1.0 } else { 0.0 }));
        }
    }
    let arr = |shape: &[usize], data| ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), data).unwrap();
    (
        nn_runtime::Inputs::new().with("enc_in", arr(&[n, LEN], enc)).with("dec_in", arr(&[n, LEN], dec)),
        nn_runtime::TargetSet::new().with("probs", arr(&[n, LEN, DIGITS + 2], onehot)),
    )
}

#[test]
fn encoder_decoder_learns_to_reverse() {
    let (x, y) = reversals(1200, 1);
    let (vx, vy) = reversals(200, 2);
    let mut model = Model::from_source_seeded(SEQ2SEQ, None, 4).unwrap();
    model.set_engine(Arc::new(nn_runtime::AutoEngine::default()));
    model.compile(CompileOptions::default()).unwrap();
    let before = model.evaluate_named(&vx, &vy, 64).unwrap()["accuracy"];
    let opts = FitOptions { epochs: 25, batch_size: 32, verbose: 0, ..FitOptions::default() };
    model.fit_named(&x, &y, &opts).unwrap();
    let after = model.evaluate_named(&vx, &vy, 64).unwrap()["accuracy"];
    assert!(before < 0.4, "chance is 1/{DIGITS}: {before}");
    assert!(after >= 0.9, "reversal accuracy {after} (from {before})");
}
