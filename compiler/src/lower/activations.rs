//! Keras activations: their names, arguments, and expansion into primitive
//! ops. Each formula follows Keras 3 (`keras.activations`), including the
//! numerically stable forms (softplus) and defaults (leaky_relu slope 0.2).

use super::args::{bind, opt, Param};
use super::values::{self, ArgVal};
use crate::diag::{Diagnostic, Span};
use crate::ir::{BinaryOp, CmpOp, Graph, NodeId, Op, UnaryOp};
use crate::shape::ShapeError;

#[derive(Clone, Debug, PartialEq)]
pub enum Activation {
    Linear,
    Relu,
    Sigmoid,
    Tanh,
    /// Along `axis` (negative counts from the end, as in Keras).
    Softmax {
        axis: i64,
    },
    LogSoftmax {
        axis: i64,
    },
    Elu {
        alpha: f64,
    },
    Selu,
    Gelu {
        approximate: bool,
    },
    Softplus,
    Softsign,
    LeakyRelu {
        negative_slope: f64,
    },
    Swish,
    Relu6,
    HardSigmoid,
    Mish,
    Exponential,
    /// A user-defined single-input layer used as an activation: the
    /// instance index in the lowerer.
    Custom {
        instance: usize,
        name: String,
    },
}

/// Every built-in activation name (`silu` is Keras's alias of `swish`).
pub const NAMES: &[&str] = &[
    "linear",
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "log_softmax",
    "elu",
    "selu",
    "gelu",
    "softplus",
    "softsign",
    "leaky_relu",
    "swish",
    "silu",
    "relu6",
    "hard_sigmoid",
    "mish",
    "exponential",
];

const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
const SELU_SCALE: f64 = 1.050_700_987_355_480_5;

impl Activation {
    pub fn name(&self) -> &str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Softmax { .. } => "softmax",
            Activation::LogSoftmax { .. } => "log_softmax",
            Activation::Elu { .. } => "elu",
            Activation::Selu => "selu",
            Activation::Gelu { .. } => "gelu",
            Activation::Softplus => "softplus",
            Activation::Softsign => "softsign",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Swish => "swish",
            Activation::Relu6 => "relu6",
            Activation::HardSigmoid => "hard_sigmoid",
            Activation::Mish => "mish",
            Activation::Exponential => "exponential",
            Activation::Custom { name, .. } => name,
        }
    }

    /// The activation `name` with Keras's default arguments, if it exists.
    pub fn by_name(name: &str) -> Option<Activation> {
        Some(match name {
            "linear" => Activation::Linear,
            "relu" => Activation::Relu,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "softmax" => Activation::Softmax { axis: -1 },
            "log_softmax" => Activation::LogSoftmax { axis: -1 },
            "elu" => Activation::Elu { alpha: 1.0 },
            "selu" => Activation::Selu,
            "gelu" => Activation::Gelu { approximate: false },
            "softplus" => Activation::Softplus,
            "softsign" => Activation::Softsign,
            "leaky_relu" => Activation::LeakyRelu { negative_slope: 0.2 },
            "swish" | "silu" => Activation::Swish,
            "relu6" => Activation::Relu6,
            "hard_sigmoid" => Activation::HardSigmoid,
            "mish" => Activation::Mish,
            "exponential" => Activation::Exponential,
            _ => return None,
        })
    }

    /// The keyword arguments an activation takes besides its input.
    fn params(name: &str) -> &'static [Param<'static>] {
        const AXIS: &[Param] = &[opt("axis")];
        const ALPHA: &[Param] = &[opt("alpha")];
        const GELU: &[Param] = &[opt("approximate")];
        const LEAKY: &[Param] = &[Param { name: "negative_slope", aliases: &["alpha"], required: false }];
        match name {
            "softmax" | "log_softmax" => AXIS,
            "elu" => ALPHA,
            "gelu" => GELU,
            "leaky_relu" => LEAKY,
            _ => &[],
        }
    }

    /// `name(args…)` with its input omitted: `leaky_relu(negative_slope = 0.1)`.
    pub fn configure(name: &str, args: &[ArgVal], span: Span, g: &Graph) -> Result<Activation, Diagnostic> {
        let mut act = Activation::by_name(name).expect("configure is only called for activation names");
        let b = bind(name, Activation::params(name), args, span)?;
        if let Some(v) = b.get(0) {
            match &mut act {
                Activation::Softmax { axis } | Activation::LogSoftmax { axis } => *axis = values::int(v, "axis", g)?,
                Activation::Elu { alpha } => *alpha = values::number(v, "alpha", g)?,
                Activation::Gelu { approximate } => *approximate = values::boolean(v, "approximate", g)?,
                Activation::LeakyRelu { negative_slope } => {
                    *negative_slope = values::number_in(v, "negative_slope", "at least 0", |s| s >= 0.0, g)?
                }
                _ => {}
            }
        }
        Ok(act)
    }
}

/// Resolves a possibly negative axis against `rank`.
pub fn axis(axis: i64, rank: usize) -> Option<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    (0..r).contains(&a).then_some(a as usize)
}

