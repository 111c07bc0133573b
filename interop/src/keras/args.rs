//! Keras config values as `.nn` argument text: numbers, sizes, activations,
//! initializers and regularizers. Each converter names the Keras key and
//! value it cannot express, and what nn accepts instead.

use serde_json::Value;

use crate::error::{err, InteropError};

/// How a Keras config value is written in `.nn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Int,
    Float,
    Bool,
    /// An integer or a pair: `3`, `[3, 2]`.
    Size,
    /// A list of integers (`target_shape`, `shared_axes`).
    Ints,
    /// `valid` / `same`.
    Padding,
    /// One of these names, written bare (`causal`, `sum`).
    Choice(&'static [&'static str]),
    Activation,
    Initializer,
    Regularizer,
}

/// A short float that reads back as the same f32 (Keras stores many
/// hyperparameters after a float32 round trip: 0.0010000000474974513).
pub fn number(v: f64) -> String {
    let f = v as f32;
    if f.fract() == 0.0 && f.abs() < 1e9 {
        return format!("{}", f as i64);
    }
    let plain = format!("{f}");
    let exp = format!("{f:e}");
    // Plain decimals read best; exponents only where they save a lot (1e-7).
    if exp.len() + 3 < plain.len() {
        exp
    } else {
        plain
    }
}

pub fn as_f64(v: &Value, key: &str) -> Result<f64, InteropError> {
    v.as_f64().ok_or_else(|| err!("`{key}` should be a number but is {v}"))
}

fn as_int(v: &Value, key: &str) -> Result<i64, InteropError> {
    v.as_i64().ok_or_else(|| err!("`{key}` should be an integer but is {v}"))
}

