//! The runtime drives any `Engine` and prepares each graph once.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use nn_compiler::ir::Graph;
use nn_runtime::{Engine, Executable, FitOptions, InterpEngine, RuntimeError, Tensor, ValidationData};

/// The interpreter, counting how many graphs it was asked to prepare.
struct Counting(Arc<AtomicUsize>);

impl Engine for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }
    fn prepare(&self, graph: &Graph) -> Result<Box<dyn Executable>, RuntimeError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        InterpEngine.prepare(graph)
    }
}

#[test]
fn graphs_are_prepared_once_per_kind() {
    let count = Arc::new(AtomicUsize::new(0));
    let mut model = nn_runtime::Model::from_source(&blob_source("adam"), None).unwrap();
    model.set_engine(Arc::new(Counting(count.clone())));
    assert_eq!(model.engine_name(), "counting");
    model.compile(Default::default()).unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 0, "graphs are prepared on first use");
    let (x, y) = blobs(40, 1);
    let opts = FitOptions {
        epochs: 3,
        batch_size: 8,
        verbose: 0,
        validation: ValidationData::Split(0.25),
        ..FitOptions::default()
    };
    model.fit(&x, &y, &opts).unwrap();
    model.predict(&x, 16).unwrap();
    model.predict(&x, 5).unwrap();
    model.evaluate(&x, &y, 8).unwrap();
    // training step, evaluation, prediction: each prepared once for any batch size.
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[test]
fn executables_check_their_arguments() {
    let model = compiled(&blob_source("sgd"), 1);
    let graph = model.inference_graph().clone();
    let mut exe = InterpEngine.prepare(&graph).unwrap();
    let mut vars: Vec<Vec<f32>> = model.weights().iter().map(|v| v.data.clone()).collect();
    let x = [0.5f32; 6];
    let out = exe.run(&[Tensor::F32(&x)], &mut vars, 3).unwrap();
    assert_eq!(out[0].shape(), [3, 2]);
    let err = exe.run(&[Tensor::F32(&x)], &mut vars, 4).unwrap_err().to_string();
    assert!(err.contains("input `x`") && err.contains("8 values") && err.contains("6"), "{err}");
    let err = exe.run(&[Tensor::I32(&[1, 2, 3, 4, 5, 6])], &mut vars, 3).unwrap_err().to_string();
    assert!(err.contains("I32"), "{err}");
    vars[0].pop();
    let err = exe.run(&[Tensor::F32(&x)], &mut vars, 3).unwrap_err().to_string();
    assert!(err.contains("dense/kernel"), "{err}");
}

/// With all weights zero the softmax is uniform: the loss is ln 2 and
/// argmax ties pick class 0, as in Keras.
#[test]
fn zero_weights_give_the_textbook_loss() {
    let mut model = compiled(&blob_source("sgd"), 1);
    let names: Vec<String> = model.weights().names().iter().map(|s| s.to_string()).collect();
    for name in names {
        let zero = model.get_weight(&name).unwrap().mapv(|_| 0.0);
        model.set_weight(&name, &zero).unwrap();
    }
    let (x, y) = blobs(10, 2);
    let logs = model.evaluate(&x, &y, 4).unwrap();
    assert!((logs["loss"] - std::f64::consts::LN_2).abs() < 1e-6, "{logs:?}");
    assert!((logs["accuracy"] - 0.5).abs() < 1e-6, "{logs:?}");
}

/// The same seeded run on every engine gives the same weights and history,
/// up to float rounding (the engines may sum in different orders).
#[test]
fn engines_agree_on_a_training_run() {
    let (x, y) = blobs(48, 5);
    let runs: Vec<_> = engines()
        .into_iter()
        .map(|engine| {
            let name = engine.name();
            let mut model = compiled_on(&dropout_source("adam(learning_rate = 0.01)"), 8, engine);
            let opts = FitOptions {
                epochs: 2,
                batch_size: 10,
                verbose: 0,
                validation: ValidationData::Split(0.25),
                ..FitOptions::default()
            };
            let history = model.fit(&x, &y, &opts).unwrap();
            (name, history, weights(&model))
        })
        .collect();
    assert!(runs.len() >= 2, "the comparison needs at least two engines");
    let (ref_name, ref_history, ref_weights) = &runs[0];
    for (name, history, w) in &runs[1..] {
        for ((var, a), (_, b)) in ref_weights.iter().zip(w) {
            for (p, q) in a.iter().zip(b) {
                assert!((p - q).abs() <= 1e-4 * (1.0 + p.abs()), "{var}: {ref_name} {p} vs {name} {q}");
            }
        }
        for (key, series) in &ref_history.history {
            for (p, q) in series.iter().zip(&history.history[key]) {
                assert!((p - q).abs() <= 1e-4 * (1.0 + p.abs()), "{key}: {ref_name} {p} vs {name} {q}");
            }
        }
    }
}

