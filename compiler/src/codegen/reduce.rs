//! Sums and maxima over axes, element by element in the interpreter's
//! order: each output element starts from 0 (or −∞) and takes its terms in
//! row-major order of the input.
//!
//! Reducing the leading axes of a tensor (a bias gradient: `[B, H, W, C]`
//! over `B, H, W`) is the common case in a training step. There every output
//! element is a column of the input viewed as `[rows, cols]`, so a block of
//! columns stays in registers while the rows stream by, instead of a load
//! and store of the output per row. The per-element order is the same, so
//! are the bits.

use super::dims::Dims;
use super::gemm::{cpu_has, GemmKernel};
use super::IsaLevel;
use crate::ir::ReduceOp;

/// `out = op(x)` over `axes` of `d`.
pub(super) fn reduce(kernel: GemmKernel, op: ReduceOp, axes: &[usize], d: &Dims, x: &[f32], out: &mut [f32]) {
    out.fill(match op {
        ReduceOp::Sum => 0.0,
        ReduceOp::Max => f32::NEG_INFINITY,
    });
    if let (ReduceOp::Sum, Some(cols)) = (op, leading_axes(axes, d)) {
        if cols > 0 && !x.is_empty() {
            if !matches!(kernel, GemmKernel::Scalar | GemmKernel::Packed) && cpu_has(IsaLevel::Avx512) {
                // SAFETY: the CPU has AVX-512F.
                unsafe { column_sums_avx512(x, cols, cols, out) };
            } else {
                column_sums(x, cols, cols, out);
            }
        }
        return;
    }
    any_axes(op, axes, d, x, out);
}

/// The number of columns when `axes` are exactly the first `axes.len()`
/// axes of `d` and at least one axis is kept.
fn leading_axes(axes: &[usize], d: &Dims) -> Option<usize> {
    let leading = !axes.is_empty() && axes.len() < d.n && axes.iter().enumerate().all(|(i, &a)| a == i);
    leading.then(|| d.d[axes.len()..d.n].iter().product())
}

