//! Differential tests: the Cranelift JIT against the reference interpreter.
//!
//! Every op alone, hand-built MLP training steps (forward, backward,
//! Adam-like update) at several batch sizes and on every ISA level this CPU
//! has, thousands of random small graphs, dropout bit-exactness, determinism
//! with two threads, and argument validation. Agreement means
//! `max |jit - interp| / max(1, max |interp|) <= 1e-5` per value (NaN
//! matching NaN).

use ndarray::{ArrayD, IxDyn};
use nn_compiler::codegen::{compile, cpu_has, CompiledGraph, HostInput, HostOutput, IsaLevel, JitOptions};
use nn_compiler::interp::{self, Value};
use nn_compiler::ir::*;
use nn_compiler::lower::{lower_source, Mode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const TOL: f32 = 1e-5;

fn opts(isa: IsaLevel, threads: usize) -> JitOptions {
    JitOptions { threads, deterministic: true, isa }
}

/// ISA levels this machine can run.
fn levels() -> Vec<IsaLevel> {
    [IsaLevel::Auto, IsaLevel::Avx512, IsaLevel::Avx2, IsaLevel::Scalar].into_iter().filter(|l| cpu_has(*l)).collect()
}

/// Random data for every input (labels in 0..classes for i32 inputs) and var.
fn random_args(g: &Graph, batch: usize, rng: &mut StdRng, classes: i32) -> (Vec<Value<f32>>, Vec<ArrayD<f32>>) {
    let inputs = g
        .inputs
        .iter()
        .map(|d| {
            let shape = d.ty.shape.resolve(batch);
            let n: usize = shape.iter().product();
            match d.ty.dtype {
                DType::F32 => Value::F(
                    ArrayD::from_shape_vec(IxDyn(&shape), (0..n).map(|_| rng.random_range(-2.0..2.0)).collect())
                        .unwrap(),
                ),
                DType::I32 => Value::I(
                    ArrayD::from_shape_vec(IxDyn(&shape), (0..n).map(|_| rng.random_range(-1..classes + 1)).collect())
                        .unwrap(),
                ),
            }
        })
        .collect();
    let vars = g
        .vars
        .iter()
        .map(|v| {
            ArrayD::from_shape_vec(IxDyn(&v.shape), (0..v.numel()).map(|_| rng.random_range(-1.0..1.0)).collect())
                .unwrap()
        })
        .collect();
    (inputs, vars)
}

fn close(what: &str, got: &[f32], want: &[f32]) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{what}: {} values, interpreter has {}", got.len(), want.len()));
    }
    let scale = want.iter().filter(|v| v.is_finite()).fold(1.0f32, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let ok = (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() / scale <= TOL;
        if !ok {
            return Err(format!("{what}[{i}]: jit {g}, interpreter {w} (scale {scale})"));
        }
    }
    Ok(())
}

/// Runs the JIT (already compiled) and the interpreter on the same data and
/// compares outputs and updated variables.
fn check_run(
    g: &Graph,
    jit: &mut CompiledGraph,
    inputs: &[Value<f32>],
    vars: &[ArrayD<f32>],
    batch: usize,
) -> Result<(), String> {
    let want = interp::run::<f32>(g, inputs, vars, batch).map_err(|e| format!("interpreter: {e:?}"))?;
    let host: Vec<HostInput> = inputs
        .iter()
        .map(|v| match v {
            Value::F(a) => HostInput::F32(a.as_slice().unwrap()),
            Value::I(a) => HostInput::I32(a.as_slice().unwrap()),
        })
        .collect();
    let mut var_data: Vec<Vec<f32>> = vars.iter().map(|v| v.iter().copied().collect()).collect();
    let mut var_refs: Vec<&mut [f32]> = var_data.iter_mut().map(|v| v.as_mut_slice()).collect();
    let got = jit.run(&host, &mut var_refs, batch).map_err(|e| format!("jit: {e}"))?;
    for (((name, _), g_out), w_out) in g.outputs.iter().zip(&got).zip(&want.outputs) {
        match (g_out, w_out) {
            (HostOutput::F32(d, s), Value::F(w)) => {
                if s.as_slice() != w.shape() {
                    return Err(format!("output {name}: shape {s:?}, interpreter {:?}", w.shape()));
                }
                close(name, d, &w.iter().copied().collect::<Vec<_>>())?;
            }
            (HostOutput::I32(d, s), Value::I(w)) => {
                if s.as_slice() != w.shape() || d.as_slice() != w.as_slice().unwrap() {
                    return Err(format!("output {name}: {d:?} {s:?}, interpreter {w:?}"));
                }
            }
            (a, b) => return Err(format!("output {name}: dtype differs: {a:?} vs {b:?}")),
        }
    }
    // Variables not updated keep their values; updated ones match.
    for (vi, data) in var_data.iter().enumerate() {
        let want_v: Vec<f32> = match g.updates.iter().position(|(v, _)| v.index() == vi) {
            Some(u) => want.updates[u].iter().copied().collect(),
            None => vars[vi].iter().copied().collect(),
        };
        close(&format!("var {}", g.vars[vi].name), data, &want_v)?;
    }
    Ok(())
}

