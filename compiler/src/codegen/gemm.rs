//! Contractions: `C = A · B` for row/column-strided f32 matrices.
//!
//! Decision (measured, see docs/performance.md): Cranelift emits at most
//! 128-bit vectors, so the contraction is a native kernel the generated code
//! calls. The `matrixmultiply` crate picks AVX2+FMA / SSE2 at run time and
//! takes arbitrary strides, so transposed operands cost nothing. `Scalar` is
//! a plain loop nest for machines (and tests) without SIMD.
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
}

/// The SIMD level code is generated for, checked against this CPU.
pub fn resolve_isa(level: IsaLevel) -> Result<GemmKernel, CodegenError> {
    match level {
        IsaLevel::Scalar => Ok(GemmKernel::Scalar),
        IsaLevel::Auto => Ok(GemmKernel::Packed),
        IsaLevel::Avx2 | IsaLevel::Avx512 => {
            if cpu_has(level) {
                Ok(GemmKernel::Packed)
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
/// worker costs more than it saves.
const SPLIT_MIN_MACS: usize = 16_000_000;

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
        let half = (m / 2 + 7) / 8 * 8;
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
        GemmKernel::Packed => {
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
