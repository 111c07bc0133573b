//! `class_weight` and `sample_weight` in a `train` block, and the checks
//! that are certain from the model alone: Keras applies class weights only to
//! a single classification output, with class ids that the output has.

use super::errors::*;
use super::train_block::train_err;
use super::values::{self, eval_const, Value};
use crate::ast::{Expr, ExprKind, Ident};
use crate::diag::{Diagnostic, Span};
use crate::ir::{Graph, Shape};
use crate::train::{ClassKey, ClassWeight, TrainConfig};

/// `class_weight = balanced` or `class_weight = { 0: 1.0, "cat": 2.0 }`.
/// Returns the spans of the map's keys (parallel to its entries) for the
/// checks against the model.
pub(super) fn class_weight(cfg: &mut TrainConfig, value: &Expr) -> Result<Vec<Span>, Diagnostic> {
    let g = &Graph::new();
    let ExprKind::Map(items) = &value.kind else {
        let v = eval_const(value)?;
        return match &v.value {
            Value::Symbol(s) | Value::Str(s) if s == "balanced" => {
                cfg.class_weight = Some(ClassWeight::Balanced);
                Ok(Vec::new())
            }
            other => Err(Diagnostic::error(
                TRAIN_TYPE,
                format!("class_weight expects `balanced` or a map of class to weight but found {}", other.describe(g)),
                v.span,
            )
            .with_label("expected `balanced` or `{ 0: 1.0, 1: 5.0 }`")),
        };
    };
    let mut pairs: Vec<(ClassKey, f64)> = Vec::with_capacity(items.len());
    let mut spans: Vec<Span> = Vec::with_capacity(items.len());
    for (key, value) in items {
        let class = class_key(key);
        if let Some(i) = pairs.iter().position(|(k, _)| *k == class) {
            return Err(Diagnostic::error(
                TRAIN_CONFLICT,
                format!("class {class} is set twice in class_weight"),
                key.span,
            )
            .with_label("set again here")
            .with_secondary(spans[i], "first set here"));
        }
        let v = eval_const(value)?;
        let w = values::number_in(&v, "class_weight", "at least 0", |x| x >= 0.0, g).map_err(train_err)?;
        pairs.push((class, w));
        spans.push(key.span);
    }
    cfg.class_weight = Some(ClassWeight::Map(pairs));
    Ok(spans)
}

/// A map key as a class: digits are a class id; a string or a bare name is
/// a class label (resolved against the data's class names at training time).
fn class_key(key: &Ident) -> ClassKey {
    let text = key.name.as_str();
    if let Ok(id) = text.parse::<i64>() {
        return ClassKey::Id(id);
    }
    let name = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
    ClassKey::Name(name.replace("\\\"", "\"").replace("\\\\", "\\"))
}

/// Where each weighting setting was written, for the checks below.
pub(super) struct WeightSpans {
    pub(super) class_weight: Option<Span>,
    pub(super) keys: Vec<Span>,
    pub(super) sample_weight: Option<Span>,
}

/// The checks certain from the model: one output, a classification loss,
/// class ids the output has, and not both kinds of weights. `outputs` is
/// empty for a setting given alone (the runtime checks it then).
pub(super) fn check(cfg: &TrainConfig, spans: &WeightSpans, outputs: &[(String, Shape)]) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let Some(cw_span) = spans.class_weight else { return diags };
    if let Some(sw) = spans.sample_weight {
        diags.push(
            Diagnostic::error(TRAIN_CONFLICT, "`class_weight` and `sample_weight` exclude each other", sw)
                .with_label("second source of loss weights")
                .with_secondary(cw_span, "class weights already set here")
                .with_help("keep one of them, or fold the class weights into the sample weight column"),
        );
    }
    if outputs.is_empty() {
        return diags;
    }
    if outputs.len() > 1 {
        let names: Vec<&str> = outputs.iter().map(|(n, _)| n.as_str()).collect();
        diags.push(
            Diagnostic::error(
                TRAIN_OUTPUTS,
                format!("class_weight applies to a single output, but the model has {}", outputs.len()),
                cw_span,
            )
            .with_label("which output's classes?")
            .with_note(format!("outputs: {}", names.join(", ")))
            .with_help("weigh samples per output with sample weights (`sample_weight_<output>` arrays) instead"),
        );
        return diags;
    }
    let loss = cfg.loss.or(cfg.output_losses.first().map(|(_, l)| *l));
    if let Some(loss) = loss {
        if !loss.kind.is_classification() {
            diags.push(
                Diagnostic::error(
                    TRAIN_CONFLICT,
                    format!("class_weight needs a classification loss, but the loss is {}", loss.kind.name()),
                    cw_span,
                )
                .with_label("no classes to weigh")
                .with_help("use sample_weight to weigh the samples of a regression"),
            );
            return diags;
        }
    }
    let units = outputs[0].1.dims().last().and_then(|d| d.known());
    if let (Some(units), Some(ClassWeight::Map(pairs))) = (units, &cfg.class_weight) {
        let n_classes = if units == 1 { 2 } else { units };
        for ((key, _), span) in pairs.iter().zip(&spans.keys) {
            if let ClassKey::Id(id) = key {
                if *id < 0 || *id as usize >= n_classes {
                    diags.push(
                        Diagnostic::error(
                            TRAIN_RANGE,
                            format!("class {id} is not a class of the model: its output has {n_classes} classes"),
                            *span,
                        )
                        .with_label(format!("class ids are 0..{}", n_classes - 1)),
                    );
                }
            }
        }
    }
    diags
}
