//! Ops that move elements without arithmetic (reshape, transpose, broadcast,
//! concat, slice, pad), plus the rank-2 matrix product.
//!
//! The movers are generic over the element type so they serve f32 and i32
//! values alike. Reshape reads and writes in row-major order regardless of
//! the input's memory layout.

use super::value::Float;
use ndarray::{ArrayD, ArrayView2, Axis, Ix2, IxDyn, Slice};

pub(super) fn matmul<T: Float>(
    a: &ArrayD<T>,
    b: &ArrayD<T>,
    transpose_a: bool,
    transpose_b: bool,
) -> Result<ArrayD<T>, String> {
    // Operands of rank > 2 are matrices whose rows are all leading axes
    // (see `Op::MatMul`); the result keeps `a`'s leading axes.
    let out_lead: Option<Vec<usize>> = (a.ndim() > 2 && !transpose_a).then(|| a.shape()[..a.ndim() - 1].to_vec());
    let (a, b) = (flatten_rows(a), flatten_rows(b));
    let mut a = as_matrix(&a, "left")?;
    let mut b = as_matrix(&b, "right")?;
    if transpose_a {
        a = a.reversed_axes();
    }
    if transpose_b {
        b = b.reversed_axes();
    }
    if a.ncols() != b.nrows() {
        return Err(format!("inner dimensions differ: {:?} x {:?}", a.shape(), b.shape()));
    }
    let c = a.dot(&b).into_dyn();
    match out_lead {
        Some(mut dims) => {
            dims.push(c.shape()[1]);
            reshape(&c, &dims)
        }
        None => Ok(c),
    }
}

/// A rank > 2 array as the matrix `[product of leading axes, last axis]`.
fn flatten_rows<T: Clone>(x: &ArrayD<T>) -> std::borrow::Cow<'_, ArrayD<T>> {
    if x.ndim() <= 2 {
        return std::borrow::Cow::Borrowed(x);
    }
    let last = x.shape()[x.ndim() - 1];
    let rows = x.len() / last.max(1);
    std::borrow::Cow::Owned(
        ArrayD::from_shape_vec(IxDyn(&[rows, last]), x.iter().cloned().collect()).expect("same count"),
    )
}

fn as_matrix<'a, T>(x: &'a ArrayD<T>, which: &str) -> Result<ArrayView2<'a, T>, String> {
    x.view()
        .into_dimensionality::<Ix2>()
        .map_err(|_| format!("{which} operand must be a matrix but has shape {:?}", x.shape()))
}

pub(super) fn reshape<E: Clone>(x: &ArrayD<E>, shape: &[usize]) -> Result<ArrayD<E>, String> {
    // `iter` walks in logical row-major order, whatever the memory layout.
    ArrayD::from_shape_vec(IxDyn(shape), x.iter().cloned().collect())
        .map_err(|_| format!("cannot reshape {:?} to {shape:?}: element counts differ", x.shape()))
}

/// Output axis `i` is input axis `perm[i]`.
pub(super) fn transpose<E: Clone>(x: &ArrayD<E>, perm: &[usize]) -> Result<ArrayD<E>, String> {
    let rank = x.ndim();
    let mut seen = vec![false; rank];
    if perm.len() != rank || perm.iter().any(|&p| p >= rank || std::mem::replace(&mut seen[p], true)) {
        return Err(format!("{perm:?} is not a permutation of {rank} axes"));
    }
    Ok(x.view().permuted_axes(IxDyn(perm)).as_standard_layout().into_owned())
}

pub(super) fn broadcast<E: Clone>(x: &ArrayD<E>, shape: &[usize]) -> Result<ArrayD<E>, String> {
    x.broadcast(IxDyn(shape))
        .map(|v| v.to_owned())
        .ok_or_else(|| format!("cannot broadcast {:?} to {shape:?}", x.shape()))
}

pub(super) fn concat<E: Clone>(parts: &[&ArrayD<E>], axis: usize) -> Result<ArrayD<E>, String> {
    let rank = parts.first().map_or(0, |p| p.ndim());
    if axis >= rank {
        return Err(format!("axis {axis} is out of range for rank {rank}"));
    }
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    ndarray::concatenate(Axis(axis), &views).map_err(|_| {
        let shapes: Vec<_> = parts.iter().map(|p| p.shape().to_vec()).collect();
        format!("cannot concatenate shapes {shapes:?} along axis {axis}")
    })
}

