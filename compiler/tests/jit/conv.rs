//! Convolutions on the GEMM tile against the f64 interpreter: forward,
//! gradient by input and by kernel for strides 1–3 (also unequal), `valid`
//! and `same` padding, 1×1 to 5×5 kernels, one input channel (the first
//! layer of an image model) and odd channel and filter counts, windows
//! read in place (no column matrix), 3×3 stride-1 windows by Winograd,
//! batches 1 and odd; on every ISA level this CPU has; and bit-identical
//! with one and two threads on shapes large enough to split and to need
//! several column or tile chunks.

use super::{cpu_has, levels, opts, var};
use ndarray::{ArrayD, IxDyn};
use nn_compiler::codegen::{compile, conv2d, ConvGeom, GemmKernel, HostInput, HostOutput, IsaLevel};
use nn_compiler::interp;
use nn_compiler::interp::Value;
use nn_compiler::ir::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

struct Case {
    hw: (usize, usize),
    c: usize,
    size: (usize, usize),
    f: usize,
    strides: (usize, usize),
    padding: Padding,
}

/// `y = conv(x, k)`, `gi = dconv/dx(dy, k)`, `gk = dconv/dk(x, dy)` with
/// `dy` an input of the output's shape.
fn graph(c: &Case) -> Graph {
    let w = Window { size: c.size, strides: c.strides, padding: c.padding };
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::f32(Shape::batched(&[c.hw.0, c.hw.1, c.c])), InputRole::Feature);
    let k = var(&mut g, "k", &[c.size.0, c.size.1, c.c, c.f]);
    let y = g.push(Op::Conv2d(w), &[x, k]).unwrap();
    let ys: Vec<usize> = g.shape(y).0[1..].iter().map(|d| d.known().unwrap()).collect();
    let dy = g.add_input("dy", TensorType::f32(Shape::batched(&ys)), InputRole::Feature);
    let xs = g.shape(x).clone();
    let gi = g.push(Op::Conv2dGradInput { window: w, input: xs }, &[dy, k]).unwrap();
    let gk = g.push(Op::Conv2dGradKernel { window: w }, &[x, dy]).unwrap();
    g.outputs.push(("y".into(), y));
    g.outputs.push(("gi".into(), gi));
    g.outputs.push(("gk".into(), gk));
    g
}

fn data(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// The JIT's outputs for the given inputs and kernel.
fn jit_outputs(g: &Graph, isa: IsaLevel, threads: usize, batch: usize, ins: &[Vec<f32>], k: &[f32]) -> Vec<Vec<f32>> {
    let mut jit = compile(g, &opts(isa, threads)).unwrap_or_else(|e| panic!("compile ({isa:?}): {e}"));
    let host: Vec<HostInput> = ins.iter().map(|v| HostInput::F32(v)).collect();
    let mut kd = k.to_vec();
    let out = jit.run(&host, &mut [kd.as_mut_slice()], batch).unwrap();
    out.into_iter()
        .map(|o| match o {
            HostOutput::F32(d, _) => d,
            other => panic!("f32 expected, got {other:?}"),
        })
        .collect()
}

fn check(c: &Case, batch: usize, seed: u64) {
    let g = graph(c);
    let mut rng = StdRng::seed_from_u64(seed);
    let shapes: Vec<Vec<usize>> = g.inputs.iter().map(|d| d.ty.shape.resolve(batch)).collect();
    let ins: Vec<Vec<f32>> = shapes.iter().map(|s| data(&mut rng, s.iter().product())).collect();
    let k = data(&mut rng, c.size.0 * c.size.1 * c.c * c.f);
    let f64s = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
    let inputs: Vec<Value<f64>> =
        ins.iter().zip(&shapes).map(|(v, s)| Value::F(ArrayD::from_shape_vec(IxDyn(s), f64s(v)).unwrap())).collect();
    let kv = ArrayD::from_shape_vec(IxDyn(&[c.size.0, c.size.1, c.c, c.f]), f64s(&k)).unwrap();
    let want = interp::run::<f64>(&g, &inputs, &[kv], batch).unwrap();
    let what = format!(
        "{:?} c={} kernel={:?} f={} strides={:?} {:?} batch {batch}",
        c.hw, c.c, c.size, c.f, c.strides, c.padding
    );
    for isa in levels() {
        let got = jit_outputs(&g, isa, 1, batch, &ins, &k);
        for ((name, _), (got, want)) in g.outputs.iter().zip(got.iter().zip(&want.outputs)) {
            let want: Vec<f64> = want.as_f().unwrap().iter().copied().collect();
            assert_eq!(got.len(), want.len(), "{what} {name}: size");
            let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            for (i, (&a, &b)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (a as f64 - b).abs() <= 1e-5 * scale,
                    "{isa:?}, {what}: {name}[{i}] jit {a}, f64 interpreter {b} (scale {scale})"
                );
            }
        }
    }
}

