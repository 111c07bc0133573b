//! `simple_rnn`, `lstm`, `gru` and `bidirectional`: Keras 3's recurrent
//! layers, each lowered to one loop (`Op::Scan`), never unrolled.
//!
//! The input projection `x @ kernel + bias` of every time step is one
//! contraction before the loop (`[B, T, in] @ [in, gates * units]`); the
//! loop body holds only the recurrent contraction and the gates. Sequences
//! enter the loop time-major (`[T, B, …]`), so each step reads one
//! contiguous slice. A Keras mask (`Lowerer::masks`) becomes a per-step
//! input: at a padded step the state is carried unchanged and the output
//! repeats the previous one (zeros inside `bidirectional` with
//! `return_sequences`, as Keras forces `zero_output_for_mask` there).
//!
//! Dropout follows Keras's masks that stay fixed over the time steps: one
//! mask on the inputs and one on the recurrent state, drawn once per batch.
//! Keras draws one mask per gate when `recurrent_dropout` is set
//! (implementation 1); nn keeps one of each, which drops with the same rate.

use super::VarSpec;
use crate::diag::{Diagnostic, Span};
use crate::ir::{Dim, Graph, Init, InputRole, NodeId, Op, Regularizer, ScanBody, ScanResult, Shape, TensorType, VarId};
use crate::lower::activations::{self, Activation};
use crate::lower::args::{bind, opt, req, Param};
use crate::lower::errors::*;
use crate::lower::init;
use crate::lower::state::Lowerer;
use crate::lower::values::{self, ArgVal, Sv, Tensor, Value};
use crate::lower::Mode;
use crate::shape::ShapeError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    SimpleRnn,
    Lstm,
    /// Keras 3's default is `reset_after = true` (bias `[2, 3 * units]`).
    Gru {
        reset_after: bool,
    },
}

impl Cell {
    fn gates(self) -> usize {
        match self {
            Cell::SimpleRnn => 1,
            Cell::Lstm => 4,
            Cell::Gru { .. } => 3,
        }
    }