fn check(g: &Graph, batches: &[usize], seed: u64) {
    for isa in levels() {
        let mut jit = compile(g, &opts(isa, 1)).unwrap_or_else(|e| panic!("compile ({isa:?}): {e}"));
        let mut rng = StdRng::seed_from_u64(seed);
        for &batch in batches {
            let (inputs, vars) = random_args(g, batch, &mut rng, 10);
            if let Err(e) = check_run(g, &mut jit, &inputs, &vars, batch) {
                panic!("{isa:?}, batch {batch}: {e}\nplan:\n{}", jit.kernel_plan());
            }
        }
    }
}

fn var(g: &mut Graph, name: &str, shape: &[usize]) -> NodeId {
    let v = g.add_var(VarDecl {
        name: name.into(),
        shape: shape.to_vec(),
        init: Init::Zeros,
        regularizer: None,
        kind: VarKind::Trainable,
    });
    g.var_node(v)
}

fn input(g: &mut Graph, name: &str, dims: &[usize]) -> NodeId {
    g.add_input(name, TensorType::f32(Shape::batched(dims)), InputRole::Feature)
}

fn labels(g: &mut Graph) -> NodeId {
    g.add_input("labels", TensorType::i32(Shape::batched(&[])), InputRole::Target)
}

/// A graph with one f32 input `x` of `dims` (batched) and one output `op(x)`.
fn single(dims: &[usize], op: Op) -> Graph {
    let mut g = Graph::new();
    let x = input(&mut g, "x", dims);
    let y = g.push(op, &[x]).unwrap();
    g.outputs.push(("y".into(), y));
    g
}

const BATCHES: [usize; 4] = [1, 7, 32, 128];

#[test]
fn unary_ops_match() {
    use UnaryOp::*;
    for u in [Neg, Exp, Log, Sqrt, Abs, Sign, Tanh, Sigmoid, Relu, Erf] {
        check(&single(&[5, 3], Op::Unary(u)), &BATCHES, 1);
        check(&single(&[9], Op::Unary(u)), &[3], 2);
    }
}

#[test]
fn binary_compare_select_broadcasting_match() {
    let shapes: [(&[usize], Shape); 4] = [
        (&[6], Shape::known(&[6])),
        (&[4, 6], Shape::known(&[6])),
        (&[4, 1], Shape::known(&[5])),
        (&[3, 5], Shape::scalar()),
    ];
    for (xd, ws) in &shapes {
        for b in
            [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow, BinaryOp::Max, BinaryOp::Min]
        {
            let mut g = Graph::new();
            let x = input(&mut g, "x", xd);
            let w = var(&mut g, "w", &ws.known_dims().unwrap());
            let base = if b == BinaryOp::Pow { g.unary(UnaryOp::Abs, x).unwrap() } else { x };
            let y = g.binary(b, base, w).unwrap();
            let y2 = g.binary(b, w, base).unwrap();
            g.outputs.push(("y".into(), y));
            g.outputs.push(("y2".into(), y2));
            check(&g, &BATCHES, 3);
        }
        for c in [CmpOp::Gt, CmpOp::Ge, CmpOp::Lt, CmpOp::Le, CmpOp::Eq, CmpOp::Ne] {
            let mut g = Graph::new();
            let x = input(&mut g, "x", xd);
            let w = var(&mut g, "w", &ws.known_dims().unwrap());
            let m = g.push(Op::Compare(c), &[x, w]).unwrap();
            let e = g.push(Op::Compare(c), &[x, x]).unwrap();
            let s = g.push(Op::Select, &[m, x, w]).unwrap();
            g.outputs.push(("m".into(), m));
            g.outputs.push(("e".into(), e));
            g.outputs.push(("s".into(), s));
            check(&g, &[1, 7], 4);
        }
    }
}

