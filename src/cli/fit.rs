//! `nn fit FILE`: train a model on its dataset, Keras-style.

use super::group::Group;
use super::model_args::{load_model, DataArgs, ModelArgs};
use super::numerics;
use super::CmdResult;
use clap::Args;
use nn_compiler::train::CallbackSpec;
use nn_runtime::workflow::{self, FitOverrides};
use nn_runtime::{BatchCsvLogger, ModelCheckpoint};
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
    /// Also write the --checkpoint every N optimizer steps, mid-epoch (Keras's
    /// `BackupAndRestore(save_freq = N)`); --resume continues from the exact step.
    #[arg(long, requires = "checkpoint", value_parser = clap::value_parser!(u64).range(1..))]
    checkpoint_every: Option<u64>,
    /// Resume from a checkpoint written by --checkpoint: its weights, optimizer state, seeds and
    /// epoch (so --weights, --seed and --initial-epoch cannot be given with it; --lr is applied
    /// after restoring).
    #[arg(long, conflicts_with_all = ["weights", "seed", "initial_epoch"])]
    resume: Option<PathBuf>,
    /// Write the History as JSON here.
    #[arg(long)]
    history: Option<PathBuf>,
    /// Plot the History (loss and metric curves) to a .png or .svg file.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// A callback, written as in a train block's `callbacks` (repeatable):
    /// `early_stopping(patience = 3, restore_best_weights = true)`, `csv_logger("log.csv")`, …
    #[arg(long)]
    callback: Vec<String>,
    /// K-fold validation: train a fresh model on each of K folds of the training data and report
    /// each fold's validation metrics and their mean.
    #[arg(long)]
    kfold: Option<usize>,
    /// After --kfold, train once more on all the training data (then save, evaluate, …).
    #[arg(long, requires = "kfold")]
    final_fit: bool,
    /// If training diverges, name the operation that produced the first NaN or infinity and show
    /// it in the model source (replays the failing step in the interpreter; slower training).
    #[arg(long)]
    check_numerics: bool,
    /// Per-class loss weights, written as in a train block's `class_weight`:
    /// `balanced` or `'{0: 1, 1: 5}'` (class ids, or labels for string labels).
    #[arg(long)]
    class_weight: Option<String>,
    /// Write a CSV row per training batch (epoch, batch, and the epoch's running loss and metrics
    /// as the progress bar shows them); Keras's `csv_logger` callback writes one row per epoch.
    #[arg(long)]
    batch_log: Option<PathBuf>,
}

impl FitArgs {
    /// The flags that replace the train block's fit settings.
    fn overrides(&self) -> FitOverrides {
        FitOverrides {
            epochs: self.epochs,
            batch_size: self.batch_size,
            validation_split: self.validation_split,
            shuffle: self.shuffle,
            initial_epoch: self.initial_epoch,
            seed: None,
            verbose: Some(self.verbose),
            class_weight: self.class_weight.clone(),
        }
    }
}

pub fn run(args: &FitArgs) -> CmdResult {
    match Group::join()? {
        None => run_in(args, None),
        Some(group) => {
            let result = run_in(args, Some(&group));
            group.finish(result)
        }
    }
}

