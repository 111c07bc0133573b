//! Streams epoch logs to a CSV file (Keras's `CSVLogger`): a header
//! `epoch,<sorted keys>` then one row per epoch with the 0-based epoch.
//! Rows are flushed as they are written, so a crashed run keeps its log.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use super::{Callback, FitContext};
use crate::error::RuntimeError;
use crate::fit::Logs;

pub struct CsvLogger {
    path: PathBuf,
    separator: char,
    append: bool,
    keys: Option<Vec<String>>,
    file: Option<File>,
}

impl CsvLogger {
    pub fn new(path: impl Into<PathBuf>) -> CsvLogger {
        CsvLogger { path: path.into(), separator: ',', append: false, keys: None, file: None }
    }

    pub fn separator(mut self, separator: char) -> Self {
        self.separator = separator;
        self
    }

    /// Appends to an existing file (without repeating the header) instead of overwriting it.
    pub fn append(mut self, append: bool) -> Self {
        self.append = append;
        self
    }
}

impl Callback for CsvLogger {
    fn on_train_begin(&mut self, ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        // In a distributed group, rank 0 logs; the other ranks see the same logs.
        if !ctx.model().is_chief() {
            return Ok(());
        }
        let has_content = self.append && std::fs::metadata(&self.path).map(|m| m.len() > 0).unwrap_or(false);
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .append(self.append)
            .truncate(!self.append)
            .open(&self.path)
            .map_err(|e| RuntimeError::io(&self.path, e))?;
        self.file = Some(file);
        // With an existing log the header is already there.
        self.keys = None;
        if has_content {
            self.keys = Some(Vec::new());
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, _ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        let Some(file) = self.file.as_mut() else { return Ok(()) };
        let sep = self.separator.to_string();
        let mut text = String::new();
        match &self.keys {
            Some(keys) if !keys.is_empty() => {}
            Some(_) => self.keys = Some(logs.keys().cloned().collect()),
            None => {
                let keys: Vec<String> = logs.keys().cloned().collect();
                text +=
                    &std::iter::once("epoch".to_string()).chain(keys.iter().cloned()).collect::<Vec<_>>().join(&sep);
                text.push('\n');
                self.keys = Some(keys);
            }
        }
        let keys = self.keys.as_deref().unwrap_or_default();
        let mut fields = vec![epoch.to_string()];
        fields.extend(keys.iter().map(|k| logs.get(k).map_or_else(|| "NA".to_string(), |v| v.to_string())));
        text += &fields.join(&sep);
        text.push('\n');
        file.write_all(text.as_bytes()).and_then(|_| file.flush()).map_err(|e| RuntimeError::io(&self.path, e))
    }

    fn on_train_end(&mut self, _ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        self.file = None;
        Ok(())
    }
}
