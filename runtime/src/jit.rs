//! [`JitEngine`]: runs graphs as native code compiled by Cranelift
//! (`nn_compiler::codegen`), behind the same [`Engine`] contract as the
//! interpreter, so the runtime uses either without knowing which.
//!
//! [`AutoEngine`], the models' default, uses the JIT and falls back to the
//! interpreter only for a graph the JIT reports it cannot compile
//! (`CodegenError::Unsupported`); any other JIT failure is a bug and is
//! returned, never hidden.

use ndarray::{ArrayD, IxDyn};
use nn_compiler::codegen::{self, CodegenError, CompiledGraph, HostInput, HostOutput, JitOptions};
use nn_compiler::ir::Graph;

use crate::engine::{check_call, Engine, Executable, InterpEngine, Tensor};
use crate::error::RuntimeError;

/// Compiles each graph once with the given options.
#[derive(Clone, Debug, Default)]
pub struct JitEngine {
    pub options: JitOptions,
}

impl JitEngine {
    pub fn new(options: JitOptions) -> JitEngine {
        JitEngine { options }
    }
}

impl Engine for JitEngine {
    fn name(&self) -> &'static str {
        "jit"
    }

    fn prepare(&self, graph: &Graph) -> Result<Box<dyn Executable>, RuntimeError> {
        let compiled = codegen::compile(graph, &self.options).map_err(|e| RuntimeError::Engine(e.to_string()))?;
        Ok(Box::new(JitExecutable { graph: graph.clone(), compiled }))
    }
}

/// The JIT where it can, the interpreter where it cannot.
#[derive(Clone, Debug, Default)]
pub struct AutoEngine {
    pub options: JitOptions,
}

impl Engine for AutoEngine {
    fn name(&self) -> &'static str {
        "auto"
    }

    fn prepare(&self, graph: &Graph) -> Result<Box<dyn Executable>, RuntimeError> {
        match codegen::compile(graph, &self.options) {
            Ok(compiled) => Ok(Box::new(JitExecutable { graph: graph.clone(), compiled })),
            Err(CodegenError::Unsupported(_)) => InterpEngine.prepare(graph),
            Err(e) => Err(RuntimeError::Engine(e.to_string())),
        }
    }
}

struct JitExecutable {
    /// Kept to check calls with the runtime's messages before entering native code.
    graph: Graph,
    compiled: CompiledGraph,
}

impl Executable for JitExecutable {
    fn run(
        &mut self,
        inputs: &[Tensor<'_>],
        vars: &mut [Vec<f32>],
        batch: usize,
    ) -> Result<Vec<ArrayD<f32>>, RuntimeError> {
        check_call(&self.graph, inputs, vars, batch)?;
        let host: Vec<HostInput<'_>> = inputs
            .iter()
            .map(|t| match *t {
                Tensor::F32(s) => HostInput::F32(s),
                Tensor::I32(s) => HostInput::I32(s),
            })
            .collect();
        let mut var_slices: Vec<&mut [f32]> = vars.iter_mut().map(|v| v.as_mut_slice()).collect();
        let outputs =
            self.compiled.run(&host, &mut var_slices, batch).map_err(|e| RuntimeError::Engine(e.to_string()))?;
        outputs
            .into_iter()
            .map(|o| {
                let (data, shape) = match o {
                    HostOutput::F32(d, s) => (d, s),
                    HostOutput::I32(d, s) => (d.into_iter().map(|x| x as f32).collect(), s),
                };
                ArrayD::from_shape_vec(IxDyn(&shape), data)
                    .map_err(|e| RuntimeError::Engine(format!("the JIT returned an output of inconsistent size: {e}")))
            })
            .collect()
    }
}
