//! The training loop and its siblings: `fit`, `evaluate`, `predict`,
//! `train_on_batch`, with Keras's semantics.
//!
//! - `validation: Split(f)` takes the last `f` of the samples before any
//!   shuffling (Keras's `validation_split`); only the rest is trained on.
//! - Reported loss and metrics are running means over the epoch weighted by
//!   batch size, except stateful metrics (`auc`, `precision`, `r2_score`, …),
//!   whose statistics are summed over the epoch and finalized, as Keras's
//!   metric objects do; the last, partial batch is trained on, not dropped.
//! - The learning rate fed to each step is the schedule evaluated at the
//!   number of updates done, starting from the base rate that callbacks may
//!   change between epochs.
//! - Each run is deterministic given the seeds (see `Model`).

use std::cell::RefCell;

use ndarray::ArrayD;
use nn_compiler::train::{ClassWeight, TrainConfig};

use super::batches::{epoch_order, Batch, MeanTracker};
use super::history::{History, Logs};
use super::named::{Bound, Inputs, TargetSet};
use super::progress::Progress;
use super::resume::{write_checkpoints, Position};
use super::weights::SampleWeight;
use crate::callbacks::{Callback, FitContext};
use crate::data::{Features, Targets};
use crate::error::RuntimeError;
use crate::model::{array_from, CallData, GraphKind, Model};
use crate::optim::{learning_rate_at, Schedule};

/// Where `fit` gets validation data.
// Boxing `Data` would make the Keras-like `ValidationData::Data(x, y)` awkward
// to write, and the enum lives once per fit call.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, Default, PartialEq)]
pub enum ValidationData {
    #[default]
    None,
    /// The last fraction of the training samples, taken before shuffling.
    Split(f64),
    /// Separate samples.
    Data(Features, Targets),
    /// Separate samples for a model with several inputs or outputs, by name.
    Named(Inputs, TargetSet),
}

/// Keras's `fit` arguments.
pub struct FitOptions {
    pub batch_size: usize,
    pub epochs: usize,
    pub shuffle: bool,
    pub validation: ValidationData,
    /// Validate every this many epochs.
    pub validation_freq: usize,
    /// The 0-based epoch to start at (to continue a run).
    pub initial_epoch: usize,
    /// 0 silent, 1 progress bar, 2 one line per epoch.
    pub verbose: u8,
    /// Shuffling seed; `None` keeps the model's.
    pub seed: Option<u64>,
    /// Run in order; a `RefCell` so `fit` can take the options by shared reference.
    pub callbacks: RefCell<Vec<Box<dyn Callback>>>,
    /// Overrides the compiled learning-rate schedule.
    pub schedule: Option<Schedule>,
    /// Keras's `class_weight`: per-class loss weights for a single-output
    /// classifier, applied to training batches (not to validation).
    pub class_weight: Option<ClassWeight>,
    /// Keras's `sample_weight`: per-sample loss weights; a validation split
    /// takes its rows' weights along.
    pub sample_weight: Option<SampleWeight>,
}

impl Default for FitOptions {
    fn default() -> FitOptions {
        FitOptions {
            batch_size: 32,
            epochs: 1,
            shuffle: true,
            validation: ValidationData::None,
            validation_freq: 1,
            initial_epoch: 0,
            verbose: 1,
            seed: None,
            callbacks: RefCell::new(Vec::new()),
            schedule: None,
            class_weight: None,
            sample_weight: None,
        }
    }
}

impl FitOptions {
    /// Defaults overridden by a model's `train` block (batch size, epochs,
    /// shuffle, validation split and frequency, seed, callbacks). A
    /// validation split named by dataset (`validation = "test"`) is left to
    /// the caller.
    pub fn from_train_config(tc: &TrainConfig) -> FitOptions {
        let mut o = FitOptions::default();
        o.callbacks.get_mut().extend(tc.callbacks.iter().map(crate::callbacks::from_spec));
        if let Some(b) = tc.batch_size {
            o.batch_size = b;
        }
        if let Some(e) = tc.epochs {
            o.epochs = e;
        }
        if let Some(s) = tc.shuffle {
            o.shuffle = s;
        }
        if let Some(nn_compiler::train::Validation::Split(f)) = tc.validation {
            o.validation = ValidationData::Split(f);
        }
        if let Some(f) = tc.validation_freq {
            o.validation_freq = f;
        }
        o.seed = tc.seed;
        o.class_weight = tc.class_weight.clone();
        o
    }

