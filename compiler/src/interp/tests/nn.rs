//! Neural-network primitives through whole graphs: convolution (hand
//! values, an independent pad-then-convolve formula, adjointness of the
//! gradient ops), pooling and its gradients, gather/scatter/one-hot, and
//! dropout masks.

use super::{assert_close, eval1, fa};
use crate::interp::{run, Value};
use crate::ir::rng::dropout_value;
use crate::ir::{Graph, InputRole, Op, Padding, PoolKind, Shape, TensorType, Window};
use ndarray::{Array4, ArrayD, IxDyn};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn known(d: &[usize]) -> Shape {
    Shape::known(d)
}

fn win(size: (usize, usize), strides: (usize, usize), padding: Padding) -> Window {
    Window { size, strides, padding }
}

fn f(v: Value<f64>) -> ArrayD<f64> {
    v.as_f().expect("f32 value").clone()
}

fn conv(x: &ArrayD<f64>, k: &ArrayD<f64>, w: Window) -> ArrayD<f64> {
    f(eval1(&[known(x.shape()), known(k.shape())], vec![Value::F(x.clone()), Value::F(k.clone())], 1, |g, i| {
        g.push(Op::Conv2d(w), &[i[0], i[1]]).unwrap()
    }))
}

fn random(rng: &mut StdRng, shape: &[usize]) -> ArrayD<f64> {
    ArrayD::from_shape_fn(IxDyn(shape), |_| rng.random_range(-1.0..1.0))
}

fn dot(a: &ArrayD<f64>, b: &ArrayD<f64>) -> f64 {
    assert_eq!(a.shape(), b.shape());
    a.iter().zip(b.iter()).map(|(x, y)| x * y).sum()
}

