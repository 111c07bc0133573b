//! Callbacks: hooks into `fit`, with Keras's built-in set.
//!
//! A callback sees the running model through [`FitContext`]: it can read
//! and change the learning rate, snapshot and restore weights, save
//! checkpoints, resume from a backup, and stop training with a reason (recorded in
//! `History::stop_reason`). Hooks run in list order; an error from a hook
//! aborts `fit` with that error.

mod backup;
mod batch_log;
mod checkpoint;
mod csv_logger;
mod early_stopping;
mod from_spec;
mod lr;
mod terminate_nan;

pub use backup::BackupAndRestore;
pub use batch_log::BatchCsvLogger;
pub use checkpoint::ModelCheckpoint;
pub use csv_logger::CsvLogger;
pub use early_stopping::EarlyStopping;
pub use from_spec::from_spec;
pub use lr::{LearningRateScheduler, ReduceLrOnPlateau};
pub use terminate_nan::TerminateOnNan;

use std::path::PathBuf;

use crate::error::RuntimeError;
use crate::fit::Logs;
use crate::model::Model;
use crate::vars::VarStore;

/// The running training session, as callbacks see it.
pub struct FitContext<'a> {
    pub(crate) model: &'a mut Model,
    pub(crate) epoch: usize,
    pub(crate) stop: &'a mut Option<String>,
    /// The epoch to start at instead of `initial_epoch`, set in `on_train_begin`.
    pub(crate) resume_at: &'a mut Option<usize>,
    /// Full checkpoints to write once every callback has run for this batch or epoch.
    pub(crate) saves: &'a mut Vec<PathBuf>,
}

impl FitContext<'_> {
    pub fn model(&mut self) -> &mut Model {
        self.model
    }

    /// The 0-based epoch running (or just finished).
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// Optimizer updates applied so far.
    pub fn iterations(&self) -> u64 {
        self.model.iterations()
    }

    /// The base learning rate (before any schedule).
    pub fn learning_rate(&self) -> f64 {
        self.model.learning_rate()
    }

    pub fn set_learning_rate(&mut self, lr: f64) -> Result<(), RuntimeError> {
        self.model.set_learning_rate(lr)
    }

    /// Asks `fit` to stop after the current batch or epoch.
    pub fn stop_training(&mut self, reason: impl Into<String>) {
        if self.stop.is_none() {
            *self.stop = Some(reason.into());
        }
    }

    pub fn is_stopping(&self) -> bool {
        self.stop.is_some()
    }

    /// From `on_train_begin`: start at `epoch` (0-based) instead of the
    /// options' `initial_epoch`, as after restoring a backup. Ignored later.
    pub fn resume_at(&mut self, epoch: usize) {
        *self.resume_at = Some(epoch);
    }

    /// Writes a full checkpoint to `path` (atomically) once every callback
    /// has run for this batch or epoch: weights, optimizer state, and the
    /// whole training state (position in the epoch, metric accumulators,
    /// History, callback states), so that resuming from it continues the
    /// run exactly. Several requests for one path write it once.
    pub fn save_checkpoint_after(&mut self, path: impl Into<PathBuf>) {
        let path = path.into();
        if !self.saves.contains(&path) {
            self.saves.push(path);
        }
    }
}

/// What a callback carries across a checkpoint: JSON values (store f64s as
/// their bits: JSON has no NaN or infinity; a `kind` string lets a resumed
/// fit give each callback the state of its own kind) and, optionally, weights.
#[derive(Clone, Debug, PartialEq)]
pub struct CallbackState {
    pub values: serde_json::Value,
    pub weights: Option<VarStore>,
}

/// Hooks into the training loop. Every method has a no-op default.
pub trait Callback {
    fn on_train_begin(&mut self, _ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        Ok(())
    }
    fn on_epoch_begin(&mut self, _epoch: usize, _ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        Ok(())
    }
    /// `logs` hold the running means over the epoch so far; `batch` is 0-based within the epoch.
    fn on_train_batch_end(
        &mut self,
        _batch: usize,
        _logs: &Logs,
        _ctx: &mut FitContext<'_>,
    ) -> Result<(), RuntimeError> {
        Ok(())
    }
    /// `logs` hold the epoch's training and validation values; callbacks may add keys.
    fn on_epoch_end(&mut self, _epoch: usize, _logs: &mut Logs, _ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        Ok(())
    }
    fn on_train_end(&mut self, _ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        Ok(())
    }
    /// The state this callback needs to continue exactly after a resume
    /// (counters, best values), saved in full checkpoints. `None`: nothing.
    fn state(&self) -> Option<CallbackState> {
        None
    }
    /// Restores [`state`](Self::state) after `on_train_begin` when `fit`
    /// resumes from a checkpoint.
    fn restore_state(&mut self, _state: CallbackState) -> Result<(), RuntimeError> {
        Ok(())
    }
}

/// An f64 as JSON that round-trips exactly (its bits).
pub(crate) fn f64_json(v: f64) -> serde_json::Value {
    serde_json::Value::from(v.to_bits())
}

/// Reads back [`f64_json`] (or a plain number) from `values[key]`.
pub(crate) fn json_f64(values: &serde_json::Value, key: &str, who: &str) -> Result<f64, RuntimeError> {
    values.get(key).and_then(serde_json::Value::as_u64).map(f64::from_bits).ok_or_else(|| bad_state(who, key))
}

/// Reads `values[key]` as a count.
pub(crate) fn json_usize(values: &serde_json::Value, key: &str, who: &str) -> Result<usize, RuntimeError> {
    values
        .get(key)
        .and_then(serde_json::Value::as_u64)
        .and_then(|v| usize::try_from(v).ok())
        .ok_or_else(|| bad_state(who, key))
}

/// Reads `values[key]` as an optional count (`null` is `None`).
pub(crate) fn json_opt_usize(values: &serde_json::Value, key: &str, who: &str) -> Result<Option<usize>, RuntimeError> {
    match values.get(key) {
        Some(serde_json::Value::Null) => Ok(None),
        Some(_) => json_usize(values, key, who).map(Some),
        None => Err(bad_state(who, key)),
    }
}

fn bad_state(who: &str, key: &str) -> RuntimeError {
    RuntimeError::invalid(format!(
        "the checkpoint's state of callback `{who}` lacks a valid `{key}`; it was written by another fit"
    ))
}

/// Whether larger values of `monitor` are better, as Keras's `mode="auto"` decides.
pub(crate) fn higher_is_better(monitor: &str) -> bool {
    let base = monitor.strip_prefix("val_").unwrap_or(monitor);
    base.contains("acc") || base.contains("auc") || base.starts_with("fmeasure")
}

/// How a monitored value is compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Auto,
    Min,
    Max,
}

impl Mode {
    pub(crate) fn maximize(self, monitor: &str) -> bool {
        match self {
            Mode::Auto => higher_is_better(monitor),
            Mode::Min => false,
            Mode::Max => true,
        }
    }
}
