//! Keras's preprocessing layers that live inside a model:
//! `normalization` (`(x - mean) / max(sqrt(variance), 1e-7)` with statistics
//! set by adapting to data, not by training) and `rescaling`
//! (`x * scale + offset`).
//!
//! `normalization` declares Keras 3's weights `mean`, `variance` and `count`
//! (all non-trainable). Keras leaves `count` at 0; here adapting stores the
//! number of samples in it, so a model whose `count` is still 0 was never
//! adapted (the runtime refuses to predict with it).

use super::norm;
use super::VarSpec;
use crate::diag::{Diagnostic, Span};
use crate::ir::{BinaryOp, Graph, Init, NodeId, UnaryOp};
use crate::lower::args::{bind, opt, req};
use crate::lower::errors::*;
use crate::lower::state::Lowerer;
use crate::lower::values::{self, ArgVal, Tensor};

/// Keras's `backend.epsilon()`, the floor of the standard deviation.
const STD_FLOOR: f64 = 1e-7;

#[derive(Clone, Debug, PartialEq)]
pub struct NormalizationConfig {
    pub axis: i64,
    /// `mean + x * std`: undoes a normalization.
    pub invert: bool,
}

impl<'a> Lowerer<'a> {
    pub(super) fn normalization_config(
        &mut self,
        args: &[ArgVal],
        span: Span,
    ) -> Result<NormalizationConfig, Diagnostic> {
        let b = bind("normalization", &[opt("axis"), opt("invert")], args, span)?;
        let g = &self.g;
        Ok(NormalizationConfig {
            axis: b.get(0).map(|v| values::int(v, "axis", g)).transpose()?.unwrap_or(-1),
            invert: b.get(1).map(|v| values::boolean(v, "invert", g)).transpose()?.unwrap_or(false),
        })
    }

    pub(super) fn rescaling_config(&mut self, args: &[ArgVal], span: Span) -> Result<(f64, f64), Diagnostic> {
        let b = bind("rescaling", &[req("scale"), opt("offset")], args, span)?;
        let g = &self.g;
        let finite = |x: f64| x.is_finite();
        let scale = values::number_in(b.get(0).expect("required"), "scale", "a finite number", finite, g)?;
        let offset = b.get(1).map(|v| values::number_in(v, "offset", "a finite number", finite, g)).transpose()?;
        Ok((scale, offset.unwrap_or(0.0)))
    }

    pub(super) fn apply_normalization(
        &mut self,
        inst: usize,
        cfg: &NormalizationConfig,
        x: &Tensor,
        span: Span,
    ) -> Result<NodeId, Diagnostic> {
        let name = self.instances[inst].name.clone();
        let shape = self.g.shape(x.id).clone();
        let axis = norm::feature_axis(&name, cfg.axis, &shape, span)?;
        let n = shape.0[axis].known().unwrap_or(1);
        let spec = |suffix, shape, init| VarSpec { suffix, shape, init, regularizer: None };
        let specs = vec![
            spec("mean".into(), vec![n], Init::Zeros),
            spec("variance".into(), vec![n], Init::Ones),
            spec("count".into(), vec![], Init::Zeros),
        ];
        let vars = self.layer_vars_with_stats(inst, specs, 0..3, span)?;
        let err = |e| shape_error(e, &name, span);
        let g = &mut self.g;
        let rank = shape.rank();
        let mean = g.var_node(vars[0]);
        let mean = norm::along(g, mean, axis, rank).map_err(err)?;
        let var = g.var_node(vars[1]);
        let var = norm::along(g, var, axis, rank).map_err(err)?;
        let sd = g.unary(UnaryOp::Sqrt, var).map_err(err)?;
        let floor = g.scalar(STD_FLOOR);
        let sd = g.binary(BinaryOp::Max, sd, floor).map_err(err)?;
        if cfg.invert {
            let scaled = g.mul(x.id, sd).map_err(err)?;
            return g.add(mean, scaled).map_err(err);
        }
        let centered = g.sub(x.id, mean).map_err(err)?;
        g.div(centered, sd).map_err(err)
    }
}

pub(super) fn rescale(
    g: &mut Graph,
    name: &str,
    scale: f64,
    offset: f64,
    x: &Tensor,
    span: Span,
) -> Result<NodeId, Diagnostic> {
    let err = |e| shape_error(e, name, span);
    let s = g.scalar(scale);
    let y = g.mul(x.id, s).map_err(err)?;
    if offset == 0.0 {
        return Ok(y);
    }
    let o = g.scalar(offset);
    g.add(y, o).map_err(err)
}