    /// Adds a callback (builder style).
    pub fn callback(self, cb: impl Callback + 'static) -> FitOptions {
        self.boxed_callback(Box::new(cb))
    }

    /// Adds a boxed callback (builder style).
    pub fn boxed_callback(self, cb: Box<dyn Callback>) -> FitOptions {
        self.callbacks.borrow_mut().push(cb);
        self
    }
}

/// Validation samples: the bound arrays and the rows to use.
type ValidationRows<'a> = Option<(Bound<'a>, Vec<usize>)>;

/// A reported output as f64 values: one for a loss or mean metric, the
/// statistics vector for a stateful metric.
fn flat(a: &ArrayD<f32>) -> Vec<f64> {
    if a.is_empty() {
        return vec![f64::NAN];
    }
    a.iter().map(|v| f64::from(*v)).collect()
}

impl Model {
    /// Keras's `fit`. Callbacks in `opts.callbacks` run in order.
    pub fn fit(&mut self, x: &Features, y: &Targets, opts: &FitOptions) -> Result<History, RuntimeError> {
        let mut owned = opts.callbacks.try_borrow_mut().map_err(|_| {
            RuntimeError::invalid(
                "these FitOptions are already in use by another fit call; give each call its own options",
            )
        })?;
        let mut refs: Vec<&mut dyn Callback> = owned.iter_mut().map(|b| &mut **b as &mut dyn Callback).collect();
        self.fit_with(x, y, opts, &mut refs)
    }

    /// `fit` with callbacks owned by the caller (so their state can be
    /// inspected afterwards); `opts.callbacks` run first.
    pub fn fit_with(
        &mut self,
        x: &Features,
        y: &Targets,
        opts: &FitOptions,
        extra: &mut [&mut dyn Callback],
    ) -> Result<History, RuntimeError> {
        self.compiled_ref()?;
        let data = self.bind_single(x, Some(y), "x", "y")?;
        self.fit_bound(data, opts, extra)
    }

    /// Keras's `fit` with one array per model input and one target array per
    /// model output, by name (`fit({"a": xa, "b": xb}, {"out1": y1, …})`).
    pub fn fit_named(&mut self, x: &Inputs, y: &TargetSet, opts: &FitOptions) -> Result<History, RuntimeError> {
        let mut owned = opts.callbacks.try_borrow_mut().map_err(|_| {
            RuntimeError::invalid(
                "these FitOptions are already in use by another fit call; give each call its own options",
            )
        })?;
        let mut refs: Vec<&mut dyn Callback> = owned.iter_mut().map(|b| &mut **b as &mut dyn Callback).collect();
        self.fit_named_with(x, y, opts, &mut refs)
    }

    /// [`fit_named`](Self::fit_named) with callbacks owned by the caller.
    pub fn fit_named_with(
        &mut self,
        x: &Inputs,
        y: &TargetSet,
        opts: &FitOptions,
        extra: &mut [&mut dyn Callback],
    ) -> Result<History, RuntimeError> {
        self.compiled_ref()?;
        let data = self.bind_named(x, Some(y), "")?;
        self.fit_bound(data, opts, extra)
    }

