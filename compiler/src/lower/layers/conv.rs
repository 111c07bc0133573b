//! Image layers on NHWC tensors: `conv2d` (kernel HWIO), `max_pooling2d`,
//! `average_pooling2d` and `global_average_pooling2d`, with Keras's window
//! arithmetic (`valid` keeps whole windows, `same` pads to `ceil(H / s)`).

use super::VarSpec;
use crate::diag::{Diagnostic, Span};
use crate::ir::{Graph, Init, NodeId, Op, Padding, PoolKind, Regularizer, Shape, Window};
use crate::lower::activations::Activation;
use crate::lower::args::{bind, opt, req, Param};
use crate::lower::errors::*;
use crate::lower::init;
use crate::lower::state::Lowerer;
use crate::lower::values::{self, ArgVal, Sv, Tensor, Value};

#[derive(Clone, Debug, PartialEq)]
pub struct ConvConfig {
    pub filters: usize,
    pub kernel_size: (usize, usize),
    pub strides: (usize, usize),
    pub padding: Padding,
    pub activation: Activation,
    pub use_bias: bool,
    pub kernel_initializer: Init,
    pub bias_initializer: Init,
    pub kernel_regularizer: Option<Regularizer>,
    pub bias_regularizer: Option<Regularizer>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PoolConfig {
    pub kind: PoolKind,
    pub window: Window,
}

const CONV_PARAMS: &[Param] = &[
    req("filters"),
    req("kernel_size"),
    opt("strides"),
    opt("padding"),
    opt("activation"),
    opt("use_bias"),
    opt("kernel_initializer"),
    opt("bias_initializer"),
    opt("kernel_regularizer"),
    opt("bias_regularizer"),
];

fn padding(sv: &Sv, g: &Graph) -> Result<Padding, Diagnostic> {
    let name = values::name(sv, "padding", g)?;
    match name.as_str() {
        "valid" => Ok(Padding::Valid),
        "same" => Ok(Padding::Same),
        other => {
            let mut d =
                Diagnostic::error(ARG_TYPE, format!("padding must be `valid` or `same` but is `{other}`"), sv.span)
                    .with_label("unknown padding");
            if let Some(h) = suggest(other, ["valid", "same"]) {
                d = d.with_help(h);
            }
            Err(d)
        }
    }
}

impl<'a> Lowerer<'a> {
    pub(super) fn conv_config(&mut self, args: &[ArgVal], span: Span) -> Result<ConvConfig, Diagnostic> {
        let b = bind("conv2d", CONV_PARAMS, args, span)?;
        let g = &self.g;
        let filters = values::positive(b.get(0).expect("required"), "conv2d filters", g)?;
        let kernel_size = values::pair(b.get(1).expect("required"), "kernel_size", g)?;
        let strides = b.get(2).map(|v| values::pair(v, "strides", g)).transpose()?.unwrap_or((1, 1));
        let padding = b.get(3).map(|v| padding(v, g)).transpose()?.unwrap_or(Padding::Valid);
        let init::WeightArgs { use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer } =
            init::weight_args(&b, 5, g)?;
        let activation = match b.get(4) {
            Some(v) => self.activation_arg(v)?,
            None => Activation::Linear,
        };
        Ok(ConvConfig {
            filters,
            kernel_size,
            strides,
            padding,
            activation,
            use_bias,
            kernel_initializer,
            bias_initializer,
            kernel_regularizer,
            bias_regularizer,
        })
    }

