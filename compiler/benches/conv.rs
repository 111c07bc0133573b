//! Convolution kernels on the image tutorial's shapes (batch 64, NHWC,
//! 3×3 kernels, `valid`): forward, gradient by input and by kernel, one and
//! two threads, on the AVX-512 tile (directly and, for the forward and input
//! gradient, by Winograd's algorithm: F(4×4, 3×3) for these channel counts)
//! and on `matrixmultiply`. Numbers go to docs/performance.md.
//!
//! `cargo bench -p nn-compiler --bench conv [-- filter]`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use nn_compiler::codegen::{conv2d, conv2d_grad_input, conv2d_grad_kernel, cpu_has, ConvGeom, GemmKernel, IsaLevel};
use nn_compiler::ir::{Padding, Window};
use std::hint::black_box;
use std::time::Duration;

/// (input [N, H, W, C], filters, what it is)
const SHAPES: [([usize; 4], usize, &str); 2] = [([64, 28, 28, 1], 32, "conv1"), ([64, 13, 13, 32], 64, "conv2")];

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("conv");
    g.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1)).sample_size(20);
    let window = Window { size: (3, 3), strides: (1, 1), padding: Padding::Valid };
    for &(input, f, what) in &SHAPES {
        let geom = ConvGeom::new(&window, input, [3, 3, input[3], f]);
        let x: Vec<f32> = (0..input.iter().product()).map(|i: usize| ((i * 7 % 13) as f32 - 6.0) / 13.0).collect();
        let k: Vec<f32> = (0..geom.taps() * f).map(|i| ((i * 5 % 11) as f32 - 5.0) / 11.0).collect();
        let dy: Vec<f32> = (0..geom.pixels() * f).map(|i| ((i * 3 % 7) as f32 - 3.0) / 7.0).collect();
        let mut out = vec![0.0f32; geom.pixels() * f];
        let mut dx = vec![0.0f32; x.len()];
        let mut dk = vec![0.0f32; k.len()];
        let configs = [
            (GemmKernel::Avx512, 1, false, "tile_1t"),
            (GemmKernel::Avx512, 2, false, "tile_2t"),
            (GemmKernel::Avx512, 1, true, "winograd_1t"),
            (GemmKernel::Avx512, 2, true, "winograd_2t"),
            (GemmKernel::Packed, 1, false, "matrixmultiply_1t"),
        ];
        for (kernel, threads, winograd, label) in configs {
            if kernel != GemmKernel::Packed && !cpu_has(IsaLevel::Avx512) {
                continue;
            }
            // SAFETY (all three): buffers match the geometry.
            g.bench_with_input(BenchmarkId::new(label, format!("{what}_fwd")), &(), |b, _| {
                b.iter(|| unsafe {
                    conv2d(kernel, threads, winograd, &geom, x.as_ptr(), k.as_ptr(), black_box(out.as_mut_ptr()))
                })
            });
            g.bench_with_input(BenchmarkId::new(label, format!("{what}_dx")), &(), |b, _| {
                b.iter(|| unsafe {
                    conv2d_grad_input(
                        kernel,
                        threads,
                        winograd,
                        &geom,
                        dy.as_ptr(),
                        k.as_ptr(),
                        black_box(dx.as_mut_ptr()),
                    )
                })
            });
            g.bench_with_input(BenchmarkId::new(label, format!("{what}_dw")), &(), |b, _| {
                b.iter(|| unsafe {
                    conv2d_grad_kernel(kernel, threads, &geom, x.as_ptr(), dy.as_ptr(), black_box(dk.as_mut_ptr()))
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
