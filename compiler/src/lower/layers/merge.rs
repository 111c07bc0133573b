//! Merge layers: `add` (same shapes, as Keras requires) and `concatenate`
//! (along one axis; the others must agree).

use crate::diag::{Diagnostic, Span};
use crate::ir::{Graph, NodeId, Op};
use crate::lower::activations::axis as resolve_axis;
use crate::lower::errors::*;
use crate::lower::values::Tensor;

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
    let mut acc = first.id;
    for (t, _) in &inputs[1..] {
        acc = g.add(acc, t.id).map_err(|e| shape_error(e, name, span))?;
    }
    Ok(acc)
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
