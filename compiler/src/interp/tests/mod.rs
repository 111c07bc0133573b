//! Graph-level tests of the interpreter: input validation, batch
//! resolution, outputs and updates, and malformed graphs. Per-op semantics
//! are in `ops.rs` (elementwise, reductions, structure) and `nn.rs`
//! (convolution, pooling, gather, dropout).

mod nn;
mod ops;

use super::*;
use crate::ir::{Dim, Init, InputRole, Node, Op, Shape, TensorType, VarDecl, VarId, VarKind};
use ndarray::{arr1, ArrayD, IxDyn};

/// An f64 array of `shape` from row-major `data`.
pub(super) fn fa(shape: &[usize], data: &[f64]) -> ArrayD<f64> {
    ArrayD::from_shape_vec(IxDyn(shape), data.to_vec()).expect("test data matches its shape")
}

/// Asserts two f64 arrays have the same shape and agree within `tol`.
pub(super) fn assert_close(got: &ArrayD<f64>, want: &ArrayD<f64>, tol: f64) {
    assert_eq!(got.shape(), want.shape(), "shapes differ");
    for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
        assert!((g - w).abs() <= tol, "element {i}: got {g}, want {w}\ngot  {got}\nwant {want}");
    }
}

/// Builds a graph with one f32 input per shape in `ins`, applies `build` to
/// the input nodes, and runs the result in f64 at `batch`.
pub(super) fn eval1(
    ins: &[Shape],
    values: Vec<Value<f64>>,
    batch: usize,
    build: impl FnOnce(&mut Graph, &[crate::ir::NodeId]) -> crate::ir::NodeId,
) -> Value<f64> {
    let mut g = Graph::new();
    let ids: Vec<_> = ins
        .iter()
        .zip(&values)
        .enumerate()
        .map(|(i, (s, v))| {
            g.add_input(format!("x{i}"), TensorType { dtype: v.dtype(), shape: s.clone() }, InputRole::Feature)
        })
        .collect();
    let out = build(&mut g, &ids);
    g.outputs.push(("out".into(), out));
    let res = run(&g, &values, &[], batch).expect("graph runs");
    res.outputs.into_iter().next().expect("one output")
}

fn var_decl(name: &str, shape: &[usize]) -> VarDecl {
    VarDecl { name: name.into(), shape: shape.to_vec(), init: Init::Zeros, regularizer: None, kind: VarKind::Trainable }
}

/// `y = x @ w + b` with an SGD-like update `w - 0.5 * w`, input `x: [B, 2]`.
fn dense_graph() -> Graph {
    let mut g = Graph::new();
    let x = g.add_input("features", TensorType::f32(Shape::batched(&[2])), InputRole::Feature);
    let w = g.add_var(var_decl("dense/kernel", &[2, 3]));
    let b = g.add_var(var_decl("dense/bias", &[3]));
    let wn = g.var_node(w);
    let bn = g.var_node(b);
    let xw = g.matmul(x, wn).unwrap();
    let y = g.add(xw, bn).unwrap();
    let half = g.scalar(0.5);
    let step = g.mul(wn, half).unwrap();
    let w_new = g.sub(wn, step).unwrap();
    g.outputs.push(("y".into(), y));
    g.updates.push((w, w_new));
    g
}

fn dense_vars() -> Vec<ArrayD<f64>> {
    vec![fa(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), fa(&[3], &[0.5, -0.5, 1.0])]
}

#[test]
fn run_returns_outputs_and_updates_for_batch_1_and_3() {
    let g = dense_graph();
    let x1 = Value::F(fa(&[1, 2], &[1.0, 1.0]));
    let out = run(&g, &[x1], &dense_vars(), 1).unwrap();
    assert_eq!(out.outputs, vec![Value::F(fa(&[1, 3], &[5.5, 6.5, 10.0]))]);
    assert_eq!(out.updates, vec![fa(&[2, 3], &[0.5, 1.0, 1.5, 2.0, 2.5, 3.0])]);

    let x3 = Value::F(fa(&[3, 2], &[1.0, 0.0, 0.0, 1.0, 2.0, -1.0]));
    let out = run(&g, &[x3], &dense_vars(), 3).unwrap();
    let want = fa(&[3, 3], &[1.5, 1.5, 4.0, 4.5, 4.5, 7.0, -1.5, -1.5, 1.0]);
    assert_eq!(out.outputs, vec![Value::F(want)]);
}

#[test]
fn run_all_gives_every_node_in_id_order() {
    let g = dense_graph();
    let x = Value::F(fa(&[1, 2], &[1.0, 1.0]));
    let all = run_all(&g, std::slice::from_ref(&x), &dense_vars(), 1).unwrap();
    assert_eq!(all.len(), g.nodes.len());
    assert_eq!(all[0], x);
    assert_eq!(all[1], Value::F(dense_vars()[0].clone()));
}

#[test]
fn f32_and_f64_agree_on_a_small_graph() {
    let g = dense_graph();
    let x64 = fa(&[3, 2], &[0.1, 0.2, 0.3, -0.4, 0.5, 0.6]);
    let out64 = run(&g, &[Value::F(x64.clone())], &dense_vars(), 3).unwrap();
    let vars32: Vec<ArrayD<f32>> = dense_vars().iter().map(|a| a.mapv(|v| v as f32)).collect();
    let out32 = run(&g, &[Value::F(x64.mapv(|v| v as f32))], &vars32, 3).unwrap();
    let (Value::F(a), Value::F(b)) = (&out64.outputs[0], &out32.outputs[0]) else { panic!("f32 outputs expected") };
    assert_close(a, &b.mapv(|v| v as f64), 1e-6);
}