#[test]
fn casts_and_integer_compares_match() {
    let mut g = Graph::new();
    let l = labels(&mut g);
    let x = input(&mut g, "x", &[]);
    let scaled = {
        let c = g.scalar(4.0);
        g.mul(x, c).unwrap()
    };
    let xi = g.cast(scaled, DType::I32).unwrap();
    let eq = g.push(Op::Compare(CmpOp::Eq), &[l, xi]).unwrap();
    let gt = g.push(Op::Compare(CmpOp::Gt), &[l, xi]).unwrap();
    let lf = g.cast(l, DType::F32).unwrap();
    g.outputs.push(("xi".into(), xi));
    g.outputs.push(("eq".into(), eq));
    g.outputs.push(("gt".into(), gt));
    g.outputs.push(("lf".into(), lf));
    check(&g, &BATCHES, 5);
}

#[test]
fn reductions_and_softmax_match() {
    for axes in [vec![0], vec![1], vec![2], vec![0, 2], vec![1, 2], vec![0, 1, 2]] {
        for op in [ReduceOp::Sum, ReduceOp::Max] {
            for keep_dims in [false, true] {
                check(&single(&[4, 5], Op::Reduce { op, axes: axes.clone(), keep_dims }), &BATCHES, 6);
            }
        }
    }
    for axis in 0..3 {
        check(&single(&[4, 5], Op::ArgMax { axis }), &BATCHES, 7);
        check(&single(&[4, 5], Op::Softmax { axis }), &BATCHES, 8);
        check(&single(&[4, 5], Op::LogSoftmax { axis }), &BATCHES, 9);
    }
}

#[test]
fn structure_ops_match() {
    check(&single(&[3, 4], Op::Transpose(vec![2, 0, 1])), &BATCHES, 10);
    check(&single(&[3, 4], Op::Transpose(vec![1, 0, 2])), &BATCHES, 10);
    check(&single(&[12], Op::Reshape(Shape(vec![Dim::Batch, Dim::Known(3), Dim::Known(4)]))), &BATCHES, 11);
    check(
        &single(&[1, 4], Op::Broadcast(Shape(vec![Dim::Known(2), Dim::Batch, Dim::Known(3), Dim::Known(4)]))),
        &[1, 7],
        12,
    );
    check(&single(&[5, 4], Op::Slice { axis: 1, start: 1, end: 4 }), &BATCHES, 13);
    check(&single(&[5, 4], Op::Pad { axis: 2, before: 2, after: 1 }), &BATCHES, 14);
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[3]);
    let y = input(&mut g, "y", &[5]);
    let c = g.push(Op::Concat { axis: 1 }, &[x, y, x]).unwrap();
    g.outputs.push(("c".into(), c));
    check(&g, &BATCHES, 15);
}

#[test]
fn matmul_all_transposes_match() {
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let mut g = Graph::new();
        let x = input(&mut g, "x", &[6]);
        let w = var(&mut g, "w", if tb { &[5, 6] } else { &[6, 5] });
        let a = if ta { g.push(Op::Transpose(vec![1, 0]), &[x]).unwrap() } else { x };
        let y = g.push(Op::MatMul { transpose_a: ta, transpose_b: tb }, &[a, w]).unwrap();
        g.outputs.push(("y".into(), y));
        check(&g, &BATCHES, 16);
    }
    // Contraction over the batch dimension (a weight gradient).
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[6]);
    let d = input(&mut g, "d", &[4]);
    let y = g.push(Op::MatMul { transpose_a: true, transpose_b: false }, &[x, d]).unwrap();
    g.outputs.push(("y".into(), y));
    check(&g, &BATCHES, 17);
}

#[test]
fn index_ops_match() {
    let mut g = Graph::new();
    let l = labels(&mut g);
    let table = var(&mut g, "table", &[10, 3]);
    let oh = g.push(Op::OneHot { depth: 10 }, &[l]).unwrap();
    let ga = g.push(Op::Gather, &[table, l]).unwrap();
    let sa = g.push(Op::ScatterAdd { rows: 10 }, &[l, ga]).unwrap();
    g.outputs.push(("oh".into(), oh));
    g.outputs.push(("ga".into(), ga));
    g.outputs.push(("sa".into(), sa));
    check(&g, &BATCHES, 18);
}

