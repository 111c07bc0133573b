//! Convolutions as contractions on the GEMM tile (NHWC images, HWIO
//! kernels): the input's receptive fields are copied into rows of a
//! column matrix ("im2col", one row per output pixel, one column per
//! kernel tap `(ky, kx, c)`, the kernel's own row order), so
//!
//! - forward:          `out[pixels, F] = cols[pixels, K] · kernel[K, F]`
//! - by the input:     `dcols = dy[pixels, F] · kernelᵀ`, then each row of
//!   `dcols` is added back onto the input cells it came from ("col2im")
//! - by the kernel:    `dkernel[K, F] = colsᵀ · dy`
//!
//! with `K = KH·KW·C`. The column matrix is built a chunk of pixels at a
//! time (≈ 256 KiB, so it is still in L2 when the tile reads it), which
//! bounds the scratch memory whatever the batch. Chunk boundaries never
//! change a result: forward and input-gradient elements do not depend on
//! which rows share a chunk, and the kernel gradient continues each
//! element's FMA chain from chunk to chunk (`gemm::single` with
//! `accumulate`). Two threads split work so that no element is shared:
//! forward by pixel chunks, input gradient by images (their receptive
//! fields never overlap), kernel gradient by rows of `dkernel` (kernel
//! taps), each thread building only its own columns, or by its columns
//! (filters) when there are too few taps to split. So results are
//! bit-identical with one or two threads.
//!
//! Padding follows Keras: `same` pads `max((out - 1) * stride + size - in, 0)`
//! cells, the smaller half before; padded cells read as zero.

use super::epilogue_eval::Bound;
#[cfg(target_arch = "x86_64")]
use super::gemm::{gathered_times, panels_times, with_packed_b};
use super::gemm::{single, GemmKernel, Mat, PackedB, SPLIT_MIN_MACS};
#[cfg(target_arch = "x86_64")]
use super::im2col::im2col_panels;
use super::im2col::{col2im, im2col, im2col_taps_major};
use super::pool;
use super::reduce::add_column_sums;
use crate::ir::{Padding, Window};
use std::cell::RefCell;

/// Rows of A per tile: a kernel gradient's taps go to the tile this many
/// at a time.
const PANEL: usize = super::gemm::MR;

/// Floats of the column matrix built at once: it stays in L2 while the
/// tile streams it.
const CHUNK_FLOATS: usize = 64 * 1024;

thread_local! {
    /// The column matrix, per thread; it only grows.
    static COLS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Geometry of one convolution at a concrete batch size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    /// Images, height, width, channels of the input.
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    /// Kernel height, width, filters.
    pub kh: usize,
    pub kw: usize,
    pub f: usize,
    /// Output height and width.
    pub oh: usize,
    pub ow: usize,
    pub sh: usize,
    pub sw: usize,
    /// Padding before the first row and column.
    pub pt: usize,
    pub pl: usize,
}

impl ConvGeom {
    /// Input `[N, H, W, C]`, kernel `[KH, KW, C, F]`; the output size is the
    /// shape rule's (`valid`: `(in - size) / stride + 1`, `same`:
    /// `ceil(in / stride)`).
    pub fn new(window: &Window, input: [usize; 4], kernel: [usize; 4]) -> ConvGeom {
        let [n, h, w, c] = input;
        let [kh, kw, _, f] = kernel;
        let (sh, sw) = window.strides;
        let (oh, ow) = match window.padding {
            Padding::Valid => ((h.saturating_sub(kh)) / sh + 1, (w.saturating_sub(kw)) / sw + 1),
            Padding::Same => (h.div_ceil(sh), w.div_ceil(sw)),
        };
        let (pt, pl) = match window.padding {
            Padding::Valid => (0, 0),
            Padding::Same => {
                let total = |o: usize, s: usize, k: usize, i: usize| ((o - 1) * s + k).saturating_sub(i);
                (total(oh, sh, kh, h) / 2, total(ow, sw, kw, w) / 2)
            }
        };
        ConvGeom { n, h, w, c, kh, kw, f, oh, ow, sh, sw, pt, pl }
    }

    /// Columns of the column matrix (kernel taps).
    pub fn taps(&self) -> usize {
        self.kh * self.kw * self.c
    }

    /// Rows of the column matrix (output pixels of the whole batch).
    pub fn pixels(&self) -> usize {
        self.n * self.oh * self.ow
    }

    pub fn macs(&self) -> usize {
        self.pixels() * self.taps() * self.f
    }

