//! `nn ir` and `nn grad`: look inside the compiler.

use super::source::SourceFile;
use super::CmdResult;
use clap::{Args, ValueEnum};
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

/// The training configuration a file's `train` block gives, with Keras's
/// compile defaults for what it leaves out.
fn step_config(model: &LoweredModel) -> Result<StepConfig, String> {
    let cfg = &model.train;
    let loss = cfg
        .loss
        .ok_or_else(|| format!("model `{}` has no loss: add `loss = …` to its train block", model.name))?;
    Ok(StepConfig {
        loss,
        optimizer: cfg.optimizer.clone().unwrap_or_else(train::Optimizer::rmsprop),
        metrics: cfg.metrics.clone(),
        kernel_regularizer: cfg.kernel_regularizer,
    })
}

pub fn run_ir(args: &IrArgs) -> CmdResult {
    let file = SourceFile::read(&args.file)?;
    let model = args.model.as_deref();
    let graph = match args.graph {
        Graph::Forward => lower_file(&file, model, Mode::Infer)?.graph,
        Graph::TrainForward => lower_file(&file, model, Mode::Train)?.graph,
        Graph::Step => {
            let lowered = lower_file(&file, model, Mode::Train)?;
            let cfg = step_config(&lowered)?;
            train::training_step(&lowered, &cfg).map_err(|e| e.to_string())?
        }
    };
    let graph = if args.simplify { nn_compiler::autodiff::simplify(&graph).0 } else { graph };
    print!("{}", nn_compiler::ir::print_graph(&graph));
    Ok(ExitCode::SUCCESS)
}

pub fn run_grad(args: &GradArgs) -> CmdResult {
    let file = SourceFile::read(&args.file)?;
    let lowered = lower_file(&file, args.model.as_deref(), Mode::Train)?;
    let cfg = step_config(&lowered)?;
    let graph = train::gradients(&lowered, &cfg).map_err(|e| e.to_string())?;
    let (graph, _) = nn_compiler::autodiff::simplify(&graph);
    let mut shown = 0;
    for (name, id) in &graph.outputs {
        let Some(var) = name.strip_prefix("grad:") else { continue };
        if args.wrt.as_deref().is_some_and(|w| w != var) {
            continue;
        }
        println!("d loss / d {var} =\n{}\n", nn_compiler::autodiff::math(&graph, *id));
        shown += 1;
    }
    if shown == 0 {
        let names: Vec<&str> = graph.outputs.iter().filter_map(|(n, _)| n.strip_prefix("grad:")).collect();
        return Err(format!(
            "no trainable variable named `{}`; the model has: {}",
            args.wrt.as_deref().unwrap_or(""),
            names.join(", ")
        ));
    }
    Ok(ExitCode::SUCCESS)
}
