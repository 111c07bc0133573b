//! Saves a full checkpoint (or, with `save_weights_only`, just the weights)
//! at the end of epochs (Keras's `ModelCheckpoint`), every epoch or only when
//! the monitored value improves. Files are written atomically, so an
//! interrupted run never leaves a torn checkpoint. Both kinds load with
//! `Model::load_weights`; full checkpoints also with `load_checkpoint`.
//!
//! Weights that are not finite (a diverged run) are never written.
//!
//! The path may contain `{epoch}` or `{epoch:0Nd}` (1-based, as Keras
//! formats it), e.g. `ckpt/model-{epoch:02d}.safetensors`.

use std::path::PathBuf;

use super::{f64_json, json_f64, Callback, CallbackState, FitContext, Mode};
use crate::error::RuntimeError;
use crate::fit::Logs;

pub struct ModelCheckpoint {
    pub path: String,
    pub monitor: String,
    pub save_best_only: bool,
    pub save_weights_only: bool,
    pub mode: Mode,
    /// Also save every this many optimizer steps (mid-epoch checkpoints).
    pub every_steps: Option<usize>,
    best: Option<f64>,
    saved: Vec<PathBuf>,
}

impl ModelCheckpoint {
    /// Saves every epoch, monitoring `val_loss` (Keras's defaults).
    pub fn new(path: impl Into<String>) -> ModelCheckpoint {
        ModelCheckpoint {
            path: path.into(),
            monitor: "val_loss".into(),
            save_best_only: false,
            save_weights_only: false,
            mode: Mode::Auto,
            every_steps: None,
            best: None,
            saved: Vec::new(),
        }
    }

    pub fn monitor(mut self, monitor: impl Into<String>) -> Self {
        self.monitor = monitor.into();
        self
    }

    pub fn save_best_only(mut self, yes: bool) -> Self {
        self.save_best_only = yes;
        self
    }

    pub fn save_weights_only(mut self, yes: bool) -> Self {
        self.save_weights_only = yes;
        self
    }

    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Files written so far, in order.
    /// Also checkpoint every `steps` optimizer steps, mid-epoch (counted
    /// over the whole run, so a resumed run saves at the same steps). The
    /// end-of-epoch saves stay; unlike Keras's integer `save_freq`, which
    /// replaces them. `None` or 0: only at epoch ends.
    pub fn save_every_steps(mut self, steps: Option<usize>) -> Self {
        self.every_steps = steps.filter(|&n| n > 0);
        self
    }

    /// The files written so far (a path saved several times is listed each time).
    pub fn saved(&self) -> &[PathBuf] {
        &self.saved
    }

    fn path_for(&self, epoch: usize) -> Result<PathBuf, RuntimeError> {
        format_epoch(&self.path, epoch + 1).map(PathBuf::from)
    }
}

/// Replaces `{epoch}` and `{epoch:0Nd}` by `epoch`.
fn format_epoch(template: &str, epoch: usize) -> Result<String, RuntimeError> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out += &rest[..start];
        let end = rest[start..].find('}').map(|e| start + e).ok_or_else(|| {
            RuntimeError::invalid(format!(
                "checkpoint path `{template}` has an unclosed `{{`; use `{{epoch}}` or `{{epoch:02d}}`"
            ))
        })?;
        let field = &rest[start + 1..end];
        match field.split_once(':') {
            None if field == "epoch" => out += &epoch.to_string(),
            Some(("epoch", spec)) => {
                let width = spec
                    .strip_suffix('d')
                    .map(|w| w.trim_start_matches('0'))
                    .and_then(|w| if w.is_empty() { Some(0) } else { w.parse::<usize>().ok() })
                    .ok_or_else(|| {
                        RuntimeError::invalid(format!(
                            "checkpoint path `{template}`: unsupported format `{{{field}}}`; use `{{epoch:02d}}`"
                        ))
                    })?;
                out += &format!("{epoch:0width$}");
            }
            _ => {
                return Err(RuntimeError::invalid(format!(
                    "checkpoint path `{template}`: unknown field `{{{field}}}`; only `{{epoch}}` is supported"
                )))
            }
        }
        rest = &rest[end + 1..];
    }
    out += rest;
    Ok(out)
}

impl Callback for ModelCheckpoint {
    fn on_train_begin(&mut self, _ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        // Validate the template before spending an epoch of training.
        self.path_for(0).map(|_| ())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        if self.save_best_only {
            let Some(&current) = logs.get(&self.monitor) else {
                return Ok(());
            };
            let maximize = self.mode.maximize(&self.monitor);
            let better = match self.best {
                None => current.is_finite(),
                Some(best) => (maximize && current > best) || (!maximize && current < best),
            };
            if !better {
                return Ok(());
            }
            self.best = Some(current);
        }
        // A diverged model's weights never replace a good checkpoint.
        if !ctx.model().weights().all_finite() {
            return Ok(());
        }
        let path = self.path_for(epoch)?;
        self.save(path, ctx)
    }

    fn on_train_batch_end(
        &mut self,
        _batch: usize,
        _logs: &Logs,
        ctx: &mut FitContext<'_>,
    ) -> Result<(), RuntimeError> {
        let Some(every) = self.every_steps else { return Ok(()) };
        if !ctx.iterations().is_multiple_of(every as u64) || ctx.is_stopping() || !ctx.model().weights().all_finite() {
            return Ok(());
        }
        let path = self.path_for(ctx.epoch())?;
        self.save(path, ctx)
    }

    fn state(&self) -> Option<CallbackState> {
        Some(CallbackState {
            values: serde_json::json!({ "kind": "model_checkpoint", "best": self.best.map(f64_json) }),
            weights: None,
        })
    }

    fn restore_state(&mut self, state: CallbackState) -> Result<(), RuntimeError> {
        self.best = match state.values.get("best") {
            Some(serde_json::Value::Null) => None,
            _ => Some(json_f64(&state.values, "best", "model_checkpoint")?),
        };
        Ok(())
    }
}

impl ModelCheckpoint {
    /// Weights are written now; a full checkpoint once every callback has
    /// run, so it holds their updated state.
    fn save(&mut self, path: PathBuf, ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        if self.save_weights_only {
            ctx.model().save_weights(&path)?;
        } else {
            ctx.save_checkpoint_after(path.clone());
        }
        self.saved.push(path);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::format_epoch;

    #[test]
    fn epoch_templates() {
        assert_eq!(format_epoch("m-{epoch:02d}.st", 3).unwrap(), "m-03.st");
        assert_eq!(format_epoch("m-{epoch}.st", 12).unwrap(), "m-12.st");
        assert_eq!(format_epoch("plain.st", 1).unwrap(), "plain.st");
        assert!(format_epoch("m-{loss}.st", 1).unwrap_err().to_string().contains("unknown field"));
    }
}
