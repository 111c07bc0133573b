//! Arguments shared by the commands that build and run a model.

use super::source::SourceFile;
use clap::Args;
use nn_runtime::workflow::{apply_compile_overrides, CompileOverrides, DataSource};
use nn_runtime::{EngineChoice, Model, ModelError};
use std::path::PathBuf;

#[derive(Args)]
pub struct ModelArgs {
    /// The `.nn` model file.
    pub file: PathBuf,
    /// Which model in the file (default: its only model).
    #[arg(long)]
    pub model: Option<String>,
    /// Seed for initialization, dropout and shuffling (default: the train block's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Optimizer, written as in a train block: `adam`, `sgd(momentum = 0.9)`, …
    #[arg(long)]
    pub optimizer: Option<String>,
    /// Learning rate (overrides the optimizer's).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Loss, written as in a train block: `mse`, `binary_crossentropy(from_logits = true)`, …
    #[arg(long)]
    pub loss: Option<String>,
    /// Metrics, written as in a train block: `accuracy` or `[accuracy, mae]`.
    #[arg(long)]
    pub metrics: Option<String>,
    /// Load these weights (safetensors) before running.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// What runs the model: auto (native code, the interpreter for what it cannot compile), jit, interp.
    #[arg(long, default_value = "auto")]
    pub engine: String,
}

#[derive(Args)]
pub struct DataArgs {
    /// Dataset name (default: the train block's `dataset`).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Load the dataset from this file or folder instead of the standard places.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Use only the first N samples.
    #[arg(long)]
    pub limit: Option<usize>,
}

impl DataArgs {
    pub fn source(&self) -> DataSource {
        DataSource { name: self.dataset.clone(), path: self.data.clone() }
    }
}

/// The summary of the model the arguments name, from its declared shapes:
/// nothing is allocated, so even a model too large to build is described.
pub fn declared_summary(args: &ModelArgs) -> Result<String, String> {
    let file = SourceFile::read(&args.file)?;
    let lowered =
        nn_compiler::lower::lower_source(&file.text, args.model.as_deref(), nn_compiler::lower::Mode::Infer, 0)
            .map_err(|diagnostics| {
                file.report(&diagnostics);
                format!("`{}` has errors; see above", file.name)
            })?;
    Ok(nn_runtime::summary::declared(&lowered))
}

/// Builds and compiles the model the arguments name, with their overrides.
pub fn load_model(args: &ModelArgs) -> Result<Model, String> {
    let file = SourceFile::read(&args.file)?;
    let built = match args.seed {
        Some(seed) => Model::from_file_seeded(&args.file, args.model.as_deref(), seed),
        None => Model::from_file(&args.file, args.model.as_deref()),
    };
    let mut model = built.map_err(|e| match e {
        ModelError::Diagnostics { diagnostics, .. } => {
            file.report(&diagnostics);
            format!("`{}` has errors; see above", file.name)
        }
        other => other.to_string(),
    })?;
    model.set_engine(EngineChoice::parse(&args.engine).map_err(|e| e.to_string())?.engine());
    let overrides = CompileOverrides {
        optimizer: args.optimizer.clone(),
        loss: args.loss.clone(),
        metrics: args.metrics.clone(),
        learning_rate: args.lr,
    };
    apply_compile_overrides(&mut model, &overrides).map_err(|e| e.to_string())?;
    if let Some(path) = &args.weights {
        model.load_weights(path).map_err(|e| e.to_string())?;
    }
    Ok(model)
}