    /// A 1×1 kernel with unit strides and no padding reads the input as
    /// its own column matrix.
    fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.sh == 1 && self.sw == 1 && self.pt == 0 && self.pl == 0
    }

    /// Every window lies inside the image (no padding) and one window row
    /// is at least two vectors of contiguous floats: the tile can read the
    /// input in place, one kernel row at a time (see [`conv2d_in_place`]).
    fn reads_in_place(&self) -> bool {
        self.windows_inside() && self.kw * self.c >= 32
    }

    /// Every window lies inside the image.
    pub(super) fn windows_inside(&self) -> bool {
        self.pt == 0
            && self.pl == 0
            && (self.oh - 1) * self.sh + self.kh <= self.h
            && (self.ow - 1) * self.sw + self.kw <= self.w
    }

    /// Where output pixel `p`'s window starts in the input (floats), for
    /// `windows_inside()`.
    fn window_origin(&self, p: usize) -> usize {
        let per_image = self.oh * self.ow;
        let (b, oy, ox) = (p / per_image, p % per_image / self.ow, p % self.ow);
        ((b * self.h + oy * self.sh) * self.w + ox * self.sw) * self.c
    }

    /// For taps `t0..t1` in panels of `panel`, each panel's offset from a
    /// window's origin, if every window lies inside the image and each
    /// panel's taps are neighbours in the input.
    fn tap_runs(&self, t0: usize, t1: usize, panel: usize) -> Option<Vec<usize>> {
        if !self.windows_inside() {
            return None;
        }
        let offset = |t: usize| {
            let (ky, kx, c) = (t / (self.kw * self.c), t / self.c % self.kw, t % self.c);
            (ky * self.w + kx) * self.c + c
        };
        (t0..t1)
            .step_by(panel)
            .map(|first| {
                let last = (first + panel).min(t1) - 1;
                (offset(last) - offset(first) == last - first).then(|| offset(first))
            })
            .collect()
    }

    /// Rows per chunk for a column matrix `width` floats wide: a whole
    /// number of 6-row tiles.
    fn chunk_rows(width: usize) -> usize {
        (CHUNK_FLOATS / width.max(1) / 6 * 6).max(6)
    }

    /// Input row (or column) of output cell `o` at kernel offset `k`, if
    /// it lies inside the image.
    #[inline]
    pub(super) fn cell(o: usize, stride: usize, k: usize, pad: usize, limit: usize) -> Option<usize> {
        let i = (o * stride + k).checked_sub(pad)?;
        (i < limit).then_some(i)
    }
}

/// Runs `f` with this thread's column buffer of at least `len` floats.
fn with_cols<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    COLS.with(|cell| {
        let mut buf = cell.borrow_mut();
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
        f(&mut buf[..len])
    })
}

/// Runs `part(lo, hi)` over `0..total`, in two halves on two threads when
/// it pays; the halves cut at `split`.
pub(super) fn two_halves(
    threads: usize,
    macs: usize,
    total: usize,
    split: usize,
    part: &(dyn Fn(usize, usize) + Sync),
) {
    if threads < 2 || macs < SPLIT_MIN_MACS || split == 0 || split >= total {
        part(0, total);
    } else {
        pool::join(&|| part(0, split), &|| part(split, total));
    }
}

/// `out [N, OH, OW, F] = conv2d(x [N, H, W, C], kernel [KH, KW, C, F])`;
/// with `winograd`, a 3×3 stride-1 window on an AVX-512 tile runs by
/// Winograd's F(2×2, 3×3) (same results within rounding).
///
/// # Safety
/// The pointers cover their shapes; `out` overlaps neither input.
pub unsafe fn conv2d(
    kernel: GemmKernel,
    threads: usize,
    winograd: bool,
    g: &ConvGeom,
    x: *const f32,
    k: *const f32,
    out: *mut f32,
) {
    conv2d_with(kernel, threads, winograd, g, x, k, out, None)
}

