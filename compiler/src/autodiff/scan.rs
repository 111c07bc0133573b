//! The adjoint of a loop: another loop, running the other way.
//!
//! For a forward body `(c, x_t, w) -> (c', y_t)`, the backward body is
//! `(dc', acc, c_t, x_t, dy_t, w) -> (dc, acc + dw_t, dx_t)`: it recomputes
//! the forward step from the carry `c_t` that entered it (the forward loop's
//! trajectory, saved as a sibling result) and applies the body's own VJP,
//! built by [`grad`](super::grad) on the body graph. Gradients with respect
//! to invariants (weights) are summed over the steps as extra carries, so no
//! per-step weight gradient is ever stacked. Only the carries are saved:
//! everything else a step computed is recomputed in the backward loop, which
//! costs one more forward step per step but keeps the saved state at one
//! carry per step however large the body is.

use super::reverse;
use crate::ir::{DType, Graph, InputRole, NodeId, Op, Scan, ScanBody, ScanResult, Shape, TensorType};
use crate::shape::ShapeError;
use std::sync::Arc;

/// One loop as the reverse sweep sees it: its result nodes with their
/// adjoints, and which of its arguments need an adjoint.
pub(super) struct LoopAdjoint<'a> {
    pub scan: &'a Scan,
    pub args: &'a [NodeId],
    /// (result node, its adjoint) for every sibling that has one.
    pub results: Vec<(ScanResult, NodeId)>,
    /// Per argument: whether the sweep wants its adjoint.
    pub wanted: Vec<bool>,
}

/// Builds the backward loop; returns (argument index, adjoint) pairs.
pub(super) fn loop_adjoint(g: &mut Graph, l: &LoopAdjoint) -> Result<Vec<(usize, NodeId)>, ShapeError> {
    let body = &l.scan.body;
    let (nc, ns) = (body.carries, body.sequences);
    let invalid = |detail: String| ShapeError::Invalid { op: "scan", detail };
    let fwd = &body.graph;
    if fwd.inputs[..nc].iter().any(|i| i.ty.dtype != DType::F32) {
        return Err(invalid("a loop with integer carries cannot be differentiated".into()));
    }
    if l.results.iter().any(|(r, _)| matches!(r, ScanResult::Trajectory(_))) {
        return Err(invalid("the gradient of a loop's saved trajectory is not defined".into()));
    }
    let is_f32 = |i: usize| fwd.inputs[i].ty.dtype == DType::F32;
    let seqs: Vec<usize> = (nc..nc + ns).filter(|&i| l.wanted[i] && is_f32(i)).collect();
    let invs: Vec<usize> = (nc + ns..body.arity()).filter(|&i| l.wanted[i] && is_f32(i)).collect();
    let outs: Vec<usize> =
        (0..body.step_outputs()).filter(|&p| fwd.ty(fwd.outputs[nc + p].1).dtype == DType::F32).collect();

    let back = backward_body(body, &seqs, &invs, &outs)?;

    // Arguments of the backward loop, in its input order.
    let mut args = Vec::new();
    for k in 0..nc {
        let adj = l.results.iter().find(|(r, _)| *r == ScanResult::Final(k)).map(|r| r.1);
        args.push(adj.unwrap_or_else(|| g.constant(0.0, fwd.inputs[k].ty.shape.clone())));
    }
    for &m in &invs {
        args.push(g.constant(0.0, fwd.inputs[m].ty.shape.clone()));
    }
    for k in 0..nc {
        let traj = Scan { result: ScanResult::Trajectory(k), ..l.scan.clone() };
        args.push(g.push(Op::Scan(traj), l.args)?);
    }
    args.extend_from_slice(&l.args[nc..nc + ns]);
    for &p in &outs {
        let adj = l.results.iter().find(|(r, _)| *r == ScanResult::Stacked(p)).map(|r| r.1);
        let shape = stacked(l.scan.steps, &fwd.ty(fwd.outputs[nc + p].1).shape);
        args.push(adj.unwrap_or_else(|| g.constant(0.0, shape)));
    }
    args.extend_from_slice(&l.args[nc + ns..]);

    let mut result = |r: ScanResult| {
        let s = Scan { body: back.clone(), steps: l.scan.steps, reverse: !l.scan.reverse, result: r };
        g.push(Op::Scan(s), &args)
    };
    let mut adjoints = Vec::new();
    for k in 0..nc {
        if l.wanted[k] {
            adjoints.push((k, result(ScanResult::Final(k))?));
        }
    }
    for (j, &m) in invs.iter().enumerate() {
        adjoints.push((m, result(ScanResult::Final(nc + j))?));
    }
    for (j, &s) in seqs.iter().enumerate() {
        adjoints.push((s, result(ScanResult::Stacked(j))?));
    }
    Ok(adjoints)
}

