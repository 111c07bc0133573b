//! Initializers and regularizers, from their `.nn` spelling (`he_normal`,
//! `constant(0.1)`, `l2(0.001)`) to `ir::Init` / `ir::Regularizer`, with
//! Keras's defaults.

use super::args::{bind, opt, Bound, Param};
use super::errors::*;
use super::values::{self, ArgVal, Sv, Value};
use crate::diag::{Diagnostic, Span};
use crate::ir::{Graph, Init, Regularizer};

pub const INITIALIZERS: &[&str] = &[
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "zeros",
    "ones",
    "constant",
    "random_normal",
    "random_uniform",
    "orthogonal",
];

pub const REGULARIZERS: &[&str] = &["l1", "l2", "l1_l2"];

/// The name and arguments of a name-or-call value (`adam`, `adam(lr = 0.1)`,
/// `"adam"`); `None` for other values.
pub fn callish(sv: &Sv) -> Option<(&str, &[ArgVal])> {
    match &sv.value {
        Value::Symbol(n) | Value::Str(n) => Some((n.as_str(), &[])),
        Value::Call { name, args } => Some((name.as_str(), args.as_slice())),
        _ => None,
    }
}

/// An initializer value (`what` names the argument, e.g. `kernel_initializer`).
/// The weight arguments Keras's Dense and Conv signatures share, in their
/// order: `use_bias`, kernel and bias initializers, kernel and bias
/// regularizers.
pub struct WeightArgs {
    pub use_bias: bool,
    pub kernel_initializer: Init,
    pub bias_initializer: Init,
    pub kernel_regularizer: Option<Regularizer>,
    pub bias_regularizer: Option<Regularizer>,
}

/// Reads [`WeightArgs`] bound at positions `first..first + 5`, with Keras's
/// defaults (bias on, glorot-uniform kernel, zero bias, no penalties).
pub fn weight_args(b: &Bound, first: usize, g: &Graph) -> Result<WeightArgs, Diagnostic> {
    Ok(WeightArgs {
        use_bias: b.get(first).map(|v| values::boolean(v, "use_bias", g)).transpose()?.unwrap_or(true),
        kernel_initializer: b
            .get(first + 1)
            .map(|v| initializer(v, "kernel_initializer", g))
            .transpose()?
            .unwrap_or(Init::GlorotUniform),
        bias_initializer: b
            .get(first + 2)
            .map(|v| initializer(v, "bias_initializer", g))
            .transpose()?
            .unwrap_or(Init::Zeros),
        kernel_regularizer: b.get(first + 3).map(|v| regularizer(v, "kernel_regularizer", g)).transpose()?.flatten(),
        bias_regularizer: b.get(first + 4).map(|v| regularizer(v, "bias_regularizer", g)).transpose()?.flatten(),
    })
}

