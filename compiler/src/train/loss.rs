//! Keras's losses as IR: per-sample values, then the batch mean.
//!
//! Guarantees, following Keras 3 (`keras/src/losses/losses.py` and the
//! backends' `nn.py`):
//! - `mse`/`mae`/`binary_crossentropy` average over the last axis; the
//!   cross-entropies sum over it (the class axis).
//! - Probabilities are clipped to `[1e-7, 1 - 1e-7]` (Keras's `epsilon()`);
//!   categorical probabilities are first renormalized to sum to one.
//! - When `from_logits` is false but the output node is a softmax over the
//!   last axis (resp. a sigmoid), its argument is used as logits in the stable
//!   form, as Keras's backends do: the loss then stays finite and exact for
//!   extreme logits, and its gradient is the clean `softmax - y`.
//! - The reported loss divides the sum of per-sample losses by the runtime
//!   batch size ([`Op::BatchSize`]), so a partial last batch is averaged
//!   correctly (Keras's `sum_over_batch_size` reduction).

use super::error::TrainError;
use super::spec::{Loss, LossKind};
use crate::ir::{BinaryOp, DType, Dim, Graph, NodeId, Op, Shape, TensorType, UnaryOp};

/// Keras's `backend.epsilon()`, the probability clipping bound.
pub(crate) const EPSILON: f64 = 1e-7;

type R<T> = Result<T, TrainError>;

pub(crate) fn err(e: crate::shape::ShapeError) -> TrainError {
    TrainError::internal("loss")(e)
}

/// The type of the `target` input for `loss` on an output of type `output`,
/// after checking that the loss fits the output.
pub(crate) fn target_type(loss: Loss, output_name: &str, output: &TensorType) -> R<TensorType> {
    if output.dtype != DType::F32 {
        return Err(TrainError::OutputDType { output: output_name.to_string(), dtype: output.dtype });
    }
    check_arguments(loss)?;
    let shape = &output.shape;
    if shape.rank() == 0 {
        return Err(TrainError::OutputRank { loss: loss.kind, shape: shape.clone() });
    }
    if loss.kind.needs_classes() {
        // The class axis must be a known size (and not the batch axis).
        match shape.dims().last() {
            Some(Dim::Known(n)) if shape.rank() >= 2 => {
                if *n < 2 {
                    return Err(TrainError::TooFewClasses { loss: loss.kind, shape: shape.clone() });
                }
            }
            _ => return Err(TrainError::OutputRank { loss: loss.kind, shape: shape.clone() }),
        }
    }
    if loss.kind == LossKind::CosineSimilarity {
        cosine_axis(loss, shape)?;
    } else if loss.kind.sums_last_axis() && shape.rank() < 2 {
        return Err(TrainError::OutputRank { loss: loss.kind, shape: shape.clone() });
    }
    if loss.kind.integer_targets() {
        let dims = shape.dims()[..shape.rank() - 1].to_vec();
        Ok(TensorType::i32(Shape(dims)))
    } else {
        Ok(output.clone())
    }
}

/// Checks the loss's arguments against the ranges Keras's formulas need.
pub(crate) fn check_arguments(loss: Loss) -> R<()> {
    let fail = |name: &'static str, value: f64, expected: &'static str| {
        Err(TrainError::LossArgument { loss: loss.kind, name, value, expected })
    };
    if loss.from_logits && !loss.kind.has_logits() {
        return Err(TrainError::FromLogitsNotApplicable { loss: loss.kind });
    }
    let ls = loss.label_smoothing;
    if ls != 0.0 && !loss.kind.has_label_smoothing() {
        return fail("label_smoothing", ls, "0: this loss has no label smoothing");
    }
    if !(0.0..=1.0).contains(&ls) {
        return fail("label_smoothing", ls, "between 0 and 1");
    }
    match loss.kind {
        LossKind::Huber if !(loss.delta.is_finite() && loss.delta > 0.0) => {
            fail("delta", loss.delta, "a finite number > 0")
        }
        LossKind::BinaryFocalCrossentropy if !(loss.gamma.is_finite() && loss.gamma >= 0.0) => {
            fail("gamma", loss.gamma, "a finite number >= 0")
        }
        LossKind::BinaryFocalCrossentropy if !(0.0..=1.0).contains(&loss.alpha) => {
            fail("alpha", loss.alpha, "between 0 and 1")
        }
        _ => Ok(()),
    }
}

/// The axis `cosine_similarity` reduces, as a non-batch axis of `shape`.
fn cosine_axis(loss: Loss, shape: &Shape) -> R<usize> {
    let rank = shape.rank() as i64;
    let axis = if loss.axis < 0 { rank + loss.axis } else { loss.axis };
    match usize::try_from(axis) {
        Ok(a) if axis < rank && shape.dims()[a] != Dim::Batch => Ok(a),
        _ => Err(TrainError::LossAxis { loss: loss.kind, axis: loss.axis, shape: shape.clone() }),
    }
}

