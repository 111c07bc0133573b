//! Masking: a Keras mask on a recurrent layer's input (as `embedding(mask_zero
//! = true)` will make) skips padded steps. With post-padding, a masked run
//! over the whole sequence equals an unmasked run over the real steps, for
//! both directions; with `return_sequences` the output at a padded step
//! repeats the previous output (zeros inside `bidirectional`).

use crate::ast::Ident;
use crate::diag::Span;
use crate::interp::{self, Value};
use crate::ir::{DType, InputRole, Shape, TensorType};
use crate::lower::state::Lowerer;
use crate::lower::values::{ArgVal, Sv, Tensor, Value as V};
use crate::lower::Mode;
use ndarray::{s, ArrayD, IxDyn};

const T: usize = 5;
const F: usize = 2;
const U: usize = 3;

fn arg(name: Option<&str>, value: V) -> ArgVal {
    let span = Span::new(0, 0);
    ArgVal { name: name.map(|n| Ident { name: n.into(), span }), value: Sv::new(value, span), span }
}

/// Lowers `layer(args)` on an input of `steps` steps, with a mask input
/// when `masked`; returns the graph's run on `x` (and `mask`) with weights
/// `vars` (random, fixed by the seed when `vars` is empty).
fn run(
    layer: &str,
    args: Vec<ArgVal>,
    steps: usize,
    x: &ArrayD<f64>,
    mask: Option<&ArrayD<f64>>,
    vars: &mut Vec<ArrayD<f64>>,
) -> ArrayD<f64> {
    let file = crate::syntax::parse("model m { input x: [1] }").expect("parses");
    let mut lw = Lowerer::new(&file, Mode::Infer, 0);
    let span = Span::new(0, 0);
    let xin = lw.declare_input(&Ident { name: "x".into(), span }, &[steps, F], DType::F32, span);
    if mask.is_some() {
        let m = lw.g.add_input("mask", TensorType::f32(Shape::batched(&[steps])), InputRole::Feature);
        lw.masks.insert(xin.id, m);
    }
    let inst = lw.construct_builtin(layer, &args, span).expect("constructs");
    let out: Tensor = lw.apply(inst, &[(xin, span)], span).expect("applies");
    lw.g.outputs.push(("y".into(), out.id));
    if vars.is_empty() {
        let mut k = 0.37f64;
        for v in &lw.g.vars {
            let n: usize = v.shape.iter().product();
            let data = (0..n)
                .map(|_| {
                    k = (k * 7.13 + 0.29).fract();
                    k - 0.5
                })
                .collect();
            vars.push(ArrayD::from_shape_vec(IxDyn(&v.shape), data).unwrap());
        }
    }
    let mut inputs = vec![Value::F(x.clone())];
    inputs.extend(mask.map(|m| Value::F(m.clone())));
    let batch = x.shape()[0];
    let out = interp::run::<f64>(&lw.g, &inputs, vars, batch).expect("runs");
    out.outputs[0].as_f().expect("f32").clone()
}

fn input() -> (ArrayD<f64>, ArrayD<f64>) {
    let x = ArrayD::from_shape_fn(IxDyn(&[2, T, F]), |i| ((i[0] * 31 + i[1] * 7 + i[2] * 3) % 11) as f64 / 5.0 - 1.0);
    // Sample 0 has 3 real steps, then padding; sample 1 is all real.
    let mask = ArrayD::from_shape_fn(IxDyn(&[2, T]), |i| if i[0] == 0 && i[1] >= 3 { 0.0 } else { 1.0 });
    (x, mask)
}

fn close(a: &ArrayD<f64>, b: &ArrayD<f64>) {
    assert_eq!(a.shape(), b.shape());
    for (x, y) in a.iter().zip(b.iter()) {
        assert!((x - y).abs() < 1e-12, "{a} vs {b}");
    }
}

fn units() -> ArgVal {
    arg(None, V::Int(U as i64))
}

#[test]
fn padded_steps_are_skipped_in_both_directions() {
    let (x, mask) = input();
    for layer in ["simple_rnn", "lstm", "gru"] {
        for backwards in [false, true] {
            let args = || vec![units(), arg(Some("go_backwards"), V::Bool(backwards))];
            let mut vars = Vec::new();
            let full = run(layer, args(), T, &x, Some(&mask), &mut vars);
            // Sample 0 alone, on its three real steps, without a mask.
            let short = x.slice(s![0..1, 0..3, ..]).to_owned().into_dyn();
            let want = run(layer, args(), 3, &short, None, &mut vars);
            close(&full.slice(s![0..1, ..]).to_owned().into_dyn(), &want);
            // Sample 1 has no padding: the mask changes nothing.
            let unmasked = run(layer, args(), T, &x, None, &mut vars);
            close(&full.slice(s![1..2, ..]).to_owned().into_dyn(), &unmasked.slice(s![1..2, ..]).to_owned().into_dyn());
            assert!((&full - &unmasked).iter().any(|d| d.abs() > 1e-6), "{layer}: the mask must matter");
        }
    }
}

#[test]
fn padded_steps_repeat_the_last_output() {
    let (x, mask) = input();
    let args = || vec![units(), arg(Some("return_sequences"), V::Bool(true))];
    let mut vars = Vec::new();
    let y = run("lstm", args(), T, &x, Some(&mask), &mut vars);
    for t in 3..T {
        close(&y.slice(s![0, t, ..]).to_owned().into_dyn(), &y.slice(s![0, 2, ..]).to_owned().into_dyn());
    }
    let short = x.slice(s![0..1, 0..3, ..]).to_owned().into_dyn();
    let want = run("lstm", args(), 3, &short, None, &mut vars);
    close(&y.slice(s![0..1, 0..3, ..]).to_owned().into_dyn(), &want);
}

#[test]
fn bidirectional_outputs_zeros_at_padded_steps() {
    let (x, mask) = input();
    let file = crate::syntax::parse("model m { input x: [1] }").expect("parses");
    let mut lw = Lowerer::new(&file, Mode::Infer, 0);
    let span = Span::new(0, 0);
    let xin = lw.declare_input(&Ident { name: "x".into(), span }, &[T, F], DType::F32, span);
    let m = lw.g.add_input("mask", TensorType::f32(Shape::batched(&[T])), InputRole::Feature);
    lw.masks.insert(xin.id, m);
    let inner = lw.construct_builtin("gru", &[units(), arg(Some("return_sequences"), V::Bool(true))], span).unwrap();
    let bi = lw.construct_builtin("bidirectional", &[arg(None, V::Layer(inner))], span).unwrap();
    let out = lw.apply(bi, &[(xin, span)], span).unwrap();
    assert_eq!(lw.masks.get(&out.id), Some(&m), "the mask passes through");
    lw.g.outputs.push(("y".into(), out.id));
    let vars: Vec<ArrayD<f64>> = lw.g.vars.iter().map(|v| ArrayD::from_elem(IxDyn(&v.shape), 0.3)).collect();
    let y = interp::run::<f64>(&lw.g, &[Value::F(x.clone()), Value::F(mask)], &vars, 2).unwrap();
    let y = y.outputs[0].as_f().unwrap().clone();
    assert_eq!(y.shape(), &[2, T, 2 * U]);
    assert!(y.slice(s![0, 3.., ..]).iter().all(|v| *v == 0.0));
    assert!(y.slice(s![0, ..3, ..]).iter().all(|v| *v != 0.0));
    assert!(y.slice(s![1, .., ..]).iter().all(|v| *v != 0.0));
}
