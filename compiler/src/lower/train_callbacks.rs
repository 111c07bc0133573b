//! The `train` block settings that configure the run around the step:
//! `callbacks = [ … ]` (Keras's callback names and arguments, typed into
//! [`CallbackSpec`]s) and `dataset = csv("…", label = …)`.

use super::args::{bind, opt, req, Bound};
use super::errors::*;
use super::init::callish;
use super::train_block::train_err;
use super::values::{self, Sv, Value};
use crate::diag::Diagnostic;
use crate::ir::Graph;
use crate::train::{CallbackSpec, MonitorMode, TableOptions};

const CALLBACKS: &[&str] = &[
    "early_stopping",
    "reduce_lr_on_plateau",
    "model_checkpoint",
    "csv_logger",
    "terminate_on_nan",
    "backup_and_restore",
];

/// `callbacks = [early_stopping(patience = 3), csv_logger("log.csv")]` (one callback may stand alone).
pub fn callbacks(v: &Sv, g: &Graph) -> Result<Vec<CallbackSpec>, Diagnostic> {
    let items = match &v.value {
        Value::List(items) => items.clone(),
        _ => vec![v.clone()],
    };
    let mut specs: Vec<CallbackSpec> = Vec::new();
    for item in &items {
        let spec = callback(item, g)?;
        if specs.iter().any(|s| s.name() == spec.name()) {
            return Err(Diagnostic::error(TRAIN_CONFLICT, format!("`{}` is listed twice", spec.name()), item.span)
                .with_label("second instance")
                .with_help("keep one, with all its arguments"));
        }
        specs.push(spec);
    }
    Ok(specs)
}

fn callback(v: &Sv, g: &Graph) -> Result<CallbackSpec, Diagnostic> {
    let (name, args) = callish(v).ok_or_else(|| {
        Diagnostic::error(TRAIN_TYPE, format!("a callback is a name or a call, not {}", v.value.describe(g)), v.span)
            .with_label("expected e.g. `early_stopping(patience = 3)`")
    })?;
    let span = v.span;
    let text = |b: &Bound, i: usize, what: &str, default: &str| -> Result<String, Diagnostic> {
        b.get(i).map(|x| values::name(x, what, g).map_err(train_err)).transpose().map(|o| o.unwrap_or(default.into()))
    };
    let count = |b: &Bound, i: usize, what: &str| -> Result<usize, Diagnostic> {
        match b.get(i) {
            None => Ok(0),
            Some(x) => {
                let n = values::int(x, what, g).map_err(train_err)?;
                usize::try_from(n).map_err(|_| {
                    Diagnostic::error(TRAIN_RANGE, format!("{what} must be at least 0 but is {n}"), x.span)
                        .with_label("negative")
                })
            }
        }
    };
    let num = |b: &Bound, i: usize, what: &str, default: f64| -> Result<f64, Diagnostic> {
        b.get(i)
            .map(|x| values::number_in(x, what, "at least 0", |f| f >= 0.0 && f.is_finite(), g).map_err(train_err))
            .transpose()
            .map(|o| o.unwrap_or(default))
    };
    let flag = |b: &Bound, i: usize, what: &str| -> Result<bool, Diagnostic> {
        b.get(i).map(|x| values::boolean(x, what, g).map_err(train_err)).transpose().map(|o| o.unwrap_or(false))
    };
    let mode = |b: &Bound, i: usize| -> Result<MonitorMode, Diagnostic> {
        let Some(x) = b.get(i) else { return Ok(MonitorMode::Auto) };
        match values::name(x, "mode", g).map_err(train_err)?.as_str() {
            "auto" => Ok(MonitorMode::Auto),
            "min" => Ok(MonitorMode::Min),
            "max" => Ok(MonitorMode::Max),
            other => {
                Err(Diagnostic::error(TRAIN_RANGE, format!("mode must be auto, min or max, not `{other}`"), x.span)
                    .with_label("unknown mode"))
            }
        }
    };
    Ok(match name {
        "early_stopping" => {
            let params = [
                opt("monitor"),
                opt("min_delta"),
                opt("patience"),
                opt("mode"),
                opt("restore_best_weights"),
                opt("start_from_epoch"),
            ];
            let b = bind(name, &params, args, span)?;
            CallbackSpec::EarlyStopping {
                monitor: text(&b, 0, "monitor", "val_loss")?,
                min_delta: num(&b, 1, "min_delta", 0.0)?,
                patience: count(&b, 2, "patience")?,
                mode: mode(&b, 3)?,
                restore_best_weights: flag(&b, 4, "restore_best_weights")?,
                start_from_epoch: count(&b, 5, "start_from_epoch")?,
            }
        }
        "reduce_lr_on_plateau" => {
            let params = [
                opt("monitor"),
                opt("factor"),
                opt("patience"),
                opt("mode"),
                opt("min_delta"),
                opt("cooldown"),
                opt("min_lr"),
            ];
            let b = bind(name, &params, args, span)?;
            let factor = match b.get(1) {
                Some(x) => values::number_in(x, "factor", "between 0 and 1 (exclusive)", |f| f > 0.0 && f < 1.0, g)
                    .map_err(train_err)?,
                None => 0.1,
            };
            CallbackSpec::ReduceLrOnPlateau {
                monitor: text(&b, 0, "monitor", "val_loss")?,
                factor,
                patience: match b.get(2) {
                    Some(_) => count(&b, 2, "patience")?,
                    None => 10,
                },
                mode: mode(&b, 3)?,
                min_delta: num(&b, 4, "min_delta", 1e-4)?,
                cooldown: count(&b, 5, "cooldown")?,
                min_lr: num(&b, 6, "min_lr", 0.0)?,
            }
        }
        "model_checkpoint" => {
            let params = [req("filepath"), opt("monitor"), opt("save_best_only"), opt("mode")];
            let b = bind(name, &params, args, span)?;
            CallbackSpec::ModelCheckpoint {
                filepath: text(&b, 0, "filepath", "")?,
                monitor: text(&b, 1, "monitor", "val_loss")?,
                save_best_only: flag(&b, 2, "save_best_only")?,
                mode: mode(&b, 3)?,
            }
        }
        "csv_logger" => {
            let b = bind(name, &[req("filename"), opt("separator"), opt("append")], args, span)?;
            let separator = text(&b, 1, "separator", ",")?;
            let mut chars = separator.chars();
            let (Some(sep), None) = (chars.next(), chars.next()) else {
                let at = b.get(1).map_or(span, |x| x.span);
                return Err(Diagnostic::error(
                    TRAIN_RANGE,
                    format!("separator must be one character, not {separator:?}"),
                    at,
                )
                .with_label("one character, e.g. \",\" or \";\""));
            };
            CallbackSpec::CsvLogger {
                filename: text(&b, 0, "filename", "")?,
                separator: sep,
                append: flag(&b, 2, "append")?,
            }
        }
        "terminate_on_nan" => {
            bind(name, &[], args, span)?;
            CallbackSpec::TerminateOnNan
        }
        "backup_and_restore" => {
            let b = bind(name, &[req("backup_dir"), opt("save_freq"), opt("delete_checkpoint")], args, span)?;
            // Keras's `save_freq`: "epoch", or an integer number of steps.
            let save_every = match b.get(1) {
                None => None,
                Some(x) if matches!(x.value, Value::Int(_)) => {
                    let n = values::int(x, "save_freq", g).map_err(train_err)?;
                    match usize::try_from(n) {
                        Ok(n) if n > 0 => Some(n),
                        _ => {
                            return Err(Diagnostic::error(
                                TRAIN_RANGE,
                                format!("save_freq must be \"epoch\" or at least 1 step, not {n}"),
                                x.span,
                            )
                            .with_label("not a positive number of steps")
                            .with_help("write `save_freq = 100` (every 100 steps) or `save_freq = \"epoch\"`"))
                        }
                    }
                }
                Some(x) => {
                    let freq = values::name(x, "save_freq", g).map_err(train_err)?;
                    if freq != "epoch" {
                        return Err(Diagnostic::error(
                            TRAIN_RANGE,
                            format!("save_freq must be \"epoch\" or a number of steps, not `{freq}`"),
                            x.span,
                        )
                        .with_label("backups are written every epoch or every N steps")
                        .with_help("write `save_freq = \"epoch\"`, or an integer such as `save_freq = 100`"));
                    }
                    None
                }
            };
            CallbackSpec::BackupAndRestore {
                backup_dir: text(&b, 0, "backup_dir", "")?,
                save_every,
                delete_checkpoint: match b.get(2) {
                    Some(_) => flag(&b, 2, "delete_checkpoint")?,
                    None => true,
                },
            }
        }
        other => {
            let mut d = Diagnostic::error(TRAIN_TYPE, format!("unknown callback `{other}`"), span)
                .with_label("not a known callback")
                .with_note(format!("known: {}", CALLBACKS.join(", ")));
            if let Some(h) = suggest(other, CALLBACKS.iter().copied()) {
                d = d.with_help(h);
            }
            return Err(d);
        }
    })
}

