//! Reductions along axes: sum, max, argmax, softmax and log-softmax.
//!
//! Semantics (NumPy's): `max` over an empty axis is -inf and propagates NaN;
//! `argmax` returns the first index of the maximum (the first NaN, if any);
//! softmax subtracts the lane maximum before exponentiating so large logits
//! never overflow.

use super::value::Float;
use ndarray::{ArrayD, Axis, Zip};

fn check_axis(axis: usize, rank: usize) -> Result<(), String> {
    if axis < rank {
        Ok(())
    } else {
        Err(format!("axis {axis} is out of range for rank {rank}"))
    }
}

pub(super) fn reduce<T: Float>(
    op: crate::ir::ReduceOp,
    x: &ArrayD<T>,
    axes: &[usize],
    keep_dims: bool,
) -> Result<ArrayD<T>, String> {
    for w in axes.windows(2) {
        if w[0] >= w[1] {
            return Err(format!("axes {axes:?} must be sorted and unique"));
        }
    }
    let mut out = x.clone();
    // Descending, so removing an axis never shifts one still to be reduced.
    for &axis in axes.iter().rev() {
        check_axis(axis, out.ndim())?;
        out = match op {
            crate::ir::ReduceOp::Sum => out.sum_axis(Axis(axis)),
            crate::ir::ReduceOp::Max => out.fold_axis(Axis(axis), T::neg_infinity(), |&acc, &v| {
                if acc.is_nan() || v.is_nan() {
                    T::nan()
                } else if v > acc {
                    v
                } else {
                    acc
                }
            }),
        };
    }
    if keep_dims {
        for &axis in axes {
            out.insert_axis_inplace(Axis(axis));
        }
    }
    Ok(out)
}

pub(super) fn argmax<T: Float>(x: &ArrayD<T>, axis: usize) -> Result<ArrayD<i32>, String> {
    check_axis(axis, x.ndim())?;
    if x.shape()[axis] == 0 {
        return Err(format!("argmax over axis {axis} of size 0"));
    }
    Ok(x.map_axis(Axis(axis), |lane| {
        let mut best = 0usize;
        let mut best_v = lane[0];
        for (i, &v) in lane.iter().enumerate().skip(1) {
            if !best_v.is_nan() && (v > best_v || v.is_nan()) {
                best = i;
                best_v = v;
            }
        }
        best as i32
    }))
}

/// Softmax (or log-softmax when `log`) along `axis`, in the max-subtracted
/// form: `softmax = exp(x - m) / Σ exp(x - m)`,
/// `log_softmax = (x - m) - ln Σ exp(x - m)`.
pub(super) fn softmax<T: Float>(x: &ArrayD<T>, axis: usize, log: bool) -> Result<ArrayD<T>, String> {
    check_axis(axis, x.ndim())?;
    let mut out = x.clone();
    Zip::from(out.lanes_mut(Axis(axis))).for_each(|mut lane| {
        let m = lane.iter().fold(T::neg_infinity(), |acc, &v| if v > acc { v } else { acc });
        // An all -inf lane would give NaN from (-inf) - (-inf); shift by 0 instead.
        let m = if m.is_finite() { m } else { T::zero() };
        let sum = lane.iter().fold(T::zero(), |acc, &v| acc + (v - m).exp());
        if log {
            let log_sum = sum.ln();
            lane.mapv_inplace(|v| v - m - log_sum);
        } else {
            lane.mapv_inplace(|v| (v - m).exp() / sum);
        }
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::ReduceOp;
    use ndarray::{arr1, arr2, arr3};

    #[test]
    fn sum_and_max_over_axes() {
        let x = arr3(&[[[1.0f64, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 9.0]]]).into_dyn();
        assert_eq!(reduce(ReduceOp::Sum, &x, &[0, 2], false).unwrap(), arr1(&[14.0, 23.0]).into_dyn());
        assert_eq!(reduce(ReduceOp::Sum, &x, &[0, 2], true).unwrap().shape(), &[1, 2, 1]);
        assert_eq!(reduce(ReduceOp::Max, &x, &[1], false).unwrap(), arr2(&[[3.0, 4.0], [7.0, 9.0]]).into_dyn());
        assert_eq!(reduce(ReduceOp::Sum, &x, &[0, 1, 2], false).unwrap(), ArrayD::from_elem(vec![], 37.0));
        assert_eq!(reduce(ReduceOp::Sum, &x, &[], false).unwrap(), x);
        assert!(reduce(ReduceOp::Sum, &x, &[3], false).is_err());
        assert!(reduce(ReduceOp::Sum, &x, &[1, 0], false).is_err());
    }

    #[test]
    fn argmax_picks_first_maximum() {
        let x = arr2(&[[1.0f32, 3.0, 3.0], [5.0, 0.0, 5.0]]).into_dyn();
        assert_eq!(argmax(&x, 1).unwrap(), arr1(&[1, 0]).into_dyn());
        assert_eq!(argmax(&x, 0).unwrap(), arr1(&[1, 0, 1]).into_dyn());
    }

    #[test]
    fn softmax_is_stable_and_matches_formula() {
        let x = arr2(&[[1.0f64, 2.0, 3.0], [1000.0, 1000.0, -1000.0]]).into_dyn();
        let s = softmax(&x, 1, false).unwrap();
        let z = 1.0 + 1.0f64.exp() + 2.0f64.exp();
        let want = [1.0 / z, 1.0f64.exp() / z, 2.0f64.exp() / z, 0.5, 0.5, 0.0];
        for (g, w) in s.iter().zip(want) {
            assert!((g - w).abs() < 1e-15, "{g} vs {w}");
        }
        let ls = softmax(&x, 1, true).unwrap();
        // ln Σ exp(1, 2, 3) = 1 + ln z.
        assert!((ls[[0, 0]] - (-z.ln())).abs() < 1e-14);
        assert!((ls[[0, 2]] - (2.0 - z.ln())).abs() < 1e-14);
        assert!((ls[[1, 0]] - (-(2.0f64).ln())).abs() < 1e-14);
        assert!((ls[[1, 2]] - (-2000.0 - 2.0f64.ln())).abs() < 1e-9);
    }
}
