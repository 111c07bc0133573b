//! Loop bodies shared by the gradient checks and the JIT's differential
//! tests: a tanh recurrence with a matmul, a two-carry recurrence with a
//! mask sequence, and an elementwise recurrence of any step shape.
// Each test crate that includes this module uses some of the bodies.
#![allow(dead_code)]

use nn_compiler::ir::{Graph, InputRole, NodeId, ScanBody, Shape, TensorType, UnaryOp};
use std::sync::Arc;

fn ok(r: Result<NodeId, nn_compiler::shape::ShapeError>) -> NodeId {
    r.unwrap_or_else(|e| panic!("test body is ill-typed: {e}"))
}

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
pub fn masked_body(features: usize, units: usize) -> Arc<ScanBody> {
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

/// `h' = tanh(x_t + h * w)` over values of `step` shape, per-step output
/// `h' * x_t` (the property tests' loop, for any step shape).
pub fn elementwise_body(step: Shape) -> Arc<ScanBody> {
    let mut body = Graph::new();
    let ty = TensorType::f32(step);
    let h = body.add_input("h", ty.clone(), InputRole::Feature);
    let x = body.add_input("x", ty.clone(), InputRole::Feature);
    let w = body.add_input("w", ty, InputRole::Feature);
    let hw = ok(body.mul(h, w));
    let z = ok(body.add(x, hw));
    let h2 = ok(body.unary(UnaryOp::Tanh, z));
    let y = ok(body.mul(h2, x));
    body.outputs = vec![("h".into(), h2), ("y".into(), y)];
    ScanBody::new(body, 1, 1).expect("well-formed body")
}
