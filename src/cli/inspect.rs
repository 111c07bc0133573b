//! `nn ir` and `nn grad`: look inside the compiler.

use super::source::SourceFile;
use super::CmdResult;
use clap::{Args, ValueEnum};
use nn_compiler::codegen;
use nn_compiler::lower::{self, LoweredModel, Mode};
use nn_compiler::train::{self, StepConfig};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum)]
enum Graph {
    /// The inference forward pass.
    Forward,
    /// The training-mode forward pass (dropout active).
    TrainForward,
    /// Forward, loss, gradients and optimizer update: one training step.
    Step,
}

#[derive(Args)]
pub struct IrArgs {
    file: PathBuf,
    /// Which model in the file (default: its only model).
    #[arg(long)]
    model: Option<String>,
    /// Which graph to print.
    #[arg(long, value_enum, default_value = "forward")]
    graph: Graph,
    /// Simplify the graph before printing (constant folding, CSE, DCE).
    #[arg(long)]
    simplify: bool,
    /// Print the JIT's fused kernel plan instead of the IR.
    #[arg(long, conflicts_with = "clif")]
    plan: bool,
    /// Print the Cranelift IR the JIT generates instead of the IR.
    #[arg(long)]
    clif: bool,
}

#[derive(Args)]
pub struct AsmArgs {
    file: PathBuf,
    #[arg(long)]
    model: Option<String>,
    /// Which graph to compile.
    #[arg(long, value_enum, default_value = "forward")]
    graph: Graph,
}

#[derive(Args)]
pub struct GradArgs {
    file: PathBuf,
    #[arg(long)]
    model: Option<String>,
    /// Only the gradient for this variable (e.g. `dense/kernel`).
    #[arg(long)]
    wrt: Option<String>,
}

fn lower_file(file: &SourceFile, model: Option<&str>, mode: Mode) -> Result<LoweredModel, String> {
    lower::lower_source(&file.text, model, mode, 0).map_err(|diags| {
        file.report(&diags);
        format!("`{}` has errors; see above", file.name)
    })
}

fn step_config(model: &LoweredModel) -> Result<StepConfig, String> {
    let outputs: Vec<String> = model.graph.outputs.iter().map(|(name, _)| name.clone()).collect();
    nn_compiler::train::step_config_from(&model.train, &outputs, &model.name)
}

fn build_graph(file: &SourceFile, model: Option<&str>, which: Graph) -> Result<nn_compiler::ir::Graph, String> {
    Ok(match which {
        Graph::Forward => lower_file(file, model, Mode::Infer)?.graph,
        Graph::TrainForward => lower_file(file, model, Mode::Train)?.graph,
        Graph::Step => {
            let lowered = lower_file(file, model, Mode::Train)?;
            let cfg = step_config(&lowered)?;
            train::training_step(&lowered, &cfg).map_err(|e| e.to_string())?
        }
    })
}

fn jit(graph: &nn_compiler::ir::Graph) -> Result<codegen::CompiledGraph, String> {
    codegen::compile(graph, &codegen::JitOptions::default())
        .map_err(|e| format!("the JIT cannot compile this graph: {e}"))
}

pub fn run_ir(args: &IrArgs) -> CmdResult {
    let file = SourceFile::read(&args.file)?;
    let graph = build_graph(&file, args.model.as_deref(), args.graph)?;
    let graph = if args.simplify { nn_compiler::autodiff::simplify(&graph).0 } else { graph };
    if args.plan {
        print!("{}", jit(&graph)?.kernel_plan());
    } else if args.clif {
        print!("{}", jit(&graph)?.clif());
    } else {
        print!("{}", nn_compiler::ir::print_graph(&graph));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_asm(args: &AsmArgs) -> CmdResult {
    let file = SourceFile::read(&args.file)?;
    let graph = build_graph(&file, args.model.as_deref(), args.graph)?;
    print!("{}", jit(&graph)?.disassembly());
    Ok(ExitCode::SUCCESS)
}

pub fn run_grad(args: &GradArgs) -> CmdResult {
    let file = SourceFile::read(&args.file)?;
    let lowered = lower_file(&file, args.model.as_deref(), Mode::Train)?;
    let cfg = step_config(&lowered)?;
    print!("{}", nn_compiler::train::gradient_math(&lowered, &cfg, args.wrt.as_deref())?);
    Ok(ExitCode::SUCCESS)
}
