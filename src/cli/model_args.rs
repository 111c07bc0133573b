//! Arguments shared by the commands that build and run a model.

use super::source::SourceFile;
use clap::Args;
use nn_compiler::train::Optimizer;
use nn_runtime::{CompileOptions, Model, ModelError};
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
    /// Optimizer, with Keras's defaults: sgd, rmsprop, adam, adagrad, adadelta.
    #[arg(long)]
    pub optimizer: Option<String>,
    /// Learning rate (overrides the optimizer's).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Load these weights (safetensors) before running.
    #[arg(long)]
    pub weights: Option<PathBuf>,
}

#[derive(Args)]
pub struct DataArgs {
    /// Dataset name (default: the train block's `dataset`).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Load the dataset from this file or folder instead of the standard places.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Use only the first N training samples.
    #[arg(long)]
    pub limit: Option<usize>,
}

fn optimizer_named(name: &str) -> Result<Optimizer, String> {
    match name {
        "sgd" => Ok(Optimizer::sgd()),
        "rmsprop" => Ok(Optimizer::rmsprop()),
        "adam" => Ok(Optimizer::adam()),
        "adagrad" => Ok(Optimizer::adagrad()),
        "adadelta" => Ok(Optimizer::adadelta()),
        other => {
            let known = ["sgd", "rmsprop", "adam", "adagrad", "adadelta"];
            let hint = nn_compiler::diag::did_you_mean(other, known)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            Err(format!("unknown optimizer `{other}` (known: {}){hint}", known.join(", ")))
        }
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
    let mut optimizer = match &args.optimizer {
        Some(name) => Some(optimizer_named(name)?),
        None => None,
    };
    if let Some(lr) = args.lr {
        let mut opt = optimizer.or_else(|| model.train_config().optimizer.clone()).unwrap_or_else(Optimizer::rmsprop);
        opt.set_learning_rate(lr);
        optimizer = Some(opt);
    }
    if model.train_config().loss.is_some() {
        model.compile(CompileOptions { optimizer, ..CompileOptions::default() }).map_err(|e| e.to_string())?;
    }
    if let Some(path) = &args.weights {
        model.load_weights(path).map_err(|e| e.to_string())?;
    }
    Ok(model)
}