/// `dataset = "name or path"`, or `dataset = csv("path", label = "y", features = ["a", "b"], delimiter = ";")`.
pub fn dataset(v: &Sv, g: &Graph) -> Result<(String, TableOptions), Diagnostic> {
    let Value::Call { name, args } = &v.value else {
        return Ok((values::name(v, "dataset", g).map_err(train_err)?, TableOptions::default()));
    };
    if name != "csv" {
        return Err(Diagnostic::error(TRAIN_TYPE, format!("unknown data source `{name}`"), v.span)
            .with_label("expected a string or `csv(…)`")
            .with_help("write a dataset name or path as a string, or `csv(\"data/table.csv\", label = \"y\")`"));
    }
    let b = bind(name, &[req("path"), opt("label"), opt("features"), opt("delimiter")], args, v.span)?;
    let text = |i: usize, what: &str| b.get(i).map(|x| values::name(x, what, g).map_err(train_err)).transpose();
    let features = match b.get(2) {
        None => None,
        Some(x) => match &x.value {
            Value::List(items) if !items.is_empty() => Some(
                items
                    .iter()
                    .map(|i| values::name(i, "a feature column", g).map_err(train_err))
                    .collect::<Result<_, _>>()?,
            ),
            _ => {
                return Err(Diagnostic::error(TRAIN_TYPE, "features expects a list of column names", x.span)
                    .with_label("expected e.g. `[\"sepal_length\", \"sepal_width\"]`"))
            }
        },
    };
    let delimiter = match text(3, "delimiter")? {
        None => None,
        Some(d) => {
            let mut chars = d.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii() => Some(c),
                _ => {
                    let at = b.get(3).map_or(v.span, |x| x.span);
                    return Err(Diagnostic::error(
                        TRAIN_RANGE,
                        format!("delimiter must be one ASCII character, not {d:?}"),
                        at,
                    )
                    .with_label("e.g. \",\" or \";\""));
                }
            }
        }
    };
    let path = text(0, "path")?.unwrap_or_default();
    Ok((path, TableOptions { label: text(1, "label")?, features, delimiter }))
}
