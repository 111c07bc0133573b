//! Unit tests of `simplify`'s rules (each fires, and the unsafe ones do not)
//! and of `grad`'s request checking. Numerical correctness of gradients is
//! tested against finite differences in `tests/gradcheck.rs`.

use super::{grad, simplify};
use crate::ir::{
    BinaryOp, CmpOp, Dim, Graph, Init, InputRole, NodeId, Op, Shape, TensorType, UnaryOp, VarDecl, VarId, VarKind,
};

fn input(g: &mut Graph, name: &str, shape: Shape) -> NodeId {
    g.add_input(name, TensorType::f32(shape), InputRole::Feature)
}

/// Simplifies a graph whose only output is `out`; returns the new graph and
/// the node `out` became.
fn simplified(g: &mut Graph, out: NodeId) -> (Graph, NodeId) {
    g.outputs = vec![("out".into(), out)];
    let (s, map) = simplify(g);
    let new = map[out.index()].expect("outputs stay live");
    assert_eq!(s.outputs, vec![("out".to_string(), new)]);
    assert_eq!(s.ty(new), g.ty(out), "simplify changed the output type");
    (s, new)
}

fn ops(g: &Graph) -> Vec<&'static str> {
    g.nodes.iter().map(|n| n.op.name()).collect()
}

#[test]
fn neutral_elements_disappear() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", Shape::batched(&[3]));
    let one = g.scalar(1.0);
    let zero = g.scalar(0.0);
    type Build = Box<dyn Fn(&mut Graph) -> NodeId>;
    let cases: Vec<Build> = vec![
        Box::new(move |g| g.mul(x, one).unwrap()),
        Box::new(move |g| g.mul(one, x).unwrap()),
        Box::new(move |g| g.add(x, zero).unwrap()),
        Box::new(move |g| g.add(zero, x).unwrap()),
        Box::new(move |g| g.sub(x, zero).unwrap()),
        Box::new(move |g| g.div(x, one).unwrap()),
        Box::new(move |g| g.binary(BinaryOp::Pow, x, one).unwrap()),
        Box::new(move |g| {
            let n = g.neg(x).unwrap();
            g.neg(n).unwrap()
        }),
    ];
    for (i, build) in cases.iter().enumerate() {
        let mut h = g.clone();
        let out = build(&mut h);
        let (s, new) = simplified(&mut h, out);
        assert_eq!(s.node(new).op, Op::Input(0), "case {i}: {:?}", ops(&s));
        assert_eq!(s.nodes.len(), 1, "case {i}: dead constants remain: {:?}", ops(&s));
    }
}

#[test]
fn zero_minus_x_is_negation() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", Shape::batched(&[3]));
    let zero = g.scalar(0.0);
    let out = g.sub(zero, x).unwrap();
    let (s, new) = simplified(&mut g, out);
    assert_eq!(s.node(new).op, Op::Unary(UnaryOp::Neg));
}

#[test]
fn neutral_element_that_broadcasts_keeps_the_shape() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", Shape::known(&[3]));
    let zeros = g.constant(0.0, Shape::batched(&[3]));
    let out = g.add(x, zeros).unwrap();
    let (s, new) = simplified(&mut g, out);
    assert_eq!(s.node(new).op, Op::Broadcast(Shape::batched(&[3])));
    assert_eq!(s.node(new).args, vec![NodeId(0)]);
}

#[test]
fn times_zero_only_folds_for_finite_values() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", Shape::batched(&[3]));
    let zero = g.scalar(0.0);
    // x may be inf or NaN, where x * 0 is NaN: kept.
    let out = g.mul(x, zero).unwrap();
    let (s, new) = simplified(&mut g, out);
    assert_eq!(s.node(new).op, Op::Binary(BinaryOp::Mul));
    // A comparison mask is 0 or 1: folded.
    let mask = g.push(Op::Compare(CmpOp::Gt), &[x, zero]).unwrap();
    let out = g.mul(mask, zero).unwrap();
    let (s, new) = simplified(&mut g, out);
    assert_eq!(s.node(new).op, Op::Const(0.0));
    assert_eq!(s.shape(new), &Shape::batched(&[3]));
}

#[test]
fn x_minus_x_is_kept_for_nan_semantics() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", Shape::batched(&[3]));
    let out = g.sub(x, x).unwrap();
    let (s, new) = simplified(&mut g, out);
    assert_eq!(s.node(new).op, Op::Binary(BinaryOp::Sub));
}

