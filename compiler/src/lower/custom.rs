//! User-defined layers: `layer NAME(x, …) { … return EXPR }`.
//!
//! A custom layer is instantiated like a built-in (`my_dense(64)`), named
//! after its definition (`my_dense`, `my_dense_1`), and applied by running
//! its body in a fresh scope where the tensor parameters, the attributes and
//! the sizes bound by shape patterns are visible. `name: [dims] = init`
//! statements create trainable variables `<instance>/<name>` on the first
//! application; later applications of the same instance reuse them.

use super::args::{bind, Param};
use super::errors::*;
use super::layers::{builtin, LayerKind, LAYER_ACTIVATIONS};
use super::state::{Lowerer, Scope};
use super::values::{eval_const, ArgVal, Sv, Tensor, Value};
use crate::ast::{self, ExprKind, LayerDef, StmtKind};
use crate::diag::{Diagnostic, Span};
use crate::ir::{VarDecl, VarKind};

/// The parameters that take tensors: the first, and every one with a shape.
pub fn tensor_params(def: &LayerDef) -> Vec<&ast::LayerParam> {
    def.params.iter().enumerate().filter(|(i, p)| *i == 0 || p.shape.is_some()).map(|(_, p)| p).collect()
}

/// The attribute parameters: all others.
pub fn attr_params(def: &LayerDef) -> Vec<&ast::LayerParam> {
    def.params.iter().enumerate().filter(|(i, p)| *i > 0 && p.shape.is_none()).map(|(_, p)| p).collect()
}

/// Checks that need no input shapes: names, parameter lists, `return`.
pub fn check_def(def: &LayerDef) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let name = &def.name.name;
    // Activation and function names may be redefined (`layer swish(x)`):
    // the definition then takes their place in this file. Built-in layers
    // may not, since their names also fix Keras's weight names (`elu` and
    // `leaky_relu`, both, are redefinable as activations).
    if builtin(name).is_some() && !LAYER_ACTIVATIONS.contains(&name.as_str()) {
        out.push(
            Diagnostic::error(
                DUPLICATE_DEF,
                format!("custom layer `{name}` has the name of a built-in layer"),
                def.name.span,
            )
            .with_label("shadows a built-in layer")
            .with_help(format!("rename it, e.g. `my_{name}`")),
        );
    }
    if def.params.is_empty() {
        out.push(
            Diagnostic::error(ARITY, format!("custom layer `{name}` takes no input"), def.name.span)
                .with_label("no parameters")
                .with_help(format!("the first parameter is the input tensor: `layer {name}(x) {{ … }}`")),
        );
    }
    for (i, p) in def.params.iter().enumerate() {
        if let Some(first) = def.params[..i].iter().find(|q| q.name.name == p.name.name) {
            out.push(
                Diagnostic::error(
                    DUPLICATE_NAME,
                    format!("parameter `{}` is declared twice", p.name.name),
                    p.name.span,
                )
                .with_label("declared again here")
                .with_secondary(first.name.span, "first declared here"),
            );
        }
    }
    let mut returned: Option<Span> = None;
    for stmt in &def.body {
        if let Some(r) = returned {
            out.push(
                Diagnostic::error(MISPLACED, "statement after `return` is never run", stmt.span)
                    .with_label("unreachable")
                    .with_secondary(r, "the layer returns here"),
            );
            break;
        }
        match &stmt.kind {
            StmtKind::Input { .. } => out.push(
                Diagnostic::error(MISPLACED, "`input` declares model inputs and cannot appear in a layer", stmt.span)
                    .with_label("not allowed in a layer")
                    .with_help("layer inputs are its parameters: `layer f(x, y: [n]) { … }`"),
            ),
            StmtKind::Output(_) => out.push(
                Diagnostic::error(MISPLACED, "`output` cannot appear in a layer", stmt.span)
                    .with_label("not allowed in a layer")
                    .with_help("a layer gives its value with `return EXPR`"),
            ),
            StmtKind::Return(_) => returned = Some(stmt.span),
            _ => {}
        }
    }
    if returned.is_none() {
        out.push(missing_return(def));
    }
    out
}

fn missing_return(def: &LayerDef) -> Diagnostic {
    Diagnostic::error(MISSING_RETURN, format!("custom layer `{}` has no `return`", def.name.name), def.name.span)
        .with_label("this layer returns nothing")
        .with_help("end its body with `return EXPR`, the layer's output")
}

