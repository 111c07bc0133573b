//! Training checkpoints: everything `fit` needs to continue exactly where it
//! stopped — weights, optimizer slots, completed epochs, optimizer step,
//! base learning rate and the seed that drives shuffling and dropout.
//!
//! Shuffling and dropout are pure functions of (seed, epoch) and (seed,
//! step), so these numbers are the whole random state: resuming from a
//! checkpoint reproduces the uninterrupted run bit for bit.

use std::collections::HashMap;
use std::path::Path;

use super::tensors::{read_tensors, write_tensors};
use crate::error::RuntimeError;
use crate::vars::{VarStore, Variable};

/// The `format` metadata value of checkpoint files.
pub const CHECKPOINT_FORMAT: &str = "nn-checkpoint-v1";

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
}

impl Checkpoint {
    pub fn save(&self, path: &Path) -> Result<(), RuntimeError> {
        let tensors = self
            .weights
            .iter()
            .map(|v| (format!("weights/{}", v.name), v.shape.as_slice(), v.data.as_slice()))
            .chain(self.slots.iter().map(|v| (format!("slots/{}", v.name), v.shape.as_slice(), v.data.as_slice())));
        let trainable: Vec<&str> = self.weights.iter().filter(|v| !v.trainable).map(|v| v.name.as_str()).collect();
        let metadata = HashMap::from([
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
        Ok(Checkpoint { weights, slots, epoch, iterations, learning_rate, seed, shuffle_seed, optimizer })
    }
}
