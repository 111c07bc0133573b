//! `optimizer = adam(…)` in a `train` block: each optimizer's own arguments
//! in Keras's positional order, then the base optimizer's.

use super::args::{bind, opt, Param};
use super::errors::*;
use super::train_block::{name_or_call, train_err, unknown};
use super::values::{self, Sv};
use crate::diag::{Diagnostic, Span};
use crate::ir::Graph;
use crate::train::{Ema, Optimizer, OptimizerOptions};

pub const OPTIMIZERS: &[&str] =
    &["sgd", "rmsprop", "adam", "adagrad", "adadelta", "nadam", "adamw", "adamax", "lion", "ftrl"];
/// The arguments every optimizer takes after its own (Keras's base optimizer).
const COMMON: [&str; 7] =
    ["weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "use_ema", "ema_momentum", "ema_overwrite_frequency"];

pub(super) fn optimizer(v: &Sv, g: &Graph) -> Result<Optimizer, Diagnostic> {
    let (name, args) = name_or_call(v, "optimizer", g)?;
    let lr = Param { name: "learning_rate", aliases: &["lr"], required: false };
    let num = |b: &super::args::Bound, i: usize, what: &str, default: f64| -> Result<f64, Diagnostic> {
        b.get(i)
            .map(|x| values::number_in(x, what, "at least 0", |f| f >= 0.0, g).map_err(train_err))
            .transpose()
            .map(|o| o.unwrap_or(default))
    };
    let flag = |b: &super::args::Bound, i: usize, what: &str| -> Result<bool, Diagnostic> {
        b.get(i).map(|x| values::boolean(x, what, g).map_err(train_err)).transpose().map(|o| o.unwrap_or(false))
    };
    let span = v.span;
    // Each optimizer's own parameters, then the base optimizer's.
    let bind_with = |own: &[Param]| {
        let mut params = own.to_vec();
        if name != "adamw" {
            params.push(opt(COMMON[0]));
        }
        params.extend(COMMON[1..].iter().map(|c| opt(c)));
        bind(name, &params, args, span).map(|b| (b, own.len()))
    };
    let (b, n) = match name {
        "sgd" => bind_with(&[lr, opt("momentum"), opt("nesterov")])?,
        "rmsprop" => bind_with(&[lr, opt("rho"), opt("momentum"), opt("epsilon"), opt("centered")])?,
        "adam" => bind_with(&[lr, opt("beta_1"), opt("beta_2"), opt("epsilon"), opt("amsgrad")])?,
        "adagrad" => bind_with(&[lr, opt("initial_accumulator_value"), opt("epsilon")])?,
        "adadelta" => bind_with(&[lr, opt("rho"), opt("epsilon")])?,
        "nadam" | "adamax" => bind_with(&[lr, opt("beta_1"), opt("beta_2"), opt("epsilon")])?,
        "adamw" => bind_with(&[lr, opt("weight_decay"), opt("beta_1"), opt("beta_2"), opt("epsilon"), opt("amsgrad")])?,
        "lion" => bind_with(&[lr, opt("beta_1"), opt("beta_2")])?,
        "ftrl" => bind_with(&[
            lr,
            opt("learning_rate_power"),
            opt("initial_accumulator_value"),
            opt("l1_regularization_strength"),
            opt("l2_regularization_strength"),
            opt("l2_shrinkage_regularization_strength"),
            opt("beta"),
        ])?,
        other => return Err(unknown(UNKNOWN_OPTIMIZER, "optimizer", other, span, OPTIMIZERS)),
    };
    let base = match name {
        "sgd" => Optimizer::Sgd {
            learning_rate: num(&b, 0, "learning_rate", 0.01)?,
            momentum: num(&b, 1, "momentum", 0.0)?,
            nesterov: flag(&b, 2, "nesterov")?,
        },
        "rmsprop" => Optimizer::RmsProp {
            learning_rate: num(&b, 0, "learning_rate", 0.001)?,
            rho: num(&b, 1, "rho", 0.9)?,
            momentum: num(&b, 2, "momentum", 0.0)?,
            epsilon: num(&b, 3, "epsilon", 1e-7)?,
            centered: flag(&b, 4, "centered")?,
        },
        "adam" => Optimizer::Adam {
            learning_rate: num(&b, 0, "learning_rate", 0.001)?,
            beta_1: num(&b, 1, "beta_1", 0.9)?,
            beta_2: num(&b, 2, "beta_2", 0.999)?,
            epsilon: num(&b, 3, "epsilon", 1e-7)?,
            amsgrad: flag(&b, 4, "amsgrad")?,
        },
        "adagrad" => Optimizer::Adagrad {
            learning_rate: num(&b, 0, "learning_rate", 0.001)?,
            initial_accumulator_value: num(&b, 1, "initial_accumulator_value", 0.1)?,
            epsilon: num(&b, 2, "epsilon", 1e-7)?,
        },
        "adadelta" => Optimizer::Adadelta {
            learning_rate: num(&b, 0, "learning_rate", 0.001)?,
            rho: num(&b, 1, "rho", 0.95)?,
            epsilon: num(&b, 2, "epsilon", 1e-7)?,
        },
        "nadam" => Optimizer::Nadam {
            learning_rate: num(&b, 0, "learning_rate", 0.001)?,
            beta_1: num(&b, 1, "beta_1", 0.9)?,
            beta_2: num(&b, 2, "beta_2", 0.999)?,
            epsilon: num(&b, 3, "epsilon", 1e-7)?,
        },
        "adamax" => Optimizer::Adamax {
            learning_rate: num(&b, 0, "learning_rate", 0.001)?,
            beta_1: num(&b, 1, "beta_1", 0.9)?,
            beta_2: num(&b, 2, "beta_2", 0.999)?,
            epsilon: num(&b, 3, "epsilon", 1e-7)?,
        },
        "adamw" => Optimizer::AdamW {
            learning_rate: num(&b, 0, "learning_rate", 0.001)?,
            weight_decay: num(&b, 1, "weight_decay", 0.004)?,
            beta_1: num(&b, 2, "beta_1", 0.9)?,
            beta_2: num(&b, 3, "beta_2", 0.999)?,
            epsilon: num(&b, 4, "epsilon", 1e-7)?,
            amsgrad: flag(&b, 5, "amsgrad")?,
        },
        "ftrl" => Optimizer::Ftrl {
            learning_rate: num(&b, 0, "learning_rate", 0.001)?,
            // Keras's only non-positive hyperparameter.
            learning_rate_power: b
                .get(1)
                .map(|x| {
                    values::number_in(x, "learning_rate_power", "at most 0", |f| f.is_finite() && f <= 0.0, g)
                        .map_err(train_err)
                })
                .transpose()?
                .unwrap_or(-0.5),
            initial_accumulator_value: num(&b, 2, "initial_accumulator_value", 0.1)?,
            l1_regularization_strength: num(&b, 3, "l1_regularization_strength", 0.0)?,
            l2_regularization_strength: num(&b, 4, "l2_regularization_strength", 0.0)?,
            l2_shrinkage_regularization_strength: num(&b, 5, "l2_shrinkage_regularization_strength", 0.0)?,
            beta: num(&b, 6, "beta", 0.0)?,
        },
        _ => Optimizer::Lion {
            learning_rate: num(&b, 0, "learning_rate", 0.001)?,
            beta_1: num(&b, 1, "beta_1", 0.9)?,
            beta_2: num(&b, 2, "beta_2", 0.99)?,
        },
    };
    // The base optimizer's arguments follow the optimizer's own.
    let common_names: &[&str] = if name == "adamw" { &COMMON[1..] } else { &COMMON };
    let mut options = OptimizerOptions::default();
    let mut clip_spans: Vec<(&str, Span)> = Vec::new();
    let mut ema = Ema::default();
    let mut use_ema = false;
    for (i, what) in common_names.iter().enumerate() {
        let Some(x) = b.get(n + i) else { continue };
        match *what {
            "use_ema" => {
                use_ema = values::boolean(x, what, g).map_err(train_err)?;
                continue;
            }
            "ema_momentum" => {
                ema.momentum = values::number_in(x, what, "between 0 and 1", |f| (0.0..=1.0).contains(&f), g)
                    .map_err(train_err)?;
                continue;
            }
            "ema_overwrite_frequency" => {
                ema.overwrite_frequency = Some(values::positive(x, what, g).map_err(train_err)?);
                continue;
            }
            _ => {}
        }
        let value = if *what == "weight_decay" {
            values::number_in(x, what, "at least 0", |f| f.is_finite() && f >= 0.0, g)
        } else {
            values::number_in(x, what, "greater than 0", |f| f.is_finite() && f > 0.0, g)
        }
        .map_err(train_err)?;
        match *what {
            "weight_decay" => options.weight_decay = Some(value),
            "clipnorm" => options.clipnorm = Some(value),
            "clipvalue" => options.clipvalue = Some(value),
            _ => options.global_clipnorm = Some(value),
        }
        if *what != "weight_decay" {
            clip_spans.push((what, x.span));
        }
    }
    // Keras reads the moving-average settings only with `use_ema = true`.
    if use_ema {
        options.ema = Some(ema);
    }
    if let [(first, first_span), (second, second_span), ..] = clip_spans[..] {
        return Err(Diagnostic::error(
            TRAIN_CONFLICT,
            format!("`{second}` and `{first}` exclude each other"),
            second_span,
        )
        .with_label("second clipping rule")
        .with_secondary(first_span, "clipping already set here")
        .with_help("Keras applies one of clipnorm, clipvalue and global_clipnorm; keep one"));
    }
    Ok(base.with_options(options))
}