impl<'a> Lowerer<'a> {
    /// Creates an instance of a custom layer with attribute arguments `args`.
    pub fn construct_custom(&mut self, def: &'a LayerDef, args: &[ArgVal], span: Span) -> Result<usize, Diagnostic> {
        if let Some(&inst) = self.scope().instance.and_then(|outer| self.sub_instances.get(&(outer, span.start))) {
            return Ok(inst);
        }
        let attrs = attr_params(def);
        let params: Vec<Param> =
            attrs.iter().map(|p| Param { name: &p.name.name, aliases: &[], required: p.default.is_none() }).collect();
        let b = bind(&def.name.name, &params, args, span)?;
        let mut values = Vec::new();
        for (i, p) in attrs.iter().enumerate() {
            let v = match (b.get(i), &p.default) {
                (Some(v), _) => v.clone(),
                (None, Some(d)) => eval_const(d)?,
                (None, None) => unreachable!("bind reports missing required attributes"),
            };
            values.push((p.name.name.clone(), v));
        }
        let inst =
            self.add_instance(&def.name.name, LayerKind::Custom { def: def.name.name.clone(), attrs: values }, span);
        if let Some(outer) = self.scope().instance {
            self.sub_instances.insert((outer, span.start), inst);
        }
        Ok(inst)
    }

    pub fn apply_custom(
        &mut self,
        inst: usize,
        def_name: &str,
        attrs: &[(String, Sv)],
        inputs: &[(Tensor, Span)],
        span: Span,
    ) -> Result<Tensor, Diagnostic> {
        let def = *self.defs.get(def_name).expect("custom instances name an existing definition");
        if self.custom_stack.iter().any(|(n, _)| n == def_name) {
            return Err(Diagnostic::error(RECURSION, format!("custom layer `{def_name}` applies itself"), span)
                .with_label("recursive application")
                .with_secondary(def.name.span, "defined here")
                .with_help("a layer's body cannot use the layer being defined"));
        }
        let tparams = tensor_params(def);
        if tparams.is_empty() {
            // `check_def` reports a layer without parameters once, at its definition.
            return Err(poisoned(span));
        }
        if tparams.len() != inputs.len() {
            let names: Vec<&str> = tparams.iter().map(|p| p.name.name.as_str()).collect();
            return Err(Diagnostic::error(
                ARITY,
                format!(
                    "`{def_name}` takes {} input tensor(s) ({}) but gets {}",
                    tparams.len(),
                    names.join(", "),
                    inputs.len()
                ),
                span,
            )
            .with_label(format!("{} input(s) given", inputs.len()))
            .with_secondary(def.name.span, "defined here"));
        }
        self.enter_custom(def_name, span)?;
        self.reserve_row(inst, def_name);
        self.scopes.push(Scope { instance: Some(inst), warn_unused: true, ..Scope::default() });
        self.custom_stack.push((def_name.to_string(), span));
        let result = super::limits::with_stack(|| self.run_custom_body(def, attrs, &tparams, inputs, span));
        self.custom_stack.pop();
        self.depth -= super::limits::CUSTOM_DEPTH_COST;
        if matches!(result, Ok(Some(_))) {
            let roots: Vec<_> = result.iter().flatten().map(|t| t.id).collect();
            self.warn_unused(&roots);
        }
        self.scopes.pop();
        let Some(out) = result? else { return Err(poisoned(span)) };
        let xs: Vec<Tensor> = inputs.iter().map(|(t, _)| t.clone()).collect();
        let source = self.record(inst, &xs, out.id, def_name);
        Ok(Tensor { id: out.id, source })
    }

    /// Runs the body; `Ok(None)` when an error inside was already reported.
    fn run_custom_body(
        &mut self,
        def: &'a LayerDef,
        attrs: &[(String, Sv)],
        tparams: &[&ast::LayerParam],
        inputs: &[(Tensor, Span)],
        span: Span,
    ) -> Result<Option<Tensor>, Diagnostic> {
        for (name, value) in attrs {
            let ident = ast::Ident { name: name.clone(), span: value.span };
            self.bind_used(&ident, value.clone())?;
        }
        for (p, (t, t_span)) in tparams.iter().zip(inputs) {
            if let Some(pattern) = &p.shape {
                self.match_pattern(def, p, pattern, t, *t_span)?;
            }
            self.bind_used(&p.name, Sv::new(Value::Tensor(t.clone()), p.name.span))?;
        }
        self.set_current(Sv::new(Value::Tensor(inputs[0].0.clone()), inputs[0].1));
        let first_new = self.diags.len();
        let ret = self.run_body(&def.body, false);
        if self.diags[first_new..].iter().any(|d| d.is_error()) {
            // Errors inside the body also point at the application that
            // exposed them, since they may depend on its input shapes.
            // Limit errors already name their chain of layers.
            let limits = [super::errors::NESTING, super::errors::EXPANSION];
            for d in &mut self.diags[first_new..] {
                if !limits.contains(&d.code) && !d.secondary.iter().any(|l| l.span == span) {
                    d.secondary
                        .push(crate::diag::Label { span, message: format!("in `{}` applied here", def.name.name) });
                }
            }
            return Ok(None);
        }
        let Some(ret) = ret else { return Err(missing_return(def)) };
        match ret.value {
            Value::Tensor(t) => Ok(Some(t)),
            Value::Poison => Ok(None),
            other => Err(Diagnostic::error(
                NOT_A_TENSOR,
                format!("`{}` must return a tensor but returns {}", def.name.name, other.describe(&self.g)),
                ret.span,
            )
            .with_label("not a tensor")
            .with_secondary(span, "applied here")),
        }
    }

