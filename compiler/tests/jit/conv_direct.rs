//! Convolutions with few taps per output (a first layer) run forward and
//! by the kernel straight from the input on AVX-512, and must give the bits
//! of the column-matrix path they replace: the same FMA chain per element. The column-matrix
//! path is the one the `Avx512Packed` kernel takes. Shapes cover block
//! sizes from 1 to 24 pixels and output rows that do not divide into
//! blocks, filter counts around the 16-lane vector and the 64-filter strip,
//! one to three channels, strides 1–3, and batches split over two threads.
//! A bias (+ relu) epilogue runs on the registers: through the JIT, its
//! output must equal the kernel's result plus the bias (then relu), bit for
//! bit.

use super::{cpu_has, opts, var};
use nn_compiler::codegen::{
    compile, conv2d, conv2d_grad_kernel, ConvGeom, GemmKernel, HostInput, HostOutput, IsaLevel,
};
use nn_compiler::ir::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn data(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The kernel gradient from `x` and `dy`.
fn grad_kernel(kernel: GemmKernel, threads: usize, g: &ConvGeom, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let mut dk = vec![f32::NAN; g.taps() * g.f];
    // SAFETY: the buffers match the geometry.
    unsafe { conv2d_grad_kernel(kernel, threads, g, x.as_ptr(), dy.as_ptr(), dk.as_mut_ptr()) };
    dk
}

/// `conv2d` with `kernel` and `threads`, `valid` padding.
fn run(kernel: GemmKernel, threads: usize, g: &ConvGeom, x: &[f32], k: &[f32]) -> Vec<f32> {
    let mut out = vec![f32::NAN; g.pixels() * g.f];
    // SAFETY: the buffers match the geometry.
    unsafe { conv2d(kernel, threads, false, g, x.as_ptr(), k.as_ptr(), out.as_mut_ptr()) };
    out
}

#[test]
fn few_tap_convolutions_have_the_column_paths_bits() {
    if !cpu_has(IsaLevel::Avx512) {
        return;
    }
    let mut rng = StdRng::seed_from_u64(5);
    let mut cases = 0;
    for (hw, c, size, strides) in [
        ((28, 28), 1, (3, 3), (1, 1)),
        ((9, 31), 1, (3, 3), (1, 1)),
        ((7, 5), 3, (3, 3), (1, 1)),
        ((12, 17), 2, (2, 3), (2, 3)),
        ((10, 11), 1, (5, 5), (3, 1)),
        ((6, 40), 3, (1, 1), (1, 2)),
        ((5, 3), 1, (3, 3), (1, 1)),
    ] {
        for f in [1, 7, 16, 17, 32, 40, 64, 80, 130] {
            for batch in [1, 5] {
                let w = Window { size, strides, padding: Padding::Valid };
                let g = ConvGeom::new(&w, [batch, hw.0, hw.1, c], [size.0, size.1, c, f]);
                let x = data(&mut rng, batch * hw.0 * hw.1 * c);
                let k = data(&mut rng, g.taps() * f);
                let dy = data(&mut rng, g.pixels() * f);
                let columns = run(GemmKernel::Avx512Packed, 1, &g, &x, &k);
                let columns_dk = grad_kernel(GemmKernel::Avx512Packed, 1, &g, &x, &dy);
                for threads in [1, 2] {
                    let what = format!(
                        "{hw:?}x{c} window {size:?} strides {strides:?}, {f} filters, batch {batch}, {threads} threads"
                    );
                    let direct = run(GemmKernel::Avx512, threads, &g, &x, &k);
                    assert!(bits(&direct) == bits(&columns), "forward, {what}");
                    let direct_dk = grad_kernel(GemmKernel::Avx512, threads, &g, &x, &dy);
                    assert!(bits(&direct_dk) == bits(&columns_dk), "kernel gradient, {what}");
                }
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 7 * 9 * 2);
}

/// `act = relu(conv(x, k) + b)` and `pre = conv(x, k) + b` of a one-channel
/// image, each the only output of its graph so the epilogue takes it.
#[test]
fn bias_and_relu_on_the_registers_are_the_epilogues_bits() {
    if !cpu_has(IsaLevel::Avx512) {
        return;
    }
    let w = Window { size: (3, 3), strides: (1, 1), padding: Padding::Valid };
    let f = 40;
    let mut rng = StdRng::seed_from_u64(9);
    for relu in [false, true] {
        let g = conv_bias_graph(w, [15, 27, 1], f, relu);
        for threads in [1, 2] {
            let mut jit = compile(&g, &opts(IsaLevel::Auto, threads)).unwrap();
            let plan = jit.kernel_plan();
            assert!(plan.contains("epilogue ->") && !plan.contains("fused loop"), "not fused:\n{plan}");
            for batch in [1, 6] {
                let geom = ConvGeom::new(&w, [batch, 15, 27, 1], [3, 3, 1, f]);
                let x = data(&mut rng, batch * 15 * 27);
                let mut k = data(&mut rng, 9 * f);
                let mut b = data(&mut rng, f);
                let y = run(GemmKernel::Avx512Packed, 1, &geom, &x, &k);
                let want = plus_bias(&y, &b, relu);
                let mut vars: Vec<&mut [f32]> = vec![&mut k, &mut b];
                let out = jit.run(&[HostInput::F32(&x)], &mut vars, batch).unwrap();
                let HostOutput::F32(got, _) = &out[0] else { panic!("f32 output expected") };
                let first = got.iter().zip(&want).position(|(a, b)| a.to_bits() != b.to_bits());
                assert!(
                    first.is_none(),
                    "relu {relu}, {threads} threads, batch {batch}: element {first:?}: {:?}",
                    first.map(|i| (got[i], want[i]))
                );
            }
        }
    }
}

/// `out = conv(x, k) + b`, then relu if asked, the graph's only output (so
/// the bias and relu become the convolution's epilogue); `x` is `[h, w, c]`.
pub(super) fn conv_bias_graph(w: Window, [h, wd, c]: [usize; 3], f: usize, relu: bool) -> Graph {
    let mut g = Graph::new();
    let x = super::input(&mut g, "x", &[h, wd, c]);
    let k = var(&mut g, "k", &[w.size.0, w.size.1, c, f]);
    let b = var(&mut g, "b", &[f]);
    let y = g.push(Op::Conv2d(w), &[x, k]).unwrap();
    let mut out = g.binary(BinaryOp::Add, y, b).unwrap();
    if relu {
        out = g.unary(UnaryOp::Relu, out).unwrap();
    }
    g.outputs.push(("out".into(), out));
    g
}

/// A convolution's output `y` (`[pixels, F]`) plus the bias, then relu as
/// the generated code computes it (kept where `v > 0` or NaN): the bits the
/// epilogue must produce.
pub(super) fn plus_bias(y: &[f32], bias: &[f32], relu: bool) -> Vec<f32> {
    y.chunks(bias.len())
        .flat_map(|px| px.iter().zip(bias).map(|(v, b)| v + b))
        .map(|v| if relu && v <= 0.0 { 0.0 } else { v })
        .collect()
}
