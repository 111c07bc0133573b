//! Built-in Keras layers: the registry of names and Keras classes, creating
//! instances from call arguments, and applying them to tensors.
//!
//! Adding a layer: a variant in [`LayerKind`], a row in [`BUILTINS`], a
//! `construct` arm that parses its Keras signature, and an `apply` arm that
//! emits primitive ops (see `lower/mod.rs` for the recipe).

mod activation_layers;
mod batch_norm;
mod conv;
mod conv1d;
mod dense;
mod embedding;
mod masks;
mod merge;
mod noise;
mod norm;
mod pool1d;
mod preprocess;
mod recurrent;
mod reshape;
mod sample_norm;
mod time_distributed;

pub use activation_layers::{PreluConfig, LAYER_ACTIVATIONS};
pub use batch_norm::BatchNormConfig;
pub use conv::{ConvConfig, PoolConfig};
pub use conv1d::Conv1dConfig;
pub use dense::DenseConfig;
pub use embedding::EmbeddingConfig;
pub use merge::MergeOp;
pub use noise::Noise;
pub use preprocess::NormalizationConfig;
pub use recurrent::{BidirectionalConfig, InitialState, RecurrentConfig};
pub use sample_norm::SampleNormConfig;

use super::activations::{self, Activation};
use super::args::{bind, opt, req, Param};
use super::errors::*;
use super::state::Lowerer;
use super::values::{self, ArgVal, Sv, Tensor, Value};
use crate::diag::{Diagnostic, Span};
use crate::ir::{Init, NodeId, Op, PoolKind, Regularizer, VarDecl, VarId, VarKind};

#[derive(Clone, Debug, PartialEq)]
pub enum LayerKind {
    Dense(DenseConfig),
    Conv2d(ConvConfig),
    Pool(PoolConfig),
    GlobalAveragePooling2d,
    Flatten,
    /// Per-sample target shape; at most one -1.
    Reshape(Vec<i64>),
    Dropout {
        rate: f64,
        key: u64,
    },
    Activation(Activation),
    Add,
    Concatenate {
        axis: i64,
    },
    BatchNormalization(BatchNormConfig),
    /// `layer_normalization` (no groups) and `group_normalization`.
    SampleNorm(SampleNormConfig),
    UnitNormalization {
        axis: i64,
    },
    Normalization(NormalizationConfig),
    Rescaling {
        scale: f64,
        offset: f64,
    },
    /// Gaussian noise, Gaussian/alpha/spatial dropout; `key` as for dropout.
    Noise {
        noise: Noise,
        key: u64,
    },
    LeakyRelu {
        negative_slope: f64,
    },
    Elu {
        alpha: f64,
    },
    Prelu(PreluConfig),
    Embedding(EmbeddingConfig),
    Conv1d(Conv1dConfig),
    /// `max_pooling1d` / `average_pooling1d` (the window's height is 1).
    Pool1d(PoolConfig),
    /// Global pooling over the time axis (`rank` 1) or over height and width (`rank` 2).
    GlobalPool {
        kind: PoolKind,
        rank: u8,
    },
    /// `multiply`, `subtract`, `average`, `maximum`, `minimum`.
    Merge(MergeOp),
    Dot {
        axes: (i64, i64),
        normalize: bool,
    },
    /// Keras's TimeDistributed around another instance.
    TimeDistributed {
        inner: usize,
    },
    /// `simple_rnn`, `lstm`, `gru`.
    Recurrent(RecurrentConfig),
    Bidirectional(BidirectionalConfig),
    /// A user-defined layer: the definition's name and its attribute values.
    Custom {
        def: String,
        attrs: Vec<(String, Sv)>,
    },
}

