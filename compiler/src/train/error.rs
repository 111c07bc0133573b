//! Why a training graph could not be built.
//!
//! Most variants are user mistakes (a loss that does not fit the model's
//! output, a metric that does not fit the targets, a hyperparameter out of
//! range): their messages name the value, show the shape Keras-style
//! (`(None, 1)`) and say what to change. `Internal` wraps a shape error raised
//! while emitting nodes, which for a well-typed model is a compiler bug.

use super::spec::{LossKind, Metric};
use crate::ir::{DType, Shape};
use crate::shape::ShapeError;
use std::fmt;

#[derive(Clone, Debug, PartialEq)]
pub enum TrainError {
    /// Training needs a model output to attach the loss to.
    OutputCount { names: Vec<String> },
    /// A per-output setting names an output the model does not have.
    UnknownOutput { name: String, outputs: Vec<String> },
    /// Per-output losses were given but one output has none.
    MissingOutputLoss { output: String, outputs: Vec<String> },
    /// A plain metric list on a model with several outputs (Keras needs to
    /// know which output each metric watches).
    MetricsNeedOutput { outputs: Vec<String> },
    /// A loss weight that is negative or not finite.
    LossWeight { output: String, weight: f64 },
    /// The model output is not an f32 tensor.
    OutputDType { output: String, dtype: DType },
    /// The loss needs a `(batch, classes)`-style output.
    OutputRank { loss: LossKind, shape: Shape },
    /// A categorical loss on an output with fewer than two classes.
    TooFewClasses { loss: LossKind, shape: Shape },
    /// `from_logits` was set for a loss that has no logits form.
    FromLogitsNotApplicable { loss: LossKind },
    /// A loss argument outside the range its formula needs.
    LossArgument { loss: LossKind, name: &'static str, value: f64, expected: &'static str },
    /// `cosine_similarity(axis)` names no feature axis of the output.
    LossAxis { loss: LossKind, axis: i64, shape: Shape },
    /// A metric that cannot be computed against the loss's targets.
    MetricTarget { metric: Metric, loss: LossKind, output: Shape, reason: String },
    /// The same metric was requested twice (History keys must be unique).
    DuplicateMetric { metric: Metric },
    /// The model already has an input with a name the training graph adds.
    InputNameTaken { name: String },
    /// An optimizer hyperparameter outside its valid range.
    Hyperparameter { optimizer: &'static str, name: &'static str, value: f64, expected: &'static str },
    /// More than one of `clipnorm`, `clipvalue`, `global_clipnorm`.
    ClipConflict { optimizer: &'static str },
    /// A regularizer with a negative or non-finite factor.
    Regularizer { var: String, l1: f64, l2: f64 },
    /// A shape error while emitting training nodes: a compiler bug, reported
    /// with the stage that hit it instead of panicking.
    Internal { stage: &'static str, error: ShapeError },
}

impl TrainError {
    /// Wraps a [`ShapeError`] raised while emitting `stage`'s nodes.
    pub(crate) fn internal(stage: &'static str) -> impl FnOnce(ShapeError) -> TrainError {
        move |error| TrainError::Internal { stage, error }
    }
}

fn dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "f32",
        DType::I32 => "i32",
    }
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        use TrainError::*;
        match self {
            OutputCount { names } if names.is_empty() => {
                write!(f, "the model has no output to attach the loss to; return a tensor from the model")
            }
            OutputCount { names } => write!(
                f,
                "training needs exactly one model output, but the model has {} ({}); return a single tensor",
                names.len(),
                names.join(", ")
            ),
            UnknownOutput { name, outputs } => write!(
                f,
                "`{name}` is not an output of the model; its outputs are {}",
                outputs.join(", ")
            ),
            MissingOutputLoss { output, outputs } => write!(
                f,
                "output `{output}` has no loss; per-output losses must name every output ({})",
                outputs.join(", ")
            ),
            MetricsNeedOutput { outputs } => write!(
                f,
                "the model has {} outputs ({}), so metrics must say which output they watch: \
                 metrics = {{ {}: [...] }}",
                outputs.len(),
                outputs.join(", "),
                outputs.first().map_or("out", String::as_str)
            ),
            LossWeight { output, weight } => {
                write!(f, "the loss weight of output `{output}` is {weight}; it must be finite and >= 0")
            }
            OutputDType { output, dtype } => write!(
                f,
                "the model output `{output}` is {} but losses need f32 values; cast or remove the last op",
                dtype_name(*dtype)
            ),
            OutputRank { loss, shape } => write!(
                f,
                "{} needs an output of shape (batch, ..., classes), but the model output has shape {}",
                loss.name(),
                shape.keras()
            ),
            TooFewClasses { loss, shape } => write!(
                f,
                "{} needs an output with >= 2 classes, but the model output has shape {}; \
                 use binary_crossentropy for a single sigmoid unit",
                loss.name(),
                shape.keras()
            ),
            FromLogitsNotApplicable { loss } => write!(
                f,
                "from_logits applies to the cross-entropy losses only, not to {}; remove it",
                loss.name()
            ),
            LossArgument { loss, name, value, expected } => {
                write!(f, "{}: {name} = {value} is invalid; it must be {expected}", loss.name())
            }
            LossAxis { loss, axis, shape } => write!(
                f,
                "{}: axis = {axis} is not a feature axis of the model output {}; pick an axis other than the batch axis",
                loss.name(),
                shape.keras()
            ),
            MetricTarget { metric, loss, output, reason } => write!(
                f,
                "metric {} does not fit loss {} with model output {}: {reason}",
                metric.key(),
                loss.name(),
                output.keras()
            ),
            DuplicateMetric { metric } => write!(f, "metric {} is listed twice; list each metric once", metric.key()),
            InputNameTaken { name } => write!(
                f,
                "the model already has an input named `{name}`, which the training step needs for itself; rename the input"
            ),
            Hyperparameter { optimizer, name, value, expected } => {
                write!(f, "{optimizer}: {name} = {value} is invalid; it must be {expected}")
            }
            ClipConflict { optimizer } => write!(
                f,
                "{optimizer}: only one of clipnorm, clipvalue and global_clipnorm can be set; keep one"
            ),
            Regularizer { var, l1, l2 } => write!(
                f,
                "the regularizer of `{var}` has l1 = {l1}, l2 = {l2}; both factors must be finite and >= 0"
            ),
            Internal { stage, error } => write!(
                f,
                "internal compiler error while building the {stage} part of the training graph: {error}"
            ),
        }
    }
}

impl std::error::Error for TrainError {}
