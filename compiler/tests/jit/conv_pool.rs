//! A pooling that is the only reader of a convolution's result runs image
//! by image inside the convolution's kernel, in graphs that only run
//! forward. The plan shows it; the outputs are bit for bit those of the
//! batched kernels (the same graph with the convolution's result also an
//! output, which keeps the two kernels apart) and match the interpreter,
//! with one and two threads and odd batches. A pooled value with another
//! reader keeps two kernels. On AVX-512 a 2×2 stride-2 max pooling runs in
//! the registers of a Winograd or few-tap convolution instead
//! (`conv_pool_registers.rs`).

use super::{cpu_has, levels, opts, var};
use nn_compiler::codegen::{compile, HostInput, HostOutput, IsaLevel};
use nn_compiler::ir::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

const FUSED: &str = "then image by image";
/// How the plan shows a pooling done in Winograd's output transform.
pub(super) const IN_TRANSFORM: &str = "pooled in the output transform";
/// How the plan shows a pooling done in a few-tap convolution's registers.
pub(super) const IN_REGISTERS: &str = "pooled in registers";

pub(super) struct Layer {
    pub hw: (usize, usize),
    pub c: usize,
    pub f: usize,
    pub conv: Window,
    pub bias_relu: bool,
    pub pool: PoolKind,
    pub window: Window,
}

/// `pool(relu(conv(x, k) + b))` (or `pool(conv(x, k))`); with `expose`,
/// the pooled value is an output too.
pub(super) fn graph(l: &Layer, expose: bool) -> Graph {
    let mut g = Graph::new();
    let x = super::input(&mut g, "x", &[l.hw.0, l.hw.1, l.c]);
    let k = var(&mut g, "k", &[l.conv.size.0, l.conv.size.1, l.c, l.f]);
    let mut y = g.push(Op::Conv2d(l.conv), &[x, k]).unwrap();
    if l.bias_relu {
        let b = var(&mut g, "b", &[l.f]);
        let pre = g.binary(BinaryOp::Add, y, b).unwrap();
        y = g.unary(UnaryOp::Relu, pre).unwrap();
    }
    let p = g.push(Op::Pool2d { kind: l.pool, window: l.window }, &[y]).unwrap();
    g.outputs.push(("pooled".into(), p));
    if expose {
        g.outputs.push(("value".into(), y));
    }
    g
}

pub(super) fn window(size: (usize, usize), strides: (usize, usize), padding: Padding) -> Window {
    Window { size, strides, padding }
}

/// The first output's bits.
fn first_bits(out: Vec<HostOutput>) -> Vec<u32> {
    match out.into_iter().next() {
        Some(HostOutput::F32(d, _)) => d.into_iter().map(f32::to_bits).collect(),
        other => panic!("expected an f32 output, got {other:?}"),
    }
}

#[test]
fn pooling_runs_image_by_image_with_its_convolution() {
    let layers = [
        // The image tutorial's first layer, smaller (on AVX-512 its
        // registers pool).
        Layer {
            hw: (12, 11),
            c: 1,
            f: 32,
            conv: window((3, 3), (1, 1), Padding::Valid),
            bias_relu: true,
            pool: PoolKind::Max,
            window: window((2, 2), (2, 2), Padding::Valid),
        },
        // Strided, padded, no epilogue, overlapping average windows.
        Layer {
            hw: (9, 10),
            c: 3,
            f: 20,
            conv: window((2, 3), (1, 2), Padding::Same),
            bias_relu: false,
            pool: PoolKind::Avg,
            window: window((3, 3), (2, 2), Padding::Same),
        },
    ];
    let mut rng = StdRng::seed_from_u64(5);
    for (i, layer) in layers.iter().enumerate() {
        let (fused, apart) = (graph(layer, false), graph(layer, true));
        for isa in levels() {
            let mut one = compile(&fused, &opts(isa, 1)).unwrap();
            let mut two = compile(&fused, &opts(isa, 2)).unwrap();
            let mut reference = compile(&apart, &opts(isa, 2)).unwrap();
            let plan = one.kernel_plan();
            let avx512 = matches!(isa, IsaLevel::Auto | IsaLevel::Avx512) && cpu_has(IsaLevel::Avx512);
            let how = if i == 0 && avx512 { IN_REGISTERS } else { FUSED };
            assert!(plan.contains(how), "layer {i}, {isa:?}: the pooling is not fused:\n{plan}");
            let apart = reference.kernel_plan();
            assert!(
                !apart.contains(FUSED) && !apart.contains(IN_REGISTERS),
                "layer {i}, {isa:?}: an exposed value was fused"
            );
            for batch in [1, 3, 9] {
                let (inputs, vars) = super::random_args(&fused, batch, &mut rng, 10);
                super::check_run(&fused, &mut one, &inputs, &vars, batch)
                    .unwrap_or_else(|e| panic!("layer {i}, {isa:?}, batch {batch}: {e}"));
                let host: Vec<HostInput> =
                    inputs.iter().map(|v| HostInput::F32(v.as_f().unwrap().as_slice().unwrap())).collect();
                let run = |jit: &mut nn_compiler::codegen::CompiledGraph| {
                    let mut data: Vec<Vec<f32>> = vars.iter().map(|v| v.iter().copied().collect()).collect();
                    let mut refs: Vec<&mut [f32]> = data.iter_mut().map(|v| v.as_mut_slice()).collect();
                    first_bits(jit.run(&host, &mut refs, batch).unwrap())
                };
                let want = run(&mut reference);
                assert!(
                    run(&mut one) == want,
                    "layer {i}, {isa:?}, batch {batch}: one thread differs from the batched kernels"
                );
                assert!(
                    run(&mut two) == want,
                    "layer {i}, {isa:?}, batch {batch}: two threads differ from the batched kernels"
                );
            }
        }
    }
}

