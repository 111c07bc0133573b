//! Variables: state that lives across calls (parameters, optimizer slots,
//! running statistics), with how to initialize and regularize them.

use std::fmt;

/// How a variable is filled before training. Fan-in/fan-out follow Keras: for
/// a kernel `[..., in, out]` the receptive field is the product of the leading
/// dims, `fan_in = in * field`, `fan_out = out * field`.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    GlorotUniform,
    GlorotNormal,
    HeUniform,
    HeNormal,
    LecunUniform,
    LecunNormal,
    Zeros,
    Ones,
    Constant(f64),
    RandomNormal {
        mean: f64,
        stddev: f64,
    },
    RandomUniform {
        min: f64,
        max: f64,
    },
    /// Keras's `Orthogonal`: the Q of a normal matrix's QR decomposition,
    /// signs fixed by R's diagonal, times `gain`; the kernel is viewed as
    /// `[prod(leading dims), last dim]`.
    Orthogonal {
        gain: f64,
    },
    /// An LSTM bias `[4 * units]`: the inner initializer for the input, cell
    /// and output gates and ones for the forget gate (Keras's
    /// `unit_forget_bias = true`).
    UnitForgetBias(Box<Init>),
}

impl Init {
    /// The Keras name (`glorot_uniform`), as written in `.nn` files.
    pub fn name(&self) -> &'static str {
        match self {
            Init::GlorotUniform => "glorot_uniform",
            Init::GlorotNormal => "glorot_normal",
            Init::HeUniform => "he_uniform",
            Init::HeNormal => "he_normal",
            Init::LecunUniform => "lecun_uniform",
            Init::LecunNormal => "lecun_normal",
            Init::Zeros => "zeros",
            Init::Ones => "ones",
            Init::Constant(_) => "constant",
            Init::RandomNormal { .. } => "random_normal",
            Init::RandomUniform { .. } => "random_uniform",
            Init::Orthogonal { .. } => "orthogonal",
            Init::UnitForgetBias(_) => "unit_forget_bias",
        }
    }
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Init::Constant(v) => write!(f, "constant({v})"),
            Init::RandomNormal { mean, stddev } => write!(f, "random_normal({mean}, {stddev})"),
            Init::RandomUniform { min, max } => write!(f, "random_uniform({min}, {max})"),
            Init::Orthogonal { gain } if *gain != 1.0 => write!(f, "orthogonal({gain})"),
            Init::UnitForgetBias(inner) => write!(f, "unit_forget_bias({inner})"),
            other => f.write_str(other.name()),
        }
    }
}

/// A weight penalty added to the loss: `l1 * sum|w| + l2 * sum w²`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Regularizer {
    pub l1: f64,
    pub l2: f64,
}

impl fmt::Display for Regularizer {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match (self.l1, self.l2) {
            (l1, 0.0) => write!(f, "l1({l1})"),
            (0.0, l2) => write!(f, "l2({l2})"),
            (l1, l2) => write!(f, "l1_l2({l1}, {l2})"),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum VarKind {
    /// Updated by the optimizer.
    Trainable,
    /// Updated by the graph itself (e.g. BatchNormalization's moving mean).
    NonTrainable,
    /// Optimizer state belonging to a trainable variable (`m`, `v`, …).
    Slot { of: super::VarId, slot: String },
}

#[derive(Clone, Debug, PartialEq)]
pub struct VarDecl {
    /// Keras-style weight name: `dense_1/kernel`.
    pub name: String,
    /// Variables never have a batch dimension.
    pub shape: Vec<usize>,
    pub init: Init,
    pub regularizer: Option<Regularizer>,
    pub kind: VarKind,
}

impl VarDecl {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_trainable(&self) -> bool {
        self.kind == VarKind::Trainable
    }
}
