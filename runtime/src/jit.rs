//! [`JitEngine`]: runs graphs as native code compiled by Cranelift
//! (`nn_compiler::codegen`), behind the same [`Engine`] contract as the
//! interpreter, so the runtime uses either without knowing which.
//!
//! [`AutoEngine`], the models' default, uses the JIT and falls back to the
//! interpreter only for a graph the JIT reports it cannot compile
//! (`CodegenError::Unsupported`); any other JIT failure is a bug and is
//! returned, never hidden.

use ndarray::{ArrayD, IxDyn};
use nn_compiler::codegen::{self, CodegenError, CompiledGraph, HostInput, HostOutput, JitOptions, SplitCalls};
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
    fn backend(&self) -> &'static str {
        "jit"
    }

    fn intermediate_bytes_per_row(&self) -> Option<usize> {
        Some(self.compiled.arena_bytes_per_row())
    }

    fn split_calls(&self) -> Option<SplitCalls> {
        Some(self.compiled.split_calls()).filter(|c| c.split + c.serial > 0)
    }

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

/// An engine picked by name, as the CLI (`--engine`) and the REPL
/// (`:engine`) spell it. `Auto` is every front end's default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EngineChoice {
    /// The JIT, falling back to the interpreter for unsupported graphs.
    #[default]
    Auto,
    /// The JIT only: an unsupported graph is an error.
    Jit,
    /// The reference interpreter: starts instantly, runs slowly.
    Interp,
}

impl EngineChoice {
    pub const NAMES: [&'static str; 3] = ["auto", "jit", "interp"];

    pub fn parse(name: &str) -> Result<EngineChoice, RuntimeError> {
        match name.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(EngineChoice::Auto),
            "jit" => Ok(EngineChoice::Jit),
            "interp" | "interpreter" => Ok(EngineChoice::Interp),
            other => Err(RuntimeError::InvalidArgument(format!(
                "unknown engine `{other}`; choose one of: {}",
                EngineChoice::NAMES.join(", ")
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            EngineChoice::Auto => "auto",
            EngineChoice::Jit => "jit",
            EngineChoice::Interp => "interp",
        }
    }

    pub fn engine(self) -> std::sync::Arc<dyn Engine> {
        match self {
            EngineChoice::Auto => std::sync::Arc::new(AutoEngine::default()),
            EngineChoice::Jit => std::sync::Arc::new(JitEngine::default()),
            EngineChoice::Interp => std::sync::Arc::new(InterpEngine),
        }
    }
}
