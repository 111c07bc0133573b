//! The `nn` command line: one file per subcommand. Commands print their
//! results to stdout and diagnostics to stderr, and exit non-zero on error.

mod bench;
mod check;
mod fit;
mod group;
mod inspect;
mod interop;
mod model_args;
mod numerics;
mod run;
mod source;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "nn", version, about = "Keras-style neural networks, compiled to native code")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check model files; print diagnostics only.
    Check(check::CheckArgs),
    /// Print a model's layers, output shapes and parameter counts, as Keras does.
    Summary(run::SummaryArgs),
    /// Train a model on its dataset.
    Fit(Box<fit::FitArgs>),
    /// Evaluate a model (with --weights) on its dataset's test split.
    Evaluate(run::EvaluateArgs),
    /// Predict with a model (with --weights) on its dataset's test split.
    Predict(run::PredictArgs),
    /// Print a model's IR (forward graph or whole training step), or the JIT's kernel plan / Cranelift IR.
    Ir(inspect::IrArgs),
    /// Print the machine code the JIT generates for a model.
    Asm(inspect::AsmArgs),
    /// Print the symbolic gradients of the loss as readable math.
    Grad(inspect::GradArgs),
    /// Interactive session: define, train and inspect models at a prompt.
    Repl(crate::repl::ReplArgs),
    /// Convert a Keras model (.keras or legacy .h5) to a .nn file and safetensors weights.
    Import(interop::ImportArgs),
    /// Export a model and its weights as ONNX (opset 17), for ONNX runtimes.
    Export(interop::ExportArgs),
    /// Benchmark nn against JAX, PyTorch and Keras on the workloads (two MLPs, a CNN, an LSTM) or on your own model, with the performance targets.
    Bench(bench::BenchArgs),
}

/// Runs the CLI on the process arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Summary(args) => run::run_summary(&args),
        Command::Fit(args) => fit::run(&args),
        Command::Evaluate(args) => run::run_evaluate(&args),
        Command::Predict(args) => run::run_predict(&args),
        Command::Ir(args) => inspect::run_ir(&args),
        Command::Grad(args) => inspect::run_grad(&args),
        Command::Asm(args) => inspect::run_asm(&args),
        Command::Repl(args) => crate::repl::run(&args),
        Command::Import(args) => interop::run_import(&args),
        Command::Export(args) => interop::run_export(&args),
        Command::Bench(args) => bench::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// What a command returns: an exit code, or one message for stderr.
pub(crate) type CmdResult = Result<ExitCode, String>;
