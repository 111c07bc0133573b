//! Keras's metrics as IR: one batch-mean value per metric.
//!
//! `accuracy` is resolved against the loss the way Keras's `compile` does it:
//! sparse categorical cross-entropy → sparse categorical accuracy, categorical
//! cross-entropy → categorical accuracy, binary cross-entropy → binary
//! accuracy; for other losses an output whose last dimension is 1 gets binary
//! accuracy and any other output categorical accuracy.
//!
//! As in Keras, binary accuracy thresholds the raw model output at 0.5, even
//! for a model trained with `from_logits = true`.

use super::error::TrainError;
use super::loss::{batch_mean, mean_last};
use super::spec::{F1Average, Loss, LossKind, Metric};
use crate::ir::{CmpOp, Dim, Graph, NodeId, Op, Shape};

type R<T> = Result<T, TrainError>;

fn err(e: crate::shape::ShapeError) -> TrainError {
    TrainError::internal("metrics")(e)
}

/// The concrete metric `metric` stands for under `loss` on an output of
/// shape `output`.
pub(crate) fn resolve(metric: Metric, loss: LossKind, output: &Shape) -> Metric {
    if metric != Metric::Accuracy {
        return metric;
    }
    match loss {
        LossKind::SparseCategoricalCrossentropy => Metric::SparseCategoricalAccuracy,
        LossKind::CategoricalCrossentropy => Metric::CategoricalAccuracy,
        LossKind::BinaryCrossentropy | LossKind::BinaryFocalCrossentropy => Metric::BinaryAccuracy,
        _ => match output.dims().last() {
            Some(Dim::Known(1)) => Metric::BinaryAccuracy,
            _ => Metric::CategoricalAccuracy,
        },
    }
}

/// Checks that every metric fits the loss's targets and that no History key
/// repeats.
pub(crate) fn check(metrics: &[Metric], loss: LossKind, output: &Shape) -> R<()> {
    for (i, &metric) in metrics.iter().enumerate() {
        if metrics[..i].iter().any(|m| m.key() == metric.key()) {
            return Err(TrainError::DuplicateMetric { metric });
        }
        if let Some(reason) = mismatch(metric, loss, output) {
            return Err(TrainError::MetricTarget { metric, loss, output: output.clone(), reason });
        }
    }
    Ok(())
}

/// Why `metric` cannot be computed for `loss` on an output of shape
/// `output`, or `None` when it can. Lowering reports the same reason at the
/// metric's span.
pub fn mismatch(metric: Metric, loss: LossKind, output: &Shape) -> Option<String> {
    let sparse_targets = loss.integer_targets();
    let classes = output.dims().last().and_then(|d| d.known()).filter(|_| output.rank() >= 2);
    let reason = match resolve(metric, loss, output) {
        Metric::SparseCategoricalAccuracy | Metric::SparseTopKCategoricalAccuracy { .. } if !sparse_targets => {
            "it compares integer class labels, but this loss takes f32 targets shaped like the output; \
             use the non-sparse metric (one-hot targets) or loss sparse_categorical_crossentropy"
                .to_string()
        }
        Metric::SparseCategoricalAccuracy
        | Metric::CategoricalAccuracy
        | Metric::SparseTopKCategoricalAccuracy { .. }
        | Metric::TopKCategoricalAccuracy { .. }
            if classes.is_none() =>
        {
            "it needs an output of shape (batch, ..., classes)".to_string()
        }
        Metric::SparseCategoricalAccuracy | Metric::SparseTopKCategoricalAccuracy { .. } => return None,
        other if sparse_targets => {
            let hint = match other {
                Metric::CategoricalAccuracy => "use sparse_categorical_accuracy (or accuracy)",
                Metric::TopKCategoricalAccuracy { .. } => "use sparse_top_k_categorical_accuracy",
                _ => "use sparse_categorical_accuracy (or accuracy), or one-hot targets with categorical_crossentropy",
            };
            format!("the targets are integer class labels, not values shaped like the output; {hint}")
        }
        Metric::Auc { .. } if classes.is_some_and(|c| c > 1) => format!(
            "auc scores one probability per sample against a 0/1 label, but this output has {} values per sample; \
             give the model a single sigmoid unit, or watch a categorical metric such as top_k_categorical_accuracy",
            classes.unwrap_or(0)
        ),
        Metric::R2Score | Metric::F1Score { .. } | Metric::FBetaScore { .. }
            if output.rank() != 2 || classes.is_none() =>
        {
            "it needs an output of shape (batch, values)".to_string()
        }
        Metric::F1Score { average: F1Average::None, .. } | Metric::FBetaScore { average: F1Average::None, .. }
            if classes.is_some_and(|c| c > 1) =>
        {
            "with average = None Keras reports one score per class, and History holds one number per metric; \
             pass average = \"macro\", \"micro\" or \"weighted\""
                .to_string()
        }
        _ => return None,
    };
    Some(reason)
}