    fn fit_bound(
        &mut self,
        data: Bound<'_>,
        opts: &FitOptions,
        extra: &mut [&mut dyn Callback],
    ) -> Result<History, RuntimeError> {
        if opts.batch_size == 0 {
            return Err(RuntimeError::invalid("batch_size must be at least 1, got 0"));
        }
        if opts.validation_freq == 0 {
            return Err(RuntimeError::invalid("validation_freq must be at least 1, got 0"));
        }
        self.ensure_training_fits(opts.batch_size)?;
        if let Some(seed) = opts.seed {
            self.shuffle_seed = seed;
        }
        if let Some(s) = &opts.schedule {
            self.set_schedule(s.clone())?;
        }
        let mut data = data;
        let n = data.len;
        let (train_idx, val): (Vec<usize>, ValidationRows<'_>) = match &opts.validation {
            ValidationData::None => ((0..n).collect(), None),
            ValidationData::Split(f) => {
                if !(*f > 0.0 && *f < 1.0) {
                    return Err(RuntimeError::invalid(format!("validation split must be in (0, 1), got {f}")));
                }
                let split_at = (n as f64 * (1.0 - f)).floor() as usize;
                if split_at == 0 || split_at == n {
                    return Err(RuntimeError::invalid(format!(
                        "validation split {f} of {n} samples leaves {split_at} for training and {} for validation; both need at least one",
                        n - split_at
                    )));
                }
                let again = Bound {
                    x: data.x.clone(),
                    y: data.y.clone(),
                    int_targets: data.int_targets.clone(),
                    len: data.len,
                    weights: None,
                };
                ((0..split_at).collect(), Some((again, (split_at..n).collect())))
            }
            ValidationData::Data(vx, vy) => {
                let v = self.bind_single(vx, Some(vy), "validation x", "validation y")?;
                let rows = (0..v.len).collect();
                ((0..n).collect(), Some((v, rows)))
            }
            ValidationData::Named(vx, vy) => {
                let v = self.bind_named(vx, Some(vy), "validation ")?;
                let rows = (0..v.len).collect();
                ((0..n).collect(), Some((v, rows)))
            }
        };
        self.adapt_layers(&data, &train_idx, true)?;
        data.weights =
            self.resolve_sample_weights(&data, &train_idx, opts.sample_weight.as_ref(), opts.class_weight.as_ref())?;
        let val = match (val, &opts.sample_weight) {
            // Keras splits sample_weight with x and y; class weights stay off validation.
            (Some((mut v, rows)), Some(_)) if matches!(opts.validation, ValidationData::Split(_)) => {
                v.weights = data.weights.clone();
                Some((v, rows))
            }
            (val, _) => val,
        };
        let steps = train_idx.len().div_ceil(opts.batch_size);
        let names = self.metric_names();
        let reductions = self.metric_reductions();
        let mut history = History::default();
        let mut stop: Option<String> = None;
        let mut resume_at: Option<usize> = None;
        let mut saves: Vec<std::path::PathBuf> = Vec::new();

        let mut extra_refs: Vec<&mut dyn Callback> = extra.iter_mut().map(|c| &mut **c).collect();
        macro_rules! each_callback {
            ($epoch:expr, |$cb:ident, $ctx:ident| $body:expr) => {
                for $cb in extra_refs.iter_mut() {
                    let mut $ctx = FitContext {
                        model: &mut *self,
                        epoch: $epoch,
                        stop: &mut stop,
                        resume_at: &mut resume_at,
                        saves: &mut saves,
                    };
                    $body?;
                }
            };
        }

        each_callback!(opts.initial_epoch, |cb, ctx| cb.on_train_begin(&mut ctx));
        // Rank 0's weights, optimizer state and pending resume reach every rank.
        let first_epoch = self.sync_from_chief(resume_at.take().unwrap_or(opts.initial_epoch))?;
        // Only rank 0 of a group prints.
        let verbose = if self.is_chief() { opts.verbose } else { 0 };
        saves.clear();
        let position = |epoch: usize, batch: usize| Position {
            epoch,
            batch,
            batch_size: opts.batch_size,
            train_samples: train_idx.len(),
            shuffle: opts.shuffle,
        };
        // A checkpoint restored before `fit` (or by a callback just now)
        // carries the rest of the training state: continue from it.
        let mut mid_epoch = None;
        if let Some((state, tensors)) = self.pending_resume.take() {
            state.check_matches(first_epoch, opts.batch_size, train_idx.len(), opts.shuffle)?;
            state.restore_callbacks(&mut extra_refs, &tensors)?;
            history = state.history.to_history();
            if state.batch > 0 {
                mid_epoch = Some(state);
            }
        }
        let mut batch = Batch::default();
        for epoch in first_epoch..opts.epochs {
            let resumed = mid_epoch.take();
            // A resumed epoch already began (its learning-rate schedule ran).
            if resumed.is_none() {
                each_callback!(epoch, |cb, ctx| cb.on_epoch_begin(epoch, &mut ctx));
            }
            let order = epoch_order(&train_idx, opts.shuffle, self.shuffle_seed, epoch);
            let progress = Progress::new(verbose, epoch, opts.epochs, steps);
            let mut tracker = MeanTracker::new(&names, &reductions);
            let mut done = 0;
            if let Some(state) = &resumed {
                state.restore_tracker(&mut tracker)?;
                done = state.batch;
            }
            for (b, chunk) in order.chunks(opts.batch_size).enumerate().skip(done) {
                let logs = self.train_step(&data, chunk, &mut batch, epoch, &names)?;
                tracker.add(&logs, chunk.len());
                done = b + 1;
                let running = tracker.logs("");
                progress.update(done, &running);
                each_callback!(epoch, |cb, ctx| cb.on_train_batch_end(b, &running, &mut ctx));
                if !saves.is_empty() {
                    write_checkpoints(self, &mut saves, position(epoch, done), Some(&tracker), &history, &extra_refs)?;
                }
                if stop.is_some() {
                    break;
                }
            }
            let mut logs = tracker.logs("");
            if let Some((v, idx)) = &val {
                if (epoch + 1) % opts.validation_freq == 0 {
                    logs.extend(self.evaluate_indices(v, idx, opts.batch_size, "val_")?);
                }
            }
            each_callback!(epoch, |cb, ctx| cb.on_epoch_end(epoch, &mut logs, &mut ctx));
            progress.finish(done, &logs);
            history.push(epoch, &logs);
            if done < steps {
                history.partial_epochs.push(epoch);
            }
            if !saves.is_empty() {
                write_checkpoints(self, &mut saves, position(epoch + 1, 0), None, &history, &extra_refs)?;
            }
            if stop.is_some() {
                break;
            }
        }
        let last = history.epochs.last().copied().unwrap_or(first_epoch);
        // Keras finalizes before `on_train_end`, so restoring the best
        // weights there wins over the averages.
        if opts.epochs > 0 {
            self.finalize_variable_values()?;
        }
        each_callback!(last, |cb, ctx| cb.on_train_end(&mut ctx));
        if let (Some(reason), true) = (&stop, verbose > 0) {
            println!("{reason}");
        }
        history.stop_reason = stop;
        Ok(history)
    }

