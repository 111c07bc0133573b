//! `metrics = […]` in a `train` block, and each metric checked against its
//! output's loss and shape.

use super::args::{bind, opt};
use super::errors::*;
use super::train_block::{name_or_call, train_err, unknown};
use super::values::{self, eval_const, ArgVal, Sv, Value};
use crate::ast::{Expr, ExprKind, TrainBlock};
use crate::diag::{Diagnostic, Span};
use crate::ir::{Graph, Shape};
use crate::train::{AucCurve, F1Average, Loss, Metric, Real, TrainConfig};

pub const METRICS: &[&str] = &[
    "accuracy",
    "acc",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "mae",
    "mean_absolute_error",
    "mse",
    "mean_squared_error",
    "mape",
    "mean_absolute_percentage_error",
    "root_mean_squared_error",
    "precision",
    "recall",
    "auc",
    "r2_score",
    "f1_score",
    "fbeta_score",
];

pub(super) fn metric_list(v: &Sv, g: &Graph) -> Result<Vec<Metric>, Diagnostic> {
    let items = match &v.value {
        Value::List(items) => items.clone(),
        _ => vec![v.clone()],
    };
    items.iter().map(|m| metric(m, g)).collect()
}

fn metric(v: &Sv, g: &Graph) -> Result<Metric, Diagnostic> {
    let (name, args) = name_or_call(v, "metric", g)?;
    let span = v.span;
    let k = |args: &[ArgVal]| -> Result<usize, Diagnostic> {
        let b = bind(name, &[opt("k")], args, span)?;
        b.get(0).map(|x| values::positive(x, "k", g).map_err(train_err)).transpose().map(|k| k.unwrap_or(5))
    };
    Ok(match name {
        "accuracy" | "acc" => plain(name, args, span, Metric::Accuracy)?,
        "binary_accuracy" => plain(name, args, span, Metric::BinaryAccuracy)?,
        "categorical_accuracy" => plain(name, args, span, Metric::CategoricalAccuracy)?,
        "sparse_categorical_accuracy" => plain(name, args, span, Metric::SparseCategoricalAccuracy)?,
        "mae" | "mean_absolute_error" => plain(name, args, span, Metric::MeanAbsoluteError)?,
        "mse" | "mean_squared_error" => plain(name, args, span, Metric::MeanSquaredError)?,
        "mape" | "mean_absolute_percentage_error" => plain(name, args, span, Metric::MeanAbsolutePercentageError)?,
        "root_mean_squared_error" => plain(name, args, span, Metric::RootMeanSquaredError)?,
        "precision" => plain(name, args, span, Metric::Precision)?,
        "recall" => plain(name, args, span, Metric::Recall)?,
        "r2_score" => plain(name, args, span, Metric::R2Score)?,
        "top_k_categorical_accuracy" => Metric::TopKCategoricalAccuracy { k: k(args)? },
        "sparse_top_k_categorical_accuracy" => Metric::SparseTopKCategoricalAccuracy { k: k(args)? },
        "auc" => {
            let b = bind(name, &[opt("num_thresholds"), opt("curve")], args, span)?;
            let num_thresholds = match b.get(0) {
                None => 200,
                Some(x) => match values::positive(x, "num_thresholds", g).map_err(train_err)? {
                    n if n > 1 => n,
                    n => {
                        return Err(Diagnostic::error(
                            TRAIN_RANGE,
                            format!("num_thresholds must be greater than 1 but is {n}"),
                            x.span,
                        )
                        .with_label("at least 2 thresholds"))
                    }
                },
            };
            let curve = match b.get(1) {
                None => AucCurve::Roc,
                Some(x) => match values::name(x, "curve", g).map_err(train_err)?.to_ascii_uppercase().as_str() {
                    "ROC" => AucCurve::Roc,
                    "PR" => AucCurve::Pr,
                    other => {
                        return Err(Diagnostic::error(TRAIN_RANGE, format!("unknown auc curve `{other}`"), x.span)
                            .with_label("expected \"ROC\" or \"PR\""))
                    }
                },
            };
            Metric::Auc { num_thresholds, curve }
        }
        "f1_score" => {
            let b = bind(name, &[opt("average"), opt("threshold")], args, span)?;
            Metric::F1Score { average: f1_average(name, b.get(0), g)?, threshold: threshold(b.get(1), g)? }
        }
        "fbeta_score" => {
            // Keras's positional order: average, beta, threshold.
            let b = bind(name, &[opt("average"), opt("beta"), opt("threshold")], args, span)?;
            let beta = match b.get(1) {
                None => 1.0,
                Some(x) => values::number_in(x, "beta", "greater than 0", |f| f.is_finite() && f > 0.0, g)
                    .map_err(train_err)?,
            };
            Metric::FBetaScore {
                beta: Real(beta),
                average: f1_average(name, b.get(0), g)?,
                threshold: threshold(b.get(2), g)?,
            }
        }
        other => return Err(unknown(UNKNOWN_METRIC, "metric", other, span, METRICS)),
    })
}

