//! A convolution with few taps per output (a first layer: one to three
//! channels under a small window), forward and by the kernel, read straight
//! from the input.
//!
//! With `K = KH·KW·C` of 9 the contraction through a column matrix spends
//! most of its time outside the FMAs: building the columns, copying them
//! into the tile's row panels, and a tile of 6 rows whose accumulators are
//! reloaded every nine steps. Forward, a register block of up to 12 output
//! pixels of one output row × up to 32 filters (or 6 × 64) takes its taps
//! by broadcast from the input rows themselves, the kernel's row for each
//! tap loaded once per block; by the kernel, a block of taps × filters
//! stays in registers while the pixels stream by.
//!
//! Each element is the same FMA chain as through the column matrix and the
//! tile — forward from zero over the taps in the kernel's `(ky, kx, c)`
//! order, by the kernel over the output pixels in order — so the results
//! are the same bits, and the epilogue runs on each finished block as it
//! does after the tile. Threads split output rows (forward) or filters.

use super::convgemm::{two_halves, ConvGeom};
use super::epilogue_eval::Bound;
use super::gemm::GemmKernel;

/// Most taps per output this path takes; beyond, the column matrix's
/// contraction streams K through a full tile and is the better use of it.
pub(super) const MAX_TAPS: usize = 32;

/// Whether [`forward`] runs this convolution: an AVX-512 tile, few taps,
/// and every window inside the image (padded borders keep the column
/// matrix, which writes their zeros).
pub(super) fn applies(g: &ConvGeom, kernel: GemmKernel) -> bool {
    kernel == GemmKernel::Avx512
        && super::gemm::cpu_has(super::IsaLevel::Avx512)
        && g.taps() <= MAX_TAPS
        && g.f > 0
        && g.windows_inside()
}

/// `out = conv2d(x, k)`, then `ep` on each finished block.
///
/// # Safety
/// `applies(g, ..)`; the pointers cover their shapes; `out` overlaps
/// neither input; the epilogue's buffers cover the output's shape.
pub(super) unsafe fn forward(
    threads: usize,
    g: &ConvGeom,
    x: *const f32,
    k: *const f32,
    out: *mut f32,
    ep: Option<Bound>,
) {
    let offsets = tap_offsets(g);
    let taps = &offsets[..g.taps()];
    let (x_addr, k_addr, out_addr) = (x as usize, k as usize, out as usize);
    let part = |r0: usize, r1: usize| {
        for row in r0..r1 {
            // SAFETY: output row `row` is written by this thread only.
            unsafe { output_row(g, taps, x_addr as *const f32, k_addr as *const f32, out_addr as *mut f32, row, ep) };
        }
    };
    let rows = g.n * g.oh;
    two_halves(threads, g.macs(), rows, rows / 2, &part);
}

