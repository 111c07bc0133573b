//! Assembles the graphs the runtime runs: the training step, evaluation, the
//! custom-loop gradient graph and the gradient-application graph.
//!
//! Contract of every graph built here (the runtime binds by it):
//! - inputs: the model's inputs in order, then one target input per model
//!   output, in output order (role `Target`; i32 class ids for sparse
//!   categorical cross-entropy, else f32 shaped like the output), named
//!   `target` for a single-output model and after its output otherwise; then,
//!   for the weighted variants only, one `SampleWeight` input per output
//!   (f32 `[batch]`, named `sample_weight` for a single output and
//!   `sample_weight_<output>` otherwise); then, for graphs that update weights, `learning_rate` (f32 scalar) and `step`
//!   (f32 scalar, the 1-based iteration count; a model that already has a
//!   `Step` input, for dropout, keeps it and it is reused).
//! - vars: the model's variables unchanged and in order, then the optimizer's
//!   slots (see `optimizer.rs`).
//! - outputs: `loss` first (the weighted sum of the per-output batch means
//!   plus regularization penalties, as Keras reports it; with sample weights
//!   each batch mean is `Σ wᵢ·lᵢ / N`, Keras 3's `sum_over_batch_size`, which
//!   divides by the number of loss values, not by `Σ wᵢ`); for several outputs
//!   then `<output>_loss` per output (unweighted, without penalties); then the
//!   metrics, by [`Metric::key`] (prefixed `<output>_` for several outputs),
//!   never weighted by sample weights (Keras's plain `metrics`).
//!   These are [`report_names`]. A mean metric is a scalar; a stateful one
//!   (`auc`, `precision`, …) is a vector of statistics that the runtime sums
//!   over the epoch and finalizes ([`report_reductions`],
//!   `Metric::finalize`). Evaluation also returns the model outputs after
//!   them.
//! - updates: the model's own updates (e.g. moving statistics) are kept by
//!   the graphs that run the training-mode forward pass; optimizer updates
//!   follow them.

use super::error::TrainError;
use super::spec::{Loss, Metric, Optimizer, OutputLoss, Reduction};
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
    /// Per-output losses, weights and metrics (Keras's dicts). Empty: `loss`
    /// applies to every output with weight 1, and `metrics` to the only one.
    pub outputs: Vec<OutputLoss>,
}

impl StepConfig {
    /// A single loss and metric list, no per-output settings.
    pub fn new(loss: Loss, optimizer: Optimizer, metrics: Vec<Metric>) -> StepConfig {
        StepConfig { loss, optimizer, metrics, kernel_regularizer: None, outputs: Vec::new() }
    }

    /// How each of the model's outputs (by name, in order) is trained.
    pub fn heads(&self, outputs: &[String]) -> R<Vec<OutputLoss>> {
        if outputs.is_empty() {
            return Err(TrainError::OutputCount { names: Vec::new() });
        }
        if let Some(unknown) = self.outputs.iter().find(|o| !outputs.contains(&o.output)) {
            return Err(TrainError::UnknownOutput { name: unknown.output.clone(), outputs: outputs.to_vec() });
        }
        if outputs.len() > 1 && !self.metrics.is_empty() {
            return Err(TrainError::MetricsNeedOutput { outputs: outputs.to_vec() });
        }
        let mut heads = Vec::with_capacity(outputs.len());
        for name in outputs {
            let mut head = match (self.outputs.is_empty(), self.outputs.iter().find(|o| &o.output == name)) {
                (_, Some(given)) => given.clone(),
                (true, None) => OutputLoss { output: name.clone(), loss: self.loss, weight: 1.0, metrics: Vec::new() },
                (false, None) => {
                    return Err(TrainError::MissingOutputLoss { output: name.clone(), outputs: outputs.to_vec() })
                }
            };
            if !(head.weight.is_finite() && head.weight >= 0.0) {
                return Err(TrainError::LossWeight { output: name.clone(), weight: head.weight });
            }
            head.metrics.extend(self.metrics.iter().copied());
            heads.push(head);
        }
        Ok(heads)
    }
}

/// The scalar outputs of the training and evaluation graphs, in order:
/// `loss`, per-output losses (several outputs only), then the metrics. Keras
/// 3's History keys for the same `compile` arguments.
pub fn report_names(model: &LoweredModel, cfg: &StepConfig) -> R<Vec<String>> {
    let outputs: Vec<String> = model.graph.outputs.iter().map(|(n, _)| n.clone()).collect();
    let heads = cfg.heads(&outputs)?;
    Ok(names_of(&heads))
}

