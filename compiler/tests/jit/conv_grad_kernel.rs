//! The kernel gradient's paths agree bit for bit, and a convolution's bias
//! gradient (the sum of `dy` over its pixels) runs in its pass.
//!
//! - On the AVX-512 tile, split by taps, panels of 6 taps that are
//!   neighbours in the input are read where they lie, and otherwise the
//!   columns are built straight into the tile's panels; either way the
//!   result must be the bits of the row-major column matrix the
//!   `Avx512Packed` kernel contracts (the same chain over the pixels),
//!   across chunk boundaries, tap counts that do not fill the last panel,
//!   padded windows and filter counts around the 16-lane vector and the
//!   64-filter strip.
//! - The sums must be the reduction's bits — each a sum from zero over the
//!   pixels in order — on the few-tap path, the column-matrix path (split
//!   by taps and by filters) and the portable kernels, with one and two
//!   threads, and must leave the kernel gradient's bits alone. Through the
//!   JIT the plan shows the sum inside the kernel gradient, and both
//!   outputs match the interpreter.

use super::{cpu_has, levels, opts};
use nn_compiler::codegen::{
    compile, conv2d_grad_kernel, conv2d_grad_kernel_with, ConvGeom, GemmKernel, HostInput, HostOutput, IsaLevel,
};
use nn_compiler::ir::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const FUSED: &str = "and the sum of dy over its pixels";

/// Values whose sums round differently in another order: small values with
/// a large one now and then.
fn data(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|i| rng.random_range(-1.0f32..1.0) * if i % 7 == 0 { 3e4 } else { 1.0 }).collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The reduction's definition: per filter, from zero, pixel after pixel.
fn sums_in_pixel_order(dy: &[f32], f: usize) -> Vec<f32> {
    let mut sums = vec![0.0f32; f];
    for row in dy.chunks_exact(f) {
        for (s, v) in sums.iter_mut().zip(row) {
            *s += v;
        }
    }
    sums
}

fn kernels() -> Vec<GemmKernel> {
    let mut all = vec![GemmKernel::Scalar, GemmKernel::Packed];
    if cpu_has(IsaLevel::Avx512) {
        all.extend([GemmKernel::Avx512, GemmKernel::Avx512Packed]);
    }
    all
}

#[test]
fn bias_sums_in_the_kernel_gradient_are_the_reductions_bits() {
    let mut rng = StdRng::seed_from_u64(11);
    for (hw, c, size, strides, padding) in [
        // Few taps from the input (on AVX-512), one and two vectors of filters.
        ((28, 28), 1, (3, 3), (1, 1), Padding::Valid),
        ((7, 5), 3, (3, 3), (1, 1), Padding::Valid),
        // Few taps, padded: the column matrix, split by filters.
        ((9, 10), 2, (3, 3), (2, 1), Padding::Same),
        // Many taps: the column matrix, split by taps, dy in several chunks.
        ((13, 13), 32, (3, 3), (1, 1), Padding::Valid),
        ((8, 9), 5, (3, 3), (1, 2), Padding::Same),
        ((11, 7), 7, (2, 3), (2, 1), Padding::Same),
        // Windows inside the image: panels of neighbouring taps read in place
        // (and, where a panel spans two window rows, the built panels).
        ((11, 12), 16, (3, 3), (2, 2), Padding::Valid),
        ((8, 8), 12, (2, 2), (1, 1), Padding::Valid),
        ((9, 10), 5, (3, 3), (1, 1), Padding::Valid),
        ((6, 6), 64, (3, 3), (1, 1), Padding::Same),
    ] {
        for f in [1, 17, 32, 40, 64, 130] {
            for batch in [1, 5] {
                let w = Window { size, strides, padding };
                let g = ConvGeom::new(&w, [batch, hw.0, hw.1, c], [size.0, size.1, c, f]);
                let x = data(&mut rng, batch * hw.0 * hw.1 * c);
                let dy = data(&mut rng, g.pixels() * f);
                let want = sums_in_pixel_order(&dy, f);
                let mut columns = vec![f32::NAN; g.taps() * f];
                if cpu_has(IsaLevel::Avx512) {
                    let dk = columns.as_mut_ptr();
                    // SAFETY: the buffers match the geometry.
                    unsafe { conv2d_grad_kernel(GemmKernel::Avx512Packed, 1, &g, x.as_ptr(), dy.as_ptr(), dk) };
                }
                for kernel in kernels() {
                    for threads in [1, 2] {
                        let what = format!("{hw:?}x{c} {size:?} {strides:?} {padding:?}, {f} filters, batch {batch}, {kernel:?}, {threads} threads");
                        let mut alone = vec![f32::NAN; g.taps() * f];
                        let (mut dk, mut sums) = (vec![f32::NAN; g.taps() * f], vec![f32::NAN; f]);
                        // SAFETY: the buffers match the geometry.
                        unsafe {
                            conv2d_grad_kernel(kernel, threads, &g, x.as_ptr(), dy.as_ptr(), alone.as_mut_ptr());
                            let s = Some(sums.as_mut_ptr());
                            conv2d_grad_kernel_with(kernel, threads, &g, x.as_ptr(), dy.as_ptr(), dk.as_mut_ptr(), s);
                        }
                        assert!(bits(&sums) == bits(&want), "sums, {what}");
                        assert!(bits(&dk) == bits(&alone), "kernel gradient, {what}");
                        if kernel == GemmKernel::Avx512 {
                            assert!(bits(&dk) == bits(&columns), "the column matrix's bits, {what}");
                        }
                    }
                }
            }
        }
    }
}