/// Output row `row` (image `row / oh`), filter strip by filter strip.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn output_row(
    g: &ConvGeom,
    taps: &[usize],
    x: *const f32,
    k: *const f32,
    out: *mut f32,
    row: usize,
    ep: Option<Bound>,
) {
    let (b, oy) = (row / g.oh, row % g.oh);
    let mut j0 = 0;
    while j0 < g.f {
        let w = (g.f - j0).min(64);
        match w.div_ceil(16) {
            1 => strip::<1>(g, taps, x, k, out, b, oy, j0, w, ep),
            2 => strip::<2>(g, taps, x, k, out, b, oy, j0, w, ep),
            3 => strip::<3>(g, taps, x, k, out, b, oy, j0, w, ep),
            _ => strip::<4>(g, taps, x, k, out, b, oy, j0, w, ep),
        }
        j0 += w;
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn output_row(_: &ConvGeom, _: &[usize], _: *const f32, _: *const f32, _: *mut f32, _: usize, _: Option<Bound>) {
    unreachable!("`applies` needs AVX-512")
}

/// Lane masks of `V` vectors covering `w` floats: all full but the last.
pub(super) fn vector_masks<const V: usize>(w: usize) -> [u16; V] {
    let mut masks = [0xffffu16; V];
    let last = w - (V - 1) * 16;
    masks[V - 1] = if last >= 16 { 0xffff } else { (1u16 << last) - 1 };
    masks
}

/// Pixels per register block for `V` vectors of filters: the accumulators,
/// the kernel row and the broadcast value fit the 32 zmm registers.
/// (With 13 × 2 accumulators the compiler already spills, and 12 × 2 ran a
/// 24-pixel row 30 % slower than three blocks of 8 × 2 do.)
const fn most_pixels(v: usize) -> usize {
    match v {
        1 => 24,
        2 => 10,
        3 => 8,
        _ => 6,
    }
}

/// Filters `j0..j0 + w` of one output row, in blocks of `r` pixels: as few
/// blocks as the register budget allows, of equal size, the last one moved
/// back to end at the row's end (it recomputes a few pixels, to the same
/// bits, instead of running a narrower block).
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn strip<const V: usize>(
    g: &ConvGeom,
    taps: &[usize],
    x: *const f32,
    k: *const f32,
    out: *mut f32,
    b: usize,
    oy: usize,
    j0: usize,
    w: usize,
    ep: Option<Bound>,
) {
    let blocks = g.ow.div_ceil(most_pixels(V));
    let r = g.ow.div_ceil(blocks);
    macro_rules! run_blocks {
        ($($n:literal)*) => {
            match r {
                $($n => {
                    for i in 0..blocks {
                        let ox0 = (i * $n).min(g.ow - $n);
                        if w % 16 == 0 {
                            block::<$n, V, false>(g, taps, x, k, out, b, oy, ox0, j0, w, ep);
                        } else {
                            block::<$n, V, true>(g, taps, x, k, out, b, oy, ox0, j0, w, ep);
                        }
                    }
                })*
                _ => unreachable!("at most `most_pixels` pixels per block"),
            }
        };
    }
    if V == 1 {
        run_blocks!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24);
    } else if V == 2 {
        run_blocks!(1 2 3 4 5 6 7 8 9 10 11 12);
    } else {
        run_blocks!(1 2 3 4 5 6 7 8);
    }
}

/// `R` pixels from `(oy, ox0)` × filters `j0..j0 + w` (`V` vectors, the
/// last masked), stored into `out`, then the epilogue on the block.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn block<const R: usize, const V: usize, const MASKED: bool>(
    g: &ConvGeom,
    taps: &[usize],
    x: *const f32,
    k: *const f32,
    out: *mut f32,
    b: usize,
    oy: usize,
    ox0: usize,
    j0: usize,
    w: usize,
    ep: Option<Bound>,
) {
    use std::arch::x86_64::*;
    let masks = vector_masks::<V>(w);
    // Window origins one `sw·C` apart along the output row.
    let origin = x.add(((b * g.h + oy * g.sh) * g.w + ox0 * g.sw) * g.c);
    let step = g.sw * g.c;
    let mut acc = [[_mm512_setzero_ps(); V]; R];
    for (tap, &offset) in taps.iter().enumerate() {
        let krow = k.add(tap * g.f + j0);
        let mut kv = [_mm512_setzero_ps(); V];
        for v in 0..V {
            kv[v] = if MASKED {
                _mm512_maskz_loadu_ps(masks[v], krow.add(16 * v))
            } else {
                _mm512_loadu_ps(krow.add(16 * v))
            };
        }
        let a = origin.add(offset);
        for (r, row) in acc.iter_mut().enumerate() {
            let av = _mm512_set1_ps(*a.add(r * step));
            for v in 0..V {
                row[v] = _mm512_fmadd_ps(av, kv[v], row[v]);
            }
        }
    }
    let p0 = (b * g.oh + oy) * g.ow + ox0;
    let c = out.add(p0 * g.f);
    // A bias (+ relu) epilogue runs on the registers and stores only its
    // output: the epilogue rule made it the convolution result's only
    // reader. These are `BiasForm`'s operations, so the bits are its.
    if let Some(form) = ep.and_then(|e| e.ep.form.map(|f| (e, f))) {
        let (ep, form) = form;
        let col = ep.col0 + j0;
        let bias = (*ep.table.add(form.bias) as *const f32).add(col);
        let dst = (*ep.table.add(form.out) as *mut f32).add((ep.row0 + p0) * ep.n + col);
        let mut bv = [_mm512_setzero_ps(); V];
        for v in 0..V {
            bv[v] = _mm512_maskz_loadu_ps(masks[v], bias.add(16 * v));
        }
        let zero = _mm512_setzero_ps();
        for (r, row) in acc.iter().enumerate() {
            for v in 0..V {
                let sum = _mm512_add_ps(row[v], bv[v]);
                let value = if form.relu {
                    _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_NLE_UQ>(sum, zero), sum)
                } else {
                    sum
                };
                _mm512_mask_storeu_ps(dst.add(r * ep.n + 16 * v), masks[v], value);
            }
        }
        return;
    }
    for (r, row) in acc.iter().enumerate() {
        for v in 0..V {
            _mm512_mask_storeu_ps(c.add(r * g.f + j0 + 16 * v), masks[v], row[v]);
        }
    }
    if let Some(ep) = ep {
        ep.shifted(p0, 0).apply(c, g.f, 0, R, j0, w);
    }
}

