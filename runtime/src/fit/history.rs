//! What `fit` returns: per-epoch logs, as Keras's `History` holds them.
//!
//! Keys are Keras's (`loss`, `accuracy`, `val_loss`, `val_accuracy`, and
//! `learning_rate` when a learning-rate callback ran), kept sorted so JSON
//! dumps and CSV columns are stable. Every series has one value per epoch
//! in `epochs`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::RuntimeError;

/// Metric name → value for one epoch or batch.
pub type Logs = BTreeMap<String, f64>;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// 0-based epoch indices that ran, in order (Keras's `history.epoch`).
    pub epochs: Vec<usize>,
    /// Key → one value per entry of `epochs`.
    pub history: BTreeMap<String, Vec<f64>>,
    /// Why training stopped before the last epoch, if it did (early
    /// stopping, NaN loss, …).
    pub stop_reason: Option<String>,
    /// Epochs that stopped before their last batch (an interrupt, a callback
    /// stopping mid-epoch): their logs are the means over the batches run.
    #[serde(default)]
    pub partial_epochs: Vec<usize>,
}

impl History {
    /// Records one epoch's logs. A key missing in some epochs (validation
    /// every other epoch) is padded with NaN so every series stays aligned
    /// with `epochs`.
    pub fn push(&mut self, epoch: usize, logs: &Logs) {
        let before = self.epochs.len();
        self.epochs.push(epoch);
        for (key, value) in logs {
            let series = self.history.entry(key.clone()).or_insert_with(|| vec![f64::NAN; before]);
            series.push(*value);
        }
        for series in self.history.values_mut() {
            if series.len() < self.epochs.len() {
                series.push(f64::NAN);
            }
        }
    }

    /// The series for `key`, if it was logged.
    pub fn get(&self, key: &str) -> Option<&[f64]> {
        self.history.get(key).map(Vec::as_slice)
    }

    /// The last value of `key`.
    pub fn last(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(|s| s.last().copied())
    }

    /// JSON with NaN written as `null` (JSON has no NaN).
    pub fn to_json(&self) -> String {
        let history: BTreeMap<&String, Vec<Option<f64>>> =
            self.history.iter().map(|(k, v)| (k, v.iter().map(|x| x.is_finite().then_some(*x)).collect())).collect();
        let value = serde_json::json!({
            "epochs": self.epochs,
            "history": history,
            "stop_reason": self.stop_reason,
            "partial_epochs": self.partial_epochs,
        });
        serde_json::to_string_pretty(&value).unwrap_or_else(|_| unreachable!("JSON of plain numbers and strings"))
    }

    /// A table, one row per epoch and one column per key, as `nn fit` and
    /// the REPL's `:history` print it (epochs without a value, e.g. between
    /// validation runs, show `-`).
    pub fn table(&self) -> String {
        let keys: Vec<&String> = self.history.keys().collect();
        let width = keys.iter().map(|k| k.len()).max().unwrap_or(6).max(8);
        let mut out = format!("{:>5}", "epoch");
        for k in &keys {
            out.push_str(&format!("  {k:>width$}"));
        }
        out.push('\n');
        for (i, epoch) in self.epochs.iter().enumerate() {
            let mark = if self.partial_epochs.contains(epoch) { "*" } else { " " };
            out.push_str(&format!("{:>4}{mark}", epoch + 1));
            for k in &keys {
                let v = self.history[*k].get(i).copied().unwrap_or(f64::NAN);
                let cell = if v.is_finite() { format!("{v:.4}") } else { "-".to_string() };
                out.push_str(&format!("  {cell:>width$}"));
            }
            out.push('\n');
        }
        if !self.partial_epochs.is_empty() {
            out.push_str("    * stopped before the end of the epoch: the means of the batches that ran\n");
        }
        out
    }

    /// Adds the epochs of `more` after these (the REPL's repeated fits).
    pub fn append(&mut self, more: &History) {
        for (i, epoch) in more.epochs.iter().enumerate() {
            let logs: Logs = more.history.iter().filter_map(|(k, v)| v.get(i).map(|x| (k.clone(), *x))).collect();
            self.push(*epoch, &logs);
        }
        self.partial_epochs.extend(&more.partial_epochs);
        self.stop_reason = more.stop_reason.clone();
    }

    /// Writes [`to_json`](Self::to_json) to `path`.
    pub fn save_json(&self, path: impl AsRef<Path>) -> Result<(), RuntimeError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_json()).map_err(|e| RuntimeError::io(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_stay_aligned() {
        let mut h = History::default();
        h.push(0, &Logs::from([("loss".to_string(), 1.0)]));
        h.push(1, &Logs::from([("loss".to_string(), 0.5), ("val_loss".to_string(), 0.7)]));
        assert_eq!(h.get("loss"), Some(&[1.0, 0.5][..]));
        let val = h.get("val_loss").unwrap();
        assert!(val[0].is_nan() && val[1] == 0.7);
        let json = h.to_json();
        assert!(json.contains("null") && json.contains("\"val_loss\""), "{json}");
    }
}
