//! Finite-difference checks of every gradient rule, through the f64
//! interpreter, on random values and random small shapes (batch 1 and odd
//! sizes included), plus the composite layers lowering builds from them.
//!
//! `checked_ops_are_all_differentiable_ops` ties the cases to the op set: an
//! exhaustive `match` classifies every op (adding an op fails to compile
//! here), and the ops exercised by the cases must be exactly the ops
//! classified as differentiable.

#[path = "grad/harness.rs"]
mod harness;
#[path = "grad/scan_bodies.rs"]
mod scan_bodies;
#[path = "grad/scan_cases.rs"]
mod scan_cases;
#[path = "grad/state_cases.rs"]
mod state_cases;

use harness::{Builder, Domain};
use nn_compiler::ir::{BinaryOp, CmpOp, DType, Dim, NodeId, Op, Padding, PoolKind, ReduceOp, Shape, UnaryOp, Window};
use nn_compiler::lower::{lower_source, Mode};
use rand::Rng;
use std::collections::BTreeSet;

type Build = Box<dyn Fn(&mut Builder) -> NodeId>;

struct Case {
    name: String,
    build: Build,
}

fn case(name: impl Into<String>, build: impl Fn(&mut Builder) -> NodeId + 'static) -> Case {
    Case { name: name.into(), build: Box::new(build) }
}

/// A random size from `choices`.
fn pick(b: &mut Builder, choices: &[usize]) -> usize {
    choices[b.rng.random_range(0..choices.len())]
}

fn ok(r: Result<NodeId, nn_compiler::shape::ShapeError>) -> NodeId {
    r.unwrap_or_else(|e| panic!("test graph is ill-typed: {e}"))
}

const SEEDS: u64 = 3;

/// Runs every case with several seeds (each seed picks its own batch size
/// and shapes) and reports all failures at once.
fn run(cases: Vec<Case>) {
    let mut failures = Vec::new();
    let mut worst: f64 = 0.0;
    let mut elements = 0;
    for c in &cases {
        for seed in 0..SEEDS {
            let batch = [1, 3, 2][seed as usize % 3];
            let mut b = Builder::new(seed * 7919 + c.name.len() as u64, batch);
            let out = (c.build)(&mut b);
            match b.check(out) {
                Ok(report) => {
                    assert!(report.elements > 0, "{}: nothing was checked", c.name);
                    worst = worst.max(report.max_err);
                    elements += report.elements;
                }
                Err(e) => failures.push(format!("{} (seed {seed}, batch {batch}): {e}", c.name)),
            }
        }
    }
    eprintln!("{} cases x {SEEDS} seeds, {elements} gradient elements, worst relative error {worst:e}", cases.len());
    assert!(failures.is_empty(), "{} gradient check(s) failed:\n{}", failures.len(), failures.join("\n\n"));
}

fn unary_domain(op: UnaryOp) -> Domain {
    match op {
        UnaryOp::Log | UnaryOp::Sqrt => Domain::Positive,
        UnaryOp::Abs | UnaryOp::Sign | UnaryOp::Relu => Domain::AwayFromZero,
        UnaryOp::Neg | UnaryOp::Exp | UnaryOp::Tanh | UnaryOp::Sigmoid | UnaryOp::Erf => Domain::Any,
    }
}

const UNARY: [UnaryOp; 10] = [
    UnaryOp::Neg,
    UnaryOp::Exp,
    UnaryOp::Log,
    UnaryOp::Sqrt,
    UnaryOp::Abs,
    UnaryOp::Sign,
    UnaryOp::Tanh,
    UnaryOp::Sigmoid,
    UnaryOp::Relu,
    UnaryOp::Erf,
];
const BINARY: [BinaryOp; 7] =
    [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow, BinaryOp::Max, BinaryOp::Min];

fn unary_cases() -> Vec<Case> {
    UNARY
        .iter()
        .map(|&op| {
            case(format!("unary {op:?}"), move |b| {
                let n = pick(b, &[1, 3, 7]);
                let x = b.input(Shape::batched(&[n]), unary_domain(op));
                ok(b.g.unary(op, x))
            })
        })
        .collect()
}

