//! A per-batch CSV log (no Keras counterpart: Keras's `CSVLogger` writes one
//! row per epoch). Header `epoch,batch,<sorted keys>`, then one row per
//! training batch with the running values `on_train_batch_end` sees (the
//! epoch's means so far, as the progress bar shows them), both indices
//! 0-based. Values are printed in full precision, so a batch's own loss is
//! recoverable from two consecutive rows and the batch sizes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use super::{Callback, FitContext};
use crate::error::RuntimeError;
use crate::fit::Logs;

pub struct BatchCsvLogger {
    path: PathBuf,
    keys: Option<Vec<String>>,
    file: Option<BufWriter<File>>,
}

impl BatchCsvLogger {
    pub fn new(path: impl Into<PathBuf>) -> BatchCsvLogger {
        BatchCsvLogger { path: path.into(), keys: None, file: None }
    }
}

impl Callback for BatchCsvLogger {
    fn on_train_begin(&mut self, ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        // In a distributed group rank 0 logs; every rank sees the same values.
        if !ctx.model().is_chief() {
            return Ok(());
        }
        self.file = Some(BufWriter::new(File::create(&self.path).map_err(|e| RuntimeError::io(&self.path, e))?));
        self.keys = None;
        Ok(())
    }

    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs, ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        let Some(file) = self.file.as_mut() else { return Ok(()) };
        let mut text = String::new();
        if self.keys.is_none() {
            let keys: Vec<String> = logs.keys().cloned().collect();
            text = format!("epoch,batch,{}\n", keys.join(","));
            self.keys = Some(keys);
        }
        let keys = self.keys.as_deref().unwrap_or_default();
        let values: Vec<String> =
            keys.iter().map(|k| logs.get(k).map_or_else(|| "NA".to_string(), |v| v.to_string())).collect();
        text += &format!("{},{batch},{}\n", ctx.epoch(), values.join(","));
        file.write_all(text.as_bytes()).map_err(|e| RuntimeError::io(&self.path, e))
    }

    fn on_epoch_end(&mut self, _epoch: usize, _logs: &mut Logs, _ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        match self.file.as_mut() {
            Some(f) => f.flush().map_err(|e| RuntimeError::io(&self.path, e)),
            None => Ok(()),
        }
    }

    fn on_train_end(&mut self, _ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        if let Some(mut f) = self.file.take() {
            f.flush().map_err(|e| RuntimeError::io(&self.path, e))?;
        }
        Ok(())
    }
}