/// In a training step the pooling's gradient reads the pooled value too;
/// a convolution over a fixed stack of images has no batch to split; a 3×3
/// stride-1 convolution over 16+ channels runs by Winograd with its whole
/// batch (on AVX-512), its 2×2 max pooling in the output transform.
#[test]
fn pooling_stays_apart_where_it_must() {
    let layer = Layer {
        hw: (8, 8),
        c: 2,
        f: 8,
        conv: window((3, 3), (1, 1), Padding::Valid),
        bias_relu: true,
        pool: PoolKind::Max,
        window: window((2, 2), (2, 2), Padding::Valid),
    };
    let mut g = graph(&layer, false);
    let pooled = g.outputs[0].1;
    let kernel =
        (0..g.nodes.len() as u32).map(NodeId).find(|&n| matches!(g.node(n).op, Op::Var(v) if v.index() == 0)).unwrap();
    let loss = g.reduce_sum(pooled, vec![0, 1, 2, 3], false).unwrap();
    let grads = nn_compiler::autodiff::grad(&mut g, loss, &[kernel]).unwrap();
    g.updates.push((VarId(0), grads[0]));
    let plan = compile(&g, &opts(IsaLevel::Auto, 1)).unwrap().kernel_plan();
    let fused = [FUSED, IN_TRANSFORM, IN_REGISTERS].iter().any(|how| plan.contains(how));
    assert!(!fused, "fused in a training step:\n{plan}");

    // A fixed stack of two images, whatever the batch size.
    let mut stack = Graph::new();
    let x = stack.add_input("x", TensorType::f32(Shape::known(&[2, 8, 8, 2])), InputRole::Feature);
    let k = var(&mut stack, "k", &[3, 3, 2, 8]);
    let y = stack.push(Op::Conv2d(layer.conv), &[x, k]).unwrap();
    let p = stack.push(Op::Pool2d { kind: layer.pool, window: layer.window }, &[y]).unwrap();
    stack.outputs.push(("pooled".into(), p));
    let mut jit = compile(&stack, &opts(IsaLevel::Auto, 2)).unwrap();
    let plan = jit.kernel_plan();
    assert!(!plan.contains(FUSED) && !plan.contains(IN_REGISTERS), "fused over a fixed stack:\n{plan}");
    let mut rng = StdRng::seed_from_u64(8);
    for batch in [1, 5] {
        let (inputs, vars) = super::random_args(&stack, batch, &mut rng, 10);
        super::check_run(&stack, &mut jit, &inputs, &vars, batch)
            .unwrap_or_else(|e| panic!("fixed stack, batch {batch}: {e}"));
    }

    if cpu_has(IsaLevel::Avx512) {
        let wide = Layer { c: 16, f: 16, ..layer };
        let plan = compile(&graph(&wide, false), &opts(IsaLevel::Avx512, 1)).unwrap().kernel_plan();
        assert!(!plan.contains(FUSED), "image by image with a Winograd convolution:\n{plan}");
        assert!(plan.contains(IN_TRANSFORM), "the Winograd convolution does not pool:\n{plan}");
    }
}