    /// One optimizer step on a gathered batch; returns loss and metrics.
    pub(super) fn step_on(
        &mut self,
        batch: &Batch,
        size: usize,
        epoch: usize,
        names: &[String],
    ) -> Result<Vec<Vec<f64>>, RuntimeError> {
        let compiled = self.compiled_ref()?;
        let lr = learning_rate_at(&compiled.schedule, compiled.learning_rate, self.iterations(), epoch);
        let data = CallData {
            x: &batch.x,
            y: &batch.y,
            grads: &[],
            learning_rate: lr as f32,
            step: (self.iterations() + 1) as f32,
            ones: &batch.ones,
            sample_weights: &batch.w,
        };
        let kind = if batch.w.is_empty() { GraphKind::TrainStep } else { GraphKind::WeightedTrainStep };
        let outs = self.run_kind(kind, &data, size)?;
        self.count_update();
        if outs.len() < names.len() {
            return Err(RuntimeError::Engine(format!(
                "the training step returned {} outputs but {} (loss and metrics) were expected",
                outs.len(),
                names.len()
            )));
        }
        Ok(outs[..names.len()].iter().map(flat).collect())
    }

    /// Keras's `train_on_batch`: one update on all of `x` as a single batch;
    /// returns that batch's loss and metrics.
    pub fn train_on_batch(&mut self, x: &Features, y: &Targets) -> Result<Logs, RuntimeError> {
        self.compiled_ref()?;
        let data = self.bind_single(x, Some(y), "x", "y")?;
        self.train_on_bound(&data)
    }

    /// [`train_on_batch`](Self::train_on_batch) with arrays by input and output name.
    pub fn train_on_batch_named(&mut self, x: &Inputs, y: &TargetSet) -> Result<Logs, RuntimeError> {
        self.compiled_ref()?;
        let data = self.bind_named(x, Some(y), "")?;
        self.train_on_bound(&data)
    }

