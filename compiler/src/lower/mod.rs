//! AST → IR. Resolves names, expands layers into primitive ops, checks every
//! shape, and reports user errors as spanned diagnostics with fix hints.
//!
//! Architecture invariants:
//! - This is the only stage that reports errors about user models. Later
//!   stages only see well-typed graphs; a failure there is a compiler bug.
//! - Lowering the same model in `Mode::Train` and `Mode::Infer` yields the
//!   same variables in the same order (same names, shapes, initializers), so
//!   weights trained with one graph run in the other.
//! - Lowering never panics on any AST; every problem is a [`Diagnostic`]
//!   (codes `E0100`.., warnings `W0100`.., listed in `errors.rs`).
//!
//! Code map: `state.rs` (graph, instances, Keras names, scopes), `expr.rs`
//! (evaluation and tensor math), `stmt.rs` (statements, models, outputs),
//! `layers/` (built-in layers), `activations.rs`, `init.rs` (initializers,
//! regularizers), `custom.rs` (user-defined layers), `train_block.rs` (with
//! `train_optimizer.rs`, `train_loss.rs`, `train_metric.rs`, `train_schedule.rs`),
//! `args.rs` (Keras signatures), `values.rs` (lowering-time values).
//!
//! Summary rows: layers appear in order of first application, named as Keras
//! names them (`dense`, `dense_1`, per class; custom layers after their
//! definition). Models with an `output` statement (functional style) also
//! list each input as an `InputLayer` row, as Keras's functional summaries
//! do; sequential models do not.
//!
//! Adding a layer (embedding, lstm, gru): add a `LayerKind` variant and a
//! `BUILTINS` row in `layers/mod.rs`, parse its Keras signature in
//! `construct_builtin` (an `args::Param` list), and emit its ops in
//! `Lowerer::apply` from a new `layers/<name>.rs`, creating weights through
//! `layer_vars` so sharing and naming work unchanged (`layers/embedding.rs`
//! is a small complete example: an `int` input, `Op::Gather` on an
//! `[input_dim, output_dim]` table, and a mask for `mask_zero`); `lstm`/`gru` unroll over the known time axis with `Slice`/`Concat`
//! and `kernel`/`recurrent_kernel`/`bias` vars.
//!
//! The model's own updates: `batch_normalization` (`layers/batch_norm.rs`)
//! branches on `self.mode` (batch statistics in Train, moving averages in
//! Infer) and declares `moving_mean`/`moving_variance` as
//! `VarKind::NonTrainable` in both modes (same vars). In Train mode it also
//! records their new values in `graph.updates` (`Lowerer::update_var`), the
//! only updates lowering makes; Infer graphs have none. The training step
//! keeps them (`train/step.rs`), so the compiled step applies them, and
//! nothing else (not the optimizer, not the runtime) changes these
//! variables. `normalization`'s non-trainable `mean`/`variance`/`count` are
//! never updated by a graph: the runtime sets them by adapting to data.

// Diagnostics are the error type throughout lowering; they are large, but
// errors are the cold path and boxing them would only add noise.
#![allow(clippy::result_large_err)]

mod activations;
mod args;
mod custom;
pub mod errors;
mod expr;
mod init;
mod layers;
mod limits;
mod state;
mod stmt;
mod train_block;
mod train_callbacks;
mod train_loss;
mod train_metric;
mod train_optimizer;
mod train_schedule;
mod train_text;
mod train_weights;

/// Every built-in activation name (for completion and docs).
pub use activations::NAMES as ACTIVATION_NAMES;
pub use limits::{MAX_APPLICATIONS, MAX_DEPTH};
/// The keys a `train { … }` block accepts (for completion and docs).
pub use train_block::KEYS as TRAIN_KEYS;
/// The loss, metric, optimizer and schedule names a train block accepts
/// (for completion lists that must not drift from the compiler).
pub use train_loss::LOSSES;
pub use train_metric::METRICS;
pub use train_optimizer::OPTIMIZERS;
pub use train_schedule::SCHEDULES;

