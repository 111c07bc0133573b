//! The contraction kernels on their own: every kernel the JIT can pick, on
//! shapes that cross every tile, strip, block and split boundary, with each
//! operand plain or transposed, against an f64 product; and the AVX-512
//! variants (B read in place or packed, one or two threads) bit-identical to
//! each other, because each element is one FMA chain over k in order.

use nn_compiler::codegen::{cpu_has, sgemm, GemmKernel, IsaLevel, Mat};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

struct Case {
    m: usize,
    k: usize,
    n: usize,
    ta: bool,
    tb: bool,
}

/// Runs one kernel; C has a padded row stride whose padding must survive.
fn run(kernel: GemmKernel, threads: usize, c: &Case, a: &[f32], b: &[f32]) -> Vec<f32> {
    let am = if c.ta {
        Mat { ptr: a.as_ptr(), rs: 1, cs: c.m as isize }
    } else {
        Mat { ptr: a.as_ptr(), rs: c.k as isize, cs: 1 }
    };
    let bm = if c.tb {
        Mat { ptr: b.as_ptr(), rs: 1, cs: c.k as isize }
    } else {
        Mat { ptr: b.as_ptr(), rs: c.n as isize, cs: 1 }
    };
    let rsc = c.n + 3;
    let mut out = vec![f32::NAN; c.m * rsc];
    // SAFETY: a holds m×k, b holds k×n, out holds m rows of rsc ≥ n; disjoint.
    unsafe { sgemm(kernel, threads, c.m, c.k, c.n, am, bm, out.as_mut_ptr(), rsc) };
    for (i, row) in out.chunks(rsc).enumerate() {
        assert!(row[c.n..].iter().all(|x| x.is_nan()), "{kernel:?} wrote past column {} of row {i}", c.n);
    }
    out.chunks(rsc).flat_map(|row| row[..c.n].to_vec()).collect()
}

fn check_against_f64(what: &str, c: &Case, a: &[f32], b: &[f32], got: &[f32]) {
    let at = |i: usize, p: usize| if c.ta { a[p * c.m + i] } else { a[i * c.k + p] };
    let bt = |p: usize, j: usize| if c.tb { b[j * c.k + p] } else { b[p * c.n + j] };
    for i in 0..c.m {
        for j in 0..c.n {
            let want: f64 = (0..c.k).map(|p| at(i, p) as f64 * bt(p, j) as f64).sum();
            let g = got[i * c.n + j] as f64;
            assert!(
                (g - want).abs() <= 1e-5 * (c.k as f64).sqrt() * (1.0 + want.abs()),
                "{what} [{i},{j}]: {g} vs {want}"
            );
        }
    }
}

#[test]
fn every_kernel_matches_f64_on_boundary_shapes() {
    let mut rng = StdRng::seed_from_u64(11);
    let kernels: Vec<(GemmKernel, IsaLevel)> = vec![
        (GemmKernel::Scalar, IsaLevel::Scalar),
        (GemmKernel::Packed, IsaLevel::Avx2),
        (GemmKernel::Avx512, IsaLevel::Avx512),
        (GemmKernel::Avx512Direct, IsaLevel::Avx512),
        (GemmKernel::Avx512Packed, IsaLevel::Avx512),
    ];
    let kernels: Vec<GemmKernel> = kernels.into_iter().filter(|(_, l)| cpu_has(*l)).map(|(k, _)| k).collect();
    // Rows around the 6-row tile and 96-row block, depths around the
    // 128-deep block and the 16-row transpose, widths around 16/64 columns.
    let shapes = [
        (1, 1, 1),
        (5, 3, 17),
        (6, 16, 64),
        (7, 127, 65),
        (13, 129, 130),
        (97, 257, 47),
        (100, 33, 200),
        (200, 300, 129),
        (40, 784, 128),
    ];
    for &(m, k, n) in &shapes {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let case = Case { m, k, n, ta, tb };
            let a: Vec<f32> = (0..m * k).map(|_| rng.random_range(-1.0..1.0)).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rng.random_range(-1.0..1.0)).collect();
            let mut avx512: Option<Vec<f32>> = None;
            for &kernel in &kernels {
                for threads in [1, 2] {
                    let what = format!("{kernel:?} {threads}t {m}x{k}x{n} ta={ta} tb={tb}");
                    let got = run(kernel, threads, &case, &a, &b);
                    check_against_f64(&what, &case, &a, &b, &got);
                    if matches!(kernel, GemmKernel::Avx512 | GemmKernel::Avx512Direct | GemmKernel::Avx512Packed) {
                        match &avx512 {
                            None => avx512 = Some(got),
                            Some(first) => assert!(
                                first.iter().zip(&got).all(|(x, y)| x.to_bits() == y.to_bits()),
                                "{what}: AVX-512 variants differ in bits"
                            ),
                        }
                    }
                }
            }
        }
    }
}

/// Large enough to split over two threads by columns (n ≥ 128) and by rows.
#[test]
fn split_contractions_are_bit_identical_to_one_thread() {
    let mut rng = StdRng::seed_from_u64(12);
    for &(m, k, n) in &[(128, 784, 512), (784, 128, 64), (300, 200, 130)] {
        let case = Case { m, k, n, ta: false, tb: false };
        let a: Vec<f32> = (0..m * k).map(|_| rng.random_range(-1.0..1.0)).collect();
        let b: Vec<f32> = (0..k * n).map(|_| rng.random_range(-1.0..1.0)).collect();
        for kernel in [GemmKernel::Avx512, GemmKernel::Packed, GemmKernel::Scalar] {
            let level = match kernel {
                GemmKernel::Scalar => IsaLevel::Scalar,
                GemmKernel::Packed => IsaLevel::Avx2,
                _ => IsaLevel::Avx512,
            };
            if !cpu_has(level) {
                continue;
            }
            let one = run(kernel, 1, &case, &a, &b);
            let two = run(kernel, 2, &case, &a, &b);
            assert!(
                one.iter().zip(&two).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{kernel:?} {m}x{k}x{n}: threads change bits"
            );
        }
    }
}
