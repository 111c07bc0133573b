//! `dense`: Keras's Dense, `activation(x @ kernel + bias)` (kernel
//! `[in, units]`, bias `[units]`). On inputs of higher rank it acts on the
//! last axis, as in Keras: `[B, T, in]` becomes `[B, T, units]`, computed as
//! a 1×1 convolution over `[B, 1, T, in]` (matmul is rank 2 and the batch
//! axis is symbolic, so the steps cannot be folded into the rows).

use super::VarSpec;
use crate::diag::{Diagnostic, Span};
use crate::ir::{Dim, Init, NodeId, Op, Padding, Regularizer, Shape, Window};
use crate::lower::activations::Activation;
use crate::lower::args::{bind, opt, req, Param};
use crate::lower::errors::*;
use crate::lower::init;
use crate::lower::state::Lowerer;
use crate::lower::values::{self, ArgVal, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct DenseConfig {
    pub units: usize,
    pub activation: Activation,
    pub use_bias: bool,
    pub kernel_initializer: Init,
    pub bias_initializer: Init,
    pub kernel_regularizer: Option<Regularizer>,
    pub bias_regularizer: Option<Regularizer>,
}

const PARAMS: &[Param] = &[
    req("units"),
    opt("activation"),
    opt("use_bias"),
    opt("kernel_initializer"),
    opt("bias_initializer"),
    opt("kernel_regularizer"),
    opt("bias_regularizer"),
];

impl<'a> Lowerer<'a> {
    pub(super) fn dense_config(&mut self, args: &[ArgVal], span: Span) -> Result<DenseConfig, Diagnostic> {
        let b = bind("dense", PARAMS, args, span)?;
        let g = &self.g;
        let units = values::positive(b.get(0).expect("required"), "dense units", g)?;
        let init::WeightArgs { use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer } =
            init::weight_args(&b, 2, g)?;
        let activation = match b.get(1) {
            Some(v) => self.activation_arg(v)?,
            None => Activation::Linear,
        };
        Ok(DenseConfig {
            units,
            activation,
            use_bias,
            kernel_initializer,
            bias_initializer,
            kernel_regularizer,
            bias_regularizer,
        })
    }

    pub(super) fn apply_dense(
        &mut self,
        inst: usize,
        cfg: &DenseConfig,
        x: &Tensor,
        span: Span,
    ) -> Result<NodeId, Diagnostic> {
        let name = self.instances[inst].name.clone();
        let shape = self.g.shape(x.id).clone();
        if shape.rank() < 2 {
            let mut d = Diagnostic::error(
                RANK,
                format!("{name} expects a rank-1 input per sample but gets {}", per_sample(&shape)),
                span,
            )
            .with_label(format!("this input has shape {}", per_sample(&shape)));
            if shape.rank() > 2 {
                d = d.with_help("add `flatten` before it");
            } else {
                d = d.with_help("give the input a feature dimension, e.g. `input x: [1]`");
            }
            return Err(d);
        }
        let n_in = shape.0[shape.rank() - 1].known().unwrap_or(1);
        let mut specs = vec![VarSpec {
            suffix: "kernel".into(),
            shape: vec![n_in, cfg.units],
            init: cfg.kernel_initializer.clone(),
            regularizer: cfg.kernel_regularizer,
        }];
        if cfg.use_bias {
            specs.push(VarSpec {
                suffix: "bias".into(),
                shape: vec![cfg.units],
                init: cfg.bias_initializer.clone(),
                regularizer: cfg.bias_regularizer,
            });
        }
        let vars = self.layer_vars(inst, specs, span)?;
        let err = |e| shape_error(e, &name, span);
        let k = self.g.var_node(vars[0]);
        let mut y = if shape.rank() == 2 {
            self.g.matmul(x.id, k).map_err(err)?
        } else {
            let steps: usize = shape.0[1..shape.rank() - 1].iter().map(|d| d.known().unwrap_or(1)).product();
            let image = self
                .g
                .reshape(x.id, Shape(vec![Dim::Batch, Dim::Known(1), Dim::Known(steps), Dim::Known(n_in)]))
                .map_err(err)?;
            let k4 = self.g.reshape(k, Shape::known(&[1, 1, n_in, cfg.units])).map_err(err)?;
            let window = Window { size: (1, 1), strides: (1, 1), padding: Padding::Valid };
            let y = self.g.push(Op::Conv2d(window), &[image, k4]).map_err(err)?;
            let mut dims = shape.0.clone();
            *dims.last_mut().expect("rank >= 3") = Dim::Known(cfg.units);
            self.g.reshape(y, Shape(dims)).map_err(err)?
        };
        if let Some(&b) = vars.get(1) {
            let bn = self.g.var_node(b);
            y = self.g.add(y, bn).map_err(err)?;
        }
        let y = Tensor { id: y, source: x.source.clone() };
        self.apply_activation(&cfg.activation, &y, span)
    }
}