/// `.nn` name, Keras class, base of instance names.
pub const BUILTINS: &[(&str, &str, &str)] = &[
    ("dense", "Dense", "dense"),
    ("conv2d", "Conv2D", "conv2d"),
    ("max_pooling2d", "MaxPooling2D", "max_pooling2d"),
    ("max_pool2d", "MaxPooling2D", "max_pooling2d"),
    ("average_pooling2d", "AveragePooling2D", "average_pooling2d"),
    ("avg_pool2d", "AveragePooling2D", "average_pooling2d"),
    ("global_average_pooling2d", "GlobalAveragePooling2D", "global_average_pooling2d"),
    ("global_avg_pool2d", "GlobalAveragePooling2D", "global_average_pooling2d"),
    ("flatten", "Flatten", "flatten"),
    ("reshape", "Reshape", "reshape"),
    ("dropout", "Dropout", "dropout"),
    ("activation", "Activation", "activation"),
    ("add", "Add", "add"),
    ("concatenate", "Concatenate", "concatenate"),
    ("batch_normalization", "BatchNormalization", "batch_normalization"),
    ("layer_normalization", "LayerNormalization", "layer_normalization"),
    ("group_normalization", "GroupNormalization", "group_normalization"),
    ("unit_normalization", "UnitNormalization", "unit_normalization"),
    ("normalization", "Normalization", "normalization"),
    ("rescaling", "Rescaling", "rescaling"),
    ("gaussian_noise", "GaussianNoise", "gaussian_noise"),
    ("gaussian_dropout", "GaussianDropout", "gaussian_dropout"),
    ("alpha_dropout", "AlphaDropout", "alpha_dropout"),
    ("spatial_dropout1d", "SpatialDropout1D", "spatial_dropout1d"),
    ("spatial_dropout2d", "SpatialDropout2D", "spatial_dropout2d"),
    ("spatial_dropout3d", "SpatialDropout3D", "spatial_dropout3d"),
    ("leaky_relu", "LeakyReLU", "leaky_re_lu"),
    ("elu", "ELU", "elu"),
    ("prelu", "PReLU", "p_re_lu"),
    ("embedding", "Embedding", "embedding"),
    ("conv1d", "Conv1D", "conv1d"),
    ("max_pooling1d", "MaxPooling1D", "max_pooling1d"),
    ("max_pool1d", "MaxPooling1D", "max_pooling1d"),
    ("average_pooling1d", "AveragePooling1D", "average_pooling1d"),
    ("avg_pool1d", "AveragePooling1D", "average_pooling1d"),
    ("global_max_pooling1d", "GlobalMaxPooling1D", "global_max_pooling1d"),
    ("global_max_pool1d", "GlobalMaxPooling1D", "global_max_pooling1d"),
    ("global_average_pooling1d", "GlobalAveragePooling1D", "global_average_pooling1d"),
    ("global_avg_pool1d", "GlobalAveragePooling1D", "global_average_pooling1d"),
    ("global_max_pooling2d", "GlobalMaxPooling2D", "global_max_pooling2d"),
    ("global_max_pool2d", "GlobalMaxPooling2D", "global_max_pooling2d"),
    ("multiply", "Multiply", "multiply"),
    ("subtract", "Subtract", "subtract"),
    ("average", "Average", "average"),
    ("maximum", "Maximum", "maximum"),
    ("minimum", "Minimum", "minimum"),
    ("dot", "Dot", "dot"),
    ("time_distributed", "TimeDistributed", "time_distributed"),
    ("simple_rnn", "SimpleRNN", "simple_rnn"),
    ("lstm", "LSTM", "lstm"),
    ("gru", "GRU", "gru"),
    ("bidirectional", "Bidirectional", "bidirectional"),
];

/// The Keras class and instance-name base of a built-in layer name.
pub fn builtin(name: &str) -> Option<(&'static str, &'static str)> {
    BUILTINS.iter().find(|b| b.0 == name).map(|b| (b.1, b.2))
}

pub fn is_merge(name: &str) -> bool {
    matches!(name, "add" | "concatenate") || merge::is_merge(name)
}

