//! Lowering-time values: what an expression evaluates to before anything is
//! emitted, and the typed extraction of arguments from them.
//!
//! The AST is untyped; evaluation decides whether `dense(16)` is a layer
//! instance, `x @ w` a tensor, or `glorot_uniform` a bare name. Unbound
//! identifiers evaluate to [`Value::Symbol`] and unknown calls to
//! [`Value::Call`], so the consumer that knows what it expects (an
//! initializer, an optimizer, a layer) reports the precise error.

use super::activations::Activation;
use super::errors::*;
use crate::ast::{self, BinOp};
use crate::diag::{Diagnostic, Span};
use crate::ir::{Graph, NodeId};

/// A tensor and the layer call that produced it (for "Connected to").
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub id: NodeId,
    /// Keras's text for that call's output: `dense[0][0]`, `shared[1][0]`.
    pub source: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Tensor(Tensor),
    /// A layer instance (index into the lowerer's instances), not yet applied.
    Layer(usize),
    Activation(Activation),
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    List(Vec<Sv>),
    /// The tensors of a layer call that yields several (a recurrent layer
    /// with `return_state`: the output, then the states), bound by
    /// `a, b, c = …`.
    Results(Vec<Tensor>),
    /// An identifier bound to nothing: a keyword-like name (`same`,
    /// `glorot_uniform`, `adam`) or a typo, decided by the consumer.
    Symbol(String),
    /// A call of a name that is not a layer or function (`l2(0.01)`).
    Call {
        name: String,
        args: Vec<ArgVal>,
    },
    /// The result of an expression that already reported an error; using it
    /// reports nothing more, so one mistake gives one diagnostic.
    Poison,
}

/// A value and the source text it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Sv {
    pub value: Value,
    pub span: Span,
}

impl Sv {
    pub fn new(value: Value, span: Span) -> Sv {
        Sv { value, span }
    }
}

/// An evaluated call argument.
#[derive(Clone, Debug, PartialEq)]
pub struct ArgVal {
    pub name: Option<ast::Ident>,
    pub value: Sv,
    pub span: Span,
}

impl Value {
    /// A phrase for messages: "a tensor of shape [784]", "the string \"128\"".
    pub fn describe(&self, g: &Graph) -> String {
        match self {
            Value::Tensor(t) => format!("a tensor of shape {}", per_sample(g.shape(t.id))),
            Value::Layer(_) => "a layer".into(),
            Value::Activation(a) => format!("the activation `{}`", a.name()),
            Value::Int(v) => format!("the integer {v}"),
            Value::Float(v) => format!("the number {v}"),
            Value::Bool(b) => format!("the boolean {b}"),
            Value::Str(s) => format!("the string {s:?}"),
            Value::List(_) => "a list".into(),
            Value::Results(ts) => format!("the {} results of a layer call", ts.len()),
            Value::Symbol(s) => format!("the name `{s}`"),
            Value::Call { name, .. } => format!("a call of `{name}`"),
            Value::Poison => "an invalid value".into(),
        }
    }

    pub fn as_number(&self) -> Option<f64> {
        match *self {
            Value::Int(v) => Some(v as f64),
            Value::Float(v) => Some(v),
            _ => None,
        }
    }
}

/// Folds arithmetic on two numbers; ints stay ints where exact.
pub fn fold(op: BinOp, a: &Value, b: &Value) -> Option<Value> {
    use Value::*;
    match (op, a, b) {
        (BinOp::Add, Int(x), Int(y)) => x.checked_add(*y).map(Int),
        (BinOp::Sub, Int(x), Int(y)) => x.checked_sub(*y).map(Int),
        (BinOp::Mul, Int(x), Int(y)) => x.checked_mul(*y).map(Int),
        (BinOp::Pow, Int(x), Int(y)) if (0..=62).contains(y) => x.checked_pow(*y as u32).map(Int),
        (BinOp::MatMul, _, _) => None,
        _ => {
            let (x, y) = (a.as_number()?, b.as_number()?);
            Some(Float(match op {
                BinOp::Add => x + y,
                BinOp::Sub => x - y,
                BinOp::Mul => x * y,
                BinOp::Div => x / y,
                BinOp::Pow => x.powf(y),
                BinOp::MatMul => return None,
            }))
        }
    }
}

/// Evaluates an expression that must not involve tensors: `train` values,
/// custom layer defaults, shapes. Identifiers become symbols.
pub fn eval_const(e: &ast::Expr) -> Result<Sv, Diagnostic> {
    use ast::ExprKind as K;
    let v = match &e.kind {
        K::Int(v) => Value::Int(*v),
        K::Float(v) => Value::Float(*v),
        K::Bool(b) => Value::Bool(*b),
        K::Str(s) => Value::Str(s.clone()),
        K::Ident(n) => Value::Symbol(n.clone()),
        K::List(items) => Value::List(items.iter().map(eval_const).collect::<Result<_, _>>()?),
        K::Neg(inner) => match eval_const(inner)?.value {
            Value::Int(v) => v.checked_neg().map_or(Value::Float(-(v as f64)), Value::Int),
            Value::Float(v) => Value::Float(-v),
            other => return Err(bad_operand("-", &other, inner.span)),
        },
        K::Binary { op, lhs, rhs } => {
            let (a, b) = (eval_const(lhs)?, eval_const(rhs)?);
            match fold(*op, &a.value, &b.value) {
                Some(v) => v,
                None => {
                    let culprit = if a.value.as_number().is_none() { &a } else { &b };
                    return Err(bad_operand(op.symbol(), &culprit.value, culprit.span));
                }
            }
        }
        K::Call { callee, args } => {
            let name = match &callee.kind {
                K::Ident(n) => n.clone(),
                _ => {
                    return Err(Diagnostic::error(NOT_A_LAYER, "only a name can be called here", callee.span)
                        .with_label("expected a name such as `l2` or `adam`"))
                }
            };
            let args = args
                .iter()
                .map(|a| Ok(ArgVal { name: a.name.clone(), value: eval_const(&a.value)?, span: a.span }))
                .collect::<Result<_, Diagnostic>>()?;
            Value::Call { name, args }
        }
        K::Map(_) => return Err(misplaced_map(e.span)),
    };
    Ok(Sv::new(v, e.span))
}

