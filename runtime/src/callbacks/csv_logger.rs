//! Streams epoch logs to a CSV file (Keras's `CSVLogger`): a header
//! `epoch,<sorted keys>` then one row per epoch with the 0-based epoch.
//! Rows are flushed as they are written, so a crashed run keeps its log.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use super::{json_usize, Callback, CallbackState, FitContext};
use crate::error::RuntimeError;
use crate::fit::Logs;

pub struct CsvLogger {
    path: PathBuf,
    separator: char,
    append: bool,
    keys: Option<Vec<String>>,
    file: Option<File>,
    /// The file is emptied before the first row, not when training begins,
    /// so a resumed run can keep the rows written before its checkpoint.
    truncate_pending: bool,
}

impl CsvLogger {
    pub fn new(path: impl Into<PathBuf>) -> CsvLogger {
        CsvLogger { path: path.into(), separator: ',', append: false, keys: None, file: None, truncate_pending: false }
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
        // Opened for appending either way: rows always go to the end, and the
        // file is cut with `set_len` (fresh runs, resumed runs).
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| RuntimeError::io(&self.path, e))?;
        self.file = Some(file);
        self.truncate_pending = !self.append;
        // With an existing log the header is already there.
        self.keys = None;
        if has_content {
            self.keys = Some(Vec::new());
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, _ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        let Some(file) = self.file.as_mut() else { return Ok(()) };
        if std::mem::take(&mut self.truncate_pending) {
            file.set_len(0).map_err(|e| RuntimeError::io(&self.path, e))?;
        }
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
        if std::mem::take(&mut self.truncate_pending) {
            if let Some(file) = &self.file {
                file.set_len(0).map_err(|e| RuntimeError::io(&self.path, e))?;
            }
        }
        self.file = None;
        Ok(())
    }

    /// The rows written so far (as the file's length) and the columns.
    fn state(&self) -> Option<CallbackState> {
        let len = match (&self.file, self.truncate_pending) {
            (Some(file), false) => file.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        };
        Some(CallbackState {
            values: serde_json::json!({ "kind": "csv_logger", "len": len, "keys": self.keys }),
            weights: None,
        })
    }

    /// Keeps the rows the checkpoint had seen and drops any written after it.
    fn restore_state(&mut self, state: CallbackState) -> Result<(), RuntimeError> {
        let len = json_usize(&state.values, "len", "csv_logger")? as u64;
        self.keys = match state.values.get("keys") {
            Some(serde_json::Value::Null) => None,
            Some(keys) => Some(serde_json::from_value(keys.clone()).map_err(|_| {
                RuntimeError::invalid("the checkpoint's state of callback `csv_logger` has malformed `keys`")
            })?),
            None => None,
        };
        let Some(file) = &self.file else { return Ok(()) };
        let now = file.metadata().map_err(|e| RuntimeError::io(&self.path, e))?.len();
        if now < len {
            return Err(RuntimeError::invalid(format!(
                "csv_logger: `{}` holds {now} bytes but the checkpoint had written {len}; it was changed since, \
                 so the log cannot be continued",
                self.path.display()
            )));
        }
        file.set_len(len).map_err(|e| RuntimeError::io(&self.path, e))?;
        self.truncate_pending = false;
        Ok(())
    }
}