/// Every built-in layer name, as written in `.nn` files (for completion and docs).
pub fn layer_names() -> impl Iterator<Item = &'static str> {
    layers::BUILTINS.iter().map(|b| b.0)
}
mod values;

use crate::ast;
use crate::diag::{Diagnostic, Span};
use crate::ir::{Graph, Shape, VarId};
use crate::train::TrainConfig;
use state::Lowerer;

/// Training mode enables dropout, noise layers and batch statistics; inference disables them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    Train,
    Infer,
}

/// One row of `summary()`: a Keras layer instance.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerInfo {
    /// Keras-style instance name: `dense`, `dense_1`, `conv2d`, `my_swish`.
    pub name: String,
    /// Keras class name: `Dense`, `Flatten`, `InputLayer`, or the custom layer's name.
    pub kind: String,
    /// Output shape of each call, batch dimension included (a shared layer
    /// has one per call).
    pub output_shapes: Vec<Shape>,
    /// The further results of the first call, after its output: a recurrent
    /// layer's states with `return_state` (Keras lists them all in the
    /// "Output Shape" column). Empty for a layer with one result.
    pub state_shapes: Vec<Shape>,
    /// Variables this layer owns (a shared layer owns them once).
    pub vars: Vec<VarId>,
    /// The layer calls whose outputs feed this one, as Keras's "Connected
    /// to" names them: `dense[0][0]`, `shared[1][0]` (layer, call, tensor).
    pub inputs: Vec<String>,
    pub span: Span,
}

/// A model lowered for one mode.
#[derive(Clone, Debug)]
pub struct LoweredModel {
    pub name: String,
    /// Inputs are the model's `input`s (role `Feature`), plus, in train mode,
    /// a `Step` scalar that keys dropout masks and noise. Outputs are the model
    /// outputs, named after the values they come from. Updates: in train mode,
    /// the model's own updates — the new moving statistics of each
    /// `batch_normalization`, one entry per non-trainable variable, to be
    /// applied after the step; in infer mode none.
    pub graph: Graph,
    pub layers: Vec<LayerInfo>,
    /// The `train` block, checked and typed (empty when absent).
    pub train: TrainConfig,
}

/// Lowers one model of `file` for `mode`. `model: None` picks the file's only
/// model. `seed` keys dropout masks and noise (each dropout or noise layer has
/// its own key, its creation index; `dropout(0)` is the identity and needs no
/// step input).
/// On failure, returns every diagnostic found (errors and warnings); on
/// success warnings are dropped, and [`check`] is the way to see them.
pub fn lower(file: &ast::File, model: Option<&str>, mode: Mode, seed: u64) -> Result<LoweredModel, Vec<Diagnostic>> {
    let mut diags = file_checks(file);
    let m = match pick_model(file, model) {
        Ok(m) => m,
        Err(d) => {
            diags.push(d);
            return Err(finish(diags));
        }
    };
    let mut lw = Lowerer::new(file, mode, seed);
    let lowered = lw.lower_model(m);
    diags.extend(lw.diags);
    match lowered {
        Some(l) if !diags.iter().any(|d| d.is_error()) => Ok(l),
        _ => Err(finish(diags)),
    }
}

/// Lowers `model` in inference mode with inputs that are whole tensors, not
/// batches of samples: `input m: [2, 2]` is one 2×2 matrix. This is how the
/// REPL evaluates `[[1, 2], [3, 4]] @ [[1], [1]]` on its literals, with the
/// same rules and diagnostics as any model.
pub fn lower_unbatched(file: &ast::File, model: &str, seed: u64) -> Result<LoweredModel, Vec<Diagnostic>> {
    let mut diags = file_checks(file);
    let m = match pick_model(file, Some(model)) {
        Ok(m) => m,
        Err(d) => return Err(finish(vec![d])),
    };
    let mut lw = Lowerer::new(file, Mode::Infer, seed);
    lw.unbatched_inputs = true;
    let lowered = lw.lower_model(m);
    diags.extend(lw.diags);
    match lowered {
        Some(l) if !diags.iter().any(|d| d.is_error()) => Ok(l),
        _ => Err(finish(diags)),
    }
}

