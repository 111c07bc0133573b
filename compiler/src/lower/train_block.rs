//! `train { … }` → [`TrainConfig`]: every key typed and range-checked, with
//! Keras's names, aliases and defaults, and a check of the loss against the
//! model's output where a mismatch is certain.

use super::args::{bind, opt, Param};
use super::errors::*;
use super::init::{callish, regularizer};
use super::values::{self, eval_const, ArgVal, Sv, Value};
use crate::ast::{Expr, ExprKind, Ident, TrainBlock};
use crate::diag::{Diagnostic, Span};
use crate::ir::{Graph, Shape};
use crate::train::{
    AucCurve, F1Average, Loss, LossKind, Metric, Optimizer, OptimizerOptions, Schedule, TrainConfig, Validation,
};

pub const KEYS: &[&str] = &[
    "optimizer",
    "loss",
    "loss_weights",
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
    "pad_sequences",
    "seed",
    "callbacks",
    "test",
    "class_weight",
    "sample_weight",
];

pub const OPTIMIZERS: &[&str] = &["sgd", "rmsprop", "adam", "adagrad", "adadelta", "nadam", "adamw", "adamax", "lion"];
/// The arguments every optimizer takes after its own (Keras's base optimizer).
const COMMON: [&str; 4] = ["weight_decay", "clipnorm", "clipvalue", "global_clipnorm"];
pub const LOSSES: &[&str] = &[
    "mse",
    "mean_squared_error",
    "mae",
    "mean_absolute_error",
    "mape",
    "mean_absolute_percentage_error",
    "msle",
    "mean_squared_logarithmic_error",
    "bce",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "huber",
    "log_cosh",
    "kld",
    "kl_divergence",
    "poisson",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    "cosine_similarity",
];
pub const METRICS: &[&str] = &[
    "accuracy",
    "acc",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "mae",
    "mean_absolute_error",
    "mse",
    "mean_squared_error",
    "mape",
    "mean_absolute_percentage_error",
    "root_mean_squared_error",
    "precision",
    "recall",
    "auc",
    "r2_score",
    "f1_score",
];
pub const SCHEDULES: &[&str] = &[
    "exponential_decay",
    "polynomial_decay",
    "step_decay",
    "linear_epoch_decay",
    "cosine_decay",
    "piecewise_constant_decay",
    "inverse_time_decay",
];

