//! Elementwise ops: unary math, broadcasting binary ops, comparisons,
//! select and casts.
//!
//! NaN policy (NumPy's): `max`, `min` and `relu` propagate NaN, comparisons
//! with NaN are false except `ne`, and `sign(NaN)` is NaN. Casts to i32
//! truncate toward zero and saturate (NaN becomes 0), as Rust's `as` does.

use super::value::{Float, Value};
use crate::ir::{BinaryOp, CmpOp, DType, UnaryOp};
use ndarray::{ArrayD, IxDyn, Zip};

/// The NumPy broadcast of two concrete shapes, aligned at the trailing axis.
pub(super) fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| if i + s.len() >= rank { s[i + s.len() - rank] } else { 1 };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            _ => Err(format!("cannot broadcast shapes {a:?} and {b:?}")),
        })
        .collect()
}

/// `f(a, b)` elementwise after broadcasting both to their common shape.
fn zip2<A: Copy, B: Copy, O>(a: &ArrayD<A>, b: &ArrayD<B>, f: impl Fn(A, B) -> O) -> Result<ArrayD<O>, String> {
    let shape = IxDyn(&broadcast_shape(a.shape(), b.shape())?);
    let bad = || format!("cannot broadcast shapes {:?} and {:?}", a.shape(), b.shape());
    let av = a.broadcast(shape.clone()).ok_or_else(bad)?;
    let bv = b.broadcast(shape).ok_or_else(bad)?;
    Ok(Zip::from(&av).and(&bv).map_collect(|&x, &y| f(x, y)))
}

pub(super) fn unary<T: Float>(op: UnaryOp, x: &ArrayD<T>) -> ArrayD<T> {
    let zero = T::zero();
    let one = T::one();
    match op {
        UnaryOp::Neg => x.mapv(|v| -v),
        UnaryOp::Exp => x.mapv(|v| v.exp()),
        UnaryOp::Log => x.mapv(|v| v.ln()),
        UnaryOp::Sqrt => x.mapv(|v| v.sqrt()),
        UnaryOp::Abs => x.mapv(|v| v.abs()),
        UnaryOp::Sign => x.mapv(|v| {
            if v > zero {
                one
            } else if v < zero {
                -one
            } else if v.is_nan() {
                v
            } else {
                zero
            }
        }),
        UnaryOp::Tanh => x.mapv(|v| v.tanh()),
        UnaryOp::Sigmoid => x.mapv(sigmoid),
        UnaryOp::Relu => x.mapv(|v| if v.is_nan() || v > zero { v } else { zero }),
        UnaryOp::Erf => x.mapv(|v| T::from_f64(libm::erf(Float::to_f64(v)))),
    }
}

/// The logistic function without overflow: `exp` only ever sees a
/// non-positive argument, so large |x| saturates cleanly to 0 or 1.
fn sigmoid<T: Float>(v: T) -> T {
    let one = T::one();
    if v >= T::zero() {
        one / (one + (-v).exp())
    } else {
        let e = v.exp();
        e / (one + e)
    }
}

fn nan_max<T: Float>(a: T, b: T) -> T {
    if a.is_nan() || b.is_nan() {
        T::nan()
    } else if a >= b {
        a
    } else {
        b
    }
}

fn nan_min<T: Float>(a: T, b: T) -> T {
    if a.is_nan() || b.is_nan() {
        T::nan()
    } else if a <= b {
        a
    } else {
        b
    }
}

pub(super) fn binary<T: Float>(op: BinaryOp, a: &ArrayD<T>, b: &ArrayD<T>) -> Result<ArrayD<T>, String> {
    match op {
        BinaryOp::Add => zip2(a, b, |x, y| x + y),
        BinaryOp::Sub => zip2(a, b, |x, y| x - y),
        BinaryOp::Mul => zip2(a, b, |x, y| x * y),
        BinaryOp::Div => zip2(a, b, |x, y| x / y),
        BinaryOp::Pow => zip2(a, b, |x, y| x.powf(y)),
        BinaryOp::Max => zip2(a, b, nan_max),
        BinaryOp::Min => zip2(a, b, nan_min),
    }
}

/// A 0/1 mask in the interpreter's float type; works for f32 and i32 args.
pub(super) fn compare<T: Float, E: Copy + PartialOrd>(
    op: CmpOp,
    a: &ArrayD<E>,
    b: &ArrayD<E>,
) -> Result<ArrayD<T>, String> {
    let test = move |x: E, y: E| match op {
        CmpOp::Gt => x > y,
        CmpOp::Ge => x >= y,
        CmpOp::Lt => x < y,
        CmpOp::Le => x <= y,
        CmpOp::Eq => x == y,
        CmpOp::Ne => x != y,
    };
    zip2(a, b, |x, y| if test(x, y) { T::one() } else { T::zero() })
}

