//! `train { … }` → [`TrainConfig`]: every key typed and range-checked, with
//! Keras's names, aliases and defaults, and a check of the loss against the
//! model's output where a mismatch is certain.

use super::args::{bind, opt, Param};
use super::errors::*;
use super::init::{callish, regularizer};
use super::values::{self, eval_const, ArgVal, Sv, Value};
use crate::ast::TrainBlock;
use crate::diag::{Diagnostic, Span};
use crate::ir::{Graph, Shape};
use crate::train::{Loss, LossKind, Metric, Optimizer, Schedule, TrainConfig, Validation};

pub const KEYS: &[&str] = &[
    "optimizer",
    "loss",
    "metrics",
    "batch_size",
    "epochs",
    "shuffle",
    "validation_split",
    "validation_data",
    "validation_freq",
    "lr_schedule",
    "regularization",
    "dataset",
    "seed",
    "callbacks",
    "test",
];

const OPTIMIZERS: &[&str] = &["sgd", "rmsprop", "adam", "adagrad", "adadelta"];
const LOSSES: &[&str] = &[
    "mse",
    "mean_squared_error",
    "mae",
    "mean_absolute_error",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
];
const METRICS: &[&str] = &[
    "accuracy",
    "acc",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "mae",
    "mean_absolute_error",
    "mse",
    "mean_squared_error",
];
const SCHEDULES: &[&str] = &["exponential_decay", "polynomial_decay", "step_decay", "linear_epoch_decay"];

/// Lowers a `train` block; `outputs` are the model's output shapes.
pub fn lower(block: &TrainBlock, outputs: &[Shape]) -> (TrainConfig, Vec<Diagnostic>) {
    let mut cfg = TrainConfig::default();
    let mut diags = Vec::new();
    let mut seen: Vec<(&str, Span)> = Vec::new();
    let mut loss_span = None;
    for entry in &block.entries {
        let key = entry.key.name.as_str();
        if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key) {
            diags.push(
                Diagnostic::error(TRAIN_CONFLICT, format!("`{key}` is set twice"), entry.key.span)
                    .with_label("set again here")
                    .with_secondary(*first, "first set here"),
            );
            continue;
        }
        seen.push((key, entry.key.span));
        let result = eval_const(&entry.value).and_then(|v| set(&mut cfg, key, &v, entry.key.span));
        if let Err(d) = result {
            diags.push(d);
        }
        if key == "loss" {
            loss_span = Some(entry.value.span);
        }
    }
    let split = seen.iter().find(|(k, _)| *k == "validation_split");
    let data = seen.iter().find(|(k, _)| *k == "validation_data");
    if let (Some((_, a)), Some((_, b))) = (split, data) {
        diags.push(
            Diagnostic::error(TRAIN_CONFLICT, "`validation_split` and `validation_data` exclude each other", *b)
                .with_label("second source of validation data")
                .with_secondary(*a, "validation data already set here")
                .with_help("keep one of them"),
        );
    }
    if let (Some(loss), Some(span), [out]) = (cfg.loss, loss_span, outputs) {
        if let Some(d) = loss_mismatch(loss, out, span) {
            diags.push(d);
        }
    }
    (cfg, diags)
}

