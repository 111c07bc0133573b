//! A few-tap convolution's kernel gradient whose `dy` only a pooling
//! gradient (and a relu's mask) computes runs that pooling gradient image
//! by image inside it. The plan shows it; the kernel and bias gradients are
//! bit for bit those of the separate kernels (the same graph with `dy` also
//! an output, which keeps them apart) with one and two threads, for max and
//! average pooling, tiling and overlapping windows, with and without the
//! relu, filters split over the threads or not, batches 1 and odd; and they
//! match the interpreter.

use super::{check_run, cpu_has, opts, var};
use nn_compiler::codegen::{compile, CompiledGraph, HostInput, HostOutput, IsaLevel};
use nn_compiler::interp::Value;
use nn_compiler::ir::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How the plan shows the pooling gradient inside the kernel gradient.
const FUSED: &str = "dy image by image from";

struct Layer {
    hw: (usize, usize),
    c: usize,
    f: usize,
    conv: Window,
    relu: bool,
    pool: PoolKind,
    window: Window,
}

fn window(size: (usize, usize), strides: (usize, usize), padding: Padding) -> Window {
    Window { size, strides, padding }
}

/// The gradients of `sum(pool(relu(conv(x, k) + b)) · r)` by `k` and `b`
/// (`r` an input: the gradient from the layers above); with `expose`,
/// the kernel gradient's `dy` is an output too.
fn graph(l: &Layer, expose: bool) -> Graph {
    let mut g = Graph::new();
    let x = super::input(&mut g, "x", &[l.hw.0, l.hw.1, l.c]);
    let k = var(&mut g, "k", &[l.conv.size.0, l.conv.size.1, l.c, l.f]);
    let b = var(&mut g, "b", &[l.f]);
    let y = g.push(Op::Conv2d(l.conv), &[x, k]).unwrap();
    let mut y = g.binary(BinaryOp::Add, y, b).unwrap();
    if l.relu {
        y = g.unary(UnaryOp::Relu, y).unwrap();
    }
    let p = g.push(Op::Pool2d { kind: l.pool, window: l.window }, &[y]).unwrap();
    let dims = g.node(p).ty.shape.0[1..].iter().map(|d| d.known().unwrap()).collect::<Vec<_>>();
    let r = super::input(&mut g, "r", &dims);
    let weighted = g.binary(BinaryOp::Mul, p, r).unwrap();
    let loss = g.reduce_sum(weighted, vec![0, 1, 2, 3], false).unwrap();
    let grads = nn_compiler::autodiff::grad(&mut g, loss, &[k, b]).unwrap();
    g.outputs.push(("dk".into(), grads[0]));
    g.outputs.push(("db".into(), grads[1]));
    if expose {
        let dy = (0..g.nodes.len() as u32)
            .map(NodeId)
            .find_map(|n| match g.node(n).op {
                Op::Conv2dGradKernel { .. } => Some(g.node(n).args[1]),
                _ => None,
            })
            .expect("the kernel gradient");
        g.outputs.push(("dy".into(), dy));
    }
    g
}

/// Inputs with few distinct values (ties in the pooling windows, zeros
/// before the relu), kernel and bias.
fn args(rng: &mut StdRng, g: &Graph, batch: usize) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let mut value = |n: usize| (0..n).map(|_| rng.random_range(-4i32..=4) as f32 * 0.25).collect::<Vec<f32>>();
    let inputs = g.inputs.iter().map(|d| value(d.ty.shape.resolve(batch).iter().product())).collect();
    let vars = g.vars.iter().map(|v| value(v.shape.iter().product())).collect();
    (inputs, vars)
}

/// The first two outputs' bits (dk, db).
fn gradients(jit: &mut CompiledGraph, inputs: &[Vec<f32>], vars: &[Vec<f32>], batch: usize) -> Vec<Vec<u32>> {
    let host: Vec<HostInput> = inputs.iter().map(|v| HostInput::F32(v)).collect();
    let mut data = vars.to_vec();
    let mut refs: Vec<&mut [f32]> = data.iter_mut().map(|v| v.as_mut_slice()).collect();
    let out = jit.run(&host, &mut refs, batch).unwrap();
    out.into_iter()
        .take(2)
        .map(|o| match o {
            HostOutput::F32(d, _) => d.iter().map(|v| v.to_bits()).collect(),
            other => panic!("expected an f32 output, got {other:?}"),
        })
        .collect()
}

