//! `C = A·B` with B packed first: B is copied once per call into 64-column
//! strips (row `p` of a strip is 64 contiguous, 64-byte aligned floats), then
//! C is computed in blocks of `MC` rows × `KC` depth so that one strip's
//! `KC` rows stay in L1 while every tile of the row block streams past them.
//!
//! Packing turns any B (a transposed one, or rows whose power-of-two stride
//! would alias in L1) into the same sequential stream, at the price of one
//! copy of B, which pays once C has enough rows (docs/performance.md).
//! A transposed A (a weight gradient's Xᵀ) is also copied, block by block,
//! into 6-row panels, so the tile's broadcasts read one stream instead of
//! one cache line per k step.

use super::tile::{self, Gather, Rows, Strip, MR, NR};
use super::{Bound, Mat};
use std::arch::x86_64::*;
use std::cell::RefCell;

/// Depth of one block: a 64-column strip's KC rows (32 KiB) fit in L1.
const KC: usize = 128;
/// Rows of C per block (a multiple of the tile height): the A block
/// (MC × KC floats) stays in L2 while the strips go by.
const MC: usize = 96;

/// One cache line of packed B.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

thread_local! {
    /// Packed B, per thread (the worker packs its own half). It only grows,
    /// so after the first call of a shape no step allocates.
    static PACKED: RefCell<Vec<Line>> = const { RefCell::new(Vec::new()) };
}

/// # Safety
/// The CPU supports AVX-512F; pointers cover the operands; `c` does not
/// overlap `a` or `b`.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: Mat,
    b: Mat,
    c: *mut f32,
    rsc: usize,
    ep: Option<&Bound>,
    accumulate: bool,
) {
    // B of exactly one strip's width with rows back to back (64 units or
    // filters) is already the packed stream: a copy would only move it.
    let in_place = n == NR && b.cs == 1 && b.rs == NR as isize;
    let strips = n.div_ceil(NR);
    let b_lines = if in_place { 0 } else { strips * k * (NR / 16) };
    let lines = b_lines + (MC * KC).div_ceil(16);
    PACKED.with(|cell| {
        let mut buf = cell.borrow_mut();
        if buf.len() < lines {
            buf.resize(lines, Line([0.0; 16]));
        }
        let packed = buf.as_mut_ptr() as *mut f32;
        let a_panels = packed.add(b_lines * 16);
        if in_place {
            blocks(m, k, n, a, b.ptr, a_panels, c, rsc, ep, accumulate);
        } else {
            pack(k, n, b, packed);
            blocks(m, k, n, a, packed, a_panels, c, rsc, ep, accumulate);
        }
    });
}

thread_local! {
    /// A B packed once for many calls (see [`with_packed_b`]), per thread.
    static SHARED_B: RefCell<Vec<Line>> = const { RefCell::new(Vec::new()) };
}

/// B packed into strips once, for several products with different A
/// (a convolution's input gradient multiplies every chunk of `dy` by the
/// same transposed kernel); any thread may use it while it lives.
#[derive(Clone, Copy)]
pub(crate) struct PackedB {
    ptr: *const f32,
    k: usize,
    n: usize,
}

// SAFETY: read-only while `with_packed_b`'s closure runs.
unsafe impl Sync for PackedB {}
unsafe impl Send for PackedB {}

/// Runs `f` with `B [k, n]` packed as [`gemm`] packs it, in this thread's
/// buffer (it only grows).
///
/// # Safety
/// The CPU supports AVX-512F; `b` covers `k × n`.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn with_packed_b<R>(k: usize, n: usize, b: Mat, f: impl FnOnce(PackedB) -> R) -> R {
    let lines = n.div_ceil(NR) * k * (NR / 16);
    SHARED_B.with(|cell| {
        let mut buf = cell.borrow_mut();
        if buf.len() < lines {
            buf.resize(lines, Line([0.0; 16]));
        }
        let packed = buf.as_mut_ptr() as *mut f32;
        pack(k, n, b, packed);
        f(PackedB { ptr: packed, k, n })
    })
}