#[test]
fn conv_and_pool_ops_match() {
    for padding in [Padding::Valid, Padding::Same] {
        for strides in [(1, 1), (2, 2)] {
            let w = Window { size: (3, 2), strides, padding };
            let mut g = Graph::new();
            let x = input(&mut g, "x", &[7, 6, 2]);
            let k = var(&mut g, "k", &[3, 2, 2, 3]);
            let y = g.push(Op::Conv2d(w), &[x, k]).unwrap();
            let xs = g.shape(x).clone();
            let gi = g.push(Op::Conv2dGradInput { window: w, input: xs }, &[y, k]).unwrap();
            let gk = g.push(Op::Conv2dGradKernel { window: w }, &[x, y]).unwrap();
            g.outputs.push(("y".into(), y));
            g.outputs.push(("gi".into(), gi));
            g.outputs.push(("gk".into(), gk));
            for kind in [PoolKind::Max, PoolKind::Avg] {
                let p = g.push(Op::Pool2d { kind, window: w }, &[x]).unwrap();
                let pg = g.push(Op::Pool2dGrad { kind, window: w }, &[x, p]).unwrap();
                g.outputs.push((format!("p{kind:?}"), p));
                g.outputs.push((format!("pg{kind:?}"), pg));
            }
            check(&g, &[1, 3], 19);
        }
    }
}

fn dropout_graph() -> Graph {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[37]);
    let step = g.add_input("step", TensorType::f32(Shape::scalar()), InputRole::Step);
    let m = g.push(Op::DropoutMask { rate: 0.3, seed: 42, key: 7 }, &[x, step]).unwrap();
    let y = g.mul(x, m).unwrap();
    g.outputs.push(("m".into(), m));
    g.outputs.push(("y".into(), y));
    g
}

#[test]
fn dropout_masks_are_bit_exact() {
    let g = dropout_graph();
    for isa in levels() {
        let mut jit = compile(&g, &opts(isa, 1)).unwrap();
        for (batch, step) in [(1usize, 1.0f32), (7, 2.0), (32, 1234.0)] {
            let x = vec![1.0f32; batch * 37];
            let out = jit.run(&[HostInput::F32(&x), HostInput::F32(&[step])], &mut [], batch).unwrap();
            let want = interp::run::<f32>(
                &g,
                &[
                    Value::F(ArrayD::from_shape_vec(IxDyn(&[batch, 37]), x.clone()).unwrap()),
                    Value::F(ArrayD::from_elem(IxDyn(&[]), step)),
                ],
                &[],
                batch,
            )
            .unwrap();
            let HostOutput::F32(m, _) = &out[0] else { panic!("mask must be f32") };
            let want_m: Vec<f32> = want.outputs[0].as_f().unwrap().iter().copied().collect();
            assert_eq!(
                m.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                want_m.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            assert!(m.contains(&0.0) || batch == 1, "a 0.3 dropout mask of {} elements drops something", m.len());
        }
    }
}

/// Gaussian noise: the JIT calls the interpreter's generator and rounds the
/// same way, so the samples agree bit for bit.
#[test]
fn random_normal_is_bit_exact() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[3, 5]);
    let step = g.add_input("step", TensorType::f32(Shape::scalar()), InputRole::Step);
    let n = g.push(Op::RandomNormal { seed: 42, key: 9 }, &[x, step]).unwrap();
    let y = g.add(x, n).unwrap();
    g.outputs.push(("n".into(), n));
    g.outputs.push(("y".into(), y));
    for isa in levels() {
        let mut jit = compile(&g, &opts(isa, 1)).unwrap();
        for (batch, step) in [(1usize, 1.0f32), (7, 2.0), (32, 1234.0)] {
            let x = vec![0.5f32; batch * 15];
            let out = jit.run(&[HostInput::F32(&x), HostInput::F32(&[step])], &mut [], batch).unwrap();
            let want = interp::run::<f32>(
                &g,
                &[
                    Value::F(ArrayD::from_shape_vec(IxDyn(&[batch, 3, 5]), x.clone()).unwrap()),
                    Value::F(ArrayD::from_elem(IxDyn(&[]), step)),
                ],
                &[],
                batch,
            )
            .unwrap();
            let HostOutput::F32(n, _) = &out[0] else { panic!("noise must be f32") };
            let want_n: Vec<f32> = want.outputs[0].as_f().unwrap().iter().copied().collect();
            assert_eq!(
                n.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                want_n.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
        }
    }
}

