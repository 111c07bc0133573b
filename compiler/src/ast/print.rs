//! A compact, span-free text form of the AST for golden tests and `nn ast`.

use super::*;
use std::fmt::Write;

/// Prints a file as one item per block, one statement per line.
pub fn print_file(file: &File) -> String {
    let mut out = String::new();
    for item in &file.items {
        match item {
            Item::Model(m) => {
                let _ = writeln!(out, "model {}", m.name.name);
                print_body(&mut out, &m.body);
                if let Some(train) = &m.train {
                    out.push_str("  train\n");
                    for e in &train.entries {
                        let _ = writeln!(out, "    {} = {}", e.key.name, expr(&e.value));
                    }
                }
            }
            Item::Layer(l) => {
                let params: Vec<String> = l.params.iter().map(param).collect();
                let _ = writeln!(out, "layer {}({})", l.name.name, params.join(", "));
                print_body(&mut out, &l.body);
            }
        }
    }
    out
}

fn param(p: &LayerParam) -> String {
    let mut s = p.name.name.clone();
    if let Some(shape) = &p.shape {
        let _ = write!(s, ": {}", shape_expr(shape));
    }
    if let Some(d) = &p.default {
        let _ = write!(s, " = {}", expr(d));
    }
    s
}

fn print_body(out: &mut String, body: &[Stmt]) {
    for stmt in body {
        let line = match &stmt.kind {
            StmtKind::Input { name, shape, dtype } => match dtype {
                Some(t) => format!("input {}: {} {}", name.name, shape_expr(shape), t.name),
                None => format!("input {}: {}", name.name, shape_expr(shape)),
            },
            StmtKind::Let { name, value } => format!("let {} = {}", name.name, expr(value)),
            StmtKind::Unpack { names, value } => {
                let names: Vec<&str> = names.iter().map(|n| n.name.as_str()).collect();
                format!("let {} = {}", names.join(", "), expr(value))
            }
            StmtKind::Param { name, shape, init } => {
                format!("param {}: {} = {}", name.name, shape_expr(shape), expr(init))
            }
            StmtKind::Expr(e) => format!("apply {}", expr(e)),
            StmtKind::Output(names) => {
                format!("output {}", names.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(", "))
            }
            StmtKind::Return(e) => format!("return {}", expr(e)),
        };
        let _ = writeln!(out, "  {line}");
    }
}

fn shape_expr(shape: &ShapeExpr) -> String {
    format!("[{}]", shape.dims.iter().map(expr).collect::<Vec<_>>().join(", "))
}

/// Fully parenthesized, so precedence is visible in goldens.
pub(crate) fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(v) => v.to_string(),
        ExprKind::Float(v) => format!("{v:?}"),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Str(s) => format!("{s:?}"),
        ExprKind::Ident(n) => n.clone(),
        ExprKind::List(items) => format!("[{}]", items.iter().map(expr).collect::<Vec<_>>().join(", ")),
        ExprKind::Call { callee, args } => {
            let args: Vec<String> = args
                .iter()
                .map(|a| match &a.name {
                    Some(n) => format!("{}={}", n.name, expr(&a.value)),
                    None => expr(&a.value),
                })
                .collect();
            format!("{}({})", expr(callee), args.join(", "))
        }
        ExprKind::Binary { op, lhs, rhs } => format!("({} {} {})", expr(lhs), op.symbol(), expr(rhs)),
        ExprKind::Neg(inner) => format!("(-{})", expr(inner)),
        ExprKind::Map(entries) => {
            let items: Vec<String> = entries.iter().map(|(k, v)| format!("{}: {}", k.name, expr(v))).collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}