#[test]
fn wrong_input_count_is_an_error() {
    let err = run::<f64>(&dense_graph(), &[], &dense_vars(), 1).unwrap_err();
    assert_eq!(err, InterpError::InputCount { expected: 1, found: 0 });
    assert!(err.to_string().contains("1 input(s) but 0"));
}

#[test]
fn wrong_input_shape_names_the_input_and_resolved_type() {
    let bad = Value::F(fa(&[3, 4], &[0.0; 12]));
    let err = run(&dense_graph(), &[bad], &dense_vars(), 3).unwrap_err();
    assert_eq!(
        err,
        InterpError::InputShape { name: "features".into(), expected: "f32[3, 2]".into(), found: vec![3, 4] }
    );
    let msg = err.to_string();
    assert!(msg.contains("`features`") && msg.contains("f32[3, 2]") && msg.contains("[3, 4]"), "{msg}");
    // The batch size decides the expected leading dim.
    let x = Value::F(fa(&[3, 2], &[0.0; 6]));
    let err = run(&dense_graph(), &[x], &dense_vars(), 2).unwrap_err();
    assert!(err.to_string().contains("f32[2, 2]"), "{err}");
}

#[test]
fn wrong_input_dtype_names_the_input() {
    let bad = Value::<f64>::I(ArrayD::zeros(IxDyn(&[1, 2])));
    let err = run(&dense_graph(), &[bad], &dense_vars(), 1).unwrap_err();
    assert!(matches!(&err, InterpError::InputDType { name, .. } if name == "features"));
    assert!(err.to_string().contains("`features` must hold f32"), "{err}");
}

#[test]
fn wrong_vars_are_errors_naming_the_variable() {
    let x = Value::F(fa(&[1, 2], &[1.0, 1.0]));
    let err = run(&dense_graph(), std::slice::from_ref(&x), &dense_vars()[..1], 1).unwrap_err();
    assert_eq!(err, InterpError::VarCount { expected: 2, found: 1 });
    let vars = vec![dense_vars()[0].clone(), fa(&[2], &[0.0, 0.0])];
    let err = run(&dense_graph(), &[x], &vars, 1).unwrap_err();
    assert_eq!(err, InterpError::VarShape { name: "dense/bias".into(), expected: vec![3], found: vec![2] });
    assert!(err.to_string().contains("`dense/bias`"));
}

#[test]
fn batch_zero_is_an_error() {
    let x = Value::F(fa(&[0, 2], &[]));
    assert_eq!(run(&dense_graph(), &[x], &dense_vars(), 0).unwrap_err(), InterpError::ZeroBatch);
}

#[test]
fn leaves_const_and_batch_size() {
    for batch in [1, 3] {
        let mut g = Graph::new();
        let c = g.constant(2.5, Shape(vec![Dim::Batch, Dim::Known(2)]));
        let b = g.batch_size();
        g.outputs.push(("c".into(), c));
        g.outputs.push(("b".into(), b));
        let out = run::<f32>(&g, &[], &[], batch).unwrap();
        assert_eq!(out.outputs[0], Value::F(ArrayD::from_elem(IxDyn(&[batch, 2]), 2.5)));
        assert_eq!(out.outputs[1], Value::F(ArrayD::from_elem(IxDyn(&[]), batch as f32)));
    }
}

#[test]
fn malformed_graphs_are_errors_not_panics() {
    // A node whose argument comes after it.
    let mut g = Graph::new();
    g.add_input("x", TensorType::f32(Shape::known(&[2])), InputRole::Feature);
    g.nodes.insert(
        0,
        Node {
            op: Op::Unary(crate::ir::UnaryOp::Neg),
            args: vec![crate::ir::NodeId(1)],
            ty: TensorType::f32(Shape::known(&[2])),
        },
    );
    let err = run_all(&g, &[Value::F(arr1(&[1.0f64, 2.0]).into_dyn())], &[], 1).unwrap_err();
    assert!(matches!(err, InterpError::Malformed { node: crate::ir::NodeId(0), .. }), "{err}");

    // A node typed differently from what its op computes.
    let mut g = Graph::new();
    let x2 = g.add_input("x", TensorType::f32(Shape::known(&[2])), InputRole::Feature);
    g.nodes.push(Node {
        op: Op::Unary(crate::ir::UnaryOp::Exp),
        args: vec![x2],
        ty: TensorType::f32(Shape::known(&[3])),
    });
    let err = run_all(&g, &[Value::F(arr1(&[1.0f64, 2.0]).into_dyn())], &[], 1).unwrap_err();
    assert!(err.to_string().contains("typed f32[3]"), "{err}");

    // An i32 argument where f32 is required, and an update of an unknown var.
    let mut g = Graph::new();
    let l = g.add_input("labels", TensorType::i32(Shape::known(&[2])), InputRole::Target);
    g.nodes.push(Node {
        op: Op::Unary(crate::ir::UnaryOp::Exp),
        args: vec![l],
        ty: TensorType::f32(Shape::known(&[2])),
    });
    let err = run_all::<f64>(&g, &[Value::I(arr1(&[1, 2]).into_dyn())], &[], 1).unwrap_err();
    assert!(err.to_string().contains("must be f32"), "{err}");
    let mut g = Graph::new();
    let x3 = g.add_input("x", TensorType::f32(Shape::known(&[2])), InputRole::Feature);
    g.updates.push((VarId(4), x3));
    let err = run(&g, &[Value::F(arr1(&[1.0f64, 2.0]).into_dyn())], &[], 1).unwrap_err();
    assert!(matches!(err, InterpError::Malformed { .. }), "{err}");
}
