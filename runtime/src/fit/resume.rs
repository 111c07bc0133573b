//! The training state a checkpoint carries besides weights and optimizer
//! slots, so that `fit` continues exactly where it stopped, even in the
//! middle of an epoch: the epoch and batch position, the epoch's metric
//! accumulators, the History so far and each callback's state.
//!
//! The shuffle order is not stored: it is a pure function of (shuffle seed,
//! epoch), and dropout masks of (seed, step), both in the checkpoint. What
//! could differ between the run that wrote the checkpoint and the one that
//! resumes (batch size, number of training samples, shuffling) is stored and
//! compared, so a mismatch is an error rather than a silently different run.
//! Callback states are matched by kind (the `kind` key of their JSON), in
//! order; a callback the checkpoint has no state for starts fresh, as every
//! callback does in Keras.
//!
//! Every f64 is stored as its bits: JSON has no NaN or infinity, and the
//! resumed run must see exactly the values the interrupted one had.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::batches::MeanTracker;
use super::history::History;
use crate::callbacks::CallbackState;
use crate::error::RuntimeError;
use crate::vars::VarStore;

/// Where `fit` was and what it had accumulated when a checkpoint was taken.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct FitState {
    /// The 0-based epoch to continue in.
    pub(crate) epoch: usize,
    /// Batches of `epoch` already trained (0 at an epoch boundary).
    pub(crate) batch: usize,
    pub(crate) batch_size: usize,
    pub(crate) train_samples: usize,
    pub(crate) shuffle: bool,
    /// The epoch's accumulators (bits), when `batch > 0`.
    pub(crate) sums: Vec<Vec<u64>>,
    pub(crate) count: usize,
    pub(crate) history: HistoryBits,
    /// One entry per callback, in order: its JSON state, if it has one.
    pub(crate) callbacks: Vec<Option<serde_json::Value>>,
    /// Callbacks' tensors (restore-best-weights snapshots), stored in the
    /// checkpoint as tensors, not in this JSON; listed here by callback.
    #[serde(default)]
    pub(crate) callback_tensors: Vec<usize>,
}

/// [`History`] with values as bits.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct HistoryBits {
    epochs: Vec<usize>,
    history: BTreeMap<String, Vec<u64>>,
    partial_epochs: Vec<usize>,
    gaps: BTreeMap<String, Vec<usize>>,
}

impl HistoryBits {
    pub(crate) fn from_history(h: &History) -> HistoryBits {
        HistoryBits {
            epochs: h.epochs.clone(),
            history: h.history.iter().map(|(k, v)| (k.clone(), v.iter().map(|x| x.to_bits()).collect())).collect(),
            partial_epochs: h.partial_epochs.clone(),
            gaps: h.gaps.clone(),
        }
    }

    pub(crate) fn to_history(&self) -> History {
        History {
            epochs: self.epochs.clone(),
            history: self
                .history
                .iter()
                .map(|(k, v)| (k.clone(), v.iter().map(|b| f64::from_bits(*b)).collect()))
                .collect(),
            stop_reason: None,
            partial_epochs: self.partial_epochs.clone(),
            gaps: self.gaps.clone(),
        }
    }
}

/// The metadata key of the fit state in a checkpoint.
pub(crate) const FIT_STATE_KEY: &str = "fit_state";

/// Tensor names of callback `index`'s state inside a checkpoint's `state/` part.
pub(crate) fn callback_tensor_prefix(index: usize) -> String {
    format!("callback{index}/")
}