impl LayerKind {
    pub fn class(&self) -> &str {
        match self {
            LayerKind::Dense(_) => "Dense",
            LayerKind::Conv2d(_) => "Conv2D",
            LayerKind::Pool(p) if p.kind == PoolKind::Max => "MaxPooling2D",
            LayerKind::Pool(_) => "AveragePooling2D",
            LayerKind::GlobalAveragePooling2d => "GlobalAveragePooling2D",
            LayerKind::Flatten => "Flatten",
            LayerKind::Reshape(_) => "Reshape",
            LayerKind::Dropout { .. } => "Dropout",
            LayerKind::Activation(_) => "Activation",
            LayerKind::Add => "Add",
            LayerKind::Concatenate { .. } => "Concatenate",
            LayerKind::BatchNormalization(_) => "BatchNormalization",
            LayerKind::SampleNorm(c) if c.groups.is_none() => "LayerNormalization",
            LayerKind::SampleNorm(_) => "GroupNormalization",
            LayerKind::UnitNormalization { .. } => "UnitNormalization",
            LayerKind::Normalization(_) => "Normalization",
            LayerKind::Rescaling { .. } => "Rescaling",
            LayerKind::Noise { noise, .. } => noise.class(),
            LayerKind::LeakyRelu { .. } => "LeakyReLU",
            LayerKind::Elu { .. } => "ELU",
            LayerKind::Prelu(_) => "PReLU",
            LayerKind::Embedding(_) => "Embedding",
            LayerKind::Conv1d(_) => "Conv1D",
            LayerKind::Pool1d(p) if p.kind == PoolKind::Max => "MaxPooling1D",
            LayerKind::Pool1d(_) => "AveragePooling1D",
            LayerKind::GlobalPool { kind: PoolKind::Max, rank: 1 } => "GlobalMaxPooling1D",
            LayerKind::GlobalPool { kind: PoolKind::Avg, rank: 1 } => "GlobalAveragePooling1D",
            LayerKind::GlobalPool { kind: PoolKind::Max, .. } => "GlobalMaxPooling2D",
            LayerKind::GlobalPool { .. } => "GlobalAveragePooling2D",
            LayerKind::Merge(op) => op.class(),
            LayerKind::Dot { .. } => "Dot",
            LayerKind::TimeDistributed { .. } => "TimeDistributed",
            LayerKind::Recurrent(cfg) => cfg.cell.class(),
            LayerKind::Bidirectional(_) => "Bidirectional",
            LayerKind::Custom { def, .. } => def,
        }
    }
}

/// One variable a layer needs: suffix (`kernel`), shape, init, penalty.
pub struct VarSpec {
    pub suffix: String,
    pub shape: Vec<usize>,
    pub init: Init,
    pub regularizer: Option<Regularizer>,
}

impl<'a> Lowerer<'a> {
    /// Creates an instance of the built-in layer `name` (at `span`).
    pub fn construct_builtin(&mut self, name: &str, args: &[ArgVal], span: Span) -> Result<usize, Diagnostic> {
        let (_, base) = builtin(name).expect("construct_builtin is only called for built-in names");
        if let Some(&inst) = self.scope().instance.and_then(|outer| self.sub_instances.get(&(outer, span.start))) {
            return Ok(inst);
        }
        let kind = match base {
            "dense" => LayerKind::Dense(self.dense_config(args, span)?),
            "conv2d" => LayerKind::Conv2d(self.conv_config(args, span)?),
            "max_pooling2d" => LayerKind::Pool(conv::pool_config(name, PoolKind::Max, args, span, &self.g)?),
            "average_pooling2d" => LayerKind::Pool(conv::pool_config(name, PoolKind::Avg, args, span, &self.g)?),
            "global_average_pooling2d" => {
                bind(name, &[], args, span)?;
                LayerKind::GlobalAveragePooling2d
            }
            "flatten" => {
                bind(name, &[], args, span)?;
                LayerKind::Flatten
            }
            "reshape" => {
                let b = bind(name, &[req("target_shape")], args, span)?;
                LayerKind::Reshape(reshape::target(b.get(0).expect("required"), &self.g)?)
            }
            "dropout" => {
                let b = bind(name, &[req("rate"), opt("seed")], args, span)?;
                let rate = values::number_in(
                    b.get(0).expect("required"),
                    "dropout rate",
                    "in [0, 1)",
                    |r| (0.0..1.0).contains(&r),
                    &self.g,
                )?;
                let key = self.dropout_keys;
                self.dropout_keys += 1;
                LayerKind::Dropout { rate, key }
            }
            "activation" => {
                let b = bind(name, &[Param { name: "activation", aliases: &["name"], required: true }], args, span)?;
                LayerKind::Activation(self.activation_arg(b.get(0).expect("required"))?)
            }
            "add" => {
                bind(name, &[], args, span)?;
                LayerKind::Add
            }
            "concatenate" => {
                let b = bind(name, &[opt("axis")], args, span)?;
                LayerKind::Concatenate {
                    axis: b.get(0).map(|v| values::int(v, "axis", &self.g)).transpose()?.unwrap_or(-1),
                }
            }
            "batch_normalization" => LayerKind::BatchNormalization(self.batch_norm_config(args, span)?),
            "layer_normalization" => LayerKind::SampleNorm(self.layer_norm_config(args, span)?),
            "group_normalization" => LayerKind::SampleNorm(self.group_norm_config(args, span)?),
            "unit_normalization" => LayerKind::UnitNormalization { axis: self.unit_norm_axis(args, span)? },
            "normalization" => LayerKind::Normalization(self.normalization_config(args, span)?),
            "rescaling" => {
                let (scale, offset) = self.rescaling_config(args, span)?;
                LayerKind::Rescaling { scale, offset }
            }
            "gaussian_noise" | "gaussian_dropout" | "alpha_dropout" | "spatial_dropout1d" | "spatial_dropout2d"
            | "spatial_dropout3d" => self.noise_kind(name, args, span)?,
            "leaky_re_lu" | "elu" => self.activation_layer_kind(name, args, span)?,
            "p_re_lu" => LayerKind::Prelu(self.prelu_config(args, span)?),
            "embedding" => LayerKind::Embedding(self.embedding_config(args, span)?),
            "conv1d" => LayerKind::Conv1d(self.conv1d_config(args, span)?),
            "max_pooling1d"
            | "average_pooling1d"
            | "global_max_pooling1d"
            | "global_average_pooling1d"
            | "global_max_pooling2d" => pool1d::kind(name, base, args, span, &self.g)?,
            "multiply" | "subtract" | "average" | "maximum" | "minimum" | "dot" => {
                merge::kind(name, base, args, span, &self.g)?
            }
            "time_distributed" => self.time_distributed_kind(args, span)?,
            "simple_rnn" | "lstm" | "gru" => LayerKind::Recurrent(self.recurrent_config(base, args, span)?),
            "bidirectional" => LayerKind::Bidirectional(self.bidirectional_config(args, span)?),
            other => unreachable!("BUILTINS lists `{other}` without a constructor"),
        };
        let inst = self.add_instance(base, kind, span);
        if let Some(outer) = self.scope().instance {
            self.sub_instances.insert((outer, span.start), inst);
        }
        Ok(inst)
    }

