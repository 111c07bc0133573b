//! 2-D convolution (NHWC input, HWIO kernel) and its two exact adjoints,
//! written as plain loops over one shared index mapping.
//!
//! Window geometry follows Keras/TensorFlow: `valid` keeps the windows that
//! fit; `same` gives `ceil(in / stride)` outputs and pads
//! `total = max((out - 1) * stride + k - in, 0)` cells, `total / 2` before
//! (top/left) and the rest after (bottom/right). Output cell `(oy, ox)` tap
//! `(ky, kx)` reads input cell `(oy * sh + ky - pad_top, ox * sw + kx - pad_left)`;
//! taps falling in the padding read zero. Because the gradient ops use the
//! very same mapping ([`taps`]), they are the adjoints of `conv2d` by
//! construction, which the tests check numerically.

use super::value::Float;
use crate::ir::{Padding, Window};
use ndarray::{Array4, ArrayD, ArrayView4, Ix4};

/// Output size and leading padding of a window sliding over an `h x w` image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Geometry {
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
    pub pad_top: usize,
    pub pad_left: usize,
}

pub(super) fn geometry(h: usize, w: usize, window: &Window) -> Result<Geometry, String> {
    let (kh, kw) = window.size;
    let (sh, sw) = window.strides;
    if kh == 0 || kw == 0 || sh == 0 || sw == 0 {
        return Err(format!("window {window:?}: sizes and strides must be at least 1"));
    }
    let (oh, ow, pad_top, pad_left) = match window.padding {
        Padding::Valid => {
            if kh > h || kw > w {
                return Err(format!("the {kh}x{kw} window is larger than the {h}x{w} input"));
            }
            ((h - kh) / sh + 1, (w - kw) / sw + 1, 0, 0)
        }
        Padding::Same => {
            let (oh, ow) = (h.div_ceil(sh), w.div_ceil(sw));
            // An empty image has no outputs and so no padding.
            let total = |out: usize, s: usize, k: usize, n: usize| (out.saturating_sub(1) * s + k).saturating_sub(n);
            (oh, ow, total(oh, sh, kh, h) / 2, total(ow, sw, kw, w) / 2)
        }
    };
    Ok(Geometry { h, w, oh, ow, pad_top, pad_left })
}

/// The in-bounds taps of output cell `(oy, ox)`, in row-major window order:
/// `(ky, kx, iy, ix)`.
pub(super) fn taps(
    g: &Geometry,
    window: &Window,
    oy: usize,
    ox: usize,
) -> impl Iterator<Item = (usize, usize, usize, usize)> {
    let (kh, kw) = window.size;
    let (sh, sw) = window.strides;
    let (y0, x0) = ((oy * sh) as isize - g.pad_top as isize, (ox * sw) as isize - g.pad_left as isize);
    let (h, w) = (g.h as isize, g.w as isize);
    (0..kh).flat_map(move |ky| (0..kw).map(move |kx| (ky, kx))).filter_map(move |(ky, kx)| {
        let (iy, ix) = (y0 + ky as isize, x0 + kx as isize);
        (iy >= 0 && iy < h && ix >= 0 && ix < w).then_some((ky, kx, iy as usize, ix as usize))
    })
}

pub(super) fn view4<'a, T>(x: &'a ArrayD<T>, what: &str) -> Result<ArrayView4<'a, T>, String> {
    x.view().into_dimensionality::<Ix4>().map_err(|_| format!("{what} must have rank 4 but has shape {:?}", x.shape()))
}

fn check_kernel<T>(k: &ArrayView4<'_, T>, window: &Window, channels: usize) -> Result<(), String> {
    let s = k.shape();
    if (s[0], s[1]) != window.size || s[2] != channels {
        return Err(format!("kernel {s:?} does not match window {:?} and {channels} input channels", window.size));
    }
    Ok(())
}

