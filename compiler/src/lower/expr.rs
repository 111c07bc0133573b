//! Expression evaluation: names, calls, layer construction and application,
//! and tensor math (`+ - * / ** @`, unary `-`, functions), with number
//! arithmetic folded at lowering time (`1 / 255`).

use super::activations::{self, Activation};
use super::args::{bind, opt};
use super::errors::*;
use super::layers::{builtin, is_merge, InitialState, BUILTINS, LAYER_ACTIVATIONS};
use super::state::Lowerer;
use super::values::{fold, ArgVal, Sv, Tensor, Value};
use crate::ast::{self, BinOp, ExprKind};
use crate::diag::{Diagnostic, Span};
use crate::ir::{BinaryOp, Dim, NodeId, Op, Origin, ReduceOp, UnaryOp};

/// Placeholder names for a binding of `n` results: `out, h, c`.
pub(super) fn unpack_names(n: usize) -> String {
    let names: Vec<String> = match n {
        2 => vec!["out".into(), "h".into()],
        3 => vec!["out".into(), "h".into(), "c".into()],
        _ => std::iter::once("out".to_string()).chain((1..n).map(|i| format!("state_{i}"))).collect(),
    };
    names.join(", ")
}

/// Functions usable in math besides the activations.
pub const MATH_FNS: &[&str] =
    &["exp", "log", "sqrt", "abs", "square", "sum", "mean", "max", "min", "maximum", "minimum"];

impl<'a> Lowerer<'a> {
    pub fn eval(&mut self, e: &ast::Expr) -> Result<Sv, Diagnostic> {
        self.enter_expr(e.span)?;
        let result = super::limits::with_stack(|| self.eval_inner(e));
        self.depth -= 1;
        result
    }

    fn eval_inner(&mut self, e: &ast::Expr) -> Result<Sv, Diagnostic> {
        let span = e.span;
        let value = match &e.kind {
            ExprKind::Int(v) => Value::Int(*v),
            ExprKind::Float(v) => Value::Float(*v),
            ExprKind::Bool(b) => Value::Bool(*b),
            ExprKind::Str(s) => Value::Str(s.clone()),
            // A custom layer may reuse an activation's name (`layer swish`);
            // the user's definition wins, so its name stays a symbol here.
            ExprKind::Ident(n) => match self.lookup(n) {
                Some(sv) => sv.value,
                None => match Activation::by_name(n).filter(|_| !self.defs.contains_key(n.as_str())) {
                    Some(a) => Value::Activation(a),
                    None => Value::Symbol(n.clone()),
                },
            },
            ExprKind::List(items) => Value::List(items.iter().map(|i| self.eval(i)).collect::<Result<_, _>>()?),
            ExprKind::Neg(inner) => {
                let v = self.eval(inner)?;
                match v.value {
                    Value::Int(x) => x.checked_neg().map_or(Value::Float(-(x as f64)), Value::Int),
                    Value::Float(x) => Value::Float(-x),
                    Value::Poison => Value::Poison,
                    _ => {
                        let Some(t) = self.expect_tensor(&v, "`-`")? else { return Ok(Sv::new(Value::Poison, span)) };
                        self.math_origin(span);
                        let id = self.g.neg(t.id).map_err(|err| shape_error(err, "`-`", span))?;
                        Value::Tensor(Tensor { id, source: t.source })
                    }
                }
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let (a, b) = (self.eval(lhs)?, self.eval(rhs)?);
                self.binary(*op, a, b, span)?
            }
            ExprKind::Call { callee, args } => return self.call(callee, args, span),
            ExprKind::Map(_) => return Err(super::values::misplaced_map(span)),
        };
        Ok(Sv::new(value, span))
    }

    fn eval_args(&mut self, args: &[ast::Arg]) -> Result<Vec<ArgVal>, Diagnostic> {
        args.iter().map(|a| Ok(ArgVal { name: a.name.clone(), value: self.eval(&a.value)?, span: a.span })).collect()
    }

    /// Nodes of free-standing math belong to the custom layer being applied, if any.
    fn math_origin(&mut self, span: Span) {
        let layer = self.scope().instance.map(|i| self.instances[i].name.clone());
        self.g.set_origin(Origin { span: Some(span), layer });
    }

