//! Merge layers: `add`, `multiply`, `subtract` (exactly two), `average`,
//! `maximum`, `minimum` (same shapes, as Keras requires), `concatenate`
//! (along one axis; the others must agree) and `dot` (Keras's batch dot
//! along the given axes, optionally of L2-normalized inputs).

use super::LayerKind;
use crate::diag::{Diagnostic, Span};
use crate::ir::{BinaryOp, Dim, Graph, NodeId, Op, Shape};
use crate::lower::activations::axis as resolve_axis;
use crate::lower::args::{bind, opt, req};
use crate::lower::errors::*;
use crate::lower::values::{self, ArgVal, Sv, Tensor, Value};

/// The elementwise merges besides `add`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeOp {
    Multiply,
    Subtract,
    Average,
    Maximum,
    Minimum,
}

impl MergeOp {
    pub fn class(self) -> &'static str {
        match self {
            MergeOp::Multiply => "Multiply",
            MergeOp::Subtract => "Subtract",
            MergeOp::Average => "Average",
            MergeOp::Maximum => "Maximum",
            MergeOp::Minimum => "Minimum",
        }
    }
}

pub(super) fn is_merge(name: &str) -> bool {
    matches!(name, "multiply" | "subtract" | "average" | "maximum" | "minimum" | "dot")
}

pub(super) fn kind(name: &str, base: &str, args: &[ArgVal], span: Span, g: &Graph) -> Result<LayerKind, Diagnostic> {
    let op = match base {
        "multiply" => MergeOp::Multiply,
        "subtract" => MergeOp::Subtract,
        "average" => MergeOp::Average,
        "maximum" => MergeOp::Maximum,
        "minimum" => MergeOp::Minimum,
        _ => {
            let b = bind(name, &[req("axes"), opt("normalize")], args, span)?;
            let axes = dot_axes(b.get(0).expect("required"), g)?;
            let normalize = b.get(1).map(|v| values::boolean(v, "normalize", g)).transpose()?.unwrap_or(false);
            return Ok(LayerKind::Dot { axes, normalize });
        }
    };
    bind(name, &[], args, span)?;
    Ok(LayerKind::Merge(op))
}

/// `axes = 1` or `axes = [1, 2]`.
fn dot_axes(sv: &Sv, g: &Graph) -> Result<(i64, i64), Diagnostic> {
    match &sv.value {
        Value::List(items) if items.len() == 2 => {
            Ok((values::int(&items[0], "axes", g)?, values::int(&items[1], "axes", g)?))
        }
        Value::List(items) => Err(Diagnostic::error(
            ARG_TYPE,
            format!("dot axes expects one axis or a pair [a, b] but got {} values", items.len()),
            sv.span,
        )
        .with_label("expected 1 or 2 values")),
        _ => {
            let a = values::int(sv, "axes", g)?;
            Ok((a, a))
        }
    }
}

fn at_least_two(name: &str, inputs: &[(Tensor, Span)], span: Span) -> Result<(), Diagnostic> {
    if inputs.len() < 2 {
        return Err(Diagnostic::error(
            MERGE_ARITY,
            format!("{name} needs at least 2 tensors but gets {}", inputs.len()),
            span,
        )
        .with_label("too few inputs")
        .with_help(format!(
            "pass the tensors to merge: `{}(a, b)`",
            name.trim_end_matches(|c: char| c == '_' || c.is_ascii_digit())
        )));
    }
    Ok(())
}

pub(super) fn add(g: &mut Graph, name: &str, inputs: &[(Tensor, Span)], span: Span) -> Result<NodeId, Diagnostic> {
    same_shapes(g, name, inputs, span)?;
    let mut acc = inputs[0].0.id;
    for (t, _) in &inputs[1..] {
        acc = g.add(acc, t.id).map_err(|e| shape_error(e, name, span))?;
    }
    Ok(acc)
}