pub(super) fn slice<E: Clone>(x: &ArrayD<E>, axis: usize, start: usize, end: usize) -> Result<ArrayD<E>, String> {
    if axis >= x.ndim() || start > end || end > x.shape()[axis] {
        return Err(format!("range {start}..{end} on axis {axis} does not fit shape {:?}", x.shape()));
    }
    Ok(x.slice_axis(Axis(axis), Slice::from(start..end)).to_owned())
}

/// Zeros added before and after along `axis`.
pub(super) fn pad<E: Clone + num_traits::Zero>(
    x: &ArrayD<E>,
    axis: usize,
    before: usize,
    after: usize,
) -> Result<ArrayD<E>, String> {
    if axis >= x.ndim() {
        return Err(format!("axis {axis} is out of range for rank {}", x.ndim()));
    }
    let mut shape = x.shape().to_vec();
    let n = shape[axis];
    shape[axis] = n + before + after;
    let mut out = ArrayD::from_elem(IxDyn(&shape), E::zero());
    out.slice_axis_mut(Axis(axis), Slice::from(before..before + n)).assign(x);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2, arr3};

    #[test]
    fn matmul_with_transposes() {
        let a = arr2(&[[1.0f64, 2.0], [3.0, 4.0], [5.0, 6.0]]).into_dyn(); // 3x2
        let b = arr2(&[[1.0f64, 0.0, 2.0], [0.0, 1.0, 3.0]]).into_dyn(); // 2x3
        let ab = arr2(&[[1.0, 2.0, 8.0], [3.0, 4.0, 18.0], [5.0, 6.0, 28.0]]).into_dyn();
        assert_eq!(matmul(&a, &b, false, false).unwrap(), ab);
        // aᵀ·bᵀ: (2x3)·(3x2).
        let atbt = arr2(&[[1.0 * 1.0 + 3.0 * 0.0 + 5.0 * 2.0, 0.0 + 3.0 + 15.0], [2.0 + 0.0 + 12.0, 0.0 + 4.0 + 18.0]])
            .into_dyn();
        assert_eq!(matmul(&a, &b, true, true).unwrap(), atbt);
        assert!(matmul(&a, &a, false, false).is_err());
    }

    #[test]
    fn reshape_is_row_major_even_for_transposed_input() {
        let x = arr2(&[[1, 2, 3], [4, 5, 6]]).into_dyn();
        let t = transpose(&x, &[1, 0]).unwrap();
        assert_eq!(t, arr2(&[[1, 4], [2, 5], [3, 6]]).into_dyn());
        assert_eq!(reshape(&t, &[6]).unwrap(), arr1(&[1, 4, 2, 5, 3, 6]).into_dyn());
        let fview = x.t().to_owned(); // non-standard layout
        assert_eq!(reshape(&fview, &[2, 3]).unwrap(), arr2(&[[1, 4, 2], [5, 3, 6]]).into_dyn());
        assert!(reshape(&x, &[4]).is_err());
    }

    #[test]
    fn transpose_rank3() {
        let x = arr3(&[[[0, 1, 2], [3, 4, 5]]]).into_dyn(); // [1, 2, 3]
        let y = transpose(&x, &[2, 0, 1]).unwrap();
        assert_eq!(y.shape(), &[3, 1, 2]);
        assert_eq!(y[[2, 0, 1]], x[[0, 1, 2]]);
        assert!(transpose(&x, &[0, 0, 1]).is_err());
    }

    #[test]
    fn broadcast_concat_slice_pad() {
        let x = arr1(&[1.0f32, 2.0]).into_dyn();
        assert_eq!(broadcast(&x, &[2, 2]).unwrap(), arr2(&[[1.0, 2.0], [1.0, 2.0]]).into_dyn());
        assert!(broadcast(&x, &[3]).is_err());
        let a = arr2(&[[1, 2]]).into_dyn();
        let b = arr2(&[[3, 4], [5, 6]]).into_dyn();
        assert_eq!(concat(&[&a, &b], 0).unwrap(), arr2(&[[1, 2], [3, 4], [5, 6]]).into_dyn());
        assert!(concat(&[&a, &b], 1).is_err());
        assert_eq!(slice(&b, 1, 1, 2).unwrap(), arr2(&[[4], [6]]).into_dyn());
        assert!(slice(&b, 1, 1, 3).is_err());
        assert_eq!(pad(&a, 1, 1, 2).unwrap(), arr2(&[[0, 1, 2, 0, 0]]).into_dyn());
    }
}
