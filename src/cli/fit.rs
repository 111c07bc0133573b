//! `nn fit FILE`: train a model on its dataset, Keras-style.

use super::model_args::{load_model, DataArgs, ModelArgs};
use super::CmdResult;
use clap::Args;
use nn_runtime::workflow::{self, FitOverrides};
use nn_runtime::ModelCheckpoint;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct FitArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    data: DataArgs,
    /// Number of epochs (default: the train block's, else 1).
    #[arg(long)]
    epochs: Option<usize>,
    /// Samples per gradient update (default: the train block's, else 32).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Fraction of the training data (the last part, before shuffling) used for validation.
    #[arg(long)]
    validation_split: Option<f64>,
    /// Shuffle the training samples every epoch (default: the train block's, else true).
    #[arg(long)]
    shuffle: Option<bool>,
    /// The epoch to start counting from (Keras's `initial_epoch`).
    #[arg(long)]
    initial_epoch: Option<usize>,
    /// 0 = silent, 1 = progress bar, 2 = one line per epoch.
    #[arg(long, default_value_t = 1)]
    verbose: u8,
    /// Save the trained weights here (safetensors).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Write a checkpoint (weights, optimizer state, epoch) here after every epoch, atomically.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Resume from a checkpoint written by --checkpoint.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Write the History as JSON here.
    #[arg(long)]
    history: Option<PathBuf>,
    /// Plot the History (loss and metric curves) to a .png or .svg file.
    #[arg(long)]
    plot: Option<PathBuf>,
}

pub fn run(args: &FitArgs) -> CmdResult {
    let mut model = load_model(&args.model)?;
    workflow::options::require_loss(&model).map_err(|e| e.to_string())?;
    let data = workflow::load_for(&model, &args.data.source()).map_err(|e| e.to_string())?;
    let train = match args.data.limit {
        Some(n) => workflow::data::head(&data.train, n),
        None => data.train.clone(),
    };
    let overrides = FitOverrides {
        epochs: args.epochs,
        batch_size: args.batch_size,
        validation_split: args.validation_split,
        shuffle: args.shuffle,
        initial_epoch: args.initial_epoch,
        seed: None,
        verbose: Some(args.verbose),
    };
    let mut opts = workflow::fit_options(&model, &data, &overrides).map_err(|e| e.to_string())?;
    if let Some(path) = &args.resume {
        opts.initial_epoch = model.load_checkpoint(path).map_err(|e| e.to_string())?;
        if opts.initial_epoch >= opts.epochs {
            println!("checkpoint `{}` is already at epoch {}; nothing to do", path.display(), opts.initial_epoch);
        }
    }
    if let Some(path) = &args.checkpoint {
        opts = opts.callback(ModelCheckpoint::new(path.display().to_string()));
    }
    if args.verbose > 0 {
        println!(
            "Training `{}` on {} ({} samples) with the {} engine",
            model.name(),
            data.dataset_name,
            train.x.len(),
            model.engine_name()
        );
    }
    let history = model.fit(&train.x, &train.y, &opts).map_err(|e| e.to_string())?;
    if let Some(reason) = &history.stop_reason {
        println!("Stopped early: {reason}");
    }
    if args.verbose > 0 {
        println!("\nHistory:\n{}", history.table());
    }

    if let Some(test) = &data.test {
        let logs = model.evaluate(&test.x, &test.y, opts.batch_size.max(256)).map_err(|e| e.to_string())?;
        let parts: Vec<String> = logs.iter().map(|(k, v)| format!("{k}: {v:.4}")).collect();
        println!("Test: {}", parts.join(" - "));
    }
    if let Some(path) = &args.save {
        model.save_weights(path).map_err(|e| e.to_string())?;
        println!("Saved weights to {}", path.display());
    }
    if let Some(path) = &args.history {
        history.save_json(path).map_err(|e| e.to_string())?;
    }
    if let Some(path) = &args.plot {
        nn_runtime::plot_history(&history, path).map_err(|e| e.to_string())?;
        println!("Plotted history to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