fn set(cfg: &mut TrainConfig, key: &str, v: &Sv, key_span: Span) -> Result<(), Diagnostic> {
    let g = &Graph::new();
    match key {
        "optimizer" => cfg.optimizer = Some(optimizer(v, g)?),
        "loss" => cfg.loss = Some(loss(v, g)?),
        "metrics" => {
            let items = match &v.value {
                Value::List(items) => items.clone(),
                _ => vec![v.clone()],
            };
            cfg.metrics = items.iter().map(|m| metric(m, g)).collect::<Result<_, _>>()?;
        }
        "batch_size" => cfg.batch_size = Some(values::positive(v, "batch_size", g).map_err(train_err)?),
        "epochs" => cfg.epochs = Some(values::positive(v, "epochs", g).map_err(train_err)?),
        "shuffle" => cfg.shuffle = Some(values::boolean(v, "shuffle", g).map_err(train_err)?),
        "validation_split" => {
            let f = values::number_in(v, "validation_split", "between 0 and 1 (exclusive)", |x| x > 0.0 && x < 1.0, g)
                .map_err(train_err)?;
            cfg.validation = Some(Validation::Split(f));
        }
        "validation_data" => {
            cfg.validation = Some(Validation::Data(values::name(v, "validation_data", g).map_err(train_err)?))
        }
        "validation_freq" => cfg.validation_freq = Some(values::positive(v, "validation_freq", g).map_err(train_err)?),
        "lr_schedule" => cfg.schedule = Some(schedule(v, g)?),
        "regularization" => cfg.kernel_regularizer = regularizer(v, "regularization", g).map_err(train_err)?,
        "dataset" => {
            let (path, table) = super::train_callbacks::dataset(v, g)?;
            cfg.dataset = Some(path);
            cfg.table = table;
        }
        "test" => cfg.test = Some(values::name(v, "test", g).map_err(train_err)?),
        "callbacks" => cfg.callbacks = super::train_callbacks::callbacks(v, g)?,
        "seed" => {
            let s = values::int(v, "seed", g).map_err(train_err)?;
            if s < 0 {
                return Err(Diagnostic::error(TRAIN_RANGE, format!("seed must be at least 0 but is {s}"), v.span)
                    .with_label("negative seed"));
            }
            cfg.seed = Some(s as u64);
        }
        other => {
            let mut d = Diagnostic::error(TRAIN_KEY, format!("unknown train setting `{other}`"), key_span)
                .with_label("not a train setting")
                .with_note(format!("settings: {}", KEYS.join(", ")));
            if let Some(h) = suggest(other, KEYS.iter().copied()) {
                d = d.with_help(h);
            }
            return Err(d);
        }
    }
    Ok(())
}

/// Argument type and range errors inside `train` get the train codes.
fn train_err(mut d: Diagnostic) -> Diagnostic {
    d.code = match d.code {
        ARG_TYPE => TRAIN_TYPE,
        ARG_RANGE => TRAIN_RANGE,
        other => other,
    };
    d
}

fn unknown(code: &'static str, what: &str, name: &str, span: Span, names: &[&str]) -> Diagnostic {
    let mut d = Diagnostic::error(code, format!("unknown {what} `{name}`"), span)
        .with_label(format!("not a known {what}"))
        .with_note(format!("known: {}", names.join(", ")));
    if let Some(h) = suggest(name, names.iter().copied()) {
        d = d.with_help(h);
    }
    d
}

fn name_or_call<'v>(v: &'v Sv, what: &str, g: &Graph) -> Result<(&'v str, &'v [ArgVal]), Diagnostic> {
    callish(v).ok_or_else(|| {
        Diagnostic::error(TRAIN_TYPE, format!("{what} expects a name but found {}", v.value.describe(g)), v.span)
            .with_label(format!("expected a {what} name"))
    })
}

fn optimizer(v: &Sv, g: &Graph) -> Result<Optimizer, Diagnostic> {
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
    Ok(match name {
        "sgd" => {
            let b = bind(name, &[lr, opt("momentum"), opt("nesterov")], args, span)?;
            Optimizer::Sgd {
                learning_rate: num(&b, 0, "learning_rate", 0.01)?,
                momentum: num(&b, 1, "momentum", 0.0)?,
                nesterov: flag(&b, 2, "nesterov")?,
            }
        }
        "rmsprop" => {
            let b = bind(name, &[lr, opt("rho"), opt("momentum"), opt("epsilon"), opt("centered")], args, span)?;
            Optimizer::RmsProp {
                learning_rate: num(&b, 0, "learning_rate", 0.001)?,
                rho: num(&b, 1, "rho", 0.9)?,
                momentum: num(&b, 2, "momentum", 0.0)?,
                epsilon: num(&b, 3, "epsilon", 1e-7)?,
                centered: flag(&b, 4, "centered")?,
            }
        }
        "adam" => {
            let b = bind(name, &[lr, opt("beta_1"), opt("beta_2"), opt("epsilon"), opt("amsgrad")], args, span)?;
            Optimizer::Adam {
                learning_rate: num(&b, 0, "learning_rate", 0.001)?,
                beta_1: num(&b, 1, "beta_1", 0.9)?,
                beta_2: num(&b, 2, "beta_2", 0.999)?,
                epsilon: num(&b, 3, "epsilon", 1e-7)?,
                amsgrad: flag(&b, 4, "amsgrad")?,
            }
        }
        "adagrad" => {
            let b = bind(name, &[lr, opt("initial_accumulator_value"), opt("epsilon")], args, span)?;
            Optimizer::Adagrad {
                learning_rate: num(&b, 0, "learning_rate", 0.001)?,
                initial_accumulator_value: num(&b, 1, "initial_accumulator_value", 0.1)?,
                epsilon: num(&b, 2, "epsilon", 1e-7)?,
            }
        }
        "adadelta" => {
            let b = bind(name, &[lr, opt("rho"), opt("epsilon")], args, span)?;
            Optimizer::Adadelta {
                learning_rate: num(&b, 0, "learning_rate", 0.001)?,
                rho: num(&b, 1, "rho", 0.95)?,
                epsilon: num(&b, 2, "epsilon", 1e-7)?,
            }
        }
        other => return Err(unknown(UNKNOWN_OPTIMIZER, "optimizer", other, span, OPTIMIZERS)),
    })
}