/// Adds the first `out.len()` columns of `x`, whose rows are `stride`
/// floats apart, onto `out`, row by row in order: the sums of a matrix
/// taken in consecutive blocks of rows are the sums of the whole, bit for
/// bit (a kernel gradient sums its `dy` chunk by chunk this way).
pub(super) fn add_column_sums(kernel: GemmKernel, x: &[f32], stride: usize, out: &mut [f32]) {
    if out.is_empty() || x.is_empty() {
        return;
    }
    if !matches!(kernel, GemmKernel::Scalar | GemmKernel::Packed) && cpu_has(IsaLevel::Avx512) {
        // SAFETY: the CPU has AVX-512F.
        unsafe { column_sums_avx512(x, stride, out.len(), out) };
    } else {
        column_sums(x, stride, out.len(), out);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn column_sums_avx512(x: &[f32], stride: usize, cols: usize, out: &mut [f32]) {
    column_sums(x, stride, cols, out)
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn column_sums_avx512(x: &[f32], stride: usize, cols: usize, out: &mut [f32]) {
    column_sums(x, stride, cols, out)
}

/// `out[j] += x[r, j]` for `j < cols` and every row `r` in order, row `r`
/// starting at `x[r * stride]`.
#[inline(always)]
fn column_sums(x: &[f32], stride: usize, cols: usize, out: &mut [f32]) {
    let mut j = 0;
    while j < cols {
        let left = cols - j;
        j += if left >= 64 {
            column_block::<64>(x, stride, j, out)
        } else if left >= 32 {
            column_block::<32>(x, stride, j, out)
        } else if left >= 16 {
            column_block::<16>(x, stride, j, out)
        } else if left >= 4 {
            column_block::<4>(x, stride, j, out)
        } else {
            column_block::<1>(x, stride, j, out)
        };
    }
}

/// Columns `j..j + W`; returns `W`.
#[inline(always)]
fn column_block<const W: usize>(x: &[f32], stride: usize, j: usize, out: &mut [f32]) -> usize {
    let sums: &mut [f32; W] = (&mut out[j..j + W]).try_into().expect("W columns");
    let mut acc = *sums;
    // The last row may stop short of a whole stride.
    for row in x.chunks(stride) {
        let vals: &[f32; W] = row[j..j + W].try_into().expect("W columns");
        for l in 0..W {
            acc[l] += vals[l];
        }
    }
    *sums = acc;
    W
}

/// Any set of axes: rows of the last axis, each added onto (or maxed into)
/// the output elements it maps to.
fn any_axes(op: ReduceOp, axes: &[usize], d: &Dims, x: &[f32], out: &mut [f32]) {
    // Output stride of every input axis: 0 for reduced axes.
    let mut strides = [0usize; 8];
    let mut s = 1;
    for i in (0..d.n).rev() {
        if !axes.contains(&i) {
            strides[i] = s;
            s *= d.d[i];
        }
    }
    let inner = if d.n == 0 { 1 } else { d.d[d.n - 1] };
    let inner_stride = if d.n == 0 { 0 } else { strides[d.n - 1] };
    let rows = x.len() / inner.max(1);
    let mut idx = [0usize; 8];
    for r in 0..rows {
        let mut base = 0;
        for i in 0..d.n.saturating_sub(1) {
            base += idx[i] * strides[i];
        }
        let xs = &x[r * inner..(r + 1) * inner];
        match (op, inner_stride) {
            (ReduceOp::Sum, 0) => out[base] += xs.iter().sum::<f32>(),
            (ReduceOp::Max, 0) => out[base] = xs.iter().fold(out[base], |m, &v| nan_max(m, v)),
            (ReduceOp::Sum, _) => out[base..base + inner].iter_mut().zip(xs).for_each(|(o, v)| *o += v),
            (ReduceOp::Max, _) => out[base..base + inner].iter_mut().zip(xs).for_each(|(o, &v)| *o = nan_max(*o, v)),
        }
        d.next_row(&mut idx);
    }
}

/// Max that propagates NaN, as NumPy's does.
#[inline]
fn nan_max(acc: f32, v: f32) -> f32 {
    if acc.is_nan() || v.is_nan() {
        f32::NAN
    } else if v > acc {
        v
    } else {
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values whose sums round differently in a different order.
    fn values(n: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 7919 % 1013) as f32 - 506.0) * 1.37e-3 + if i % 5 == 0 { 1e4 } else { 0.0 }).collect()
    }

    #[test]
    fn leading_axes_sum_has_the_general_paths_bits() {
        for (shape, axes) in [
            (vec![7, 3, 5, 32], vec![0, 1, 2]),
            (vec![9, 64], vec![0]),
            (vec![5, 130], vec![0]),
            (vec![4, 6, 37], vec![0, 1]),
            (vec![3, 2, 3, 1], vec![0]),
            (vec![11, 10], vec![0]),
        ] {
            let mut d = Dims { n: shape.len(), d: [1; 8] };
            d.d[..shape.len()].copy_from_slice(&shape);
            let x = values(shape.iter().product());
            let cols: usize = shape[axes.len()..].iter().product();
            let mut general = vec![0.0; cols];
            any_axes(ReduceOp::Sum, &axes, &d, &x, &mut general);
            for kernel in [GemmKernel::Avx512, GemmKernel::Scalar] {
                let mut fast = vec![f32::NAN; cols];
                reduce(kernel, ReduceOp::Sum, &axes, &d, &x, &mut fast);
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&fast), bits(&general), "{shape:?} over {axes:?} with {kernel:?}");
            }
        }
    }

    #[test]
    fn only_a_leading_run_of_axes_takes_the_column_path() {
        let d = Dims { n: 3, d: [2, 3, 4, 1, 1, 1, 1, 1] };
        assert_eq!(leading_axes(&[0, 1], &d), Some(4));
        assert_eq!(leading_axes(&[0], &d), Some(12));
        assert_eq!(leading_axes(&[1], &d), None);
        assert_eq!(leading_axes(&[0, 2], &d), None);
        assert_eq!(leading_axes(&[0, 1, 2], &d), None);
        assert_eq!(leading_axes(&[], &d), None);
    }
}
