//! A few-tap convolution (a first layer) followed by a 2×2 stride-2
//! `valid` max pooling, in one pass: each register block holds the four
//! pixels of a row of pooling windows, applies the bias (+ relu) and keeps
//! only each window's maximum.
//!
//! Image by image, the image tutorial's first layer stored 26×26×32
//! convolved floats per image into a scratch and read them back for the
//! pooling, which took about as long as the convolution. Here only the
//! 13×13×32 pooled floats are stored.
//!
//! Each pixel is the FMA chain of `conv_direct::forward` (from zero, over
//! the taps in the kernel's order), its epilogue the `BiasForm`'s
//! operations and its window maximum `pooling.rs`'s rule, so the pooled
//! values are the bits of the three kernels run one after another.

use super::conv_direct::{tap_offsets, vector_masks};
use super::convgemm::{two_halves, ConvGeom};
use super::register_finish::Finish;
use super::winograd::Pooled;

/// `pooled = max_pool2x2(fin(conv2d(x, k)))` for `conv_direct::applies(g)`.
/// Threads split the rows of pooled pixels; each pooled value is computed
/// the same way whichever thread owns it.
///
/// # Safety
/// `conv_direct::applies(g, ..)`; `x` and `k` cover their shapes;
/// `pooled.out` holds `N·h·w·F` floats with `h ≤ oh / 2`, `w ≤ ow / 2` and
/// overlaps neither input; `fin`'s bias holds F floats.
pub(super) unsafe fn forward_pooled(
    threads: usize,
    g: &ConvGeom,
    x: *const f32,
    k: *const f32,
    pooled: Pooled,
    fin: Option<Finish>,
) {
    if pooled.h == 0 || pooled.w == 0 {
        return;
    }
    let offsets = tap_offsets(g);
    let taps = &offsets[..g.taps()];
    let (x_addr, k_addr, out_addr) = (x as usize, k as usize, pooled.out as usize);
    let (h, w) = (pooled.h, pooled.w);
    let bias_relu = fin.map(|f| (f.bias as usize, f.relu));
    let part = |r0: usize, r1: usize| {
        let pooled = Pooled { out: out_addr as *mut f32, h, w };
        let fin = bias_relu.map(|(bias, relu)| Finish { bias: bias as *const f32, relu });
        for row in r0..r1 {
            // SAFETY: pooled row `row` is written by this thread only.
            unsafe { pooled_row(g, taps, x_addr as *const f32, k_addr as *const f32, pooled, fin, row) };
        }
    };
    let rows = g.n * pooled.h;
    two_halves(threads, g.macs(), rows, rows / 2, &part);
}

/// Pooled row `row` (image `row / h`), filter strip by filter strip.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pooled_row(
    g: &ConvGeom,
    taps: &[usize],
    x: *const f32,
    k: *const f32,
    pooled: Pooled,
    fin: Option<Finish>,
    row: usize,
) {
    let mut j0 = 0;
    while j0 < g.f {
        let w = (g.f - j0).min(64);
        let at = Strip { g, taps, x, k, pooled, fin, row, j0, w };
        match w.div_ceil(16) {
            1 => strip::<1>(&at),
            2 => strip::<2>(&at),
            3 => strip::<3>(&at),
            _ => strip::<4>(&at),
        }
        j0 += w;
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn pooled_row(_: &ConvGeom, _: &[usize], _: *const f32, _: *const f32, _: Pooled, _: Option<Finish>, _: usize) {
    unreachable!("`conv_direct::applies` needs AVX-512")
}

/// Filters `j0..j0 + w` of pooled row `row`.
struct Strip<'a> {
    g: &'a ConvGeom,
    taps: &'a [usize],
    x: *const f32,
    k: *const f32,
    pooled: Pooled,
    fin: Option<Finish>,
    row: usize,
    j0: usize,
    w: usize,
}

/// Pooling windows per register block for `V` vectors of filters: 16
/// accumulators (four pixels per window). With 24, as many as the plain
/// forward convolution holds, the compiler hoists the broadcasts of a tap
/// above its FMAs and spills (the image tutorial's predict took 6–9 % longer).
const fn windows_per_block(v: usize) -> usize {
    if v >= 4 {
        1
    } else {
        4 / v
    }
}

/// The strip in blocks of as many windows as the registers hold, then one
/// block of the windows left over.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn strip<const V: usize>(at: &Strip) {
    let most = windows_per_block(V);
    let pw = at.pooled.w;
    let mut px0 = 0;
    while px0 < pw {
        let p = (pw - px0).min(most);
        match (p, at.w % 16 == 0) {
            (1, true) => block::<1, 2, V, false>(at, px0),
            (1, false) => block::<1, 2, V, true>(at, px0),
            (2, true) => block::<2, 4, V, false>(at, px0),
            (2, false) => block::<2, 4, V, true>(at, px0),
            (3, true) => block::<3, 6, V, false>(at, px0),
            (3, false) => block::<3, 6, V, true>(at, px0),
            (_, true) => block::<4, 8, V, false>(at, px0),
            (_, false) => block::<4, 8, V, true>(at, px0),
        }
        px0 += p;
    }
}

