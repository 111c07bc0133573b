//! `loss = …` in a `train` block, and the loss/output mismatches that are
//! certain from the output's shape alone.

use super::args::{bind, opt, Param};
use super::errors::*;
use super::train_block::{name_or_call, train_err, unknown};
use super::values::{self, Sv};
use crate::diag::{Diagnostic, Span};
use crate::ir::{Graph, Shape};
use crate::train::{Loss, LossKind};

pub const LOSSES: &[&str] = &[
    "mse",
    "mean_squared_error",
    "mae",
    "mean_absolute_error",
    "mape",
    "mean_absolute_percentage_error",
    "msle",
    "mean_squared_logarithmic_error",
    "bce",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "huber",
    "log_cosh",
    "kld",
    "kl_divergence",
    "poisson",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    "cosine_similarity",
];

pub(super) fn loss(v: &Sv, g: &Graph) -> Result<Loss, Diagnostic> {
    let (name, args) = name_or_call(v, "loss", g)?;
    let kind = match name {
        "mse" | "mean_squared_error" => LossKind::MeanSquaredError,
        "mae" | "mean_absolute_error" => LossKind::MeanAbsoluteError,
        "mape" | "mean_absolute_percentage_error" => LossKind::MeanAbsolutePercentageError,
        "msle" | "mean_squared_logarithmic_error" => LossKind::MeanSquaredLogarithmicError,
        "bce" | "binary_crossentropy" => LossKind::BinaryCrossentropy,
        "binary_focal_crossentropy" => LossKind::BinaryFocalCrossentropy,
        "categorical_crossentropy" => LossKind::CategoricalCrossentropy,
        "sparse_categorical_crossentropy" => LossKind::SparseCategoricalCrossentropy,
        "huber" => LossKind::Huber,
        "log_cosh" => LossKind::LogCosh,
        "kld" | "kl_divergence" => LossKind::KlDivergence,
        "poisson" => LossKind::Poisson,
        "hinge" => LossKind::Hinge,
        "squared_hinge" => LossKind::SquaredHinge,
        "categorical_hinge" => LossKind::CategoricalHinge,
        "cosine_similarity" => LossKind::CosineSimilarity,
        other => return Err(unknown(UNKNOWN_LOSS, "loss", other, v.span, LOSSES)),
    };
    // Keras's positional order for each loss.
    let params: &[Param] = match kind {
        LossKind::BinaryCrossentropy | LossKind::CategoricalCrossentropy => {
            &[opt("from_logits"), opt("label_smoothing")]
        }
        LossKind::SparseCategoricalCrossentropy => &[opt("from_logits")],
        LossKind::BinaryFocalCrossentropy => {
            &[opt("apply_class_balancing"), opt("alpha"), opt("gamma"), opt("from_logits"), opt("label_smoothing")]
        }
        LossKind::Huber => &[opt("delta")],
        LossKind::CosineSimilarity => &[opt("axis")],
        _ => &[],
    };
    let b = bind(name, params, args, v.span)?;
    let mut loss = Loss::new(kind);
    for (i, p) in params.iter().enumerate() {
        let Some(x) = b.get(i) else { continue };
        match p.name {
            "from_logits" => loss.from_logits = values::boolean(x, "from_logits", g).map_err(train_err)?,
            "apply_class_balancing" => {
                loss.apply_class_balancing = values::boolean(x, "apply_class_balancing", g).map_err(train_err)?
            }
            "label_smoothing" => {
                loss.label_smoothing =
                    values::number_in(x, "label_smoothing", "between 0 and 1", |f| (0.0..=1.0).contains(&f), g)
                        .map_err(train_err)?
            }
            "alpha" => {
                loss.alpha = values::number_in(x, "alpha", "between 0 and 1", |f| (0.0..=1.0).contains(&f), g)
                    .map_err(train_err)?
            }
            "gamma" => {
                loss.gamma =
                    values::number_in(x, "gamma", "at least 0", |f| f.is_finite() && f >= 0.0, g).map_err(train_err)?
            }
            "delta" => {
                loss.delta = values::number_in(x, "delta", "greater than 0", |f| f.is_finite() && f > 0.0, g)
                    .map_err(train_err)?
            }
            "axis" => loss.axis = values::int(x, "axis", g).map_err(train_err)?,
            _ => {}
        }
    }
    Ok(loss)
}

fn is_binary_ce(kind: LossKind) -> bool {
    matches!(kind, LossKind::BinaryCrossentropy | LossKind::BinaryFocalCrossentropy)
}

/// Mismatches that are certain from the output shape alone; `output` names
/// the output when the model has several.
pub(super) fn loss_mismatch(loss: Loss, out: &Shape, span: Span, output: Option<&str>) -> Option<Diagnostic> {
    let last = out.0.last().and_then(|d| d.known());
    let per = match output {
        Some(name) => format!("{} from `{name}`", per_sample(out)),
        None => per_sample(out),
    };
    match (loss.kind, last) {
        (LossKind::SparseCategoricalCrossentropy | LossKind::CategoricalCrossentropy, Some(1)) if out.rank() >= 2 => Some(
            Diagnostic::error(
                LOSS_OUTPUT,
                format!("{} needs one output unit per class but the model outputs {per}", loss.kind.name()),
                span,
            )
            .with_label("a single unit cannot hold class scores")
            .with_help("for two classes with one unit use `binary_crossentropy`, or give the last layer one unit per class"),
        ),
        (_, _) if out.rank() < 2 && (loss.kind.sums_last_axis() || is_binary_ce(loss.kind) || loss.kind == LossKind::CosineSimilarity) => Some(
            Diagnostic::error(LOSS_OUTPUT, format!("{} needs a per-sample output but the model outputs {per}", loss.kind.name()), span)
                .with_label("output has no feature axis"),
        ),
        _ => None,
    }
}