    /// An `activation = …` value: a built-in name, a configured activation,
    /// `none`, or a single-input custom layer.
    pub fn activation_arg(&mut self, sv: &Sv) -> Result<Activation, Diagnostic> {
        let name = match &sv.value {
            Value::Activation(a) => return Ok(a.clone()),
            Value::Symbol(n) | Value::Str(n) => n.clone(),
            Value::Call { name, .. } => name.clone(),
            other => {
                return Err(Diagnostic::error(
                    ARG_TYPE,
                    format!("activation expects an activation name but found {}", other.describe(&self.g)),
                    sv.span,
                )
                .with_label("expected a name such as `relu`"))
            }
        };
        if let Some(def) = self.defs.get(name.as_str()).copied() {
            if matches!(sv.value, Value::Symbol(_)) {
                let inst = self.construct_custom(def, &[], sv.span)?;
                return Ok(Activation::Custom { instance: inst, name });
            }
        }
        if let Some(a) = Activation::by_name(&name) {
            return Ok(a);
        }
        if name == "none" || name == "None" {
            return Ok(Activation::Linear);
        }
        let mut d = Diagnostic::error(UNKNOWN_ACTIVATION, format!("unknown activation `{name}`"), sv.span)
            .with_label("not an activation")
            .with_note(format!("activations: {}", activations::NAMES.join(", ")));
        let customs: Vec<&str> = self.defs.keys().copied().collect();
        if let Some(h) = suggest(&name, activations::NAMES.iter().copied().chain(customs)) {
            d = d.with_help(h);
        }
        Err(d)
    }

    /// Applies an activation (custom ones through their instance).
    pub fn apply_activation(&mut self, act: &Activation, x: &Tensor, span: Span) -> Result<NodeId, Diagnostic> {
        match act {
            Activation::Custom { instance, .. } => Ok(self.apply(*instance, &[(x.clone(), span)], span)?.id),
            other => {
                let label = self.g.origin().layer.clone().unwrap_or_else(|| other.name().to_string());
                activations::emit(&mut self.g, other, x.id).map_err(|e| shape_error(e, &label, span))
            }
        }
    }

    /// Applies instance `inst` to `inputs` (each with its source span), for
    /// one result: a layer that yields several (`return_state`) is an error
    /// here, as in Keras's sequential style.
    pub fn apply(&mut self, inst: usize, inputs: &[(Tensor, Span)], span: Span) -> Result<Tensor, Diagnostic> {
        let n = self.results_of(inst);
        if n > 1 {
            return Err(self.several_results(inst, n, span));
        }
        let mut out = self.apply_all(inst, inputs, None, span)?;
        Ok(out.swap_remove(0))
    }