/// `nn fit`, alone or as one rank of an MPI job: every rank trains (on its
/// shards), rank 0 alone prints and writes files.
fn run_in(args: &FitArgs, group: Option<&Group>) -> CmdResult {
    let mut model = load_model(&args.model)?;
    if let Some(g) = group {
        model.set_communicator(g.communicator());
    }
    let chief = model.is_chief();
    let verbose = if chief { args.verbose } else { 0 };
    let numerics = args.check_numerics.then(|| numerics::install(&mut model, &args.model)).transpose()?;
    workflow::require_loss(&model).map_err(|e| e.to_string())?;
    let extra: Vec<CallbackSpec> = args
        .callback
        .iter()
        .map(|text| workflow::options::callbacks_from_text(text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?
        .concat();
    // Everything training will write is checked first: a typo in a path
    // must not cost a training run.
    let callback_outputs = model.train_config().callbacks.iter().chain(&extra).filter_map(|c| c.output_path());
    let outputs = [&args.save, &args.history, &args.plot, &args.checkpoint]
        .into_iter()
        .flatten()
        .map(|p| p.display().to_string())
        .chain(callback_outputs.map(str::to_string));
    for path in outputs.filter(|_| chief) {
        workflow::check_writable(&path).map_err(|e| e.to_string())?;
    }
    if workflow::is_multi_io(&model) {
        return run_named(args, model, &extra, numerics.as_ref());
    }
    let data = workflow::load_for(&model, &args.data.source()).map_err(|e| e.to_string())?;
    model.set_class_names(data.class_names.clone());
    let train = match args.data.limit {
        Some(n) => workflow::data::head(&data.train, n),
        None => data.train.clone(),
    };
    let mut overrides = args.overrides();
    overrides.verbose = Some(verbose);
    let options = |model: &nn_runtime::Model| -> Result<nn_runtime::FitOptions, String> {
        let opts = workflow::fit_options(model, &data, &overrides).map_err(|e| e.to_string())?;
        Ok(extra.iter().fold(opts, |o, spec| o.boxed_callback(nn_runtime::callbacks::from_spec(spec))))
    };
    if let Some(k) = args.kfold {
        let report = workflow::kfold::cross_validate(&model, &train, k, |fold| {
            if verbose > 0 {
                println!("Fold {}/{k}", fold + 1);
            }
            options(&model).map_err(nn_runtime::RuntimeError::InvalidArgument)
        })
        .map_err(|e| e.to_string())?;
        if chief {
            for (i, logs) in report.folds.iter().enumerate() {
                println!("Fold {}: {}", i + 1, logs_line(logs));
            }
            println!("Mean of {k} folds: {}", logs_line(&report.mean));
        }
        if !args.final_fit {
            return Ok(ExitCode::SUCCESS);
        }
        if chief {
            println!("Final fit on all {} training samples", train.len());
        }
    }
    let mut opts = options(&model)?;
    // The weights of the rows trained on (`--limit` keeps the first ones).
    opts.sample_weight = train.sample_weight.clone().map(nn_runtime::SampleWeight::All);
    if let Some(path) = &args.resume {
        opts.initial_epoch = resume(args, &mut model, path)?;
        if chief && opts.initial_epoch >= opts.epochs {
            println!("checkpoint `{}` is already at epoch {}; nothing to do", path.display(), opts.initial_epoch);
        }
    }
    opts = with_file_callbacks(args, opts);
    if verbose > 0 {
        println!(
            "Training `{}` on {} ({} samples) with the {} engine",
            model.name(),
            data.dataset_name,
            train.x.len(),
            model.engine_name()
        );
    }
    let history = model.fit(&train.x, &train.y, &opts).map_err(|e| e.to_string())?;
    finish_training(args, &model, &history, numerics.as_ref())?;
    if let Some(test) = &data.test {
        let logs = model.evaluate(&test.x, &test.y, opts.batch_size.max(256)).map_err(|e| e.to_string())?;
        if chief {
            println!("Test: {}", logs_line(&logs));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The callbacks behind `--checkpoint` and `--batch-log`.
fn with_file_callbacks(args: &FitArgs, mut opts: nn_runtime::FitOptions) -> nn_runtime::FitOptions {
    if let Some(path) = &args.checkpoint {
        opts = opts.callback(checkpoint_callback(args, path));
    }
    if let Some(path) = &args.batch_log {
        opts = opts.callback(BatchCsvLogger::new(path));
    }
    opts
}

fn logs_line(logs: &nn_runtime::Logs) -> String {
    logs.iter().map(|(k, v)| format!("{k}: {v:.4}")).collect::<Vec<_>>().join(" - ")
}

/// After `fit`: the stop reason and History, its files, and the weights —
/// never weights of a diverged run.
fn finish_training(
    args: &FitArgs,
    model: &nn_runtime::Model,
    history: &nn_runtime::History,
    numerics: Option<&numerics::Finding>,
) -> Result<(), String> {
    // Every rank holds the same History and weights; rank 0 reports them.
    if !model.is_chief() {
        return Ok(());
    }
    if let Some(reason) = &history.stop_reason {
        println!("Stopped early: {reason}");
    }
    if args.verbose > 0 {
        println!("\nHistory:\n{}", history.table());
    }
    let stats = model.distributed_stats();
    if args.verbose > 0 && stats.steps > 0 {
        let per_step = |seconds: f64| seconds * 1e3 / stats.steps as f64;
        println!(
            "Data-parallel over {} ranks: {} steps, {} bytes all-reduced per step, all-reduce {:.3} ms of {:.3} ms \
             per step",
            model.communicator().size(),
            stats.steps,
            stats.bytes_per_step(),
            per_step(stats.reduce_seconds),
            per_step(stats.step_seconds)
        );
    }
    // The History and its plot are written even for a diverged run: they
    // show where it went wrong.
    if let Some(path) = &args.history {
        history.save_json(path).map_err(|e| e.to_string())?;
    }
    if let Some(path) = &args.plot {
        nn_runtime::plot_history(history, path).map_err(|e| e.to_string())?;
        println!("Plotted history to {}", path.display());
    }
    let loss_diverged = history.get("loss").is_some_and(|l| l.iter().any(|v| !v.is_finite()));
    let bad_weight = model.weights().first_non_finite().map(str::to_string);
    if loss_diverged || bad_weight.is_some() {
        let saved = match &args.save {
            Some(path) => format!("; `{}` was not written", path.display()),
            None => String::new(),
        };
        let what = match bad_weight {
            Some(var) => format!("weight `{var}` is not finite"),
            None => "the loss is not finite".to_string(),
        };
        let reason = history.stop_reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
        if let Some(finding) = numerics {
            numerics::report(&args.model, finding);
        }
        return Err(format!(
            "training diverged{reason}: {what}{saved}; lower the learning rate (--lr) or check the data for huge values"
        ));
    }
    if let Some(path) = &args.save {
        model.save_weights(path).map_err(|e| e.to_string())?;
        println!("Saved weights to {}", path.display());
    }
    Ok(())
}

/// The `--checkpoint` callback, every epoch and every `--checkpoint-every` steps.
fn checkpoint_callback(args: &FitArgs, path: &std::path::Path) -> ModelCheckpoint {
    ModelCheckpoint::new(path.display().to_string())
        .save_every_steps(args.checkpoint_every.and_then(|n| usize::try_from(n).ok()))
}

/// Restores `path` into `model` and returns the completed epochs. A `--lr`
/// given with `--resume` replaces the checkpoint's rate, and says so.
fn resume(args: &FitArgs, model: &mut nn_runtime::Model, path: &std::path::Path) -> Result<usize, String> {
    // Rank 0 reads the checkpoint and `fit` sends its state to the other ranks.
    if !model.is_chief() {
        return Ok(0);
    }
    let done = model.load_checkpoint(path).map_err(|e| e.to_string())?;
    if let Some(lr) = args.model.lr {
        let saved = model.learning_rate();
        model.set_learning_rate(lr).map_err(|e| e.to_string())?;
        if saved != lr {
            println!("learning rate {lr} from --lr replaces the checkpoint's {saved}");
        }
    }
    Ok(done)
}

/// `nn fit` for a model with several inputs or outputs: arrays bound by name.
fn run_named(
    args: &FitArgs,
    mut model: nn_runtime::Model,
    extra: &[CallbackSpec],
    numerics: Option<&numerics::Finding>,
) -> CmdResult {
    if args.kfold.is_some() {
        return Err("--kfold needs a model with one input and one output".into());
    }
    let data = workflow::load_named_for(&model, &args.data.source()).map_err(|e| e.to_string())?;
    let mut overrides = args.overrides();
    let chief = model.is_chief();
    if !chief {
        overrides.verbose = Some(0);
    }
    let opts = workflow::fit_options_named(&model, &data, &overrides).map_err(|e| e.to_string())?;
    let mut opts = extra.iter().fold(opts, |o, spec| o.boxed_callback(nn_runtime::callbacks::from_spec(spec)));
    if let Some(path) = &args.resume {
        opts.initial_epoch = resume(args, &mut model, path)?;
    }
    opts = with_file_callbacks(args, opts);
    if chief && args.verbose > 0 {
        println!(
            "Training `{}` on {} (inputs {}; outputs {}) with the {} engine",
            model.name(),
            data.source,
            model.input_names().join(", "),
            model.output_names().join(", "),
            model.engine_name()
        );
    }
    let history = model.fit_named(&data.train.inputs, &data.train.targets, &opts).map_err(|e| e.to_string())?;
    finish_training(args, &model, &history, numerics)?;
    if let Some(test) = &data.test {
        let logs =
            model.evaluate_named(&test.inputs, &test.targets, opts.batch_size.max(256)).map_err(|e| e.to_string())?;
        if chief {
            println!("Test: {}", logs_line(&logs));
        }
    }
    Ok(ExitCode::SUCCESS)
}
