//! The custom training loop API, a GradientTape analogue: compute the loss
//! and gradients for a batch, inspect or change them, then apply them with
//! a learning rate of your choice.
//!
//! Gradients come from `train::gradients` and updates from
//! `train::apply_gradients`, whose optimizer slots are the very ones `fit`
//! uses (bound by name), so a custom step and a `fit` step are
//! interchangeable: `compute_gradients` + `apply_gradients(lr)` performs
//! exactly the update `train_on_batch` would.

use ndarray::ArrayD;

use crate::data::{Features, Targets};
use crate::error::RuntimeError;
use crate::fit::{Batch, Bound, Inputs, TargetSet};
use crate::model::{CallData, GraphKind, Model};

/// Named gradients, one per trainable variable, in variable order.
pub type Gradients = Vec<(String, ArrayD<f32>)>;

impl Model {
    /// Loss and gradients of the loss with respect to every trainable
    /// variable, for the batch `x`/`y` (training mode: dropout active).
    /// Weights are not changed.
    pub fn compute_gradients(&mut self, x: &Features, y: &Targets) -> Result<(f64, Gradients), RuntimeError> {
        self.compiled_ref()?;
        let bound = self.bind_single(x, Some(y), "x", "y")?;
        self.gradients_of(&bound)
    }

    /// [`compute_gradients`](Self::compute_gradients) with arrays by input
    /// and output name; the loss is the weighted total over the outputs.
    pub fn compute_gradients_named(&mut self, x: &Inputs, y: &TargetSet) -> Result<(f64, Gradients), RuntimeError> {
        self.compiled_ref()?;
        let bound = self.bind_named(x, Some(y), "")?;
        self.gradients_of(&bound)
    }

    fn gradients_of(&mut self, bound: &Bound<'_>) -> Result<(f64, Gradients), RuntimeError> {
        let idx: Vec<usize> = (0..bound.len).collect();
        let mut batch = Batch::default();
        batch.fill(bound, &idx)?;
        let data = CallData {
            x: &batch.x,
            y: &batch.y,
            grads: &[],
            learning_rate: 0.0,
            step: (self.iterations() + 1) as f32,
            ones: &batch.ones,
            sample_weights: &[],
        };
        let outs = self.run_kind(GraphKind::Gradients, &data, idx.len())?;
        let names: Vec<String> =
            self.ensure_prepared(GraphKind::Gradients)?.outputs.iter().map(|(n, _)| n.clone()).collect();
        let mut loss = f64::NAN;
        let mut grads = Vec::with_capacity(outs.len().saturating_sub(1));
        for (name, value) in names.into_iter().zip(outs) {
            if name == "loss" {
                loss = value.iter().next().map_or(f64::NAN, |v| f64::from(*v));
            } else if let Some(var) = name.strip_prefix("grad:") {
                grads.push((var.to_string(), value));
            }
        }
        Ok((loss, grads))
    }

    /// Applies gradients with the compiled optimizer at `learning_rate`,
    /// advancing the optimizer step. Every trainable variable needs a
    /// gradient of its shape.
    pub fn apply_gradients(&mut self, grads: &[(String, ArrayD<f32>)], learning_rate: f64) -> Result<(), RuntimeError> {
        self.compiled_ref()?;
        if !(learning_rate.is_finite() && learning_rate >= 0.0) {
            return Err(RuntimeError::invalid(format!("learning rate must be finite and >= 0, got {learning_rate}")));
        }
        for (name, g) in grads {
            let var = self.weights().get(name).ok_or_else(|| {
                RuntimeError::invalid(format!(
                    "gradient for `{name}`, which is not a variable of model `{}`",
                    self.name()
                ))
            })?;
            if g.shape() != var.shape.as_slice() {
                return Err(RuntimeError::invalid(format!(
                    "gradient for `{name}` has shape {:?} but the variable has shape {:?}",
                    g.shape(),
                    var.shape
                )));
            }
        }
        let flat: Vec<(String, Vec<f32>)> =
            grads.iter().map(|(n, g)| (n.clone(), g.iter().copied().collect())).collect();
        let data = CallData {
            x: &[],
            y: &[],
            grads: &flat,
            learning_rate: learning_rate as f32,
            step: (self.iterations() + 1) as f32,
            ones: &[],
            sample_weights: &[],
        };
        // The graph has no batch dimension; 1 is a valid placeholder.
        self.run_kind(GraphKind::ApplyGradients, &data, 1)?;
        self.count_update();
        Ok(())
    }

    /// Keras's `optimizer.finalize_variable_values`: with `use_ema`, every
    /// trainable variable takes its moving average (a compiled graph, see
    /// `train::finalize_variables`); otherwise nothing changes. `fit` calls
    /// it at its end; a custom loop calls it when it is done.
    pub fn finalize_variable_values(&mut self) -> Result<(), RuntimeError> {
        let uses_ema = self.compiled_ref()?.config.optimizer.options().ema.is_some();
        // Before any update there are no averages to take.
        if !uses_ema || self.iterations() == 0 {
            return Ok(());
        }
        let data = CallData {
            x: &[],
            y: &[],
            grads: &[],
            learning_rate: 0.0,
            step: self.iterations() as f32,
            ones: &[],
            sample_weights: &[],
        };
        self.run_kind(GraphKind::FinalizeVariables, &data, 1)?;
        Ok(())
    }
}
