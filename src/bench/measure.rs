//! Timing nn itself, through the public runtime API only (what a user's
//! program would call): source → ready-to-run training step, per-epoch
//! training time, one predict call over the test images, and the test
//! accuracy reached, so a fast number is never a wrong one.
//!
//! Guarantees: every model starts from the same seed and source, timings use
//! a monotonic clock, and nothing is cached between the repeats of the
//! "ready" measurement (each repeat parses the text again).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use nn_compiler::codegen::SplitCalls;
use nn_runtime::data::{Features, Split, Targets};
use nn_runtime::{
    predicted_classes, Callback, CompileOptions, Engine, FitContext, FitOptions, Logs, Model, RuntimeError,
};

use super::workloads::Workload;
use super::EngineKind;

/// Model and shuffling seed: fixed so runs are comparable.
pub const SEED: u64 = 1;

/// Source → ready-to-run training step, one repeat, in seconds per phase.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReadyTimes {
    /// Parse, check and lower (both modes) and initialize the weights.
    pub parse_lower: f64,
    /// `compile`: loss/optimizer configuration, builds the step once.
    pub compile: f64,
    /// Building the training-step graph (forward, autodiff, loss, Adam).
    pub step_graph: f64,
    /// The engine's preparation: Cranelift compilation for the JIT.
    pub prepare: f64,
}

impl ReadyTimes {
    pub fn total(&self) -> f64 {
        self.parse_lower + self.compile + self.step_graph + self.prepare
    }
}

/// What one training run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainRun {
    /// Wall seconds per epoch, epoch 1 first (it includes preparation).
    pub epoch_seconds: Vec<f64>,
    pub final_loss: f64,
    pub test_accuracy: f64,
    /// Seconds for each predict call over the whole test split.
    pub predict_seconds: Vec<f64>,
    /// Per graph that splits work: calls on two threads and calls on one
    /// (each graph times which is faster on the machine at the moment).
    pub split_calls: Vec<(String, SplitCalls)>,
}

/// The median of a non-empty sample; `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 })
}

fn err(context: &str, e: impl std::fmt::Display) -> String {
    format!("{context}: {e}")
}

/// Times `repeats` fresh builds of the workload up to a prepared training step.
pub fn ready_times(w: &Workload, engine: &Arc<dyn Engine>, repeats: usize) -> Result<Vec<ReadyTimes>, String> {
    ready_times_of(&w.source(), None, engine, repeats)
}

/// Times `repeats` fresh builds of model `name` (or the only one) in
/// `source` up to a prepared training step.
pub fn ready_times_of(
    source: &str,
    name: Option<&str>,
    engine: &Arc<dyn Engine>,
    repeats: usize,
) -> Result<Vec<ReadyTimes>, String> {
    let mut out = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let t0 = Instant::now();
        let mut model = Model::from_source_seeded(source, name, SEED).map_err(|e| err("building the model", e))?;
        let t1 = Instant::now();
        model.set_engine(engine.clone());
        model.compile(CompileOptions::default()).map_err(|e| err("compile", e))?;
        let t2 = Instant::now();
        let graph = model.training_graph().map_err(|e| err("building the training step", e))?;
        let t3 = Instant::now();
        let exe =
            engine.prepare(&graph).map_err(|e| err(&format!("preparing the training step on {}", engine.name()), e))?;
        let t4 = Instant::now();
        drop(exe);
        out.push(ReadyTimes {
            parse_lower: (t1 - t0).as_secs_f64(),
            compile: (t2 - t1).as_secs_f64(),
            step_graph: (t3 - t2).as_secs_f64(),
            prepare: (t4 - t3).as_secs_f64(),
        });
    }
    Ok(out)
}

/// Records each epoch's wall time and reports progress on stderr, since an
/// interpreter epoch can take minutes.
pub(crate) struct EpochTimer {
    pub label: String,
    pub epochs: usize,
    pub started: Option<Instant>,
    pub seconds: Rc<RefCell<Vec<f64>>>,
    /// Training steps per finished epoch (a validation split takes its
    /// samples out of the steps), and the running epoch's so far.
    pub steps: Vec<usize>,
    pub batches: usize,
}