/// Operand shapes for binary ops: same shape, broadcasting either way, a
/// scalar, and a batch dim against 1.
fn binary_shapes(b: &mut Builder) -> Vec<(Shape, Shape)> {
    let n = pick(b, &[1, 3, 7]);
    let m = pick(b, &[2, 3]);
    vec![
        (Shape::batched(&[n]), Shape::batched(&[n])),
        (Shape::batched(&[n]), Shape::known(&[n])),
        (Shape::known(&[n]), Shape::batched(&[n])),
        (Shape::batched(&[m, n]), Shape::known(&[m, 1])),
        (Shape::known(&[1, n]), Shape::batched(&[n])),
        (Shape(vec![Dim::Batch, Dim::Known(1)]), Shape::known(&[n])),
        (Shape::batched(&[n]), Shape::scalar()),
    ]
}

fn binary_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for &op in &BINARY {
        for shape_idx in 0..7 {
            cases.push(case(format!("binary {op:?} shapes #{shape_idx}"), move |b| {
                let (sa, sb) = binary_shapes(b).swap_remove(shape_idx);
                let (da, db) = match op {
                    BinaryOp::Div => (Domain::Any, Domain::Positive),
                    BinaryOp::Pow => (Domain::Positive, Domain::Any),
                    _ => (Domain::Any, Domain::Any),
                };
                let x = b.input(sa, da);
                let y = b.input(sb, db);
                ok(b.g.binary(op, x, y))
            }));
        }
    }
    cases
}

fn structure_cases() -> Vec<Case> {
    let mut cases = vec![
        case("select", |b| {
            let n = pick(b, &[3, 7]);
            let bits: Vec<f64> = (0..b.batch * n).map(|i| (i % 2) as f64).collect();
            let mask =
                b.input_with(Shape::batched(&[n]), ndarray::ArrayD::from_shape_vec(vec![b.batch, n], bits).unwrap());
            let x = b.input(Shape::batched(&[n]), Domain::Any);
            let y = b.input(Shape::known(&[n]), Domain::Any);
            ok(b.g.push(Op::Select, &[mask, x, y]))
        }),
        case("cast f32", |b| {
            let x = b.input(Shape::batched(&[3]), Domain::Any);
            ok(b.g.push(Op::Cast(DType::F32), &[x]))
        }),
    ];
    for op in [ReduceOp::Sum, ReduceOp::Max] {
        for axes in [vec![0], vec![1], vec![2], vec![0, 1], vec![1, 2], vec![0, 2], vec![0, 1, 2]] {
            for keep_dims in [false, true] {
                let axes = axes.clone();
                cases.push(case(format!("reduce {op:?} {axes:?} keep {keep_dims}"), move |b| {
                    let (m, n) = (pick(b, &[1, 3]), pick(b, &[2, 7]));
                    let x = b.input(Shape::batched(&[m, n]), Domain::Any);
                    ok(b.g.push(Op::Reduce { op, axes: axes.clone(), keep_dims }, &[x]))
                }));
            }
        }
    }
    for axis in [0, 1] {
        cases.push(case(format!("softmax axis {axis}"), move |b| {
            let n = pick(b, &[1, 3, 7]);
            let x = b.input(Shape::batched(&[n]), Domain::Any);
            ok(b.g.push(Op::Softmax { axis }, &[x]))
        }));
        cases.push(case(format!("log_softmax axis {axis}"), move |b| {
            let n = pick(b, &[1, 3, 7]);
            let x = b.input(Shape::batched(&[n]), Domain::Any);
            ok(b.g.push(Op::LogSoftmax { axis }, &[x]))
        }));
    }
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        cases.push(case(format!("matmul aT={ta} bT={tb}"), move |b| {
            let (k, n) = (pick(b, &[1, 3, 7]), pick(b, &[1, 2, 5]));
            let a = if ta {
                b.input(Shape(vec![Dim::Known(k), Dim::Batch]), Domain::Any)
            } else {
                b.input(Shape::batched(&[k]), Domain::Any)
            };
            let dims = if tb { [n, k] } else { [k, n] };
            let w = b.var(&dims, Domain::Any);
            ok(b.g.push(Op::MatMul { transpose_a: ta, transpose_b: tb }, &[a, w]))
        }));
    }
    cases.push(case("reshape batched", |b| {
        let x = b.input(Shape::batched(&[2, 3]), Domain::Any);
        ok(b.g.reshape(x, Shape::batched(&[3, 2])))
    }));
    cases.push(case("reshape known", |b| {
        let x = b.var(&[2, 3, 1], Domain::Any);
        ok(b.g.reshape(x, Shape::known(&[6])))
    }));
    for perm in [vec![0, 2, 1], vec![2, 0, 1], vec![1, 2, 0]] {
        cases.push(case(format!("transpose {perm:?}"), move |b| {
            let (m, n) = (pick(b, &[1, 3]), pick(b, &[2, 7]));
            let x = b.input(Shape::batched(&[m, n]), Domain::Any);
            ok(b.g.push(Op::Transpose(perm.clone()), &[x]))
        }));
    }
    cases.push(case("broadcast vector to batch", |b| {
        let n = pick(b, &[1, 3, 7]);
        let x = b.var(&[n], Domain::Any);
        ok(b.g.push(Op::Broadcast(Shape::batched(&[2, n])), &[x]))
    }));
    cases.push(case("broadcast unit axes", |b| {
        let x = b.input(Shape(vec![Dim::Batch, Dim::Known(1), Dim::Known(3)]), Domain::Any);
        ok(b.g.push(Op::Broadcast(Shape::batched(&[4, 3])), &[x]))
    }));
    cases.push(case("concat axis 1", |b| {
        let parts: Vec<NodeId> = (0..3)
            .map(|_| pick(b, &[1, 2, 3]))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|n| b.input(Shape::batched(&[n]), Domain::Any))
            .collect();
        ok(b.g.push(Op::Concat { axis: 1 }, &parts))
    }));
    cases.push(case("concat axis 0", |b| {
        let x = b.var(&[2, 3], Domain::Any);
        let y = b.var(&[1, 3], Domain::Any);
        ok(b.g.push(Op::Concat { axis: 0 }, &[x, y, x]))
    }));
    cases.push(case("slice", |b| {
        let n = pick(b, &[3, 7]);
        let x = b.input(Shape::batched(&[n, 2]), Domain::Any);
        ok(b.g.push(Op::Slice { axis: 1, start: 1, end: n }, &[x]))
    }));
    cases.push(case("pad", |b| {
        let n = pick(b, &[1, 3]);
        let x = b.input(Shape::batched(&[n]), Domain::Any);
        ok(b.g.push(Op::Pad { axis: 1, before: 2, after: 1 }, &[x]))
    }));
    cases.push(case("gather", |b| {
        let (v, d) = (pick(b, &[3, 7]), pick(b, &[1, 2]));
        let table = b.var(&[v, d], Domain::Any);
        let idx = b.labels(Shape::batched(&[3]), v as i32);
        ok(b.g.push(Op::Gather, &[table, idx]))
    }));
    cases
}

