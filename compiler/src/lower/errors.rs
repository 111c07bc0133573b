//! Diagnostic codes of the lowering stage and the translation of structured
//! shape errors into spanned diagnostics.
//!
//! Codes are stable: tests, docs and users refer to them. Every code below is
//! produced somewhere in `lower/` and has at least one golden case in
//! `compiler/tests/diagnostics/`.

use crate::diag::{Diagnostic, Span};
use crate::ir::Shape;
use crate::shape::ShapeError;

/// The file defines no model.
pub const NO_MODEL: &str = "E0100";
/// The requested model does not exist, or several exist and none was chosen.
pub const UNKNOWN_MODEL: &str = "E0101";
/// Two models or custom layers share a name, or a custom layer shadows a built-in.
pub const DUPLICATE_DEF: &str = "E0102";
/// A model declares no `input`.
pub const NO_INPUT: &str = "E0103";
/// A name is declared twice (inputs, bindings, params, custom layer parameters).
pub const DUPLICATE_NAME: &str = "E0104";
/// An input or parameter shape is not a list of positive integers, or an unknown dtype.
pub const BAD_SHAPE: &str = "E0105";
/// A name that is not bound to any value.
pub const UNDEFINED: &str = "E0106";
/// A call or statement names no known layer.
pub const UNKNOWN_LAYER: &str = "E0107";
/// An unknown activation name.
pub const UNKNOWN_ACTIVATION: &str = "E0108";
/// An unknown initializer name.
pub const UNKNOWN_INITIALIZER: &str = "E0109";
/// A named argument the callee does not take.
pub const UNKNOWN_ARGUMENT: &str = "E0110";
/// Too many, too few, or repeated arguments.
pub const ARITY: &str = "E0111";
/// An argument of the wrong type (`dense("128")`, `dense(12.5)`).
pub const ARG_TYPE: &str = "E0112";
/// An argument out of its valid range (zero units, dropout rate 1.5).
pub const ARG_RANGE: &str = "E0113";
/// A layer statement with no current value to apply to.
pub const NO_CURRENT: &str = "E0114";
/// A layer or math function applied to something that is not a tensor.
pub const NOT_A_TENSOR: &str = "E0115";
/// A tensor (or number, string, …) used where a layer is expected.
pub const NOT_A_LAYER: &str = "E0116";
/// A layer receives an input of the wrong rank (or an initial state of the wrong shape).
pub const RANK: &str = "E0117";
/// `add` of tensors with different shapes.
pub const MERGE_SHAPES: &str = "E0118";
/// `concatenate` with an axis out of range or mismatched shapes.
pub const CONCAT: &str = "E0119";
/// A convolution kernel or pooling window that does not fit its input.
pub const WINDOW: &str = "E0120";
/// A reshape whose element count differs from its input's.
pub const RESHAPE: &str = "E0121";
/// An input that no output depends on (Keras: "Graph disconnected").
pub const UNUSED_INPUT: &str = "E0122";
/// `output` names an unknown value.
pub const UNKNOWN_OUTPUT: &str = "E0123";
/// The model produces no tensor to output.
pub const NO_OUTPUT: &str = "E0124";
/// A custom layer without `return`.
pub const MISSING_RETURN: &str = "E0125";
/// A custom layer input does not match its shape pattern.
pub const SHAPE_PATTERN: &str = "E0126";
/// A statement in a place where it means nothing (`return` in a model, `input` in a layer, …).
pub const MISPLACED: &str = "E0127";
/// A custom layer that applies itself.
pub const RECURSION: &str = "E0128";
/// Tensor math whose shapes do not combine (broadcasting, matrix product).
pub const MATH_SHAPES: &str = "E0129";
/// An int tensor where float values are needed.
pub const DTYPE: &str = "E0130";
/// A merge (`add`, `concatenate`) without enough tensors.
pub const MERGE_ARITY: &str = "E0131";
/// A shared layer applied to an input of a different size than it was built for.
pub const SHARED_SHAPE: &str = "E0132";
/// Arithmetic on values that are not numbers or tensors.
pub const BAD_OPERAND: &str = "E0133";
/// An unknown regularizer name.
pub const UNKNOWN_REGULARIZER: &str = "E0134";
/// Custom layers (or expressions) nested inside each other too deeply to lower.
pub const NESTING: &str = "E0135";
/// Custom layers whose expansion exceeds the total number of layer applications.
pub const EXPANSION: &str = "E0136";
/// A layer call's results bound to the wrong number of names, or a layer
/// that yields several tensors (`return_state`) used where one is expected.
pub const RESULTS: &str = "E0137";
/// An unknown key in a `train` block.
pub const TRAIN_KEY: &str = "E0140";
/// A `train` value of the wrong type.
pub const TRAIN_TYPE: &str = "E0141";
/// A `train` value out of range.
pub const TRAIN_RANGE: &str = "E0142";
/// An unknown optimizer.
pub const UNKNOWN_OPTIMIZER: &str = "E0143";
/// An unknown loss.
pub const UNKNOWN_LOSS: &str = "E0144";
/// An unknown metric.
pub const UNKNOWN_METRIC: &str = "E0145";
/// An unknown learning-rate schedule.
pub const UNKNOWN_SCHEDULE: &str = "E0146";
/// The loss cannot apply to the model's output.
pub const LOSS_OUTPUT: &str = "E0147";
/// A `train` key given twice, or two keys that exclude each other.
pub const TRAIN_CONFLICT: &str = "E0148";
/// A per-output `train` setting names a value that is not a model output.
pub const TRAIN_OUTPUT: &str = "E0149";
/// Per-output `train` settings that leave an output out or do not match the
/// outputs (an output without a loss, a weight list of the wrong length, a
/// plain metric list on a model with several outputs).
pub const TRAIN_OUTPUTS: &str = "E0150";
/// A metric that cannot be computed for its output's loss or shape.
pub const METRIC_OUTPUT: &str = "E0151";

