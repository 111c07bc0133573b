//! Contraction kernels on the W1/W2 shapes (single call, f32, row-major):
//! the packed `matrixmultiply` path the JIT uses against the scalar fallback,
//! one and two threads. Numbers go to docs/performance.md.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use nn_compiler::codegen::{cpu_has, sgemm, GemmKernel, IsaLevel, Mat};
use std::hint::black_box;

/// (m, k, n, transpose_a)
const SHAPES: [(usize, usize, usize, bool); 4] =
    [(32, 784, 128, false), (784, 32, 128, true), (32, 128, 10, false), (128, 784, 512, false)];

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sgemm");
    for &(m, k, n, ta) in &SHAPES {
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7 % 13) as f32 - 6.0) / 13.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 5 % 11) as f32 - 5.0) / 11.0).collect();
        let mut out = vec![0.0f32; m * n];
        let am = if ta {
            Mat { ptr: a.as_ptr(), rs: 1, cs: m as isize }
        } else {
            Mat { ptr: a.as_ptr(), rs: k as isize, cs: 1 }
        };
        let bm = Mat { ptr: b.as_ptr(), rs: n as isize, cs: 1 };
        let name = format!("{m}x{k}x{n}{}", if ta { "_ta" } else { "" });
        for (kernel, threads, label) in
            [(GemmKernel::Packed, 1, "packed_1t"), (GemmKernel::Avx512, 1, "avx512_1t"), (GemmKernel::Packed, 2, "packed_2t"), (GemmKernel::Scalar, 1, "scalar")]
        {
            if kernel == GemmKernel::Avx512 && !cpu_has(IsaLevel::Avx512) {
                continue;
            }
            g.bench_with_input(BenchmarkId::new(label, &name), &(), |bch, _| {
                // SAFETY: buffers match the shapes and strides above.
                bch.iter(|| unsafe { sgemm(kernel, threads, m, k, n, am, bm, black_box(out.as_mut_ptr()), n) })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