fn window(k: usize, s: usize, padding: Padding) -> Window {
    Window { size: (k, k), strides: (s, s), padding }
}

fn conv_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for padding in [Padding::Valid, Padding::Same] {
        for stride in [1, 2] {
            let w = window(3, stride, padding);
            cases.push(case(format!("conv2d {padding:?} stride {stride}"), move |b| {
                let (h, c, f) = (pick(b, &[5, 6]), pick(b, &[1, 2]), pick(b, &[1, 3]));
                let x = b.input(Shape::batched(&[h, h - 1, c]), Domain::Any);
                let k = b.var(&[3, 3, c, f], Domain::Any);
                ok(b.g.push(Op::Conv2d(w), &[x, k]))
            }));
            for kind in [PoolKind::Max, PoolKind::Avg] {
                let pw = window(2 + stride - 1, stride, padding);
                cases.push(case(format!("pool2d {kind:?} {padding:?} stride {stride}"), move |b| {
                    let h = pick(b, &[4, 5]);
                    let x = b.input(Shape::batched(&[h, 5, 2]), Domain::Any);
                    ok(b.g.push(Op::Pool2d { kind, window: pw }, &[x]))
                }));
            }
            cases.push(case(format!("conv2d_grad_input {padding:?} stride {stride}"), move |b| {
                let input = Shape::batched(&[5, 4, 2]);
                let (oh, ow) = nn_compiler::shape::window_output("t", &input, &w).unwrap();
                let dy = b.input(Shape::batched(&[oh, ow, 3]), Domain::Any);
                let k = b.var(&[3, 3, 2, 3], Domain::Any);
                ok(b.g.push(Op::Conv2dGradInput { window: w, input }, &[dy, k]))
            }));
            cases.push(case(format!("conv2d_grad_kernel {padding:?} stride {stride}"), move |b| {
                let input = Shape::batched(&[5, 4, 2]);
                let (oh, ow) = nn_compiler::shape::window_output("t", &input, &w).unwrap();
                let x = b.input(input, Domain::Any);
                let dy = b.input(Shape::batched(&[oh, ow, 3]), Domain::Any);
                ok(b.g.push(Op::Conv2dGradKernel { window: w }, &[x, dy]))
            }));
            cases.push(case(format!("avg_pool2d_grad {padding:?} stride {stride}"), move |b| {
                let pw = window(2, stride, padding);
                let input = Shape::batched(&[5, 4, 2]);
                let (oh, ow) = nn_compiler::shape::window_output("t", &input, &pw).unwrap();
                let x = b.fixed_input(input, Domain::Any);
                let dy = b.input(Shape::batched(&[oh, ow, 2]), Domain::Any);
                ok(b.g.push(Op::Pool2dGrad { kind: PoolKind::Avg, window: pw }, &[x, dy]))
            }));
        }
    }
    cases.push(case("scatter_add", |b| {
        let idx = b.labels(Shape::batched(&[2]), 5);
        let upd = b.input(Shape::batched(&[2, 3]), Domain::Any);
        ok(b.g.push(Op::ScatterAdd { rows: 5 }, &[idx, upd]))
    }));
    cases
}

