//! Per-op tests through whole graphs: elementwise, reductions, structure.
//! Expected values are computed by hand in the comments or with std math.

use super::{assert_close, eval1, fa};
use crate::interp::Value;
use crate::ir::{BinaryOp, CmpOp, DType, Dim, Op, ReduceOp, Shape, UnaryOp};
use ndarray::ArrayD;

fn known(d: &[usize]) -> Shape {
    Shape::known(d)
}

fn f(v: Value<f64>) -> ArrayD<f64> {
    v.as_f().expect("f32 value").clone()
}

#[test]
fn unary_ops() {
    let xs = [-2.0f64, -0.5, 0.0, 0.5, 3.0];
    let x = fa(&[5], &xs);
    type Case = (UnaryOp, fn(f64) -> f64);
    let cases: [Case; 9] = [
        (UnaryOp::Neg, |v| -v),
        (UnaryOp::Exp, f64::exp),
        (UnaryOp::Abs, f64::abs),
        (UnaryOp::Sign, |v| {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                0.0
            }
        }),
        (UnaryOp::Tanh, f64::tanh),
        (UnaryOp::Sigmoid, |v| 1.0 / (1.0 + (-v).exp())),
        (UnaryOp::Relu, |v| v.max(0.0)),
        (UnaryOp::Sqrt, |v| v.sqrt()),
        (UnaryOp::Log, |v| v.ln()),
    ];
    for (op, want) in cases {
        let got = f(eval1(&[known(&[5])], vec![Value::F(x.clone())], 1, |g, i| g.unary(op, i[0]).unwrap()));
        for (g, &v) in got.iter().zip(&xs) {
            let w = want(v);
            assert!(g == &w || (g.is_nan() && w.is_nan()) || (g - w).abs() < 1e-15, "{op:?}({v}) = {g}, want {w}");
        }
    }
    // erf(0.5) and erf(-2) from tables.
    let got = f(eval1(&[known(&[2])], vec![Value::F(fa(&[2], &[0.5, -2.0]))], 1, |g, i| {
        g.unary(UnaryOp::Erf, i[0]).unwrap()
    }));
    assert_close(&got, &fa(&[2], &[0.520499877813047, -0.995322265018953]), 1e-14);
}

#[test]
fn binary_broadcasts_against_the_batch_dim() {
    for batch in [1, 3] {
        let x: Vec<f64> = (0..batch * 3).map(|i| i as f64).collect();
        let b = [10.0, 20.0, 30.0];
        let got = f(eval1(
            &[Shape::batched(&[3]), known(&[3])],
            vec![Value::F(fa(&[batch, 3], &x)), Value::F(fa(&[3], &b))],
            batch,
            |g, i| g.add(i[0], i[1]).unwrap(),
        ));
        let want: Vec<f64> = x.iter().enumerate().map(|(i, v)| v + b[i % 3]).collect();
        assert_eq!(got, fa(&[batch, 3], &want));
    }
}

#[test]
fn binary_ops_with_two_sided_broadcast() {
    // a: [2, 1], b: [3] -> [2, 3]
    let a = fa(&[2, 1], &[2.0, -1.0]);
    let b = fa(&[3], &[0.0, 1.0, 3.0]);
    let run = |op| {
        f(eval1(&[known(&[2, 1]), known(&[3])], vec![Value::F(a.clone()), Value::F(b.clone())], 1, |g, i| {
            g.binary(op, i[0], i[1]).unwrap()
        }))
    };
    assert_eq!(run(BinaryOp::Sub), fa(&[2, 3], &[2.0, 1.0, -1.0, -1.0, -2.0, -4.0]));
    assert_eq!(run(BinaryOp::Mul), fa(&[2, 3], &[0.0, 2.0, 6.0, -0.0, -1.0, -3.0]));
    assert_eq!(run(BinaryOp::Pow), fa(&[2, 3], &[1.0, 2.0, 8.0, 1.0, -1.0, -1.0]));
    assert_eq!(run(BinaryOp::Max), fa(&[2, 3], &[2.0, 2.0, 3.0, 0.0, 1.0, 3.0]));
    assert_eq!(run(BinaryOp::Min), fa(&[2, 3], &[0.0, 1.0, 2.0, -1.0, -1.0, -1.0]));
    let div = run(BinaryOp::Div);
    assert_eq!(div[[0, 0]], f64::INFINITY);
    assert_eq!(div[[1, 2]], -1.0 / 3.0);
}

