//! Normalizations within each sample, the same in training and inference:
//! `layer_normalization` (moments along `axis`), `group_normalization`
//! (moments over the other non-batch axes and the channels of each group of
//! `axis`) and `unit_normalization` (unit L2 norm along `axis`), as Keras 3
//! computes them.

use super::norm::{self, Affine, AffineArgs};
use crate::diag::{Diagnostic, Span};
use crate::ir::{Dim, Graph, NodeId, Shape, UnaryOp};
use crate::lower::args::{bind, opt, Param};
use crate::lower::errors::*;
use crate::lower::state::Lowerer;
use crate::lower::values::{self, ArgVal, Tensor};

/// `layer_normalization` (`groups: None`) and `group_normalization`.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleNormConfig {
    /// `None` for layer normalization; `Some(-1)` is one group per channel.
    pub groups: Option<i64>,
    pub axis: i64,
    pub epsilon: f64,
    pub affine: Affine,
}

const LAYER_PARAMS: &[Param] = &[
    opt("axis"),
    opt("epsilon"),
    opt("center"),
    opt("scale"),
    opt("beta_initializer"),
    opt("gamma_initializer"),
    opt("beta_regularizer"),
    opt("gamma_regularizer"),
];
const LAYER_AFFINE: AffineArgs = AffineArgs {
    center: 2,
    scale: 3,
    beta_initializer: 4,
    gamma_initializer: 5,
    beta_regularizer: 6,
    gamma_regularizer: 7,
};

const GROUP_PARAMS: &[Param] = &[
    opt("groups"),
    opt("axis"),
    opt("epsilon"),
    opt("center"),
    opt("scale"),
    opt("beta_initializer"),
    opt("gamma_initializer"),
    opt("beta_regularizer"),
    opt("gamma_regularizer"),
];
const GROUP_AFFINE: AffineArgs = AffineArgs {
    center: 3,
    scale: 4,
    beta_initializer: 5,
    gamma_initializer: 6,
    beta_regularizer: 7,
    gamma_regularizer: 8,
};

/// Keras's UnitNormalization floor on the squared norm (`rsqrt` capped at 1e12).
const UNIT_FLOOR: f64 = 1e-24;

impl<'a> Lowerer<'a> {
    pub(super) fn layer_norm_config(&mut self, args: &[ArgVal], span: Span) -> Result<SampleNormConfig, Diagnostic> {
        let b = bind("layer_normalization", LAYER_PARAMS, args, span)?;
        let g = &self.g;
        Ok(SampleNormConfig {
            groups: None,
            axis: b.get(0).map(|v| values::int(v, "axis", g)).transpose()?.unwrap_or(-1),
            epsilon: norm::non_negative(&b, 1, "epsilon", 1e-3, g)?,
            affine: norm::affine(&b, &LAYER_AFFINE, g)?,
        })
    }

    pub(super) fn group_norm_config(&mut self, args: &[ArgVal], span: Span) -> Result<SampleNormConfig, Diagnostic> {
        let b = bind("group_normalization", GROUP_PARAMS, args, span)?;
        let g = &self.g;
        let groups = match b.get(0) {
            None => 32,
            Some(v) => match values::int(v, "groups", g)? {
                -1 => -1,
                _ => values::positive(v, "groups", g)? as i64,
            },
        };
        Ok(SampleNormConfig {
            groups: Some(groups),
            axis: b.get(1).map(|v| values::int(v, "axis", g)).transpose()?.unwrap_or(-1),
            epsilon: norm::non_negative(&b, 2, "epsilon", 1e-3, g)?,
            affine: norm::affine(&b, &GROUP_AFFINE, g)?,
        })
    }

