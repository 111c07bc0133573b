//! Column matrices of a convolution (see `convgemm.rs`): the input's
//! receptive fields copied into rows, one per output pixel, one column per
//! kernel tap `(ky, kx, c)` — row-major, taps-major for one channel, or
//! straight into the tile's 6-tap panels — and their gradients added back
//! onto the input cells they came from.

use super::convgemm::ConvGeom;

/// Rows `p0..p0 + rows` of the column matrix, columns `t0..t1`, into `dst`
/// (row stride `t1 - t0`).
pub(super) fn im2col(g: &ConvGeom, x: &[f32], p0: usize, rows: usize, t0: usize, t1: usize, dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if super::gemm::cpu_has(super::IsaLevel::Avx512) {
        // SAFETY: the CPU has AVX-512F.
        return unsafe { im2col_avx512(g, x, p0, rows, t0, t1, dst) };
    }
    let width = t1 - t0;
    im2col_rows(g, x, p0, rows, t0, t1, |r, j, run, len| {
        let d = &mut dst[r * width + j..][..len];
        match run {
            Some(s) => d.copy_from_slice(s),
            None => d.fill(0.0),
        }
    })
}

/// [`im2col`] with each run moved by 16-float loads and stores and one
/// masked pair for the rest, instead of a `memcpy` call per run (runs are
/// 3 to a few hundred floats); the values are the same.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn im2col_avx512(g: &ConvGeom, x: &[f32], p0: usize, rows: usize, t0: usize, t1: usize, dst: &mut [f32]) {
    use std::arch::x86_64::*;
    let width = t1 - t0;
    im2col_rows(g, x, p0, rows, t0, t1, |r, j, run, len| {
        let d = &mut dst[r * width + j..][..len];
        let Some(s) = run else { return d.fill(0.0) };
        assert_eq!(d.len(), s.len());
        let (dp, sp) = (d.as_mut_ptr(), s.as_ptr());
        let mut i = 0;
        // SAFETY: every access is below `d.len() == s.len()`; masked-off
        // lanes are neither read nor written.
        unsafe {
            while i + 16 <= d.len() {
                _mm512_storeu_ps(dp.add(i), _mm512_loadu_ps(sp.add(i)));
                i += 16;
            }
            let mask = ((1u32 << (d.len() - i)) - 1) as u16;
            _mm512_mask_storeu_ps(dp.add(i), mask, _mm512_maskz_loadu_ps(mask, sp.add(i)));
        }
    })
}

/// The loops of [`im2col`]: `put(r, j, run, len)` stores row `r`'s taps
/// `t0 + j..t0 + j + len`, a contiguous run of the input or (`None`) zeros.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn im2col_rows(
    g: &ConvGeom,
    x: &[f32],
    p0: usize,
    rows: usize,
    t0: usize,
    t1: usize,
    mut put: impl FnMut(usize, usize, Option<&[f32]>, usize),
) {
    let per_image = g.oh * g.ow;
    let span = g.kw * g.c;
    let row_floats = g.w * g.c;
    // Output pixel p0 + r as (image, row, column), advanced row by row.
    let (mut b, mut oy, mut ox) = (p0 / per_image, p0 % per_image / g.ow, p0 % g.ow);
    for r in 0..rows {
        let ix0 = (ox * g.sw).wrapping_sub(g.pl);
        let columns_inside = ox * g.sw >= g.pl && ix0 + g.kw <= g.w;
        for ky in 0..g.kh {
            let iy = ConvGeom::cell(oy, g.sh, ky, g.pt, g.h);
            let image_row = iy.map(|iy| &x[(b * g.h + iy) * row_floats..][..row_floats]);
            // Fast path: the window's row lies inside the image, so its
            // wanted taps are one contiguous run of at most KW·C floats.
            if let (true, Some(src)) = (columns_inside, image_row) {
                let (lo, hi) = ((ky * span).max(t0), ((ky + 1) * span).min(t1));
                if lo < hi {
                    put(r, lo - t0, Some(&src[ix0 * g.c + lo - ky * span..][..hi - lo]), hi - lo);
                }
                continue;
            }
            for kx in 0..g.kw {
                let base = (ky * g.kw + kx) * g.c;
                let (lo, hi) = (base.max(t0), (base + g.c).min(t1));
                if lo >= hi {
                    continue;
                }
                match (image_row, ConvGeom::cell(ox, g.sw, kx, g.pl, g.w)) {
                    (Some(src), Some(ix)) => put(r, lo - t0, Some(&src[ix * g.c + lo - base..][..hi - lo]), hi - lo),
                    _ => put(r, lo - t0, None, hi - lo),
                }
            }
        }
        ox += 1;
        if ox == g.ow {
            ox = 0;
            oy += 1;
            if oy == g.oh {
                oy = 0;
                b += 1;
            }
        }
    }
}

