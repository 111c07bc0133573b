//! The seed tutorials, end to end: each runs the very `run` function of its
//! program in `examples/` (included here as a module) with a fixed seed and
//! asserts the result the tutorial reaches.
//!
//! Fashion-MNIST must be installed (`apt-get install dataset-fashion-mnist`);
//! without it those tests fail with the loader's instructions rather than
//! pass silently. IMDB and Reuters are too large to ship, so their tests
//! write small archives in Keras's format with a learnable signal and train
//! the real models on them through the real loader. Each test prints its
//! wall time (`--nocapture` shows it).

#[path = "tutorials/npz.rs"]
mod npz;
#[path = "tutorials/support.rs"]
mod support;

#[path = "../examples/boston.rs"]
mod boston;
#[path = "../examples/digits_mlp.rs"]
mod digits_mlp;
#[path = "../examples/fashion_mlp.rs"]
mod fashion_mlp;
#[path = "../examples/fashion_mlp_dropout.rs"]
mod fashion_mlp_dropout;
#[path = "../examples/imdb.rs"]
mod imdb;
#[path = "../examples/imdb_conv1d.rs"]
mod imdb_conv1d;
#[path = "../examples/iris.rs"]
mod iris;
#[path = "../examples/mlp6_custom_loop.rs"]
mod mlp6_custom_loop;
#[path = "../examples/mnist_logreg.rs"]
mod mnist_logreg;
#[path = "../examples/reuters.rs"]
mod reuters;

use std::path::Path;
use std::time::Instant;

use support::{Res, Settings};

/// Unwraps a tutorial's result, failing the test with the full message
/// (for a missing dataset: where it was searched and how to install it).
fn ok<T>(name: &str, result: Res<T>) -> T {
    result.unwrap_or_else(|e| panic!("tutorial `{name}` failed:\n{e}"))
}

/// Runs `f`, printing how long it took.
fn timed<T>(name: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    eprintln!("[tutorial {name}: {:.1}s]", start.elapsed().as_secs_f64());
    out
}

#[test]
fn fashion_mlp_reaches_088_test_accuracy() {
    let out = timed("fashion_mlp", || ok("fashion_mlp", fashion_mlp::run(&Settings::quiet(7))));
    assert_eq!(out.history.epochs.len(), 10, "the tutorial trains 10 epochs");
    eprintln!("fashion_mlp: test accuracy {:.4}, test loss {:.4}", out.test_accuracy, out.test_loss);
    assert!(out.test_accuracy >= 0.88, "test accuracy {:.4} < 0.88", out.test_accuracy);
}

#[test]
fn fashion_mlp_dropout_reaches_083_validation_accuracy() {
    let out = timed("fashion_mlp_dropout", || ok("fashion_mlp_dropout", fashion_mlp_dropout::run(&Settings::quiet(7))));
    eprintln!("fashion_mlp_dropout: val accuracy per epoch {:?}", out.history.get("val_accuracy"));
    assert_eq!(out.history.epochs.len(), 10, "the tutorial trains 10 epochs");
    assert!(out.val_accuracy >= 0.83, "validation accuracy {:.4} < 0.83", out.val_accuracy);
}

#[test]
fn mlp6_custom_loop_reaches_087_test_accuracy() {
    let out = timed("mlp6_custom_loop", || ok("mlp6_custom_loop", mlp6_custom_loop::run(&Settings::quiet(7))));
    eprintln!("mlp6_custom_loop: val accuracy per epoch {:?}, test {:.4}", out.val_accuracy, out.test_accuracy);
    assert_eq!(out.val_accuracy.len(), 20, "the tutorial trains 20 epochs");
    assert!(out.test_accuracy >= 0.87, "test accuracy {:.4} < 0.87", out.test_accuracy);
}

#[test]
fn mlp6_learning_rate_decays_linearly() {
    assert_eq!(mlp6_custom_loop::learning_rate(0, 20), 0.01);
    assert!((mlp6_custom_loop::learning_rate(10, 20) - 0.005).abs() < 1e-12);
    assert!((mlp6_custom_loop::learning_rate(19, 20) - 0.0005).abs() < 1e-12);
}