/// [`conv2d`], then `ep` on each finished block of the output (viewed as
/// `[pixels, F]`) while it is in cache.
///
/// # Safety
/// As [`conv2d`]; the epilogue's buffers cover the output's shape.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn conv2d_with(
    kernel: GemmKernel,
    threads: usize,
    winograd: bool,
    g: &ConvGeom,
    x: *const f32,
    k: *const f32,
    out: *mut f32,
    ep: Option<Bound>,
) {
    let (m, taps, f) = (g.pixels(), g.taps(), g.f);
    if m == 0 {
        return;
    }
    if winograd && super::winograd::applies(g, kernel) {
        return super::winograd::forward(kernel, threads, g, x, k, out, ep);
    }
    if super::conv_direct::applies(g, kernel) {
        return super::conv_direct::forward(threads, g, x, k, out, ep);
    }
    if g.reads_in_place() && !matches!(kernel, GemmKernel::Scalar | GemmKernel::Packed) {
        return conv2d_in_place(kernel, threads, g, x, k, out, ep);
    }
    let xs = std::slice::from_raw_parts(x, g.n * g.h * g.w * g.c);
    let (x_addr, k_addr, out_addr) = (x as usize, k as usize, out as usize);
    let rows = ConvGeom::chunk_rows(taps);
    let chunks = m.div_ceil(rows);
    let part = |c0: usize, c1: usize| {
        let out = out_addr as *mut f32;
        let b = Mat { ptr: k_addr as *const f32, rs: f as isize, cs: 1 };
        for chunk in c0..c1 {
            let p0 = chunk * rows;
            let r = (m - p0).min(rows);
            let ep = ep.map(|e| e.shifted(p0, 0));
            // SAFETY: this chunk's rows of `out` are written by this thread only.
            unsafe {
                if g.is_pointwise() {
                    let a = Mat { ptr: (x_addr as *const f32).add(p0 * taps), rs: taps as isize, cs: 1 };
                    single(kernel, r, taps, f, a, b, out.add(p0 * f), f, ep, false);
                } else {
                    with_cols(r * taps, |cols| {
                        let a = if g.c == 1 && g.sw == 1 {
                            im2col_taps_major(g, xs, p0, r, 0, taps, cols);
                            Mat { ptr: cols.as_ptr(), rs: 1, cs: r as isize }
                        } else {
                            im2col(g, xs, p0, r, 0, taps, cols);
                            Mat { ptr: cols.as_ptr(), rs: taps as isize, cs: 1 }
                        };
                        single(kernel, r, taps, f, a, b, out.add(p0 * f), f, ep, false);
                    });
                }
            }
        }
    };
    two_halves(threads, g.macs(), chunks, chunks / 2, &part);
}

/// [`conv2d_with`] without a column matrix ("implicit GEMM"): for one
/// output row and one kernel row `ky`, the receptive fields' rows are
/// rows of the input `sw·C` floats apart, each `KW·C` contiguous floats —
/// a strided A the tile reads in place — and the kernel's rows for `ky`
/// are B. The `KH` calls continue each element's FMA chain from the value
/// stored in C, so every output is the same chain over the taps in the
/// same order as through im2col, and the results are the same bits.
/// Threads split the output rows.
///
/// # Safety
/// As [`conv2d_with`]; `g.reads_in_place()`; an AVX-512 kernel.
unsafe fn conv2d_in_place(
    kernel: GemmKernel,
    threads: usize,
    g: &ConvGeom,
    x: *const f32,
    k: *const f32,
    out: *mut f32,
    ep: Option<Bound>,
) {
    let f = g.f;
    let span = g.kw * g.c;
    let (x_addr, k_addr, out_addr) = (x as usize, k as usize, out as usize);
    let part = |r0: usize, r1: usize| {
        for row in r0..r1 {
            let (b, oy) = (row / g.oh, row % g.oh);
            let p0 = row * g.ow;
            let c = (out_addr as *mut f32).wrapping_add(p0 * f);
            for ky in 0..g.kh {
                let iy = oy * g.sh + ky;
                let a = Mat {
                    ptr: (x_addr as *const f32).wrapping_add((b * g.h + iy) * g.w * g.c),
                    rs: (g.sw * g.c) as isize,
                    cs: 1,
                };
                let bm = Mat { ptr: (k_addr as *const f32).wrapping_add(ky * span * f), rs: f as isize, cs: 1 };
                let last = ky + 1 == g.kh;
                let ep = if last { ep.map(|e| e.shifted(p0, 0)) } else { None };
                // SAFETY: output row `row` is written by this thread only;
                // every window lies inside the image.
                unsafe { single(kernel, g.ow, span, f, a, bm, c, f, ep, ky > 0) };
            }
        }
    };
    let rows = g.n * g.oh;
    two_halves(threads, g.macs(), rows, rows / 2, &part);
}

