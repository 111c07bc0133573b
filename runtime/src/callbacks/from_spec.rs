//! The callbacks a `train` block lists, as runtime [`Callback`]s.

use nn_compiler::train::{CallbackSpec, MonitorMode};

use super::{
    BackupAndRestore, Callback, CsvLogger, EarlyStopping, Mode, ModelCheckpoint, ReduceLrOnPlateau, TerminateOnNan,
};

fn mode(m: MonitorMode) -> Mode {
    match m {
        MonitorMode::Auto => Mode::Auto,
        MonitorMode::Min => Mode::Min,
        MonitorMode::Max => Mode::Max,
    }
}

/// The callback `spec` describes, with its arguments.
pub fn from_spec(spec: &CallbackSpec) -> Box<dyn Callback> {
    match spec {
        CallbackSpec::EarlyStopping {
            monitor,
            min_delta,
            patience,
            mode: m,
            restore_best_weights,
            start_from_epoch,
        } => Box::new(
            EarlyStopping::new(monitor.clone())
                .min_delta(*min_delta)
                .patience(*patience)
                .mode(mode(*m))
                .restore_best_weights(*restore_best_weights)
                .start_from_epoch(*start_from_epoch),
        ),
        CallbackSpec::ReduceLrOnPlateau { monitor, factor, patience, mode: m, min_delta, cooldown, min_lr } => {
            Box::new(
                ReduceLrOnPlateau::new(monitor.clone())
                    .factor(*factor)
                    .patience(*patience)
                    .mode(mode(*m))
                    .min_delta(*min_delta)
                    .cooldown(*cooldown)
                    .min_lr(*min_lr),
            )
        }
        CallbackSpec::ModelCheckpoint { filepath, monitor, save_best_only, mode: m } => Box::new(
            ModelCheckpoint::new(filepath.clone())
                .monitor(monitor.clone())
                .save_best_only(*save_best_only)
                .mode(mode(*m)),
        ),
        CallbackSpec::CsvLogger { filename, separator, append } => {
            Box::new(CsvLogger::new(filename.clone()).separator(*separator).append(*append))
        }
        CallbackSpec::TerminateOnNan => Box::new(TerminateOnNan::new()),
        CallbackSpec::BackupAndRestore { backup_dir, save_every, delete_checkpoint } => Box::new(
            BackupAndRestore::new(backup_dir).delete_checkpoint(*delete_checkpoint).save_every_steps(*save_every),
        ),
    }
}
