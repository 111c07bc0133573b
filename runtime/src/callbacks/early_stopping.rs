//! Stops training when a monitored value stops improving (Keras's
//! `EarlyStopping`), optionally restoring the best epoch's weights.

use super::{f64_json, json_f64, json_opt_usize, json_usize, Callback, CallbackState, FitContext, Mode};
use crate::error::RuntimeError;
use crate::fit::Logs;
use crate::vars::VarStore;

pub struct EarlyStopping {
    pub monitor: String,
    pub min_delta: f64,
    pub patience: usize,
    pub mode: Mode,
    pub restore_best_weights: bool,
    /// Epochs (0-based) before this one are a warm-up: not monitored.
    pub start_from_epoch: usize,
    maximize: bool,
    wait: usize,
    best: f64,
    best_epoch: Option<usize>,
    best_weights: Option<VarStore>,
    stopped_epoch: Option<usize>,
}

impl EarlyStopping {
    /// Keras's defaults: min_delta 0, patience 0, mode auto, no restoring.
    pub fn new(monitor: impl Into<String>) -> EarlyStopping {
        EarlyStopping {
            monitor: monitor.into(),
            min_delta: 0.0,
            patience: 0,
            mode: Mode::Auto,
            restore_best_weights: false,
            start_from_epoch: 0,
            maximize: false,
            wait: 0,
            best: f64::INFINITY,
            best_epoch: None,
            best_weights: None,
            stopped_epoch: None,
        }
    }

    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }

    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.min_delta = min_delta.abs();
        self
    }

    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    pub fn restore_best_weights(mut self, restore: bool) -> Self {
        self.restore_best_weights = restore;
        self
    }

    /// Keras's `start_from_epoch`: epochs before it are not monitored.
    pub fn start_from_epoch(mut self, epoch: usize) -> Self {
        self.start_from_epoch = epoch;
        self
    }

    /// The 0-based epoch training stopped at, if it stopped early.
    pub fn stopped_epoch(&self) -> Option<usize> {
        self.stopped_epoch
    }

    /// The 0-based epoch with the best monitored value.
    pub fn best_epoch(&self) -> Option<usize> {
        self.best_epoch
    }

    fn improved(&self, current: f64) -> bool {
        if self.maximize {
            current - self.min_delta > self.best
        } else {
            current + self.min_delta < self.best
        }
    }
}

impl Callback for EarlyStopping {
    fn on_train_begin(&mut self, _ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        self.maximize = self.mode.maximize(&self.monitor);
        self.wait = 0;
        self.best = if self.maximize { f64::NEG_INFINITY } else { f64::INFINITY };
        self.best_epoch = None;
        self.best_weights = None;
        self.stopped_epoch = None;
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        let Some(&current) = logs.get(&self.monitor) else {
            // Keras warns and skips; validation may simply not run this epoch.
            return Ok(());
        };
        if epoch < self.start_from_epoch {
            return Ok(());
        }
        if self.restore_best_weights && self.best_weights.is_none() {
            self.best_weights = Some(ctx.model().weights().clone());
        }
        self.wait += 1;
        if self.improved(current) {
            self.best = current;
            self.best_epoch = Some(epoch);
            if self.restore_best_weights {
                self.best_weights = Some(ctx.model().weights().clone());
            }
            self.wait = 0;
            return Ok(());
        }
        if self.wait >= self.patience && epoch > 0 {
            self.stopped_epoch = Some(epoch);
            ctx.stop_training(format!(
                "early stopping at epoch {}: `{}` did not improve for {} epoch(s) (best {:.4} at epoch {})",
                epoch + 1,
                self.monitor,
                self.wait,
                self.best,
                self.best_epoch.map_or(0, |e| e + 1)
            ));
        }
        Ok(())
    }

    fn state(&self) -> Option<CallbackState> {
        Some(CallbackState {
            values: serde_json::json!({
                "kind": "early_stopping",
                "wait": self.wait,
                "best": f64_json(self.best),
                "best_epoch": self.best_epoch,
                "stopped_epoch": self.stopped_epoch,
            }),
            weights: self.best_weights.clone(),
        })
    }

    fn restore_state(&mut self, state: CallbackState) -> Result<(), RuntimeError> {
        let v = &state.values;
        self.wait = json_usize(v, "wait", "early_stopping")?;
        self.best = json_f64(v, "best", "early_stopping")?;
        self.best_epoch = json_opt_usize(v, "best_epoch", "early_stopping")?;
        self.stopped_epoch = json_opt_usize(v, "stopped_epoch", "early_stopping")?;
        self.best_weights = state.weights;
        Ok(())
    }

    fn on_train_end(&mut self, ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        if self.restore_best_weights {
            if let Some(best) = self.best_weights.take() {
                ctx.model().set_weights(&best)?;
            }
        }
        Ok(())
    }
}
