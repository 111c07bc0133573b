//! Stops training as soon as the loss becomes NaN or infinite (Keras's
//! `TerminateOnNaN`). The stop reason, recorded in `History::stop_reason`
//! and printed by `fit` when verbose, names the epoch, batch and step.

use super::{Callback, FitContext};
use crate::error::RuntimeError;
use crate::fit::Logs;

#[derive(Clone, Debug, Default)]
pub struct TerminateOnNan {
    terminated_at: Option<(usize, usize, u64)>,
}

impl TerminateOnNan {
    pub fn new() -> TerminateOnNan {
        TerminateOnNan::default()
    }

    /// (0-based epoch, 0-based batch, 1-based global step) where training stopped.
    pub fn terminated_at(&self) -> Option<(usize, usize, u64)> {
        self.terminated_at
    }
}

impl Callback for TerminateOnNan {
    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs, ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        if let Some(&loss) = logs.get("loss") {
            if !loss.is_finite() {
                let step = ctx.iterations();
                self.terminated_at = Some((ctx.epoch(), batch, step));
                let msg = format!(
                    "epoch {}, batch {} (step {step}): invalid loss {loss}, terminating training",
                    ctx.epoch() + 1,
                    batch + 1
                );
                ctx.stop_training(msg);
            }
        }
        Ok(())
    }
}
