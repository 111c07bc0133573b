//! The ndarray reference interpreter: the numerical oracle and the living
//! definition of every [`Op`](crate::ir::Op).
//!
//! It runs any [`Graph`] in f32 or f64 ([`Float`]), one node at a time in id
//! order (the arena is topologically ordered), with straightforward loops and
//! ndarray calls chosen to be obviously correct rather than fast. The JIT is
//! tested against it, and autodiff's finite-difference checks run through it
//! in f64.
//!
//! Guarantees: results are pure functions of (graph, inputs, vars, batch) —
//! no global state, dropout included; caller mistakes come back as
//! [`InterpError`]s naming the input or variable; a graph that breaks the IR's
//! rules yields [`InterpError::Malformed`], never a panic; every node's value
//! is checked against the node's declared type (batch resolved).
//!
//! Layout: `eval.rs` holds the one exhaustive `match` over ops and dispatches
//! to `elementwise`, `reduce`, `structure`, `conv`, `pool` and `gather`;
//! loops (`scan.rs`) run in `run_all`, which keeps each loop's results for
//! its sibling nodes.

mod conv;
mod elementwise;
mod error;
mod eval;
mod gather;
mod pool;
mod reduce;
mod scan;
mod structure;
mod value;

#[cfg(test)]
mod tests;

pub use error::InterpError;
pub use value::{Float, RunOutput, Value};

use crate::ir::{DType, Graph, NodeId, Op, TensorType};
use ndarray::ArrayD;

/// Runs `graph` and returns its outputs and variable updates.
///
/// `inputs` in `graph.inputs` order, `vars` in `graph.vars` order; `batch`
/// resolves `Dim::Batch`.
pub fn run<T: Float>(
    graph: &Graph,
    inputs: &[Value<T>],
    vars: &[ArrayD<T>],
    batch: usize,
) -> Result<RunOutput<T>, InterpError> {
    let values = run_all(graph, inputs, vars, batch)?;
    let pick = |id: NodeId, what: &str| {
        values.get(id.index()).ok_or_else(|| InterpError::Malformed {
            node: id,
            op: "output",
            detail: format!("{what} refers to a node that does not exist (the graph has {} nodes)", values.len()),
        })
    };
    let mut outputs = Vec::with_capacity(graph.outputs.len());
    for (name, id) in &graph.outputs {
        outputs.push(pick(*id, &format!("output `{name}`"))?.clone());
    }
    let mut updates = Vec::with_capacity(graph.updates.len());
    for (var, id) in &graph.updates {
        let decl = graph.vars.get(var.index()).ok_or_else(|| InterpError::Malformed {
            node: *id,
            op: "update",
            detail: format!("update of {var}, which is not a variable of the graph"),
        })?;
        match pick(*id, &format!("the update of `{}`", decl.name))? {
            Value::F(a) if a.shape() == decl.shape.as_slice() => updates.push(a.clone()),
            other => {
                return Err(InterpError::Malformed {
                    node: *id,
                    op: "update",
                    detail: format!(
                        "the new value of `{}` is {} but the variable is f32{:?}",
                        decl.name,
                        other.type_string(),
                        decl.shape
                    ),
                })
            }
        }
    }
    Ok(RunOutput { outputs, updates })
}

/// Every node's value, indexed by `NodeId` (for differential tests and
/// debugging).
pub fn run_all<T: Float>(
    graph: &Graph,
    inputs: &[Value<T>],
    vars: &[ArrayD<T>],
    batch: usize,
) -> Result<Vec<Value<T>>, InterpError> {
    validate(graph, inputs, vars, batch)?;
    let mut values: Vec<Value<T>> = Vec::with_capacity(graph.nodes.len());
    let mut loops = scan::ScanCache::new();
    for (index, node) in graph.nodes.iter().enumerate() {
        let id = NodeId(index as u32);
        let malformed = |detail: String| InterpError::Malformed { node: id, op: node.op.name(), detail };
        let value = match &node.op {
            Op::Scan(s) => loops.result(s, &node.args, &values, batch),
            _ => eval::eval(node, &values, inputs, vars, batch),
        }
        .map_err(malformed)?;
        check_type(&value, &node.ty, batch).map_err(malformed)?;
        values.push(value);
    }
    Ok(values)
}

fn validate<T: Float>(graph: &Graph, inputs: &[Value<T>], vars: &[ArrayD<T>], batch: usize) -> Result<(), InterpError> {
    if batch == 0 {
        return Err(InterpError::ZeroBatch);
    }
    if inputs.len() != graph.inputs.len() {
        return Err(InterpError::InputCount { expected: graph.inputs.len(), found: inputs.len() });
    }
    for (decl, value) in graph.inputs.iter().zip(inputs) {
        let expected = resolved_type(&decl.ty, batch);
        if value.dtype() != decl.ty.dtype {
            return Err(InterpError::InputDType {
                name: decl.name.clone(),
                expected: dtype_name(decl.ty.dtype).to_string(),
                found: value.type_string(),
            });
        }
        if value.shape() != decl.ty.shape.resolve(batch).as_slice() {
            return Err(InterpError::InputShape { name: decl.name.clone(), expected, found: value.shape().to_vec() });
        }
    }
    if vars.len() != graph.vars.len() {
        return Err(InterpError::VarCount { expected: graph.vars.len(), found: vars.len() });
    }
    for (decl, value) in graph.vars.iter().zip(vars) {
        if value.shape() != decl.shape.as_slice() {
            return Err(InterpError::VarShape {
                name: decl.name.clone(),
                expected: decl.shape.clone(),
                found: value.shape().to_vec(),
            });
        }
    }
    Ok(())
}

fn check_type<T: Float>(value: &Value<T>, ty: &TensorType, batch: usize) -> Result<(), String> {
    if value.dtype() != ty.dtype || value.shape() != ty.shape.resolve(batch).as_slice() {
        return Err(format!("computed {} but the node is typed {}", value.type_string(), resolved_type(ty, batch)));
    }
    Ok(())
}

fn dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "f32",
        DType::I32 => "i32",
    }
}

/// `f32[3, 784]`: a type with the batch dimension resolved.
fn resolved_type(ty: &TensorType, batch: usize) -> String {
    format!("{}{:?}", dtype_name(ty.dtype), ty.shape.resolve(batch))
}