#[test]
fn iris_reaches_090_validation_accuracy() {
    let out = timed("iris", || ok("iris", iris::run(&Settings::quiet(7))));
    // The shuffle puts every species into the held-out rows.
    assert!(out.val_class_counts.iter().all(|&c| c > 0), "validation rows per class {:?}", out.val_class_counts);
    let val = out.history.get("val_accuracy").expect("validation ran");
    // validation_freq = 20: measured after epochs 20, 40, ..., 200 only.
    assert_eq!(val.iter().filter(|v| v.is_finite()).count(), 10, "{val:?}");
    eprintln!("iris: validation accuracy {:.4}", out.val_accuracy);
    assert!(out.val_accuracy >= 0.9, "validation accuracy {:.4} < 0.9", out.val_accuracy);
}

#[test]
fn boston_kfold_and_final_test_mae() {
    let out = timed("boston", || ok("boston", boston::run(&Settings::quiet(7))));
    let h = &out.average_mae_history;
    eprintln!(
        "boston: mean val MAE first {:.3}, min {:.3}, last {:.3}; test MAE {:.3}",
        h[0],
        h.iter().copied().fold(f64::INFINITY, f64::min),
        h[h.len() - 1],
        out.test_mae
    );
    assert_eq!(h.len(), 80, "boston.nn trains 80 epochs");
    // Seeds 1..=10 end at 2.11..2.36 k$ after starting at 3.6..4.3.
    assert!(h[h.len() - 1] < 2.75, "mean validation MAE after the last epoch {:.3} k$: {h:?}", h[h.len() - 1]);
    assert!(out.test_mae < BOSTON_TEST_MAE_BOUND, "test MAE {:.3} k$ >= {BOSTON_TEST_MAE_BOUND}", out.test_mae);
}

/// k$. The book reaches about 2.5–3; seeds 1..=10 give 2.26..2.96 here.
const BOSTON_TEST_MAE_BOUND: f64 = 3.5;

#[test]
fn logistic_regression_on_digits() {
    let out = timed("mnist_logreg", || ok("mnist_logreg", mnist_logreg::run(&Settings::quiet(7))));
    eprintln!("mnist_logreg on {}: test accuracy {:.4}", out.dataset, out.test_accuracy);
    // Digits: seeds 1..=10 give 0.944..0.956. MNIST (not measured here):
    // softmax regression reaches about 0.92 in 5 epochs.
    let floor = if out.dataset == "mnist" { 0.90 } else { 0.92 };
    assert!(out.test_accuracy >= floor, "{}: test accuracy {:.4} < {floor}", out.dataset, out.test_accuracy);
}

#[test]
fn digits_mlp_reaches_floor() {
    let out = timed("digits_mlp", || ok("digits_mlp", digits_mlp::run(&Settings::quiet(7))));
    eprintln!("digits_mlp on {}: val {:.4}, test {:.4}", out.dataset, out.val_accuracy, out.test_accuracy);
    let floor = if out.dataset == "mnist" { 0.95 } else { 0.93 };
    assert!(out.test_accuracy >= floor, "{}: test accuracy {:.4} < {floor}", out.dataset, out.test_accuracy);
}

/// A small deterministic generator for synthetic text (splitmix64).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

/// Word ids for documents of class `label`: `signal` ids drawn from the
/// class's own block of 50 ids, the rest from shared noise ids 1000..3000.
fn document(rng: &mut Rng, label: i64, signal: usize, noise: usize) -> Vec<i64> {
    let mut words: Vec<i64> = (0..signal).map(|_| 20 + label * 50 + rng.below(50) as i64).collect();
    words.extend((0..noise).map(|_| 1000 + rng.below(2000) as i64));
    // Interleave, so position says nothing (multi-hot ignores it anyway).
    for i in (1..words.len()).rev() {
        words.swap(i, rng.below(i as u64 + 1) as usize);
    }
    words
}