/// Every diagnostic of a file: each model lowered in both modes, and each
/// custom layer checked on its own (and lowered when its input shapes are
/// fully given). Sorted by position, without duplicates.
pub fn check(file: &ast::File) -> Vec<Diagnostic> {
    let mut diags = file_checks(file);
    let models: Vec<&ast::ModelDef> = models(file);
    if models.is_empty() {
        diags.push(no_model());
    }
    for m in models {
        for mode in [Mode::Train, Mode::Infer] {
            let mut lw = Lowerer::new(file, mode, 0);
            lw.lower_model(m);
            diags.extend(lw.diags);
        }
    }
    for item in &file.items {
        if let ast::Item::Layer(def) = item {
            diags.extend(check_layer_alone(file, def));
        }
    }
    finish(diags)
}

/// Parses and lowers `source`.
pub fn lower_source(source: &str, model: Option<&str>, mode: Mode, seed: u64) -> Result<LoweredModel, Vec<Diagnostic>> {
    let file = crate::syntax::parse(source)?;
    lower(&file, model, mode, seed)
}

/// A model lowered in both modes from one parse: what the runtime runs.
#[derive(Clone, Debug)]
pub struct CompiledModel {
    pub infer: LoweredModel,
    pub train: LoweredModel,
    /// The seed the train graph's dropout masks are keyed by: the caller's,
    /// else the train block's, else `default_seed`.
    pub seed: u64,
}

/// Parses `source` once and lowers `model` in inference and training mode.
/// `seed: None` takes the train block's `seed`, else `default_seed`.
/// Inference graphs hold no dropout or noise, so only the training graph depends on
/// the seed, and it is lowered once, with the seed already resolved.
pub fn compile_source(
    source: &str,
    model: Option<&str>,
    seed: Option<u64>,
    default_seed: u64,
) -> Result<CompiledModel, Vec<Diagnostic>> {
    let file = crate::syntax::parse(source)?;
    let infer = lower(&file, model, Mode::Infer, seed.unwrap_or(default_seed))?;
    let seed = seed.or(infer.train.seed).unwrap_or(default_seed);
    let train = lower(&file, model, Mode::Train, seed)?;
    Ok(CompiledModel { infer, train, seed })
}

/// One `train` block setting written as text (`"adam(learning_rate = 0.01)"`
/// for `optimizer`), typed exactly as in a `.nn` file: how the CLI and the
/// REPL read `--optimizer`, `--loss` and `--metrics`, so they know the same
/// names, arguments and errors as the language. Diagnostics point into
/// [`setting_source`]`(key, text)`.
pub fn train_setting(key: &str, text: &str) -> Result<TrainConfig, Vec<Diagnostic>> {
    let source = setting_source(key, text);
    let file = crate::syntax::parse(&source)?;
    let Some(block) = file.items.first().and_then(|item| match item {
        ast::Item::Model(m) => m.train.as_ref(),
        ast::Item::Layer(_) => None,
    }) else {
        return Err(vec![Diagnostic::error(
            errors::TRAIN_CONFLICT,
            format!("`{text}` is not a single value for `{key}`"),
            Span::new(0, source.len()),
        )]);
    };
    let (cfg, diags) = train_block::lower(block, &[]);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags);
    }
    Ok(cfg)
}

/// The text [`train_setting`] parses, for rendering its diagnostics.
pub fn setting_source(key: &str, text: &str) -> String {
    format!("model setting {{ train {{ {key} = {text} }} }}")
}

/// Parses and checks `source`; parse errors are returned as they are.
pub fn check_source(source: &str) -> Vec<Diagnostic> {
    match crate::syntax::parse(source) {
        Ok(file) => check(&file),
        Err(diags) => diags,
    }
}

fn models(file: &ast::File) -> Vec<&ast::ModelDef> {
    file.items
        .iter()
        .filter_map(|i| match i {
            ast::Item::Model(m) => Some(m),
            ast::Item::Layer(_) => None,
        })
        .collect()
}