#[test]
fn conv_variants_match_f64_interpreter() {
    let mut seed = 100;
    for padding in [Padding::Valid, Padding::Same] {
        for strides in [(1, 1), (2, 2), (3, 3), (1, 2), (3, 1)] {
            for (hw, c, size, f) in [
                ((9, 8), 1, (3, 3), 5),
                ((7, 10), 3, (2, 3), 17),
                ((6, 6), 5, (1, 1), 3),
                ((11, 9), 2, (5, 5), 7),
                // `valid` reads the input in place (a window row is 32 floats).
                ((9, 10), 16, (3, 2), 20),
            ] {
                for batch in [1, 3] {
                    seed += 1;
                    check(&Case { hw, c, size, f, strides, padding }, batch, seed);
                }
            }
        }
    }
}

/// 3×3 stride-1 windows with at least 16 channels and filters run by
/// Winograd's algorithm on AVX-512 (forward and gradient by input): odd
/// output sizes (last tiles partly outside), channel and filter counts that
/// are not multiples of 16, both paddings, one and several images. Sums
/// over up to 64 channels take F(4×4, 3×3) (64 is its widest), longer ones
/// F(2×2, 3×3): the last three shapes cover 64 both ways and 65+ in each
/// direction. The other ISA levels compute the same cases directly.
#[test]
fn winograd_shapes_match_f64_interpreter() {
    let mut seed = 300;
    for padding in [Padding::Valid, Padding::Same] {
        for (hw, c, f) in [
            ((8, 8), 16, 16),
            ((9, 7), 17, 33),
            ((5, 6), 20, 18),
            ((4, 3), 16, 40),
            ((7, 9), 64, 64),
            ((6, 5), 80, 24),
            ((5, 7), 24, 96),
        ] {
            for batch in [1, 3] {
                seed += 1;
                check(&Case { hw, c, size: (3, 3), f, strides: (1, 1), padding }, batch, seed);
            }
        }
    }
}

/// Winograd tiles whose last output row or column is not stored skip that
/// row or column of transform positions, and each chunk of tile rows
/// orders its tiles by it: here 29 × 27 outputs (a last tile row of one
/// pixel, a last tile column of three) in chunks of 4 tile rows, so chunks
/// start inside an image; the input gradient has the transposed shape.
#[test]
fn winograd_chunks_starting_inside_an_image_match_f64_interpreter() {
    check(&Case { hw: (31, 29), c: 64, size: (3, 3), f: 64, strides: (1, 1), padding: Padding::Valid }, 2, 330);
}

/// The first layer of the image tutorial (one channel, 32 filters) and its
/// second (32 → 64), at an odd batch: several column chunks per call.
#[test]
fn image_model_layers_match_f64_interpreter() {
    let first = Case { hw: (28, 28), c: 1, size: (3, 3), f: 32, strides: (1, 1), padding: Padding::Valid };
    let second = Case { hw: (13, 13), c: 32, size: (3, 3), f: 64, strides: (1, 1), padding: Padding::Same };
    check(&first, 5, 7);
    check(&second, 3, 8);
    // 11 images: the kernel gradient's column matrix (one channel: stored
    // taps-major) comes in two chunks, the second starting inside a row.
    check(&first, 11, 9);
}