/// `y[n, oy, ox, f] = Σ_{ky, kx, c} x[n, iy, ix, c] · k[ky, kx, c, f]`.
pub(super) fn conv2d<T: Float>(x: &ArrayD<T>, k: &ArrayD<T>, window: &Window) -> Result<ArrayD<T>, String> {
    let x = view4(x, "input")?;
    let k = view4(k, "kernel")?;
    let (n, h, w, c) = x.dim();
    check_kernel(&k, window, c)?;
    let f = k.shape()[3];
    let g = geometry(h, w, window)?;
    let mut y = Array4::<T>::zeros((n, g.oh, g.ow, f));
    for b in 0..n {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                for (ky, kx, iy, ix) in taps(&g, window, oy, ox) {
                    for ci in 0..c {
                        let xv = x[(b, iy, ix, ci)];
                        for fi in 0..f {
                            y[(b, oy, ox, fi)] = y[(b, oy, ox, fi)] + xv * k[(ky, kx, ci, fi)];
                        }
                    }
                }
            }
        }
    }
    Ok(y.into_dyn())
}

/// `dx[n, iy, ix, c] = Σ dy[n, oy, ox, f] · k[ky, kx, c, f]` over the taps
/// that read `(iy, ix)`; `input` is the `[N, H, W, C]` shape of `x`.
pub(super) fn conv2d_grad_input<T: Float>(
    dy: &ArrayD<T>,
    k: &ArrayD<T>,
    window: &Window,
    input: &[usize],
) -> Result<ArrayD<T>, String> {
    let dy = view4(dy, "gradient")?;
    let k = view4(k, "kernel")?;
    let &[n, h, w, c] = input else {
        return Err(format!("input shape {input:?} must have rank 4"));
    };
    check_kernel(&k, window, c)?;
    let f = k.shape()[3];
    let g = geometry(h, w, window)?;
    if dy.dim() != (n, g.oh, g.ow, f) {
        return Err(format!(
            "gradient {:?} does not match the convolution output {:?}",
            dy.shape(),
            [n, g.oh, g.ow, f]
        ));
    }
    let mut dx = Array4::<T>::zeros((n, h, w, c));
    for b in 0..n {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                for (ky, kx, iy, ix) in taps(&g, window, oy, ox) {
                    for ci in 0..c {
                        let mut acc = T::zero();
                        for fi in 0..f {
                            acc = acc + dy[(b, oy, ox, fi)] * k[(ky, kx, ci, fi)];
                        }
                        dx[(b, iy, ix, ci)] = dx[(b, iy, ix, ci)] + acc;
                    }
                }
            }
        }
    }
    Ok(dx.into_dyn())
}

/// `dk[ky, kx, c, f] = Σ_{n, oy, ox} x[n, iy, ix, c] · dy[n, oy, ox, f]`.
pub(super) fn conv2d_grad_kernel<T: Float>(
    x: &ArrayD<T>,
    dy: &ArrayD<T>,
    window: &Window,
) -> Result<ArrayD<T>, String> {
    let x = view4(x, "input")?;
    let dy = view4(dy, "gradient")?;
    let (n, h, w, c) = x.dim();
    let g = geometry(h, w, window)?;
    let f = dy.shape()[3];
    if dy.dim() != (n, g.oh, g.ow, f) {
        return Err(format!(
            "gradient {:?} does not match the convolution output {:?}",
            dy.shape(),
            [n, g.oh, g.ow, f]
        ));
    }
    let mut dk = Array4::<T>::zeros((window.size.0, window.size.1, c, f));
    for b in 0..n {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                for (ky, kx, iy, ix) in taps(&g, window, oy, ox) {
                    for ci in 0..c {
                        let xv = x[(b, iy, ix, ci)];
                        for fi in 0..f {
                            dk[(ky, kx, ci, fi)] = dk[(ky, kx, ci, fi)] + xv * dy[(b, oy, ox, fi)];
                        }
                    }
                }
            }
        }
    }
    Ok(dk.into_dyn())
}
