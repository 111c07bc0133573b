//! Saving and restoring a model's state: weights (safetensors keyed by
//! variable name) and full training checkpoints, both written atomically.
//!
//! Loading is all-or-nothing: a file that lacks a variable, has one of the
//! wrong shape, or holds an unknown one leaves the model unchanged and says
//! which name is wrong.

use std::collections::HashMap;
use std::path::Path;

use ndarray::ArrayD;

use crate::error::RuntimeError;
use crate::fit::FitState;
use crate::io::{read_tensors, write_tensors, Checkpoint};
use crate::model::{GraphKind, Model};
use crate::vars::{VarStore, Variable};
use nn_compiler::ir::VarKind;

/// Weights-file metadata holding the class names as a JSON list.
const CLASS_NAMES_KEY: &str = "class_names";

impl Model {
    /// One variable as an array.
    pub fn get_weight(&self, name: &str) -> Option<ArrayD<f32>> {
        self.weights.get(name).map(Variable::to_array)
    }

    /// Replaces one variable, checking its shape.
    pub fn set_weight(&mut self, name: &str, value: &ArrayD<f32>) -> Result<(), RuntimeError> {
        let var = self.weights.get(name).ok_or_else(|| {
            RuntimeError::invalid(format!(
                "model `{}` has no variable `{name}`; it has: {}",
                self.name,
                self.weights.names().join(", ")
            ))
        })?;
        if value.shape() != var.shape.as_slice() {
            return Err(RuntimeError::invalid(format!(
                "variable `{name}` has shape {:?} but the new value has shape {:?}",
                var.shape,
                value.shape()
            )));
        }
        self.weights.set(name, value.iter().copied().collect())
    }

    /// Copies every variable of `other` (by name) into the model; all model
    /// variables must be present with their shapes.
    pub fn set_weights(&mut self, other: &VarStore) -> Result<(), RuntimeError> {
        let mut updates = Vec::with_capacity(self.weights.len());
        for var in self.weights.iter() {
            let src = other.get(&var.name).ok_or_else(|| {
                RuntimeError::invalid(format!("the given weights lack `{}` (model `{}`)", var.name, self.name))
            })?;
            if src.shape != var.shape {
                return Err(RuntimeError::invalid(format!(
                    "weight `{}` has shape {:?} in the model but {:?} in the given weights",
                    var.name, var.shape, src.shape
                )));
            }
            updates.push((var.name.clone(), src.data.clone()));
        }
        for (name, data) in updates {
            self.weights.set(&name, data)?;
        }
        Ok(())
    }

    /// Saves the weights as safetensors keyed by variable name (atomically).
    /// Class id → name of the data the model was trained on (CSV label
    /// strings, image subfolders, a dataset's classes), if known.
    pub fn class_names(&self) -> Option<&[String]> {
        self.class_names.as_deref()
    }

    /// Names the classes; saved with the weights so `predict` can show them.
    pub fn set_class_names(&mut self, names: Option<Vec<String>>) {
        self.class_names = names;
    }

    /// Writes the weights (safetensors). In a distributed group only rank 0
    /// writes; every rank holds the same weights.
    pub fn save_weights(&self, path: impl AsRef<Path>) -> Result<(), RuntimeError> {
        if !self.is_chief() {
            return Ok(());
        }
        let mut meta = HashMap::from([
            ("format".to_string(), "nn-weights-v1".to_string()),
            ("model".to_string(), self.name.clone()),
        ]);
        if let Some(names) = &self.class_names {
            meta.insert(CLASS_NAMES_KEY.to_string(), serde_json::to_string(names).unwrap_or_default());
        }
        write_tensors(
            path.as_ref(),
            self.weights.iter().map(|v| (v.name.clone(), v.shape.as_slice(), v.data.as_slice())),
            meta,
        )
    }

    /// Loads weights saved by [`save_weights`](Self::save_weights) (or the
    /// weights part of a checkpoint). Every variable must be present with
    /// its shape, and the file may hold no others.
    pub fn load_weights(&mut self, path: impl AsRef<Path>) -> Result<(), RuntimeError> {
        let path = path.as_ref();
        let file = read_tensors(path)?;
        let is_checkpoint = file.tensors.keys().any(|k| k.starts_with("weights/"));
        let mut store = VarStore::new();
        for (name, t) in &file.tensors {
            let name = if is_checkpoint {
                match name.strip_prefix("weights/") {
                    Some(n) => n,
                    None => continue,
                }
            } else {
                name.as_str()
            };
            if self.weights.get(name).is_none() {
                return Err(RuntimeError::format(
                    path,
                    format!(
                        "tensor `{name}` is not a variable of model `{}` (it has: {})",
                        self.name,
                        self.weights.names().join(", ")
                    ),
                ));
            }
            store.insert(Variable {
                name: name.to_string(),
                shape: t.shape.clone(),
                trainable: true,
                data: t.data.clone(),
            })?;
        }
        self.set_weights(&store).map_err(|e| RuntimeError::format(path, e.to_string()))?;
        if let Some(names) = file.metadata.get(CLASS_NAMES_KEY) {
            let names: Vec<String> = serde_json::from_str(names).map_err(|e| {
                RuntimeError::format(path, format!("metadata `{CLASS_NAMES_KEY}` is not a list of names: {e}"))
            })?;
            self.class_names = Some(names);
        }
        Ok(())
    }