    pub(super) fn apply_conv(
        &mut self,
        inst: usize,
        cfg: &ConvConfig,
        x: &Tensor,
        span: Span,
    ) -> Result<NodeId, Diagnostic> {
        let name = self.instances[inst].name.clone();
        let shape = self.g.shape(x.id).clone();
        image_rank(&name, &shape, span)?;
        let channels = shape.0[3].known().unwrap_or(1);
        let (kh, kw) = cfg.kernel_size;
        let window = Window { size: cfg.kernel_size, strides: cfg.strides, padding: cfg.padding };
        fits(&name, &shape, &window, span)?;
        let mut specs = vec![VarSpec {
            suffix: "kernel".into(),
            shape: vec![kh, kw, channels, cfg.filters],
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
        let k = self.g.var_node(vars[0]);
        let mut y = self.g.push(Op::Conv2d(window), &[x.id, k]).map_err(err)?;
        if let Some(&b) = vars.get(1) {
            let bn = self.g.var_node(b);
            y = self.g.add(y, bn).map_err(err)?;
        }
        let y = Tensor { id: y, source: x.source.clone() };
        self.apply_activation(&cfg.activation, &y, span)
    }
}

/// Image layers need `[B, H, W, C]`; a grey image `[H, W]` needs a channel axis.
fn image_rank(name: &str, shape: &Shape, span: Span) -> Result<(), Diagnostic> {
    if shape.rank() == 4 {
        return Ok(());
    }
    let sample = per_sample(shape);
    let mut d = Diagnostic::error(
        RANK,
        format!("{name} expects a rank-3 input per sample [height, width, channels] but gets {sample}"),
        span,
    )
    .with_label(format!("this input has shape {sample}"));
    if shape.rank() == 3 {
        let dims: Vec<String> = shape.0[1..].iter().map(|d| d.to_string()).collect();
        d = d.with_help(format!("add a channel axis first: `reshape([{}, 1])`", dims.join(", ")));
    }
    Err(d)
}

/// A `valid` window must fit inside the input.
fn fits(name: &str, shape: &Shape, w: &Window, span: Span) -> Result<(), Diagnostic> {
    let (h, wd) = (shape.0[1].known().unwrap_or(0), shape.0[2].known().unwrap_or(0));
    if w.padding == Padding::Valid && (w.size.0 > h || w.size.1 > wd) {
        return Err(Diagnostic::error(
            WINDOW,
            format!("{name}'s {}x{} window is larger than its {h}x{wd} input", w.size.0, w.size.1),
            span,
        )
        .with_label(format!("input is {}", per_sample(shape)))
        .with_help("use `padding = same` or a smaller window"));
    }
    Ok(())
}

pub(super) fn pool_config(
    name: &str,
    kind: PoolKind,
    args: &[ArgVal],
    span: Span,
    g: &Graph,
) -> Result<PoolConfig, Diagnostic> {
    let b = bind(name, &[opt("pool_size"), opt("strides"), opt("padding")], args, span)?;
    let size = b.get(0).map(|v| values::pair(v, "pool_size", g)).transpose()?.unwrap_or((2, 2));
    // Keras: strides default to the pool size.
    let strides = match b.get(1) {
        Some(Sv { value: Value::Symbol(n), .. }) if n == "none" || n == "None" => size,
        Some(v) => values::pair(v, "strides", g)?,
        None => size,
    };
    let padding = b.get(2).map(|v| padding(v, g)).transpose()?.unwrap_or(Padding::Valid);
    Ok(PoolConfig { kind, window: Window { size, strides, padding } })
}

pub(super) fn apply_pool(
    g: &mut Graph,
    name: &str,
    cfg: &PoolConfig,
    x: &Tensor,
    span: Span,
) -> Result<NodeId, Diagnostic> {
    let shape = g.shape(x.id).clone();
    image_rank(name, &shape, span)?;
    fits(name, &shape, &cfg.window, span)?;
    g.push(Op::Pool2d { kind: cfg.kind, window: cfg.window }, &[x.id]).map_err(|e| shape_error(e, name, span))
}

/// Mean over height and width: `[B, H, W, C]` → `[B, C]`.
pub(super) fn apply_global_pool(g: &mut Graph, name: &str, x: &Tensor, span: Span) -> Result<NodeId, Diagnostic> {
    let shape = g.shape(x.id).clone();
    image_rank(name, &shape, span)?;
    let count = shape.0[1].known().unwrap_or(1) * shape.0[2].known().unwrap_or(1);
    let err = |e| shape_error(e, name, span);
    let s = g.reduce_sum(x.id, vec![1, 2], false).map_err(err)?;
    let n = g.scalar(count as f64);
    g.div(s, n).map_err(err)
}