/// Emits a built-in activation on `x`. `Custom` is handled by the lowerer,
/// which owns layer instances; here it is the identity.
pub fn emit(g: &mut Graph, act: &Activation, x: NodeId) -> Result<NodeId, ShapeError> {
    use Activation as A;
    let rank = g.shape(x).rank();
    let along = |a: i64| axis(a, rank).ok_or(ShapeError::Axis { op: "softmax", axis: a.unsigned_abs() as usize, rank });
    match act {
        A::Linear | A::Custom { .. } => Ok(x),
        A::Relu => g.unary(UnaryOp::Relu, x),
        A::Sigmoid => g.unary(UnaryOp::Sigmoid, x),
        A::Tanh => g.unary(UnaryOp::Tanh, x),
        A::Softmax { axis } => g.push(Op::Softmax { axis: along(*axis)? }, &[x]),
        A::LogSoftmax { axis } => g.push(Op::LogSoftmax { axis: along(*axis)? }, &[x]),
        A::Elu { alpha } => elu(g, x, *alpha),
        A::Selu => {
            let e = elu(g, x, SELU_ALPHA)?;
            let s = g.scalar(SELU_SCALE);
            g.mul(e, s)
        }
        A::Gelu { approximate: false } => {
            // 0.5 x (1 + erf(x / sqrt 2))
            let r = g.scalar(std::f64::consts::FRAC_1_SQRT_2);
            let z = g.mul(x, r)?;
            let e = g.unary(UnaryOp::Erf, z)?;
            half_x_one_plus(g, x, e)
        }
        A::Gelu { approximate: true } => {
            // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
            let three = g.scalar(3.0);
            let cube = g.binary(BinaryOp::Pow, x, three)?;
            let c = g.scalar(0.044715);
            let t = g.mul(cube, c)?;
            let inner = g.add(x, t)?;
            let k = g.scalar((2.0 / std::f64::consts::PI).sqrt());
            let z = g.mul(inner, k)?;
            let th = g.unary(UnaryOp::Tanh, z)?;
            half_x_one_plus(g, x, th)
        }
        A::Softplus => softplus(g, x),
        A::Softsign => {
            let a = g.unary(UnaryOp::Abs, x)?;
            let one = g.scalar(1.0);
            let d = g.add(a, one)?;
            g.div(x, d)
        }
        A::LeakyRelu { negative_slope } => {
            let zero = g.scalar(0.0);
            let mask = g.push(Op::Compare(CmpOp::Gt), &[x, zero])?;
            let s = g.scalar(*negative_slope);
            let neg = g.mul(x, s)?;
            g.push(Op::Select, &[mask, x, neg])
        }
        A::Swish => {
            let s = g.unary(UnaryOp::Sigmoid, x)?;
            g.mul(x, s)
        }
        A::Relu6 => {
            let r = g.unary(UnaryOp::Relu, x)?;
            let six = g.scalar(6.0);
            g.binary(BinaryOp::Min, r, six)
        }
        A::HardSigmoid => {
            // Keras 3: relu6(x + 3) / 6
            let three = g.scalar(3.0);
            let shifted = g.add(x, three)?;
            let r = g.unary(UnaryOp::Relu, shifted)?;
            let six = g.scalar(6.0);
            let clipped = g.binary(BinaryOp::Min, r, six)?;
            g.div(clipped, six)
        }
        A::Mish => {
            let sp = softplus(g, x)?;
            let t = g.unary(UnaryOp::Tanh, sp)?;
            g.mul(x, t)
        }
        A::Exponential => g.unary(UnaryOp::Exp, x),
    }
}

fn elu(g: &mut Graph, x: NodeId, alpha: f64) -> Result<NodeId, ShapeError> {
    let zero = g.scalar(0.0);
    let mask = g.push(Op::Compare(CmpOp::Gt), &[x, zero])?;
    let e = g.unary(UnaryOp::Exp, x)?;
    let one = g.scalar(1.0);
    let em1 = g.sub(e, one)?;
    let a = g.scalar(alpha);
    let neg = g.mul(em1, a)?;
    g.push(Op::Select, &[mask, x, neg])
}

/// relu(x) + log(1 + exp(-|x|)): never overflows.
fn softplus(g: &mut Graph, x: NodeId) -> Result<NodeId, ShapeError> {
    let r = g.unary(UnaryOp::Relu, x)?;
    let a = g.unary(UnaryOp::Abs, x)?;
    let na = g.neg(a)?;
    let e = g.unary(UnaryOp::Exp, na)?;
    let one = g.scalar(1.0);
    let s = g.add(one, e)?;
    let l = g.unary(UnaryOp::Log, s)?;
    g.add(r, l)
}

fn half_x_one_plus(g: &mut Graph, x: NodeId, t: NodeId) -> Result<NodeId, ShapeError> {
    let one = g.scalar(1.0);
    let s = g.add(one, t)?;
    let xs = g.mul(x, s)?;
    let half = g.scalar(0.5);
    g.mul(xs, half)
}