/// The batch mean of `metric`, or for a stateful metric its statistics
/// vector (already checked by [`check`]).
pub(crate) fn emit(g: &mut Graph, metric: Metric, loss: LossKind, output: NodeId, target: NodeId) -> R<NodeId> {
    let rank = g.shape(output).rank();
    let metric = resolve(metric, loss, g.shape(output));
    if metric.is_stateful() {
        return super::metric_state::emit(g, metric, output, target);
    }
    let per_sample = match metric {
        Metric::Accuracy => unreachable_accuracy()?,
        Metric::BinaryAccuracy => {
            let half = g.scalar(0.5);
            let predicted = g.push(Op::Compare(CmpOp::Gt), &[output, half]).map_err(err)?;
            let hit = g.push(Op::Compare(CmpOp::Eq), &[target, predicted]).map_err(err)?;
            mean_last(g, hit)?
        }
        Metric::CategoricalAccuracy => {
            let truth = g.push(Op::ArgMax { axis: rank - 1 }, &[target]).map_err(err)?;
            let predicted = g.push(Op::ArgMax { axis: rank - 1 }, &[output]).map_err(err)?;
            g.push(Op::Compare(CmpOp::Eq), &[truth, predicted]).map_err(err)?
        }
        Metric::SparseCategoricalAccuracy => {
            let predicted = g.push(Op::ArgMax { axis: rank - 1 }, &[output]).map_err(err)?;
            g.push(Op::Compare(CmpOp::Eq), &[target, predicted]).map_err(err)?
        }
        Metric::TopKCategoricalAccuracy { k } => {
            let truth = g.push(Op::ArgMax { axis: rank - 1 }, &[target]).map_err(err)?;
            in_top_k(g, output, truth, k)?
        }
        Metric::SparseTopKCategoricalAccuracy { k } => in_top_k(g, output, target, k)?,
        Metric::MeanAbsoluteError => {
            let d = g.sub(output, target).map_err(err)?;
            let abs = g.unary(crate::ir::UnaryOp::Abs, d).map_err(err)?;
            mean_last(g, abs)?
        }
        Metric::MeanSquaredError => {
            let d = g.sub(output, target).map_err(err)?;
            let sq = g.mul(d, d).map_err(err)?;
            mean_last(g, sq)?
        }
        Metric::MeanAbsolutePercentageError => {
            super::loss::per_sample(g, Loss::new(LossKind::MeanAbsolutePercentageError), output, target)?
        }
        stateful => {
            return Err(TrainError::Internal {
                stage: "metrics",
                error: crate::shape::ShapeError::Invalid {
                    op: "metric",
                    detail: format!("{} is stateful", stateful.key()),
                },
            })
        }
    };
    batch_mean(g, per_sample)
}

/// TensorFlow's `in_top_k`: the true class's score has fewer than `k`
/// scores strictly above it (ties at the boundary count as inside).
fn in_top_k(g: &mut Graph, scores: NodeId, class: NodeId, k: usize) -> R<NodeId> {
    let last = g.shape(scores).rank() - 1;
    let depth = g.shape(scores).dims()[last].known().unwrap_or(1);
    let one_hot = g.push(Op::OneHot { depth }, &[class]).map_err(err)?;
    let picked = g.mul(one_hot, scores).map_err(err)?;
    let truth = g.reduce_sum(picked, vec![last], true).map_err(err)?;
    let above = g.push(Op::Compare(CmpOp::Gt), &[scores, truth]).map_err(err)?;
    let count = g.reduce_sum(above, vec![last], false).map_err(err)?;
    let k = g.scalar(k as f64);
    g.push(Op::Compare(CmpOp::Lt), &[count, k]).map_err(err)
}

/// `resolve` never returns `Accuracy`; reported as an internal error rather
/// than a panic should that invariant ever break.
fn unreachable_accuracy() -> R<NodeId> {
    Err(TrainError::Internal {
        stage: "metrics",
        error: crate::shape::ShapeError::Invalid {
            op: "accuracy",
            detail: "metric was not resolved against the loss".into(),
        },
    })
}
