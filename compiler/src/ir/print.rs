//! The IR's text form, used by `nn ir`, golden tests and docs.
//!
//! ```text
//! $0 dense/kernel: [784, 128] = glorot_uniform
//! %0 = input image : f32[B, 28, 28]
//! %1 = reshape<[B, 784]> %0 : f32[B, 784]
//! %3 = matmul %1, %2 : f32[B, 128]
//! output logits = %7
//! update $0 = %20
//! ```

use super::graph::{Graph, InputRole};
use super::op::{Op, Padding, Window};
use super::scan::ScanBody;
use super::var::VarKind;
use super::{DType, NodeId};
use std::fmt::Write;

pub fn print_graph(graph: &Graph) -> String {
    let mut out = String::new();
    for (i, v) in graph.vars.iter().enumerate() {
        let _ = write!(out, "${i} {}: {:?} = {}", v.name, v.shape, v.init);
        if let Some(r) = &v.regularizer {
            let _ = write!(out, ", {r}");
        }
        match &v.kind {
            VarKind::Trainable => {}
            VarKind::NonTrainable => out.push_str(" (non-trainable)"),
            VarKind::Slot { of, slot } => {
                let _ = write!(out, " (slot {slot} of ${})", of.0);
            }
        }
        out.push('\n');
    }
    let mut bodies_shown = Vec::new();
    for id in graph.ids() {
        out.push_str(&print_node(graph, id));
        out.push('\n');
        if let Op::Scan(scan) = &graph.node(id).op {
            // A loop's body is shown once, under its first result; later
            // siblings name that node.
            match bodies_shown.iter().find(|(key, _)| *key == scan.group_key()) {
                Some((_, first)) => {
                    let _ = writeln!(out, "    (the loop of {first})");
                }
                None => {
                    bodies_shown.push((scan.group_key(), id));
                    out.push_str(&print_body(&scan.body));
                }
            }
        }
    }
    for (name, id) in &graph.outputs {
        let _ = writeln!(out, "output {name} = {id}");
    }
    for (var, id) in &graph.updates {
        let _ = writeln!(out, "update {var} = {id}");
    }
    out
}

/// A loop body, indented under its loop: which inputs are carries,
/// sequences and invariants, then the body graph.
fn print_body(body: &ScanBody) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  {{ body: {} carries, {} sequences, {} invariants (its inputs, in order); outputs: new carries, then per-step values",
        body.carries,
        body.sequences,
        body.invariants()
    );
    for line in print_graph(&body.graph).lines() {
        let _ = writeln!(out, "    {line}");
    }
    out.push_str("  }\n");
    out
}

/// One line: `%3 = matmul %1, %2 : f32[B, 128]`.
pub fn print_node(graph: &Graph, id: NodeId) -> String {
    let node = graph.node(id);
    let mut line = format!("{id} = {}", node.op.name());
    let attrs = attributes(graph, &node.op);
    if !attrs.is_empty() {
        let _ = write!(line, "<{attrs}>");
    }
    if !node.args.is_empty() {
        let args: Vec<String> = node.args.iter().map(|a| a.to_string()).collect();
        let _ = write!(line, " {}", args.join(", "));
    }
    let _ = write!(line, " : {}", node.ty);
    line
}

fn window(w: &Window) -> String {
    let pad = match w.padding {
        Padding::Valid => "valid",
        Padding::Same => "same",
    };
    format!("{}x{}, stride {}x{}, {pad}", w.size.0, w.size.1, w.strides.0, w.strides.1)
}

fn attributes(graph: &Graph, op: &Op) -> String {
    match op {
        Op::Input(i) => {
            let decl = &graph.inputs[*i];
            let role = match decl.role {
                InputRole::Feature => "",
                InputRole::Target => " target",
                InputRole::SampleWeight => " sample_weight",
                InputRole::LearningRate => " learning_rate",
                InputRole::Step => " step",
            };
            format!("{}{role}", decl.name)
        }
        Op::Var(v) => format!("{v} {}", graph.var(*v).name),
        Op::Const(c) => format!("{c}"),
        Op::Cast(DType::F32) => "f32".into(),
        Op::Cast(DType::I32) => "i32".into(),
        Op::Reduce { axes, keep_dims, .. } => {
            format!("axes {axes:?}{}", if *keep_dims { ", keep" } else { "" })
        }
        Op::ArgMax { axis } | Op::Softmax { axis } | Op::LogSoftmax { axis } | Op::Concat { axis } => {
            format!("axis {axis}")
        }
        Op::MatMul { transpose_a, transpose_b } => match (transpose_a, transpose_b) {
            (false, false) => String::new(),
            (true, false) => "aT".into(),
            (false, true) => "bT".into(),
            (true, true) => "aT, bT".into(),
        },
        Op::Reshape(s) | Op::Broadcast(s) => s.to_string(),
        Op::Transpose(p) => format!("{p:?}"),
        Op::Slice { axis, start, end } => format!("axis {axis}, {start}..{end}"),
        Op::Pad { axis, before, after } => format!("axis {axis}, {before}+{after}"),
        Op::Conv2d(w)
        | Op::Conv2dGradKernel { window: w }
        | Op::Pool2d { window: w, .. }
        | Op::Pool2dGrad { window: w, .. } => window(w),
        Op::Conv2dGradInput { window: w, input } => format!("{}, input {input}", window(w)),
        Op::ScatterAdd { rows } => format!("rows {rows}"),
        Op::OneHot { depth } => format!("depth {depth}"),
        Op::DropoutMask { rate, seed, key } => format!("rate {rate}, seed {seed}, key {key}"),
        Op::RandomNormal { seed, key } => format!("seed {seed}, key {key}"),
        Op::Scan(s) => format!("{} steps{}, {}", s.steps, if s.reverse { ", reverse" } else { "" }, s.result),
        Op::BatchSize | Op::Unary(_) | Op::Binary(_) | Op::Compare(_) | Op::Select | Op::Gather => String::new(),
    }
}