/// `x @ kernel + bias`, the way lowering builds a Dense layer.
fn dense(b: &mut Builder, units: usize) -> NodeId {
    let n = pick(b, &[1, 3, 7]);
    let x = b.input(Shape::batched(&[n]), Domain::Any);
    let kernel = b.var(&[n, units], Domain::Any);
    let bias = b.var(&[units], Domain::Any);
    let z = ok(b.g.matmul(x, kernel));
    ok(b.g.add(z, bias))
}

fn activation(b: &mut Builder, name: &str, z: NodeId) -> NodeId {
    let g = &mut b.g;
    let c = |g: &mut nn_compiler::ir::Graph, v: f64| g.scalar(v);
    // elu(z, alpha) = z if z > 0 else alpha * (exp(z) - 1)
    let elu = |g: &mut nn_compiler::ir::Graph, z: NodeId, alpha: f64| {
        let zero = g.scalar(0.0);
        let pos = ok(g.push(Op::Compare(CmpOp::Gt), &[z, zero]));
        let e = ok(g.unary(UnaryOp::Exp, z));
        let one = g.scalar(1.0);
        let em1 = ok(g.sub(e, one));
        let a = g.scalar(alpha);
        let neg = ok(g.mul(a, em1));
        ok(g.push(Op::Select, &[pos, z, neg]))
    };
    match name {
        "relu" => ok(g.unary(UnaryOp::Relu, z)),
        "sigmoid" => ok(g.unary(UnaryOp::Sigmoid, z)),
        "tanh" => ok(g.unary(UnaryOp::Tanh, z)),
        "softmax" => ok(g.push(Op::Softmax { axis: 1 }, &[z])),
        "elu" => elu(g, z, 1.0),
        "selu" => {
            let e = elu(g, z, 1.673_263_242_354_377_3);
            let s = c(g, 1.050_700_987_355_480_5);
            ok(g.mul(s, e))
        }
        "gelu" => {
            // 0.5 * z * (1 + erf(z / sqrt(2)))
            let r2 = c(g, std::f64::consts::SQRT_2);
            let q = ok(g.div(z, r2));
            let e = ok(g.unary(UnaryOp::Erf, q));
            let one = c(g, 1.0);
            let s = ok(g.add(one, e));
            let half = c(g, 0.5);
            let hz = ok(g.mul(half, z));
            ok(g.mul(hz, s))
        }
        "softplus" => {
            let e = ok(g.unary(UnaryOp::Exp, z));
            let one = c(g, 1.0);
            let s = ok(g.add(e, one));
            ok(g.unary(UnaryOp::Log, s))
        }
        "leaky_relu" => {
            let a = c(g, 0.3);
            let az = ok(g.mul(a, z));
            ok(g.binary(BinaryOp::Max, z, az))
        }
        "swish" => {
            let s = ok(g.unary(UnaryOp::Sigmoid, z));
            ok(g.mul(z, s))
        }
        other => panic!("unknown activation {other}"),
    }
}