#[test]
fn compare_on_f32_and_i32() {
    let a = fa(&[3], &[1.0, 2.0, 3.0]);
    let b = fa(&[], &[2.0]);
    let expect = [
        (CmpOp::Gt, [0.0, 0.0, 1.0]),
        (CmpOp::Ge, [0.0, 1.0, 1.0]),
        (CmpOp::Lt, [1.0, 0.0, 0.0]),
        (CmpOp::Le, [1.0, 1.0, 0.0]),
        (CmpOp::Eq, [0.0, 1.0, 0.0]),
        (CmpOp::Ne, [1.0, 0.0, 1.0]),
    ];
    for (op, want) in expect {
        let got = f(eval1(&[known(&[3]), known(&[])], vec![Value::F(a.clone()), Value::F(b.clone())], 1, |g, i| {
            g.push(Op::Compare(op), &[i[0], i[1]]).unwrap()
        }));
        assert_eq!(got, fa(&[3], &want), "{op:?}");
        let ai = Value::I(a.mapv(|v| v as i32));
        let bi = Value::I(b.mapv(|v| v as i32));
        let got = f(eval1(&[known(&[3]), known(&[])], vec![ai, bi], 1, |g, i| {
            g.push(Op::Compare(op), &[i[0], i[1]]).unwrap()
        }));
        assert_eq!(got, fa(&[3], &want), "{op:?} on i32");
    }
}

#[test]
fn select_and_casts() {
    let m = fa(&[3], &[1.0, 0.0, -2.0]);
    let t = fa(&[3], &[1.0, 2.0, 3.0]);
    let e = fa(&[], &[9.0]);
    let got =
        f(eval1(&[known(&[3]), known(&[3]), known(&[])], vec![Value::F(m), Value::F(t), Value::F(e)], 1, |g, i| {
            g.push(Op::Select, &[i[0], i[1], i[2]]).unwrap()
        }));
    assert_eq!(got, fa(&[3], &[1.0, 9.0, 3.0]));

    let x = fa(&[5], &[-1.7, -0.2, 0.0, 2.9, 3.0]);
    let got = eval1(&[known(&[5])], vec![Value::F(x)], 1, |g, i| g.cast(i[0], DType::I32).unwrap());
    assert_eq!(got, Value::I(ndarray::arr1(&[-1, 0, 0, 2, 3]).into_dyn()));
    let labels = Value::I(ndarray::arr1(&[-3, 7]).into_dyn());
    let got = eval1(&[known(&[2])], vec![labels], 1, |g, i| g.cast(i[0], DType::F32).unwrap());
    assert_eq!(got, Value::F(fa(&[2], &[-3.0, 7.0])));
}

#[test]
fn reductions_with_batch_and_keep_dims() {
    for batch in [1, 3] {
        let x: Vec<f64> = (0..batch * 2 * 2).map(|i| (i as f64) * if i % 3 == 0 { -1.0 } else { 1.0 }).collect();
        let arr = fa(&[batch, 2, 2], &x);
        let sum = f(eval1(&[Shape::batched(&[2, 2])], vec![Value::F(arr.clone())], batch, |g, i| {
            g.reduce_sum(i[0], vec![0, 2], true).unwrap()
        }));
        let mut want = [0.0; 2];
        for (k, v) in x.iter().enumerate() {
            want[(k / 2) % 2] += v;
        }
        assert_eq!(sum, fa(&[1, 2, 1], &want));
        let max = f(eval1(&[Shape::batched(&[2, 2])], vec![Value::F(arr.clone())], batch, |g, i| {
            g.push(Op::Reduce { op: ReduceOp::Max, axes: vec![1, 2], keep_dims: false }, &[i[0]]).unwrap()
        }));
        let want: Vec<f64> = x.chunks(4).map(|c| c.iter().cloned().fold(f64::NEG_INFINITY, f64::max)).collect();
        assert_eq!(max, fa(&[batch], &want));
    }
}

#[test]
fn argmax_softmax_log_softmax() {
    let x = fa(&[2, 3], &[0.0, 5.0, 5.0, -1.0, -2.0, -3.0]);
    let got =
        eval1(&[known(&[2, 3])], vec![Value::F(x.clone())], 1, |g, i| g.push(Op::ArgMax { axis: 1 }, &[i[0]]).unwrap());
    assert_eq!(got, Value::I(ndarray::arr1(&[1, 0]).into_dyn()));
    let sm = f(eval1(&[known(&[2, 3])], vec![Value::F(x.clone())], 1, |g, i| {
        g.push(Op::Softmax { axis: 0 }, &[i[0]]).unwrap()
    }));
    let col = |a: f64, b: f64| [a.exp() / (a.exp() + b.exp()), b.exp() / (a.exp() + b.exp())];
    let (c0, c1, c2) = (col(0.0, -1.0), col(5.0, -2.0), col(5.0, -3.0));
    assert_close(&sm, &fa(&[2, 3], &[c0[0], c1[0], c2[0], c0[1], c1[1], c2[1]]), 1e-15);
    let lsm =
        f(eval1(&[known(&[2, 3])], vec![Value::F(x)], 1, |g, i| g.push(Op::LogSoftmax { axis: 1 }, &[i[0]]).unwrap()));
    let lse0 = (0.0f64.exp() + 2.0 * 5.0f64.exp()).ln();
    let lse1 = ((-1.0f64).exp() + (-2.0f64).exp() + (-3.0f64).exp()).ln();
    assert_close(&lsm, &fa(&[2, 3], &[-lse0, 5.0 - lse0, 5.0 - lse0, -1.0 - lse1, -2.0 - lse1, -3.0 - lse1]), 1e-14);
}

