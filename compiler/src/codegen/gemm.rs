//! Contractions: `C = A · B` for row/column-strided f32 matrices.
//!
//! Decision (measured, see docs/performance.md): Cranelift emits at most
//! 128-bit vectors, so the contraction is a native kernel the generated code
//! calls. On AVX-512 machines, products whose right operand fits in L2 (all
//! of an MLP's) use an own register-tiled AVX-512 kernel; the rest use the
//! `matrixmultiply` crate, which picks AVX-512 / AVX2+FMA / SSE2 at run time.
//! Both take arbitrary strides for A, so transposed operands cost nothing.
//! `Scalar` is a plain loop nest for machines (and tests) without SIMD.
//!
//! Splitting over two threads cuts the rows of C in two fixed halves; each
//! element's sum is computed the same way whichever thread computes it, so
//! the result does not depend on the thread count.

use super::{pool, CodegenError, IsaLevel};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmKernel {
    /// Portable loops, no SIMD.
    Scalar,
    /// `matrixmultiply` with its run-time CPU dispatch.
    Packed,
    /// Own AVX-512 register-tiled kernel (no packing) where the right
    /// operand has unit column stride; `Packed` otherwise.
    Avx512,
}

/// The SIMD level code is generated for, checked against this CPU.
pub fn resolve_isa(level: IsaLevel) -> Result<GemmKernel, CodegenError> {
    match level {
        IsaLevel::Scalar => Ok(GemmKernel::Scalar),
        IsaLevel::Auto => Ok(if cpu_has(IsaLevel::Avx512) { GemmKernel::Avx512 } else { GemmKernel::Packed }),
        IsaLevel::Avx2 | IsaLevel::Avx512 => {
            if cpu_has(level) {
                Ok(if level == IsaLevel::Avx512 { GemmKernel::Avx512 } else { GemmKernel::Packed })
            } else {
                Err(CodegenError::Unsupported(format!(
                    "this CPU does not support {level:?}; use IsaLevel::Auto"
                )))
            }
        }
    }
}

pub fn cpu_has(level: IsaLevel) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        match level {
            IsaLevel::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            IsaLevel::Avx2 => std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"),
            IsaLevel::Auto | IsaLevel::Scalar => true,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        matches!(level, IsaLevel::Auto | IsaLevel::Scalar)
    }
}

/// Work below this many multiply-adds stays on one thread: waking the
/// worker costs a few microseconds. 2 M lets every W1 contraction (3.2 M,
/// ≈ 45 µs on one core) split; `pool::join` takes an unstarted half back,
/// so a busy machine degrades to one thread (docs/performance.md).
const SPLIT_MIN_MACS: usize = 2_000_000;

/// Largest right operand (elements) for the unpacked AVX-512 kernel: it
/// streams B once per 6 rows of C, which pays only while B stays in L2
/// (measured: faster up to 784×128, slower at 784×512; docs/performance.md).
const DIRECT_MAX_B: usize = 128 * 1024;

/// A matrix operand: base pointer, row stride and column stride (elements).
#[derive(Clone, Copy)]
pub struct Mat {
    pub ptr: *const f32,
    pub rs: isize,
    pub cs: isize,
}

/// `c[m×n] (row-major, row stride rsc) = a[m×k] · b[k×n]`.
///
/// # Safety
/// The pointers must cover every element the strides reach, and `c` must
/// not overlap `a` or `b`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm(kernel: GemmKernel, threads: usize, m: usize, k: usize, n: usize, a: Mat, b: Mat, c: *mut f32, rsc: usize) {
    if m == 0 || n == 0 {
        return;
    }
    if threads >= 2 && m >= 16 && m * k * n >= SPLIT_MIN_MACS {
        let half = (m / 2).div_ceil(8) * 8;
        let c_addr = c as usize;
        let (a_addr, b_addr) = (a.ptr as usize, b.ptr as usize);
        let (ars, acs, brs, bcs) = (a.rs, a.cs, b.rs, b.cs);
        let part = |lo: usize, hi: usize| {
            let a2 = Mat { ptr: (a_addr as *const f32).wrapping_offset(lo as isize * ars), rs: ars, cs: acs };
            let b2 = Mat { ptr: b_addr as *const f32, rs: brs, cs: bcs };
            // SAFETY: disjoint row ranges of C; A and B are only read.
            unsafe { single(kernel, hi - lo, k, n, a2, b2, (c_addr as *mut f32).add(lo * rsc), rsc) }
        };
        pool::join(&|| part(0, half), &|| part(half, m));
        return;
    }
    single(kernel, m, k, n, a, b, c, rsc);
}