fn layer_cases() -> Vec<Case> {
    let mut cases: Vec<Case> =
        ["relu", "sigmoid", "tanh", "softmax", "elu", "selu", "gelu", "softplus", "leaky_relu", "swish"]
            .into_iter()
            .map(|name| {
                case(format!("dense + {name}"), move |b| {
                    let units = pick(b, &[1, 3, 4]);
                    let z = dense(b, units);
                    activation(b, name, z)
                })
            })
            .collect();
    cases.push(case("dense + dropout", |b| {
        let z = dense(b, 4);
        let step = b.input_with(Shape::scalar(), ndarray::ArrayD::from_elem(vec![], 3.0));
        let mask = ok(b.g.push(Op::DropoutMask { rate: 0.5, seed: 42, key: 1 }, &[z, step]));
        ok(b.g.mul(z, mask))
    }));
    cases.push(case("dense + gaussian noise", |b| {
        let z = dense(b, 4);
        let step = b.input_with(Shape::scalar(), ndarray::ArrayD::from_elem(vec![], 3.0));
        let noise = ok(b.g.push(Op::RandomNormal { seed: 42, key: 1 }, &[z, step]));
        let scaled = ok(b.g.mul(z, noise));
        ok(b.g.add(scaled, noise))
    }));
    for fused in [false, true] {
        cases.push(case(format!("softmax cross-entropy (log_softmax {fused})"), move |b| {
            let classes = pick(b, &[2, 3, 5]);
            let z = dense(b, classes);
            let y = b.labels(Shape::batched(&[]), classes as i32);
            let onehot = ok(b.g.push(Op::OneHot { depth: classes }, &[y]));
            let logp = if fused {
                ok(b.g.push(Op::LogSoftmax { axis: 1 }, &[z]))
            } else {
                let p = ok(b.g.push(Op::Softmax { axis: 1 }, &[z]));
                ok(b.g.unary(UnaryOp::Log, p))
            };
            let picked = ok(b.g.mul(onehot, logp));
            let per_sample = ok(b.g.reduce_sum(picked, vec![1], false));
            let total = ok(b.g.sum_all(per_sample));
            let n = b.g.batch_size();
            let mean = ok(b.g.div(total, n));
            ok(b.g.neg(mean))
        }));
    }
    cases
}

/// The gradient of `sum(out * c)` with respect to `of`, as a value: its
/// own gradient then exercises the rules of the gradient ops.
fn inner_grad(b: &mut Builder, out: NodeId, of: NodeId) -> NodeId {
    let shape = b.g.shape(out).clone();
    let c = b.fixed_input(shape, Domain::Any);
    let weighted = ok(b.g.mul(out, c));
    let loss = ok(b.g.sum_all(weighted));
    nn_compiler::autodiff::grad(&mut b.g, loss, &[of]).expect("first-order gradient")[0]
}

fn second_order_cases() -> Vec<Case> {
    vec![
        case("second order: dense + tanh, d/dx", |b| {
            let x = b.input(Shape::batched(&[3]), Domain::Any);
            let k = b.var(&[3, 2], Domain::Any);
            let z = ok(b.g.matmul(x, k));
            let y = ok(b.g.unary(UnaryOp::Tanh, z));
            inner_grad(b, y, x)
        }),
        case("second order: softmax cross-entropy, d/dz", |b| {
            let z = b.input(Shape::batched(&[4]), Domain::Any);
            let p = ok(b.g.push(Op::Softmax { axis: 1 }, &[z]));
            let logp = ok(b.g.unary(UnaryOp::Log, p));
            inner_grad(b, logp, z)
        }),
        case("second order: conv2d + avg pool, d/dkernel", |b| {
            let x = b.input(Shape::batched(&[5, 5, 2]), Domain::Any);
            let k = b.var(&[2, 2, 2, 2], Domain::Any);
            let c = ok(b.g.push(Op::Conv2d(window(2, 1, Padding::Same)), &[x, k]));
            let s = ok(b.g.unary(UnaryOp::Sigmoid, c));
            let p = ok(b.g.push(Op::Pool2d { kind: PoolKind::Avg, window: window(2, 2, Padding::Valid) }, &[s]));
            inner_grad(b, p, k)
        }),
        case("second order: gather + reduce max, d/dtable", |b| {
            let table = b.var(&[4, 3], Domain::Any);
            let idx = b.labels(Shape::batched(&[2]), 4);
            let rows = ok(b.g.push(Op::Gather, &[table, idx]));
            let sq = ok(b.g.mul(rows, rows));
            let m = ok(b.g.push(Op::Reduce { op: ReduceOp::Max, axes: vec![2], keep_dims: false }, &[sq]));
            inner_grad(b, m, table)
        }),
    ]
}

#[test]
fn second_order_gradients() {
    run(second_order_cases());
}

#[test]
fn loops() {
    run(scan_cases::scan_cases());
}

#[test]
fn unary_ops() {
    run(unary_cases());
}

#[test]
fn binary_ops_with_broadcasting() {
    run(binary_cases());
}

#[test]
fn structural_ops() {
    run(structure_cases());
}

#[test]
fn convolution_and_pooling() {
    run(conv_cases());
}

#[test]
fn composite_layers() {
    run(layer_cases());
}