#[test]
fn conv_stride_2_same_by_hand() {
    let x = fa(&[1, 3, 3, 1], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    // Diagonal 2x2 kernel; same padding with stride 2 pads 0 rows on top, 1 below.
    let k = fa(&[2, 2, 1, 1], &[1.0, 0.0, 0.0, 1.0]);
    assert_eq!(conv(&x, &k, win((2, 2), (2, 2), Padding::Same)), fa(&[1, 2, 2, 1], &[6.0, 3.0, 7.0, 9.0]));
    // 3x3 ones with stride 1 pads one cell on every side: window sums.
    let ones = fa(&[3, 3, 1, 1], &[1.0; 9]);
    let got = conv(&x, &ones, win((3, 3), (1, 1), Padding::Same));
    assert_eq!(got, fa(&[1, 3, 3, 1], &[12.0, 21.0, 16.0, 27.0, 45.0, 33.0, 24.0, 39.0, 28.0]));
    assert_eq!(conv(&x, &ones, win((3, 3), (1, 1), Padding::Valid)), fa(&[1, 1, 1, 1], &[45.0]));
}

/// Convolution written independently: zero-pad by the Keras split, then a
/// valid convolution by the textbook formula.
fn conv_by_formula(x: &ArrayD<f64>, k: &ArrayD<f64>, w: Window) -> ArrayD<f64> {
    let (n, h, wd, c) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (kh, kw, f) = (k.shape()[0], k.shape()[1], k.shape()[3]);
    let (sh, sw) = w.strides;
    let (oh, ow, pt, pl) = match w.padding {
        Padding::Valid => ((h - kh) / sh + 1, (wd - kw) / sw + 1, 0, 0),
        Padding::Same => {
            let (oh, ow) = (h.div_ceil(sh), wd.div_ceil(sw));
            let th = ((oh - 1) * sh + kh).saturating_sub(h);
            let tw = ((ow - 1) * sw + kw).saturating_sub(wd);
            (oh, ow, th / 2, tw / 2)
        }
    };
    let mut padded = Array4::<f64>::zeros((n, h + kh + sh, wd + kw + sw, c));
    for ((b, i, j, ci), v) in x.view().into_dimensionality::<ndarray::Ix4>().unwrap().indexed_iter() {
        padded[(b, i + pt, j + pl, ci)] = *v;
    }
    let mut y = ArrayD::zeros(IxDyn(&[n, oh, ow, f]));
    for b in 0..n {
        for i in 0..oh {
            for j in 0..ow {
                for fi in 0..f {
                    let mut s = 0.0;
                    for a in 0..kh {
                        for bb in 0..kw {
                            for ci in 0..c {
                                s += padded[(b, i * sh + a, j * sw + bb, ci)] * k[[a, bb, ci, fi]];
                            }
                        }
                    }
                    y[[b, i, j, fi]] = s;
                }
            }
        }
    }
    y
}

#[test]
fn conv_matches_pad_then_convolve_formula() {
    let mut rng = StdRng::seed_from_u64(11);
    for (xs, ks, strides, padding) in [
        ([2, 7, 6, 3], [3, 3, 3, 2], (2, 2), Padding::Same),
        ([1, 5, 8, 2], [2, 4, 2, 3], (2, 3), Padding::Same),
        ([2, 6, 6, 1], [1, 1, 1, 2], (2, 2), Padding::Same),
        ([1, 7, 5, 2], [3, 2, 2, 2], (2, 1), Padding::Valid),
    ] {
        let x = random(&mut rng, &xs);
        let k = random(&mut rng, &ks);
        let w = win((ks[0], ks[1]), strides, padding);
        assert_close(&conv(&x, &k, w), &conv_by_formula(&x, &k, w), 1e-12);
    }
}

#[test]
fn conv_over_a_batch_dim_treats_images_independently() {
    let mut rng = StdRng::seed_from_u64(3);
    let k = random(&mut rng, &[2, 2, 2, 3]);
    let w = win((2, 2), (2, 2), Padding::Same);
    for batch in [1, 3] {
        let x = random(&mut rng, &[batch, 5, 5, 2]);
        let got = f(eval1(
            &[Shape::batched(&[5, 5, 2]), known(&[2, 2, 2, 3])],
            vec![Value::F(x.clone()), Value::F(k.clone())],
            batch,
            |g, i| g.push(Op::Conv2d(w), &[i[0], i[1]]).unwrap(),
        ));
        assert_eq!(got.shape(), &[batch, 3, 3, 3]);
        for b in 0..batch {
            let one = x.slice_axis(ndarray::Axis(0), ndarray::Slice::from(b..b + 1)).to_owned();
            let want = conv_by_formula(&one, &k, w);
            assert_close(&got.slice_axis(ndarray::Axis(0), ndarray::Slice::from(b..b + 1)).to_owned(), &want, 1e-12);
        }
    }
}

#[test]
fn conv_gradients_are_adjoints() {
    let mut rng = StdRng::seed_from_u64(5);
    for (xs, ks, strides, padding) in [
        ([2, 5, 6, 3], [3, 2, 3, 4], (2, 1), Padding::Same),
        ([1, 7, 7, 2], [3, 3, 2, 2], (2, 2), Padding::Same),
        ([2, 6, 5, 2], [2, 3, 2, 3], (1, 2), Padding::Valid),
    ] {
        let w = win((ks[0], ks[1]), strides, padding);
        let x = random(&mut rng, &xs);
        let k = random(&mut rng, &ks);
        let y = conv(&x, &k, w);
        let dy = random(&mut rng, y.shape());
        let mut g = Graph::new();
        let xn = g.add_input("x", TensorType::f32(known(&xs)), InputRole::Feature);
        let kn = g.add_input("k", TensorType::f32(known(&ks)), InputRole::Feature);
        let dyn_ = g.add_input("dy", TensorType::f32(known(dy.shape())), InputRole::Feature);
        let dx = g.push(Op::Conv2dGradInput { window: w, input: known(&xs) }, &[dyn_, kn]).unwrap();
        let dk = g.push(Op::Conv2dGradKernel { window: w }, &[xn, dyn_]).unwrap();
        g.outputs = vec![("dx".into(), dx), ("dk".into(), dk)];
        let out = run(&g, &[Value::F(x.clone()), Value::F(k.clone()), Value::F(dy.clone())], &[], 1).unwrap();
        let lhs = dot(&y, &dy);
        let via_x = dot(&x, out.outputs[0].as_f().unwrap());
        let via_k = dot(&k, out.outputs[1].as_f().unwrap());
        assert!((lhs - via_x).abs() < 1e-12 * lhs.abs().max(1.0), "{lhs} vs {via_x}");
        assert!((lhs - via_k).abs() < 1e-12 * lhs.abs().max(1.0), "{lhs} vs {via_k}");
    }
}

fn pool(kind: PoolKind, x: &ArrayD<f64>, w: Window) -> ArrayD<f64> {
    f(eval1(&[known(x.shape())], vec![Value::F(x.clone())], 1, |g, i| {
        g.push(Op::Pool2d { kind, window: w }, &[i[0]]).unwrap()
    }))
}

fn pool_grad(kind: PoolKind, x: &ArrayD<f64>, dy: &ArrayD<f64>, w: Window) -> ArrayD<f64> {
    f(eval1(&[known(x.shape()), known(dy.shape())], vec![Value::F(x.clone()), Value::F(dy.clone())], 1, |g, i| {
        g.push(Op::Pool2dGrad { kind, window: w }, &[i[0], i[1]]).unwrap()
    }))
}

#[test]
fn pooling_with_same_padding_ignores_padding_cells() {
    let x = fa(&[1, 3, 3, 1], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    let w = win((2, 2), (2, 2), Padding::Same);
    assert_eq!(pool(PoolKind::Max, &x, w), fa(&[1, 2, 2, 1], &[5.0, 6.0, 8.0, 9.0]));
    // Averages over valid cells only: (1+2+4+5)/4, (3+6)/2, (7+8)/2, 9/1.
    assert_eq!(pool(PoolKind::Avg, &x, w), fa(&[1, 2, 2, 1], &[3.0, 4.5, 7.5, 9.0]));
    // Negative inputs: padding must not win the max.
    let neg = x.mapv(|v| -v);
    assert_eq!(pool(PoolKind::Max, &neg, w), fa(&[1, 2, 2, 1], &[-1.0, -3.0, -7.0, -9.0]));
    // 3x3 stride 1 pads on all sides: corner average over 4 cells.
    let avg = pool(PoolKind::Avg, &x, win((3, 3), (1, 1), Padding::Same));
    assert_eq!(avg[[0, 0, 0, 0]], 3.0);
    assert_eq!(avg[[0, 1, 1, 0]], 5.0);
    assert_eq!(avg[[0, 2, 1, 0]], 39.0 / 6.0);
    // Channels pool independently; valid padding drops the ragged edge.
    let xc = fa(&[1, 2, 3, 2], &[1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 4.0, -4.0, 5.0, -5.0, 6.0, -6.0]);
    assert_eq!(pool(PoolKind::Max, &xc, win((2, 2), (2, 2), Padding::Valid)), fa(&[1, 1, 1, 2], &[5.0, -1.0]));
}

#[test]
fn pool_gradients_by_hand() {
    let x = fa(&[1, 3, 3, 1], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    let w = win((2, 2), (2, 2), Padding::Same);
    let dy = fa(&[1, 2, 2, 1], &[4.0, 6.0, 8.0, 1.0]);
    let max = pool_grad(PoolKind::Max, &x, &dy, w);
    assert_eq!(max, fa(&[1, 3, 3, 1], &[0.0, 0.0, 0.0, 0.0, 4.0, 6.0, 0.0, 8.0, 1.0]));
    let avg = pool_grad(PoolKind::Avg, &x, &dy, w);
    assert_eq!(avg, fa(&[1, 3, 3, 1], &[1.0, 1.0, 3.0, 1.0, 1.0, 3.0, 4.0, 4.0, 1.0]));
    // Ties go to the first maximal cell in row-major window order.
    let flat = fa(&[1, 2, 2, 1], &[7.0, 7.0, 7.0, 7.0]);
    let g = pool_grad(PoolKind::Max, &flat, &fa(&[1, 1, 1, 1], &[2.5]), win((2, 2), (1, 1), Padding::Valid));
    assert_eq!(g, fa(&[1, 2, 2, 1], &[2.5, 0.0, 0.0, 0.0]));
    // Overlapping windows accumulate.
    let x2 = fa(&[1, 1, 3, 1], &[0.0, 9.0, 1.0]);
    let g = pool_grad(PoolKind::Max, &x2, &fa(&[1, 1, 2, 1], &[1.0, 2.0]), win((1, 2), (1, 1), Padding::Valid));
    assert_eq!(g, fa(&[1, 1, 3, 1], &[0.0, 3.0, 0.0]));
}

#[test]
fn avg_pool_gradient_is_the_adjoint() {
    let mut rng = StdRng::seed_from_u64(9);
    for w in [win((3, 2), (2, 2), Padding::Same), win((2, 2), (1, 2), Padding::Valid)] {
        let x = random(&mut rng, &[2, 5, 6, 3]);
        let y = pool(PoolKind::Avg, &x, w);
        let dy = random(&mut rng, y.shape());
        let dx = pool_grad(PoolKind::Avg, &x, &dy, w);
        assert!((dot(&y, &dy) - dot(&x, &dx)).abs() < 1e-12);
    }
}

#[test]
fn gather_scatter_one_hot_with_batch() {
    for batch in [1, 3] {
        let table = fa(&[4, 2], &[0.0, 1.0, 10.0, 11.0, 20.0, 21.0, 30.0, 31.0]);
        let ids: Vec<i32> = [3, -1, 1, 4, 0, 2].into_iter().cycle().take(batch * 2).collect();
        let idx = ArrayD::from_shape_vec(IxDyn(&[batch, 2]), ids.clone()).unwrap();
        let got = f(eval1(
            &[known(&[4, 2]), Shape::batched(&[2])],
            vec![Value::F(table.clone()), Value::I(idx.clone())],
            batch,
            |g, i| g.push(Op::Gather, &[i[0], i[1]]).unwrap(),
        ));
        let want: Vec<f64> = ids
            .iter()
            .flat_map(|&r| if (0..4).contains(&r) { [10.0 * r as f64, 10.0 * r as f64 + 1.0] } else { [0.0, 0.0] })
            .collect();
        assert_eq!(got, fa(&[batch, 2, 2], &want));

        let upd = ArrayD::from_elem(IxDyn(&[batch, 2, 2]), 1.0);
        let got = f(eval1(
            &[Shape::batched(&[2]), Shape::batched(&[2, 2])],
            vec![Value::I(idx.clone()), Value::F(upd)],
            batch,
            |g, i| g.push(Op::ScatterAdd { rows: 4 }, &[i[0], i[1]]).unwrap(),
        ));
        let mut counts = [0.0; 4];
        for &r in &ids {
            if (0..4).contains(&r) {
                counts[r as usize] += 1.0;
            }
        }
        assert_eq!(got, fa(&[4, 2], &counts.iter().flat_map(|&c| [c, c]).collect::<Vec<_>>()));

        let got = f(eval1(&[Shape::batched(&[2])], vec![Value::I(idx)], batch, |g, i| {
            g.push(Op::OneHot { depth: 4 }, &[i[0]]).unwrap()
        }));
        let want: Vec<f64> = ids.iter().flat_map(|&r| (0..4).map(move |d| if d == r { 1.0 } else { 0.0 })).collect();
        assert_eq!(got, fa(&[batch, 2, 4], &want));
    }
}

fn dropout(rate: f64, batch: usize, step: f32) -> ArrayD<f32> {
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::f32(Shape::batched(&[1000])), InputRole::Feature);
    let s = g.add_input("step", TensorType::f32(Shape::scalar()), InputRole::Step);
    let m = g.push(Op::DropoutMask { rate, seed: 42, key: 7 }, &[x, s]).unwrap();
    g.outputs.push(("mask".into(), m));
    let inputs = [Value::F(ArrayD::zeros(IxDyn(&[batch, 1000]))), Value::F(ArrayD::from_elem(IxDyn(&[]), step))];
    let out = run::<f32>(&g, &inputs, &[], batch).unwrap();
    out.outputs[0].as_f().unwrap().clone()
}

#[test]
fn dropout_mask_rate_values_and_determinism() {
    let rate = 0.25;
    let m = dropout(rate, 3, 5.0);
    assert_eq!(m.shape(), &[3, 1000]);
    let dropped = m.iter().filter(|&&v| v == 0.0).count() as f64 / m.len() as f64;
    assert!((dropped - rate).abs() < 0.03, "dropped fraction {dropped}");
    assert!(m.iter().all(|&v| v == 0.0 || v == (1.0 / 0.75) as f32));
    // The definition: flat row-major index i, step rounded to nearest.
    for (i, &v) in m.iter().enumerate() {
        assert_eq!(v, dropout_value(rate, 42, 7, 5, i as u64) as f32);
    }
    assert_eq!(dropout(rate, 3, 5.0), m);
    assert_eq!(dropout(rate, 3, 4.6), m);
    assert_ne!(dropout(rate, 3, 6.0), m);
    // A smaller batch sees a prefix of the same stream.
    assert_eq!(dropout(rate, 1, 5.0).as_slice().unwrap(), &m.as_slice().unwrap()[..1000]);
}
