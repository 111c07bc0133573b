//! Statements and whole models: inputs, the "current value" of sequential
//! style, bindings, outputs, and the checks that need the finished graph
//! (disconnected inputs, unused bindings, loss against output).
//!
//! Error recovery: a failing statement reports one diagnostic and poisons
//! what it would have defined, so later statements that use it stay quiet
//! and independent mistakes are all reported in one run.

use super::errors::*;
use super::layers::{builtin, is_merge, LayerKind, LAYER_ACTIVATIONS};
use super::state::Lowerer;
use super::values::{eval_const, Sv, Tensor, Value};
use super::LoweredModel;
use crate::ast::{self, ExprKind, ModelDef, Stmt, StmtKind};
use crate::diag::{did_you_mean, Diagnostic, Span};
use crate::ir::{DType, InputRole};

impl<'a> Lowerer<'a> {
    /// Records an error unless it stands for one already reported.
    pub fn report(&mut self, d: Diagnostic) {
        if d.code == POISONED {
            self.poisoned = true;
        } else {
            self.diags.push(d);
        }
    }

    /// Runs a body. Returns the value of `return` (custom layers only).
    pub fn run_body(&mut self, body: &'a [Stmt], is_model: bool) -> Option<Sv> {
        for stmt in body {
            let span = stmt.span;
            match &stmt.kind {
                StmtKind::Let { name, value } => {
                    let v = match self.eval_statement_value(value) {
                        Ok(v) => v,
                        Err(d) => {
                            self.report(d);
                            Sv::new(Value::Poison, value.span)
                        }
                    };
                    let v = match &v.value {
                        Value::Results(ts) => {
                            self.report(self.unpack_count(std::slice::from_ref(name), ts.len(), span, v.span));
                            Sv::new(Value::Poison, v.span)
                        }
                        _ => v,
                    };
                    if matches!(v.value, Value::Tensor(_) | Value::Poison) {
                        self.set_current(v.clone());
                    }
                    if let Err(d) = self.bind(name, v) {
                        self.report(d);
                    }
                }
                StmtKind::Unpack { names, value } => self.unpack(names, value, span),
                StmtKind::Param { name, shape, init } if !is_model => {
                    let v = self.param(name, shape, init, span).unwrap_or_else(|d| {
                        self.report(d);
                        Sv::new(Value::Poison, span)
                    });
                    if let Err(d) = self.bind(name, v) {
                        self.report(d);
                    }
                }
                StmtKind::Param { .. } => self.report(
                    Diagnostic::error(MISPLACED, "parameters can only be declared in custom layers", span)
                        .with_label("not allowed in a model")
                        .with_help("define a layer: `layer my_layer(x: [n]) { w: [n, 4] = glorot_uniform … }`"),
                ),
                StmtKind::Expr(e) => {
                    if let Err(d) = self.statement(e) {
                        self.report(d);
                        self.set_current(Sv::new(Value::Poison, span));
                    }
                }
                StmtKind::Return(e) if !is_model => {
                    return Some(self.eval(e).unwrap_or_else(|d| {
                        self.report(d);
                        Sv::new(Value::Poison, span)
                    }));
                }
                StmtKind::Return(_) => self.report(
                    Diagnostic::error(MISPLACED, "`return` can only end a custom layer", span)
                        .with_label("not allowed in a model")
                        .with_help("a model names its results with `output NAME`"),
                ),
                // Inputs are declared and outputs read by `lower_model`;
                // misplaced ones in layers are reported by `custom::check_def`.
                StmtKind::Output(_) | StmtKind::Input { .. } => {}
            }
        }
        None
    }

    /// `a, b, c = EXPR`: one name per result of a layer call; `_` discards.
    fn unpack(&mut self, names: &[ast::Ident], value: &ast::Expr, span: Span) {
        let v = self.eval_statement_value(value).unwrap_or_else(|d| {
            self.report(d);
            Sv::new(Value::Poison, value.span)
        });
        let results: Vec<Value> = match v.value {
            Value::Results(ts) if ts.len() == names.len() => ts.into_iter().map(Value::Tensor).collect(),
            Value::Results(ts) => {
                self.report(self.unpack_count(names, ts.len(), span, v.span));
                vec![]
            }
            Value::Tensor(_) => {
                self.report(self.unpack_count(names, 1, span, v.span));
                vec![]
            }
            Value::Poison => vec![],
            other => {
                let all = names[0].span.to(names[names.len() - 1].span);
                self.report(
                    Diagnostic::error(
                        RESULTS,
                        format!("{} names are bound to {}", names.len(), other.describe(&self.g)),
                        all,
                    )
                    .with_label("several names")
                    .with_secondary(v.span, "one value")
                    .with_note("several names bind the results of a layer call with `return_state = true`"),
                );
                vec![]
            }
        };
        let results = if results.is_empty() { vec![Value::Poison; names.len()] } else { results };
        self.set_current(Sv::new(results[0].clone(), v.span));
        for (name, value) in names.iter().zip(results) {
            if name.name == "_" {
                continue;
            }
            if let Err(d) = self.bind(name, Sv::new(value, name.span)) {
                self.report(d);
            }
        }
    }