/// How the runtime combines each of [`report_names`]' values over the
/// batches of an epoch: losses and mean metrics as batch-size-weighted means,
/// stateful metrics (`auc`, `precision`, …) by summing their statistics.
pub fn report_reductions(model: &LoweredModel, cfg: &StepConfig) -> R<Vec<Reduction>> {
    let outputs: Vec<String> = model.graph.outputs.iter().map(|(n, _)| n.clone()).collect();
    let heads = cfg.heads(&outputs)?;
    let losses = if heads.len() > 1 { 1 + heads.len() } else { 1 };
    let mut out = vec![Reduction::BatchMean; losses];
    for h in &heads {
        out.extend(
            h.metrics.iter().map(|&m| if m.is_stateful() { Reduction::Statistics(m) } else { Reduction::BatchMean }),
        );
    }
    Ok(out)
}

fn names_of(heads: &[OutputLoss]) -> Vec<String> {
    let mut names = vec!["loss".to_string()];
    if heads.len() > 1 {
        names.extend(heads.iter().map(|h| format!("{}_loss", h.output)));
        for h in heads {
            names.extend(h.metrics.iter().map(|m| format!("{}_{}", h.output, m.key())));
        }
    } else {
        names.extend(heads.iter().flat_map(|h| h.metrics.iter().map(|m| m.key().to_string())));
    }
    names
}

/// Forward (Train mode) + loss + regularization + gradients + optimizer
/// update, for `fit` and `train_on_batch`.
pub fn training_step(model: &LoweredModel, cfg: &StepConfig) -> R<Graph> {
    step_graph(model, cfg, false)
}

/// [`training_step`] with one per-sample weight input per output (Keras's
/// `sample_weight`, and `class_weight` once turned into sample weights).
pub fn weighted_training_step(model: &LoweredModel, cfg: &StepConfig) -> R<Graph> {
    step_graph(model, cfg, true)
}

fn step_graph(model: &LoweredModel, cfg: &StepConfig, weighted: bool) -> R<Graph> {
    optimizer::check(&cfg.optimizer)?;
    let mut built = LossGraph::build(model, cfg, weighted, Then::Gradients)?;
    let reported = built.reported()?;
    let lr = built.add_input("learning_rate", InputRole::LearningRate)?;
    let step = built.step_input()?;
    let (table, grads) = built.gradients(&cfg.optimizer)?;
    let g = &mut built.g;
    g.set_origin(origin("optimizer"));
    optimizer::emit_updates(g, &cfg.optimizer, &table, &grads, lr, step)?;
    g.outputs = reported;
    Ok(finish(built.g))
}

/// Forward (Infer mode model) + loss + metrics, no updates, for `evaluate`
/// and validation. Outputs: `loss`, the metrics, then the model outputs.
pub fn evaluation(model: &LoweredModel, cfg: &StepConfig) -> R<Graph> {
    evaluation_graph(model, cfg, false)
}

/// [`evaluation`] with one per-sample weight input per output; the loss is
/// weighted, the metrics are not.
pub fn weighted_evaluation(model: &LoweredModel, cfg: &StepConfig) -> R<Graph> {
    evaluation_graph(model, cfg, true)
}

fn evaluation_graph(model: &LoweredModel, cfg: &StepConfig, weighted: bool) -> R<Graph> {
    let mut built = LossGraph::build(model, cfg, weighted, Then::Nothing)?;
    let reported = built.reported()?;
    let g = &mut built.g;
    g.updates.clear();
    g.outputs = reported.into_iter().chain(built.model_outputs.iter().cloned()).collect();
    Ok(finish(built.g))
}

/// The custom-loop API (a GradientTape analogue): outputs `loss`, then one
/// `grad:<var name>` per trainable variable, in variable order. No optimizer
/// updates (the model's own updates, if any, are kept).
pub fn gradients(model: &LoweredModel, cfg: &StepConfig) -> R<Graph> {
    let mut built = LossGraph::build(model, cfg, false, Then::Gradients)?;
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
pub(super) fn finish(g: Graph) -> Graph {
    crate::autodiff::simplify(&g).0
}

pub(super) fn origin(what: &str) -> Origin {
    Origin { span: None, layer: Some(what.to_string()) }
}

/// One model output with its target input and its (unweighted) batch loss.
struct Head {
    spec: OutputLoss,
    output: NodeId,
    target: NodeId,
    loss: NodeId,
}

/// What the loss graph is built for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Then {
    /// Gradients follow (training steps, the custom-loop gradients).
    Gradients,
    /// Only the loss and metrics are read (evaluation).
    Nothing,
}

