//! A Keras model config as `.nn` text: a Sequential model as a chain of
//! layers, a Functional one as a graph of named tensors (a layer called more
//! than once becomes a named instance, so its calls share weights).
//!
//! The text creates layer instances in a known order, which [`Generated`]
//! records: the i-th instance the compiler reports is `created[i]`, and
//! weights are matched that way rather than by names the compiler chooses.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::layers;
use crate::error::{err, InteropError};

/// One Keras layer of the config.
pub struct KLayer {
    pub name: String,
    pub class: String,
    pub config: Value,
    /// Position in the config's layer list (errors name it).
    pub index: usize,
    /// Where a `.keras` archive keeps the layer's weights (`layers/<path>`).
    pub path: String,
    /// Each call's inputs: (layer, call, tensor) as Keras's history names them.
    pub calls: Vec<Vec<(String, usize, usize)>>,
}

pub struct Generated {
    /// The model's statements and `output` line (no `model` header, no train block).
    pub body: Vec<String>,
    pub name: String,
    /// Keras layers (by index into `layers`) in the order the text creates them.
    pub created: Vec<usize>,
    pub layers: Vec<KLayer>,
}

const KEYWORDS: &[&str] = &["model", "input", "output", "train", "layer", "true", "false", "int", "float", "none"];

/// A readable identifier for `name` not in `used` and not shadowing a
/// built-in layer or activation.
fn ident(name: &str, used: &mut HashSet<String>) -> String {
    let mut base: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if base.is_empty() || base.starts_with(|c: char| c.is_ascii_digit()) {
        base = format!("t_{base}");
    }
    let reserved = |s: &str| {
        KEYWORDS.contains(&s)
            || nn_compiler::lower::layer_names().any(|l| l == s)
            || nn_compiler::lower::ACTIVATION_NAMES.contains(&s)
    };
    let mut candidate = if reserved(&base) { format!("{base}_out") } else { base.clone() };
    let mut n = 1;
    while used.contains(&candidate) || reserved(&candidate) {
        candidate = format!("{base}_out{n}");
        n += 1;
    }
    used.insert(candidate.clone());
    candidate
}

