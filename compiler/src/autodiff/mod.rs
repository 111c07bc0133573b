//! Symbolic reverse-mode differentiation on the IR, graph simplification,
//! and a readable-math printer.
//!
//! [`grad`] appends gradient nodes to the same [`Graph`] through its checked
//! builder, so every gradient node is shape-checked and hash-consed like any
//! other. The rules, one per op, live in `vjp.rs`; the sweep in `reverse.rs`.
//! [`simplify`] then cleans the combined graph (folding, CSE, identities,
//! the stable `log_softmax` fusion, dead code); [`math`] prints a value as
//! math for `nn grad`.
//!
//! Architecture invariants:
//! - Gradients are ordinary IR: the interpreter and the JIT run them with no
//!   special support, and `grad` can be applied to its own output for
//!   second-order terms where the ops involved have rules.
//! - `grad` fails only on a malformed request (non-scalar loss, non-f32
//!   `wrt`, ids out of range), a malformed hand-assembled graph (checked
//!   first, in `wellformed.rs`), or on a second-order op without a rule
//!   (`max_pool2d_grad` with respect to its gradient argument); it never
//!   panics.
//! - `log(softmax(x))` is differentiated in the stable fused form even
//!   before `simplify` rewrites it to `log_softmax(x)`.

mod math;
mod reverse;
mod scan;
mod simplify;
mod vjp;
mod wellformed;

use crate::ir::{Graph, NodeId};
use crate::shape::ShapeError;

/// Appends to `graph` the gradient of the scalar f32 node `loss` with respect
/// to each node in `wrt` (any f32 node: vars, inputs, intermediates), in
/// order. A `wrt` node the loss does not depend on gets zeros of its shape.
/// The gradient of an intermediate node is the total derivative of the loss
/// through that node.
pub fn grad(graph: &mut Graph, loss: NodeId, wrt: &[NodeId]) -> Result<Vec<NodeId>, ShapeError> {
    wellformed::check(graph)?;
    reverse::grad(graph, loss, wrt)
}

/// An equivalent graph after constant folding, common-subexpression
/// elimination, algebraic identities, `log(softmax(x)) → log_softmax(x)` and
/// dead-code elimination, with the map from each old node to its new node
/// (`None` for nodes no output or update needs). `inputs`, `vars`, `outputs`
/// and `updates` keep their order; see `simplify.rs` for the exact
/// floating-point policy (no rewrite changes IEEE results except the
/// documented folding in f64).
///
/// A malformed hand-assembled graph (forward references, wrong types) is
/// returned unchanged with the identity map.
pub fn simplify(graph: &Graph) -> (Graph, Vec<Option<NodeId>>) {
    if wellformed::check(graph).is_err() {
        return (graph.clone(), graph.ids().map(Some).collect());
    }
    simplify::simplify(graph)
}

/// Readable math for `node`, e.g. `transpose(x) @ (softmax(z) - onehot(y)) / B`;
/// subexpressions used more than once are printed once as `let t3 = …` lines
/// before the final expression.
pub fn math(graph: &Graph, node: NodeId) -> String {
    match wellformed::check(graph) {
        Ok(()) => math::math(graph, node),
        Err(e) => format!("<cannot print {node}: {e}>"),
    }
}

#[cfg(test)]
mod tests;