/// `dk [KH, KW, C, F] = Σ_p window(p) ⊗ dy[p]`: per tap and filter, one FMA
/// chain over the output pixels in order — the chain the tile runs over the
/// column matrix's rows, so the same bits. A block of taps × one or two
/// vectors of filters stays in registers while the pixels stream by; the
/// threads split the filters (16 at a time), so no element is shared.
/// With `sums`, the block of the first taps also adds up `dy` over the
/// pixels (the bias gradient: `[F]`, each a sum from zero in pixel order,
/// as the reduction computes it), from the registers it already loaded.
///
/// # Safety
/// `applies(g, ..)`; the pointers cover their shapes; `dk` and `sums`
/// overlap neither input nor each other.
pub(super) unsafe fn grad_kernel(
    threads: usize,
    g: &ConvGeom,
    x: *const f32,
    dy: *const f32,
    dk: *mut f32,
    sums: Option<*mut f32>,
) {
    let offsets = tap_offsets(g);
    let taps = &offsets[..g.taps()];
    let (x_addr, dy_addr, dk_addr, sums_addr) = (x as usize, dy as usize, dk as usize, sums.map(|s| s as usize));
    let part = |f0: usize, f1: usize| {
        let (x, dy, dk) = (x_addr as *const f32, dy_addr as *const f32, dk_addr as *mut f32);
        let dy = DyRows { dy, gate: None, carry: false };
        // SAFETY: filters f0..f1 of dk and of the sums belong to this thread alone.
        unsafe { grad_filters(g, taps, x, dy, dk, sums_addr.map(|s| s as *mut f32), f0, f1) };
    };
    let split = if g.f >= 32 { (g.f / 2).div_ceil(16) * 16 } else { 0 };
    two_halves(threads, g.macs(), g.f, split, &part);
}

/// Where each tap `(ky, kx, c)` of a window lies from the window's origin.
pub(super) fn tap_offsets(g: &ConvGeom) -> [usize; MAX_TAPS] {
    let mut offsets = [0usize; MAX_TAPS];
    for (t, offset) in offsets[..g.taps()].iter_mut().enumerate() {
        let (ky, kx, c) = (t / (g.kw * g.c), t / g.c % g.kw, t % g.c);
        *offset = (ky * g.w + kx) * g.c + c;
    }
    offsets
}

/// Where a kernel gradient's `dy` comes from, pixel by pixel.
#[derive(Clone, Copy)]
pub(super) struct DyRows {
    /// `[pixels, F]`.
    pub dy: *const f32,
    /// A relu's gradient mask: `dy` is `(gate > 0 ? 1 : 0) · dy`, the
    /// `MaskForm` epilogue's operations (`gate` has `dy`'s layout).
    pub gate: Option<*const f32>,
    /// Each chain continues from the value `dk` (and `sums`) hold, where
    /// otherwise it starts from zero: the pixels of one image after those of
    /// the images before.
    pub carry: bool,
}

