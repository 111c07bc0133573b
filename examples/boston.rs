//! Boston housing price regression (Deep Learning with Python, ch. 4): a
//! 13-64-64-1 MLP (`examples/boston.nn`), RMSprop, mean squared error,
//! tracking mean absolute error.
//!
//! Features and targets are standardized with statistics of the training
//! data only; MAE is reported in the original units (thousands of dollars):
//! MAE is linear in the target scale, so MAE·σ(y) is the MAE of the
//! de-standardized predictions. 4-fold cross-validation prints the mean
//! validation MAE across folds after every epoch (the book's
//! `average_mae_history`), then a fresh model trained on all training data
//! is evaluated on the test set.
//!
//! `cargo run --release --example boston`. `tests/tutorials.rs` runs the
//! same `run` and bounds the test MAE.

#[cfg(not(test))]
#[path = "../tests/tutorials/support.rs"]
mod support;

use crate::support::{load_data, load_model, metric, test_split, Res, Settings};
use nn::runtime::data::{preprocess::StandardScaler, split::kfold, Features, Targets};
use nn::runtime::{CompileOptions, FitOptions, ValidationData};

/// The book's k.
const FOLDS: usize = 4;

pub struct Outcome {
    /// Mean validation MAE across folds per epoch, in k$.
    pub average_mae_history: Vec<f64>,
    /// Test MAE of the final model, in k$.
    pub test_mae: f64,
}

fn dense(x: &Features) -> Res<&nn::ndarray::ArrayD<f32>> {
    match x {
        Features::F32(a) => Ok(a),
        _ => Err("expected boston features as f32 in memory".into()),
    }
}

fn targets(y: &Targets) -> Res<&nn::ndarray::ArrayD<f32>> {
    match y {
        Targets::Dense(a) => Ok(a),
        Targets::Classes(_) => Err("expected boston prices as f32 targets".into()),
    }
}

pub fn run(settings: &Settings) -> Res<Outcome> {
    let probe = load_model("boston.nn", settings.seed)?;
    let data = load_data(&probe, None, None)?;
    let (test_x, test_y) = test_split(&data)?;
    let x_scaler = StandardScaler::fit(dense(&data.train.x)?)?;
    let y_scaler = StandardScaler::fit(targets(&data.train.y)?)?;
    let x = Features::F32(x_scaler.transform(dense(&data.train.x)?)?);
    let y = Targets::Dense(y_scaler.transform(targets(&data.train.y)?)?);
    let test_x = Features::F32(x_scaler.transform(dense(test_x)?)?);
    let test_y = Targets::Dense(y_scaler.transform(targets(test_y)?)?);
    let y_std = f64::from(*y_scaler.std.iter().next().ok_or("target scaler has no column")?);
    settings.say(probe.summary());

    let mut base = FitOptions::from_train_config(probe.train_config());
    base.epochs = settings.epochs_or(base.epochs);
    let epochs = base.epochs;
    let fit_options = |validation| FitOptions {
        batch_size: base.batch_size,
        epochs,
        verbose: 0,
        seed: Some(settings.seed),
        validation,
        ..FitOptions::default()
    };

    let mut per_fold: Vec<Vec<f64>> = Vec::with_capacity(FOLDS);
    for (fold, (train_idx, val_idx)) in kfold(x.len(), FOLDS)?.into_iter().enumerate() {
        settings.say(format!("processing fold #{fold}"));
        // A different seed per fold, so folds do not share initial weights.
        let mut model = load_model("boston.nn", settings.seed + fold as u64 + 1)?;
        model.compile(CompileOptions::default())?;
        let validation = ValidationData::Data(x.select(&val_idx), y.select(&val_idx));
        let history = model.fit(&x.select(&train_idx), &y.select(&train_idx), &fit_options(validation))?;
        let val_mae = history.get("val_mae").ok_or("fit logged no val_mae")?;
        per_fold.push(val_mae.iter().map(|m| m * y_std).collect());
    }
    let average_mae_history: Vec<f64> =
        (0..epochs).map(|e| per_fold.iter().map(|h| h[e]).sum::<f64>() / FOLDS as f64).collect();
    settings.say("epoch  mean validation MAE (k$)");
    for (e, mae) in average_mae_history.iter().enumerate() {
        if e % 10 == 9 || e + 1 == epochs {
            settings.say(format!("{:>5}  {mae:.3}", e + 1));
        }
    }
    let (best, best_mae) =
        average_mae_history.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1)).ok_or("no epochs were run")?;
    settings.say(format!("lowest mean validation MAE {best_mae:.3} after epoch {}", best + 1));

    let mut model = load_model("boston.nn", settings.seed)?;
    model.compile(CompileOptions::default())?;
    model.fit(&x, &y, &fit_options(ValidationData::None))?;
    let logs = model.evaluate(&test_x, &test_y, base.batch_size)?;
    let test_mae = metric(&logs, "mae")? * y_std;
    settings.say(format!("\nTest MAE: {test_mae:.3} (k$)"));
    Ok(Outcome { average_mae_history, test_mae })
}

#[cfg(not(test))]
fn main() -> std::process::ExitCode {
    crate::support::finish(run(&Settings::example()))
}