impl PackedB {
    /// `C (+)= A · B`, the blocks [`gemm`] runs after packing B: the same
    /// bits.
    ///
    /// # Safety
    /// As [`gemm`], inside the `with_packed_b` call that made `self`.
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn times(self, m: usize, a: Mat, c: *mut f32, rsc: usize, accumulate: bool) {
        let lines = (MC * KC).div_ceil(16);
        PACKED.with(|cell| {
            let mut buf = cell.borrow_mut();
            if buf.len() < lines {
                buf.resize(lines, Line([0.0; 16]));
            }
            blocks(m, self.k, self.n, a, self.ptr, buf.as_mut_ptr() as *mut f32, c, rsc, None, accumulate);
        })
    }
}

/// Strip `s`, row `p` of B goes to `packed[(s * k + p) * NR ..][..NR]`;
/// columns past `n` in the last strip are zero.
#[target_feature(enable = "avx512f")]
unsafe fn pack(k: usize, n: usize, b: Mat, packed: *mut f32) {
    if b.cs == 1 {
        pack_rows(k, n, b, packed);
    } else if b.rs == 1 {
        pack_columns(k, n, b, packed);
    } else {
        for j in 0..n.div_ceil(NR) * NR {
            let dst = packed.add((j / NR) * k * NR + j % NR);
            for p in 0..k {
                *dst.add(p * NR) = if j < n { *b.ptr.offset(p as isize * b.rs + j as isize * b.cs) } else { 0.0 };
            }
        }
    }
}

/// B's rows are contiguous: read them in order (one sequential stream),
/// scattering each into its strips.
#[target_feature(enable = "avx512f")]
unsafe fn pack_rows(k: usize, n: usize, b: Mat, packed: *mut f32) {
    let vectors = n.div_ceil(16);
    for p in 0..k {
        let src = b.ptr.offset(p as isize * b.rs);
        for v in 0..vectors {
            let lanes = (n - 16 * v).min(16);
            let x = _mm512_maskz_loadu_ps(((1u32 << lanes) - 1) as u16, src.add(16 * v));
            let (s, at) = ((16 * v) / NR, (16 * v) % NR);
            _mm512_store_ps(packed.add((s * k + p) * NR + at), x);
        }
        // Zero the unused vectors of the last strip.
        for v in vectors..n.div_ceil(NR) * (NR / 16) {
            let (s, at) = ((16 * v) / NR, (16 * v) % NR);
            _mm512_store_ps(packed.add((s * k + p) * NR + at), _mm512_setzero_ps());
        }
    }
}

/// B's columns are contiguous (B is a transposed row-major matrix): read
/// 16 columns × 16 rows at a time and transpose them in registers.
#[target_feature(enable = "avx512f")]
unsafe fn pack_columns(k: usize, n: usize, b: Mat, packed: *mut f32) {
    let padded = n.div_ceil(NR) * NR;
    let mut p0 = 0;
    while p0 < k {
        let rows = (k - p0).min(16);
        let row_mask = ((1u32 << rows) - 1) as u16;
        let mut j0 = 0;
        while j0 < padded {
            let mut block = [_mm512_setzero_ps(); 16];
            for (jj, col) in block.iter_mut().enumerate() {
                if j0 + jj < n {
                    *col = _mm512_maskz_loadu_ps(row_mask, b.ptr.offset((j0 + jj) as isize * b.cs).add(p0));
                }
            }
            transpose16(&mut block);
            let dst = packed.add(((j0 / NR) * k + p0) * NR + j0 % NR);
            for (q, row) in block.iter().take(rows).enumerate() {
                _mm512_store_ps(dst.add(q * NR), *row);
            }
            j0 += 16;
        }
        p0 += 16;
    }
}

