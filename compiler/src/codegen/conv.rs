//! Pooling kernels (NHWC images), called from generated code through
//! [`super::native`]; convolutions are contractions (`convgemm`).
//!
//! Direct loops whose innermost loop runs over contiguous channels, so the
//! compiler vectorizes them. Padding follows Keras: `same` pads
//! `max((out - 1) * stride + size - in, 0)` cells, the smaller half before.
//! Padded cells are skipped (average pooling divides by the number of real
//! cells).

use super::dims::Dims;
use crate::ir::{Padding, PoolKind, Window};

/// Padding before the first row and column.
fn pad_before(w: &Window, h: usize, wd: usize, oh: usize, ow: usize) -> (usize, usize) {
    match w.padding {
        Padding::Valid => (0, 0),
        Padding::Same => {
            let total = |o: usize, s: usize, k: usize, i: usize| ((o - 1) * s + k).saturating_sub(i);
            (total(oh, w.strides.0, w.size.0, h) / 2, total(ow, w.strides.1, w.size.1, wd) / 2)
        }
    }
}

/// Input cell for output cell `o` and window offset `k`, if inside the image.
#[inline]
fn cell(o: usize, stride: usize, k: usize, pad: usize, limit: usize) -> Option<usize> {
    let i = (o * stride + k).checked_sub(pad)?;
    (i < limit).then_some(i)
}

/// # Safety
/// Pointers cover their dims.
pub unsafe fn pool2d(kind: PoolKind, w: &Window, xd: &Dims, x: *const f32, od: &Dims, out: *mut f32) {
    let (n, h, wd, c) = (xd.d[0], xd.d[1], xd.d[2], xd.d[3]);
    let (oh, ow) = (od.d[1], od.d[2]);
    let (pt, pl) = pad_before(w, h, wd, oh, ow);
    let out = std::slice::from_raw_parts_mut(out, od.numel());
    let x = std::slice::from_raw_parts(x, xd.numel());
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                let o = &mut out[((b * oh + oy) * ow + ox) * c..][..c];
                o.fill(match kind {
                    PoolKind::Max => f32::NEG_INFINITY,
                    PoolKind::Avg => 0.0,
                });
                let mut count = 0usize;
                for ky in 0..w.size.0 {
                    let Some(iy) = cell(oy, w.strides.0, ky, pt, h) else { continue };
                    for kx in 0..w.size.1 {
                        let Some(ix) = cell(ox, w.strides.1, kx, pl, wd) else { continue };
                        count += 1;
                        let xr = &x[((b * h + iy) * wd + ix) * c..][..c];
                        for (ov, &xv) in o.iter_mut().zip(xr) {
                            match kind {
                                PoolKind::Max => {
                                    if xv > *ov {
                                        *ov = xv
                                    }
                                }
                                PoolKind::Avg => *ov += xv,
                            }
                        }
                    }
                }
                if kind == PoolKind::Avg && count > 0 {
                    let inv = count as f32;
                    o.iter_mut().for_each(|v| *v /= inv);
                }
            }
        }
    }
}

/// dx from the pooled input x and dy.
///
/// # Safety
/// Pointers cover their dims.
pub unsafe fn pool2d_grad(
    kind: PoolKind,
    w: &Window,
    xd: &Dims,
    x: *const f32,
    dyd: &Dims,
    dy: *const f32,
    dx: *mut f32,
) {
    let (n, h, wd, c) = (xd.d[0], xd.d[1], xd.d[2], xd.d[3]);
    let (oh, ow) = (dyd.d[1], dyd.d[2]);
    let (pt, pl) = pad_before(w, h, wd, oh, ow);
    let dx = std::slice::from_raw_parts_mut(dx, xd.numel());
    let dy = std::slice::from_raw_parts(dy, dyd.numel());
    let x = std::slice::from_raw_parts(x, xd.numel());
    dx.fill(0.0);
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                let g = &dy[((b * oh + oy) * ow + ox) * c..][..c];
                let cells = (0..w.size.0).filter_map(|ky| cell(oy, w.strides.0, ky, pt, h)).flat_map(|iy| {
                    (0..w.size.1).filter_map(move |kx| cell(ox, w.strides.1, kx, pl, wd)).map(move |ix| (iy, ix))
                });
                match kind {
                    PoolKind::Avg => {
                        let count = cells.clone().count().max(1) as f32;
                        for (iy, ix) in cells {
                            let d = &mut dx[((b * h + iy) * wd + ix) * c..][..c];
                            for (dv, &gv) in d.iter_mut().zip(g) {
                                *dv += gv / count;
                            }
                        }
                    }
                    PoolKind::Max => {
                        for (ci, &gv) in g.iter().enumerate() {
                            let mut best: Option<(usize, f32)> = None;
                            for (iy, ix) in cells.clone() {
                                let at = ((b * h + iy) * wd + ix) * c + ci;
                                if best.is_none_or(|(_, bv)| x[at] > bv) {
                                    best = Some((at, x[at]));
                                }
                            }
                            if let Some((at, _)) = best {
                                dx[at] += gv;
                            }
                        }
                    }
                }
            }
        }
    }
}