    /// How many tensors one call of `inst` yields.
    pub fn results_of(&self, inst: usize) -> usize {
        match &self.instances[inst].kind {
            LayerKind::Recurrent(cfg) => recurrent::results(cfg, 1),
            LayerKind::Bidirectional(cfg) => recurrent::results(&cfg.layer, 2),
            _ => 1,
        }
    }

    /// A layer with several results where one tensor is expected.
    pub fn several_results(&self, inst: usize, n: usize, span: Span) -> Diagnostic {
        let name = &self.instances[inst].name;
        Diagnostic::error(RESULTS, format!("`{name}` yields {n} tensors (`return_state = true`), not one"), span)
            .with_label(format!("{n} results"))
            .with_note("a layer statement without a binding (sequential style) takes one tensor per layer")
            .with_help(format!(
                "use graph style and name every result: `{} = {}(…)(x)`",
                recurrent::result_names(&self.instances[inst].kind),
                recurrent::nn_name(&self.instances[inst].kind)
            ))
    }

    /// Applies instance `inst` to `inputs`; returns every result (one,
    /// except for recurrent layers with `return_state`). `initial_state`
    /// is the call's keyword argument of that name (recurrent layers only).
    pub fn apply_all(
        &mut self,
        inst: usize,
        inputs: &[(Tensor, Span)],
        initial_state: Option<&InitialState>,
        span: Span,
    ) -> Result<Vec<Tensor>, Diagnostic> {
        self.count_application(span)?;
        let kind = self.instances[inst].kind.clone();
        if let (Some(init), false) =
            (initial_state, matches!(kind, LayerKind::Recurrent(_) | LayerKind::Bidirectional(_)))
        {
            let name = &self.instances[inst].name;
            return Err(Diagnostic::error(
                UNKNOWN_ARGUMENT,
                format!("`{name}` takes no `initial_state`: only recurrent layers do"),
                init.span,
            )
            .with_label("not a recurrent layer"));
        }
        if let LayerKind::Custom { def, attrs } = &kind {
            return Ok(vec![self.apply_custom(inst, def, attrs, inputs, span)?]);
        }
        let name = self.instances[inst].name.clone();
        let class = kind.class().to_string();
        let merge = matches!(
            kind,
            LayerKind::Add | LayerKind::Concatenate { .. } | LayerKind::Merge(_) | LayerKind::Dot { .. }
        );
        if inputs.is_empty() || (!merge && inputs.len() != 1) {
            return Err(Diagnostic::error(
                ARITY,
                format!("`{name}` takes one input tensor but gets {}", inputs.len()),
                span,
            )
            .with_label(format!("{} inputs", inputs.len())));
        }
        self.origin(span, Some(name.clone()));
        self.float_inputs(&kind, &name, inputs, span)?;
        let x = &inputs[0].0;
        let outs = match &kind {
            LayerKind::Recurrent(cfg) => self.apply_recurrent(inst, cfg, x, initial_state, span)?,
            LayerKind::Bidirectional(cfg) => self.apply_bidirectional(inst, cfg, x, initial_state, span)?,
            _ => vec![self.apply_one(inst, &kind, &name, inputs, span)?],
        };
        self.pass_mask(&kind, inputs, outs[0]);
        let mut xs: Vec<Tensor> = inputs.iter().map(|(t, _)| t.clone()).collect();
        if let Some(init) = initial_state {
            xs.extend(init.tensors.iter().map(|(t, _)| t.clone()));
        }
        let sources = self.record_all(inst, &xs, &outs, &class);
        Ok(outs.into_iter().zip(sources).map(|(id, source)| Tensor { id, source }).collect())
    }