/// The per-sample loss (the output's shape without its last axis, or the
/// output's shape itself for a rank-1 output, where every element is a sample).
pub(crate) fn per_sample(g: &mut Graph, loss: Loss, output: NodeId, target: NodeId) -> R<NodeId> {
    let target = smooth_labels(g, loss, output, target)?;
    match loss.kind {
        LossKind::MeanSquaredError => {
            let d = g.sub(output, target).map_err(err)?;
            let sq = g.mul(d, d).map_err(err)?;
            mean_last(g, sq)
        }
        LossKind::MeanAbsoluteError => {
            let d = g.sub(output, target).map_err(err)?;
            let abs = g.unary(UnaryOp::Abs, d).map_err(err)?;
            mean_last(g, abs)
        }
        LossKind::BinaryCrossentropy => {
            let elems = binary_ce(g, loss.from_logits, output, target)?;
            mean_last(g, elems)
        }
        LossKind::CategoricalCrossentropy => categorical(g, loss.from_logits, output, target),
        LossKind::SparseCategoricalCrossentropy => {
            let depth = last_dim(g, output)
                .ok_or_else(|| TrainError::OutputRank { loss: loss.kind, shape: g.shape(output).clone() })?;
            let one_hot = g.push(Op::OneHot { depth }, &[target]).map_err(err)?;
            categorical(g, loss.from_logits, output, one_hot)
        }
        LossKind::BinaryFocalCrossentropy => {
            let elems = super::loss_extra::binary_focal(g, loss, output, target)?;
            mean_last(g, elems)
        }
        LossKind::CosineSimilarity => {
            let axis = cosine_axis(loss, g.shape(output))?;
            super::loss_extra::cosine_similarity(g, output, target, axis)
        }
        other => {
            let elems = super::loss_extra::elementwise(g, loss, other, output, target)?;
            match elems {
                super::loss_extra::Reduced::PerElement(x) => mean_last(g, x),
                super::loss_extra::Reduced::PerSample(x) => Ok(x),
            }
        }
    }
}

/// Keras's `label_smoothing`: `y (1 - s) + s / 2` for the binary losses,
/// `y (1 - s) + s / classes` for the categorical cross-entropy.
fn smooth_labels(g: &mut Graph, loss: Loss, output: NodeId, target: NodeId) -> R<NodeId> {
    let s = loss.label_smoothing;
    if s == 0.0 || !loss.kind.has_label_smoothing() {
        return Ok(target);
    }
    let share = if loss.kind == LossKind::CategoricalCrossentropy {
        let classes = last_dim(g, output)
            .ok_or_else(|| TrainError::OutputRank { loss: loss.kind, shape: g.shape(output).clone() })?;
        s / classes as f64
    } else {
        0.5 * s
    };
    let keep = g.scalar(1.0 - s);
    let kept = g.mul(target, keep).map_err(err)?;
    let share = g.scalar(share);
    g.add(kept, share).map_err(err)
}