/// In-register transpose of a 16×16 block: `x[i][j]` becomes `x[j][i]`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn transpose16(x: &mut [__m512; 16]) {
    // Interleave pairs of rows, then quads within each 128-bit lane...
    let mut t = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(x[2 * i], x[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(x[2 * i], x[2 * i + 1]);
    }
    let mut u = [_mm512_setzero_ps(); 16];
    for g in 0..4 {
        let (lo, hi) = (4 * g, 4 * g + 2);
        u[4 * g] = _mm512_shuffle_ps::<0x44>(t[lo], t[hi]);
        u[4 * g + 1] = _mm512_shuffle_ps::<0xEE>(t[lo], t[hi]);
        u[4 * g + 2] = _mm512_shuffle_ps::<0x44>(t[lo + 1], t[hi + 1]);
        u[4 * g + 3] = _mm512_shuffle_ps::<0xEE>(t[lo + 1], t[hi + 1]);
    }
    // ...now u[4g + c] holds rows 4g..4g+4 of columns c, c+4, c+8, c+12
    // (one per 128-bit lane); gather the lanes across the four groups.
    for c in 0..4 {
        let v0 = _mm512_shuffle_f32x4::<0x88>(u[c], u[4 + c]);
        let v1 = _mm512_shuffle_f32x4::<0xDD>(u[c], u[4 + c]);
        let v2 = _mm512_shuffle_f32x4::<0x88>(u[8 + c], u[12 + c]);
        let v3 = _mm512_shuffle_f32x4::<0xDD>(u[8 + c], u[12 + c]);
        x[c] = _mm512_shuffle_f32x4::<0x88>(v0, v2);
        x[c + 8] = _mm512_shuffle_f32x4::<0xDD>(v0, v2);
        x[c + 4] = _mm512_shuffle_f32x4::<0x88>(v1, v3);
        x[c + 12] = _mm512_shuffle_f32x4::<0xDD>(v1, v3);
    }
}

#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn blocks(
    m: usize,
    k: usize,
    n: usize,
    a: Mat,
    packed: *const f32,
    a_panels: *mut f32,
    c: *mut f32,
    rsc: usize,
    ep: Option<&Bound>,
    accumulate: bool,
) {
    // A transposed A reads one cache line per k step for a 6-row tile and
    // uses 6 of its 16 floats; copied into 6-row panels it streams.
    let pack_a = a.rs == 1 && a.cs != 1;
    let mut ic = 0;
    while ic < m {
        let mc = (m - ic).min(MC);
        let mut pc = 0;
        while pc < k {
            let kc = (k - pc).min(KC);
            let a_block = Mat { ptr: a.ptr.offset(ic as isize * a.rs + pc as isize * a.cs), ..a };
            if pack_a {
                pack_panels(a_block, mc, kc, a_panels);
            }
            for s in 0..n.div_ceil(NR) {
                let j0 = s * NR;
                let strip = Strip { ptr: packed.add((s * k + pc) * NR), rs: NR, w: (n - j0).min(NR), padded: true };
                if pack_a {
                    for t in 0..mc.div_ceil(MR) {
                        let panel = Mat { ptr: a_panels.add(t * MR * kc), rs: 1, cs: MR as isize };
                        let at = Rows { a: panel, c: c.add((ic + t * MR) * rsc + j0), rsc };
                        tile::rows(at, (mc - t * MR).min(MR), kc, strip, pc > 0 || accumulate);
                    }
                } else {
                    tile::rows(Rows { a: a_block, c: c.add(ic * rsc + j0), rsc }, mc, kc, strip, pc > 0 || accumulate);
                }
                if let (Some(ep), true) = (ep, pc + kc == k) {
                    ep.apply(c, rsc, ic, mc, j0, strip.w);
                }
            }
            pc += KC;
        }
        ic += MC;
    }
}

/// `C[m, n] (+)= A · B` with A already in 6-row panels over the whole
/// depth (row `i`, step `p` at `panels[(i / 6) * 6 * k + p * 6 + i % 6]`:
/// what a convolution's kernel gradient builds its columns into) and B
/// read in place, row `p` at `b.ptr + p * b.rs` (`b.cs == 1`). Blocked as
/// [`blocks`] is, `KC` steps of a 64-column strip in L1 while every panel
/// goes by, so each element is the same chain over k and the same bits.
///
/// # Safety
/// The CPU supports AVX-512F; `panels` holds `m.div_ceil(6) * 6 * k`
/// floats, B `k` rows of `n`, C `m` rows of `rsc`; C overlaps neither.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn panels_times(
    panels: *const f32,
    m: usize,
    k: usize,
    n: usize,
    b: Mat,
    c: *mut f32,
    rsc: usize,
    accumulate: bool,
) {
    panel_blocks(m, k, n, b, c, rsc, |t, pc, kc, strip, c| {
        let panel = Mat { ptr: panels.add(t * MR * k + pc * MR), rs: 1, cs: MR as isize };
        tile::rows(Rows { a: panel, c, rsc }, (m - t * MR).min(MR), kc, strip, pc > 0 || accumulate);
    })
}

