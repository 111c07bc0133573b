//! Keras's `compile` config (`compile_config` in `.keras`, `training_config`
//! in legacy `.h5`) as a `train { … }` block: optimizer, loss, metrics.

use serde_json::Value;

use super::args::{self, class_name, number, snake};
use crate::error::{err, InteropError};

/// Keras optimizer class, nn name, its own arguments with Keras's defaults.
type OptimizerRow = (&'static str, &'static str, &'static [(&'static str, f64)]);

const OPTIMIZERS: &[OptimizerRow] = &[
    ("SGD", "sgd", &[("learning_rate", 0.01), ("momentum", 0.0)]),
    ("RMSprop", "rmsprop", &[("learning_rate", 0.001), ("rho", 0.9), ("momentum", 0.0), ("epsilon", 1e-7)]),
    ("Adam", "adam", &[("learning_rate", 0.001), ("beta_1", 0.9), ("beta_2", 0.999), ("epsilon", 1e-7)]),
    ("Adagrad", "adagrad", &[("learning_rate", 0.001), ("initial_accumulator_value", 0.1), ("epsilon", 1e-7)]),
    ("Adadelta", "adadelta", &[("learning_rate", 0.001), ("rho", 0.95), ("epsilon", 1e-7)]),
    ("Nadam", "nadam", &[("learning_rate", 0.001), ("beta_1", 0.9), ("beta_2", 0.999), ("epsilon", 1e-7)]),
    (
        "AdamW",
        "adamw",
        &[("learning_rate", 0.001), ("weight_decay", 0.004), ("beta_1", 0.9), ("beta_2", 0.999), ("epsilon", 1e-7)],
    ),
    ("Adamax", "adamax", &[("learning_rate", 0.001), ("beta_1", 0.9), ("beta_2", 0.999), ("epsilon", 1e-7)]),
    ("Lion", "lion", &[("learning_rate", 0.001), ("beta_1", 0.9), ("beta_2", 0.99)]),
    (
        "Ftrl",
        "ftrl",
        &[
            ("learning_rate", 0.001),
            ("learning_rate_power", -0.5),
            ("initial_accumulator_value", 0.1),
            ("l1_regularization_strength", 0.0),
            ("l2_regularization_strength", 0.0),
            ("l2_shrinkage_regularization_strength", 0.0),
            ("beta", 0.0),
        ],
    ),
];

/// Boolean optimizer flags nn has (default false).
const FLAGS: &[&str] = &["nesterov", "amsgrad", "centered"];
/// Keras's base-optimizer arguments nn has (default none).
const BASE: &[&str] = &["weight_decay", "clipnorm", "global_clipnorm", "clipvalue"];
/// Base-optimizer keys that must keep Keras's default.
const FIXED: &[(&str, &str)] = &[("loss_scale_factor", "null"), ("gradient_accumulation_steps", "null")];
/// The moving-average arguments: written only when `use_ema` is on, since
/// Keras stores them either way.
const EMA: &[&str] = &["use_ema", "ema_momentum", "ema_overwrite_frequency"];
const IGNORED: &[&str] = &["name", "is_legacy_optimizer", "jit_compile", "decay"];

/// The train block's lines, or none when the model was never compiled.
pub fn train_block(compile: Option<&Value>) -> Result<Vec<String>, InteropError> {
    let Some(c) = compile else { return Ok(Vec::new()) };
    let mut lines = Vec::new();
    if let Some(opt) = c.get("optimizer").or_else(|| c.get("optimizer_config")).filter(|o| !o.is_null()) {
        lines.push(format!("optimizer = {}", optimizer(opt)?));
    }
    if let Some(loss) = c.get("loss").filter(|l| !l.is_null()) {
        lines.push(format!("loss = {}", loss_text(loss)?));
    }
    if let Some(w) = c.get("loss_weights").filter(|w| !w.is_null()) {
        return Err(err!(
            "compile config: `loss_weights = {w}` is not imported yet; set `loss_weights` in the train block by hand"
        ));
    }
    let mut metrics = Vec::new();
    for key in ["metrics", "weighted_metrics"] {
        if let Some(m) = c.get(key).filter(|m| !m.is_null()) {
            collect_metrics(m, &mut metrics)?;
        }
    }
    if !metrics.is_empty() {
        lines.push(format!("metrics = [{}]", metrics.join(", ")));
    }
    Ok(lines)
}

