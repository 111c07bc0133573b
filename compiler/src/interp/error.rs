//! Errors of the reference interpreter.
//!
//! Caller mistakes (wrong inputs, variables or batch size) get their own
//! variants naming the offending value, so the runtime can show them as is.
//! `Malformed` is reserved for graphs that break the IR's own rules (possible
//! only for graphs assembled by hand through the public fields): the
//! interpreter reports them instead of panicking.

use crate::ir::NodeId;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum InterpError {
    /// The number of input values differs from `graph.inputs`.
    InputCount { expected: usize, found: usize },
    /// An input has the wrong element type (`expected` is `f32` or `i32`).
    InputDType { name: String, expected: String, found: String },
    /// An input has the wrong shape; `expected` is its type with the batch
    /// dimension resolved, e.g. `f32[3, 784]`.
    InputShape { name: String, expected: String, found: Vec<usize> },
    /// The number of variable values differs from `graph.vars`.
    VarCount { expected: usize, found: usize },
    /// A variable value has the wrong shape.
    VarShape { name: String, expected: Vec<usize>, found: Vec<usize> },
    /// Batch size 0 was requested; every batch dimension must be at least 1.
    ZeroBatch,
    /// The graph breaks an IR invariant at `node` (bad argument, forward
    /// reference, result not of the node's declared type).
    Malformed { node: NodeId, op: &'static str, detail: String },
}

impl fmt::Display for InterpError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        use InterpError::*;
        match self {
            InputCount { expected, found } => {
                write!(f, "the graph takes {expected} input(s) but {found} were given; pass one value per graph input, in order")
            }
            InputDType { name, expected, found } => {
                write!(f, "input `{name}` must hold {expected} values but an {found} array was given")
            }
            InputShape { name, expected, found } => {
                write!(f, "input `{name}` must be {expected} but has shape {found:?}")
            }
            VarCount { expected, found } => {
                write!(f, "the graph has {expected} variable(s) but {found} values were given; pass one array per variable, in order")
            }
            VarShape { name, expected, found } => {
                write!(f, "variable `{name}` must have shape {expected:?} but has shape {found:?}")
            }
            ZeroBatch => f.write_str("batch size must be at least 1 but is 0"),
            Malformed { node, op, detail } => {
                write!(
                    f,
                    "malformed graph at {node} (`{op}`): {detail}; this is a bug in the pass that built the graph"
                )
            }
        }
    }
}

impl std::error::Error for InterpError {}
