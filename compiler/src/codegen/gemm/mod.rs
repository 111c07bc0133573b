//! Contractions: `C = A · B` for row/column-strided f32 matrices.
//!
//! Decision (measured, see docs/performance.md): Cranelift emits at most
//! 128-bit vectors, so the contraction is a native kernel the generated code
//! calls. On AVX-512 machines it is our own: one 6×64 register tile
//! (`tile`), fed either straight from B (`direct`: small B, few rows of C)
//! or from B packed into aligned 64-column strips (`packed`: large or
//! transposed B, many rows). A is always read through its strides, so a
//! transposed A costs nothing. AVX2 machines use the `matrixmultiply` crate
//! (run-time AVX2+FMA / SSE2 dispatch); `Scalar` is a plain loop nest for
//! machines (and tests) without SIMD.
//!
//! Two threads split C into two fixed halves, by columns or by rows,
//! whichever duplicates less reading. Each element's sum is computed the
//! same way whichever thread computes it, so the result does not depend on
//! the thread count (and the AVX-512 variants agree with each other bit
//! for bit).

use super::epilogue_eval::Bound;
use super::{pool, CodegenError, IsaLevel};

#[cfg(target_arch = "x86_64")]
mod direct;
#[cfg(target_arch = "x86_64")]
mod packed;
#[cfg(target_arch = "x86_64")]
mod tile;

#[cfg(target_arch = "x86_64")]
pub(crate) use packed::{gathered_times, panels_times, with_packed_b, PackedB};
/// Without the AVX-512 tile nothing is packed ahead.
#[cfg(not(target_arch = "x86_64"))]
#[derive(Clone, Copy)]
pub(crate) enum PackedB {}

/// Rows of C per full AVX-512 tile; callers that lay out A for the tile
/// (a kernel gradient's taps) use it on every architecture.
pub(crate) const MR: usize = 6;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmKernel {
    /// Portable loops, no SIMD.
    Scalar,
    /// `matrixmultiply` with its run-time CPU dispatch.
    Packed,
    /// Own AVX-512 kernels; per call, packed B or B read in place,
    /// whichever the shape favours.
    Avx512,
    /// Own AVX-512 kernel reading B in place (needs unit column stride;
    /// falls back to `Avx512Packed`). For benchmarks and tests.
    Avx512Direct,
    /// Own AVX-512 kernel with B packed first. For benchmarks and tests.
    Avx512Packed,
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
                Err(CodegenError::Unsupported(format!("this CPU does not support {level:?}; use IsaLevel::Auto")))
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
pub(crate) const SPLIT_MIN_MACS: usize = 2_000_000;

/// Largest right operand (elements) read in place: the direct kernel
/// streams B once per 6 rows of C, which pays only while B stays in L2.
const DIRECT_MAX_B: usize = 128 * 1024;

/// From this many rows of C on, packing B (one copy) costs less than
/// streaming it unpacked once per tile.
const PACK_MIN_ROWS: usize = 64;

/// Column splits fall on whole 64-column strips of the AVX-512 kernels.
const SPLIT_COLUMNS: usize = 64;

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
pub unsafe fn sgemm(
    kernel: GemmKernel,
    threads: usize,
    m: usize,
    k: usize,
    n: usize,
    a: Mat,
    b: Mat,
    c: *mut f32,
    rsc: usize,
) {
    sgemm_with(kernel, threads, m, k, n, a, b, c, rsc, None)
}

/// [`sgemm`], then `epilogue` on each finished block of C while it is still
/// in cache.
///
/// # Safety
/// As [`sgemm`]; the epilogue's buffers cover C's shape.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn sgemm_with(
    kernel: GemmKernel,
    threads: usize,
    m: usize,
    k: usize,
    n: usize,
    a: Mat,
    b: Mat,
    c: *mut f32,
    rsc: usize,
    epilogue: Option<Bound>,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for i in 0..m {
            std::slice::from_raw_parts_mut(c.add(i * rsc), n).fill(0.0);
        }
        if let Some(ep) = epilogue {
            apply_all(&ep, c, rsc, m, n);
        }
        return;
    }
    let can_split_rows = m >= 16;
    let can_split_columns = n >= 2 * SPLIT_COLUMNS;
    if threads < 2 || m * k * n < SPLIT_MIN_MACS || !(can_split_rows || can_split_columns) {
        single(kernel, m, k, n, a, b, c, rsc, epilogue, false);
        return;
    }
    let (a_addr, b_addr, c_addr) = (a.ptr as usize, b.ptr as usize, c as usize);
    let (a_at, b_at) =
        (move |ptr: usize| Mat { ptr: ptr as *const f32, ..a }, move |ptr: usize| Mat { ptr: ptr as *const f32, ..b });
    // Splitting columns makes both threads read all of A (m×k); splitting
    // rows makes both read (and pack) all of B (k×n): duplicate the smaller.
    if can_split_columns && (n >= m || !can_split_rows) {
        let half = (n / 2).div_ceil(SPLIT_COLUMNS) * SPLIT_COLUMNS;
        let part = |lo: usize, hi: usize| {
            let b2 = b_at((b_addr as *const f32).wrapping_offset(lo as isize * b.cs) as usize);
            let c2 = (c_addr as *mut f32).wrapping_add(lo);
            // SAFETY: disjoint column ranges of C; A and B are only read.
            unsafe {
                single(kernel, m, k, hi - lo, a_at(a_addr), b2, c2, rsc, epilogue.map(|e| e.shifted(0, lo)), false)
            }
        };
        pool::join(&|| part(0, half), &|| part(half, n));
    } else {
        let half = (m / 2).div_ceil(8) * 8;
        let part = |lo: usize, hi: usize| {
            let a2 = a_at((a_addr as *const f32).wrapping_offset(lo as isize * a.rs) as usize);
            let c2 = (c_addr as *mut f32).wrapping_add(lo * rsc);
            // SAFETY: disjoint row ranges of C; A and B are only read.
            unsafe {
                single(kernel, hi - lo, k, n, a2, b_at(b_addr), c2, rsc, epilogue.map(|e| e.shifted(lo, 0)), false)
            }
        };
        pool::join(&|| part(0, half), &|| part(half, m));
    }
}