impl Callback for EpochTimer {
    fn on_epoch_begin(&mut self, _epoch: usize, _ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        self.started = Some(Instant::now());
        self.batches = 0;
        Ok(())
    }

    fn on_train_batch_end(
        &mut self,
        _batch: usize,
        _logs: &Logs,
        _ctx: &mut FitContext<'_>,
    ) -> Result<(), RuntimeError> {
        self.batches += 1;
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, _ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        let secs = self.started.take().map_or(f64::NAN, |t| t.elapsed().as_secs_f64());
        self.seconds.borrow_mut().push(secs);
        self.steps.push(self.batches);
        let loss = logs.get("loss").copied().unwrap_or(f64::NAN);
        eprintln!("  {} epoch {}/{}: {secs:.3} s, loss {loss:.4}", self.label, epoch + 1, self.epochs);
        Ok(())
    }
}

/// A fresh model of the workload on `engine`, compiled from its train block.
pub fn build_model(w: &Workload, engine: &Arc<dyn Engine>) -> Result<Model, String> {
    let mut model = Model::from_source_seeded(&w.source(), None, SEED).map_err(|e| err("building the model", e))?;
    model.set_engine(engine.clone());
    model.compile(CompileOptions::default()).map_err(|e| err("compile", e))?;
    Ok(model)
}

/// The options every timed fit uses: silent, shuffled, the workload's batch.
pub fn fit_options(w: &Workload, epochs: usize) -> FitOptions {
    FitOptions { batch_size: w.batch, epochs, shuffle: true, verbose: 0, seed: Some(SEED), ..FitOptions::default() }
}

/// Trains for `epochs`, then times `predict_repeats` predict calls over the
/// whole test split and checks the accuracy of the first one.
pub fn train_and_predict(
    w: &Workload,
    kind: EngineKind,
    engine: &Arc<dyn Engine>,
    train: &Split,
    test: &Split,
    epochs: usize,
    predict_repeats: usize,
) -> Result<TrainRun, String> {
    let mut model = build_model(w, engine)?;
    let seconds = Rc::new(RefCell::new(Vec::new()));
    let mut timer = EpochTimer {
        label: format!("{} nn/{}", w.key, kind.name()),
        epochs,
        started: None,
        seconds: seconds.clone(),
        steps: Vec::new(),
        batches: 0,
    };
    let history =
        model.fit_with(&train.x, &train.y, &fit_options(w, epochs), &mut [&mut timer]).map_err(|e| err("fit", e))?;
    let final_loss = history.last("loss").unwrap_or(f64::NAN);
    let (predict_seconds, test_accuracy) = time_predict(&mut model, &test.x, &test.y, predict_repeats)?;
    let epoch_seconds = seconds.borrow().clone();
    Ok(TrainRun { epoch_seconds, final_loss, test_accuracy, predict_seconds, split_calls: model.split_calls() })
}

/// One call per repeat with the whole split as a single batch, which is how
/// the "predict 10k images" target is defined.
fn time_predict(model: &mut Model, x: &Features, y: &Targets, repeats: usize) -> Result<(Vec<f64>, f64), String> {
    let labels = match y {
        Targets::Classes(c) => c,
        Targets::Dense(_) => return Err("the test split has dense targets; the benchmark needs class ids".to_string()),
    };
    let mut times = Vec::with_capacity(repeats);
    let mut accuracy = f64::NAN;
    for i in 0..repeats.max(1) {
        let t0 = Instant::now();
        let out = model.predict(x, x.len().max(1)).map_err(|e| err("predict", e))?;
        times.push(t0.elapsed().as_secs_f64());
        if i == 0 {
            let classes = predicted_classes(&out).map_err(|e| err("reading predictions", e))?;
            let hits = classes.iter().zip(labels.iter()).filter(|(p, t)| p == t).count();
            accuracy = hits as f64 / labels.len().max(1) as f64;
        }
    }
    Ok((times, accuracy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty_samples() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
