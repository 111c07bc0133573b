//! The lowerer's state: the graph being built, layer instances and their
//! Keras names, `summary()` rows, and the scopes that bind names to values.
//!
//! Names resolve in the innermost scope only: a custom layer body sees its
//! parameters and its own bindings, never the model's, so a layer means the
//! same thing wherever it is applied.

use super::errors::*;
use super::layers::LayerKind;
use super::values::{Sv, Tensor, Value};
use super::{LayerInfo, Mode};
use crate::ast;
use crate::diag::{Diagnostic, Span};
use crate::ir::{DType, Graph, InputRole, NodeId, Origin, Shape, TensorType, VarId};
use std::collections::HashMap;

/// A layer instance: built-in or custom, applied zero or more times.
#[derive(Clone, Debug)]
pub struct Instance {
    /// Keras instance name: `dense_1`.
    pub name: String,
    pub kind: LayerKind,
    /// Where the instance was created.
    pub span: Span,
    /// Variables, created on the first application.
    pub vars: Vec<VarId>,
    /// This instance's `summary()` row, once applied.
    pub row: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct Binding {
    pub name: String,
    pub value: Sv,
    pub span: Span,
    pub used: bool,
}

/// One level of name resolution: a model body or one application of a
/// custom layer.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub bindings: Vec<Binding>,
    /// The value bare layer statements apply to.
    pub current: Option<Sv>,
    /// The custom layer instance being applied, if any.
    pub instance: Option<usize>,
    /// Whether unused bindings in this scope are worth a warning.
    pub warn_unused: bool,
}

pub struct Lowerer<'a> {
    pub defs: HashMap<&'a str, &'a ast::LayerDef>,
    pub mode: Mode,
    pub seed: u64,
    pub g: Graph,
    pub rows: Vec<LayerInfo>,
    pub instances: Vec<Instance>,
    counters: HashMap<String, usize>,
    /// Next dropout key: one per dropout or noise layer instance, in creation order.
    pub dropout_keys: u64,
    step: Option<NodeId>,
    pub scopes: Vec<Scope>,
    pub diags: Vec<Diagnostic>,
    /// Custom layers being applied with their application sites, innermost
    /// last (recursion guard, and the chain a depth diagnostic shows).
    pub custom_stack: Vec<(String, Span)>,
    /// How deep lowering recursion currently is, in [`super::limits`] units.
    pub depth: usize,
    /// Layer applications so far (bounds the expansion of custom layers).
    pub applications: usize,
    /// Layers created inside a custom layer body, keyed by (outer instance,
    /// call site), so re-applying a shared custom layer reuses them.
    pub sub_instances: HashMap<(usize, u32), usize>,
    /// Functional models list their inputs as `InputLayer` rows.
    pub functional: bool,
    /// Inputs are whole tensors without a batch axis (see [`super::lower_unbatched`]).
    pub unbatched_inputs: bool,
    /// Whether an error reported elsewhere (a bad custom layer definition)
    /// poisoned a value of this model.
    pub poisoned: bool,
    /// Keras's masks: value node -> an f32 `[B, T]` node, 1.0 for time steps
    /// that count and 0.0 for padding. `embedding(mask_zero = true)` creates
    /// one; layers that keep the time axis pass it on; recurrent layers and
    /// the pooling layers over time consume it.
    pub masks: HashMap<NodeId, NodeId>,
}