/// A map `{ … }` where only a single value fits.
pub fn misplaced_map(span: Span) -> Diagnostic {
    Diagnostic::error(
        TRAIN_TYPE,
        "a map `{ … }` is only allowed as the whole value of loss, loss_weights or metrics",
        span,
    )
    .with_label("map not allowed here")
    .with_help("write one value here, or move the per-output settings to a top-level `loss = { out: … }`")
}

fn bad_operand(op: &str, v: &Value, span: Span) -> Diagnostic {
    let what = match v {
        Value::Symbol(s) => format!("the name `{s}`"),
        Value::Str(s) => format!("the string {s:?}"),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::List(_) => "a list".into(),
        Value::Call { name, .. } => format!("a call of `{name}`"),
        _ => "this value".into(),
    };
    Diagnostic::error(BAD_OPERAND, format!("`{op}` needs numbers here but found {what}"), span)
        .with_label("not a number")
}

// ---- typed extraction ----------------------------------------------------

fn type_error(what: &str, expected: &str, sv: &Sv, g: &Graph) -> Diagnostic {
    let mut d =
        Diagnostic::error(ARG_TYPE, format!("{what} expects {expected} but found {}", sv.value.describe(g)), sv.span)
            .with_label(format!("expected {expected}"));
    if let Value::Str(s) = &sv.value {
        if s.trim().parse::<f64>().is_ok() {
            d = d.with_help(format!("remove the quotes: `{}`", s.trim()));
        }
    }
    if let Value::Float(v) = sv.value {
        if expected.contains("integer") {
            d = d.with_help(format!("use a whole number, e.g. `{}`", v.round().max(1.0)));
        }
    }
    d
}

/// An integer argument.
pub fn int(sv: &Sv, what: &str, g: &Graph) -> Result<i64, Diagnostic> {
    match sv.value {
        Value::Int(v) => Ok(v),
        _ => Err(type_error(what, "an integer", sv, g)),
    }
}

/// The largest size accepted for one dimension; larger sizes cannot be
/// allocated anyway, and the cap keeps every element count within `usize`.
pub const MAX_DIM: i64 = (1 << 31) - 1;

/// The largest element count accepted for one sample or variable.
pub const MAX_ELEMENTS: usize = 1 << 40;

/// A size: an integer in `1..=MAX_DIM`.
pub fn positive(sv: &Sv, what: &str, g: &Graph) -> Result<usize, Diagnostic> {
    match sv.value {
        Value::Int(v) if v > MAX_DIM => Err(Diagnostic::error(ARG_RANGE, format!("{what} {v} is too large"), sv.span)
            .with_label(format!("at most {MAX_DIM}"))),
        Value::Int(v) if v >= 1 => Ok(v as usize),
        Value::Int(v) => Err(Diagnostic::error(ARG_RANGE, format!("{what} must be at least 1 but is {v}"), sv.span)
            .with_label("must be a positive integer")),
        _ => Err(type_error(what, "a positive integer", sv, g)),
    }
}

/// A number (ints convert).
pub fn number(sv: &Sv, what: &str, g: &Graph) -> Result<f64, Diagnostic> {
    sv.value.as_number().ok_or_else(|| type_error(what, "a number", sv, g))
}

/// The element count of `dims` if it is at most [`MAX_ELEMENTS`].
pub fn element_count(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).filter(|&n| n <= MAX_ELEMENTS)
}

/// A number in `[lo, hi)` or `(lo, hi)`, checked by `ok`; `range` describes it.
pub fn number_in(sv: &Sv, what: &str, range: &str, ok: impl Fn(f64) -> bool, g: &Graph) -> Result<f64, Diagnostic> {
    let v = number(sv, what, g)?;
    if ok(v) {
        Ok(v)
    } else {
        Err(Diagnostic::error(ARG_RANGE, format!("{what} must be {range} but is {v}"), sv.span)
            .with_label(format!("must be {range}")))
    }
}

pub fn boolean(sv: &Sv, what: &str, g: &Graph) -> Result<bool, Diagnostic> {
    match sv.value {
        Value::Bool(b) => Ok(b),
        _ => Err(type_error(what, "`true` or `false`", sv, g)),
    }
}

/// A bare name or a string: `padding = same`, `padding = "same"`.
pub fn name(sv: &Sv, what: &str, g: &Graph) -> Result<String, Diagnostic> {
    match &sv.value {
        Value::Symbol(s) | Value::Str(s) => Ok(s.clone()),
        Value::Activation(a) => Ok(a.name().to_string()),
        _ => Err(type_error(what, "a name", sv, g)),
    }
}

/// One positive integer or a pair `[h, w]` (Keras's `int or tuple`).
pub fn pair(sv: &Sv, what: &str, g: &Graph) -> Result<(usize, usize), Diagnostic> {
    match &sv.value {
        Value::List(items) if items.len() == 2 => Ok((positive(&items[0], what, g)?, positive(&items[1], what, g)?)),
        Value::List(items) => Err(Diagnostic::error(
            ARG_TYPE,
            format!("{what} expects one integer or a pair [height, width] but got {} values", items.len()),
            sv.span,
        )
        .with_label("expected 1 or 2 values")),
        _ => {
            let v = positive(sv, what, g)?;
            Ok((v, v))
        }
    }
}