impl FitState {
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| unreachable!("plain numbers, strings and JSON values"))
    }

    /// Parses the stored state and checks that its numbers are consistent.
    pub(crate) fn from_json(text: &str) -> Result<FitState, String> {
        let state: FitState = serde_json::from_str(text)
            .map_err(|e| format!("checkpoint metadata `{FIT_STATE_KEY}` is malformed: {e}"))?;
        if state.batch_size == 0 {
            return Err(format!("checkpoint metadata `{FIT_STATE_KEY}` has batch size 0"));
        }
        if state.batch > state.train_samples.div_ceil(state.batch_size) {
            return Err(format!(
                "checkpoint metadata `{FIT_STATE_KEY}` is at batch {} of an epoch with only {} batches",
                state.batch,
                state.train_samples.div_ceil(state.batch_size)
            ));
        }
        if state.batch == 0 && (!state.sums.is_empty() || state.count != 0) {
            return Err(format!("checkpoint metadata `{FIT_STATE_KEY}` holds metric sums at an epoch boundary"));
        }
        if state.count > state.batch.saturating_mul(state.batch_size) {
            return Err(format!(
                "checkpoint metadata `{FIT_STATE_KEY}` counts {} samples in {} batches of {}",
                state.count, state.batch, state.batch_size
            ));
        }
        let h = &state.history;
        if h.history.values().any(|s| s.len() != h.epochs.len()) {
            return Err(format!("checkpoint metadata `{FIT_STATE_KEY}` has a History series of the wrong length"));
        }
        Ok(state)
    }

    /// Checks that this fit is the one the checkpoint was taken from.
    pub(crate) fn check_matches(
        &self,
        first_epoch: usize,
        batch_size: usize,
        train_samples: usize,
        shuffle: bool,
    ) -> Result<(), RuntimeError> {
        let differ = |what: &str, saved: String, now: String| {
            Err(RuntimeError::invalid(format!(
                "the checkpoint was taken from a fit with {what} {saved}, but this fit has {now}; resume with the \
                 same settings and data"
            )))
        };
        if self.epoch != first_epoch {
            return differ("its next epoch", (self.epoch + 1).to_string(), format!("epoch {}", first_epoch + 1));
        }
        if self.batch_size != batch_size {
            return differ("batch size", self.batch_size.to_string(), batch_size.to_string());
        }
        if self.train_samples != train_samples {
            return differ("training samples", self.train_samples.to_string(), train_samples.to_string());
        }
        if self.shuffle != shuffle {
            return differ("shuffle", self.shuffle.to_string(), shuffle.to_string());
        }
        Ok(())
    }

    /// The epoch's accumulators, restored into a fresh tracker.
    pub(crate) fn restore_tracker(&self, tracker: &mut MeanTracker) -> Result<(), RuntimeError> {
        let sums: Vec<Vec<f64>> = self.sums.iter().map(|s| s.iter().map(|b| f64::from_bits(*b)).collect()).collect();
        tracker.restore(sums, self.count).map_err(RuntimeError::invalid)
    }

    /// Splits a callback's state for storage: JSON here, tensors beside.
    pub(crate) fn push_callback(&mut self, index: usize, state: Option<CallbackState>, tensors: &mut VarStore) {
        match state {
            None => self.callbacks.push(None),
            Some(s) => {
                self.callbacks.push(Some(s.values));
                if let Some(weights) = s.weights {
                    self.callback_tensors.push(index);
                    for v in weights.iter() {
                        let mut v = v.clone();
                        v.name = format!("{}{}", callback_tensor_prefix(index), v.name);
                        // Names are unique per callback prefix, so this cannot collide.
                        let _ = tensors.insert(v);
                    }
                }
            }
        }
    }

    /// Whether a `state/` tensor of the checkpoint belongs to a callback listed here.
    pub(crate) fn owns_tensor(&self, name: &str) -> bool {
        self.callback_tensors.iter().any(|&i| name.starts_with(&callback_tensor_prefix(i)))
    }

    /// Restores each callback from the first unused saved state of its kind.
    pub(crate) fn restore_callbacks<'c>(
        &self,
        callbacks: &mut [&mut (dyn crate::callbacks::Callback + 'c)],
        tensors: &VarStore,
    ) -> Result<(), RuntimeError> {
        let kind_of =
            |v: &serde_json::Value| v.get("kind").and_then(serde_json::Value::as_str).unwrap_or("").to_string();
        let mut used = vec![false; self.callbacks.len()];
        for cb in callbacks.iter_mut() {
            let Some(current) = cb.state() else { continue };
            let kind = kind_of(&current.values);
            let found = (0..self.callbacks.len())
                .find(|&i| !used[i] && self.callbacks[i].as_ref().is_some_and(|v| kind_of(v) == kind));
            if let Some(i) = found {
                used[i] = true;
                if let Some(state) = self.callback_state(i, tensors) {
                    cb.restore_state(state)?;
                }
            }
        }
        Ok(())
    }

    /// Callback `index`'s state, with its tensors taken from `tensors`.
    pub(crate) fn callback_state(&self, index: usize, tensors: &VarStore) -> Option<CallbackState> {
        let values = self.callbacks.get(index)?.clone()?;
        let weights = self.callback_tensors.contains(&index).then(|| {
            let prefix = callback_tensor_prefix(index);
            let mut store = VarStore::new();
            for v in tensors.iter() {
                if let Some(name) = v.name.strip_prefix(&prefix) {
                    let mut v = v.clone();
                    v.name = name.to_string();
                    let _ = store.insert(v);
                }
            }
            store
        });
        Some(CallbackState { values, weights })
    }
}

/// Where a checkpoint is taken: `batch` batches into `epoch` (0 = at the
/// start of `epoch`, after the previous one ended).
pub(crate) struct Position {
    pub(crate) epoch: usize,
    pub(crate) batch: usize,
    pub(crate) batch_size: usize,
    pub(crate) train_samples: usize,
    pub(crate) shuffle: bool,
}

/// Writes the full checkpoints callbacks asked for at this point, each with
/// the whole training state, and clears the requests. A model whose weights
/// are not finite writes nothing: a good checkpoint is never replaced by a
/// diverged one.
pub(crate) fn write_checkpoints<'c>(
    model: &crate::model::Model,
    saves: &mut Vec<std::path::PathBuf>,
    at: Position,
    tracker: Option<&MeanTracker>,
    history: &History,
    callbacks: &[&mut (dyn crate::callbacks::Callback + 'c)],
) -> Result<(), RuntimeError> {
    let paths = std::mem::take(saves);
    if paths.is_empty() || !model.weights().all_finite() {
        return Ok(());
    }
    let (sums, count) = match tracker {
        Some(t) if at.batch > 0 => {
            let (sums, count) = t.state();
            (sums.iter().map(|s| s.iter().map(|x| x.to_bits()).collect()).collect(), count)
        }
        _ => (Vec::new(), 0),
    };
    let mut state = FitState {
        epoch: at.epoch,
        batch: at.batch,
        batch_size: at.batch_size,
        train_samples: at.train_samples,
        shuffle: at.shuffle,
        sums,
        count,
        history: HistoryBits::from_history(history),
        callbacks: Vec::with_capacity(callbacks.len()),
        callback_tensors: Vec::new(),
    };
    let mut tensors = VarStore::new();
    for (i, cb) in callbacks.iter().enumerate() {
        state.push_callback(i, cb.state(), &mut tensors);
    }
    let mut ckpt = model.checkpoint(at.epoch);
    ckpt.fit_state = Some(state.to_json());
    ckpt.state_tensors = tensors;
    for path in paths {
        ckpt.save(&path)?;
    }
    Ok(())
}