    fn train_on_bound(&mut self, data: &Bound<'_>) -> Result<Logs, RuntimeError> {
        let idx: Vec<usize> = (0..data.len).collect();
        let mut batch = Batch::default();
        batch.fill(data, &idx)?;
        let names = self.metric_names();
        let values = self.step_on(&batch, idx.len(), 0, &names)?;
        let mut tracker = MeanTracker::new(&names, &self.metric_reductions());
        tracker.add(&values, idx.len());
        Ok(tracker.logs(""))
    }

    /// Keras's `evaluate`: loss and metrics over all samples (inference mode).
    pub fn evaluate(&mut self, x: &Features, y: &Targets, batch_size: usize) -> Result<Logs, RuntimeError> {
        self.compiled_ref()?;
        let data = self.bind_single(x, Some(y), "x", "y")?;
        let idx: Vec<usize> = (0..data.len).collect();
        self.evaluate_indices(&data, &idx, batch_size, "")
    }

    /// [`evaluate`](Self::evaluate) with Keras's `sample_weight`: the loss
    /// weighs each sample; metrics do not.
    pub fn evaluate_weighted(
        &mut self,
        x: &Features,
        y: &Targets,
        sample_weight: &SampleWeight,
        batch_size: usize,
    ) -> Result<Logs, RuntimeError> {
        self.compiled_ref()?;
        let mut data = self.bind_single(x, Some(y), "x", "y")?;
        let idx: Vec<usize> = (0..data.len).collect();
        data.weights = self.resolve_sample_weights(&data, &idx, Some(sample_weight), None)?;
        self.evaluate_indices(&data, &idx, batch_size, "")
    }

    /// [`evaluate`](Self::evaluate) with arrays by input and output name.
    pub fn evaluate_named(&mut self, x: &Inputs, y: &TargetSet, batch_size: usize) -> Result<Logs, RuntimeError> {
        self.compiled_ref()?;
        let data = self.bind_named(x, Some(y), "")?;
        let idx: Vec<usize> = (0..data.len).collect();
        self.evaluate_indices(&data, &idx, batch_size, "")
    }

    fn evaluate_indices(
        &mut self,
        data: &Bound<'_>,
        idx: &[usize],
        batch_size: usize,
        prefix: &str,
    ) -> Result<Logs, RuntimeError> {
        self.ensure_adapted()?;
        if batch_size == 0 {
            return Err(RuntimeError::invalid("batch_size must be at least 1, got 0"));
        }
        self.ensure_inference_fits("evaluating", batch_size.min(idx.len()).max(1))?;
        let names = self.metric_names();
        let mut tracker = MeanTracker::new(&names, &self.metric_reductions());
        let mut batch = std::mem::take(&mut self.inference_batch);
        let step = self.iterations().max(1) as f32;
        let kind = if data.weights.is_none() { GraphKind::Evaluate } else { GraphKind::WeightedEvaluate };
        for chunk in idx.chunks(batch_size) {
            // Each rank of a group evaluates its shard of every batch.
            let chunk = self.my_rows(chunk);
            if chunk.is_empty() {
                continue;
            }
            batch.fill(data, chunk)?;
            let call = CallData {
                x: &batch.x,
                y: &batch.y,
                grads: &[],
                learning_rate: 0.0,
                step,
                ones: &batch.ones,
                sample_weights: &batch.w,
            };
            let outs = self.run_kind(kind, &call, chunk.len())?;
            let values: Vec<Vec<f64>> = outs.iter().take(names.len()).map(flat).collect();
            tracker.add(&values, chunk.len());
        }
        self.inference_batch = batch;
        self.reduce_tracker(&mut tracker, kind)?;
        Ok(tracker.logs(prefix))
    }

    /// Keras's `predict` for single-output models: `[n, output dims…]`.
    pub fn predict(&mut self, x: &Features, batch_size: usize) -> Result<ArrayD<f32>, RuntimeError> {
        let mut all = self.predict_all(x, batch_size)?;
        Ok(all.swap_remove(0))
    }

    /// Every model output for all samples, in output order. A large batch of
    /// a model whose samples do not interact runs in pieces (same results).
    pub fn predict_all(&mut self, x: &Features, batch_size: usize) -> Result<Vec<ArrayD<f32>>, RuntimeError> {
        let data = self.bind_single(x, None, "x", "y")?;
        self.predict_bound(&data, batch_size)
    }