fn loss(v: &Sv, g: &Graph) -> Result<Loss, Diagnostic> {
    let (name, args) = name_or_call(v, "loss", g)?;
    let kind = match name {
        "mse" | "mean_squared_error" => LossKind::MeanSquaredError,
        "mae" | "mean_absolute_error" => LossKind::MeanAbsoluteError,
        "binary_crossentropy" => LossKind::BinaryCrossentropy,
        "categorical_crossentropy" => LossKind::CategoricalCrossentropy,
        "sparse_categorical_crossentropy" => LossKind::SparseCategoricalCrossentropy,
        other => return Err(unknown(UNKNOWN_LOSS, "loss", other, v.span, LOSSES)),
    };
    let cross = matches!(
        kind,
        LossKind::BinaryCrossentropy | LossKind::CategoricalCrossentropy | LossKind::SparseCategoricalCrossentropy
    );
    let params: &[Param] = if cross { &[opt("from_logits")] } else { &[] };
    let b = bind(name, params, args, v.span)?;
    let from_logits =
        b.get(0).map(|x| values::boolean(x, "from_logits", g).map_err(train_err)).transpose()?.unwrap_or(false);
    Ok(Loss { kind, from_logits })
}

fn metric(v: &Sv, g: &Graph) -> Result<Metric, Diagnostic> {
    let (name, args) = name_or_call(v, "metric", g)?;
    bind(name, &[], args, v.span)?;
    Ok(match name {
        "accuracy" | "acc" => Metric::Accuracy,
        "binary_accuracy" => Metric::BinaryAccuracy,
        "categorical_accuracy" => Metric::CategoricalAccuracy,
        "sparse_categorical_accuracy" => Metric::SparseCategoricalAccuracy,
        "mae" | "mean_absolute_error" => Metric::MeanAbsoluteError,
        "mse" | "mean_squared_error" => Metric::MeanSquaredError,
        other => return Err(unknown(UNKNOWN_METRIC, "metric", other, v.span, METRICS)),
    })
}

fn schedule(v: &Sv, g: &Graph) -> Result<Schedule, Diagnostic> {
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
        "constant" => {
            bind(name, &[], args, span)?;
            Schedule::Constant
        }
        other => return Err(unknown(UNKNOWN_SCHEDULE, "schedule", other, span, SCHEDULES)),
    })
}

/// Mismatches that are certain from the output shape alone.
fn loss_mismatch(loss: Loss, out: &Shape, span: Span) -> Option<Diagnostic> {
    let last = out.0.last().and_then(|d| d.known());
    let per = per_sample(out);
    match (loss.kind, last) {
        (LossKind::SparseCategoricalCrossentropy | LossKind::CategoricalCrossentropy, Some(1)) if out.rank() >= 2 => Some(
            Diagnostic::error(
                LOSS_OUTPUT,
                format!("{} needs one output unit per class but the model outputs {per}", loss.kind.name()),
                span,
            )
            .with_label("a single unit cannot hold class scores")
            .with_help("for two classes with one unit use `binary_crossentropy`, or give the last layer one unit per class"),
        ),
        (_, _) if out.rank() < 2 && loss.kind != LossKind::MeanSquaredError && loss.kind != LossKind::MeanAbsoluteError => Some(
            Diagnostic::error(LOSS_OUTPUT, format!("{} needs a per-sample output but the model outputs {per}", loss.kind.name()), span)
                .with_label("output has no feature axis"),
        ),
        _ => None,
    }
}