impl<'a> Lowerer<'a> {
    pub fn new(file: &'a ast::File, mode: Mode, seed: u64) -> Lowerer<'a> {
        let mut defs = HashMap::new();
        for item in &file.items {
            if let ast::Item::Layer(l) = item {
                defs.entry(l.name.name.as_str()).or_insert(l);
            }
        }
        Lowerer {
            defs,
            mode,
            seed,
            g: Graph::new(),
            rows: Vec::new(),
            instances: Vec::new(),
            counters: HashMap::new(),
            dropout_keys: 0,
            step: None,
            scopes: vec![Scope::default()],
            diags: Vec::new(),
            custom_stack: Vec::new(),
            depth: 0,
            applications: 0,
            sub_instances: HashMap::new(),
            functional: false,
            unbatched_inputs: false,
            poisoned: false,
            masks: HashMap::new(),
        }
    }

    /// Keras's naming: `dense`, `dense_1`, `dense_2`, … per base name.
    pub fn fresh_name(&mut self, base: &str) -> String {
        let n = self.counters.entry(base.to_string()).or_insert(0);
        let name = if *n == 0 { base.to_string() } else { format!("{base}_{n}") };
        *n += 1;
        name
    }

    pub fn add_instance(&mut self, base: &str, kind: LayerKind, span: Span) -> usize {
        let name = self.fresh_name(base);
        self.instances.push(Instance { name, kind, span, vars: Vec::new(), row: None });
        self.instances.len() - 1
    }

    pub fn scope(&self) -> &Scope {
        self.scopes.last().expect("the model scope is never popped")
    }

    pub fn scope_mut(&mut self) -> &mut Scope {
        self.scopes.last_mut().expect("the model scope is never popped")
    }

    /// The value bound to `name` in the innermost scope, marking it used.
    pub fn lookup(&mut self, name: &str) -> Option<Sv> {
        let b = self.scope_mut().bindings.iter_mut().rev().find(|b| b.name == name)?;
        b.used = true;
        Some(b.value.clone())
    }

    pub fn is_bound(&self, name: &str) -> bool {
        self.scope().bindings.iter().any(|b| b.name == name)
    }

    /// Binds a name; a second binding of the same name is an error, as
    /// rebinding would make `x` mean different tensors on different lines.
    pub fn bind(&mut self, name: &ast::Ident, value: Sv) -> Result<(), Diagnostic> {
        if let Some(first) = self.scope().bindings.iter().find(|b| b.name == name.name) {
            return Err(Diagnostic::error(DUPLICATE_NAME, format!("`{}` is already defined", name.name), name.span)
                .with_label("defined again here")
                .with_secondary(first.span, "first defined here")
                .with_help(format!("choose a new name, e.g. `{}_2`", name.name)));
        }
        let used = name.name.starts_with('_');
        self.scope_mut().bindings.push(Binding { name: name.name.clone(), value, span: name.span, used });
        Ok(())
    }

    pub fn current(&self) -> Option<Sv> {
        self.scope().current.clone()
    }

    pub fn set_current(&mut self, value: Sv) {
        self.scope_mut().current = Some(value);
    }

    /// Nodes built from now on are attributed to `layer` at `span`.
    pub fn origin(&mut self, span: Span, layer: Option<String>) {
        self.g.set_origin(Origin { span: Some(span), layer });
    }

    /// The training step input, declared on first use (dropout and noise need it).
    pub fn step_node(&mut self) -> NodeId {
        if let Some(s) = self.step {
            return s;
        }
        let saved = self.g.origin().clone();
        self.g.set_origin(Origin::default());
        let s = self.g.add_input("step", TensorType::f32(Shape::scalar()), InputRole::Step);
        self.g.set_origin(saved);
        self.step = Some(s);
        s
    }

    pub fn declare_input(&mut self, name: &ast::Ident, dims: &[usize], dtype: DType, span: Span) -> Tensor {
        self.origin(span, Some(name.name.clone()));
        let shape = if self.unbatched_inputs { Shape::known(dims) } else { Shape::batched(dims) };
        let id = self.g.add_input(name.name.clone(), TensorType { dtype, shape: shape.clone() }, InputRole::Feature);
        if self.functional {
            self.rows.push(LayerInfo {
                name: name.name.clone(),
                kind: "InputLayer".into(),
                output_shapes: vec![shape],
                state_shapes: Vec::new(),
                vars: Vec::new(),
                inputs: Vec::new(),
                span,
            });
        }
        Tensor { id, source: Some(format!("{}[0][0]", name.name)) }
    }

    /// Records one application of `inst` in its `summary()` row; returns the
    /// Keras connection text of its output (`shared[1][0]` for the second call).
    pub fn record(&mut self, inst: usize, inputs: &[Tensor], out: NodeId, kind: &str) -> Option<String> {
        self.record_all(inst, inputs, &[out], kind).swap_remove(0)
    }

    /// [`record`](Self::record) for a call with several results (`outs`):
    /// the connection text of each (`lstm[0][1]` is the first call's second
    /// result).
    pub fn record_all(&mut self, inst: usize, inputs: &[Tensor], outs: &[NodeId], kind: &str) -> Vec<Option<String>> {
        let shape = self.g.shape(outs[0]).clone();
        let more: Vec<_> = outs[1..].iter().map(|&o| self.g.shape(o).clone()).collect();
        let sources: Vec<String> = inputs.iter().filter_map(|t| t.source.clone()).collect();
        self.reserve_row(inst, kind);
        let Some(row) = self.instances[inst].row else { return vec![None; outs.len()] };
        let vars = self.instances[inst].vars.clone();
        let r = &mut self.rows[row];
        if r.output_shapes.is_empty() {
            r.state_shapes = more;
        }
        r.output_shapes.push(shape);
        r.vars = vars;
        // One entry per incoming tensor, as Keras's "Connected to" lists
        // `dense[0][0], dense[1][0]` for two outputs of one shared layer.
        r.inputs.extend(sources);
        let call = r.output_shapes.len() - 1;
        (0..outs.len()).map(|k| Some(format!("{}[{call}][{k}]", r.name))).collect()
    }

    /// Creates the summary row of a layer instance if it has none yet. Custom
    /// layers call this before their body runs, so their row comes before the
    /// rows of the layers inside them.
    pub fn reserve_row(&mut self, inst: usize, kind: &str) {
        if self.instances[inst].row.is_none() {
            let i = &self.instances[inst];
            self.rows.push(LayerInfo {
                name: i.name.clone(),
                kind: kind.to_string(),
                output_shapes: Vec::new(),
                state_shapes: Vec::new(),
                vars: Vec::new(),
                inputs: Vec::new(),
                span: i.span,
            });
            self.instances[inst].row = Some(self.rows.len() - 1);
        }
    }

    /// Warnings for bindings of the innermost scope that nothing uses: a
    /// tensor no node or root (`roots`: outputs, return value) consumes, a
    /// layer never applied, any other value never read.
    pub fn warn_unused(&mut self, roots: &[NodeId]) {
        if !self.scope().warn_unused {
            return;
        }
        // Scanning the graph for consumers costs its size, once per custom
        // layer application; only pay it when some tensor binding is unread.
        let needs_scan = self.scope().bindings.iter().any(|b| !b.used && matches!(b.value.value, Value::Tensor(_)));
        let mut consumed = vec![false; if needs_scan { self.g.nodes.len() } else { 0 }];
        if needs_scan {
            for node in &self.g.nodes {
                for a in &node.args {
                    consumed[a.index()] = true;
                }
            }
            for r in roots {
                consumed[r.index()] = true;
            }
        }
        let mut found = Vec::new();
        for b in &self.scope().bindings {
            let unused = match &b.value.value {
                Value::Poison => false,
                Value::Tensor(t) => !b.used && !consumed[t.id.index()],
                Value::Layer(i) => self.instances[*i].row.is_none(),
                _ => !b.used,
            };
            if unused && !b.name.starts_with('_') {
                found.push((b.name.clone(), b.span, matches!(b.value.value, Value::Layer(_))));
            }
        }
        for (name, span, layer) in found {
            let (msg, label) = if layer {
                (format!("layer `{name}` is never applied"), "created here but never applied")
            } else {
                (format!("`{name}` is never used"), "defined here but never used")
            };
            self.diags.push(
                Diagnostic::warning(UNUSED_BINDING, msg, span)
                    .with_label(label)
                    .with_help(format!("remove it, or name it `_{name}` if that is intended")),
            );
        }
    }
}
