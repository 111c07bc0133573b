//! The structural checks autodiff relies on before it indexes a graph.
//!
//! Graphs built through `Graph`'s builder always pass; these checks exist
//! because `Graph`'s fields are public, and a hand-assembled graph with a
//! forward reference or a wrong arity must produce an error, not a panic.

use crate::ir::{Graph, Op};
use crate::shape::{self, ShapeError};

/// Ok when every node refers only to earlier nodes and existing inputs and
/// variables, has the type its op's shape rule gives, and every output and
/// update names an existing node.
pub(super) fn check(graph: &Graph) -> Result<(), ShapeError> {
    let bad = |detail: String| ShapeError::Invalid { op: "graph", detail: format!("malformed graph: {detail}") };
    let n = graph.nodes.len();
    for (i, node) in graph.nodes.iter().enumerate() {
        if let Some(a) = node.args.iter().find(|a| a.index() >= i) {
            return Err(bad(format!("%{i} refers to {a}, which is not an earlier node")));
        }
        match &node.op {
            Op::Input(k) if *k >= graph.inputs.len() => {
                return Err(bad(format!("%{i} reads input {k}, which is not declared")))
            }
            Op::Var(v) if v.index() >= graph.vars.len() => {
                return Err(bad(format!("%{i} reads {v}, which is not declared")))
            }
            Op::Input(_) | Op::Var(_) | Op::Const(_) | Op::BatchSize => {
                if !node.args.is_empty() {
                    return Err(bad(format!("leaf %{i} has arguments")));
                }
            }
            op => {
                let tys: Vec<_> = node.args.iter().map(|a| &graph.nodes[a.index()].ty).collect();
                let ty = shape::infer(op, &tys)?;
                if ty != node.ty {
                    return Err(bad(format!("%{i} is typed {} but its op gives {ty}", node.ty)));
                }
            }
        }
    }
    let roots = graph.outputs.iter().map(|o| o.1).chain(graph.updates.iter().map(|u| u.1));
    for id in roots {
        if id.index() >= n {
            return Err(bad(format!("an output or update refers to {id}, but the graph has {n} nodes")));
        }
    }
    Ok(())
}
