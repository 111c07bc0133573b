//! `conv1d` on `[B, T, C]` (kernel `[K, C, F]`, as Keras stores it), lowered
//! onto the 2-D convolution with a height of 1. `causal` padding is zeros
//! before the sequence (`(K - 1) * dilation` steps), then `valid`.
//!
//! Dilation: `Conv2d` has no dilation, so a dilated convolution is written
//! as what it computes: the K shifted views `x[t + k * dilation]` side by
//! side along channels (`[B, T', K * C]`), times the kernel seen as
//! `[K * C, F]` — one contraction, as a 1×1 convolution. Keras forbids
//! `strides > 1` together with `dilation_rate > 1`, so the views need no
//! striding.

use super::VarSpec;
use crate::diag::{Diagnostic, Span};
use crate::ir::{Dim, Graph, Init, NodeId, Op, Padding, Regularizer, Shape, Window};
use crate::lower::activations::Activation;
use crate::lower::args::{bind, opt, req, Param};
use crate::lower::errors::*;
use crate::lower::init;
use crate::lower::state::Lowerer;
use crate::lower::values::{self, ArgVal, Sv, Tensor, Value};

/// Keras's 1-D paddings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding1d {
    Valid,
    Same,
    Causal,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Conv1dConfig {
    pub filters: usize,
    pub kernel_size: usize,
    pub strides: usize,
    pub padding: Padding1d,
    pub dilation_rate: usize,
    pub activation: Activation,
    pub use_bias: bool,
    pub kernel_initializer: Init,
    pub bias_initializer: Init,
    pub kernel_regularizer: Option<Regularizer>,
    pub bias_regularizer: Option<Regularizer>,
}

const PARAMS: &[Param] = &[
    req("filters"),
    req("kernel_size"),
    opt("strides"),
    opt("padding"),
    opt("dilation_rate"),
    opt("activation"),
    opt("use_bias"),
    opt("kernel_initializer"),
    opt("bias_initializer"),
    opt("kernel_regularizer"),
    opt("bias_regularizer"),
];

/// One positive integer, or a list holding one (Keras's `int or tuple of 1`).
pub(super) fn single(sv: &Sv, what: &str, g: &Graph) -> Result<usize, Diagnostic> {
    match &sv.value {
        Value::List(items) if items.len() == 1 => values::positive(&items[0], what, g),
        Value::List(items) => Err(Diagnostic::error(
            ARG_TYPE,
            format!("{what} expects one integer but got a list of {} values", items.len()),
            sv.span,
        )
        .with_label("expected one value")),
        _ => values::positive(sv, what, g),
    }
}

/// `valid`, `same` and, where `causal` is true, `causal`.
pub(super) fn padding1d(sv: &Sv, causal: bool, g: &Graph) -> Result<Padding1d, Diagnostic> {
    let name = values::name(sv, "padding", g)?;
    match name.as_str() {
        "valid" => Ok(Padding1d::Valid),
        "same" => Ok(Padding1d::Same),
        "causal" if causal => Ok(Padding1d::Causal),
        other => {
            let names: &[&str] = if causal { &["valid", "same", "causal"] } else { &["valid", "same"] };
            let list = names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
            let mut d = Diagnostic::error(ARG_TYPE, format!("padding must be one of {list} but is `{other}`"), sv.span)
                .with_label("unknown padding");
            if let Some(h) = suggest(other, names.iter().copied()) {
                d = d.with_help(h);
            }
            Err(d)
        }
    }
}

/// Sequence layers need `[B, T, C]`.
pub(super) fn sequence_rank(name: &str, shape: &Shape, span: Span) -> Result<(usize, usize), Diagnostic> {
    if shape.rank() == 3 {
        return Ok((shape.0[1].known().unwrap_or(1), shape.0[2].known().unwrap_or(1)));
    }
    let sample = per_sample(shape);
    let mut d = Diagnostic::error(
        RANK,
        format!("{name} expects a rank-2 input per sample [steps, channels] but gets {sample}"),
        span,
    )
    .with_label(format!("this input has shape {sample}"));
    d = match shape.rank() {
        2 => d.with_help(format!("add a channel axis first: `reshape([{}, 1])`", shape.0[1])),
        4 => d.with_help("this is an image batch; use the 2-D layer (`conv2d`, `max_pooling2d`, …)"),
        _ => d,
    };
    Err(d)
}

/// `[B, T, C]` → `[B, 1, T, C]` and back: 1-D layers run as 2-D ones.
pub(super) fn as_image(g: &mut Graph, x: NodeId) -> Result<NodeId, crate::shape::ShapeError> {
    let mut dims = g.shape(x).0.clone();
    dims.insert(1, Dim::Known(1));
    g.reshape(x, Shape(dims))
}

pub(super) fn from_image(g: &mut Graph, y: NodeId) -> Result<NodeId, crate::shape::ShapeError> {
    let mut dims = g.shape(y).0.clone();
    dims.remove(1);
    g.reshape(y, Shape(dims))
}

