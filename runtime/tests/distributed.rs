//! Data-parallel `fit` and `evaluate` with ranks as threads
//! (`distributed::ThreadGroup`): the same code path MPI runs, without a
//! launcher. N ranks with global batch B must train like one process with
//! batch B — per-step losses, History and final weights to 1e-5 relative —
//! including uneven shards, a last batch smaller than the group,
//! regularization, sample weights and stateful metrics; every rank must hold
//! the same weights bit for bit.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use ndarray::{ArrayD, IxDyn};
use nn_runtime::data::{Features, Targets};
use nn_runtime::distributed::{Communicator, ThreadGroup};
use nn_runtime::{Callback, FitContext, FitOptions, History, Logs, RuntimeError, SampleWeight, ValidationData};

/// Records the running loss after every batch.
#[derive(Default)]
struct Steps(Vec<f64>);

impl Callback for Steps {
    fn on_train_batch_end(&mut self, _b: usize, logs: &Logs, _ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        self.0.push(logs["loss"]);
        Ok(())
    }
}

struct Run {
    history: History,
    steps: Vec<f64>,
    weights: Vec<(String, Vec<f32>)>,
    evaluation: Logs,
}

struct Case<'a> {
    source: &'a str,
    x: &'a Features,
    y: &'a Targets,
    opts: fn() -> FitOptions,
    weights: Option<Vec<f32>>,
}

fn train(case: &Case<'_>, comm: Option<Arc<dyn Communicator>>) -> Run {
    let mut model = compiled_on(case.source, 5, Arc::new(nn_runtime::JitEngine::default()));
    if let Some(c) = comm {
        model.set_communicator(c);
    }
    let mut opts = (case.opts)();
    opts.sample_weight = case.weights.clone().map(SampleWeight::All);
    let mut steps = Steps::default();
    let history = model.fit_with(case.x, case.y, &opts, &mut [&mut steps]).unwrap();
    let evaluation = model.evaluate(case.x, case.y, 16).unwrap();
    Run { history, steps: steps.0, weights: weights(&model), evaluation }
}