fn stacked(steps: usize, shape: &Shape) -> Shape {
    let mut dims = vec![crate::ir::Dim::Known(steps)];
    dims.extend_from_slice(shape.dims());
    Shape(dims)
}

/// The backward body for the forward `body`, giving adjoints of the
/// sequences `seqs` and invariants `invs` (input indices) from adjoints of
/// the f32 per-step outputs `outs`.
fn backward_body(body: &ScanBody, seqs: &[usize], invs: &[usize], outs: &[usize]) -> Result<Arc<ScanBody>, ShapeError> {
    let fwd = &body.graph;
    let (nc, ns) = (body.carries, body.sequences);
    let mut b = Graph::new();
    let input = |b: &mut Graph, name: String, ty: &TensorType| b.add_input(name, ty.clone(), InputRole::Feature);
    let name = |i: usize| fwd.inputs[i].name.clone();

    // Carries: the carries' adjoints, then the weight-gradient sums.
    let dcarry: Vec<NodeId> = (0..nc).map(|k| input(&mut b, format!("d_{}", name(k)), &fwd.inputs[k].ty)).collect();
    let acc: Vec<NodeId> =
        invs.iter().map(|&m| input(&mut b, format!("sum_d_{}", name(m)), &fwd.inputs[m].ty)).collect();
    // Sequences: the saved carries, the forward slices, the outputs' adjoints.
    let mut map: Vec<NodeId> = Vec::with_capacity(fwd.inputs.len());
    for k in 0..nc {
        map.push(input(&mut b, name(k), &fwd.inputs[k].ty));
    }
    for j in nc..nc + ns {
        map.push(input(&mut b, name(j), &fwd.inputs[j].ty));
    }
    let dout: Vec<NodeId> = outs
        .iter()
        .map(|&p| {
            let (out_name, id) = &fwd.outputs[nc + p];
            input(&mut b, format!("d_{out_name}"), fwd.ty(*id))
        })
        .collect();
    // Invariants.
    for m in nc + ns..fwd.inputs.len() {
        map.push(input(&mut b, name(m), &fwd.inputs[m].ty));
    }

    // The forward step, recomputed.
    let mut node_map: Vec<NodeId> = Vec::with_capacity(fwd.nodes.len());
    for (i, node) in fwd.nodes.iter().enumerate() {
        b.set_origin(fwd.origins.get(i).cloned().unwrap_or_default());
        let id = match &node.op {
            Op::Input(k) => map[*k],
            Op::Const(c) if node.ty.dtype == DType::F32 => b.constant(*c, node.ty.shape.clone()),
            Op::Const(_) => {
                return Err(ShapeError::Invalid {
                    op: "scan",
                    detail: "a loop body with integer constants cannot be differentiated".into(),
                })
            }
            Op::BatchSize => b.batch_size(),
            op => {
                let args: Vec<NodeId> = node.args.iter().map(|a| node_map[a.index()]).collect();
                b.push(op.clone(), &args)?
            }
        };
        node_map.push(id);
    }

    // <outputs, their adjoints>: its gradient is the step's VJP.
    let mut terms = Vec::new();
    for k in 0..nc {
        terms.push((node_map[fwd.outputs[k].1.index()], dcarry[k]));
    }
    for (&p, &d) in outs.iter().zip(&dout) {
        terms.push((node_map[fwd.outputs[nc + p].1.index()], d));
    }
    let mut total = b.scalar(0.0);
    for (y, d) in terms {
        let prod = b.mul(y, d)?;
        let s = b.sum_all(prod)?;
        total = b.add(total, s)?;
    }
    let mut wrt: Vec<NodeId> = map[..nc].to_vec();
    wrt.extend(seqs.iter().map(|&j| map[j]));
    wrt.extend(invs.iter().map(|&m| map[m]));
    let grads = reverse::grad(&mut b, total, &wrt)?;

    for (k, &d) in grads[..nc].iter().enumerate() {
        b.outputs.push((format!("d_{}", name(k)), d));
    }
    for (j, &m) in invs.iter().enumerate() {
        let sum = b.add(acc[j], grads[nc + seqs.len() + j])?;
        b.outputs.push((format!("sum_d_{}", name(m)), sum));
    }
    for (j, &s) in seqs.iter().enumerate() {
        b.outputs.push((format!("d_{}", name(s)), grads[nc + j]));
    }
    let (b, _) = super::simplify(&b);
    ScanBody::new(b, nc + invs.len(), nc + ns + outs.len())
}
