//! The AVX-512 register tile both contraction drivers share: up to 6 rows ×
//! 64 columns of C (or 12 rows × 32 columns) in 24 zmm accumulators while k
//! streams by. A is read by
//! broadcast through its strides (a transposed A costs nothing); B is read
//! as rows of up to 64 floats, either straight from the operand (`direct`)
//! or from a packed panel (`packed`).
//!
//! Determinism: each C element is one FMA chain over k in order. A driver
//! that splits k into blocks continues the chain from the value it stored
//! in C (an exact f32 round trip), so blocking, packing and the thread split
//! never change a result.

use super::Mat;
use std::arch::x86_64::*;

/// Rows of C per full tile.
pub const MR: usize = super::MR;
/// Rows of C per tile when the strip is at most 32 columns (two zmm per
/// row): twice as many rows share each load of B.
pub const MR_NARROW: usize = 12;
/// Columns of C per full tile (four zmm registers).
pub const NR: usize = 64;

/// One strip of B: `kc` rows of `w ≤ 64` floats, row `p` at `ptr + p * rs`.
/// Unless `padded`, lanes past `w` are masked, so they are never read;
/// a padded strip (packed B) holds whole vectors, read without masks
/// (masked loads cost ≈ 8 % of the kernel's throughput).
#[derive(Clone, Copy)]
pub struct Strip {
    pub ptr: *const f32,
    pub rs: usize,
    pub w: usize,
    pub padded: bool,
}

/// Where a tile's rows of A start and how they are laid out.
#[derive(Clone, Copy)]
pub struct Rows {
    /// Row `i`, column `p0` of A.
    pub a: Mat,
    /// Row `i`, column `j0` of C.
    pub c: *mut f32,
    pub rsc: usize,
}