    /// The tensor in `sv`, `None` for a poisoned value, or an error naming
    /// what was found instead.
    pub fn expect_tensor(&self, sv: &Sv, what: &str) -> Result<Option<Tensor>, Diagnostic> {
        match &sv.value {
            Value::Tensor(t) => Ok(Some(t.clone())),
            Value::Poison => Ok(None),
            Value::Symbol(n) => Err(self.undefined(n, sv.span)),
            other => {
                let mut d = Diagnostic::error(
                    NOT_A_TENSOR,
                    format!("{what} expects a tensor but gets {}", other.describe(&self.g)),
                    sv.span,
                )
                .with_label("not a tensor");
                if matches!(other, Value::Layer(_)) {
                    d = d.with_help("apply the layer to a tensor first: `layer(x)`");
                }
                if let Value::Results(ts) = other {
                    d.code = RESULTS;
                    d = d.with_help(format!("name each result first (`{} = …`), then use one", unpack_names(ts.len())));
                }
                Err(d)
            }
        }
    }

    /// "cannot find value `n`", suggesting a bound name or a built-in.
    pub fn undefined(&self, name: &str, span: Span) -> Diagnostic {
        let mut d = Diagnostic::error(UNDEFINED, format!("cannot find value `{name}`"), span).with_label("not defined");
        let bound: Vec<&str> = self.scope().bindings.iter().map(|b| b.name.as_str()).collect();
        if let Some(h) = suggest(name, bound) {
            d = d.with_help(h);
        } else if builtin(name).is_some() || self.defs.contains_key(name) {
            d = d.with_help(format!("`{name}` is a layer; apply it with `{name}(…)(x)`"));
        }
        d
    }

    /// "unknown layer `n`", suggesting a layer, custom layer or activation.
    pub fn unknown_layer(&self, name: &str, span: Span) -> Diagnostic {
        let mut d = Diagnostic::error(UNKNOWN_LAYER, format!("unknown layer `{name}`"), span).with_label("not a layer");
        let customs: Vec<&str> = self.defs.keys().copied().collect();
        let names = BUILTINS.iter().map(|b| b.0).chain(customs).chain(activations::NAMES.iter().copied());
        if let Some(h) = suggest(name, names) {
            d = d.with_help(h);
        } else if super::init::INITIALIZERS.contains(&name) {
            d = d.with_note(format!("`{name}` is an initializer; pass it as `kernel_initializer = {name}`"));
        }
        d
    }

    fn call(&mut self, callee: &ast::Expr, args: &[ast::Arg], span: Span) -> Result<Sv, Diagnostic> {
        if let ExprKind::Ident(name) = &callee.kind {
            if !self.is_bound(name) {
                return self.call_name(name, args, span);
            }
        }
        // `leaky_relu(…)(x)` applies Keras's LeakyReLU layer, not the function.
        if let ExprKind::Call { callee: inner, args: layer_args } = &callee.kind {
            if let ExprKind::Ident(name) = &inner.kind {
                if self.is_activation_layer(name) {
                    let layer_args = self.eval_args(layer_args)?;
                    let inst = self.construct_builtin(name, &layer_args, callee.span)?;
                    let args = self.eval_args(args)?;
                    return self.apply_to_args(inst, &args, span);
                }
            }
        }
        let f = self.eval(callee)?;
        let args = self.eval_args(args)?;
        self.call_value(f, &args, span)
    }

    /// `name` is an unshadowed activation that also names a Keras layer class.
    fn is_activation_layer(&self, name: &str) -> bool {
        LAYER_ACTIVATIONS.contains(&name) && !self.is_bound(name) && !self.defs.contains_key(name)
    }