    fn bind_used(&mut self, name: &ast::Ident, value: Sv) -> Result<(), Diagnostic> {
        self.bind(name, value)?;
        if let Some(b) = self.scope_mut().bindings.last_mut() {
            b.used = true;
        }
        Ok(())
    }

    /// Matches `x: [n, 3]` against the per-sample shape of `t`, binding `n`.
    fn match_pattern(
        &mut self,
        def: &LayerDef,
        p: &ast::LayerParam,
        pattern: &ast::ShapeExpr,
        t: &Tensor,
        t_span: Span,
    ) -> Result<(), Diagnostic> {
        let shape = self.g.shape(t.id).clone();
        let dims: Vec<Option<usize>> = shape.0.iter().skip(usize::from(shape.has_batch())).map(|d| d.known()).collect();
        let mismatch = |detail: String| {
            Diagnostic::error(
                SHAPE_PATTERN,
                format!(
                    "`{}` of `{}` expects shape {} but gets {}",
                    p.name.name,
                    def.name.name,
                    pattern_text(pattern),
                    per_sample(&shape)
                ),
                t_span,
            )
            .with_label(detail)
            .with_secondary(pattern.span, "pattern declared here")
        };
        if dims.len() != pattern.dims.len() {
            return Err(mismatch(format!("rank {} instead of {}", dims.len(), pattern.dims.len())));
        }
        for (dim, e) in dims.iter().zip(&pattern.dims) {
            let actual = dim.unwrap_or(0) as i64;
            if let ExprKind::Ident(n) = &e.kind {
                if !self.is_bound(n) {
                    self.bind_used(&ast::Ident { name: n.clone(), span: e.span }, Sv::new(Value::Int(actual), e.span))?;
                    continue;
                }
            }
            let want = self.eval(e)?;
            let want = super::values::int(&want, "shape pattern dimension", &self.g)?;
            if want != actual {
                return Err(mismatch(format!("size {actual} where the pattern needs {want}")));
            }
        }
        Ok(())
    }

    /// `w: [n, units] = glorot_uniform` inside a custom layer.
    pub fn param(
        &mut self,
        name: &ast::Ident,
        shape: &ast::ShapeExpr,
        init: &ast::Expr,
        span: Span,
    ) -> Result<Sv, Diagnostic> {
        let inst = self.scope().instance.expect("params are only lowered inside custom layers");
        let mut dims = Vec::new();
        for d in &shape.dims {
            let v = self.eval(d)?;
            dims.push(super::values::positive(&v, "parameter dimension", &self.g)?);
        }
        if super::values::element_count(&dims).is_none() {
            return Err(Diagnostic::error(BAD_SHAPE, format!("parameter `{}` is too large", name.name), shape.span)
                .with_label(format!("more than {} values", super::values::MAX_ELEMENTS)));
        }
        let init_v = self.eval(init)?;
        let init = super::init::initializer(&init_v, "parameter initializer", &self.g)?;
        let full = format!("{}/{}", self.instances[inst].name, name.name);
        let existing = self.instances[inst].vars.iter().copied().find(|v| self.g.var(*v).name == full);
        let var = match existing {
            Some(v) => {
                let had = self.g.var(v).shape.clone();
                if had != dims {
                    return Err(Diagnostic::error(
                        SHARED_SHAPE,
                        format!(
                            "shared layer `{}` was built with `{}` of shape {had:?} but now needs {dims:?}",
                            self.instances[inst].name, name.name
                        ),
                        span,
                    )
                    .with_label("different size on this application")
                    .with_help("a shared layer reuses its weights, so apply it only to inputs of the same size"));
                }
                v
            }
            None => {
                let v = self.g.add_var(VarDecl {
                    name: full,
                    shape: dims,
                    init,
                    regularizer: None,
                    kind: VarKind::Trainable,
                });
                self.instances[inst].vars.push(v);
                v
            }
        };
        self.origin(span, Some(self.instances[inst].name.clone()));
        let id = self.g.var_node(var);
        Ok(Sv::new(Value::Tensor(Tensor { id, source: None }), span))
    }
}

fn pattern_text(p: &ast::ShapeExpr) -> String {
    let dims: Vec<String> = p
        .dims
        .iter()
        .map(|d| match &d.kind {
            ExprKind::Int(v) => v.to_string(),
            ExprKind::Ident(n) => n.clone(),
            _ => "_".to_string(),
        })
        .collect();
    format!("[{}]", dims.join(", "))
}
