//! AST → IR. Resolves names, expands layers into primitive ops, checks every
//! shape, and reports user errors as spanned diagnostics with fix hints.
//!
//! Architecture invariants:
//! - This is the only stage that reports errors about user models. Later
//!   stages only see well-typed graphs; a failure there is a compiler bug.
//! - Lowering the same model in `Mode::Train` and `Mode::Infer` yields the
//!   same variables in the same order (same names, shapes, initializers), so
//!   weights trained with one graph run in the other.

use crate::ast;
use crate::diag::{Diagnostic, Span};
use crate::ir::{Graph, Shape, VarId};
use crate::train::TrainConfig;

/// Training mode enables dropout and batch statistics; inference disables them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    Train,
    Infer,
}

/// One row of `summary()`: a Keras layer instance.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerInfo {
    /// Keras-style instance name: `dense`, `dense_1`, `conv2d`, `my_swish`.
    pub name: String,
    /// Keras class name: `Dense`, `Flatten`, `InputLayer`, or the custom layer's name.
    pub kind: String,
    /// Output shape(s), batch dimension included.
    pub output_shapes: Vec<Shape>,
    /// Variables this layer owns (a shared layer owns them once).
    pub vars: Vec<VarId>,
    /// Names of the layers whose outputs feed this one (graph models' "Connected to").
    pub inputs: Vec<String>,
    pub span: Span,
}

/// A model lowered for one mode.
#[derive(Clone, Debug)]
pub struct LoweredModel {
    pub name: String,
    /// Inputs are the model's `input`s (role `Feature`), plus, in train mode,
    /// a `Step` scalar that keys dropout masks. Outputs are the model outputs,
    /// named after the values they come from. No updates.
    pub graph: Graph,
    pub layers: Vec<LayerInfo>,
    /// The `train` block, checked and typed (empty when absent).
    pub train: TrainConfig,
}