/// Rows `p0..p0 + rows` of the column matrix, columns `t0..t1`, straight
/// into the tile's panels of 6 taps (`gemm::panels_times`): tap `t0 + j`
/// of row `r` at `dst[(j / 6) * 6 * rows + r * 6 + j % 6]`. A kernel
/// gradient contracts over the rows, so the tile wants the taps 6 at a
/// time; built row-major, the columns were copied once more into panels.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn im2col_panels(
    g: &ConvGeom,
    x: &[f32],
    p0: usize,
    rows: usize,
    t0: usize,
    t1: usize,
    dst: &mut [f32],
) {
    use std::arch::x86_64::*;
    let lanes = super::gemm::MR;
    assert!(dst.len() >= (t1 - t0).div_ceil(lanes) * lanes * rows);
    let dp = dst.as_mut_ptr();
    im2col_rows(g, x, p0, rows, t0, t1, |r, j, run, len| {
        let mut lane = j % lanes;
        // SAFETY: the run's slots lie inside `dst` (asserted above).
        let mut d = unsafe { dp.add(((j / lanes) * rows + r) * lanes + lane) };
        let mut left = len;
        let mut src = run.map(|s| s.as_ptr());
        while left > 0 {
            let n = (lanes - lane).min(left);
            let mask = ((1u32 << n) - 1) as u16;
            // SAFETY: `n` floats of the run remain; masked-off lanes are
            // neither read nor written.
            unsafe {
                let v = src.map_or(_mm512_setzero_ps(), |s| _mm512_maskz_loadu_ps(mask, s));
                _mm512_mask_storeu_ps(d, mask, v);
                src = src.map(|s| s.add(n));
                // The next panel's slot for this row.
                d = d.add(lanes * rows - lane);
            }
            left -= n;
            lane = 0;
        }
    })
}

/// Rows `p0..p0 + rows` of the column matrix, columns `t0..t1`, stored
/// transposed (`dst[(t - t0) * rows + r]`), for a one-channel input read
/// with unit column stride. Then a tap's values along one output row are
/// one contiguous run of the input row, copied in one go, where the
/// row-major [`im2col`] moves three floats at a time. The kernel gradient
/// reads either layout through strides, so the products are the same.
pub(super) fn im2col_taps_major(
    g: &ConvGeom,
    x: &[f32],
    p0: usize,
    rows: usize,
    t0: usize,
    t1: usize,
    dst: &mut [f32],
) {
    debug_assert!(g.c == 1 && g.sw == 1);
    let per_image = g.oh * g.ow;
    let mut r = 0;
    while r < rows {
        let p = p0 + r;
        let (b, oy, ox0) = (p / per_image, p % per_image / g.ow, p % g.ow);
        let run = (g.ow - ox0).min(rows - r);
        for t in t0..t1 {
            let (ky, kx) = (t / g.kw, t % g.kw);
            let d = &mut dst[(t - t0) * rows + r..][..run];
            let Some(iy) = ConvGeom::cell(oy, g.sh, ky, g.pt, g.h) else {
                d.fill(0.0);
                continue;
            };
            // Output column ox0 + i reads input column ox0 + i + kx - pl.
            let first = ox0 + kx;
            let lo = g.pl.saturating_sub(first).min(run);
            let hi = (g.w + g.pl).saturating_sub(first).min(run).max(lo);
            d[..lo].fill(0.0);
            d[hi..].fill(0.0);
            let src = (b * g.h + iy) * g.w + first + lo - g.pl;
            d[lo..hi].copy_from_slice(&x[src..src + hi - lo]);
        }
        r += run;
    }
}

/// Adds rows `p0..p0 + rows` of a full-width gradient column matrix back
/// onto the input cells they were copied from. Each input cell receives
/// its terms in a fixed order (pixel, then tap).
pub(super) fn col2im(g: &ConvGeom, cols: &[f32], p0: usize, rows: usize, dx: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if super::gemm::cpu_has(super::IsaLevel::Avx512) {
        // SAFETY: the CPU has AVX-512F.
        return unsafe { col2im_avx512(g, cols, p0, rows, dx) };
    }
    col2im_rows(g, cols, p0, rows, dx)
}

/// [`col2im`] with its channel loops compiled for 16-float vectors (the
/// same adds, element by element, so the same bits).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn col2im_avx512(g: &ConvGeom, cols: &[f32], p0: usize, rows: usize, dx: &mut [f32]) {
    col2im_rows(g, cols, p0, rows, dx)
}

#[inline(always)]
fn col2im_rows(g: &ConvGeom, cols: &[f32], p0: usize, rows: usize, dx: &mut [f32]) {
    let taps = g.taps();
    let per_image = g.oh * g.ow;
    for r in 0..rows {
        let p = p0 + r;
        let (b, oy, ox) = (p / per_image, p % per_image / g.ow, p % g.ow);
        let crow = &cols[r * taps..][..taps];
        let ix0 = (ox * g.sw).wrapping_sub(g.pl);
        let columns_inside = ox * g.sw >= g.pl && ix0 + g.kw <= g.w;
        let span = g.kw * g.c;
        for ky in 0..g.kh {
            let Some(iy) = ConvGeom::cell(oy, g.sh, ky, g.pt, g.h) else { continue };
            if columns_inside {
                // The window's row is one run of KW·C cells. Within a pixel
                // each cell takes at most one term, so the order holds.
                let d = &mut dx[((b * g.h + iy) * g.w + ix0) * g.c..][..span];
                for (dv, &v) in d.iter_mut().zip(&crow[ky * span..][..span]) {
                    *dv += v;
                }
                continue;
            }
            for kx in 0..g.kw {
                let Some(ix) = ConvGeom::cell(ox, g.sw, kx, g.pl, g.w) else { continue };
                let d = &mut dx[((b * g.h + iy) * g.w + ix) * g.c..][..g.c];
                for (dv, &v) in d.iter_mut().zip(&crow[(ky * g.kw + kx) * g.c..][..g.c]) {
                    *dv += v;
                }
            }
        }
    }
}