/// Layers as lowering builds them, in both modes: `.nn` sources lowered,
/// then checked with respect to the input and every trainable weight.
fn lowered_cases() -> Vec<Case> {
    const SOURCES: &[(&str, &str)] = &[
        ("batch_normalization (dense)", "model m { input x: [3] batch_normalization() }"),
        ("batch_normalization (conv)", "model m { input x: [2, 3, 2] batch_normalization(momentum = 0.5) }"),
        (
            "batch_normalization (axis 1, no center)",
            "model m { input x: [3, 2] batch_normalization(axis = 1, center = false) }",
        ),
        ("layer_normalization", "model m { input x: [2, 4] layer_normalization() }"),
        ("layer_normalization (axis 1)", "model m { input x: [3, 2] layer_normalization(axis = 1, epsilon = 0.01) }"),
        ("group_normalization", "model m { input x: [2, 6] group_normalization(groups = 3) }"),
        ("group_normalization (axis 1)", "model m { input x: [4, 2] group_normalization(groups = 2, axis = 1) }"),
        ("unit_normalization", "model m { input x: [2, 3] unit_normalization() }"),
        ("normalization", "model m { input x: [3] normalization() }"),
        ("rescaling", "model m { input x: [3] rescaling(0.5, offset = -1) }"),
        ("simple_rnn", "model m { input x: [3, 2] simple_rnn(3) }"),
        (
            "simple_rnn (backwards, sequences)",
            "model m { input x: [4, 1] simple_rnn(2, go_backwards = true, return_sequences = true) }",
        ),
        ("lstm", "model m { input x: [3, 2] lstm(3) }"),
        (
            "lstm (sequences, dropout)",
            "model m { input x: [3, 2] lstm(2, return_sequences = true, dropout = 0.3, recurrent_dropout = 0.4) }",
        ),
        ("gru", "model m { input x: [3, 3] gru(2) }"),
        (
            "gru (reset before, backwards)",
            "model m { input x: [3, 2] gru(3, reset_after = false, go_backwards = true) }",
        ),
        (
            "bidirectional (ave)",
            "model m { input x: [3, 2] bidirectional(lstm(2, return_sequences = true), merge_mode = ave) }",
        ),
        ("bidirectional (concat)", "model m { input x: [2, 2] bidirectional(gru(2)) }"),
    ];
    let mut cases = Vec::new();
    for &(name, source) in SOURCES {
        for mode in [Mode::Train, Mode::Infer] {
            cases.push(case(format!("{name} ({mode:?})"), move |b| {
                let model = lower_source(source, None, mode, 0).unwrap_or_else(|d| panic!("{source}: {d:?}"));
                b.adopt(model.graph)
            }));
        }
    }
    cases
}

#[test]
fn lowered_layers() {
    run(lowered_cases());
}

#[test]
fn recurrent_states() {
    run(state_cases::state_cases());
}