    /// A statement `leaky_relu` or `leaky_relu(negative_slope = 0.1)` is
    /// Keras's layer (with the layer's defaults), while `leaky_relu(x)` stays
    /// the function. `None` when `e` is neither.
    pub(super) fn activation_layer_statement(&mut self, e: &ast::Expr) -> Result<Option<Sv>, Diagnostic> {
        let (name, args) = match &e.kind {
            ExprKind::Ident(n) => (n, &[][..]),
            ExprKind::Call { callee, args } => match &callee.kind {
                ExprKind::Ident(n) => (n, args.as_slice()),
                _ => return Ok(None),
            },
            _ => return Ok(None),
        };
        if !self.is_activation_layer(name) {
            return Ok(None);
        }
        let args = self.eval_args(args)?;
        let first_tensor = matches!(args.first(), Some(a) if a.name.is_none()
            && matches!(a.value.value, Value::Tensor(_) | Value::Poison | Value::Symbol(_)));
        if first_tensor {
            return self.math_fn(name, &args, e.span).map(Some);
        }
        let inst = self.construct_builtin(name, &args, e.span)?;
        Ok(Some(Sv::new(Value::Layer(inst), e.span)))
    }

    /// A call of a built-in or custom name that no binding shadows.
    fn call_name(&mut self, name: &str, args: &[ast::Arg], span: Span) -> Result<Sv, Diagnostic> {
        let args = self.eval_args(args)?;
        if let Some(def) = self.defs.get(name).copied() {
            let (tensors, rest) = split_leading_tensors(&args);
            let inst = self.construct_custom(def, rest, span)?;
            if tensors.is_empty() {
                return Ok(Sv::new(Value::Layer(inst), span));
            }
            return self.apply_to_args(inst, tensors, span);
        }
        // An unbound name in first position is most likely a misspelled
        // tensor (`relu(hiden)`), so it is treated as one and reported as undefined.
        let first_tensor = matches!(args.first(), Some(a) if a.name.is_none()
            && matches!(a.value.value, Value::Tensor(_) | Value::Poison | Value::Symbol(_)));
        // `maximum(a, b)` is NumPy's elementwise function (it broadcasts, and
        // takes numbers); Keras's `maximum([a, b])` (a list, or more than two
        // tensors) is the Maximum merge layer.
        let merge_form = matches!(name, "maximum" | "minimum")
            && (matches!(args.first(), Some(ArgVal { name: None, value: Sv { value: Value::List(_), .. }, .. }))
                || args.iter().filter(|a| a.name.is_none()).count() > 2);
        if !merge_form && (MATH_FNS.contains(&name) || (Activation::by_name(name).is_some() && first_tensor)) {
            return self.math_fn(name, &args, span);
        }
        if Activation::by_name(name).is_some() {
            let a = Activation::configure(name, &args, span, &self.g)?;
            return Ok(Sv::new(Value::Activation(a), span));
        }
        if builtin(name).is_some() {
            if is_merge(name) {
                // Keras style `concatenate([a, b])`: the list's items are the inputs.
                let args = match args.split_first() {
                    Some((ArgVal { name: None, value: Sv { value: Value::List(items), .. }, .. }, rest)) => items
                        .iter()
                        .map(|sv| ArgVal { name: None, value: sv.clone(), span: sv.span })
                        .chain(rest.iter().cloned())
                        .collect(),
                    _ => args,
                };
                let (tensors, rest) = split_leading_tensors(&args);
                if tensors.is_empty() && rest.iter().all(|a| a.name.is_some()) {
                    return Err(Diagnostic::error(MERGE_ARITY, format!("`{name}` needs the tensors to merge"), span)
                        .with_label("no tensors given")
                        .with_help(format!("pass them directly: `{name}(a, b)`")));
                }
                let inst = self.construct_builtin(name, rest, span)?;
                return self.apply_to_args(inst, tensors, span);
            }
            let inst = self.construct_builtin(name, &args, span)?;
            return Ok(Sv::new(Value::Layer(inst), span));
        }
        Ok(Sv::new(Value::Call { name: name.to_string(), args }, span))
    }

