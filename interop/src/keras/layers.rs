//! The Keras layers nn imports: one row per Keras class, saying which `.nn`
//! layer it becomes and how each config key is written. Adding a layer is
//! one row.
//!
//! Every key of a layer's config must be covered by a rule: an argument
//! (written when it differs from Keras's default, which is also nn's), a key
//! nn does not have whose value must be Keras's default (`data_format`,
//! `dilation_rate`, constraints), or a key with no effect on the model
//! (`name`, `dtype`, `seed`). Anything else is an error, so an import never
//! silently drops an argument.

use serde_json::Value;

use super::args::{self, Kind};
use crate::error::{err, InteropError};

pub enum Rule {
    /// The first argument(s) of the `.nn` call, always written.
    Pos(&'static str, Kind),
    /// A named argument that is always written (Keras has no default).
    Named(&'static str, Kind),
    /// A named argument, written when it differs from `default` (JSON text).
    Arg(&'static str, Kind, &'static str),
    /// A key nn has no argument for: its value must equal one of these (JSON
    /// text); the string says what nn does instead.
    Fixed(&'static str, &'static [&'static str], &'static str),
    /// A key that does not change what the model computes.
    Ignore(&'static str),
}

use Rule::*;

pub struct LayerRow {
    pub class: &'static str,
    pub nn: &'static str,
    pub rules: &'static [Rule],
}

/// Keys every layer may carry.
const COMMON: &[Rule] = &[
    Ignore("name"),
    Ignore("dtype"),
    Ignore("seed"),
    Fixed("trainable", &["true"], "nn trains every layer; unfreeze it in Keras before saving"),
    Fixed("data_format", &["\"channels_last\""], "nn images are channels-last (NHWC)"),
    Fixed("activity_regularizer", &["null"], "nn has no activity regularizers"),
    Fixed("kernel_constraint", &["null"], "nn has no weight constraints"),
    Fixed("bias_constraint", &["null"], "nn has no weight constraints"),
    Fixed("beta_constraint", &["null"], "nn has no weight constraints"),
    Fixed("gamma_constraint", &["null"], "nn has no weight constraints"),
    Fixed("alpha_constraint", &["null"], "nn has no weight constraints"),
    Fixed("quantization_config", &["null"], "nn imports float32 models"),
    Fixed("lora_rank", &["null"], "nn has no LoRA layers"),
    Fixed("noise_shape", &["null"], "nn's dropout drops elements independently"),
];

const KERNEL: &[Rule] = &[
    Arg("activation", Kind::Activation, "\"linear\""),
    Arg("use_bias", Kind::Bool, "true"),
    Arg("kernel_initializer", Kind::Initializer, "\"glorot_uniform\""),
    Arg("bias_initializer", Kind::Initializer, "\"zeros\""),
    Arg("kernel_regularizer", Kind::Regularizer, "null"),
    Arg("bias_regularizer", Kind::Regularizer, "null"),
];

const NORM: &[Rule] = &[
    Arg("epsilon", Kind::Float, "0.001"),
    Arg("center", Kind::Bool, "true"),
    Arg("scale", Kind::Bool, "true"),
    Arg("beta_initializer", Kind::Initializer, "\"zeros\""),
    Arg("gamma_initializer", Kind::Initializer, "\"ones\""),
    Arg("beta_regularizer", Kind::Regularizer, "null"),
    Arg("gamma_regularizer", Kind::Regularizer, "null"),
];

/// The recurrent layers' common keys (after `units`).
const RECURRENT: &[Rule] = &[
    Arg("activation", Kind::Activation, "\"tanh\""),
    Arg("use_bias", Kind::Bool, "true"),
    Arg("kernel_initializer", Kind::Initializer, "\"glorot_uniform\""),
    Arg("recurrent_initializer", Kind::Initializer, "\"orthogonal\""),
    Arg("bias_initializer", Kind::Initializer, "\"zeros\""),
    Arg("kernel_regularizer", Kind::Regularizer, "null"),
    Arg("recurrent_regularizer", Kind::Regularizer, "null"),
    Arg("bias_regularizer", Kind::Regularizer, "null"),
    Arg("dropout", Kind::Float, "0.0"),
    Arg("recurrent_dropout", Kind::Float, "0.0"),
    Arg("return_sequences", Kind::Bool, "false"),
    Arg("go_backwards", Kind::Bool, "false"),
    Fixed(
        "return_state",
        &["false"],
        "the importer reads one result per layer; write the model in `.nn` with `out, h, c = lstm(…, return_state = true)(x)`",
    ),
    Fixed("stateful", &["false"], "nn does not keep state between batches"),
    Fixed("time_major", &["false"], "nn's recurrent layers read batch-major sequences"),
    Fixed(
        "zero_output_for_mask",
        &["false"],
        "nn repeats the previous output at a padded step, as Keras does by default",
    ),
    Fixed("recurrent_constraint", &["null"], "nn has no weight constraints"),
    // How Keras runs the loop (unrolled, fused kernels), not what it computes.
    Ignore("unroll"),
    Ignore("implementation"),
];

const POOL1D: &[Rule] =
    &[Arg("pool_size", Kind::Size, "2"), Ignore("strides"), Arg("padding", Kind::Padding, "\"valid\"")];

const GLOBAL_POOL: &[Rule] = &[Fixed("keepdims", &["false"], "nn's global pooling drops the pooled axes")];

const POOL: &[Rule] = &[
    Arg("pool_size", Kind::Size, "[2, 2]"),
    // Keras writes the strides it derived from pool_size; `strides` is
    // handled by `pool_strides` below.
    Ignore("strides"),
    Arg("padding", Kind::Padding, "\"valid\""),
];

pub const LAYERS: &[LayerRow] = &[
    LayerRow { class: "Dense", nn: "dense", rules: &[Pos("units", Kind::Int)] },
    LayerRow {
        class: "Conv2D",
        nn: "conv2d",
        rules: &[
            Pos("filters", Kind::Int),
            Pos("kernel_size", Kind::Size),
            Arg("strides", Kind::Size, "[1, 1]"),
            Arg("padding", Kind::Padding, "\"valid\""),
            Fixed("dilation_rate", &["[1, 1]", "1"], "nn's conv2d has no dilation"),
            Fixed("groups", &["1"], "nn's conv2d has no grouped convolution"),
        ],
    },
    LayerRow { class: "MaxPooling2D", nn: "max_pooling2d", rules: POOL },
    LayerRow { class: "AveragePooling2D", nn: "average_pooling2d", rules: POOL },
    LayerRow {
        class: "GlobalAveragePooling2D",
        nn: "global_average_pooling2d",
        rules: &[Fixed("keepdims", &["false"], "nn's global pooling drops the spatial axes")],
    },
    LayerRow { class: "GlobalMaxPooling2D", nn: "global_max_pooling2d", rules: GLOBAL_POOL },
    LayerRow {
        class: "Embedding",
        nn: "embedding",
        rules: &[
            Pos("input_dim", Kind::Int),
            Pos("output_dim", Kind::Int),
            Arg("embeddings_initializer", Kind::Initializer, "\"uniform\""),
            Arg("embeddings_regularizer", Kind::Regularizer, "null"),
            Arg("mask_zero", Kind::Bool, "false"),
            Fixed("embeddings_constraint", &["null"], "nn has no weight constraints"),
            // Keras 2 only; the length is the input's (as in Keras 3).
            Ignore("input_length"),
        ],
    },
    LayerRow {
        class: "Conv1D",
        nn: "conv1d",
        rules: &[
            Pos("filters", Kind::Int),
            Pos("kernel_size", Kind::Size),
            Arg("strides", Kind::Size, "1"),
            Arg("padding", Kind::Choice(&["valid", "same", "causal"]), "\"valid\""),
            Arg("dilation_rate", Kind::Size, "1"),
            Fixed("groups", &["1"], "nn's conv1d has no grouped convolution"),
        ],
    },
    LayerRow { class: "MaxPooling1D", nn: "max_pooling1d", rules: POOL1D },
    LayerRow { class: "AveragePooling1D", nn: "average_pooling1d", rules: POOL1D },
    LayerRow { class: "GlobalMaxPooling1D", nn: "global_max_pooling1d", rules: GLOBAL_POOL },
    LayerRow { class: "GlobalAveragePooling1D", nn: "global_average_pooling1d", rules: GLOBAL_POOL },
    // The wrapped layer (`layer`) is the call's first argument: `wrapped` below.
    LayerRow { class: "TimeDistributed", nn: "time_distributed", rules: &[Ignore("layer")] },
    LayerRow { class: "Multiply", nn: "multiply", rules: &[] },
    LayerRow { class: "Subtract", nn: "subtract", rules: &[] },
    LayerRow { class: "Average", nn: "average", rules: &[] },
    LayerRow { class: "Maximum", nn: "maximum", rules: &[] },
    LayerRow { class: "Minimum", nn: "minimum", rules: &[] },
    LayerRow { class: "Dot", nn: "dot", rules: &[Named("axes", Kind::Size), Arg("normalize", Kind::Bool, "false")] },
    LayerRow { class: "SimpleRNN", nn: "simple_rnn", rules: &[Pos("units", Kind::Int)] },
    LayerRow {
        class: "LSTM",
        nn: "lstm",
        rules: &[
            Pos("units", Kind::Int),
            Arg("recurrent_activation", Kind::Activation, "\"sigmoid\""),
            Arg("unit_forget_bias", Kind::Bool, "true"),
        ],
    },
    LayerRow {
        class: "GRU",
        nn: "gru",
        rules: &[
            Pos("units", Kind::Int),
            Arg("recurrent_activation", Kind::Activation, "\"sigmoid\""),
            Arg("reset_after", Kind::Bool, "true"),
        ],
    },
    LayerRow {
        class: "Bidirectional",
        nn: "bidirectional",
        rules: &[
            Arg("merge_mode", Kind::Choice(&["concat", "sum", "ave", "mul"]), "\"concat\""),
            Ignore("layer"),
            Ignore("backward_layer"),
        ],
    },
    LayerRow { class: "Flatten", nn: "flatten", rules: &[] },
    LayerRow { class: "Reshape", nn: "reshape", rules: &[Pos("target_shape", Kind::Ints)] },
    LayerRow { class: "Dropout", nn: "dropout", rules: &[Pos("rate", Kind::Float)] },
    LayerRow { class: "Activation", nn: "activation", rules: &[Pos("activation", Kind::Activation)] },
    LayerRow { class: "Add", nn: "add", rules: &[] },
    LayerRow { class: "Concatenate", nn: "concatenate", rules: &[Arg("axis", Kind::Int, "-1")] },
    LayerRow {
        class: "BatchNormalization",
        nn: "batch_normalization",
        rules: &[
            Arg("axis", Kind::Int, "-1"),
            Arg("momentum", Kind::Float, "0.99"),
            Arg("moving_mean_initializer", Kind::Initializer, "\"zeros\""),
            Arg("moving_variance_initializer", Kind::Initializer, "\"ones\""),
            Fixed("synchronized", &["false"], "nn trains on one device"),
            Fixed("renorm", &["false"], "nn has no batch renormalization"),
            Fixed("renorm_clipping", &["null"], "nn has no batch renormalization"),
            // Used only with renorm.
            Ignore("renorm_momentum"),
        ],
    },
    LayerRow {
        class: "LayerNormalization",
        nn: "layer_normalization",
        rules: &[
            Arg("axis", Kind::Int, "-1"),
            Fixed("rms_scaling", &["false"], "nn's layer_normalization centers and scales"),
        ],
    },
    LayerRow {
        class: "GroupNormalization",
        nn: "group_normalization",
        rules: &[Arg("groups", Kind::Int, "32"), Arg("axis", Kind::Int, "-1")],
    },
    LayerRow { class: "UnitNormalization", nn: "unit_normalization", rules: &[Arg("axis", Kind::Int, "-1")] },
    LayerRow {
        class: "Normalization",
        nn: "normalization",
        rules: &[
            Arg("axis", Kind::Int, "-1"),
            Arg("invert", Kind::Bool, "false"),
            Fixed("mean", &["null"], "nn's normalization takes its statistics from adapting (`layer.adapt(x)`)"),
            Fixed("variance", &["null"], "nn's normalization takes its statistics from adapting (`layer.adapt(x)`)"),
        ],
    },
    LayerRow {
        class: "Rescaling",
        nn: "rescaling",
        rules: &[Pos("scale", Kind::Float), Arg("offset", Kind::Float, "0.0")],
    },
    LayerRow { class: "GaussianNoise", nn: "gaussian_noise", rules: &[Pos("stddev", Kind::Float)] },
    LayerRow { class: "GaussianDropout", nn: "gaussian_dropout", rules: &[Pos("rate", Kind::Float)] },
    LayerRow { class: "AlphaDropout", nn: "alpha_dropout", rules: &[Pos("rate", Kind::Float)] },
    LayerRow { class: "SpatialDropout1D", nn: "spatial_dropout1d", rules: &[Pos("rate", Kind::Float)] },
    LayerRow { class: "SpatialDropout2D", nn: "spatial_dropout2d", rules: &[Pos("rate", Kind::Float)] },
    LayerRow { class: "SpatialDropout3D", nn: "spatial_dropout3d", rules: &[Pos("rate", Kind::Float)] },
    LayerRow { class: "LeakyReLU", nn: "leaky_relu", rules: &[Arg("negative_slope", Kind::Float, "0.3")] },
    LayerRow { class: "ELU", nn: "elu", rules: &[Arg("alpha", Kind::Float, "1.0")] },
    LayerRow {
        class: "PReLU",
        nn: "prelu",
        rules: &[
            Arg("alpha_initializer", Kind::Initializer, "\"zeros\""),
            Arg("alpha_regularizer", Kind::Regularizer, "null"),
            Arg("shared_axes", Kind::Ints, "null"),
        ],
    },
];

/// Which extra rule groups a layer takes beyond its row.
fn groups(class: &str) -> &'static [&'static [Rule]] {
    match class {
        "Dense" | "Conv2D" | "Conv1D" => &[KERNEL, COMMON],
        "SimpleRNN" | "LSTM" | "GRU" => &[RECURRENT, COMMON],
        "BatchNormalization" | "LayerNormalization" | "GroupNormalization" => &[NORM, COMMON],
        _ => &[COMMON],
    }
}

pub fn row(class: &str) -> Option<&'static LayerRow> {
    LAYERS.iter().find(|r| r.class == class)
}

pub fn supported_classes() -> String {
    LAYERS.iter().map(|r| r.class).collect::<Vec<_>>().join(", ")
}

/// The `.nn` call for one layer: `dense(16, activation = relu)`, or the bare
/// name when every argument is a default (`flatten`). `where_` names the
/// layer in errors.
pub fn call_text(class: &str, config: &Value, where_: &str) -> Result<String, InteropError> {
    let row = row(class).ok_or_else(|| {
        err!("{where_}: nn has no layer for the Keras class `{class}`; nn imports: {}", supported_classes())
    })?;
    let empty = serde_json::Map::new();
    let config = config.as_object().unwrap_or(&empty);
    let all: Vec<&Rule> = row.rules.iter().chain(groups(class).iter().flat_map(|g| g.iter())).collect();
    let mut pos: Vec<String> = wrapped(class, config, where_)?.into_iter().collect();
    let mut named = Vec::new();
    for rule in &all {
        match rule {
            Pos(key, kind) => {
                let v = config.get(*key).ok_or_else(|| err!("{where_}: the config has no `{key}`"))?;
                pos.push(args::write(*kind, v, key).map_err(|e| err!("{where_}: {e}"))?);
            }
            Named(key, kind) => {
                let v = config.get(*key).ok_or_else(|| err!("{where_}: the config has no `{key}`"))?;
                named.push(format!("{key} = {}", args::write(*kind, v, key).map_err(|e| err!("{where_}: {e}"))?));
            }
            Arg(key, kind, default) => {
                let Some(v) = config.get(*key) else { continue };
                let default: Value = serde_json::from_str(default).expect("defaults in the table are JSON");
                if args::same(v, &default) || (v.is_null() && default.is_null()) {
                    continue;
                }
                let text = args::write(*kind, v, key).map_err(|e| err!("{where_}: {e}"))?;
                // Initializers compare by what they mean: Keras writes the
                // default `uniform` as a RandomUniform(-0.05, 0.05) object.
                if *kind == Kind::Initializer && args::write(*kind, &default, key).is_ok_and(|d| d == text) {
                    continue;
                }
                named.push(format!("{key} = {text}"));
            }
            Fixed(key, allowed, instead) => {
                let Some(v) = config.get(*key) else { continue };
                if !allowed.iter().any(|a| args::same(v, &serde_json::from_str(a).expect("table JSON"))) {
                    return Err(err!("{where_}: `{key} = {v}` is not supported: {instead}"));
                }
            }
            Ignore(_) => {}
        }
    }
    if matches!(class, "MaxPooling2D" | "AveragePooling2D" | "MaxPooling1D" | "AveragePooling1D") {
        if let Some(s) = pool_strides(config) {
            named.push(format!("strides = {}", args::write(Kind::Size, s, "strides")?));
        }
    }
    for key in config.keys() {
        let known = all.iter().any(|r| match r {
            Pos(k, _) | Named(k, _) | Arg(k, _, _) | Fixed(k, _, _) | Ignore(k) => *k == key.as_str(),
        });
        if !known {
            return Err(err!(
                "{where_}: the argument `{key} = {}` of `{class}` is not supported by nn's `{}`",
                config[key],
                row.nn
            ));
        }
    }
    let mut parts = pos;
    parts.extend(named);
    Ok(if parts.is_empty() { row.nn.to_string() } else { format!("{}({})", row.nn, parts.join(", ")) })
}

/// Keras writes a pooling layer's strides even when they are its pool size
/// (the default); written only when they differ.
fn pool_strides(config: &serde_json::Map<String, Value>) -> Option<&Value> {
    let strides = config.get("strides").filter(|s| !s.is_null())?;
    let pool = config.get("pool_size").cloned().unwrap_or(serde_json::json!([2, 2]));
    (!args::same(strides, &pool)).then_some(strides)
}

/// The `.nn` call of the layer a wrapper (`TimeDistributed`, `Bidirectional`)
/// holds, its first argument; `None` for other layers.
fn wrapped(class: &str, config: &serde_json::Map<String, Value>, where_: &str) -> Result<Option<String>, InteropError> {
    let allowed: &[&str] = match class {
        "TimeDistributed" => &["Dense"],
        "Bidirectional" => &["SimpleRNN", "LSTM", "GRU"],
        _ => return Ok(None),
    };
    let layer = config.get("layer").ok_or_else(|| err!("{where_}: the config has no wrapped `layer`"))?;
    let inner_class = args::class_name(layer).unwrap_or("?");
    if !allowed.contains(&inner_class) {
        return Err(err!(
            "{where_}: nn's `{}` wraps {} but this one wraps a `{inner_class}`",
            args::snake(class),
            allowed.join(", ")
        ));
    }
    let mut inner = layer.get("config").cloned().unwrap_or(Value::Null);
    let inner_where = format!("{where_}, its wrapped {inner_class}");
    if class == "Bidirectional" {
        // Keras sets this inside Bidirectional; nn does the same there.
        if let Some(map) = inner.as_object_mut() {
            map.remove("zero_output_for_mask");
        }
        if let Some(backward) = config.get("backward_layer").filter(|b| !b.is_null()) {
            let same = args::class_name(backward) == Some(inner_class)
                && mirrored(backward.get("config").unwrap_or(&Value::Null), &inner).is_some_and(|b| {
                    call_text(inner_class, &b, &inner_where).ok() == call_text(inner_class, &inner, &inner_where).ok()
                });
            if !same {
                return Err(err!(
                    "{where_}: its `backward_layer` is not a copy of the wrapped layer running backwards; \
                     nn's bidirectional always runs such a copy: remove `backward_layer` in Keras"
                ));
            }
        }
    }
    call_text(inner_class, &inner, &inner_where).map(Some)
}

/// `backward` with the direction of `forward` (and without
/// `zero_output_for_mask`), if the two run in opposite directions: a copy
/// of the forward layer then writes the same `.nn` call.
fn mirrored(backward: &Value, forward: &Value) -> Option<Value> {
    let dir = |v: &Value| v.get("go_backwards").and_then(Value::as_bool).unwrap_or(false);
    if dir(backward) == dir(forward) {
        return None;
    }
    let mut b = backward.as_object()?.clone();
    b.insert("go_backwards".into(), Value::Bool(dir(forward)));
    b.remove("zero_output_for_mask");
    Some(Value::Object(b))
}
