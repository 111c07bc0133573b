//! Keras's `BackupAndRestore`: a run that is killed can be started again
//! with the same command and continues where the last completed epoch left
//! off, with the same weights, optimizer state and epoch count.
//!
//! The backup is one checkpoint file in the backup folder, replaced
//! atomically after every epoch (or every `save_freq` steps, Keras's integer
//! `save_freq`), so a kill at any moment leaves either the previous backup or
//! the new one. A backup taken mid-epoch holds the position in the epoch, the
//! metric accumulators, the History and the other callbacks' state, so the
//! resumed run ends with the same weights and files as an uninterrupted one. It is deleted when training ends normally
//! (Keras's `delete_checkpoint = True`), but kept when the weights have
//! diverged: the last finite backup is the one thing worth keeping then.

use std::path::{Path, PathBuf};

use super::{Callback, FitContext};
use crate::error::RuntimeError;
use crate::fit::Logs;

/// The backup's file name inside the backup folder.
const BACKUP_FILE: &str = "backup.ckpt";

pub struct BackupAndRestore {
    dir: PathBuf,
    delete_checkpoint: bool,
    save_every: Option<usize>,
    restored_epoch: Option<usize>,
}

impl BackupAndRestore {
    pub fn new(backup_dir: impl Into<PathBuf>) -> BackupAndRestore {
        BackupAndRestore { dir: backup_dir.into(), delete_checkpoint: true, save_every: None, restored_epoch: None }
    }

    /// Keep the backup after training completes (Keras's `delete_checkpoint = False`).
    pub fn delete_checkpoint(mut self, yes: bool) -> Self {
        self.delete_checkpoint = yes;
        self
    }

    /// Back up every `steps` optimizer steps (counted over the whole run)
    /// instead of at epoch ends, as Keras's `save_freq = steps`. `None`: every epoch.
    pub fn save_every_steps(mut self, steps: Option<usize>) -> Self {
        self.save_every = steps.filter(|&n| n > 0);
        self
    }

    /// The backup file this callback reads and writes.
    pub fn backup_path(&self) -> PathBuf {
        self.dir.join(BACKUP_FILE)
    }

    /// The number of completed epochs the last `fit` resumed after, if it
    /// found a backup.
    pub fn restored_epoch(&self) -> Option<usize> {
        self.restored_epoch
    }
}

fn prepare_folder(dir: &Path) -> Result<(), RuntimeError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        RuntimeError::invalid(format!(
            "backup_and_restore: cannot create the backup folder `{}`: {e}; choose a writable folder",
            dir.display()
        ))
    })?;
    if !dir.is_dir() {
        return Err(RuntimeError::invalid(format!(
            "backup_and_restore: `{}` is a file, not a folder; give a folder for the backups",
            dir.display()
        )));
    }
    Ok(())
}

impl Callback for BackupAndRestore {
    fn on_train_begin(&mut self, ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        // In a distributed group rank 0 owns the backup and sends its state
        // (and the epoch to resume at) to the other ranks.
        if !ctx.model().is_chief() {
            return Ok(());
        }
        prepare_folder(&self.dir)?;
        self.restored_epoch = None;
        let path = self.backup_path();
        if path.exists() {
            let done = ctx.model().load_checkpoint(&path)?;
            self.restored_epoch = Some(done);
            ctx.resume_at(done);
        } else {
            // Fail before the first epoch, not after it, if the folder is read-only.
            let probe = self.dir.join(format!(".nn-write-check-{}", std::process::id()));
            std::fs::File::create(&probe).map_err(|e| {
                RuntimeError::invalid(format!(
                    "backup_and_restore: cannot write in `{}`: {e}; choose a writable folder",
                    self.dir.display()
                ))
            })?;
            let _ = std::fs::remove_file(&probe);
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, _epoch: usize, _logs: &mut Logs, ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        // A diverged model never replaces the last good backup.
        if self.save_every.is_some() || !ctx.model().weights().all_finite() {
            return Ok(());
        }
        ctx.save_checkpoint_after(self.backup_path());
        Ok(())
    }

    fn on_train_batch_end(
        &mut self,
        _batch: usize,
        _logs: &Logs,
        ctx: &mut FitContext<'_>,
    ) -> Result<(), RuntimeError> {
        let Some(every) = self.save_every else { return Ok(()) };
        if !ctx.iterations().is_multiple_of(every as u64) || ctx.is_stopping() || !ctx.model().weights().all_finite() {
            return Ok(());
        }
        ctx.save_checkpoint_after(self.backup_path());
        Ok(())
    }

    fn on_train_end(&mut self, ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        if self.delete_checkpoint && ctx.model().is_chief() && ctx.model().weights().all_finite() {
            let path = self.backup_path();
            if path.exists() {
                std::fs::remove_file(&path).map_err(|e| {
                    RuntimeError::invalid(format!(
                        "backup_and_restore: training finished but the backup `{}` could not be deleted: {e}",
                        path.display()
                    ))
                })?;
            }
        }
        Ok(())
    }
}