    /// Keras's `predict` with one array per model input, by name: every
    /// output by name, `[n, output dims…]` each.
    pub fn predict_named(&mut self, x: &Inputs, batch_size: usize) -> Result<Vec<(String, ArrayD<f32>)>, RuntimeError> {
        let data = self.bind_named(x, None, "")?;
        let outs = self.predict_bound(&data, batch_size)?;
        Ok(self.name_outputs(outs))
    }

    fn predict_bound(&mut self, data: &Bound<'_>, batch_size: usize) -> Result<Vec<ArrayD<f32>>, RuntimeError> {
        if batch_size == 0 {
            return Err(RuntimeError::invalid("batch_size must be at least 1, got 0"));
        }
        self.ensure_adapted()?;
        let mut batch = std::mem::take(&mut self.inference_batch);
        let idx: Vec<usize> = (0..data.len).collect();
        let mut rows: Vec<Vec<f32>> = Vec::new();
        let mut row_shapes: Vec<Vec<usize>> = Vec::new();
        let step = self.iterations().max(1) as f32;
        let row_bytes = self.intermediate_bytes_per_row(GraphKind::Predict)?;
        let piece = predict_piece(batch_size, data.sample_size(), row_bytes, self.inference_graph());
        self.ensure_inference_fits("predicting", piece.min(data.len).max(1))?;
        for chunk in idx.chunks(piece) {
            batch.fill(data, chunk)?;
            let call = CallData {
                x: &batch.x,
                y: &[],
                grads: &[],
                learning_rate: 0.0,
                step,
                ones: &batch.ones,
                sample_weights: &[],
            };
            let outs = self.run_kind(GraphKind::Predict, &call, chunk.len())?;
            if rows.is_empty() {
                rows = vec![Vec::new(); outs.len()];
                row_shapes = outs.iter().map(|o| o.shape().get(1..).unwrap_or(&[]).to_vec()).collect();
            }
            for (acc, o) in rows.iter_mut().zip(&outs) {
                acc.extend(o.iter().copied());
            }
        }
        self.inference_batch = batch;
        if rows.is_empty() {
            return Err(RuntimeError::invalid("predict needs at least one sample; x is empty"));
        }
        rows.into_iter()
            .zip(row_shapes)
            .map(|(values, rest)| {
                let mut shape = vec![data.len];
                shape.extend(rest);
                array_from(shape, values)
            })
            .collect()
    }
}

/// Bytes of converted input per piece of a large predict batch. Measured
/// on the 10k-image Fashion-MNIST MLP predict (docs/performance.md):
/// 0.5–1 MiB pieces pay more in per-call weight packing than they save in
/// cache misses; 4–8 MiB is fastest, and faster than one piece.
const PREDICT_PIECE_BYTES: usize = 8 << 20;

/// Bytes of intermediates per piece: what the engine stores per row (the
/// JIT's arena; else 4 bytes per element of the widest intermediate) times
/// the piece's rows. A CNN's activations can be many times its input, and
/// streaming them through main memory between kernels costs more than
/// smaller pieces' calls; below some size, the calls' fixed work (weight
/// transforms and packing) costs more. The image tutorial stores ≈ 28 KB
/// per image (its convolutions' results stay in registers); its 10k-image
/// predict took about 15 % less in pieces of 480–960 images than of 60
/// (docs/performance.md).
const PREDICT_INTERMEDIATE_BYTES: usize = 16 << 20;

/// Rows per call for `predict(batch_size)`: `batch_size`, or fewer when the
/// model provably treats samples independently (`rows_independent`), so
/// running a piece at a time gives the same rows as one big batch.
fn predict_piece(
    batch_size: usize,
    sample_size: usize,
    intermediate_row_bytes: Option<usize>,
    graph: &nn_compiler::ir::Graph,
) -> usize {
    let by_input = PREDICT_PIECE_BYTES / (4 * sample_size.max(1));
    let row_bytes = intermediate_row_bytes.unwrap_or_else(|| 4 * nn_compiler::ir::widest_row(graph));
    let by_intermediates = PREDICT_INTERMEDIATE_BYTES / row_bytes.max(1);
    let piece = by_input.min(by_intermediates).max(16);
    if batch_size > piece && nn_compiler::ir::rows_independent(graph) {
        piece
    } else {
        batch_size
    }
}