/// The epilogue over all of C, 64 columns at a time.
pub(crate) unsafe fn apply_all(ep: &Bound, c: *const f32, rsc: usize, m: usize, n: usize) {
    for j in (0..n).step_by(64) {
        ep.apply(c, rsc, 0, m, j, (n - j).min(64));
    }
}

/// Whether packing B pays for this shape (measured: docs/performance.md).
/// A C that fits one narrow tile (a convolution's kernel gradient with few
/// taps: `colsᵀ · dy` over many pixels) streams B exactly once, so a copy
/// of B cannot pay for itself however large B is.
fn worth_packing(m: usize, k: usize, n: usize, b: Mat) -> bool {
    let one_tile = m <= tile::MR_NARROW && n <= 32;
    b.cs != 1 || (!one_tile && (k * n > DIRECT_MAX_B || m >= PACK_MIN_ROWS))
}

/// One thread's `C (+)= A·B`: with `accumulate`, each element's chain
/// continues from the value already in C (an exact f32 round trip), so a
/// contraction over k split into consecutive calls equals one call.
/// Convolutions use it to sum a weight gradient over image chunks.
///
/// # Safety
/// As [`sgemm`]; with `accumulate`, C holds the sums so far.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn single(
    kernel: GemmKernel,
    m: usize,
    k: usize,
    n: usize,
    a: Mat,
    b: Mat,
    c: *mut f32,
    rsc: usize,
    ep: Option<Bound>,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                std::slice::from_raw_parts_mut(c.add(i * rsc), n).fill(0.0);
            }
        }
        if let Some(ep) = ep {
            apply_all(&ep, c, rsc, m, n);
        }
        return;
    }
    match kernel {
        #[cfg(target_arch = "x86_64")]
        GemmKernel::Avx512 if !worth_packing(m, k, n, b) => {
            direct::gemm(m, k, n, a, b, c, rsc, ep.as_ref(), accumulate)
        }
        #[cfg(target_arch = "x86_64")]
        GemmKernel::Avx512Direct if b.cs == 1 => direct::gemm(m, k, n, a, b, c, rsc, ep.as_ref(), accumulate),
        #[cfg(target_arch = "x86_64")]
        GemmKernel::Avx512 | GemmKernel::Avx512Direct | GemmKernel::Avx512Packed => {
            packed::gemm(m, k, n, a, b, c, rsc, ep.as_ref(), accumulate)
        }
        _ => {
            portable(kernel, m, k, n, a, b, c, rsc, accumulate);
            if let Some(ep) = ep {
                apply_all(&ep, c, rsc, m, n);
            }
        }
    }
}

/// The non-AVX-512 kernels: `matrixmultiply`, or plain loops.
#[allow(clippy::too_many_arguments)]
unsafe fn portable(
    kernel: GemmKernel,
    m: usize,
    k: usize,
    n: usize,
    a: Mat,
    b: Mat,
    c: *mut f32,
    rsc: usize,
    accumulate: bool,
) {
    match kernel {
        // (The AVX-512 kinds only reach here on other architectures.)
        GemmKernel::Packed | GemmKernel::Avx512 | GemmKernel::Avx512Direct | GemmKernel::Avx512Packed => {
            let beta = if accumulate { 1.0 } else { 0.0 };
            matrixmultiply::sgemm(m, k, n, 1.0, a.ptr, a.rs, a.cs, b.ptr, b.rs, b.cs, beta, c, rsc as isize, 1);
        }
        GemmKernel::Scalar => {
            for i in 0..m {
                let crow = c.add(i * rsc);
                if !accumulate {
                    for j in 0..n {
                        *crow.add(j) = 0.0;
                    }
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
