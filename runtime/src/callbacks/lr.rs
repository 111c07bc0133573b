//! Learning-rate callbacks: a per-epoch schedule function (Keras's
//! `LearningRateScheduler`) and decay on plateaus (`ReduceLROnPlateau`).
//! Both log the rate in force as `learning_rate`, as Keras 3 does.

use super::{f64_json, json_f64, json_usize, Callback, CallbackState, FitContext, Mode};
use crate::error::RuntimeError;
use crate::fit::Logs;

/// Sets the learning rate at the start of each epoch to
/// `schedule(epoch, current_lr)` (0-based epoch).
pub struct LearningRateScheduler {
    schedule: Box<dyn FnMut(usize, f64) -> f64>,
}

impl LearningRateScheduler {
    pub fn new(schedule: impl FnMut(usize, f64) -> f64 + 'static) -> LearningRateScheduler {
        LearningRateScheduler { schedule: Box::new(schedule) }
    }
}

impl Callback for LearningRateScheduler {
    fn on_epoch_begin(&mut self, epoch: usize, ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        let lr = (self.schedule)(epoch, ctx.learning_rate());
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(RuntimeError::invalid(format!(
                "the learning-rate schedule returned {lr} for epoch {}; it must return a finite rate >= 0",
                epoch + 1
            )));
        }
        ctx.set_learning_rate(lr)
    }

    fn on_epoch_end(&mut self, _epoch: usize, logs: &mut Logs, ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        logs.insert("learning_rate".into(), ctx.learning_rate());
        Ok(())
    }
}

/// Multiplies the learning rate by `factor` when `monitor` has not improved
/// by more than `min_delta` for `patience` epochs.
pub struct ReduceLrOnPlateau {
    pub monitor: String,
    pub factor: f64,
    pub patience: usize,
    pub mode: Mode,
    pub min_delta: f64,
    pub cooldown: usize,
    pub min_lr: f64,
    maximize: bool,
    best: f64,
    wait: usize,
    cooldown_counter: usize,
}

impl ReduceLrOnPlateau {
    /// Keras's defaults: factor 0.1, patience 10, min_delta 1e-4, cooldown 0, min_lr 0.
    pub fn new(monitor: impl Into<String>) -> ReduceLrOnPlateau {
        ReduceLrOnPlateau {
            monitor: monitor.into(),
            factor: 0.1,
            patience: 10,
            mode: Mode::Auto,
            min_delta: 1e-4,
            cooldown: 0,
            min_lr: 0.0,
            maximize: false,
            best: f64::INFINITY,
            wait: 0,
            cooldown_counter: 0,
        }
    }

    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }

    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }

    pub fn min_lr(mut self, min_lr: f64) -> Self {
        self.min_lr = min_lr;
        self
    }

    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.min_delta = min_delta;
        self
    }

    pub fn cooldown(mut self, cooldown: usize) -> Self {
        self.cooldown = cooldown;
        self
    }

    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }
}

impl Callback for ReduceLrOnPlateau {
    fn on_train_begin(&mut self, _ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        if !(self.factor > 0.0 && self.factor < 1.0) {
            return Err(RuntimeError::invalid(format!("ReduceLROnPlateau needs 0 < factor < 1, got {}", self.factor)));
        }
        self.maximize = self.mode.maximize(&self.monitor);
        self.best = if self.maximize { f64::NEG_INFINITY } else { f64::INFINITY };
        self.wait = 0;
        self.cooldown_counter = 0;
        Ok(())
    }

    fn on_epoch_end(&mut self, _epoch: usize, logs: &mut Logs, ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        logs.insert("learning_rate".into(), ctx.learning_rate());
        let Some(&current) = logs.get(&self.monitor) else {
            return Ok(());
        };
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.wait = 0;
        }
        let improved =
            if self.maximize { current > self.best + self.min_delta } else { current < self.best - self.min_delta };
        if improved {
            self.best = current;
            self.wait = 0;
        } else if self.cooldown_counter == 0 {
            self.wait += 1;
            if self.wait >= self.patience {
                let old = ctx.learning_rate();
                if old > self.min_lr {
                    ctx.set_learning_rate((old * self.factor).max(self.min_lr))?;
                    self.cooldown_counter = self.cooldown;
                    self.wait = 0;
                }
            }
        }
        Ok(())
    }

    fn state(&self) -> Option<CallbackState> {
        Some(CallbackState {
            values: serde_json::json!({
                "kind": "reduce_lr_on_plateau",
                "best": f64_json(self.best),
                "wait": self.wait,
                "cooldown_counter": self.cooldown_counter,
            }),
            weights: None,
        })
    }

    fn restore_state(&mut self, state: CallbackState) -> Result<(), RuntimeError> {
        let v = &state.values;
        self.best = json_f64(v, "best", "reduce_lr_on_plateau")?;
        self.wait = json_usize(v, "wait", "reduce_lr_on_plateau")?;
        self.cooldown_counter = json_usize(v, "cooldown_counter", "reduce_lr_on_plateau")?;
        Ok(())
    }
}