    /// `names` bind a call that yields `n` tensors (`n != names.len()`).
    fn unpack_count(&self, names: &[ast::Ident], n: usize, span: Span, value: Span) -> Diagnostic {
        let all = names[0].span.to(names[names.len() - 1].span);
        let (k, plural) = (names.len(), |n: usize, w: &str| if n == 1 { w.to_string() } else { format!("{w}s") });
        let mut d = Diagnostic::error(
            RESULTS,
            format!("{k} {} for {n} {}", plural(k, "name"), plural(n, "result")),
            if k == 1 { span } else { all },
        )
        .with_label(format!("{k} {}", plural(k, "name")))
        .with_secondary(value, format!("yields {n} {}", plural(n, "tensor")));
        d = if n == 1 {
            d.with_note("only a recurrent layer with `return_state = true` yields several tensors")
                .with_help("bind the one result to one name")
        } else {
            d.with_note(format!("this call yields {n} tensors: the output, then the final states"))
                .with_help(format!("name each result (`_` discards one): `{} = …`", super::expr::unpack_names(n)))
        };
        d
    }

    /// A `let` value; a bare layer name (`f = flatten`) creates an instance.
    fn eval_statement_value(&mut self, e: &ast::Expr) -> Result<Sv, Diagnostic> {
        if let ExprKind::Ident(n) = &e.kind {
            if !self.is_bound(n) {
                if let Some(inst) = self.construct_bare(n, e.span)? {
                    return Ok(Sv::new(Value::Layer(inst), e.span));
                }
            }
        }
        self.eval(e)
    }

    /// An instance of a layer named without arguments, if `n` is a layer.
    /// `leaky_relu` and `elu` stay activation functions here (`f = elu` can be
    /// an `activation = f`); as statements they are layers (see
    /// `activation_layer_statement`).
    fn construct_bare(&mut self, n: &str, span: Span) -> Result<Option<usize>, Diagnostic> {
        if builtin(n).is_some() && !LAYER_ACTIVATIONS.contains(&n) {
            if is_merge(n) {
                return Err(Diagnostic::error(MERGE_ARITY, format!("`{n}` needs the tensors to merge"), span)
                    .with_label("merges take tensors, not the current value")
                    .with_help(format!("name the inputs: `{n}(a, b)`")));
            }
            return self.construct_builtin(n, &[], span).map(Some);
        }
        if let Some(def) = self.defs.get(n).copied() {
            return self.construct_custom(def, &[], span).map(Some);
        }
        Ok(None)
    }

    /// A bare expression statement.
    fn statement(&mut self, e: &ast::Expr) -> Result<(), Diagnostic> {
        let v = match self.activation_layer_statement(e)? {
            Some(v) => v,
            None => self.eval_statement_value(e)?,
        };
        match v.value {
            Value::Tensor(_) | Value::Poison => self.set_current(v),
            Value::Layer(inst) => {
                let n = self.results_of(inst);
                if n > 1 {
                    return Err(self.several_results(inst, n, e.span));
                }
                if let Some(x) = self.current_tensor(&self.instances[inst].name.clone(), e.span)? {
                    let t = self.apply(inst, &[(x, e.span)], e.span)?;
                    self.set_current(Sv::new(Value::Tensor(t), e.span));
                } else {
                    self.set_current(Sv::new(Value::Poison, e.span));
                }
            }
            Value::Activation(a) => {
                let inst = self.add_instance("activation", LayerKind::Activation(a), e.span);
                if let Some(x) = self.current_tensor("activation", e.span)? {
                    let t = self.apply(inst, &[(x, e.span)], e.span)?;
                    self.set_current(Sv::new(Value::Tensor(t), e.span));
                } else {
                    self.set_current(Sv::new(Value::Poison, e.span));
                }
            }
            Value::Results(ts) => {
                return Err(Diagnostic::error(
                    RESULTS,
                    format!("this layer call yields {} tensors, and a statement keeps one", ts.len()),
                    v.span,
                )
                .with_label(format!("{} results", ts.len()))
                .with_help(format!(
                    "name each result (`_` discards one): `{} = …`",
                    super::expr::unpack_names(ts.len())
                )))
            }
            Value::Symbol(n) => return Err(self.unknown_layer(&n, v.span)),
            Value::Call { name, .. } => {
                let callee_span = match &e.kind {
                    ExprKind::Call { callee, .. } => callee.span,
                    _ => v.span,
                };
                return Err(self.unknown_layer(&name, callee_span));
            }
            other => {
                return Err(Diagnostic::error(
                    NOT_A_LAYER,
                    format!("a statement must be a layer or a tensor, but this is {}", other.describe(&self.g)),
                    v.span,
                )
                .with_label("does nothing")
                .with_help("bind it to a name (`units = 64`) or use it as an argument"))
            }
        }
        Ok(())
    }