/// [`panels_times`] with A read where it lies: row `i` at step `p` is
/// `origins[p] + runs[i / 6] + i % 6` (a kernel gradient's taps, 6
/// neighbours in the input per panel, at each window's origin), so no
/// column matrix is built. The same blocking, so the same bits.
///
/// # Safety
/// The CPU supports AVX-512F; `origins` holds `k` pointers and `runs`
/// `m.div_ceil(6)` offsets, every `origins[p] + runs[t] + 0..6` (the live
/// rows) readable; B and C as for [`panels_times`].
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gathered_times(
    origins: &[*const f32],
    runs: &[usize],
    m: usize,
    n: usize,
    b: Mat,
    c: *mut f32,
    rsc: usize,
    accumulate: bool,
) {
    panel_blocks(m, origins.len(), n, b, c, rsc, |t, pc, kc, strip, c| {
        let a = Gather { steps: origins.as_ptr().add(pc), offset: runs[t] };
        tile::rows_gathered(a, c, rsc, (m - t * MR).min(MR), kc, strip, pc > 0 || accumulate);
    })
}

/// The blocking of the two panel products: `KC` steps of each 64-column
/// strip of B (read in place, `b.cs == 1`) stay in L1 while `tile(t, pc,
/// kc, strip, c)` runs each 6-row panel `t` of A into its rows of C.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn panel_blocks(
    m: usize,
    k: usize,
    n: usize,
    b: Mat,
    c: *mut f32,
    rsc: usize,
    mut tile: impl FnMut(usize, usize, usize, Strip, *mut f32),
) {
    debug_assert_eq!(b.cs, 1);
    let mut pc = 0;
    while pc < k {
        let kc = (k - pc).min(KC);
        for j0 in (0..n).step_by(NR) {
            let strip = Strip {
                ptr: b.ptr.offset(pc as isize * b.rs).add(j0),
                rs: b.rs as usize,
                w: (n - j0).min(NR),
                padded: false,
            };
            for t in 0..m.div_ceil(MR) {
                tile(t, pc, kc, strip, c.add(t * MR * rsc + j0));
            }
        }
        pc += KC;
    }
}

/// Copies `rows × kc` of a column-contiguous A into 6-row panels: panel
/// `t`, step `p` holds rows `6t..6t+6` at `panels[t * 6 * kc + p * 6..]`.
#[target_feature(enable = "avx512f")]
unsafe fn pack_panels(a: Mat, rows: usize, kc: usize, panels: *mut f32) {
    for t in 0..rows.div_ceil(MR) {
        let live = (rows - t * MR).min(MR);
        let mask = ((1u32 << live) - 1) as u16;
        let src = a.ptr.add(t * MR);
        let dst = panels.add(t * MR * kc);
        for p in 0..kc {
            let x = _mm512_maskz_loadu_ps(mask, src.offset(p as isize * a.cs));
            _mm512_mask_storeu_ps(dst.add(p * MR), (1 << MR) - 1, x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packed-once B gives the bits of packing it in every call, for a
    /// transposed B (a convolution's kernelᵀ) and for rows.
    #[test]
    fn packed_once_is_packed_per_call() {
        if !super::super::cpu_has(crate::codegen::IsaLevel::Avx512) {
            return;
        }
        let value = |i: usize| ((i * 7919 % 1013) as f32 - 506.0) * 1.37e-3;
        for (m, k, n) in [(222, 64, 288), (7, 5, 3), (97, 130, 65), (1, 1, 1)] {
            let a: Vec<f32> = (0..m * k).map(value).collect();
            let b: Vec<f32> = (0..k * n).map(|i| value(i + 17)).collect();
            let a_mat = Mat { ptr: a.as_ptr(), rs: k as isize, cs: 1 };
            for b_mat in
                [Mat { ptr: b.as_ptr(), rs: 1, cs: k as isize }, Mat { ptr: b.as_ptr(), rs: n as isize, cs: 1 }]
            {
                let (mut per_call, mut once) = (vec![f32::NAN; m * n], vec![f32::NAN; m * n]);
                // SAFETY: the CPU has AVX-512F; the buffers match the shapes.
                unsafe {
                    gemm(m, k, n, a_mat, b_mat, per_call.as_mut_ptr(), n, None, false);
                    with_packed_b(k, n, b_mat, |packed| packed.times(m, a_mat, once.as_mut_ptr(), n, false));
                }
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert!(bits(&once) == bits(&per_call), "{m}x{k}x{n}, B strides {} / {}", b_mat.rs, b_mat.cs);
            }
        }
    }
}