    pub(super) fn apply_sample_norm(
        &mut self,
        inst: usize,
        cfg: &SampleNormConfig,
        x: &Tensor,
        span: Span,
    ) -> Result<NodeId, Diagnostic> {
        let name = self.instances[inst].name.clone();
        let shape = self.g.shape(x.id).clone();
        let axis = norm::feature_axis(&name, cfg.axis, &shape, span)?;
        let channels = shape.0[axis].known().unwrap_or(1);
        let groups = match cfg.groups {
            None => None,
            Some(-1) => Some(channels),
            Some(n) => {
                let n = n as usize;
                if n > channels || !channels.is_multiple_of(n) {
                    return Err(Diagnostic::error(
                        ARG_RANGE,
                        format!("{name}: {n} groups do not divide the {channels} channels of axis {}", cfg.axis),
                        span,
                    )
                    .with_label(format!("input shape {}", per_sample(&shape)))
                    .with_note("each group normalizes an equal share of the channels")
                    .with_help(format!(
                        "use `groups` that divides {channels}, e.g. `groups = {}`",
                        divisor(channels, n)
                    )));
                }
                Some(n)
            }
        };
        let vars = self.layer_vars(inst, cfg.affine.specs(channels), span)?;
        let (gamma, beta) = cfg.affine.split(&vars);
        let err = |e| shape_error(e, &name, span);
        let g = &mut self.g;
        match groups {
            None => {
                let rank = shape.rank();
                let m = norm::moments(g, x.id, &[axis]).map_err(err)?;
                let gamma = param(g, gamma, axis, rank, None).map_err(err)?;
                let beta = param(g, beta, axis, rank, None).map_err(err)?;
                norm::scale_shift(g, m.centered, m.variance, cfg.epsilon, gamma, beta).map_err(err)
            }
            Some(groups) => {
                let mut dims = shape.0.clone();
                dims[axis] = Dim::Known(channels / groups);
                dims.insert(axis, Dim::Known(groups));
                let rank = dims.len();
                let grouped = g.reshape(x.id, Shape(dims)).map_err(err)?;
                let first = usize::from(matches!(shape.0.first(), Some(Dim::Batch)));
                let axes: Vec<usize> = (first..rank).filter(|&a| a != axis).collect();
                let m = norm::moments(g, grouped, &axes).map_err(err)?;
                let gamma = param(g, gamma, axis, rank, Some(groups)).map_err(err)?;
                let beta = param(g, beta, axis, rank, Some(groups)).map_err(err)?;
                let y = norm::scale_shift(g, m.centered, m.variance, cfg.epsilon, gamma, beta).map_err(err)?;
                g.reshape(y, shape).map_err(err)
            }
        }
    }

    pub(super) fn unit_norm_axis(&mut self, args: &[ArgVal], span: Span) -> Result<i64, Diagnostic> {
        let b = bind("unit_normalization", &[opt("axis")], args, span)?;
        Ok(b.get(0).map(|v| values::int(v, "axis", &self.g)).transpose()?.unwrap_or(-1))
    }
}

/// `x / sqrt(max(sum(x², axis), 1e-24))`.
pub(super) fn unit_norm(g: &mut Graph, name: &str, axis: i64, x: &Tensor, span: Span) -> Result<NodeId, Diagnostic> {
    let shape = g.shape(x.id).clone();
    let a = norm::feature_axis(name, axis, &shape, span)?;
    let err = |e| shape_error(e, name, span);
    let sq = g.mul(x.id, x.id).map_err(err)?;
    let ss = g.reduce_sum(sq, vec![a], true).map_err(err)?;
    let floor = g.scalar(UNIT_FLOOR);
    let ss = g.binary(crate::ir::BinaryOp::Max, ss, floor).map_err(err)?;
    let n = g.unary(UnaryOp::Sqrt, ss).map_err(err)?;
    g.div(x.id, n).map_err(err)
}

/// A `[C]` parameter shaped to broadcast along `axis` of the (grouped, when
/// `groups` is given) rank-`rank` tensor.
fn param(
    g: &mut Graph,
    v: Option<crate::ir::VarId>,
    axis: usize,
    rank: usize,
    groups: Option<usize>,
) -> Result<Option<NodeId>, crate::shape::ShapeError> {
    let Some(v) = v else { return Ok(None) };
    let n = g.var_node(v);
    let Some(groups) = groups else { return norm::along(g, n, axis, rank).map(Some) };
    let channels = g.var(v).shape[0];
    let mut dims = vec![groups, channels / groups];
    dims.extend(std::iter::repeat_n(1, rank - 2 - axis));
    g.reshape(n, Shape::known(&dims)).map(Some)
}

/// The largest divisor of `channels` not above `wanted`, for the help text.
fn divisor(channels: usize, wanted: usize) -> usize {
    (1..=wanted.min(channels)).rev().find(|&d| channels.is_multiple_of(d)).unwrap_or(1)
}
