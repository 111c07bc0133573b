//! The element types the interpreter computes in, and the tagged arrays it
//! passes between nodes.
//!
//! The interpreter is generic over [`Float`] so the same definition of every
//! op runs in f32 (to compare with the JIT) and in f64 (for finite-difference
//! gradient checks, where f32 rounding would swamp the derivative).

use crate::ir::DType;
use ndarray::ArrayD;

/// A floating-point element type the interpreter can run in: `f32` or `f64`.
///
/// Note: `num_traits::Float` also brings `ToPrimitive::to_f64` into scope on
/// generic `T`, so in generic code call this trait's conversion as
/// `Float::to_f64(x)` (or `<T as interp::Float>::to_f64(x)`) to avoid an
/// ambiguity error.
pub trait Float: ndarray::LinalgScalar + num_traits::Float + std::fmt::Debug + Send + Sync + 'static {
    /// Rounds to nearest for `f32`; exact for `f64`.
    fn from_f64(v: f64) -> Self;
    /// Exact for both types.
    fn to_f64(self) -> f64;
}

impl Float for f32 {
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Float for f64 {
    fn from_f64(v: f64) -> f64 {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
}

/// The value of one IR node: an `F` array for `f32`-typed nodes (held in the
/// interpreter's float type `T`) or an `I` array for `i32`-typed nodes.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<T> {
    F(ArrayD<T>),
    I(ArrayD<i32>),
}

impl<T: Float> Value<T> {
    pub fn as_f(&self) -> Option<&ArrayD<T>> {
        match self {
            Value::F(a) => Some(a),
            Value::I(_) => None,
        }
    }

    pub fn as_i(&self) -> Option<&ArrayD<i32>> {
        match self {
            Value::I(a) => Some(a),
            Value::F(_) => None,
        }
    }

    pub fn shape(&self) -> &[usize] {
        match self {
            Value::F(a) => a.shape(),
            Value::I(a) => a.shape(),
        }
    }

    /// The IR element type this value has (`F` values are IR `f32`).
    pub fn dtype(&self) -> DType {
        match self {
            Value::F(_) => DType::F32,
            Value::I(_) => DType::I32,
        }
    }

    /// `f32[2, 3]`-style rendering of the value's type, for error messages.
    pub(crate) fn type_string(&self) -> String {
        let t = match self {
            Value::F(_) => "f32",
            Value::I(_) => "i32",
        };
        format!("{t}{:?}", self.shape())
    }
}

/// The result of [`run`](super::run).
#[derive(Clone, Debug, PartialEq)]
pub struct RunOutput<T> {
    /// Parallel to `graph.outputs`.
    pub outputs: Vec<Value<T>>,
    /// New variable values, parallel to `graph.updates`.
    pub updates: Vec<ArrayD<T>>,
}
