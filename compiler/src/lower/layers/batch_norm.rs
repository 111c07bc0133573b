//! `batch_normalization`: Keras's BatchNormalization. Training mode
//! normalizes with the batch's mean and biased variance over every axis but
//! `axis` and records the moving-statistics updates
//! (`moving = moving * momentum + batch_stat * (1 - momentum)`) in the
//! graph's `updates`, so the compiled training step applies them; inference
//! mode normalizes with the moving statistics and updates nothing. Both modes
//! declare the same variables: `gamma`, `beta` (trainable, when `scale` /
//! `center`), `moving_mean`, `moving_variance` (non-trainable).

use super::norm::{self, Affine, AffineArgs};
use super::VarSpec;
use crate::diag::{Diagnostic, Span};
use crate::ir::{Init, NodeId};
use crate::lower::args::{bind, opt, Param};
use crate::lower::errors::*;
use crate::lower::init;
use crate::lower::state::Lowerer;
use crate::lower::values::{self, ArgVal, Tensor};
use crate::lower::Mode;

#[derive(Clone, Debug, PartialEq)]
pub struct BatchNormConfig {
    pub axis: i64,
    pub momentum: f64,
    pub epsilon: f64,
    pub affine: Affine,
    pub moving_mean_initializer: Init,
    pub moving_variance_initializer: Init,
}

const PARAMS: &[Param] = &[
    opt("axis"),
    opt("momentum"),
    opt("epsilon"),
    opt("center"),
    opt("scale"),
    opt("beta_initializer"),
    opt("gamma_initializer"),
    opt("moving_mean_initializer"),
    opt("moving_variance_initializer"),
    opt("beta_regularizer"),
    opt("gamma_regularizer"),
];

const AFFINE: AffineArgs = AffineArgs {
    center: 3,
    scale: 4,
    beta_initializer: 5,
    gamma_initializer: 6,
    beta_regularizer: 9,
    gamma_regularizer: 10,
};

impl<'a> Lowerer<'a> {
    pub(super) fn batch_norm_config(&mut self, args: &[ArgVal], span: Span) -> Result<BatchNormConfig, Diagnostic> {
        let b = bind("batch_normalization", PARAMS, args, span)?;
        let g = &self.g;
        let axis = b.get(0).map(|v| values::int(v, "axis", g)).transpose()?.unwrap_or(-1);
        let momentum = b
            .get(1)
            .map(|v| values::number_in(v, "momentum", "in [0, 1]", |m| (0.0..=1.0).contains(&m), g))
            .transpose()?
            .unwrap_or(0.99);
        let epsilon = norm::non_negative(&b, 2, "epsilon", 1e-3, g)?;
        let affine = norm::affine(&b, &AFFINE, g)?;
        let stat_init = |i: usize, what: &str, default: Init| {
            b.get(i).map(|v| init::initializer(v, what, g)).transpose().map(|o| o.unwrap_or(default))
        };
        Ok(BatchNormConfig {
            axis,
            momentum,
            epsilon,
            affine,
            moving_mean_initializer: stat_init(7, "moving_mean_initializer", Init::Zeros)?,
            moving_variance_initializer: stat_init(8, "moving_variance_initializer", Init::Ones)?,
        })
    }

    pub(super) fn apply_batch_norm(
        &mut self,
        inst: usize,
        cfg: &BatchNormConfig,
        x: &Tensor,
        span: Span,
    ) -> Result<NodeId, Diagnostic> {
        let name = self.instances[inst].name.clone();
        let shape = self.g.shape(x.id).clone();
        let axis = norm::feature_axis(&name, cfg.axis, &shape, span)?;
        let rank = shape.rank();
        let channels = shape.0[axis].known().unwrap_or(1);
        let mut specs = cfg.affine.specs(channels);
        let trainable = specs.len();
        for (suffix, init) in
            [("moving_mean", &cfg.moving_mean_initializer), ("moving_variance", &cfg.moving_variance_initializer)]
        {
            specs.push(VarSpec { suffix: suffix.into(), shape: vec![channels], init: init.clone(), regularizer: None });
        }
        let vars = self.layer_vars_with_stats(inst, specs, trainable..trainable + 2, span)?;
        let (gamma, beta) = cfg.affine.split(&vars);
        let (moving_mean, moving_variance) = (vars[trainable], vars[trainable + 1]);
        let err = |e| shape_error(e, &name, span);
        let g = &mut self.g;
        let param = |g: &mut crate::ir::Graph, v: Option<crate::ir::VarId>| -> Result<Option<NodeId>, Diagnostic> {
            v.map(|v| {
                let n = g.var_node(v);
                norm::along(g, n, axis, rank).map_err(err)
            })
            .transpose()
        };
        let gamma = param(g, gamma)?;
        let beta = param(g, beta)?;
        if self.mode == Mode::Infer {
            let mm = param(g, Some(moving_mean))?.expect("given");
            let mv = param(g, Some(moving_variance))?.expect("given");
            let centered = g.sub(x.id, mm).map_err(err)?;
            return norm::scale_shift(g, centered, mv, cfg.epsilon, gamma, beta).map_err(err);
        }
        let axes = norm::other_axes(rank, axis);
        let m = norm::moments(g, x.id, &axes).map_err(err)?;
        let y = norm::scale_shift(g, m.centered, m.variance, cfg.epsilon, gamma, beta).map_err(err)?;
        let momentum = cfg.momentum;
        for (var, stat) in [(moving_mean, m.mean), (moving_variance, m.variance)] {
            self.update_var(var, |g, current| {
                let flat = g.reshape(stat, crate::ir::Shape::known(&[channels]))?;
                let keep = g.scalar(momentum);
                let take = g.scalar(1.0 - momentum);
                let old = g.mul(current, keep)?;
                let new = g.mul(flat, take)?;
                g.add(old, new)
            })
            .map_err(err)?;
        }
        Ok(y)
    }
}
