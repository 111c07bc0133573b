//! `lr_schedule = …` in a `train` block: Keras's learning-rate schedules.

use super::args::{bind, opt};
use super::errors::*;
use super::train_block::{name_or_call, train_err, unknown};
use super::values::{self, Sv, Value};
use crate::diag::Diagnostic;
use crate::ir::Graph;
use crate::train::Schedule;

pub const SCHEDULES: &[&str] = &[
    "exponential_decay",
    "polynomial_decay",
    "step_decay",
    "linear_epoch_decay",
    "cosine_decay",
    "piecewise_constant_decay",
    "inverse_time_decay",
];

pub(super) fn schedule(v: &Sv, g: &Graph) -> Result<Schedule, Diagnostic> {
    let (name, args) = name_or_call(v, "lr_schedule", g)?;
    let span = v.span;
    let pos = |b: &super::args::Bound, i: usize, what: &str| {
        values::positive(b.get(i).expect("required"), what, g).map_err(train_err)
    };
    let num = |b: &super::args::Bound, i: usize, what: &str, default: f64| -> Result<f64, Diagnostic> {
        b.get(i)
            .map(|x| values::number_in(x, what, "at least 0", |f| f >= 0.0, g).map_err(train_err))
            .transpose()
            .map(|o| o.unwrap_or(default))
    };
    let num_at = |x: &Sv, what: &str| {
        values::number_in(x, what, "at least 0", |f| f.is_finite() && f >= 0.0, g).map_err(train_err)
    };
    use super::args::req;
    Ok(match name {
        "exponential_decay" => {
            let b = bind(name, &[req("decay_steps"), req("decay_rate"), opt("staircase")], args, span)?;
            let staircase =
                b.get(2).map(|x| values::boolean(x, "staircase", g).map_err(train_err)).transpose()?.unwrap_or(false);
            Schedule::ExponentialDecay {
                decay_steps: pos(&b, 0, "decay_steps")?,
                decay_rate: num(&b, 1, "decay_rate", 0.0)?,
                staircase,
            }
        }
        "polynomial_decay" => {
            let b = bind(name, &[req("decay_steps"), opt("end_learning_rate"), opt("power")], args, span)?;
            Schedule::PolynomialDecay {
                decay_steps: pos(&b, 0, "decay_steps")?,
                end_learning_rate: num(&b, 1, "end_learning_rate", 0.0001)?,
                power: num(&b, 2, "power", 1.0)?,
            }
        }
        "step_decay" => {
            let b = bind(name, &[req("every_epochs"), req("factor")], args, span)?;
            Schedule::StepDecay { every_epochs: pos(&b, 0, "every_epochs")?, factor: num(&b, 1, "factor", 0.0)? }
        }
        "linear_epoch_decay" => {
            let b = bind(name, &[req("total_epochs")], args, span)?;
            Schedule::LinearEpochDecay { total_epochs: pos(&b, 0, "total_epochs")? }
        }
        "cosine_decay" => {
            let b =
                bind(name, &[req("decay_steps"), opt("alpha"), opt("warmup_target"), opt("warmup_steps")], args, span)?;
            let alpha = b
                .get(1)
                .map(|x| values::number_in(x, "alpha", "between 0 and 1", |f| (0.0..=1.0).contains(&f), g))
                .transpose()
                .map_err(train_err)?
                .unwrap_or(0.0);
            let warmup_target = b.get(2).map(|x| num_at(x, "warmup_target")).transpose()?;
            let warmup_steps = match b.get(3) {
                None => 0,
                Some(x) => {
                    let n = values::int(x, "warmup_steps", g).map_err(train_err)?;
                    usize::try_from(n).map_err(|_| {
                        Diagnostic::error(TRAIN_RANGE, format!("warmup_steps must be at least 0 but is {n}"), x.span)
                            .with_label("negative step count")
                    })?
                }
            };
            Schedule::CosineDecay { decay_steps: pos(&b, 0, "decay_steps")?, alpha, warmup_target, warmup_steps }
        }
        "piecewise_constant_decay" => {
            let b = bind(name, &[req("boundaries"), req("values")], args, span)?;
            let list = |x: &Sv| match &x.value {
                Value::List(items) => Ok(items.clone()),
                _ => Err(Diagnostic::error(
                    TRAIN_TYPE,
                    format!("expected a list but found {}", x.value.describe(g)),
                    x.span,
                )
                .with_label("expected `[…]`")),
            };
            let bounds_sv = b.get(0).expect("required");
            let values_sv = b.get(1).expect("required");
            let boundaries = list(bounds_sv)?
                .iter()
                .map(|x| values::positive(x, "boundaries", g).map_err(train_err))
                .collect::<Result<Vec<_>, _>>()?;
            let rates = list(values_sv)?.iter().map(|x| num_at(x, "values")).collect::<Result<Vec<_>, _>>()?;
            if rates.len() != boundaries.len() + 1 {
                return Err(Diagnostic::error(
                    TRAIN_RANGE,
                    format!(
                        "{} boundaries need {} values, but {} are given",
                        boundaries.len(),
                        boundaries.len() + 1,
                        rates.len()
                    ),
                    values_sv.span,
                )
                .with_label("one value per interval")
                .with_secondary(bounds_sv.span, "these boundaries make the intervals"));
            }
            if boundaries.windows(2).any(|w| w[0] >= w[1]) {
                return Err(Diagnostic::error(TRAIN_RANGE, "boundaries must increase", bounds_sv.span)
                    .with_label("not increasing"));
            }
            Schedule::PiecewiseConstantDecay { boundaries, values: rates }
        }
        "inverse_time_decay" => {
            let b = bind(name, &[req("decay_steps"), req("decay_rate"), opt("staircase")], args, span)?;
            let staircase =
                b.get(2).map(|x| values::boolean(x, "staircase", g).map_err(train_err)).transpose()?.unwrap_or(false);
            Schedule::InverseTimeDecay {
                decay_steps: pos(&b, 0, "decay_steps")?,
                decay_rate: num(&b, 1, "decay_rate", 0.0)?,
                staircase,
            }
        }
        "constant" => {
            bind(name, &[], args, span)?;
            Schedule::Constant
        }
        other => return Err(unknown(UNKNOWN_SCHEDULE, "schedule", other, span, SCHEDULES)),
    })
}