fn optimizer(v: &Value) -> Result<String, InteropError> {
    let (class, config) = match v {
        Value::String(s) => return by_string(s),
        other => (class_name(other).unwrap_or("?"), other.get("config").cloned().unwrap_or(Value::Null)),
    };
    let Some((_, nn, own)) = OPTIMIZERS.iter().find(|(k, ..)| *k == class) else {
        return Err(err!(
            "compile config: the optimizer `{class}` is not supported; nn has: {}",
            OPTIMIZERS.iter().map(|o| o.0).collect::<Vec<_>>().join(", ")
        ));
    };
    let empty = serde_json::Map::new();
    let config = config.as_object().unwrap_or(&empty);
    let mut parts = Vec::new();
    let use_ema = config.get("use_ema").and_then(Value::as_bool) == Some(true);
    for (key, value) in config {
        let k = key.as_str();
        if IGNORED.contains(&k) {
            continue;
        }
        if EMA.contains(&k) {
            continue;
        }
        if let Some((_, default)) = own.iter().find(|(n, _)| *n == k) {
            if value.is_object() {
                return Err(err!(
                    "compile config: the optimizer's `{k}` is a schedule ({}); import it without the schedule and set \
                     `lr_schedule` in the train block",
                    class_name(value).unwrap_or("?")
                ));
            }
            let x = args::as_f64(value, k)?;
            if (x as f32) != (*default as f32) {
                parts.push(format!("{k} = {}", number(x)));
            }
        } else if FLAGS.contains(&k) {
            if value.as_bool() == Some(true) {
                parts.push(format!("{k} = true"));
            }
        } else if BASE.contains(&k) {
            if !value.is_null() {
                parts.push(format!("{k} = {}", number(args::as_f64(value, k)?)));
            }
        } else if let Some((_, want)) = FIXED.iter().find(|(n, _)| *n == k) {
            if !args::same(value, &serde_json::from_str(want).expect("table JSON")) {
                return Err(err!("compile config: the optimizer's `{k} = {value}` is not supported by nn's `{nn}`"));
            }
        } else {
            return Err(err!("compile config: the optimizer argument `{k} = {value}` is not supported by nn's `{nn}`"));
        }
    }
    for k in EMA {
        if let Some(value) = config.get(*k) {
            parts.extend(ema_part(k, value, use_ema)?);
        }
    }
    Ok(if parts.is_empty() { nn.to_string() } else { format!("{nn}({})", parts.join(", ")) })
}

/// `use_ema = true` and its arguments that differ from Keras's defaults,
/// or nothing when the moving averages are off.
fn ema_part(k: &str, value: &Value, use_ema: bool) -> Result<Option<String>, InteropError> {
    if !use_ema {
        return Ok(None);
    }
    Ok(match k {
        "use_ema" => Some("use_ema = true".to_string()),
        "ema_momentum" => {
            let m = args::as_f64(value, k)?;
            ((m as f32) != 0.99f32).then(|| format!("ema_momentum = {}", number(m)))
        }
        _ if value.is_null() => None,
        _ => Some(format!("{k} = {}", number(args::as_f64(value, k)?))),
    })
}

fn by_string(s: &str) -> Result<String, InteropError> {
    let lower = s.to_ascii_lowercase();
    OPTIMIZERS
        .iter()
        .find(|o| o.1 == lower)
        .map(|o| o.1.to_string())
        .ok_or_else(|| err!("compile config: the optimizer `{s}` is not supported"))
}

/// Loss arguments nn takes, with Keras's defaults.
const LOSS_ARGS: &[(&str, &str)] = &[
    ("from_logits", "false"),
    ("label_smoothing", "0.0"),
    ("delta", "1.0"),
    ("axis", "-1"),
    ("apply_class_balancing", "false"),
    ("alpha", "0.25"),
    ("gamma", "2.0"),
];