/// `dx [N, H, W, C]` of a convolution from `dy [N, OH, OW, F]` and the
/// kernel; `winograd` as for [`conv2d`].
///
/// # Safety
/// The pointers cover their shapes; `dx` overlaps neither input.
pub unsafe fn conv2d_grad_input(
    kernel: GemmKernel,
    threads: usize,
    winograd: bool,
    g: &ConvGeom,
    dy: *const f32,
    k: *const f32,
    dx: *mut f32,
) {
    if winograd && super::winograd::applies(g, kernel) {
        return super::winograd::grad_input(kernel, threads, g, dy, k, dx);
    }
    let (taps, f) = (g.taps(), g.f);
    // kernelᵀ: [F, K] read through the kernel's [K, F] layout.
    let b = Mat { ptr: k, rs: 1, cs: f as isize };
    // On the AVX-512 tile every chunk's product packs kernelᵀ the same way:
    // pack it once for both threads.
    #[cfg(target_arch = "x86_64")]
    if matches!(kernel, GemmKernel::Avx512 | GemmKernel::Avx512Direct | GemmKernel::Avx512Packed) && f > 0 && taps > 0 {
        return with_packed_b(f, taps, b, |packed| grad_input_chunks(kernel, threads, g, dy, b, Some(packed), dx));
    }
    grad_input_chunks(kernel, threads, g, dy, b, None, dx)
}

/// [`conv2d_grad_input`] by chunks of pixels: `dcols = dy · kernelᵀ`, then
/// col2im; with `packed`, kernelᵀ as packed once (the bits `single` gives).
unsafe fn grad_input_chunks(
    kernel: GemmKernel,
    threads: usize,
    g: &ConvGeom,
    dy: *const f32,
    b: Mat,
    packed: Option<PackedB>,
    dx: *mut f32,
) {
    let (taps, f) = (g.taps(), g.f);
    let image = g.h * g.w * g.c;
    let per_image = g.oh * g.ow;
    let (dy_addr, b_addr, dx_addr) = (dy as usize, b.ptr as usize, dx as usize);
    let rows = ConvGeom::chunk_rows(taps);
    let part = |i0: usize, i1: usize| {
        let b = Mat { ptr: b_addr as *const f32, ..b };
        // SAFETY: images i0..i1 of dx belong to this thread alone.
        let dx = unsafe { std::slice::from_raw_parts_mut((dx_addr as *mut f32).add(i0 * image), (i1 - i0) * image) };
        dx.fill(0.0);
        let (first, end) = (i0 * per_image, i1 * per_image);
        let mut p0 = first;
        while p0 < end {
            let r = (end - p0).min(rows);
            with_cols(r * taps, |cols| {
                let a = Mat { ptr: (dy_addr as *const f32).add(p0 * f), rs: f as isize, cs: 1 };
                // SAFETY: `cols` holds r × taps floats; `packed` only on AVX-512.
                match packed {
                    #[cfg(target_arch = "x86_64")]
                    Some(packed) => unsafe { packed.times(r, a, cols.as_mut_ptr(), taps, false) },
                    _ => unsafe { single(kernel, r, f, taps, a, b, cols.as_mut_ptr(), taps, None, false) },
                }
                // Pixel indices relative to the part's first image, as `dx` is.
                col2im(g, cols, p0 - first, r, dx);
            });
            p0 += r;
        }
    };
    two_halves(threads, g.macs(), g.n, g.n / 2, &part);
}

/// `dkernel [KH, KW, C, F]` of a convolution from its input and `dy`.
///
/// # Safety
/// The pointers cover their shapes; `dk` overlaps neither input.
pub unsafe fn conv2d_grad_kernel(
    kernel: GemmKernel,
    threads: usize,
    g: &ConvGeom,
    x: *const f32,
    dy: *const f32,
    dk: *mut f32,
) {
    conv2d_grad_kernel_with(kernel, threads, g, x, dy, dk, None)
}

