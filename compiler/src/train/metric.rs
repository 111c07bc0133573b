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
use super::spec::{LossKind, Metric};
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

/// Checks that every metric fits the loss's targets and that none repeats.
pub(crate) fn check(metrics: &[Metric], loss: LossKind, output: &Shape) -> R<()> {
    for (i, &metric) in metrics.iter().enumerate() {
        if metrics[..i].contains(&metric) {
            return Err(TrainError::DuplicateMetric { metric });
        }
        let mismatch = |reason: &str| TrainError::MetricTarget {
            metric,
            loss,
            output: output.clone(),
            reason: reason.to_string(),
        };
        let sparse_targets = loss.integer_targets();
        match resolve(metric, loss, output) {
            Metric::SparseCategoricalAccuracy if !sparse_targets => {
                return Err(mismatch(
                    "it compares integer class labels, but this loss takes f32 targets shaped like the output; \
                     use categorical_accuracy (one-hot targets) or loss sparse_categorical_crossentropy",
                ));
            }
            Metric::SparseCategoricalAccuracy | Metric::CategoricalAccuracy
                if output.rank() < 2 || output.dims().last().and_then(|d| d.known()).is_none() =>
            {
                return Err(mismatch("it needs an output of shape (batch, ..., classes)"));
            }
            Metric::SparseCategoricalAccuracy => {}
            other if sparse_targets => {
                let hint = match other {
                    Metric::CategoricalAccuracy => "use sparse_categorical_accuracy (or accuracy)",
                    _ => "use sparse_categorical_accuracy (or accuracy), or one-hot targets with categorical_crossentropy",
                };
                return Err(mismatch(&format!(
                    "the targets are integer class labels, not values shaped like the output; {hint}"
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The batch mean of `metric` (already checked by [`check`]).
pub(crate) fn emit(g: &mut Graph, metric: Metric, loss: LossKind, output: NodeId, target: NodeId) -> R<NodeId> {
    let rank = g.shape(output).rank();
    let per_sample = match resolve(metric, loss, g.shape(output)) {
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
    };
    batch_mean(g, per_sample)
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