#[test]
fn constants_fold() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", Shape::batched(&[3]));
    let two = g.scalar(2.0);
    let three = g.scalar(3.0);
    let five = g.add(two, three).unwrap();
    let zero = g.scalar(0.0);
    let e = g.unary(UnaryOp::Exp, zero).unwrap();
    let c = g.mul(five, e).unwrap();
    let out = g.mul(c, x).unwrap();
    let (s, new) = simplified(&mut g, out);
    assert_eq!(ops(&s), vec!["input", "const", "mul"]);
    assert_eq!(s.node(s.node(new).args[0]).op, Op::Const(5.0));
}

#[test]
fn reductions_and_structure_of_constants_fold() {
    let mut g = Graph::new();
    let c = g.constant(1.5, Shape::known(&[4, 3]));
    let summed = g.reduce_sum(c, vec![1], false).unwrap();
    let t = g.push(Op::Transpose(vec![1, 0]), &[c]).unwrap();
    let m = g.push(Op::Reduce { op: crate::ir::ReduceOp::Max, axes: vec![0], keep_dims: true }, &[t]).unwrap();
    let r = g.reshape(m, Shape::known(&[4])).unwrap();
    let out = g.add(summed, r).unwrap();
    let (s, new) = simplified(&mut g, out);
    assert_eq!(s.node(new).op, Op::Const(4.5 + 1.5));
    assert_eq!(s.nodes.len(), 1);
}

#[test]
fn comparisons_and_selects_of_constants_fold() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", Shape::batched(&[3]));
    let y = input(&mut g, "y", Shape::batched(&[3]));
    let one = g.scalar(1.0);
    let two = g.scalar(2.0);
    let mask = g.push(Op::Compare(CmpOp::Lt), &[one, two]).unwrap();
    let out = g.push(Op::Select, &[mask, x, y]).unwrap();
    let (s, new) = simplified(&mut g, out);
    assert_eq!(s.node(new).op, Op::Input(0));
}

#[test]
fn cse_merges_nodes_that_become_identical() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", Shape::batched(&[3]));
    let y = input(&mut g, "y", Shape::batched(&[3]));
    let one = g.scalar(1.0);
    let x1 = g.mul(x, one).unwrap();
    let e1 = g.unary(UnaryOp::Exp, x).unwrap();
    let e2 = g.unary(UnaryOp::Exp, x1).unwrap();
    let s1 = g.add(x, y).unwrap();
    let s2 = g.add(y, x).unwrap();
    let a = g.add(e1, s1).unwrap();
    let b = g.add(e2, s2).unwrap();
    let out = g.div(a, b).unwrap();
    let (s, new) = simplified(&mut g, out);
    let div = s.node(new);
    assert_eq!(div.args[0], div.args[1], "{:?}", ops(&s));
    assert_eq!(ops(&s), vec!["input", "input", "exp", "add", "add", "div"]);
}

#[test]
fn log_of_softmax_becomes_log_softmax() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", Shape::batched(&[5]));
    let p = g.push(Op::Softmax { axis: 1 }, &[x]).unwrap();
    let out = g.unary(UnaryOp::Log, p).unwrap();
    let (s, new) = simplified(&mut g, out);
    assert_eq!(s.node(new).op, Op::LogSoftmax { axis: 1 });
    assert_eq!(ops(&s), vec!["input", "log_softmax"]);
}

#[test]
fn structural_no_ops_and_chains_collapse() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", Shape::batched(&[2, 3]));
    let t1 = g.push(Op::Transpose(vec![0, 2, 1]), &[x]).unwrap();
    let t2 = g.push(Op::Transpose(vec![0, 2, 1]), &[t1]).unwrap();
    let r1 = g.push(Op::Reshape(Shape::batched(&[6])), &[t2]).unwrap();
    let r2 = g.push(Op::Reshape(Shape::batched(&[3, 2])), &[r1]).unwrap();
    let p = g.push(Op::Pad { axis: 1, before: 0, after: 0 }, &[r2]).unwrap();
    let out = g.push(Op::Slice { axis: 1, start: 0, end: 3 }, &[p]).unwrap();
    let (s, new) = simplified(&mut g, out);
    assert_eq!(ops(&s), vec!["input", "reshape"]);
    assert_eq!(s.node(new).args, vec![NodeId(0)]);
}

