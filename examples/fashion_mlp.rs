//! Keras's "basic classification" tutorial: Fashion-MNIST with a one hidden
//! layer MLP (`examples/fashion_mlp.nn`), Adam, sparse categorical
//! cross-entropy, 10 epochs of batch 32, then test accuracy and a first
//! prediction.
//!
//! `cargo run --release --example fashion_mlp` (needs Fashion-MNIST:
//! `apt-get install dataset-fashion-mnist`). `tests/tutorials.rs` runs the
//! same `run` and asserts test accuracy >= 0.88.

#[cfg(not(test))]
#[path = "../tests/tutorials/support.rs"]
mod support;

use crate::support::{load_compiled, load_data, metric, test_split, Res, Settings};
use nn::runtime::data::Targets;
use nn::runtime::{predicted_classes, FitOptions, History};

/// What the tutorial reports.
pub struct Outcome {
    pub history: History,
    pub test_loss: f64,
    pub test_accuracy: f64,
}

pub fn run(settings: &Settings) -> Res<Outcome> {
    let mut model = load_compiled("fashion_mlp.nn", settings.seed)?;
    let data = load_data(&model, None, None)?;
    settings.say(model.summary());

    let mut opts = FitOptions::from_train_config(model.train_config());
    opts.epochs = settings.epochs_or(opts.epochs);
    opts.verbose = settings.verbose;
    opts.seed = Some(settings.seed);
    let history = model.fit(&data.train.x, &data.train.y, &opts)?;

    let (test_x, test_y) = test_split(&data)?;
    let logs = model.evaluate(test_x, test_y, opts.batch_size)?;
    let (test_loss, test_accuracy) = (metric(&logs, "loss")?, metric(&logs, "accuracy")?);
    settings.say(format!("\nTest accuracy: {test_accuracy:.4}"));

    // The tutorial then looks at the first test image's prediction.
    let probabilities = model.predict(&test_x.select(&[0]), 1)?;
    let guess = predicted_classes(&probabilities)?[0] as usize;
    let truth = match test_y {
        Targets::Classes(labels) => labels[0] as usize,
        Targets::Dense(_) => return Err("fashion_mlp uses sparse labels, but the test labels are dense".into()),
    };
    let name = |c: usize| data.class_names.as_ref().and_then(|n| n.get(c)).cloned().unwrap_or_else(|| c.to_string());
    let row: Vec<String> = probabilities.iter().map(|p| format!("{p:.4}")).collect();
    settings.say(format!("predictions[0] = [{}]", row.join(", ")));
    settings.say(format!("predicted {} ({guess}), label {} ({truth})", name(guess), name(truth)));
    Ok(Outcome { history, test_loss, test_accuracy })
}

#[cfg(not(test))]
fn main() -> std::process::ExitCode {
    crate::support::finish(run(&Settings::example()))
}