    fn apply_to_args(&mut self, inst: usize, args: &[ArgVal], span: Span) -> Result<Sv, Diagnostic> {
        let what = format!("`{}`", self.instances[inst].name);
        let mut inputs = Vec::new();
        let mut initial_state = None;
        for a in args {
            if let Some(n) = &a.name {
                if n.name == "initial_state" && initial_state.is_none() {
                    match self.initial_state_arg(&a.value, &what, a.span)? {
                        Some(init) => initial_state = Some(init),
                        None => return Ok(Sv::new(Value::Poison, span)),
                    }
                    continue;
                }
                let d = if n.name == "initial_state" {
                    Diagnostic::error(ARITY, format!("{what} gets `initial_state` twice"), a.span)
                        .with_label("repeated")
                } else {
                    Diagnostic::error(
                        UNKNOWN_ARGUMENT,
                        format!("{what} takes its input tensors by position, not by name `{}`", n.name),
                        a.span,
                    )
                    .with_label("named input")
                    .with_note("the only keyword of a layer call is `initial_state` (recurrent layers)")
                };
                return Err(d);
            }
            match self.expect_tensor(&a.value, &what)? {
                Some(t) => inputs.push((t, a.value.span)),
                None => return Ok(Sv::new(Value::Poison, span)),
            }
        }
        if inputs.is_empty() {
            return Err(Diagnostic::error(ARITY, format!("{what} is applied to no tensor"), span)
                .with_label("no input")
                .with_help("pass the input tensor: `layer(x)`"));
        }
        let mut ts = self.apply_all(inst, &inputs, initial_state.as_ref(), span)?;
        let value = if ts.len() == 1 { Value::Tensor(ts.swap_remove(0)) } else { Value::Results(ts) };
        Ok(Sv::new(value, span))
    }

    /// The value of `initial_state = …`: a list of tensors, or one tensor
    /// (a layer with one state). `None` if one of them is poisoned.
    fn initial_state_arg(&self, v: &Sv, what: &str, span: Span) -> Result<Option<InitialState>, Diagnostic> {
        let items: Vec<&Sv> = match &v.value {
            Value::List(items) => items.iter().collect(),
            _ => vec![v],
        };
        let mut tensors = Vec::new();
        for sv in items {
            match self.expect_tensor(sv, &format!("the `initial_state` of {what}"))? {
                Some(t) => tensors.push((t, sv.span)),
                None => return Ok(None),
            }
        }
        Ok(Some(InitialState { tensors, span }))
    }

    /// Calling an evaluated value: a layer instance or an activation.
    fn call_value(&mut self, f: Sv, args: &[ArgVal], span: Span) -> Result<Sv, Diagnostic> {
        match &f.value {
            Value::Layer(inst) => self.apply_to_args(*inst, args, span),
            Value::Poison => Ok(Sv::new(Value::Poison, span)),
            Value::Activation(a) => {
                let what = format!("activation `{}`", a.name());
                let [arg] = args else {
                    return Err(Diagnostic::error(
                        ARITY,
                        format!("{what} takes one tensor but gets {} arguments", args.len()),
                        span,
                    )
                    .with_label("expected one tensor"));
                };
                let Some(t) = self.expect_tensor(&arg.value, &what)? else { return Ok(Sv::new(Value::Poison, span)) };
                self.math_origin(span);
                let id = self.apply_activation(a, &t, span)?;
                Ok(Sv::new(Value::Tensor(Tensor { id, source: t.source }), span))
            }
            Value::Call { name, .. } => Err(self.unknown_layer(name, f.span)),
            Value::Symbol(name) => Err(self.undefined(name, f.span)),
            other => {
                let mut d =
                    Diagnostic::error(NOT_A_LAYER, format!("{} is not a layer", other.describe(&self.g)), f.span)
                        .with_label("cannot be applied");
                if matches!(other, Value::Tensor(_)) {
                    d = d.with_help("only layers can be applied; to apply a new layer write e.g. `dense(16)(x)`");
                }
                Err(d)
            }
        }
    }

