//! `train { … }` → [`TrainConfig`]: every key typed and range-checked, with
//! Keras's names, aliases and defaults, and a check of the loss against the
//! model's output where a mismatch is certain. The optimizer, loss, metric and
//! schedule values are parsed in `train_optimizer.rs`, `train_loss.rs`,
//! `train_metric.rs` and `train_schedule.rs`.

use super::errors::*;
use super::init::{callish, regularizer};
use super::train_loss::{loss, loss_mismatch};
use super::train_metric::{metric_list, metric_mismatches};
use super::train_optimizer::optimizer;
use super::train_schedule::schedule;
use super::values::{self, eval_const, ArgVal, Sv, Value};
use crate::ast::{Expr, ExprKind, Ident, TrainBlock};
use crate::diag::{Diagnostic, Span};
use crate::ir::{Graph, Shape};
use crate::train::{Loss, TrainConfig, Validation};

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

pub(super) fn unknown(code: &'static str, what: &str, name: &str, span: Span, names: &[&str]) -> Diagnostic {
    let mut d = Diagnostic::error(code, format!("unknown {what} `{name}`"), span)
        .with_label(format!("not a known {what}"))
        .with_note(format!("known: {}", names.join(", ")));
    if let Some(h) = suggest(name, names.iter().copied()) {
        d = d.with_help(h);
    }
    d
}

pub(super) fn name_or_call<'v>(v: &'v Sv, what: &str, g: &Graph) -> Result<(&'v str, &'v [ArgVal]), Diagnostic> {
    callish(v).ok_or_else(|| {
        Diagnostic::error(TRAIN_TYPE, format!("{what} expects a name but found {}", v.value.describe(g)), v.span)
            .with_label(format!("expected a {what} name"))
    })
}