    /// The one result of a layer other than a recurrent one.
    fn apply_one(
        &mut self,
        inst: usize,
        kind: &LayerKind,
        name: &str,
        inputs: &[(Tensor, Span)],
        span: Span,
    ) -> Result<NodeId, Diagnostic> {
        let x = &inputs[0].0;
        Ok(match kind {
            LayerKind::Dense(cfg) => self.apply_dense(inst, cfg, x, span)?,
            LayerKind::Conv2d(cfg) => self.apply_conv(inst, cfg, x, span)?,
            LayerKind::Pool(cfg) => conv::apply_pool(&mut self.g, name, cfg, x, span)?,
            LayerKind::GlobalAveragePooling2d => conv::apply_global_pool(&mut self.g, name, x, span)?,
            LayerKind::Flatten => reshape::flatten(&mut self.g, name, x, span)?,
            LayerKind::Reshape(target) => reshape::reshape(&mut self.g, name, target, x, span)?,
            LayerKind::Dropout { rate, key } => self.apply_dropout(name, *rate, *key, x, span)?,
            LayerKind::Activation(act) => self.apply_activation(act, x, span)?,
            LayerKind::Add => merge::add(&mut self.g, name, inputs, span)?,
            LayerKind::Concatenate { axis } => merge::concatenate(&mut self.g, name, *axis, inputs, span)?,
            LayerKind::BatchNormalization(cfg) => self.apply_batch_norm(inst, cfg, x, span)?,
            LayerKind::SampleNorm(cfg) => self.apply_sample_norm(inst, cfg, x, span)?,
            LayerKind::UnitNormalization { axis } => sample_norm::unit_norm(&mut self.g, name, *axis, x, span)?,
            LayerKind::Normalization(cfg) => self.apply_normalization(inst, cfg, x, span)?,
            LayerKind::Rescaling { scale, offset } => preprocess::rescale(&mut self.g, name, *scale, *offset, x, span)?,
            LayerKind::Noise { noise, key } => self.apply_noise(name, *noise, *key, x, span)?,
            LayerKind::LeakyRelu { .. } | LayerKind::Elu { .. } => {
                let act = activation_layers::layer_activation(kind).expect("an activation layer");
                self.apply_activation(&act, x, span)?
            }
            LayerKind::Prelu(cfg) => self.apply_prelu(inst, cfg, x, span)?,
            LayerKind::Embedding(cfg) => self.apply_embedding(inst, cfg, x, span)?,
            LayerKind::Conv1d(cfg) => self.apply_conv1d(inst, cfg, x, span)?,
            LayerKind::Pool1d(cfg) => pool1d::pool(&mut self.g, name, cfg, x, span)?,
            LayerKind::GlobalPool { kind, rank } => self.apply_global_pool(name, *kind, *rank, x, span)?,
            LayerKind::Merge(op) => merge::elementwise(&mut self.g, name, *op, inputs, span)?,
            LayerKind::Dot { axes, normalize } => merge::dot(&mut self.g, name, *axes, *normalize, inputs, span)?,
            LayerKind::TimeDistributed { inner } => self.apply_time_distributed(inst, *inner, x, span)?,
            LayerKind::Recurrent(_) | LayerKind::Bidirectional(_) | LayerKind::Custom { .. } => {
                unreachable!("handled by apply_all")
            }
        })
    }

    fn apply_dropout(&mut self, name: &str, rate: f64, key: u64, x: &Tensor, span: Span) -> Result<NodeId, Diagnostic> {
        if self.mode == super::Mode::Infer || rate == 0.0 {
            return Ok(x.id);
        }
        let step = self.step_node();
        let op = Op::DropoutMask { rate, seed: self.seed, key };
        let mask = self.g.push(op, &[x.id, step]).map_err(|e| shape_error(e, name, span))?;
        self.g.mul(x.id, mask).map_err(|e| shape_error(e, name, span))
    }

    /// The variables of `inst`: created on its first application, checked
    /// against `specs` on later ones (a shared layer keeps its weights).
    pub fn layer_vars(&mut self, inst: usize, specs: Vec<VarSpec>, span: Span) -> Result<Vec<VarId>, Diagnostic> {
        let existing = self.instances[inst].vars.clone();
        if existing.is_empty() {
            let prefix = self.instances[inst].name.clone();
            let ids: Vec<VarId> = specs
                .into_iter()
                .map(|s| {
                    self.g.add_var(VarDecl {
                        name: format!("{prefix}/{}", s.suffix),
                        shape: s.shape,
                        init: s.init,
                        regularizer: s.regularizer,
                        kind: VarKind::Trainable,
                    })
                })
                .collect();
            self.instances[inst].vars = ids.clone();
            return Ok(ids);
        }
        for (id, spec) in existing.iter().zip(&specs) {
            let had = &self.g.var(*id).shape;
            if had != &spec.shape {
                let name = &self.instances[inst].name;
                return Err(Diagnostic::error(
                    SHARED_SHAPE,
                    format!(
                        "shared layer `{name}` was built with {} {:?} but this input needs {:?}",
                        spec.suffix, had, spec.shape
                    ),
                    span,
                )
                .with_label("input of a different size")
                .with_secondary(self.instances[inst].span, "layer created here")
                .with_help("a shared layer reuses its weights, so apply it only to inputs of the same size"));
            }
        }
        Ok(existing)
    }
}