#[test]
fn matmul_transposes() {
    let a = fa(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let b = fa(&[2, 3], &[1.0, 0.0, -1.0, 2.0, 1.0, 0.0]);
    // a · bᵀ = [[1-3, 2+2], [4-6, 8+5]]
    let got = f(eval1(&[known(&[2, 3]), known(&[2, 3])], vec![Value::F(a.clone()), Value::F(b.clone())], 1, |g, i| {
        g.push(Op::MatMul { transpose_a: false, transpose_b: true }, &[i[0], i[1]]).unwrap()
    }));
    assert_eq!(got, fa(&[2, 2], &[-2.0, 4.0, -2.0, 13.0]));
    // aᵀ · b = 3x3
    let got = f(eval1(&[known(&[2, 3]), known(&[2, 3])], vec![Value::F(a), Value::F(b)], 1, |g, i| {
        g.push(Op::MatMul { transpose_a: true, transpose_b: false }, &[i[0], i[1]]).unwrap()
    }));
    assert_eq!(got, fa(&[3, 3], &[9.0, 4.0, -1.0, 12.0, 5.0, -2.0, 15.0, 6.0, -3.0]));
}

#[test]
fn reshape_and_transpose_resolve_batch() {
    for batch in [1, 3] {
        let x: Vec<f64> = (0..batch * 6).map(|i| i as f64).collect();
        let got = f(eval1(&[Shape::batched(&[2, 3])], vec![Value::F(fa(&[batch, 2, 3], &x))], batch, |g, i| {
            let t = g.push(Op::Transpose(vec![0, 2, 1]), &[i[0]]).unwrap();
            g.reshape(t, Shape::batched(&[6])).unwrap()
        }));
        let want: Vec<f64> = (0..batch).flat_map(|b| [0, 3, 1, 4, 2, 5].map(|k| (b * 6 + k) as f64)).collect();
        assert_eq!(got, fa(&[batch, 6], &want));
    }
}

#[test]
fn broadcast_concat_slice_pad() {
    let batch = 3;
    let row = fa(&[1, 2], &[1.0, 2.0]);
    let got = f(eval1(&[known(&[1, 2])], vec![Value::F(row)], batch, |g, i| {
        g.push(Op::Broadcast(Shape(vec![Dim::Batch, Dim::Known(2)])), &[i[0]]).unwrap()
    }));
    assert_eq!(got, fa(&[3, 2], &[1.0, 2.0, 1.0, 2.0, 1.0, 2.0]));

    let a = fa(&[2, 1], &[1.0, 2.0]);
    let b = fa(&[2, 2], &[3.0, 4.0, 5.0, 6.0]);
    let got = f(eval1(&[known(&[2, 1]), known(&[2, 2])], vec![Value::F(a), Value::F(b.clone())], 1, |g, i| {
        g.push(Op::Concat { axis: 1 }, &[i[0], i[1], i[0]]).unwrap()
    }));
    assert_eq!(got, fa(&[2, 4], &[1.0, 3.0, 4.0, 1.0, 2.0, 5.0, 6.0, 2.0]));

    let got = f(eval1(&[known(&[2, 2])], vec![Value::F(b.clone())], 1, |g, i| {
        let s = g.push(Op::Slice { axis: 0, start: 1, end: 2 }, &[i[0]]).unwrap();
        g.push(Op::Pad { axis: 1, before: 2, after: 1 }, &[s]).unwrap()
    }));
    assert_eq!(got, fa(&[1, 5], &[0.0, 0.0, 5.0, 6.0, 0.0]));

    // Structural ops keep i32 values i32.
    let ids = Value::I(ndarray::arr2(&[[1, 2], [3, 4]]).into_dyn());
    let got = eval1(&[known(&[2, 2])], vec![ids], 1, |g, i| g.push(Op::Transpose(vec![1, 0]), &[i[0]]).unwrap());
    assert_eq!(got, Value::I(ndarray::arr2(&[[1, 3], [2, 4]]).into_dyn()));
}