#[test]
fn one_and_two_threads_are_bit_identical() {
    let cases = [
        Case { hw: (13, 13), c: 32, size: (3, 3), f: 64, strides: (1, 1), padding: Padding::Valid },
        Case { hw: (28, 28), c: 1, size: (3, 3), f: 32, strides: (1, 1), padding: Padding::Same },
        Case { hw: (17, 15), c: 33, size: (3, 2), f: 70, strides: (2, 1), padding: Padding::Same },
        // One channel and 49 taps: the kernel gradient splits the taps.
        Case { hw: (28, 28), c: 1, size: (7, 7), f: 16, strides: (1, 1), padding: Padding::Same },
    ];
    for (i, c) in cases.iter().enumerate() {
        let g = graph(c);
        let batch = 9;
        let mut rng = StdRng::seed_from_u64(40 + i as u64);
        let ins: Vec<Vec<f32>> =
            g.inputs.iter().map(|d| data(&mut rng, d.ty.shape.resolve(batch).iter().product())).collect();
        let k = data(&mut rng, c.size.0 * c.size.1 * c.c * c.f);
        let macs = ins[1].len() * c.size.0 * c.size.1 * c.c;
        assert!(macs >= 2_000_000, "case {i} must be large enough to split ({macs} multiply-adds)");
        for isa in [IsaLevel::Auto, IsaLevel::Scalar] {
            if !cpu_has(isa) {
                continue;
            }
            let one = jit_outputs(&g, isa, 1, batch, &ins, &k);
            let two = jit_outputs(&g, isa, 2, batch, &ins, &k);
            for (name, (a, b)) in ["y", "gi", "gk"].iter().zip(one.iter().zip(&two)) {
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert!(bits(a) == bits(b), "case {i}, {isa:?}: {name} differs between one and two threads");
            }
        }
    }
}

/// relu(conv(x, k) + b): the bias and activation run in the convolution's
/// epilogue, match the interpreter on every ISA level and are bit-identical
/// with one and two threads (the pre-activation is an output too).
#[test]
fn conv_epilogue_is_fused_and_matches() {
    let mut g = Graph::new();
    let x = super::input(&mut g, "x", &[13, 13, 32]);
    let k = var(&mut g, "k", &[3, 3, 32, 64]);
    let b = var(&mut g, "b", &[64]);
    let w = Window { size: (3, 3), strides: (1, 1), padding: Padding::Valid };
    let y = g.push(Op::Conv2d(w), &[x, k]).unwrap();
    let pre = g.binary(BinaryOp::Add, y, b).unwrap();
    let act = g.unary(UnaryOp::Relu, pre).unwrap();
    g.outputs.push(("act".into(), act));
    g.outputs.push(("pre".into(), pre));
    let mut rng = StdRng::seed_from_u64(77);
    for isa in levels() {
        let mut one = compile(&g, &opts(isa, 1)).unwrap();
        let mut two = compile(&g, &opts(isa, 2)).unwrap();
        let plan = one.kernel_plan();
        assert!(plan.contains("epilogue ->"), "{isa:?}: bias + relu not fused:\n{plan}");
        assert_eq!(plan.matches("fused loop").count(), 0, "{isa:?}: a separate loop is left:\n{plan}");
        for batch in [1, 9] {
            let (inputs, vars) = super::random_args(&g, batch, &mut rng, 10);
            super::check_run(&g, &mut one, &inputs, &vars, batch).unwrap_or_else(|e| panic!("{isa:?} {batch}: {e}"));
            let host: Vec<HostInput> =
                inputs.iter().map(|v| HostInput::F32(v.as_f().unwrap().as_slice().unwrap())).collect();
            let mut d1: Vec<Vec<f32>> = vars.iter().map(|v| v.iter().copied().collect()).collect();
            let mut d2 = d1.clone();
            let mut r1: Vec<&mut [f32]> = d1.iter_mut().map(|v| v.as_mut_slice()).collect();
            let mut r2: Vec<&mut [f32]> = d2.iter_mut().map(|v| v.as_mut_slice()).collect();
            let bits = |o: Vec<HostOutput>| -> Vec<u32> {
                o.into_iter()
                    .flat_map(|o| match o {
                        HostOutput::F32(d, _) => d.into_iter().map(f32::to_bits).collect::<Vec<_>>(),
                        HostOutput::I32(d, _) => d.into_iter().map(|v| v as u32).collect(),
                    })
                    .collect()
            };
            let o1 = bits(one.run(&host, &mut r1, batch).unwrap());
            let o2 = bits(two.run(&host, &mut r2, batch).unwrap());
            assert!(o1 == o2, "{isa:?} batch {batch}: one and two threads differ");
        }
    }
}