#[test]
fn kernel_gradients_compute_their_pooling_gradient_image_by_image() {
    if !cpu_has(IsaLevel::Avx512) {
        return;
    }
    let max_2x2 = window((2, 2), (2, 2), Padding::Valid);
    let three = window((3, 3), (1, 1), Padding::Valid);
    let layers = [
        // The image tutorial's first layer, smaller: the threads take 16
        // filters each.
        Layer { hw: (12, 11), c: 1, f: 32, conv: three, relu: true, pool: PoolKind::Max, window: max_2x2 },
        // 48 filters: 32 and 16; no relu, so no mask.
        Layer { hw: (9, 10), c: 1, f: 48, conv: three, relu: false, pool: PoolKind::Max, window: max_2x2 },
        // Three channels, 20 filters (one thread, masked vectors), a strided
        // 2×3 kernel, overlapping `same` windows.
        Layer {
            hw: (13, 14),
            c: 3,
            f: 20,
            conv: window((2, 3), (2, 1), Padding::Valid),
            relu: true,
            pool: PoolKind::Max,
            window: window((3, 3), (2, 2), Padding::Same),
        },
        // Average pooling.
        Layer { hw: (10, 10), c: 2, f: 32, conv: three, relu: true, pool: PoolKind::Avg, window: max_2x2 },
    ];
    let mut rng = StdRng::seed_from_u64(41);
    for (i, l) in layers.iter().enumerate() {
        let (fused, apart) = (graph(l, false), graph(l, true));
        let mut one = compile(&fused, &opts(IsaLevel::Auto, 1)).unwrap();
        let mut two = compile(&fused, &opts(IsaLevel::Auto, 2)).unwrap();
        let mut reference = compile(&apart, &opts(IsaLevel::Auto, 2)).unwrap();
        let plan = one.kernel_plan();
        assert!(plan.contains(FUSED), "layer {i}: the pooling gradient is not moved:\n{plan}");
        assert!(!plan.contains("native max_pool2d_grad") && !plan.contains("native avg_pool2d_grad"), "{plan}");
        assert_eq!(plan.contains("masked where"), l.relu, "layer {i}: the relu's mask:\n{plan}");
        assert!(!reference.kernel_plan().contains(FUSED), "layer {i}: an exposed dy was moved");
        for batch in [1, 3, 8] {
            let (inputs, vars) = args(&mut rng, &fused, batch);
            let want = gradients(&mut reference, &inputs, &vars, batch);
            assert!(gradients(&mut one, &inputs, &vars, batch) == want, "layer {i}, batch {batch}: one thread");
            assert!(gradients(&mut two, &inputs, &vars, batch) == want, "layer {i}, batch {batch}: two threads");
            let values = |v: &[Vec<f32>], shapes: Vec<Vec<usize>>| {
                v.iter()
                    .zip(shapes)
                    .map(|(d, s)| ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&s), d.clone()).unwrap())
                    .collect::<Vec<_>>()
            };
            let input_shapes = fused.inputs.iter().map(|d| d.ty.shape.resolve(batch)).collect();
            let inputs: Vec<Value<f32>> = values(&inputs, input_shapes).into_iter().map(Value::F).collect();
            let vars = values(&vars, fused.vars.iter().map(|v| v.shape.clone()).collect());
            check_run(&fused, &mut one, &inputs, &vars, batch)
                .unwrap_or_else(|e| panic!("layer {i}, batch {batch}, against the interpreter: {e}"));
        }
    }
}

/// A pooling gradient whose result another kernel reads too, or a kernel
/// gradient with many taps, keeps its own kernel.
#[test]
fn pooling_gradients_stay_apart_where_they_must() {
    let max_2x2 = window((2, 2), (2, 2), Padding::Valid);
    let three = window((3, 3), (1, 1), Padding::Valid);
    // Many taps: the column path.
    let wide = Layer { hw: (8, 8), c: 16, f: 16, conv: three, relu: true, pool: PoolKind::Max, window: max_2x2 };
    let plan = compile(&graph(&wide, false), &opts(IsaLevel::Auto, 1)).unwrap().kernel_plan();
    assert!(!plan.contains(FUSED), "144 taps:\n{plan}");
    // The input gradient reads dy too.
    let l = Layer { hw: (8, 8), c: 1, f: 16, conv: three, relu: true, pool: PoolKind::Max, window: max_2x2 };
    let mut g = Graph::new();
    let x = var(&mut g, "x", &[1, l.hw.0, l.hw.1, l.c]);
    let k = var(&mut g, "k", &[3, 3, l.c, l.f]);
    let y = g.push(Op::Conv2d(l.conv), &[x, k]).unwrap();
    let y = g.unary(UnaryOp::Relu, y).unwrap();
    let p = g.push(Op::Pool2d { kind: l.pool, window: l.window }, &[y]).unwrap();
    let loss = g.reduce_sum(p, vec![0, 1, 2, 3], false).unwrap();
    let grads = nn_compiler::autodiff::grad(&mut g, loss, &[x, k]).unwrap();
    g.outputs.push(("dx".into(), grads[0]));
    g.outputs.push(("dk".into(), grads[1]));
    let mut jit = compile(&g, &opts(IsaLevel::Auto, 2)).unwrap();
    assert!(!jit.kernel_plan().contains(FUSED), "dy has another reader:\n{}", jit.kernel_plan());
    let mut rng = StdRng::seed_from_u64(42);
    let (inputs, vars) = super::random_args(&g, 1, &mut rng, 10);
    check_run(&g, &mut jit, &inputs, &vars, 1).unwrap_or_else(|e| panic!("against the interpreter: {e}"));
}