/// Elementwise binary cross-entropy, from logits when available.
pub(crate) fn binary_ce(g: &mut Graph, from_logits: bool, output: NodeId, target: NodeId) -> R<NodeId> {
    match logits_of(g, output, from_logits, LogitsOf::Sigmoid) {
        Some(x) => sigmoid_ce_with_logits(g, x, target),
        None => binary_ce_probs(g, output, target),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum LogitsOf {
    Sigmoid,
    Softmax,
}

/// The logits behind `output`: the output itself when the user says it is
/// logits, the argument of a final sigmoid/softmax (over the last axis) when it
/// is not, or `None` when only probabilities are available.
fn logits_of(g: &Graph, output: NodeId, from_logits: bool, kind: LogitsOf) -> Option<NodeId> {
    if from_logits {
        return Some(output);
    }
    let node = g.node(output);
    let last = g.shape(output).rank().checked_sub(1);
    match (&node.op, kind) {
        (Op::Unary(UnaryOp::Sigmoid), LogitsOf::Sigmoid) => Some(node.args[0]),
        (Op::Softmax { axis }, LogitsOf::Softmax) if Some(*axis) == last => Some(node.args[0]),
        _ => None,
    }
}

/// `max(x, 0) - x*y + log(1 + exp(-|x|))`: TensorFlow's
/// `sigmoid_cross_entropy_with_logits`, finite for any finite logit.
fn sigmoid_ce_with_logits(g: &mut Graph, x: NodeId, y: NodeId) -> R<NodeId> {
    let zero = g.scalar(0.0);
    let one = g.scalar(1.0);
    let relu = g.binary(BinaryOp::Max, x, zero).map_err(err)?;
    let xy = g.mul(x, y).map_err(err)?;
    let abs = g.unary(UnaryOp::Abs, x).map_err(err)?;
    let neg = g.neg(abs).map_err(err)?;
    let exp = g.unary(UnaryOp::Exp, neg).map_err(err)?;
    let one_plus = g.add(one, exp).map_err(err)?;
    let softplus = g.unary(UnaryOp::Log, one_plus).map_err(err)?;
    let a = g.sub(relu, xy).map_err(err)?;
    g.add(a, softplus).map_err(err)
}

/// `-(y log p + (1 - y) log(1 - p))` with `p` clipped to `[eps, 1 - eps]`.
fn binary_ce_probs(g: &mut Graph, p: NodeId, y: NodeId) -> R<NodeId> {
    let one = g.scalar(1.0);
    let p = clip(g, p)?;
    let log_p = g.unary(UnaryOp::Log, p).map_err(err)?;
    let q = g.sub(one, p).map_err(err)?;
    let log_q = g.unary(UnaryOp::Log, q).map_err(err)?;
    let not_y = g.sub(one, y).map_err(err)?;
    let a = g.mul(y, log_p).map_err(err)?;
    let b = g.mul(not_y, log_q).map_err(err)?;
    let s = g.add(a, b).map_err(err)?;
    g.neg(s).map_err(err)
}

/// `-sum(y * log p)` over the class axis, from logits when available
/// (`log_softmax`), else from renormalized, clipped probabilities.
fn categorical(g: &mut Graph, from_logits: bool, output: NodeId, y: NodeId) -> R<NodeId> {
    let last = g.shape(output).rank() - 1;
    let log_p = match logits_of(g, output, from_logits, LogitsOf::Softmax) {
        Some(x) => g.push(Op::LogSoftmax { axis: last }, &[x]).map_err(err)?,
        None => {
            let total = g.reduce_sum(output, vec![last], true).map_err(err)?;
            let p = g.div(output, total).map_err(err)?;
            let p = clip(g, p)?;
            g.unary(UnaryOp::Log, p).map_err(err)?
        }
    };
    let prod = g.mul(y, log_p).map_err(err)?;
    let sum = g.reduce_sum(prod, vec![last], false).map_err(err)?;
    g.neg(sum).map_err(err)
}

/// `clip_by_value(p, eps, 1 - eps)`: the min first, then the max, as Keras.
fn clip(g: &mut Graph, p: NodeId) -> R<NodeId> {
    let hi = g.scalar(1.0 - EPSILON);
    let lo = g.scalar(EPSILON);
    let capped = g.binary(BinaryOp::Min, p, hi).map_err(err)?;
    g.binary(BinaryOp::Max, capped, lo).map_err(err)
}

pub(crate) fn last_dim(g: &Graph, x: NodeId) -> Option<usize> {
    g.shape(x).dims().last().and_then(|d| d.known())
}

/// The mean over the last axis (Keras's `axis=-1`). A rank-1 value `[B]` is
/// already one number per sample and is returned as is; Keras's mean over its
/// only axis followed by the batch mean gives the same reported value.
pub(crate) fn mean_last(g: &mut Graph, x: NodeId) -> R<NodeId> {
    let rank = g.shape(x).rank();
    if rank <= 1 {
        return Ok(x);
    }
    let n = match g.shape(x).dims()[rank - 1] {
        Dim::Known(n) => n,
        Dim::Batch => return Ok(x),
    };
    let sum = g.reduce_sum(x, vec![rank - 1], false).map_err(err)?;
    let count = g.scalar(n as f64);
    g.div(sum, count).map_err(err)
}

/// The mean of every element of a per-sample value, dividing by the runtime
/// batch size times the known per-sample element count.
pub(crate) fn batch_mean(g: &mut Graph, x: NodeId) -> R<NodeId> {
    let shape = g.shape(x).clone();
    let known: usize = shape.dims().iter().filter_map(|d| d.known()).product();
    let batch_dims = shape.dims().iter().filter(|d| **d == Dim::Batch).count();
    let total = g.sum_all(x).map_err(err)?;
    let mut count = if known == 1 { None } else { Some(g.scalar(known as f64)) };
    for _ in 0..batch_dims {
        let b = g.batch_size();
        count = Some(match count {
            None => b,
            Some(c) => g.mul(c, b).map_err(err)?,
        });
    }
    match count {
        Some(c) => g.div(total, c).map_err(err),
        None => Ok(total),
    }
}

/// Multiplies each sample's loss values by its weight (`w`: f32 `[batch]`).
/// A per-sample loss with more axes than the batch (a sequence's steps) gets
/// the weight on every value of its sample, as Keras's
/// `squeeze_or_expand_to_same_rank` expands the weights.
pub(crate) fn weight_samples(g: &mut Graph, per_sample: NodeId, w: NodeId) -> R<NodeId> {
    let shape = g.shape(per_sample).clone();
    let w = if shape.rank() > 1 {
        let mut dims = vec![Dim::Batch];
        dims.resize(shape.rank(), Dim::Known(1));
        g.reshape(w, Shape(dims)).map_err(err)?
    } else {
        w
    };
    g.mul(per_sample, w).map_err(err)
}