pub fn initializer(sv: &Sv, what: &str, g: &Graph) -> Result<Init, Diagnostic> {
    let Some((name, args)) = callish(sv) else {
        return Err(Diagnostic::error(
            ARG_TYPE,
            format!("{what} expects an initializer but found {}", sv.value.describe(g)),
            sv.span,
        )
        .with_label("expected an initializer such as `glorot_uniform`"));
    };
    let span = sv.span;
    let simple = |init: Init| -> Result<Init, Diagnostic> {
        bind(name, &[opt("seed")], args, span)?;
        Ok(init)
    };
    match name {
        "glorot_uniform" => simple(Init::GlorotUniform),
        "glorot_normal" => simple(Init::GlorotNormal),
        "he_uniform" => simple(Init::HeUniform),
        "he_normal" => simple(Init::HeNormal),
        "lecun_uniform" => simple(Init::LecunUniform),
        "lecun_normal" => simple(Init::LecunNormal),
        "zeros" => simple(Init::Zeros),
        "ones" => simple(Init::Ones),
        "constant" => {
            let b = bind(name, &[opt("value")], args, span)?;
            let v = b.get(0).map(|v| values::number(v, "value", g)).transpose()?.unwrap_or(0.0);
            Ok(Init::Constant(v))
        }
        // Keras's string aliases "normal" and "uniform".
        "random_normal" | "normal" => {
            let b = bind(name, &[opt("mean"), opt("stddev"), opt("seed")], args, span)?;
            let mean = b.get(0).map(|v| values::number(v, "mean", g)).transpose()?.unwrap_or(0.0);
            let stddev = b
                .get(1)
                .map(|v| values::number_in(v, "stddev", "at least 0", |s| s >= 0.0, g))
                .transpose()?
                .unwrap_or(0.05);
            Ok(Init::RandomNormal { mean, stddev })
        }
        "orthogonal" => {
            let b = bind(name, &[opt("gain"), opt("seed")], args, span)?;
            let gain = b.get(0).map(|v| values::number(v, "gain", g)).transpose()?.unwrap_or(1.0);
            Ok(Init::Orthogonal { gain })
        }
        "random_uniform" | "uniform" => {
            let b = bind(name, &[opt("minval"), opt("maxval"), opt("seed")], args, span)?;
            let min = b.get(0).map(|v| values::number(v, "minval", g)).transpose()?.unwrap_or(-0.05);
            let max = b.get(1).map(|v| values::number(v, "maxval", g)).transpose()?.unwrap_or(0.05);
            if min > max {
                return Err(Diagnostic::error(
                    ARG_RANGE,
                    format!("random_uniform needs minval <= maxval but has {min} > {max}"),
                    span,
                ));
            }
            Ok(Init::RandomUniform { min, max })
        }
        other => {
            let mut d = Diagnostic::error(UNKNOWN_INITIALIZER, format!("unknown initializer `{other}`"), span)
                .with_label("not an initializer")
                .with_note(format!("initializers: {}", INITIALIZERS.join(", ")));
            if let Some(h) = suggest(other, INITIALIZERS.iter().copied()) {
                d = d.with_help(h);
            }
            Err(d)
        }
    }
}

/// A regularizer value, or `None` for `none`.
pub fn regularizer(sv: &Sv, what: &str, g: &Graph) -> Result<Option<Regularizer>, Diagnostic> {
    let Some((name, args)) = callish(sv) else {
        return Err(Diagnostic::error(
            ARG_TYPE,
            format!("{what} expects a regularizer but found {}", sv.value.describe(g)),
            sv.span,
        )
        .with_label("expected `l1(…)`, `l2(…)` or `l1_l2(…)`"));
    };
    regularizer_call(name, args, sv.span, g)
}

pub fn regularizer_call(name: &str, args: &[ArgVal], span: Span, g: &Graph) -> Result<Option<Regularizer>, Diagnostic> {
    let factor = |v: Option<&Sv>, what: &str| -> Result<f64, Diagnostic> {
        v.map(|v| values::number_in(v, what, "at least 0", |x| x >= 0.0, g)).transpose().map(|x| x.unwrap_or(0.01))
    };
    const L1: &[Param] = &[opt("l1")];
    const L2: &[Param] = &[opt("l2")];
    const L1L2: &[Param] = &[opt("l1"), opt("l2")];
    match name {
        "none" | "None" => {
            bind(name, &[], args, span)?;
            Ok(None)
        }
        "l1" => {
            let b = bind(name, L1, args, span)?;
            Ok(Some(Regularizer { l1: factor(b.get(0), "l1")?, l2: 0.0 }))
        }
        "l2" => {
            let b = bind(name, L2, args, span)?;
            Ok(Some(Regularizer { l1: 0.0, l2: factor(b.get(0), "l2")? }))
        }
        "l1_l2" => {
            let b = bind(name, L1L2, args, span)?;
            Ok(Some(Regularizer { l1: factor(b.get(0), "l1")?, l2: factor(b.get(1), "l2")? }))
        }
        other => {
            let mut d = Diagnostic::error(UNKNOWN_REGULARIZER, format!("unknown regularizer `{other}`"), span)
                .with_label("not a regularizer")
                .with_note("regularizers: l1(0.01), l2(0.01), l1_l2(l1 = 0.01, l2 = 0.01), none");
            if let Some(h) = suggest(other, REGULARIZERS.iter().copied()) {
                d = d.with_help(h);
            }
            Err(d)
        }
    }
}