/// [`conv2d_grad_kernel`]; with `sums`, also the sum of `dy` over its
/// pixels (`[F]`: the bias gradient), taken while each chunk of `dy` is in
/// cache for the kernel gradient. Each sum starts from zero and adds the
/// pixels in order, as the reduction does, so it has the reduction's bits.
///
/// # Safety
/// As [`conv2d_grad_kernel`]; `sums` covers `F` floats and overlaps nothing.
pub unsafe fn conv2d_grad_kernel_with(
    kernel: GemmKernel,
    threads: usize,
    g: &ConvGeom,
    x: *const f32,
    dy: *const f32,
    dk: *mut f32,
    sums: Option<*mut f32>,
) {
    let (m, taps, f) = (g.pixels(), g.taps(), g.f);
    let xs = std::slice::from_raw_parts(x, g.n * g.h * g.w * g.c);
    let (dy_addr, dk_addr, sums_addr) = (dy as usize, dk as usize, sums.map(|s| s as usize));
    if m == 0 {
        std::slice::from_raw_parts_mut(dk, taps * f).fill(0.0);
        if let Some(s) = sums {
            std::slice::from_raw_parts_mut(s, f).fill(0.0);
        }
        return;
    }
    if super::conv_direct::applies(g, kernel) {
        return super::conv_direct::grad_kernel(threads, g, x, dy, dk, sums);
    }
    // Rows t0..t1 of dkernel need only columns t0..t1 of the column matrix;
    // columns f0..f1 of dkernel only those of dy. The block of the first
    // taps also sums its columns of dy. Split by taps on the AVX-512 tile,
    // the tile takes A 6 taps at a time: where those are neighbours in the
    // input and every window lies inside the image, from each window in
    // place (no column matrix at all); otherwise from columns built straight
    // into such panels. The other kernels and the few-tap split keep the
    // row-major columns, the reference the tests compare with.
    let panels = cfg!(target_arch = "x86_64") && kernel == GemmKernel::Avx512 && taps >= 32;
    let block = |t0: usize, t1: usize, f0: usize, f1: usize| {
        let width = t1 - t0;
        let rows = ConvGeom::chunk_rows(width);
        let c = (dk_addr as *mut f32).wrapping_add(t0 * f + f0);
        let mut sums = sums_addr.filter(|_| t0 == 0).map(|s| {
            // SAFETY: columns f0..f1 of the sums belong to this block alone.
            let s = unsafe { std::slice::from_raw_parts_mut((s as *mut f32).add(f0), f1 - f0) };
            s.fill(0.0);
            s
        });
        let runs = if panels { g.tap_runs(t0, t1, PANEL) } else { None };
        let mut origins = Vec::new();
        let mut p0 = 0;
        while p0 < m {
            let r = (m - p0).min(rows);
            let dy_rows = Mat { ptr: (dy_addr as *const f32).wrapping_add(p0 * f + f0), rs: f as isize, cs: 1 };
            if let Some(runs) = &runs {
                origins.clear();
                origins.extend((p0..p0 + r).map(|p| xs[g.window_origin(p)..].as_ptr()));
                // SAFETY: `runs` only with an AVX-512 kernel and every window
                // inside the image; this block of dk belongs to this thread.
                #[cfg(target_arch = "x86_64")]
                unsafe {
                    gathered_times(&origins, runs, width, f1 - f0, dy_rows, c, f, p0 > 0)
                };
            } else if panels {
                #[cfg(target_arch = "x86_64")]
                with_cols(width.div_ceil(PANEL) * PANEL * r, |cols| {
                    // SAFETY: `panels` only with an AVX-512 kernel; this
                    // block of dk belongs to this thread alone.
                    unsafe {
                        im2col_panels(g, xs, p0, r, t0, t1, cols);
                        panels_times(cols.as_ptr(), width, r, f1 - f0, dy_rows, c, f, p0 > 0);
                    }
                });
            } else {
                with_cols(r * width, |cols| {
                    let a = if g.c == 1 && g.sw == 1 {
                        im2col_taps_major(g, xs, p0, r, t0, t1, cols);
                        Mat { ptr: cols.as_ptr(), rs: r as isize, cs: 1 }
                    } else {
                        im2col(g, xs, p0, r, t0, t1, cols);
                        Mat { ptr: cols.as_ptr(), rs: 1, cs: width as isize }
                    };
                    // SAFETY: this block of dk belongs to this thread alone.
                    unsafe { single(kernel, width, r, f1 - f0, a, dy_rows, c, f, None, p0 > 0) };
                });
            }
            if let Some(sums) = sums.as_deref_mut() {
                // SAFETY: rows p0..p0 + r of dy, columns f0..f1.
                let first = (dy_addr as *const f32).wrapping_add(p0 * f + f0);
                let chunk = unsafe { std::slice::from_raw_parts(first, (r - 1) * f + f1 - f0) };
                add_column_sums(kernel, chunk, f, sums);
            }
            p0 += r;
        }
    };
    if taps < 32 {
        // Few taps (a first layer): split the filters instead; both threads
        // build the (narrow) column matrix, and no element of dk is shared.
        let split = if f >= 32 { (f / 2).div_ceil(16) * 16 } else { 0 };
        two_halves(threads, g.macs(), f, split, &|f0, f1| block(0, taps, f0, f1));
    } else {
        let split = (taps / 2).div_ceil(16) * 16;
        two_halves(threads, g.macs(), taps, split, &|t0, t1| block(t0, t1, 0, f));
    }
}
