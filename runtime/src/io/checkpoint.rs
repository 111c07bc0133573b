//! Training checkpoints: everything `fit` needs to continue exactly where it
//! stopped — weights, optimizer slots, completed epochs, optimizer step,
//! base learning rate and the seed that drives shuffling and dropout.
//!
//! Shuffling and dropout are pure functions of (seed, epoch) and (seed,
//! step), so these numbers are the whole random state: resuming from a
//! checkpoint reproduces the uninterrupted run bit for bit. Checkpoints that
//! `fit` writes also hold the training state (`fit_state`: the position in
//! the epoch, metric accumulators, History, callback states, with callback
//! tensors under `state/`) and the fingerprint of the model they belong to.

use std::collections::HashMap;
use std::path::Path;

use super::tensors::{read_tensors, write_tensors};
use crate::error::RuntimeError;
use crate::vars::{VarStore, Variable};

/// The `format` metadata value of checkpoint files.
pub const CHECKPOINT_FORMAT: &str = "nn-checkpoint-v1";

/// Metadata keys of the model fingerprint and of `fit`'s training state.
pub const FINGERPRINT_KEY: &str = "model_fingerprint";
pub const FIT_STATE_KEY: &str = "fit_state";

#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    pub weights: VarStore,
    pub slots: VarStore,
    /// Epochs completed: pass as `initial_epoch` to continue.
    pub epoch: usize,
    /// Optimizer updates applied.
    pub iterations: u64,
    pub learning_rate: f64,
    /// The model seed: dropout masks are keyed by it.
    pub seed: u64,
    /// The seed of the per-epoch shuffles.
    pub shuffle_seed: u64,
    /// The optimizer the slots belong to (`adam`, …).
    pub optimizer: String,
    /// A hash of the model's inference graph and name, checked on load.
    pub fingerprint: Option<String>,
    /// `fit`'s training state (JSON), when `fit` wrote the checkpoint.
    pub fit_state: Option<String>,
    /// Tensors of that state (callbacks' weight snapshots).
    pub state_tensors: VarStore,
}

impl Checkpoint {
    pub fn save(&self, path: &Path) -> Result<(), RuntimeError> {
        let tensors = self
            .weights
            .iter()
            .map(|v| (format!("weights/{}", v.name), v.shape.as_slice(), v.data.as_slice()))
            .chain(self.slots.iter().map(|v| (format!("slots/{}", v.name), v.shape.as_slice(), v.data.as_slice())))
            .chain(
                self.state_tensors.iter().map(|v| (format!("state/{}", v.name), v.shape.as_slice(), v.data.as_slice())),
            );
        let trainable: Vec<&str> = self.weights.iter().filter(|v| !v.trainable).map(|v| v.name.as_str()).collect();
        let mut metadata = HashMap::from([
            ("format".to_string(), CHECKPOINT_FORMAT.to_string()),
            ("epoch".to_string(), self.epoch.to_string()),
            ("iterations".to_string(), self.iterations.to_string()),
            // Exact round trip: the bits of the f64.
            ("learning_rate_bits".to_string(), self.learning_rate.to_bits().to_string()),
            ("learning_rate".to_string(), self.learning_rate.to_string()),
            ("seed".to_string(), self.seed.to_string()),
            ("shuffle_seed".to_string(), self.shuffle_seed.to_string()),
            ("optimizer".to_string(), self.optimizer.clone()),
            ("non_trainable".to_string(), trainable.join(",")),
        ]);
        if let Some(f) = &self.fingerprint {
            metadata.insert(FINGERPRINT_KEY.to_string(), f.clone());
        }
        if let Some(s) = &self.fit_state {
            metadata.insert(FIT_STATE_KEY.to_string(), s.clone());
        }
        write_tensors(path, tensors, metadata)
    }

    pub fn load(path: &Path) -> Result<Checkpoint, RuntimeError> {
        let file = read_tensors(path)?;
        let meta = &file.metadata;
        if meta.get("format").map(String::as_str) != Some(CHECKPOINT_FORMAT) {
            return Err(RuntimeError::format(
                path,
                "not an nn checkpoint (no `format: nn-checkpoint-v1` metadata); use `load_weights` for weight files",
            ));
        }
        let field = |key: &str| {
            meta.get(key).ok_or_else(|| RuntimeError::format(path, format!("checkpoint metadata lacks `{key}`")))
        };
        let parse_u64 = |key: &str| {
            field(key)?
                .parse::<u64>()
                .map_err(|_| RuntimeError::format(path, format!("checkpoint metadata `{key}` is not a number")))
        };
        let epoch = parse_u64("epoch")? as usize;
        let iterations = parse_u64("iterations")?;
        let learning_rate = f64::from_bits(parse_u64("learning_rate_bits")?);
        let seed = parse_u64("seed")?;
        let shuffle_seed = parse_u64("shuffle_seed")?;
        let optimizer = field("optimizer")?.clone();
        let non_trainable: Vec<&str> = meta.get("non_trainable").map(|s| s.split(',').collect()).unwrap_or_default();

        let mut names: Vec<&String> = file.tensors.keys().collect();
        names.sort();
        let mut weights = VarStore::new();
        let mut slots = VarStore::new();
        let mut state_tensors = VarStore::new();
        for name in names {
            let t = &file.tensors[name];
            if let Some(w) = name.strip_prefix("weights/") {
                let trainable = !non_trainable.contains(&w);
                weights.insert(Variable {
                    name: w.to_string(),
                    shape: t.shape.clone(),
                    trainable,
                    data: t.data.clone(),
                })?;
            } else if let Some(s) = name.strip_prefix("state/") {
                state_tensors.insert(Variable {
                    name: s.to_string(),
                    shape: t.shape.clone(),
                    trainable: false,
                    data: t.data.clone(),
                })?;
            } else if let Some(s) = name.strip_prefix("slots/") {
                slots.insert(Variable {
                    name: s.to_string(),
                    shape: t.shape.clone(),
                    trainable: false,
                    data: t.data.clone(),
                })?;
            } else {
                return Err(RuntimeError::format(path, format!("unexpected tensor `{name}` in a checkpoint")));
            }
        }
        Ok(Checkpoint {
            weights,
            slots,
            epoch,
            iterations,
            learning_rate,
            seed,
            shuffle_seed,
            optimizer,
            fingerprint: meta.get(FINGERPRINT_KEY).cloned(),
            fit_state: meta.get(FIT_STATE_KEY).cloned(),
            state_tensors,
        })
    }
}