/// The model's graph extended with target inputs and the total loss.
pub(super) struct LossGraph {
    pub(super) g: Graph,
    heads: Vec<Head>,
    model_outputs: Vec<(String, NodeId)>,
    /// The scalar reported as `loss` and differentiated.
    loss: NodeId,
}

impl LossGraph {
    pub(super) fn build(model: &LoweredModel, cfg: &StepConfig, weighted: bool, then: Then) -> R<LossGraph> {
        let src = &model.graph;
        let names: Vec<String> = src.outputs.iter().map(|(n, _)| n.clone()).collect();
        let specs = cfg.heads(&names)?;
        let mut target_types = Vec::with_capacity(specs.len());
        for (spec, (name, id)) in specs.iter().zip(&src.outputs) {
            target_types.push(loss::target_type(spec.loss, name, src.ty(*id))?);
            metric::check(&spec.metrics, spec.loss.kind, src.shape(*id))?;
        }
        regularize::check(&src.vars, cfg.kernel_regularizer)?;

        // Each image row a cropped forward graph skips is skipped again by
        // the input and kernel gradients, so there the copy a crop may start
        // with pays for itself; forward alone, it costs about what it saves.
        let mut g = match then {
            Then::Gradients => crate::ir::crop_unread_borders(src),
            Then::Nothing => src.clone(),
        };
        let model_outputs = std::mem::take(&mut g.outputs);
        let single = specs.len() == 1;
        let mut targets = Vec::with_capacity(specs.len());
        for (spec, ty) in specs.iter().zip(target_types) {
            // A single-output step keeps the name `target` that its IR dumps,
            // the custom-loop API and saved runs already use.
            let name = if single { "target" } else { spec.output.as_str() };
            if g.input_index(name).is_some() {
                return Err(TrainError::InputNameTaken { name: name.into() });
            }
            targets.push(g.add_input(name, ty, InputRole::Target));
        }
        let mut weights = Vec::with_capacity(specs.len());
        if weighted {
            for spec in &specs {
                let name = if single { "sample_weight".to_string() } else { format!("sample_weight_{}", spec.output) };
                if g.input_index(&name).is_some() {
                    return Err(TrainError::InputNameTaken { name });
                }
                let ty = TensorType::f32(Shape(vec![crate::ir::Dim::Batch]));
                weights.push(Some(g.add_input(name, ty, InputRole::SampleWeight)));
            }
        } else {
            weights.resize(specs.len(), None);
        }

        g.set_origin(origin("loss"));
        let mut heads = Vec::with_capacity(specs.len());
        let mut total: Option<NodeId> = None;
        for (((spec, target), weight), (_, output)) in specs.into_iter().zip(targets).zip(weights).zip(&model_outputs) {
            let mut per_sample = loss::per_sample(&mut g, spec.loss, *output, target)?;
            if let Some(w) = weight {
                per_sample = loss::weight_samples(&mut g, per_sample, w)?;
            }
            let mean = loss::batch_mean(&mut g, per_sample)?;
            let weighted = if spec.weight == 1.0 {
                mean
            } else {
                let w = g.scalar(spec.weight);
                g.mul(w, mean).map_err(TrainError::internal("loss weight"))?
            };
            total = Some(match total {
                None => weighted,
                Some(t) => g.add(t, weighted).map_err(TrainError::internal("loss sum"))?,
            });
            heads.push(Head { spec, output: *output, target, loss: mean });
        }
        let mut total = total.ok_or(TrainError::OutputCount { names: Vec::new() })?;
        g.set_origin(origin("regularization"));
        if let Some(penalty) = regularize::penalty(&mut g, cfg.kernel_regularizer)? {
            total = g.add(total, penalty).map_err(TrainError::internal("regularization"))?;
        }
        Ok(LossGraph { g, heads, model_outputs, loss: total })
    }

    /// The reported scalars named by [`report_names`]: the total loss, the
    /// per-output losses (several outputs), then each output's metrics.
    pub(super) fn reported(&mut self) -> R<Vec<(String, NodeId)>> {
        let specs: Vec<OutputLoss> = self.heads.iter().map(|h| h.spec.clone()).collect();
        let names = names_of(&specs);
        let mut values = vec![self.loss];
        if self.heads.len() > 1 {
            values.extend(self.heads.iter().map(|h| h.loss));
        }
        self.g.set_origin(origin("metrics"));
        for h in &self.heads {
            for &m in &h.spec.metrics {
                values.push(metric::emit(&mut self.g, m, h.spec.loss.kind, h.output, h.target)?);
            }
        }
        Ok(names.into_iter().zip(values).collect())
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
    pub(super) fn gradients_only(&mut self) -> R<(Vec<VarId>, Vec<NodeId>)> {
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