/// `input x: [8]` from an InputLayer's config (Keras 3 `batch_shape`, Keras 2
/// `batch_input_shape`).
fn input_line(name: &str, config: &Value, where_: &str) -> Result<String, InteropError> {
    let shape = config
        .get("batch_shape")
        .or_else(|| config.get("batch_input_shape"))
        .and_then(Value::as_array)
        .ok_or_else(|| err!("{where_}: the input has no `batch_shape`"))?;
    let dims = shape
        .iter()
        .skip(1)
        .map(|d| {
            d.as_u64().filter(|&d| d > 0).map(|d| d.to_string()).ok_or_else(|| {
                err!("{where_}: input dimension {d} is not a fixed size; nn inputs have fixed shapes but the batch")
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let dtype = match config.get("dtype").and_then(|d| d.as_str().or_else(|| d.get("config")?.get("name")?.as_str())) {
        None | Some("float32") => "",
        Some("int32" | "int64") => " int",
        Some(other) => return Err(err!("{where_}: input dtype `{other}` is not supported; nn takes float32 or int32")),
    };
    Ok(format!("input {name}: [{}]{dtype}", dims.join(", ")))
}

fn where_(l: &KLayer) -> String {
    format!("layer {} `{}` ({})", l.index, l.name, l.class)
}

/// Keras 3 files a layer's weights not under its name but under its class
/// in snake case, numbered in the model's layer order: `dense`, `dense_1`
/// (so a renamed layer, or a Dense inside a TimeDistributed that took the
/// name `dense`, is found where Keras put it).
fn weights_path(class: &str, seen: &mut HashMap<String, usize>) -> String {
    let base = keras_snake(class);
    let n = seen.entry(base.clone()).or_insert(0);
    let path = if *n == 0 { base.clone() } else { format!("{base}_{n}") };
    *n += 1;
    path
}

/// Keras's `to_snake_case`: `_` before a capitalized word (`Time_Distributed`)
/// and between a lower-case letter and a capital, then lower case:
/// `SimpleRNN` → `simple_rnn`, `Conv1D` → `conv1d`, `PReLU` → `p_re_lu`.
fn keras_snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().filter(|c| c.is_alphanumeric() || *c == '_').collect();
    let mut words = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        words.push(chars[i]);
        let word_follows = chars.get(i + 1).is_some_and(char::is_ascii_uppercase)
            && chars.get(i + 2).is_some_and(char::is_ascii_lowercase);
        if word_follows {
            words.push('_');
            let mut j = i + 1;
            words.push(chars[j]);
            j += 1;
            while j < chars.len() && chars[j].is_ascii_lowercase() {
                words.push(chars[j]);
                j += 1;
            }
            i = j;
        } else {
            i += 1;
        }
    }
    let mut out = String::new();
    for (k, &c) in words.iter().enumerate() {
        if k > 0 && words[k - 1].is_ascii_lowercase() && c.is_ascii_uppercase() {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Keras 3 records the operations that compute masks (`not_equal` from an
/// `Embedding(mask_zero=True)`, `logical_or` where masks meet) as layers of a
/// Functional model; they feed only the `mask` of the calls after them, which
/// nn derives from `mask_zero` itself.
fn is_mask_op(l: &Value) -> bool {
    let module = l.get("module").and_then(Value::as_str);
    let class = l.get("class_name").and_then(Value::as_str).unwrap_or("");
    match module {
        Some(m) => m.starts_with("keras.src.ops"),
        None => matches!(class, "NotEqual" | "LogicalOr" | "LogicalAnd" | "All" | "Any" | "ExpandDims"),
    }
}

fn parse_layers(list: &[Value]) -> Result<Vec<KLayer>, InteropError> {
    let ops: Vec<(usize, String)> = list
        .iter()
        .enumerate()
        .filter(|(_, l)| is_mask_op(l))
        .map(|(i, l)| (i, l.get("name").and_then(Value::as_str).unwrap_or("?").to_string()))
        .collect();
    let mut paths: HashMap<String, usize> = HashMap::new();
    let layers: Vec<KLayer> = list
        .iter()
        .enumerate()
        .filter(|(_, l)| !is_mask_op(l))
        .map(|(i, l)| {
            let class = l.get("class_name").and_then(Value::as_str).unwrap_or("?").to_string();
            let config = l.get("config").cloned().unwrap_or(Value::Null);
            let name = l
                .get("name")
                .or_else(|| config.get("name"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("layer_{i}"));
            if matches!(class.as_str(), "Sequential" | "Functional" | "Model") {
                return Err(err!(
                    "layer {i} `{name}` is a nested {class} model; nn imports flat models: rebuild it in Keras \
                     with the inner model's layers inlined"
                ));
            }
            let calls = inbound(l.get("inbound_nodes"));
            let path = weights_path(&class, &mut paths);
            Ok(KLayer { name, class, config, index: i, path, calls })
        })
        .collect::<Result<_, _>>()?;
    // An operation whose result is a layer's input (not its mask) has no nn form.
    for (i, op) in &ops {
        if let Some(user) = layers.iter().find(|l| l.calls.iter().flatten().any(|(n, _, _)| n == op)) {
            let class = list[*i].get("class_name").and_then(Value::as_str).unwrap_or("?");
            return Err(err!(
                "layer {i} `{op}` is the Keras operation `{class}` applied to tensors, and layer `{}` reads its \
                 result; nn imports layers only: write it as a layer in Keras",
                user.name
            ));
        }
    }
    Ok(layers)
}

/// Keras 3 `{"args": [tensor or [tensors]]}` and Keras 2 `[[name, call, tensor, kwargs], …]` call lists.
fn inbound(nodes: Option<&Value>) -> Vec<Vec<(String, usize, usize)>> {
    fn history(v: &Value, out: &mut Vec<(String, usize, usize)>) {
        if let Some(h) = v.get("config").and_then(|c| c.get("keras_history")).and_then(Value::as_array) {
            if let (Some(n), Some(c), Some(t)) = (h.first().and_then(Value::as_str), h.get(1), h.get(2)) {
                out.push((n.to_string(), c.as_u64().unwrap_or(0) as usize, t.as_u64().unwrap_or(0) as usize));
            }
        } else if let Some(items) = v.as_array() {
            if let (Some(n), Some(c)) = (items.first().and_then(Value::as_str), items.get(1).and_then(Value::as_u64)) {
                let t = items.get(2).and_then(Value::as_u64).unwrap_or(0);
                out.push((n.to_string(), c as usize, t as usize));
            } else {
                for i in items {
                    history(i, out);
                }
            }
        }
    }
    let Some(nodes) = nodes.and_then(Value::as_array) else { return Vec::new() };
    nodes
        .iter()
        .map(|node| {
            let mut out = Vec::new();
            match node.get("args") {
                Some(args) => history(args, &mut out),
                None => history(node, &mut out),
            }
            out
        })
        .collect()
}

pub fn generate(config: &Value) -> Result<Generated, InteropError> {
    let class = config.get("class_name").and_then(Value::as_str).unwrap_or("?");
    let inner = config.get("config").ok_or_else(|| err!("the model config has no `config`"))?;
    let list =
        inner.get("layers").and_then(Value::as_array).ok_or_else(|| err!("the model config has no `layers` list"))?;
    let layers = parse_layers(list)?;
    match class {
        "Sequential" => sequential(inner, layers),
        "Functional" | "Model" => functional(inner, layers),
        other => Err(err!("the model is a `{other}`; nn imports Sequential and Functional models")),
    }
}

fn sequential(inner: &Value, layers: Vec<KLayer>) -> Result<Generated, InteropError> {
    let mut used = HashSet::new();
    let mut body = Vec::new();
    let mut created = Vec::new();
    let first_real = usize::from(layers.first().is_some_and(|l| l.class == "InputLayer"));
    if first_real == 1 {
        let l = &layers[0];
        body.push(input_line(&ident(&l.name, &mut used), &l.config, &where_(l))?);
    } else {
        let shape = inner
            .get("build_input_shape")
            .or_else(|| layers.first().and_then(|l| l.config.get("batch_input_shape").or(l.config.get("batch_shape"))))
            .ok_or_else(|| {
                err!("the Sequential model has no input shape; build it (or give it an Input) before saving")
            })?;
        body.push(input_line("input", &serde_json::json!({ "batch_shape": shape }), "the model's input")?);
    }
    for (i, l) in layers.iter().enumerate().skip(first_real) {
        if l.class == "InputLayer" {
            return Err(err!("{}: an InputLayer after the first layer is not supported", where_(l)));
        }
        body.push(with_name(layers::call_text(&l.class, &l.config, &where_(l))?, l));
        created.push(i);
    }
    Ok(Generated { body, name: model_name_of(inner), created, layers })
}

fn model_name_of(inner: &Value) -> String {
    ident(inner.get("name").and_then(Value::as_str).unwrap_or("imported"), &mut HashSet::new())
}

/// A comment with Keras's layer name when nn will name the layer otherwise
/// (nn names layers after their class, as Keras does by default).
fn with_name(text: String, l: &KLayer) -> String {
    let base = layers::row(&l.class).map(|r| r.nn).unwrap_or("");
    let default_like = l.name == base
        || l.name.strip_prefix(base).and_then(|s| s.strip_prefix('_')).is_some_and(|n| n.parse::<u32>().is_ok())
        || keras_default_name(&l.class, &l.name);
    if default_like {
        text
    } else {
        format!("{text}  // Keras: `{}`", l.name)
    }
}

fn keras_default_name(class: &str, name: &str) -> bool {
    let base = super::args::snake(class);
    name == base || name.strip_prefix(&base).and_then(|s| s.strip_prefix('_')).is_some_and(|n| n.parse::<u32>().is_ok())
}

fn endpoints(v: Option<&Value>) -> Vec<(String, usize, usize)> {
    let Some(items) = v.and_then(Value::as_array) else { return Vec::new() };
    let one = |e: &Value| -> Option<(String, usize, usize)> {
        let a = e.as_array()?;
        Some((a.first()?.as_str()?.to_string(), a.get(1)?.as_u64()? as usize, a.get(2)?.as_u64()? as usize))
    };
    if items.first().is_some_and(Value::is_string) {
        return one(&Value::Array(items.clone())).into_iter().collect();
    }
    items.iter().filter_map(one).collect()
}

fn functional(inner: &Value, layers: Vec<KLayer>) -> Result<Generated, InteropError> {
    let mut used = HashSet::new();
    let mut body = Vec::new();
    let mut created = Vec::new();
    // (layer name, call index) -> tensor name in the text
    let mut tensors: HashMap<(String, usize), String> = HashMap::new();
    let index: HashMap<&str, usize> = layers.iter().enumerate().map(|(i, l)| (l.name.as_str(), i)).collect();
    for l in &layers {
        if l.class == "InputLayer" {
            let name = ident(&l.name, &mut used);
            body.push(input_line(&name, &l.config, &where_(l))?);
            tensors.insert((l.name.clone(), 0), name);
        }
    }
    // Calls wait until their inputs exist; instances are created in config order.
    let mut pending: Vec<(usize, usize)> = Vec::new();
    let mut instance: HashMap<usize, String> = HashMap::new();
    for (i, l) in layers.iter().enumerate() {
        if l.class == "InputLayer" {
            continue;
        }
        if l.calls.is_empty() {
            return Err(err!("{}: the layer is never called in the model; remove it", where_(l)));
        }
        let text = layers::call_text(&l.class, &l.config, &where_(l))?;
        if l.calls.len() > 1 {
            let inst = ident(&format!("{}_layer", l.name), &mut used);
            body.push(with_name(format!("{inst} = {text}  // shared by {} calls", l.calls.len()), l));
            instance.insert(i, inst);
            created.push(i);
        }
        pending.extend((0..l.calls.len()).map(|c| (i, c)));
        loop {
            let before = pending.len();
            let mut still = Vec::new();
            for (li, call) in pending.drain(..) {
                let layer = &layers[li];
                let ins: Option<Vec<String>> =
                    layer.calls[call].iter().map(|(n, c, _)| tensors.get(&(n.clone(), *c)).cloned()).collect();
                let Some(ins) = ins else {
                    still.push((li, call));
                    continue;
                };
                for (n, _, t) in &layer.calls[call] {
                    if *t != 0 || !index.contains_key(n.as_str()) {
                        return Err(err!("{}: input `{n}` (output {t}) is not a single-output layer", where_(layer)));
                    }
                }
                let out_name = if call == 0 { layer.name.clone() } else { format!("{}_call{call}", layer.name) };
                let out = ident(&out_name, &mut used);
                let line = match instance.get(&li) {
                    Some(inst) => format!("{out} = {inst}({})", ins.join(", ")),
                    None => {
                        let text = layers::call_text(&layer.class, &layer.config, &where_(layer))?;
                        created.push(li);
                        with_name(format!("{out} = {}", apply(&layer.class, &text, &ins)), layer)
                    }
                };
                body.push(line);
                tensors.insert((layer.name.clone(), call), out);
            }
            pending = still;
            if pending.is_empty() || pending.len() == before {
                break;
            }
        }
    }
    if let Some(&(li, call)) = pending.first() {
        return Err(err!("{}: call {call} uses a tensor no layer of the model produces", where_(&layers[li])));
    }
    let outputs = endpoints(inner.get("output_layers"));
    if outputs.is_empty() {
        return Err(err!("the Functional model lists no `output_layers`"));
    }
    let outs = outputs
        .iter()
        .map(|(n, c, _)| {
            tensors.get(&(n.clone(), *c)).cloned().ok_or_else(|| err!("output `{n}` is not a layer of the model"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    body.push(format!("output {}", outs.join(", ")));
    Ok(Generated { body, name: model_name_of(inner), created, layers })
}

/// A layer applied to its inputs: merges take them as arguments
/// (`add(a, b)`), others are called on one tensor (`dense(4)(h)`).
fn apply(class: &str, text: &str, ins: &[String]) -> String {
    // `maximum(a, b)` is the elementwise function; the layer takes a list.
    if matches!(class, "Maximum" | "Minimum") {
        return format!("{text}([{}])", ins.join(", "));
    }
    if matches!(class, "Add" | "Concatenate" | "Multiply" | "Subtract" | "Average" | "Dot") {
        match text.find('(') {
            Some(p) => format!("{}({}, {}", &text[..p], ins.join(", "), &text[p + 1..]),
            None => format!("{text}({})", ins.join(", ")),
        }
    } else if text.contains('(') {
        format!("{text}({})", ins.join(", "))
    } else {
        format!("{text}()({})", ins.join(", "))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keras_snake_case_matches_keras() {
        for (class, want) in [
            ("Dense", "dense"),
            ("SimpleRNN", "simple_rnn"),
            ("LSTM", "lstm"),
            ("Conv1D", "conv1d"),
            ("GlobalAveragePooling1D", "global_average_pooling1d"),
            ("TimeDistributed", "time_distributed"),
            ("PReLU", "p_re_lu"),
            ("LeakyReLU", "leaky_re_lu"),
            ("ELU", "elu"),
            ("InputLayer", "input_layer"),
        ] {
            assert_eq!(super::keras_snake(class), want, "{class}");
        }
    }
}
