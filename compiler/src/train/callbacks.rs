//! Callbacks as a `train` block states them: typed settings the runtime
//! turns into its `Callback` objects.
//! Names, arguments and defaults are Keras 3's.

/// Whether a monitored value should go down or up (`auto`: up for names
/// containing `acc`, `auc` or `precision`/`recall`, as Keras infers it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MonitorMode {
    #[default]
    Auto,
    Min,
    Max,
}

/// One entry of `callbacks = [ … ]`.
#[derive(Clone, Debug, PartialEq)]
pub enum CallbackSpec {
    /// `early_stopping(monitor = "val_loss", min_delta = 0, patience = 0, mode = auto,
    /// restore_best_weights = false, start_from_epoch = 0)`
    EarlyStopping {
        monitor: String,
        min_delta: f64,
        patience: usize,
        mode: MonitorMode,
        restore_best_weights: bool,
        start_from_epoch: usize,
    },
    /// `reduce_lr_on_plateau(monitor = "val_loss", factor = 0.1, patience = 10, mode = auto,
    /// min_delta = 1e-4, cooldown = 0, min_lr = 0)`
    ReduceLrOnPlateau {
        monitor: String,
        factor: f64,
        patience: usize,
        mode: MonitorMode,
        min_delta: f64,
        cooldown: usize,
        min_lr: f64,
    },
    /// `model_checkpoint(filepath, monitor = "val_loss", save_best_only = false, mode = auto)`
    ModelCheckpoint { filepath: String, monitor: String, save_best_only: bool, mode: MonitorMode },
    /// `csv_logger(filename, separator = ",", append = false)`
    CsvLogger { filename: String, separator: char, append: bool },
    /// `terminate_on_nan`
    TerminateOnNan,
    /// `backup_and_restore(backup_dir, save_freq = "epoch", delete_checkpoint = true)`:
    /// a backup after every epoch, or every `save_freq` steps when it is an
    /// integer (`save_every`); a run started again with a backup in place
    /// resumes from it, mid-epoch if that is where the backup was taken.
    BackupAndRestore { backup_dir: String, save_every: Option<usize>, delete_checkpoint: bool },
}

impl CallbackSpec {
    /// Keras's snake_case name.
    pub fn name(&self) -> &'static str {
        match self {
            CallbackSpec::EarlyStopping { .. } => "early_stopping",
            CallbackSpec::ReduceLrOnPlateau { .. } => "reduce_lr_on_plateau",
            CallbackSpec::ModelCheckpoint { .. } => "model_checkpoint",
            CallbackSpec::CsvLogger { .. } => "csv_logger",
            CallbackSpec::TerminateOnNan => "terminate_on_nan",
            CallbackSpec::BackupAndRestore { .. } => "backup_and_restore",
        }
    }

    /// The file the callback writes, if any (checked for writability before
    /// training; `backup_and_restore` creates and checks its folder itself
    /// when training begins).
    pub fn output_path(&self) -> Option<&str> {
        match self {
            CallbackSpec::ModelCheckpoint { filepath, .. } => Some(filepath),
            CallbackSpec::CsvLogger { filename, .. } => Some(filename),
            _ => None,
        }
    }
}