#[test]
fn dce_keeps_declarations_outputs_and_updates() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", Shape::batched(&[3]));
    let _unused = input(&mut g, "unused", Shape::batched(&[1]));
    let decl = |name: &str| VarDecl {
        name: name.into(),
        shape: vec![3],
        init: Init::Zeros,
        regularizer: None,
        kind: VarKind::Trainable,
    };
    let v0 = g.add_var(decl("a"));
    let _v1 = g.add_var(decl("b"));
    let w = g.var_node(v0);
    let dead = g.unary(UnaryOp::Exp, x).unwrap();
    let y = g.mul(x, w).unwrap();
    let total = g.sum_all(y).unwrap();
    let one = g.scalar(1.0);
    let next = g.sub(w, one).unwrap();
    g.outputs = vec![("y".into(), y), ("total".into(), total)];
    g.updates = vec![(v0, next)];
    let (s, map) = simplify(&g);
    assert_eq!(s.inputs, g.inputs);
    assert_eq!(s.vars, g.vars);
    assert_eq!(map[dead.index()], None);
    assert_eq!(
        s.outputs,
        vec![("y".to_string(), map[y.index()].unwrap()), ("total".to_string(), map[total.index()].unwrap())]
    );
    assert_eq!(s.updates, vec![(VarId(0), map[next.index()].unwrap())]);
    assert!(map[1].is_some(), "unused inputs keep their node");
    assert!(!ops(&s).contains(&"exp"));
}

#[test]
fn simplify_is_idempotent_on_gradient_graphs() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", Shape::batched(&[4]));
    let v = g.add_var(VarDecl {
        name: "k".into(),
        shape: vec![4, 2],
        init: Init::Zeros,
        regularizer: None,
        kind: VarKind::Trainable,
    });
    let k = g.var_node(v);
    let z = g.matmul(x, k).unwrap();
    let p = g.push(Op::Softmax { axis: 1 }, &[z]).unwrap();
    let l = g.unary(UnaryOp::Log, p).unwrap();
    let loss = g.sum_all(l).unwrap();
    let d = grad(&mut g, loss, &[k]).unwrap();
    g.outputs = vec![("loss".into(), loss), ("dk".into(), d[0])];
    let (once, _) = simplify(&g);
    let (twice, map) = simplify(&once);
    assert_eq!(once.nodes, twice.nodes);
    assert!(map.iter().enumerate().all(|(i, m)| *m == Some(NodeId(i as u32))));
    assert!(ops(&once).contains(&"log_softmax") && !ops(&once).contains(&"log"));
}

#[test]
fn grad_rejects_bad_requests_with_a_message() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", Shape::batched(&[3]));
    let y = g.add_input("y", TensorType::i32(Shape(vec![Dim::Batch])), InputRole::Target);
    let total = g.sum_all(x).unwrap();
    let err = grad(&mut g, x, &[x]).unwrap_err().to_string();
    assert!(err.contains("must be an f32 scalar"), "{err}");
    let err = grad(&mut g, total, &[y]).unwrap_err().to_string();
    assert!(err.contains("not f32"), "{err}");
    let err = grad(&mut g, total, &[NodeId(999)]).unwrap_err().to_string();
    assert!(err.contains("not a node of this graph"), "{err}");
}

#[test]
fn unrelated_wrt_gets_zeros_of_its_shape() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", Shape::batched(&[3]));
    let other = input(&mut g, "other", Shape::batched(&[2, 5]));
    let total = g.sum_all(x).unwrap();
    let d = grad(&mut g, total, &[other, x]).unwrap();
    assert_eq!(g.node(d[0]).op, Op::Const(0.0));
    assert_eq!(g.shape(d[0]), g.shape(other));
    assert_eq!(g.shape(d[1]), g.shape(x));
}

#[test]
fn gradient_nodes_inherit_the_forward_origin() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", Shape::batched(&[3]));
    g.set_origin(crate::ir::Origin { span: None, layer: Some("dense".into()) });
    let e = g.unary(UnaryOp::Tanh, x).unwrap();
    g.set_origin(crate::ir::Origin::default());
    let total = g.sum_all(e).unwrap();
    let before = g.nodes.len();
    let d = grad(&mut g, total, &[x]).unwrap();
    assert!(d[0].index() >= before);
    assert_eq!(g.origins[d[0].index()].layer.as_deref(), Some("dense"));
    assert_eq!(g.origin(), &crate::ir::Origin::default(), "grad restores the builder's origin");
}

#[test]
fn malformed_graphs_are_reported_not_panicked_on() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", Shape::batched(&[3]));
    let total = g.sum_all(x).unwrap();
    // A forward reference and an output past the end, assembled by hand.
    g.nodes[total.index()].args = vec![NodeId(7)];
    g.outputs = vec![("y".into(), NodeId(42))];
    let err = grad(&mut g.clone(), total, &[x]).unwrap_err().to_string();
    assert!(err.contains("malformed graph"), "{err}");
    let (same, map) = simplify(&g);
    assert_eq!(same.nodes, g.nodes);
    assert_eq!(map, vec![Some(NodeId(0)), Some(NodeId(1))]);
    assert!(super::math(&g, total).contains("malformed graph"));
}
