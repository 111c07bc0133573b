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
        "Dense" | "Conv2D" => &[KERNEL, COMMON],
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
    let mut pos = Vec::new();
    let mut named = Vec::new();
    for rule in &all {
        match rule {
            Pos(key, kind) => {
                let v = config.get(*key).ok_or_else(|| err!("{where_}: the config has no `{key}`"))?;
                pos.push(args::write(*kind, v, key).map_err(|e| err!("{where_}: {e}"))?);
            }
            Arg(key, kind, default) => {
                let Some(v) = config.get(*key) else { continue };
                let default: Value = serde_json::from_str(default).expect("defaults in the table are JSON");
                if args::same(v, &default) || (v.is_null() && default.is_null()) {
                    continue;
                }
                let text = args::write(*kind, v, key).map_err(|e| err!("{where_}: {e}"))?;
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
    if matches!(class, "MaxPooling2D" | "AveragePooling2D") {
        if let Some(s) = pool_strides(config) {
            named.push(format!("strides = {}", args::write(Kind::Size, s, "strides")?));
        }
    }
    for key in config.keys() {
        let known = all.iter().any(|r| match r {
            Pos(k, _) | Arg(k, _, _) | Fixed(k, _, _) | Ignore(k) => *k == key.as_str(),
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
