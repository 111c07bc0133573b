//! Contraction kernels on the W1/W2/predict shapes (single call, f32,
//! row-major C): the kernels the JIT can pick, one and two threads, against
//! `matrixmultiply`. Numbers go to docs/performance.md.
//!
//! `cargo bench -p nn-compiler --bench gemm [-- filter]`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use nn_compiler::codegen::{cpu_has, sgemm, GemmKernel, IsaLevel, Mat};
use std::hint::black_box;
use std::time::Duration;

/// (m, k, n, transpose A, transpose B, what it is)
const SHAPES: [(usize, usize, usize, bool, bool, &str); 13] = [
    (6, 128, 64, false, false, "l1_tile"),
    (96, 128, 64, false, false, "l1_block"),
    (6, 784, 512, false, false, "packcost"),
    (6, 256, 512, false, true, "packcost_t"),
    (32, 784, 128, false, false, "w1_fwd"),
    (784, 32, 128, true, false, "w1_dw"),
    (32, 128, 10, false, false, "w1_out"),
    (128, 784, 512, false, false, "w2_fwd1"),
    (784, 128, 512, true, false, "w2_dw1"),
    (128, 512, 256, false, false, "w2_fwd2"),
    (128, 256, 512, false, true, "w2_dx2"),
    (512, 128, 256, true, false, "w2_dw2"),
    (10000, 784, 128, false, false, "predict"),
];

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sgemm");
    g.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1)).sample_size(20);
    for &(m, k, n, ta, tb, what) in &SHAPES {
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7 % 13) as f32 - 6.0) / 13.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 5 % 11) as f32 - 5.0) / 11.0).collect();
        let mut out = vec![0.0f32; m * n];
        let am = if ta {
            Mat { ptr: a.as_ptr(), rs: 1, cs: m as isize }
        } else {
            Mat { ptr: a.as_ptr(), rs: k as isize, cs: 1 }
        };
        let bm = if tb {
            Mat { ptr: b.as_ptr(), rs: 1, cs: k as isize }
        } else {
            Mat { ptr: b.as_ptr(), rs: n as isize, cs: 1 }
        };
        let name = format!("{what}_{m}x{k}x{n}{}{}", if ta { "_ta" } else { "" }, if tb { "_tb" } else { "" });
        let configs = [
            (GemmKernel::Avx512, 1, "auto_1t"),
            (GemmKernel::Avx512, 2, "auto_2t"),
            (GemmKernel::Avx512Direct, 1, "direct_1t"),
            (GemmKernel::Avx512Packed, 1, "packed_1t"),
            (GemmKernel::Packed, 1, "matrixmultiply_1t"),
        ];
        for (kernel, threads, label) in configs {
            if kernel != GemmKernel::Packed && !cpu_has(IsaLevel::Avx512) {
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