/// `dk = conv2d_grad_kernel(x, dy)` and `db = sum(dy)` over the pixels.
fn graph(hw: (usize, usize), c: usize, f: usize, window: Window, axes: Vec<usize>) -> Graph {
    let mut g = Graph::new();
    let x = super::input(&mut g, "x", &[hw.0, hw.1, c]);
    let probe = ConvGeom::new(&window, [1, hw.0, hw.1, c], [window.size.0, window.size.1, c, f]);
    let dy = super::input(&mut g, "dy", &[probe.oh, probe.ow, f]);
    let dk = g.push(Op::Conv2dGradKernel { window }, &[x, dy]).unwrap();
    let db = g.push(Op::Reduce { op: ReduceOp::Sum, axes, keep_dims: false }, &[dy]).unwrap();
    g.outputs.push(("dk".into(), dk));
    g.outputs.push(("db".into(), db));
    g
}

#[test]
fn the_plan_sums_dy_in_the_kernel_gradients_pass() {
    let window = Window { size: (3, 3), strides: (1, 1), padding: Padding::Valid };
    let mut rng = StdRng::seed_from_u64(12);
    for (hw, c, f) in [((12, 11), 1, 32), ((9, 8), 16, 24)] {
        let g = graph(hw, c, f, window, vec![0, 1, 2]);
        for isa in levels() {
            for threads in [1, 2] {
                let mut jit = compile(&g, &opts(isa, threads)).unwrap();
                let plan = jit.kernel_plan();
                assert!(plan.contains(FUSED), "{hw:?}x{c}, {isa:?}: the sum is not fused:\n{plan}");
                assert!(!plan.contains("reduce_sum"), "{hw:?}x{c}, {isa:?}: a separate sum is left:\n{plan}");
                for batch in [1, 3] {
                    let (inputs, vars) = super::random_args(&g, batch, &mut rng, 10);
                    super::check_run(&g, &mut jit, &inputs, &vars, batch)
                        .unwrap_or_else(|e| panic!("{hw:?}x{c}, {isa:?}, batch {batch}: {e}"));
                    let host: Vec<HostInput> =
                        inputs.iter().map(|v| HostInput::F32(v.as_f().unwrap().as_slice().unwrap())).collect();
                    let out = jit.run(&host, &mut [], batch).unwrap();
                    let Some(HostOutput::F32(db, _)) = out.into_iter().nth(1) else { panic!("db is not f32") };
                    let dy = inputs[1].as_f().unwrap().as_slice().unwrap();
                    assert!(bits(&db) == bits(&sums_in_pixel_order(dy, f)), "{hw:?}x{c}, {isa:?}, batch {batch}");
                }
            }
        }
    }
    // A sum over other axes is another reduction and stays apart.
    let g = graph((6, 6), 2, 8, window, vec![0, 1]);
    let plan = compile(&g, &opts(IsaLevel::Auto, 1)).unwrap().kernel_plan();
    assert!(!plan.contains(FUSED), "a sum over [0, 1] was fused:\n{plan}");
}
