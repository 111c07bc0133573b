//! Structured shape errors, rendered into diagnostics by `lower/`.

use crate::ir::{DType, Shape};
use std::fmt;

#[derive(Clone, Debug, PartialEq)]
pub enum ShapeError {
    Arity {
        op: &'static str,
        expected: usize,
        found: usize,
    },
    DType {
        op: &'static str,
        arg: usize,
        expected: DType,
        found: DType,
    },
    Broadcast {
        op: &'static str,
        lhs: Shape,
        rhs: Shape,
    },
    MatMulInner {
        lhs: Shape,
        rhs: Shape,
    },
    Rank {
        op: &'static str,
        arg: usize,
        expected: &'static str,
        found: Shape,
    },
    Axis {
        op: &'static str,
        axis: usize,
        rank: usize,
    },
    ReshapeCount {
        from: Shape,
        to: Shape,
    },
    Concat {
        axis: usize,
        first: Shape,
        other: Shape,
    },
    /// A window (kernel, pool) that does not fit the input, or channels that
    /// do not match.
    Window {
        op: &'static str,
        input: Shape,
        detail: String,
    },
    Invalid {
        op: &'static str,
        detail: String,
    },
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        use ShapeError::*;
        match self {
            Arity { op, expected, found } => write!(f, "`{op}` takes {expected} argument(s) but got {found}"),
            DType { op, arg, expected, found } => {
                write!(f, "`{op}` argument {} must be {expected:?} but is {found:?}", arg + 1)
            }
            Broadcast { op, lhs, rhs } => write!(f, "`{op}` cannot broadcast {lhs} with {rhs}"),
            MatMulInner { lhs, rhs } => {
                write!(f, "matrix product of {lhs} and {rhs}: inner dimensions differ")
            }
            Rank { op, arg, expected, found } => {
                write!(f, "`{op}` argument {} must be {expected} but has shape {found}", arg + 1)
            }
            Axis { op, axis, rank } => write!(f, "`{op}`: axis {axis} is out of range for rank {rank}"),
            ReshapeCount { from, to } => write!(f, "cannot reshape {from} to {to}: element counts differ"),
            Concat { axis, first, other } => {
                write!(f, "cannot concatenate {first} and {other} along axis {axis}: other dimensions differ")
            }
            Window { op, input, detail } => write!(f, "`{op}` on input {input}: {detail}"),
            Invalid { op, detail } => write!(f, "`{op}`: {detail}"),
        }
    }
}