/// Lowers a `train` block; `outputs` are the model's outputs (name, shape).
pub fn lower(block: &TrainBlock, outputs: &[(String, Shape)]) -> (TrainConfig, Vec<Diagnostic>) {
    let mut cfg = TrainConfig::default();
    let mut diags = Vec::new();
    let mut seen: Vec<(&str, Span)> = Vec::new();
    let mut loss_spans: Vec<(String, Span)> = Vec::new();
    let mut loss_map_span = None;
    let mut weight_spans =
        super::train_weights::WeightSpans { class_weight: None, keys: Vec::new(), sample_weight: None };
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
        let result = match (&entry.value.kind, key) {
            (ExprKind::Map(items), "loss" | "loss_weights" | "metrics") => {
                per_output(&mut cfg, key, items, outputs, &mut loss_spans)
            }
            (_, "loss_weights") => weight_list(&mut cfg, &entry.value, outputs),
            (_, "class_weight") => super::train_weights::class_weight(&mut cfg, &entry.value).map(|keys| {
                weight_spans.class_weight = Some(entry.key.span);
                weight_spans.keys = keys;
            }),
            _ => eval_const(&entry.value).and_then(|v| set(&mut cfg, key, &v, entry.key.span)),
        };
        if let Err(d) = result {
            diags.push(d);
        }
        if key == "loss" {
            match entry.value.kind {
                ExprKind::Map(_) => loss_map_span = Some(entry.value.span),
                _ => loss_spans = outputs.iter().map(|(name, _)| (name.clone(), entry.value.span)).collect(),
            }
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
    if let (Some(span), true) = (loss_map_span, diags.is_empty()) {
        let given: Vec<&str> = cfg.output_losses.iter().map(|(n, _)| n.as_str()).collect();
        let missing: Vec<&str> = outputs.iter().map(|(n, _)| n.as_str()).filter(|n| !given.contains(n)).collect();
        if !missing.is_empty() {
            let list = missing.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
            diags.push(
                Diagnostic::error(TRAIN_OUTPUTS, format!("output {list} has no loss"), span)
                    .with_label("every output needs a loss here")
                    .with_help(format!("add `{}: <loss>` to the map, or give one loss for every output", missing[0])),
            );
        }
    }
    if outputs.len() > 1 && !cfg.metrics.is_empty() {
        if let Some((_, span)) = seen.iter().find(|(k, _)| *k == "metrics") {
            diags.push(
                Diagnostic::error(
                    TRAIN_OUTPUTS,
                    format!("the model has {} outputs, so metrics must say which output they watch", outputs.len()),
                    *span,
                )
                .with_label("a plain list does not name an output")
                .with_help(format!("write `metrics = {{ {}: [...] }}`", outputs[0].0)),
            );
        }
    }
    if let Some((_, span)) = seen.iter().find(|(k, _)| *k == "sample_weight") {
        weight_spans.sample_weight = Some(*span);
    }
    diags.extend(super::train_weights::check(&cfg, &weight_spans, outputs));
    // Each output's loss against that output's shape.
    let losses: Vec<(String, Loss)> = if cfg.output_losses.is_empty() {
        cfg.loss.iter().flat_map(|l| outputs.iter().map(move |(n, _)| (n.clone(), *l))).collect()
    } else {
        cfg.output_losses.clone()
    };
    if diags.is_empty() {
        diags.extend(metric_mismatches(block, &cfg, outputs, &losses));
    }
    let mut reported: Vec<Span> = Vec::new();
    for (name, loss) in losses {
        let shape = outputs.iter().find(|(n, _)| *n == name).map(|(_, s)| s);
        let span = loss_spans.iter().find(|(n, _)| *n == name).map(|(_, s)| *s);
        if let (Some(shape), Some(span)) = (shape, span) {
            // A single loss over several outputs reports one mismatch at its span.
            if reported.contains(&span) {
                continue;
            }
            let named = if outputs.len() > 1 { Some(name.as_str()) } else { None };
            if let Some(d) = loss_mismatch(loss, shape, span, named) {
                reported.push(span);
                diags.push(d);
            }
        }
    }
    (cfg, diags)
}

/// The output named by a map key, or a diagnostic with the closest name.
fn output_key<'o>(key: &Ident, outputs: &'o [(String, Shape)], setting: &str) -> Result<&'o str, Diagnostic> {
    if let Some((name, _)) = outputs.iter().find(|(n, _)| *n == key.name) {
        return Ok(name);
    }
    let names: Vec<&str> = outputs.iter().map(|(n, _)| n.as_str()).collect();
    let mut d =
        Diagnostic::error(TRAIN_OUTPUT, format!("`{}` in {setting} is not an output of the model", key.name), key.span)
            .with_label("not a model output")
            .with_note(format!("outputs: {}", names.join(", ")));
    if let Some(h) = suggest(&key.name, names.iter().copied()) {
        d = d.with_help(h);
    }
    Err(d)
}

/// `loss = { out: … }`, `loss_weights = { out: … }`, `metrics = { out: […] }`.
fn per_output(
    cfg: &mut TrainConfig,
    key: &str,
    items: &[(Ident, Expr)],
    outputs: &[(String, Shape)],
    loss_spans: &mut Vec<(String, Span)>,
) -> Result<(), Diagnostic> {
    let g = &Graph::new();
    let mut seen: Vec<&Ident> = Vec::new();
    for (k, value) in items {
        let name = output_key(k, outputs, key)?.to_string();
        if let Some(first) = seen.iter().find(|s| s.name == k.name) {
            return Err(Diagnostic::error(TRAIN_CONFLICT, format!("`{}` is set twice in {key}", k.name), k.span)
                .with_label("set again here")
                .with_secondary(first.span, "first set here"));
        }
        seen.push(k);
        let v = eval_const(value)?;
        match key {
            "loss" => {
                cfg.output_losses.push((name.clone(), loss(&v, g)?));
                loss_spans.push((name, value.span));
            }
            "loss_weights" => {
                let w = values::number_in(&v, "loss_weights", "at least 0", |x| x >= 0.0, g).map_err(train_err)?;
                cfg.loss_weights.push((name, w));
            }
            _ => cfg.output_metrics.push((name, metric_list(&v, g)?)),
        }
    }
    Ok(())
}