/// `C[rows, strip] (+)= A[rows, kc] · strip` for `rows` rows starting at
/// `at`, split into full tiles and one edge tile. `accumulate` continues the
/// sums already in C instead of starting from zero.
///
/// # Safety
/// The CPU supports AVX-512F; the pointers cover `rows` × `kc` of A, `kc` ×
/// `strip.w` of B and `rows` × `strip.w` of C.
#[target_feature(enable = "avx512f")]
pub unsafe fn rows(at: Rows, rows: usize, kc: usize, strip: Strip, accumulate: bool) {
    match strip.w.div_ceil(16) {
        1 => by_rows::<1>(at, rows, kc, strip, accumulate),
        2 => by_rows::<2>(at, rows, kc, strip, accumulate),
        3 => by_rows::<3>(at, rows, kc, strip, accumulate),
        _ => by_rows::<4>(at, rows, kc, strip, accumulate),
    }
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn by_rows<const V: usize>(at: Rows, rows: usize, kc: usize, strip: Strip, accumulate: bool) {
    let row_at = |i: usize| Rows {
        a: Mat { ptr: at.a.ptr.offset(i as isize * at.a.rs), ..at.a },
        c: at.c.add(i * at.rsc),
        rsc: at.rsc,
    };
    let mut i = 0;
    if V <= 2 {
        while i + MR_NARROW <= rows {
            tile::<MR_NARROW, V>(row_at(i), kc, strip, accumulate);
            i += MR_NARROW;
        }
        match rows - i {
            0 => {}
            1 => tile::<1, V>(row_at(i), kc, strip, accumulate),
            2 => tile::<2, V>(row_at(i), kc, strip, accumulate),
            3 => tile::<3, V>(row_at(i), kc, strip, accumulate),
            4 => tile::<4, V>(row_at(i), kc, strip, accumulate),
            5 => tile::<5, V>(row_at(i), kc, strip, accumulate),
            6 => tile::<6, V>(row_at(i), kc, strip, accumulate),
            7 => tile::<7, V>(row_at(i), kc, strip, accumulate),
            8 => tile::<8, V>(row_at(i), kc, strip, accumulate),
            9 => tile::<9, V>(row_at(i), kc, strip, accumulate),
            10 => tile::<10, V>(row_at(i), kc, strip, accumulate),
            _ => tile::<11, V>(row_at(i), kc, strip, accumulate),
        }
        return;
    }
    while i + MR <= rows {
        tile::<MR, V>(row_at(i), kc, strip, accumulate);
        i += MR;
    }
    // The last 1–5 rows in one tile, so the strip streams once more, not per row.
    match rows - i {
        0 => {}
        1 => tile::<1, V>(row_at(i), kc, strip, accumulate),
        2 => tile::<2, V>(row_at(i), kc, strip, accumulate),
        3 => tile::<3, V>(row_at(i), kc, strip, accumulate),
        4 => tile::<4, V>(row_at(i), kc, strip, accumulate),
        _ => tile::<5, V>(row_at(i), kc, strip, accumulate),
    }
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn tile<const R: usize, const V: usize>(at: Rows, kc: usize, strip: Strip, accumulate: bool) {
    tile_of::<R, V>(at.a, at.c, at.rsc, kc, strip, accumulate)
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn tile_of<const R: usize, const V: usize>(
    a: impl ASteps,
    c: *mut f32,
    rsc: usize,
    kc: usize,
    strip: Strip,
    accumulate: bool,
) {
    let mut masks = [0xffffu16; V];
    let last = strip.w - (V - 1) * 16;
    masks[V - 1] = if last >= 16 { 0xffff } else { (1u16 << last) - 1 };
    if strip.padded || last >= 16 {
        tile_loop::<R, V, false>(a, c, rsc, kc, strip, accumulate, masks)
    } else {
        tile_loop::<R, V, true>(a, c, rsc, kc, strip, accumulate, masks)
    }
}

/// How the tile finds step `p`'s column of A: through strides, or through
/// a table of per-step pointers.
trait ASteps: Copy {
    /// Row 0 of A at step `p`.
    unsafe fn step(self, p: usize) -> *const f32;
    /// Floats from one row of A to the next.
    fn rs(self) -> isize;
}

impl ASteps for Mat {
    #[inline(always)]
    unsafe fn step(self, p: usize) -> *const f32 {
        self.ptr.offset(p as isize * self.cs)
    }
    #[inline(always)]
    fn rs(self) -> isize {
        self.rs
    }
}

/// A whose column at step `p` is `offset` floats past `steps[p]`, its rows
/// consecutive floats: a convolution's receptive fields read where they lie
/// in the input (`steps` are the windows' origins, `offset` a run of taps
/// that are neighbours in the input).
#[derive(Clone, Copy)]
pub struct Gather {
    pub steps: *const *const f32,
    pub offset: usize,
}

impl ASteps for Gather {
    #[inline(always)]
    unsafe fn step(self, p: usize) -> *const f32 {
        (*self.steps.add(p)).add(self.offset)
    }
    #[inline(always)]
    fn rs(self) -> isize {
        1
    }
}

/// `C[rows, strip] (+)= A[rows, kc] · strip` for at most 6 rows of a
/// gathered A; each element is the same chain over k as through [`rows`].
///
/// # Safety
/// As [`rows`]; every `steps[p] + offset + i` (`p < kc`, `i < rows`) is
/// readable.
#[target_feature(enable = "avx512f")]
pub unsafe fn rows_gathered(
    a: Gather,
    c: *mut f32,
    rsc: usize,
    rows: usize,
    kc: usize,
    strip: Strip,
    accumulate: bool,
) {
    macro_rules! by_width {
        ($r:literal) => {
            match strip.w.div_ceil(16) {
                1 => tile_of::<$r, 1>(a, c, rsc, kc, strip, accumulate),
                2 => tile_of::<$r, 2>(a, c, rsc, kc, strip, accumulate),
                3 => tile_of::<$r, 3>(a, c, rsc, kc, strip, accumulate),
                _ => tile_of::<$r, 4>(a, c, rsc, kc, strip, accumulate),
            }
        };
    }
    match rows {
        0 => {}
        1 => by_width!(1),
        2 => by_width!(2),
        3 => by_width!(3),
        4 => by_width!(4),
        5 => by_width!(5),
        _ => by_width!(6),
    }
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn tile_loop<const R: usize, const V: usize, const MASK_B: bool>(
    a: impl ASteps,
    c: *mut f32,
    rsc: usize,
    kc: usize,
    strip: Strip,
    accumulate: bool,
    masks: [u16; V],
) {
    let mut acc = [[_mm512_setzero_ps(); V]; R];
    if accumulate {
        for (r, row) in acc.iter_mut().enumerate() {
            for v in 0..V {
                row[v] = _mm512_maskz_loadu_ps(masks[v], c.add(r * rsc + 16 * v));
            }
        }
    }
    for p in 0..kc {
        let brow = strip.ptr.add(p * strip.rs);
        let mut bv = [_mm512_setzero_ps(); V];
        for v in 0..V {
            bv[v] = if MASK_B {
                _mm512_maskz_loadu_ps(masks[v], brow.add(16 * v))
            } else {
                _mm512_loadu_ps(brow.add(16 * v))
            };
        }
        let ap = a.step(p);
        for (r, row) in acc.iter_mut().enumerate() {
            let av = _mm512_set1_ps(*ap.offset(r as isize * a.rs()));
            for v in 0..V {
                row[v] = _mm512_fmadd_ps(av, bv[v], row[v]);
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for v in 0..V {
            _mm512_mask_storeu_ps(c.add(r * rsc + 16 * v), masks[v], row[v]);
        }
    }
}
