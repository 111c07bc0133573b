//! What the normalization layers share: the feature axis they keep (checked
//! with one diagnostic), moments over the other axes, parameters shaped to
//! broadcast along that axis, and Keras's `center`/`scale` arguments
//! (`beta`/`gamma`, in Keras's weight order: gamma first).

use super::VarSpec;
use crate::diag::{Diagnostic, Span};
use crate::ir::{Dim, Graph, Init, NodeId, Regularizer, Shape, VarId, VarKind};
use crate::lower::activations::axis as resolve_axis;
use crate::lower::args::Bound;
use crate::lower::errors::*;
use crate::lower::init;
use crate::lower::state::Lowerer;
use crate::lower::values;
use crate::shape::ShapeError;

/// `center`/`scale` with their initializers and regularizers.
#[derive(Clone, Debug, PartialEq)]
pub struct Affine {
    pub center: bool,
    pub scale: bool,
    pub beta_initializer: Init,
    pub gamma_initializer: Init,
    pub beta_regularizer: Option<Regularizer>,
    pub gamma_regularizer: Option<Regularizer>,
}

/// Positions of the affine arguments in a bound signature: `center`,
/// `scale`, `beta_initializer`, `gamma_initializer`, `beta_regularizer`,
/// `gamma_regularizer`.
pub struct AffineArgs {
    pub center: usize,
    pub scale: usize,
    pub beta_initializer: usize,
    pub gamma_initializer: usize,
    pub beta_regularizer: usize,
    pub gamma_regularizer: usize,
}

pub fn affine(b: &Bound, at: &AffineArgs, g: &Graph) -> Result<Affine, Diagnostic> {
    let flag = |i: usize, what: &str| b.get(i).map(|v| values::boolean(v, what, g)).transpose();
    let init = |i: usize, what: &str, default: Init| {
        b.get(i).map(|v| init::initializer(v, what, g)).transpose().map(|o| o.unwrap_or(default))
    };
    let reg = |i: usize, what: &str| b.get(i).map(|v| init::regularizer(v, what, g)).transpose().map(Option::flatten);
    Ok(Affine {
        center: flag(at.center, "center")?.unwrap_or(true),
        scale: flag(at.scale, "scale")?.unwrap_or(true),
        beta_initializer: init(at.beta_initializer, "beta_initializer", Init::Zeros)?,
        gamma_initializer: init(at.gamma_initializer, "gamma_initializer", Init::Ones)?,
        beta_regularizer: reg(at.beta_regularizer, "beta_regularizer")?,
        gamma_regularizer: reg(at.gamma_regularizer, "gamma_regularizer")?,
    })
}

impl Affine {
    /// `gamma` then `beta` of size `n`, each only when enabled (Keras's order).
    pub fn specs(&self, n: usize) -> Vec<VarSpec> {
        let mut specs = Vec::new();
        if self.scale {
            specs.push(VarSpec {
                suffix: "gamma".into(),
                shape: vec![n],
                init: self.gamma_initializer.clone(),
                regularizer: self.gamma_regularizer,
            });
        }
        if self.center {
            specs.push(VarSpec {
                suffix: "beta".into(),
                shape: vec![n],
                init: self.beta_initializer.clone(),
                regularizer: self.beta_regularizer,
            });
        }
        specs
    }

    /// Splits the variables [`specs`](Self::specs) created into (gamma, beta).
    pub fn split(&self, vars: &[VarId]) -> (Option<VarId>, Option<VarId>) {
        let mut it = vars.iter().copied();
        let gamma = if self.scale { it.next() } else { None };
        let beta = if self.center { it.next() } else { None };
        (gamma, beta)
    }
}

/// A number argument that must be finite and at least zero.
pub fn non_negative(b: &Bound, i: usize, what: &str, default: f64, g: &Graph) -> Result<f64, Diagnostic> {
    b.get(i)
        .map(|v| values::number_in(v, what, "a finite number ≥ 0", |x| x.is_finite() && x >= 0.0, g))
        .transpose()
        .map(|o| o.unwrap_or(default))
}

/// Resolves a Keras `axis` (negative counts from the end, the batch axis
/// included in the count) to the axis of `shape` the layer keeps. The batch
/// axis cannot be chosen: statistics are taken across samples, never per
/// batch position.
pub fn feature_axis(name: &str, axis: i64, shape: &Shape, span: Span) -> Result<usize, Diagnostic> {
    let rank = shape.rank();
    let batched = matches!(shape.0.first(), Some(Dim::Batch));
    let first = usize::from(batched);
    match resolve_axis(axis, rank) {
        Some(a) if a >= first => Ok(a),
        resolved => {
            let valid = match rank - first {
                0 => "this input has no axis to normalize along".to_string(),
                1 => format!("the only valid axis is {first} (or -1)"),
                n => format!("valid axes: {first} to {}, or -{n} to -1", rank - 1),
            };
            let what = if resolved == Some(0) && batched {
                format!("{name}: axis {axis} is the batch axis of inputs of shape {}", per_sample(shape))
            } else {
                format!("{name}: axis {axis} is out of range for inputs of shape {}", per_sample(shape))
            };
            let mut d = Diagnostic::error(ARG_RANGE, what, span).with_label(valid);
            if batched {
                d = d.with_note("axis 0 is the batch dimension; the statistics are computed across it");
            }
            Err(d.with_help("use `axis = -1`, the last (feature or channel) axis"))
        }
    }
}