/// `loss_weights = [1.0, 0.2]`: one weight per output, in output order.
fn weight_list(cfg: &mut TrainConfig, value: &Expr, outputs: &[(String, Shape)]) -> Result<(), Diagnostic> {
    let g = &Graph::new();
    let v = eval_const(value)?;
    let items = match &v.value {
        Value::List(items) => items.clone(),
        _ if outputs.len() == 1 => vec![v.clone()],
        _ => {
            return Err(Diagnostic::error(
                TRAIN_TYPE,
                format!("loss_weights expects a list or a map but found {}", v.value.describe(g)),
                v.span,
            )
            .with_label("expected `[w1, w2, …]` or `{ output: w, … }`"))
        }
    };
    if items.len() != outputs.len() {
        let names: Vec<&str> = outputs.iter().map(|(n, _)| n.as_str()).collect();
        return Err(Diagnostic::error(
            TRAIN_OUTPUTS,
            format!("loss_weights has {} value(s) but the model has {} output(s)", items.len(), outputs.len()),
            v.span,
        )
        .with_label("one weight per output, in output order")
        .with_note(format!("outputs: {}", names.join(", "))));
    }
    for (item, (name, _)) in items.iter().zip(outputs) {
        let w = values::number_in(item, "loss_weights", "at least 0", |x| x >= 0.0, g).map_err(train_err)?;
        cfg.loss_weights.push((name.clone(), w));
    }
    Ok(())
}

fn metric_list(v: &Sv, g: &Graph) -> Result<Vec<Metric>, Diagnostic> {
    let items = match &v.value {
        Value::List(items) => items.clone(),
        _ => vec![v.clone()],
    };
    items.iter().map(|m| metric(m, g)).collect()
}

