//! `flatten` and `reshape`: per-sample shape changes that keep the batch
//! dimension and the element order (row-major, as in Keras).

use crate::diag::{Diagnostic, Span};
use crate::ir::{Dim, Graph, NodeId, Shape};
use crate::lower::errors::*;
use crate::lower::values::{self, Sv, Tensor, Value};

/// The `target_shape` argument: positive sizes and at most one -1.
pub(super) fn target(sv: &Sv, g: &Graph) -> Result<Vec<i64>, Diagnostic> {
    let Value::List(items) = &sv.value else {
        return Err(Diagnostic::error(
            ARG_TYPE,
            format!("reshape expects a target shape list such as [28, 28, 1] but found {}", sv.value.describe(g)),
            sv.span,
        )
        .with_label("expected a list of sizes"));
    };
    if items.is_empty() {
        return Err(
            Diagnostic::error(ARG_RANGE, "reshape needs at least one dimension", sv.span).with_label("empty shape")
        );
    }
    let mut dims = Vec::new();
    let mut inferred: Option<Span> = None;
    for item in items {
        let d = values::int(item, "reshape dimension", g)?;
        if d == -1 {
            if let Some(first) = inferred {
                return Err(Diagnostic::error(ARG_RANGE, "reshape can infer only one dimension", item.span)
                    .with_label("second -1")
                    .with_secondary(first, "first -1"));
            }
            inferred = Some(item.span);
        } else if d < 1 {
            return Err(Diagnostic::error(
                ARG_RANGE,
                format!("reshape dimensions must be positive or -1 but one is {d}"),
                item.span,
            )
            .with_label("invalid size"));
        }
        if d > values::MAX_DIM {
            return Err(Diagnostic::error(ARG_RANGE, format!("reshape dimension {d} is too large"), item.span)
                .with_label(format!("at most {}", values::MAX_DIM)));
        }
        dims.push(d);
    }
    let known: Vec<usize> = dims.iter().filter(|&&d| d > 0).map(|&d| d as usize).collect();
    if values::element_count(&known).is_none() {
        return Err(Diagnostic::error(ARG_RANGE, "reshape target holds too many values", sv.span)
            .with_label(format!("more than {} values", values::MAX_ELEMENTS)));
    }
    Ok(dims)
}

pub(super) fn flatten(g: &mut Graph, name: &str, x: &Tensor, span: Span) -> Result<NodeId, Diagnostic> {
    let shape = g.shape(x.id).clone();
    let count: usize = shape.0.iter().skip(1).map(|d| d.known().unwrap_or(1)).product();
    let target = Shape(vec![Dim::Batch, Dim::Known(count)]);
    g.reshape(x.id, target).map_err(|e| shape_error(e, name, span))
}

pub(super) fn reshape(g: &mut Graph, name: &str, target: &[i64], x: &Tensor, span: Span) -> Result<NodeId, Diagnostic> {
    let shape = g.shape(x.id).clone();
    let count: usize = shape.0.iter().skip(1).map(|d| d.known().unwrap_or(1)).product();
    let known: usize = target.iter().filter(|&&d| d > 0).map(|&d| d as usize).product();
    let show = |t: &[i64]| format!("[{}]", t.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "));
    let mismatch = || {
        Diagnostic::error(
            RESHAPE,
            format!("{name} cannot turn {} ({count} values) into {}", per_sample(&shape), show(target)),
            span,
        )
        .with_label(format!("the input has {count} values per sample"))
    };
    let mut dims = vec![Dim::Batch];
    if target.contains(&-1) {
        if known == 0 || !count.is_multiple_of(known) {
            return Err(mismatch().with_note(format!("{count} is not a multiple of {known}")));
        }
        dims.extend(target.iter().map(|&d| Dim::Known(if d == -1 { count / known } else { d as usize })));
    } else {
        if known != count {
            return Err(mismatch().with_note(format!("the target holds {known} values")));
        }
        dims.extend(target.iter().map(|&d| Dim::Known(d as usize)));
    }
    g.reshape(x.id, Shape(dims)).map_err(|e| shape_error(e, name, span))
}