    fn binary(&mut self, op: BinOp, a: Sv, b: Sv, span: Span) -> Result<Value, Diagnostic> {
        if matches!(a.value, Value::Poison) || matches!(b.value, Value::Poison) {
            return Ok(Value::Poison);
        }
        let numeric = |v: &Value| v.as_number().is_some();
        if numeric(&a.value) && numeric(&b.value) {
            return fold(op, &a.value, &b.value).ok_or_else(|| {
                Diagnostic::error(BAD_OPERAND, format!("`{}` needs tensors, not two numbers", op.symbol()), span)
                    .with_label("both operands are numbers")
            });
        }
        let what = format!("`{}`", op.symbol());
        let operand = |this: &Self, v: &Sv| -> Result<Option<Tensor>, Diagnostic> {
            if numeric(&v.value) && op != BinOp::MatMul {
                return Ok(None);
            }
            match &v.value {
                Value::Tensor(t) => Ok(Some(t.clone())),
                Value::Symbol(n) => Err(this.undefined(n, v.span)),
                Value::Poison => Err(poisoned(span)),
                other => {
                    let mut d = Diagnostic::error(
                        BAD_OPERAND,
                        format!("{what} needs numbers or tensors but found {}", other.describe(&this.g)),
                        v.span,
                    )
                    .with_label("cannot be used in arithmetic");
                    if let Value::Str(s) = other {
                        if s.trim().parse::<f64>().is_ok() {
                            d = d.with_help(format!("remove the quotes: `{}`", s.trim()));
                        }
                    }
                    if op == BinOp::MatMul && other.as_number().is_some() {
                        d = d.with_help("`@` multiplies matrices; use `*` to scale");
                    }
                    Err(d)
                }
            }
        };
        let ta = operand(self, &a)?;
        let tb = operand(self, &b)?;
        self.math_origin(span);
        let source = ta.as_ref().or(tb.as_ref()).and_then(|t| t.source.clone());
        let node = |this: &mut Self, t: Option<Tensor>, v: &Sv| match t {
            Some(t) => t.id,
            None => this.g.scalar(v.value.as_number().unwrap_or(0.0)),
        };
        let x = node(self, ta, &a);
        let y = node(self, tb, &b);
        let res = match op {
            BinOp::Add => self.g.add(x, y),
            BinOp::Sub => self.g.sub(x, y),
            BinOp::Mul => self.g.mul(x, y),
            BinOp::Div => self.g.div(x, y),
            BinOp::Pow => self.g.binary(BinaryOp::Pow, x, y),
            BinOp::MatMul => self.g.matmul(x, y),
        };
        let id = res.map_err(|e| {
            shape_error(e, &what, span)
                .with_secondary(a.span, format!("shape {}", self.g.shape(x)))
                .with_secondary(b.span, format!("shape {}", self.g.shape(y)))
        })?;
        Ok(Value::Tensor(Tensor { id, source }))
    }

    /// `exp(x)`, `softmax(x, axis = 1)`, `sum(x, axis = -1)`, `maximum(a, b)`.
    fn math_fn(&mut self, name: &str, args: &[ArgVal], span: Span) -> Result<Sv, Diagnostic> {
        let what = format!("`{name}`");
        let Some(first) = args.first().filter(|a| a.name.is_none()) else {
            return Err(
                Diagnostic::error(ARITY, format!("{what} needs a tensor argument"), span).with_label("missing input")
            );
        };
        let unary = match name {
            "exp" => Some(UnaryOp::Exp),
            "log" => Some(UnaryOp::Log),
            "sqrt" => Some(UnaryOp::Sqrt),
            "abs" => Some(UnaryOp::Abs),
            _ => None,
        };
        if let (Some(v), Some(op)) =
            (first.value.value.as_number(), unary.or((name == "square").then_some(UnaryOp::Neg)))
        {
            bind(name, &[opt("x")], args, span)?;
            let r = match op {
                UnaryOp::Exp => v.exp(),
                UnaryOp::Log => v.ln(),
                UnaryOp::Sqrt => v.sqrt(),
                UnaryOp::Abs => v.abs(),
                _ => v * v,
            };
            return Ok(Sv::new(Value::Float(r), span));
        }
        let Some(x) = self.expect_tensor(&first.value, &what)? else { return Ok(Sv::new(Value::Poison, span)) };
        self.math_origin(span);
        let err = |e| shape_error(e, &what, span);
        let id = if let Some(op) = unary {
            bind(name, &[opt("x")], args, span)?;
            self.g.unary(op, x.id).map_err(err)?
        } else if name == "square" {
            bind(name, &[opt("x")], args, span)?;
            self.g.mul(x.id, x.id).map_err(err)?
        } else if name == "maximum" || name == "minimum" {
            let b = bind(name, &[opt("x"), opt("y")], args, span)?;
            let Some(other) = b.get(1) else {
                return Err(Diagnostic::error(ARITY, format!("{what} needs two tensors"), span)
                    .with_label("missing second input"));
            };
            let y = match other.value.as_number() {
                Some(c) => self.g.scalar(c),
                None => match self.expect_tensor(other, &what)? {
                    Some(t) => t.id,
                    None => return Ok(Sv::new(Value::Poison, span)),
                },
            };
            let op = if name == "maximum" { BinaryOp::Max } else { BinaryOp::Min };
            self.g.binary(op, x.id, y).map_err(err)?
        } else if matches!(name, "sum" | "mean" | "max" | "min") {
            self.reduce(name, x.id, args, span)?
        } else {
            let act = Activation::configure(name, &args[1..], span, &self.g)?;
            self.apply_activation(&act, &x, span)?
        };
        Ok(Sv::new(Value::Tensor(Tensor { id, source: x.source }), span))
    }