fn set(cfg: &mut TrainConfig, key: &str, v: &Sv, key_span: Span) -> Result<(), Diagnostic> {
    let g = &Graph::new();
    match key {
        "optimizer" => cfg.optimizer = Some(optimizer(v, g)?),
        "loss" => cfg.loss = Some(loss(v, g)?),
        "metrics" => cfg.metrics = metric_list(v, g)?,
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
        "dataset" => match super::train_text::text_dataset(v, g)? {
            Some((name, text)) => {
                cfg.dataset = Some(name);
                cfg.text = Some(text);
            }
            None => {
                let (path, table) = super::train_callbacks::dataset(v, g)?;
                cfg.dataset = Some(path);
                cfg.table = table;
            }
        },
        "pad_sequences" => cfg.pad = Some(super::train_text::pad_sequences(v, g)?),
        "test" => cfg.test = Some(values::name(v, "test", g).map_err(train_err)?),
        "sample_weight" => cfg.sample_weight = Some(values::name(v, "sample_weight", g).map_err(train_err)?),
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
pub(super) fn train_err(mut d: Diagnostic) -> Diagnostic {
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
    for (i, what) in common_names.iter().enumerate() {
        let Some(x) = b.get(n + i) else { continue };
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

fn loss(v: &Sv, g: &Graph) -> Result<Loss, Diagnostic> {
    let (name, args) = name_or_call(v, "loss", g)?;
    let kind = match name {
        "mse" | "mean_squared_error" => LossKind::MeanSquaredError,
        "mae" | "mean_absolute_error" => LossKind::MeanAbsoluteError,
        "mape" | "mean_absolute_percentage_error" => LossKind::MeanAbsolutePercentageError,
        "msle" | "mean_squared_logarithmic_error" => LossKind::MeanSquaredLogarithmicError,
        "bce" | "binary_crossentropy" => LossKind::BinaryCrossentropy,
        "binary_focal_crossentropy" => LossKind::BinaryFocalCrossentropy,
        "categorical_crossentropy" => LossKind::CategoricalCrossentropy,
        "sparse_categorical_crossentropy" => LossKind::SparseCategoricalCrossentropy,
        "huber" => LossKind::Huber,
        "log_cosh" => LossKind::LogCosh,
        "kld" | "kl_divergence" => LossKind::KlDivergence,
        "poisson" => LossKind::Poisson,
        "hinge" => LossKind::Hinge,
        "squared_hinge" => LossKind::SquaredHinge,
        "categorical_hinge" => LossKind::CategoricalHinge,
        "cosine_similarity" => LossKind::CosineSimilarity,
        other => return Err(unknown(UNKNOWN_LOSS, "loss", other, v.span, LOSSES)),
    };
    // Keras's positional order for each loss.
    let params: &[Param] = match kind {
        LossKind::BinaryCrossentropy | LossKind::CategoricalCrossentropy => {
            &[opt("from_logits"), opt("label_smoothing")]
        }
        LossKind::SparseCategoricalCrossentropy => &[opt("from_logits")],
        LossKind::BinaryFocalCrossentropy => {
            &[opt("apply_class_balancing"), opt("alpha"), opt("gamma"), opt("from_logits"), opt("label_smoothing")]
        }
        LossKind::Huber => &[opt("delta")],
        LossKind::CosineSimilarity => &[opt("axis")],
        _ => &[],
    };
    let b = bind(name, params, args, v.span)?;
    let mut loss = Loss::new(kind);
    for (i, p) in params.iter().enumerate() {
        let Some(x) = b.get(i) else { continue };
        match p.name {
            "from_logits" => loss.from_logits = values::boolean(x, "from_logits", g).map_err(train_err)?,
            "apply_class_balancing" => {
                loss.apply_class_balancing = values::boolean(x, "apply_class_balancing", g).map_err(train_err)?
            }
            "label_smoothing" => {
                loss.label_smoothing =
                    values::number_in(x, "label_smoothing", "between 0 and 1", |f| (0.0..=1.0).contains(&f), g)
                        .map_err(train_err)?
            }
            "alpha" => {
                loss.alpha = values::number_in(x, "alpha", "between 0 and 1", |f| (0.0..=1.0).contains(&f), g)
                    .map_err(train_err)?
            }
            "gamma" => {
                loss.gamma =
                    values::number_in(x, "gamma", "at least 0", |f| f.is_finite() && f >= 0.0, g).map_err(train_err)?
            }
            "delta" => {
                loss.delta = values::number_in(x, "delta", "greater than 0", |f| f.is_finite() && f > 0.0, g)
                    .map_err(train_err)?
            }
            "axis" => loss.axis = values::int(x, "axis", g).map_err(train_err)?,
            _ => {}
        }
    }
    Ok(loss)
}

fn metric(v: &Sv, g: &Graph) -> Result<Metric, Diagnostic> {
    let (name, args) = name_or_call(v, "metric", g)?;
    let span = v.span;
    let k = |args: &[ArgVal]| -> Result<usize, Diagnostic> {
        let b = bind(name, &[opt("k")], args, span)?;
        b.get(0).map(|x| values::positive(x, "k", g).map_err(train_err)).transpose().map(|k| k.unwrap_or(5))
    };
    Ok(match name {
        "accuracy" | "acc" => plain(name, args, span, Metric::Accuracy)?,
        "binary_accuracy" => plain(name, args, span, Metric::BinaryAccuracy)?,
        "categorical_accuracy" => plain(name, args, span, Metric::CategoricalAccuracy)?,
        "sparse_categorical_accuracy" => plain(name, args, span, Metric::SparseCategoricalAccuracy)?,
        "mae" | "mean_absolute_error" => plain(name, args, span, Metric::MeanAbsoluteError)?,
        "mse" | "mean_squared_error" => plain(name, args, span, Metric::MeanSquaredError)?,
        "mape" | "mean_absolute_percentage_error" => plain(name, args, span, Metric::MeanAbsolutePercentageError)?,
        "root_mean_squared_error" => plain(name, args, span, Metric::RootMeanSquaredError)?,
        "precision" => plain(name, args, span, Metric::Precision)?,
        "recall" => plain(name, args, span, Metric::Recall)?,
        "r2_score" => plain(name, args, span, Metric::R2Score)?,
        "top_k_categorical_accuracy" => Metric::TopKCategoricalAccuracy { k: k(args)? },
        "sparse_top_k_categorical_accuracy" => Metric::SparseTopKCategoricalAccuracy { k: k(args)? },
        "auc" => {
            let b = bind(name, &[opt("num_thresholds"), opt("curve")], args, span)?;
            let num_thresholds = match b.get(0) {
                None => 200,
                Some(x) => match values::positive(x, "num_thresholds", g).map_err(train_err)? {
                    n if n > 1 => n,
                    n => {
                        return Err(Diagnostic::error(
                            TRAIN_RANGE,
                            format!("num_thresholds must be greater than 1 but is {n}"),
                            x.span,
                        )
                        .with_label("at least 2 thresholds"))
                    }
                },
            };
            let curve = match b.get(1) {
                None => AucCurve::Roc,
                Some(x) => match values::name(x, "curve", g).map_err(train_err)?.to_ascii_uppercase().as_str() {
                    "ROC" => AucCurve::Roc,
                    "PR" => AucCurve::Pr,
                    other => {
                        return Err(Diagnostic::error(TRAIN_RANGE, format!("unknown auc curve `{other}`"), x.span)
                            .with_label("expected \"ROC\" or \"PR\""))
                    }
                },
            };
            Metric::Auc { num_thresholds, curve }
        }
        "f1_score" => {
            let b = bind(name, &[opt("average")], args, span)?;
            let average = match b.get(0) {
                None => F1Average::None,
                Some(x) => match values::name(x, "average", g).map_err(train_err)?.as_str() {
                    "micro" => F1Average::Micro,
                    "macro" => F1Average::Macro,
                    "weighted" => F1Average::Weighted,
                    other => {
                        return Err(Diagnostic::error(
                            TRAIN_RANGE,
                            format!("unknown f1_score average `{other}`"),
                            x.span,
                        )
                        .with_label("expected \"micro\", \"macro\" or \"weighted\""))
                    }
                },
            };
            Metric::F1Score { average }
        }
        other => return Err(unknown(UNKNOWN_METRIC, "metric", other, span, METRICS)),
    })
}

/// A metric without arguments.
fn plain(name: &str, args: &[ArgVal], span: Span, metric: Metric) -> Result<Metric, Diagnostic> {
    bind(name, &[], args, span)?;
    Ok(metric)
}

/// Each metric against its output's loss and shape, at the metric's span.
fn metric_mismatches(
    block: &TrainBlock,
    cfg: &TrainConfig,
    outputs: &[(String, Shape)],
    losses: &[(String, Loss)],
) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let Some(entry) = block.entries.iter().find(|e| e.key.name == "metrics") else { return diags };
    let mut spanned: Vec<(&str, Vec<Metric>, &Expr)> = Vec::new();
    match &entry.value.kind {
        ExprKind::Map(items) => {
            for (k, value) in items {
                if let Some((_, m)) = cfg.output_metrics.iter().find(|(n, _)| *n == k.name) {
                    spanned.push((k.name.as_str(), m.clone(), value));
                }
            }
        }
        _ => {
            if let Some((name, _)) = outputs.first() {
                spanned.push((name.as_str(), cfg.metrics.clone(), &entry.value));
            }
        }
    }
    for (output, metrics, expr) in spanned {
        let (Some((_, shape)), Some((_, loss))) =
            (outputs.iter().find(|(n, _)| n == output), losses.iter().find(|(n, _)| n == output))
        else {
            continue;
        };
        let Ok(v) = eval_const(expr) else { continue };
        let spans: Vec<Span> = match &v.value {
            Value::List(items) => items.iter().map(|i| i.span).collect(),
            _ => vec![v.span],
        };
        for (metric, span) in metrics.iter().zip(spans) {
            if let Some(reason) = crate::train::metric_mismatch(*metric, loss.kind, shape) {
                diags.push(
                    Diagnostic::error(
                        METRIC_OUTPUT,
                        format!("metric {} does not fit the output {}", metric.key(), super::errors::per_sample(shape)),
                        span,
                    )
                    .with_label("this metric")
                    .with_help(reason),
                );
            }
        }
    }
    diags
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

fn is_binary_ce(kind: LossKind) -> bool {
    matches!(kind, LossKind::BinaryCrossentropy | LossKind::BinaryFocalCrossentropy)
}

/// Mismatches that are certain from the output shape alone; `output` names
/// the output when the model has several.
fn loss_mismatch(loss: Loss, out: &Shape, span: Span, output: Option<&str>) -> Option<Diagnostic> {
    let last = out.0.last().and_then(|d| d.known());
    let per = match output {
        Some(name) => format!("{} from `{name}`", per_sample(out)),
        None => per_sample(out),
    };
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
        (_, _) if out.rank() < 2 && (loss.kind.sums_last_axis() || is_binary_ce(loss.kind) || loss.kind == LossKind::CosineSimilarity) => Some(
            Diagnostic::error(LOSS_OUTPUT, format!("{} needs a per-sample output but the model outputs {per}", loss.kind.name()), span)
                .with_label("output has no feature axis"),
        ),
        _ => None,
    }
}