/// Filters `f0..f1` of `dk` (and of `sums`), in strips of up to 32 filters
/// and blocks of at most 12 taps (equal blocks, as few as that allows),
/// whose accumulators fit the registers.
///
/// # Safety
/// As [`grad_kernel`], for `g`'s pixels; filters `f0..f1` of `dk` and
/// `sums` belong to the caller alone.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn grad_filters(
    g: &ConvGeom,
    taps: &[usize],
    x: *const f32,
    dy: DyRows,
    dk: *mut f32,
    sums: Option<*mut f32>,
    f0: usize,
    f1: usize,
) {
    const MOST_TAPS: usize = 12;
    let blocks = taps.len().div_ceil(MOST_TAPS);
    let per_block = taps.len().div_ceil(blocks);
    let mut j0 = f0;
    while j0 < f1 {
        let w = (f1 - j0).min(32);
        let mut t0 = 0;
        while t0 < taps.len() {
            let t1 = (t0 + per_block).min(taps.len());
            let (block, out) = (&taps[t0..t1], dk.add(t0 * g.f));
            let sums = sums.filter(|_| t0 == 0);
            macro_rules! run {
                ($($t:literal)*) => {
                    match (block.len(), w > 16, dy.gate.is_some()) {
                        $(($t, true, false) => grad_block::<$t, 2, false>(g, block, x, dy, out, sums, j0, w),
                          ($t, false, false) => grad_block::<$t, 1, false>(g, block, x, dy, out, sums, j0, w),
                          ($t, true, true) => grad_block::<$t, 2, true>(g, block, x, dy, out, sums, j0, w),
                          ($t, false, true) => grad_block::<$t, 1, true>(g, block, x, dy, out, sums, j0, w),)*
                        _ => unreachable!("at most {MOST_TAPS} taps per block"),
                    }
                };
            }
            run!(1 2 3 4 5 6 7 8 9 10 11 12);
            t0 = t1;
        }
        j0 += w;
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn grad_filters(
    _: &ConvGeom,
    _: &[usize],
    _: *const f32,
    _: DyRows,
    _: *mut f32,
    _: Option<*mut f32>,
    _: usize,
    _: usize,
) {
    unreachable!("`applies` needs AVX-512")
}

/// `T` taps × filters `j0..j0 + w` (`V` vectors, the last masked) over
/// every pixel; the sum of `dy` too, stored where `sums` says. `GATED`:
/// `dy.gate` masks `dy`.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn grad_block<const T: usize, const V: usize, const GATED: bool>(
    g: &ConvGeom,
    taps: &[usize],
    x: *const f32,
    dy: DyRows,
    dk: *mut f32,
    sums: Option<*mut f32>,
    j0: usize,
    w: usize,
) {
    use std::arch::x86_64::*;
    let taps: &[usize; T] = taps.try_into().expect("T taps");
    let masks = vector_masks::<V>(w);
    let mut acc = [[_mm512_setzero_ps(); V]; T];
    // Adding here costs V adds per pixel against T × V FMAs; a separate
    // pass would read all of dy again.
    let mut sum = [_mm512_setzero_ps(); V];
    if dy.carry {
        for (t, row) in acc.iter_mut().enumerate() {
            for v in 0..V {
                row[v] = _mm512_maskz_loadu_ps(masks[v], dk.add(t * g.f + j0 + 16 * v));
            }
        }
        if let Some(sums) = sums {
            for v in 0..V {
                sum[v] = _mm512_maskz_loadu_ps(masks[v], sums.add(j0 + 16 * v));
            }
        }
    }
    let (zero, one) = (_mm512_setzero_ps(), _mm512_set1_ps(1.0));
    let mut d = dy.dy.add(j0);
    let mut gate = dy.gate.unwrap_or(dy.dy).add(j0);
    for b in 0..g.n {
        for oy in 0..g.oh {
            let row = x.add((b * g.h + oy * g.sh) * g.w * g.c);
            for ox in 0..g.ow {
                let origin = row.add(ox * g.sw * g.c);
                let mut dv = [_mm512_setzero_ps(); V];
                for v in 0..V {
                    dv[v] = _mm512_maskz_loadu_ps(masks[v], d.add(16 * v));
                    if GATED {
                        let positive = _mm512_maskz_loadu_ps(masks[v], gate.add(16 * v));
                        let flag = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(positive, zero), one);
                        dv[v] = _mm512_mul_ps(flag, dv[v]);
                    }
                    sum[v] = _mm512_add_ps(sum[v], dv[v]);
                }
                for t in 0..T {
                    let a = _mm512_set1_ps(*origin.add(taps[t]));
                    for v in 0..V {
                        acc[t][v] = _mm512_fmadd_ps(a, dv[v], acc[t][v]);
                    }
                }
                d = d.add(g.f);
                gate = gate.add(g.f);
            }
        }
    }
    for (t, row) in acc.iter().enumerate() {
        for v in 0..V {
            _mm512_mask_storeu_ps(dk.add(t * g.f + j0 + 16 * v), masks[v], row[v]);
        }
    }
    if let Some(sums) = sums {
        for v in 0..V {
            _mm512_mask_storeu_ps(sums.add(j0 + 16 * v), masks[v], sum[v]);
        }
    }
}
