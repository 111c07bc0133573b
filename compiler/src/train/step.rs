//! Assembles the graphs the runtime runs: the training step, evaluation, the
//! custom-loop gradient graph and the gradient-application graph.
//!
//! Contract of every graph built here (the runtime binds by it):
//! - inputs: the model's inputs in order, then `target` (role `Target`;
//!   i32 class ids for sparse categorical cross-entropy, else f32 shaped like
//!   the output), then, for graphs that update weights, `learning_rate` (f32
//!   scalar) and `step` (f32 scalar, the 1-based iteration count; a model
//!   that already has a `Step` input, for dropout, keeps it and it is reused).
//! - vars: the model's variables unchanged and in order, then the optimizer's
//!   slots (see `optimizer.rs`).
//! - outputs: `loss` first (the batch mean plus regularization penalties, as
//!   Keras reports it), then the metrics by [`Metric::key`]; evaluation also
//!   returns the model outputs after them.
//! - updates: the model's own updates (e.g. moving statistics) are kept by
//!   the graphs that run the training-mode forward pass; optimizer updates
//!   follow them.

use super::error::TrainError;
use super::spec::{Loss, Metric, Optimizer};
use super::{loss, metric, optimizer, regularize};
use crate::ir::{Graph, InputRole, NodeId, Op, Origin, Regularizer, Shape, TensorType, VarDecl, VarId};
use crate::lower::LoweredModel;

type R<T> = Result<T, TrainError>;

/// What a training or evaluation graph computes, beyond the model itself.
#[derive(Clone, Debug, PartialEq)]
pub struct StepConfig {
    pub loss: Loss,
    pub optimizer: Optimizer,
    /// Reported after the loss, in this order, by [`Metric::key`].
    pub metrics: Vec<Metric>,
    /// Applied to every trainable `…/kernel` variable without a regularizer.
    pub kernel_regularizer: Option<Regularizer>,
}

/// Forward (Train mode) + loss + regularization + gradients + optimizer
/// update, for `fit` and `train_on_batch`.
pub fn training_step(model: &LoweredModel, cfg: &StepConfig) -> R<Graph> {
    optimizer::check(&cfg.optimizer)?;
    let mut built = LossGraph::build(model, cfg)?;
    let metrics = built.metrics(&cfg.metrics)?;
    let lr = built.add_input("learning_rate", InputRole::LearningRate)?;
    let step = built.step_input()?;
    let (table, grads) = built.gradients(&cfg.optimizer)?;
    let g = &mut built.g;
    g.set_origin(origin("optimizer"));
    optimizer::emit_updates(g, &cfg.optimizer, &table, &grads, lr, step)?;
    g.outputs = std::iter::once(("loss".to_string(), built.loss)).chain(metrics).collect();
    Ok(finish(built.g))
}

/// Forward (Infer mode model) + loss + metrics, no updates, for `evaluate`
/// and validation. Outputs: `loss`, the metrics, then the model outputs.
pub fn evaluation(model: &LoweredModel, cfg: &StepConfig) -> R<Graph> {
    let mut built = LossGraph::build(model, cfg)?;
    let metrics = built.metrics(&cfg.metrics)?;
    let g = &mut built.g;
    g.updates.clear();
    g.outputs = std::iter::once(("loss".to_string(), built.loss))
        .chain(metrics)
        .chain(built.model_outputs.iter().cloned())
        .collect();
    Ok(finish(built.g))
}

/// The custom-loop API (a GradientTape analogue): outputs `loss`, then one
/// `grad:<var name>` per trainable variable, in variable order. No optimizer
/// updates (the model's own updates, if any, are kept).
pub fn gradients(model: &LoweredModel, cfg: &StepConfig) -> R<Graph> {
    let mut built = LossGraph::build(model, cfg)?;
    let (table, grads) = built.gradients_only()?;
    let mut outputs = vec![("loss".to_string(), built.loss)];
    for (param, grad) in table.iter().zip(grads) {
        outputs.push((format!("grad:{}", built.g.var(*param).name), grad));
    }
    built.g.outputs = outputs;
    Ok(finish(built.g))
}

/// Applies given gradients: inputs `grad:<var name>` (one per trainable
/// variable, shaped like it), then `learning_rate` and `step`; the same vars
/// table as [`training_step`] (model variables, then slots). Updates the
/// parameters and slots; no outputs.
///
/// The gradient inputs carry role `Feature`: they are plain per-call data
/// that the runtime binds by name.
pub fn apply_gradients(model_vars: &[VarDecl], optimizer: &Optimizer) -> R<Graph> {
    optimizer::check(optimizer)?;
    let mut g = Graph::new();
    g.set_origin(origin("optimizer"));
    for var in model_vars {
        g.add_var(var.clone());
    }
    let table = optimizer::declare_slots(&mut g, optimizer);
    let mut grads = Vec::with_capacity(table.len());
    for entry in &table {
        let decl = g.var(entry.param);
        let ty = TensorType::f32(Shape::known(&decl.shape));
        let name = format!("grad:{}", decl.name);
        grads.push(g.add_input(name, ty, InputRole::Feature));
    }
    let scalar = TensorType::f32(Shape::scalar());
    let lr = g.add_input("learning_rate", scalar.clone(), InputRole::LearningRate);
    let step = g.add_input("step", scalar, InputRole::Step);
    optimizer::emit_updates(&mut g, optimizer, &table, &grads, lr, step)?;
    Ok(finish(g))
}