fn loss_text(v: &Value) -> Result<String, InteropError> {
    let (name, config) = match v {
        Value::String(s) => (s.clone(), Value::Null),
        Value::Object(_) if class_name(v).is_some() => {
            (snake(class_name(v).unwrap_or("?")), v.get("config").cloned().unwrap_or(Value::Null))
        }
        other => {
            return Err(err!(
                "compile config: the loss {other} is a per-output mapping, which import does not support yet; \
                 compile the Keras model with one loss"
            ))
        }
    };
    if !nn_compiler::lower::LOSSES.contains(&name.as_str()) {
        return Err(err!(
            "compile config: the loss `{name}` is not supported; nn has: {}",
            nn_compiler::lower::LOSSES.join(", ")
        ));
    }
    let mut parts = Vec::new();
    if let Some(config) = config.as_object() {
        for (k, value) in config {
            match k.as_str() {
                "name" | "dtype" => {}
                "reduction" if value.as_str() == Some("sum_over_batch_size") || value.as_str() == Some("auto") => {}
                "ignore_class" if value.is_null() => {}
                key => match LOSS_ARGS.iter().find(|(n, _)| *n == key) {
                    Some((_, default)) => {
                        if !args::same(value, &serde_json::from_str(default).expect("table JSON")) {
                            let text = match value {
                                Value::Bool(b) => b.to_string(),
                                other => number(args::as_f64(other, key)?),
                            };
                            parts.push(format!("{key} = {text}"));
                        }
                    }
                    None => {
                        return Err(err!(
                            "compile config: the loss argument `{key} = {value}` of `{name}` is not supported"
                        ))
                    }
                },
            }
        }
    }
    Ok(if parts.is_empty() { name } else { format!("{name}({})", parts.join(", ")) })
}

fn collect_metrics(v: &Value, out: &mut Vec<String>) -> Result<(), InteropError> {
    match v {
        Value::Array(items) => items.iter().try_for_each(|i| collect_metrics(i, out)),
        Value::String(s) => push_metric(
            match s.as_str() {
                "acc" => "accuracy",
                other => other,
            },
            out,
        ),
        Value::Object(_) if class_name(v).is_some() => {
            let class = class_name(v).unwrap_or("?");
            let name = v.get("config").and_then(|c| c.get("name")).and_then(Value::as_str);
            // Keras's generic "accuracy" metric object serializes under its display name.
            let snake_class = snake(class);
            let pick = if nn_compiler::lower::METRICS.contains(&snake_class.as_str()) {
                snake_class
            } else {
                name.unwrap_or(class).to_string()
            };
            push_metric(&pick, out)
        }
        Value::Object(map) => map.values().try_for_each(|i| collect_metrics(i, out)),
        Value::Null => Ok(()),
        other => Err(err!("compile config: the metric {other} is not supported")),
    }
}

fn push_metric(name: &str, out: &mut Vec<String>) -> Result<(), InteropError> {
    if !nn_compiler::lower::METRICS.contains(&name) {
        return Err(err!(
            "compile config: the metric `{name}` is not supported; nn has: {}",
            nn_compiler::lower::METRICS.join(", ")
        ));
    }
    if !out.iter().any(|m| m == name) {
        out.push(name.to_string());
    }
    Ok(())
}

#[cfg(test)]
mod optimizer_tests {
    use super::optimizer;

    /// As `keras.optimizers.serialize` writes them (Keras 3).
    const FTRL_WITH_EMA: &str = r#"{"module": "keras.optimizers", "class_name": "Ftrl", "config": {"name": "ftrl",
        "learning_rate": 0.05000000074505806, "weight_decay": null, "clipnorm": null, "global_clipnorm": null,
        "clipvalue": null, "use_ema": true, "ema_momentum": 0.9, "ema_overwrite_frequency": 3,
        "loss_scale_factor": null, "gradient_accumulation_steps": null, "learning_rate_power": -0.5,
        "initial_accumulator_value": 0.1, "l1_regularization_strength": 0.001, "l2_regularization_strength": 0.0,
        "l2_shrinkage_regularization_strength": 0.0, "beta": 0.0}, "registered_name": null}"#;
    const ADAM_DEFAULTS: &str = r#"{"module": "keras.optimizers", "class_name": "Adam", "config": {"name": "adam",
        "learning_rate": 0.0010000000474974513, "weight_decay": null, "clipnorm": null, "global_clipnorm": null,
        "clipvalue": null, "use_ema": false, "ema_momentum": 0.99, "ema_overwrite_frequency": null,
        "loss_scale_factor": null, "gradient_accumulation_steps": null, "beta_1": 0.9, "beta_2": 0.999,
        "epsilon": 1e-07, "amsgrad": false}, "registered_name": null}"#;

    #[test]
    fn ftrl_and_moving_averages_are_imported() {
        let v = serde_json::from_str(FTRL_WITH_EMA).unwrap();
        assert_eq!(
            optimizer(&v).unwrap(),
            "ftrl(l1_regularization_strength = 0.001, learning_rate = 0.05, use_ema = true, ema_momentum = 0.9, \
             ema_overwrite_frequency = 3)"
        );
    }

    #[test]
    fn moving_average_arguments_are_left_out_when_off() {
        let v = serde_json::from_str(ADAM_DEFAULTS).unwrap();
        assert_eq!(optimizer(&v).unwrap(), "adam");
    }
}