/// The default engine runs what the JIT cannot compile on the interpreter.
#[test]
fn auto_engine_falls_back_for_unsupported_graphs() {
    use nn_compiler::ir::{InputRole, Shape, TensorType, UnaryOp};
    use nn_runtime::{AutoEngine, JitEngine};
    // Rank 9 is beyond the JIT's limit of 8.
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::f32(Shape::batched(&[1, 1, 1, 1, 1, 1, 1, 2])), InputRole::Feature);
    let y = g.unary(UnaryOp::Relu, x).unwrap();
    g.outputs.push(("y".into(), y));
    let err = JitEngine::default().prepare(&g).err().expect("the JIT rejects rank 9");
    assert!(err.to_string().contains("rank"), "{err}");
    let mut exe = AutoEngine::default().prepare(&g).unwrap();
    let out = exe.run(&[Tensor::F32(&[-1.0, 2.0])], &mut [], 1).unwrap();
    assert_eq!(out[0].iter().copied().collect::<Vec<_>>(), [0.0, 2.0]);
}

/// An engine that records the batch size of every call.
struct Recording(Arc<dyn Engine>, Arc<std::sync::Mutex<Vec<usize>>>);

struct RecordingExe(Box<dyn Executable>, Arc<std::sync::Mutex<Vec<usize>>>);

impl Engine for Recording {
    fn name(&self) -> &'static str {
        "recording"
    }
    fn prepare(&self, graph: &Graph) -> Result<Box<dyn Executable>, RuntimeError> {
        Ok(Box::new(RecordingExe(self.0.prepare(graph)?, self.1.clone())))
    }
}

impl Executable for RecordingExe {
    fn run(
        &mut self,
        inputs: &[Tensor<'_>],
        vars: &mut [Vec<f32>],
        batch: usize,
    ) -> Result<Vec<ndarray::ArrayD<f32>>, RuntimeError> {
        self.1.lock().unwrap().push(batch);
        self.0.run(inputs, vars, batch)
    }

    fn intermediate_bytes_per_row(&self) -> Option<usize> {
        self.0.intermediate_bytes_per_row()
    }
}

/// A model whose intermediates are much wider than its input runs in pieces
/// sized by them, not by its 64-float input: 16 MiB is 256 samples of a
/// 16 384-float hidden layer for the interpreter, 128 for the JIT, whose
/// arena holds the layer's product and its bias + relu output.
#[test]
fn predict_pieces_follow_the_intermediates() {
    let source = "model widening {
        input x: [64]
        dense(16384, activation = relu)
        dense(2, activation = softmax)
        train { loss = sparse_categorical_crossentropy }
    }";
    let n = 600;
    let x = features((0..n * 64).map(|i| (i % 7) as f32 * 0.1).collect(), &[n, 64]);
    for (engine, piece) in engines().into_iter().zip([256, 128]) {
        let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut model = compiled_on(source, 5, Arc::new(Recording(engine.clone(), calls.clone())));
        model.predict(&x, n).unwrap();
        let want: Vec<usize> = (0..n).step_by(piece).map(|start| piece.min(n - start)).collect();
        assert_eq!(*calls.lock().unwrap(), want, "{}: pieces", engine.name());
    }
}

