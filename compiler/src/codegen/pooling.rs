//! Pooling kernels (NHWC images), called from generated code through
//! [`super::native`].
//!
//! Every loop's innermost dimension is a block of 16 contiguous channels,
//! so one body compiles to whole-register compares and blends; an AVX-512
//! copy of each kernel is selected at run time. Images are independent, so
//! two threads take half the batch each and the result is the same as one
//! thread's, bit for bit.
//!
//! The semantics are the interpreter's, lane by lane: padding follows Keras
//! (`same` pads `max((out - 1) * stride + size - in, 0)` cells, the smaller
//! half before) and padded cells are skipped; the maximum is the first
//! window cell holding it, and the first NaN wins; average pooling divides
//! by the number of real cells; a max-pool gradient goes to that first
//! maximal cell, accumulated in output-cell order.

use super::dims::Dims;
use super::epilogue_eval::Bound;
use super::gemm::GemmKernel;
use super::pool;
use crate::ir::{Padding, PoolKind, Window};

/// Channels per register block.
const LANES: usize = 16;
/// Below this many input floats a second thread costs more than it saves.
const SPLIT_MIN_FLOATS: usize = 1 << 15;

/// Everything the loops need about one pooling call.
#[derive(Clone, Copy)]
struct Geom {
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    oh: usize,
    ow: usize,
    /// Padding before the first row and column.
    pt: usize,
    pl: usize,
    size: (usize, usize),
    strides: (usize, usize),
}

impl Geom {
    fn new(window: &Window, xd: &Dims, od: &Dims) -> Geom {
        let (n, h, w, c) = (xd.d[0], xd.d[1], xd.d[2], xd.d[3]);
        let (oh, ow) = (od.d[1], od.d[2]);
        let (pt, pl) = match window.padding {
            Padding::Valid => (0, 0),
            Padding::Same => {
                let total = |o: usize, s: usize, k: usize, i: usize| ((o.max(1) - 1) * s + k).saturating_sub(i);
                (total(oh, window.strides.0, window.size.0, h) / 2, total(ow, window.strides.1, window.size.1, w) / 2)
            }
        };
        Geom { n, h, w, c, oh, ow, pt, pl, size: window.size, strides: window.strides }
    }

    fn image(&self) -> usize {
        self.h * self.w * self.c
    }

    fn out_image(&self) -> usize {
        self.oh * self.ow * self.c
    }

    /// Offsets (in floats, from the image's start) of the real cells of
    /// output cell (oy, ox)'s window, in row-major window order; returns
    /// how many there are. `cells` holds at least `size.0 * size.1`.
    #[inline(always)]
    fn window_cells(&self, oy: usize, ox: usize, cells: &mut [usize]) -> usize {
        let mut count = 0;
        for ky in 0..self.size.0 {
            let Some(iy) = (oy * self.strides.0 + ky).checked_sub(self.pt).filter(|&i| i < self.h) else { continue };
            for kx in 0..self.size.1 {
                let Some(ix) = (ox * self.strides.1 + kx).checked_sub(self.pl).filter(|&i| i < self.w) else {
                    continue;
                };
                cells[count] = (iy * self.w + ix) * self.c;
                count += 1;
            }
        }
        count
    }
}

/// Runs `part(lo, hi, cells)` over the images, on two threads when there
/// are enough of them; `cells` is each part's buffer of window-cell
/// offsets (on the stack for windows of up to 64 cells).
fn by_images(threads: usize, g: &Geom, part: &(dyn Fn(usize, usize, &mut [usize]) + Sync)) {
    let with_cells = |lo: usize, hi: usize| {
        let need = g.size.0 * g.size.1;
        let (mut stack, mut heap) = ([0usize; 64], Vec::new());
        let cells: &mut [usize] = if need <= 64 {
            &mut stack
        } else {
            heap.resize(need, 0);
            &mut heap
        };
        part(lo, hi, cells)
    };
    if threads < 2 || g.n < 2 || g.n * g.image() < SPLIT_MIN_FLOATS {
        with_cells(0, g.n);
    } else {
        pool::join(&|| with_cells(0, g.n / 2), &|| with_cells(g.n / 2, g.n));
    }
}