/// At least two inputs, all of one shape.
fn same_shapes(g: &Graph, name: &str, inputs: &[(Tensor, Span)], span: Span) -> Result<(), Diagnostic> {
    at_least_two(name, inputs, span)?;
    let (first, first_span) = &inputs[0];
    let shape = g.shape(first.id).clone();
    for (t, s) in &inputs[1..] {
        let other = g.shape(t.id);
        if other != &shape {
            return Err(Diagnostic::error(
                MERGE_SHAPES,
                format!(
                    "{name} needs inputs of the same shape but gets {} and {}",
                    per_sample(&shape),
                    per_sample(other)
                ),
                span,
            )
            .with_label("shapes differ")
            .with_secondary(*first_span, format!("this has shape {}", per_sample(&shape)))
            .with_secondary(*s, format!("this has shape {}", per_sample(other))));
        }
    }
    Ok(())
}

fn exactly_two(name: &str, inputs: &[(Tensor, Span)], span: Span) -> Result<(), Diagnostic> {
    if inputs.len() != 2 {
        return Err(Diagnostic::error(
            MERGE_ARITY,
            format!("{name} takes exactly 2 tensors but gets {}", inputs.len()),
            span,
        )
        .with_label(format!("{} inputs", inputs.len()))
        .with_help("pass two tensors: `subtract(a, b)` is a - b"));
    }
    Ok(())
}

pub(super) fn elementwise(
    g: &mut Graph,
    name: &str,
    op: MergeOp,
    inputs: &[(Tensor, Span)],
    span: Span,
) -> Result<NodeId, Diagnostic> {
    if op == MergeOp::Subtract {
        exactly_two(name, inputs, span)?;
    }
    same_shapes(g, name, inputs, span)?;
    let err = |e| shape_error(e, name, span);
    let bin = match op {
        MergeOp::Multiply => BinaryOp::Mul,
        MergeOp::Subtract => BinaryOp::Sub,
        MergeOp::Average => BinaryOp::Add,
        MergeOp::Maximum => BinaryOp::Max,
        MergeOp::Minimum => BinaryOp::Min,
    };
    let mut acc = inputs[0].0.id;
    for (t, _) in &inputs[1..] {
        acc = g.binary(bin, acc, t.id).map_err(err)?;
    }
    if op == MergeOp::Average {
        let n = g.scalar(inputs.len() as f64);
        acc = g.div(acc, n).map_err(err)?;
    }
    Ok(acc)
}

/// Keras's `normalize(x, axis)`: `x * min(rsqrt(sum(x²)), 1 / 1e-7)`.
fn l2_normalize(g: &mut Graph, x: NodeId, axis: usize) -> Result<NodeId, crate::shape::ShapeError> {
    let sq = g.mul(x, x)?;
    let s = g.reduce_sum(sq, vec![axis], true)?;
    let floor = g.scalar(1e-14);
    let s = g.binary(BinaryOp::Max, s, floor)?;
    let norm = g.unary(crate::ir::UnaryOp::Sqrt, s)?;
    g.div(x, norm)
}