/// The sequence layers as lowered from `.nn` source (odd sizes; the runner
/// picks batches 1, 3 and 2), with respect to every float input and weight;
/// int inputs get random ids inside their tables.
fn sequence_cases() -> Vec<Case> {
    const SOURCES: &[(&str, &str)] = &[
        ("embedding", "model m { input ids: [5] int embedding(7, 3) }"),
        ("embedding (repeated ids)", "model m { input ids: [9] int embedding(2, 3) }"),
        (
            "embedding mask_zero, masked mean",
            "model m { input ids: [6] int embedding(3, 3, mask_zero = true) dense(2) dropout(0.3) global_average_pooling1d }",
        ),
        ("conv1d valid", "model m { input x: [7, 3] conv1d(2, 3) }"),
        ("conv1d strides 2 same", "model m { input x: [7, 3] conv1d(3, 3, strides = 2, padding = same) }"),
        ("conv1d causal", "model m { input x: [5, 2] conv1d(3, 3, padding = causal, activation = tanh) }"),
        ("conv1d dilation", "model m { input x: [9, 2] conv1d(2, 3, dilation_rate = 2) }"),
        ("conv1d dilation same", "model m { input x: [8, 3] conv1d(2, 2, dilation_rate = 3, padding = same) }"),
        ("conv1d dilation causal", "model m { input x: [6, 1] conv1d(2, 3, dilation_rate = 2, padding = causal) }"),
        ("max_pooling1d", "model m { input x: [7, 2] max_pooling1d(2) }"),
        ("average_pooling1d same", "model m { input x: [7, 2] average_pooling1d(3, strides = 2, padding = same) }"),
        ("global_max_pooling1d", "model m { input x: [5, 3] global_max_pooling1d }"),
        ("global_average_pooling1d", "model m { input x: [5, 3] global_average_pooling1d }"),
        ("global_max_pooling2d", "model m { input x: [3, 4, 2] global_max_pooling2d }"),
        ("dense on a sequence", "model m { input x: [5, 3] dense(2, activation = tanh) }"),
        ("time_distributed", "model m { input x: [4, 3] time_distributed(dense(3)) }"),
        ("multiply", "model m { input a: [3, 2] input b: [3, 2] input c: [3, 2] y = multiply(a, b, c) output y }"),
        ("subtract", "model m { input a: [5] input b: [5] y = subtract(a, b) output y }"),
        ("average", "model m { input a: [3, 2] input b: [3, 2] y = average(a, b) output y }"),
        ("maximum", "model m { input a: [5] input b: [5] input c: [5] y = maximum(a, b, c) output y }"),
        ("minimum", "model m { input a: [5] input b: [5] y = minimum([a, b]) output y }"),
        ("dot", "model m { input a: [5] input b: [5] y = dot(a, b, axes = 1) output y }"),
        ("dot normalize", "model m { input a: [3] input b: [3] y = dot(a, b, axes = -1, normalize = true) output y }"),
        ("dot sequences", "model m { input a: [3, 4] input b: [5, 4] y = dot(a, b, axes = 2) output y }"),
        ("dot axes 1", "model m { input a: [3, 2] input b: [3, 4] y = dot(a, b, axes = [1, 1]) output y }"),
    ];
    let mut cases = Vec::new();
    for &(name, source) in SOURCES {
        for mode in [Mode::Train, Mode::Infer] {
            cases.push(case(format!("{name} ({mode:?})"), move |b| {
                let model = lower_source(source, None, mode, 0).unwrap_or_else(|d| panic!("{source}: {d:?}"));
                b.adopt(model.graph)
            }));
        }
    }
    cases
}

#[test]
fn lowered_sequence_layers() {
    run(sequence_cases());
}

/// Whether the op has a gradient rule that the checks must exercise.
#[derive(Debug, PartialEq)]
enum Kind {
    Differentiable,
    /// Leaves, integer-valued or piecewise-constant results.
    NoGradient,
    /// Has no second-order rule; `grad` reports an error.
    Unsupported,
}

/// NOTE: no `_ =>` arm, so adding an op fails to compile until it is
/// classified here and a sample is added to `all_ops`.
fn kind(op: &Op) -> Kind {
    use Kind::*;
    match op {
        Op::Input(_) | Op::Var(_) | Op::Const(_) | Op::BatchSize => NoGradient,
        Op::Unary(u) => match u {
            UnaryOp::Neg
            | UnaryOp::Exp
            | UnaryOp::Log
            | UnaryOp::Sqrt
            | UnaryOp::Abs
            | UnaryOp::Sign
            | UnaryOp::Tanh
            | UnaryOp::Sigmoid
            | UnaryOp::Relu
            | UnaryOp::Erf => Differentiable,
        },
        Op::Binary(b) => match b {
            BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Pow
            | BinaryOp::Max
            | BinaryOp::Min => Differentiable,
        },
        Op::Compare(c) => match c {
            CmpOp::Gt | CmpOp::Ge | CmpOp::Lt | CmpOp::Le | CmpOp::Eq | CmpOp::Ne => NoGradient,
        },
        Op::Select | Op::Cast(_) => Differentiable,
        Op::Reduce { op: ReduceOp::Sum | ReduceOp::Max, .. } => Differentiable,
        Op::ArgMax { .. } => NoGradient,
        Op::Softmax { .. } | Op::LogSoftmax { .. } | Op::MatMul { .. } => Differentiable,
        Op::Reshape(_)
        | Op::Transpose(_)
        | Op::Broadcast(_)
        | Op::Concat { .. }
        | Op::Slice { .. }
        | Op::Pad { .. } => Differentiable,
        Op::Conv2d(_) | Op::Conv2dGradInput { .. } | Op::Conv2dGradKernel { .. } | Op::Pool2d { .. } => Differentiable,
        Op::Pool2dGrad { kind: PoolKind::Avg, .. } => Differentiable,
        Op::Pool2dGrad { kind: PoolKind::Max, .. } => Unsupported,
        Op::Gather | Op::ScatterAdd { .. } => Differentiable,
        Op::OneHot { .. } | Op::DropoutMask { .. } | Op::RandomNormal { .. } => NoGradient,
        Op::Scan(_) => Differentiable,
    }
}

