//! The executor abstraction: the runtime prepares a graph once and runs it
//! many times, without knowing which engine does the work.
//!
//! An [`Engine`] turns an IR [`Graph`] into an [`Executable`]; the runtime
//! caches executables per graph kind and mode, so preparation cost (JIT
//! compilation) is paid once per model. The contract every engine keeps:
//! inputs come in `graph.inputs` order as flat row-major slices whose shapes
//! are the declared types with the batch resolved; variables come in
//! `graph.vars` order and are overwritten in place by `graph.updates` after
//! the whole graph ran; outputs come back in `graph.outputs` order as f32
//! arrays (i32 outputs such as argmax are converted exactly).
//!
//! [`InterpEngine`] runs graphs on the reference interpreter. It is slow and
//! obviously correct, and lets the runtime work before (and be tested
//! against) the JIT.

use ndarray::{ArrayD, IxDyn};
use nn_compiler::codegen::SplitCalls;
use nn_compiler::interp::{self, Value};
use nn_compiler::ir::{DType, Graph};

use crate::error::RuntimeError;

/// One graph input for one call: a flat row-major buffer.
#[derive(Clone, Copy, Debug)]
pub enum Tensor<'a> {
    F32(&'a [f32]),
    I32(&'a [i32]),
}

impl Tensor<'_> {
    pub fn len(&self) -> usize {
        match self {
            Tensor::F32(s) => s.len(),
            Tensor::I32(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dtype(&self) -> DType {
        match self {
            Tensor::F32(_) => DType::F32,
            Tensor::I32(_) => DType::I32,
        }
    }
}

/// Prepares graphs for execution.
pub trait Engine: Send + Sync {
    /// A short name for messages and benchmarks (`interp`, `jit`).
    fn name(&self) -> &'static str;

    fn prepare(&self, graph: &Graph) -> Result<Box<dyn Executable>, RuntimeError>;
}

/// A prepared graph.
pub trait Executable: Send {
    /// Runs the graph for `batch` samples. `vars` are updated in place.
    fn run(
        &mut self,
        inputs: &[Tensor<'_>],
        vars: &mut [Vec<f32>],
        batch: usize,
    ) -> Result<Vec<ArrayD<f32>>, RuntimeError>;

    /// What runs the graph: `"jit"` or `"interp"` for this crate's engines
    /// (a wrapper reports what it wraps), so a caller can see where the
    /// automatic engine fell back to the interpreter.
    fn backend(&self) -> &'static str {
        "custom"
    }

    /// Bytes of intermediates one more row of a batch adds to a call, when
    /// the engine knows them (the JIT's arena); `predict` sizes its pieces
    /// by it.
    fn intermediate_bytes_per_row(&self) -> Option<usize> {
        None
    }

    /// How many calls ran their splits on two threads and how many on the
    /// calling thread alone because that measured faster, when the engine
    /// splits work (the JIT compiled for two threads).
    fn split_calls(&self) -> Option<SplitCalls> {
        None
    }
}

/// Checks call arguments against a graph, so every engine reports caller
/// mistakes with the same messages.
pub fn check_call(graph: &Graph, inputs: &[Tensor<'_>], vars: &[Vec<f32>], batch: usize) -> Result<(), RuntimeError> {
    if batch == 0 {
        return Err(RuntimeError::invalid("batch size must be at least 1 but is 0"));
    }
    if inputs.len() != graph.inputs.len() {
        return Err(RuntimeError::invalid(format!(
            "the graph takes {} input(s) ({}) but {} were given",
            graph.inputs.len(),
            graph.inputs.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", "),
            inputs.len()
        )));
    }
    for (decl, t) in graph.inputs.iter().zip(inputs) {
        let want = decl.ty.shape.numel(batch);
        if t.dtype() != decl.ty.dtype || t.len() != want {
            return Err(RuntimeError::invalid(format!(
                "input `{}` must be {} with batch {batch} ({want} values) but a {:?} buffer of {} values was given",
                decl.name,
                decl.ty,
                t.dtype(),
                t.len()
            )));
        }
    }
    if vars.len() != graph.vars.len() {
        return Err(RuntimeError::invalid(format!(
            "the graph has {} variable(s) but {} buffers were given",
            graph.vars.len(),
            vars.len()
        )));
    }
    for (decl, v) in graph.vars.iter().zip(vars) {
        if v.len() != decl.numel() {
            return Err(RuntimeError::invalid(format!(
                "variable `{}` has shape {:?} ({} values) but its buffer holds {}",
                decl.name,
                decl.shape,
                decl.numel(),
                v.len()
            )));
        }
    }
    Ok(())
}

/// Runs graphs on the reference interpreter, in f32.
/// A call's inputs and variables as the interpreter takes them.
pub(crate) type InterpArguments = (Vec<Value<f32>>, Vec<ArrayD<f32>>);

/// The call's buffers as the interpreter's arrays (inputs, then variables).
pub(crate) fn interp_arguments(
    graph: &Graph,
    inputs: &[Tensor<'_>],
    vars: &[Vec<f32>],
    batch: usize,
) -> Result<InterpArguments, RuntimeError> {
    let shape_err = |e: ndarray::ShapeError| RuntimeError::Engine(format!("cannot shape a buffer: {e}"));
    let mut values = Vec::with_capacity(inputs.len());
    for (decl, t) in graph.inputs.iter().zip(inputs) {
        let dims = IxDyn(&decl.ty.shape.resolve(batch));
        values.push(match t {
            Tensor::F32(s) => Value::F(ArrayD::from_shape_vec(dims, s.to_vec()).map_err(shape_err)?),
            Tensor::I32(s) => Value::I(ArrayD::from_shape_vec(dims, s.to_vec()).map_err(shape_err)?),
        });
    }
    let mut arrays = Vec::with_capacity(vars.len());
    for (decl, v) in graph.vars.iter().zip(vars.iter()) {
        arrays.push(ArrayD::from_shape_vec(IxDyn(&decl.shape), v.clone()).map_err(shape_err)?);
    }
    Ok((values, arrays))
}

#[derive(Clone, Copy, Debug, Default)]
pub struct InterpEngine;

impl Engine for InterpEngine {
    fn name(&self) -> &'static str {
        "interp"
    }

    fn prepare(&self, graph: &Graph) -> Result<Box<dyn Executable>, RuntimeError> {
        Ok(Box::new(InterpExecutable { graph: graph.clone() }))
    }
}

struct InterpExecutable {
    graph: Graph,
}

impl Executable for InterpExecutable {
    fn backend(&self) -> &'static str {
        "interp"
    }

    fn run(
        &mut self,
        inputs: &[Tensor<'_>],
        vars: &mut [Vec<f32>],
        batch: usize,
    ) -> Result<Vec<ArrayD<f32>>, RuntimeError> {
        check_call(&self.graph, inputs, vars, batch)?;
        let (values, arrays) = interp_arguments(&self.graph, inputs, vars, batch)?;
        let out = interp::run::<f32>(&self.graph, &values, &arrays, batch)
            .map_err(|e| RuntimeError::Engine(e.to_string()))?;
        for ((var, _), new) in self.graph.updates.iter().zip(out.updates) {
            let buf = &mut vars[var.index()];
            buf.clear();
            buf.extend(new.iter().copied());
        }
        Ok(out
            .outputs
            .into_iter()
            .map(|v| match v {
                Value::F(a) => a,
                Value::I(a) => a.mapv(|x| x as f32),
            })
            .collect())
    }
}