/// On the JIT, a convolution's result that only its pooling reads is never
/// stored, so it does not shrink predict's pieces: the image tutorial's
/// network keeps ≈ 28 KB per image in its arena, where the interpreter
/// stores the first layer's 26×26×32 floats (193 images per 16 MiB). The
/// rows are those of batches of 100.
#[test]
fn predict_pieces_ignore_values_the_jit_never_stores() {
    use rand::{Rng, SeedableRng};
    let source = "model cnn {
        input image: [28, 28, 1]
        conv2d(32, 3, activation = relu)
        max_pooling2d
        conv2d(64, 3, activation = relu)
        max_pooling2d
        flatten
        dense(10, activation = softmax)
        train { loss = sparse_categorical_crossentropy }
    }";
    let n = 1300;
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let x = features((0..n * 784).map(|_| rng.random_range(0.0f32..1.0)).collect(), &[n, 28, 28, 1]);
    let mut pieces = Vec::new();
    for engine in engines() {
        let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut model = compiled_on(source, 5, Arc::new(Recording(engine.clone(), calls.clone())));
        let whole = model.predict(&x, n).unwrap();
        pieces.push(calls.lock().unwrap()[0]);
        let small = model.predict(&x, 100).unwrap();
        for (a, b) in whole.iter().zip(small.iter()) {
            assert!((a - b).abs() <= 1e-6, "{}: {a} vs {b}", engine.name());
        }
    }
    assert_eq!(pieces[0], 193, "the interpreter's pieces");
    assert!(pieces[1] >= 3 * pieces[0], "the JIT's pieces: {pieces:?}");
}

/// A large predict batch of a row-independent model runs in cache-sized
/// pieces (8 MiB of input: 512 samples of 4096 floats) and gives the rows
/// one big batch would.
#[test]
fn large_predict_batches_run_in_pieces_with_the_same_rows() {
    use rand::{Rng, SeedableRng};
    let source = "model wide {
        input x: [4096]
        dense(8, activation = relu)
        dense(3, activation = softmax)
        train { loss = sparse_categorical_crossentropy }
    }";
    let n = 1200;
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let x = features((0..n * 4096).map(|_| rng.random_range(-1.0f32..1.0)).collect(), &[n, 4096]);
    for engine in engines() {
        let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut model = compiled_on(source, 5, Arc::new(Recording(engine.clone(), calls.clone())));
        let whole = model.predict(&x, n).unwrap();
        assert_eq!(*calls.lock().unwrap(), [512, 512, 176], "{}: pieces", engine.name());
        calls.lock().unwrap().clear();
        let small = model.predict(&x, 100).unwrap();
        assert_eq!(calls.lock().unwrap().len(), 12, "{}: batches of 100 are not merged", engine.name());
        assert_eq!(whole.shape(), [n, 3]);
        for (a, b) in whole.iter().zip(small.iter()) {
            assert!((a - b).abs() <= 1e-6, "{}: {a} vs {b}", engine.name());
        }
    }
}

/// A two-thread JIT reports, per prepared graph, how its calls ran; every
/// training step is counted once, on two threads or on one.
#[test]
fn two_thread_jit_graphs_count_their_calls() {
    use nn_compiler::codegen::{IsaLevel, JitOptions};
    let mut model = nn_runtime::Model::from_source(&blob_source("adam"), None).unwrap();
    let two = JitOptions { threads: 2, deterministic: true, isa: IsaLevel::Auto };
    model.set_engine(Arc::new(nn_runtime::JitEngine::new(two)));
    model.compile(Default::default()).unwrap();
    let (x, y) = blobs(40, 1);
    let opts = FitOptions { epochs: 3, batch_size: 8, verbose: 0, ..FitOptions::default() };
    model.fit(&x, &y, &opts).unwrap();
    model.predict(&x, 40).unwrap();
    let calls = model.split_calls();
    let graphs: Vec<&str> = calls.iter().map(|(g, _)| g.as_str()).collect();
    assert_eq!(graphs, ["predict", "train_step"]);
    let step = calls[1].1;
    assert_eq!(step.split + step.serial, 15, "3 epochs of 5 batches: {step:?}");
    assert_eq!(calls[0].1.split + calls[0].1.serial, 1);

    let mut one = nn_runtime::Model::from_source(&blob_source("adam"), None).unwrap();
    let single = JitOptions { threads: 1, deterministic: true, isa: IsaLevel::Auto };
    one.set_engine(Arc::new(nn_runtime::JitEngine::new(single)));
    one.compile(Default::default()).unwrap();
    one.fit(&x, &y, &opts).unwrap();
    assert!(one.split_calls().is_empty(), "one thread splits nothing");
}
