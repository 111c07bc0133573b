//! The training step split in two for data-parallel training: one graph
//! computes a shard's loss, metrics and gradients into one flat buffer, the
//! other applies a (summed) flat gradient with the optimizer. Between them the
//! runtime all-reduces the buffer across processes; one process keeps the
//! fused [`training_step`](super::training_step).
//!
//! The flat layout is the trainable variables in variable order, each
//! flattened row-major; [`flat_layout`] gives the offsets, so both graphs and
//! the runtime agree on it.

use super::error::TrainError;
use super::optimizer;
use super::spec::Optimizer;
use super::step::{finish, origin, LossGraph, StepConfig, Then};
use crate::ir::{Graph, InputRole, Op, Shape, TensorType, VarDecl};
use crate::lower::LoweredModel;

type R<T> = Result<T, TrainError>;

/// The name of the flat gradient: the last output of [`shard_gradients`] and
/// the input of [`apply_flat_gradients`].
pub const FLAT_GRADIENTS: &str = "gradients";

/// Where each trainable variable lives in the flat gradient: (name, offset,
/// element count), in variable order. The last entry's end is the length.
pub fn flat_layout(model_vars: &[VarDecl]) -> Vec<(String, usize, usize)> {
    let mut offset = 0;
    let mut out = Vec::new();
    for v in model_vars.iter().filter(|v| v.is_trainable()) {
        let n: usize = v.shape.iter().product();
        out.push((v.name.clone(), offset, n));
        offset += n;
    }
    out
}

/// Forward (Train mode) + loss + metrics + gradients, no optimizer: outputs
/// the [`report_names`](super::report_names) values, then
/// [`FLAT_GRADIENTS`] (f32 `[P]`, P the number of trainable scalars). The
/// model's own updates (batch normalization's moving statistics) are kept.
/// `weighted` adds the sample-weight inputs as in the weighted step.
pub fn shard_gradients(model: &LoweredModel, cfg: &StepConfig, weighted: bool) -> R<Graph> {
    optimizer::check(&cfg.optimizer)?;
    let mut built = LossGraph::build(model, cfg, weighted, Then::Gradients)?;
    let mut outputs = built.reported()?;
    let (_, grads) = built.gradients_only()?;
    let g = &mut built.g;
    g.set_origin(origin("gradients"));
    let mut flat = Vec::with_capacity(grads.len());
    for grad in grads {
        let n: usize = g.shape(grad).known_dims().unwrap_or_default().iter().product();
        flat.push(g.reshape(grad, Shape::known(&[n])).map_err(TrainError::internal("flat gradients"))?);
    }
    if flat.is_empty() {
        return Err(no_trainable());
    }
    let all = g.push(Op::Concat { axis: 0 }, &flat).map_err(TrainError::internal("flat gradients"))?;
    outputs.push((FLAT_GRADIENTS.to_string(), all));
    g.outputs = outputs;
    Ok(finish(built.g))
}

/// Applies a flat gradient: input [`FLAT_GRADIENTS`] (f32 `[P]`, laid out
/// by [`flat_layout`]), then `learning_rate` and `step`; the vars table of
/// [`training_step`](super::training_step). No outputs.
pub fn apply_flat_gradients(model_vars: &[VarDecl], opt: &Optimizer) -> R<Graph> {
    optimizer::check(opt)?;
    let layout = flat_layout(model_vars);
    let total = layout.last().map_or(0, |(_, off, n)| off + n);
    if total == 0 {
        return Err(no_trainable());
    }
    let mut g = Graph::new();
    g.set_origin(origin("optimizer"));
    for var in model_vars {
        g.add_var(var.clone());
    }
    let table = optimizer::declare_slots(&mut g, opt);
    let flat = g.add_input(FLAT_GRADIENTS, TensorType::f32(Shape::known(&[total])), InputRole::Feature);
    let mut grads = Vec::with_capacity(table.len());
    for (entry, (_, offset, n)) in table.iter().zip(&layout) {
        let shape = Shape::known(&g.var(entry.param).shape.clone());
        let piece = g
            .push(Op::Slice { axis: 0, start: *offset, end: offset + n }, &[flat])
            .map_err(TrainError::internal("flat gradients"))?;
        grads.push(g.reshape(piece, shape).map_err(TrainError::internal("flat gradients"))?);
    }
    let scalar = TensorType::f32(Shape::scalar());
    let lr = g.add_input("learning_rate", scalar.clone(), InputRole::LearningRate);
    let step = g.add_input("step", scalar, InputRole::Step);
    optimizer::emit_updates(&mut g, opt, &table, &grads, lr, step)?;
    Ok(finish(g))
}

fn no_trainable() -> TrainError {
    TrainError::Internal {
        stage: "flat gradients",
        error: crate::shape::ShapeError::Invalid {
            op: "concat",
            detail: "the model has no trainable variables to train".into(),
        },
    }
}