/// # Safety
/// Pointers cover their dims; `out` overlaps nothing.
#[allow(clippy::too_many_arguments)]
pub unsafe fn pool2d(
    kernel: GemmKernel,
    threads: usize,
    kind: PoolKind,
    window: &Window,
    xd: &Dims,
    x: *const f32,
    od: &Dims,
    out: *mut f32,
) {
    let g = Geom::new(window, xd, od);
    let (x_addr, out_addr) = (x as usize, out as usize);
    let avx512 = uses_avx512(kernel);
    by_images(threads, &g, &|i0, i1, cells| {
        for b in i0..i1 {
            // SAFETY: image b of the input and the output; threads own disjoint images.
            let (xi, oi) = unsafe {
                (
                    std::slice::from_raw_parts((x_addr as *const f32).add(b * g.image()), g.image()),
                    std::slice::from_raw_parts_mut((out_addr as *mut f32).add(b * g.out_image()), g.out_image()),
                )
            };
            if avx512 {
                // SAFETY: `avx512` only where the CPU has AVX-512F.
                unsafe { pool_image_avx512(kind, &g, xi, oi, cells) }
            } else {
                pool_image(kind, &g, xi, oi, cells)
            }
        }
    });
}

/// dx from the pooled input x and dy.
///
/// # Safety
/// Pointers cover their dims; `dx` overlaps nothing.
#[allow(clippy::too_many_arguments)]
pub unsafe fn pool2d_grad(
    kernel: GemmKernel,
    threads: usize,
    kind: PoolKind,
    window: &Window,
    xd: &Dims,
    x: *const f32,
    dyd: &Dims,
    dy: *const f32,
    dx: *mut f32,
    ep: Option<Bound>,
) {
    let g = Geom::new(window, xd, dyd);
    let (x_addr, dy_addr, dx_addr) = (x as usize, dy as usize, dx as usize);
    let avx512 = uses_avx512(kernel);
    by_images(threads, &g, &|i0, i1, cells| {
        for b in i0..i1 {
            // SAFETY: image b of each buffer; threads own disjoint images.
            let (xi, gi, di) = unsafe {
                (
                    std::slice::from_raw_parts((x_addr as *const f32).add(b * g.image()), g.image()),
                    std::slice::from_raw_parts((dy_addr as *const f32).add(b * g.out_image()), g.out_image()),
                    std::slice::from_raw_parts_mut((dx_addr as *mut f32).add(b * g.image()), g.image()),
                )
            };
            if avx512 {
                // SAFETY: `avx512` only where the CPU has AVX-512F.
                unsafe { grad_image_avx512(kind, &g, xi, gi, di, cells) }
            } else {
                grad_image::<false>(kind, &g, xi, gi, di, cells, 0..g.c)
            }
            if let Some(ep) = ep {
                // The image's rows of dx viewed as [pixels, C], still in cache.
                let (pixels, p0) = (g.h * g.w, b * g.h * g.w);
                let image = ep.shifted(p0, 0);
                for j in (0..g.c).step_by(64) {
                    // SAFETY: the epilogue's buffers have dx's shape (or its
                    // per-channel, per-pixel or scalar shapes).
                    unsafe { image.apply(di.as_ptr(), g.c, 0, pixels, j, (g.c - j).min(64)) };
                }
            }
        }
    });
}