    /// The complete training state, with `epoch` completed epochs.
    pub fn checkpoint(&self, epoch: usize) -> Checkpoint {
        Checkpoint {
            weights: self.weights.clone(),
            slots: self.slots.clone(),
            epoch,
            iterations: self.iterations,
            learning_rate: self.learning_rate(),
            seed: self.seed,
            shuffle_seed: self.shuffle_seed,
            optimizer: self.compiled.as_ref().map_or_else(String::new, |c| c.config.optimizer.name().to_string()),
            fingerprint: Some(self.fingerprint()),
            fit_state: None,
            state_tensors: VarStore::new(),
        }
    }

    /// A hash of the model's name and inference graph (every op, shape and
    /// variable): a checkpoint records it, so one from another model — even
    /// one whose variables happen to have the same names and shapes — is
    /// refused when loaded.
    pub fn fingerprint(&self) -> String {
        let text = format!("{}\n{}", self.name, nn_compiler::ir::print_graph(self.inference_graph()));
        // FNV-1a, then a final mix: stable across processes and versions of std.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{:016x}", nn_compiler::ir::rng::mix64(h))
    }

    /// Writes [`checkpoint`](Self::checkpoint) atomically (rank 0 only in a
    /// distributed group).
    pub fn save_checkpoint(&self, path: impl AsRef<Path>, epoch: usize) -> Result<(), RuntimeError> {
        if !self.is_chief() {
            return Ok(());
        }
        self.checkpoint(epoch).save(path.as_ref())
    }

    /// A checkpoint taken after some updates must hold exactly the
    /// optimizer state this model's training step uses: a missing slot
    /// would restart silently from zero, a foreign one means another model.
    fn check_checkpoint_slots(&self, slots: &VarStore) -> Result<(), String> {
        let step = self.graph_for(GraphKind::TrainStep).map_err(|e| e.to_string())?;
        let expected: Vec<_> = step.vars.iter().filter(|d| matches!(d.kind, VarKind::Slot { .. })).collect();
        for decl in &expected {
            match slots.get(&decl.name) {
                None => {
                    return Err(format!(
                        "the optimizer state `{}` is missing; the checkpoint is incomplete or from another model",
                        decl.name
                    ))
                }
                Some(v) if v.shape != decl.shape => {
                    return Err(format!(
                        "the optimizer state `{}` has shape {:?} but the model needs {:?}; the checkpoint is from \
                         another model",
                        decl.name, v.shape, decl.shape
                    ))
                }
                Some(_) => {}
            }
        }
        if let Some(extra) = slots.iter().find(|v| !expected.iter().any(|d| d.name == v.name)) {
            return Err(format!(
                "the checkpoint holds optimizer state `{}`, which model `{}` does not have; it is from another model",
                extra.name, self.name
            ));
        }
        Ok(())
    }

    /// Restores a checkpoint into a compiled model and returns the number of
    /// completed epochs (pass it as `initial_epoch` to continue).
    pub fn load_checkpoint(&mut self, path: impl AsRef<Path>) -> Result<usize, RuntimeError> {
        let path = path.as_ref();
        let ckpt = Checkpoint::load(path)?;
        if let Some(theirs) = &ckpt.fingerprint {
            let ours = self.fingerprint();
            if *theirs != ours {
                return Err(RuntimeError::format(
                    path,
                    format!(
                        "the checkpoint belongs to another model (fingerprint {theirs}; model `{}` has {ours}): its \
                         layers, shapes or name differ; resume with the model that wrote it",
                        self.name
                    ),
                ));
            }
        }
        let fit_state = match &ckpt.fit_state {
            None => None,
            Some(text) => {
                let state = FitState::from_json(text).map_err(|e| RuntimeError::format(path, e))?;
                if state.epoch != ckpt.epoch {
                    return Err(RuntimeError::format(
                        path,
                        format!(
                            "checkpoint metadata says epoch {} but its training state epoch {}",
                            ckpt.epoch, state.epoch
                        ),
                    ));
                }
                if let Some(t) = ckpt.state_tensors.iter().find(|t| !state.owns_tensor(&t.name)) {
                    return Err(RuntimeError::format(
                        path,
                        format!("tensor `state/{}` belongs to no callback of the training state", t.name),
                    ));
                }
                Some(state)
            }
        };
        if fit_state.is_none() && !ckpt.state_tensors.is_empty() {
            return Err(RuntimeError::format(
                path,
                "the checkpoint holds `state/` tensors but no `fit_state` metadata",
            ));
        }
        let compiled = self.compiled_ref()?;
        let ours = compiled.config.optimizer.name();
        if !ckpt.optimizer.is_empty() && ckpt.optimizer != ours {
            return Err(RuntimeError::format(
                path,
                format!(
                    "the checkpoint holds `{}` optimizer state but the model is compiled with `{ours}`",
                    ckpt.optimizer
                ),
            ));
        }
        self.set_weights(&ckpt.weights).map_err(|e| RuntimeError::format(path, e.to_string()))?;
        if ckpt.iterations > 0 {
            self.check_checkpoint_slots(&ckpt.slots).map_err(|e| RuntimeError::format(path, e))?;
        }
        if ckpt.seed != self.seed {
            self.relower(ckpt.seed)?;
        }
        // Slots are rebound by name on the next graph preparation.
        self.reset_training_graphs();
        self.slots = ckpt.slots;
        self.iterations = ckpt.iterations;
        self.optimizer_built = ckpt.iterations > 0;
        self.shuffle_seed = ckpt.shuffle_seed;
        self.set_learning_rate(ckpt.learning_rate)?;
        self.pending_resume = fit_state.map(|s| (s, ckpt.state_tensors));
        Ok(ckpt.epoch)
    }
}