#[allow(clippy::too_many_arguments)]
unsafe fn single(kernel: GemmKernel, m: usize, k: usize, n: usize, a: Mat, b: Mat, c: *mut f32, rsc: usize) {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        GemmKernel::Avx512 if b.cs == 1 && k * n <= DIRECT_MAX_B => avx512::gemm(m, k, n, a, b, c, rsc),
        GemmKernel::Packed | GemmKernel::Avx512 => {
            matrixmultiply::sgemm(m, k, n, 1.0, a.ptr, a.rs, a.cs, b.ptr, b.rs, b.cs, 0.0, c, rsc as isize, 1);
        }
        GemmKernel::Scalar => {
            for i in 0..m {
                let crow = c.add(i * rsc);
                for j in 0..n {
                    *crow.add(j) = 0.0;
                }
                for p in 0..k {
                    let av = *a.ptr.offset(i as isize * a.rs + p as isize * a.cs);
                    let brow = b.ptr.offset(p as isize * b.rs);
                    for j in 0..n {
                        *crow.add(j) += av * *brow.offset(j as isize * b.cs);
                    }
                }
            }
        }
    }
}

/// `C = A·B` with B's rows contiguous: 6 rows × up to 64 columns of C live
/// in 24 zmm accumulators while k streams by; A is read by broadcast, so any
/// strides (a transposed A included) work without packing. Each C element
/// is one FMA chain over k in order, whatever the tiling or thread split.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::Mat;
    use std::arch::x86_64::*;

    const MR: usize = 6;

    /// # Safety
    /// The CPU supports AVX-512F; pointers cover the strided operands.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn gemm(m: usize, k: usize, n: usize, a: Mat, b: Mat, c: *mut f32, rsc: usize) {
        let mut j = 0;
        while j < n {
            let w = (n - j).min(64);
            let mut i = 0;
            while i + MR <= m {
                by_width::<MR>(i, j, w, k, a, b, c, rsc);
                i += MR;
            }
            // The last 1–5 rows in one tile, so B streams once more, not per row.
            match m - i {
                0 => {}
                1 => by_width::<1>(i, j, w, k, a, b, c, rsc),
                2 => by_width::<2>(i, j, w, k, a, b, c, rsc),
                3 => by_width::<3>(i, j, w, k, a, b, c, rsc),
                4 => by_width::<4>(i, j, w, k, a, b, c, rsc),
                _ => by_width::<5>(i, j, w, k, a, b, c, rsc),
            }
            j += 64;
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    unsafe fn by_width<const R: usize>(i: usize, j: usize, w: usize, k: usize, a: Mat, b: Mat, c: *mut f32, rsc: usize) {
        match w.div_ceil(16) {
            1 => tile::<R, 1>(i, j, w, k, a, b, c, rsc),
            2 => tile::<R, 2>(i, j, w, k, a, b, c, rsc),
            3 => tile::<R, 3>(i, j, w, k, a, b, c, rsc),
            _ => tile::<R, 4>(i, j, w, k, a, b, c, rsc),
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn tile<const R: usize, const V: usize>(i: usize, j: usize, w: usize, k: usize, a: Mat, b: Mat, c: *mut f32, rsc: usize) {
        let mut masks = [0xffffu16; V];
        let last = w - (V - 1) * 16;
        masks[V - 1] = if last >= 16 { 0xffff } else { (1u16 << last) - 1 };
        let mut acc = [[_mm512_setzero_ps(); V]; R];
        let arow = a.ptr.offset(i as isize * a.rs);
        for p in 0..k {
            let brow = b.ptr.offset(p as isize * b.rs).add(j);
            let mut bv = [_mm512_setzero_ps(); V];
            for v in 0..V {
                bv[v] = _mm512_maskz_loadu_ps(masks[v], brow.add(16 * v));
            }
            let ap = arow.offset(p as isize * a.cs);
            for (r, row) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*ap.offset(r as isize * a.rs));
                for v in 0..V {
                    row[v] = _mm512_fmadd_ps(av, bv[v], row[v]);
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            let crow = c.add((i + r) * rsc + j);
            for v in 0..V {
                _mm512_mask_storeu_ps(crow.add(16 * v), masks[v], row[v]);
            }
        }
    }
}