/// `on_true` where `mask != 0` (NaN counts as nonzero), else `on_false`.
pub(super) fn select<T: Float>(
    mask: &ArrayD<T>,
    on_true: &ArrayD<T>,
    on_false: &ArrayD<T>,
) -> Result<ArrayD<T>, String> {
    let shape = broadcast_shape(&broadcast_shape(mask.shape(), on_true.shape())?, on_false.shape())?;
    let shape = IxDyn(&shape);
    let bad = || format!("cannot broadcast {:?}, {:?} and {:?}", mask.shape(), on_true.shape(), on_false.shape());
    let m = mask.broadcast(shape.clone()).ok_or_else(bad)?;
    let t = on_true.broadcast(shape.clone()).ok_or_else(bad)?;
    let f = on_false.broadcast(shape).ok_or_else(bad)?;
    Ok(Zip::from(&m).and(&t).and(&f).map_collect(|&m, &t, &f| if m != T::zero() { t } else { f }))
}

pub(super) fn cast<T: Float>(x: &Value<T>, to: DType) -> Value<T> {
    match (x, to) {
        (Value::F(a), DType::F32) => Value::F(a.clone()),
        (Value::I(a), DType::I32) => Value::I(a.clone()),
        // `as` truncates toward zero and saturates; NaN becomes 0.
        (Value::F(a), DType::I32) => Value::I(a.mapv(|v| Float::to_f64(v) as i32)),
        (Value::I(a), DType::F32) => Value::F(a.mapv(|v| T::from_f64(v as f64))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2};

    #[test]
    fn broadcast_shape_follows_numpy() {
        assert_eq!(broadcast_shape(&[3, 1], &[4]).unwrap(), vec![3, 4]);
        assert_eq!(broadcast_shape(&[], &[2, 2]).unwrap(), vec![2, 2]);
        assert!(broadcast_shape(&[3], &[4]).is_err());
    }

    #[test]
    fn sigmoid_is_stable_for_large_inputs() {
        let x = arr1(&[-1000.0f64, -5.0, 0.0, 5.0, 1000.0]).into_dyn();
        let y = unary(UnaryOp::Sigmoid, &x);
        let e5 = (-5.0f64).exp();
        let want = [0.0, e5 / (1.0 + e5), 0.5, 1.0 / (1.0 + e5), 1.0];
        for (got, want) in y.iter().zip(want) {
            assert!((got - want).abs() < 1e-15, "{got} vs {want}");
        }
    }

    #[test]
    fn erf_matches_reference_values() {
        // erf values from Abramowitz & Stegun table 7.1 (to 15 digits).
        let x = arr1(&[0.0f64, 0.5, 1.0, 2.0, -1.0]).into_dyn();
        let want = [0.0, 0.520499877813047, 0.842700792949715, 0.995322265018953, -0.842700792949715];
        for (got, want) in unary(UnaryOp::Erf, &x).iter().zip(want) {
            assert!((got - want).abs() < 1e-14, "{got} vs {want}");
        }
    }

    #[test]
    fn f32_sigmoid_and_erf_saturate_without_nan() {
        let x = arr1(&[-1e30f32, -100.0, 0.25, 100.0, 1e30]).into_dyn();
        let s = unary(UnaryOp::Sigmoid, &x);
        assert_eq!((s[0], s[4], s[3]), (0.0, 1.0, 1.0));
        assert!(s[1] > 0.0 && s[1] < 1e-40);
        let e = unary(UnaryOp::Erf, &x);
        assert_eq!((e[0], e[4]), (-1.0, 1.0));
        assert_eq!(e[2], libm::erf(0.25) as f32);
    }

    #[test]
    fn sign_of_zero_and_nan() {
        let s = unary(UnaryOp::Sign, &arr1(&[-0.0f64, 0.0, -3.0, f64::NAN]).into_dyn());
        assert_eq!((s[0], s[1], s[2]), (0.0, 0.0, -1.0));
        assert!(s[3].is_nan());
    }

    #[test]
    fn nan_policy() {
        let a = arr1(&[f64::NAN, 1.0]).into_dyn();
        let b = arr1(&[0.0, f64::NAN]).into_dyn();
        let mx = binary(BinaryOp::Max, &a, &b).unwrap();
        assert!(mx.iter().all(|v| v.is_nan()));
        let relu = unary(UnaryOp::Relu, &a);
        assert!(relu[0].is_nan() && relu[1] == 1.0);
        let ne: ArrayD<f64> = compare(CmpOp::Ne, &a, &a).unwrap();
        assert_eq!(ne, arr1(&[1.0, 0.0]).into_dyn());
    }

    #[test]
    fn select_broadcasts_all_three() {
        let m = arr2(&[[1.0f64], [0.0]]).into_dyn();
        let t = arr1(&[1.0, 2.0, 3.0]).into_dyn();
        let f = ArrayD::from_elem(vec![], -1.0);
        let got = select(&m, &t, &f).unwrap();
        assert_eq!(got, arr2(&[[1.0, 2.0, 3.0], [-1.0, -1.0, -1.0]]).into_dyn());
    }
}
