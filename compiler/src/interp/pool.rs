//! 2-D max and average pooling (NHWC) and their gradients.
//!
//! Windows use the convolution geometry (`conv::geometry`, Keras/TF `same`
//! split). Padding cells never take part: max pooling takes the maximum of
//! the window's in-bounds cells, average pooling divides by their count (as
//! TF does), and a window with no in-bounds cell (impossible with Keras
//! geometry, guarded anyway) yields 0. The max gradient goes to the first
//! maximal cell of each window in row-major window order, so ties are broken
//! the same way everywhere.

use super::conv::{geometry, taps, view4, Geometry};
use super::value::Float;
use crate::ir::{PoolKind, Window};
use ndarray::{Array4, ArrayD, ArrayView4};

/// The first maximal in-bounds cell `(iy, ix)` of window `(oy, ox)` in
/// channel `ci` of image `b`; NaN counts as maximal (NumPy's argmax).
fn argmax_cell<T: Float>(
    x: &ArrayView4<'_, T>,
    g: &Geometry,
    window: &Window,
    b: usize,
    oy: usize,
    ox: usize,
    ci: usize,
) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize, T)> = None;
    for (_, _, iy, ix) in taps(g, window, oy, ox) {
        let v = x[(b, iy, ix, ci)];
        best = match best {
            None => Some((iy, ix, v)),
            Some((_, _, bv)) if !bv.is_nan() && (v > bv || v.is_nan()) => Some((iy, ix, v)),
            keep => keep,
        };
    }
    best.map(|(iy, ix, _)| (iy, ix))
}

pub(super) fn pool2d<T: Float>(kind: PoolKind, x: &ArrayD<T>, window: &Window) -> Result<ArrayD<T>, String> {
    let x = view4(x, "input")?;
    let (n, h, w, c) = x.dim();
    let g = geometry(h, w, window)?;
    let mut y = Array4::<T>::zeros((n, g.oh, g.ow, c));
    for b in 0..n {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                for ci in 0..c {
                    y[(b, oy, ox, ci)] = match kind {
                        PoolKind::Max => {
                            argmax_cell(&x, &g, window, b, oy, ox, ci).map_or(T::zero(), |(iy, ix)| x[(b, iy, ix, ci)])
                        }
                        PoolKind::Avg => {
                            let (sum, count) = taps(&g, window, oy, ox)
                                .fold((T::zero(), 0usize), |(s, k), (_, _, iy, ix)| (s + x[(b, iy, ix, ci)], k + 1));
                            if count == 0 {
                                T::zero()
                            } else {
                                sum / T::from_f64(count as f64)
                            }
                        }
                    };
                }
            }
        }
    }
    Ok(y.into_dyn())
}

/// `dx` for `pool2d(kind, x)` given the output gradient `dy`.
pub(super) fn pool2d_grad<T: Float>(
    kind: PoolKind,
    x: &ArrayD<T>,
    dy: &ArrayD<T>,
    window: &Window,
) -> Result<ArrayD<T>, String> {
    let x = view4(x, "input")?;
    let dy = view4(dy, "gradient")?;
    let (n, h, w, c) = x.dim();
    let g = geometry(h, w, window)?;
    if dy.dim() != (n, g.oh, g.ow, c) {
        return Err(format!("gradient {:?} does not match the pooling output {:?}", dy.shape(), [n, g.oh, g.ow, c]));
    }
    let mut dx = Array4::<T>::zeros((n, h, w, c));
    for b in 0..n {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                for ci in 0..c {
                    let d = dy[(b, oy, ox, ci)];
                    match kind {
                        PoolKind::Max => {
                            if let Some((iy, ix)) = argmax_cell(&x, &g, window, b, oy, ox, ci) {
                                dx[(b, iy, ix, ci)] = dx[(b, iy, ix, ci)] + d;
                            }
                        }
                        PoolKind::Avg => {
                            let count = taps(&g, window, oy, ox).count();
                            if count > 0 {
                                let share = d / T::from_f64(count as f64);
                                for (_, _, iy, ix) in taps(&g, window, oy, ox) {
                                    dx[(b, iy, ix, ci)] = dx[(b, iy, ix, ci)] + share;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(dx.into_dyn())
}
