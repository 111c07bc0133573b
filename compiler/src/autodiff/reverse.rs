//! The reverse sweep: adjoints accumulated in reverse id order.
//!
//! Because the arena is topologically ordered, walking ids from the loss
//! down to 0 visits every node after all of its users, so a node's adjoint is
//! complete (summed over its fan-out) by the time its own rule runs. Only
//! nodes on a path from some `wrt` node to the loss are visited, so the
//! sweep never builds gradient nodes that cannot matter.
//!
//! New nodes are appended after the forward graph; each inherits the origin
//! (source span, layer name) of the forward node whose rule produced it.

use super::scan::{loop_adjoint, LoopAdjoint};
use super::vjp::{log_softmax_adjoint, vjp};
use crate::ir::{DType, Graph, NodeId, Op, Scan, UnaryOp};
use crate::shape::ShapeError;

pub(super) fn grad(graph: &mut Graph, loss: NodeId, wrt: &[NodeId]) -> Result<Vec<NodeId>, ShapeError> {
    check_request(graph, loss, wrt)?;
    let n = loss.index() + 1;

    // Forward: nodes whose value depends on some wrt node.
    let mut depends = vec![false; n];
    for w in wrt {
        if w.index() < n {
            depends[w.index()] = true;
        }
    }
    for i in 0..n {
        if !depends[i] && graph.nodes[i].args.iter().any(|a| depends[a.index()]) {
            depends[i] = true;
        }
    }
    // Backward: of those, the ones the loss depends on.
    let mut on_path = vec![false; n];
    on_path[loss.index()] = depends[loss.index()];
    for i in (0..n).rev() {
        if on_path[i] {
            for a in &graph.nodes[i].args {
                if depends[a.index()] {
                    on_path[a.index()] = true;
                }
            }
        }
    }

    let saved_origin = graph.origin().clone();
    let mut adjoint: Vec<Option<NodeId>> = vec![None; n];
    if on_path[loss.index()] {
        adjoint[loss.index()] = Some(graph.scalar(1.0));
    }
    let mut is_wrt = vec![false; n];
    for w in wrt.iter().filter(|w| w.index() < n) {
        is_wrt[w.index()] = true;
    }
    let result = sweep(graph, n, &on_path, &is_wrt, &mut adjoint);
    graph.set_origin(saved_origin);
    result?;

    let mut out = Vec::with_capacity(wrt.len());
    for &w in wrt {
        let g = match adjoint.get(w.index()).copied().flatten() {
            Some(g) => g,
            None => graph.constant(0.0, graph.shape(w).clone()),
        };
        out.push(g);
    }
    Ok(out)
}

fn sweep(
    graph: &mut Graph,
    n: usize,
    on_path: &[bool],
    is_wrt: &[bool],
    adjoint: &mut [Option<NodeId>],
) -> Result<(), ShapeError> {
    for i in (0..n).rev() {
        let dy = match (on_path[i], adjoint[i]) {
            (true, Some(dy)) => dy,
            _ => continue,
        };
        let id = NodeId(i as u32);
        graph.set_origin(graph.origins.get(i).cloned().unwrap_or_default());
        let args = graph.node(id).args.clone();

        // log(softmax(x)) is differentiated as log_softmax(x) straight into
        // x: going through the softmax node would divide by probabilities
        // that underflow to 0. The softmax node keeps any other adjoints,
        // unless its own gradient was asked for, which needs the long way.
        if let Some((x, axis)) = log_of_softmax(graph, id).filter(|_| !is_wrt[args[0].index()]) {
            if on_path[x.index()] {
                let dx = log_softmax_adjoint(graph, x, axis, dy)?;
                accumulate(graph, adjoint, x, dx)?;
            }
            continue;
        }

        if let Op::Scan(scan) = &graph.node(id).op {
            loop_sweep(graph, id, scan.clone(), &args, on_path, adjoint)?;
            continue;
        }

        for (k, &a) in args.iter().enumerate() {
            if !on_path[a.index()] || graph.ty(a).dtype != DType::F32 {
                continue;
            }
            if let Some(da) = vjp(graph, id, dy, k)? {
                accumulate(graph, adjoint, a, da)?;
            }
        }
    }
    Ok(())
}

/// The results of one loop are sibling nodes; their adjoints are complete
/// once the sweep reaches the lowest-numbered sibling that has one, which
/// then builds the one backward loop for all of them.
fn loop_sweep(
    graph: &mut Graph,
    id: NodeId,
    scan: Scan,
    args: &[NodeId],
    on_path: &[bool],
    adjoint: &mut [Option<NodeId>],
) -> Result<(), ShapeError> {
    let mut results = Vec::new();
    let mut first = id;
    for i in 0..on_path.len() {
        let node = graph.node(NodeId(i as u32));
        let sibling = match &node.op {
            Op::Scan(s) if s.group_key() == scan.group_key() && node.args == args => s.result,
            _ => continue,
        };
        if let (true, Some(adj)) = (on_path[i], adjoint[i]) {
            if results.is_empty() {
                first = NodeId(i as u32);
            }
            results.push((sibling, adj));
        }
    }
    if first != id {
        return Ok(());
    }
    let wanted = args.iter().map(|a| on_path[a.index()] && graph.ty(*a).dtype == DType::F32).collect();
    let l = LoopAdjoint { scan: &scan, args, results, wanted };
    for (k, da) in loop_adjoint(graph, &l)? {
        accumulate(graph, adjoint, args[k], da)?;
    }
    Ok(())
}

/// `Some((x, axis))` when `id` is `log(softmax(x, axis))`.
fn log_of_softmax(graph: &Graph, id: NodeId) -> Option<(NodeId, usize)> {
    let node = graph.node(id);
    if node.op != Op::Unary(UnaryOp::Log) {
        return None;
    }
    let inner = graph.node(node.args[0]);
    match inner.op {
        Op::Softmax { axis } => Some((inner.args[0], axis)),
        _ => None,
    }
}

fn accumulate(
    graph: &mut Graph,
    adjoint: &mut [Option<NodeId>],
    at: NodeId,
    contribution: NodeId,
) -> Result<(), ShapeError> {
    if graph.shape(contribution) != graph.shape(at) {
        return Err(ShapeError::Invalid {
            op: graph.node(at).op.name(),
            detail: format!(
                "internal autodiff error: adjoint {} of {at} has shape {} but the value has shape {}",
                contribution,
                graph.shape(contribution),
                graph.shape(at)
            ),
        });
    }
    adjoint[at.index()] = Some(match adjoint[at.index()] {
        Some(prev) => graph.add(prev, contribution)?,
        None => contribution,
    });
    Ok(())
}

fn check_request(graph: &Graph, loss: NodeId, wrt: &[NodeId]) -> Result<(), ShapeError> {
    let invalid = |detail: String| ShapeError::Invalid { op: "grad", detail };
    let len = graph.nodes.len();
    if loss.index() >= len {
        return Err(invalid(format!("the loss {loss} is not a node of this graph ({len} nodes)")));
    }
    let ty = graph.ty(loss);
    if ty.dtype != DType::F32 || ty.shape.rank() != 0 {
        return Err(invalid(format!(
            "the loss {loss} must be an f32 scalar but is {ty}; reduce it with a sum or mean first"
        )));
    }
    for &w in wrt {
        if w.index() >= len {
            return Err(invalid(format!("{w} is not a node of this graph ({len} nodes)")));
        }
        if graph.ty(w).dtype != DType::F32 {
            return Err(invalid(format!("cannot differentiate with respect to {w}: it is {}, not f32", graph.ty(w))));
        }
    }
    Ok(())
}
