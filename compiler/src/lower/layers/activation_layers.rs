//! Keras's activation layers with their own classes: `leaky_relu`
//! (LeakyReLU), `elu` (ELU) and `prelu` (PReLU, a learned slope).
//!
//! `leaky_relu` and `elu` are also activation functions. Written as a layer
//! (a statement, `f = leaky_relu`, or `leaky_relu(…)(x)`) they are Keras's
//! layer classes, with the layer's defaults: LeakyReLU's `negative_slope` is
//! 0.3, while the function `keras.activations.leaky_relu` defaults to 0.2.

use super::{LayerKind, VarSpec};
use crate::diag::{Diagnostic, Span};
use crate::ir::{Init, NodeId, Regularizer, UnaryOp};
use crate::lower::activations::Activation;
use crate::lower::args::{bind, opt, Param};
use crate::lower::errors::*;
use crate::lower::init;
use crate::lower::state::Lowerer;
use crate::lower::values::{self, ArgVal, Sv, Tensor, Value};

/// Names that are both an activation function and a layer class.
pub const LAYER_ACTIVATIONS: &[&str] = &["leaky_relu", "elu"];

#[derive(Clone, Debug, PartialEq)]
pub struct PreluConfig {
    pub alpha_initializer: Init,
    pub alpha_regularizer: Option<Regularizer>,
    /// Per-sample axes (1 = the first axis after the batch, as in Keras)
    /// along which one slope is shared.
    pub shared_axes: Vec<usize>,
}

const PRELU: &[Param] = &[opt("alpha_initializer"), opt("alpha_regularizer"), opt("shared_axes")];

impl<'a> Lowerer<'a> {
    /// `leaky_relu(negative_slope = 0.3)` or `elu(alpha = 1.0)` as a layer.
    pub(super) fn activation_layer_kind(
        &mut self,
        name: &str,
        args: &[ArgVal],
        span: Span,
    ) -> Result<LayerKind, Diagnostic> {
        let g = &self.g;
        Ok(match name {
            "leaky_relu" => {
                let p = Param { name: "negative_slope", aliases: &["alpha"], required: false };
                let b = bind(name, &[p], args, span)?;
                let negative_slope = match b.get(0) {
                    Some(v) => values::number_in(v, "negative_slope", "at least 0", |s| s >= 0.0, g)?,
                    None => 0.3,
                };
                LayerKind::LeakyRelu { negative_slope }
            }
            "elu" => {
                let b = bind(name, &[opt("alpha")], args, span)?;
                LayerKind::Elu { alpha: b.get(0).map(|v| values::number(v, "alpha", g)).transpose()?.unwrap_or(1.0) }
            }
            other => unreachable!("`{other}` is not an activation layer"),
        })
    }

    pub(super) fn prelu_config(&mut self, args: &[ArgVal], span: Span) -> Result<PreluConfig, Diagnostic> {
        let b = bind("prelu", PRELU, args, span)?;
        let g = &self.g;
        let alpha_initializer =
            b.get(0).map(|v| init::initializer(v, "alpha_initializer", g)).transpose()?.unwrap_or(Init::Zeros);
        let alpha_regularizer = b.get(1).map(|v| init::regularizer(v, "alpha_regularizer", g)).transpose()?.flatten();
        let shared_axes = match b.get(2) {
            None => Vec::new(),
            Some(Sv { value: Value::List(items), .. }) => {
                items.iter().map(|v| values::positive(v, "shared_axes", g)).collect::<Result<_, _>>()?
            }
            Some(v) => vec![values::positive(v, "shared_axes", g)?],
        };
        Ok(PreluConfig { alpha_initializer, alpha_regularizer, shared_axes })
    }

    /// Keras's PReLU: `relu(x) - alpha · relu(-x)`, `alpha` shaped like one
    /// sample with the shared axes set to 1.
    pub(super) fn apply_prelu(
        &mut self,
        inst: usize,
        cfg: &PreluConfig,
        x: &Tensor,
        span: Span,
    ) -> Result<NodeId, Diagnostic> {
        let name = self.instances[inst].name.clone();
        let shape = self.g.shape(x.id).clone();
        let mut alpha_shape: Vec<usize> = shape.0.iter().skip(1).map(|d| d.known().unwrap_or(1)).collect();
        for &axis in &cfg.shared_axes {
            if axis > alpha_shape.len() {
                return Err(Diagnostic::error(
                    ARG_RANGE,
                    format!(
                        "{name}'s shared axis {axis} does not exist: its input has {} axes per sample {}",
                        alpha_shape.len(),
                        per_sample(&shape)
                    ),
                    span,
                )
                .with_label(format!("input shape {}", per_sample(&shape)))
                .with_help(format!(
                    "shared axes count from 1 (the first axis after the batch) to {}",
                    alpha_shape.len()
                )));
            }
            alpha_shape[axis - 1] = 1;
        }
        let spec = VarSpec {
            suffix: "alpha".into(),
            shape: alpha_shape,
            init: cfg.alpha_initializer.clone(),
            regularizer: cfg.alpha_regularizer,
        };
        let vars = self.layer_vars(inst, vec![spec], span)?;
        let err = |e| shape_error(e, &name, span);
        let g = &mut self.g;
        let alpha = g.var_node(vars[0]);
        let pos = g.unary(UnaryOp::Relu, x.id).map_err(err)?;
        let nx = g.neg(x.id).map_err(err)?;
        let rn = g.unary(UnaryOp::Relu, nx).map_err(err)?;
        let neg = g.mul(alpha, rn).map_err(err)?;
        g.sub(pos, neg).map_err(err)
    }
}

/// The activation function a LeakyReLU or ELU layer applies.
pub fn layer_activation(kind: &LayerKind) -> Option<Activation> {
    match *kind {
        LayerKind::LeakyRelu { negative_slope } => Some(Activation::LeakyRelu { negative_slope }),
        LayerKind::Elu { alpha } => Some(Activation::Elu { alpha }),
        _ => None,
    }
}