/// Not a user-facing code: an error whose cause was already reported. It
/// travels like an error (so evaluation stops) but is never shown.
pub const POISONED: &str = "E0000";

/// The placeholder error for a value whose error was already reported.
pub fn poisoned(span: Span) -> Diagnostic {
    Diagnostic::error(POISONED, "(error already reported)", span)
}

/// A binding that is never used.
pub const UNUSED_BINDING: &str = "W0100";
/// A Keras argument that is accepted for compatibility but has no effect.
pub const IGNORED_ARGUMENT: &str = "W0101";

/// Per-sample rendering of a batched shape: `[B, 28, 28]` → `[28, 28]`.
pub fn per_sample(shape: &Shape) -> String {
    match shape.0.first() {
        Some(crate::ir::Dim::Batch) => Shape(shape.0[1..].to_vec()).to_string(),
        _ => shape.to_string(),
    }
}

/// Turns a shape error raised while building `what` (a layer or operator)
/// into a diagnostic at `span`.
pub fn shape_error(err: ShapeError, what: &str, span: Span) -> Diagnostic {
    use ShapeError::*;
    match err {
        DType { found, expected, .. } => Diagnostic::error(
            DTYPE,
            format!("{what} expects {} values but gets {} values", dtype_word(expected), dtype_word(found)),
            span,
        )
        .with_label(format!("this input holds {} values", dtype_word(found)))
        .with_help("int inputs hold ids or labels; declare the input without `int` to feed float features"),
        Broadcast { lhs, rhs, .. } => {
            Diagnostic::error(MATH_SHAPES, format!("{what}: shapes {lhs} and {rhs} cannot be broadcast together"), span)
                .with_label(format!("{lhs} vs {rhs}"))
                .with_note("broadcasting aligns trailing dimensions; each pair must be equal or 1")
        }
        MatMulInner { lhs, rhs } => {
            Diagnostic::error(MATH_SHAPES, format!("matrix product of {lhs} and {rhs}: inner dimensions differ"), span)
                .with_label(format!("{} columns vs {} rows", dim_at(&lhs, 1), dim_at(&rhs, 0)))
        }
        Rank { expected, found, .. } => {
            Diagnostic::error(RANK, format!("{what} expects {expected} but gets {found}"), span)
                .with_label(format!("shape {found}"))
        }
        Axis { axis, rank, .. } => {
            Diagnostic::error(ARG_RANGE, format!("{what}: axis {axis} is out of range for a rank-{rank} tensor"), span)
        }
        ReshapeCount { from, to } => {
            Diagnostic::error(RESHAPE, format!("cannot reshape {from} into {to}: the element counts differ"), span)
        }
        Concat { axis, first, other } => {
            Diagnostic::error(CONCAT, format!("cannot concatenate {first} and {other} along axis {axis}"), span)
        }
        Window { input, detail, .. } => {
            Diagnostic::error(WINDOW, format!("{what} does not fit its input {}: {detail}", per_sample(&input)), span)
                .with_help("use `padding = same` or a smaller window")
        }
        Arity { expected, found, .. } => {
            Diagnostic::error(ARITY, format!("{what} takes {expected} input(s) but gets {found}"), span)
        }
        Invalid { detail, .. } => Diagnostic::error(ARG_RANGE, format!("{what}: {detail}"), span),
    }
}

fn dtype_word(d: crate::ir::DType) -> &'static str {
    match d {
        crate::ir::DType::F32 => "float",
        crate::ir::DType::I32 => "int",
    }
}

fn dim_at(shape: &Shape, i: usize) -> String {
    shape.0.get(i).map_or_else(|| "?".to_string(), |d| d.to_string())
}

/// `did you mean` help text, when a close candidate exists.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    crate::diag::did_you_mean(name, candidates).map(|c| format!("did you mean `{c}`?"))
}