    /// NumPy-style reductions: `axis` counts the batch dimension (axis 0);
    /// no axis reduces everything.
    fn reduce(&mut self, name: &str, x: NodeId, args: &[ArgVal], span: Span) -> Result<NodeId, Diagnostic> {
        let b = bind(name, &[opt("x"), opt("axis"), opt("keepdims")], args, span)?;
        let shape = self.g.shape(x).clone();
        let rank = shape.rank();
        let mut axes = Vec::new();
        match b.get(1) {
            None => axes.extend(0..rank),
            Some(sv) => {
                let items = match &sv.value {
                    Value::List(items) => items.clone(),
                    _ => vec![sv.clone()],
                };
                for item in &items {
                    let a = super::values::int(item, "axis", &self.g)?;
                    let Some(ax) = activations::axis(a, rank) else {
                        return Err(Diagnostic::error(
                            ARG_RANGE,
                            format!("`{name}`: axis {a} is out of range for shape {shape}"),
                            item.span,
                        )
                        .with_label(format!("valid axes: 0..{rank} or -{rank}..-1")));
                    };
                    if !axes.contains(&ax) {
                        axes.push(ax);
                    }
                }
                axes.sort_unstable();
            }
        }
        let keep = b.get(2).map(|v| super::values::boolean(v, "keepdims", &self.g)).transpose()?.unwrap_or(false);
        let what = format!("`{name}`");
        let err = |e| shape_error(e, &what, span);
        let g = &mut self.g;
        match name {
            "sum" => g.reduce_sum(x, axes, keep).map_err(err),
            "max" => g.push(Op::Reduce { op: ReduceOp::Max, axes, keep_dims: keep }, &[x]).map_err(err),
            "min" => {
                let n = g.neg(x).map_err(err)?;
                let m = g.push(Op::Reduce { op: ReduceOp::Max, axes, keep_dims: keep }, &[n]).map_err(err)?;
                g.neg(m).map_err(err)
            }
            _ => {
                let count: usize = axes.iter().filter_map(|&a| shape.0[a].known()).product();
                let over_batch = axes.iter().any(|&a| shape.0[a] == Dim::Batch);
                let s = g.reduce_sum(x, axes, keep).map_err(err)?;
                let c = g.scalar(count as f64);
                let mut m = g.div(s, c).map_err(err)?;
                if over_batch {
                    let bs = g.batch_size();
                    m = g.div(m, bs).map_err(err)?;
                }
                Ok(m)
            }
        }
    }
}

/// Splits `f(a, b, units = 3)` into the leading positional tensors and the rest.
fn split_leading_tensors(args: &[ArgVal]) -> (&[ArgVal], &[ArgVal]) {
    let n = args
        .iter()
        .take_while(|a| a.name.is_none() && matches!(a.value.value, Value::Tensor(_) | Value::Poison))
        .count();
    args.split_at(n)
}