    /// The current value as a tensor, for a sequential layer statement.
    fn current_tensor(&self, layer: &str, span: Span) -> Result<Option<Tensor>, Diagnostic> {
        match self.current() {
            Some(sv) => match sv.value {
                Value::Tensor(t) => Ok(Some(t)),
                _ => Ok(None),
            },
            None => {
                let inputs = self.g.inputs.iter().filter(|i| i.role == InputRole::Feature).count();
                Err(Diagnostic::error(NO_CURRENT, format!("no current value to apply `{layer}` to"), span)
                    .with_label("applied to nothing")
                    .with_note(format!("the model has {inputs} inputs, so there is no implicit first value"))
                    .with_help(format!("apply it to a named value: `{layer}(…)(x)`")))
            }
        }
    }

    /// Lowers one model; errors and warnings go to `self.diags`.
    pub fn lower_model(&mut self, m: &'a ModelDef) -> Option<LoweredModel> {
        let output_stmts: Vec<&Stmt> = m.body.iter().filter(|s| matches!(s.kind, StmtKind::Output(_))).collect();
        self.functional = !output_stmts.is_empty();
        self.scope_mut().warn_unused = true;
        let mut inputs = Vec::new();
        for stmt in &m.body {
            if let StmtKind::Input { name, shape, dtype } = &stmt.kind {
                if self.is_bound(&name.name) {
                    let dup = self.bind(name, Sv::new(Value::Poison, name.span));
                    if let Err(d) = dup {
                        self.report(d);
                    }
                    continue;
                }
                let Some((dims, dt)) = self.input_type(shape, dtype.as_ref()) else {
                    let _ = self.bind(name, Sv::new(Value::Poison, name.span));
                    continue;
                };
                let t = self.declare_input(name, &dims, dt, stmt.span);
                inputs.push((name.clone(), t.id));
                match self.bind(name, Sv::new(Value::Tensor(t), name.span)) {
                    Ok(()) => self.scope_mut().bindings.last_mut().expect("just bound").used = true,
                    Err(d) => self.report(d),
                }
            }
        }
        if inputs.is_empty() && !m.body.iter().any(|s| matches!(s.kind, StmtKind::Input { .. })) {
            self.report(
                Diagnostic::error(NO_INPUT, format!("model `{}` declares no input", m.name.name), m.name.span)
                    .with_label("no `input` statement")
                    .with_help("declare one first, e.g. `input x: [784]`"),
            );
            return None;
        }
        let declared: Vec<&ast::Ident> = m
            .body
            .iter()
            .filter_map(|s| match &s.kind {
                StmtKind::Input { name, .. } => Some(name),
                _ => None,
            })
            .collect();
        if let [only] = declared.as_slice() {
            // The single input starts the sequential chain; if its declaration
            // failed, the chain starts poisoned and stays quiet.
            let start = match inputs.as_slice() {
                [(_, id)] => Value::Tensor(Tensor { id: *id, source: Some(format!("{}[0][0]", only.name)) }),
                _ => Value::Poison,
            };
            self.set_current(Sv::new(start, only.span));
        }
        self.run_body(&m.body, true);
        self.outputs(m, &output_stmts);
        // After an error (reported here or, for a poisoned value, at a
        // definition) the graph is incomplete and these checks would mislead.
        let errors = self.poisoned || self.diags.iter().any(|d| d.is_error());
        if !errors {
            self.check_connected(m, &inputs);
        }
        // Unused-binding warnings after an error are mostly noise (a typo
        // makes the intended binding look unused), so they wait for a clean model.
        if !errors {
            let roots: Vec<_> = self.g.outputs.iter().map(|(_, id)| *id).collect();
            self.warn_unused(&roots);
        }
        let train = match &m.train {
            Some(block) => {
                let outputs: Vec<_> =
                    self.g.outputs.iter().map(|(name, id)| (name.clone(), self.g.shape(*id).clone())).collect();
                let (cfg, diags) = super::train_block::lower(block, &outputs);
                self.diags.extend(diags);
                cfg
            }
            None => Default::default(),
        };
        if self.diags.iter().any(|d| d.is_error()) {
            return None;
        }
        Some(LoweredModel {
            name: m.name.name.clone(),
            graph: std::mem::take(&mut self.g),
            layers: std::mem::take(&mut self.rows),
            train,
        })
    }