/// One sample of every op (every distinct `Op::name`).
fn all_ops() -> Vec<Op> {
    let w = window(2, 1, Padding::Valid);
    let mut ops = vec![Op::Input(0), Op::Var(nn_compiler::ir::VarId(0)), Op::Const(0.0), Op::BatchSize];
    ops.extend(UNARY.iter().map(|&u| Op::Unary(u)));
    ops.extend(BINARY.iter().map(|&b| Op::Binary(b)));
    ops.extend([CmpOp::Gt, CmpOp::Ge, CmpOp::Lt, CmpOp::Le, CmpOp::Eq, CmpOp::Ne].map(Op::Compare));
    ops.extend([
        Op::Select,
        Op::Cast(DType::F32),
        Op::Reduce { op: ReduceOp::Sum, axes: vec![0], keep_dims: false },
        Op::Reduce { op: ReduceOp::Max, axes: vec![0], keep_dims: false },
        Op::ArgMax { axis: 0 },
        Op::Softmax { axis: 0 },
        Op::LogSoftmax { axis: 0 },
        Op::MatMul { transpose_a: false, transpose_b: false },
        Op::Reshape(Shape::scalar()),
        Op::Transpose(vec![0]),
        Op::Broadcast(Shape::scalar()),
        Op::Concat { axis: 0 },
        Op::Slice { axis: 0, start: 0, end: 1 },
        Op::Pad { axis: 0, before: 0, after: 0 },
        Op::Conv2d(w),
        Op::Conv2dGradInput { window: w, input: Shape::scalar() },
        Op::Conv2dGradKernel { window: w },
        Op::Pool2d { kind: PoolKind::Max, window: w },
        Op::Pool2d { kind: PoolKind::Avg, window: w },
        Op::Pool2dGrad { kind: PoolKind::Max, window: w },
        Op::Pool2dGrad { kind: PoolKind::Avg, window: w },
        Op::Gather,
        Op::ScatterAdd { rows: 1 },
        Op::OneHot { depth: 1 },
        Op::DropoutMask { rate: 0.0, seed: 0, key: 0 },
        Op::RandomNormal { seed: 0, key: 0 },
        Op::Scan(nn_compiler::ir::Scan {
            body: scan_bodies::rnn_body(1, 1),
            steps: 1,
            reverse: false,
            result: nn_compiler::ir::ScanResult::Final(0),
        }),
    ]);
    ops
}

#[test]
fn checked_ops_are_all_differentiable_ops() {
    let ops = all_ops();
    let names: BTreeSet<&str> = ops.iter().map(|o| o.name()).collect();
    assert_eq!(names.len(), ops.len(), "all_ops lists an op name twice");
    let differentiable: BTreeSet<&str> =
        ops.iter().filter(|o| kind(o) == Kind::Differentiable).map(|o| o.name()).collect();
    let unsupported: BTreeSet<&str> = ops.iter().filter(|o| kind(o) == Kind::Unsupported).map(|o| o.name()).collect();

    let mut covered = BTreeSet::new();
    let groups = [
        unary_cases(),
        binary_cases(),
        structure_cases(),
        conv_cases(),
        layer_cases(),
        second_order_cases(),
        scan_cases::scan_cases(),
    ];
    for c in groups.iter().flatten() {
        let mut b = Builder::new(0, 2);
        let out = (c.build)(&mut b);
        covered.extend(b.coverage(out));
    }
    let missing: Vec<&&str> = differentiable.difference(&covered).collect();
    assert!(missing.is_empty(), "differentiable ops without a gradient check: {missing:?}");
    let unknown: Vec<&&str> = covered.difference(&names).collect();
    assert!(unknown.is_empty(), "checked ops missing from all_ops: {unknown:?}");
    let bad: Vec<&&str> = covered.intersection(&unsupported).collect();
    assert!(bad.is_empty(), "ops without a rule appear on a checked path: {bad:?}");
}

#[test]
fn max_pool_second_order_is_a_clear_error() {
    let mut b = Builder::new(1, 2);
    let w = window(2, 2, Padding::Valid);
    let x = b.fixed_input(Shape::batched(&[4, 4, 1]), Domain::Any);
    let dy = b.input(Shape::batched(&[2, 2, 1]), Domain::Any);
    let dx = ok(b.g.push(Op::Pool2dGrad { kind: PoolKind::Max, window: w }, &[x, dy]));
    let loss = ok(b.g.sum_all(dx));
    let err = nn_compiler::autodiff::grad(&mut b.g, loss, &[dy]).unwrap_err();
    assert!(err.to_string().contains("second-order gradients through max pooling"), "{err}");
}