/// Every activation and noise layer, lowered in both modes, through the JIT
/// and the interpreter (noise layers read the step input).
#[test]
fn activation_and_noise_layers_match() {
    let bodies = [
        "input x: [6] leaky_relu elu(alpha = 0.5) activation(relu6) activation(hard_sigmoid)",
        "input x: [6] activation(softsign) activation(mish) activation(log_softmax)",
        "input x: [6] prelu dense(4) prelu",
        "input x: [4, 4, 3] prelu(shared_axes = [1, 2]) spatial_dropout2d(0.4) conv2d(2, 3)",
        "input x: [5, 3] spatial_dropout1d(0.3)",
        "input x: [2, 3, 2, 4] spatial_dropout3d(0.3)",
        "input x: [6] gaussian_noise(0.3) dense(5) gaussian_dropout(0.2) alpha_dropout(0.1)",
    ];
    for (i, body) in bodies.iter().enumerate() {
        for mode in [Mode::Train, Mode::Infer] {
            let m = lower_source(&format!("model m {{ {body} }}"), None, mode, 3).unwrap();
            check(&m.graph, &[1, 7, 32], 40 + i as u64);
        }
    }
}

#[path = "jit/adam_loop.rs"]
mod adam_loop;
#[path = "jit/conv.rs"]
mod conv;
#[path = "jit/conv_direct.rs"]
mod conv_direct;
#[path = "jit/conv_grad_kernel.rs"]
mod conv_grad_kernel;
#[path = "jit/conv_grad_pooled.rs"]
mod conv_grad_pooled;
#[path = "jit/conv_pool.rs"]
mod conv_pool;
#[path = "jit/conv_pool_registers.rs"]
mod conv_pool_registers;
#[path = "jit/epilogue.rs"]
mod epilogue;
#[path = "jit/gemm.rs"]
mod gemm;
#[path = "jit/mlp.rs"]
mod mlp;
#[path = "jit/multi_output.rs"]
mod multi_output;
#[path = "jit/norm.rs"]
mod norm;
#[path = "jit/pooling.rs"]
mod pooling;
#[path = "jit/random.rs"]
mod random;
#[path = "jit/scan.rs"]
mod scan;
#[path = "grad/scan_bodies.rs"]
mod scan_bodies;
#[path = "jit/sequence.rs"]
mod sequence;

#[test]
fn bad_arguments_are_errors_not_panics() {
    let g = dropout_graph();
    let mut jit = compile(&g, &opts(IsaLevel::Auto, 1)).unwrap();
    let x = vec![0.5f32; 2 * 37];
    let step = [1.0f32];
    let labels = vec![1i32; 2 * 37];
    let cases: Vec<(Vec<HostInput>, usize, &str)> = vec![
        (vec![HostInput::F32(&x)], 2, "inputs given"),
        (vec![HostInput::F32(&x[..70]), HostInput::F32(&step)], 2, "needs 74 elements"),
        (vec![HostInput::I32(&labels), HostInput::F32(&step)], 2, "must be F32"),
        (vec![HostInput::F32(&x), HostInput::F32(&step)], 0, "batch size 0"),
        (vec![HostInput::F32(&x), HostInput::F32(&step)], 3, "needs 111 elements"),
    ];
    for (inputs, batch, want) in cases {
        let err = jit.run(&inputs, &mut [], batch).unwrap_err().to_string();
        assert!(err.contains(want), "expected `{want}` in: {err}");
    }
    let mut extra = vec![0.0f32; 3];
    let err = jit.run(&[HostInput::F32(&x), HostInput::F32(&step)], &mut [&mut extra], 2).unwrap_err().to_string();
    assert!(err.contains("variable buffers"), "{err}");
    assert!(compile(&g, &JitOptions { threads: 3, ..JitOptions::default() }).is_err());
    // Still usable after the errors.
    assert_eq!(jit.run(&[HostInput::F32(&x), HostInput::F32(&step)], &mut [], 2).unwrap().len(), 2);
}