fn corpus(rng: &mut Rng, n: usize, classes: i64) -> (Vec<Vec<i64>>, Vec<i64>) {
    let labels: Vec<i64> = (0..n).map(|_| rng.below(classes as u64) as i64).collect();
    let docs = labels.iter().map(|&l| document(rng, l, 5, 25)).collect();
    (docs, labels)
}

fn write_imdb(path: &Path) {
    let mut rng = Rng(1);
    let (train, train_y) = corpus(&mut rng, 2000, 2);
    let (test, test_y) = corpus(&mut rng, 1000, 2);
    npz::write_npz(
        path,
        &[
            ("x_train", npz::sequences_npy(&train)),
            ("y_train", npz::labels_npy(&train_y)),
            ("x_test", npz::sequences_npy(&test)),
            ("y_test", npz::labels_npy(&test_y)),
        ],
    )
    .expect("writing the synthetic imdb.npz");
}

/// Topics used by the synthetic newswires (of Reuters's 46).
const REUTERS_TOPICS: i64 = 8;

fn write_reuters(path: &Path) {
    let mut rng = Rng(2);
    let (docs, labels) = corpus(&mut rng, 2500, REUTERS_TOPICS);
    npz::write_npz(path, &[("x", npz::sequences_npy(&docs)), ("y", npz::labels_npy(&labels))])
        .expect("writing the synthetic reuters.npz");
}

#[test]
fn imdb_learns_synthetic_sentiment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("imdb.npz");
    write_imdb(&path);
    let out = timed("imdb", || ok("imdb", imdb::run(&Settings::quiet(7), Some(&path))));
    eprintln!("imdb (synthetic): val {:.4}, test {:.4}", out.val_accuracy, out.test_accuracy);
    assert_eq!(out.history.epochs.len(), 20);
    assert!(out.test_accuracy >= 0.9, "test accuracy {:.4} on 2 balanced classes", out.test_accuracy);
}

/// The same archive read as word ids: Keras's `load_data(num_words = 10000)`
/// processing, `pad_sequences` to the int input's 200 steps, and the 1-D
/// convnet finds the class words wherever they sit in a review.
#[test]
fn imdb_conv1d_learns_synthetic_sentiment_from_word_ids() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("imdb.npz");
    write_imdb(&path);
    let settings = Settings { epochs: Some(4), ..Settings::quiet(7) };
    let out = timed("imdb_conv1d", || ok("imdb_conv1d", imdb_conv1d::run(&settings, Some(&path))));
    eprintln!("imdb_conv1d (synthetic): val {:.4}, test {:.4}", out.val_accuracy, out.test_accuracy);
    assert_eq!(out.history.epochs.len(), 4);
    assert!(out.test_accuracy >= 0.9, "test accuracy {:.4} on 2 balanced classes", out.test_accuracy);
}

/// Trains the text example `file` for `epochs` on a generated archive, read
/// by the same loading code as Keras's files; the epochs run and the test
/// accuracy.
fn text_example(file: &str, archive: &Path, epochs: usize) -> (usize, f64) {
    let settings = Settings { epochs: Some(epochs), ..Settings::quiet(7) };
    timed(file, || {
        let mut model = ok(file, support::load_compiled(file, settings.seed));
        let data = ok(file, support::load_data(&model, None, Some(archive)));
        let (history, logs) = ok(file, support::fit_and_test(&mut model, &data, &settings));
        (history.epochs.len(), ok(file, support::metric(&logs, "accuracy")))
    })
}

/// The LSTM reads the padded word ids in order and keeps the class words it
/// met in its state until the last step.
#[test]
fn imdb_lstm_learns_synthetic_sentiment_from_word_ids() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("imdb.npz");
    write_imdb(&path);
    let (epochs, accuracy) = text_example("imdb_lstm.nn", &path, 5);
    eprintln!("imdb_lstm (synthetic): test {accuracy:.4}");
    assert_eq!(epochs, 5);
    assert!(accuracy >= 0.9, "test accuracy {accuracy:.4} on 2 balanced classes");
}

