//! The example models in `examples/*.nn`: each parses and checks without a
//! single diagnostic, lowers the same variables in both modes, prints the IR
//! recorded in `tests/examples/<name>.ir` and the AST recorded in
//! `tests/examples/<name>.ast` (bless with `NN_BLESS=1`), and has
//! exactly the trainable parameter count Keras reports for it.

use nn_compiler::codegen;
use nn_compiler::diag::render_all;
use nn_compiler::ir::print_graph;
use nn_compiler::lower::{check_source, lower_source, LoweredModel, Mode};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn source(name: &str) -> String {
    let path = root().join("examples").join(format!("{name}.nn"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn lower(name: &str, mode: Mode) -> LoweredModel {
    let src = source(name);
    lower_source(&src, None, mode, 7)
        .unwrap_or_else(|d| panic!("{}", render_all(&d, &format!("{name}.nn"), &src, false)))
}

fn trainable(m: &LoweredModel) -> usize {
    m.graph.vars.iter().filter(|v| v.is_trainable()).map(|v| v.numel()).sum()
}

/// Keras's count for a Dense layer: a kernel and a bias.
fn dense(inputs: usize, units: usize) -> usize {
    inputs * units + units
}

/// Keras's count for a Conv2D layer: a kh x kw x c x f kernel and a bias.
fn conv(k: usize, channels: usize, filters: usize) -> usize {
    k * k * channels * filters + filters
}

fn golden(file: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/examples").join(file);
    if std::env::var_os("NN_BLESS").is_some() {
        std::fs::write(&path, actual).expect("writing golden");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden {}; run with NN_BLESS=1 to create it", path.display()));
    assert_eq!(expected, actual, "{} differs; rerun with NN_BLESS=1 if intended", path.display());
}

fn check_example(name: &str, expected_params: usize) {
    let src = source(name);
    let diags = check_source(&src);
    assert!(diags.is_empty(), "{name}.nn:\n{}", render_all(&diags, &format!("{name}.nn"), &src, false));
    let infer = lower(name, Mode::Infer);
    let train = lower(name, Mode::Train);
    assert_eq!(infer.graph.vars, train.graph.vars, "{name}: both modes must declare the same variables");
    assert_eq!(trainable(&infer), expected_params, "{name}: trainable parameters");
    assert!(infer.train.loss.is_some() && infer.train.optimizer.is_some(), "{name}: train block lowered");
    let text = format!("# infer\n{}\n# train\n{}", print_graph(&infer.graph), print_graph(&train.graph));
    golden(&format!("{name}.ir"), &text);
    let ast = nn_compiler::syntax::parse(&src).expect("parses");
    golden(&format!("{name}.ast"), &nn_compiler::ast::print_file(&ast));
    golden(&format!("{name}.plan"), &kernel_plans(name, &infer, &train));
}

/// The JIT's kernel plans of the inference graph and of the training step,
/// so that a change to the fusion rules shows up as a diff per example.
fn kernel_plans(name: &str, infer: &LoweredModel, train: &LoweredModel) -> String {
    let outputs: Vec<String> = train.graph.outputs.iter().map(|(n, _)| n.clone()).collect();
    let cfg = nn_compiler::train::step_config_from(&train.train, &outputs, &train.name)
        .unwrap_or_else(|e| panic!("{name}: step configuration: {e}"));
    let step = nn_compiler::train::training_step(train, &cfg).unwrap_or_else(|e| panic!("{name}: step: {e}"));
    let plan = |g: &nn_compiler::ir::Graph| {
        codegen::compile(g, &codegen::JitOptions::default())
            .unwrap_or_else(|e| panic!("{name}: the JIT cannot compile it: {e}"))
            .kernel_plan()
    };
    format!("# infer\n{}\n# step\n{}", plan(&infer.graph), plan(&step))
}

#[test]
fn fashion_mlp() {
    assert_eq!(dense(784, 128) + dense(128, 10), 101_770);
    check_example("fashion_mlp", 101_770);
}

#[test]
fn fashion_mlp_dropout() {
    check_example("fashion_mlp_dropout", dense(784, 256) + dense(256, 128) + dense(128, 64) + dense(64, 10));
    let train = lower("fashion_mlp_dropout", Mode::Train);
    let steps = train.graph.inputs.iter().filter(|i| i.name == "step").count();
    assert_eq!(steps, 1, "dropout models take a step input in train mode");
    let infer = lower("fashion_mlp_dropout", Mode::Infer);
    assert!(infer.graph.inputs.iter().all(|i| i.name != "step"), "no step input when inferring");
}

#[test]
fn mlp6() {
    let n = dense(784, 512) + dense(512, 256) + dense(256, 128) + dense(128, 64) + dense(64, 32) + dense(32, 10);
    assert_eq!(n, 576_810);
    check_example("mlp6", n);
}

#[test]
fn iris() {
    check_example("iris", dense(4, 3));
    let m = lower("iris", Mode::Infer);
    let kernel = m.graph.vars.iter().find(|v| v.name == "dense/kernel").expect("dense/kernel");
    assert_eq!(kernel.regularizer, Some(nn_compiler::ir::Regularizer { l1: 0.0, l2: 0.01 }));
    assert_eq!(m.train.validation_freq, Some(20));
}

#[test]
fn imdb() {
    check_example("imdb", dense(10_000, 16) + dense(16, 16) + dense(16, 1));
}

#[test]
fn reuters() {
    check_example("reuters", dense(10_000, 64) + dense(64, 64) + dense(64, 46));
}

#[test]
fn boston() {
    check_example("boston", dense(13, 64) + dense(64, 64) + dense(64, 1));
}

#[test]
fn mnist_logreg() {
    check_example("mnist_logreg", dense(784, 10));
}

#[test]
fn digits_mlp() {
    check_example("digits_mlp", dense(64, 128) + dense(128, 10));
}

#[test]
fn fashion_cnn() {
    // 28 → conv 26 → pool 13 → conv 11 → pool 5: 5 * 5 * 64 features.
    let n = conv(3, 1, 32) + conv(3, 32, 64) + dense(5 * 5 * 64, 64) + dense(64, 10);
    check_example("fashion_cnn", n);
    let m = lower("fashion_cnn", Mode::Infer);
    let kinds: Vec<&str> = m.layers.iter().map(|l| l.kind.as_str()).collect();
    assert_eq!(kinds, ["Reshape", "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"],);
    let names: Vec<&str> = m.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        ["reshape", "conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1", "flatten", "dense", "dense_1"]
    );
}

#[test]
fn fashion_cnn_bn() {
    // As fashion_cnn, with gamma and beta (trainable) per channel of each
    // batch normalization; its moving statistics are not trainable. `same`
    // convolutions keep 28x28, so two pools leave 7x7.
    let n = conv(3, 1, 32) + 2 * 32 + conv(3, 32, 64) + 2 * 64 + dense(7 * 7 * 64, 128) + dense(128, 10);
    assert_eq!(n, 421_834);
    check_example("fashion_cnn_bn", n);
    let m = lower("fashion_cnn_bn", Mode::Infer);
    let stats: usize = m.graph.vars.iter().filter(|v| !v.is_trainable()).map(|v| v.numel()).sum();
    assert_eq!(stats, 2 * 32 + 2 * 64);
}

#[test]
fn boston_norm() {
    check_example("boston_norm", dense(13, 64) + dense(64, 64) + dense(64, 1));
    let m = lower("boston_norm", Mode::Infer);
    let stats: Vec<(&str, usize)> =
        m.graph.vars.iter().filter(|v| !v.is_trainable()).map(|v| (v.name.as_str(), v.numel())).collect();
    assert_eq!(stats, [("normalization/mean", 13), ("normalization/variance", 13), ("normalization/count", 1)]);
}

#[test]
fn mlp6_logits() {
    // The custom-loop tutorial's variant: a linear last layer for cross-entropy on logits.
    check_example(
        "mlp6_logits",
        dense(784, 512) + dense(512, 256) + dense(256, 128) + dense(128, 64) + dense(64, 32) + dense(32, 10),
    );
}

#[test]
fn mnist_logreg_digits() {
    check_example("mnist_logreg_digits", dense(64, 10));
}

#[test]
fn digits_mlp_mnist() {
    check_example("digits_mlp_mnist", dense(784, 128) + dense(128, 10));
}

/// Keras's counts: Embedding(10000, 32), Conv1D(32, 7) twice (a 7 x c x 32
/// kernel and a bias), Dense(32, 1); the summary fixture checks the same
/// model's layers against Keras itself.
#[test]
fn imdb_conv1d() {
    let conv1d = |k: usize, c: usize, f: usize| k * c * f + f;
    check_example("imdb_conv1d", 10_000 * 32 + conv1d(7, 32, 32) + conv1d(7, 32, 32) + dense(32, 1));
}

/// Keras's counts: Embedding(10000, 32), LSTM(32) on 32 features (kernel,
/// recurrent kernel and bias for 4 gates), Dense(32, 1).
#[test]
fn imdb_lstm() {
    let lstm = |f: usize, u: usize| 4 * (f * u + u * u + u);
    assert_eq!(10_000 * 32 + lstm(32, 32) + dense(32, 1), 328_353);
    check_example("imdb_lstm", 328_353);
}

/// Keras's counts: Embedding(10000, 32), two LSTM(32) on 32 features (one
/// per direction), Dense(64, 1) on the concatenated outputs.
#[test]
fn imdb_bilstm() {
    let lstm = |f: usize, u: usize| 4 * (f * u + u * u + u);
    assert_eq!(10_000 * 32 + 2 * lstm(32, 32) + dense(64, 1), 336_705);
    check_example("imdb_bilstm", 336_705);
}

/// Keras 3's counts: Embedding(10000, 64), GRU(32) with `reset_after` (3
/// gates, each with an input and a recurrent bias) on 64 then on 32
/// features, Dense(32, 46).
#[test]
fn reuters_gru() {
    let gru = |f: usize, u: usize| 3 * (f * u + u * u + 2 * u);
    assert_eq!(10_000 * 64 + gru(64, 32) + gru(32, 32) + dense(32, 46), 657_262);
    check_example("reuters_gru", 657_262);
}