/// One image's pooling gradient for channels `channels` only, as
/// [`pool2d_grad`] computes them (the same operations lane by lane, so the
/// same bits): for a caller that splits the channels over threads and uses
/// each image's gradient while it is in cache. `xd` and `dyd` are one
/// image's dims; `dx`'s other channels are cleared or left as they were.
///
/// # Safety
/// `x` and `dx` hold one image of `xd`, `dy` one of `dyd`; `channels` lies
/// inside the channels.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn grad_image_channels(
    kernel: GemmKernel,
    kind: PoolKind,
    window: &Window,
    xd: &Dims,
    dyd: &Dims,
    x: *const f32,
    dy: *const f32,
    dx: *mut f32,
    channels: std::ops::Range<usize>,
) {
    let g = Geom::new(window, xd, dyd);
    let (xi, gi, di) = (
        std::slice::from_raw_parts(x, g.image()),
        std::slice::from_raw_parts(dy, g.out_image()),
        std::slice::from_raw_parts_mut(dx, g.image()),
    );
    let need = g.size.0 * g.size.1;
    let (mut stack, mut heap) = ([0usize; 64], Vec::new());
    let cells: &mut [usize] = if need <= 64 {
        &mut stack
    } else {
        heap.resize(need, 0);
        &mut heap
    };
    if uses_avx512(kernel) {
        grad_channels_avx512(kind, &g, xi, gi, di, cells, channels)
    } else {
        grad_image::<false>(kind, &g, xi, gi, di, cells, channels)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn grad_channels_avx512(
    kind: PoolKind,
    g: &Geom,
    x: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    cells: &mut [usize],
    channels: std::ops::Range<usize>,
) {
    grad_image::<true>(kind, g, x, dy, dx, cells, channels)
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn grad_channels_avx512(
    kind: PoolKind,
    g: &Geom,
    x: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    cells: &mut [usize],
    channels: std::ops::Range<usize>,
) {
    grad_image::<true>(kind, g, x, dy, dx, cells, channels)
}

fn uses_avx512(kernel: GemmKernel) -> bool {
    !matches!(kernel, GemmKernel::Scalar | GemmKernel::Packed) && super::gemm::cpu_has(super::IsaLevel::Avx512)
}

/// [`pool_image`] with AVX-512: output cells whose window lies inside the
/// image and has 4 or 9 cells (2×2, 3×3) take a loop with the window's
/// offsets fixed, which the compiler unrolls, the same operations lane by
/// lane; others the general one.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pool_image_avx512(kind: PoolKind, g: &Geom, x: &[f32], out: &mut [f32], cells: &mut [usize]) {
    let (sy, sx) = g.strides;
    let (ky, kx) = g.size;
    let full = ky * kx;
    if !matches!(full, 4 | 9) {
        return pool_image(kind, g, x, out, cells);
    }
    // Offsets of a whole window's cells from its first one, in window order.
    let mut offsets = [0usize; 9];
    for (i, o) in offsets[..full].iter_mut().enumerate() {
        *o = (i / kx * g.w + i % kx) * g.c;
    }
    // Output rows and columns whose windows lie inside the image.
    let inside = |o: usize, s: usize, k: usize, pad: usize, limit: usize| o * s >= pad && o * s + k - pad <= limit;
    for oy in 0..g.oh {
        let row_inside = inside(oy, sy, ky, g.pt, g.h);
        for ox in 0..g.ow {
            let o = &mut out[(oy * g.ow + ox) * g.c..][..g.c];
            if row_inside && inside(ox, sx, kx, g.pl, g.w) {
                let first = ((oy * sy - g.pt) * g.w + ox * sx - g.pl) * g.c;
                // SAFETY: every cell of this window lies inside the image.
                let cell = x.as_ptr().add(first);
                match full {
                    4 => pool_inside::<4>(kind, cell, &offsets, g.c, o.as_mut_ptr()),
                    _ => pool_inside::<9>(kind, cell, &offsets, g.c, o.as_mut_ptr()),
                }
            } else {
                pool_cell(kind, g, x, o, cells, oy, ox);
            }
        }
    }
}

/// One output cell from a window of `CELLS` cells at `cell + offsets[i]`,
/// 16 channels at a time: the maximum as [`takes_over`] picks it (the
/// first maximal cell, the first NaN), or the sum in window order divided
/// by the count, as [`pool_lanes`] computes them.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn pool_inside<const CELLS: usize>(
    kind: PoolKind,
    cell: *const f32,
    offsets: &[usize; 9],
    c: usize,
    out: *mut f32,
) {
    use std::arch::x86_64::*;
    let mut c0 = 0;
    while c0 < c {
        let mask: __mmask16 = if c - c0 >= LANES { 0xffff } else { (1u16 << (c - c0)) - 1 };
        let load = |i: usize| _mm512_maskz_loadu_ps(mask, cell.add(offsets[i] + c0));
        let mut acc = load(0);
        match kind {
            PoolKind::Max => {
                for i in 1..CELLS {
                    let v = load(i);
                    let takes =
                        _mm512_mask_cmp_ps_mask::<_CMP_NLE_UQ>(_mm512_cmp_ps_mask::<_CMP_ORD_Q>(acc, acc), v, acc);
                    acc = _mm512_mask_mov_ps(acc, takes, v);
                }
            }
            PoolKind::Avg => {
                for i in 1..CELLS {
                    acc = _mm512_add_ps(acc, load(i));
                }
                acc = _mm512_div_ps(acc, _mm512_set1_ps(CELLS as f32));
            }
        }
        _mm512_mask_storeu_ps(out.add(c0), mask, acc);
        c0 += LANES;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn grad_image_avx512(kind: PoolKind, g: &Geom, x: &[f32], dy: &[f32], dx: &mut [f32], cells: &mut [usize]) {
    grad_image::<true>(kind, g, x, dy, dx, cells, 0..g.c)
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn pool_image_avx512(kind: PoolKind, g: &Geom, x: &[f32], out: &mut [f32], cells: &mut [usize]) {
    pool_image(kind, g, x, out, cells)
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn grad_image_avx512(kind: PoolKind, g: &Geom, x: &[f32], dy: &[f32], dx: &mut [f32], cells: &mut [usize]) {
    grad_image::<true>(kind, g, x, dy, dx, cells, 0..g.c)
}

#[inline(always)]
fn pool_image(kind: PoolKind, g: &Geom, x: &[f32], out: &mut [f32], cells: &mut [usize]) {
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let o = &mut out[(oy * g.ow + ox) * g.c..][..g.c];
            pool_cell(kind, g, x, o, cells, oy, ox);
        }
    }
}

/// Output cell (oy, ox), all channels.
#[inline(always)]
fn pool_cell(kind: PoolKind, g: &Geom, x: &[f32], o: &mut [f32], cells: &mut [usize], oy: usize, ox: usize) {
    let count = g.window_cells(oy, ox, cells);
    let mut c0 = 0;
    while c0 + LANES <= g.c {
        pool_lanes::<LANES>(kind, x, &cells[..count], c0, &mut o[c0..c0 + LANES]);
        c0 += LANES;
    }
    for ci in c0..g.c {
        pool_lanes::<1>(kind, x, &cells[..count], ci, &mut o[ci..ci + 1]);
    }
}

/// One output cell's channels `c0..c0 + L`.
#[inline(always)]
fn pool_lanes<const L: usize>(kind: PoolKind, x: &[f32], cells: &[usize], c0: usize, out: &mut [f32]) {
    let out: &mut [f32; L] = out.try_into().expect("L lanes");
    let Some((&first, rest)) = cells.split_first() else {
        *out = [0.0; L];
        return;
    };
    let lanes = |cell: usize| -> &[f32; L] { x[cell + c0..][..L].try_into().expect("L lanes") };
    let mut acc = *lanes(first);
    match kind {
        PoolKind::Max => {
            for &cell in rest {
                let v = lanes(cell);
                for l in 0..L {
                    acc[l] = if takes_over(v[l], acc[l]) { v[l] } else { acc[l] };
                }
            }
        }
        PoolKind::Avg => {
            for &cell in rest {
                let v = lanes(cell);
                for l in 0..L {
                    acc[l] += v[l];
                }
            }
            let count = cells.len() as f32;
            for a in &mut acc {
                *a /= count;
            }
        }
    }
    *out = acc;
}

/// Whether a later window value `v` replaces the maximum so far: it is
/// larger, or the first NaN (after which nothing replaces it).
#[inline(always)]
#[allow(clippy::neg_cmp_op_on_partial_ord)]
fn takes_over(v: f32, best: f32) -> bool {
    // `&`, not `&&`: no branch, so the lane loops vectorize.
    #[allow(clippy::eq_op)]
    let best_is_number = best == best;
    // Not `v > best`: a NaN `v` must take over too.
    best_is_number & !(v <= best)
}

/// dx of one image, channels `channels` (others are cleared or left as
/// they were). `AVX512`: the caller runs with AVX-512F, so the max-pool
/// blocks use [`max_grad_avx512`], where the compiler leaves the lane loops
/// scalar.
#[inline(always)]
fn grad_image<const AVX512: bool>(
    kind: PoolKind,
    g: &Geom,
    x: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    cells: &mut [usize],
    channels: std::ops::Range<usize>,
) {
    // Windows that tile the image (stride = size, no padding) write each
    // of their cells once, so only the cells no window covers are cleared
    // first; the stores add onto a zero in a register instead of memory.
    let tiles = AVX512
        && kind == PoolKind::Max
        && g.strides == g.size
        && g.pt == 0
        && g.pl == 0
        && g.c.is_multiple_of(LANES)
        && channels.start.is_multiple_of(LANES)
        && channels.end.is_multiple_of(LANES)
        && g.oh * g.size.0 <= g.h
        && g.ow * g.size.1 <= g.w;
    if tiles {
        let (rows, cols) = (g.oh * g.size.0, g.ow * g.size.1);
        for iy in 0..g.h {
            let row = &mut dx[iy * g.w * g.c..][..g.w * g.c];
            row[if iy < rows { cols * g.c } else { 0 }..].fill(0.0);
        }
    } else {
        dx.fill(0.0);
    }
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let count = g.window_cells(oy, ox, cells);
            let d = &dy[(oy * g.ow + ox) * g.c..][..g.c];
            let mut c0 = channels.start;
            while c0 + LANES <= channels.end {
                if AVX512 && kind == PoolKind::Max && count > 0 {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: AVX512 only where the CPU has AVX-512F; every
                    // cell's lanes c0..c0+16 lie inside x and dx.
                    unsafe {
                        max_grad_avx512(x, &cells[..count], c0, &d[c0..c0 + LANES], dx, tiles)
                    };
                } else {
                    grad_lanes::<LANES>(kind, x, &cells[..count], c0, &d[c0..c0 + LANES], dx);
                }
                c0 += LANES;
            }
            for ci in c0..channels.end {
                grad_lanes::<1>(kind, x, &cells[..count], ci, &d[ci..ci + 1], dx);
            }
        }
    }
}

/// Adds one output cell's gradient, channels `c0..c0 + L`, onto its window.
#[inline(always)]
fn grad_lanes<const L: usize>(kind: PoolKind, x: &[f32], cells: &[usize], c0: usize, dy: &[f32], dx: &mut [f32]) {
    let dy: &[f32; L] = dy.try_into().expect("L lanes");
    let Some(&first) = cells.first() else { return };
    match kind {
        PoolKind::Max => {
            let lanes = |cell: usize| -> &[f32; L] { x[cell + c0..][..L].try_into().expect("L lanes") };
            let mut best = *lanes(first);
            // The winning cell's number, as f32 so masks and data have one width.
            let mut arg = [0f32; L];
            for (k, &cell) in cells.iter().enumerate().skip(1) {
                let v = lanes(cell);
                for l in 0..L {
                    let take = takes_over(v[l], best[l]);
                    best[l] = if take { v[l] } else { best[l] };
                    arg[l] = if take { k as f32 } else { arg[l] };
                }
            }
            // Adding -0.0 leaves every value as it is, so the cells that
            // are not the maximum take a no-op add instead of a branch.
            for (k, &cell) in cells.iter().enumerate() {
                let k = k as f32;
                let mut add = [0f32; L];
                for l in 0..L {
                    add[l] = if arg[l] == k { dy[l] } else { -0.0 };
                }
                let d: &mut [f32; L] = (&mut dx[cell + c0..][..L]).try_into().expect("L lanes");
                for l in 0..L {
                    d[l] += add[l];
                }
            }
        }
        PoolKind::Avg => {
            let count = cells.len() as f32;
            let mut share = *dy;
            for s in &mut share {
                *s /= count;
            }
            for &cell in cells {
                let d: &mut [f32; L] = (&mut dx[cell + c0..][..L]).try_into().expect("L lanes");
                for l in 0..L {
                    d[l] += share[l];
                }
            }
        }
    }
}

/// [`grad_lanes`] for max pooling and 16 lanes, the same operations written
/// with AVX-512 masks.
///
/// # Safety
/// AVX-512F; `cells` is not empty and every cell's lanes `c0..c0 + 16` lie
/// inside `x` and `dx`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn max_grad_avx512(x: &[f32], cells: &[usize], c0: usize, dy: &[f32], dx: &mut [f32], fresh: bool) {
    use std::arch::x86_64::*;
    debug_assert!(dy.len() == LANES && cells.iter().all(|&c| c + c0 + LANES <= x.len().min(dx.len())));
    let x = x.as_ptr().add(c0);
    let mut best = _mm512_loadu_ps(x.add(cells[0]));
    let mut arg = _mm512_setzero_ps();
    for (k, &cell) in cells.iter().enumerate().skip(1) {
        let v = _mm512_loadu_ps(x.add(cell));
        // takes_over: best is a number and not (v <= best).
        let best_is_number = _mm512_cmp_ps_mask::<_CMP_ORD_Q>(best, best);
        let take = _mm512_mask_cmp_ps_mask::<_CMP_NLE_UQ>(best_is_number, v, best);
        best = _mm512_mask_mov_ps(best, take, v);
        arg = _mm512_mask_mov_ps(arg, take, _mm512_set1_ps(k as f32));
    }
    let g = _mm512_loadu_ps(dy.as_ptr());
    let dx = dx.as_mut_ptr().add(c0);
    for (k, &cell) in cells.iter().enumerate() {
        let hit = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(arg, _mm512_set1_ps(k as f32));
        let d = dx.add(cell);
        // Lanes outside `hit` keep their value: the portable form's `+ -0.0`.
        // A `fresh` cell holds the zero it would have been cleared to.
        let old = if fresh { _mm512_setzero_ps() } else { _mm512_loadu_ps(d) };
        _mm512_storeu_ps(d, _mm512_mask_add_ps(old, hit, old, g));
    }
}
