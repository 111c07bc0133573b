//! The structured loop: a body graph run a fixed number of steps.
//!
//! A scan is JAX's `lax.scan`: carried values flow from one step to the next,
//! sequences are sliced along their leading (time) axis, one slice per step,
//! invariants (weights) are read whole by every step, per-step results are
//! stacked along a new leading time axis, and the carries after the last step
//! are results too. The body is an ordinary [`Graph`] whose inputs are, in
//! order, the carries, the per-step slices and the invariants, and whose
//! outputs are the new carries followed by the per-step results. It has no
//! variables: weights reach it as invariants, so the outer graph stays the
//! only owner of state.
//!
//! The IR has one result per node, so a scan with several results is several
//! `Op::Scan` nodes that share the body (an `Arc`) and the arguments and
//! differ only in which result they name ([`ScanResult`]). Engines run a group
//! of such siblings once. Besides the final carries and the stacked per-step
//! outputs, a scan offers the *trajectory* of each carry — its value before
//! every step, stacked — which is what the backward pass saves: asking for it
//! adds a sibling, not a second loop.

use super::graph::Graph;
use super::types::{Dim, Shape, TensorType};
use crate::shape::ShapeError;
use std::fmt;
use std::sync::Arc;

/// A loop body and the layout of its inputs and outputs.
#[derive(Clone)]
pub struct ScanBody {
    pub graph: Graph,
    /// Number of carried values (leading inputs and leading outputs).
    pub carries: usize,
    /// Number of per-step slices (inputs after the carries).
    pub sequences: usize,
}

/// Which result of a scan a node stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScanResult {
    /// Carry `k` after the last step.
    Final(usize),
    /// Per-step output `k`, stacked along a leading time axis.
    Stacked(usize),
    /// Carry `k` before each step, stacked along a leading time axis (the
    /// values the backward pass saves).
    Trajectory(usize),
}

/// `Op::Scan`'s attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Scan {
    pub body: Arc<ScanBody>,
    /// Number of steps: the leading dimension of every sequence.
    pub steps: usize,
    /// Steps run from the last slice to the first; stacked outputs and
    /// trajectories are still indexed by the slice each step read.
    pub reverse: bool,
    pub result: ScanResult,
}

impl ScanBody {
    /// Checks the layout: the new carries have exactly the carries' types,
    /// the body has no variables, and there are enough inputs and outputs.
    pub fn new(graph: Graph, carries: usize, sequences: usize) -> Result<Arc<ScanBody>, ShapeError> {
        let invalid = |detail: String| ShapeError::Invalid { op: "scan", detail };
        if !graph.vars.is_empty() {
            return Err(invalid("a loop body reads weights as invariant inputs, not variables".into()));
        }
        if !graph.updates.is_empty() {
            return Err(invalid("a loop body cannot update variables".into()));
        }
        if graph.inputs.len() < carries + sequences {
            return Err(invalid(format!(
                "the body has {} inputs but {carries} carries and {sequences} sequences",
                graph.inputs.len()
            )));
        }
        if graph.outputs.len() < carries {
            return Err(invalid(format!("the body has {} outputs but {carries} carries", graph.outputs.len())));
        }
        for k in 0..carries {
            let (name, out) = &graph.outputs[k];
            if graph.ty(*out) != &graph.inputs[k].ty {
                return Err(invalid(format!(
                    "carry {k} enters the body as {} but leaves it as {} (`{name}`)",
                    graph.inputs[k].ty,
                    graph.ty(*out)
                )));
            }
        }
        Ok(Arc::new(ScanBody { graph, carries, sequences }))
    }

    pub fn invariants(&self) -> usize {
        self.graph.inputs.len() - self.carries - self.sequences
    }

    /// Per-step outputs (body outputs after the carries).
    pub fn step_outputs(&self) -> usize {
        self.graph.outputs.len() - self.carries
    }

    /// Number of arguments of a scan node over this body.
    pub fn arity(&self) -> usize {
        self.graph.inputs.len()
    }

    /// The type of one result, for `steps` steps.
    pub fn result_type(&self, result: ScanResult, steps: usize) -> Option<TensorType> {
        let stacked = |ty: &TensorType| {
            let mut dims = vec![Dim::Known(steps)];
            dims.extend_from_slice(ty.shape.dims());
            TensorType { dtype: ty.dtype, shape: Shape(dims) }
        };
        match result {
            ScanResult::Final(k) if k < self.carries => Some(self.graph.inputs[k].ty.clone()),
            ScanResult::Trajectory(k) if k < self.carries => Some(stacked(&self.graph.inputs[k].ty)),
            ScanResult::Stacked(k) if k < self.step_outputs() => {
                Some(stacked(self.graph.ty(self.graph.outputs[self.carries + k].1)))
            }
            _ => None,
        }
    }
}

impl Scan {
    /// A key shared by every sibling of one loop (same body, steps and
    /// direction); engines run each group once.
    pub fn group_key(&self) -> (usize, usize, bool) {
        (Arc::as_ptr(&self.body) as usize, self.steps, self.reverse)
    }
}

impl PartialEq for ScanBody {
    fn eq(&self, other: &ScanBody) -> bool {
        std::ptr::eq(self, other)
            || (self.carries == other.carries
                && self.sequences == other.sequences
                && self.graph.nodes == other.graph.nodes
                && self.graph.inputs == other.graph.inputs
                && self.graph.outputs == other.graph.outputs)
    }
}

impl fmt::Debug for ScanBody {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "ScanBody {{ carries: {}, sequences: {}, invariants: {}, nodes: {} }}",
            self.carries,
            self.sequences,
            self.invariants(),
            self.graph.nodes.len()
        )
    }
}

impl fmt::Display for ScanResult {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            ScanResult::Final(k) => write!(f, "final {k}"),
            ScanResult::Stacked(k) => write!(f, "stacked {k}"),
            ScanResult::Trajectory(k) => write!(f, "trajectory {k}"),
        }
    }
}