/// `average` of `f1_score`/`fbeta_score`: none (one score per class) by default.
fn f1_average(metric: &str, x: Option<&Sv>, g: &Graph) -> Result<F1Average, Diagnostic> {
    let Some(x) = x else { return Ok(F1Average::None) };
    Ok(match values::name(x, "average", g).map_err(train_err)?.as_str() {
        "micro" => F1Average::Micro,
        "macro" => F1Average::Macro,
        "weighted" => F1Average::Weighted,
        other => {
            return Err(Diagnostic::error(TRAIN_RANGE, format!("unknown {metric} average `{other}`"), x.span)
                .with_label("expected \"micro\", \"macro\" or \"weighted\""))
        }
    })
}

/// Keras's `threshold`: scores above it count as predicted; `0 < threshold <= 1`.
fn threshold(x: Option<&Sv>, g: &Graph) -> Result<Option<Real>, Diagnostic> {
    x.map(|x| values::number_in(x, "threshold", "in (0, 1]", |f| f > 0.0 && f <= 1.0, g).map(Real).map_err(train_err))
        .transpose()
}

/// A metric without arguments.
fn plain(name: &str, args: &[ArgVal], span: Span, metric: Metric) -> Result<Metric, Diagnostic> {
    bind(name, &[], args, span)?;
    Ok(metric)
}

/// Each metric against its output's loss and shape, at the metric's span.
pub(super) fn metric_mismatches(
    block: &TrainBlock,
    cfg: &TrainConfig,
    outputs: &[(String, Shape)],
    losses: &[(String, Loss)],
) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let Some(entry) = block.entries.iter().find(|e| e.key.name == "metrics") else { return diags };
    let mut spanned: Vec<(&str, Vec<Metric>, &Expr)> = Vec::new();
    match &entry.value.kind {
        ExprKind::Map(items) => {
            for (k, value) in items {
                if let Some((_, m)) = cfg.output_metrics.iter().find(|(n, _)| *n == k.name) {
                    spanned.push((k.name.as_str(), m.clone(), value));
                }
            }
        }
        _ => {
            if let Some((name, _)) = outputs.first() {
                spanned.push((name.as_str(), cfg.metrics.clone(), &entry.value));
            }
        }
    }
    for (output, metrics, expr) in spanned {
        let (Some((_, shape)), Some((_, loss))) =
            (outputs.iter().find(|(n, _)| n == output), losses.iter().find(|(n, _)| n == output))
        else {
            continue;
        };
        let Ok(v) = eval_const(expr) else { continue };
        let spans: Vec<Span> = match &v.value {
            Value::List(items) => items.iter().map(|i| i.span).collect(),
            _ => vec![v.span],
        };
        for (metric, span) in metrics.iter().zip(spans) {
            if let Some(reason) = crate::train::metric_mismatch(*metric, loss.kind, shape) {
                diags.push(
                    Diagnostic::error(
                        METRIC_OUTPUT,
                        format!("metric {} does not fit the output {}", metric.key(), super::errors::per_sample(shape)),
                        span,
                    )
                    .with_label("this metric")
                    .with_help(reason),
                );
            }
        }
    }
    diags
}
