//! Expressions typed at the prompt, evaluated on small tensors:
//! `relu([[1, -2], [3, -4]])`, `softmax([1, 2, 3])`, `my_layer([1.0, 2.0])`.
//!
//! The line goes through the real front end: it becomes the body of a
//! temporary model whose inputs are the tensor literals of the line
//! (`[1, -2]` → input `_0: [2]`), with the session's custom layers in
//! scope; that model is lowered with whole-tensor inputs (no batch axis, so
//! `[[1, 2], [3, 4]] @ [[1], [1]]` is a matrix product) and run with the
//! reference interpreter.
//!
//! Each literal is replaced by an input name padded to the literal's length,
//! so byte offsets are unchanged and diagnostics point into the typed line.

use nn_compiler::ast::{self, ExprKind};
use nn_compiler::diag::{Diagnostic, Span};
use nn_compiler::interp::{self, Value};
use nn_compiler::ir::Dim;
use nn_compiler::lower::{lower, lower_unbatched, Mode};
use nn_runtime::init::{initialize, var_seed};

use super::session::report;

const MODEL: &str = "__expr";

/// A tensor literal of the line: where it is, its shape and values.
struct Literal {
    start: usize,
    end: usize,
    shape: Vec<usize>,
    data: Vec<f32>,
}

/// Evaluates `line` with `layers` (custom layer definitions) in scope and
/// returns the printed value, or prints diagnostics and returns an error.
pub fn evaluate(line: &str, layers: &str, seed: u64) -> Result<String, String> {
    // Parse the line alone (as a model body) to find its tensor literals.
    let probe_head = format!("model {MODEL} {{\n");
    let probe = format!("{probe_head}{line}\n}}");
    let file = nn_compiler::syntax::parse(&probe).map_err(|d| shifted_report(&d, probe_head.len(), line))?;
    let body = match file.items.as_slice() {
        [ast::Item::Model(m)] => &m.body,
        _ => return Err("this line is neither a definition nor an expression".into()),
    };
    let expr = match body.as_slice() {
        [ast::Stmt { kind: ast::StmtKind::Expr(e), .. }] => e,
        _ => return Err("expected one expression, e.g. `relu([-1.0, 2.0])`".into()),
    };
    let mut literals = Vec::new();
    collect(expr, false, &mut literals)?;
    for l in &mut literals {
        l.start -= probe_head.len();
        l.end -= probe_head.len();
    }
    if literals.is_empty() {
        return Err("expressions are evaluated on tensor literals; write one, e.g. `relu([-1.0, 2.0])`".into());
    }
    let mut body_line = line.to_string();
    let mut head = format!("model {MODEL} {{\n");
    for (k, l) in literals.iter().enumerate().rev() {
        let name = format!("_{k}");
        if name.len() > l.end - l.start {
            return Err(format!("too many tensor literals in one line ({})", literals.len()));
        }
        body_line.replace_range(l.start..l.end, &format!("{name:<width$}", width = l.end - l.start));
    }
    for (k, l) in literals.iter().enumerate() {
        let dims: Vec<String> = l.shape.iter().map(|d| d.to_string()).collect();
        head.push_str(&format!("input _{k}: [{}]\n", dims.join(", ")));
    }
    let source = format!("{head}{body_line}\n}}\n{layers}");
    let file = nn_compiler::syntax::parse(&source).map_err(|d| shifted_report(&d, head.len(), line))?;
    // Literals are whole tensors; only an expression that is wrong that way
    // but right with each literal as one sample (`dense(2)([1.0, 2.0])`) is
    // run as a batch of one, and shown without the batch axis.
    let (lowered, batched) = match lower_unbatched(&file, MODEL, seed) {
        Ok(l) => (l, false),
        Err(whole) => match lower(&file, Some(MODEL), Mode::Infer, seed) {
            Ok(l) => (l, true),
            Err(_) => return Err(shifted_report(&whole, head.len(), line)),
        },
    };
    let graph = &lowered.graph;
    let mut inputs = Vec::new();
    for decl in &graph.inputs {
        let k: usize = decl
            .name
            .strip_prefix('_')
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("the expression has an unexpected input `{}`", decl.name))?;
        let l = &literals[k];
        let shape = if batched { [&[1][..], &l.shape].concat() } else { l.shape.clone() };
        let arr = ndarray::ArrayD::from_shape_vec(shape, l.data.clone()).map_err(|e| e.to_string())?;
        inputs.push(Value::F(arr));
    }
    let mut vars = Vec::new();
    for decl in &graph.vars {
        let data = initialize(&decl.init, &decl.shape, var_seed(seed, &decl.name)).map_err(|e| e.to_string())?;
        vars.push(ndarray::ArrayD::from_shape_vec(decl.shape.clone(), data).map_err(|e| e.to_string())?);
    }
    let out = interp::run::<f32>(graph, &inputs, &vars, 1).map_err(|e| e.to_string())?;
    let value = out.outputs.first().ok_or("the expression has no value")?;
    let (shape, data): (Vec<usize>, Vec<f64>) = match value {
        Value::F(a) => (a.shape().to_vec(), a.iter().map(|v| f64::from(*v)).collect()),
        Value::I(a) => (a.shape().to_vec(), a.iter().map(|v| f64::from(*v)).collect()),
    };
    let output_batched =
        graph.outputs.first().is_some_and(|(_, id)| graph.shape(*id).dims().first() == Some(&Dim::Batch));
    let shape = if output_batched { shape[1..].to_vec() } else { shape };
    Ok(format!("{}  shape {:?}", format_tensor(&shape, &data), shape))
}