/// The number of elements `axes` of `x` hold, as an f32 scalar node (the
/// batch size enters as the runtime value).
pub fn count(g: &mut Graph, x: NodeId, axes: &[usize]) -> Result<NodeId, ShapeError> {
    let shape = g.shape(x).clone();
    let mut known = 1.0f64;
    let mut batch = false;
    for &a in axes {
        match shape.0[a] {
            Dim::Known(n) => known *= n as f64,
            Dim::Batch => batch = true,
        }
    }
    let k = g.scalar(known);
    if !batch {
        return Ok(k);
    }
    let b = g.batch_size();
    if known == 1.0 {
        return Ok(b);
    }
    g.mul(b, k)
}

/// Mean and biased variance of `x` over `axes` (kept as size-1 dims), and
/// the centered input `x - mean`.
pub struct Moments {
    pub mean: NodeId,
    pub variance: NodeId,
    pub centered: NodeId,
}

pub fn moments(g: &mut Graph, x: NodeId, axes: &[usize]) -> Result<Moments, ShapeError> {
    let n = count(g, x, axes)?;
    let sum = g.reduce_sum(x, axes.to_vec(), true)?;
    let mean = g.div(sum, n)?;
    let centered = g.sub(x, mean)?;
    let sq = g.mul(centered, centered)?;
    let ss = g.reduce_sum(sq, axes.to_vec(), true)?;
    let variance = g.div(ss, n)?;
    Ok(Moments { mean, variance, centered })
}

/// Every axis of a rank-`rank` tensor but `keep`.
pub fn other_axes(rank: usize, keep: usize) -> Vec<usize> {
    (0..rank).filter(|&a| a != keep).collect()
}

/// A `[n]` node reshaped to broadcast along `axis` of a rank-`rank` tensor
/// (`[n, 1, 1]` for axis 1 of rank 4).
pub fn along(g: &mut Graph, v: NodeId, axis: usize, rank: usize) -> Result<NodeId, ShapeError> {
    let n: usize = g.shape(v).known_dims().map_or(1, |d| d.iter().product());
    let mut dims = vec![n];
    dims.extend(std::iter::repeat_n(1, rank - 1 - axis));
    g.reshape(v, Shape::known(&dims))
}

/// `centered * gamma / sqrt(variance + epsilon) + beta`, with gamma and beta
/// (already shaped to broadcast) optional.
pub fn scale_shift(
    g: &mut Graph,
    centered: NodeId,
    variance: NodeId,
    epsilon: f64,
    gamma: Option<NodeId>,
    beta: Option<NodeId>,
) -> Result<NodeId, ShapeError> {
    let eps = g.scalar(epsilon);
    let v = g.add(variance, eps)?;
    let sd = g.unary(crate::ir::UnaryOp::Sqrt, v)?;
    let inv = match gamma {
        Some(gm) => g.div(gm, sd)?,
        None => {
            let one = g.scalar(1.0);
            g.div(one, sd)?
        }
    };
    let y = g.mul(centered, inv)?;
    match beta {
        Some(b) => g.add(y, b),
        None => Ok(y),
    }
}

impl<'a> Lowerer<'a> {
    /// [`layer_vars`](Self::layer_vars), then marks the variables at
    /// `non_trainable` positions as statistics the optimizer never touches.
    pub(super) fn layer_vars_with_stats(
        &mut self,
        inst: usize,
        specs: Vec<VarSpec>,
        non_trainable: std::ops::Range<usize>,
        span: Span,
    ) -> Result<Vec<VarId>, Diagnostic> {
        let vars = self.layer_vars(inst, specs, span)?;
        for &v in &vars[non_trainable] {
            self.g.vars[v.index()].kind = VarKind::NonTrainable;
        }
        Ok(vars)
    }

    /// Records `new` as the value `var` takes after this training step. A
    /// layer applied twice in one step updates from its first update, as
    /// Keras's two sequential assignments do.
    pub(super) fn update_var(
        &mut self,
        var: VarId,
        new: impl FnOnce(&mut Graph, NodeId) -> Result<NodeId, ShapeError>,
    ) -> Result<(), ShapeError> {
        let existing = self.g.updates.iter().position(|(v, _)| *v == var);
        let current = match existing {
            Some(i) => self.g.updates[i].1,
            None => self.g.var_node(var),
        };
        let value = new(&mut self.g, current)?;
        match existing {
            Some(i) => self.g.updates[i].1 = value,
            None => self.g.updates.push((var, value)),
        }
        Ok(())
    }
}
