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
    /// Key → the positions in `epochs` where the key was not logged (e.g.
    /// validation every other epoch). The series holds NaN there as padding;
    /// this tells padding apart from a NaN the training produced.
    #[serde(default)]
    pub gaps: BTreeMap<String, Vec<usize>>,
}

/// A value as the History table shows it: 4 decimals, or `nan`/`inf`/`-inf`.
fn cell(v: f64) -> String {
    match v {
        v if v.is_nan() => "nan".to_string(),
        v if v.is_infinite() => if v > 0.0 { "inf" } else { "-inf" }.to_string(),
        v => format!("{v:.4}"),
    }
}

/// A value in History JSON: a number, or the strings `"NaN"`, `"Infinity"`,
/// `"-Infinity"` (what Python's `float()` reads back), since JSON has no
/// non-finite numbers.
fn json_value(v: f64) -> serde_json::Value {
    match v {
        v if v.is_nan() => "NaN".into(),
        v if v.is_infinite() => if v > 0.0 { "Infinity" } else { "-Infinity" }.into(),
        v => v.into(),
    }
}

impl History {
    /// Records one epoch's logs. A key missing in some epochs (validation
    /// every other epoch) is padded with NaN, recorded in `gaps`, so every
    /// series stays aligned with `epochs`.
    pub fn push(&mut self, epoch: usize, logs: &Logs) {
        let before = self.epochs.len();
        self.epochs.push(epoch);
        for (key, value) in logs {
            let series = self.history.entry(key.clone()).or_insert_with(|| {
                if before > 0 {
                    self.gaps.insert(key.clone(), (0..before).collect());
                }
                vec![f64::NAN; before]
            });
            series.push(*value);
        }
        for (key, series) in self.history.iter_mut() {
            if series.len() < self.epochs.len() {
                series.push(f64::NAN);
                self.gaps.entry(key.clone()).or_default().push(before);
            }
        }
    }

    /// Whether `key` was logged at position `i` of `epochs` (not padding).
    pub fn is_logged(&self, key: &str, i: usize) -> bool {
        self.history.get(key).is_some_and(|s| i < s.len()) && !self.gaps.get(key).is_some_and(|g| g.contains(&i))
    }

    /// The series for `key`, if it was logged.
    pub fn get(&self, key: &str) -> Option<&[f64]> {
        self.history.get(key).map(Vec::as_slice)
    }

    /// The last value of `key`.
    pub fn last(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(|s| s.last().copied())
    }

    /// JSON: epochs where a key was not logged are `null`; non-finite values
    /// are the strings `"NaN"`, `"Infinity"` and `"-Infinity"`.
    pub fn to_json(&self) -> String {
        let history: BTreeMap<&String, Vec<serde_json::Value>> = self
            .history
            .iter()
            .map(|(k, v)| {
                let values = v
                    .iter()
                    .enumerate()
                    .map(|(i, x)| if self.is_logged(k, i) { json_value(*x) } else { serde_json::Value::Null })
                    .collect();
                (k, values)
            })
            .collect();
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
    /// validation runs, show `-`; non-finite values `nan`, `inf`, `-inf`).
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
                let cell = match self.history[*k].get(i) {
                    Some(v) if self.is_logged(k, i) => cell(*v),
                    _ => "-".to_string(),
                };
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
            let logs: Logs = more
                .history
                .iter()
                .filter(|(k, _)| more.is_logged(k, i))
                .filter_map(|(k, v)| v.get(i).map(|x| (k.clone(), *x)))
                .collect();
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

    #[test]
    fn padding_nan_and_infinity_are_told_apart() {
        let mut h = History::default();
        h.push(0, &Logs::from([("loss".to_string(), f64::INFINITY)]));
        h.push(1, &Logs::from([("loss".to_string(), f64::NAN), ("val_loss".to_string(), f64::NEG_INFINITY)]));
        h.push(2, &Logs::from([("loss".to_string(), 0.5)]));
        assert!(!h.is_logged("val_loss", 0) && h.is_logged("val_loss", 1) && !h.is_logged("val_loss", 2));
        assert!(h.is_logged("loss", 1));
        let json: serde_json::Value = serde_json::from_str(&h.to_json()).unwrap();
        assert_eq!(json["history"]["loss"], serde_json::json!(["Infinity", "NaN", 0.5]));
        assert_eq!(json["history"]["val_loss"], serde_json::json!([null, "-Infinity", null]));
        let table = h.table();
        let rows: Vec<Vec<&str>> = table.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(rows, [vec!["1", "inf", "-"], vec!["2", "nan", "-inf"], vec!["3", "0.5000", "-"]]);

        let mut both = History::default();
        both.append(&h);
        both.append(&h);
        let json: serde_json::Value = serde_json::from_str(&both.to_json()).unwrap();
        assert_eq!(json["history"]["val_loss"], serde_json::json!([null, "-Infinity", null, null, "-Infinity", null]));
    }
}
