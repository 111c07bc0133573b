//! Index-driven ops: gather (embedding lookup), scatter-add (its gradient),
//! one-hot encoding, and dropout masks.
//!
//! Out-of-range indices never fault: gather reads a zero row, scatter-add
//! drops the update, one-hot yields an all-zero row. Negative indices are out
//! of range (no Python-style wrap-around), so a bad label or token id shows up
//! as zeros rather than silently aliasing another row.

use super::value::{Float, Value};
use crate::ir::rng::{dropout_value, normal_value};
use ndarray::{ArrayD, IxDyn};

/// `idx` as a row number if it is in `0..rows`.
fn row(idx: i32, rows: usize) -> Option<usize> {
    usize::try_from(idx).ok().filter(|&r| r < rows)
}

/// (table [V, D…], indices [S…]) -> [S…, D…].
pub(super) fn gather<T: Float>(table: &ArrayD<T>, indices: &ArrayD<i32>) -> Result<ArrayD<T>, String> {
    let Some((&rows, row_dims)) = table.shape().split_first() else {
        return Err("the table must have rank >= 1 but is a scalar".into());
    };
    let row_len: usize = row_dims.iter().product();
    let flat: Vec<T> = table.iter().copied().collect();
    let mut out = Vec::with_capacity(indices.len() * row_len);
    for &idx in indices.iter() {
        match row(idx, rows) {
            Some(r) => out.extend_from_slice(&flat[r * row_len..(r + 1) * row_len]),
            None => out.extend(std::iter::repeat_n(T::zero(), row_len)),
        }
    }
    let mut shape = indices.shape().to_vec();
    shape.extend_from_slice(row_dims);
    ArrayD::from_shape_vec(IxDyn(&shape), out).map_err(|e| format!("gather result: {e}"))
}

/// (indices [S…], updates [S…, D…]) -> [rows, D…], summing updates into the
/// rows the indices name.
pub(super) fn scatter_add<T: Float>(
    indices: &ArrayD<i32>,
    updates: &ArrayD<T>,
    rows: usize,
) -> Result<ArrayD<T>, String> {
    let lead = indices.ndim();
    if updates.ndim() < lead || updates.shape()[..lead] != *indices.shape() {
        return Err(format!(
            "updates {:?} do not start with the indices' shape {:?}",
            updates.shape(),
            indices.shape()
        ));
    }
    let row_dims = &updates.shape()[lead..];
    let row_len: usize = row_dims.iter().product();
    let upd: Vec<T> = updates.iter().copied().collect();
    let mut out = vec![T::zero(); rows * row_len];
    for (i, &idx) in indices.iter().enumerate() {
        if let Some(r) = row(idx, rows) {
            let src = &upd[i * row_len..(i + 1) * row_len];
            for (o, &u) in out[r * row_len..(r + 1) * row_len].iter_mut().zip(src) {
                *o = *o + u;
            }
        }
    }
    let mut shape = vec![rows];
    shape.extend_from_slice(row_dims);
    ArrayD::from_shape_vec(IxDyn(&shape), out).map_err(|e| format!("scatter_add result: {e}"))
}

/// (labels [S…]) -> [S…, depth].
pub(super) fn one_hot<T: Float>(labels: &ArrayD<i32>, depth: usize) -> ArrayD<T> {
    let mut shape = labels.shape().to_vec();
    shape.push(depth);
    let mut out = ArrayD::<T>::zeros(IxDyn(&shape));
    if let Some(flat) = out.as_slice_mut() {
        for (i, &label) in labels.iter().enumerate() {
            if let Some(r) = row(label, depth) {
                flat[i * depth + r] = T::one();
            }
        }
    }
    out
}

/// The dropout step: an f32 scalar rounded to the nearest integer (negative
/// and NaN become 0, as `as u64` saturates); an i32 step is taken as is.
pub(super) fn step_value<T: Float>(step: &Value<T>) -> Result<u64, String> {
    if !step.shape().is_empty() {
        return Err(format!("the step must be a scalar but has shape {:?}", step.shape()));
    }
    Ok(match step {
        Value::F(a) => a.iter().next().map_or(0, |&v| Float::to_f64(v).round() as u64),
        Value::I(a) => a.iter().next().map_or(0, |&v| v.max(0) as u64),
    })
}

/// Element at flat row-major index `i` of `shape` is
/// `dropout_value(rate, seed, key, step, i)`.
pub(super) fn dropout_mask<T: Float>(shape: &[usize], rate: f64, seed: u64, key: u64, step: u64) -> ArrayD<T> {
    let n: usize = shape.iter().product();
    let values: Vec<T> = (0..n as u64).map(|i| T::from_f64(dropout_value(rate, seed, key, step, i))).collect();
    // The element count is the product of `shape`, so this cannot fail.
    ArrayD::from_shape_vec(IxDyn(shape), values).unwrap_or_else(|_| ArrayD::zeros(IxDyn(shape)))
}

/// Element at flat row-major index `i` of `shape` is
/// `normal_value(seed, key, step, i)`.
pub(super) fn random_normal<T: Float>(shape: &[usize], seed: u64, key: u64, step: u64) -> ArrayD<T> {
    let n: usize = shape.iter().product();
    let values: Vec<T> = (0..n as u64).map(|i| T::from_f64(normal_value(seed, key, step, i))).collect();
    ArrayD::from_shape_vec(IxDyn(shape), values).unwrap_or_else(|_| ArrayD::zeros(IxDyn(shape)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2, arr3};

    #[test]
    fn gather_reads_rows_and_zeros_out_of_range() {
        let table = arr2(&[[1.0f64, 2.0], [3.0, 4.0], [5.0, 6.0]]).into_dyn();
        let idx = arr2(&[[2, 0], [-1, 3]]).into_dyn();
        let got = gather(&table, &idx).unwrap();
        assert_eq!(got, arr3(&[[[5.0, 6.0], [1.0, 2.0]], [[0.0, 0.0], [0.0, 0.0]]]).into_dyn());
        let scalar_idx = ArrayD::from_elem(vec![], 1);
        assert_eq!(gather(&table, &scalar_idx).unwrap(), arr1(&[3.0, 4.0]).into_dyn());
    }

    #[test]
    fn scatter_add_sums_repeats_and_ignores_out_of_range() {
        let idx = arr1(&[1, 1, 5, -2, 0]).into_dyn();
        let upd = arr2(&[[1.0f64, 2.0], [10.0, 20.0], [7.0, 7.0], [8.0, 8.0], [3.0, 4.0]]).into_dyn();
        let got = scatter_add(&idx, &upd, 3).unwrap();
        assert_eq!(got, arr2(&[[3.0, 4.0], [11.0, 22.0], [0.0, 0.0]]).into_dyn());
        assert!(scatter_add(&idx, &arr1(&[1.0f64]).into_dyn(), 3).is_err());
    }

    #[test]
    fn one_hot_with_out_of_range_labels() {
        let got: ArrayD<f32> = one_hot(&arr1(&[2, 0, 3, -1]).into_dyn(), 3);
        let want = arr2(&[[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]).into_dyn();
        assert_eq!(got, want);
    }

    #[test]
    fn step_rounds_to_nearest() {
        let s = |v: f32| step_value(&Value::F(ArrayD::from_elem(vec![], v))).unwrap();
        assert_eq!((s(2.6), s(3.0), s(-4.0)), (3, 3, 0));
        assert!(step_value(&Value::<f32>::F(ArrayD::zeros(vec![2]))).is_err());
    }
}