/// `v` written as `kind`.
pub fn write(kind: Kind, v: &Value, key: &str) -> Result<String, InteropError> {
    match kind {
        Kind::Int => Ok(as_int(v, key)?.to_string()),
        Kind::Float => Ok(number(as_f64(v, key)?)),
        Kind::Bool => {
            v.as_bool().map(|b| b.to_string()).ok_or_else(|| err!("`{key}` should be true or false but is {v}"))
        }
        Kind::Size => match v {
            Value::Number(_) => Ok(as_int(v, key)?.to_string()),
            Value::Array(items) => {
                let ints = items.iter().map(|i| as_int(i, key)).collect::<Result<Vec<_>, _>>()?;
                // `[3]` (1-D layers) and `[3, 3]` both read best as `3`.
                if ints.len() == 1 || (ints.len() == 2 && ints[0] == ints[1]) {
                    Ok(ints[0].to_string())
                } else {
                    Ok(format!("[{}]", ints.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")))
                }
            }
            _ => Err(err!("`{key}` should be an integer or a list of integers but is {v}")),
        },
        Kind::Ints => {
            let items = v.as_array().ok_or_else(|| err!("`{key}` should be a list of integers but is {v}"))?;
            let ints = items.iter().map(|i| as_int(i, key)).collect::<Result<Vec<_>, _>>()?;
            Ok(format!("[{}]", ints.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")))
        }
        Kind::Padding => match v.as_str() {
            Some(p @ ("valid" | "same")) => Ok(p.to_string()),
            _ => Err(err!("`{key}` is {v}; nn supports padding `valid` and `same`")),
        },
        Kind::Choice(names) => match v.as_str() {
            Some(name) if names.contains(&name) => Ok(name.to_string()),
            // `merge_mode = None` makes Keras return a list; an nn layer yields one tensor.
            _ if v.is_null() => Err(err!(
                "`{key} = None` is not supported: an nn layer yields one tensor; nn supports {}",
                names.join(", ")
            )),
            _ => Err(err!("`{key}` is {v}; nn supports {}", names.join(", "))),
        },
        Kind::Activation => activation(v, key),
        Kind::Initializer => initializer(v, key),
        Kind::Regularizer => regularizer(v, key),
    }
}

/// Whether two config values mean the same (numbers as f32, `[3, 3]` = `3`).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64().map(|v| v as f32) == y.as_f64().map(|v| v as f32),
        (Value::Array(x), Value::Number(_)) | (Value::Number(_), Value::Array(x)) => {
            let n = if let Value::Number(_) = a { a } else { b };
            !x.is_empty() && x.iter().all(|i| same(i, n))
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        (Value::Object(_), Value::String(s)) | (Value::String(s), Value::Object(_)) => {
            let obj = if a.is_object() { a } else { b };
            class_name(obj).is_some_and(|c| snake(c) == *s)
        }
        _ => a == b,
    }
}

/// A Keras class name in snake case: `SparseCategoricalCrossentropy` →
/// `sparse_categorical_crossentropy`, `AUC` → `auc`, `F1Score` → `f1_score`.
pub fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase() || prev.is_ascii_digit() || (prev.is_ascii_uppercase() && next_lower) {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

pub fn class_name(v: &Value) -> Option<&str> {
    v.get("class_name").and_then(Value::as_str)
}

fn activation(v: &Value, key: &str) -> Result<String, InteropError> {
    let name = match v {
        Value::String(s) => s.clone(),
        Value::Null => "linear".to_string(),
        // Keras 3 writes plain functions as strings; a dict is a custom object.
        other => {
            let what = class_name(other).or_else(|| other.get("config").and_then(Value::as_str)).unwrap_or("?");
            return Err(err!(
                "`{key}` is the custom activation `{what}`; nn supports the built-in activations: {}",
                nn_compiler::lower::ACTIVATION_NAMES.join(", ")
            ));
        }
    };
    if nn_compiler::lower::ACTIVATION_NAMES.contains(&name.as_str()) {
        Ok(name)
    } else {
        Err(err!(
            "`{key}` is the activation `{name}`, which nn does not have; nn supports: {}",
            nn_compiler::lower::ACTIVATION_NAMES.join(", ")
        ))
    }
}

const INITIALIZERS: &[(&str, &str)] = &[
    ("GlorotUniform", "glorot_uniform"),
    ("GlorotNormal", "glorot_normal"),
    ("HeUniform", "he_uniform"),
    ("HeNormal", "he_normal"),
    ("LecunNormal", "lecun_normal"),
    ("LecunUniform", "lecun_uniform"),
    ("Zeros", "zeros"),
    ("Ones", "ones"),
];

fn initializer(v: &Value, key: &str) -> Result<String, InteropError> {
    let class = match v {
        Value::String(s) => s.clone(),
        other => class_name(other).unwrap_or("?").to_string(),
    };
    if let Some((_, nn)) = INITIALIZERS.iter().find(|(k, n)| *k == class || *n == class) {
        return Ok(nn.to_string());
    }
    let config = v.get("config").cloned().unwrap_or(Value::Null);
    // Arguments written only where they differ from Keras's defaults, which
    // are nn's; a seed only changes a fresh initialization, never the model.
    let with_args = |name: &str, params: &[(&str, f64)]| -> Result<String, InteropError> {
        let mut parts = Vec::new();
        for (p, default) in params {
            if let Some(x) = config.get(*p).filter(|x| !x.is_null()) {
                let x = as_f64(x, &format!("{key}.{p}"))?;
                if x as f32 != *default as f32 {
                    parts.push(format!("{p} = {}", number(x)));
                }
            }
        }
        Ok(if parts.is_empty() { name.to_string() } else { format!("{name}({})", parts.join(", ")) })
    };
    match class.as_str() {
        "Constant" | "constant" => {
            let value = config.get("value").unwrap_or(&Value::Null);
            return Ok(format!("constant({})", number(as_f64(value, &format!("{key}.value"))?)));
        }
        "RandomUniform" | "random_uniform" | "uniform" => {
            return with_args("random_uniform", &[("minval", -0.05), ("maxval", 0.05)])
        }
        "RandomNormal" | "random_normal" | "normal" => {
            return with_args("random_normal", &[("mean", 0.0), ("stddev", 0.05)])
        }
        "Orthogonal" | "orthogonal" => return with_args("orthogonal", &[("gain", 1.0)]),
        _ => {}
    }
    Err(err!(
        "`{key}` is the initializer `{class}`, which nn does not have; nn supports: {}, constant(value), \
         random_uniform, random_normal, orthogonal",
        INITIALIZERS.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(", ")
    ))
}

fn regularizer(v: &Value, key: &str) -> Result<String, InteropError> {
    let config = v.get("config").cloned().unwrap_or(Value::Null);
    let factor = |k: &str| -> Result<String, InteropError> {
        Ok(number(as_f64(config.get(k).unwrap_or(&Value::Null), &format!("{key}.{k}"))?))
    };
    match class_name(v).or(v.as_str()) {
        Some("L2" | "l2") => Ok(format!("l2({})", factor("l2")?)),
        Some("L1" | "l1") => Ok(format!("l1({})", factor("l1")?)),
        Some("L1L2" | "l1_l2") => Ok(format!("l1_l2(l1 = {}, l2 = {})", factor("l1")?, factor("l2")?)),
        other => Err(err!(
            "`{key}` is the regularizer `{}`; nn supports l1, l2 and l1_l2",
            other.map(str::to_string).unwrap_or_else(|| v.to_string())
        )),
    }
}