/// A graph that updates variables (a training step) keeps the direct
/// convolution, so training does not change with the algorithm; one that
/// updates none (predict, evaluate) runs 3×3 stride-1 windows by Winograd.
/// Each graph's output has the bits of the kernel it should have used.
#[test]
fn only_graphs_without_updates_use_winograd() {
    if !cpu_has(IsaLevel::Avx512) {
        return;
    }
    let w = Window { size: (3, 3), strides: (1, 1), padding: Padding::Valid };
    let build = |update: bool| {
        let mut g = Graph::new();
        let x = g.add_input("x", TensorType::f32(Shape::batched(&[13, 13, 32])), InputRole::Feature);
        let k = var(&mut g, "k", &[3, 3, 32, 64]);
        let y = g.push(Op::Conv2d(w), &[x, k]).unwrap();
        g.outputs.push(("y".into(), y));
        if update {
            let one = g.scalar(1.0);
            let same = g.binary(BinaryOp::Mul, k, one).unwrap();
            g.updates.push((VarId(0), same));
        }
        g
    };
    let batch = 4;
    let mut rng = StdRng::seed_from_u64(11);
    let x = data(&mut rng, batch * 13 * 13 * 32);
    let k = data(&mut rng, 9 * 32 * 64);
    let geom = ConvGeom::new(&w, [batch, 13, 13, 32], [3, 3, 32, 64]);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let kernel_bits = |winograd: bool| {
        let mut out = vec![0.0f32; geom.pixels() * 64];
        // SAFETY: the buffers match the geometry.
        unsafe { conv2d(GemmKernel::Avx512, 1, winograd, &geom, x.as_ptr(), k.as_ptr(), out.as_mut_ptr()) };
        bits(&out)
    };
    assert_ne!(kernel_bits(true), kernel_bits(false), "the algorithms must round differently for this test to tell");
    for (update, winograd) in [(false, true), (true, false)] {
        let y = &jit_outputs(&build(update), IsaLevel::Auto, 1, batch, std::slice::from_ref(&x), &k)[0];
        assert!(bits(y) == kernel_bits(winograd), "updates: {update}: expected winograd = {winograd}");
    }
}

/// In inference a bias (+ relu) epilogue runs in Winograd's output
/// transform, before the store: the result must be the kernel's output plus
/// the bias (then relu), bit for bit, for both tile sizes (32 channels take
/// F(4×4, 3×3), 80 take F(2×2, 3×3)), one and two threads, partial tiles.
#[test]
fn winograd_bias_and_relu_in_the_output_transform_are_the_epilogues_bits() {
    if !cpu_has(IsaLevel::Avx512) {
        return;
    }
    let w = Window { size: (3, 3), strides: (1, 1), padding: Padding::Valid };
    let mut rng = StdRng::seed_from_u64(21);
    for ((h, wd), c, f) in [((13, 13), 32, 64), ((8, 7), 80, 24)] {
        for relu in [false, true] {
            let g = super::conv_direct::conv_bias_graph(w, [h, wd, c], f, relu);
            for threads in [1, 2] {
                let mut jit = compile(&g, &opts(IsaLevel::Auto, threads)).unwrap();
                for batch in [1, 5] {
                    let geom = ConvGeom::new(&w, [batch, h, wd, c], [3, 3, c, f]);
                    let xs = data(&mut rng, batch * h * wd * c);
                    let mut ks = data(&mut rng, 9 * c * f);
                    let mut bs = data(&mut rng, f);
                    let mut conv = vec![0.0f32; geom.pixels() * f];
                    // SAFETY: the buffers match the geometry.
                    unsafe { conv2d(GemmKernel::Avx512, 1, true, &geom, xs.as_ptr(), ks.as_ptr(), conv.as_mut_ptr()) };
                    let want: Vec<u32> =
                        super::conv_direct::plus_bias(&conv, &bs, relu).into_iter().map(f32::to_bits).collect();
                    let mut vars: Vec<&mut [f32]> = vec![&mut ks, &mut bs];
                    let got = jit.run(&[HostInput::F32(&xs)], &mut vars, batch).unwrap();
                    let HostOutput::F32(got, _) = &got[0] else { panic!("f32 output expected") };
                    let got: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
                    assert!(got == want, "{c} channels, relu {relu}, {threads} threads, batch {batch}");
                }
            }
        }
    }
}