fn no_model() -> Diagnostic {
    Diagnostic::error(errors::NO_MODEL, "this file defines no model", Span::new(0, 0))
        .with_label("no `model` item")
        .with_help("add one: `model my_model { input x: [4] dense(1) }`")
}

fn pick_model<'f>(file: &'f ast::File, name: Option<&str>) -> Result<&'f ast::ModelDef, Diagnostic> {
    let all = models(file);
    let names: Vec<&str> = all.iter().map(|m| m.name.name.as_str()).collect();
    match name {
        Some(n) => all.iter().copied().find(|m| m.name.name == n).ok_or_else(|| {
            let mut d = Diagnostic::error(errors::UNKNOWN_MODEL, format!("no model named `{n}`"), Span::new(0, 0))
                .with_label("requested model not found")
                .with_note(format!(
                    "models in this file: {}",
                    if names.is_empty() { "none".into() } else { names.join(", ") }
                ));
            if let Some(h) = errors::suggest(n, names.iter().copied()) {
                d = d.with_help(h);
            }
            d
        }),
        None => match all.as_slice() {
            [] => Err(no_model()),
            [m] => Ok(m),
            [first, ..] => Err(Diagnostic::error(
                errors::UNKNOWN_MODEL,
                format!("this file defines {} models; choose one", all.len()),
                first.name.span,
            )
            .with_label("first of several models")
            .with_note(format!("models: {}", names.join(", ")))
            .with_help("name the model to use (e.g. `--model NAME`)")),
        },
    }
}

/// Duplicate item names and the shape-independent checks of every custom layer.
fn file_checks(file: &ast::File) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let mut seen: Vec<&ast::Ident> = Vec::new();
    for item in &file.items {
        let name = match item {
            ast::Item::Model(m) => &m.name,
            ast::Item::Layer(l) => &l.name,
        };
        if let Some(first) = seen.iter().find(|s| s.name == name.name) {
            diags.push(
                Diagnostic::error(errors::DUPLICATE_DEF, format!("`{}` is defined twice", name.name), name.span)
                    .with_label("defined again here")
                    .with_secondary(first.span, "first defined here")
                    .with_help("rename one of them"),
            );
        } else {
            seen.push(name);
        }
        if let ast::Item::Layer(def) = item {
            diags.extend(custom::check_def(def));
        }
    }
    diags
}

/// Lowers a custom layer by itself when its inputs' shapes are literal and
/// every attribute has a default, so errors in unused layers are found too.
fn check_layer_alone(file: &ast::File, def: &ast::LayerDef) -> Vec<Diagnostic> {
    let tparams = custom::tensor_params(def);
    if tparams.is_empty() || custom::attr_params(def).iter().any(|p| p.default.is_none()) {
        return Vec::new();
    }
    let mut shapes = Vec::new();
    for p in &tparams {
        let Some(pattern) = &p.shape else { return Vec::new() };
        let mut dims = Vec::new();
        for d in &pattern.dims {
            match d.kind {
                ast::ExprKind::Int(v) if v >= 1 => dims.push(v as usize),
                _ => return Vec::new(),
            }
        }
        if values::element_count(&dims).is_none() || dims.iter().any(|&d| d as i64 > values::MAX_DIM) {
            return Vec::new();
        }
        shapes.push(dims);
    }
    let mut lw = Lowerer::new(file, Mode::Train, 0);
    let mut inputs = Vec::new();
    for (p, dims) in tparams.iter().zip(&shapes) {
        let t = lw.declare_input(&p.name, dims, crate::ir::DType::F32, p.span);
        inputs.push((t, p.span));
    }
    let res = lw.construct_custom(def, &[], def.name.span).and_then(|inst| lw.apply(inst, &inputs, def.name.span));
    if let Err(d) = res {
        lw.report(d);
    }
    lw.diags
}

/// Sorts diagnostics by position and drops exact repeats (both modes, and
/// the standalone layer checks, can find the same problem).
fn finish(mut diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diags.retain(|d| d.code != errors::POISONED);
    let mut out: Vec<Diagnostic> = Vec::new();
    for d in diags {
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out.sort_by_key(|d| (d.span.start, d.span.end));
    out
}