/// Simplifies the assembled graph (constant folding, CSE, dead code), which
/// keeps inputs, vars, outputs and updates in order.
fn finish(g: Graph) -> Graph {
    crate::autodiff::simplify(&g).0
}

fn origin(what: &str) -> Origin {
    Origin { span: None, layer: Some(what.to_string()) }
}

/// The model's graph extended with a target input and the total loss.
struct LossGraph {
    g: Graph,
    loss_cfg: Loss,
    output: NodeId,
    target: NodeId,
    model_outputs: Vec<(String, NodeId)>,
    /// The scalar reported as `loss` and differentiated.
    loss: NodeId,
}

impl LossGraph {
    fn build(model: &LoweredModel, cfg: &StepConfig) -> R<LossGraph> {
        let src = &model.graph;
        let (output_name, output) = match src.outputs.as_slice() {
            [(name, id)] => (name.clone(), *id),
            many => return Err(TrainError::OutputCount { names: many.iter().map(|(n, _)| n.clone()).collect() }),
        };
        let target_ty = loss::target_type(cfg.loss, &output_name, src.ty(output))?;
        metric::check(&cfg.metrics, cfg.loss.kind, src.shape(output))?;
        regularize::check(&src.vars, cfg.kernel_regularizer)?;

        let mut g = src.clone();
        let model_outputs = std::mem::take(&mut g.outputs);
        if g.input_index("target").is_some() {
            return Err(TrainError::InputNameTaken { name: "target".into() });
        }
        let target = g.add_input("target", target_ty, InputRole::Target);

        g.set_origin(origin("loss"));
        let per_sample = loss::per_sample(&mut g, cfg.loss, output, target)?;
        let mut total = loss::batch_mean(&mut g, per_sample)?;
        g.set_origin(origin("regularization"));
        if let Some(penalty) = regularize::penalty(&mut g, cfg.kernel_regularizer)? {
            total = g.add(total, penalty).map_err(TrainError::internal("regularization"))?;
        }
        Ok(LossGraph { g, loss_cfg: cfg.loss, output, target, model_outputs, loss: total })
    }

    /// The metric outputs, named by [`Metric::key`].
    fn metrics(&mut self, metrics: &[Metric]) -> R<Vec<(String, NodeId)>> {
        self.g.set_origin(origin("metrics"));
        let mut out = Vec::with_capacity(metrics.len());
        for &m in metrics {
            let value = metric::emit(&mut self.g, m, self.loss_cfg.kind, self.output, self.target)?;
            out.push((m.key().to_string(), value));
        }
        Ok(out)
    }

    fn add_input(&mut self, name: &str, role: InputRole) -> R<NodeId> {
        if self.g.input_index(name).is_some() {
            return Err(TrainError::InputNameTaken { name: name.into() });
        }
        Ok(self.g.add_input(name, TensorType::f32(Shape::scalar()), role))
    }

    /// The model's `Step` input if it has one (dropout already keys on it),
    /// else a new `step` input.
    fn step_input(&mut self) -> R<NodeId> {
        let Some(index) = self.g.inputs.iter().position(|i| i.role == InputRole::Step) else {
            return self.add_input("step", InputRole::Step);
        };
        let bad = |detail: String| TrainError::Internal {
            stage: "step input",
            error: crate::shape::ShapeError::Invalid { op: "input", detail },
        };
        let decl = &self.g.inputs[index];
        if decl.ty != TensorType::f32(Shape::scalar()) {
            return Err(bad(format!(
                "the model's step input `{}` is {} but must be an f32 scalar",
                decl.name, decl.ty
            )));
        }
        self.g
            .ids()
            .find(|&id| self.g.node(id).op == Op::Input(index))
            .ok_or_else(|| bad(format!("the model declares step input `{}` but has no node reading it", decl.name)))
    }

    /// The trainable variables and the gradient of the loss for each.
    fn gradients_only(&mut self) -> R<(Vec<VarId>, Vec<NodeId>)> {
        let params: Vec<VarId> =
            (0..self.g.vars.len() as u32).map(VarId).filter(|&v| self.g.var(v).is_trainable()).collect();
        let var_nodes: Vec<NodeId> = params.iter().map(|&v| self.g.var_node(v)).collect();
        self.g.set_origin(origin("gradients"));
        let grads =
            crate::autodiff::grad(&mut self.g, self.loss, &var_nodes).map_err(TrainError::internal("gradient"))?;
        Ok((params, grads))
    }

    /// Declares the optimizer's slots, then differentiates the loss.
    fn gradients(&mut self, opt: &Optimizer) -> R<(Vec<optimizer::ParamSlots>, Vec<NodeId>)> {
        let table = optimizer::declare_slots(&mut self.g, opt);
        let (params, grads) = self.gradients_only()?;
        debug_assert!(params.iter().zip(&table).all(|(p, e)| *p == e.param));
        Ok((table, grads))
    }
}