/// Masked padding in both directions: each LSTM sees only the review's words.
#[test]
fn imdb_bilstm_learns_synthetic_sentiment_from_word_ids() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("imdb.npz");
    write_imdb(&path);
    let (epochs, accuracy) = text_example("imdb_bilstm.nn", &path, 4);
    eprintln!("imdb_bilstm (synthetic): test {accuracy:.4}");
    assert_eq!(epochs, 4);
    assert!(accuracy >= 0.9, "test accuracy {accuracy:.4} on 2 balanced classes");
}

#[test]
fn reuters_learns_synthetic_topics() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("reuters.npz");
    write_reuters(&path);
    let out = timed("reuters", || ok("reuters", reuters::run(&Settings::quiet(7), Some(&path))));
    eprintln!("reuters (synthetic): val {:.4}, test {:.4}", out.val_accuracy, out.test_accuracy);
    assert_eq!(out.history.epochs.len(), 20);
    assert!(out.test_accuracy >= 0.8, "test accuracy {:.4} on {REUTERS_TOPICS} topics", out.test_accuracy);
}

// With `valid` convolutions (5x5x64 features before the dense layer) the
// same network levels off at 0.8945 here and 0.8950 in Keras after 5 epochs
// (seed 7, batch 32); with `same` padding (7x7x64) Keras reaches 0.9069.
#[test]
fn fashion_cnn_bn_reaches_090_test_accuracy() {
    let settings = Settings::quiet(7);
    let (history, logs) = timed("fashion_cnn_bn", || {
        let mut model = ok("fashion_cnn_bn", support::load_compiled("fashion_cnn_bn.nn", settings.seed));
        let data = ok("fashion_cnn_bn", support::load_data(&model, None, None));
        let out = ok("fashion_cnn_bn", support::fit_and_test(&mut model, &data, &settings));
        // Training moved the moving statistics away from their initial values.
        let moving = model.weights().get("batch_normalization/moving_variance").expect("a BN weight");
        assert!(moving.data.iter().any(|&v| v != 1.0), "moving variance never updated");
        out
    });
    assert_eq!(history.epochs.len(), 5, "the tutorial trains 5 epochs");
    let accuracy = ok("fashion_cnn_bn", support::metric(&logs, "accuracy"));
    eprintln!("fashion_cnn_bn: test accuracy {accuracy:.4}");
    assert!(accuracy >= 0.90, "test accuracy {accuracy:.4} < 0.90");
}

/// `nn fit` on the Boston model with a `normalization` layer: the CLI
/// adapts it to the training split, trains on raw features and reports the
/// test MAE; `nn evaluate` with the saved weights uses the saved statistics.
#[test]
fn boston_norm_from_the_cli_reaches_test_mae_3() {
    let dir = std::env::temp_dir().join(format!("nn-boston-norm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let weights = dir.join("boston_norm.safetensors");
    let nn = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_nn")).args(args).output().expect("nn runs");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "nn {args:?}:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        stdout
    };
    let mae_in = |text: &str, prefix: &str| -> f64 {
        let line =
            text.lines().find_map(|l| l.strip_prefix(prefix)).unwrap_or_else(|| panic!("no `{prefix}` in\n{text}"));
        line.split(" - ")
            .find_map(|kv| kv.strip_prefix("mae: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no mae in `{line}`"))
    };
    let fit = timed("boston_norm (cli)", || {
        nn(&["fit", "examples/boston_norm.nn", "--verbose", "0", "--save", weights.to_str().unwrap()])
    });
    let test_mae = mae_in(&fit, "Test: ");
    eprintln!("boston_norm: test MAE {test_mae:.3} k$");
    assert!(test_mae <= 3.0, "test MAE {test_mae:.3} k$ > 3.0");
    let evaluated = nn(&["evaluate", "examples/boston_norm.nn", "--weights", weights.to_str().unwrap()]);
    let again: f64 = evaluated
        .lines()
        .find_map(|l| l.strip_prefix("mae: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no mae line in\n{evaluated}"));
    assert!((again - test_mae).abs() < 1e-3, "evaluate with the saved statistics: {again} vs {test_mae}");
    std::fs::remove_dir_all(&dir).ok();
}