impl<'a> Lowerer<'a> {
    pub(super) fn conv1d_config(&mut self, args: &[ArgVal], span: Span) -> Result<Conv1dConfig, Diagnostic> {
        let b = bind("conv1d", PARAMS, args, span)?;
        let g = &self.g;
        let filters = values::positive(b.get(0).expect("required"), "conv1d filters", g)?;
        let kernel_size = single(b.get(1).expect("required"), "kernel_size", g)?;
        let strides = b.get(2).map(|v| single(v, "strides", g)).transpose()?.unwrap_or(1);
        let padding = b.get(3).map(|v| padding1d(v, true, g)).transpose()?.unwrap_or(Padding1d::Valid);
        let dilation_rate = b.get(4).map(|v| single(v, "dilation_rate", g)).transpose()?.unwrap_or(1);
        if strides > 1 && dilation_rate > 1 {
            return Err(Diagnostic::error(
                ARG_RANGE,
                format!("conv1d cannot combine strides = {strides} with dilation_rate = {dilation_rate}"),
                span,
            )
            .with_label("strides > 1 and dilation_rate > 1")
            .with_note("Keras does not support strides > 1 together with dilation_rate > 1")
            .with_help("use one of them, or follow the convolution with `max_pooling1d`"));
        }
        let init::WeightArgs { use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer } =
            init::weight_args(&b, 6, g)?;
        let activation = match b.get(5) {
            Some(v) => self.activation_arg(v)?,
            None => Activation::Linear,
        };
        Ok(Conv1dConfig {
            filters,
            kernel_size,
            strides,
            padding,
            dilation_rate,
            activation,
            use_bias,
            kernel_initializer,
            bias_initializer,
            kernel_regularizer,
            bias_regularizer,
        })
    }

    pub(super) fn apply_conv1d(
        &mut self,
        inst: usize,
        cfg: &Conv1dConfig,
        x: &Tensor,
        span: Span,
    ) -> Result<NodeId, Diagnostic> {
        let name = self.instances[inst].name.clone();
        let shape = self.g.shape(x.id).clone();
        let (steps, channels) = sequence_rank(&name, &shape, span)?;
        let (k, d) = (cfg.kernel_size, cfg.dilation_rate);
        let reach = (k - 1) * d + 1;
        if cfg.padding == Padding1d::Valid && reach > steps {
            let what = if d > 1 { format!("dilated window of {reach} steps") } else { format!("window of {k} steps") };
            return Err(Diagnostic::error(
                WINDOW,
                format!("{name}'s {what} is longer than its {steps}-step input"),
                span,
            )
            .with_label(format!("input is {}", per_sample(&shape)))
            .with_help("use `padding = same` or `padding = causal`, or a smaller kernel_size"));
        }
        let mut specs = vec![VarSpec {
            suffix: "kernel".into(),
            shape: vec![k, channels, cfg.filters],
            init: cfg.kernel_initializer.clone(),
            regularizer: cfg.kernel_regularizer,
        }];
        if cfg.use_bias {
            specs.push(VarSpec {
                suffix: "bias".into(),
                shape: vec![cfg.filters],
                init: cfg.bias_initializer.clone(),
                regularizer: cfg.bias_regularizer,
            });
        }
        let vars = self.layer_vars(inst, specs, span)?;
        let err = |e| shape_error(e, &name, span);
        let kernel = self.g.var_node(vars[0]);
        let mut input = x.id;
        // Zeros before (and for `same` with dilation, after) the sequence.
        let (before, after) = match cfg.padding {
            Padding1d::Causal => (reach - 1, 0),
            Padding1d::Same if d > 1 => ((reach - 1) / 2, reach - 1 - (reach - 1) / 2),
            _ => (0, 0),
        };
        if before + after > 0 {
            input = self.g.push(Op::Pad { axis: 1, before, after }, &[input]).map_err(err)?;
        }
        let mut y = if d == 1 {
            let padding = if cfg.padding == Padding1d::Same { Padding::Same } else { Padding::Valid };
            let window = Window { size: (1, k), strides: (1, cfg.strides), padding };
            let image = as_image(&mut self.g, input).map_err(err)?;
            let k4 = self.g.reshape(kernel, Shape::known(&[1, k, channels, cfg.filters])).map_err(err)?;
            let y = self.g.push(Op::Conv2d(window), &[image, k4]).map_err(err)?;
            from_image(&mut self.g, y).map_err(err)?
        } else {
            let length = self.g.shape(input).0[1].known().unwrap_or(reach);
            let out_steps = length + 1 - reach;
            let mut taps = Vec::with_capacity(k);
            for j in 0..k {
                let start = j * d;
                taps.push(self.g.push(Op::Slice { axis: 1, start, end: start + out_steps }, &[input]).map_err(err)?);
            }
            let side_by_side =
                if taps.len() == 1 { taps[0] } else { self.g.push(Op::Concat { axis: 2 }, &taps).map_err(err)? };
            let image = as_image(&mut self.g, side_by_side).map_err(err)?;
            let k4 = self.g.reshape(kernel, Shape::known(&[1, 1, k * channels, cfg.filters])).map_err(err)?;
            let window = Window { size: (1, 1), strides: (1, 1), padding: Padding::Valid };
            let y = self.g.push(Op::Conv2d(window), &[image, k4]).map_err(err)?;
            from_image(&mut self.g, y).map_err(err)?
        };
        if let Some(&b) = vars.get(1) {
            let bn = self.g.var_node(b);
            y = self.g.add(y, bn).map_err(err)?;
        }
        let y = Tensor { id: y, source: x.source.clone() };
        self.apply_activation(&cfg.activation, &y, span)
    }
}