/// Pooled pixels `px0..px0 + P` × filters `j0..j0 + w` (`V` vectors, the
/// last masked): two output rows of `R = 2·P` pixels accumulated tap by
/// tap, each window's maximum finished and stored.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn block<const P: usize, const R: usize, const V: usize, const MASKED: bool>(at: &Strip, px0: usize) {
    use super::register_finish::{add_bias, max_of_window};
    use std::arch::x86_64::*;
    debug_assert_eq!(R, 2 * P);
    let g = at.g;
    let masks = vector_masks::<V>(at.w);
    let (b, py) = (at.row / at.pooled.h, at.row % at.pooled.h);
    // Windows of output row 2·py, then 2·py + 1: origins `step` apart
    // along a row, the second row `below` after the first.
    let origin = at.x.add(((b * g.h + 2 * py * g.sh) * g.w + 2 * px0 * g.sw) * g.c);
    let (step, below) = (g.sw * g.c, g.sh * g.w * g.c);
    let mut acc = [[[_mm512_setzero_ps(); V]; R]; 2];
    for (tap, &offset) in at.taps.iter().enumerate() {
        let krow = at.k.add(tap * g.f + at.j0);
        let mut kv = [_mm512_setzero_ps(); V];
        for v in 0..V {
            kv[v] = if MASKED {
                _mm512_maskz_loadu_ps(masks[v], krow.add(16 * v))
            } else {
                _mm512_loadu_ps(krow.add(16 * v))
            };
        }
        for (dy, row) in acc.iter_mut().enumerate() {
            let a = origin.add(dy * below + offset);
            for (r, pixel) in row.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*a.add(r * step));
                for v in 0..V {
                    pixel[v] = _mm512_fmadd_ps(av, kv[v], pixel[v]);
                }
            }
        }
    }
    // The maximum commutes with a finite bias (+ relu) bit for bit:
    // rounding is monotone, the sums' and the relu's zeros are all +0, and a
    // NaN keeps its payload through the add. So a window is finished once,
    // after its maximum — unless a bias is NaN or infinite (it could make a
    // NaN of a cell that is not the maximum), where each cell is finished
    // first, as the separate kernels do.
    let mut bias = [_mm512_setzero_ps(); V];
    let mut finite = true;
    if let Some(fin) = at.fin {
        for v in 0..V {
            bias[v] = _mm512_maskz_loadu_ps(masks[v], fin.bias.add(at.j0 + 16 * v));
            let zero_if_finite = _mm512_sub_ps(bias[v], bias[v]);
            finite &= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(zero_if_finite, zero_if_finite) == 0;
        }
    }
    let dst = at.pooled.out.add(((b * at.pooled.h + py) * at.pooled.w + px0) * g.f + at.j0);
    for p in 0..P {
        for v in 0..V {
            let cells = [acc[0][2 * p][v], acc[0][2 * p + 1][v], acc[1][2 * p][v], acc[1][2 * p + 1][v]];
            let value = match at.fin {
                None => max_of_window(cells),
                Some(fin) if finite => add_bias(max_of_window(cells), bias[v], fin.relu),
                Some(fin) => max_of_window(cells.map(|c| add_bias(c, bias[v], fin.relu))),
            };
            _mm512_mask_storeu_ps(dst.add(p * g.f + 16 * v), masks[v], value);
        }
    }
}