    pub fn class(self) -> &'static str {
        match self {
            Cell::SimpleRnn => "SimpleRNN",
            Cell::Lstm => "LSTM",
            Cell::Gru { .. } => "GRU",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct RecurrentConfig {
    pub cell: Cell,
    pub units: usize,
    pub activation: Activation,
    pub recurrent_activation: Activation,
    pub use_bias: bool,
    pub return_sequences: bool,
    /// The call yields the output, then the final states (`h`, and `c` for
    /// LSTM), as Keras's `return_state`.
    pub return_state: bool,
    pub go_backwards: bool,
    pub dropout: f64,
    pub recurrent_dropout: f64,
    pub kernel_initializer: Init,
    pub recurrent_initializer: Init,
    pub bias_initializer: Init,
    pub unit_forget_bias: bool,
    pub kernel_regularizer: Option<Regularizer>,
    pub recurrent_regularizer: Option<Regularizer>,
    pub bias_regularizer: Option<Regularizer>,
    /// Dropout keys: `key` for the inputs, `key + 1` for the state.
    pub key: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeMode {
    Concat,
    Sum,
    Ave,
    Mul,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BidirectionalConfig {
    pub layer: RecurrentConfig,
    /// The wrapped layer's name: weights are `forward_<name>/…` and
    /// `backward_<name>/…`.
    pub inner: String,
    pub merge_mode: MergeMode,
    /// Dropout keys of the backward copy.
    pub backward_key: u64,
}

const SIMPLE_RNN: &[Param] = &[
    req("units"),
    opt("activation"),
    opt("use_bias"),
    opt("kernel_initializer"),
    opt("recurrent_initializer"),
    opt("bias_initializer"),
    opt("kernel_regularizer"),
    opt("recurrent_regularizer"),
    opt("bias_regularizer"),
    opt("dropout"),
    opt("recurrent_dropout"),
    opt("return_sequences"),
    opt("return_state"),
    opt("go_backwards"),
    opt("stateful"),
    opt("unroll"),
    opt("seed"),
];

const LSTM: &[Param] = &[
    req("units"),
    opt("activation"),
    opt("recurrent_activation"),
    opt("use_bias"),
    opt("kernel_initializer"),
    opt("recurrent_initializer"),
    opt("bias_initializer"),
    opt("unit_forget_bias"),
    opt("kernel_regularizer"),
    opt("recurrent_regularizer"),
    opt("bias_regularizer"),
    opt("dropout"),
    opt("recurrent_dropout"),
    opt("return_sequences"),
    opt("return_state"),
    opt("go_backwards"),
    opt("stateful"),
    opt("unroll"),
    opt("seed"),
];

const GRU: &[Param] = &[
    req("units"),
    opt("activation"),
    opt("recurrent_activation"),
    opt("use_bias"),
    opt("kernel_initializer"),
    opt("recurrent_initializer"),
    opt("bias_initializer"),
    opt("kernel_regularizer"),
    opt("recurrent_regularizer"),
    opt("bias_regularizer"),
    opt("dropout"),
    opt("recurrent_dropout"),
    opt("return_sequences"),
    opt("return_state"),
    opt("go_backwards"),
    opt("stateful"),
    opt("unroll"),
    opt("reset_after"),
    opt("seed"),
];

/// How one direction of a layer runs.
struct Direction {
    reverse: bool,
    /// Reverse the stacked outputs' time axis (Keras returns a backwards
    /// layer's sequence in processing order).
    flip: bool,
    zero_output_for_mask: bool,
    key: u64,
}

impl<'a> Lowerer<'a> {
    pub(super) fn recurrent_config(
        &mut self,
        base: &str,
        args: &[ArgVal],
        span: Span,
    ) -> Result<RecurrentConfig, Diagnostic> {
        let (cell, params) = match base {
            "simple_rnn" => (Cell::SimpleRnn, SIMPLE_RNN),
            "lstm" => (Cell::Lstm, LSTM),
            _ => (Cell::Gru { reset_after: true }, GRU),
        };
        let b = bind(base, params, args, span)?;
        let get = |name: &str| params.iter().position(|p| p.name == name).and_then(|i| b.get(i));
        let activation = self.cell_activation(get("activation"), Activation::Tanh)?;
        let recurrent_activation = self.cell_activation(get("recurrent_activation"), Activation::Sigmoid)?;
        let key = self.dropout_keys;
        self.dropout_keys += 2;
        let g = &self.g;
        let flag = |name: &str, default: bool| {
            get(name).map(|v| values::boolean(v, name, g)).transpose().map(|v| v.unwrap_or(default))
        };
        let rate = |name: &str| {
            get(name)
                .map(|v| values::number_in(v, name, "in [0, 1)", |r| (0.0..1.0).contains(&r), g))
                .transpose()
                .map(|v| v.unwrap_or(0.0))
        };
        let initializer = |name: &str, default: Init| {
            get(name).map(|v| init::initializer(v, name, g)).transpose().map(|v| v.unwrap_or(default))
        };
        let regularizer =
            |name: &str| get(name).map(|v| init::regularizer(v, name, g)).transpose().map(Option::flatten);
        let units = values::positive(get("units").expect("required"), &format!("{base} units"), g)?;
        for (name, why) in [("stateful", "nn does not keep state between batches")] {
            if flag(name, false)? {
                let sv = get(name).expect("set");
                return Err(Diagnostic::error(ARG_RANGE, format!("`{name} = true` is not supported"), sv.span)
                    .with_label("not supported")
                    .with_note(why.to_string())
                    .with_help(format!("remove `{name}`")));
            }
        }
        // Unrolling changes how Keras runs the loop, not what it computes.
        flag("unroll", false)?;
        let cell = match cell {
            Cell::Gru { .. } => Cell::Gru { reset_after: flag("reset_after", true)? },
            other => other,
        };
        Ok(RecurrentConfig {
            cell,
            units,
            activation,
            recurrent_activation,
            use_bias: flag("use_bias", true)?,
            return_sequences: flag("return_sequences", false)?,
            return_state: flag("return_state", false)?,
            go_backwards: flag("go_backwards", false)?,
            dropout: rate("dropout")?,
            recurrent_dropout: rate("recurrent_dropout")?,
            kernel_initializer: initializer("kernel_initializer", Init::GlorotUniform)?,
            recurrent_initializer: initializer("recurrent_initializer", Init::Orthogonal { gain: 1.0 })?,
            bias_initializer: initializer("bias_initializer", Init::Zeros)?,
            unit_forget_bias: flag("unit_forget_bias", true)?,
            kernel_regularizer: regularizer("kernel_regularizer")?,
            recurrent_regularizer: regularizer("recurrent_regularizer")?,
            bias_regularizer: regularizer("bias_regularizer")?,
            key,
        })
    }

    /// Built-in activations only: the loop body is a graph of its own, which
    /// a custom layer cannot be expanded into.
    fn cell_activation(&mut self, sv: Option<&Sv>, default: Activation) -> Result<Activation, Diagnostic> {
        let Some(sv) = sv else { return Ok(default) };
        match self.activation_arg(sv)? {
            Activation::Custom { name, .. } => Err(Diagnostic::error(
                ARG_TYPE,
                format!("recurrent layers take a built-in activation, not the custom layer `{name}`"),
                sv.span,
            )
            .with_label("custom layer")
            .with_note(format!("activations: {}", activations::NAMES.join(", ")))),
            a => Ok(a),
        }
    }

    pub(super) fn bidirectional_config(
        &mut self,
        args: &[ArgVal],
        span: Span,
    ) -> Result<BidirectionalConfig, Diagnostic> {
        let b = bind("bidirectional", &[req("layer"), opt("merge_mode"), opt("backward_layer")], args, span)?;
        let sv = b.get(0).expect("required");
        let wrapped = match &sv.value {
            Value::Layer(inst) => match &self.instances[*inst].kind {
                super::LayerKind::Recurrent(cfg) => Some((cfg.clone(), self.instances[*inst].name.clone())),
                _ => None,
            },
            _ => None,
        };
        let Some((layer, inner)) = wrapped else {
            return Err(Diagnostic::error(
                ARG_TYPE,
                format!("bidirectional wraps a recurrent layer but got {}", sv.value.describe(&self.g)),
                sv.span,
            )
            .with_label("expected `lstm(…)`, `gru(…)` or `simple_rnn(…)`")
            .with_help("write `bidirectional(lstm(32))`"));
        };
        if let Some(v) = b.get(2) {
            return Err(Diagnostic::error(ARG_RANGE, "`backward_layer` is not supported", v.span)
                .with_label("not supported")
                .with_help("remove it: the backward layer is a copy of the wrapped layer running backwards"));
        }
        let merge_mode = match b.get(1) {
            None => MergeMode::Concat,
            Some(v) => match values::name(v, "merge_mode", &self.g)?.as_str() {
                "concat" => MergeMode::Concat,
                "sum" => MergeMode::Sum,
                "ave" => MergeMode::Ave,
                "mul" => MergeMode::Mul,
                other => {
                    return Err(Diagnostic::error(ARG_RANGE, format!("unknown merge_mode `{other}`"), v.span)
                        .with_label("not a merge mode")
                        .with_note("merge modes: concat, sum, ave, mul (nn merges the two directions, so not none)"))
                }
            },
        };
        let backward_key = self.dropout_keys;
        self.dropout_keys += 2;
        Ok(BidirectionalConfig { layer, inner, merge_mode, backward_key })
    }

    /// The layer's results: the output, then (with `return_state`) the
    /// final states.
    pub(super) fn apply_recurrent(
        &mut self,
        inst: usize,
        cfg: &RecurrentConfig,
        x: &Tensor,
        initial_state: Option<&InitialState>,
        span: Span,
    ) -> Result<Vec<NodeId>, Diagnostic> {
        let name = self.instances[inst].name.clone();
        let (_, features) = self.sequence_dims(&name, x.id, span)?;
        let init = self.initial_states(&name, cfg, 1, initial_state)?;
        let vars = self.layer_vars(inst, var_specs(cfg, features, ""), span)?;
        let dir =
            Direction { reverse: cfg.go_backwards, flip: cfg.go_backwards, zero_output_for_mask: false, key: cfg.key };
        let (out, states) =
            self.run_layer(cfg, &vars, x.id, init.as_deref(), &dir).map_err(|e| shape_error(e, &name, span))?;
        self.pass_sequence_mask(cfg, x.id, out);
        let mut results = vec![out];
        if cfg.return_state {
            results.extend(states);
        }
        Ok(results)
    }

    /// The merged output, then (with `return_state`) the forward layer's
    /// final states and the backward layer's, in Keras's order.
    pub(super) fn apply_bidirectional(
        &mut self,
        inst: usize,
        cfg: &BidirectionalConfig,
        x: &Tensor,
        initial_state: Option<&InitialState>,
        span: Span,
    ) -> Result<Vec<NodeId>, Diagnostic> {
        let name = self.instances[inst].name.clone();
        let (_, features) = self.sequence_dims(&name, x.id, span)?;
        let layer = &cfg.layer;
        let init = self.initial_states(&name, layer, 2, initial_state)?;
        let mut specs = var_specs(layer, features, &format!("forward_{}/", cfg.inner));
        let per_direction = specs.len();
        specs.extend(var_specs(layer, features, &format!("backward_{}/", cfg.inner)));
        let vars = self.layer_vars(inst, specs, span)?;
        let err = |e| shape_error(e, &name, span);
        let zero = layer.return_sequences;
        let forward = Direction {
            reverse: layer.go_backwards,
            flip: layer.go_backwards,
            zero_output_for_mask: zero,
            key: layer.key,
        };
        // Keras flips the backward layer's sequence back into input order;
        // the loop already stacks outputs by input position.
        let backward = Direction {
            reverse: !layer.go_backwards,
            flip: layer.go_backwards,
            zero_output_for_mask: zero,
            key: cfg.backward_key,
        };
        // Keras hands the first half of `initial_state` to the forward layer.
        let (init_f, init_b) = match &init {
            Some(all) => {
                let (f, b) = all.split_at(all.len() / 2);
                (Some(f), Some(b))
            }
            None => (None, None),
        };
        let (f, f_states) = self.run_layer(layer, &vars[..per_direction], x.id, init_f, &forward).map_err(err)?;
        let (b, b_states) = self.run_layer(layer, &vars[per_direction..], x.id, init_b, &backward).map_err(err)?;
        let g = &mut self.g;
        let out = match cfg.merge_mode {
            MergeMode::Concat => {
                let axis = g.shape(f).rank() - 1;
                g.push(Op::Concat { axis }, &[f, b])
            }
            MergeMode::Sum => g.add(f, b),
            MergeMode::Mul => g.mul(f, b),
            MergeMode::Ave => {
                let s = g.add(f, b).map_err(err)?;
                let half = g.scalar(0.5);
                g.mul(s, half)
            }
        }
        .map_err(err)?;
        self.pass_sequence_mask(layer, x.id, out);
        let mut results = vec![out];
        if layer.return_state {
            results.extend(f_states);
            results.extend(b_states);
        }
        Ok(results)
    }

    /// The `initial_state` of a call, checked: `directions` times the cell's
    /// states, each `[units]` float per sample. `None` when not given.
    fn initial_states(
        &self,
        name: &str,
        cfg: &RecurrentConfig,
        directions: usize,
        given: Option<&InitialState>,
    ) -> Result<Option<Vec<NodeId>>, Diagnostic> {
        let Some(init) = given else { return Ok(None) };
        let want = directions * states(cfg);
        let names = state_names(cfg, directions);
        let got = init.tensors.len();
        if got != want {
            let plural = |n: usize| if n == 1 { "state" } else { "states" };
            return Err(Diagnostic::error(
                ARITY,
                format!("`{name}` takes {want} initial {} ({}) but gets {got}", plural(want), names.join(", ")),
                init.span,
            )
            .with_label(format!("{got} {}", plural(got)))
            .with_note(format!("each state has shape [{}] per sample (the layer's units)", cfg.units))
            .with_help(format!("pass `initial_state = [{}]`", names.join(", "))));
        }
        let mut ids = Vec::with_capacity(want);
        for (i, (t, span)) in init.tensors.iter().enumerate() {
            let ty = self.g.ty(t.id);
            let ok = matches!(ty.shape.dims(), [Dim::Batch, Dim::Known(u)] if *u == cfg.units);
            if !ok {
                return Err(Diagnostic::error(
                    RANK,
                    format!(
                        "initial state `{}` of `{name}` must have shape [{}] per sample but has shape {}",
                        names[i],
                        cfg.units,
                        per_sample(&ty.shape)
                    ),
                    *span,
                )
                .with_label(format!("shape {}", per_sample(&ty.shape)))
                .with_note(format!("`{name}` has {} units, so each of its states is [{}]", cfg.units, cfg.units))
                .with_help("pass the states of a recurrent layer with as many units, or project with `dense(…)`"));
            }
            if ty.dtype != crate::ir::DType::F32 {
                return Err(Diagnostic::error(
                    DTYPE,
                    format!("initial state `{}` of `{name}` must be float but is int", names[i]),
                    *span,
                )
                .with_label("int tensor"));
            }
            ids.push(t.id);
        }
        Ok(Some(ids))
    }

    /// Keras passes the input's mask on when the layer returns sequences.
    fn pass_sequence_mask(&mut self, cfg: &RecurrentConfig, x: NodeId, out: NodeId) {
        if cfg.return_sequences {
            if let Some(&m) = self.masks.get(&x) {
                self.masks.insert(out, m);
            }
        }
    }

    /// `(timesteps, features)` of a `[B, T, features]` input.
    fn sequence_dims(&self, name: &str, x: NodeId, span: Span) -> Result<(usize, usize), Diagnostic> {
        let shape = self.g.shape(x);
        match shape.dims() {
            [Dim::Batch, Dim::Known(t), Dim::Known(f)] if self.g.ty(x).dtype == crate::ir::DType::F32 => Ok((*t, *f)),
            _ => {
                let mut d = Diagnostic::error(
                    RANK,
                    format!(
                        "{name} expects a sequence [timesteps, features] per sample but gets {}",
                        per_sample(shape)
                    ),
                    span,
                )
                .with_label(format!("this input has shape {}", per_sample(shape)));
                d = if shape.rank() == 2 {
                    d.with_help(
                        "give each time step a feature axis, e.g. `input x: [200, 1]`, or add `embedding(…)` before it",
                    )
                } else {
                    d.with_help("recurrent layers read `[timesteps, features]` per sample, e.g. `input x: [200, 8]`")
                };
                Err(d)
            }
        }
    }

    /// One direction of a recurrent layer over `x` `[B, T, in]` from the
    /// states `init` (zeros if `None`): the batched input projection, the
    /// loop, and the result (`[B, T, units]` with `return_sequences`, else
    /// `[B, units]`) with the final states (siblings of the same loop).
    fn run_layer(
        &mut self,
        cfg: &RecurrentConfig,
        vars: &[VarId],
        x: NodeId,
        init: Option<&[NodeId]>,
        dir: &Direction,
    ) -> Result<(NodeId, Vec<NodeId>), ShapeError> {
        let train = self.mode == Mode::Train;
        let mask = self.masks.get(&x).copied();
        let step =
            if train && (cfg.dropout > 0.0 || cfg.recurrent_dropout > 0.0) { Some(self.step_node()) } else { None };
        let seed = self.seed;
        let g = &mut self.g;
        let steps = match g.shape(x).dims() {
            [_, Dim::Known(t), _] => *t,
            _ => return Err(ShapeError::Invalid { op: "scan", detail: "expected a [B, T, features] input".into() }),
        };
        let u = cfg.units;
        let mut input = x;
        if let (Some(step), true) = (step, cfg.dropout > 0.0) {
            // One mask per sample and feature, the same at every step.
            let first = g.push(Op::Slice { axis: 1, start: 0, end: 1 }, &[x])?;
            let m = g.push(Op::DropoutMask { rate: cfg.dropout, seed, key: dir.key }, &[first, step])?;
            input = g.mul(x, m)?;
        }
        let kernel = g.var_node(vars[0]);
        let recurrent = g.var_node(vars[1]);
        let mut projected = g.matmul(input, kernel)?;
        let mut recurrent_bias = None;
        if let Some(&b) = vars.get(2) {
            let bias = g.var_node(b);
            let input_bias = match cfg.cell {
                Cell::Gru { reset_after: true } => {
                    let row = |g: &mut Graph, i: usize| -> Result<NodeId, ShapeError> {
                        let r = g.push(Op::Slice { axis: 0, start: i, end: i + 1 }, &[bias])?;
                        g.reshape(r, Shape::known(&[3 * u]))
                    };
                    recurrent_bias = Some(row(g, 1)?);
                    row(g, 0)?
                }
                _ => bias,
            };
            projected = g.add(projected, input_bias)?;
        }
        let gates = cfg.cell.gates() * u;
        let time_major = g.push(Op::Transpose(vec![1, 0, 2]), &[projected])?;
        let state_shape = Shape::batched(&[u]);
        let state_mask = match (step, cfg.recurrent_dropout > 0.0) {
            (Some(step), true) => {
                let like = g.constant(0.0, state_shape.clone());
                Some(g.push(Op::DropoutMask { rate: cfg.recurrent_dropout, seed, key: dir.key + 1 }, &[like, step])?)
            }
            _ => None,
        };
        let step_mask = match mask {
            Some(m) => {
                let t = g.push(Op::Transpose(vec![1, 0]), &[m])?;
                Some(g.reshape(t, Shape(vec![Dim::Known(steps), Dim::Batch, Dim::Known(1)]))?)
            }
            None => None,
        };

        let body = cell_body(cfg, gates, step_mask.is_some(), recurrent_bias.is_some(), state_mask.is_some(), dir)?;
        let mut args = match init {
            Some(states) => states.to_vec(),
            None => vec![g.constant(0.0, state_shape); states(cfg)],
        };
        args.push(time_major);
        args.extend(step_mask);
        args.push(recurrent);
        args.extend(recurrent_bias);
        args.extend(state_mask);
        let finals = if cfg.return_state { states(cfg) } else { 0 };
        let finals = (0..finals)
            .map(|k| g.scan(&body, steps, dir.reverse, &args, ScanResult::Final(k)))
            .collect::<Result<_, _>>()?;
        if !cfg.return_sequences {
            return Ok((g.scan(&body, steps, dir.reverse, &args, ScanResult::Final(0))?, finals));
        }
        let stacked = g.scan(&body, steps, dir.reverse, &args, ScanResult::Stacked(0))?;
        let batch_major = g.push(Op::Transpose(vec![1, 0, 2]), &[stacked])?;
        if !dir.flip {
            return Ok((batch_major, finals));
        }
        let parts = (0..steps)
            .rev()
            .map(|t| g.push(Op::Slice { axis: 1, start: t, end: t + 1 }, &[batch_major]))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((g.push(Op::Concat { axis: 1 }, &parts)?, finals))
    }
}

/// The `initial_state` keyword of a layer call: the tensors of its list
/// (each with its span) and the argument's span.
#[derive(Clone, Debug)]
pub struct InitialState {
    pub tensors: Vec<(Tensor, Span)>,
    pub span: Span,
}

/// The number of states the cell carries: `h`, and `c` for LSTM.
fn states(cfg: &RecurrentConfig) -> usize {
    if cfg.cell == Cell::Lstm {
        2
    } else {
        1
    }
}

/// The states' names in Keras's order, per direction (`forward_h`, …).
fn state_names(cfg: &RecurrentConfig, directions: usize) -> Vec<String> {
    let cell: &[&str] = if cfg.cell == Cell::Lstm { &["h", "c"] } else { &["h"] };
    match directions {
        1 => cell.iter().map(|s| s.to_string()).collect(),
        _ => ["forward", "backward"].iter().flat_map(|d| cell.iter().map(move |s| format!("{d}_{s}"))).collect(),
    }
}

/// The number of tensors one call yields over `directions` directions.
pub(super) fn results(cfg: &RecurrentConfig, directions: usize) -> usize {
    1 + if cfg.return_state { directions * states(cfg) } else { 0 }
}

/// Names for a binding of every result of a layer of `kind`:
/// `seq, h, c`.
pub(super) fn result_names(kind: &super::LayerKind) -> String {
    let (cfg, directions) = match kind {
        super::LayerKind::Recurrent(cfg) => (cfg, 1),
        super::LayerKind::Bidirectional(b) => (&b.layer, 2),
        _ => return "y".into(),
    };
    let out = if cfg.return_sequences { "seq" } else { "out" };
    let mut names = vec![out.to_string()];
    if cfg.return_state {
        names.extend(state_names(cfg, directions));
    }
    names.join(", ")
}

/// How the layer of `kind` is written in nn (`lstm`, `bidirectional`).
pub(super) fn nn_name(kind: &super::LayerKind) -> &'static str {
    match kind {
        super::LayerKind::Recurrent(cfg) => match cfg.cell {
            Cell::SimpleRnn => "simple_rnn",
            Cell::Lstm => "lstm",
            Cell::Gru { .. } => "gru",
        },
        super::LayerKind::Bidirectional(_) => "bidirectional",
        _ => "layer",
    }
}

/// The layer's variables, Keras's names and shapes, under `prefix`.
fn var_specs(cfg: &RecurrentConfig, features: usize, prefix: &str) -> Vec<VarSpec> {
    let u = cfg.units;
    let gates = cfg.cell.gates() * u;
    let mut specs = vec![
        VarSpec {
            suffix: format!("{prefix}kernel"),
            shape: vec![features, gates],
            init: cfg.kernel_initializer.clone(),
            regularizer: cfg.kernel_regularizer,
        },
        VarSpec {
            suffix: format!("{prefix}recurrent_kernel"),
            shape: vec![u, gates],
            init: cfg.recurrent_initializer.clone(),
            regularizer: cfg.recurrent_regularizer,
        },
    ];
    if cfg.use_bias {
        let (shape, init) = match cfg.cell {
            Cell::Lstm if cfg.unit_forget_bias => {
                (vec![gates], Init::UnitForgetBias(Box::new(cfg.bias_initializer.clone())))
            }
            Cell::Gru { reset_after: true } => (vec![2, gates], cfg.bias_initializer.clone()),
            _ => (vec![gates], cfg.bias_initializer.clone()),
        };
        specs.push(VarSpec { suffix: format!("{prefix}bias"), shape, init, regularizer: cfg.bias_regularizer });
    }
    specs
}

/// The loop body of one step. Inputs: the state (`h`, and `c` for LSTM),
/// the step's projected input `[B, gates]` (and its mask `[B, 1]`), the
/// recurrent kernel (the GRU's recurrent bias, the state's dropout mask).
/// Outputs: the new state, then the step's output when the layer returns
/// sequences.
fn cell_body(
    cfg: &RecurrentConfig,
    gates: usize,
    masked: bool,
    has_recurrent_bias: bool,
    state_dropout: bool,
    dir: &Direction,
) -> Result<std::sync::Arc<ScanBody>, ShapeError> {
    let u = cfg.units;
    let mut g = Graph::new();
    let f32 = |s: Shape| TensorType::f32(s);
    let state = Shape::batched(&[u]);
    let h = g.add_input("h", f32(state.clone()), InputRole::Feature);
    let c = (cfg.cell == Cell::Lstm).then(|| g.add_input("c", f32(state.clone()), InputRole::Feature));
    let xt = g.add_input("x_proj", f32(Shape::batched(&[gates])), InputRole::Feature);
    let m = masked.then(|| g.add_input("mask", f32(Shape::batched(&[1])), InputRole::Feature));
    let kernel = g.add_input("recurrent_kernel", f32(Shape::known(&[u, gates])), InputRole::Feature);
    let rbias =
        has_recurrent_bias.then(|| g.add_input("recurrent_bias", f32(Shape::known(&[gates])), InputRole::Feature));
    let drop = state_dropout.then(|| g.add_input("state_dropout", f32(state.clone()), InputRole::Feature));

    let act = |g: &mut Graph, a: &Activation, x: NodeId| activations::emit(g, a, x);
    let part = |g: &mut Graph, x: NodeId, i: usize| g.push(Op::Slice { axis: 1, start: i * u, end: (i + 1) * u }, &[x]);
    let hd = match drop {
        Some(d) => g.mul(h, d)?,
        None => h,
    };
    let (h_new, c_new) = match cfg.cell {
        Cell::SimpleRnn => {
            let r = g.matmul(hd, kernel)?;
            let z = g.add(xt, r)?;
            (act(&mut g, &cfg.activation, z)?, None)
        }
        Cell::Lstm => {
            let r = g.matmul(hd, kernel)?;
            let z = g.add(xt, r)?;
            let zi = part(&mut g, z, 0)?;
            let i = act(&mut g, &cfg.recurrent_activation, zi)?;
            let zf = part(&mut g, z, 1)?;
            let f = act(&mut g, &cfg.recurrent_activation, zf)?;
            let zc = part(&mut g, z, 2)?;
            let cand = act(&mut g, &cfg.activation, zc)?;
            let zo = part(&mut g, z, 3)?;
            let o = act(&mut g, &cfg.recurrent_activation, zo)?;
            let fc = g.mul(f, c.expect("lstm has c"))?;
            let ic = g.mul(i, cand)?;
            let c2 = g.add(fc, ic)?;
            let ac = act(&mut g, &cfg.activation, c2)?;
            (g.mul(o, ac)?, Some(c2))
        }
        Cell::Gru { reset_after } => {
            let (xz, xr, xh) = (part(&mut g, xt, 0)?, part(&mut g, xt, 1)?, part(&mut g, xt, 2)?);
            let (rz, rr, rh) = if reset_after {
                let mut inner = g.matmul(hd, kernel)?;
                if let Some(b) = rbias {
                    inner = g.add(inner, b)?;
                }
                (part(&mut g, inner, 0)?, part(&mut g, inner, 1)?, Some(part(&mut g, inner, 2)?))
            } else {
                let k_zr = g.push(Op::Slice { axis: 1, start: 0, end: 2 * u }, &[kernel])?;
                let inner = g.matmul(hd, k_zr)?;
                (part(&mut g, inner, 0)?, part(&mut g, inner, 1)?, None)
            };
            let sz = g.add(xz, rz)?;
            let z = act(&mut g, &cfg.recurrent_activation, sz)?;
            let sr = g.add(xr, rr)?;
            let r = act(&mut g, &cfg.recurrent_activation, sr)?;
            let rec_h = match rh {
                Some(rh) => g.mul(r, rh)?,
                None => {
                    let k_h = g.push(Op::Slice { axis: 1, start: 2 * u, end: 3 * u }, &[kernel])?;
                    let rhd = g.mul(r, hd)?;
                    g.matmul(rhd, k_h)?
                }
            };
            let sh = g.add(xh, rec_h)?;
            let hh = act(&mut g, &cfg.activation, sh)?;
            // h' = z * h + (1 - z) * hh
            let zh = g.mul(z, h)?;
            let one = g.scalar(1.0);
            let nz = g.sub(one, z)?;
            let nzh = g.mul(nz, hh)?;
            (g.add(zh, nzh)?, None)
        }
    };
    // At a padded step the state stays and the output repeats it (or is 0).
    let keep = |g: &mut Graph, new: NodeId, old: NodeId| match m {
        Some(m) => g.push(Op::Select, &[m, new, old]),
        None => Ok(new),
    };
    let h2 = keep(&mut g, h_new, h)?;
    g.outputs.push(("h".into(), h2));
    if let (Some(c_new), Some(c)) = (c_new, c) {
        let c2 = keep(&mut g, c_new, c)?;
        g.outputs.push(("c".into(), c2));
    }
    if cfg.return_sequences {
        let y = match (m, dir.zero_output_for_mask) {
            (Some(m), true) => {
                let zero = g.scalar(0.0);
                g.push(Op::Select, &[m, h_new, zero])?
            }
            _ => h2,
        };
        g.outputs.push(("y".into(), y));
    }
    let carries = if cfg.cell == Cell::Lstm { 2 } else { 1 };
    ScanBody::new(g, carries, 1 + usize::from(masked))
}

#[cfg(test)]
#[path = "recurrent_mask_tests.rs"]
mod mask_tests;