#[test]
fn arena_reuses_dead_buffers_and_grows_with_batch() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[64]);
    let mut h = x;
    for i in 0..6 {
        let w = var(&mut g, &format!("w{i}"), &[64, 64]);
        let mm = g.matmul(h, w).unwrap();
        h = g.unary(UnaryOp::Tanh, mm).unwrap();
    }
    g.outputs.push(("h".into(), h));
    let jit = compile(&g, &opts(IsaLevel::Auto, 1)).unwrap();
    // 12 intermediates of 64 floats per sample; liveness lets a few share.
    let naive = 12 * 64 * 4 * 32;
    let used = jit.arena_bytes(32);
    assert!(used * 3 <= naive, "arena {used} bytes vs {naive} without reuse");
    assert!(jit.arena_bytes(128) > used);
    // Run at growing and shrinking batch sizes (the arena is re-laid out
    // each time). Six chained 64-wide contractions reorder f32 sums enough
    // that the scalar kernel drifts ~1e-5 from the interpreter's packed
    // GEMM, so the numeric check runs on the first three layers.
    let mut jit = jit;
    let mut rng = StdRng::seed_from_u64(21);
    for batch in [1, 33, 5, 64] {
        let (inputs, vars) = random_args(&g, batch, &mut rng, 10);
        let want = interp::run::<f32>(&g, &inputs, &vars, batch).unwrap();
        let host = [HostInput::F32(inputs[0].as_f().unwrap().as_slice().unwrap())];
        let mut data: Vec<Vec<f32>> = vars.iter().map(|v| v.iter().copied().collect()).collect();
        let mut refs: Vec<&mut [f32]> = data.iter_mut().map(|v| v.as_mut_slice()).collect();
        let HostOutput::F32(got, shape) = &jit.run(&host, &mut refs, batch).unwrap()[0] else { panic!("f32 output") };
        assert_eq!(shape, &vec![batch, 64]);
        close("h", got, &want.outputs[0].as_f().unwrap().iter().copied().collect::<Vec<_>>()).unwrap();
    }
    let mut g3 = Graph::new();
    let x = input(&mut g3, "x", &[64]);
    let mut h = x;
    for i in 0..3 {
        let w = var(&mut g3, &format!("w{i}"), &[64, 64]);
        let mm = g3.matmul(h, w).unwrap();
        h = g3.unary(UnaryOp::Tanh, mm).unwrap();
    }
    g3.outputs.push(("h".into(), h));
    check(&g3, &[1, 33], 21);
}

#[test]
fn large_loops_split_over_two_threads_match() {
    let mut g = Graph::new();
    // Same-shape operands (and a scalar) coalesce into one dimension, the
    // form that is split.
    let x = input(&mut g, "x", &[4099]);
    let y = input(&mut g, "y", &[4099]);
    let c = var(&mut g, "c", &[]);
    let t = g.unary(UnaryOp::Tanh, x).unwrap();
    let yc = g.mul(y, c).unwrap();
    let w = g.add(yc, x).unwrap();
    let m = g.mul(t, w).unwrap();
    let a = g.unary(UnaryOp::Abs, m).unwrap();
    let s = g.unary(UnaryOp::Sqrt, a).unwrap();
    g.outputs.push(("s".into(), s));
    for isa in levels() {
        let mut jit = compile(&g, &opts(isa, 2)).unwrap();
        assert!(jit.clif().contains("; nn_k"));
        let mut rng = StdRng::seed_from_u64(23);
        for batch in [1, 9, 17] {
            let (inputs, vars) = random_args(&g, batch, &mut rng, 10);
            check_run(&g, &mut jit, &inputs, &vars, batch).unwrap_or_else(|e| panic!("{isa:?} batch {batch}: {e}"));
        }
    }
}

/// `matmul` with a rank-3 left operand (one contraction for every time step
/// of a sequence) and the two products its gradient uses.
#[test]
fn matmul_over_sequences_matches() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[5, 3]);
    let w = var(&mut g, "w", &[3, 4]);
    let y = g.matmul(x, w).unwrap();
    let dy = input(&mut g, "dy", &[5, 4]);
    let dx = g.push(Op::MatMul { transpose_a: false, transpose_b: true }, &[dy, w]).unwrap();
    let dw = g.push(Op::MatMul { transpose_a: true, transpose_b: false }, &[x, dy]).unwrap();
    assert_eq!(g.shape(dw), &Shape::known(&[3, 4]));
    g.outputs = vec![("y".into(), y), ("dx".into(), dx), ("dw".into(), dw)];
    check(&g, &BATCHES, 41);
}
