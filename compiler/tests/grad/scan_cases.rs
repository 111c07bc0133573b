//! Gradient-check cases for loops (`scan`): a tanh recurrence with one
//! carry, and a two-carry recurrence with a masked sequence and an output
//! that differs from the carry, each forward and reversed, with odd sizes.

use super::harness::{Builder, Domain};
use super::{case, ok, pick, Case};
use nn_compiler::ir::{Dim, Graph, InputRole, NodeId, ScanBody, ScanResult, Shape, TensorType, UnaryOp};
use std::sync::Arc;

fn f32(shape: Shape) -> TensorType {
    TensorType::f32(shape)
}

/// `h' = tanh(x_t @ w + h @ u)`, per-step output `h' * h'`.
pub fn rnn_body(features: usize, units: usize) -> Arc<ScanBody> {
    let mut g = Graph::new();
    let h = g.add_input("h", f32(Shape::batched(&[units])), InputRole::Feature);
    let x = g.add_input("x", f32(Shape::batched(&[features])), InputRole::Feature);
    let w = g.add_input("w", f32(Shape::known(&[features, units])), InputRole::Feature);
    let u = g.add_input("u", f32(Shape::known(&[units, units])), InputRole::Feature);
    let xw = ok(g.matmul(x, w));
    let hu = ok(g.matmul(h, u));
    let z = ok(g.add(xw, hu));
    let h2 = ok(g.unary(UnaryOp::Tanh, z));
    let y = ok(g.mul(h2, h2));
    g.outputs = vec![("h".into(), h2), ("y".into(), y)];
    ScanBody::new(g, 1, 1).expect("well-formed body")
}

/// Two carries (a, c) and a 0/1 mask sequence `m` that freezes them:
/// `c' = m * (sigmoid(x_t @ w) * c + tanh(a @ u)) + (1 - m) * c`,
/// `a' = m * tanh(c') + (1 - m) * a`; per-step output `a' + c'`.
fn masked_body(features: usize, units: usize) -> Arc<ScanBody> {
    let mut g = Graph::new();
    let a = g.add_input("a", f32(Shape::batched(&[units])), InputRole::Feature);
    let c = g.add_input("c", f32(Shape::batched(&[units])), InputRole::Feature);
    let x = g.add_input("x", f32(Shape::batched(&[features])), InputRole::Feature);
    let m = g.add_input("m", f32(Shape::batched(&[1])), InputRole::Feature);
    let w = g.add_input("w", f32(Shape::known(&[features, units])), InputRole::Feature);
    let u = g.add_input("u", f32(Shape::known(&[units, units])), InputRole::Feature);
    let xw = ok(g.matmul(x, w));
    let gate = ok(g.unary(UnaryOp::Sigmoid, xw));
    let gc = ok(g.mul(gate, c));
    let au = ok(g.matmul(a, u));
    let t = ok(g.unary(UnaryOp::Tanh, au));
    let c_new = ok(g.add(gc, t));
    let one = g.scalar(1.0);
    let keep = ok(g.sub(one, m));
    let blend = |g: &mut Graph, new: NodeId, old: NodeId| {
        let n = ok(g.mul(m, new));
        let o = ok(g.mul(keep, old));
        ok(g.add(n, o))
    };
    let c2 = blend(&mut g, c_new, c);
    let tc = ok(g.unary(UnaryOp::Tanh, c2));
    let a2 = blend(&mut g, tc, a);
    let y = ok(g.add(a2, c2));
    g.outputs = vec![("a".into(), a2), ("c".into(), c2), ("y".into(), y)];
    ScanBody::new(g, 2, 2).expect("well-formed body")
}

/// Final carry plus the per-step outputs summed over time: both kinds of
/// result reach the loss.
fn combine(b: &mut Builder, last: NodeId, stacked: NodeId) -> NodeId {
    let over_time = ok(b.g.reduce_sum(stacked, vec![0], false));
    ok(b.g.add(last, over_time))
}

pub fn scan_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for reverse in [false, true] {
        cases.push(case(format!("scan rnn (reverse {reverse})"), move |b| {
            let (t, f, u) = (pick(b, &[1, 3, 5]), pick(b, &[1, 3]), pick(b, &[2, 3]));
            let body = rnn_body(f, u);
            let h0 = b.input(Shape::batched(&[u]), Domain::Any);
            let xs = b.input(Shape(vec![Dim::Known(t), Dim::Batch, Dim::Known(f)]), Domain::Any);
            let w = b.var(&[f, u], Domain::Any);
            let uu = b.var(&[u, u], Domain::Any);
            let args = [h0, xs, w, uu];
            let last = ok(b.g.scan(&body, t, reverse, &args, ScanResult::Final(0)));
            let ys = ok(b.g.scan(&body, t, reverse, &args, ScanResult::Stacked(0)));
            combine(b, last, ys)
        }));
        cases.push(case(format!("scan masked two carries (reverse {reverse})"), move |b| {
            let (t, f, u) = (pick(b, &[2, 5]), pick(b, &[1, 3]), pick(b, &[1, 3]));
            let body = masked_body(f, u);
            let a0 = b.input(Shape::batched(&[u]), Domain::Any);
            let c0 = b.input(Shape::batched(&[u]), Domain::Any);
            let xs = b.input(Shape(vec![Dim::Known(t), Dim::Batch, Dim::Known(f)]), Domain::Any);
            let dims = [t, b.batch, 1];
            let mask: Vec<f64> = (0..t * b.batch).map(|i| if i % 3 == 1 { 0.0 } else { 1.0 }).collect();
            let mask = ndarray::ArrayD::from_shape_vec(dims.to_vec(), mask).expect("mask shape");
            let ms = b.input_with(Shape(vec![Dim::Known(t), Dim::Batch, Dim::Known(1)]), mask);
            let w = b.var(&[f, u], Domain::Any);
            let uu = b.var(&[u, u], Domain::Any);
            let args = [a0, c0, xs, ms, w, uu];
            let c_last = ok(b.g.scan(&body, t, reverse, &args, ScanResult::Final(1)));
            let ys = ok(b.g.scan(&body, t, reverse, &args, ScanResult::Stacked(0)));
            combine(b, c_last, ys)
        }));
    }
    cases
}