    fn input_type(&mut self, shape: &ast::ShapeExpr, dtype: Option<&ast::Ident>) -> Option<(Vec<usize>, DType)> {
        let mut dims = Vec::new();
        let mut ok = true;
        for d in &shape.dims {
            match eval_const(d).and_then(|v| super::values::positive(&v, "input dimension", &self.g)) {
                Ok(n) => dims.push(n),
                Err(mut e) => {
                    e.code = BAD_SHAPE;
                    self.report(e);
                    ok = false;
                }
            }
        }
        if ok && super::values::element_count(&dims).is_none() {
            self.report(
                Diagnostic::error(BAD_SHAPE, "this input shape holds too many values per sample", shape.span)
                    .with_label(format!("more than {} values", super::values::MAX_ELEMENTS)),
            );
            ok = false;
        }
        let dt = match dtype.map(|t| t.name.as_str()) {
            None | Some("float") | Some("f32") => DType::F32,
            Some("int") | Some("i32") => DType::I32,
            Some(other) => {
                let t = dtype.expect("matched Some");
                let mut d = Diagnostic::error(BAD_SHAPE, format!("unknown input type `{other}`"), t.span)
                    .with_label("expected `float` or `int`");
                if let Some(c) = did_you_mean(other, ["float", "int"]) {
                    d = d.with_help(format!("did you mean `{c}`?"));
                }
                self.report(d);
                return None;
            }
        };
        ok.then_some((dims, dt))
    }

    fn outputs(&mut self, m: &ModelDef, stmts: &[&Stmt]) {
        if stmts.is_empty() {
            match self.current() {
                Some(Sv { value: Value::Tensor(t), .. }) => self.g.outputs.push(("output".into(), t.id)),
                Some(_) => {}
                None => self.report(
                    Diagnostic::error(NO_OUTPUT, format!("model `{}` has no output", m.name.name), m.name.span)
                        .with_label("no value to output")
                        .with_help("name the results with `output NAME`"),
                ),
            }
            return;
        }
        if let [first, second, ..] = stmts {
            self.report(
                Diagnostic::error(DUPLICATE_NAME, "the model's outputs are declared twice", second.span)
                    .with_label("second `output`")
                    .with_secondary(first.span, "first `output`")
                    .with_help("list every output in one statement: `output a, b`"),
            );
        }
        let StmtKind::Output(names) = &stmts[0].kind else { return };
        for (i, n) in names.iter().enumerate() {
            if names[..i].iter().any(|p| p.name == n.name) {
                self.report(
                    Diagnostic::error(DUPLICATE_NAME, format!("`{}` is output twice", n.name), n.span)
                        .with_label("repeated output"),
                );
                continue;
            }
            match self.lookup(&n.name).map(|v| v.value) {
                Some(Value::Tensor(t)) => self.g.outputs.push((n.name.clone(), t.id)),
                Some(Value::Poison) => {}
                Some(other) => self.report(
                    Diagnostic::error(
                        NO_OUTPUT,
                        format!("output `{}` is {}, not a tensor", n.name, other.describe(&self.g)),
                        n.span,
                    )
                    .with_label("not a tensor")
                    .with_help(format!("apply it first: `y = {}(x)`, then `output y`", n.name)),
                ),
                None => {
                    let mut d =
                        Diagnostic::error(UNKNOWN_OUTPUT, format!("output `{}` is not defined", n.name), n.span)
                            .with_label("unknown value");
                    let bound: Vec<&str> = self.scope().bindings.iter().map(|b| b.name.as_str()).collect();
                    if let Some(h) = suggest(&n.name, bound) {
                        d = d.with_help(h);
                    }
                    self.report(d);
                }
            }
        }
    }

    /// Keras refuses a model with an input no output depends on.
    fn check_connected(&mut self, m: &ModelDef, inputs: &[(ast::Ident, crate::ir::NodeId)]) {
        let mut live = vec![false; self.g.nodes.len()];
        for (_, id) in &self.g.outputs {
            live[id.index()] = true;
        }
        for id in self.g.ids().rev() {
            if live[id.index()] {
                for a in &self.g.node(id).args {
                    live[a.index()] = true;
                }
            }
        }
        for (name, id) in inputs {
            if !live[id.index()] {
                self.report(
                    Diagnostic::error(
                        UNUSED_INPUT,
                        format!("input `{}` is not connected to any output", name.name),
                        name.span,
                    )
                    .with_label("never used by an output")
                    .with_note(format!(
                        "model `{}` cannot be run without feeding it, yet it has no effect",
                        m.name.name
                    ))
                    .with_help("use it in the computation or remove it"),
                );
            }
        }
    }
}
