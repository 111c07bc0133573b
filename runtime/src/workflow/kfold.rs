//! K-fold validation, as the Keras book does it for small datasets (Boston
//! housing): k contiguous folds, a freshly initialized model trained on the
//! other k − 1 folds and evaluated on each, then the mean of every metric.

use crate::data::{split, Split};
use crate::error::RuntimeError;
use crate::fit::{FitOptions, Logs, SampleWeight, ValidationData};
use crate::model::Model;

/// The validation logs of each fold, and their means.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KFoldReport {
    pub folds: Vec<Logs>,
    pub mean: Logs,
}

/// Trains a fresh copy of `model` on each of `k` folds of `data` with
/// `make_options` (called once per fold, 0-based, so each fold gets its own
/// callbacks), evaluating on the held-out fold. `model` itself is untouched.
/// Sample weights that `data` carries are trained with, fold by fold.
pub fn cross_validate(
    model: &Model,
    data: &Split,
    k: usize,
    mut make_options: impl FnMut(usize) -> Result<FitOptions, RuntimeError>,
) -> Result<KFoldReport, RuntimeError> {
    let folds = split::kfold(data.len(), k).map_err(RuntimeError::from)?;
    let mut report = KFoldReport::default();
    for (i, (train_idx, val_idx)) in folds.iter().enumerate() {
        let mut opts = make_options(i)?;
        if opts.validation != ValidationData::None {
            // The held-out fold is the validation data.
            opts.validation = ValidationData::None;
        }
        let mut fold_model = model.reinitialized()?;
        let (train, val) = (data.select(train_idx), data.select(val_idx));
        if let Some(w) = &train.sample_weight {
            opts.sample_weight = Some(SampleWeight::All(w.clone()));
        }
        fold_model.fit(&train.x, &train.y, &opts)?;
        let logs = fold_model.evaluate(&val.x, &val.y, opts.batch_size.max(1))?;
        report.folds.push(logs.into_iter().map(|(k, v)| (format!("val_{k}"), v)).collect());
    }
    let n = report.folds.len() as f64;
    for logs in &report.folds {
        for (key, v) in logs {
            *report.mean.entry(key.clone()).or_insert(0.0) += v / n;
        }
    }
    Ok(report)
}
