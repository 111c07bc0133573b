//! Keras 3's `use_ema`: an exponential moving average of every trainable
//! variable, kept in an `average` slot and updated inside the compiled step
//! after the optimizer's update (`keras/src/optimizers/base_optimizer.py`,
//! `_update_model_variables_moving_average`).
//!
//! On the first step Keras uses momentum 0, so the average starts as the
//! updated variable rather than as the zero the slot was created with. With
//! `ema_overwrite_frequency = n` the variables take their averages every
//! `n`-th step, in the step itself; without it they take them once, at the
//! end of `fit` (Keras's `finalize_variable_values`), through the graph that
//! [`finalize_variables`] builds.

use super::error::TrainError;
use super::loss::err;
use super::optimizer::{declare_slots, keras_cast, Emitter};
use super::spec::{Ema, Optimizer};
use crate::ir::{CmpOp, DType, Graph, NodeId, Op, VarDecl};

type R<T> = Result<T, TrainError>;

/// The slot holding each variable's average.
pub(crate) const AVERAGE: &str = "average";

/// The new average of a variable from its updated value `w`, and the value
/// the variable keeps: `w`, or the new average on an overwrite step.
pub(crate) fn update(e: &mut Emitter, ema: Ema, average: NodeId, w: NodeId) -> R<(NodeId, NodeId)> {
    let step = e.step;
    let one = e.c(1.0);
    let zero = e.c(0.0);
    let first = e.g.push(Op::Compare(CmpOp::Eq), &[step, one]).map_err(err)?;
    let configured = e.c(keras_cast(ema.momentum));
    let momentum = e.g.push(Op::Select, &[first, zero, configured]).map_err(err)?;
    let kept = e.mul(momentum, average)?;
    let rest = e.sub(one, momentum)?;
    let fresh = e.mul(rest, w)?;
    let new_average = e.add(kept, fresh)?;
    let Some(every) = ema.overwrite_frequency else { return Ok((new_average, w)) };
    // `step % every == 0` as `trunc(step / every) * every == step`: exact
    // for whole-number steps below 2^24, where f32 counts exactly.
    let every = e.c(every as f64);
    let ratio = e.div(step, every)?;
    let whole = e.g.push(Op::Cast(DType::I32), &[ratio]).map_err(err)?;
    let whole = e.g.push(Op::Cast(DType::F32), &[whole]).map_err(err)?;
    let back = e.mul(whole, every)?;
    let due = e.g.push(Op::Compare(CmpOp::Eq), &[back, step]).map_err(err)?;
    let kept_w = e.g.push(Op::Select, &[due, new_average, w]).map_err(err)?;
    Ok((new_average, kept_w))
}

/// Keras's `finalize_variable_values`: a graph without inputs or outputs
/// whose updates set every trainable variable to its average. Same vars
/// table as the training step (model variables, then slots); for an
/// optimizer without `use_ema` it has no updates.
pub fn finalize_variables(model_vars: &[VarDecl], optimizer: &Optimizer) -> R<Graph> {
    let mut g = Graph::new();
    g.set_origin(super::step::origin("optimizer"));
    for var in model_vars {
        g.add_var(var.clone());
    }
    let table = declare_slots(&mut g, optimizer);
    for entry in &table {
        if let Some(average) = entry.average {
            let value = g.var_node(average);
            g.updates.push((entry.param, value));
        }
    }
    Ok(super::step::finish(g))
}