/// Prints diagnostics of the wrapped source against the typed line.
fn shifted_report(diags: &[Diagnostic], offset: usize, line: &str) -> String {
    let shift = |s: Span| {
        let clamp = |v: u32| (v as usize).saturating_sub(offset).min(line.len());
        Span::new(clamp(s.start), clamp(s.end))
    };
    let moved: Vec<Diagnostic> = diags
        .iter()
        .map(|d| {
            let mut d = d.clone();
            d.span = shift(d.span);
            for l in &mut d.secondary {
                l.span = shift(l.span);
            }
            d
        })
        .collect();
    report(&moved, "<repl>", line);
    "the expression has errors; see above".into()
}

fn number(e: &ast::Expr) -> Option<f64> {
    match &e.kind {
        ExprKind::Int(v) => Some(*v as f64),
        ExprKind::Float(v) => Some(*v),
        ExprKind::Neg(inner) => number(inner).map(|v| -v),
        _ => None,
    }
}

/// A tensor literal's shape and row-major values.
type Dense = (Vec<usize>, Vec<f32>);

/// Shape and row-major values of a rectangular numeric list.
fn tensor(e: &ast::Expr) -> Result<Option<Dense>, String> {
    let ExprKind::List(items) = &e.kind else { return Ok(None) };
    if items.is_empty() {
        return Err("an empty list `[]` is not a tensor; give it at least one value".into());
    }
    if items.iter().all(|i| number(i).is_some()) {
        return Ok(Some((vec![items.len()], items.iter().filter_map(number).map(|v| v as f32).collect())));
    }
    let mut shape = None;
    let mut data = Vec::new();
    for item in items {
        let Some((s, d)) = tensor(item)? else { return Ok(None) };
        match &shape {
            None => shape = Some(s),
            Some(first) if *first != s => {
                return Err(format!(
                    "tensor rows have different shapes ({first:?} and {s:?}); every row needs the same length"
                ))
            }
            Some(_) => {}
        }
        data.extend(d);
    }
    let mut full = vec![items.len()];
    full.extend(shape.unwrap_or_default());
    Ok(Some((full, data)))
}

/// Finds the numeric lists that are values (not named attributes like `axis = [1]`).
fn collect(e: &ast::Expr, named: bool, out: &mut Vec<Literal>) -> Result<(), String> {
    match &e.kind {
        ExprKind::List(_) if !named => {
            if let Some((shape, data)) = tensor(e)? {
                out.push(Literal { start: e.span.start as usize, end: e.span.end as usize, shape, data });
            }
        }
        ExprKind::Call { callee, args } => {
            collect(callee, false, out)?;
            for a in args {
                collect(&a.value, a.name.is_some(), out)?;
            }
        }
        ExprKind::Binary { lhs, rhs, .. } => {
            collect(lhs, false, out)?;
            collect(rhs, false, out)?;
        }
        ExprKind::Neg(inner) => collect(inner, false, out)?,
        _ => {}
    }
    Ok(())
}

/// `[[1.0000, 0.0000], [3.0000, 0.0000]]`; a scalar prints bare.
pub fn format_tensor(shape: &[usize], data: &[f64]) -> String {
    fn go(shape: &[usize], data: &[f64], out: &mut String) {
        match shape.split_first() {
            None => out.push_str(&format!("{:.4}", data.first().copied().unwrap_or(f64::NAN))),
            Some((&n, rest)) => {
                let stride: usize = rest.iter().product();
                out.push('[');
                for i in 0..n {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    go(rest, &data[i * stride..(i + 1) * stride], out);
                }
                out.push(']');
            }
        }
    }
    let mut out = String::new();
    go(shape, data, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activations_on_literals() {
        assert_eq!(
            evaluate("relu([[1, -2], [3, -4]])", "", 0).unwrap(),
            "[[1.0000, 0.0000], [3.0000, 0.0000]]  shape [2, 2]"
        );
        assert_eq!(evaluate("swish([-1.0, 0.0, 2.0])", "", 0).unwrap(), "[-0.2689, 0.0000, 1.7616]  shape [3]");
        assert_eq!(evaluate("softmax([1, 2, 3])", "", 0).unwrap(), "[0.0900, 0.2447, 0.6652]  shape [3]");
        assert_eq!(evaluate("[1, 2] * [3, 4] + 1", "", 0).unwrap(), "[4.0000, 9.0000]  shape [2]");
    }

    #[test]
    fn custom_layers_are_in_scope() {
        let layers = "layer twice(x) { return x * 2 }";
        assert_eq!(evaluate("twice([1.5, -1])", layers, 0).unwrap(), "[3.0000, -2.0000]  shape [2]");
    }

    #[test]
    fn bad_expressions_are_errors() {
        assert!(evaluate("relu([[1, 2], [3]])", "", 0).unwrap_err().contains("same length"));
        assert!(evaluate("relu(2)", "", 0).is_err());
        assert!(evaluate("relu([1, 2]", "", 0).is_err());
        assert!(evaluate("nosuch([1.0])", "", 0).is_err());
    }
}