fn train_group(case: &Case<'_>, size: usize) -> Vec<Run> {
    std::thread::scope(|s| {
        let handles: Vec<_> = ThreadGroup::new(size)
            .into_iter()
            .map(|member| s.spawn(move || train(case, Some(Arc::new(member)))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-5 * a.abs().max(b.abs()).max(1e-1)
}

fn assert_same_training(what: &str, one: &Run, group: &[Run]) {
    for (rank, run) in group.iter().enumerate() {
        assert_eq!(run.weights, group[0].weights, "{what}: rank {rank}'s weights differ from rank 0's");
        assert_eq!(run.history.history, group[0].history.history, "{what}: rank {rank}'s History differs");
    }
    let dist = &group[0];
    assert_eq!(dist.steps.len(), one.steps.len(), "{what}: number of steps");
    for (i, (a, b)) in dist.steps.iter().zip(&one.steps).enumerate() {
        assert!(close(*a, *b), "{what}: step {i} loss {a} vs one process {b}");
    }
    for (key, values) in &one.history.history {
        let got = &dist.history.history[key];
        for (e, (a, b)) in got.iter().zip(values).enumerate() {
            assert!(close(*a, *b), "{what}: epoch {e} `{key}` {a} vs one process {b}");
        }
    }
    for ((name, a), (_, b)) in dist.weights.iter().zip(&one.weights) {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(close(f64::from(*x), f64::from(*y)), "{what}: `{name}`[{i}] {x} vs one process {y}");
        }
    }
    for (key, v) in &one.evaluation {
        assert!(close(dist.evaluation[key], *v), "{what}: evaluate `{key}` {} vs {v}", dist.evaluation[key]);
    }
}

const REGULARIZED: &str = "model blobs {
    input x: [2]
    dense(8, activation = relu, kernel_regularizer = l2(0.01))
    dense(2, activation = softmax)
    train {
        optimizer = adam(learning_rate = 0.02)
        loss = sparse_categorical_crossentropy
        metrics = [accuracy]
    }
}";

fn blob_opts() -> FitOptions {
    // 47 samples, 9 for validation: 38 trained in batches of 10, 10, 10, 8.
    FitOptions { epochs: 3, batch_size: 10, verbose: 0, validation: ValidationData::Split(0.2), ..Default::default() }
}

#[test]
fn two_and_three_ranks_train_like_one_process() {
    let (x, y) = blobs(47, 3);
    let case = Case { source: REGULARIZED, x: &x, y: &y, opts: blob_opts, weights: None };
    let one = train(&case, None);
    for size in [2, 3] {
        assert_same_training(&format!("{size} ranks"), &one, &train_group(&case, size));
    }
}

#[test]
fn a_batch_smaller_than_the_group_leaves_ranks_idle_but_in_step() {
    // Batches of 2 over 4 ranks: two ranks get no rows every step; the last
    // batch has one row.
    let (x, y) = blobs(9, 4);
    let opts = || FitOptions { epochs: 2, batch_size: 2, verbose: 0, ..Default::default() };
    let case = Case { source: REGULARIZED, x: &x, y: &y, opts, weights: None };
    let one = train(&case, None);
    assert_same_training("4 ranks, batch 2", &one, &train_group(&case, 4));
}

#[test]
fn sample_weights_and_stateful_metrics_reduce_across_ranks() {
    let src = "model m {
        input x: [2]
        dense(4, activation = tanh)
        dense(1, activation = sigmoid)
        train {
            optimizer = sgd(learning_rate = 0.1, momentum = 0.9)
            loss = binary_crossentropy
            metrics = [auc, precision, accuracy]
        }
    }";
    let n = 40;
    let xs: Vec<f32> = (0..n * 2).map(|i| ((i * 37 % 23) as f32 / 11.0) - 1.0).collect();
    let ys: Vec<f32> = (0..n).map(|i| f32::from(xs[2 * i] + 0.5 * xs[2 * i + 1] > 0.0)).collect();
    let x = Features::F32(ArrayD::from_shape_vec(IxDyn(&[n, 2]), xs).unwrap());
    let y = Targets::Dense(ArrayD::from_shape_vec(IxDyn(&[n, 1]), ys).unwrap());
    let weights: Vec<f32> = (0..n).map(|i| 0.5 + (i % 3) as f32).collect();
    let opts = || FitOptions {
        epochs: 2,
        batch_size: 7,
        verbose: 0,
        validation: ValidationData::Split(0.25),
        ..Default::default()
    };
    let case = Case { source: src, x: &x, y: &y, opts, weights: Some(weights) };
    let one = train(&case, None);
    assert!(one.history.history.contains_key("val_auc"));
    assert_same_training("3 ranks, weighted", &one, &train_group(&case, 3));
}

#[test]
fn batch_normalization_statistics_agree_across_ranks() {
    let src = "model bn {
        input x: [2]
        dense(6)
        batch_normalization()
        dense(2, activation = softmax)
        train {
            optimizer = sgd(learning_rate = 0.05)
            loss = sparse_categorical_crossentropy
        }
    }";
    let (x, y) = blobs(30, 8);
    let opts = || FitOptions { epochs: 1, batch_size: 10, verbose: 0, shuffle: false, ..Default::default() };
    let case = Case { source: src, x: &x, y: &y, opts, weights: None };
    let group = train_group(&case, 2);
    let fresh = weights(&compiled_on(src, 5, Arc::new(nn_runtime::JitEngine::default())));
    for run in &group[1..] {
        assert_eq!(run.weights, group[0].weights, "ranks disagree on weights or moving statistics");
    }
    let moved = group[0].weights.iter().zip(&fresh).any(|((n, a), (_, b))| n.contains("moving_mean") && a != b);
    assert!(moved, "the moving mean did not move");
}

#[test]
fn only_rank_zero_writes_weights() {
    let dir = temp_dir("distributed-writes");
    std::thread::scope(|s| {
        for member in ThreadGroup::new(2) {
            let dir = dir.clone();
            s.spawn(move || {
                let rank = member.rank();
                let mut model = compiled(REGULARIZED, 1);
                model.set_communicator(Arc::new(member));
                assert_eq!(model.is_chief(), rank == 0);
                model.save_weights(dir.join(format!("rank{rank}.safetensors"))).unwrap();
            });
        }
    });
    assert!(dir.join("rank0.safetensors").exists());
    assert!(!dir.join("rank1.safetensors").exists(), "rank 1 wrote its weights");
}