/// Keras's `Dot`: two `[B, n]` inputs give `[B, 1]`; two `[B, p, c]` and
/// `[B, q, c]` inputs (after moving each contracted axis last) give `[B, p, q]`.
pub(super) fn dot(
    g: &mut Graph,
    name: &str,
    axes: (i64, i64),
    normalize: bool,
    inputs: &[(Tensor, Span)],
    span: Span,
) -> Result<NodeId, Diagnostic> {
    exactly_two(name, inputs, span)?;
    let err = |e| shape_error(e, name, span);
    let (a, b) = (&inputs[0], &inputs[1]);
    let (sa, sb) = (g.shape(a.0.id).clone(), g.shape(b.0.id).clone());
    let rank = sa.rank();
    if rank != sb.rank() || !(rank == 2 || rank == 3) {
        return Err(Diagnostic::error(
            RANK,
            format!(
                "{name} takes two inputs of rank 1 or 2 per sample (the same for both) but gets {} and {}",
                per_sample(&sa),
                per_sample(&sb)
            ),
            span,
        )
        .with_label("unsupported ranks")
        .with_secondary(a.1, format!("this has shape {}", per_sample(&sa)))
        .with_secondary(b.1, format!("this has shape {}", per_sample(&sb))));
    }
    let resolve = |axis: i64| match resolve_axis(axis, rank) {
        Some(ax) if ax >= 1 => Ok(ax),
        _ => Err(Diagnostic::error(
            ARG_RANGE,
            format!("{name}: axis {axis} is out of range for inputs of rank {} per sample", rank - 1),
            span,
        )
        .with_label(format!("valid axes: 1 to {}, or -{} to -1", rank - 1, rank - 1))
        .with_note("axis 0 is the batch dimension")),
    };
    let (ax, bx) = (resolve(axes.0)?, resolve(axes.1)?);
    if sa.0[ax] != sb.0[bx] {
        return Err(Diagnostic::error(
            MERGE_SHAPES,
            format!(
                "{name} contracts axis {ax} of {} with axis {bx} of {}, whose sizes differ",
                per_sample(&sa),
                per_sample(&sb)
            ),
            span,
        )
        .with_label(format!("{} vs {}", sa.0[ax], sb.0[bx]))
        .with_secondary(a.1, format!("this has shape {}", per_sample(&sa)))
        .with_secondary(b.1, format!("this has shape {}", per_sample(&sb))));
    }
    let (mut x, mut y) = (a.0.id, b.0.id);
    if normalize {
        x = l2_normalize(g, x, ax).map_err(err)?;
        y = l2_normalize(g, y, bx).map_err(err)?;
    }
    if rank == 2 {
        let p = g.mul(x, y).map_err(err)?;
        return g.reduce_sum(p, vec![1], true).map_err(err);
    }
    // Contracted axis last: [B, p, c] and [B, q, c].
    let last = |g: &mut Graph, t: NodeId, axis: usize| {
        if axis == 2 {
            Ok(t)
        } else {
            g.push(Op::Transpose(vec![0, 2, 1]), &[t])
        }
    };
    let x = last(g, x, ax).map_err(err)?;
    let y = last(g, y, bx).map_err(err)?;
    let (xs, ys) = (g.shape(x).0.clone(), g.shape(y).0.clone());
    let x4 = g.reshape(x, Shape(vec![Dim::Batch, xs[1], Dim::Known(1), xs[2]])).map_err(err)?;
    let y4 = g.reshape(y, Shape(vec![Dim::Batch, Dim::Known(1), ys[1], ys[2]])).map_err(err)?;
    let p = g.mul(x4, y4).map_err(err)?;
    g.reduce_sum(p, vec![3], false).map_err(err)
}

pub(super) fn concatenate(
    g: &mut Graph,
    name: &str,
    axis: i64,
    inputs: &[(Tensor, Span)],
    span: Span,
) -> Result<NodeId, Diagnostic> {
    at_least_two(name, inputs, span)?;
    let (first, first_span) = &inputs[0];
    let shape = g.shape(first.id).clone();
    let rank = shape.rank();
    let ax = match resolve_axis(axis, rank) {
        Some(a) if a >= 1 => a,
        _ => {
            return Err(Diagnostic::error(
                CONCAT,
                format!("{name}: axis {axis} is out of range for inputs of shape {}", per_sample(&shape)),
                span,
            )
            .with_label(match rank.saturating_sub(1) {
                0 => "these inputs have no axis to concatenate along".to_string(),
                1 => "the only valid axis is 1 (or -1)".to_string(),
                n => format!("valid axes: 1 to {n}, or -{n} to -1"),
            })
            .with_note("axis 0 is the batch dimension and cannot be concatenated"))
        }
    };
    for (t, s) in &inputs[1..] {
        let other = g.shape(t.id);
        let agree =
            other.rank() == rank && other.0.iter().zip(&shape.0).enumerate().all(|(d, (a, b))| d == ax || a == b);
        if !agree {
            return Err(Diagnostic::error(
                CONCAT,
                format!(
                    "{name} along axis {axis} needs inputs that agree on the other axes but gets {} and {}",
                    per_sample(&shape),
                    per_sample(other)
                ),
                span,
            )
            .with_label("shapes do not line up")
            .with_secondary(*first_span, format!("this has shape {}", per_sample(&shape)))
            .with_secondary(*s, format!("this has shape {}", per_sample(other))));
        }
    }
    let ids: Vec<NodeId> = inputs.iter().map(|(t, _)| t.id).collect();
    g.push(Op::Concat { axis: ax }, &ids).map_err(|e| shape_error(e, name, span))
}