#[test]
fn rank_zero_state_reaches_every_rank_at_the_start() {
    // Rank 1 starts from other weights (another seed); after `fit` with zero
    // epochs left, it holds rank 0's.
    let (x, y) = blobs(20, 1);
    let results = Arc::new(Mutex::new(vec![Vec::new(); 2]));
    std::thread::scope(|s| {
        for member in ThreadGroup::new(2) {
            let (x, y, results) = (&x, &y, results.clone());
            s.spawn(move || {
                let rank = member.rank();
                let mut model = compiled(REGULARIZED, 10 + rank as u64);
                model.set_communicator(Arc::new(member));
                let opts = FitOptions { epochs: 1, batch_size: 8, verbose: 0, ..Default::default() };
                model.fit(x, y, &opts).unwrap();
                results.lock().unwrap()[rank] = weights(&model);
            });
        }
    });
    let results = results.lock().unwrap();
    assert_eq!(results[0], results[1]);
}

/// Fails `fit` after step `at` (counted over the run), as a crash would.
struct CrashAtStep(u64);

impl Callback for CrashAtStep {
    fn on_train_batch_end(&mut self, _: usize, _: &Logs, ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        if ctx.iterations() == self.0 {
            return Err(RuntimeError::InvalidArgument("simulated crash".into()));
        }
        Ok(())
    }
}

#[test]
fn a_mid_epoch_checkpoint_read_by_rank_zero_resumes_every_rank() {
    let dir = temp_dir("distributed-mid-epoch");
    let ckpt = dir.join("c.ckpt");
    let (x, y) = blobs(47, 1);
    // 47 samples in batches of 10: 5 steps per epoch; step 7 is the second
    // batch of the second epoch.
    let opts = || FitOptions { epochs: 3, batch_size: 10, verbose: 0, shuffle: true, ..Default::default() };
    let mut first = compiled(REGULARIZED, 1);
    let mut every = nn_runtime::ModelCheckpoint::new(ckpt.display().to_string()).save_every_steps(Some(7));
    let err = first.fit_with(&x, &y, &opts(), &mut [&mut every, &mut CrashAtStep(8)]).unwrap_err();
    assert!(err.to_string().contains("simulated crash"), "{err}");

    // Only rank 0 reads the checkpoint, as `nn fit --resume` does.
    let resume = |comm: Option<Arc<dyn Communicator>>| {
        let mut model = compiled(REGULARIZED, 2);
        let chief = comm.as_ref().is_none_or(|c| c.rank() == 0);
        if let Some(c) = comm {
            model.set_communicator(c);
        }
        let mut o = opts();
        if chief {
            o.initial_epoch = model.load_checkpoint(&ckpt).unwrap();
        }
        let mut steps = Steps::default();
        let history = model.fit_with(&x, &y, &o, &mut [&mut steps]).unwrap();
        (history, steps.0, weights(&model))
    };
    let (one_history, one_steps, one_weights) = resume(None);
    assert_eq!(one_history.epochs, [0, 1, 2]);
    assert_eq!(one_steps.len(), 3 + 5, "the rest of the second epoch, then the third");
    let group: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> =
            ThreadGroup::new(2).into_iter().map(|m| s.spawn(move || resume(Some(Arc::new(m))))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (rank, (history, steps, weights)) in group.iter().enumerate() {
        assert_eq!(history.epochs, one_history.epochs, "rank {rank}: epochs");
        assert_eq!(steps.len(), one_steps.len(), "rank {rank}: steps run");
        for (i, (a, b)) in steps.iter().zip(&one_steps).enumerate() {
            assert!(close(*a, *b), "rank {rank}: step {i} loss {a} vs one process {b}");
        }
        for (key, values) in &one_history.history {
            for (e, (a, b)) in history.history[key].iter().zip(values).enumerate() {
                assert!(close(*a, *b), "rank {rank}: epoch {e} `{key}` {a} vs one process {b}");
            }
        }
        for ((name, a), (_, b)) in weights.iter().zip(&one_weights) {
            for (x, y) in a.iter().zip(b) {
                assert!(close(f64::from(*x), f64::from(*y)), "rank {rank}: `{name}` {x} vs one process {y}");
            }
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}
